//! The clock the benchmarks time with: the calling thread's CPU time.
//!
//! The benchmarks run on shared machines, where a wall clock also counts the time the
//! benchmark thread spends descheduled while other processes run, which inflates every
//! sample by however busy the machine happens to be. The thread's CPU clock
//! (`CLOCK_THREAD_CPUTIME_ID`) counts only the time the thread ran, so results stay
//! comparable between runs; on an idle machine the two agree. It is read through a system
//! call (a few hundred nanoseconds), so callers time batches of operations, never one, and
//! subtract [`read_overhead`] once per batch.

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::Duration;

use rustix::time::{clock_gettime, ClockId};

/// CPU time the calling thread has used so far.
pub fn thread_cpu_time() -> Duration {
    let t = clock_gettime(ClockId::ThreadCPUTime);
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let nanos = u32::try_from(t.tv_nsec).unwrap_or(0);
    Duration::new(secs, nanos)
}

/// What one pair of clock reads costs, measured once (the smallest of many tries, since the
/// true cost is the least observed).
pub fn read_overhead() -> Duration {
    static OVERHEAD: OnceLock<Duration> = OnceLock::new();
    *OVERHEAD.get_or_init(|| {
        (0..1000)
            .map(|_| {
                let start = thread_cpu_time();
                thread_cpu_time().saturating_sub(start)
            })
            .min()
            .unwrap_or_default()
    })
}

/// Times `iters` calls of `op` on the thread's CPU clock, in batches of `batch` calls between
/// two clock reads (whose cost is subtracted). `op`'s result goes through `black_box` so that
/// the call cannot be optimised away.
pub fn time_iters<O>(iters: u64, batch: u64, mut op: impl FnMut() -> O) -> Duration {
    let overhead = read_overhead();
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(batch.max(1));
        let start = thread_cpu_time();
        for _ in 0..n {
            black_box(op());
        }
        total += thread_cpu_time().saturating_sub(start).saturating_sub(overhead);
        left -= n;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_advances_with_work_and_reads_cheaply() {
        let overhead = read_overhead();
        assert!(overhead < Duration::from_millis(1), "{overhead:?}");
        let spent = time_iters(200_000, 10_000, || black_box(3u64).pow(black_box(5)));
        assert!(spent > Duration::ZERO);
        let before = thread_cpu_time();
        let mut x = 0u64;
        for i in 0..1_000_000u64 {
            x = black_box(x.wrapping_add(i));
        }
        assert!(thread_cpu_time() > before, "{x}");
    }
}
