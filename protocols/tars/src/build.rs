//! Builders for the two packet structs, writing the bytes `@tars/rpc` writes: every field,
//! in tag order, integers in their smallest type, maps in the order given.

use bytes::{BufMut, BytesMut};
use xprotocol::{EncodeError, Limits};

use crate::tlv::{write_bytes, write_int, write_map_header, write_string};
use crate::TarsFrame;

/// The fields of a `RequestPacket`. Also the struct of TUP replies, which carry their return
/// code in `status` under [`STATUS_RESULT_CODE`](crate::packet::STATUS_RESULT_CODE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestPacket<'a> {
    /// Tag 1 `iVersion`: 1 TARS, 2 TUP, 3 TUP simple.
    pub version: i16,
    /// Tag 2 `cPacketType`: 0 normal, 1 one-way.
    pub packet_type: i8,
    /// Tag 3 `iMessageType` flags.
    pub message_type: i32,
    /// Tag 4 `iRequestId`.
    pub request_id: i32,
    /// Tag 5 `sServantName` (`App.Server.Obj`).
    pub servant: &'a str,
    /// Tag 6 `sFuncName`.
    pub function: &'a str,
    /// Tag 7 `sBuffer`: the encoded arguments.
    pub buffer: &'a [u8],
    /// Tag 8 `iTimeout` in milliseconds.
    pub timeout: i32,
    /// Tag 9 `context`.
    pub context: &'a [(&'a str, &'a str)],
    /// Tag 10 `status`.
    pub status: &'a [(&'a str, &'a str)],
}

impl<'a> RequestPacket<'a> {
    /// A TARS (iVersion 1) two-way request with no timeout, context or status.
    pub fn new(request_id: i32, servant: &'a str, function: &'a str, buffer: &'a [u8]) -> Self {
        RequestPacket {
            version: 1,
            packet_type: 0,
            message_type: 0,
            request_id,
            servant,
            function,
            buffer,
            timeout: 0,
            context: &[],
            status: &[],
        }
    }

    /// Appends the frame (length prefix included) to `dst`.
    ///
    /// # Errors
    /// [`EncodeError::TooLong`] for a field or frame over what Tars can express.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        framed(dst, |b| {
            write_int(b, 1, self.version.into());
            write_int(b, 2, self.packet_type.into());
            write_int(b, 3, self.message_type.into());
            write_int(b, 4, self.request_id.into());
            write_string(b, 5, self.servant.as_bytes())?;
            write_string(b, 6, self.function.as_bytes())?;
            write_bytes(b, 7, self.buffer)?;
            write_int(b, 8, self.timeout.into());
            write_map(b, 9, self.context)?;
            write_map(b, 10, self.status)
        })
    }

    /// The frame, as decoding its bytes would give.
    ///
    /// # Errors
    /// As [`encode`](Self::encode), and [`EncodeError::Unencodable`] if the fields do not make
    /// a valid packet (an iVersion other than 1-3, a cPacketType other than 0-1).
    pub fn to_frame(&self) -> Result<TarsFrame, EncodeError> {
        let mut buf = BytesMut::new();
        self.encode(&mut buf)?;
        to_frame(buf)
    }
}

/// The fields of a `ResponsePacket` (the reply struct of iVersion 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponsePacket<'a> {
    /// Tag 1 `iVersion`.
    pub version: i16,
    /// Tag 2 `cPacketType`.
    pub packet_type: i8,
    /// Tag 3 `iRequestId`.
    pub request_id: i32,
    /// Tag 4 `iMessageType`.
    pub message_type: i32,
    /// Tag 5 `iRet`: 0 success, else a framework code ([`crate::status`]).
    pub ret: i32,
    /// Tag 6 `sBuffer`: the encoded results.
    pub buffer: &'a [u8],
    /// Tag 7 `status`.
    pub status: &'a [(&'a str, &'a str)],
    /// Tag 8 `sResultDesc`.
    pub result_desc: &'a str,
    /// Tag 9 `context`.
    pub context: &'a [(&'a str, &'a str)],
}

impl<'a> ResponsePacket<'a> {
    /// A successful TARS reply carrying `buffer`.
    pub fn new(request_id: i32, buffer: &'a [u8]) -> Self {
        ResponsePacket {
            version: 1,
            packet_type: 0,
            request_id,
            message_type: 0,
            ret: 0,
            buffer,
            status: &[],
            result_desc: "",
            context: &[],
        }
    }

    /// Appends the frame (length prefix included) to `dst`.
    ///
    /// # Errors
    /// [`EncodeError::TooLong`] for a field or frame over what Tars can express.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        framed(dst, |b| {
            write_int(b, 1, self.version.into());
            write_int(b, 2, self.packet_type.into());
            write_int(b, 3, self.request_id.into());
            write_int(b, 4, self.message_type.into());
            write_int(b, 5, self.ret.into());
            write_bytes(b, 6, self.buffer)?;
            write_map(b, 7, self.status)?;
            write_string(b, 8, self.result_desc.as_bytes())?;
            write_map(b, 9, self.context)
        })
    }

    /// The frame, as decoding its bytes would give.
    ///
    /// # Errors
    /// As [`RequestPacket::to_frame`].
    pub fn to_frame(&self) -> Result<TarsFrame, EncodeError> {
        let mut buf = BytesMut::new();
        self.encode(&mut buf)?;
        to_frame(buf)
    }
}

fn write_map(dst: &mut BytesMut, tag: u8, entries: &[(&str, &str)]) -> Result<(), EncodeError> {
    write_map_header(dst, tag, entries.len())?;
    for (k, v) in entries {
        write_string(dst, 0, k.as_bytes())?;
        write_string(dst, 1, v.as_bytes())?;
    }
    Ok(())
}

/// Writes the length prefix around what `body` writes.
fn framed(
    dst: &mut BytesMut,
    body: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = dst.len();
    dst.put_u32(0);
    if let Err(e) = body(dst) {
        dst.truncate(start);
        return Err(e);
    }
    let len = dst.len() - start;
    let Ok(len32) = u32::try_from(len) else {
        dst.truncate(start);
        return Err(EncodeError::TooLong { field: "frame", len, max: u32::MAX as usize });
    };
    if let Some(prefix) = dst.get_mut(start..start + 4) {
        prefix.copy_from_slice(&len32.to_be_bytes());
    }
    Ok(())
}

fn to_frame(buf: BytesMut) -> Result<TarsFrame, EncodeError> {
    // Built frames are trusted for size (the caller chose the fields); nesting is bounded by
    // construction (maps of strings only).
    let limits =
        Limits { max_frame_bytes: usize::MAX, max_header_bytes: usize::MAX, ..Limits::DEFAULT };
    TarsFrame::parse(buf.freeze(), &limits)
        .map_err(|_| EncodeError::Unencodable("the fields do not make a valid Tars packet"))
}
