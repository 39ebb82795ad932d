//! [`TarsFrame`]: one Tars packet, kept as its wire bytes plus the field positions.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use xprotocol::{DecodeError, EncodeError, Frame, Limits, RequestId, StreamKind};

mod context_edit;

use crate::packet::{Details, Layout, MapView, Shape, Span};
use crate::tlv::{int_len, write_int};

/// The widest request-id field a rewrite writes: a 1-byte head and an int32.
const MAX_ID_FIELD: usize = 5;

/// One Tars packet (RequestPacket or ResponsePacket, any iVersion), as decoded or built.
///
/// The frame keeps the packet's wire bytes (`Bytes`, a zero-copy slice of the read buffer)
/// and the positions of its fields, recorded once at decode; accessors slice those bytes and
/// allocate nothing. The body ([`Frame::body`]) is the `sBuffer` payload, the encoded call
/// arguments or results, as a zero-copy slice of the same buffer.
///
/// # Request-id rewrite: what is and is not copied
///
/// The Tars request id is a variable-width TLV integer (`40 02` for 2, `41 01 2c` for 300,
/// up to five bytes), so a new id may not fit the old field. [`set_request_id`] therefore
/// never touches the original bytes: it stores the new id field (at most 5 bytes) inline in
/// the frame. [`Codec::encode`](xprotocol::Codec::encode) then writes a new 4-byte length
/// prefix, the original bytes between the prefix and the id field (iVersion, cPacketType and,
/// for requests, iMessageType: a few bytes), the new id field, and the original bytes from
/// the end of the old id field to the end of the packet: servant, function, `sBuffer`,
/// context and status, never re-serialised. Copied at rewrite time: nothing; allocated:
/// nothing. Setting the id back to the decoded value drops the override, and an unchanged
/// frame is written as its original bytes in one copy.
///
/// # Context edits
///
/// [`set_header`] and [`remove_header`] edit the `context` map the same way: the new context
/// field (head, count and entries, untouched entries in their order) is written to a small
/// buffer kept beside the wire bytes, and encoding writes it in place of the old field (or,
/// when the packet had none, before the first field with a higher tag). `sBuffer` and every
/// other field are still written from the original bytes; only the context is re-encoded.
/// An edit that gives back the original field drops the override.
///
/// # What the frame keeps
///
/// Decoding checks the whole packet (every field's type, the maps, the limits). The frame
/// keeps what kinds, routes and rewrites it (iVersion, cPacketType, the request id and where
/// it is, the return code, the servant and function names, the context field) and is 128
/// bytes; the fields nothing on the relay path reads ([`message_type`](Self::message_type),
/// [`timeout_ms`](Self::timeout_ms), [`result_desc`](Self::result_desc) and the `status` map)
/// are found again by walking the packet on each call of their accessors.
///
/// [`set_request_id`]: Frame::set_request_id
/// [`set_header`]: Frame::set_header
/// [`remove_header`]: Frame::remove_header
#[derive(Clone)]
pub struct TarsFrame {
    wire: Bytes,
    body: Bytes,
    layout: Layout,
    /// The new id and its encoded field, when the id was rewritten (`len` 0 when not).
    id_patch: IdPatch,
    /// The new context field, when the context was edited (boxed: an edit allocates anyway,
    /// and the frame stays small).
    context_patch: Option<Box<ContextPatch>>,
}

/// An edited context field, written in place of `Layout::context_field`.
#[derive(Clone, Debug)]
struct ContextPatch {
    /// The whole field: head, entry count, entries.
    field: Bytes,
    /// Where the map's value (count and entries) starts in `field`.
    value_at: u32,
}

#[derive(Clone, Copy, Debug)]
struct IdPatch {
    id: i32,
    bytes: [u8; MAX_ID_FIELD],
    len: u8,
}

impl IdPatch {
    const NONE: IdPatch = IdPatch { id: 0, bytes: [0; MAX_ID_FIELD], len: 0 };

    /// The patch, if the id was rewritten.
    fn get(&self) -> Option<&IdPatch> {
        (self.len > 0).then_some(self)
    }

    fn field(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }
}

impl TarsFrame {
    /// Parses a whole frame: `wire` holds the 4-byte length prefix and exactly the length it
    /// declares (the codec guarantees it; [`TarsCodec`](crate::TarsCodec) is how to decode a
    /// stream).
    ///
    /// # Errors
    /// A [`DecodeError`] naming the field and offset.
    #[inline]
    pub fn parse(wire: Bytes, limits: &Limits) -> Result<TarsFrame, DecodeError> {
        let declared = wire.get(..4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        if declared.map(|d| d as usize) != Some(wire.len()) {
            return Err(DecodeError::malformed("length", 0, "does not match the frame's bytes"));
        }
        let (layout, details) = Layout::parse(&wire, limits)?;
        let body = wire.slice(details.buffer.range());
        Ok(TarsFrame { wire, body, layout, id_patch: IdPatch::NONE, context_patch: None })
    }

    /// The frame's original wire bytes, as decoded or built (before any id rewrite or context
    /// edit).
    pub fn original_bytes(&self) -> &Bytes {
        &self.wire
    }

    /// Writes the frame's current wire bytes (with a rewritten id and an edited context, if
    /// any) to `dst`.
    pub fn write_to(&self, dst: &mut BytesMut) {
        dst.reserve(self.wire_len());
        if self.id_patch.get().is_none() && self.context_patch.is_none() {
            dst.extend_from_slice(&self.wire);
            return;
        }
        let id = self.id_patch.get().map(|p| (self.layout.id_field().range(), p.field()));
        let context =
            self.context_patch.as_ref().map(|p| (self.layout.context_field.range(), &p.field[..]));
        // The two fields never overlap; write them in wire order.
        let mut patches = [id, context];
        patches.sort_by_key(|p| p.as_ref().map(|(range, _)| range.start));
        dst.put_u32(self.wire_len() as u32);
        let mut at = 4;
        for (range, bytes) in patches.iter().flatten() {
            dst.extend_from_slice(self.wire.get(at..range.start).unwrap_or_default());
            dst.extend_from_slice(bytes);
            at = range.end;
        }
        dst.extend_from_slice(self.wire.get(at..).unwrap_or_default());
    }

    /// The struct the packet is encoded as. TUP replies (iVersion 2/3) use the RequestPacket
    /// struct; [`kind`](Frame::kind) tells requests from replies.
    pub fn shape(&self) -> Shape {
        self.layout.shape
    }

    /// `iVersion`: 1 TARS, 2 TUP, 3 TUP with JSON-like simple attributes.
    pub fn tars_version(&self) -> i16 {
        self.layout.version
    }

    /// Whether this is a TUP packet (iVersion 2 or 3).
    pub fn is_tup(&self) -> bool {
        self.layout.version >= 2
    }

    /// `cPacketType`: 0 normal, 1 one-way.
    pub fn packet_type(&self) -> i8 {
        self.layout.packet_type
    }

    /// `iMessageType`: flag bits (0x01 hash, 0x02 grid, 0x04 dyed, 0x08 sample, 0x10 async,
    /// 0x40 set routing…).
    pub fn message_type(&self) -> i32 {
        self.details().message_type
    }

    /// `iRequestId` as the signed 32-bit value on the wire (the current one after a rewrite).
    pub fn tars_request_id(&self) -> i32 {
        self.id_patch.get().map_or(self.layout.request_id, |p| p.id)
    }

    /// The fields the frame does not keep, found by walking the packet again.
    fn details(&self) -> Details {
        Details::find(&self.wire)
    }

    fn slice(&self, span: Span) -> &[u8] {
        self.wire.get(span.range()).unwrap_or_default()
    }

    /// `sServantName` as bytes (empty for a ResponsePacket).
    pub fn servant_bytes(&self) -> &[u8] {
        self.slice(self.layout.servant)
    }

    /// `sFuncName` as bytes (empty for a ResponsePacket).
    pub fn function_bytes(&self) -> &[u8] {
        self.slice(self.layout.function)
    }

    /// `sBuffer`, the encoded arguments or results (same as [`Frame::body`]).
    pub fn buffer(&self) -> &Bytes {
        &self.body
    }

    /// `iTimeout` in milliseconds (0 for a ResponsePacket or when absent).
    pub fn timeout_ms(&self) -> i32 {
        self.details().timeout
    }

    /// The return code of a reply: `iRet`, or a TUP reply's `STATUS_RESULT_CODE`. `None` for
    /// requests. See [`crate::status`] for the codes.
    pub fn ret(&self) -> Option<i32> {
        (self.layout.kind == StreamKind::Response).then_some(self.layout.ret)
    }

    /// `sResultDesc` of a reply (a TUP reply's `STATUS_RESULT_DESC`), empty if absent.
    pub fn result_desc(&self) -> &[u8] {
        self.slice(self.details().result_desc)
    }

    /// The `context` map as it is now (edited, or as decoded).
    fn context_view(&self) -> MapView<'_> {
        match &self.context_patch {
            Some(p) => {
                MapView::new(&p.field, Span { start: p.value_at, end: p.field.len() as u32 })
            }
            None => MapView::new(&self.wire, self.layout.context()),
        }
    }

    /// The value of `key` in the `context` map, if present and UTF-8.
    pub fn context(&self, key: &str) -> Option<&str> {
        self.context_view().get(key.as_bytes()).and_then(|(v, _)| std::str::from_utf8(v).ok())
    }

    /// The value of `key` in the `status` map, if present and UTF-8.
    pub fn status_entry(&self, key: &str) -> Option<&str> {
        map_get(&self.wire, self.details().status, key)
    }

    /// Calls `visit` for every `context` entry in wire order (non-UTF-8 entries skipped).
    pub fn for_each_context(&self, visit: &mut dyn FnMut(&str, &str)) {
        map_each(self.context_view(), visit);
    }

    /// Calls `visit` for every `status` entry in wire order (non-UTF-8 entries skipped).
    pub fn for_each_status(&self, visit: &mut dyn FnMut(&str, &str)) {
        map_each(MapView::new(&self.wire, self.details().status), visit);
    }
}

fn map_get<'a>(wire: &'a [u8], span: Span, key: &str) -> Option<&'a str> {
    MapView::new(wire, span).get(key.as_bytes()).and_then(|(v, _)| std::str::from_utf8(v).ok())
}

fn map_each(map: MapView<'_>, visit: &mut dyn FnMut(&str, &str)) {
    map.for_each(|k, v, _| {
        if let (Ok(k), Ok(v)) = (std::str::from_utf8(k), std::str::from_utf8(v)) {
            visit(k, v);
        }
        true
    });
}

impl Frame for TarsFrame {
    fn kind(&self) -> StreamKind {
        self.layout.kind
    }

    /// The id as the `u32` bit pattern of the wire's `i32` (so a negative id a client chose
    /// survives a round trip through the framework).
    fn request_id(&self) -> RequestId {
        RequestId(u64::from(self.tars_request_id() as u32))
    }

    /// Accepts `0..=u32::MAX`, written as the `i32` with that bit pattern (ids the framework
    /// generates stay within [`max_request_id`](xprotocol::Protocol::max_request_id),
    /// `i32::MAX`). See the type's documentation for what is copied.
    fn set_request_id(&mut self, id: RequestId) -> Result<(), EncodeError> {
        let raw = u32::try_from(id.0)
            .map_err(|_| EncodeError::RequestIdOutOfRange { id: id.0, max: u64::from(u32::MAX) })?;
        let new = raw as i32;
        if new == self.layout.request_id {
            self.id_patch = IdPatch::NONE;
            return Ok(());
        }
        let mut bytes = [0u8; MAX_ID_FIELD];
        let tag = self.layout.id_tag();
        let len = int_len(tag, i64::from(new));
        let mut out = &mut bytes[..];
        write_int(&mut out, tag, i64::from(new));
        self.id_patch = IdPatch { id: new, bytes, len: len as u8 };
        Ok(())
    }

    /// The return code as the `u32` bit pattern of the `i32` (`-7` is `0xffff_fff9`);
    /// [`Tars::http_status`](crate::Tars) reads it back as `i32`.
    fn status(&self) -> Option<u32> {
        self.ret().map(|r| r as u32)
    }

    /// `sServantName` (requests only).
    fn service(&self) -> Option<&str> {
        match self.layout.shape {
            Shape::Request => std::str::from_utf8(self.servant_bytes()).ok(),
            Shape::Response => None,
        }
    }

    /// `sFuncName` (requests only).
    fn method(&self) -> Option<&str> {
        match self.layout.shape {
            Shape::Request => std::str::from_utf8(self.function_bytes()).ok(),
            Shape::Response => None,
        }
    }

    /// Looks `name` up in the `context` map.
    fn header(&self, name: &str) -> Option<&str> {
        self.context(name)
    }

    /// Visits the `context` map.
    fn for_each_header(&self, visit: &mut dyn FnMut(&str, &str)) {
        self.for_each_context(visit);
    }

    /// Sets `name` in the `context` map; see [`Frame::set_header`] and the type's
    /// documentation for what is copied (the context field only).
    fn set_header(&mut self, name: &str, value: &str) -> Result<(), EncodeError> {
        self.edit_context(name, Some(value))
    }

    /// Removes every entry `name` of the `context` map; see [`Frame::remove_header`].
    fn remove_header(&mut self, name: &str) -> Result<(), EncodeError> {
        self.edit_context(name, None)
    }

    fn body(&self) -> &Bytes {
        &self.body
    }

    fn wire_len(&self) -> usize {
        let mut len = self.wire.len();
        if let Some(p) = self.id_patch.get() {
            len = len - self.layout.id_field().len() + usize::from(p.len);
        }
        if let Some(p) = &self.context_patch {
            len = len - self.layout.context_field.len() + p.field.len();
        }
        len
    }
}

impl fmt::Debug for TarsFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TarsFrame")
            .field("kind", &self.layout.kind)
            .field("version", &self.layout.version)
            .field("request_id", &self.tars_request_id())
            .field("servant", &String::from_utf8_lossy(self.servant_bytes()))
            .field("function", &String::from_utf8_lossy(self.function_bytes()))
            .field("ret", &self.ret())
            .field("body_len", &self.body.len())
            .field("wire_len", &self.wire_len())
            .finish()
    }
}
