//! The server connection loop: requests decoded in order, handled concurrently, answered in
//! completion order.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::{self, JoinError, JoinSet};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tracing::{debug, warn};

use super::framed::{ReadBuf, WriteBuf};
use super::{EngineConfig, EngineError};
use crate::{Failure, Frame, Protocol, RequestId, StreamKind};

/// Handler results taken per loop turn before the batch is written.
const REPLY_BATCH: usize = 128;

/// A far deadline for timers that are not armed yet.
const FAR: Duration = Duration::from_secs(86_400 * 365);

/// Answers requests: what an SDK user writes to build a server.
///
/// Each request runs as its own tokio task, so calls on one connection proceed concurrently
/// and their replies go out in completion order. The engine sets the reply's request id to
/// the request's, so a handler need not. Heartbeats are answered by the engine and never reach
/// the handler; one-way requests do, and any reply to them is discarded.
///
/// Returning `None` for a two-way request, or panicking, sends the caller the protocol's
/// [`error_reply`](Protocol::error_reply) for [`Failure::Internal`]. A call still running when
/// its connection ends (the drain timeout passed, the peer sent garbage, the socket failed) is
/// cancelled: its future is dropped at its next await point.
///
/// Closures `Fn(P::Frame) -> impl Future<Output = Option<P::Frame>>` are handlers, and so is
/// any type with an `async fn call`:
///
/// ```
/// use xprotocol::engine::Handler;
/// use xprotocol::Protocol;
///
/// struct Echo;
///
/// impl<P: Protocol> Handler<P> for Echo {
///     async fn call(&self, request: P::Frame) -> Option<P::Frame> {
///         Some(request) // a real handler builds a response frame
///     }
/// }
/// ```
pub trait Handler<P: Protocol>: Send + Sync + 'static {
    /// Handles one request; `None` means "no reply" (see the trait's documentation).
    fn call(&self, request: P::Frame) -> impl Future<Output = Option<P::Frame>> + Send;
}

impl<P, F, Fut> Handler<P> for F
where
    P: Protocol,
    F: Fn(P::Frame) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<P::Frame>> + Send,
{
    fn call(&self, request: P::Frame) -> impl Future<Output = Option<P::Frame>> + Send {
        self(request)
    }
}

/// Serves one connection until the peer closes it, `shutdown` is cancelled, it idles past
/// [`EngineConfig::idle_timeout`], or it fails.
///
/// Requests are read and dispatched in order and answered in completion order. Beyond
/// [`EngineConfig::max_in_flight`] concurrent calls, a two-way request is answered at once
/// with the protocol's error reply for [`Failure::Overloaded`] (a one-way one is dropped).
/// While replies wait to be written beyond an internal high-water mark, reading pauses.
///
/// Shutdown is graceful and answers every request it accepted: the caller is told to go away
/// where the protocol can say so ([`Protocol::go_away`]); requests that still arrive are
/// served; the connection closes once nothing is in flight and nothing has arrived for
/// [`EngineConfig::drain_quiet`]. When [`EngineConfig::drain_timeout`] passes first, calls
/// still in flight are abandoned and answered with the protocol's error reply for
/// [`Failure::Timeout`] (whole requests still unread, with [`Failure::Overloaded`]), the
/// replies are flushed and the write half is shut down. When the peer closes its write half,
/// calls in flight are likewise finished (within the drain timeout) and answered before
/// closing.
///
/// # Errors
/// [`EngineError::Decode`] if the peer sent bytes that are not a frame (the caller logs it;
/// the connection is closed without a reply, since there is no request to
/// answer), [`EngineError::FrameTimeout`] if a frame stalled midway past
/// [`EngineConfig::frame_timeout`], [`EngineError::Io`] if the socket failed. Handler tasks
/// still running are aborted.
pub async fn serve_connection<P, H, IO>(
    protocol: &'static P,
    io: IO,
    handler: Arc<H>,
    config: EngineConfig,
    shutdown: CancellationToken,
) -> Result<(), EngineError>
where
    P: Protocol,
    H: Handler<P>,
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (reader, writer) = tokio::io::split(io);
    serve_halves(protocol, reader, writer, handler, config, shutdown, false).await
}

/// [`serve_connection`] with every call run inside the connection's own task (polled from a
/// `FuturesUnordered`) instead of a task of its own: no spawn, and one wake-up of the
/// connection task collects every call that finished, whose replies then go out in one
/// write. For handlers that mostly wait (a relay waiting on upstream replies); a handler
/// that computes would hold up the connection's other calls.
pub(crate) async fn serve_connection_inline<P, H, IO>(
    protocol: &'static P,
    io: IO,
    handler: Arc<H>,
    config: EngineConfig,
    shutdown: CancellationToken,
) -> Result<(), EngineError>
where
    P: Protocol,
    H: Handler<P>,
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (reader, writer) = tokio::io::split(io);
    serve_halves(protocol, reader, writer, handler, config, shutdown, true).await
}

/// [`serve_connection`] over halves already split (lock-free for `TcpStream::into_split`).
pub(crate) async fn serve_halves<P, H, R, W>(
    protocol: &'static P,
    reader: R,
    writer: W,
    handler: Arc<H>,
    config: EngineConfig,
    shutdown: CancellationToken,
    inline: bool,
) -> Result<(), EngineError>
where
    P: Protocol,
    H: Handler<P>,
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    let now = Instant::now();
    let idle_deadline = config.idle_timeout.map_or(now + FAR, |idle| now + idle);
    let mut conn = ServerConn {
        protocol,
        codec: protocol.codec(config.limits),
        handler,
        reader,
        writer,
        rbuf: ReadBuf::default(),
        wbuf: WriteBuf::default(),
        calls: if inline {
            Calls::Inline(FuturesUnordered::new())
        } else {
            Calls::Spawned(JoinSet::new(), HashMap::new())
        },
        config,
        last_active: now,
        idle_timer: Box::pin(tokio::time::sleep_until(idle_deadline)),
        partial_since: None,
        frame_timer: Timer::default(),
        draining: false,
        peer_done: false,
        drain_timer: Timer::default(),
        shutdown: Box::pin(shutdown.cancelled_owned()),
    };
    conn.drive().await?;
    let finish = conn.wbuf.finish(&mut conn.writer);
    match tokio::time::timeout(config.drain_timeout, finish).await {
        Ok(result) => result.map_err(EngineError::Io),
        Err(_) => {
            debug!("server connection: final flush timed out");
            Ok(())
        }
    }
}

/// What a handler call hands back to its connection.
struct Completed<F> {
    id: RequestId,
    two_way: bool,
    /// A copy of a two-way request (the handler consumes the request), kept in case the
    /// protocol's error reply is needed: cloning a frame shares its bytes, which costs far
    /// less than building an error reply for every request that will not need one.
    request: Option<F>,
    /// The handler's result, or its panic message.
    outcome: Result<Option<F>, String>,
}

/// A handler call, its panics caught.
type HandlerFuture<F> = Pin<Box<dyn Future<Output = Result<Option<F>, String>> + Send>>;

/// What the connection keeps of a call besides its future: enough to answer it, even when the
/// call is abandoned at the drain timeout.
struct CallInfo<F> {
    id: RequestId,
    two_way: bool,
    /// A copy of a two-way request (see [`Completed::request`]).
    request: Option<F>,
}

impl<F> CallInfo<F> {
    fn completed(self, outcome: Result<Option<F>, String>) -> Completed<F> {
        Completed { id: self.id, two_way: self.two_way, request: self.request, outcome }
    }
}

/// One call in flight, polled by the connection's own task.
struct InlineCall<F> {
    /// `None` once the call has completed.
    info: Option<CallInfo<F>>,
    handler: HandlerFuture<F>,
}

// The handler future is boxed and the frame is never pinned: moving an `InlineCall` is fine.
impl<F> Unpin for InlineCall<F> {}

impl<F> Future for InlineCall<F> {
    type Output = Completed<F>;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Completed<F>> {
        let outcome = std::task::ready!(self.handler.as_mut().poll(cx));
        let info = self.info.take().expect("an InlineCall is not polled after it completed");
        std::task::Poll::Ready(info.completed(outcome))
    }
}

/// The calls in flight on a connection: each in a task of its own, or polled by the
/// connection's task ([`serve_connection_inline`]).
enum Calls<F: Send + 'static> {
    /// Tasks, with what is known of each call kept by task id until it finishes.
    Spawned(JoinSet<Result<Option<F>, String>>, HashMap<task::Id, CallInfo<F>>),
    Inline(FuturesUnordered<InlineCall<F>>),
}

impl<F: Send + 'static> Calls<F> {
    fn len(&self) -> usize {
        match self {
            Calls::Spawned(set, _) => set.len(),
            Calls::Inline(set) => set.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn start(&mut self, info: CallInfo<F>, handler: HandlerFuture<F>) {
        match self {
            Calls::Spawned(set, calls) => {
                calls.insert(set.spawn(handler).id(), info);
            }
            Calls::Inline(set) => set.push(InlineCall { info: Some(info), handler }),
        }
    }

    /// The call `joined` belongs to, with its outcome.
    fn finish_spawned(
        calls: &mut HashMap<task::Id, CallInfo<F>>,
        joined: Result<(task::Id, Result<Option<F>, String>), JoinError>,
    ) -> Option<Completed<F>> {
        match joined {
            Ok((task, outcome)) => calls.remove(&task).map(|info| info.completed(outcome)),
            // Panics are caught inside the task; this is an abort, which only happens as the
            // connection ends.
            Err(e) => {
                debug!(error = %e, "handler task ended without a result");
                calls.remove(&e.id());
                None
            }
        }
    }

    /// The next finished call (`None` when there are none in flight, or the one that
    /// finished had been aborted).
    async fn next(&mut self) -> Option<Completed<F>> {
        match self {
            Calls::Spawned(set, calls) => {
                let joined = set.join_next_with_id().await?;
                Self::finish_spawned(calls, joined)
            }
            Calls::Inline(set) => set.next().await,
        }
    }

    /// A call that has finished already, without waiting.
    fn try_next(&mut self) -> Option<Completed<F>> {
        match self {
            Calls::Spawned(set, calls) => {
                let joined = set.try_join_next_with_id()?;
                Self::finish_spawned(calls, joined)
            }
            Calls::Inline(set) => set.next().now_or_never().flatten(),
        }
    }

    /// Cancels every call in flight; returns the copies of the two-way requests among them,
    /// so that their callers can be answered.
    fn abandon_all(&mut self) -> Vec<F> {
        match self {
            Calls::Spawned(set, calls) => {
                set.abort_all();
                calls.drain().filter_map(|(_, info)| info.request).collect()
            }
            Calls::Inline(set) => {
                let calls = std::mem::take(set).into_iter();
                calls.filter_map(|call| call.info.and_then(|info| info.request)).collect()
            }
        }
    }
}

struct ServerConn<P: Protocol, H, R, W> {
    protocol: &'static P,
    codec: P::Codec,
    handler: Arc<H>,
    reader: R,
    writer: W,
    rbuf: ReadBuf,
    wbuf: WriteBuf,
    calls: Calls<P::Frame>,
    config: EngineConfig,
    last_active: Instant,
    idle_timer: Pin<Box<Sleep>>,
    /// When the frame now partly buffered began to arrive, if one is.
    partial_since: Option<Instant>,
    frame_timer: Timer,
    /// Shutdown began: requests are still read and served, the caller was told to go away
    /// where the protocol can say so, and the connection closes once it is quiet.
    draining: bool,
    /// The peer shut down its write half: nothing more to read; close once calls are answered.
    peer_done: bool,
    /// When a drain (or a peer's half-close) must end: calls still in flight are abandoned.
    drain_timer: Timer,
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl<P, H, R, W> ServerConn<P, H, R, W>
where
    P: Protocol,
    H: Handler<P>,
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    /// The loop; returns when the connection should be flushed and closed.
    async fn drive(&mut self) -> Result<(), EngineError> {
        loop {
            if self.peer_done && self.calls.is_empty() {
                return Ok(());
            }
            // Biased: replies finished by the time this task runs are all encoded first, then
            // written in one system call, then more requests are read. Each branch is bounded
            // (a reply batch, the write buffer's high-water mark), so none starves the others.
            tokio::select! {
                biased;
                done = self.calls.next(), if !self.calls.is_empty() && self.wbuf.has_room() => {
                    if let Some(done) = done {
                        self.on_completed(done);
                    }
                    for _ in 1..REPLY_BATCH {
                        match self.calls.try_next() {
                            Some(done) => self.on_completed(done),
                            None => break,
                        }
                    }
                    self.last_active = Instant::now();
                    if self.calls.is_empty() && self.partial_since.is_none() {
                        // Nothing in flight and no frame half read: the connection may now
                        // sit idle for long, so it gives back the stalled-frame timer.
                        self.frame_timer.clear();
                    }
                }
                written = self.wbuf.drive(&mut self.writer), if self.wbuf.is_pending() => written?,
                read = self.rbuf.read_from(&mut self.reader),
                    if !self.peer_done && self.wbuf.has_room() =>
                {
                    match read? {
                        0 if self.config.cancel_on_peer_close => {
                            debug!(in_flight = self.calls.len(), "peer closed; cancelling its calls");
                            self.calls.abandon_all();
                            return Ok(());
                        }
                        // The peer will send no more: answer what is in flight, then close.
                        0 => self.on_peer_done(),
                        _ => self.on_read()?,
                    }
                }
                () = &mut self.idle_timer, if self.idle_timer_armed() => {
                    if self.idle_expired() {
                        debug!(draining = self.draining, "server connection idle; closing");
                        return Ok(());
                    }
                }
                () = self.frame_timer.fired(), if self.partial_since.is_some() => {
                    if self.frame_expired() {
                        // The caller reports it, with the peer and listener (and a rate limit).
                        let limit = self.config.frame_timeout.unwrap_or_default();
                        debug!(protocol = self.protocol.name(), "frame not completed in time");
                        return Err(EngineError::FrameTimeout(limit));
                    }
                }
                () = &mut self.shutdown, if !self.draining => self.start_drain(),
                () = self.drain_timer.fired() => {
                    self.on_drain_timeout();
                    return Ok(());
                }
            }
        }
    }

    fn on_read(&mut self) -> Result<(), EngineError> {
        self.last_active = Instant::now();
        let mut decoded_any = false;
        loop {
            let frame = match self.rbuf.decode(&mut self.codec) {
                Ok(Some(frame)) => frame,
                Ok(None) => {
                    self.track_partial_frame(decoded_any);
                    return Ok(());
                }
                Err(e) => {
                    let protocol = self.protocol.name();
                    // The caller owns the connection's context (listener, peer) and reports
                    // the error with it; one WARN line per bad frame is the caller's.
                    debug!(protocol, error = %e, "undecodable bytes; closing the connection");
                    return Err(EngineError::Decode(e));
                }
            };
            decoded_any = true;
            match frame.kind() {
                StreamKind::Request | StreamKind::OneWayRequest => self.dispatch(frame),
                StreamKind::HeartbeatRequest => {
                    if let Some(reply) = self.protocol.heartbeat_reply(&frame) {
                        self.write(&reply);
                    }
                }
                StreamKind::HeartbeatResponse => {}
                kind @ (StreamKind::Response | StreamKind::GoAway) => {
                    debug!(?kind, id = %frame.request_id(), "frame sent to a server dropped");
                }
            }
        }
    }

    fn dispatch(&mut self, request: P::Frame) {
        let two_way = request.kind() == StreamKind::Request;
        if self.calls.len() >= self.config.max_in_flight {
            if !two_way {
                debug!(id = %request.request_id(), "overloaded; one-way request dropped");
            } else if let Some(reply) = self.protocol.error_reply(
                &request,
                Failure::Overloaded,
                "too many requests in flight on this connection",
            ) {
                self.write(&reply);
            }
            return;
        }
        let id = request.request_id();
        let handler = Arc::clone(&self.handler);
        let copy = two_way.then(|| request.clone());
        let call = async move {
            AssertUnwindSafe(handler.call(request))
                .catch_unwind()
                .await
                .map_err(|payload| panic_message(payload.as_ref()))
        };
        self.calls.start(CallInfo { id, two_way, request: copy }, Box::pin(call));
    }

    fn on_completed(&mut self, done: Completed<P::Frame>) {
        let Completed { id, two_way, request, outcome } = done;
        let protocol = self.protocol;
        let fallback = move || {
            request.and_then(|r| {
                protocol.error_reply(&r, Failure::Internal, "the request handler failed")
            })
        };
        if !two_way {
            if let Err(panic) = outcome {
                warn!(%id, panic, "one-way request handler panicked");
            }
            return;
        }
        let reply = match outcome {
            Ok(Some(mut reply)) => match reply.set_request_id(id) {
                Ok(()) => Some(reply),
                Err(e) => {
                    warn!(%id, error = %e, "cannot give the reply its request id");
                    fallback()
                }
            },
            Ok(None) => {
                debug!(%id, "handler returned no reply; answering with an error");
                fallback()
            }
            Err(panic) => {
                warn!(%id, panic, "request handler panicked; answering with an error");
                fallback()
            }
        };
        match reply {
            Some(reply) => self.write(&reply),
            None => warn!(%id, "the protocol has no error reply; the caller gets none"),
        }
    }

    /// Encodes a reply; one that cannot be encoded is logged and dropped (the caller will
    /// time out), since the connection itself is still sound.
    fn write(&mut self, reply: &P::Frame) {
        if let Err(e) = self.wbuf.encode(&mut self.codec, reply) {
            warn!(id = %reply.request_id(), error = %e, "reply could not be encoded; dropped");
        }
    }

    /// Shutdown: tells the caller to go away where the protocol can, and keeps serving. The
    /// loop ends once the connection is quiet ([`EngineConfig::drain_quiet`] with nothing in
    /// flight) or the drain timeout passes.
    fn start_drain(&mut self) {
        self.draining = true;
        let now = Instant::now();
        if self.drain_timer.0.is_none() {
            self.drain_timer.set(now + self.config.drain_timeout);
        }
        if let Some(go_away) = self.protocol.go_away() {
            self.write(&go_away);
        }
        // The idle timer now measures the drain's quiet period, from now: a request the caller
        // sent before it read the go-away (or, without one, just as the drain began) is still
        // on its way, and closing at once would meet it with a reset.
        self.last_active = now;
        self.idle_timer.as_mut().reset(now + self.config.drain_quiet);
    }

    /// The peer shut down its write half: calls in flight are answered (within the drain
    /// timeout), then the connection closes.
    fn on_peer_done(&mut self) {
        self.peer_done = true;
        if self.drain_timer.0.is_none() {
            self.drain_timer.set(Instant::now() + self.config.drain_timeout);
        }
    }

    /// The drain timeout passed: every call still in flight is abandoned and its caller
    /// answered with the protocol's error reply, and so is every whole request still buffered;
    /// no caller is left without an answer.
    fn on_drain_timeout(&mut self) {
        let abandoned = self.calls.abandon_all();
        warn!(
            protocol = self.protocol.name(),
            in_flight = abandoned.len(),
            "drain timeout; answering the calls still in flight with an error"
        );
        for request in &abandoned {
            let message = "the server stopped waiting for this call: drain timeout";
            if let Some(reply) = self.protocol.error_reply(request, Failure::Timeout, message) {
                self.write(&reply);
            }
        }
        // Requests read but never dispatched did not run: say so.
        while let Ok(Some(frame)) = self.rbuf.decode(&mut self.codec) {
            let reply = match frame.kind() {
                StreamKind::Request => self.protocol.error_reply(
                    &frame,
                    Failure::Overloaded,
                    "not served: the server is shutting down",
                ),
                StreamKind::HeartbeatRequest => self.protocol.heartbeat_reply(&frame),
                _ => None,
            };
            if let Some(reply) = reply {
                self.write(&reply);
            }
        }
    }

    /// Starts (or stops) the clock of a partly read frame after a read: a new partial frame
    /// starts it, a buffer emptied by decoding stops it.
    fn track_partial_frame(&mut self, decoded_any: bool) {
        let Some(limit) = self.config.frame_timeout else { return };
        if self.rbuf.is_empty() {
            self.partial_since = None;
        } else if decoded_any || self.partial_since.is_none() {
            let now = Instant::now();
            self.partial_since = Some(now);
            self.frame_timer.set(now + limit);
        }
    }

    /// Whether the partly read frame has had its time; if not, re-arms the timer.
    fn frame_expired(&mut self) -> bool {
        let (Some(since), Some(limit)) = (self.partial_since, self.config.frame_timeout) else {
            return false;
        };
        let deadline = since + limit;
        if Instant::now() >= deadline {
            return true;
        }
        self.frame_timer.set(deadline);
        false
    }

    fn idle_timer_armed(&self) -> bool {
        (self.config.idle_timeout.is_some() || self.draining) && !self.peer_done
    }

    /// Whether the idle timeout (while draining: the drain's quiet period) has passed with
    /// nothing read and nothing in flight; if not, re-arms the (lazy) timer.
    fn idle_expired(&mut self) -> bool {
        let limit =
            if self.draining { Some(self.config.drain_quiet) } else { self.config.idle_timeout };
        let Some(idle) = limit else { return false };
        let now = Instant::now();
        let until = self.last_active + idle;
        if self.calls.is_empty() && until <= now {
            return true;
        }
        let next = if self.calls.is_empty() { until } else { now + idle };
        self.idle_timer.as_mut().reset(next);
        false
    }
}

/// A timer allocated only once it is first set: most connections never stall mid-frame or
/// drain, and an idle connection should not hold timers it does not use.
#[derive(Default)]
struct Timer(Option<Pin<Box<Sleep>>>);

impl Timer {
    fn set(&mut self, deadline: Instant) {
        match &mut self.0 {
            Some(sleep) => sleep.as_mut().reset(deadline),
            None => self.0 = Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
    }

    /// Frees the timer; the next [`set`](Self::set) allocates it again.
    fn clear(&mut self) {
        self.0 = None;
    }

    /// Completes when the timer fires; never, if it was never set.
    async fn fired(&mut self) {
        match &mut self.0 {
            Some(sleep) => sleep.as_mut().await,
            None => std::future::pending().await,
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures_util::future::join_all;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::time::Instant;

    use super::*;
    use crate::engine::test_protocol::{
        connected, echo, RawPeer, Tiny, TinyFrame, TINY, TINY_GO_AWAY,
    };
    use crate::engine::{CallError, Client, Server};

    fn config() -> EngineConfig {
        EngineConfig { heartbeat_interval: None, ..EngineConfig::default() }
    }

    fn raw_server<H: Handler<Tiny>>(
        handler: H,
        config: EngineConfig,
    ) -> (RawPeer, tokio::task::JoinHandle<Result<(), EngineError>>, CancellationToken) {
        let (ours, peer) = RawPeer::pair();
        let token = CancellationToken::new();
        let serve = serve_connection(&TINY, ours, Arc::new(handler), config, token.clone());
        (peer, tokio::spawn(serve), token)
    }

    /// Echoes after sleeping as many milliseconds as the body says; panics on "panic" and
    /// declines on "none".
    async fn picky(request: TinyFrame) -> Option<TinyFrame> {
        match &request.body[..] {
            b"panic" => panic!("handler bug"),
            b"none" => None,
            body => {
                let ms = std::str::from_utf8(body).ok()?.parse().unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Some(echo(&request))
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn panic_and_none_get_error_replies_while_other_streams_carry_on() {
        let (client, _server, _token) = connected(picky, config(), config());
        let bodies = ["30", "panic", "10", "none", "20"];
        let calls = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| client.call(TinyFrame::request(100 + i as u32, *body)));
        let replies: Vec<_> = join_all(calls).await.into_iter().map(Result::unwrap).collect();
        let internal = TinyFrame::status_of(Failure::Internal);
        for (i, (reply, body)) in replies.iter().zip(bodies).enumerate() {
            assert_eq!(reply.id, 100 + i as u32);
            if body == "panic" || body == "none" {
                assert_eq!(reply.status, internal, "{body}");
            } else {
                assert_eq!((reply.status, &reply.body[..]), (0, body.as_bytes()));
            }
        }
        assert_eq!(client.call(TinyFrame::request(7, "0")).await.unwrap().body, "0");
    }

    #[tokio::test(start_paused = true)]
    async fn requests_beyond_max_in_flight_get_overloaded_replies() {
        let server_config = EngineConfig { max_in_flight: 2, ..config() };
        let (client, _server, _token) = connected(picky, config(), server_config);
        let start = Instant::now();
        let calls = (0..3).map(|i| client.call(TinyFrame::request(i, "1000")));
        let replies: Vec<_> = join_all(calls).await.into_iter().map(Result::unwrap).collect();
        let overloaded = TinyFrame::status_of(Failure::Overloaded);
        assert_eq!(replies.iter().filter(|r| r.status == overloaded).count(), 1);
        assert_eq!(replies.iter().filter(|r| r.status == 0).count(), 2);
        assert_eq!(start.elapsed(), Duration::from_millis(1000));
        // With the first two done, there is room again.
        assert_eq!(client.call(TinyFrame::request(3, "0")).await.unwrap().status, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn heartbeats_are_answered_by_the_engine_not_the_handler() {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        let handler = move |request: TinyFrame| {
            seen.fetch_add(1, Ordering::Relaxed);
            async move { Some(echo(&request)) }
        };
        let (mut peer, _server, _token) = raw_server(handler, config());
        peer.send(&TinyFrame::new(StreamKind::HeartbeatRequest, 9, "")).await;
        let reply = peer.recv().await.unwrap();
        assert_eq!((reply.kind, reply.id), (StreamKind::HeartbeatResponse, 9));
        assert_eq!(calls.load(Ordering::Relaxed), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn oneway_reaches_the_handler_and_its_reply_is_discarded() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let handler = move |request: TinyFrame| {
            let _ = tx.send(request.clone());
            async move { Some(echo(&request)) }
        };
        let (mut peer, _server, _token) = raw_server(handler, config());
        peer.send(&TinyFrame::new(StreamKind::OneWayRequest, 1, "fire")).await;
        let got = rx.recv().await.unwrap();
        assert_eq!((got.kind, &got.body[..]), (StreamKind::OneWayRequest, &b"fire"[..]));
        peer.send(&TinyFrame::request(2, "call")).await;
        let reply = peer.recv().await.unwrap();
        assert_eq!((reply.id, &reply.body[..]), (2, &b"call"[..]), "no reply to the one-way");
    }

    #[tokio::test(start_paused = true)]
    async fn peer_half_close_answers_calls_in_flight_then_closes() {
        let (mut peer, server, _token) = raw_server(picky, config());
        peer.send(&TinyFrame::request(1, "100")).await;
        peer.shutdown_write().await;
        let reply = peer.recv().await.unwrap();
        assert_eq!((reply.id, &reply.body[..]), (1, &b"100"[..]));
        assert!(peer.recv().await.is_none());
        server.await.unwrap().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn peer_close_cancels_calls_in_flight_when_configured() {
        struct Finished(Arc<std::sync::atomic::AtomicBool>);
        let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&finished);
        let handler = move |request: TinyFrame| {
            let done = Finished(Arc::clone(&flag));
            async move {
                tokio::time::sleep(Duration::from_secs(60)).await;
                done.0.store(true, std::sync::atomic::Ordering::SeqCst);
                Some(echo(&request))
            }
        };
        let cancelling = EngineConfig { cancel_on_peer_close: true, ..config() };
        let (mut peer, server, _token) = raw_server(handler, cancelling);
        peer.send(&TinyFrame::request(1, "slow")).await;
        peer.shutdown_write().await;
        let started = Instant::now();
        server.await.unwrap().unwrap();
        assert!(started.elapsed() < Duration::from_secs(1), "returned at once");
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert!(!finished.load(std::sync::atomic::Ordering::SeqCst), "the call was aborted");
        assert!(peer.recv().await.is_none(), "no reply after the peer closed");
    }

    #[tokio::test(start_paused = true)]
    async fn a_frame_stalled_midway_closes_the_connection_after_the_frame_timeout() {
        use crate::Codec as _;
        let timed = EngineConfig { frame_timeout: Some(Duration::from_secs(2)), ..config() };
        let (mut peer, server, _token) = raw_server(picky, timed);
        // A whole frame is answered; the clock only runs while a frame is incomplete.
        peer.send(&TinyFrame::request(1, "0")).await;
        assert_eq!(peer.recv().await.unwrap().id, 1);
        tokio::time::sleep(Duration::from_secs(10)).await;
        let mut wire = bytes::BytesMut::new();
        crate::Protocol::codec(&TINY, crate::Limits::DEFAULT)
            .encode(&TinyFrame::request(2, "0"), &mut wire)
            .unwrap();
        let started = Instant::now();
        peer.send_raw(&wire[..3]).await;
        let closed = tokio::time::timeout(Duration::from_secs(60), peer.recv()).await;
        assert!(closed.expect("closed before the test's own deadline").is_none(), "closed");
        let waited = started.elapsed();
        assert!(waited >= Duration::from_secs(2) && waited < Duration::from_secs(3), "{waited:?}");
        let ended = server.await.unwrap();
        assert!(matches!(ended, Err(EngineError::FrameTimeout(limit)) if limit.as_secs() == 2));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_timeout_closes_only_an_idle_connection() {
        let server_config = EngineConfig { idle_timeout: Some(Duration::from_secs(5)), ..config() };
        let (client, server, _token) = connected(picky, config(), server_config);
        let start = Instant::now();
        // A call longer than the idle timeout keeps the connection open.
        assert_eq!(client.call(TinyFrame::request(1, "8000")).await.unwrap().status, 0);
        server.await.unwrap().unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(13), "closed 5 s after the reply");
        client.closed().await;
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_stops_reading_and_lets_in_flight_calls_finish() {
        let (client, server, token) = connected(picky, config(), config());
        let caller = client.clone();
        let call = tokio::spawn(async move { caller.call(TinyFrame::request(1, "1000")).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        token.cancel();
        let reply = call.await.unwrap().unwrap();
        assert_eq!((reply.id, reply.status), (1, 0));
        server.await.unwrap().unwrap();
        client.closed().await;
        assert_eq!(client.call(TinyFrame::request(2, "0")).await, Err(CallError::Closed));
    }

    #[tokio::test(start_paused = true)]
    async fn the_drain_timeout_answers_calls_still_in_flight_with_an_error() {
        let server_config = EngineConfig { drain_timeout: Duration::from_secs(1), ..config() };
        let (client, server, token) = connected(picky, config(), server_config);
        let caller = client.clone();
        let call = tokio::spawn(async move { caller.call(TinyFrame::request(1, "5000")).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let start = Instant::now();
        token.cancel();
        server.await.unwrap().unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        let reply = call.await.unwrap().expect("an answer, not a closed connection");
        assert_eq!((reply.id, reply.status), (1, TinyFrame::status_of(Failure::Timeout)));
    }

    /// Serves `TINY_GO_AWAY` on an in-memory connection, calls run inline (as the gateway
    /// runs them) or in tasks of their own.
    fn go_away_server(
        inline: bool,
        config: EngineConfig,
    ) -> (RawPeer, tokio::task::JoinHandle<Result<(), EngineError>>, CancellationToken) {
        let (ours, peer) = RawPeer::pair();
        let token = CancellationToken::new();
        let (reader, writer) = tokio::io::split(ours);
        let handler = Arc::new(picky);
        let serve =
            serve_halves(&TINY_GO_AWAY, reader, writer, handler, config, token.clone(), inline);
        (peer, tokio::spawn(serve), token)
    }

    #[tokio::test(start_paused = true)]
    async fn a_draining_connection_says_go_away_and_serves_what_still_arrives() {
        for inline in [false, true] {
            let (mut peer, server, token) = go_away_server(inline, config());
            peer.send(&TinyFrame::request(1, "300")).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
            token.cancel();
            let told = peer.recv().await.unwrap();
            assert_eq!(told.kind, StreamKind::GoAway, "inline: {inline}");
            // A request the caller sent before it read the go-away is served, not dropped.
            peer.send(&TinyFrame::request(2, "100")).await;
            let mut ids = vec![peer.recv().await.unwrap().id, peer.recv().await.unwrap().id];
            ids.sort_unstable();
            assert_eq!(ids, [1, 2]);
            // Quiet for `drain_quiet` with nothing in flight: the connection closes.
            let answered = Instant::now();
            assert!(peer.recv().await.is_none());
            assert_eq!(answered.elapsed(), config().drain_quiet);
            server.await.unwrap().unwrap();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn drain_timeout_answers_every_call_both_in_flight_and_unread() {
        for inline in [false, true] {
            let drain = EngineConfig { drain_timeout: Duration::from_secs(2), ..config() };
            let (mut peer, server, token) = go_away_server(inline, drain);
            peer.send(&TinyFrame::request(1, "60000")).await;
            peer.send(&TinyFrame::new(StreamKind::OneWayRequest, 2, "60000")).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
            token.cancel();
            assert_eq!(peer.recv().await.unwrap().kind, StreamKind::GoAway);
            let reply = peer.recv().await.unwrap();
            let timeout = TinyFrame::status_of(Failure::Timeout);
            assert_eq!((reply.id, reply.status), (1, timeout), "inline: {inline}");
            assert!(peer.recv().await.is_none(), "nothing for the one-way call, then the close");
            server.await.unwrap().unwrap();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_go_away_a_draining_connection_closes_once_quiet() {
        let (mut idle, idle_server, token) = raw_server(picky, config());
        let (mut busy, busy_server, busy_token) = raw_server(picky, config());
        busy.send(&TinyFrame::request(1, "0")).await;
        assert_eq!(busy.recv().await.unwrap().id, 1);
        tokio::time::sleep(Duration::from_secs(5)).await;
        busy.send(&TinyFrame::request(2, "500")).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        let start = Instant::now();
        token.cancel();
        busy_token.cancel();
        // Still answered after the drain began, and the close waits for a quiet period.
        busy.send(&TinyFrame::request(3, "0")).await;
        assert!(idle.recv().await.is_none());
        assert_eq!(start.elapsed(), config().drain_quiet, "idle: closed after a quiet period");
        idle_server.await.unwrap().unwrap();
        let mut ids = vec![busy.recv().await.unwrap().id, busy.recv().await.unwrap().id];
        ids.sort_unstable();
        assert_eq!(ids, [2, 3]);
        assert!(busy.recv().await.is_none());
        assert_eq!(start.elapsed(), Duration::from_millis(490) + config().drain_quiet);
        busy_server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn decode_error_closes_only_that_connection() {
        let config = config();
        let server = Server::bind(&TINY, "127.0.0.1:0", picky, config).await.unwrap().spawn();
        let addr = server.local_addr();
        let good = Client::connect(&TINY, addr, config).await.unwrap();
        assert_eq!(good.call(TinyFrame::request(1, "0")).await.unwrap().body, "0");
        let mut bad = tokio::net::TcpStream::connect(addr).await.unwrap();
        bad.write_all(&[0x42; 32]).await.unwrap();
        let mut sink = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), bad.read_to_end(&mut sink));
        assert!(read.await.is_ok(), "the bad connection is closed");
        assert!(sink.is_empty());
        assert_eq!(good.call(TinyFrame::request(2, "5")).await.unwrap().body, "5");
        tokio::time::timeout(Duration::from_secs(5), server.shutdown()).await.unwrap();
    }

    #[tokio::test]
    async fn server_shutdown_is_graceful() {
        let config = config();
        let server = Server::bind(&TINY, "127.0.0.1:0", picky, config).await.unwrap().spawn();
        let client = Client::connect(&TINY, server.local_addr(), config).await.unwrap();
        let caller = client.clone();
        let call = tokio::spawn(async move { caller.call(TinyFrame::request(1, "200")).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        tokio::time::timeout(Duration::from_secs(5), server.shutdown()).await.unwrap();
        assert_eq!(call.await.unwrap().unwrap().body, "200");
        tokio::time::timeout(Duration::from_secs(5), client.closed()).await.unwrap();
    }
}
