//! The admin HTTP/1.1 server: `/metrics`, `/ready` and an index.
//!
//! It is small on purpose and bounded everywhere, since it may be reachable by more than the
//! scraper, and yet a monitoring probe must always get through: at most [`MAX_CONNECTIONS`]
//! connections at once, and when that many are open a new one closes the oldest *idle* one
//! (not answering a request) rather than being refused, so idle or silent connections can
//! never lock out a fresh `/ready`; only when every connection is busy answering is the new
//! one closed. A request's headers, and the next request on a kept-alive connection, must
//! arrive within [`HEADER_READ_TIMEOUT`] (so an idle connection lives at most that long), a
//! connection lives at most [`MAX_CONNECTION_AGE`] (then it is closed after its current
//! request), request bodies are refused beyond [`MAX_BODY_BYTES`] and header blocks beyond
//! 16 KiB or 32 headers.

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
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::metrics::{self, AdminRefusal, Metrics};
use crate::listener::budget::{Admission, EvictingBudget, Ticket};
use crate::log_throttle::{LogThrottle, DEFAULT_PERIOD};

/// Most admin connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send a request's headers, and how long a kept-alive
/// connection may sit idle before its next request. A scraper or probe sends its request as
/// soon as it connects; 2 s leaves room for a loaded machine and frees a silent connection's
/// place quickly.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(2);
/// The accept backlog of the admin listener: probes arrive a few at a time, but a burst must
/// not wait on SYN retransmits.
pub const BACKLOG: u32 = 128;
/// How long one connection may stay open (keep-alive included).
pub const MAX_CONNECTION_AGE: Duration = Duration::from_secs(60);
/// Largest request body accepted (none of the endpoints takes one).
pub const MAX_BODY_BYTES: usize = 1024;
/// How long [`serve`] waits for open connections to finish after shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

const INDEX: &str = "xproxy admin\n\n\
GET  /metrics  Prometheus metrics (OpenMetrics text)\n\
GET  /ready    200 when the gateway is ready for traffic, 503 otherwise\n\
POST /drain    start the drain that SIGTERM starts: stop accepting, serve what is open, exit\n";

/// What the admin endpoints read and act on.
pub struct AdminState {
    /// The gateway's metrics, for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Set once the listeners are up, cleared when the drain begins; read by `/ready`.
    pub ready: Arc<AtomicBool>,
    /// Fired by `POST /drain`: the gateway drains and exits as on SIGTERM.
    pub drain: CancellationToken,
}

/// Binds the admin listener (with `SO_REUSEADDR` and a backlog of [`BACKLOG`]).
///
/// # Errors
/// The bind error (address in use, not available, permission denied).
pub async fn bind(address: SocketAddr) -> io::Result<TcpListener> {
    crate::listener::bind(address, BACKLOG)
}

// Refusals and evictions are logged at most once per second, with the number held back.
static EVICTED_LOG: LogThrottle = LogThrottle::new(DEFAULT_PERIOD);
static REFUSED_LOG: LogThrottle = LogThrottle::new(DEFAULT_PERIOD);
static ACCEPT_FAILED_LOG: LogThrottle = LogThrottle::new(DEFAULT_PERIOD);

/// Serves the admin endpoints on `listener` until `shutdown` fires, then lets open connections
/// finish their current request (up to 5 s) and returns.
///
/// `ready` is read on each `/ready` request: the gateway sets it once its listeners are up and
/// clears it when it starts draining, so a load balancer stops sending traffic first.
pub async fn serve(listener: TcpListener, state: Arc<AdminState>, shutdown: CancellationToken) {
    let metrics = &state.metrics;
    let open = EvictingBudget::new(MAX_CONNECTIONS);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let ticket = match open.admit(peer) {
                        Admission::Admitted { ticket, evicted } => {
                            if let Some(evicted) = evicted {
                                metrics.admin_connection_refused(AdminRefusal::Evicted);
                                if let Some(suppressed) = EVICTED_LOG.allow() {
                                    tracing::warn!(
                                        peer = %evicted, suppressed,
                                        "idle admin connection closed to make room for a new one"
                                    );
                                }
                            }
                            ticket
                        }
                        Admission::Full => {
                            metrics.admin_connection_refused(AdminRefusal::AllBusy);
                            if let Some(suppressed) = REFUSED_LOG.allow() {
                                tracing::warn!(
                                    %peer, suppressed,
                                    "admin connection refused: every connection is busy"
                                );
                            }
                            continue;
                        }
                    };
                    let state = Arc::clone(&state);
                    let shutdown = shutdown.clone();
                    connections.spawn(serve_connection(stream, ticket, state, shutdown));
                }
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    if let Some(suppressed) = ACCEPT_FAILED_LOG.allow() {
                        tracing::warn!(%error, suppressed, "admin accept failed");
                    }
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

/// Serves one admin connection until it closes, its age runs out, shutdown, or it is evicted
/// (`ticket`: its place among the open admin connections, marked busy while a request is being
/// answered so that only idle connections are evicted).
async fn serve_connection(
    stream: TcpStream,
    ticket: Ticket<SocketAddr>,
    state: Arc<AdminState>,
    shutdown: CancellationToken,
) {
    let busy = ticket.busy_marker();
    let service = service_fn(move |request| {
        let state = Arc::clone(&state);
        let busy = busy.enter();
        async move {
            let response = respond(request, &state).await;
            drop(busy);
            Ok::<_, Infallible>(response)
        }
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
            () = ticket.evicted(), if !closing => {
                // Evicted while idle: nothing to finish, close now. A request that started
                // since is finished first.
                if !ticket.is_busy() {
                    return;
                }
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

async fn respond(request: Request<Incoming>, state: &AdminState) -> Response<Full<Bytes>> {
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
    if path == "/drain" {
        if method != Method::POST {
            return method_not_allowed("POST");
        }
        // The gateway logs the drain as it starts it.
        state.drain.cancel();
        return text(StatusCode::ACCEPTED, "draining\n");
    }
    if method != Method::GET && method != Method::HEAD {
        return method_not_allowed("GET, HEAD");
    }
    let (metrics, ready) = (&state.metrics, &state.ready);
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

fn method_not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    response.headers_mut().insert(ALLOW, HeaderValue::from_static(allow));
    response
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
