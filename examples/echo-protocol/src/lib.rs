//! `echo`: a private RPC protocol written the way an outside team would write one on the
//! XProtocol SDK, of the shape of MOSN's example protocol. Linking this crate is all a binary
//! needs to detect, decode, multiplex, heartbeat and proxy it.
//!
//! ```text
//! request:  magic 0xEC | type | dir | request id u32 |              payload len u32 | payload
//! response: magic 0xEC | type | dir | request id u32 | status u16 | payload len u32 | payload
//! type: 0 RPC, 1 heartbeat      dir: 0 response, 1 request, 2 one-way request
//! ```
//!
//! Its response status is an HTTP status code (200 success), which keeps error replies and
//! the status mapping to one line each.
#![warn(missing_docs)]

use bytes::{Buf, BufMut, Bytes, BytesMut};
use xprotocol::{
    Codec, DecodeError, DetectResult, EncodeError, Failure, Frame, Limits, Protocol, RequestId,
    StreamKind,
};

/// The first byte of every frame.
pub const MAGIC: u8 = 0xEC;
const REQUEST_HEADER: usize = 11;
const RESPONSE_HEADER: usize = 13;

/// The protocol; registered below as `"echo"`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Echo;

xprotocol::register_protocol!(Echo);

/// One frame: its header bytes (patched in place on id rewrite) and its payload.
#[derive(Clone, Debug)]
pub struct EchoFrame {
    head: BytesMut,
    payload: Bytes,
}

impl EchoFrame {
    /// Builds a frame. `status` makes it a response; `dir` is 0, 1 or 2 as above.
    pub fn new(heartbeat: bool, dir: u8, id: u32, status: Option<u16>, payload: Bytes) -> Self {
        let mut head = BytesMut::with_capacity(RESPONSE_HEADER);
        head.put_slice(&[MAGIC, heartbeat as u8, dir]);
        head.put_u32(id);
        if let Some(s) = status {
            head.put_u16(s);
        }
        head.put_u32(payload.len() as u32);
        EchoFrame { head, payload }
    }

    /// A two-way RPC request.
    pub fn request(id: u32, payload: impl Into<Bytes>) -> Self {
        Self::new(false, 1, id, None, payload.into())
    }
}

impl Frame for EchoFrame {
    fn kind(&self) -> StreamKind {
        match (self.head[1], self.head[2]) {
            (1, 0) => StreamKind::HeartbeatResponse,
            (1, _) => StreamKind::HeartbeatRequest,
            (_, 0) => StreamKind::Response,
            (_, 2) => StreamKind::OneWayRequest,
            _ => StreamKind::Request,
        }
    }
    fn request_id(&self) -> RequestId {
        RequestId((&self.head[3..]).get_u32().into())
    }
    fn set_request_id(&mut self, id: RequestId) -> Result<(), EncodeError> {
        self.head[3..7].copy_from_slice(&id.to_u32()?.to_be_bytes());
        Ok(())
    }
    fn status(&self) -> Option<u32> {
        (self.head[2] == 0).then(|| (&self.head[7..]).get_u16().into())
    }
    fn body(&self) -> &Bytes {
        &self.payload
    }
    fn wire_len(&self) -> usize {
        self.head.len() + self.payload.len()
    }
}

/// The codec: a fixed header, then the payload.
#[derive(Debug)]
pub struct EchoCodec(Limits);

impl Codec for EchoCodec {
    type Frame = EchoFrame;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<EchoFrame>, DecodeError> {
        let head_len = match src.get(..3) {
            None => return Ok(None),
            Some([MAGIC, 0 | 1, 0]) => RESPONSE_HEADER,
            Some([MAGIC, 0 | 1, 1 | 2]) => REQUEST_HEADER,
            Some(_) => return Err(DecodeError::malformed("header", 0, "bad magic, type or dir")),
        };
        let Some(len) = src.get(head_len - 4..head_len) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        self.0.check_frame((head_len + len) as u64)?;
        if src.len() < head_len + len {
            xprotocol::codec::reserve_for_frame(src, head_len + len);
            return Ok(None);
        }
        let head = src.split_to(head_len);
        Ok(Some(EchoFrame { head, payload: src.split_to(len).freeze() }))
    }

    fn encode(&mut self, frame: &EchoFrame, dst: &mut BytesMut) -> Result<(), EncodeError> {
        dst.reserve(frame.wire_len());
        dst.put_slice(&frame.head);
        dst.put_slice(&frame.payload);
        Ok(())
    }
}

impl Protocol for Echo {
    type Frame = EchoFrame;
    type Codec = EchoCodec;

    fn name(&self) -> &'static str {
        "echo"
    }
    fn detect(&self, prefix: &[u8]) -> DetectResult {
        match prefix {
            [] | [MAGIC] | [MAGIC, 0 | 1] => DetectResult::NeedMore,
            [MAGIC, 0 | 1, 0..=2, ..] => DetectResult::Match,
            _ => DetectResult::NoMatch,
        }
    }
    fn codec(&self, limits: Limits) -> EchoCodec {
        EchoCodec(limits)
    }
    fn heartbeat_request(&self, id: RequestId) -> Option<EchoFrame> {
        Some(EchoFrame::new(true, 1, id.0 as u32, None, Bytes::new()))
    }
    fn heartbeat_reply(&self, request: &EchoFrame) -> Option<EchoFrame> {
        Some(EchoFrame::new(true, 0, request.request_id().0 as u32, Some(0), Bytes::new()))
    }
    fn error_reply(&self, req: &EchoFrame, failure: Failure, msg: &str) -> Option<EchoFrame> {
        let (id, status) = (req.request_id().0 as u32, failure.http_status());
        // No check for one-way requests: the engine drops replies to them.
        Some(EchoFrame::new(false, 0, id, Some(status), Bytes::from(msg.to_owned())))
    }
    fn http_status(&self, status: u32) -> u16 {
        status as u16
    }
}
