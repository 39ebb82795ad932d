//! `xload serve --protocol http`: a backend serving HTTP/1.1 and HTTP/2 (prior knowledge,
//! cleartext) on one port, told apart by the connection's first bytes (hyper-util's auto
//! builder). Every request is read whole and answered, after the delay, with status 200:
//! a gRPC request (content type `application/grpc...`) with one message of the payload size
//! and the trailer `grpc-status: 0`, any other request with a body of the payload size.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use super::exchange::GRPC_CONTENT_TYPE;
use crate::frames;
use crate::load::grpc::encode_message;

/// How long open connections get to finish once the backend is told to stop.
const DRAIN: Duration = Duration::from_secs(5);

/// A response body known in advance: at most one data frame, then optional trailers. Its
/// exact size lets HTTP/1.1 send `Content-Length` rather than chunks.
#[derive(Clone, Debug, Default)]
pub struct ReplyBody {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

impl ReplyBody {
    /// A body of `data` (empty data sends no data frame), then `trailers` if any.
    pub fn new(data: Bytes, trailers: Option<HeaderMap>) -> ReplyBody {
        ReplyBody { data: Some(data).filter(|d| !d.is_empty()), trailers }
    }
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}

/// The replies, built once.
#[derive(Debug)]
struct Replies {
    plain: Bytes,
    grpc: Bytes,
    grpc_trailers: HeaderMap,
    delay: Duration,
}

impl Replies {
    async fn answer(&self, request: Request<Incoming>) -> Response<ReplyBody> {
        let grpc = request
            .headers()
            .get(CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(GRPC_CONTENT_TYPE.as_bytes()));
        // Read the request whole, as a real service does, without keeping it.
        let mut body = request.into_body();
        while let Some(frame) = body.frame().await {
            if frame.is_err() {
                break;
            }
        }
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let (content_type, body) = if grpc {
            let trailers = Some(self.grpc_trailers.clone());
            (GRPC_CONTENT_TYPE, ReplyBody::new(self.grpc.clone(), trailers))
        } else {
            ("application/octet-stream", ReplyBody::new(self.plain.clone(), None))
        };
        let mut response = Response::new(body);
        *response.status_mut() = StatusCode::OK;
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        response
    }
}

/// The HTTP backend, bound and not yet serving.
pub struct HttpBackend {
    listener: TcpListener,
    replies: Arc<Replies>,
}

impl HttpBackend {
    /// Binds `listen`; replies carry `payload` bytes after `delay`.
    ///
    /// # Errors
    /// The address cannot be bound, or the payload does not fit one gRPC message.
    pub async fn bind(listen: &str, delay: Duration, payload: usize) -> anyhow::Result<Self> {
        let plain = frames::payload(payload);
        let grpc = encode_message(&plain)?;
        let mut grpc_trailers = HeaderMap::new();
        grpc_trailers.insert("grpc-status", HeaderValue::from_static("0"));
        let listener = TcpListener::bind(listen).await?;
        let replies = Arc::new(Replies { plain, grpc, grpc_trailers, delay });
        Ok(HttpBackend { listener, replies })
    }

    /// The bound address.
    ///
    /// # Errors
    /// The socket's error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting and gives open connections
    /// [`DRAIN`] to finish (HTTP/2 ones get a `GOAWAY`).
    ///
    /// # Errors
    /// None yet: accept errors (out of file descriptors) are waited out, not returned.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // Room for any stream count the load generator asks for.
        builder.http2().max_concurrent_streams(10_000);
        let graceful = GracefulShutdown::new();
        let mut shutdown = pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => accepted,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    // Out of descriptors or an aborted handshake: try again shortly.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let replies = self.replies.clone();
            let service = service_fn(move |request| {
                let replies = replies.clone();
                async move { Ok::<_, Infallible>(replies.answer(request).await) }
            });
            let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                // A peer that goes away mid-request is not the backend's error.
                let _ = connection.await;
            });
        }
        drop(self.listener);
        let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
        Ok(())
    }
}

/// Serves HTTP on `listen` until SIGINT or SIGTERM, then drains. Prints the bound address on
/// standard error once listening, so that scripts can wait for it.
///
/// # Errors
/// The address cannot be bound or signals cannot be watched.
pub async fn serve_http(listen: &str, delay: Duration, payload: usize) -> anyhow::Result<()> {
    let backend = HttpBackend::bind(listen, delay, payload).await?;
    eprintln!("xload serve: http (HTTP/1.1 and HTTP/2) on {}", backend.local_addr()?);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    backend
        .run(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        })
        .await
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    #[tokio::test]
    async fn a_reply_body_is_its_data_then_its_trailers() {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        let body = ReplyBody::new(Bytes::from_static(b"abc"), Some(trailers));
        assert_eq!(body.size_hint().exact(), Some(3));
        assert!(!body.is_end_stream());
        let collected = body.collect().await.unwrap();
        assert_eq!(collected.trailers().unwrap()["grpc-status"], "0");
        assert_eq!(collected.to_bytes(), "abc");
        let empty = ReplyBody::new(Bytes::new(), None);
        assert!(empty.is_end_stream());
    }
}
