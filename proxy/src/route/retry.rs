//! Retry policies: whether a failed try of a forwarded request is tried again.

use std::time::Duration;

use crate::config::{RetryConfig, RetryOn};

/// What made a try fail, as the forwarding code saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryCause {
    /// Connecting to the endpoint failed (nothing was sent, so a retry is always safe).
    ConnectFailure,
    /// The upstream connection was reset or closed before the reply.
    Reset,
    /// The try exceeded its per-try timeout.
    PerTryTimeout,
    /// The reply carried this status (the protocol's own code).
    Status(u32),
}

/// A route's retry policy, compiled from [`RetryConfig`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    max_retries: u32,
    per_try_timeout: Option<Duration>,
    on_connect_failure: bool,
    on_reset: bool,
    on_per_try_timeout: bool,
    retriable_statuses: Box<[u32]>,
}

impl RetryPolicy {
    /// Compiles `config`. Statuses are retried only when `retry_on` lists `retriable_status`
    /// and `retriable_statuses` is not empty (configuration validation warns when one comes
    /// without the other).
    pub fn new(config: &RetryConfig) -> RetryPolicy {
        let on = |c: RetryOn| config.retry_on.contains(&c);
        let retriable_statuses = if on(RetryOn::RetriableStatus) {
            config.retriable_statuses.clone().into_boxed_slice()
        } else {
            Box::default()
        };
        RetryPolicy {
            max_retries: config.max_retries,
            per_try_timeout: config.per_try_timeout,
            on_connect_failure: on(RetryOn::ConnectFailure),
            on_reset: on(RetryOn::Reset),
            on_per_try_timeout: on(RetryOn::PerTryTimeout),
            retriable_statuses,
        }
    }

    /// Whether to try again after try number `attempt` (1 for the first try, so at most
    /// `1 + max_retries` tries are made) failed with `cause`. The caller also checks that the
    /// route's whole-request deadline leaves time for another try.
    pub fn should_retry(&self, attempt: u32, cause: RetryCause) -> bool {
        if attempt > self.max_retries {
            return false;
        }
        match cause {
            RetryCause::ConnectFailure => self.on_connect_failure,
            RetryCause::Reset => self.on_reset,
            RetryCause::PerTryTimeout => self.on_per_try_timeout,
            RetryCause::Status(s) => self.retriable_statuses.contains(&s),
        }
    }

    /// Retries allowed after the first try.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The deadline of each try, if set (otherwise each try may use what is left of the
    /// route's timeout).
    pub fn per_try_timeout(&self) -> Option<Duration> {
        self.per_try_timeout
    }

    /// The statuses that trigger a retry.
    pub fn retriable_statuses(&self) -> &[u32] {
        &self.retriable_statuses
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(max_retries: u32, retry_on: Vec<RetryOn>, statuses: Vec<u32>) -> RetryConfig {
        RetryConfig {
            max_retries,
            per_try_timeout: Some(Duration::from_millis(250)),
            retry_on,
            retriable_statuses: statuses,
        }
    }

    #[test]
    fn retries_only_chosen_causes() {
        let p = RetryPolicy::new(&config(2, vec![RetryOn::ConnectFailure, RetryOn::Reset], vec![]));
        assert!(p.should_retry(1, RetryCause::ConnectFailure));
        assert!(p.should_retry(1, RetryCause::Reset));
        assert!(!p.should_retry(1, RetryCause::PerTryTimeout));
        assert!(!p.should_retry(1, RetryCause::Status(500)));
        assert_eq!(p.per_try_timeout(), Some(Duration::from_millis(250)));
    }

    #[test]
    fn stops_after_max_retries() {
        let p = RetryPolicy::new(&config(2, vec![RetryOn::Reset], vec![]));
        assert!(p.should_retry(1, RetryCause::Reset));
        assert!(p.should_retry(2, RetryCause::Reset));
        assert!(!p.should_retry(3, RetryCause::Reset));
        let none = RetryPolicy::new(&config(0, vec![RetryOn::Reset], vec![]));
        assert!(!none.should_retry(1, RetryCause::Reset));
    }

    #[test]
    fn statuses_need_retriable_status_in_retry_on() {
        let p = RetryPolicy::new(&config(
            1,
            vec![RetryOn::RetriableStatus, RetryOn::PerTryTimeout],
            vec![16, 17],
        ));
        assert!(p.should_retry(1, RetryCause::Status(16)));
        assert!(p.should_retry(1, RetryCause::Status(17)));
        assert!(!p.should_retry(1, RetryCause::Status(0)));
        assert!(p.should_retry(1, RetryCause::PerTryTimeout));
        assert!(!p.should_retry(1, RetryCause::ConnectFailure));

        let off = RetryPolicy::new(&config(1, vec![RetryOn::Reset], vec![16]));
        assert!(!off.should_retry(1, RetryCause::Status(16)));
        assert!(off.retriable_statuses().is_empty());
    }
}
