//! What can be wrong with TLV bytes, and where.

use xprotocol::DecodeError;

use super::TypeCode;

/// Why TLV bytes cannot be read. Offsets count from the start of the reader's view plus its
/// base (the frame offset the view starts at), so they point into the frame.
///
/// [`Truncated`](TlvError::Truncated) is the one error that more bytes could cure: detection
/// turns it into "need more", a decoder over a whole packet into a malformed-frame error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TlvError {
    /// A head or value runs past the end of the bytes.
    #[error("TLV value at byte {offset} runs past the end of the data")]
    Truncated {
        /// Where the head or value that does not fit starts.
        offset: usize,
    },
    /// A head's type nibble is 14 or 15.
    #[error("undefined TLV type code {code} at byte {offset}")]
    BadType {
        /// Where the head starts.
        offset: usize,
        /// The type nibble.
        code: u8,
    },
    /// A value has a type other than the one the field needs.
    #[error("TLV field at byte {offset} has type {found:?}, expected {expected}")]
    TypeMismatch {
        /// Where the head starts.
        offset: usize,
        /// The type found.
        found: TypeCode,
        /// What was expected.
        expected: &'static str,
    },
    /// A count or length is negative.
    #[error("TLV count or length at byte {offset} is negative")]
    BadLength {
        /// Where the count's head starts.
        offset: usize,
    },
    /// A list, map or simple-list count is not a tag-0 integer field, or a simple list's
    /// element head is not `0x00`.
    #[error("TLV container header at byte {offset} is malformed")]
    BadContainer {
        /// Where the offending head starts.
        offset: usize,
    },
    /// A struct end appears where no struct is open.
    #[error("TLV struct end at byte {offset} closes no struct")]
    UnexpectedStructEnd {
        /// Where the head starts.
        offset: usize,
    },
    /// Containers nest deeper than the limit.
    #[error("TLV nesting deeper than {limit} levels at byte {offset}")]
    TooDeep {
        /// The limit in force.
        limit: usize,
        /// Where the container that crosses it starts.
        offset: usize,
    },
}

impl TlvError {
    /// The offset the error points at.
    pub fn offset(&self) -> usize {
        match *self {
            TlvError::Truncated { offset }
            | TlvError::BadType { offset, .. }
            | TlvError::TypeMismatch { offset, .. }
            | TlvError::BadLength { offset }
            | TlvError::BadContainer { offset }
            | TlvError::UnexpectedStructEnd { offset }
            | TlvError::TooDeep { offset, .. } => offset,
        }
    }

    /// The SDK's decode error for this TLV error inside `field` (the packet field being read).
    pub fn into_decode(self, field: &'static str) -> DecodeError {
        match self {
            TlvError::Truncated { offset } => {
                DecodeError::malformed(field, offset, "value runs past the end of the packet")
            }
            TlvError::BadType { offset, code } => {
                DecodeError::Unsupported { field: "TLV type code", offset, value: code.into() }
            }
            TlvError::TypeMismatch { offset, .. } => {
                DecodeError::malformed(field, offset, "unexpected TLV type")
            }
            TlvError::BadLength { offset } => {
                DecodeError::malformed(field, offset, "negative count or length")
            }
            TlvError::BadContainer { offset } => {
                DecodeError::malformed(field, offset, "malformed container header")
            }
            TlvError::UnexpectedStructEnd { offset } => {
                DecodeError::malformed(field, offset, "struct end outside a struct")
            }
            TlvError::TooDeep { limit, offset } => DecodeError::TooDeep { limit, offset },
        }
    }
}
