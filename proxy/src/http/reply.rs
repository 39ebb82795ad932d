//! Answers the gateway writes itself: failures in the status a browser, curl or a gRPC client
//! expects, configured direct responses and redirects.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use xprotocol::Failure;
use xprotocol_grpc::Code;

use super::body::{self, ProxyBody};

/// The answer to a request the gateway could not forward: for HTTP, the failure's status
/// (404, 502, 503, 504, …) with a one-line text body; for gRPC, a trailers-only response whose
/// `grpc-status` names the failure (UNIMPLEMENTED, UNAVAILABLE, DEADLINE_EXCEEDED,
/// RESOURCE_EXHAUSTED, …) and whose `grpc-message` carries `message`.
pub fn failure(failure: Failure, message: &str, grpc: bool) -> Response<ProxyBody> {
    if grpc {
        return grpc_status(Code::from_failure(failure), message);
    }
    let status = StatusCode::from_u16(failure.http_status()).unwrap_or(StatusCode::BAD_GATEWAY);
    text(status, message)
}

/// A trailers-only gRPC response with `code` and `message`.
pub fn grpc_status(code: Code, message: &str) -> Response<ProxyBody> {
    xprotocol_grpc::trailers_only(code, message).map(|()| body::empty())
}

/// `413 Payload Too Large` (RESOURCE_EXHAUSTED for gRPC): the request body passed the limit.
pub fn too_large(limit: u64, grpc: bool) -> Response<ProxyBody> {
    let message = format!("request body larger than {limit} bytes");
    if grpc {
        return grpc_status(Code::ResourceExhausted, &message);
    }
    text(StatusCode::PAYLOAD_TOO_LARGE, &message)
}

/// `408 Request Timeout`: the caller sent part of its request body and then nothing until the
/// route's deadline. The caller's fault, so not a 504; with `close` (HTTP/1.1) the response
/// says `Connection: close`, since the rest of that body may still be on its way and the
/// connection cannot be reused (RFC 9110 §15.5.9). For gRPC, CANCELLED: the call did not
/// fail upstream, its caller stopped sending it.
pub fn request_timeout(grpc: bool, close: bool) -> Response<ProxyBody> {
    let message = "request body not received in time";
    if grpc {
        return grpc_status(Code::Cancelled, message);
    }
    let mut response = text(StatusCode::REQUEST_TIMEOUT, message);
    if close {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A plain-text response: `message` and a newline.
pub fn text(status: StatusCode, message: &str) -> Response<ProxyBody> {
    let mut response = Response::new(body::full(format!("{message}\n")));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// A configured direct response.
pub fn direct(
    status: StatusCode,
    body: Bytes,
    content_type: Option<&HeaderValue>,
) -> Response<ProxyBody> {
    let mut response = Response::new(body::full(body));
    *response.status_mut() = status;
    if let Some(content_type) = content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, content_type.clone());
    }
    response
}

/// A redirect to `location` with `status` (301, 302, 303, 307 or 308).
pub fn redirect(status: StatusCode, location: &str) -> Response<ProxyBody> {
    let mut response = Response::new(body::empty());
    *response.status_mut() = status;
    match HeaderValue::from_str(location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
            response
        }
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "redirect target is not a valid header"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_get_the_status_a_client_expects() {
        assert_eq!(failure(Failure::NoRoute, "x", false).status(), StatusCode::NOT_FOUND);
        assert_eq!(failure(Failure::Timeout, "x", false).status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(
            failure(Failure::NoHealthyUpstream, "x", false).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(failure(Failure::UpstreamReset, "x", false).status(), StatusCode::BAD_GATEWAY);
        let grpc = failure(Failure::Timeout, "too slow 100%", true);
        assert_eq!(grpc.status(), StatusCode::OK);
        assert_eq!(grpc.headers()["grpc-status"], "4");
        assert_eq!(grpc.headers()["grpc-message"], "too slow 100%25");
        assert_eq!(failure(Failure::NoRoute, "", true).headers()["grpc-status"], "12");
        assert_eq!(too_large(10, false).status(), StatusCode::PAYLOAD_TOO_LARGE);
        let stalled = request_timeout(false, true);
        assert_eq!(stalled.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(stalled.headers()["connection"], "close");
        assert!(request_timeout(false, false).headers().get("connection").is_none());
        assert_eq!(request_timeout(true, false).headers()["grpc-status"], "1");
        assert_eq!(redirect(StatusCode::FOUND, "https://a/b").headers()["location"], "https://a/b");
    }
}
