//! What an HTTP load run sends and how a response counts: the request of each workload
//! (HTTP/1.1, HTTP/2, gRPC) and the classes of its failures.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::io;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, HOST, TE};
use http::{Method, Request, Response, Uri};
use http_body::Body;
use http_body_util::{BodyExt, Full};

use crate::frames;
use crate::load::grpc::{encode_message, GrpcCode, MessageCounter, MessageError};
use crate::load::rpc::is_reset;
use crate::load::stats::{ErrorClass, Outcome, StatusClass};

/// The request path of the HTTP/1.1 and HTTP/2 workloads when `--path` is not given.
pub const DEFAULT_PATH: &str = "/echo";
/// The request path of the gRPC workload when `--path` is not given: method `Unary` of
/// service `xproxy.bench.Echo`.
pub const GRPC_PATH: &str = "/xproxy.bench.Echo/Unary";
/// The content type of gRPC requests and replies (a reply may add `+proto` and the like).
pub const GRPC_CONTENT_TYPE: &str = "application/grpc";

/// The HTTP workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpWorkload {
    /// HTTP/1.1 POST, keep-alive, one request at a time per connection.
    Http1,
    /// HTTP/2 (prior knowledge) POST, many streams per connection.
    Http2,
    /// gRPC unary calls over HTTP/2.
    Grpc,
}

impl HttpWorkload {
    /// The path requested when the user names none.
    pub fn default_path(self) -> &'static str {
        match self {
            HttpWorkload::Http1 | HttpWorkload::Http2 => DEFAULT_PATH,
            HttpWorkload::Grpc => GRPC_PATH,
        }
    }
}

/// Why the request of a run cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The path does not start with `/`.
    #[error("the request path `{0}` does not start with /")]
    Path(String),
    /// The host and path do not make a valid request target.
    #[error("`{0}` is not a valid request URI: {1}")]
    Uri(String, http::uri::InvalidUri),
    /// The host is not a valid header value.
    #[error("`{0}` is not a valid Host header")]
    Host(String),
    /// The payload does not fit one gRPC message.
    #[error(transparent)]
    Message(#[from] MessageError),
}

/// What every call of a run sends, and how its response counts.
#[derive(Clone, Debug)]
pub struct Exchange {
    workload: HttpWorkload,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl Exchange {
    /// A POST of `payload` bytes to `path` on `authority` (the `Host` header of HTTP/1.1,
    /// the `:authority` of HTTP/2); for gRPC, one message of `payload` bytes.
    ///
    /// # Errors
    /// An authority or path that does not make a URI, or a payload too large for gRPC.
    pub fn new(
        workload: HttpWorkload,
        authority: &str,
        path: &str,
        payload: usize,
    ) -> Result<Exchange, ExchangeError> {
        if !path.starts_with('/') {
            return Err(ExchangeError::Path(path.to_owned()));
        }
        let uri_text = match workload {
            // HTTP/1.1 sends the origin form and the authority in Host.
            HttpWorkload::Http1 => path.to_owned(),
            // HTTP/2 takes :scheme and :authority from an absolute URI.
            HttpWorkload::Http2 | HttpWorkload::Grpc => format!("http://{authority}{path}"),
        };
        let uri: Uri = uri_text.parse().map_err(|e| ExchangeError::Uri(uri_text.clone(), e))?;
        let mut headers = HeaderMap::new();
        let payload = frames::payload(payload);
        let body = match workload {
            HttpWorkload::Http1 | HttpWorkload::Http2 => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
                payload
            }
            HttpWorkload::Grpc => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static(GRPC_CONTENT_TYPE));
                headers.insert(TE, HeaderValue::from_static("trailers"));
                encode_message(&payload)?
            }
        };
        if workload == HttpWorkload::Http1 {
            let host = HeaderValue::from_str(authority)
                .map_err(|_| ExchangeError::Host(authority.to_owned()))?;
            headers.insert(HOST, host);
        }
        Ok(Exchange { workload, uri, headers, body })
    }

    /// The workload.
    pub fn workload(&self) -> HttpWorkload {
        self.workload
    }

    /// A fresh copy of the request (the body is shared, not copied).
    pub fn request(&self) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }

    /// Reads `response` to its end and says how it counts. The body is always read whole
    /// (in constant memory), since an HTTP/1.1 connection can only take the next request
    /// after it.
    ///
    /// HTTP/1.1 and HTTP/2: any 2xx is a success. gRPC: status 200, a `grpc-status` (in the
    /// trailers, or in the headers of a trailers-only reply) of 0 and exactly one well-formed
    /// message; another code counts as that code's class, no status or a malformed message
    /// as [`ErrorClass::Decode`].
    pub async fn check<B>(&self, response: Response<B>) -> Outcome
    where
        B: Body<Data = Bytes> + Unpin,
        B::Error: BodyError,
    {
        let (parts, mut body) = response.into_parts();
        let mut messages = MessageCounter::new();
        let mut malformed = false;
        let mut trailers = None;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| e.class())?;
            match frame.into_data() {
                Ok(data) if self.workload == HttpWorkload::Grpc => {
                    malformed |= messages.feed(&data).is_err();
                }
                Ok(_) => {}
                Err(frame) => trailers = frame.into_trailers().ok(),
            }
        }
        let status = parts.status.as_u16();
        if self.workload != HttpWorkload::Grpc {
            return if parts.status.is_success() {
                Ok(())
            } else {
                Err(ErrorClass::Http(StatusClass::of(status)))
            };
        }
        if status != 200 {
            return Err(ErrorClass::Http(StatusClass::of(status)));
        }
        let grpc_status = HeaderName::from_static("grpc-status");
        let code = parts
            .headers
            .get(&grpc_status)
            .or_else(|| trailers.as_ref().and_then(|t| t.get(&grpc_status)))
            .and_then(|v| GrpcCode::parse(v.as_bytes()))
            .ok_or(ErrorClass::Decode)?;
        if code != GrpcCode::Ok {
            return Err(ErrorClass::Grpc(code));
        }
        match messages.finish() {
            Ok(1) if !malformed => Ok(()),
            _ => Err(ErrorClass::Decode),
        }
    }
}

/// The error of a response body, as it counts.
pub trait BodyError {
    /// The class this error counts as.
    fn class(&self) -> ErrorClass;
}

impl BodyError for hyper::Error {
    fn class(&self) -> ErrorClass {
        classify(self)
    }
}

impl BodyError for Infallible {
    fn class(&self) -> ErrorClass {
        match *self {}
    }
}

/// How a hyper error counts: a reset (TCP or HTTP/2 stream) as [`ErrorClass::Reset`], an
/// orderly close or `GOAWAY` as [`ErrorClass::Closed`], bytes that are not HTTP as
/// [`ErrorClass::Decode`].
pub fn classify(error: &hyper::Error) -> ErrorClass {
    if error.is_timeout() {
        return ErrorClass::Timeout;
    }
    if error.is_parse() || error.is_parse_status() || error.is_parse_too_large() {
        return ErrorClass::Decode;
    }
    if let Some(h2) = cause::<h2::Error>(error) {
        if let Some(io) = h2.get_io() {
            return io_class(io.kind());
        }
        if h2.is_go_away() {
            return ErrorClass::Closed;
        }
        if h2.is_reset() && h2.is_remote() {
            return ErrorClass::Reset;
        }
        if h2.is_library() {
            // h2 found the peer in breach of the protocol.
            return ErrorClass::Decode;
        }
    }
    if let Some(io) = cause::<io::Error>(error) {
        return io_class(io.kind());
    }
    if error.is_canceled() || error.is_closed() || error.is_incomplete_message() {
        return ErrorClass::Closed;
    }
    ErrorClass::Other
}

fn io_class(kind: io::ErrorKind) -> ErrorClass {
    if is_reset(kind) {
        ErrorClass::Reset
    } else if kind == io::ErrorKind::TimedOut {
        ErrorClass::Timeout
    } else {
        ErrorClass::Closed
    }
}

/// The first error of type `E` in `error`'s source chain (itself included).
fn cause<'a, E: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use http::StatusCode;

    use super::*;
    use crate::load::http::serve::ReplyBody;

    fn body_len(request: &Request<Full<Bytes>>) -> Option<u64> {
        request.body().size_hint().exact()
    }

    #[test]
    fn requests_carry_the_method_target_headers_and_body_of_each_workload() {
        let h1 = Exchange::new(HttpWorkload::Http1, "example.test:80", "/echo", 1024).unwrap();
        let request = h1.request();
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri(), "/echo");
        assert_eq!(request.headers()[HOST], "example.test:80");
        assert_eq!(body_len(&request), Some(1024));

        let h2 = Exchange::new(HttpWorkload::Http2, "example.test", "/a?b=c", 10).unwrap();
        let request = h2.request();
        assert_eq!(request.uri(), "http://example.test/a?b=c");
        assert!(request.headers().get(HOST).is_none(), "HTTP/2 uses :authority");

        let grpc = Exchange::new(HttpWorkload::Grpc, "x:1", GRPC_PATH, 100).unwrap();
        let request = grpc.request();
        assert_eq!(request.uri().path(), "/xproxy.bench.Echo/Unary");
        assert_eq!(request.headers()[CONTENT_TYPE], "application/grpc");
        assert_eq!(request.headers()[TE], "trailers");
        assert_eq!(body_len(&request), Some(105), "prefix + message");

        let err = |w, host, path| Exchange::new(w, host, path, 1).unwrap_err();
        assert!(matches!(err(HttpWorkload::Http2, "bad host", "/"), ExchangeError::Uri(..)));
        assert!(matches!(err(HttpWorkload::Http1, "x", "no-slash"), ExchangeError::Path(_)));
        assert!(matches!(err(HttpWorkload::Http1, "a\nb", "/"), ExchangeError::Host(_)));
    }

    fn reply(
        status: u16,
        headers: &[(&str, &str)],
        data: &[u8],
        trailers: &[(&str, &str)],
    ) -> Response<ReplyBody> {
        let map = |pairs: &[(&str, &str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value).unwrap(),
                );
            }
            map
        };
        let trailers = Some(map(trailers)).filter(|t| !t.is_empty());
        let mut response = Response::new(ReplyBody::new(Bytes::copy_from_slice(data), trailers));
        *response.status_mut() = StatusCode::from_u16(status).unwrap();
        *response.headers_mut() = map(headers);
        response
    }

    #[tokio::test]
    async fn http_responses_count_by_status_class() {
        let h2 = Exchange::new(HttpWorkload::Http2, "x", "/", 1).unwrap();
        assert_eq!(h2.check(reply(200, &[], b"abc", &[])).await, Ok(()));
        assert_eq!(h2.check(reply(204, &[], b"", &[])).await, Ok(()));
        let class = |c| Err(ErrorClass::Http(c));
        assert_eq!(h2.check(reply(302, &[], b"", &[])).await, class(StatusClass::Redirection));
        assert_eq!(h2.check(reply(404, &[], b"no", &[])).await, class(StatusClass::ClientError));
        assert_eq!(h2.check(reply(503, &[], b"", &[])).await, class(StatusClass::ServerError));
        assert_eq!(h2.check(reply(799, &[], b"", &[])).await, class(StatusClass::Nonstandard));
    }

    #[tokio::test]
    async fn grpc_replies_need_status_200_grpc_status_0_and_one_message() {
        let grpc = Exchange::new(HttpWorkload::Grpc, "x", GRPC_PATH, 1).unwrap();
        let one = encode_message(b"pong").unwrap();
        let ok = [("grpc-status", "0")];
        assert_eq!(grpc.check(reply(200, &[], &one, &ok)).await, Ok(()));
        // Trailers-only: the status in the headers, no body.
        let unavailable = [("grpc-status", "14")];
        assert_eq!(
            grpc.check(reply(200, &unavailable, b"", &[])).await,
            Err(ErrorClass::Grpc(GrpcCode::Unavailable))
        );
        assert_eq!(
            grpc.check(reply(200, &[], &one, &[("grpc-status", "13")])).await,
            Err(ErrorClass::Grpc(GrpcCode::Internal))
        );
        assert_eq!(
            grpc.check(reply(200, &[], &one, &[("grpc-status", "99")])).await,
            Err(ErrorClass::Grpc(GrpcCode::Unknown))
        );
        let decode = Err(ErrorClass::Decode);
        assert_eq!(grpc.check(reply(200, &[], &one, &[])).await, decode, "no grpc-status");
        let garbled = [("grpc-status", "OK")];
        assert_eq!(grpc.check(reply(200, &[], &one, &garbled)).await, decode);
        let two = [&one[..], &one[..]].concat();
        assert_eq!(grpc.check(reply(200, &[], &two, &ok)).await, decode, "two messages");
        assert_eq!(grpc.check(reply(200, &[], &one[..6], &ok)).await, decode, "truncated");
        assert_eq!(grpc.check(reply(200, &[], b"", &ok)).await, decode, "no message");
        assert_eq!(grpc.check(reply(200, &[], b"\x07\0\0\0\0", &ok)).await, decode, "bad flag");
        assert_eq!(
            grpc.check(reply(204, &[], &one, &ok)).await,
            Err(ErrorClass::Http(StatusClass::Success)),
            "gRPC wants exactly 200"
        );
        assert_eq!(
            grpc.check(reply(502, &[], b"", &[])).await,
            Err(ErrorClass::Http(StatusClass::ServerError))
        );
    }

    #[test]
    fn socket_errors_fall_into_reset_closed_and_timeout() {
        assert_eq!(io_class(io::ErrorKind::ConnectionReset), ErrorClass::Reset);
        assert_eq!(io_class(io::ErrorKind::BrokenPipe), ErrorClass::Reset);
        assert_eq!(io_class(io::ErrorKind::UnexpectedEof), ErrorClass::Closed);
        assert_eq!(io_class(io::ErrorKind::TimedOut), ErrorClass::Timeout);
        let inner = io::Error::from(io::ErrorKind::ConnectionReset);
        let wrapped = io::Error::other(inner);
        let found = cause::<io::Error>(&wrapped).unwrap();
        assert_eq!(found.kind(), io::ErrorKind::Other, "the outermost match first");
    }
}
