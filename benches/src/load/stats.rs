//! What one connection records: successful requests' latencies in an HDR histogram, failures
//! counted by class. Each connection keeps its own [`Recorder`] (no sharing on the hot path);
//! the run merges them at the end.

use std::time::Duration;

use hdrhistogram::Histogram;

/// The highest latency the histogram holds; longer ones are clamped to it (a request timeout
/// above this is pointless for a benchmark).
pub const MAX_LATENCY: Duration = Duration::from_secs(100);

/// Why a request failed, as reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// No reply within the request timeout.
    Timeout,
    /// The connection closed or was reset before the reply came (or was already closed).
    Closed,
    /// A reply came whose status is not the protocol's OK.
    Status,
    /// The peer sent bytes that are not a valid frame (the connection is then closed).
    Decode,
    /// The client refused the call (overloaded, draining) or could not encode it.
    Other,
}

impl ErrorClass {
    /// Every class, in report order.
    pub const ALL: [ErrorClass; 5] = [
        ErrorClass::Timeout,
        ErrorClass::Closed,
        ErrorClass::Status,
        ErrorClass::Decode,
        ErrorClass::Other,
    ];

    /// The name in reports and JSON keys.
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Timeout => "timeout",
            ErrorClass::Closed => "closed",
            ErrorClass::Status => "status",
            ErrorClass::Decode => "decode",
            ErrorClass::Other => "other",
        }
    }

    fn index(self) -> usize {
        match self {
            ErrorClass::Timeout => 0,
            ErrorClass::Closed => 1,
            ErrorClass::Status => 2,
            ErrorClass::Decode => 3,
            ErrorClass::Other => 4,
        }
    }
}

/// How one request ended.
pub type Outcome = Result<(), ErrorClass>;

/// One connection's (or, merged, the run's) results.
#[derive(Clone, Debug)]
pub struct Recorder {
    /// Latencies of successful requests, in nanoseconds.
    latencies: Histogram<u64>,
    errors: [u64; ErrorClass::ALL.len()],
    /// Requests that completed during the warm-up (counted, not measured).
    warmup: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// An empty recorder: 1 ns to [`MAX_LATENCY`], 3 significant digits.
    pub fn new() -> Recorder {
        let high = u64::try_from(MAX_LATENCY.as_nanos()).unwrap_or(u64::MAX);
        // Constant bounds, checked by the tests: this cannot fail.
        let latencies =
            Histogram::new_with_bounds(1, high, 3).expect("1 ns to 100 s at 3 digits is valid");
        Recorder { latencies, errors: [0; ErrorClass::ALL.len()], warmup: 0 }
    }

    /// Records one measured request.
    pub fn record(&mut self, outcome: Outcome, latency: Duration) {
        match outcome {
            Ok(()) => {
                let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
                self.latencies.saturating_record(ns.max(1));
            }
            Err(class) => self.errors[class.index()] += 1,
        }
    }

    /// Counts one request that completed during the warm-up.
    pub fn record_warmup(&mut self) {
        self.warmup += 1;
    }

    /// Adds another recorder's results to this one.
    pub fn merge(&mut self, other: &Recorder) {
        // Same bounds on both sides, so adding cannot fail; saturate rather than lose all.
        if self.latencies.add(&other.latencies).is_err() {
            for v in other.latencies.iter_recorded() {
                self.latencies.saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
        for (mine, theirs) in self.errors.iter_mut().zip(other.errors) {
            *mine += theirs;
        }
        self.warmup += other.warmup;
    }

    /// Successful measured requests.
    pub fn ok(&self) -> u64 {
        self.latencies.len()
    }

    /// Failed measured requests of one class.
    pub fn errors(&self, class: ErrorClass) -> u64 {
        self.errors[class.index()]
    }

    /// Failed measured requests of every class.
    pub fn failed(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// Requests completed during the warm-up.
    pub fn warmup(&self) -> u64 {
        self.warmup
    }

    /// The latency at percentile `p` (0–100) of successful requests; zero when there is none.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.latencies.value_at_percentile(p))
    }

    /// The smallest, largest and mean latency of successful requests; zeros when there is
    /// none.
    pub fn min_max_mean(&self) -> (Duration, Duration, Duration) {
        if self.latencies.is_empty() {
            return (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        }
        (
            Duration::from_nanos(self.latencies.min()),
            Duration::from_nanos(self.latencies.max()),
            Duration::from_secs_f64(self.latencies.mean() / 1e9),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_successes_and_errors_are_counted_by_class() {
        let mut a = Recorder::new();
        for us in 1..=900 {
            a.record(Ok(()), Duration::from_micros(us));
        }
        a.record(Err(ErrorClass::Timeout), Duration::from_secs(5));
        let mut b = Recorder::new();
        for us in 901..=1000 {
            b.record(Ok(()), Duration::from_micros(us));
        }
        b.record(Err(ErrorClass::Status), Duration::from_micros(1));
        b.record(Err(ErrorClass::Status), Duration::from_micros(1));
        b.record_warmup();
        a.merge(&b);
        assert_eq!((a.ok(), a.failed(), a.warmup()), (1000, 3, 1));
        assert_eq!(a.errors(ErrorClass::Timeout), 1);
        assert_eq!(a.errors(ErrorClass::Status), 2);
        assert_eq!(a.errors(ErrorClass::Closed), 0);
        // 3 significant digits: within 0.1%.
        let near = |d: Duration, us: f64| (d.as_secs_f64() * 1e6 - us).abs() <= us / 1000.0;
        assert!(near(a.percentile(50.0), 500.0), "{:?}", a.percentile(50.0));
        assert!(near(a.percentile(99.0), 990.0), "{:?}", a.percentile(99.0));
        // hdrhistogram rounds 99.9% of 1000 up to the 1000th value.
        assert!(near(a.percentile(99.9), 1000.0), "{:?}", a.percentile(99.9));
        let (min, max, mean) = a.min_max_mean();
        assert!(near(min, 1.0) && near(max, 1000.0) && near(mean, 500.5), "{min:?} {max:?}");
    }

    #[test]
    fn an_empty_recorder_reports_zeros_and_huge_latencies_are_clamped() {
        let mut r = Recorder::new();
        assert_eq!(r.percentile(99.0), Duration::ZERO);
        r.record(Ok(()), Duration::from_secs(1000));
        assert!(r.percentile(50.0) <= MAX_LATENCY + MAX_LATENCY / 1000);
        assert_eq!(r.ok(), 1);
    }
}
