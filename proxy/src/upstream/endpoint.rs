//! One upstream endpoint: its address, weight and labels, plus the live state that balancing
//! reads (requests in flight, health, ejection).
//!
//! Passive health (outlier detection) lives here too, kept in atomics so that reporting a
//! try's outcome and checking an endpoint on the request path take no lock: an endpoint that
//! fails `consecutive_failures` tries in a row is ejected for a short time that doubles with
//! each further ejection (up to a cap), and its first success puts it back. The transitions,
//! and only they, are logged: one WARN line per ejection, one INFO line per restoration.

use std::any::Any;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::admin::metrics::OutlierCounters;
use crate::config::{EndpointConfig, OutlierConfig};

/// An upstream endpoint of a cluster.
///
/// Shared as `Arc<Endpoint>` between the cluster, its metadata subsets and whoever holds a
/// request to it. The live state is atomic: the health checker or pool flips
/// [`set_healthy`](Endpoint::set_healthy), tries report their outcome with
/// [`report_outcome`](Endpoint::report_outcome), requests in flight are counted by the guard
/// that [`track`](Endpoint::track) returns, and the least-request balancer reads that count.
#[derive(Debug)]
pub struct Endpoint {
    address: SocketAddr,
    weight: u32,
    metadata: BTreeMap<String, String>,
    active_requests: AtomicUsize,
    healthy: AtomicBool,
    /// Connection pools kept for this endpoint by the relay, one per protocol (opaque here:
    /// each is the relay's pool type for that protocol).
    pools: Mutex<Vec<(&'static str, Arc<dyn Any + Send + Sync>)>>,
    /// The cluster's outlier settings and shared state.
    outlier: Arc<Outlier>,
    /// Tries that failed in a row (connect failures, resets) while in rotation.
    consecutive_failures: AtomicU32,
    /// Ejections since the endpoint last succeeded; 0 while it is in rotation. Each further
    /// ejection lasts twice as long as the one before (up to the cap).
    ejections: AtomicU32,
    /// While the clock ([`now_nanos`]) is before this: ejected. 0 when never ejected or
    /// restored.
    ejected_until: AtomicU64,
    /// When the current (or last) ejection began, on the same clock.
    ejected_at: AtomicU64,
    /// When the endpoint was last ejected or restored, on the same clock: failures of tries
    /// begun before then are stale news and change nothing.
    changed_at: AtomicU64,
}

pub use crate::clock::now_nanos;
use crate::clock::{nanos, nanos_at};

/// What the endpoints of one cluster share for passive health: the cluster's
/// [`OutlierConfig`], its name (for log lines), its ejection and panic counters, and a
/// cluster-wide summary that lets a pick skip scanning the endpoints while none is out.
#[derive(Debug)]
pub struct Outlier {
    cluster: String,
    consecutive_failures: u32,
    base_ejection: u64,
    max_ejection: u64,
    min_ejection: u64,
    panic_threshold: u8,
    /// The latest `ejected_until` of any endpoint of the cluster: once the clock is past
    /// it, no endpoint is ejected. (A restored endpoint may leave it in the future; that only
    /// sends picks down the scanning path until it passes.)
    ejected_until_max: AtomicU64,
    /// Endpoints marked unhealthy with [`Endpoint::set_healthy`].
    unhealthy: AtomicUsize,
    counters: OutlierCounters,
}

impl Outlier {
    /// The shared outlier state of cluster `cluster`, configured by `config`, counting into
    /// `counters` (registered series, or unregistered ones when nothing reads them).
    pub fn new(cluster: &str, config: &OutlierConfig, counters: OutlierCounters) -> Outlier {
        Outlier {
            cluster: cluster.to_owned(),
            // Validation refuses 0; treat it as 1 rather than ejecting before the first try.
            consecutive_failures: config.consecutive_failures.max(1),
            base_ejection: nanos(config.base_ejection_time).max(1),
            max_ejection: nanos(config.max_ejection_time).max(1),
            min_ejection: nanos(config.min_ejection_time),
            panic_threshold: config.panic_threshold.min(100),
            ejected_until_max: AtomicU64::new(0),
            unhealthy: AtomicUsize::new(0),
            counters,
        }
    }

    /// The name of the cluster, for log lines.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// The cluster's ejection and panic counters.
    pub fn counters(&self) -> &OutlierCounters {
        &self.counters
    }

    /// Whether every endpoint of the cluster is in rotation at `now`: no ejection running,
    /// none marked unhealthy. Two atomic loads; the pick's fast path.
    pub fn all_in_rotation(&self, now: u64) -> bool {
        self.unhealthy.load(Ordering::Relaxed) == 0
            && now >= self.ejected_until_max.load(Ordering::Relaxed)
    }

    /// Whether `available` endpoints in rotation out of `total` put a set of endpoints in
    /// panic mode: none in rotation, or fewer than the panic threshold's percentage.
    pub fn panics(&self, available: usize, total: usize) -> bool {
        available == 0
            || (available as u128) * 100 < u128::from(self.panic_threshold) * total as u128
    }

    /// Counts one entry into panic mode.
    pub fn count_panic(&self) {
        self.counters.panics.inc();
    }

    /// How long ejection number `n` (1 for the first since the last success) lasts: the
    /// base time doubled `n - 1` times, capped.
    fn ejection_time(&self, n: u32) -> u64 {
        let doublings = n.saturating_sub(1).min(63);
        self.base_ejection.saturating_mul(1u64 << doublings).min(self.max_ejection)
    }
}

impl Endpoint {
    /// An endpoint from its configuration, healthy and idle, sharing its cluster's `outlier`
    /// state.
    pub fn new(config: &EndpointConfig, outlier: Arc<Outlier>) -> Endpoint {
        Endpoint {
            address: config.address,
            weight: config.weight,
            metadata: config.metadata.clone(),
            active_requests: AtomicUsize::new(0),
            healthy: AtomicBool::new(true),
            pools: Mutex::new(Vec::new()),
            outlier,
            consecutive_failures: AtomicU32::new(0),
            ejections: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
            ejected_at: AtomicU64::new(0),
            changed_at: AtomicU64::new(0),
        }
    }

    /// Where the endpoint listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Its relative weight for weighted policies (validated > 0 when the cluster is built).
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// Its labels, matched by routes' `metadata_match`.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// Whether balancers may choose it now: healthy and not ejected. Endpoints start
    /// healthy.
    pub fn is_healthy(&self) -> bool {
        self.is_available(now_nanos())
    }

    /// Whether it is in rotation at `now` (a [`now_nanos`] reading): healthy and not ejected.
    pub fn is_available(&self, now: u64) -> bool {
        self.healthy.load(Ordering::Relaxed) && now >= self.ejected_until.load(Ordering::Relaxed)
    }

    /// Whether panic mode (or a request that found every endpoint out) may choose it at
    /// `now`: anything but an endpoint whose ejection began less than the cluster's
    /// `min_ejection_time` ago. Health marks are ignored, as in Envoy's panic mode.
    pub fn is_admissible_in_panic(&self, now: u64) -> bool {
        now >= self.ejected_until.load(Ordering::Relaxed)
            || now
                >= self.ejected_at.load(Ordering::Relaxed).saturating_add(self.outlier.min_ejection)
    }

    /// Whether an ejection is running at `now`.
    pub fn is_ejected(&self, now: u64) -> bool {
        now < self.ejected_until.load(Ordering::Relaxed)
    }

    /// Records how a try that began just now went; see
    /// [`report_try_outcome`](Endpoint::report_try_outcome).
    pub fn report_outcome(&self, ok: bool) {
        if ok {
            self.report_success();
        } else {
            self.report_failure(now_nanos());
        }
    }

    /// Records how a try that began at `started` (before connecting) went (`ok`: a reply
    /// came that is not a server error).
    ///
    /// In rotation, `consecutive_failures` failures in a row eject the endpoint for the
    /// cluster's `base_ejection_time`; a success clears the count. Once ejected, failures
    /// while the ejection runs (tries sent in panic mode or already in flight) change
    /// nothing; the first failure after it ran out ejects again at once, for twice as long
    /// (up to `max_ejection_time`). The first success after an ejection returns the endpoint
    /// to rotation and resets the doubling. A failure of a try begun before the endpoint was
    /// last ejected or restored is ignored: after a freeze, connects lost while the backend
    /// was stopped keep failing for a while after it is back and answering, and they must
    /// not eject it again. Cost on the hot path: two relaxed loads for a success; two loads,
    /// a clock reading and an add for a failure.
    pub fn report_try_outcome(&self, ok: bool, started: Instant) {
        if ok {
            self.report_success();
        } else {
            self.report_failure(nanos_at(started));
        }
    }

    fn report_success(&self) {
        if self.consecutive_failures.load(Ordering::Relaxed) != 0 {
            self.consecutive_failures.store(0, Ordering::Relaxed);
        }
        if self.ejections.load(Ordering::Relaxed) == 0 {
            return;
        }
        // Only the success that wins the swap logs the restoration.
        let ejections = self.ejections.swap(0, Ordering::Relaxed);
        if ejections == 0 {
            return;
        }
        self.ejected_until.store(0, Ordering::Relaxed);
        self.changed_at.store(now_nanos(), Ordering::Relaxed);
        tracing::info!(
            cluster = %self.outlier.cluster,
            address = %self.address,
            ejections,
            "endpoint restored"
        );
    }

    fn report_failure(&self, started: u64) {
        if started < self.changed_at.load(Ordering::Relaxed) {
            return;
        }
        let now = now_nanos();
        let ejections = self.ejections.load(Ordering::Relaxed);
        if ejections != 0 {
            // Out of rotation since an ejection, with no success since.
            let until = self.ejected_until.load(Ordering::Relaxed);
            if now >= until {
                self.eject(now, until, ejections, 1);
            }
            return;
        }
        let failures = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        // `==`: of the failures racing past the threshold, exactly one ejects.
        if failures == self.outlier.consecutive_failures {
            self.consecutive_failures.store(0, Ordering::Relaxed);
            let until = self.ejected_until.load(Ordering::Relaxed);
            self.eject(now, until, 0, failures);
        }
    }

    /// Ejects the endpoint from `now`, unless another failure already did since `until` was
    /// read (`ejections` is the count it had then; `failures` is only for the log line).
    fn eject(&self, now: u64, until: u64, ejections: u32, failures: u32) {
        let number = ejections.saturating_add(1);
        let time = self.outlier.ejection_time(number);
        let new_until = now.saturating_add(time);
        let swapped = self.ejected_until.compare_exchange(
            until,
            new_until,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        if swapped.is_err() {
            return;
        }
        self.ejected_at.store(now, Ordering::Relaxed);
        self.changed_at.store(now, Ordering::Relaxed);
        self.ejections.fetch_add(1, Ordering::Relaxed);
        self.outlier.ejected_until_max.fetch_max(new_until, Ordering::Relaxed);
        self.outlier.counters.ejections.inc();
        tracing::warn!(
            cluster = %self.outlier.cluster,
            address = %self.address,
            failures,
            ejection = ?Duration::from_nanos(time),
            ejections = number,
            "endpoint ejected"
        );
    }

    /// Marks the endpoint healthy or not; balancers skip unhealthy endpoints from the next
    /// pick on. Called by health checking and the pool (e.g. after repeated connect failures).
    pub fn set_healthy(&self, healthy: bool) {
        let was = self.healthy.swap(healthy, Ordering::Relaxed);
        match (was, healthy) {
            (true, false) => {
                self.outlier.unhealthy.fetch_add(1, Ordering::Relaxed);
            }
            (false, true) => {
                self.outlier.unhealthy.fetch_sub(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    /// Requests to this endpoint now in flight (those holding an [`ActiveRequest`]).
    pub fn active_requests(&self) -> usize {
        self.active_requests.load(Ordering::Relaxed)
    }

    /// The pool kept for `protocol`, made by `make` on first use.
    pub fn pool(
        &self,
        protocol: &'static str,
        make: &mut dyn FnMut() -> Arc<dyn Any + Send + Sync>,
    ) -> Arc<dyn Any + Send + Sync> {
        // Poisoning only follows a panic inside this short critical section; keep serving.
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, pool)) = pools.iter().find(|(name, _)| *name == protocol) {
            return Arc::clone(pool);
        }
        let pool = make();
        pools.push((protocol, Arc::clone(&pool)));
        pool
    }

    /// Counts one request in flight until the returned guard is dropped. Hold the guard for
    /// the whole upstream exchange (it may cross awaits: it owns a reference to the endpoint),
    /// so that least-request balancing sees the load.
    pub fn track(self: &Arc<Self>) -> ActiveRequest {
        self.active_requests.fetch_add(1, Ordering::Relaxed);
        ActiveRequest { endpoint: Arc::clone(self) }
    }
}

/// One request in flight to an endpoint; dropping it ends the count. See [`Endpoint::track`].
#[derive(Debug)]
#[must_use = "the request is counted only while the guard is held"]
pub struct ActiveRequest {
    endpoint: Arc<Endpoint>,
}

impl ActiveRequest {
    /// The endpoint the request went to.
    pub fn endpoint(&self) -> &Arc<Endpoint> {
        &self.endpoint
    }
}

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        self.endpoint.active_requests.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn outlier(config: OutlierConfig) -> Arc<Outlier> {
        Arc::new(Outlier::new("c", &config, OutlierCounters::default()))
    }

    fn endpoint_with(config: OutlierConfig) -> Arc<Endpoint> {
        let endpoint = EndpointConfig {
            address: SocketAddr::from(([127, 0, 0, 1], 1)),
            weight: 3,
            metadata: BTreeMap::from([("zone".to_owned(), "a".to_owned())]),
        };
        Arc::new(Endpoint::new(&endpoint, outlier(config)))
    }

    fn endpoint() -> Arc<Endpoint> {
        endpoint_with(OutlierConfig::default())
    }

    /// Fails `n` tries.
    fn fail(ep: &Endpoint, n: u32) {
        for _ in 0..n {
            ep.report_outcome(false);
        }
    }

    /// Makes the running ejection end now, as if its time had passed.
    fn expire(ep: &Endpoint) {
        ep.ejected_until.store(now_nanos(), Ordering::Relaxed);
    }

    /// The length of the current ejection.
    fn ejection_length(ep: &Endpoint) -> u64 {
        ep.ejected_until.load(Ordering::Relaxed) - ep.ejected_at.load(Ordering::Relaxed)
    }

    #[test]
    fn track_counts_until_the_guard_drops() {
        let ep = endpoint();
        assert_eq!(ep.active_requests(), 0);
        let a = ep.track();
        let b = ep.track();
        assert_eq!(ep.active_requests(), 2);
        drop(a);
        assert_eq!(ep.active_requests(), 1);
        assert!(Arc::ptr_eq(b.endpoint(), &ep));
        drop(b);
        assert_eq!(ep.active_requests(), 0);
    }

    #[test]
    fn new_endpoint_is_healthy_and_keeps_its_config() {
        let ep = endpoint();
        assert!(ep.is_healthy());
        ep.set_healthy(false);
        assert!(!ep.is_healthy());
        assert_eq!(ep.outlier.unhealthy.load(Ordering::Relaxed), 1);
        ep.set_healthy(false);
        assert_eq!(ep.outlier.unhealthy.load(Ordering::Relaxed), 1, "counted once");
        ep.set_healthy(true);
        assert_eq!(ep.outlier.unhealthy.load(Ordering::Relaxed), 0);
        assert_eq!(ep.weight(), 3);
        assert_eq!(ep.metadata().get("zone").map(String::as_str), Some("a"));
        assert_eq!(ep.address().port(), 1);
    }

    #[test]
    fn consecutive_failures_eject_for_the_base_time() {
        let ep = endpoint();
        fail(&ep, 4);
        ep.report_outcome(true);
        fail(&ep, 4);
        assert!(ep.is_healthy(), "a success resets the count");
        let before = now_nanos();
        fail(&ep, 1);
        assert!(!ep.is_healthy());
        assert!(ep.is_ejected(now_nanos()));
        assert_eq!(ejection_length(&ep), 200 * MS, "the default base ejection time");
        assert!(ep.outlier.ejected_until_max.load(Ordering::Relaxed) >= before + 200 * MS);
        assert!(!ep.outlier.all_in_rotation(now_nanos()));
        assert_eq!(ep.outlier.counters.ejections.get(), 1);
        expire(&ep);
        assert!(ep.is_healthy(), "back in rotation once the ejection time has passed");
    }

    #[test]
    fn ejections_double_up_to_the_cap_while_failures_go_on() {
        let config = OutlierConfig {
            base_ejection_time: Duration::from_millis(100),
            max_ejection_time: Duration::from_millis(500),
            ..OutlierConfig::default()
        };
        let ep = endpoint_with(config);
        fail(&ep, 5);
        let mut lengths = vec![ejection_length(&ep) / MS];
        for _ in 0..4 {
            expire(&ep);
            // One failure after the ejection ran out is enough to eject again.
            fail(&ep, 1);
            assert!(!ep.is_healthy());
            lengths.push(ejection_length(&ep) / MS);
        }
        assert_eq!(lengths, [100, 200, 400, 500, 500]);
        assert_eq!(ep.ejections.load(Ordering::Relaxed), 5);
        assert_eq!(ep.outlier.counters.ejections.get(), 5);
    }

    #[test]
    fn failures_during_an_ejection_do_not_extend_it() {
        let ep = endpoint();
        fail(&ep, 5);
        let until = ep.ejected_until.load(Ordering::Relaxed);
        fail(&ep, 50);
        assert_eq!(ep.ejected_until.load(Ordering::Relaxed), until);
        assert_eq!(ep.ejections.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_success_restores_at_once_and_resets_the_doubling() {
        let ep = endpoint();
        fail(&ep, 5);
        expire(&ep);
        fail(&ep, 1);
        assert_eq!(ejection_length(&ep), 400 * MS);
        // A reply on a connection still open, or to a try in panic mode, during the ejection.
        ep.report_outcome(true);
        assert!(ep.is_healthy(), "restored before its ejection ran out");
        assert_eq!(ep.ejections.load(Ordering::Relaxed), 0);
        fail(&ep, 4);
        assert!(ep.is_healthy(), "in rotation again: a fresh run of failures is needed");
        fail(&ep, 1);
        assert_eq!(ejection_length(&ep), 200 * MS, "back to the base time");
    }

    #[test]
    fn failures_of_tries_begun_before_the_last_change_are_ignored() {
        let ep = endpoint();
        let early = Instant::now();
        fail(&ep, 5);
        assert_eq!(ep.ejections.load(Ordering::Relaxed), 1);
        expire(&ep);
        // Tries begun before the ejection, failing after it ran out: no new ejection.
        for _ in 0..10 {
            ep.report_try_outcome(false, early);
        }
        assert!(ep.is_healthy());
        assert_eq!(ep.ejections.load(Ordering::Relaxed), 1);
        ep.report_outcome(true);
        // Stale failures after the restoration (connects lost while the backend was frozen)
        // do not eject it again; fresh ones do.
        let before_restore = early;
        for _ in 0..10 {
            ep.report_try_outcome(false, before_restore);
        }
        assert!(ep.is_healthy());
        std::thread::sleep(Duration::from_millis(1));
        for _ in 0..5 {
            ep.report_try_outcome(false, Instant::now());
        }
        assert!(!ep.is_healthy());
    }

    #[test]
    fn panic_mode_may_try_an_ejected_endpoint_only_after_the_minimum() {
        let ep = endpoint();
        fail(&ep, 5);
        let now = now_nanos();
        assert!(!ep.is_available(now));
        assert!(!ep.is_admissible_in_panic(now), "just ejected");
        assert!(ep.is_admissible_in_panic(now + 50 * MS), "50ms into its ejection");
        assert!(!ep.is_available(now + 50 * MS));
        ep.set_healthy(false);
        assert!(ep.is_admissible_in_panic(now + 50 * MS), "panic ignores health marks");
    }

    #[test]
    fn panic_threshold_is_a_percentage_of_endpoints_in_rotation() {
        let o = outlier(OutlierConfig::default());
        assert!(o.panics(0, 1));
        assert!(!o.panics(1, 1));
        assert!(o.panics(1, 3), "33% < 50%");
        assert!(!o.panics(2, 4), "50% is not below 50%");
        let off = outlier(OutlierConfig { panic_threshold: 0, ..OutlierConfig::default() });
        assert!(!off.panics(1, 100));
        assert!(off.panics(0, 100), "with none in rotation a request still tries one");
    }

    #[test]
    fn pools_are_kept_per_protocol() {
        let ep = endpoint();
        let mut made = 0;
        let mut make = |v: u32| {
            made += 1;
            move || Arc::new(v) as Arc<dyn Any + Send + Sync>
        };
        let a = ep.pool("bolt", &mut make(1));
        let b = ep.pool("bolt", &mut make(2));
        let c = ep.pool("dubbo", &mut make(3));
        assert_eq!(made, 3, "makers are built each time, but called only when needed");
        assert_eq!(a.downcast::<u32>().ok().map(|v| *v), Some(1));
        assert_eq!(b.downcast::<u32>().ok().map(|v| *v), Some(1));
        assert_eq!(c.downcast::<u32>().ok().map(|v| *v), Some(3));
    }
}
