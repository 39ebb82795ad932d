//! HTTP retry policies: whether a failed try of a forwarded HTTP or gRPC request is tried
//! again.
//!
//! Retrying must not run a request twice that was not meant to be run twice, so each
//! condition says which requests it applies to:
//!
//! | `retry_on` | cause | requests retried |
//! |---|---|---|
//! | `connect_failure` | [`ConnectFailure`](HttpRetryCause::ConnectFailure) | all (nothing was sent) |
//! | `reset` | [`Reset`](HttpRetryCause::Reset) | idempotent methods and gRPC |
//! | `per_try_timeout` | [`PerTryTimeout`](HttpRetryCause::PerTryTimeout) | idempotent methods and gRPC |
//! | `5xx` | [`Status`](HttpRetryCause::Status) 500–599 | idempotent methods, not gRPC |
//! | `gateway_error` | `Status` 502, 503, 504 | idempotent methods, not gRPC |
//! | `retriable_status_codes` | `Status` in `retriable_status_codes` | all but gRPC (the operator named each status) |
//! | `unavailable` | [`GrpcStatus`](HttpRetryCause::GrpcStatus) 14 | gRPC only |
//!
//! Idempotent methods are RFC 9110's: GET, HEAD, OPTIONS, TRACE, PUT, DELETE. gRPC requests
//! (always POST) are retried on resets and timeouts like idempotent ones, as gRPC's own retry
//! policy does; a gRPC reply is judged by its `grpc-status`, and an HTTP 502, 503 or 504 on a
//! gRPC request counts as `grpc-status` 14, which is how gRPC clients read it.
//!
//! The caller also checks that the route's deadline leaves time for another try, and that
//! the request body can be sent again (it was buffered, or there was none).

use std::time::Duration;

use http::Method;

use crate::config::{HttpRetryConfig, HttpRetryOn};

/// The gRPC status UNAVAILABLE.
pub const GRPC_UNAVAILABLE: u32 = 14;

/// What made a try fail, as the forwarding code saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpRetryCause {
    /// Connecting to the endpoint failed: nothing was sent.
    ConnectFailure,
    /// The upstream connection or stream was reset or closed before the response head.
    Reset,
    /// The try exceeded its per-try timeout.
    PerTryTimeout,
    /// The response head carried this HTTP status.
    Status(u16),
    /// The gRPC response carried this `grpc-status` (in a trailers-only response).
    GrpcStatus(u32),
}

/// A route's HTTP retry policy, compiled from [`HttpRetryConfig`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRetryPolicy {
    max_retries: u32,
    per_try_timeout: Option<Duration>,
    on: On,
    retriable_status_codes: Box<[u16]>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct On {
    connect_failure: bool,
    reset: bool,
    per_try_timeout: bool,
    server_error: bool,
    gateway_error: bool,
    status_codes: bool,
    unavailable: bool,
}

impl HttpRetryPolicy {
    /// Compiles `config`.
    pub fn new(config: &HttpRetryConfig) -> HttpRetryPolicy {
        let has = |c: HttpRetryOn| config.retry_on.contains(&c);
        HttpRetryPolicy {
            max_retries: config.max_retries,
            per_try_timeout: config.per_try_timeout.filter(|t| !t.is_zero()),
            on: On {
                connect_failure: has(HttpRetryOn::ConnectFailure),
                reset: has(HttpRetryOn::Reset),
                per_try_timeout: has(HttpRetryOn::PerTryTimeout),
                server_error: has(HttpRetryOn::ServerError),
                gateway_error: has(HttpRetryOn::GatewayError),
                status_codes: has(HttpRetryOn::RetriableStatusCodes),
                unavailable: has(HttpRetryOn::Unavailable),
            },
            retriable_status_codes: config.retriable_status_codes.clone().into_boxed_slice(),
        }
    }

    /// Whether to try again after try number `attempt` (1 for the first try, so at most
    /// `1 + max_retries` tries are made) failed with `cause`. `method` is the request's and
    /// `grpc` whether it is a gRPC request; the module documentation has the rules.
    pub fn should_retry(
        &self,
        attempt: u32,
        cause: HttpRetryCause,
        method: &Method,
        grpc: bool,
    ) -> bool {
        if attempt > self.max_retries {
            return false;
        }
        let on = self.on;
        let replayable = grpc || is_idempotent(method);
        match cause {
            HttpRetryCause::ConnectFailure => on.connect_failure,
            HttpRetryCause::Reset => on.reset && replayable,
            HttpRetryCause::PerTryTimeout => on.per_try_timeout && replayable,
            HttpRetryCause::Status(status) if grpc => matches!(status, 502..=504) && on.unavailable,
            HttpRetryCause::Status(status) => {
                let listed = on.status_codes && self.retriable_status_codes.contains(&status);
                let server = is_idempotent(method)
                    && ((on.server_error && (500..=599).contains(&status))
                        || (on.gateway_error && matches!(status, 502..=504)));
                listed || server
            }
            HttpRetryCause::GrpcStatus(code) => grpc && on.unavailable && code == GRPC_UNAVAILABLE,
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

    /// The statuses retried under `retriable_status_codes` (whether or not `retry_on` lists
    /// it).
    pub fn retriable_status_codes(&self) -> &[u16] {
        &self.retriable_status_codes
    }
}

/// RFC 9110 §9.2.2: a request with one of these methods may be sent twice with the effect of
/// once.
pub fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use HttpRetryCause::*;

    fn policy(retry_on: &[HttpRetryOn], codes: &[u16]) -> HttpRetryPolicy {
        HttpRetryPolicy::new(&HttpRetryConfig {
            max_retries: 2,
            per_try_timeout: Some(Duration::from_secs(1)),
            retry_on: retry_on.to_vec(),
            retriable_status_codes: codes.to_vec(),
        })
    }

    fn all() -> HttpRetryPolicy {
        use HttpRetryOn::*;
        policy(
            &[
                ConnectFailure,
                Reset,
                PerTryTimeout,
                ServerError,
                GatewayError,
                RetriableStatusCodes,
                Unavailable,
            ],
            &[429],
        )
    }

    #[test]
    fn idempotent_methods() {
        for m in
            [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE, Method::PUT, Method::DELETE]
        {
            assert!(is_idempotent(&m), "{m}");
        }
        for m in [Method::POST, Method::PATCH, Method::CONNECT] {
            assert!(!is_idempotent(&m), "{m}");
        }
        assert!(!is_idempotent(&Method::from_bytes(b"PURGE").unwrap()));
    }

    #[test]
    fn connect_failure_is_always_safe() {
        let p = all();
        assert!(p.should_retry(1, ConnectFailure, &Method::POST, false));
        assert!(p.should_retry(1, ConnectFailure, &Method::PATCH, false));
        assert!(p.should_retry(1, ConnectFailure, &Method::POST, true));
        assert!(!policy(&[HttpRetryOn::Reset], &[]).should_retry(
            1,
            ConnectFailure,
            &Method::GET,
            false
        ));
    }

    #[test]
    fn reset_and_timeout_need_idempotence_or_grpc() {
        let p = all();
        for cause in [Reset, PerTryTimeout] {
            assert!(p.should_retry(1, cause, &Method::GET, false), "{cause:?}");
            assert!(p.should_retry(1, cause, &Method::PUT, false), "{cause:?}");
            assert!(!p.should_retry(1, cause, &Method::POST, false), "{cause:?}");
            assert!(p.should_retry(1, cause, &Method::POST, true), "{cause:?}");
        }
        let only_reset = policy(&[HttpRetryOn::Reset], &[]);
        assert!(!only_reset.should_retry(1, PerTryTimeout, &Method::GET, false));
    }

    #[test]
    fn server_errors_only_for_idempotent_methods() {
        let five = policy(&[HttpRetryOn::ServerError], &[]);
        assert!(five.should_retry(1, Status(500), &Method::GET, false));
        assert!(five.should_retry(1, Status(599), &Method::DELETE, false));
        assert!(!five.should_retry(1, Status(499), &Method::GET, false));
        assert!(!five.should_retry(1, Status(503), &Method::POST, false));
        let gw = policy(&[HttpRetryOn::GatewayError], &[]);
        assert!(!gw.should_retry(1, Status(500), &Method::GET, false));
        for s in [502, 503, 504] {
            assert!(gw.should_retry(1, Status(s), &Method::GET, false));
            assert!(!gw.should_retry(1, Status(s), &Method::POST, false));
        }
        assert!(!gw.should_retry(1, Status(505), &Method::GET, false));
    }

    #[test]
    fn listed_status_codes_apply_to_every_method_but_grpc() {
        let p = policy(&[HttpRetryOn::RetriableStatusCodes], &[429, 503]);
        assert!(p.should_retry(1, Status(429), &Method::POST, false));
        assert!(p.should_retry(1, Status(503), &Method::GET, false));
        assert!(!p.should_retry(1, Status(500), &Method::GET, false));
        assert!(!p.should_retry(1, Status(429), &Method::POST, true));
        // Listed codes without `retriable_status_codes` in retry_on do nothing.
        let off = policy(&[HttpRetryOn::ServerError], &[429]);
        assert!(!off.should_retry(1, Status(429), &Method::GET, false));
        assert_eq!(off.retriable_status_codes(), [429]);
    }

    #[test]
    fn grpc_is_judged_by_grpc_status() {
        let p = all();
        assert!(p.should_retry(1, GrpcStatus(14), &Method::POST, true));
        assert!(!p.should_retry(1, GrpcStatus(13), &Method::POST, true));
        assert!(!p.should_retry(1, GrpcStatus(14), &Method::POST, false));
        // 5xx rules never apply to gRPC; 502–504 read as UNAVAILABLE.
        assert!(!p.should_retry(1, Status(500), &Method::POST, true));
        assert!(p.should_retry(1, Status(503), &Method::POST, true));
        let no_unavailable = policy(&[HttpRetryOn::ServerError, HttpRetryOn::GatewayError], &[]);
        assert!(!no_unavailable.should_retry(1, Status(503), &Method::POST, true));
        assert!(!no_unavailable.should_retry(1, GrpcStatus(14), &Method::POST, true));
    }

    #[test]
    fn stops_after_max_retries() {
        let p = all();
        assert!(p.should_retry(2, ConnectFailure, &Method::GET, false));
        assert!(!p.should_retry(3, ConnectFailure, &Method::GET, false));
        assert_eq!(p.max_retries(), 2);
        assert_eq!(p.per_try_timeout(), Some(Duration::from_secs(1)));
    }
}
