//! The client handle: many calls in flight on one connection, replies matched by request id.

use std::io;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::client_conn::ClientConn;
use super::{CallError, EngineConfig};
use crate::{Frame, Protocol, RequestId, RequestIdGenerator};

/// Calls queued for the connection task but not yet taken. Callers wait for room (within their
/// timeout), so the queue bounds memory, not the number of calls.
const COMMAND_QUEUE: usize = 1024;

/// What callers ask of the connection task.
pub(crate) enum Command<F> {
    /// Write `frame` (already carrying `id`) and answer `reply` when the reply comes.
    Call { id: RequestId, frame: F, reply: oneshot::Sender<Result<F, CallError>> },
    /// Write `frame`, expect nothing back.
    OneWay { frame: F },
}

pub(crate) const OPEN: u8 = 0;
pub(crate) const DRAINING: u8 = 1;
pub(crate) const CLOSED: u8 = 2;

/// State shared by the handles and the connection task; atomics only, no lock.
#[derive(Debug)]
pub(crate) struct Shared {
    /// `OPEN`, `DRAINING` or `CLOSED`.
    pub(crate) state: AtomicU8,
    /// Calls between admission and completion, counted by the callers.
    in_flight: AtomicUsize,
    /// Entries in the task's pending table, published once per loop turn (for tests).
    pub(crate) registered: AtomicUsize,
    pub(crate) ids: RequestIdGenerator,
    /// Cancelled to ask the task to drain.
    pub(crate) drain: CancellationToken,
    /// Cancelled by the task when it has ended.
    pub(crate) done: CancellationToken,
}

impl Shared {
    /// The error for a call that finds the connection not open.
    pub(crate) fn refusal(&self) -> CallError {
        if self.state.load(Ordering::Acquire) == DRAINING {
            CallError::Draining
        } else {
            CallError::Closed
        }
    }

    fn admit(&self) -> Result<(), CallError> {
        if self.state.load(Ordering::Acquire) == OPEN {
            Ok(())
        } else {
            Err(self.refusal())
        }
    }
}

/// A cheap, cloneable handle to one client connection. The connection is owned by a task
/// spawned on creation that keeps one read buffer, one write buffer and the table of pending
/// calls; calls reach it through a bounded queue, and every frame queued in one loop turn is
/// written with one flush.
///
/// The connection ends when [`close`](Client::close) finishes draining, when the peer closes
/// or sends garbage, when heartbeats go unanswered, or when every handle is dropped (calls
/// cannot be in flight then, since a call borrows its handle).
pub struct Client<P: Protocol> {
    inner: Arc<Inner<P>>,
}

struct Inner<P: Protocol> {
    commands: mpsc::Sender<Command<P::Frame>>,
    cancels: mpsc::UnboundedSender<RequestId>,
    shared: Arc<Shared>,
    config: EngineConfig,
}

impl<P: Protocol> Clone for Client<P> {
    fn clone(&self) -> Self {
        Client { inner: Arc::clone(&self.inner) }
    }
}

impl<P: Protocol> std::fmt::Debug for Client<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("shared", &self.inner.shared).finish_non_exhaustive()
    }
}

impl<P: Protocol> Client<P> {
    /// Connects over TCP (with `TCP_NODELAY`) and spawns the connection task.
    ///
    /// # Errors
    /// The connect error. No timeout is applied: wrap the call in `tokio::time::timeout`.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub async fn connect(
        protocol: &'static P,
        addr: impl ToSocketAddrs,
        config: EngineConfig,
    ) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (reader, writer) = stream.into_split();
        Ok(Self::spawn(protocol, reader, writer, config))
    }

    /// Spawns the connection task over an established stream (TLS, a Unix socket, an
    /// in-memory pipe…).
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn from_io<IO>(protocol: &'static P, io: IO, config: EngineConfig) -> Self
    where
        IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (reader, writer) = tokio::io::split(io);
        Self::spawn(protocol, reader, writer, config)
    }

    fn spawn<R, W>(protocol: &'static P, reader: R, writer: W, config: EngineConfig) -> Self
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
        let (cancels, cancel_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            state: AtomicU8::new(OPEN),
            in_flight: AtomicUsize::new(0),
            registered: AtomicUsize::new(0),
            ids: RequestIdGenerator::new(protocol.max_request_id()),
            drain: CancellationToken::new(),
            done: CancellationToken::new(),
        });
        let conn = ClientConn::new(
            protocol,
            reader,
            writer,
            command_rx,
            cancel_rx,
            Arc::clone(&shared),
            config,
        );
        tokio::spawn(conn.run());
        Client { inner: Arc::new(Inner { commands, cancels, shared, config }) }
    }

    /// Sends a request and waits for its reply, within [`EngineConfig::request_timeout`].
    /// See [`call_with_timeout`](Client::call_with_timeout).
    ///
    /// # Errors
    /// See [`call_with_timeout`](Client::call_with_timeout).
    pub async fn call(&self, frame: P::Frame) -> Result<P::Frame, CallError> {
        self.call_with_timeout(frame, self.inner.config.request_timeout).await
    }

    /// Sends a request and waits up to `timeout` (queueing included) for its reply.
    ///
    /// The frame is given a fresh request id, unique among this connection's calls, and the
    /// reply comes back with the frame's original id restored: a relay can hand it straight
    /// back to its own caller.
    ///
    /// Cancellation: dropping the returned future forgets the call (its pending entry is
    /// removed; a reply that comes later is dropped). The request may already be written.
    ///
    /// # Errors
    /// [`CallError::Draining`], [`Closed`](CallError::Closed) or
    /// [`Overloaded`](CallError::Overloaded) if the call is refused before sending;
    /// [`Encode`](CallError::Encode) if it cannot be written; [`Timeout`](CallError::Timeout);
    /// and whatever closes the connection while the call waits (`Closed`, `Decode`, `Io`).
    pub async fn call_with_timeout(
        &self,
        frame: P::Frame,
        timeout: Duration,
    ) -> Result<P::Frame, CallError> {
        match tokio::time::timeout(timeout, self.call_untimed(frame)).await {
            Ok(result) => result,
            Err(_) => Err(CallError::Timeout),
        }
    }

    /// [`call`](Self::call) without a timeout of its own, for a caller that bounds the call
    /// itself (the relay, whose per-try deadline covers it): one timer per request fewer.
    pub(crate) async fn call_untimed(&self, mut frame: P::Frame) -> Result<P::Frame, CallError> {
        let inner = &*self.inner;
        inner.shared.admit()?;
        let _slot = InFlightSlot::acquire(&inner.shared, inner.config.max_in_flight)?;
        let caller_id = frame.request_id();
        let id = inner.shared.ids.next_id();
        frame.set_request_id(id)?;
        let (reply, rx) = oneshot::channel();
        let mut pending = PendingGuard { id, cancels: &inner.cancels, armed: false };
        let sent = inner.commands.send(Command::Call { id, frame, reply }).await;
        sent.map_err(|_| inner.shared.refusal())?;
        pending.armed = true;
        let outcome = rx.await.map_err(|_| CallError::Closed)?;
        // The task removed the entry before answering.
        pending.armed = false;
        let mut reply = outcome?;
        reply.set_request_id(caller_id)?;
        Ok(reply)
    }

    /// Queues a one-way request (given a fresh id) for writing; returns once it is queued,
    /// not once it is written. Waits for queue room at most
    /// [`EngineConfig::request_timeout`]. Delivery is not confirmed: if the connection closes
    /// first, or the frame cannot be encoded (logged), it is lost.
    ///
    /// # Errors
    /// `Draining` or `Closed` if the connection takes no new requests, `Encode` if the id
    /// cannot be set, `Timeout` if the queue stayed full.
    pub async fn send_oneway(&self, mut frame: P::Frame) -> Result<(), CallError> {
        let inner = &*self.inner;
        inner.shared.admit()?;
        frame.set_request_id(inner.shared.ids.next_id())?;
        let send = inner.commands.send(Command::OneWay { frame });
        match tokio::time::timeout(inner.config.request_timeout, send).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(inner.shared.refusal()),
            Err(_) => Err(CallError::Timeout),
        }
    }

    /// Closes gracefully and waits until the connection has ended: new calls are refused with
    /// [`CallError::Draining`], calls in flight get their replies (within
    /// [`EngineConfig::drain_timeout`], after which they fail with `Closed`), then the write
    /// half is flushed and shut down. Closes the connection for every clone of this handle.
    /// Returns at once if the connection has already ended.
    pub async fn close(&self) {
        let shared = &self.inner.shared;
        let _ = shared.state.compare_exchange(OPEN, DRAINING, Ordering::AcqRel, Ordering::Acquire);
        shared.drain.cancel();
        shared.done.cancelled().await;
    }

    /// Waits until the connection has ended, for whatever reason.
    pub async fn closed(&self) {
        self.inner.shared.done.cancelled().await;
    }

    /// Whether the connection takes new calls (not draining, not closed).
    pub fn is_open(&self) -> bool {
        self.inner.shared.state.load(Ordering::Acquire) == OPEN
    }

    /// Calls in flight on this connection, as counted by their callers (for least-request
    /// balancing).
    pub fn in_flight(&self) -> usize {
        self.inner.shared.in_flight.load(Ordering::Relaxed)
    }

    /// Entries in the connection task's pending table, as of its last loop turn.
    #[cfg(test)]
    pub(crate) fn registered(&self) -> usize {
        self.inner.shared.registered.load(Ordering::Relaxed)
    }
}

/// One admitted call, counted against `max_in_flight` until dropped.
struct InFlightSlot<'a>(&'a Shared);

impl<'a> InFlightSlot<'a> {
    fn acquire(shared: &'a Shared, max: usize) -> Result<Self, CallError> {
        if shared.in_flight.fetch_add(1, Ordering::AcqRel) >= max {
            shared.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(CallError::Overloaded);
        }
        Ok(InFlightSlot(shared))
    }
}

impl Drop for InFlightSlot<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Tells the task to forget a call that was handed to it and ended without its reply
/// (timeout or a dropped future), so that no pending entry outlives its caller.
struct PendingGuard<'a> {
    id: RequestId,
    cancels: &'a mpsc::UnboundedSender<RequestId>,
    armed: bool,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            // Fails only once the task has ended, and then there is no table left.
            let _ = self.cancels.send(self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use futures_util::future::join_all;
    use tokio::time::Instant;

    use super::*;
    use crate::engine::test_protocol::{connected, echo, RawPeer, TinyFrame, TINY};
    use crate::StreamKind;

    fn config() -> EngineConfig {
        EngineConfig { heartbeat_interval: None, ..EngineConfig::default() }
    }

    fn raw_client(config: EngineConfig) -> (Client<crate::engine::test_protocol::Tiny>, RawPeer) {
        let (ours, peer) = RawPeer::pair();
        (Client::from_io(&TINY, ours, config), peer)
    }

    fn reply_to(request: &TinyFrame, body: &'static str) -> TinyFrame {
        TinyFrame::new(StreamKind::Response, request.id, body)
    }

    /// Polls `cond` while virtual time passes, for at most a second.
    async fn eventually(cond: impl Fn() -> bool) {
        for _ in 0..1000 {
            if cond() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("condition not met within a second");
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_calls_are_answered_out_of_order_each_to_its_caller() {
        let handler = |request: TinyFrame| async move {
            let n: u64 = std::str::from_utf8(&request.body).ok()?.parse().ok()?;
            tokio::time::sleep(Duration::from_millis(200 - n)).await;
            Some(echo(&request))
        };
        let (client, _server, _token) = connected(handler, config(), config());
        let finished = Mutex::new(Vec::new());
        let calls = (0..100u32).map(|i| {
            let (client, finished) = (&client, &finished);
            async move {
                let reply = client.call(TinyFrame::request(i, i.to_string())).await.unwrap();
                finished.lock().unwrap().push(i);
                assert_eq!(reply.id, i, "caller's id restored");
                assert_eq!(reply.body, i.to_string(), "each caller gets its own reply");
            }
        });
        join_all(calls).await;
        let order = finished.into_inner().unwrap();
        assert_eq!(order.len(), 100);
        assert_eq!(order.first(), Some(&99), "the shortest call, sent last, finishes first");
        assert_eq!(client.in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn wire_id_is_fresh_and_callers_id_is_restored() {
        let (client, mut peer) = raw_client(config());
        let call = tokio::spawn(async move { client.call(TinyFrame::request(777, "x")).await });
        let request = peer.recv().await.unwrap();
        assert_eq!(request.kind, StreamKind::Request);
        assert_ne!(request.id, 777, "the wire carries a connection-local id");
        assert_eq!(request.body, "x");
        peer.send(&reply_to(&request, "y")).await;
        let reply = call.await.unwrap().unwrap();
        assert_eq!((reply.id, &reply.body[..]), (777, &b"y"[..]));
    }

    #[tokio::test(start_paused = true)]
    async fn oneway_is_written_and_expects_nothing() {
        let (client, mut peer) = raw_client(config());
        let oneway = TinyFrame::new(StreamKind::OneWayRequest, 5, "fire");
        client.send_oneway(oneway).await.unwrap();
        let got = peer.recv().await.unwrap();
        assert_eq!((got.kind, &got.body[..]), (StreamKind::OneWayRequest, &b"fire"[..]));
        assert_eq!(client.registered(), 0, "no pending entry for a one-way request");
    }

    #[tokio::test(start_paused = true)]
    async fn heartbeats_are_sent_on_idle_and_answers_keep_the_connection() {
        let interval = Duration::from_secs(1);
        let cfg = EngineConfig { heartbeat_interval: Some(interval), ..config() };
        let (client, mut peer) = raw_client(cfg);
        let start = Instant::now();
        for round in 1..=6u32 {
            let probe = peer.recv().await.unwrap();
            assert_eq!(probe.kind, StreamKind::HeartbeatRequest);
            let at = start.elapsed();
            assert!(at >= interval * round && at < interval * round + interval / 2, "{at:?}");
            peer.send(&TinyFrame::new(StreamKind::HeartbeatResponse, probe.id, "")).await;
        }
        assert!(client.is_open());
        // The peer's own heartbeat is answered by the engine.
        peer.send(&TinyFrame::new(StreamKind::HeartbeatRequest, 42, "")).await;
        let answer = peer.recv().await.unwrap();
        assert_eq!((answer.kind, answer.id), (StreamKind::HeartbeatResponse, 42));
    }

    #[tokio::test(start_paused = true)]
    async fn missed_heartbeats_close_and_fail_in_flight_calls() {
        let cfg = EngineConfig {
            heartbeat_interval: Some(Duration::from_secs(1)),
            max_missed_heartbeats: 3,
            request_timeout: Duration::from_secs(600),
            ..config()
        };
        let (client, mut peer) = raw_client(cfg);
        let start = Instant::now();
        let caller = client.clone();
        let call = tokio::spawn(async move { caller.call(TinyFrame::request(1, "q")).await });
        assert_eq!(peer.recv().await.unwrap().kind, StreamKind::Request);
        for _ in 0..3 {
            assert_eq!(peer.recv().await.unwrap().kind, StreamKind::HeartbeatRequest);
        }
        assert_eq!(call.await.unwrap(), Err(CallError::Closed));
        assert!(start.elapsed() <= Duration::from_secs(5), "{:?}", start.elapsed());
        assert!(peer.recv().await.is_none(), "the connection is closed");
        assert_eq!(client.call(TinyFrame::request(2, "")).await, Err(CallError::Closed));
    }

    #[tokio::test(start_paused = true)]
    async fn unanswered_call_times_out_and_leaves_nothing_pending() {
        let (client, mut peer) = raw_client(config());
        let start = Instant::now();
        let result =
            client.call_with_timeout(TinyFrame::request(1, ""), Duration::from_millis(100)).await;
        assert_eq!(result, Err(CallError::Timeout));
        assert_eq!(start.elapsed(), Duration::from_millis(100));
        assert!(peer.recv().await.is_some(), "the request was written");
        assert_eq!(client.in_flight(), 0);
        eventually(|| client.registered() == 0).await;
    }

    #[tokio::test(start_paused = true)]
    async fn late_reply_is_dropped_and_other_calls_are_unharmed() {
        let (client, mut peer) = raw_client(config());
        let short = Duration::from_millis(100);
        let late = client.call_with_timeout(TinyFrame::request(1, "a"), short);
        assert_eq!(late.await, Err(CallError::Timeout));
        let a = peer.recv().await.unwrap();
        let caller = client.clone();
        let call = tokio::spawn(async move { caller.call(TinyFrame::request(2, "b")).await });
        let b = peer.recv().await.unwrap();
        peer.send(&reply_to(&a, "late reply to a")).await;
        peer.send(&reply_to(&b, "reply to b")).await;
        let reply = call.await.unwrap().unwrap();
        assert_eq!((reply.id, &reply.body[..]), (2, &b"reply to b"[..]));
        assert!(client.is_open());
        eventually(|| client.registered() == 0).await;
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_call_future_leaves_no_pending_entry() {
        let (client, mut peer) = raw_client(config());
        let caller = client.clone();
        let call = tokio::spawn(async move { caller.call(TinyFrame::request(1, "")).await });
        peer.recv().await.unwrap();
        eventually(|| client.registered() == 1).await;
        assert_eq!(client.in_flight(), 1);
        call.abort();
        assert!(call.await.unwrap_err().is_cancelled());
        assert_eq!(client.in_flight(), 0);
        eventually(|| client.registered() == 0).await;
    }

    #[tokio::test(start_paused = true)]
    async fn max_in_flight_refuses_more_calls() {
        let (client, mut peer) = raw_client(EngineConfig { max_in_flight: 2, ..config() });
        let calls: Vec<_> = (0..2)
            .map(|i| {
                let caller = client.clone();
                tokio::spawn(async move { caller.call(TinyFrame::request(i, "")).await })
            })
            .collect();
        let first = peer.recv().await.unwrap();
        let second = peer.recv().await.unwrap();
        assert_eq!(client.call(TinyFrame::request(9, "")).await, Err(CallError::Overloaded));
        peer.send(&reply_to(&first, "")).await;
        peer.send(&reply_to(&second, "")).await;
        for call in calls {
            assert!(call.await.unwrap().is_ok());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn go_away_refuses_new_calls_and_lets_in_flight_finish() {
        let (client, mut peer) = raw_client(config());
        let caller = client.clone();
        let call = tokio::spawn(async move { caller.call(TinyFrame::request(1, "")).await });
        let request = peer.recv().await.unwrap();
        peer.send(&TinyFrame::new(StreamKind::GoAway, 0, "")).await;
        eventually(|| !client.is_open()).await;
        assert_eq!(client.call(TinyFrame::request(2, "")).await, Err(CallError::Draining));
        peer.send(&reply_to(&request, "done")).await;
        assert_eq!(call.await.unwrap().unwrap().body, "done");
        client.closed().await;
        assert!(peer.recv().await.is_none(), "write half shut down once drained");
    }

    #[tokio::test(start_paused = true)]
    async fn close_is_graceful() {
        let (client, mut peer) = raw_client(config());
        let caller = client.clone();
        let call = tokio::spawn(async move { caller.call(TinyFrame::request(1, "")).await });
        let request = peer.recv().await.unwrap();
        let closer = client.clone();
        let close = tokio::spawn(async move { closer.close().await });
        eventually(|| !client.is_open()).await;
        assert_eq!(client.call(TinyFrame::request(2, "")).await, Err(CallError::Draining));
        assert!(!close.is_finished(), "close waits for the call in flight");
        peer.send(&reply_to(&request, "done")).await;
        assert_eq!(call.await.unwrap().unwrap().body, "done");
        close.await.unwrap();
        assert!(peer.recv().await.is_none());
        assert_eq!(client.call(TinyFrame::request(3, "")).await, Err(CallError::Closed));
    }

    #[tokio::test(start_paused = true)]
    async fn close_gives_up_on_calls_after_the_drain_timeout() {
        let cfg = EngineConfig { drain_timeout: Duration::from_secs(2), ..config() };
        let (client, mut peer) = raw_client(cfg);
        let caller = client.clone();
        let call = tokio::spawn(async move { caller.call(TinyFrame::request(1, "")).await });
        peer.recv().await.unwrap();
        let start = Instant::now();
        client.close().await;
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        assert_eq!(call.await.unwrap(), Err(CallError::Closed));
    }

    #[tokio::test(start_paused = true)]
    async fn decode_error_fails_in_flight_calls_with_the_typed_error() {
        let (client, mut peer) = raw_client(config());
        let caller = client.clone();
        let call = tokio::spawn(async move { caller.call(TinyFrame::request(1, "")).await });
        peer.recv().await.unwrap();
        peer.send_raw(&[0u8; 11]).await;
        let err = call.await.unwrap().unwrap_err();
        assert!(
            matches!(
                err,
                CallError::Decode(crate::DecodeError::Unsupported { field: "magic", .. })
            ),
            "{err:?}"
        );
        assert_eq!(client.call(TinyFrame::request(2, "")).await, Err(CallError::Closed));
    }
}
