//! A tiny protocol for the engine's tests: magic 0xE5 | kind u8 | status u8 | id u32 |
//! body length u32 | body. Kinds follow [`StreamKind`]'s order; status 0 is success and an
//! error reply carries `1 + ` the failure's index in [`Failure::ALL`].

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::{
    Codec, DecodeError, DetectResult, EncodeError, Failure, Frame, Limits, Protocol, RequestId,
    StreamKind,
};

const MAGIC: u8 = 0xE5;
const HEADER: usize = 11;
const KINDS: [StreamKind; 6] = [
    StreamKind::Request,
    StreamKind::OneWayRequest,
    StreamKind::Response,
    StreamKind::HeartbeatRequest,
    StreamKind::HeartbeatResponse,
    StreamKind::GoAway,
];

/// The test protocol; with `GO_AWAY` it tells draining callers to go away.
pub(crate) struct Tiny<const GO_AWAY: bool = false>;
pub(crate) static TINY: Tiny = Tiny;
pub(crate) static TINY_GO_AWAY: Tiny<true> = Tiny;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TinyFrame {
    pub kind: StreamKind,
    pub status: u8,
    pub id: u32,
    pub body: Bytes,
}

impl TinyFrame {
    pub(crate) fn new(kind: StreamKind, id: u32, body: impl Into<Bytes>) -> Self {
        TinyFrame { kind, status: 0, id, body: body.into() }
    }
    pub(crate) fn request(id: u32, body: impl Into<Bytes>) -> Self {
        Self::new(StreamKind::Request, id, body)
    }
    /// The status an error reply for `failure` carries.
    pub(crate) fn status_of(failure: Failure) -> u8 {
        1 + Failure::ALL.iter().position(|f| *f == failure).unwrap_or(0) as u8
    }
}

impl Frame for TinyFrame {
    fn kind(&self) -> StreamKind {
        self.kind
    }
    fn request_id(&self) -> RequestId {
        RequestId(self.id.into())
    }
    fn set_request_id(&mut self, id: RequestId) -> Result<(), EncodeError> {
        self.id = id.to_u32()?;
        Ok(())
    }
    fn status(&self) -> Option<u32> {
        self.kind.is_reply().then_some(self.status.into())
    }
    fn body(&self) -> &Bytes {
        &self.body
    }
    fn wire_len(&self) -> usize {
        HEADER + self.body.len()
    }
}

pub(crate) struct TinyCodec(Limits);

impl Codec for TinyCodec {
    type Frame = TinyFrame;
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<TinyFrame>, DecodeError> {
        if src.len() < HEADER {
            return Ok(None);
        }
        if src[0] != MAGIC {
            return Err(DecodeError::Unsupported {
                field: "magic",
                offset: 0,
                value: src[0].into(),
            });
        }
        let kind = *KINDS.get(usize::from(src[1])).ok_or(DecodeError::Unsupported {
            field: "kind",
            offset: 1,
            value: src[1].into(),
        })?;
        let len = (&src[7..11]).get_u32() as usize;
        self.0.check_frame((HEADER + len) as u64)?;
        if src.len() < HEADER + len {
            return Ok(None);
        }
        let mut head = src.split_to(HEADER);
        let body = src.split_to(len).freeze();
        head.advance(2);
        let status = head.get_u8();
        Ok(Some(TinyFrame { kind, status, id: head.get_u32(), body }))
    }
    fn encode(&mut self, f: &TinyFrame, dst: &mut BytesMut) -> Result<(), EncodeError> {
        let kind = KINDS.iter().position(|k| *k == f.kind).unwrap_or(0) as u8;
        dst.reserve(f.wire_len());
        dst.put_slice(&[MAGIC, kind, f.status]);
        dst.put_u32(f.id);
        dst.put_u32(f.body.len() as u32);
        dst.put_slice(&f.body);
        Ok(())
    }
}

impl<const GO_AWAY: bool> Protocol for Tiny<GO_AWAY> {
    type Frame = TinyFrame;
    type Codec = TinyCodec;
    fn name(&self) -> &'static str {
        "tiny"
    }
    fn detect(&self, prefix: &[u8]) -> DetectResult {
        DetectResult::fixed_prefix(prefix, &[MAGIC])
    }
    fn codec(&self, limits: Limits) -> TinyCodec {
        TinyCodec(limits)
    }
    fn heartbeat_request(&self, id: RequestId) -> Option<TinyFrame> {
        Some(TinyFrame::new(StreamKind::HeartbeatRequest, id.to_u32().ok()?, Bytes::new()))
    }
    fn heartbeat_reply(&self, request: &TinyFrame) -> Option<TinyFrame> {
        Some(TinyFrame::new(StreamKind::HeartbeatResponse, request.id, Bytes::new()))
    }
    fn go_away(&self) -> Option<TinyFrame> {
        GO_AWAY.then(|| TinyFrame::new(StreamKind::GoAway, 0, Bytes::new()))
    }
    fn error_reply(&self, request: &TinyFrame, failure: Failure, msg: &str) -> Option<TinyFrame> {
        let mut reply = TinyFrame::new(StreamKind::Response, request.id, msg.to_owned());
        reply.status = TinyFrame::status_of(failure);
        Some(reply)
    }
    fn http_status(&self, status: u32) -> u16 {
        if status == 0 {
            200
        } else {
            500
        }
    }
}

/// The far end of an in-memory connection, speaking [`Tiny`] frame by frame: a peer that
/// does exactly what a test tells it (answer late, never answer, send garbage).
pub(crate) struct RawPeer {
    io: tokio::io::DuplexStream,
    codec: TinyCodec,
    buf: BytesMut,
}

impl RawPeer {
    /// A connected pair: the engine's end and the raw peer.
    pub(crate) fn pair() -> (tokio::io::DuplexStream, RawPeer) {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        (ours, RawPeer { io: theirs, codec: TinyCodec(Limits::DEFAULT), buf: BytesMut::new() })
    }
    /// The next frame, or `None` at end of stream.
    pub(crate) async fn recv(&mut self) -> Option<TinyFrame> {
        use tokio::io::AsyncReadExt;
        loop {
            if let Some(frame) = self.codec.decode(&mut self.buf).ok()? {
                return Some(frame);
            }
            if self.io.read_buf(&mut self.buf).await.ok()? == 0 {
                return None;
            }
        }
    }
    pub(crate) async fn send(&mut self, frame: &TinyFrame) {
        let mut out = BytesMut::new();
        self.codec.encode(frame, &mut out).unwrap();
        self.send_raw(&out).await;
    }
    pub(crate) async fn shutdown_write(&mut self) {
        use tokio::io::AsyncWriteExt;
        self.io.shutdown().await.unwrap();
    }
    pub(crate) async fn send_raw(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        self.io.write_all(bytes).await.unwrap();
    }
}

/// A reply echoing `request`'s body, with id 0: the engine must set the id.
pub(crate) fn echo(request: &TinyFrame) -> TinyFrame {
    TinyFrame::new(StreamKind::Response, 0, request.body.clone())
}

/// A client connected in memory to [`serve_connection`](super::serve_connection) with
/// `handler`; returns the client, the server's task and its shutdown token.
pub(crate) fn connected<H: super::Handler<Tiny>>(
    handler: H,
    client_config: super::EngineConfig,
    server_config: super::EngineConfig,
) -> (
    super::Client<Tiny>,
    tokio::task::JoinHandle<Result<(), super::EngineError>>,
    tokio_util::sync::CancellationToken,
) {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let token = tokio_util::sync::CancellationToken::new();
    let handler = std::sync::Arc::new(handler);
    let server =
        tokio::spawn(super::serve_connection(&TINY, b, handler, server_config, token.clone()));
    (super::Client::from_io(&TINY, a, client_config), server, token)
}
