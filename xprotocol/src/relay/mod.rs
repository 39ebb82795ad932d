//! The gateway data path, generic over the protocol and driven by a policy.
//!
//! A gateway decides *where* requests go without knowing their protocol: routing, balancing,
//! circuit breaking and metrics speak to `&dyn Frame`. Moving the bytes needs the concrete
//! protocol type: decoding, id rewriting, pooled upstream connections. This module is that
//! second half. [`AnyProtocol::serve_relay`](crate::AnyProtocol::serve_relay) runs it,
//! monomorphised for each registered protocol by the blanket impl, so the per-frame loop has
//! no virtual calls and a protocol crate added later needs no gateway change.
//!
//! For each request of a downstream connection the relay asks the [`RelayPolicy`] for a
//! [`Decision`]: answer directly with an error reply in the caller's protocol, or forward to an
//! [`Upstream`] with a deadline and a retry plan. Forwarding picks an endpoint, takes a pooled
//! multiplexed connection to it (the engine's [`Client`](crate::engine::Client): a fresh request
//! id per upstream connection, mapped back to the caller's), and answers the caller with the
//! upstream's reply or, on failure, with the protocol's error reply for the failure class.
//! A plan may carry [`HeaderEdits`], applied to the request before it goes out.
//! Heartbeats are answered by the relay itself; one-way requests are forwarded without waiting.

mod handler;
mod pool;

use std::any::Any;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};

use crate::{EncodeError, Failure, Frame};

pub use handler::RelayHandler;
pub use pool::{Lease, PoolSettings, UpstreamPool};

/// A bidirectional byte stream the relay can serve (a TCP stream, a TLS stream, a stream with
/// sniffed bytes put back in front).
pub trait AsyncIo: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> AsyncIo for T {}

/// A boxed [`AsyncIo`], as a listener hands connections to the relay.
pub type BoxIo = Box<dyn AsyncIo>;

/// The gateway's decisions, asked once per request (and told the outcome), for one downstream
/// connection. Implementations must not block: they run on the connection's task.
pub trait RelayPolicy: Send + Sync + 'static {
    /// What to do with `request`.
    fn route(&self, request: &dyn Frame) -> Decision;

    /// Called once per finished two-way or one-way request, for metrics and logs.
    fn finished(&self, record: &RequestRecord<'_>);
}

/// What the relay does with one request.
pub enum Decision {
    /// Forward it upstream.
    Forward(ForwardPlan),
    /// Answer at once with the protocol's error reply for `failure` (no route, a configured
    /// direct response, …).
    Reply {
        /// The failure class whose status the reply carries.
        failure: Failure,
        /// The message carried where the protocol has room for one.
        message: Arc<str>,
        /// The route that decided this, if any, for metrics.
        route: Option<Arc<str>>,
        /// The policy's own tag, handed back in [`RequestRecord::tag`].
        tag: usize,
    },
}

/// How to forward one request.
#[derive(Clone)]
pub struct ForwardPlan {
    /// The route's name, for metrics.
    pub route: Arc<str>,
    /// Where to send it.
    pub upstream: Arc<dyn Upstream>,
    /// Deadline for the whole request, retries included.
    pub timeout: Duration,
    /// When to try again.
    pub retry: RetryPlan,
    /// The policy's own tag (an index into its per-route metrics, say), handed back in
    /// [`RequestRecord::tag`] so that recording needs no lookup by name.
    pub tag: usize,
    /// Header edits applied to the request before it is forwarded (empty: the request goes
    /// out as it came in, with no extra cost). Shared: build it once per route.
    pub headers: Arc<HeaderEdits>,
}

/// Edits of a request's protocol headers (Bolt's header map, Dubbo's attachments, Tars'
/// `context`), applied by the relay before forwarding: first every name in
/// [`remove`](HeaderEdits::remove) is removed, then every pair in [`add`](HeaderEdits::add) is
/// set (replacing an existing value), so a name in both ends up with the added value.
///
/// A protocol without editable headers refuses edits: the relay then answers the caller with
/// the protocol's [`Failure::Internal`] reply naming the problem, for every request of the
/// route. Configuration validation should therefore warn when a route with header edits
/// serves such a protocol.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderEdits {
    /// Headers to set, in order.
    pub add: Vec<(String, String)>,
    /// Headers to remove (every entry with the name).
    pub remove: Vec<String>,
}

impl HeaderEdits {
    /// Whether there is nothing to edit.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }

    /// Applies the edits to `frame`: removals, then additions.
    ///
    /// # Errors
    /// The first [`EncodeError`] of [`Frame::remove_header`] or [`Frame::set_header`]; edits
    /// before it stay applied.
    pub fn apply(&self, frame: &mut dyn Frame) -> Result<(), EncodeError> {
        for name in &self.remove {
            frame.remove_header(name)?;
        }
        for (name, value) in &self.add {
            frame.set_header(name, value)?;
        }
        Ok(())
    }
}

/// When a forwarded request is tried again on a freshly picked endpoint.
#[derive(Clone, Debug, Default)]
pub struct RetryPlan {
    /// Tries after the first.
    pub max_retries: u32,
    /// Deadline of each try (`None`: the whole request's deadline).
    pub per_try_timeout: Option<Duration>,
    /// Retry when connecting to the endpoint fails.
    pub on_connect_failure: bool,
    /// Retry when the upstream connection closes or resets before the reply.
    pub on_reset: bool,
    /// Retry when a try exceeds its per-try deadline.
    pub on_per_try_timeout: bool,
    /// Retry when the reply carries one of these protocol statuses.
    pub retriable_statuses: Arc<[u32]>,
}

/// A set of endpoints the relay forwards to: a cluster, or a subset of one.
pub trait Upstream: Send + Sync + 'static {
    /// The cluster's name, for metrics and messages.
    fn name(&self) -> &str;

    /// Picks an endpoint for one try, admitting the request past the cluster's limits. A
    /// retry passes the endpoint its previous try used as `avoid`: pick another one when the
    /// upstream has another available, that one only when it has not.
    ///
    /// # Errors
    /// [`Failure::NoHealthyUpstream`] when no endpoint is available, [`Failure::Overloaded`]
    /// when a limit (a circuit breaker) refuses the request.
    fn pick(&self, avoid: Option<SocketAddr>) -> Result<Picked, Failure>;

    /// Admits a request into the wait for an upstream connection (while the pool connects),
    /// returning what to hold until it has one. Default: always admitted.
    ///
    /// # Errors
    /// [`Failure::Overloaded`] when too many requests are already waiting.
    fn admit_pending(&self) -> Result<Box<dyn Send>, Failure> {
        Ok(Box::new(()))
    }

    /// Admits a new upstream connection, returning what to hold for the connection's
    /// lifetime (a circuit-breaker permit, a metrics gauge). Default: always admitted.
    ///
    /// # Errors
    /// [`Failure::Overloaded`] when the upstream has as many connections as it may.
    fn admit_connection(&self) -> Result<Box<dyn Send + Sync>, Failure> {
        Ok(Box::new(()))
    }

    /// How connections to this upstream are made and kept.
    fn pool_settings(&self) -> &PoolSettings;
}

/// One endpoint picked for one try, and what it holds for the try's duration.
pub struct Picked {
    /// The endpoint.
    pub endpoint: Arc<dyn Endpoint>,
    /// Released when the try ends: active-request counts, circuit-breaker permits.
    pub guard: Box<dyn Send>,
}

/// One upstream endpoint.
pub trait Endpoint: Send + Sync + 'static {
    /// Where it listens.
    fn address(&self) -> SocketAddr;

    /// The connection pool the relay keeps for this endpoint and `protocol`, created by `make`
    /// on first use. Implementations store it (keyed by protocol name, since one endpoint may
    /// be reached with several protocols) and hand the same pool back afterwards.
    fn pool(
        &self,
        protocol: &'static str,
        make: &mut dyn FnMut() -> Arc<dyn Any + Send + Sync>,
    ) -> Arc<dyn Any + Send + Sync>;

    /// Tells the endpoint how a try went (`true`: a reply arrived), for passive health.
    fn report(&self, ok: bool);

    /// [`report`](Endpoint::report), also saying when the try began (before connecting).
    /// The relay calls this one. An endpoint that ejects on failures can tell stale news
    /// from fresh with it: a try begun before the endpoint's last change of state (say, a
    /// connect that was lost while the backend was frozen, failing only after it came back)
    /// says nothing about the endpoint now. Default: `report(ok)`.
    fn report_try(&self, ok: bool, started: Instant) {
        let _ = started;
        self.report(ok);
    }
}

/// What happened to one request, for [`RelayPolicy::finished`].
#[derive(Debug)]
pub struct RequestRecord<'a> {
    /// The route that handled it, if one matched.
    pub route: Option<&'a str>,
    /// The cluster it was forwarded to, if any.
    pub cluster: Option<&'a str>,
    /// How it ended.
    pub outcome: Outcome,
    /// From decode to reply (or to forwarding, for one-way requests).
    pub latency: Duration,
    /// Tries made (0 when answered without forwarding).
    pub tries: u32,
    /// The tag of the decision ([`ForwardPlan::tag`] or `Decision::Reply`'s).
    pub tag: usize,
}

/// How one request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The upstream replied, with this HTTP-like status of its reply.
    Replied(u16),
    /// A one-way request was forwarded.
    Forwarded,
    /// The relay answered with the error reply for this failure.
    Failed(Failure),
}

#[cfg(test)]
mod tests;
