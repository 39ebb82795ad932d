//! The run loop: every connection keeps up to `concurrency` calls in flight, closed loop or
//! paced, for the warm-up and then the measured duration; each connection records into its
//! own [`Recorder`], merged at the end.
//!
//! The loop knows nothing of protocols: it drives a [`Connection`]. The RPC protocols
//! implement it over the SDK's engine client ([`super::rpc`]); HTTP/1.1, HTTP/2 and gRPC
//! over hyper's client connections ([`super::http`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;

use super::pace::Schedule;
use super::stats::{Outcome, Recorder};

/// One open connection that can make calls, many at once.
pub trait Connection: Send + Sync + 'static {
    /// Makes one call and says how it ended; a call without a reply within `timeout` is an
    /// [`ErrorClass::Timeout`](super::stats::ErrorClass::Timeout).
    fn call(&self, timeout: Duration) -> impl Future<Output = Outcome> + Send;
    /// Whether the connection still takes calls. A connection that closed is not reopened:
    /// its loop stops, so that a dead connection does not spin recording errors.
    fn is_open(&self) -> bool;
    /// Closes the connection once its calls are done.
    fn close(&self) -> impl Future<Output = ()> + Send;
}

/// How hard and how long to drive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plan {
    /// Calls in flight at most per connection.
    pub concurrency: u64,
    /// The total rate in requests per second, or `None` for a closed loop.
    pub rate: Option<f64>,
    /// Sending without measuring, first.
    pub warmup: Duration,
    /// Measuring.
    pub duration: Duration,
    /// Per-call timeout.
    pub timeout: Duration,
}

/// The merged results and the measured time: from the end of the warm-up to the last
/// measured completion (requests still in flight when sending stops are waited for and
/// counted, as h2load does).
#[derive(Debug)]
pub struct Measured {
    /// Every connection's results.
    pub results: Recorder,
    /// The measured time.
    pub elapsed: Duration,
}

/// Drives every connection according to `plan` and returns when all are done (each call is
/// bounded by the plan's timeout, so this returns by `warmup + duration + timeout` plus the
/// time to close).
pub async fn run<C: Connection>(connections: Vec<Arc<C>>, plan: Plan) -> Measured {
    let start = Instant::now();
    let measure_from = start + plan.warmup;
    let count = connections.len() as u64;
    let tasks: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(i, conn)| {
            let schedule = plan.rate.map(|rate| Schedule::new(rate, count, i as u64));
            tokio::spawn(drive(conn, plan, schedule, start))
        })
        .collect();
    let mut results = Recorder::new();
    let mut last = measure_from;
    for task in tasks {
        // A connection task only ends by returning (it does not panic on input).
        if let Ok((recorder, done)) = task.await {
            results.merge(&recorder);
            last = last.max(done);
        }
    }
    let elapsed =
        if results.ok() + results.failed() == 0 { plan.duration } else { last - measure_from };
    Measured { results, elapsed }
}

/// One connection's loop. Returns its results and the time of its last measured completion.
async fn drive<C: Connection>(
    conn: Arc<C>,
    plan: Plan,
    schedule: Option<Schedule>,
    start: Instant,
) -> (Recorder, Instant) {
    let measure_from = start + plan.warmup;
    let end = measure_from + plan.duration;
    let mut recorder = Recorder::new();
    let mut last = measure_from;
    let mut in_flight = FuturesUnordered::new();
    let mut sent: u64 = 0;
    let mut sending = true;
    // When a completion last freed a slot of a full window (fixed rate only matters).
    let mut window_freed_at: Option<Instant> = None;
    loop {
        // Fill the window with every request that is due.
        let mut next_due = None;
        while sending && (in_flight.len() as u64) < plan.concurrency {
            let now = Instant::now();
            let due = match schedule {
                Some(s) => start + s.due(sent),
                None => now,
            };
            if due >= end || !conn.is_open() {
                sending = false;
            } else if due > now {
                next_due = Some(due);
                break;
            } else {
                sent += 1;
                let conn = &conn;
                let origin = latency_origin(due, now, window_freed_at);
                in_flight.push(async move {
                    let outcome = conn.call(plan.timeout).await;
                    (due, origin, outcome, Instant::now())
                });
            }
        }
        if in_flight.is_empty() && !sending {
            break;
        }
        let wake = next_due.unwrap_or(end);
        tokio::select! {
            Some((due, origin, outcome, done)) = in_flight.next() => {
                if in_flight.len() as u64 + 1 == plan.concurrency {
                    window_freed_at = Some(done);
                }
                if due >= measure_from {
                    if outcome.is_err() {
                        recorder.note_error_at(done.saturating_duration_since(measure_from));
                    }
                    recorder.record(outcome, done - origin);
                    last = last.max(done);
                } else {
                    recorder.record_warmup();
                }
            }
            () = tokio::time::sleep_until(wake), if next_due.is_some() => {}
        }
    }
    drop(in_flight);
    conn.close().await;
    (recorder, last)
}

/// Where a request's latency starts. A request that became due while every slot of its
/// connection's window was taken waited for the system under test: its latency counts from
/// when it was due, so a slow target is not hidden by sending less (no coordinated omission).
/// A request that was late only because the generator woke late (tokio's timers fire on
/// millisecond ticks, so a paced send is up to 1 ms behind its due time) counts from when it
/// was sent: that delay is the generator's, and counting it would add up to 1 ms to every
/// latency, direct or proxied alike, and drown the difference a proxy makes.
fn latency_origin(due: Instant, now: Instant, window_freed_at: Option<Instant>) -> Instant {
    if window_freed_at.is_some_and(|freed| freed >= due) {
        due
    } else {
        now.max(due)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::load::stats::ErrorClass;

    /// Answers after 1 ms; every 10th call fails with a status error; tracks the most calls
    /// in flight at once.
    #[derive(Default)]
    struct Fake {
        calls: AtomicU64,
        in_flight: AtomicU64,
        peak: AtomicU64,
    }

    impl Connection for Fake {
        async fn call(&self, _timeout: Duration) -> Outcome {
            let n = self.calls.fetch_add(1, Ordering::Relaxed);
            let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
            self.peak.fetch_max(now, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(1)).await;
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            if n % 10 == 9 {
                Err(ErrorClass::Status)
            } else {
                Ok(())
            }
        }
        fn is_open(&self) -> bool {
            true
        }
        async fn close(&self) {}
    }

    fn plan(rate: Option<f64>) -> Plan {
        Plan {
            concurrency: 8,
            rate,
            warmup: Duration::from_millis(100),
            duration: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn closed_loop_keeps_the_window_full_and_measures_after_warmup() {
        let conns = vec![Arc::new(Fake::default()), Arc::new(Fake::default())];
        let measured = run(conns.clone(), plan(None)).await;
        let r = &measured.results;
        // 2 connections x 8 in flight x 1 ms: 16 per ms, 16 000 in the measured second.
        assert_eq!(r.ok() + r.failed(), 16_000);
        assert_eq!(r.warmup(), 1_600);
        assert_eq!(r.errors(ErrorClass::Status), 1_600);
        // Failures all along the measured second, none from the warm-up.
        let (first, last) = r.error_window().unwrap();
        assert!(first <= Duration::from_millis(2), "{first:?}");
        assert!(last >= Duration::from_millis(999) && last <= Duration::from_secs(1), "{last:?}");
        assert_eq!(measured.elapsed, Duration::from_secs(1));
        assert_eq!(r.percentile(99.9), Duration::from_micros(1000) + Duration::from_nanos(447));
        assert!(conns.iter().all(|c| c.peak.load(Ordering::Relaxed) == 8));
    }

    #[tokio::test(start_paused = true)]
    async fn fixed_rate_sends_the_rate_not_the_window() {
        let conns = vec![Arc::new(Fake::default()), Arc::new(Fake::default())];
        let measured = run(conns.clone(), plan(Some(2000.0))).await;
        let r = &measured.results;
        // 2000/s for 1.1 s in all; one request every 0.5 ms, each taking 1 ms: 2 in flight.
        assert_eq!(r.ok() + r.failed() + r.warmup(), 2200);
        assert_eq!(r.ok() + r.failed(), 2000);
        assert!(conns.iter().all(|c| c.peak.load(Ordering::Relaxed) == 1));
    }

    #[test]
    fn latency_counts_from_due_only_when_the_window_held_the_request() {
        let t0 = Instant::now();
        let (us, ms) = (Duration::from_micros, Duration::from_millis);
        // The timer woke 800 µs late and the window had room: the delay is the generator's.
        assert_eq!(latency_origin(t0, t0 + us(800), None), t0 + us(800));
        // The window was full when it came due and freed 2 ms later: the target's delay.
        assert_eq!(latency_origin(t0, t0 + ms(2), Some(t0 + ms(2))), t0);
        // The window last freed before the request came due: the generator's again.
        assert_eq!(
            latency_origin(t0 + ms(1), t0 + ms(1) + us(300), Some(t0)),
            t0 + ms(1) + us(300)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_target_slower_than_the_rate_shows_its_queue_in_the_latencies() {
        // One slot, 1 ms per call, 2000/s asked: the backlog grows by 0.5 ms every ms, and
        // the latencies must show it rather than the 1 ms each call takes once sent.
        let conns = vec![Arc::new(Fake::default())];
        let slow = Plan { concurrency: 1, ..plan(Some(2000.0)) };
        let measured = run(conns, slow).await;
        let r = &measured.results;
        assert!(r.percentile(99.0) > Duration::from_millis(400), "{:?}", r.percentile(99.0));
        assert!(r.percentile(50.0) > Duration::from_millis(100), "{:?}", r.percentile(50.0));
    }
}
