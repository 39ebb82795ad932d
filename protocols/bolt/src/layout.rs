//! The fixed headers of Bolt v1 and v2 requests and responses: sizes, offsets, and a parser
//! over exactly the fixed-size header bytes.
//!
//! ```text
//! v1 request  (22): proto type cmdcode(2) ver2 id(4) codec        timeout(4) classLen(2) headerLen(2) contentLen(4)
//! v1 response (20): proto type cmdcode(2) ver2 id(4) codec        status(2)  classLen(2) headerLen(2) contentLen(4)
//! v2 request  (24): proto ver1 type cmdcode(2) ver2 id(4) codec switch timeout(4) classLen(2) headerLen(2) contentLen(4)
//! v2 response (22): proto ver1 type cmdcode(2) ver2 id(4) codec switch status(2)  classLen(2) headerLen(2) contentLen(4)
//! ```
//! Then the class name, the header block, the content and, in v2 with the CRC switch on, a
//! CRC32 of everything before it.

use bytes::{BufMut, BytesMut};
use xprotocol::{DecodeError, StreamKind};

/// Proto byte of Bolt v1.
pub const PROTO_V1: u8 = 0x01;
/// Proto byte of Bolt v2.
pub const PROTO_V2: u8 = 0x02;

/// Type byte of a response.
pub const TYPE_RESPONSE: u8 = 0;
/// Type byte of a request that expects a response.
pub const TYPE_REQUEST: u8 = 1;
/// Type byte of a one-way request.
pub const TYPE_ONEWAY: u8 = 2;

/// Command code of heartbeats and their acks.
pub const CMD_HEARTBEAT: u16 = 0;
/// Command code of RPC requests.
pub const CMD_REQUEST: u16 = 1;
/// Command code of RPC responses.
pub const CMD_RESPONSE: u16 = 2;
/// Command code MOSN reserves for a GoAway (drain) signal, sent as a request-type frame.
pub const CMD_GOAWAY: u16 = 100;

/// The v2 `switch` value with the CRC32 trailer on. sofa-bolt-node writes exactly 0 or 1 and
/// takes a trailer to be present iff the byte equals 1, whatever `ver1` says.
pub const SWITCH_CRC: u8 = 0x01;

/// Class and header lengths are Java `short`s on the peers (sofa-bolt Java and sofa-bolt-node
/// both read them signed): a length above this would be framed differently by them.
pub const MAX_SHORT_LEN: u16 = i16::MAX as u16;
/// Content length is a Java `int` on the peers.
pub const MAX_CONTENT_LEN: u32 = i32::MAX as u32;

/// Size of the CRC32 trailer.
pub const CRC_LEN: usize = 4;

/// Which Bolt wire version a frame uses (the proto byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BoltVersion {
    /// Proto byte 0x01: no `ver1`, no `switch`, never a CRC.
    V1,
    /// Proto byte 0x02: adds `ver1` (1, or 2 = CRC capable) and `switch` (CRC on or off).
    V2,
}

impl BoltVersion {
    /// The proto byte (first byte of every frame).
    pub const fn proto(self) -> u8 {
        match self {
            BoltVersion::V1 => PROTO_V1,
            BoltVersion::V2 => PROTO_V2,
        }
    }

    /// Offset of the type byte.
    pub const fn type_offset(self) -> usize {
        match self {
            BoltVersion::V1 => 1,
            BoltVersion::V2 => 2,
        }
    }

    /// Offset of the 2-byte command code.
    pub const fn cmdcode_offset(self) -> usize {
        self.type_offset() + 1
    }

    /// Offset of the 4-byte request id.
    pub const fn id_offset(self) -> usize {
        self.type_offset() + 4
    }

    /// Offset of the codec (serialisation) byte.
    pub const fn codec_offset(self) -> usize {
        self.type_offset() + 8
    }

    /// Offset of the v2 switch byte (the byte after codec).
    pub const fn switch_offset(self) -> usize {
        self.codec_offset() + 1
    }

    /// Offset of the timeout (requests) or status (responses).
    pub const fn timeout_offset(self) -> usize {
        match self {
            BoltVersion::V1 => self.codec_offset() + 1,
            BoltVersion::V2 => self.codec_offset() + 2,
        }
    }

    /// Offset of the class-name length, which depends on whether the frame is a response.
    pub const fn lengths_offset(self, response: bool) -> usize {
        self.timeout_offset() + if response { 2 } else { 4 }
    }

    /// Size of the fixed header.
    pub const fn fixed_len(self, response: bool) -> usize {
        self.lengths_offset(response) + 8
    }

    /// The largest fixed header of this version (a request's).
    pub const fn max_fixed_len(self) -> usize {
        self.fixed_len(false)
    }
}

/// The stream kind a type byte and command code make, or `None` when Bolt defines no such
/// combination (a one-way heartbeat, a response-typed GoAway, an unknown code).
pub fn kind_of(cmd_type: u8, cmdcode: u16) -> Option<StreamKind> {
    match (cmd_type, cmdcode) {
        (TYPE_RESPONSE, CMD_HEARTBEAT) => Some(StreamKind::HeartbeatResponse),
        (TYPE_RESPONSE, CMD_RESPONSE) => Some(StreamKind::Response),
        (TYPE_REQUEST, CMD_HEARTBEAT) => Some(StreamKind::HeartbeatRequest),
        (TYPE_REQUEST, CMD_REQUEST) => Some(StreamKind::Request),
        (TYPE_ONEWAY, CMD_REQUEST) => Some(StreamKind::OneWayRequest),
        (TYPE_REQUEST | TYPE_ONEWAY, CMD_GOAWAY) => Some(StreamKind::GoAway),
        _ => None,
    }
}

/// The fields of a fixed header. `ver1` and `switch` are 0 in v1; `timeout` is 0 in responses
/// and `status` 0 in requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedHeader {
    /// Wire version.
    pub version: BoltVersion,
    /// v2 protocol version (1 or 2).
    pub ver1: u8,
    /// Type byte: response, request, one-way.
    pub cmd_type: u8,
    /// Command code.
    pub cmdcode: u16,
    /// Command (application) version, 1 in every known implementation.
    pub ver2: u8,
    /// Request id.
    pub request_id: u32,
    /// Serialisation code (1 hessian2, 11 protobuf, …).
    pub codec: u8,
    /// v2 switch byte.
    pub switch: u8,
    /// Request timeout in milliseconds.
    pub timeout: u32,
    /// Response status.
    pub status: u16,
    /// Class-name length.
    pub class_len: u16,
    /// Header-block length.
    pub header_len: u16,
    /// Content length.
    pub content_len: u32,
}

impl FixedHeader {
    /// Whether the type byte says response.
    pub fn is_response(&self) -> bool {
        self.cmd_type == TYPE_RESPONSE
    }

    /// Size of this header on the wire.
    pub fn fixed_len(&self) -> usize {
        self.version.fixed_len(self.is_response())
    }

    /// Whether a CRC32 trailer follows the content.
    pub fn has_crc(&self) -> bool {
        self.version == BoltVersion::V2 && self.switch == SWITCH_CRC
    }

    /// Bytes of fixed header, class name and header block.
    pub fn head_len(&self) -> usize {
        self.fixed_len() + usize::from(self.class_len) + usize::from(self.header_len)
    }

    /// Bytes of the whole frame, trailer included (u64: the declared lengths may be huge).
    pub fn frame_len(&self) -> u64 {
        self.head_len() as u64
            + u64::from(self.content_len)
            + if self.has_crc() { CRC_LEN as u64 } else { 0 }
    }

    /// Appends the header's wire bytes.
    pub fn write(&self, dst: &mut BytesMut) {
        dst.put_u8(self.version.proto());
        if self.version == BoltVersion::V2 {
            dst.put_u8(self.ver1);
        }
        dst.put_u8(self.cmd_type);
        dst.put_u16(self.cmdcode);
        dst.put_u8(self.ver2);
        dst.put_u32(self.request_id);
        dst.put_u8(self.codec);
        if self.version == BoltVersion::V2 {
            dst.put_u8(self.switch);
        }
        if self.is_response() {
            dst.put_u16(self.status);
        } else {
            dst.put_u32(self.timeout);
        }
        dst.put_u16(self.class_len);
        dst.put_u16(self.header_len);
        dst.put_u32(self.content_len);
    }
}

/// Reads big-endian fields off the front of a fixed header, reporting a field cut short as a
/// `Malformed` error at the field's offset.
struct Fields<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Fields<'_> {
    #[inline]
    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self
            .input
            .get(self.pos..self.pos + N)
            .and_then(|b| <[u8; N]>::try_from(b).ok())
            .ok_or_else(|| DecodeError::malformed("fixed header", self.pos, "truncated"))?;
        self.pos += N;
        Ok(bytes)
    }

    #[inline]
    fn u8(&mut self) -> Result<u8, DecodeError> {
        self.take::<1>().map(|[b]| b)
    }

    #[inline]
    fn u16(&mut self) -> Result<u16, DecodeError> {
        self.take().map(u16::from_be_bytes)
    }

    #[inline]
    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.take().map(u32::from_be_bytes)
    }
}

/// Parses a fixed header from `input`, which must start at the frame's first byte. Checks the
/// proto byte and the type; does not check field combinations (see [`kind_of`]).
///
/// # Errors
/// `Unsupported` for a wrong proto byte or an unknown type, `Malformed` if `input` is shorter
/// than the fixed header (callers wait for [`BoltVersion::fixed_len`] bytes first).
#[inline]
pub fn parse(version: BoltVersion, input: &[u8]) -> Result<FixedHeader, DecodeError> {
    let mut f = Fields { input, pos: 0 };
    let proto = f.u8()?;
    if proto != version.proto() {
        return Err(DecodeError::Unsupported { field: "proto", offset: 0, value: proto.into() });
    }
    let ver1 = match version {
        BoltVersion::V1 => 0,
        BoltVersion::V2 => f.u8()?,
    };
    let cmd_type = f.u8()?;
    if cmd_type > TYPE_ONEWAY {
        return Err(DecodeError::Unsupported {
            field: "type",
            offset: version.type_offset(),
            value: cmd_type.into(),
        });
    }
    let cmdcode = f.u16()?;
    let ver2 = f.u8()?;
    let request_id = f.u32()?;
    let codec = f.u8()?;
    let switch = match version {
        BoltVersion::V1 => 0,
        BoltVersion::V2 => f.u8()?,
    };
    let (timeout, status) = if cmd_type == TYPE_RESPONSE { (0, f.u16()?) } else { (f.u32()?, 0) };
    let class_len = f.u16()?;
    let header_len = f.u16()?;
    let content_len = f.u32()?;
    Ok(FixedHeader {
        version,
        ver1,
        cmd_type,
        cmdcode,
        ver2,
        request_id,
        codec,
        switch,
        timeout,
        status,
        class_len,
        header_len,
        content_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_offsets_match_the_wire_tables() {
        assert_eq!(BoltVersion::V1.fixed_len(false), 22);
        assert_eq!(BoltVersion::V1.fixed_len(true), 20);
        assert_eq!(BoltVersion::V2.fixed_len(false), 24);
        assert_eq!(BoltVersion::V2.fixed_len(true), 22);
        assert_eq!(BoltVersion::V1.id_offset(), 5);
        assert_eq!(BoltVersion::V2.id_offset(), 6);
        assert_eq!(BoltVersion::V1.lengths_offset(false), 14);
        assert_eq!(BoltVersion::V1.lengths_offset(true), 12);
        assert_eq!(BoltVersion::V2.lengths_offset(false), 16);
        assert_eq!(BoltVersion::V2.lengths_offset(true), 14);
        assert_eq!(BoltVersion::V2.switch_offset(), 11);
    }

    #[test]
    fn parse_then_write_is_identity() {
        for version in [BoltVersion::V1, BoltVersion::V2] {
            for cmd_type in [TYPE_RESPONSE, TYPE_REQUEST, TYPE_ONEWAY] {
                let h = FixedHeader {
                    version,
                    ver1: if version == BoltVersion::V2 { 2 } else { 0 },
                    cmd_type,
                    cmdcode: 1,
                    ver2: 1,
                    request_id: 0xdead_beef,
                    codec: 11,
                    switch: if version == BoltVersion::V2 { 1 } else { 0 },
                    timeout: if cmd_type == TYPE_RESPONSE { 0 } else { 3000 },
                    status: if cmd_type == TYPE_RESPONSE { 0x10 } else { 0 },
                    class_len: 3,
                    header_len: 4,
                    content_len: 5,
                };
                let mut buf = BytesMut::new();
                h.write(&mut buf);
                assert_eq!(buf.len(), h.fixed_len());
                assert_eq!(parse(version, &buf), Ok(h));
                assert!(matches!(
                    parse(version, &buf[..buf.len() - 1]),
                    Err(DecodeError::Malformed { .. })
                ));
            }
        }
    }

    #[test]
    fn wrong_proto_and_type_are_typed() {
        let buf = [2u8; 24];
        assert_eq!(
            parse(BoltVersion::V1, &buf),
            Err(DecodeError::Unsupported { field: "proto", offset: 0, value: 2 })
        );
        let mut buf = [0u8; 24];
        buf[0] = 2;
        buf[2] = 7;
        assert_eq!(
            parse(BoltVersion::V2, &buf),
            Err(DecodeError::Unsupported { field: "type", offset: 2, value: 7 })
        );
    }

    #[test]
    fn kinds() {
        assert_eq!(kind_of(1, 0), Some(StreamKind::HeartbeatRequest));
        assert_eq!(kind_of(0, 0), Some(StreamKind::HeartbeatResponse));
        assert_eq!(kind_of(1, 100), Some(StreamKind::GoAway));
        assert_eq!(kind_of(2, 0), None);
        assert_eq!(kind_of(0, 1), None);
        assert_eq!(kind_of(1, 2), None);
    }
}
