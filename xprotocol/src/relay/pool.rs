//! Pooled upstream connections to one endpoint, for one protocol.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use std::sync::Arc;

use tokio::sync::{Mutex, OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

use super::Upstream;
use crate::engine::{CallError, Client, EngineConfig};
use crate::{Failure, Limits, PoolMode, Protocol};

/// How the relay connects to and keeps connections to an upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSettings {
    /// Time allowed for a TCP connect.
    pub connect_timeout: Duration,
    /// Connections kept per endpoint for multiplexed protocols (requests are spread over them).
    pub connections: usize,
    /// Connections kept per endpoint for ping-pong protocols (one request at a time each).
    pub max_ping_pong_connections: usize,
    /// Ping-pong connections kept open while idle; one that becomes idle beyond this many is
    /// closed.
    pub max_idle: usize,
    /// Idle time before a heartbeat; `None` turns heartbeats off.
    pub heartbeat_interval: Option<Duration>,
    /// Unanswered heartbeats after which a connection is closed.
    pub max_missed_heartbeats: u32,
    /// Limits on frames read from upstream.
    pub limits: Limits,
    /// Requests in flight per upstream connection.
    pub max_in_flight: usize,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            connect_timeout: Duration::from_secs(1),
            connections: 1,
            max_ping_pong_connections: 16,
            max_idle: 16,
            heartbeat_interval: Some(Duration::from_secs(15)),
            max_missed_heartbeats: 3,
            limits: Limits::DEFAULT,
            max_in_flight: 10_000,
        }
    }
}

/// The connections of one endpoint for protocol `P`. Multiplexed protocols spread requests
/// round-robin over a few long-lived connections; ping-pong protocols use each connection for
/// one request at a time. Closed connections are replaced on next use.
pub struct UpstreamPool<P: Protocol> {
    protocol: &'static P,
    address: SocketAddr,
    settings: PoolSettings,
    slots: Vec<Arc<Mutex<Option<Client<P>>>>>,
    next: AtomicUsize,
    /// Ping-pong only: one permit per connection, so a request waits for a free one.
    free: Arc<Semaphore>,
    /// Ping-pong only: open connections not lent out.
    idle: Arc<AtomicUsize>,
}

/// A connection lent for one request. Multiplexed connections are shared: the lease is just
/// a handle. A ping-pong connection is the lease holder's alone until the lease drops.
pub struct Lease<P: Protocol> {
    client: Client<P>,
    exclusive: Option<Exclusive<P>>,
}

/// What a ping-pong lease holds: its permit, its slot, and the pool's idle accounting.
struct Exclusive<P: Protocol> {
    _permit: OwnedSemaphorePermit,
    slot: OwnedMutexGuard<Option<Client<P>>>,
    idle: Arc<AtomicUsize>,
    max_idle: usize,
}

impl<P: Protocol> Drop for Lease<P> {
    fn drop(&mut self) {
        let Some(exclusive) = self.exclusive.as_mut() else { return };
        // Invariant: a slot not lent out holds a client only if it is counted idle.
        let Some(client) = exclusive.slot.as_ref().filter(|c| c.is_open()) else {
            *exclusive.slot = None;
            return;
        };
        // The connection becomes idle: keep it, unless enough are idle already.
        let idle = exclusive.idle.fetch_add(1, Ordering::Relaxed);
        if idle >= exclusive.max_idle {
            exclusive.idle.fetch_sub(1, Ordering::Relaxed);
            let client = client.clone();
            *exclusive.slot = None;
            tokio::spawn(async move { client.close().await });
        }
    }
}

impl<P: Protocol> std::ops::Deref for Lease<P> {
    type Target = Client<P>;

    fn deref(&self) -> &Client<P> {
        &self.client
    }
}

/// Why no connection could be had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectError {
    /// The connect failed or timed out.
    Failed(String),
    /// The pool is shutting down.
    Busy,
    /// The upstream refused a new connection (its connection limit).
    Refused(Failure),
}

impl<P: Protocol> UpstreamPool<P> {
    /// An empty pool; connections are made on first use.
    pub fn new(protocol: &'static P, address: SocketAddr, settings: PoolSettings) -> Self {
        let size = match protocol.pool_mode() {
            PoolMode::Multiplexed => settings.connections,
            PoolMode::PingPong => settings.max_ping_pong_connections,
        };
        let size = size.max(1);
        let slots = (0..size).map(|_| Arc::new(Mutex::new(None))).collect();
        let free = Arc::new(Semaphore::new(size));
        let idle = Arc::new(AtomicUsize::new(0));
        UpstreamPool { protocol, address, settings, slots, next: AtomicUsize::new(0), free, idle }
    }

    /// A connection to send one request on, connecting if the chosen slot has none (or a
    /// closed one). Multiplexed: the next slot in turn. Ping-pong: waits (bounded by the
    /// caller's deadline) until a connection is free, then holds it for the lease's lifetime.
    ///
    /// # Errors
    /// [`ConnectError::Failed`] when connecting fails or times out;
    /// [`ConnectError::Refused`] when the upstream refuses another connection.
    pub async fn get(&self, upstream: &dyn Upstream) -> Result<Lease<P>, ConnectError> {
        let n = self.slots.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        if self.protocol.pool_mode() == PoolMode::Multiplexed {
            let mut slot = self.slots[start % n].lock().await;
            let client = self.open_in(&mut slot, upstream).await?;
            return Ok(Lease { client, exclusive: None });
        }
        let permit =
            Arc::clone(&self.free).acquire_owned().await.map_err(|_| ConnectError::Busy)?;
        // Each lease holds one permit and one slot, so with a permit some slot is unlocked.
        for i in 0..n {
            let Ok(mut slot) = Arc::clone(&self.slots[(start + i) % n]).try_lock_owned() else {
                continue;
            };
            if slot.is_some() {
                self.idle.fetch_sub(1, Ordering::Relaxed);
            }
            let client = self.open_in(&mut slot, upstream).await?;
            let (idle, max_idle) = (Arc::clone(&self.idle), self.settings.max_idle);
            let exclusive = Exclusive { _permit: permit, slot, idle, max_idle };
            return Ok(Lease { client, exclusive: Some(exclusive) });
        }
        Err(ConnectError::Busy)
    }

    /// The open connection in `slot`, connecting a new one if it has none.
    async fn open_in(
        &self,
        slot: &mut Option<Client<P>>,
        upstream: &dyn Upstream,
    ) -> Result<Client<P>, ConnectError> {
        match slot {
            Some(client) if client.is_open() => Ok(client.clone()),
            _ => {
                let client = self.connect(upstream).await?;
                *slot = Some(client.clone());
                Ok(client)
            }
        }
    }

    async fn connect(&self, upstream: &dyn Upstream) -> Result<Client<P>, ConnectError> {
        let admitted = upstream.admit_connection().map_err(ConnectError::Refused)?;
        let config = EngineConfig {
            limits: self.settings.limits,
            heartbeat_interval: self.settings.heartbeat_interval,
            max_missed_heartbeats: self.settings.max_missed_heartbeats,
            max_in_flight: match self.protocol.pool_mode() {
                PoolMode::Multiplexed => self.settings.max_in_flight,
                PoolMode::PingPong => 1,
            },
            ..EngineConfig::default()
        };
        let connect = Client::connect(self.protocol, self.address, config);
        match tokio::time::timeout(self.settings.connect_timeout, connect).await {
            Ok(Ok(client)) => {
                // Hold the admission (permit, gauge) exactly as long as the connection lives.
                let watched = client.clone();
                tokio::spawn(async move {
                    watched.closed().await;
                    drop(admitted);
                });
                Ok(client)
            }
            Ok(Err(e)) => Err(ConnectError::Failed(format!("connect to {}: {e}", self.address))),
            Err(_) => Err(ConnectError::Failed(format!("connect to {} timed out", self.address))),
        }
    }

    /// Connections currently open.
    pub fn open_connections(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| {
                s.try_lock().map(|c| c.as_ref().is_some_and(Client::is_open)).unwrap_or(true)
            })
            .count()
    }
}

/// The failure class a failed upstream call gives the caller.
pub(crate) fn failure_of(error: &CallError) -> Failure {
    match error {
        CallError::Timeout => Failure::Timeout,
        CallError::Overloaded => Failure::Overloaded,
        CallError::Closed | CallError::Draining | CallError::Io { .. } => Failure::UpstreamReset,
        _ => Failure::Internal,
    }
}
