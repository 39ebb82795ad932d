//! The TARS TLV encoding: a head byte per field (tag and type code), then the value.
//!
//! A head is one byte, `tag << 4 | type`, or two when the tag is 15 or more: `0xf0 | type`
//! followed by the tag byte. Integers are written in the smallest type that holds them, with
//! the value 0 as the payload-free type [`TypeCode::Zero`], so a field's width depends on its
//! value. Containers (list, map, struct) nest; [`TlvReader::skip_value`] walks them with an
//! explicit stack bounded by [`MAX_NESTING_CAP`] and the caller's nesting limit, never by
//! recursion. TLV has no back-references, so there is no self-referencing input to guard
//! against beyond nesting depth and declared counts, which are checked against the bytes left
//! (every element takes at least one byte) before anything is walked.

mod error;
mod reader;
mod writer;

pub use error::TlvError;
pub use reader::{Head, TlvReader};
pub use writer::{
    int_len, write_bytes, write_f32, write_f64, write_head, write_int, write_list_header,
    write_map_header, write_string, write_struct_begin, write_struct_end,
};

/// The hard ceiling on TLV nesting, whatever [`Limits::max_nesting`](xprotocol::Limits) says:
/// the skip stack is a fixed array of this many levels (1 KiB), so that walking hostile input
/// never allocates. The effective limit is `min(limits.max_nesting, MAX_NESTING_CAP)`.
pub const MAX_NESTING_CAP: usize = 256;

/// The sixteen type codes of a head byte's low nibble; 14 and 15 are undefined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TypeCode {
    /// 1-byte signed integer.
    Int8 = 0,
    /// 2-byte signed integer, big-endian.
    Int16 = 1,
    /// 4-byte signed integer, big-endian.
    Int32 = 2,
    /// 8-byte signed integer, big-endian.
    Int64 = 3,
    /// IEEE 754 single, big-endian.
    Float = 4,
    /// IEEE 754 double, big-endian.
    Double = 5,
    /// String with a 1-byte length.
    String1 = 6,
    /// String with a 4-byte length.
    String4 = 7,
    /// Map: a tag-0 integer count, then key (tag 0) / value (tag 1) pairs.
    Map = 8,
    /// List: a tag-0 integer count, then items with tag 0.
    List = 9,
    /// Start of a nested struct; its fields follow until [`StructEnd`](TypeCode::StructEnd).
    StructBegin = 10,
    /// End of a nested struct.
    StructEnd = 11,
    /// The number zero, with no payload (any numeric type).
    Zero = 12,
    /// Bytes: an element head `0x00`, a tag-0 integer length, then the raw bytes.
    SimpleList = 13,
}

impl TypeCode {
    /// The type code of a head byte's low nibble, `None` for the undefined 14 and 15.
    pub fn from_nibble(n: u8) -> Option<TypeCode> {
        Some(match n {
            0 => TypeCode::Int8,
            1 => TypeCode::Int16,
            2 => TypeCode::Int32,
            3 => TypeCode::Int64,
            4 => TypeCode::Float,
            5 => TypeCode::Double,
            6 => TypeCode::String1,
            7 => TypeCode::String4,
            8 => TypeCode::Map,
            9 => TypeCode::List,
            10 => TypeCode::StructBegin,
            11 => TypeCode::StructEnd,
            12 => TypeCode::Zero,
            13 => TypeCode::SimpleList,
            _ => return None,
        })
    }

    /// Whether values of this type are integers (including [`Zero`](TypeCode::Zero)).
    pub fn is_int(self) -> bool {
        matches!(
            self,
            TypeCode::Int8 | TypeCode::Int16 | TypeCode::Int32 | TypeCode::Int64 | TypeCode::Zero
        )
    }

    /// Whether values of this type are strings.
    pub fn is_string(self) -> bool {
        matches!(self, TypeCode::String1 | TypeCode::String4)
    }
}

#[cfg(test)]
mod tests;
