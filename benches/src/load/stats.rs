//! What one connection records: successful requests' latencies in an HDR histogram, failures
//! counted by class. Each connection keeps its own [`Recorder`] (no sharing on the hot path);
//! the run merges them at the end.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::grpc::GrpcCode;

/// The highest latency the histogram holds; longer ones are clamped to it (a request timeout
/// above this is pointless for a benchmark).
pub const MAX_LATENCY: Duration = Duration::from_secs(100);

/// Why a request failed, as reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// No reply within the request timeout.
    Timeout,
    /// Reopening a connection failed (HTTP reopens a connection the peer closed; the
    /// connection's loop then stops).
    Connect,
    /// The connection closed before the reply came (or was already closed).
    Closed,
    /// The peer reset the connection (TCP RST, broken pipe) or the stream (HTTP/2
    /// `RST_STREAM`).
    Reset,
    /// An RPC reply whose status is not the protocol's OK.
    Status,
    /// The peer sent bytes that are not a valid frame or response (the connection is then
    /// closed), or a gRPC reply without a valid status or message.
    Decode,
    /// The client refused the call (overloaded, draining) or could not encode it.
    Other,
    /// An HTTP response whose status is not a success (for gRPC: not 200).
    Http(StatusClass),
    /// A gRPC reply whose `grpc-status` is not 0.
    Grpc(GrpcCode),
}

/// The class of an HTTP status code, as errors are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusClass {
    /// 1xx (only an error if it is the final status).
    Informational,
    /// 2xx (only an error for gRPC, which wants exactly 200).
    Success,
    /// 3xx.
    Redirection,
    /// 4xx.
    ClientError,
    /// 5xx.
    ServerError,
    /// 600 to 999, which HTTP parsers accept but no standard defines.
    Nonstandard,
}

impl StatusClass {
    /// Every class, in report order.
    pub const ALL: [StatusClass; 6] = [
        StatusClass::Informational,
        StatusClass::Success,
        StatusClass::Redirection,
        StatusClass::ClientError,
        StatusClass::ServerError,
        StatusClass::Nonstandard,
    ];

    /// The class of status `code`.
    pub fn of(code: u16) -> StatusClass {
        match code {
            100..=199 => StatusClass::Informational,
            200..=299 => StatusClass::Success,
            300..=399 => StatusClass::Redirection,
            400..=499 => StatusClass::ClientError,
            500..=599 => StatusClass::ServerError,
            _ => StatusClass::Nonstandard,
        }
    }

    /// The name in reports and JSON keys.
    pub fn name(self) -> &'static str {
        match self {
            StatusClass::Informational => "http_1xx",
            StatusClass::Success => "http_2xx",
            StatusClass::Redirection => "http_3xx",
            StatusClass::ClientError => "http_4xx",
            StatusClass::ServerError => "http_5xx",
            StatusClass::Nonstandard => "http_other",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Slots: the general classes, then the HTTP status classes, then one per gRPC code (code 0
/// keeps its slot unused, so that the index is the code).
const GENERAL: usize = ErrorClass::GENERAL.len();
const SLOTS: usize = GENERAL + StatusClass::ALL.len() + GrpcCode::ALL.len();

impl ErrorClass {
    /// The classes every report lists, in report order; the HTTP status and gRPC code
    /// classes are listed only when they occurred.
    pub const GENERAL: [ErrorClass; 7] = [
        ErrorClass::Timeout,
        ErrorClass::Connect,
        ErrorClass::Closed,
        ErrorClass::Reset,
        ErrorClass::Status,
        ErrorClass::Decode,
        ErrorClass::Other,
    ];

    /// Every class, in report order: the general ones, the HTTP status classes, the gRPC
    /// codes other than OK.
    pub fn all() -> impl Iterator<Item = ErrorClass> {
        ErrorClass::GENERAL
            .into_iter()
            .chain(StatusClass::ALL.into_iter().map(ErrorClass::Http))
            .chain(GrpcCode::ALL.into_iter().filter(|c| *c != GrpcCode::Ok).map(ErrorClass::Grpc))
    }

    /// Whether every report lists this class, even at zero.
    pub fn is_general(self) -> bool {
        !matches!(self, ErrorClass::Http(_) | ErrorClass::Grpc(_))
    }

    /// The name in reports and JSON keys.
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Timeout => "timeout",
            ErrorClass::Connect => "connect",
            ErrorClass::Closed => "closed",
            ErrorClass::Reset => "reset",
            ErrorClass::Status => "status",
            ErrorClass::Decode => "decode",
            ErrorClass::Other => "other",
            ErrorClass::Http(class) => class.name(),
            ErrorClass::Grpc(code) => code.class_name(),
        }
    }

    fn index(self) -> usize {
        match self {
            ErrorClass::Timeout => 0,
            ErrorClass::Connect => 1,
            ErrorClass::Closed => 2,
            ErrorClass::Reset => 3,
            ErrorClass::Status => 4,
            ErrorClass::Decode => 5,
            ErrorClass::Other => 6,
            ErrorClass::Http(class) => GENERAL + class.index(),
            ErrorClass::Grpc(code) => GENERAL + StatusClass::ALL.len() + code as usize,
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
    errors: [u64; SLOTS],
    /// Requests that completed during the warm-up (counted, not measured).
    warmup: u64,
    /// When the first and the last measured failure completed, from the start of the
    /// measurement: how long an outage cost (see [`error_window`](Recorder::error_window)).
    error_span: Option<(Duration, Duration)>,
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
        Recorder { latencies, errors: [0; SLOTS], warmup: 0, error_span: None }
    }

    /// Records one measured request.
    pub fn record(&mut self, outcome: Outcome, latency: Duration) {
        match outcome {
            Ok(()) => {
                let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
                self.latencies.saturating_record(ns.max(1));
            }
            Err(class) => {
                if let Some(count) = self.errors.get_mut(class.index()) {
                    *count += 1;
                }
            }
        }
    }

    /// Notes that a measured request failed `at` (its completion, from the start of the
    /// measurement). Call it alongside [`record`](Recorder::record) for failures.
    pub fn note_error_at(&mut self, at: Duration) {
        self.error_span = Some(match self.error_span {
            Some((first, last)) => (first.min(at), last.max(at)),
            None => (at, at),
        });
    }

    /// When the first and the last measured failure completed, from the start of the
    /// measurement; `None` without failures. For a run across an outage, the difference is
    /// how long errors went on.
    pub fn error_window(&self) -> Option<(Duration, Duration)> {
        self.error_span
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
        if let Some((first, last)) = other.error_span {
            self.note_error_at(first);
            self.note_error_at(last);
        }
    }

    /// Successful measured requests.
    pub fn ok(&self) -> u64 {
        self.latencies.len()
    }

    /// Failed measured requests of one class.
    pub fn errors(&self, class: ErrorClass) -> u64 {
        self.errors.get(class.index()).copied().unwrap_or(0)
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
    fn every_class_has_its_own_slot_and_name() {
        let classes: Vec<ErrorClass> = ErrorClass::all().collect();
        assert_eq!(classes.len(), 7 + 6 + 16, "general, HTTP status classes, gRPC codes but OK");
        let mut r = Recorder::new();
        for (n, class) in classes.iter().enumerate() {
            for _ in 0..=n {
                r.record(Err(*class), Duration::ZERO);
            }
        }
        for (n, class) in classes.iter().enumerate() {
            assert_eq!(r.errors(*class), n as u64 + 1, "{}", class.name());
        }
        let mut names: Vec<&str> = classes.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), classes.len());
        assert_eq!(ErrorClass::Http(StatusClass::of(503)).name(), "http_5xx");
        assert_eq!(StatusClass::of(101), StatusClass::Informational);
        assert_eq!(StatusClass::of(600), StatusClass::Nonstandard);
        assert!(
            !ErrorClass::Grpc(GrpcCode::Aborted).is_general() && ErrorClass::Reset.is_general()
        );
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
