//! Reading and writing the gRPC parts of HTTP requests and responses, on the `http` crate's
//! types so that they work with whichever HTTP/2 stack carries the call.
//!
//! gRPC has no detector of its own: a call is an HTTP/2 request whose content type is
//! `application/grpc`. The gateway uses [`is_grpc`] to decide that a request is a call,
//! [`service_and_method`] to route it, [`request_deadline`] to bound it, and, when it fails a
//! call itself, [`trailers_only`] (nothing sent yet) or [`status_trailers`] (after response
//! headers) to answer the way a gRPC server would.

use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};

use crate::message::{percent_decode_message, percent_encode_message};
use crate::status::Code;
use crate::timeout::{parse_timeout, TimeoutError};

/// The `grpc-status` trailer: the call's [`Code`] in decimal.
pub const GRPC_STATUS: &str = "grpc-status";
/// The `grpc-message` trailer: a percent-encoded status message.
pub const GRPC_MESSAGE: &str = "grpc-message";
/// The `grpc-timeout` request header: the call's deadline, relative.
pub const GRPC_TIMEOUT: &str = "grpc-timeout";
/// The content type every gRPC response the gateway writes carries.
pub const APPLICATION_GRPC: &str = "application/grpc";

/// Whether `headers` carry a gRPC content type: `application/grpc` alone, or followed by `+`
/// (a message format: `+proto`, `+json`, …) or `;` (parameters).
///
/// The media type is compared ignoring ASCII case, as HTTP media types are. Look-alikes such as
/// `application/grpc-web` (a different protocol, spoken over HTTP/1.1) are not gRPC.
pub fn is_grpc(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return false;
    };
    let value = value.as_bytes();
    let Some((media_type, rest)) = value.split_at_checked(APPLICATION_GRPC.len()) else {
        return false;
    };
    media_type.eq_ignore_ascii_case(APPLICATION_GRPC.as_bytes())
        && matches!(rest.first(), None | Some(b'+' | b';'))
}

/// Splits a call's `:path`, `/package.Service/Method`, into service (`package.Service`) and
/// method (`Method`).
///
/// `None` unless the path is a `/`, a non-empty service, a `/` and a non-empty method with no
/// further `/`. Nothing else is checked: an unknown service is the router's to answer
/// (`UNIMPLEMENTED`).
pub fn service_and_method(path: &str) -> Option<(&str, &str)> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    if service.is_empty() || method.is_empty() || method.contains('/') {
        return None;
    }
    Some((service, method))
}

/// A complete "Trailers-Only" response: how a server answers a call it fails before sending
/// any message. HTTP 200 (gRPC errors are never HTTP errors), `content-type:
/// application/grpc`, `grpc-status`, and `grpc-message` (percent-encoded) unless `message` is
/// empty.
///
/// On HTTP/2 these headers must go out in a single HEADERS frame with END_STREAM, i.e. as a
/// response with an empty body and no trailers; the caller pairs this with such a body.
pub fn trailers_only(code: Code, message: &str) -> http::Response<()> {
    let mut response = http::Response::new(());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(APPLICATION_GRPC));
    headers.extend(status_trailers(code, message));
    response
}

/// The trailers that end a call with `code`: `grpc-status`, and `grpc-message`
/// (percent-encoded) unless `message` is empty. Use after response headers were sent;
/// before that, use [`trailers_only`].
pub fn status_trailers(code: Code, message: &str) -> HeaderMap {
    let mut trailers = HeaderMap::with_capacity(2);
    trailers.insert(
        HeaderName::from_static(GRPC_STATUS),
        HeaderValue::from_static(code.as_header_str()),
    );
    if !message.is_empty() {
        // The encoding leaves only bytes 0x20-0x7E, which are always a valid header value.
        if let Ok(value) = HeaderValue::from_str(&percent_encode_message(message)) {
            trailers.insert(HeaderName::from_static(GRPC_MESSAGE), value);
        }
    }
    trailers
}

/// The status a call ended with, read from its trailers (or from a Trailers-Only response's
/// headers): the code and the decoded `grpc-message` (empty when absent).
///
/// `None` when there is no `grpc-status` at all: the caller must then synthesize a status
/// (from the HTTP status with [`Code::from_http_status`], say). A `grpc-status` that is not a
/// defined code reads as [`Code::Unknown`], as the spec asks of clients.
pub fn status_from_trailers(trailers: &HeaderMap) -> Option<(Code, String)> {
    let status = trailers.get(GRPC_STATUS)?;
    let code = Code::parse_header(status.as_bytes()).unwrap_or(Code::Unknown);
    let message = trailers
        .get(GRPC_MESSAGE)
        .map(|value| percent_decode_message(value.as_bytes()).into_owned())
        .unwrap_or_default();
    Some((code, message))
}

/// The deadline a call's request headers ask for, relative to when they were received.
///
/// `Ok(None)` when there is no `grpc-timeout` (no deadline: the gateway's own route timeout
/// applies). With several `grpc-timeout` headers the first is used.
///
/// # Errors
///
/// A malformed `grpc-timeout`; the caller should fail the call rather than guess.
pub fn request_deadline(headers: &HeaderMap) -> Result<Option<Duration>, TimeoutError> {
    headers.get(GRPC_TIMEOUT).map(|value| parse_timeout(value.as_bytes())).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: &'static str, value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn grpc_content_types() {
        for yes in [
            "application/grpc",
            "application/grpc+proto",
            "application/grpc+json",
            "application/grpc;charset=utf-8",
            "Application/GRPC",
        ] {
            assert!(is_grpc(&with("content-type", yes)), "{yes}");
        }
        for no in [
            "application/grpc-web",
            "application/grpc-web+proto",
            "application/grpcx",
            "application/json",
            "application/grp",
            "",
            " application/grpc",
        ] {
            assert!(!is_grpc(&with("content-type", no)), "{no}");
        }
        assert!(!is_grpc(&HeaderMap::new()));
        assert!(!is_grpc(&with("x-content-type", "application/grpc")));
    }

    #[test]
    fn paths_split_into_service_and_method() {
        assert_eq!(
            service_and_method("/xproxy.test.Echo/Unary"),
            Some(("xproxy.test.Echo", "Unary"))
        );
        assert_eq!(service_and_method("/Echo/Bidi"), Some(("Echo", "Bidi")));
        for bad in ["", "/", "//", "/svc", "/svc/", "//m", "svc/m", "/a/b/c", "/svc/m/"] {
            assert_eq!(service_and_method(bad), None, "{bad}");
        }
    }

    #[test]
    fn trailers_only_response_carries_the_status() {
        let response = trailers_only(Code::Unavailable, "no healthy upstream: 100%");
        assert_eq!(response.status(), http::StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers["content-type"], "application/grpc");
        assert_eq!(headers["grpc-status"], "14");
        assert_eq!(headers["grpc-message"], "no healthy upstream: 100%25");
        assert_eq!(headers.len(), 3);
        assert_eq!(
            status_from_trailers(headers),
            Some((Code::Unavailable, "no healthy upstream: 100%".to_owned()))
        );

        let response = trailers_only(Code::Ok, "");
        assert_eq!(response.headers()["grpc-status"], "0");
        assert!(response.headers().get("grpc-message").is_none());
    }

    #[test]
    fn trailers_are_read_leniently() {
        assert_eq!(status_from_trailers(&HeaderMap::new()), None);
        assert_eq!(
            status_from_trailers(&with("grpc-status", "5")),
            Some((Code::NotFound, String::new()))
        );
        assert_eq!(
            status_from_trailers(&with("grpc-status", "99")),
            Some((Code::Unknown, String::new()))
        );
        assert_eq!(
            status_from_trailers(&with("grpc-status", "x")),
            Some((Code::Unknown, String::new()))
        );
        let mut trailers = with("grpc-status", "3");
        trailers.insert("grpc-message", HeaderValue::from_static("bad %zz caf%C3%A9"));
        assert_eq!(
            status_from_trailers(&trailers),
            Some((Code::InvalidArgument, "bad %zz caf\u{e9}".to_owned()))
        );
    }

    #[test]
    fn deadlines_come_from_grpc_timeout() {
        assert_eq!(request_deadline(&HeaderMap::new()), Ok(None));
        assert_eq!(
            request_deadline(&with("grpc-timeout", "250m")),
            Ok(Some(Duration::from_millis(250)))
        );
        assert_eq!(
            request_deadline(&with("grpc-timeout", "1x")),
            Err(TimeoutError::UnknownUnit { unit: b'x' })
        );
    }
}
