//! The circuit breaker of a cluster: hard limits on upstream connections, requests waiting
//! for a connection and requests in flight. A request that would breach one gets an overload
//! reply instead of queueing without bound.
//!
//! Each limit is an atomic gauge; acquiring is a compare-and-swap loop that never overshoots
//! the limit, and the permit it returns gives its unit back when dropped, so an early return
//! or a cancelled future cannot leak capacity.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::config::CircuitBreakerConfig;

/// A cluster's limits and their current use.
#[derive(Debug)]
pub struct CircuitBreaker {
    connections: Arc<Gauge>,
    pending: Arc<Gauge>,
    requests: Arc<Gauge>,
}

/// A snapshot of a circuit breaker's gauges and rejection counters, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CircuitCounts {
    /// Upstream connections open (or opening) now.
    pub connections: usize,
    /// Requests waiting for a connection now.
    pub pending_requests: usize,
    /// Requests in flight now.
    pub requests: usize,
    /// Connection attempts refused because `max_connections` was reached, since start.
    pub rejected_connections: u64,
    /// Requests refused because `max_pending_requests` was reached, since start.
    pub rejected_pending_requests: u64,
    /// Requests refused because `max_requests` was reached, since start.
    pub rejected_requests: u64,
}

#[derive(Debug)]
struct Gauge {
    current: AtomicUsize,
    max: usize,
    rejected: AtomicU64,
}

impl Gauge {
    fn new(max: usize) -> Arc<Gauge> {
        Arc::new(Gauge { current: AtomicUsize::new(0), max, rejected: AtomicU64::new(0) })
    }

    fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        let max = self.max;
        let taken = self
            .current
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| (n < max).then_some(n + 1));
        match taken {
            Ok(_) => Some(Permit { gauge: Arc::clone(self) }),
            Err(_) => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    fn current(&self) -> usize {
        self.current.load(Ordering::Relaxed)
    }

    fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}

/// One unit of a gauge, given back on drop.
#[derive(Debug)]
struct Permit {
    gauge: Arc<Gauge>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.gauge.current.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Leave to keep one request in flight; dropping it frees the slot.
#[derive(Debug)]
#[must_use = "the slot is freed as soon as the permit is dropped"]
pub struct RequestPermit {
    _permit: Permit,
}

/// Leave for one request to wait for a connection; drop it once the request has a connection
/// (or gives up).
#[derive(Debug)]
#[must_use = "the slot is freed as soon as the permit is dropped"]
pub struct PendingPermit {
    _permit: Permit,
}

/// Leave to keep one upstream connection open; store it in the connection so that closing
/// the connection frees the slot.
#[derive(Debug)]
#[must_use = "the slot is freed as soon as the permit is dropped"]
pub struct ConnectionPermit {
    _permit: Permit,
}

impl CircuitBreaker {
    /// A breaker with `limits`, nothing in use.
    pub fn new(limits: &CircuitBreakerConfig) -> CircuitBreaker {
        CircuitBreaker {
            connections: Gauge::new(limits.max_connections),
            pending: Gauge::new(limits.max_pending_requests),
            requests: Gauge::new(limits.max_requests),
        }
    }

    /// Takes a slot for a request in flight, or `None` (counted as a rejection) if
    /// `max_requests` are already in flight: the caller answers with an overload reply.
    pub fn try_acquire_request(&self) -> Option<RequestPermit> {
        self.requests.try_acquire().map(|p| RequestPermit { _permit: p })
    }

    /// Takes a slot for a request waiting for a connection, or `None` if
    /// `max_pending_requests` already wait.
    pub fn try_acquire_pending(&self) -> Option<PendingPermit> {
        self.pending.try_acquire().map(|p| PendingPermit { _permit: p })
    }

    /// Takes a slot for a new upstream connection, or `None` if `max_connections` are open.
    pub fn try_acquire_connection(&self) -> Option<ConnectionPermit> {
        self.connections.try_acquire().map(|p| ConnectionPermit { _permit: p })
    }

    /// The gauges and rejection counters now.
    pub fn counts(&self) -> CircuitCounts {
        CircuitCounts {
            connections: self.connections.current(),
            pending_requests: self.pending.current(),
            requests: self.requests.current(),
            rejected_connections: self.connections.rejected(),
            rejected_pending_requests: self.pending.rejected(),
            rejected_requests: self.requests.rejected(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(connections: usize, pending: usize, requests: usize) -> CircuitBreaker {
        CircuitBreaker::new(&CircuitBreakerConfig {
            max_connections: connections,
            max_pending_requests: pending,
            max_requests: requests,
        })
    }

    #[test]
    fn requests_are_limited_and_released_on_drop() {
        let cb = breaker(10, 10, 2);
        let a = cb.try_acquire_request().unwrap();
        let b = cb.try_acquire_request().unwrap();
        assert!(cb.try_acquire_request().is_none());
        assert_eq!(cb.counts().requests, 2);
        assert_eq!(cb.counts().rejected_requests, 1);
        drop(a);
        assert_eq!(cb.counts().requests, 1);
        let c = cb.try_acquire_request().unwrap();
        assert!(cb.try_acquire_request().is_none());
        drop((b, c));
        assert_eq!(cb.counts().requests, 0);
        assert_eq!(cb.counts().rejected_requests, 2);
    }

    #[test]
    fn each_limit_is_independent() {
        let cb = breaker(1, 2, 3);
        let conn = cb.try_acquire_connection().unwrap();
        assert!(cb.try_acquire_connection().is_none());
        let p: Vec<_> = (0..2).map(|_| cb.try_acquire_pending().unwrap()).collect();
        assert!(cb.try_acquire_pending().is_none());
        let r: Vec<_> = (0..3).map(|_| cb.try_acquire_request().unwrap()).collect();
        assert!(cb.try_acquire_request().is_none());
        assert_eq!(
            cb.counts(),
            CircuitCounts {
                connections: 1,
                pending_requests: 2,
                requests: 3,
                rejected_connections: 1,
                rejected_pending_requests: 1,
                rejected_requests: 1,
            }
        );
        drop((conn, p, r));
        let now = cb.counts();
        assert_eq!((now.connections, now.pending_requests, now.requests), (0, 0, 0));
        assert!(cb.try_acquire_connection().is_some());
    }

    #[test]
    fn zero_limit_refuses_everything() {
        let cb = breaker(0, 0, 0);
        assert!(cb.try_acquire_connection().is_none());
        assert!(cb.try_acquire_pending().is_none());
        assert!(cb.try_acquire_request().is_none());
    }

    #[test]
    fn concurrent_acquirers_never_exceed_the_limit() {
        let cb = Arc::new(breaker(1, 1, 5));
        let peak = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (cb, peak) = (Arc::clone(&cb), Arc::clone(&peak));
                std::thread::spawn(move || {
                    for _ in 0..2_000 {
                        if let Some(p) = cb.try_acquire_request() {
                            peak.fetch_max(cb.counts().requests, Ordering::Relaxed);
                            drop(p);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(peak.load(Ordering::Relaxed) <= 5);
        assert_eq!(cb.counts().requests, 0);
    }

    #[test]
    fn permits_outlive_a_borrow_of_the_breaker() {
        // Permits own their gauge, so they can be moved into tasks and connections.
        let permit = {
            let cb = breaker(1, 1, 1);
            cb.try_acquire_connection().unwrap()
        };
        drop(permit);
    }
}
