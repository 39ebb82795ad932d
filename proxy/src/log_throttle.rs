//! Rate limiting of repeated log lines.
//!
//! A flood of bad connections must not become a flood of log lines: an operator trial with
//! 3,200 silent connections wrote 3,202 identical WARN lines. Each noisy call site owns a
//! [`LogThrottle`] (usually a `static`) and logs only when [`LogThrottle::allow`] says so, at
//! most once per period; the line it does write carries how many were suppressed since the
//! last one, so nothing is lost from the count:
//!
//! ```
//! use std::time::Duration;
//! use xproxy::log_throttle::LogThrottle;
//!
//! static REFUSED: LogThrottle = LogThrottle::new(Duration::from_secs(1));
//! if let Some(suppressed) = REFUSED.allow() {
//!     tracing::warn!(suppressed, "connection refused");
//! }
//! ```
//!
//! It is a call-site limiter, not a per-key one: the suppressed lines may differ in their
//! fields (peer, listener), and metrics, not logs, are the place to count each of them. No
//! crate does this for `tracing` (it has no built-in limiter), and the whole of it is two
//! atomics, so it is written here. Deciding costs two relaxed atomic operations and no lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The default period of the gateway's throttled lines: at most one per second per call site.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(1);

/// Allows one log line per period and counts the ones it holds back.
#[derive(Debug)]
pub struct LogThrottle {
    period_nanos: u64,
    /// A [`now_nanos`](crate::clock::now_nanos) reading before which no line is allowed (0: the next one is).
    next_allowed: AtomicU64,
    suppressed: AtomicU64,
}

impl LogThrottle {
    /// A throttle allowing one line per `period` (a zero period allows every line).
    pub const fn new(period: Duration) -> Self {
        let nanos = period.as_nanos();
        LogThrottle {
            period_nanos: if nanos > u64::MAX as u128 { u64::MAX } else { nanos as u64 },
            next_allowed: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when a line may be written now, `n` being how many were suppressed since the
    /// previous one; `None` when this one must be dropped (it is counted).
    pub fn allow(&self) -> Option<u64> {
        let now = crate::clock::now_nanos();
        self.allow_at(now)
    }

    /// [`allow`](Self::allow) at `now` nanoseconds on the throttle's clock (for tests).
    fn allow_at(&self, now: u64) -> Option<u64> {
        let next = self.next_allowed.load(Ordering::Relaxed);
        // Of threads racing past the deadline, the one whose exchange succeeds writes the line.
        if now >= next
            && self
                .next_allowed
                .compare_exchange(
                    next,
                    now.saturating_add(self.period_nanos).max(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn first_line_passes_then_one_per_period_with_the_suppressed_count() {
        let throttle = LogThrottle::new(Duration::from_secs(1));
        assert_eq!(throttle.allow_at(5 * SECOND), Some(0));
        for i in 1..=999 {
            assert_eq!(throttle.allow_at(5 * SECOND + i), None);
        }
        assert_eq!(throttle.allow_at(6 * SECOND - 1), None, "still within the period");
        assert_eq!(throttle.allow_at(6 * SECOND), Some(1000));
        assert_eq!(throttle.allow_at(6 * SECOND + 1), None);
        assert_eq!(throttle.allow_at(9 * SECOND), Some(1), "a quiet spell resets nothing else");
    }

    #[test]
    fn allows_at_time_zero_and_with_a_zero_period() {
        let throttle = LogThrottle::new(Duration::ZERO);
        assert_eq!(throttle.allow_at(0), Some(0));
        assert_eq!(throttle.allow_at(1), Some(0));
        assert_eq!(throttle.allow_at(1), Some(0));
    }

    #[test]
    fn a_huge_period_does_not_overflow() {
        let throttle = LogThrottle::new(Duration::MAX);
        assert_eq!(throttle.allow_at(u64::MAX - 1), Some(0));
        assert_eq!(throttle.allow_at(u64::MAX - 1), None);
    }

    #[test]
    fn concurrent_callers_write_one_line_and_count_the_rest() {
        static THROTTLE: LogThrottle = LogThrottle::new(Duration::from_secs(3600));
        let allowed: u64 = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| (0..250).filter(|_| THROTTLE.allow().is_some()).count()))
                .collect();
            workers.into_iter().map(|w| w.join().map_or(0, |n| n as u64)).sum()
        });
        assert_eq!(allowed, 1);
        assert_eq!(THROTTLE.suppressed.load(Ordering::Relaxed), 999);
    }
}
