//! The TCP accept loop: one [`serve_connection`](super::serve_connection) task per connection.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn, Instrument};

use super::server::serve_halves;
use super::{EngineConfig, EngineError, Handler};
use crate::Protocol;

/// Pause after a failed accept (out of file descriptors, say) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// A TCP server: accepts connections and serves each with one task running
/// [`serve_connection`](super::serve_connection) and the shared handler.
///
/// Connections carry no limit on their number here; each is bounded by
/// [`EngineConfig::max_in_flight`] and the engine's buffers.
pub struct Server<P: Protocol, H> {
    protocol: &'static P,
    listener: TcpListener,
    local_addr: SocketAddr,
    handler: Arc<H>,
    config: EngineConfig,
    shutdown: CancellationToken,
}

impl<P: Protocol, H: Handler<P>> Server<P, H> {
    /// Binds a listener. Nothing is accepted until [`run`](Server::run) or
    /// [`spawn`](Server::spawn).
    ///
    /// # Errors
    /// The bind error.
    pub async fn bind(
        protocol: &'static P,
        addr: impl ToSocketAddrs,
        handler: H,
        config: EngineConfig,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        Ok(Server {
            protocol,
            listener,
            local_addr,
            handler: Arc::new(handler),
            config,
            shutdown: CancellationToken::new(),
        })
    }

    /// The address the listener is bound to (with the port the system chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A token that shuts the server down gracefully when cancelled (see
    /// [`run`](Server::run)); take it before `run` consumes the server.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Accepts and serves connections until the shutdown token is cancelled; then stops
    /// accepting, lets every connection drain (each bounded by
    /// [`EngineConfig::drain_timeout`]) and returns once all have closed. Accept errors are
    /// logged and retried after a short pause; a connection's failure ends only that
    /// connection.
    pub async fn run(self) {
        let Server { protocol, listener, handler, config, shutdown, .. } = self;
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(accepted) => accepted,
                        Err(e) => {
                            warn!(error = %e, "accept failed");
                            tokio::time::sleep(ACCEPT_BACKOFF).await;
                            continue;
                        }
                    };
                    if let Err(e) = stream.set_nodelay(true) {
                        debug!(%peer, error = %e, "cannot set TCP_NODELAY");
                    }
                    let (reader, writer) = stream.into_split();
                    let serve = serve_halves(
                        protocol,
                        reader,
                        writer,
                        Arc::clone(&handler),
                        config,
                        shutdown.child_token(),
                        false,
                    );
                    let name = protocol.name();
                    let span = tracing::debug_span!("connection", protocol = name, %peer);
                    connections.spawn(
                        async move {
                            match serve.await {
                                Ok(()) => {}
                                // The one warning for a bad frame (the engine logs it at debug).
                                Err(EngineError::Decode(e)) => warn!(
                                    protocol = name, %peer, error = %e,
                                    "bad frame; connection closed"
                                ),
                                Err(e @ EngineError::FrameTimeout(_)) => warn!(
                                    protocol = name, %peer, error = %e,
                                    "stalled frame; connection closed"
                                ),
                                Err(e) => debug!(error = %e, "connection ended with an error"),
                            }
                        }
                        .instrument(span),
                    );
                }
            }
        }
        drop(listener);
        while connections.join_next().await.is_some() {}
    }

    /// Runs the server on a task of its own.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn spawn(self) -> ServerHandle {
        let local_addr = self.local_addr;
        let shutdown = self.shutdown.clone();
        let task = tokio::spawn(self.run());
        ServerHandle { local_addr, shutdown, task }
    }
}

/// A running [`Server`]. Dropping the handle leaves the server running; use
/// [`shutdown`](ServerHandle::shutdown) to stop it.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Shuts the server down gracefully (see [`Server::run`]) and waits until every
    /// connection has closed: at most about [`EngineConfig::drain_timeout`] plus the final
    /// flush.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        if let Err(e) = self.task.await {
            warn!(error = %e, "server task failed");
        }
    }
}
