//! Tars return codes (`iRet`, or a TUP reply's `STATUS_RESULT_CODE`) and their HTTP-like
//! classes.
//!
//! The mapping is chosen so that, for every framework [`Failure`], the code
//! [`return_code`] gives maps back to that failure's own HTTP status
//! ([`Failure::http_status`]): metrics and retry policies see the same class whether the
//! failure was ours or the server's.

use xprotocol::Failure;

/// Success.
pub const SUCCESS: i32 = 0;
/// The server could not decode the request (TARSSERVERDECODEERR).
pub const SERVER_DECODE_ERR: i32 = -1;
/// The server could not encode the reply (TARSSERVERENCODEERR).
pub const SERVER_ENCODE_ERR: i32 = -2;
/// The servant has no such function (TARSSERVERNOFUNCERR).
pub const NO_FUNC: i32 = -3;
/// No such servant at this endpoint (TARSSERVERNOSERVANTERR).
pub const NO_SERVANT: i32 = -4;
/// The grid (set) routing changed; retry (TARSSERVERRESETGRID).
pub const RESET_GRID: i32 = -5;
/// The request waited too long in the server's queue (TARSSERVERQUEUETIMEOUT).
pub const QUEUE_TIMEOUT: i32 = -6;
/// The call timed out (TARSASYNCCALLTIMEOUT).
pub const CALL_TIMEOUT: i32 = -7;
/// Connecting to the server failed (TARSPROXYCONNECTERR).
pub const PROXY_CONNECT_ERR: i32 = -8;
/// The server is overloaded (TARSSERVEROVERLOAD).
pub const SERVER_OVERLOAD: i32 = -9;
/// No adapter: no endpoint is available (TARSADAPTERNULL).
pub const ADAPTER_NULL: i32 = -10;
/// The call addressed a set the server is not in (TARSINVOKEBYINVALIDESET).
pub const INVALID_SET: i32 = -11;
/// The client could not decode the reply (TARSCLIENTDECODEERR).
pub const CLIENT_DECODE_ERR: i32 = -12;
/// Unknown server error (TARSSERVERUNKNOWNERR).
pub const UNKNOWN: i32 = -99;

/// The return code an error reply for `failure` carries.
///
/// - `NoRoute` → -4 (no such servant): we route on the servant name, so a request no route
///   matches names a servant this endpoint does not serve; -3 would claim the servant exists.
/// - `NoHealthyUpstream` → -10 (no adapter): the Tars client's own code for "every endpoint of
///   the servant is down".
/// - `Timeout` → -7, `Overloaded` → -9, `BadRequest` → -1 (the request did not decode),
///   `UpstreamReset` → -8 (the upstream connection failed), anything else → -99.
pub fn return_code(failure: Failure) -> i32 {
    match failure {
        Failure::NoRoute => NO_SERVANT,
        Failure::NoHealthyUpstream => ADAPTER_NULL,
        Failure::Timeout => CALL_TIMEOUT,
        Failure::Overloaded => SERVER_OVERLOAD,
        Failure::BadRequest => SERVER_DECODE_ERR,
        Failure::UpstreamReset => PROXY_CONNECT_ERR,
        _ => UNKNOWN,
    }
}

/// The HTTP-like class of a return code.
///
/// - 0 → 200.
/// - -1 (server decode error), -11 (invalid set call) → 400: the request is at fault, and
///   sending it elsewhere will not help.
/// - -3, -4 (no such function or servant) → 404: the caller addressed something that does
///   not exist there; not retryable as a server failure.
/// - -5 (reset grid), -6 (queue timeout), -9 (overload), -10 (no adapter) → 503: the server
///   (or every server) could not take the call now; the request never ran, so a retry is
///   safe.
/// - -7 (call timeout) → 504, -8 (proxy connect error) → 502.
/// - Everything else (-2 encode error, -12 client decode error, -99, unknown or positive
///   codes) → 500.
pub fn http_status(code: i32) -> u16 {
    match code {
        SUCCESS => 200,
        SERVER_DECODE_ERR | INVALID_SET => 400,
        NO_FUNC | NO_SERVANT => 404,
        RESET_GRID | QUEUE_TIMEOUT | SERVER_OVERLOAD | ADAPTER_NULL => 503,
        CALL_TIMEOUT => 504,
        PROXY_CONNECT_ERR => 502,
        _ => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_code_maps_back_to_the_failures_http_status() {
        for f in Failure::ALL {
            assert_eq!(http_status(return_code(f)), f.http_status(), "{f}");
        }
    }

    #[test]
    fn documented_classes() {
        assert_eq!(http_status(0), 200);
        assert_eq!(http_status(-6), 503);
        assert_eq!(http_status(-9), 503);
        assert_eq!(http_status(-7), 504);
        assert_eq!(http_status(-8), 502);
        assert_eq!(http_status(-3), 404);
        assert_eq!(http_status(-2), 500);
        assert_eq!(http_status(100002), 500);
        assert_eq!(return_code(Failure::NoRoute), -4);
    }
}
