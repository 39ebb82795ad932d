//! The admin HTTP/1.1 server: `/metrics`, `/ready` and an index.
//!
//! It is small on purpose and bounded everywhere, since it may be reachable by more than the
//! scraper: at most [`MAX_CONNECTIONS`] connections at once (more are closed on accept),
//! headers must arrive within [`HEADER_READ_TIMEOUT`], a connection lives at most
//! [`MAX_CONNECTION_AGE`] (then it is closed after its current request), request bodies are
//! refused beyond [`MAX_BODY_BYTES`] and header blocks beyond 16 KiB or 32 headers.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Incoming};
use hyper::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::metrics::{self, Metrics};

/// Most admin connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one connection may stay open (keep-alive included).
pub const MAX_CONNECTION_AGE: Duration = Duration::from_secs(60);
/// Largest request body accepted (none of the endpoints takes one).
pub const MAX_BODY_BYTES: usize = 1024;
/// How long [`serve`] waits for open connections to finish after shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

const INDEX: &str = "xproxy admin\n\n\
GET /metrics  Prometheus metrics (OpenMetrics text)\n\
GET /ready    200 when the gateway is ready for traffic, 503 otherwise\n";

/// Binds the admin listener.
///
/// # Errors
/// The bind error (address in use, not available, permission denied).
pub async fn bind(address: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(address).await
}

/// Serves the admin endpoints on `listener` until `shutdown` fires, then lets open connections
/// finish their current request (up to 5 s) and returns.
///
/// `ready` is read on each `/ready` request: the gateway sets it once its listeners are up and
/// clears it when it starts draining, so a load balancer stops sending traffic first.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                        tracing::warn!(%peer, "admin connection refused: too many open");
                        continue;
                    };
                    let metrics = Arc::clone(&metrics);
                    let ready = Arc::clone(&ready);
                    let shutdown = shutdown.clone();
                    connections.spawn(async move {
                        serve_connection(stream, metrics, ready, shutdown).await;
                        drop(permit);
                    });
                }
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(open = connections.len(), "admin connections still open at shutdown");
    }
    // Dropping the set aborts whatever is left.
}

async fn serve_connection(
    stream: TcpStream,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    shutdown: CancellationToken,
) {
    let service = service_fn(move |request| {
        let metrics = Arc::clone(&metrics);
        let ready = Arc::clone(&ready);
        async move { Ok::<_, Infallible>(respond(request, &metrics, &ready).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(16 * 1024)
        .max_headers(32);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let age = tokio::time::sleep(MAX_CONNECTION_AGE);
    tokio::pin!(age);
    let mut closing = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "admin connection ended with an error");
                }
                return;
            }
            () = shutdown.cancelled(), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
            () = &mut age, if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

async fn respond(
    request: Request<Incoming>,
    metrics: &Metrics,
    ready: &AtomicBool,
) -> Response<Full<Bytes>> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    // Refuse a body that is large or of unknown length before reading any of it; read (and so
    // drain) a small one so that the connection stays usable.
    let upper = request.body().size_hint().upper();
    if !matches!(upper, Some(upper) if upper <= MAX_BODY_BYTES as u64) {
        let mut response = text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
        response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    let body = Limited::new(request.into_body(), MAX_BODY_BYTES);
    if body.collect().await.is_err() {
        return text(StatusCode::BAD_REQUEST, "unreadable request body\n");
    }
    if method != Method::GET && method != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match path.as_str() {
        "/" => text(StatusCode::OK, INDEX),
        "/metrics" => {
            let mut response = Response::new(Full::new(Bytes::from(metrics.render())));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(metrics::CONTENT_TYPE));
            response
        }
        "/ready" if ready.load(Ordering::Acquire) => text(StatusCode::OK, "ready\n"),
        "/ready" => text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
        _ => text(StatusCode::NOT_FOUND, "not found; see /\n"),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

#[cfg(test)]
mod tests;
