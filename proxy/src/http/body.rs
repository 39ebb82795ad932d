//! Bodies on the HTTP path: one boxed body type for everything the gateway sends, a request
//! body that enforces the size limit while it streams, and a recording of the first bytes of
//! a request body so that a request can be retried after its body was sent.
//!
//! Bodies are streamed frame by frame in both directions; nothing here holds a whole body,
//! except the recording, which stops at [`RETRY_BUFFER_BYTES`] and then only remembers that it
//! overflowed (the request can then no longer be retried).

use std::error::Error as StdError;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};

/// The error type of every body the gateway handles.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// Every body the gateway sends, downstream or upstream.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// Request bodies up to this size are remembered while they stream, so that the request can
/// be sent again on a retry (Envoy's per-request retry buffer plays the same role).
pub const RETRY_BUFFER_BYTES: usize = 64 * 1024;

/// An empty body.
pub fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// A body of these bytes.
pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed_unsync()
}

/// Boxes any body whose error converts into [`BoxError`].
pub fn boxed<B>(body: B) -> ProxyBody
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}

/// The request body grew past `http.limits.max_body_bytes`.
#[derive(Debug)]
pub struct BodyTooLarge {
    /// The limit.
    pub limit: u64,
}

impl fmt::Display for BodyTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request body larger than {} bytes", self.limit)
    }
}

impl StdError for BodyTooLarge {}

/// What a [`Recorded`] body saw: its first bytes and whether it ended within the buffer.
#[derive(Default)]
struct Recording {
    chunks: Vec<Bytes>,
    bytes: usize,
    trailers: Option<HeaderMap>,
    complete: bool,
    overflowed: bool,
    too_large: bool,
    grpc_error: Option<xprotocol_grpc::MessageError>,
    /// What was left of a body refused for its size, to be read and thrown away.
    leftover: Option<ProxyBody>,
    /// The last poll of the downstream body found no data yet: whoever is waiting on this
    /// body (the upstream, through hyper's client) waits on the caller, not the other way.
    waiting_on_caller: bool,
    /// The downstream body ended in an error: the caller hung up or reset mid-body.
    caller_failed: bool,
}

/// A shared handle on a request body's recording.
#[derive(Clone, Default)]
pub struct Replay {
    inner: Arc<Mutex<Recording>>,
}

impl Replay {
    fn lock(&self) -> std::sync::MutexGuard<'_, Recording> {
        // A panic while holding this lock cannot leave the recording inconsistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The whole body again, if it ended within [`RETRY_BUFFER_BYTES`]; `None` if it was too
    /// large to keep or has not ended yet.
    pub fn body(&self) -> Option<ProxyBody> {
        let rec = self.lock();
        if !rec.complete || rec.overflowed {
            return None;
        }
        Some(boxed(ReplayBody {
            chunks: rec.chunks.clone().into(),
            trailers: rec.trailers.clone(),
        }))
    }

    /// Whether the body ran past the configured size limit.
    pub fn too_large(&self) -> bool {
        self.lock().too_large
    }

    /// The rest of a body refused for its size (once), so the caller can discard it.
    pub fn take_leftover(&self) -> Option<ProxyBody> {
        self.lock().leftover.take()
    }

    /// The gRPC framing error that ended the body, if one did (a message over the limit).
    pub fn grpc_error(&self) -> Option<xprotocol_grpc::MessageError> {
        self.lock().grpc_error
    }

    /// Whether the caller is holding the request up: its body has not ended and the last
    /// read of it found nothing to send. A deadline that passes in this state is the caller's
    /// stall (a client that sent part of its upload and went quiet), not the upstream's
    /// slowness. An upstream that stopped reading (back-pressure) leaves the body unpolled
    /// after a read that *did* yield data, so it does not count here.
    pub fn stalled_by_caller(&self) -> bool {
        let rec = self.lock();
        rec.waiting_on_caller && !rec.complete
    }

    /// Whether the downstream body failed (the caller hung up or reset its stream mid-body),
    /// so that a failed upstream try is the caller's doing. A body refused for its size is
    /// [`too_large`](Self::too_large) instead.
    pub fn caller_failed(&self) -> bool {
        self.lock().caller_failed
    }
}

/// A downstream request body on its way upstream: counts bytes against the size limit (an
/// error ends the stream once it is passed) and records the first bytes for retries.
pub struct Recorded<B> {
    /// `None` once the body was refused for its size (its rest went to the recording).
    inner: Option<B>,
    limit: Option<u64>,
    seen: u64,
    replay: Replay,
}

impl<B: Body> Recorded<B> {
    /// Wraps `inner`; `limit` is the largest body allowed (`None`: unlimited).
    pub fn new(inner: B, limit: Option<u64>) -> (Self, Replay) {
        let replay = Replay::default();
        // A body that is already over (a GET) is replayable at once.
        replay.lock().complete = inner.is_end_stream();
        (Recorded { inner: Some(inner), limit, seen: 0, replay: replay.clone() }, replay)
    }
}

impl<B> Body for Recorded<B>
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(&mut *inner).poll_frame(cx);
        match polled {
            Poll::Pending => {
                this.replay.lock().waiting_on_caller = true;
                Poll::Pending
            }
            Poll::Ready(None) => {
                let mut rec = this.replay.lock();
                rec.complete = true;
                rec.waiting_on_caller = false;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                let e: BoxError = e.into();
                let mut rec = this.replay.lock();
                rec.waiting_on_caller = false;
                // Kept here because an HTTP/2 client reports only its own stream reset.
                rec.grpc_error = super::grpc::message_error(&*e);
                rec.caller_failed = rec.grpc_error.is_none();
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(Some(Ok(frame))) => {
                let mut rec = this.replay.lock();
                rec.waiting_on_caller = false;
                if let Some(data) = frame.data_ref() {
                    this.seen += data.len() as u64;
                    if let Some(limit) = this.limit.filter(|limit| this.seen > *limit) {
                        rec.too_large = true;
                        rec.overflowed = true;
                        rec.leftover = this.inner.take().map(boxed);
                        return Poll::Ready(Some(Err(Box::new(BodyTooLarge { limit }))));
                    }
                    if !rec.overflowed {
                        if rec.bytes + data.len() > RETRY_BUFFER_BYTES {
                            rec.overflowed = true;
                            rec.chunks = Vec::new();
                        } else {
                            rec.bytes += data.len();
                            rec.chunks.push(data.clone());
                        }
                    }
                } else if let Some(trailers) = frame.trailers_ref() {
                    rec.trailers = Some(trailers.clone());
                }
                // hyper stops polling once the body says it has ended, so the end may never
                // be seen as a `None`.
                if this.inner.as_ref().is_none_or(Body::is_end_stream) {
                    rec.complete = true;
                }
                Poll::Ready(Some(Ok(frame)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.as_ref().map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

/// A recorded body played again.
struct ReplayBody {
    chunks: std::collections::VecDeque<Bytes>,
    trailers: Option<HeaderMap>,
}

impl Body for ReplayBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(chunk) = self.chunks.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        if self.trailers.is_some() {
            return SizeHint::default();
        }
        SizeHint::with_exact(self.chunks.iter().map(|c| c.len() as u64).sum())
    }
}

/// A body whose first frame was already read (to look at it) put back in front of the rest.
pub struct Prefixed<B> {
    first: Option<Frame<Bytes>>,
    inner: B,
}

impl<B> Prefixed<B> {
    /// `first`, then the rest of `inner`.
    pub fn new(first: Frame<Bytes>, inner: B) -> Self {
        Prefixed { first: Some(first), inner }
    }
}

impl<B> Body for Prefixed<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.inner.is_end_stream()
    }
}

/// Keeps a value alive until the body it wraps has ended or been dropped (an upstream
/// connection's pool slot, an active-request count, a circuit-breaker permit).
pub struct Guarded<B, G> {
    inner: B,
    guard: Option<G>,
    on_end: Option<Box<dyn FnOnce(G) + Send>>,
}

impl<B, G> Guarded<B, G> {
    /// `inner`, holding `guard` until it ends; `on_end` receives the guard if the body ends
    /// cleanly (for instance to return a connection to its pool), and it is dropped otherwise.
    pub fn new(inner: B, guard: G, on_end: Option<Box<dyn FnOnce(G) + Send>>) -> Self
    where
        B: Body,
    {
        let mut body = Guarded { inner, guard: Some(guard), on_end };
        // An empty body (a 204, a HEAD response) has ended already; it may never be polled.
        if body.inner.is_end_stream() {
            body.end();
        }
        body
    }

    fn end(&mut self) {
        if let (Some(guard), Some(on_end)) = (self.guard.take(), self.on_end.take()) {
            on_end(guard);
        }
    }
}

impl<B, G> Body for Guarded<B, G>
where
    B: Body<Data = Bytes> + Unpin,
    G: Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.end(),
            // hyper stops polling a body that says it has ended, so the end may never come
            // as a `None`.
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => this.end(),
            Poll::Ready(Some(Err(_))) => {
                this.guard = None;
                this.on_end = None;
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    fn chunks(
        parts: &[&'static [u8]],
    ) -> impl Body<Data = Bytes, Error = std::convert::Infallible> + Unpin {
        let frames: Vec<_> = parts.iter().map(|p| Ok(Frame::data(Bytes::from_static(p)))).collect();
        StreamBody::new(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn a_small_body_streams_through_and_can_be_replayed() {
        let (body, replay) = Recorded::new(chunks(&[b"ab", b"cd"]), Some(10));
        assert!(replay.body().is_none(), "not replayable before it has ended");
        let sent = body.collect().await.unwrap().to_bytes();
        assert_eq!(&sent[..], b"abcd");
        let again = replay.body().expect("ended within the buffer").collect().await.unwrap();
        assert_eq!(&again.to_bytes()[..], b"abcd");
        assert!(!replay.too_large());
    }

    #[tokio::test]
    async fn a_body_waiting_on_its_caller_is_the_callers_stall_and_its_failure_the_callers() {
        use futures_util::StreamExt;
        // Ten bytes, then nothing (a caller that went quiet mid-upload).
        let quiet = futures_util::stream::iter([Ok::<_, BoxError>(Frame::data(
            Bytes::from_static(b"0123456789"),
        ))])
        .chain(futures_util::stream::pending());
        let (mut body, replay) = Recorded::new(StreamBody::new(quiet), None);
        assert!(!replay.stalled_by_caller(), "nothing read yet");
        assert!(body.frame().await.is_some());
        assert!(!replay.stalled_by_caller(), "the last read yielded data");
        let waited = tokio::time::timeout(std::time::Duration::from_millis(10), body.frame()).await;
        assert!(waited.is_err(), "the caller sends nothing more");
        assert!(replay.stalled_by_caller());
        assert!(!replay.caller_failed());

        // A caller that hangs up mid-body: the downstream body fails.
        let cut = futures_util::stream::iter([
            Ok(Frame::data(Bytes::from_static(b"01"))),
            Err::<Frame<Bytes>, BoxError>("connection closed before message completed".into()),
        ]);
        let (mut body, replay) = Recorded::new(StreamBody::new(cut), None);
        assert!(body.frame().await.is_some_and(|f| f.is_ok()));
        assert!(body.frame().await.is_some_and(|f| f.is_err()));
        assert!(replay.caller_failed());
        assert!(!replay.stalled_by_caller());
        assert!(!replay.too_large());

        // A whole body is neither.
        let (body, replay) = Recorded::new(chunks(&[b"ab"]), None);
        body.collect().await.unwrap();
        assert!(!replay.stalled_by_caller() && !replay.caller_failed());
    }

    #[tokio::test]
    async fn an_empty_body_is_replayable_before_it_is_polled() {
        let (_body, replay) = Recorded::new(http_body_util::Empty::<Bytes>::new(), None);
        let again = replay.body().expect("nothing to wait for").collect().await.unwrap();
        assert!(again.to_bytes().is_empty());
    }

    #[tokio::test]
    async fn a_body_over_the_limit_fails_and_is_marked_too_large() {
        let (body, replay) = Recorded::new(chunks(&[b"abcdef", b"ghijkl"]), Some(8));
        let err = body.collect().await.expect_err("the limit is enforced while streaming");
        assert!(err.downcast_ref::<BodyTooLarge>().is_some(), "{err}");
        assert!(replay.too_large());
        assert!(replay.body().is_none());
        let rest = replay.take_leftover().expect("the unread rest is handed over");
        // The chunk that passed the limit was refused; nothing came after it.
        assert!(rest.collect().await.unwrap().to_bytes().is_empty());
    }

    #[tokio::test]
    async fn a_body_past_the_retry_buffer_is_not_replayable() {
        static BIG: [u8; RETRY_BUFFER_BYTES] = [7; RETRY_BUFFER_BYTES];
        let (body, replay) = Recorded::new(chunks(&[&BIG, b"x"]), None);
        let sent = body.collect().await.unwrap().to_bytes();
        assert_eq!(sent.len(), RETRY_BUFFER_BYTES + 1, "streams whole");
        assert!(replay.body().is_none(), "too big to keep for a retry");
    }

    #[tokio::test]
    async fn a_guard_is_handed_back_only_when_the_body_ends_cleanly() {
        let returned = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&returned);
        let body = Guarded::new(
            chunks(&[b"a"]),
            7u32,
            Some(Box::new(move |g| sink.lock().unwrap().push(g))),
        );
        body.collect().await.unwrap();
        assert_eq!(*returned.lock().unwrap(), vec![7]);
        let sink = Arc::clone(&returned);
        let dropped = Guarded::new(
            chunks(&[b"a"]),
            8u32,
            Some(Box::new(move |g| sink.lock().unwrap().push(g))),
        );
        drop(dropped);
        assert_eq!(*returned.lock().unwrap(), vec![7], "a dropped body returns nothing");
        let sink = Arc::clone(&returned);
        let empty = Guarded::new(
            http_body_util::Empty::<Bytes>::new(),
            9u32,
            Some(Box::new(move |g| sink.lock().unwrap().push(g))),
        );
        assert_eq!(*returned.lock().unwrap(), vec![7, 9], "an empty body has ended at once");
        drop(empty);
    }
}
