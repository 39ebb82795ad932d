//! Listeners: accept connections, sniff each one's first bytes, and hand it to its protocol's
//! relay (or to a plain TCP fallback cluster, or close it when nothing recognises it).

pub mod budget;
mod prefixed;
mod sniff;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use xprotocol::engine::{EngineConfig, EngineError};
use xprotocol::relay::RelayPolicy;
use xprotocol::ProtocolSet;

pub use prefixed::PrefixedIo;
pub use sniff::{hex_prefix, sniff, Sniffed};

use crate::admin::Metrics;
use crate::config::SniffConfig;
use crate::upstream::Cluster;

/// Everything a listener's connections share.
pub struct ListenerContext {
    /// The listener's name, for metrics and logs.
    pub name: Arc<str>,
    /// The protocols it accepts.
    pub protocols: ProtocolSet,
    /// Sniffing bounds.
    pub sniff: SniffConfig,
    /// The relay policy of each accepted protocol, by name.
    pub policies: HashMap<&'static str, Arc<dyn RelayPolicy>>,
    /// Downstream connection settings (limits, idle timeout, drain timeout, in-flight cap).
    pub engine: EngineConfig,
    /// The HTTP side (routes, limits) for connections detected as HTTP/1.1 or HTTP/2.
    pub http: Arc<crate::http::HttpShared>,
    /// Where unrecognised connections go as plain TCP, if anywhere.
    pub fallback: Option<Arc<Cluster>>,
    /// Connections served at once; more are closed on accept.
    pub max_connections: usize,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

/// Accepts on `listener` until `shutdown` fires, then waits for connections to drain (each
/// drains on its own within the drain timeout; stragglers are aborted a second later).
pub async fn run(listener: TcpListener, ctx: Arc<ListenerContext>, shutdown: CancellationToken) {
    let permits = Arc::new(Semaphore::new(ctx.max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        warn!(listener = %ctx.name, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                    warn!(listener = %ctx.name, %peer, "connection refused: max_connections reached");
                    continue;
                };
                let ctx = Arc::clone(&ctx);
                let shutdown = shutdown.clone();
                connections.spawn(async move {
                    serve(stream, &ctx, shutdown).await;
                    drop(permit);
                });
            }
        }
    }
    info!(listener = %ctx.name, open = connections.len(), "listener stopped accepting; draining");
    let grace = ctx.engine.drain_timeout + Duration::from_secs(1);
    let drained =
        tokio::time::timeout(grace, async { while connections.join_next().await.is_some() {} });
    if drained.await.is_err() {
        warn!(listener = %ctx.name, open = connections.len(), "drain timeout; closing the rest");
        connections.abort_all();
    }
}

/// Serves one accepted connection from sniffing to close.
async fn serve(mut stream: TcpStream, ctx: &ListenerContext, shutdown: CancellationToken) {
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().ok();
    // Boxed: the sniffing state (its buffer and timeout) would otherwise be part of every
    // connection's task for the connection's whole life; boxed it is freed once sniffed.
    let sniffing = sniff(&mut stream, &ctx.protocols, ctx.sniff.max_bytes, ctx.sniff.timeout);
    let sniffed = Box::pin(sniffing).await;
    let (protocol, prefix) = match sniffed {
        Ok(Sniffed::Protocol(p, prefix)) => (p, prefix),
        Ok(Sniffed::Unrecognized(reason, prefix)) => {
            ctx.metrics.sniff_failed(&ctx.name, reason);
            match &ctx.fallback {
                Some(cluster) => Box::pin(tcp_fallback(stream, prefix, cluster)).await,
                None => warn!(
                    listener = %ctx.name, ?peer, ?reason, first_bytes = %hex_prefix(&prefix),
                    "unrecognised connection closed"
                ),
            }
            return;
        }
        Err(e) => {
            return debug!(listener = %ctx.name, ?peer, error = %e, "read failed while sniffing")
        }
    };
    if protocol.owns_connection() {
        let _open = ctx.metrics.connection_opened(&ctx.name, protocol.name());
        let io = Box::new(PrefixedIo::new(prefix, stream));
        let http = Arc::clone(&ctx.http);
        // Boxed: hyper's connection state is large, and inline it would grow every
        // connection's task, RPC ones included, to its size.
        return Box::pin(crate::http::serve(protocol.name(), io, http, peer, shutdown)).await;
    }
    let Some(policy) = ctx.policies.get(protocol.name()) else {
        return warn!(listener = %ctx.name, protocol = protocol.name(), "no policy for protocol");
    };
    let _open = ctx.metrics.connection_opened(&ctx.name, protocol.name());
    let io = Box::new(PrefixedIo::new(prefix, stream));
    let served = protocol.serve_relay(io, Arc::clone(policy), ctx.engine, shutdown).await;
    match served {
        Ok(()) => {}
        Err(EngineError::Decode(e)) => {
            ctx.metrics.decode_error(&ctx.name, protocol.name());
            warn!(listener = %ctx.name, ?peer, protocol = protocol.name(), error = %e, "bad frame; connection closed");
        }
        Err(e) => debug!(listener = %ctx.name, ?peer, error = %e, "connection ended with an error"),
    }
}

/// Proxies an unrecognised connection as plain TCP to an endpoint of `cluster`.
async fn tcp_fallback(mut downstream: TcpStream, prefix: bytes::BytesMut, cluster: &Cluster) {
    use tokio::io::AsyncWriteExt;
    let Some(endpoint) = cluster.pick(cluster.all()) else {
        return warn!(cluster = cluster.name(), "fallback cluster has no healthy endpoint");
    };
    let connect = TcpStream::connect(endpoint.address());
    let mut upstream = match tokio::time::timeout(cluster.config().connect_timeout, connect).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return warn!(cluster = cluster.name(), error = %e, "fallback connect failed"),
        Err(_) => return warn!(cluster = cluster.name(), "fallback connect timed out"),
    };
    let _active = endpoint.track();
    if upstream.write_all(&prefix).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut downstream, &mut upstream).await;
}
