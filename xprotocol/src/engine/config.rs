//! Timeouts and limits of the stream engine.

use std::time::Duration;

use crate::Limits;

/// How a client or server connection of the [engine](crate::engine) behaves. Every field has a
/// documented default ([`EngineConfig::default`]); build one with struct-update syntax:
///
/// ```
/// use std::time::Duration;
/// use xprotocol::engine::EngineConfig;
///
/// let config =
///     EngineConfig { request_timeout: Duration::from_secs(3), ..EngineConfig::default() };
/// assert_eq!(config.max_missed_heartbeats, 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// Limits handed to the connection's codec: a frame declaring more is a decode error,
    /// which closes the connection. Default: [`Limits::DEFAULT`].
    pub limits: Limits,
    /// How long [`Client::call`](crate::engine::Client::call) waits for a reply, counted from
    /// the call (queueing included). Default 10 s.
    pub request_timeout: Duration,
    /// Client side: after this long without reading anything, send the protocol's heartbeat
    /// request. `None` turns heartbeats off, as does a protocol without heartbeats.
    /// Default 15 s.
    pub heartbeat_interval: Option<Duration>,
    /// Client side: the connection is closed, failing every in-flight call with
    /// [`CallError::Closed`](crate::engine::CallError::Closed), after this many consecutive
    /// heartbeat intervals pass with nothing read. Default 3.
    pub max_missed_heartbeats: u32,
    /// Requests in flight on one connection. A client refuses more with
    /// [`CallError::Overloaded`](crate::engine::CallError::Overloaded); a server answers more
    /// with the protocol's error reply for [`Failure::Overloaded`](crate::Failure::Overloaded).
    /// Default 10 000.
    pub max_in_flight: usize,
    /// Server side: close a connection that has read nothing and had no request in flight for
    /// this long. `None` keeps idle connections open. Default `None`.
    pub idle_timeout: Option<Duration>,
    /// On graceful close or shutdown, how long the connection may still take before it is
    /// closed. Client: calls in flight then fail with `Closed`. Server: requests keep being
    /// served during this window; calls still running when it ends are abandoned and answered
    /// with the protocol's error reply for [`Failure::Overloaded`](crate::Failure::Overloaded).
    /// Default 30 s.
    pub drain_timeout: Duration,
    /// Server side, while draining: a connection with no call in flight is closed once nothing
    /// has arrived on it for this long, counted from the drain's start at the earliest. The
    /// pause lets a request already on the wire be read and answered rather than met by a
    /// close. Default 1 s.
    pub drain_quiet: Duration,
    /// Server side: when the peer closes its end, abort the handler calls in flight instead of
    /// finishing them (their replies could not be delivered). A gateway sets this so that a
    /// caller who disconnects cancels its upstream requests; a plain server keeps the default,
    /// `false`, which answers a peer that only half-closed.
    pub cancel_on_peer_close: bool,
    /// Server side: once a frame's first bytes have arrived, the rest must arrive within this
    /// long, or the connection is closed (a peer that stalls mid-frame — slowloris — holds no
    /// connection for longer). `None` waits for as long as the connection lives. Default
    /// `None`.
    pub frame_timeout: Option<Duration>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            limits: Limits::DEFAULT,
            request_timeout: Duration::from_secs(10),
            heartbeat_interval: Some(Duration::from_secs(15)),
            max_missed_heartbeats: 3,
            max_in_flight: 10_000,
            idle_timeout: None,
            drain_timeout: Duration::from_secs(30),
            drain_quiet: Duration::from_secs(1),
            cancel_on_peer_close: false,
            frame_timeout: None,
        }
    }
}
