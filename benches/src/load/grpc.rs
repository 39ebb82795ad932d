//! gRPC's own framing, written here rather than taken from the gateway's codec so that the
//! load tool checks the gateway instead of sharing its bugs: the 5-byte message prefix
//! (compressed flag, big-endian length) and the status codes of the `grpc-status` trailer.

use bytes::{BufMut, Bytes, BytesMut};

/// The length of a message's prefix: one flag byte and a 4-byte big-endian length.
pub const PREFIX_LEN: usize = 5;

/// Why bytes are not a well-formed sequence of gRPC messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// A payload longer than a message's 32-bit length field can declare.
    #[error("a gRPC message holds at most 4 GiB - 1 bytes, not {0}")]
    TooLong(usize),
    /// The compressed flag is neither 0 nor 1.
    #[error("gRPC compressed flag {0:#04x} is neither 0 nor 1")]
    BadFlag(u8),
    /// The body ended inside a message (its prefix or its declared length).
    #[error("the body ended inside a gRPC message")]
    Truncated,
}

/// `payload` as one uncompressed gRPC message: prefix and payload.
///
/// # Errors
/// [`MessageError::TooLong`] when the length does not fit the prefix's 32 bits.
pub fn encode_message(payload: &[u8]) -> Result<Bytes, MessageError> {
    let len = u32::try_from(payload.len()).map_err(|_| MessageError::TooLong(payload.len()))?;
    let mut out = BytesMut::with_capacity(PREFIX_LEN + payload.len());
    out.put_u8(0);
    out.put_u32(len);
    out.put_slice(payload);
    Ok(out.freeze())
}

/// A message's prefix, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessagePrefix {
    /// Whether the message is compressed (with the `grpc-encoding` of the stream).
    pub compressed: bool,
    /// The length of the message that follows.
    pub len: u32,
}

/// Decodes a message prefix.
///
/// # Errors
/// [`MessageError::BadFlag`] when the flag byte is neither 0 nor 1.
pub fn decode_prefix(prefix: [u8; PREFIX_LEN]) -> Result<MessagePrefix, MessageError> {
    let [flag, a, b, c, d] = prefix;
    let compressed = match flag {
        0 => false,
        1 => true,
        other => return Err(MessageError::BadFlag(other)),
    };
    Ok(MessagePrefix { compressed, len: u32::from_be_bytes([a, b, c, d]) })
}

/// Counts the messages of a body fed in pieces as they arrive, without buffering them: the
/// load generator checks a reply's framing at any size in constant memory.
#[derive(Clone, Debug, Default)]
pub struct MessageCounter {
    prefix: [u8; PREFIX_LEN],
    /// Prefix bytes seen of the current message (0 between messages).
    prefix_seen: usize,
    /// Payload bytes still to come of the current message.
    remaining: u64,
    messages: u64,
}

impl MessageCounter {
    /// A counter at the start of a body.
    pub fn new() -> MessageCounter {
        MessageCounter::default()
    }

    /// Takes the next piece of the body.
    ///
    /// # Errors
    /// [`MessageError::BadFlag`] on a prefix whose flag is not 0 or 1.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), MessageError> {
        while !data.is_empty() {
            if self.remaining > 0 {
                let take = data.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                self.remaining -= take as u64;
                data = data.get(take..).unwrap_or_default();
                if self.remaining == 0 {
                    self.messages += 1;
                }
                continue;
            }
            let want = PREFIX_LEN - self.prefix_seen;
            let take = data.len().min(want);
            let (head, rest) = data.split_at(take);
            if let Some(slot) = self.prefix.get_mut(self.prefix_seen..self.prefix_seen + take) {
                slot.copy_from_slice(head);
            }
            self.prefix_seen += take;
            data = rest;
            if self.prefix_seen == PREFIX_LEN {
                self.prefix_seen = 0;
                let prefix = decode_prefix(self.prefix)?;
                self.remaining = u64::from(prefix.len);
                if self.remaining == 0 {
                    self.messages += 1;
                }
            }
        }
        Ok(())
    }

    /// The number of whole messages in the body, once it has ended.
    ///
    /// # Errors
    /// [`MessageError::Truncated`] when the body ended inside a message.
    pub fn finish(&self) -> Result<u64, MessageError> {
        if self.prefix_seen > 0 || self.remaining > 0 {
            return Err(MessageError::Truncated);
        }
        Ok(self.messages)
    }
}

/// A gRPC status code (the `grpc-status` trailer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GrpcCode {
    /// 0: success.
    Ok,
    /// 1.
    Cancelled,
    /// 2; also what a client reads a code it does not know as.
    Unknown,
    /// 3.
    InvalidArgument,
    /// 4.
    DeadlineExceeded,
    /// 5.
    NotFound,
    /// 6.
    AlreadyExists,
    /// 7.
    PermissionDenied,
    /// 8.
    ResourceExhausted,
    /// 9.
    FailedPrecondition,
    /// 10.
    Aborted,
    /// 11.
    OutOfRange,
    /// 12.
    Unimplemented,
    /// 13.
    Internal,
    /// 14.
    Unavailable,
    /// 15.
    DataLoss,
    /// 16.
    Unauthenticated,
}

impl GrpcCode {
    /// Every code, in numeric order (so that `ALL[n]` is code `n`).
    pub const ALL: [GrpcCode; 17] = [
        GrpcCode::Ok,
        GrpcCode::Cancelled,
        GrpcCode::Unknown,
        GrpcCode::InvalidArgument,
        GrpcCode::DeadlineExceeded,
        GrpcCode::NotFound,
        GrpcCode::AlreadyExists,
        GrpcCode::PermissionDenied,
        GrpcCode::ResourceExhausted,
        GrpcCode::FailedPrecondition,
        GrpcCode::Aborted,
        GrpcCode::OutOfRange,
        GrpcCode::Unimplemented,
        GrpcCode::Internal,
        GrpcCode::Unavailable,
        GrpcCode::DataLoss,
        GrpcCode::Unauthenticated,
    ];

    /// The code with this number; numbers past 16 read as [`GrpcCode::Unknown`], as the gRPC
    /// specification tells clients to.
    pub fn from_number(number: u32) -> GrpcCode {
        usize::try_from(number)
            .ok()
            .and_then(|n| GrpcCode::ALL.get(n))
            .copied()
            .unwrap_or(GrpcCode::Unknown)
    }

    /// The code's number.
    pub fn number(self) -> u32 {
        self as u32
    }

    /// The error class name in reports: `grpc_` and the code's name in snake case.
    pub fn class_name(self) -> &'static str {
        match self {
            GrpcCode::Ok => "grpc_ok",
            GrpcCode::Cancelled => "grpc_cancelled",
            GrpcCode::Unknown => "grpc_unknown",
            GrpcCode::InvalidArgument => "grpc_invalid_argument",
            GrpcCode::DeadlineExceeded => "grpc_deadline_exceeded",
            GrpcCode::NotFound => "grpc_not_found",
            GrpcCode::AlreadyExists => "grpc_already_exists",
            GrpcCode::PermissionDenied => "grpc_permission_denied",
            GrpcCode::ResourceExhausted => "grpc_resource_exhausted",
            GrpcCode::FailedPrecondition => "grpc_failed_precondition",
            GrpcCode::Aborted => "grpc_aborted",
            GrpcCode::OutOfRange => "grpc_out_of_range",
            GrpcCode::Unimplemented => "grpc_unimplemented",
            GrpcCode::Internal => "grpc_internal",
            GrpcCode::Unavailable => "grpc_unavailable",
            GrpcCode::DataLoss => "grpc_data_loss",
            GrpcCode::Unauthenticated => "grpc_unauthenticated",
        }
    }

    /// Parses a `grpc-status` value: ASCII decimal digits only (at most 10 of them).
    /// `None` when it is not a number, which makes the reply malformed rather than a status.
    pub fn parse(value: &[u8]) -> Option<GrpcCode> {
        if value.is_empty() || value.len() > 10 || !value.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let number: u64 = std::str::from_utf8(value).ok()?.parse().ok()?;
        Some(GrpcCode::from_number(u32::try_from(number).unwrap_or(u32::MAX)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_a_zero_flag_a_big_endian_length_and_the_payload() {
        let wire = encode_message(b"hello").unwrap();
        assert_eq!(&wire[..], b"\x00\x00\x00\x00\x05hello");
        let big = encode_message(&vec![7; 70_000]).unwrap();
        assert_eq!(&big[..5], &[0, 0, 0x01, 0x11, 0x70]);
        assert_eq!(big.len(), 70_005);
        assert_eq!(
            decode_prefix([1, 0, 0, 1, 0]),
            Ok(MessagePrefix { compressed: true, len: 256 })
        );
        assert_eq!(decode_prefix([2, 0, 0, 0, 0]), Err(MessageError::BadFlag(2)));
    }

    #[test]
    fn the_counter_reads_messages_split_anywhere() {
        let mut body = Vec::new();
        body.extend_from_slice(&encode_message(&[1; 1024]).unwrap());
        body.extend_from_slice(&encode_message(&[]).unwrap());
        body.extend_from_slice(&encode_message(b"xyz").unwrap());
        for piece in [1, 2, 3, 5, 7, 1000, body.len()] {
            let mut counter = MessageCounter::new();
            for chunk in body.chunks(piece) {
                counter.feed(chunk).unwrap();
            }
            assert_eq!(counter.finish(), Ok(3), "pieces of {piece}");
        }
        let mut counter = MessageCounter::new();
        counter.feed(&body[..body.len() - 1]).unwrap();
        assert_eq!(counter.finish(), Err(MessageError::Truncated));
        let mut counter = MessageCounter::new();
        counter.feed(&[0, 0, 0]).unwrap();
        assert_eq!(counter.finish(), Err(MessageError::Truncated), "inside the prefix");
        let mut counter = MessageCounter::new();
        assert_eq!(counter.feed(&[9, 0, 0, 0, 0]), Err(MessageError::BadFlag(9)));
        assert_eq!(MessageCounter::new().finish(), Ok(0));
    }

    #[test]
    fn status_values_parse_and_unknown_numbers_read_as_unknown() {
        assert_eq!(GrpcCode::parse(b"0"), Some(GrpcCode::Ok));
        assert_eq!(GrpcCode::parse(b"14"), Some(GrpcCode::Unavailable));
        assert_eq!(GrpcCode::parse(b"16"), Some(GrpcCode::Unauthenticated));
        assert_eq!(GrpcCode::parse(b"17"), Some(GrpcCode::Unknown));
        assert_eq!(GrpcCode::parse(b"9999999999"), Some(GrpcCode::Unknown));
        assert_eq!(GrpcCode::parse(b""), None);
        assert_eq!(GrpcCode::parse(b"-1"), None);
        assert_eq!(GrpcCode::parse(b" 0"), None);
        assert_eq!(GrpcCode::parse(b"99999999999"), None);
        for (n, code) in GrpcCode::ALL.iter().enumerate() {
            assert_eq!(code.number(), n as u32);
            assert_eq!(GrpcCode::from_number(n as u32), *code);
            assert!(code.class_name().starts_with("grpc_"));
        }
        assert_eq!(GrpcCode::DeadlineExceeded.class_name(), "grpc_deadline_exceeded");
    }
}
