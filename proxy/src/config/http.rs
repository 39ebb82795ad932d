//! The HTTP part of the schema: limits of HTTP/1.1 and HTTP/2 connections, and the virtual
//! hosts and routes that HTTP (and gRPC) requests are matched against.
//!
//! Like the rest of the schema every struct denies unknown fields and every optional field has
//! a documented default; [`check`] holds the rules the types cannot say (it is called by
//! [`validate`](super::validate())). `docs/configuration.md` ("HTTP, HTTP/2 and gRPC")
//! documents every field.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::schema::{StringMatch, WeightedClusterConfig};

mod check;

pub(crate) use check::{check, used_clusters};

/// HTTP, HTTP/2 and gRPC serving. Empty by default: no virtual host, so every HTTP request
/// gets a 404.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Bounds on each HTTP request and connection. Each has a default.
    #[serde(default)]
    pub limits: HttpLimitsConfig,
    /// Virtual hosts, chosen by the request's authority (`Host` header or HTTP/2
    /// `:authority`).
    #[serde(default)]
    pub virtual_hosts: Vec<VirtualHostConfig>,
}

/// Bounds on downstream HTTP requests.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpLimitsConfig {
    /// Largest request head (request line and headers); beyond it the answer is 431.
    /// Default 64 KiB.
    pub max_header_bytes: usize,
    /// Most request headers; beyond it the answer is 431. Default 100.
    pub max_headers: usize,
    /// Largest request body; beyond it the answer is 413. `0` means unlimited.
    /// Default 16 MiB.
    pub max_body_bytes: u64,
    /// Time allowed for a request head to arrive (bounds slow-header attacks). hyper also
    /// applies it to an idle keep-alive HTTP/1.1 connection waiting for its next request, so
    /// it is the HTTP/1.1 idle timeout as well. `0s` turns it off. Default 10s.
    #[serde(with = "super::duration")]
    pub header_read_timeout: Duration,
    /// HTTP/2 streams open at once per downstream connection. Default 1024.
    pub max_concurrent_streams: u32,
    /// Largest gRPC message in a request (the 4-byte length of each length-prefixed
    /// message); a longer one ends the call with RESOURCE_EXHAUSTED before its bytes are
    /// forwarded. `0` means unlimited. Default 4 MiB (gRPC's own default receive limit).
    pub max_grpc_message_bytes: u64,
}

impl Default for HttpLimitsConfig {
    fn default() -> Self {
        HttpLimitsConfig {
            max_header_bytes: 64 << 10,
            max_headers: 100,
            max_body_bytes: 16 << 20,
            header_read_timeout: Duration::from_secs(10),
            max_concurrent_streams: 1024,
            max_grpc_message_bytes: 4 << 20,
        }
    }
}

/// A virtual host: the routes of the requests addressed to some domains.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualHostConfig {
    /// A unique name, used in metrics, logs and default route names.
    pub name: String,
    /// The authorities served: `api.example.com`, `api.example.com:8080` (only that port),
    /// `*.example.com`, `www.*` or `*`. At least one.
    pub domains: Vec<String>,
    /// The routes, in match order.
    #[serde(default)]
    pub routes: Vec<HttpRouteConfig>,
    /// Headers set on every forwarded request of this host (before the route's own edits).
    #[serde(default)]
    pub request_headers_to_add: BTreeMap<String, String>,
    /// Headers removed from every forwarded request of this host.
    #[serde(default)]
    pub request_headers_to_remove: Vec<String>,
    /// Headers set on every response of this host.
    #[serde(default)]
    pub response_headers_to_add: BTreeMap<String, String>,
    /// Headers removed from every response of this host.
    #[serde(default)]
    pub response_headers_to_remove: Vec<String>,
}

/// One HTTP route: a match and what to do with matching requests.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRouteConfig {
    /// A name for metrics and logs. Default: `<virtual host>-<index>`.
    #[serde(default)]
    pub name: Option<String>,
    /// What a request must carry. Default: everything matches.
    #[serde(default, rename = "match")]
    pub matches: HttpRouteMatchConfig,
    /// What to do with matching requests.
    pub action: HttpActionConfig,
    /// Replaces the part of the path that the `path` match's `prefix` (or `exact`) matched,
    /// before forwarding. Default: the path is forwarded as received.
    #[serde(default)]
    pub prefix_rewrite: Option<String>,
    /// Replaces the authority (`Host` / `:authority`) before forwarding. Default: kept.
    #[serde(default)]
    pub host_rewrite: Option<String>,
    /// The whole-request deadline, retries included; `0s` means none. Default 15s.
    #[serde(default = "default_http_timeout", with = "super::duration")]
    pub timeout: Duration,
    /// Retry policy. Default: no retries.
    #[serde(default)]
    pub retry: Option<HttpRetryConfig>,
    /// Headers set on the forwarded request (after the virtual host's edits).
    #[serde(default)]
    pub request_headers_to_add: BTreeMap<String, String>,
    /// Headers removed from the forwarded request.
    #[serde(default)]
    pub request_headers_to_remove: Vec<String>,
    /// Headers set on the response.
    #[serde(default)]
    pub response_headers_to_add: BTreeMap<String, String>,
    /// Headers removed from the response.
    #[serde(default)]
    pub response_headers_to_remove: Vec<String>,
    /// Only endpoints whose metadata contains all these pairs receive this route's requests.
    #[serde(default)]
    pub metadata_match: BTreeMap<String, String>,
}

fn default_http_timeout() -> Duration {
    Duration::from_secs(15)
}

/// The conditions of an HTTP route; all given conditions must hold.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRouteMatchConfig {
    /// The path, as received (not percent-decoded, without the query).
    #[serde(default)]
    pub path: Option<StringMatch>,
    /// The methods accepted (case-sensitive, e.g. `GET`). Default: any.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Conditions on request headers, by (case-insensitive) name.
    #[serde(default)]
    pub headers: BTreeMap<String, StringMatch>,
    /// Conditions on query parameters, by (percent-decoded) name, on the decoded value.
    #[serde(default)]
    pub query: BTreeMap<String, StringMatch>,
    /// When given, only gRPC requests match, with conditions on the service and method
    /// taken from the path `/<service>/<method>`.
    #[serde(default)]
    pub grpc: Option<GrpcMatchConfig>,
}

/// Conditions on a gRPC request's service and method. `grpc: {}` matches any gRPC request.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcMatchConfig {
    /// The fully qualified service, e.g. `pkg.Echo`.
    #[serde(default)]
    pub service: Option<StringMatch>,
    /// The method, e.g. `UnaryEcho`.
    #[serde(default)]
    pub method: Option<StringMatch>,
}

/// What an HTTP route does. Exactly one of the forms.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum HttpActionConfig {
    /// Forward to this cluster.
    Cluster(String),
    /// Forward to one of these clusters, chosen by weight per request.
    WeightedClusters(Vec<WeightedClusterConfig>),
    /// Answer with a redirect.
    Redirect(RedirectConfig),
    /// Answer with this response.
    DirectResponse(HttpDirectResponseConfig),
}

/// A redirect: each part of the `Location` not given is the request's own.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectConfig {
    /// The scheme (`http` or `https`). Default: the request's.
    #[serde(default)]
    pub scheme: Option<String>,
    /// The host, without port. Default: the request's.
    #[serde(default)]
    pub host: Option<String>,
    /// The port. Default: the request's, unless the scheme or host is redirected; a port that
    /// is the scheme's default (80, 443) is left out of the `Location`.
    #[serde(default)]
    pub port: Option<u16>,
    /// The whole path (a query in it replaces the request's). Default: the request's.
    #[serde(default)]
    pub path: Option<String>,
    /// Replaces the part of the path the route's `path` match matched (exclusive with `path`).
    #[serde(default)]
    pub prefix_rewrite: Option<String>,
    /// Drops the request's query. Default false.
    #[serde(default)]
    pub strip_query: bool,
    /// The status: 301, 302, 303, 307 or 308. Default 301.
    #[serde(default = "default_redirect_code")]
    pub code: u16,
}

fn default_redirect_code() -> u16 {
    301
}

/// A response given without an upstream.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpDirectResponseConfig {
    /// The status, 100–599.
    pub status: u16,
    /// The body. Default empty.
    #[serde(default)]
    pub body: String,
    /// The `content-type` of the body. Default: none sent.
    #[serde(default)]
    pub content_type: Option<String>,
}

/// When a forwarded HTTP request is tried again. See
/// [`HttpRetryPolicy::should_retry`](crate::http::route::HttpRetryPolicy::should_retry) for
/// which methods each condition applies to.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRetryConfig {
    /// Retries after the first try. Default 1.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Deadline of each try. Default: what is left of the route timeout.
    #[serde(default, with = "super::duration::option")]
    pub per_try_timeout: Option<Duration>,
    /// Conditions that trigger a retry. Default: connect_failure and reset.
    #[serde(default = "default_retry_on")]
    pub retry_on: Vec<HttpRetryOn>,
    /// Statuses retried when `retry_on` lists `retriable_status_codes`.
    #[serde(default)]
    pub retriable_status_codes: Vec<u16>,
}

fn default_max_retries() -> u32 {
    1
}

fn default_retry_on() -> Vec<HttpRetryOn> {
    vec![HttpRetryOn::ConnectFailure, HttpRetryOn::Reset]
}

/// An HTTP retry condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpRetryOn {
    /// Connecting to the endpoint failed.
    ConnectFailure,
    /// The upstream connection or stream was reset before the response head.
    Reset,
    /// A try exceeded `per_try_timeout`.
    PerTryTimeout,
    /// Any 5xx response (idempotent methods only).
    #[serde(rename = "5xx")]
    ServerError,
    /// A 502, 503 or 504 response (idempotent methods only).
    GatewayError,
    /// A response status listed in `retriable_status_codes`.
    RetriableStatusCodes,
    /// A gRPC response with `grpc-status` 14 (UNAVAILABLE).
    Unavailable,
}

/// The HTTP version used towards a cluster's endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpUpstreamProtocol {
    /// HTTP/1.1.
    Http1,
    /// HTTP/2 (prior knowledge, cleartext).
    Http2,
}

#[cfg(test)]
mod tests;
