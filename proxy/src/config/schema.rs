//! The configuration schema: plain data, deserialised from YAML (or JSON) with serde.
//!
//! Every struct denies unknown fields so that a typo is an error naming the field, and every
//! optional field has a documented default. Durations are written as `250ms`, `3s`, `1m`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::http::{HttpConfig, HttpUpstreamProtocol};

/// The whole configuration file.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Ports to accept connections on. At least one.
    pub listeners: Vec<ListenerConfig>,
    /// Route tables, one per protocol (a protocol with no table answers every request with a
    /// no-route error reply).
    #[serde(default)]
    pub routes: Vec<RouteTableConfig>,
    /// Upstream clusters that routes send requests to.
    #[serde(default)]
    pub clusters: Vec<ClusterConfig>,
    /// Limits applied to every connection. Each has a default.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The admin listener (metrics, readiness). Default: 127.0.0.1:9901.
    #[serde(default)]
    pub admin: AdminConfig,
    /// HTTP/1.1, HTTP/2 and gRPC: limits, virtual hosts and their routes. Default: none.
    #[serde(default)]
    pub http: HttpConfig,
}

/// One listening port, serving every registered protocol or a subset.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// A unique name, used in metrics.
    pub name: String,
    /// The address to bind, e.g. `127.0.0.1:12200` or `[::1]:12200`.
    pub address: SocketAddr,
    /// Protocols accepted on this port, by registered name. Default: every registered protocol.
    #[serde(default)]
    pub protocols: Option<Vec<String>>,
    /// How long and how far to look at a new connection's first bytes.
    #[serde(default)]
    pub sniff: SniffConfig,
    /// A cluster that receives, as a plain TCP proxy, connections no protocol recognises.
    /// Default: none (such connections are counted, logged with their first bytes, and closed).
    #[serde(default)]
    pub fallback_cluster: Option<String>,
    /// Accept backlog: connections the kernel completes and queues before the gateway accepts
    /// them. Default 1024. The kernel caps it at `net.core.somaxconn` (4096 by default since
    /// Linux 5.4, 128 before).
    #[serde(default = "default_backlog")]
    pub backlog: u32,
}

fn default_backlog() -> u32 {
    crate::listener::DEFAULT_BACKLOG
}

/// Bounds on protocol detection for a new connection.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SniffConfig {
    /// Bytes read at most before giving up. Default 64.
    pub max_bytes: usize,
    /// Time allowed for the first bytes to arrive and be recognised. Default 5s.
    #[serde(with = "super::duration")]
    pub timeout: Duration,
    /// Connections of this listener being sniffed at once (accepted, protocol not known yet).
    /// They do not count against `limits.max_connections`, which only recognised connections
    /// take; when this budget is full, a new connection closes the oldest one still being
    /// sniffed, so silent connections cannot lock real clients out. Default
    /// `min(limits.max_connections / 4, 1024)`, at least 1 (see [`SniffConfig::pending_budget`]).
    pub max_pending: Option<usize>,
}

impl Default for SniffConfig {
    fn default() -> Self {
        SniffConfig { max_bytes: 64, timeout: Duration::from_secs(5), max_pending: None }
    }
}

impl SniffConfig {
    /// The sniff budget: `max_pending`, or by default a quarter of `max_connections` capped at
    /// 1024. A quarter because sniffing is brief for a real client (one round trip), so a
    /// listener never has more than a fraction of its connections in that state; 1024 because
    /// that covers a burst of a thousand connects all waiting on their first bytes at once,
    /// while a flood of silent sockets can hold no more than that many (64 bytes of buffer and
    /// a small task each).
    pub fn pending_budget(&self, max_connections: usize) -> usize {
        self.max_pending.unwrap_or((max_connections / 4).min(1024)).max(1)
    }
}

/// The route table of one protocol: routes are tried in order, the first match wins.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteTableConfig {
    /// The protocol's registered name (`bolt`, `boltv2`, `dubbo`, `tars`, …).
    pub protocol: String,
    /// The routes, in match order.
    pub routes: Vec<RouteConfig>,
}

/// One route: a match and what to do with matching requests.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// A name for metrics and logs. Default: `<protocol>-<index>`.
    #[serde(default)]
    pub name: Option<String>,
    /// What a request must carry. Default: everything matches.
    #[serde(default, rename = "match")]
    pub matches: RouteMatchConfig,
    /// Where matching requests go.
    pub action: RouteActionConfig,
    /// The whole-request deadline, retries included. Default 10s.
    #[serde(default = "default_route_timeout", with = "super::duration")]
    pub timeout: Duration,
    /// Retry policy. Default: no retries.
    #[serde(default)]
    pub retry: Option<RetryConfig>,
    /// Headers added to (or replacing ones in) the request before forwarding.
    #[serde(default)]
    pub request_headers_to_add: BTreeMap<String, String>,
    /// Headers removed from the request before forwarding.
    #[serde(default)]
    pub request_headers_to_remove: Vec<String>,
    /// Only endpoints whose metadata contains all these pairs receive this route's requests.
    #[serde(default)]
    pub metadata_match: BTreeMap<String, String>,
}

fn default_route_timeout() -> Duration {
    Duration::from_secs(10)
}

/// The request fields a route matches on; all given conditions must hold.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteMatchConfig {
    /// The service (interface / servant).
    #[serde(default)]
    pub service: Option<StringMatch>,
    /// The method (function).
    #[serde(default)]
    pub method: Option<StringMatch>,
    /// The service version.
    #[serde(default)]
    pub version: Option<StringMatch>,
    /// The service group.
    #[serde(default)]
    pub group: Option<StringMatch>,
    /// Conditions on the protocol's own headers (Bolt header map, Dubbo attachments, Tars
    /// context), by header name.
    #[serde(default)]
    pub headers: BTreeMap<String, StringMatch>,
}

/// How a string field is matched. Exactly one of the forms.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum StringMatch {
    /// Equal to this string.
    Exact(String),
    /// Starts with this string.
    Prefix(String),
    /// Matches this regular expression (anchor it with `^…$` to match the whole value).
    Regex(String),
    /// Present (`true`) or absent (`false`), whatever its value.
    Present(bool),
}

/// What a route does with a matching request. Exactly one of the forms.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum RouteActionConfig {
    /// Forward to this cluster.
    Cluster(String),
    /// Forward to one of these clusters, chosen by weight per request.
    WeightedClusters(Vec<WeightedClusterConfig>),
    /// Answer directly with an error reply of this failure class, in the caller's protocol.
    DirectResponse(DirectResponseConfig),
}

/// One choice of a weighted route.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WeightedClusterConfig {
    /// The cluster.
    pub cluster: String,
    /// Its relative weight (> 0).
    pub weight: u32,
}

/// A direct answer, without an upstream.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DirectResponseConfig {
    /// The failure class whose protocol status the reply carries.
    pub status: FailureClass,
    /// The message carried where the protocol has room for one.
    #[serde(default)]
    pub message: String,
}

/// A failure class as written in configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// No route.
    NoRoute,
    /// No healthy upstream.
    NoHealthyUpstream,
    /// Timeout.
    Timeout,
    /// Overloaded.
    Overloaded,
    /// Bad request.
    BadRequest,
    /// Upstream reset.
    UpstreamReset,
    /// Internal error.
    Internal,
}

/// When and how to retry a forwarded request.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Retries after the first try. Default 1.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Deadline of each try. Default: the route timeout.
    #[serde(default, with = "super::duration::option")]
    pub per_try_timeout: Option<Duration>,
    /// Conditions that trigger a retry. Default: connect_failure and reset.
    #[serde(default = "default_retry_on")]
    pub retry_on: Vec<RetryOn>,
    /// Upstream response statuses (the protocol's own codes) that trigger a retry.
    #[serde(default)]
    pub retriable_statuses: Vec<u32>,
}

fn default_max_retries() -> u32 {
    1
}

fn default_retry_on() -> Vec<RetryOn> {
    vec![RetryOn::ConnectFailure, RetryOn::Reset]
}

/// A retry condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryOn {
    /// Connecting to the endpoint failed.
    ConnectFailure,
    /// The upstream connection was reset or closed before the reply.
    Reset,
    /// A try exceeded its per-try timeout.
    PerTryTimeout,
    /// The reply carried one of `retriable_statuses`.
    RetriableStatus,
}

/// An upstream cluster: endpoints, balancing, pooling and limits.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// A unique name, referenced by routes.
    pub name: String,
    /// The endpoints. At least one.
    pub endpoints: Vec<EndpointConfig>,
    /// How an endpoint is chosen. Default round_robin.
    #[serde(default)]
    pub lb_policy: LbPolicy,
    /// Time allowed to connect to an endpoint. Default 1s.
    #[serde(default = "default_connect_timeout", with = "super::duration")]
    pub connect_timeout: Duration,
    /// Connections kept per endpoint for multiplexed protocols. Default 1.
    #[serde(default = "default_connections_per_endpoint")]
    pub connections_per_endpoint: usize,
    /// Idle connections kept per endpoint for ping-pong protocols and HTTP/1.1 upstreams; one
    /// that becomes idle beyond this many is closed. Default 128 (enough for the concurrency of
    /// a busy endpoint: a smaller pool closes and reopens connections under load).
    #[serde(default = "default_max_idle")]
    pub max_idle_per_endpoint: usize,
    /// Connections at most per endpoint for ping-pong protocols; requests beyond wait for a
    /// free one (bounded by the route timeout and `max_pending_requests`). Default 64.
    #[serde(default = "default_max_ping_pong")]
    pub max_connections_per_endpoint: usize,
    /// Heartbeats on idle upstream connections.
    #[serde(default)]
    pub heartbeat: HeartbeatConfig,
    /// Limits whose breach gives an overload reply.
    #[serde(default)]
    pub circuit_breaker: CircuitBreakerConfig,
    /// Passive health: when a failing endpoint is taken out of rotation, for how long, and
    /// when the cluster balances over every endpoint anyway (panic mode).
    #[serde(default)]
    pub outlier: OutlierConfig,
    /// The HTTP version spoken to the endpoints when HTTP routes forward here. Default: the
    /// downstream request's own version (gRPC always HTTP/2).
    #[serde(default)]
    pub http_protocol: Option<HttpUpstreamProtocol>,
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(1)
}

fn default_connections_per_endpoint() -> usize {
    1
}

fn default_max_ping_pong() -> usize {
    64
}

fn default_max_idle() -> usize {
    128
}

/// One upstream endpoint.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// Its address.
    pub address: SocketAddr,
    /// Its relative weight for weighted policies (> 0). Default 1.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Labels matched by routes' `metadata_match`.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

fn default_weight() -> u32 {
    1
}

/// A load-balancing policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LbPolicy {
    /// Each endpoint in turn.
    #[default]
    RoundRobin,
    /// Uniformly at random.
    Random,
    /// Smooth weighted round robin (nginx's): spreads heavy endpoints' turns evenly.
    WeightedRoundRobin,
    /// The less loaded of two random endpoints (power of two choices).
    LeastRequest,
}

/// Heartbeats on idle upstream connections.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeartbeatConfig {
    /// Idle time before a heartbeat is sent; `0s` turns heartbeats off. Default 15s.
    #[serde(with = "super::duration")]
    pub interval: Duration,
    /// Unanswered heartbeats after which the connection is closed. Default 3.
    pub max_missed: u32,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        HeartbeatConfig { interval: Duration::from_secs(15), max_missed: 3 }
    }
}

/// Circuit-breaker limits of a cluster.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CircuitBreakerConfig {
    /// Upstream connections across the cluster. Default 1024.
    pub max_connections: usize,
    /// Requests waiting for a connection. Default 1024.
    pub max_pending_requests: usize,
    /// Requests in flight across the cluster. Default 10000.
    pub max_requests: usize,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        CircuitBreakerConfig {
            max_connections: 1024,
            max_pending_requests: 1024,
            max_requests: 10_000,
        }
    }
}

/// Outlier detection (passive health) of a cluster's endpoints.
///
/// An endpoint whose tries fail `consecutive_failures` times in a row is ejected: balancers
/// skip it for `base_ejection_time`, doubled at each further ejection (a failure once the
/// previous ejection has run out ejects again at once) up to `max_ejection_time`. Its first
/// success returns it to rotation and resets the doubling. Short times are the point: a
/// backend that restarts is back within a fraction of a second, and one that keeps failing is
/// tried less and less often.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutlierConfig {
    /// Failed tries in a row (connect failures, resets, 5xx replies) that eject an endpoint.
    /// Default 5.
    pub consecutive_failures: u32,
    /// How long the first ejection lasts. Default 200ms.
    #[serde(with = "humantime_serde")]
    pub base_ejection_time: Duration,
    /// The longest an ejection lasts however often the endpoint was ejected. Default 3s.
    #[serde(with = "humantime_serde")]
    pub max_ejection_time: Duration,
    /// An ejected endpoint is never chosen before this much of its ejection has passed, even
    /// when every endpoint is out of rotation (a request then tries to connect rather than
    /// fail) or in panic mode. Default 50ms.
    #[serde(with = "humantime_serde")]
    pub min_ejection_time: Duration,
    /// Panic mode: when fewer than this percentage of a cluster's (or metadata subset's)
    /// endpoints are in rotation, requests are balanced over all of them, ejected ones
    /// included (once past `min_ejection_time`), rather than piled on the few left. 0 turns
    /// panic mode off while some endpoint is in rotation. Default 50.
    pub panic_threshold: u8,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        OutlierConfig {
            consecutive_failures: 5,
            base_ejection_time: Duration::from_millis(200),
            max_ejection_time: Duration::from_secs(3),
            min_ejection_time: Duration::from_millis(50),
            panic_threshold: 50,
        }
    }
}

/// Limits on downstream connections.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest frame accepted. Default 16 MiB.
    pub max_frame_bytes: usize,
    /// Largest header section accepted. Default 64 KiB.
    pub max_header_bytes: usize,
    /// Deepest nesting followed in structured headers. Default 64.
    pub max_nesting: usize,
    /// Downstream connections accepted at once, per listener. Default 10000.
    pub max_connections: usize,
    /// Requests in flight per downstream connection. Default 1024.
    pub max_requests_per_connection: usize,
    /// A downstream connection idle this long is closed. Default 10m.
    #[serde(with = "super::duration")]
    pub idle_timeout: Duration,
    /// Once a frame's first bytes have arrived, the rest must arrive within this long or the
    /// connection is closed (a peer stalling mid-frame). `0s` turns it off. Default 30s.
    #[serde(with = "super::duration")]
    pub frame_timeout: Duration,
    /// On shutdown, how long connections keep serving: requests that arrive are still
    /// served; when it passes, calls still in flight are answered with the protocol's error
    /// reply and connections close. Default 10s.
    #[serde(with = "super::duration")]
    pub drain_timeout: Duration,
    /// While draining, a connection with nothing in flight closes once nothing has arrived
    /// on it for this long, so that a request already on the wire is answered, not met by
    /// a close. Default 1s.
    #[serde(with = "super::duration")]
    pub drain_quiet: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_frame_bytes: 16 << 20,
            max_header_bytes: 64 << 10,
            max_nesting: 64,
            max_connections: 10_000,
            max_requests_per_connection: 1024,
            idle_timeout: Duration::from_secs(600),
            frame_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(10),
            drain_quiet: Duration::from_secs(1),
        }
    }
}

/// The admin listener.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Where to serve `/metrics` and `/ready`. Default 127.0.0.1:9901; loopback keeps it off
    /// the network unless an operator says otherwise.
    pub address: Option<SocketAddr>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig { address: Some(SocketAddr::from(([127, 0, 0, 1], 9901))) }
    }
}
