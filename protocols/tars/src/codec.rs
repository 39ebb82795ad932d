//! The sans-IO Tars codec: a 4-byte length prefix (counting itself), then one packet.

use bytes::BytesMut;
use xprotocol::{Codec, DecodeError, EncodeError, Frame, Limits};

use crate::TarsFrame;

/// The shortest length a frame may declare: the prefix and one iVersion field (`10 01`).
/// Anything shorter cannot hold a packet; a declared length under 4 would never advance.
pub const MIN_FRAME_LEN: usize = 6;

/// Decodes and encodes [`TarsFrame`]s. Stateless apart from its limits: a frame's kind
/// (request, one-way, reply) is read from its bytes alone.
#[derive(Clone, Copy, Debug)]
pub struct TarsCodec {
    limits: Limits,
}

impl TarsCodec {
    /// A codec enforcing `limits`: `max_frame_bytes` on the length prefix (before waiting for
    /// the packet), `max_header_bytes` on everything but `sBuffer`, `max_nesting` on TLV
    /// containers (capped at [`MAX_NESTING_CAP`](crate::tlv::MAX_NESTING_CAP)).
    pub fn new(limits: Limits) -> Self {
        TarsCodec { limits }
    }
}

impl Codec for TarsCodec {
    type Frame = TarsFrame;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<TarsFrame>, DecodeError> {
        let Some(prefix) = src.get(..4) else { return Ok(None) };
        let declared = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        self.limits.check_frame(declared.into())?;
        let len = declared as usize;
        if len < MIN_FRAME_LEN {
            return Err(DecodeError::malformed("length", 0, "shorter than the smallest packet"));
        }
        if src.len() < len {
            // No reserve for the rest: memory follows the bytes that actually arrive, so a
            // peer that declares a large frame and stalls holds no more than it sent.
            return Ok(None);
        }
        let wire = src.split_to(len).freeze();
        TarsFrame::parse(wire, &self.limits).map(Some)
    }

    fn encode(&mut self, frame: &TarsFrame, dst: &mut BytesMut) -> Result<(), EncodeError> {
        let len = frame.wire_len();
        if u32::try_from(len).is_err() {
            return Err(EncodeError::TooLong { field: "frame", len, max: u32::MAX as usize });
        }
        frame.write_to(dst);
        Ok(())
    }
}
