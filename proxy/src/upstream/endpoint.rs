//! One upstream endpoint: its address, weight and labels, plus the live state that balancing
//! reads (requests in flight, health).

use std::any::Any;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::config::EndpointConfig;

/// An upstream endpoint of a cluster.
///
/// Shared as `Arc<Endpoint>` between the cluster, its metadata subsets and whoever holds a
/// request to it. The live state is atomic: the health checker or pool flips
/// [`set_healthy`](Endpoint::set_healthy), requests in flight are counted by the guard that
/// [`track`](Endpoint::track) returns, and the least-request balancer reads that count.
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
    /// Tries that failed in a row (connect failures, resets), for passive health.
    consecutive_failures: AtomicU32,
    /// While non-zero: ejected until this many nanoseconds after [`epoch`].
    ejected_until: AtomicU64,
}

/// Consecutive failed tries after which an endpoint is ejected (passive health checking).
pub const EJECT_AFTER_FAILURES: u32 = 5;
/// How long an ejected endpoint stays out of rotation before it is tried again.
pub const EJECTION_TIME: Duration = Duration::from_secs(5);

/// A process-wide time origin for ejection deadlines kept in atomics.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_nanos() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX).max(1)
}

impl Endpoint {
    /// An endpoint from its configuration, healthy and idle.
    pub fn new(config: &EndpointConfig) -> Endpoint {
        Endpoint {
            address: config.address,
            weight: config.weight,
            metadata: config.metadata.clone(),
            active_requests: AtomicUsize::new(0),
            healthy: AtomicBool::new(true),
            pools: Mutex::new(Vec::new()),
            consecutive_failures: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
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

    /// Whether balancers may choose it. Endpoints start healthy.
    pub fn is_healthy(&self) -> bool {
        if !self.healthy.load(Ordering::Relaxed) {
            return false;
        }
        let until = self.ejected_until.load(Ordering::Relaxed);
        until == 0 || now_nanos() >= until
    }

    /// Records how a try went: [`EJECT_AFTER_FAILURES`] failures in a row eject the endpoint
    /// for [`EJECTION_TIME`] (balancers skip it), after which it is tried again; a success
    /// clears the count.
    pub fn report_outcome(&self, ok: bool) {
        if ok {
            if self.consecutive_failures.load(Ordering::Relaxed) != 0 {
                self.consecutive_failures.store(0, Ordering::Relaxed);
            }
            return;
        }
        let failures = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= EJECT_AFTER_FAILURES {
            self.consecutive_failures.store(0, Ordering::Relaxed);
            let until = now_nanos().saturating_add(EJECTION_TIME.as_nanos() as u64);
            self.ejected_until.store(until, Ordering::Relaxed);
            tracing::warn!(address = %self.address, "endpoint ejected after repeated failures");
        }
    }

    /// Marks the endpoint healthy or not; balancers skip unhealthy endpoints from the next
    /// pick on. Called by health checking and the pool (e.g. after repeated connect failures).
    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Relaxed);
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

    fn endpoint() -> Arc<Endpoint> {
        Arc::new(Endpoint::new(&EndpointConfig {
            address: SocketAddr::from(([127, 0, 0, 1], 1)),
            weight: 3,
            metadata: BTreeMap::from([("zone".to_owned(), "a".to_owned())]),
        }))
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
        assert_eq!(ep.weight(), 3);
        assert_eq!(ep.metadata().get("zone").map(String::as_str), Some("a"));
        assert_eq!(ep.address().port(), 1);
    }

    #[test]
    fn repeated_failures_eject_until_the_ejection_time_passes() {
        let ep = endpoint();
        for _ in 0..EJECT_AFTER_FAILURES - 1 {
            ep.report_outcome(false);
        }
        ep.report_outcome(true);
        ep.report_outcome(false);
        assert!(ep.is_healthy(), "a success resets the count");
        for _ in 0..EJECT_AFTER_FAILURES {
            ep.report_outcome(false);
        }
        assert!(!ep.is_healthy());
        ep.ejected_until.store(now_nanos(), Ordering::Relaxed);
        assert!(ep.is_healthy(), "back in rotation once the ejection time has passed");
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
