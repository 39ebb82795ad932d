//! HTTP/1.1, HTTP/2 and gRPC through the gateway: connections detected on the shared port are
//! served by hyper (through the `xprotocol-http1` and `xprotocol-http2` crates), each request is
//! routed by [`route`] and forwarded by [`forward`] over pooled upstream connections
//! ([`pool`]); failures are answered with the HTTP status (or gRPC trailers) a client expects
//! ([`reply`]).

pub mod body;
pub mod forward;
pub mod grpc;
pub mod headers;
pub mod pool;
pub mod reply;
pub mod route;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Request, Response};
use hyper::body::Incoming;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::debug;
use xprotocol::relay::{BoxIo, Outcome, RequestRecord};
use xprotocol::Failure;

use crate::admin::{Metrics, MetricsScope};
use crate::clock;
use crate::config::HttpLimitsConfig;
use body::{BoxError, ProxyBody};
use route::HttpRouter;

/// The HTTP version a downstream connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Downstream {
    /// HTTP/1.1 (or 1.0).
    Http1,
    /// HTTP/2 with prior knowledge.
    Http2,
}

/// What every HTTP connection of a listener shares.
pub struct HttpShared {
    /// The listener's name, for metrics.
    pub listener: Arc<str>,
    /// The virtual hosts and routes.
    pub router: Arc<HttpRouter>,
    /// Largest request body forwarded (`None`: unlimited).
    pub max_body_bytes: Option<u64>,
    /// Largest gRPC message forwarded in a request (`None`: unlimited).
    pub max_grpc_message_bytes: Option<u64>,
    /// Downstream limits (header size and count, header read timeout, HTTP/2 streams).
    pub limits: HttpLimitsConfig,
    /// An HTTP/2 connection with no stream open for this long is closed (with GOAWAY).
    /// HTTP/1.1 idles out through hyper's header read timeout instead.
    pub idle_timeout: Duration,
    /// How long a draining connection keeps serving before requests in flight are answered
    /// with an error.
    pub drain_timeout: Duration,
    /// While draining, an HTTP/1.1 connection with nothing in flight closes once no request
    /// has come for this long (counted from the drain's start).
    pub drain_quiet: Duration,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

/// One downstream HTTP connection.
pub struct HttpConnection {
    /// The listener's shared state.
    pub shared: Arc<HttpShared>,
    /// The caller's address.
    pub peer: Option<SocketAddr>,
    /// The caller's HTTP version.
    pub downstream: Downstream,
    /// The caller's IP address as an `X-Forwarded-For` entry, rendered once.
    pub peer_value: Option<http::HeaderValue>,
    scope: MetricsScope,
    grpc_scope: MetricsScope,
    /// Requests in flight and when the last one began or ended.
    activity: Activity,
    /// The gateway's shutdown: once it fires, HTTP/1.1 responses carry `Connection: close`.
    shutdown: CancellationToken,
    /// Notified (and `abandoned` set) when the drain timeout passes: requests still in flight
    /// are answered with an error instead of being cut off. A `Notify` inside the connection
    /// costs no allocation of its own, unlike a token.
    abandon: Notify,
    abandoned: AtomicBool,
}

impl HttpConnection {
    /// Records one finished request under `http1`/`http2`, or `grpc` for gRPC requests.
    fn record(
        &self,
        grpc: bool,
        route: Option<&str>,
        cluster: Option<&str>,
        outcome: Outcome,
        start: Instant,
        tries: u32,
    ) {
        let scope = if grpc { &self.grpc_scope } else { &self.scope };
        scope.record(&RequestRecord {
            route,
            cluster,
            outcome,
            latency: start.elapsed(),
            tries,
            tag: 0,
        });
    }
}

/// What a connection's requests are doing, for its drain and the HTTP/2 idle timeout: two
/// atomics touched once as a request starts and once as its response head is ready.
#[derive(Default)]
struct Activity {
    in_flight: AtomicUsize,
    /// When the last request started or ended, on the [`clock`].
    last: AtomicU64,
}

impl Activity {
    /// No request yet; idle from now.
    fn new() -> Activity {
        let activity = Activity::default();
        activity.stamp();
        activity
    }

    fn stamp(&self) {
        self.last.store(clock::now_nanos(), Ordering::Relaxed);
    }

    /// Counts a request until the guard drops.
    fn begin(&self) -> ActiveGuard<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.stamp();
        ActiveGuard(self)
    }

    fn is_busy(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) > 0
    }

    /// When the last request started or ended.
    fn last(&self) -> Instant {
        clock::instant_at(self.last.load(Ordering::Relaxed))
    }
}

struct ActiveGuard<'a>(&'a Activity);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.stamp();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The hyper service of one downstream connection: every request goes to [`forward::handle`].
#[derive(Clone)]
struct GatewayService(Arc<HttpConnection>);

type ResponseFuture = Pin<Box<dyn Future<Output = Result<Response<ProxyBody>, BoxError>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for GatewayService {
    type Response = Response<ProxyBody>;
    type Error = BoxError;
    type Future = ResponseFuture;

    fn call(&self, request: Request<Incoming>) -> ResponseFuture {
        let conn = Arc::clone(&self.0);
        Box::pin(async move {
            let _active = conn.activity.begin();
            let grpc = xprotocol_grpc::is_grpc(request.headers());
            let start = Instant::now();
            // Created before the flag is read: a drain timeout after the read still reaches it.
            let abandon = conn.abandon.notified();
            let mut response = tokio::select! {
                biased;
                response = forward::handle(&conn, request),
                    if !conn.abandoned.load(Ordering::Acquire) => response?,
                () = abandon => {
                    let failure = Failure::Timeout;
                    conn.record(grpc, None, None, Outcome::Failed(failure), start, 0);
                    reply::failure(failure, "the gateway stopped waiting: drain timeout", grpc)
                }
            };
            // Draining: tell an HTTP/1.1 caller to take its next request elsewhere.
            if conn.downstream == Downstream::Http1
                && conn.shutdown.is_cancelled()
                && response.status() != http::StatusCode::SWITCHING_PROTOCOLS
            {
                let close = http::HeaderValue::from_static("close");
                response.headers_mut().insert(http::header::CONNECTION, close);
            }
            Ok(response)
        })
    }
}

/// Decides when a connection's server should shut down gracefully; returns at that moment.
///
/// Before the drain, an HTTP/2 connection with no stream for the idle timeout is shut down.
/// When the drain begins, HTTP/2 is shut down at once (GOAWAY; open streams finish), and so is
/// an HTTP/1.1 connection with a request in flight (its response carries `Connection: close`);
/// an idle HTTP/1.1 one waits until no request has come for `drain_quiet` since the drain
/// began, so that a request already on the wire is answered, not met by a close.
///
/// Its timers are boxed: this future lives inline in every HTTP connection's state for the
/// connection's whole life, and a `Sleep` is 112 bytes that most connections never need.
async fn until_shutdown(conn: &HttpConnection) {
    let shared = &conn.shared;
    if conn.downstream == Downstream::Http2 {
        let idle = shared.idle_timeout;
        loop {
            let deadline = conn.activity.last() + idle;
            tokio::select! {
                () = conn.shutdown.cancelled() => return,
                () = Box::pin(tokio::time::sleep_until(deadline.into())) => {
                    if !conn.activity.is_busy() && conn.activity.last() + idle <= Instant::now() {
                        debug!(peer = %display_peer(conn.peer), "idle HTTP/2 connection closed");
                        return;
                    }
                }
            }
        }
    }
    conn.shutdown.cancelled().await;
    let drain_start = Instant::now();
    loop {
        if conn.activity.is_busy() {
            return;
        }
        let quiet_at = conn.activity.last().max(drain_start) + shared.drain_quiet;
        if quiet_at <= Instant::now() {
            return;
        }
        Box::pin(tokio::time::sleep_until(quiet_at.into())).await;
    }
}

/// Answers the requests in flight with an error once the drain has lasted the drain timeout.
async fn abandon_after_drain_timeout(conn: &HttpConnection) {
    conn.shutdown.cancelled().await;
    Box::pin(tokio::time::sleep(conn.shared.drain_timeout)).await;
    conn.abandoned.store(true, Ordering::Release);
    conn.abandon.notify_waiters();
}

/// A peer address for logs: the address itself, or `-` when unknown.
fn display_peer(peer: Option<SocketAddr>) -> String {
    peer.map_or_else(|| "-".to_owned(), |p| p.to_string())
}

/// Serves one downstream connection detected as `protocol` (`http1` or `http2`) until it
/// closes or `shutdown` fires (then in-flight requests finish first).
pub async fn serve(
    protocol: &'static str,
    io: BoxIo,
    shared: Arc<HttpShared>,
    peer: Option<SocketAddr>,
    shutdown: CancellationToken,
) {
    let downstream = match protocol {
        "http1" => Downstream::Http1,
        "http2" => Downstream::Http2,
        other => {
            // A connection-owning protocol this gateway has no server for (an outside crate's):
            // close rather than guess.
            return tracing::warn!(
                protocol = other,
                peer = %display_peer(peer),
                "no server for this protocol; connection closed"
            );
        }
    };
    let metrics = Arc::clone(&shared.metrics);
    let limits = shared.limits;
    let conn = Arc::new(HttpConnection {
        scope: metrics.scope(&shared.listener, protocol),
        grpc_scope: metrics.scope(&shared.listener, "grpc"),
        shared,
        peer,
        peer_value: peer.and_then(|p| headers::peer_value(p.ip())),
        downstream,
        activity: Activity::new(),
        shutdown,
        abandon: Notify::new(),
        abandoned: AtomicBool::new(false),
    });
    let service = GatewayService(Arc::clone(&conn));
    // hyper shuts down gracefully when `until_shutdown` says so.
    let serving = async {
        match downstream {
            Downstream::Http1 => {
                let settings = xprotocol_http1::ServerSettings {
                    max_header_bytes: limits.max_header_bytes,
                    max_headers: limits.max_headers,
                    header_read_timeout: (!limits.header_read_timeout.is_zero())
                        .then_some(limits.header_read_timeout),
                    ..xprotocol_http1::ServerSettings::default()
                };
                xprotocol_http1::serve(io, service, &settings, until_shutdown(&conn))
                    .await
                    .map_err(|e| e.to_string())
            }
            Downstream::Http2 => {
                let settings = xprotocol_http2::ServerSettings {
                    max_concurrent_streams: Some(limits.max_concurrent_streams),
                    max_header_list_size: u32::try_from(limits.max_header_bytes)
                        .unwrap_or(u32::MAX),
                    ..xprotocol_http2::ServerSettings::default()
                };
                xprotocol_http2::serve(io, service, &settings, until_shutdown(&conn))
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    };
    tokio::pin!(serving);
    let served = tokio::select! {
        biased;
        served = &mut serving => served,
        () = abandon_after_drain_timeout(&conn) => serving.await,
    };
    if let Err(error) = served {
        debug!(protocol, peer = %display_peer(peer), %error, "HTTP connection ended with an error");
    }
}
