//! Upstream HTTP connections, pooled per endpoint: HTTP/1.1 connections carry one request at
//! a time and return to an idle list when their response has been read to the end; one
//! HTTP/2 connection per endpoint carries every request as a stream and is replaced when it
//! closes. Each connection holds a circuit-breaker connection permit and the cluster's
//! upstream-connection gauge for as long as it lives.

use std::any::Any;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use tokio::net::TcpStream;
use tracing::debug;

use super::body::ProxyBody;
use crate::admin::Metrics;
use crate::upstream::{Cluster, Endpoint};

/// The HTTP version spoken to an upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UpstreamVersion {
    /// HTTP/1.1, one request per connection at a time.
    Http1,
    /// HTTP/2 with prior knowledge (h2c), many streams per connection.
    Http2,
}

/// Why no upstream connection could be had.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// TCP connect failed or timed out, or the HTTP handshake failed.
    #[error("connecting to {address} failed: {reason}")]
    Failed {
        /// The endpoint.
        address: std::net::SocketAddr,
        /// What went wrong.
        reason: String,
    },
    /// The cluster's connection limit is reached.
    #[error("cluster connection limit reached")]
    Overloaded,
}

/// A connection ready for one request.
pub enum Sender {
    /// An HTTP/1.1 connection, owned by this request until its response ends.
    Http1(http1::SendRequest<ProxyBody>),
    /// A handle on the endpoint's HTTP/2 connection, and which connection it is.
    Http2(http2::SendRequest<ProxyBody>, u64),
}

impl Sender {
    /// Sends `request` and waits for the response head.
    pub async fn send(
        &mut self,
        request: http::Request<ProxyBody>,
    ) -> Result<http::Response<Incoming>, hyper::Error> {
        match self {
            Sender::Http1(s) => {
                s.ready().await?;
                s.send_request(request).await
            }
            Sender::Http2(s, _) => {
                s.ready().await?;
                s.send_request(request).await
            }
        }
    }
}

/// One HTTP/2 connection of an endpoint (none until first used), with its generation.
type H2Slot = tokio::sync::Mutex<Option<(u64, http2::SendRequest<ProxyBody>)>>;

/// The HTTP connections kept for one endpoint.
pub struct EndpointPool {
    idle: Mutex<Vec<http1::SendRequest<ProxyBody>>>,
    /// `connections_per_endpoint` HTTP/2 connection slots, used in turn.
    h2: Box<[H2Slot]>,
    next_h2: AtomicUsize,
    /// Numbers the HTTP/2 connections, so a request that saw one go away retires that one
    /// only, not the replacement another request already made.
    generation: AtomicU64,
    max_idle: usize,
}

impl EndpointPool {
    /// The pool of `endpoint`, created on first use: `max_idle` idle HTTP/1.1 connections at
    /// most, and `h2_connections` HTTP/2 connections that share the streams in turn (one
    /// connection carries every stream, up to the server's concurrency limit; more spread
    /// them, as a busy gRPC endpoint needs).
    pub fn of(endpoint: &Endpoint, max_idle: usize, h2_connections: usize) -> Arc<EndpointPool> {
        let make = |max_idle| EndpointPool {
            idle: Mutex::new(Vec::new()),
            h2: (0..h2_connections.max(1)).map(|_| tokio::sync::Mutex::new(None)).collect(),
            next_h2: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            max_idle,
        };
        let any: Arc<dyn Any + Send + Sync> =
            endpoint.pool("http", &mut || Arc::new(make(max_idle)));
        match any.downcast::<EndpointPool>() {
            Ok(pool) => pool,
            // Only this module stores under "http"; a mismatch would be a bug. Serve unpooled.
            Err(_) => Arc::new(make(0)),
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<http1::SendRequest<ProxyBody>>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A connection for one request: an idle HTTP/1.1 connection or a new one, or a handle
    /// on the HTTP/2 connection (connected first if there is none).
    pub async fn acquire(
        &self,
        version: UpstreamVersion,
        endpoint: &Endpoint,
        cluster: &Cluster,
        metrics: &Metrics,
    ) -> Result<Sender, ConnectError> {
        match version {
            UpstreamVersion::Http1 => {
                loop {
                    let Some(sender) = self.idle().pop() else { break };
                    // A connection released a moment ago may not be ready yet: `send` waits.
                    if !sender.is_closed() {
                        return Ok(Sender::Http1(sender));
                    }
                }
                Ok(Sender::Http1(connect_http1(endpoint, cluster, metrics).await?))
            }
            UpstreamVersion::Http2 => {
                let turn = self.next_h2.fetch_add(1, Ordering::Relaxed) % self.h2.len();
                let Some(slot) = self.h2.get(turn) else {
                    return Err(ConnectError::Overloaded);
                };
                let mut shared = slot.lock().await;
                if let Some((generation, sender)) = shared.as_ref().filter(|(_, s)| !s.is_closed())
                {
                    return Ok(Sender::Http2(sender.clone(), *generation));
                }
                let io = connect(endpoint, cluster, metrics).await?;
                let settings = xprotocol_http2::client::ClientSettings::default();
                let (sender, conn) = xprotocol_http2::client::handshake(io.stream, &settings)
                    .await
                    .map_err(|e| failed(endpoint, e))?;
                tokio::spawn(hold_until_closed(conn, io.hold));
                let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
                *shared = Some((generation, sender.clone()));
                Ok(Sender::Http2(sender, generation))
            }
        }
    }

    /// Stops handing out HTTP/2 connection `generation` (it is going away: the server sent
    /// GOAWAY); the next request connects anew while streams already on it finish.
    pub async fn retire_h2(&self, generation: u64) {
        for slot in &*self.h2 {
            let mut shared = slot.lock().await;
            if shared.as_ref().is_some_and(|(g, _)| *g == generation) {
                *shared = None;
            }
        }
    }

    /// Returns an HTTP/1.1 connection whose response was read to the end, if it can take
    /// another request and the idle list has room; otherwise it is closed.
    pub fn release(&self, sender: http1::SendRequest<ProxyBody>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle();
        if idle.len() < self.max_idle {
            idle.push(sender);
        }
    }

    /// A dedicated HTTP/1.1 connection for an upgrade (WebSocket): never pooled, since after
    /// the `101` it is a raw byte stream.
    pub async fn connect_for_upgrade(
        endpoint: &Endpoint,
        cluster: &Cluster,
        metrics: &Metrics,
    ) -> Result<http1::SendRequest<ProxyBody>, ConnectError> {
        connect_http1(endpoint, cluster, metrics).await
    }
}

/// A new HTTP/1.1 connection (its driver also serves upgrades).
async fn connect_http1(
    endpoint: &Endpoint,
    cluster: &Cluster,
    metrics: &Metrics,
) -> Result<http1::SendRequest<ProxyBody>, ConnectError> {
    let io = connect(endpoint, cluster, metrics).await?;
    let settings = xprotocol_http1::client::ClientSettings::default();
    let (sender, conn) = xprotocol_http1::client::handshake(io.stream, &settings)
        .await
        .map_err(|e| failed(endpoint, e))?;
    tokio::spawn(hold_until_closed(conn, io.hold));
    Ok(sender)
}

/// Waits for an upstream connection's driver to end, holding its permit and gauge until then.
async fn hold_until_closed(
    conn: tokio::task::JoinHandle<Result<(), hyper::Error>>,
    hold: ConnectionHold,
) {
    match conn.await {
        Ok(Err(e)) if !xprotocol_http1::is_benign_hyper_error(&e) => {
            debug!(error = %e, "upstream HTTP connection ended with an error");
        }
        _ => {}
    }
    drop(hold);
}

/// What an open upstream connection holds: the cluster's connection permit and the gauge.
struct ConnectionHold {
    _permit: crate::upstream::circuit::ConnectionPermit,
    _gauge: crate::admin::metrics::ConnectionGuard,
}

struct Connected {
    stream: TcpStream,
    hold: ConnectionHold,
}

async fn connect(
    endpoint: &Endpoint,
    cluster: &Cluster,
    metrics: &Metrics,
) -> Result<Connected, ConnectError> {
    let permit =
        cluster.circuit_breaker().try_acquire_connection().ok_or(ConnectError::Overloaded)?;
    let timeout = cluster.config().connect_timeout;
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(endpoint.address())).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(failed(endpoint, e)),
        Err(_) => return Err(failed(endpoint, format!("no connection within {timeout:?}"))),
    };
    let _ = stream.set_nodelay(true);
    let gauge = metrics.upstream_connection_opened(cluster.name());
    Ok(Connected { stream, hold: ConnectionHold { _permit: permit, _gauge: gauge } })
}

fn failed(endpoint: &Endpoint, reason: impl std::fmt::Display) -> ConnectError {
    ConnectError::Failed { address: endpoint.address(), reason: reason.to_string() }
}
