//! gRPC's length-prefixed messages: how a call's messages are cut out of the HTTP/2 DATA
//! stream, and written into it.
//!
//! Each message is a 1-byte compressed flag (0 or 1), a 4-byte big-endian length, then that
//! many bytes (`PROTOCOL-HTTP2.md`, "Length-Prefixed-Message"). DATA frame boundaries have no
//! relation to message boundaries, so the decoder is sans-IO in the tokio-util codec shape:
//! the caller appends whatever body bytes arrive to a `BytesMut` and calls
//! [`MessageDecoder::decode`] until it returns `Ok(None)`.
//!
//! The declared length is checked against the configured maximum as soon as the 5-byte prefix
//! is there, before anything is buffered or reserved for it, so a peer cannot make the gateway
//! hold (or allocate) more than the limit by announcing a huge message.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::status::Code;

/// Length of the prefix before each message: the flag byte and the 4-byte length.
pub const PREFIX_LEN: usize = 5;

/// The most the decoder reserves ahead for a partly received message. Larger messages grow the
/// buffer as their bytes arrive instead of all at once.
pub const MAX_RESERVE_AHEAD: usize = 64 * 1024;

/// One message of a call, as carried on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Whether `data` is compressed with the call's `grpc-encoding`. The gateway forwards it
    /// as it is; it never decompresses.
    pub compressed: bool,
    /// The message bytes (a protobuf, say), without the prefix: a slice of the received
    /// buffer, not a copy.
    pub data: Bytes,
}

impl Message {
    /// How many bytes this message takes on the wire, prefix included.
    pub fn encoded_len(&self) -> usize {
        PREFIX_LEN + self.data.len()
    }

    /// Appends this message, prefix included, to `dst`; see [`encode_message`].
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), MessageError> {
        encode_message(&self.data, self.compressed, dst)
    }
}

/// Why the message stream cannot be decoded (or a message cannot be encoded).
///
/// A decode error leaves the stream unusable: the caller must end the call (with
/// [`MessageError::code`]) rather than call [`MessageDecoder::decode`] again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The message is longer than the limit: declared by a received prefix, or handed to
    /// [`encode_message`] with more bytes than the 4-byte length can say.
    #[error("gRPC message of {declared} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The message's length.
        declared: u64,
        /// The limit it exceeds.
        limit: u64,
    },
    /// The compressed flag is neither 0 nor 1.
    #[error("gRPC message compressed flag is {flag:#04x}, not 0 or 1")]
    BadFlag {
        /// The flag byte found.
        flag: u8,
    },
}

impl MessageError {
    /// The status to end the call with, as gRPC libraries do: `RESOURCE_EXHAUSTED` for a
    /// message over the limit, `INTERNAL` for a corrupt stream.
    pub fn code(&self) -> Code {
        match self {
            MessageError::TooLarge { .. } => Code::ResourceExhausted,
            MessageError::BadFlag { .. } => Code::Internal,
        }
    }
}

/// Cuts length-prefixed messages out of a call's body bytes.
///
/// Holds no buffered data itself; everything not yet decoded stays in the caller's `BytesMut`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageDecoder {
    max_message_bytes: usize,
}

impl MessageDecoder {
    /// A decoder that rejects any message longer than `max_message_bytes` (the message alone,
    /// prefix excluded; gRPC libraries default to 4 MiB for received messages).
    pub fn new(max_message_bytes: usize) -> Self {
        MessageDecoder { max_message_bytes }
    }

    /// The limit given to [`MessageDecoder::new`].
    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }

    /// Takes the next whole message off the front of `src`.
    ///
    /// Returns `Ok(None)` when `src` does not yet hold a whole message (having reserved room
    /// for at most [`MAX_RESERVE_AHEAD`] more bytes); call again once more bytes are appended.
    /// At the end of the body, leftover bytes in `src` mean the peer sent a truncated message.
    ///
    /// # Errors
    ///
    /// [`MessageError::BadFlag`] as soon as the first byte is not 0 or 1, and
    /// [`MessageError::TooLarge`] as soon as the prefix declares more than the limit, before
    /// waiting for (or reserving room for) the message. `src` is left as it was.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, MessageError> {
        let Some(&flag) = src.first() else {
            return Ok(None);
        };
        let compressed = match flag {
            0 => false,
            1 => true,
            flag => return Err(MessageError::BadFlag { flag }),
        };
        let Some(&[_, a, b, c, d]) = src.get(..PREFIX_LEN) else {
            return Ok(None);
        };
        let declared = u32::from_be_bytes([a, b, c, d]);
        let len = match usize::try_from(declared) {
            Ok(len) if len <= self.max_message_bytes => len,
            _ => {
                return Err(MessageError::TooLarge {
                    declared: u64::from(declared),
                    limit: u64::try_from(self.max_message_bytes).unwrap_or(u64::MAX),
                })
            }
        };
        let missing = (PREFIX_LEN + len).saturating_sub(src.len());
        if missing > 0 {
            src.reserve(missing.min(MAX_RESERVE_AHEAD));
            return Ok(None);
        }
        src.advance(PREFIX_LEN);
        let data = src.split_to(len).freeze();
        Ok(Some(Message { compressed, data }))
    }
}

/// Appends one length-prefixed message holding `data` to `dst`.
///
/// `compressed` must be `true` only if `data` is compressed with the call's `grpc-encoding`.
///
/// # Errors
///
/// [`MessageError::TooLarge`] if `data` is longer than `u32::MAX` bytes; `dst` is unchanged.
pub fn encode_message(
    data: &[u8],
    compressed: bool,
    dst: &mut BytesMut,
) -> Result<(), MessageError> {
    let len = wire_len(data.len())?;
    dst.reserve(PREFIX_LEN + data.len());
    dst.put_u8(u8::from(compressed));
    dst.put_u32(len);
    dst.put_slice(data);
    Ok(())
}

/// The 4-byte length field for a message of `len` bytes, if it can say it.
fn wire_len(len: usize) -> Result<u32, MessageError> {
    u32::try_from(len).map_err(|_| MessageError::TooLarge {
        declared: u64::try_from(len).unwrap_or(u64::MAX),
        limit: u64::from(u32::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encoded(messages: &[(bool, Vec<u8>)]) -> BytesMut {
        let mut buf = BytesMut::new();
        for (compressed, data) in messages {
            encode_message(data, *compressed, &mut buf).unwrap();
        }
        buf
    }

    fn decode_all(decoder: &mut MessageDecoder, src: &mut BytesMut) -> Vec<(bool, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(message) = decoder.decode(src).unwrap() {
            out.push((message.compressed, message.data.to_vec()));
        }
        out
    }

    #[test]
    fn encodes_the_wire_layout() {
        let mut buf = BytesMut::new();
        encode_message(b"hi", false, &mut buf).unwrap();
        encode_message(b"", true, &mut buf).unwrap();
        assert_eq!(&buf[..], b"\x00\x00\x00\x00\x02hi\x01\x00\x00\x00\x00");
    }

    #[test]
    fn decodes_one_message_at_a_time_and_waits_for_more() {
        let mut decoder = MessageDecoder::new(16);
        let mut src = BytesMut::from(&b"\x00\x00\x00\x00\x03abc\x01\x00\x00\x00\x02x"[..]);
        assert_eq!(
            decoder.decode(&mut src),
            Ok(Some(Message { compressed: false, data: Bytes::from_static(b"abc") }))
        );
        assert_eq!(decoder.decode(&mut src), Ok(None));
        assert_eq!(&src[..], b"\x01\x00\x00\x00\x02x");
        src.extend_from_slice(b"y");
        let message = decoder.decode(&mut src).unwrap().unwrap();
        assert!(message.compressed);
        assert_eq!(message.data, "xy");
        assert_eq!(message.encoded_len(), 7);
        assert!(src.is_empty());
        assert_eq!(decoder.decode(&mut src), Ok(None));
    }

    #[test]
    fn over_limit_length_is_an_error_before_any_buffering() {
        let mut decoder = MessageDecoder::new(1024);
        let mut src = BytesMut::from(&b"\x00\xff\xff\xff\xff"[..]);
        let capacity = src.capacity();
        assert_eq!(
            decoder.decode(&mut src),
            Err(MessageError::TooLarge { declared: u64::from(u32::MAX), limit: 1024 })
        );
        assert_eq!(src.capacity(), capacity, "reserved room for a rejected message");
        assert_eq!(src.len(), PREFIX_LEN, "consumed bytes of a rejected message");
        // Exactly at the limit is fine.
        let mut src = BytesMut::from(&b"\x00\x00\x00\x04\x00"[..]);
        assert_eq!(decoder.decode(&mut src), Ok(None));
        assert_eq!(
            decoder.decode(&mut BytesMut::from(&b"\x00\x00\x00\x04\x01"[..])),
            Err(MessageError::TooLarge { declared: 1025, limit: 1024 })
        );
        assert_eq!(
            MessageError::TooLarge { declared: 0, limit: 0 }.code(),
            Code::ResourceExhausted
        );
    }

    #[test]
    fn bad_flag_is_rejected_from_the_first_byte() {
        let mut decoder = MessageDecoder::new(1024);
        for flag in 2..=u8::MAX {
            let mut src = BytesMut::from(&[flag][..]);
            assert_eq!(decoder.decode(&mut src), Err(MessageError::BadFlag { flag }));
        }
        assert_eq!(MessageError::BadFlag { flag: 2 }.code(), Code::Internal);
    }

    #[test]
    fn reserves_at_most_64_kib_ahead() {
        let mut decoder = MessageDecoder::new(16 << 20);
        let mut src = BytesMut::with_capacity(PREFIX_LEN);
        src.extend_from_slice(&[0, 0, 0xf0, 0, 0]); // 15 MiB declared
        assert_eq!(decoder.decode(&mut src), Ok(None));
        assert!(src.capacity() > PREFIX_LEN, "no room reserved for the body");
        assert!(
            src.capacity() <= PREFIX_LEN + MAX_RESERVE_AHEAD * 2,
            "reserved {} bytes for a message not yet received",
            src.capacity()
        );
    }

    #[test]
    fn encode_rejects_what_the_prefix_cannot_say() {
        assert_eq!(wire_len(7), Ok(7));
        assert_eq!(wire_len(u32::MAX as usize), Ok(u32::MAX));
        if let Some(len) = (u32::MAX as usize).checked_add(1) {
            assert_eq!(
                wire_len(len),
                Err(MessageError::TooLarge { declared: len as u64, limit: u64::from(u32::MAX) })
            );
        }
    }

    proptest! {
        #[test]
        fn encode_then_decode_round_trips(
            messages in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300)), 0..8)
        ) {
            let mut src = encoded(&messages);
            let mut decoder = MessageDecoder::new(300);
            prop_assert_eq!(decode_all(&mut decoder, &mut src), messages);
            prop_assert!(src.is_empty());
        }

        #[test]
        fn every_split_decodes_the_same(
            messages in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..40)), 1..5)
        ) {
            let whole = encoded(&messages);
            let mut decoder = MessageDecoder::new(40);
            for split in 0..=whole.len() {
                let mut src = BytesMut::from(&whole[..split]);
                let mut got = decode_all(&mut decoder, &mut src);
                src.extend_from_slice(&whole[split..]);
                got.extend(decode_all(&mut decoder, &mut src));
                prop_assert_eq!(&got, &messages, "split at {}", split);
                prop_assert!(src.is_empty());
            }
        }

        #[test]
        fn byte_at_a_time_decodes_the_same(
            messages in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..40)), 1..5)
        ) {
            let whole = encoded(&messages);
            let mut decoder = MessageDecoder::new(40);
            let mut src = BytesMut::new();
            let mut got = Vec::new();
            for &byte in whole.iter() {
                src.extend_from_slice(&[byte]);
                got.extend(decode_all(&mut decoder, &mut src));
            }
            prop_assert_eq!(got, messages);
        }

        #[test]
        fn any_bytes_decode_without_panic_and_within_the_limit(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
            max in 0usize..32,
        ) {
            let mut decoder = MessageDecoder::new(max);
            let mut src = BytesMut::from(&bytes[..]);
            loop {
                match decoder.decode(&mut src) {
                    Ok(Some(message)) => prop_assert!(message.data.len() <= max),
                    Ok(None) => break,
                    Err(MessageError::TooLarge { declared, limit }) => {
                        prop_assert!(declared > limit);
                        break;
                    }
                    Err(MessageError::BadFlag { flag }) => {
                        prop_assert!(flag > 1);
                        break;
                    }
                }
            }
        }
    }
}
