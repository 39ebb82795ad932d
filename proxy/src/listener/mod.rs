//! Listeners: accept connections, sniff each one's first bytes, and hand it to its protocol's
//! relay (or to a plain TCP fallback cluster, or close it when nothing recognises it).
//!
//! Two budgets bound a listener's connections. A connection still being sniffed holds a place
//! in the sniff budget (`listeners[].sniff.max_pending`); when that is full, a new connection
//! evicts the oldest one still being sniffed (see [`budget`] for why evict rather than
//! refuse). Only once its protocol is recognised does a connection take one of the
//! `limits.max_connections` permits; if none is left it is closed and counted. So silent
//! connections, however many, can neither hold `max_connections` permits nor keep a new
//! connection from being sniffed.

mod bind;
pub mod budget;
mod prefixed;
mod sniff;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use xprotocol::engine::{EngineConfig, EngineError};
use xprotocol::relay::RelayPolicy;
use xprotocol::ProtocolSet;

pub use bind::{bind, DEFAULT_BACKLOG};
pub use prefixed::PrefixedIo;
pub use sniff::{hex_prefix, sniff, Sniffed};

use self::budget::{Admission, EvictingBudget, Ticket};
use crate::admin::{Metrics, Refusal};
use crate::config::SniffConfig;
use crate::log_throttle::{LogThrottle, DEFAULT_PERIOD};
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
    /// Recognised connections served at once; one recognised beyond that is closed.
    pub max_connections: usize,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

// The listener's noisy WARN lines, each at most once per second (with the number held back):
// a flood of bad connections must not become a flood of log lines.
static EVICTED_LOG: LogThrottle = LogThrottle::new(DEFAULT_PERIOD);
static REFUSED_LOG: LogThrottle = LogThrottle::new(DEFAULT_PERIOD);
static UNRECOGNISED_LOG: LogThrottle = LogThrottle::new(DEFAULT_PERIOD);
static BAD_FRAME_LOG: LogThrottle = LogThrottle::new(DEFAULT_PERIOD);
static STALLED_FRAME_LOG: LogThrottle = LogThrottle::new(DEFAULT_PERIOD);
static ACCEPT_FAILED_LOG: LogThrottle = LogThrottle::new(DEFAULT_PERIOD);
static FALLBACK_LOG: LogThrottle = LogThrottle::new(DEFAULT_PERIOD);

/// Accepts on `listener` until `shutdown` fires, then waits for connections to drain (each
/// drains on its own within the drain timeout; stragglers are aborted a second later).
pub async fn run(listener: TcpListener, ctx: Arc<ListenerContext>, shutdown: CancellationToken) {
    let permits = Arc::new(Semaphore::new(ctx.max_connections.max(1)));
    let sniffing = EvictingBudget::new(ctx.sniff.pending_budget(ctx.max_connections));
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
                        if let Some(suppressed) = ACCEPT_FAILED_LOG.allow() {
                            warn!(listener = %ctx.name, error = %e, suppressed, "accept failed");
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                admit(stream, peer, &sniffing, &permits, &ctx, &shutdown, &mut connections);
            }
        }
    }
    // Connections the kernel completed before the drain began are accepted and served (in
    // drain mode) rather than reset with the socket; then the socket closes, so that new
    // connections are refused at once instead of waiting in a backlog nobody accepts from.
    while let Some(Ok((stream, peer))) = listener.accept().now_or_never() {
        admit(stream, peer, &sniffing, &permits, &ctx, &shutdown, &mut connections);
    }
    drop(listener);
    info!(listener = %ctx.name, open = connections.len(), "listener stopped accepting; draining");
    let grace = ctx.engine.drain_timeout + Duration::from_secs(1);
    let drained =
        tokio::time::timeout(grace, async { while connections.join_next().await.is_some() {} });
    if drained.await.is_err() {
        warn!(listener = %ctx.name, open = connections.len(), "drain timeout; closing the rest");
        connections.abort_all();
    }
}

/// Takes an accepted connection into the sniff budget (evicting the oldest one still sniffing
/// when it is full) and starts serving it.
fn admit(
    stream: TcpStream,
    peer: SocketAddr,
    sniffing: &Arc<EvictingBudget<SocketAddr>>,
    permits: &Arc<Semaphore>,
    ctx: &Arc<ListenerContext>,
    shutdown: &CancellationToken,
    connections: &mut JoinSet<()>,
) {
    // Sniffing members are never marked busy, so admission always succeeds.
    let Admission::Admitted { ticket, evicted } = sniffing.admit(peer) else {
        return;
    };
    if let Some(evicted) = evicted {
        ctx.metrics.connection_refused(&ctx.name, Refusal::SniffEvicted);
        if let Some(suppressed) = EVICTED_LOG.allow() {
            warn!(
                listener = %ctx.name, peer = %evicted, suppressed,
                "connection closed before its protocol was recognised: sniff budget \
                 full, oldest pending connection evicted for a new one"
            );
        }
    }
    let ctx = Arc::clone(ctx);
    let permits = Arc::clone(permits);
    connections.spawn(serve(stream, peer, ticket, permits, ctx, shutdown.clone()));
}

/// Serves one accepted connection from sniffing to close. `sniffing` is its place in the sniff
/// budget, given up once sniffing ends; a recognised connection then takes one of `permits`.
async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    sniffing: Ticket<SocketAddr>,
    permits: Arc<Semaphore>,
    ctx: Arc<ListenerContext>,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let sniffed = {
        let _gauge = ctx.metrics.sniffing_started(&ctx.name);
        // Boxed: the sniffing state (its buffer and timeout) would otherwise be part of every
        // connection's task for the connection's whole life; boxed it is freed once sniffed.
        let sniffing_io =
            Box::pin(sniff(&mut stream, &ctx.protocols, ctx.sniff.max_bytes, ctx.sniff.timeout));
        tokio::select! {
            sniffed = sniffing_io => sniffed,
            // Counted and logged where it was evicted, in the accept loop.
            () = sniffing.evicted() => return,
        }
    };
    drop(sniffing);
    let (protocol, prefix) = match sniffed {
        Ok(Sniffed::Protocol(p, prefix)) => (p, prefix),
        Ok(Sniffed::Unrecognized(reason, prefix)) => {
            ctx.metrics.sniff_failed(&ctx.name, reason);
            match &ctx.fallback {
                Some(cluster) => {
                    let Some(_permit) = connection_permit(&permits, &ctx, peer, "tcp") else {
                        return;
                    };
                    Box::pin(tcp_fallback(stream, prefix, cluster, &ctx.name, peer)).await;
                }
                None => {
                    if let Some(suppressed) = UNRECOGNISED_LOG.allow() {
                        warn!(
                            listener = %ctx.name, %peer, reason = reason.label(),
                            first_bytes = %hex_prefix(&prefix), suppressed,
                            "unrecognised connection closed"
                        );
                    }
                }
            }
            return;
        }
        Err(e) => {
            return debug!(listener = %ctx.name, %peer, error = %e, "read failed while sniffing")
        }
    };
    let Some(_permit) = connection_permit(&permits, &ctx, peer, protocol.name()) else {
        return;
    };
    if protocol.owns_connection() {
        let _open = ctx.metrics.connection_opened(&ctx.name, protocol.name());
        let io = Box::new(PrefixedIo::new(prefix, stream));
        let http = Arc::clone(&ctx.http);
        // Boxed: hyper's connection state is large, and inline it would grow every
        // connection's task, RPC ones included, to its size.
        return Box::pin(crate::http::serve(protocol.name(), io, http, Some(peer), shutdown)).await;
    }
    let Some(policy) = ctx.policies.get(protocol.name()) else {
        return warn!(
            listener = %ctx.name, %peer, protocol = protocol.name(),
            "no relay policy for the recognised protocol; connection closed"
        );
    };
    let _open = ctx.metrics.connection_opened(&ctx.name, protocol.name());
    let io = Box::new(PrefixedIo::new(prefix, stream));
    let served = protocol.serve_relay(io, Arc::clone(policy), ctx.engine, shutdown).await;
    match served {
        Ok(()) => {}
        Err(EngineError::Decode(e)) => {
            ctx.metrics.decode_error(&ctx.name, protocol.name());
            if let Some(suppressed) = BAD_FRAME_LOG.allow() {
                warn!(
                    listener = %ctx.name, %peer, protocol = protocol.name(), error = %e,
                    suppressed, "bad frame; connection closed"
                );
            }
        }
        Err(e @ EngineError::FrameTimeout(_)) => {
            if let Some(suppressed) = STALLED_FRAME_LOG.allow() {
                warn!(
                    listener = %ctx.name, %peer, protocol = protocol.name(), error = %e,
                    suppressed, "stalled frame; connection closed"
                );
            }
        }
        Err(e) => debug!(
            listener = %ctx.name, %peer, protocol = protocol.name(), error = %e,
            "connection ended with an error"
        ),
    }
}

/// One of the listener's `max_connections` permits for a recognised connection, or `None`
/// (counted and logged) when all are taken.
fn connection_permit(
    permits: &Arc<Semaphore>,
    ctx: &ListenerContext,
    peer: SocketAddr,
    protocol: &str,
) -> Option<tokio::sync::OwnedSemaphorePermit> {
    let permit = Arc::clone(permits).try_acquire_owned().ok();
    if permit.is_none() {
        ctx.metrics.connection_refused(&ctx.name, Refusal::MaxConnections);
        if let Some(suppressed) = REFUSED_LOG.allow() {
            warn!(
                listener = %ctx.name, %peer, protocol, suppressed,
                "connection refused: max_connections reached"
            );
        }
    }
    permit
}

/// Proxies an unrecognised connection as plain TCP to an endpoint of `cluster`.
async fn tcp_fallback(
    mut downstream: TcpStream,
    prefix: bytes::BytesMut,
    cluster: &Cluster,
    listener: &str,
    peer: SocketAddr,
) {
    use tokio::io::AsyncWriteExt;
    let Some(endpoint) = cluster.pick(cluster.all()) else {
        if let Some(suppressed) = FALLBACK_LOG.allow() {
            warn!(
                listener, %peer, cluster = cluster.name(), suppressed,
                "fallback cluster has no healthy endpoint; connection closed"
            );
        }
        return;
    };
    let connect = TcpStream::connect(endpoint.address());
    let connected = match tokio::time::timeout(cluster.config().connect_timeout, connect).await {
        Ok(Ok(upstream)) => Ok(upstream),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("connect timed out".to_owned()),
    };
    let mut upstream = match connected {
        Ok(upstream) => upstream,
        Err(error) => {
            if let Some(suppressed) = FALLBACK_LOG.allow() {
                warn!(
                    listener, %peer, cluster = cluster.name(), endpoint = %endpoint.address(),
                    %error, suppressed, "fallback connect failed; connection closed"
                );
            }
            return;
        }
    };
    let _active = endpoint.track();
    if upstream.write_all(&prefix).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut downstream, &mut upstream).await;
}
