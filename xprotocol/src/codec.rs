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
