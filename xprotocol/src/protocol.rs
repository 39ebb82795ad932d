//! The protocol abstraction: everything the framework asks of a wire protocol.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio_util::sync::CancellationToken;

use crate::engine::{EngineConfig, EngineError};
use crate::relay::{BoxIo, RelayHandler, RelayPolicy};

use crate::{Codec, DecodeError, DetectResult, Frame, Limits, RequestId};

/// How a protocol's connections carry requests, which decides how upstream pools behave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PoolMode {
    /// Many requests in flight on one connection, replies matched by request id.
    Multiplexed,
    /// One request at a time per connection, the reply before the next request.
    PingPong,
}

/// A failure the framework detected on a caller's behalf. Each protocol answers it with an
/// error reply in its own status codes ([`Protocol::error_reply`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Failure {
    /// No route matched the request.
    NoRoute,
    /// The route's cluster has no healthy endpoint, or connecting to it failed.
    NoHealthyUpstream,
    /// The upstream did not reply in time.
    Timeout,
    /// A limit (connections, pending or active requests) was reached.
    Overloaded,
    /// The request could not be decoded or is not acceptable.
    BadRequest,
    /// The upstream connection was reset or closed before replying.
    UpstreamReset,
    /// Anything else that went wrong inside the framework.
    Internal,
}

impl Failure {
    /// Every failure class, for tests that must cover them all.
    pub const ALL: [Failure; 7] = [
        Failure::NoRoute,
        Failure::NoHealthyUpstream,
        Failure::Timeout,
        Failure::Overloaded,
        Failure::BadRequest,
        Failure::UpstreamReset,
        Failure::Internal,
    ];

    /// The HTTP status this failure corresponds to (404, 503, 504, 503, 400, 502, 500).
    pub fn http_status(self) -> u16 {
        match self {
            Failure::NoRoute => 404,
            Failure::NoHealthyUpstream | Failure::Overloaded => 503,
            Failure::Timeout => 504,
            Failure::BadRequest => 400,
            Failure::UpstreamReset => 502,
            Failure::Internal => 500,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Failure::NoRoute => "no route",
            Failure::NoHealthyUpstream => "no healthy upstream",
            Failure::Timeout => "upstream timeout",
            Failure::Overloaded => "overloaded",
            Failure::BadRequest => "bad request",
            Failure::UpstreamReset => "upstream reset",
            Failure::Internal => "internal error",
        })
    }
}

/// A wire protocol. A handful of items are required; the rest have defaults.
///
/// Implementors are usually unit structs (or small `const`-constructible structs) so that they
/// can be registered as statics with [`register_protocol!`](crate::register_protocol).
pub trait Protocol: Send + Sync + 'static {
    /// The frame type. `Clone` so that a relay can retry a request on another upstream, and
    /// `Sync` so that a request can be borrowed across the relay's awaits.
    type Frame: Frame + Clone + Sync;
    /// The codec type; one per connection, since codecs may keep per-connection state.
    type Codec: Codec<Frame = Self::Frame>;

    /// The protocol's unique name (`"bolt"`, `"dubbo"`…), used in configuration and metrics.
    fn name(&self) -> &'static str;

    /// Looks at a connection's first bytes. Must not panic on any input and should decide as
    /// early as the bytes allow, checking fixed fields beyond a magic number so that random
    /// bytes are rarely taken for this protocol.
    fn detect(&self, prefix: &[u8]) -> DetectResult;

    /// A codec for one connection, enforcing `limits`.
    fn codec(&self, limits: Limits) -> Self::Codec;

    /// How connections carry requests. Default: multiplexed.
    fn pool_mode(&self) -> PoolMode {
        PoolMode::Multiplexed
    }

    /// The largest request id the protocol's id field holds. Default: `u32::MAX`.
    fn max_request_id(&self) -> u64 {
        u64::from(u32::MAX)
    }

    /// A heartbeat request with id `id`, if the protocol has heartbeats.
    fn heartbeat_request(&self, id: RequestId) -> Option<Self::Frame> {
        let _ = id;
        None
    }

    /// The reply to a heartbeat request, carrying its id.
    fn heartbeat_reply(&self, request: &Self::Frame) -> Option<Self::Frame> {
        let _ = request;
        None
    }

    /// A frame telling a caller that its connection is draining: send no new requests on it
    /// (Dubbo's read-only event, for example). A server connection sends it once, when it
    /// starts to drain, and keeps serving what still arrives.
    ///
    /// `None` (the default) where the protocol has no such message, or none its real clients
    /// understand. Those callers learn of the drain only from the close, which the engine
    /// delays until the connection has been quiet for
    /// [`EngineConfig::drain_quiet`](crate::engine::EngineConfig::drain_quiet).
    fn go_away(&self) -> Option<Self::Frame> {
        None
    }

    /// The reply to `request` reporting `failure`, in the protocol's own status codes, with
    /// `message` for humans where the protocol has room for one. `None` where the protocol
    /// has no reply for it. The engine and the relay never send a reply to a one-way request
    /// (they drop it), so there is no need to check the request's kind here.
    fn error_reply(
        &self,
        request: &Self::Frame,
        failure: Failure,
        message: &str,
    ) -> Option<Self::Frame>;

    /// Maps a response status of this protocol to an HTTP-like status (200 success, 4xx the
    /// caller's fault, 5xx the server's), for metrics and retry policies.
    fn http_status(&self, status: u32) -> u16;

    /// A typical two-way request of this protocol (id 1), as a real client would send it.
    ///
    /// The SDK cannot build a request for an arbitrary protocol, yet a request is what
    /// detection must recognise first: most connections open with one, not with a heartbeat.
    /// The default [`samples`](Protocol::samples) encodes it, so the registry's ambiguity
    /// checks and the testkit see a real request. `None` (the default) keeps older protocol
    /// crates compiling; the testkit then warns that detection was checked without one.
    fn sample_request(&self) -> Option<Self::Frame> {
        None
    }

    /// Encoded frames that are typical of this protocol. The registry's tests check that
    /// every protocol detects its own samples and no other protocol claims them. Default: the
    /// encoded heartbeat request and the encoded [`sample_request`](Protocol::sample_request),
    /// those that exist, in that order.
    fn samples(&self) -> Vec<Bytes> {
        let mut codec = self.codec(Limits::DEFAULT);
        [self.heartbeat_request(RequestId(1)), self.sample_request()]
            .into_iter()
            .flatten()
            .filter_map(|frame| {
                let mut buf = BytesMut::new();
                codec.encode(&frame, &mut buf).ok().map(|()| buf.freeze())
            })
            .collect()
    }
}

/// The object-safe face of a [`Protocol`], as the registry hands it out. Implemented for every
/// `Protocol` by a blanket impl: code that needs the concrete type downcasts with
/// [`as_any`](AnyProtocol::as_any) and runs its per-frame loop monomorphised.
pub trait AnyProtocol: Send + Sync + 'static {
    /// See [`Protocol::name`].
    fn name(&self) -> &'static str;
    /// See [`Protocol::detect`].
    fn detect(&self, prefix: &[u8]) -> DetectResult;
    /// See [`Protocol::pool_mode`].
    fn pool_mode(&self) -> PoolMode;
    /// See [`Protocol::samples`].
    fn samples(&self) -> Vec<Bytes>;
    /// Decodes every frame in `bytes` with `limits`, returning how many whole frames it held
    /// and how many bytes were left over. Used by fuzzing and tests through the registry.
    ///
    /// # Errors
    /// The first [`DecodeError`].
    fn decode_all(&self, bytes: &[u8], limits: Limits) -> Result<(usize, usize), DecodeError>;
    /// The concrete protocol, for downcasting.
    fn as_any(&self) -> &dyn Any;
    /// Whether the protocol serves its connections itself (HTTP with hyper and h2, see
    /// [`owned`](crate::owned)) instead of through [`serve_relay`](Self::serve_relay).
    fn owns_connection(&self) -> bool {
        false
    }
    /// Serves one downstream connection as a gateway: decodes requests, asks `policy` where
    /// each goes, forwards them over pooled upstream connections and answers in this protocol
    /// (see [`relay`](crate::relay)). Monomorphised per protocol, so the per-frame loop makes no
    /// virtual calls; it ends when the connection closes or `shutdown` fires and in-flight
    /// requests have drained.
    fn serve_relay(
        &'static self,
        io: BoxIo,
        policy: Arc<dyn RelayPolicy>,
        config: EngineConfig,
        shutdown: CancellationToken,
    ) -> Pin<Box<dyn Future<Output = Result<(), EngineError>> + Send>>;
}

impl<P: Protocol> AnyProtocol for P {
    fn name(&self) -> &'static str {
        Protocol::name(self)
    }
    fn detect(&self, prefix: &[u8]) -> DetectResult {
        Protocol::detect(self, prefix)
    }
    fn pool_mode(&self) -> PoolMode {
        Protocol::pool_mode(self)
    }
    fn samples(&self) -> Vec<Bytes> {
        Protocol::samples(self)
    }
    fn decode_all(&self, bytes: &[u8], limits: Limits) -> Result<(usize, usize), DecodeError> {
        let mut codec = self.codec(limits);
        let mut buf = BytesMut::from(bytes);
        let mut frames = 0;
        while let Some(_frame) = codec.decode(&mut buf)? {
            frames += 1;
        }
        Ok((frames, buf.len()))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn serve_relay(
        &'static self,
        io: BoxIo,
        policy: Arc<dyn RelayPolicy>,
        config: EngineConfig,
        shutdown: CancellationToken,
    ) -> Pin<Box<dyn Future<Output = Result<(), EngineError>> + Send>> {
        let handler = Arc::new(RelayHandler::new(self, policy));
        Box::pin(crate::engine::serve_connection_inline(self, io, handler, config, shutdown))
    }
}

/// Hands out request ids for one connection: 1, 2, … up to a protocol's
/// [`max_request_id`](Protocol::max_request_id), then wraps to 1. Id 0 is never issued, since
/// several protocols use it for heartbeats or unset ids.
#[derive(Debug)]
pub struct RequestIdGenerator {
    next: AtomicU64,
    max: u64,
}

impl RequestIdGenerator {
    /// A generator of ids in `1..=max` (`max` at least 1).
    pub fn new(max: u64) -> Self {
        RequestIdGenerator { next: AtomicU64::new(1), max: max.max(1) }
    }

    /// The next id.
    pub fn next_id(&self) -> RequestId {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        RequestId(n.wrapping_sub(1) % self.max + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_start_at_one_and_wrap_within_the_field() {
        let ids = RequestIdGenerator::new(3);
        let got: Vec<u64> = (0..7).map(|_| ids.next_id().0).collect();
        assert_eq!(got, vec![1, 2, 3, 1, 2, 3, 1]);
        let wide = RequestIdGenerator::new(u64::MAX);
        wide.next.store(u64::MAX, Ordering::Relaxed);
        assert_eq!(wide.next_id().0, u64::MAX);
        assert_eq!(wide.next_id().0, 1, "wraps past the top without panicking");
    }

    #[test]
    fn failures_map_to_http_statuses() {
        let statuses: Vec<u16> = Failure::ALL.iter().map(|f| f.http_status()).collect();
        assert_eq!(statuses, vec![404, 503, 504, 503, 400, 502, 500]);
    }
}
