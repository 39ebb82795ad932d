//! The gateway's metrics registry, built on `prometheus-client`.
//!
//! Recording on the hot path goes through pre-resolved handles: the label strings are hashed
//! and looked up once, when a connection first meets a route ([`Metrics::requests`]), and the
//! returned [`RequestMetrics`] holds the counters themselves. Recording a request is then a
//! handful of relaxed atomic adds with no allocation, no hashing and no lock.
//!
//! Series (all prefixed `xproxy_`):
//!
//! | name | type | labels |
//! |---|---|---|
//! | `requests_total` | counter | listener, protocol, route, cluster |
//! | `request_errors_total` | counter | listener, protocol, route, cluster, class |
//! | `request_duration_seconds` | histogram (100µs–10s) | listener, protocol, route, cluster |
//! | `request_retries_total` | counter | listener, protocol, route, cluster |
//! | `downstream_connections_active` | gauge | listener, protocol |
//! | `downstream_connections_total` | counter | listener, protocol |
//! | `downstream_connections_sniffing` | gauge | listener |
//! | `downstream_connections_refused_total` | counter | listener, reason |
//! | `sniff_failures_total` | counter | listener, reason |
//! | `decode_errors_total` | counter | listener, protocol |
//! | `upstream_connections_active` | gauge | cluster |
//! | `upstream_connections_total` | counter | cluster |
//! | `admin_connections_refused_total` | counter | reason |
//! | `upstream_ejections_total` | counter | cluster |
//! | `upstream_panics_total` | counter | cluster |
//!
//! A request answered without a route or cluster has those labels empty. Series are never
//! removed: their number is bounded by the configuration (listeners × protocols × routes ×
//! clusters), not by traffic.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use xprotocol::relay::{Outcome, RequestRecord};
use xprotocol::Failure;

use super::histogram::LatencyHistogram;

/// The content type of [`Metrics::render`]'s output (OpenMetrics text, which Prometheus
/// negotiates and parses).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Why sniffing a new connection's first bytes gave up, for `sniff_failures_total{reason}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SniffFailure {
    /// No registered protocol recognised the bytes.
    Unrecognized,
    /// The peer sent too little before the sniff timeout.
    Timeout,
    /// Detectors still wanted more after the maximum sniff bytes.
    TooLarge,
    /// The peer closed before a protocol was recognised.
    Closed,
}

impl SniffFailure {
    /// The value of the `reason` label (also used in log lines, so logs and metrics agree).
    pub fn label(self) -> &'static str {
        match self {
            SniffFailure::Unrecognized => "unrecognized",
            SniffFailure::Timeout => "timeout",
            SniffFailure::TooLarge => "too_large",
            SniffFailure::Closed => "closed",
        }
    }
}

/// Why a listener closed a connection because of its limits, for
/// `downstream_connections_refused_total{reason}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The connection was recognised but the listener already serves `max_connections`.
    MaxConnections,
    /// The connection was still being sniffed (had not sent enough to be recognised) and was
    /// the oldest such one when a new connection arrived with the sniff budget full.
    SniffEvicted,
}

impl Refusal {
    fn label(self) -> &'static str {
        match self {
            Refusal::MaxConnections => "max_connections",
            Refusal::SniffEvicted => "sniff_evicted",
        }
    }
}

/// Why the admin listener closed a connection because of its limit, for
/// `admin_connections_refused_total{reason}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AdminRefusal {
    /// An idle admin connection (the oldest) was closed to make room for a new one.
    Evicted,
    /// Every admin connection was answering a request; the new one was closed.
    AllBusy,
}

impl AdminRefusal {
    fn label(self) -> &'static str {
        match self {
            AdminRefusal::Evicted => "evicted",
            AdminRefusal::AllBusy => "all_busy",
        }
    }
}

/// Error classes, the value of the `class` label. One counter per class is resolved in each
/// [`RequestMetrics`], so the index of a class is its slot there.
const ERROR_CLASSES: [&str; 9] = [
    "no_route",
    "no_healthy_upstream",
    "timeout",
    "overloaded",
    "bad_request",
    "upstream_reset",
    "internal",
    "upstream_5xx",
    "upstream_4xx",
];

const UPSTREAM_5XX: usize = 7;
const UPSTREAM_4XX: usize = 8;

/// The slot in [`ERROR_CLASSES`] of a failure.
fn failure_class(failure: Failure) -> usize {
    match failure {
        Failure::NoRoute => 0,
        Failure::NoHealthyUpstream => 1,
        Failure::Timeout => 2,
        Failure::Overloaded => 3,
        Failure::BadRequest => 4,
        Failure::UpstreamReset => 5,
        Failure::Internal => 6,
        // `Failure` is non-exhaustive. A new class is counted as internal until it gets a
        // slot here; the test over `Failure::ALL` fails until then.
        _ => 6,
    }
}

/// The error class of an outcome, if it is an error.
fn error_class(outcome: &Outcome) -> Option<usize> {
    match outcome {
        Outcome::Failed(failure) => Some(failure_class(*failure)),
        Outcome::Replied(status) if *status >= 500 => Some(UPSTREAM_5XX),
        Outcome::Replied(status) if *status >= 400 => Some(UPSTREAM_4XX),
        Outcome::Replied(_) | Outcome::Forwarded => None,
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    listener: String,
    protocol: String,
    route: String,
    cluster: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    listener: String,
    protocol: String,
    route: String,
    cluster: String,
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectionLabels {
    listener: String,
    protocol: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SniffLabels {
    listener: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabels {
    listener: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    listener: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClusterLabels {
    cluster: String,
}

/// The gateway's metrics. Share it as `Arc<Metrics>`; every method takes `&self`.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    durations: Family<RequestLabels, LatencyHistogram>,
    retries: Family<RequestLabels, Counter>,
    downstream_active: Family<ConnectionLabels, Gauge>,
    downstream_total: Family<ConnectionLabels, Counter>,
    sniffing: Family<ListenerLabels, Gauge>,
    refused: Family<RefusalLabels, Counter>,
    admin_refused: Family<ReasonLabels, Counter>,
    sniff_failures: Family<SniffLabels, Counter>,
    decode_errors: Family<ConnectionLabels, Counter>,
    upstream_active: Family<ClusterLabels, Gauge>,
    upstream_total: Family<ClusterLabels, Counter>,
    ejections: Family<ClusterLabels, Counter>,
    panics: Family<ClusterLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// An empty registry with every family registered (families with no series yet render
    /// only their `# TYPE`/`# HELP` lines).
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("xproxy");
        let requests = Family::default();
        let errors = Family::default();
        let durations = Family::default();
        let retries = Family::default();
        let downstream_active = Family::default();
        let downstream_total = Family::default();
        let sniffing = Family::default();
        let refused = Family::default();
        let admin_refused = Family::default();
        let sniff_failures = Family::default();
        let decode_errors = Family::default();
        let upstream_active = Family::default();
        let upstream_total = Family::default();
        let ejections = Family::default();
        let panics = Family::default();
        registry.register("requests", "Requests finished, by route and cluster", requests.clone());
        registry.register(
            "request_errors",
            "Requests that ended in an error, by class (failure kind, or upstream 4xx/5xx)",
            errors.clone(),
        );
        registry.register_with_unit(
            "request_duration",
            "Time from decoding a request to replying to it",
            Unit::Seconds,
            durations.clone(),
        );
        registry.register(
            "request_retries",
            "Tries after the first made for forwarded requests",
            retries.clone(),
        );
        registry.register(
            "downstream_connections_active",
            "Open downstream connections whose protocol was recognised",
            downstream_active.clone(),
        );
        registry.register(
            "downstream_connections",
            "Downstream connections whose protocol was recognised",
            downstream_total.clone(),
        );
        registry.register(
            "downstream_connections_sniffing",
            "Open downstream connections whose protocol is not recognised yet",
            sniffing.clone(),
        );
        registry.register(
            "downstream_connections_refused",
            "Downstream connections closed by the listener's limits, by reason (max_connections: \
             recognised with the listener full; sniff_evicted: the oldest still-sniffing \
             connection, closed to make room for a new one)",
            refused.clone(),
        );
        registry.register(
            "admin_connections_refused",
            "Admin connections closed by the admin listener's limit, by reason (evicted: the \
             oldest idle one, for a new one; all_busy: the new one, every other being busy)",
            admin_refused.clone(),
        );
        registry.register(
            "sniff_failures",
            "Connections closed because no protocol was recognised, by reason",
            sniff_failures.clone(),
        );
        registry.register(
            "decode_errors",
            "Malformed frames received from downstream",
            decode_errors.clone(),
        );
        registry.register(
            "upstream_connections_active",
            "Open upstream connections, by cluster",
            upstream_active.clone(),
        );
        registry.register(
            "upstream_connections",
            "Upstream connections opened, by cluster",
            upstream_total.clone(),
        );
        registry.register(
            "upstream_ejections",
            "Endpoints taken out of rotation by outlier detection, by cluster",
            ejections.clone(),
        );
        registry.register(
            "upstream_panics",
            "Times a cluster (or metadata subset) entered panic mode, by cluster",
            panics.clone(),
        );
        Metrics {
            registry,
            requests,
            errors,
            durations,
            retries,
            downstream_active,
            downstream_total,
            sniffing,
            refused,
            admin_refused,
            sniff_failures,
            decode_errors,
            upstream_active,
            upstream_total,
            ejections,
            panics,
        }
    }

    /// Resolves the request series of one label set. This hashes and allocates; call it once
    /// per (route, cluster) and connection and keep the handle (or let [`MetricsScope`] do it).
    pub fn requests(
        &self,
        listener: &str,
        protocol: &str,
        route: &str,
        cluster: &str,
    ) -> RequestMetrics {
        let labels = RequestLabels {
            listener: listener.to_owned(),
            protocol: protocol.to_owned(),
            route: route.to_owned(),
            cluster: cluster.to_owned(),
        };
        let errors = ERROR_CLASSES.map(|class| {
            let labels = ErrorLabels {
                listener: labels.listener.clone(),
                protocol: labels.protocol.clone(),
                route: labels.route.clone(),
                cluster: labels.cluster.clone(),
                class,
            };
            self.errors.get_or_create(&labels).clone()
        });
        RequestMetrics {
            inner: Arc::new(RequestCells {
                requests: self.requests.get_or_create(&labels).clone(),
                duration: self.durations.get_or_create(&labels).clone(),
                retries: self.retries.get_or_create(&labels).clone(),
                errors,
            }),
        }
    }

    /// A per-connection cache of request handles, for a relay policy that is told the route and
    /// cluster of each finished request as strings.
    pub fn scope(self: &Arc<Self>, listener: &str, protocol: &str) -> MetricsScope {
        MetricsScope {
            metrics: Arc::clone(self),
            listener: listener.into(),
            protocol: protocol.into(),
            cache: Mutex::new(Vec::new()),
        }
    }

    /// Counts a downstream connection whose protocol was recognised; the active gauge goes down
    /// again when the returned guard is dropped, so keep it for the connection's lifetime.
    pub fn connection_opened(&self, listener: &str, protocol: &str) -> ConnectionGuard {
        let labels =
            ConnectionLabels { listener: listener.to_owned(), protocol: protocol.to_owned() };
        self.downstream_total.get_or_create(&labels).inc();
        ConnectionGuard::up(self.downstream_active.get_or_create(&labels).clone())
    }

    /// Holds one connection in `downstream_connections_sniffing` until the guard is dropped;
    /// take it on accept and drop it once the protocol is known (or the connection closes).
    pub fn sniffing_started(&self, listener: &str) -> ConnectionGuard {
        let labels = ListenerLabels { listener: listener.to_owned() };
        ConnectionGuard::up(self.sniffing.get_or_create(&labels).clone())
    }

    /// Counts a downstream connection closed by the listener's limits.
    pub fn connection_refused(&self, listener: &str, reason: Refusal) {
        let labels = RefusalLabels { listener: listener.to_owned(), reason: reason.label() };
        self.refused.get_or_create(&labels).inc();
    }

    /// Counts an admin connection closed by the admin listener's limit.
    pub fn admin_connection_refused(&self, reason: AdminRefusal) {
        self.admin_refused.get_or_create(&ReasonLabels { reason: reason.label() }).inc();
    }

    /// Counts a connection closed because sniffing gave up (`Timeout`: the peer stayed silent,
    /// or too slow, for the whole sniff timeout).
    pub fn sniff_failed(&self, listener: &str, reason: SniffFailure) {
        let labels = SniffLabels { listener: listener.to_owned(), reason: reason.label() };
        self.sniff_failures.get_or_create(&labels).inc();
    }

    /// Counts a malformed frame from downstream.
    pub fn decode_error(&self, listener: &str, protocol: &str) {
        let labels =
            ConnectionLabels { listener: listener.to_owned(), protocol: protocol.to_owned() };
        self.decode_errors.get_or_create(&labels).inc();
    }

    /// Counts an upstream connection to `cluster`; keep the guard for the connection's lifetime.
    pub fn upstream_connection_opened(&self, cluster: &str) -> ConnectionGuard {
        let labels = ClusterLabels { cluster: cluster.to_owned() };
        self.upstream_total.get_or_create(&labels).inc();
        ConnectionGuard::up(self.upstream_active.get_or_create(&labels).clone())
    }

    /// The outlier-detection counters of `cluster`, resolved once when the cluster is built.
    pub fn outlier_counters(&self, cluster: &str) -> OutlierCounters {
        let labels = ClusterLabels { cluster: cluster.to_owned() };
        OutlierCounters {
            ejections: self.ejections.get_or_create(&labels).clone(),
            panics: self.panics.get_or_create(&labels).clone(),
        }
    }

    /// Every series in OpenMetrics text format (serve it with [`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut text = String::with_capacity(16 * 1024);
        if let Err(error) = encode(&mut text, &self.registry) {
            // Writing to a `String` does not fail; an encoder error would be a library bug.
            tracing::error!(%error, "encoding metrics failed");
        }
        text
    }
}

/// The request series of one (listener, protocol, route, cluster), resolved. Cloning is one
/// reference-count increment.
#[derive(Clone, Debug)]
pub struct RequestMetrics {
    inner: Arc<RequestCells>,
}

#[derive(Debug)]
struct RequestCells {
    requests: Counter,
    duration: LatencyHistogram,
    retries: Counter,
    errors: [Counter; ERROR_CLASSES.len()],
}

impl RequestMetrics {
    /// Records one finished request: three relaxed atomic adds (requests, latency bucket and
    /// latency sum) plus one per error and one when it was retried. No allocation, no lock.
    pub fn record(&self, outcome: &Outcome, latency: Duration) {
        self.record_tries(outcome, latency, 1);
    }

    /// [`record`](Self::record), also counting `tries - 1` retries.
    pub fn record_tries(&self, outcome: &Outcome, latency: Duration, tries: u32) {
        let cells = &*self.inner;
        cells.requests.inc();
        cells.duration.observe(latency);
        if let Some(counter) = error_class(outcome).and_then(|class| cells.errors.get(class)) {
            counter.inc();
        }
        if tries > 1 {
            cells.retries.inc_by(u64::from(tries - 1));
        }
    }
}

/// A cached handle: route, cluster, and their series.
type ScopeEntry = (Box<str>, Box<str>, RequestMetrics);

/// Most (route, cluster) pairs a [`MetricsScope`] caches; past that it resolves every time.
const SCOPE_CACHE_LIMIT: usize = 64;

/// One downstream connection's view of [`Metrics`]: records [`RequestRecord`]s, resolving the
/// handle of a (route, cluster) pair on its first request and reusing it after (a linear
/// string comparison over the few pairs a connection sees, under an uncontended mutex).
#[derive(Debug)]
pub struct MetricsScope {
    metrics: Arc<Metrics>,
    listener: Box<str>,
    protocol: Box<str>,
    cache: Mutex<Vec<ScopeEntry>>,
}

impl MetricsScope {
    /// Records one finished request, retries included.
    pub fn record(&self, record: &RequestRecord<'_>) {
        let route = record.route.unwrap_or("");
        let cluster = record.cluster.unwrap_or("");
        // A poisoned lock only means another recording panicked; the cache is still valid.
        let mut cache = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, _, handle)) =
            cache.iter().find(|(r, c, _)| &**r == route && &**c == cluster)
        {
            handle.record_tries(&record.outcome, record.latency, record.tries);
            return;
        }
        let handle = self.metrics.requests(&self.listener, &self.protocol, route, cluster);
        handle.record_tries(&record.outcome, record.latency, record.tries);
        if cache.len() < SCOPE_CACHE_LIMIT {
            cache.push((route.into(), cluster.into(), handle));
        }
    }
}

/// A cluster's outlier-detection counters. The default is unregistered counters (counted,
/// never rendered), for clusters built without a metrics registry.
#[derive(Clone, Debug, Default)]
pub struct OutlierCounters {
    /// Ejections of any of the cluster's endpoints.
    pub ejections: Counter,
    /// Entries of the cluster, or one of its subsets, into panic mode.
    pub panics: Counter,
}

/// Holds one active connection in a gauge; dropping it takes the connection out again.
#[derive(Debug)]
pub struct ConnectionGuard {
    gauge: Gauge,
}

impl ConnectionGuard {
    fn up(gauge: Gauge) -> Self {
        gauge.inc();
        ConnectionGuard { gauge }
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

#[cfg(test)]
mod tests;
