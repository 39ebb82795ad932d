//! Typed codec errors: what was wrong, and where.
//!
//! Errors are `Clone` and allocation-free so that a decoder can return them on the hot path and
//! a caller can map each to a protocol error reply or a logged close.

/// Why a byte sequence is not a valid frame. Offsets count from the start of the frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The declared frame length is over [`Limits::max_frame_bytes`](crate::Limits).
    #[error("declared frame length {declared} exceeds the limit of {limit} bytes")]
    FrameTooLarge {
        /// Length the frame declares.
        declared: u64,
        /// The configured limit.
        limit: usize,
    },
    /// The declared header section is over [`Limits::max_header_bytes`](crate::Limits).
    #[error("declared header length {declared} exceeds the limit of {limit} bytes")]
    HeaderTooLarge {
        /// Length the frame declares.
        declared: u64,
        /// The configured limit.
        limit: usize,
    },
    /// A field holds a value this protocol does not define.
    #[error("unsupported {field} {value:#x} at byte {offset}")]
    Unsupported {
        /// The field's name.
        field: &'static str,
        /// Where the field starts.
        offset: usize,
        /// The value found.
        value: u64,
    },
    /// A field is structurally wrong (a length that overruns its section, bad UTF-8, …).
    #[error("malformed {field} at byte {offset}: {reason}")]
    Malformed {
        /// The field's name.
        field: &'static str,
        /// Where the problem was found.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The frame's checksum does not match its bytes.
    #[error("checksum mismatch: frame carries {expected:#010x}, bytes give {actual:#010x}")]
    Checksum {
        /// The checksum carried by the frame.
        expected: u32,
        /// The checksum computed over the frame.
        actual: u32,
    },
    /// Structured data nests deeper than [`Limits::max_nesting`](crate::Limits).
    #[error("nesting deeper than {limit} levels at byte {offset}")]
    TooDeep {
        /// The configured limit.
        limit: usize,
        /// Where the limit was crossed.
        offset: usize,
    },
}

impl DecodeError {
    /// Shorthand for [`DecodeError::Malformed`].
    pub fn malformed(field: &'static str, offset: usize, reason: &'static str) -> Self {
        DecodeError::Malformed { field, offset, reason }
    }
}

/// Why a frame cannot be written or changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A request id does not fit the protocol's id field.
    #[error("request id {id} does not fit the protocol's id field (max {max})")]
    RequestIdOutOfRange {
        /// The id asked for.
        id: u64,
        /// The largest id the field holds.
        max: u64,
    },
    /// A field is longer than its length prefix can express.
    #[error("{field} of {len} bytes is longer than the maximum {max}")]
    TooLong {
        /// The field's name.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The largest length the wire format allows.
        max: usize,
    },
    /// The frame cannot be encoded by this codec (another protocol version, say).
    #[error("cannot encode: {0}")]
    Unencodable(&'static str),
}
