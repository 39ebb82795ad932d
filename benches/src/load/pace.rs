//! Fixed-rate pacing: when each connection's k-th request is due.
//!
//! A total rate R over N connections gives each connection one request every N/R seconds;
//! connection i starts i/R seconds late, so that the connections interleave and the target
//! sees one request every 1/R seconds rather than N at once. Due times are computed from the
//! run's start (not from the previous send), so a late send does not shift the ones after
//! it: the generator catches up, and the latency of a request held back by a full window
//! counts from when it was due (no coordinated omission; see the driver's
//! `latency_origin` for the one exception, the generator's own timer lateness).

use std::time::Duration;

/// The due times of one connection's requests, relative to the run's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Between two requests of this connection, in nanoseconds.
    interval_ns: u64,
    /// When this connection's first request is due, in nanoseconds.
    offset_ns: u64,
}

impl Schedule {
    /// The schedule of connection `index` (from 0) of `connections`, for a total of
    /// `rate_per_s` requests per second. A rate so low that the interval overflows `u64`
    /// nanoseconds (over 584 years) saturates.
    pub fn new(rate_per_s: f64, connections: u64, index: u64) -> Schedule {
        let per_request_ns = 1e9 / rate_per_s;
        Schedule {
            interval_ns: to_ns(per_request_ns * connections as f64),
            offset_ns: to_ns(per_request_ns * index as f64),
        }
    }

    /// When request `k` (from 0) of this connection is due, after the run's start.
    pub fn due(&self, k: u64) -> Duration {
        let ns = self.interval_ns.saturating_mul(k).saturating_add(self.offset_ns);
        Duration::from_nanos(ns)
    }

    /// The time between two requests of this connection.
    pub fn interval(&self) -> Duration {
        Duration::from_nanos(self.interval_ns)
    }
}

fn to_ns(ns: f64) -> u64 {
    // `as` saturates for floats out of range (and maps NaN to 0).
    ns.round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_interleave_at_the_total_rate() {
        // 1000 requests/s over 4 connections: each sends every 4 ms, 1 ms apart.
        let schedules: Vec<_> = (0..4).map(|i| Schedule::new(1000.0, 4, i)).collect();
        assert_eq!(schedules[0].interval(), Duration::from_millis(4));
        let mut due: Vec<Duration> =
            schedules.iter().flat_map(|s| (0..250).map(|k| s.due(k))).collect();
        due.sort();
        assert_eq!(due.len(), 1000, "one second's worth");
        for (n, at) in due.iter().enumerate() {
            assert_eq!(*at, Duration::from_millis(n as u64), "evenly spread");
        }
    }

    #[test]
    fn due_times_do_not_drift_and_saturate_instead_of_overflowing() {
        // 3 requests/s on one connection: 333_333_333 ns apart, rounded once, so request
        // 300 000 is due 100 µs before 100 000 s, not seconds off.
        let s = Schedule::new(3.0, 1, 0);
        let late = s.due(300_000);
        assert_eq!(Duration::from_secs(100_000) - late, Duration::from_micros(100));
        let slow = Schedule::new(1e-12, 2, 1);
        assert_eq!(slow.due(u64::MAX), Duration::from_nanos(u64::MAX));
    }
}
