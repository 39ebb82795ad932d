//! One process-wide monotonic clock in nanoseconds, for instants kept in atomics (ejection
//! deadlines, a connection's last activity, log throttling), where an `Instant` cannot go.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The clock's origin: the first time it is read. A `u64` of nanoseconds from here lasts 584
/// years.
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds since [`epoch`], at least 1, so that 0 can mean "never" in an atomic.
pub fn now_nanos() -> u64 {
    nanos(epoch().elapsed()).max(1)
}

/// `instant` on the [`now_nanos`] clock (0 for an instant before its origin).
pub fn nanos_at(instant: Instant) -> u64 {
    nanos(instant.saturating_duration_since(epoch()))
}

/// The instant a [`now_nanos`] reading stands for.
pub fn instant_at(nanos: u64) -> Instant {
    epoch() + Duration::from_nanos(nanos)
}

/// `duration` in nanoseconds, saturating.
pub fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_round_trip_through_instants() {
        let now = now_nanos();
        assert!(now >= 1);
        let back = nanos_at(instant_at(now));
        assert_eq!(back, now);
        assert_eq!(nanos_at(epoch() - Duration::from_secs(1)), 0, "before the origin");
        assert_eq!(nanos(Duration::MAX), u64::MAX);
    }
}
