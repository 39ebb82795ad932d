//! The 16-byte Dubbo exchange header.
//!
//! ```text
//! 0      2       3        4              12            16
//! | magic | flags | status | request id   | body length |
//!   dabb    R T E S(5 bits)   u64 BE         u32 BE
//! ```
//! Flags: bit 7 request (else response), bit 6 two-way, bit 5 event, bits 0-4 serialization id.
//! The status byte is meaningful on responses only; requests carry 0.

use xprotocol::DecodeError;

/// The two magic bytes every frame starts with.
pub const MAGIC: [u8; 2] = [0xda, 0xbb];
/// Length of the fixed header.
pub const HEADER_LEN: usize = 16;
/// Flags bit: the frame is a request.
pub const FLAG_REQUEST: u8 = 0x80;
/// Flags bit: the request expects a response.
pub const FLAG_TWO_WAY: u8 = 0x40;
/// Flags bit: the frame is an event (heartbeat, read-only notice) rather than a call.
pub const FLAG_EVENT: u8 = 0x20;
/// Mask of the serialization id in the flags byte.
pub const SERIALIZATION_MASK: u8 = 0x1f;

/// Offset of the request id in the header.
pub(crate) const ID_OFFSET: usize = 4;

/// Serialization ids (Dubbo's `org.apache.dubbo.common.serialize.Constants`).
pub mod serialization {
    /// Hessian 2 (Dubbo's default; the only one whose bodies this crate reads).
    pub const HESSIAN2: u8 = 2;
    /// Java built-in serialization.
    pub const JAVA: u8 = 3;
    /// Compacted Java serialization.
    pub const COMPACTED_JAVA: u8 = 4;
    /// fastjson.
    pub const FASTJSON: u8 = 6;
    /// Native Java serialization.
    pub const NATIVE_JAVA: u8 = 7;
    /// Kryo.
    pub const KRYO: u8 = 8;
    /// FST.
    pub const FST: u8 = 9;
    /// Native Hessian.
    pub const NATIVE_HESSIAN: u8 = 10;
    /// Avro.
    pub const AVRO: u8 = 11;
    /// Protostuff.
    pub const PROTOSTUFF: u8 = 12;
    /// Gson.
    pub const GSON: u8 = 16;
    /// Protobuf as JSON.
    pub const PROTOBUF_JSON: u8 = 21;
    /// Protobuf.
    pub const PROTOBUF: u8 = 22;
    /// fastjson2.
    pub const FASTJSON2: u8 = 23;
    /// Kryo (second registration).
    pub const KRYO2: u8 = 25;
    /// MessagePack (custom registration).
    pub const MSGPACK: u8 = 31;

    /// Whether `id` is a serialization Dubbo defines. Detection refuses the others; the codec
    /// passes any id through.
    pub fn is_known(id: u8) -> bool {
        matches!(
            id,
            HESSIAN2
                | JAVA
                | COMPACTED_JAVA
                | FASTJSON
                | NATIVE_JAVA
                | KRYO
                | FST
                | NATIVE_HESSIAN
                | AVRO
                | PROTOSTUFF
                | GSON
                | PROTOBUF_JSON
                | PROTOBUF
                | FASTJSON2
                | KRYO2
                | MSGPACK
        )
    }
}

/// The decoded fixed header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// The flags byte (request, two-way, event, serialization id).
    pub flags: u8,
    /// The status byte (responses; 0 on requests).
    pub status: u8,
    /// The request id.
    pub id: u64,
    /// Length of the body that follows the header.
    pub body_len: u32,
}

impl Header {
    /// Parses the header from the first [`HEADER_LEN`] bytes of `bytes`: `Ok(None)` while fewer
    /// are there (after checking the magic bytes that are).
    ///
    /// # Errors
    /// [`DecodeError::Unsupported`] for a wrong magic number.
    pub fn parse(bytes: &[u8]) -> Result<Option<Header>, DecodeError> {
        for (offset, (&got, &want)) in bytes.iter().zip(MAGIC.iter()).enumerate() {
            if got != want {
                return Err(DecodeError::Unsupported {
                    field: "magic",
                    offset,
                    value: u64::from(got),
                });
            }
        }
        let Some(fixed) = bytes.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        Ok(Some(Header::from_bytes(fixed)))
    }

    /// The fields of the [`HEADER_LEN`] header bytes `b` (whose magic the caller checked).
    pub(crate) fn from_bytes(b: &[u8; HEADER_LEN]) -> Header {
        let [_, _, flags, status, i0, i1, i2, i3, i4, i5, i6, i7, l0, l1, l2, l3] = *b;
        Header {
            flags,
            status,
            id: u64::from_be_bytes([i0, i1, i2, i3, i4, i5, i6, i7]),
            body_len: u32::from_be_bytes([l0, l1, l2, l3]),
        }
    }

    /// The header's wire bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let [m0, m1] = MAGIC;
        let id = self.id.to_be_bytes();
        let len = self.body_len.to_be_bytes();
        let fixed = [m0, m1, self.flags, self.status];
        for (dst, src) in out.iter_mut().zip(fixed.iter().chain(id.iter()).chain(len.iter())) {
            *dst = *src;
        }
        out
    }

    /// Whether the frame is a request (else a response).
    pub fn is_request(&self) -> bool {
        self.flags & FLAG_REQUEST != 0
    }

    /// Whether the request expects a response.
    pub fn is_two_way(&self) -> bool {
        self.flags & FLAG_TWO_WAY != 0
    }

    /// Whether the frame is an event (heartbeat or read-only notice).
    pub fn is_event(&self) -> bool {
        self.flags & FLAG_EVENT != 0
    }

    /// The serialization id of the body.
    pub fn serialization(&self) -> u8 {
        self.flags & SERIALIZATION_MASK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_writes_back() {
        let bytes = [0xda, 0xbb, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0xad, 0xff];
        let h = Header::parse(&bytes).unwrap().unwrap();
        assert_eq!(h, Header { flags: 0xc2, status: 0, id: 0x0102, body_len: 0xad });
        assert!(h.is_request() && h.is_two_way() && !h.is_event());
        assert_eq!(h.serialization(), serialization::HESSIAN2);
        assert_eq!(&h.to_bytes()[..], &bytes[..16]);
    }

    #[test]
    fn short_input_waits_but_bad_magic_fails_at_once() {
        assert_eq!(Header::parse(&[0xda, 0xbb, 0xc2]), Ok(None));
        assert_eq!(Header::parse(&[]), Ok(None));
        assert!(matches!(
            Header::parse(&[0xda, 0x00]),
            Err(DecodeError::Unsupported { field: "magic", offset: 1, .. })
        ));
        assert!(Header::parse(&[0x16]).is_err());
    }
}
