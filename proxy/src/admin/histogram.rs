//! A lock-free latency histogram with fixed buckets, encoded by `prometheus-client`.
//!
//! `prometheus-client`'s own `Histogram` takes a write lock on every observation, which every
//! connection on a busy route would contend for. This one is an array of atomic bucket counts
//! and an atomic sum: an observation is a short bucket search and two relaxed `fetch_add`s.
//! Buckets are fixed (100µs to 10s), so they need no configuration and no allocation per series
//! beyond the one array.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Upper bounds of the latency buckets, in nanoseconds (the `+Inf` bucket follows them).
const BOUNDS_NANOS: [u64; 16] = [
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// The same bounds in seconds, as rendered in the `le` label.
const BOUNDS_SECONDS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Number of buckets, the `+Inf` one included.
const BUCKETS: usize = BOUNDS_NANOS.len() + 1;

/// A latency histogram in seconds with buckets from 100µs to 10s.
///
/// Cloning is cheap and shares the counts (it is an `Arc`). The sum is kept in nanoseconds in a
/// `u64`; it wraps after about 584 years of accumulated latency on one series (213 days of a
/// single label set at 100k requests/s of 10ms each), which Prometheus reads as a counter reset.
#[derive(Clone, Default)]
pub(crate) struct LatencyHistogram {
    cells: Arc<Cells>,
}

#[derive(Default)]
struct Cells {
    /// Per-bucket (not cumulative) counts; the encoder accumulates them.
    buckets: [AtomicU64; BUCKETS],
    sum_nanos: AtomicU64,
}

impl LatencyHistogram {
    /// Records one latency: a bucket search over 16 bounds and two relaxed atomic adds.
    pub(crate) fn observe(&self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        let index = BOUNDS_NANOS.partition_point(|&bound| bound < nanos);
        if let Some(bucket) = self.cells.buckets.get(index) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.cells.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Bucket counts (not cumulative), the `+Inf` bucket last; for encoding and tests.
    fn snapshot(&self) -> [(f64, u64); BUCKETS] {
        let mut out = [(f64::MAX, 0); BUCKETS];
        for (i, (slot, count)) in out.iter_mut().zip(self.cells.buckets.iter()).enumerate() {
            // `f64::MAX` is how prometheus-client marks the `+Inf` bucket.
            slot.0 = BOUNDS_SECONDS.get(i).copied().unwrap_or(f64::MAX);
            slot.1 = count.load(Ordering::Relaxed);
        }
        out
    }
}

impl fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LatencyHistogram")
            .field("sum_nanos", &self.cells.sum_nanos.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        let buckets = self.snapshot();
        // The count is the buckets' total, so `_count` always equals the `+Inf` bucket even
        // while observations race with the scrape.
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = self.cells.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_in_seconds_match_bounds_in_nanoseconds() {
        for (nanos, seconds) in BOUNDS_NANOS.iter().zip(BOUNDS_SECONDS.iter()) {
            assert!((*nanos as f64 / 1e9 - seconds).abs() < 1e-12, "{nanos} vs {seconds}");
        }
        assert!(BOUNDS_NANOS.windows(2).all(|w| w[0] < w[1]), "bounds must increase");
    }

    #[test]
    fn observations_land_in_the_first_bucket_whose_bound_is_not_below_them() {
        let h = LatencyHistogram::default();
        h.observe(Duration::from_micros(100)); // exactly on the first bound: le=0.0001
        h.observe(Duration::from_micros(101)); // le=0.00025
        h.observe(Duration::from_secs(10)); // le=10
        h.observe(Duration::from_secs(11)); // +Inf
        let snap = h.snapshot();
        assert_eq!(snap[0], (0.0001, 1));
        assert_eq!(snap[1], (0.00025, 1));
        assert_eq!(snap[15], (10.0, 1));
        assert_eq!(snap[16], (f64::MAX, 1));
        assert_eq!(snap.iter().map(|(_, n)| n).sum::<u64>(), 4);
        let sum = h.cells.sum_nanos.load(Ordering::Relaxed);
        assert_eq!(sum, 100_000 + 101_000 + 10_000_000_000 + 11_000_000_000);
    }

    #[test]
    fn clones_share_counts() {
        let a = LatencyHistogram::default();
        let b = a.clone();
        b.observe(Duration::from_millis(3));
        assert_eq!(a.snapshot()[5].1, 1, "3ms falls in le=0.005");
    }
}
