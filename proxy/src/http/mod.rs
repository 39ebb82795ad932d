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
use std::sync::Arc;
use std::time::Instant;

use http::{Request, Response};
use hyper::body::Incoming;
use tokio_util::sync::CancellationToken;
use tracing::debug;
use xprotocol::relay::{BoxIo, Outcome, RequestRecord};

use crate::admin::{Metrics, MetricsScope};
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
        Box::pin(async move { forward::handle(&conn, request).await })
    }
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
                ?peer,
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
    });
    let service = GatewayService(conn);
    let served = match downstream {
        Downstream::Http1 => {
            let settings = xprotocol_http1::ServerSettings {
                max_header_bytes: limits.max_header_bytes,
                max_headers: limits.max_headers,
                header_read_timeout: (!limits.header_read_timeout.is_zero())
                    .then_some(limits.header_read_timeout),
                ..xprotocol_http1::ServerSettings::default()
            };
            xprotocol_http1::serve(io, service, &settings, shutdown)
                .await
                .map_err(|e| e.to_string())
        }
        Downstream::Http2 => {
            let settings = xprotocol_http2::ServerSettings {
                max_concurrent_streams: Some(limits.max_concurrent_streams),
                max_header_list_size: u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX),
                ..xprotocol_http2::ServerSettings::default()
            };
            xprotocol_http2::serve(io, service, &settings, shutdown)
                .await
                .map_err(|e| e.to_string())
        }
    };
    if let Err(error) = served {
        debug!(protocol, ?peer, %error, "HTTP connection ended with an error");
    }
}
