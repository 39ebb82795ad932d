//! The sans-IO codec contract.

use bytes::BytesMut;

use crate::{DecodeError, EncodeError, Frame};

/// Turns bytes into frames and frames into bytes, with no I/O.
///
/// The contract is tokio-util's: [`decode`](Codec::decode) looks at a buffer that may hold a
/// partial frame, a whole frame, or several; it returns `Ok(None)` and consumes nothing until a
/// whole frame is there, then splits exactly that frame off the front. A declared length over
/// the codec's [`Limits`](crate::Limits) is refused from the fixed header alone, before the
/// rest of the frame arrives. After an error the connection is unusable: the caller answers
/// with an error reply where it can and closes.
pub trait Codec: Send + 'static {
    /// The frame type this codec produces and writes.
    type Frame: Frame;

    /// Decodes one frame from the front of `src`.
    ///
    /// # Errors
    /// A [`DecodeError`] naming the field and offset at fault. Never panics on any input.
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Frame>, DecodeError>;

    /// Appends `frame`'s wire bytes to `dst`. An unchanged decoded frame is written as its
    /// original bytes.
    ///
    /// # Errors
    /// An [`EncodeError`] if the frame cannot be expressed by this codec.
    fn encode(&mut self, frame: &Self::Frame, dst: &mut BytesMut) -> Result<(), EncodeError>;
}

/// Most a decoder reserves ahead of bytes that have not arrived yet.
pub const MAX_RESERVE_AHEAD: usize = 64 * 1024;

/// Reserves room in `src` for the rest of a frame of `frame_len` bytes whose header has been
/// checked, but at most [`MAX_RESERVE_AHEAD`] bytes ahead: a peer that declares a large frame
/// and sends nothing more makes the connection hold no more than that, while a frame that
/// does arrive grows the buffer as its bytes come in.
pub fn reserve_for_frame(src: &mut BytesMut, frame_len: usize) {
    let missing = frame_len.saturating_sub(src.len());
    src.reserve(missing.min(MAX_RESERVE_AHEAD));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservation_is_capped_ahead_of_the_bytes() {
        let mut buf = BytesMut::from(&b"head"[..]);
        reserve_for_frame(&mut buf, 1 << 30);
        assert!(buf.capacity() < 2 * MAX_RESERVE_AHEAD, "capacity {}", buf.capacity());
        let mut small = BytesMut::from(&b"head"[..]);
        reserve_for_frame(&mut small, 100);
        assert!(small.capacity() >= 100);
    }
}
