//! Where the fields of a RequestPacket or ResponsePacket sit in a frame's bytes.
//!
//! `Layout::parse` walks a whole packet once, checks every field's type, records the byte
//! ranges of the strings, the body buffer and the two maps, and reads the integers. Nothing is
//! copied or allocated: accessors later slice the frame's buffer with these ranges.

use std::ops::Range;

use xprotocol::{DecodeError, Limits, StreamKind};

use crate::tlv::{Head, TlvError, TlvReader, TypeCode};

/// The status-map key in which a TUP server (iVersion 2 or 3) returns its return code: TUP
/// replies reuse the RequestPacket struct, and this key is what marks them as replies.
pub const STATUS_RESULT_CODE: &str = "STATUS_RESULT_CODE";
/// The status-map key of a TUP reply's result description.
pub const STATUS_RESULT_DESC: &str = "STATUS_RESULT_DESC";

/// Which struct a packet is encoded as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    /// `RequestPacket`: requests of every version, and TUP replies.
    Request,
    /// `ResponsePacket`: TARS (iVersion 1) replies.
    Response,
}

/// A byte range in the frame (offsets from the frame start, length prefix included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    fn new(r: Range<usize>) -> Result<Span, DecodeError> {
        let conv = |v: usize| {
            u32::try_from(v).map_err(|_| DecodeError::malformed("frame", v, "offset over 4 GiB"))
        };
        Ok(Span { start: conv(r.start)?, end: conv(r.end)? })
    }

    pub fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    pub fn len(self) -> usize {
        self.end.saturating_sub(self.start) as usize
    }
}

/// One top-level field: its head and the byte range of its value (after the head), and what
/// the walk read on the way: the number of an integer field, the bytes of a string or byte
/// list (so that typed reads need not read the field again).
#[derive(Clone, Copy, Debug)]
struct Field {
    head: Head,
    value: Span,
    /// The value of an integer field (0 for other types).
    int: i64,
    /// The bytes of a string or byte-list field (empty for other types).
    inner: Span,
}

/// The decoded shape of a packet: integers by value, strings, buffer and maps by range.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    pub shape: Shape,
    pub kind: StreamKind,
    pub version: i16,
    pub packet_type: i8,
    pub message_type: i32,
    pub request_id: i32,
    /// The whole request-id field, head included: what an id rewrite replaces.
    pub id_field: Span,
    pub id_tag: u8,
    pub servant: Span,
    pub function: Span,
    pub buffer: Span,
    pub timeout: i32,
    /// The return code: iRet, or a TUP reply's `STATUS_RESULT_CODE` (0 for requests).
    pub ret: i32,
    pub result_desc: Span,
    /// Value bytes (count and entries) of the context map, empty if absent.
    pub context: Span,
    /// The whole context field (head included) if present; else an empty span where a
    /// context field goes: before the first field with a higher tag, or at the end.
    pub context_field: Span,
    /// Value bytes of the status map, empty if absent.
    pub status: Span,
}

/// Highest tag either packet struct defines.
const MAX_TAG: usize = 10;

/// Tag of the `context` map in both packet structs.
pub(crate) const CONTEXT_TAG: u8 = 9;

impl Layout {
    /// Parses a whole frame (`wire` starts with the 4-byte length prefix and holds exactly
    /// the declared length).
    ///
    /// # Errors
    /// A [`DecodeError`] naming the field and offset: missing required fields (iVersion, the
    /// request id, and for requests the servant and function names), wrong types, undefined
    /// iVersion or cPacketType values, duplicate tags, TLV errors (nesting beyond
    /// `limits.max_nesting` included), and a header section over `limits.max_header_bytes`.
    pub fn parse(wire: &[u8], limits: &Limits) -> Result<Layout, DecodeError> {
        let body = wire.get(4..).unwrap_or_default();
        let mut reader = TlvReader::with_base(body, 4);
        let mut fields: [Option<Field>; MAX_TAG + 1] = [None; MAX_TAG + 1];
        let mut after_context = None;
        while !reader.is_empty() {
            let head = reader.read_head().map_err(|e| e.into_decode("packet field"))?;
            if head.tag > CONTEXT_TAG && after_context.is_none() {
                after_context = Some(head.offset);
            }
            let start = reader.offset();
            let (int, inner) = read_top_level(&mut reader, &head, limits)
                .map_err(|e| e.into_decode("packet field"))?;
            let value = Span::new(start..reader.offset())?;
            if let Some(slot) = fields.get_mut(usize::from(head.tag)) {
                if slot.is_some() {
                    return Err(DecodeError::malformed(
                        "packet field",
                        head.offset,
                        "duplicate tag",
                    ));
                }
                *slot = Some(Field { head, value, int, inner: Span::new(inner)? });
            }
            // Unknown tags (0, 11 and up) are skipped: a newer peer's extra fields.
        }
        let get = |tag: usize| fields.get(tag).copied().flatten();
        let shape = match (get(5).map(|f| f.head.ty), get(6).map(|f| f.head.ty)) {
            (Some(t), _) if t.is_string() => Shape::Request,
            (Some(t), _) if t.is_int() => Shape::Response,
            (None, Some(t)) if t.is_string() => Shape::Request,
            (None, Some(TypeCode::SimpleList)) => Shape::Response,
            _ => {
                return Err(DecodeError::malformed(
                    "packet",
                    4,
                    "neither a RequestPacket nor a ResponsePacket (tags 5 and 6)",
                ))
            }
        };
        let p = Picker { wire, fields: &fields };
        let version = p.int("iVersion", 1)?.ok_or(missing("iVersion"))?;
        if !(1..=3).contains(&version) {
            return Err(DecodeError::Unsupported {
                field: "iVersion",
                offset: p.offset(1),
                value: version as u64,
            });
        }
        let packet_type = p.int("cPacketType", 2)?.unwrap_or(0);
        if !(0..=1).contains(&packet_type) {
            return Err(DecodeError::Unsupported {
                field: "cPacketType",
                offset: p.offset(2),
                value: packet_type as u64,
            });
        }
        let (id_tag, msg_tag) = match shape {
            Shape::Request => (4, 3),
            Shape::Response => (3, 4),
        };
        let id_field = get(id_tag).ok_or(missing("iRequestId"))?;
        let request_id = p.int32("iRequestId", id_tag)?.unwrap_or(0);
        let message_type = p.int32("iMessageType", msg_tag)?.unwrap_or(0);
        let mut layout = Layout {
            shape,
            kind: StreamKind::Response,
            version: version as i16,
            packet_type: packet_type as i8,
            message_type,
            request_id,
            id_field: Span { start: id_field.head.offset as u32, end: id_field.value.end },
            context_field: match get(usize::from(CONTEXT_TAG)) {
                Some(f) => Span::new(f.head.offset..f.value.end as usize)?,
                None => {
                    let at = after_context.unwrap_or(wire.len());
                    Span::new(at..at)?
                }
            },
            id_tag: id_tag as u8,
            servant: Span::default(),
            function: Span::default(),
            buffer: Span::default(),
            timeout: 0,
            ret: 0,
            result_desc: Span::default(),
            context: Span::default(),
            status: Span::default(),
        };
        match shape {
            Shape::Request => {
                layout.servant = p.string("sServantName", 5)?.ok_or(missing("sServantName"))?;
                layout.function = p.string("sFuncName", 6)?.ok_or(missing("sFuncName"))?;
                layout.buffer = p.bytes("sBuffer", 7)?.unwrap_or_default();
                layout.timeout = p.int32("iTimeout", 8)?.unwrap_or(0);
                layout.context = p.map("context", CONTEXT_TAG.into())?.unwrap_or_default();
                layout.status = p.map("status", 10)?.unwrap_or_default();
                let tup_code = if version >= 2 {
                    MapView::new(wire, layout.status).get(STATUS_RESULT_CODE.as_bytes())
                } else {
                    None
                };
                layout.kind = if let Some((code, at)) = tup_code {
                    layout.ret = parse_code(code).ok_or(DecodeError::malformed(
                        "status",
                        at,
                        "STATUS_RESULT_CODE is not a 32-bit integer",
                    ))?;
                    if let Some((_, desc)) =
                        MapView::new(wire, layout.status).get_span(STATUS_RESULT_DESC.as_bytes())
                    {
                        layout.result_desc = desc;
                    }
                    StreamKind::Response
                } else if packet_type == 1 {
                    StreamKind::OneWayRequest
                } else {
                    StreamKind::Request
                };
            }
            Shape::Response => {
                layout.ret = p.int32("iRet", 5)?.unwrap_or(0);
                layout.buffer = p.bytes("sBuffer", 6)?.unwrap_or_default();
                layout.status = p.map("status", 7)?.unwrap_or_default();
                layout.result_desc = p.string("sResultDesc", 8)?.unwrap_or_default();
                layout.context = p.map("context", CONTEXT_TAG.into())?.unwrap_or_default();
            }
        }
        let header = wire.len().saturating_sub(layout.buffer.len());
        limits.check_header(header as u64)?;
        Ok(layout)
    }
}

/// Skips the value of a top-level field, returning the number of an integer and the byte range
/// (base-relative) of a string or byte list, which the packet's typed fields are.
#[inline]
fn read_top_level(
    reader: &mut TlvReader<'_>,
    head: &Head,
    limits: &Limits,
) -> Result<(i64, Range<usize>), TlvError> {
    let bytes = match head.ty {
        TypeCode::Int8 | TypeCode::Int16 | TypeCode::Int32 | TypeCode::Int64 | TypeCode::Zero => {
            return Ok((reader.read_int(head)?, 0..0));
        }
        TypeCode::String1 | TypeCode::String4 => reader.read_string(head)?,
        TypeCode::SimpleList => reader.read_simple_list(head)?,
        _ => {
            reader.skip_value(head, limits.max_nesting)?;
            return Ok((0, 0..0));
        }
    };
    let end = reader.offset();
    Ok((0, end - bytes.len()..end))
}

fn missing(field: &'static str) -> DecodeError {
    DecodeError::malformed(field, 4, "required field missing")
}

fn parse_code(bytes: &[u8]) -> Option<i32> {
    std::str::from_utf8(bytes).ok()?.trim().parse().ok()
}

/// Reads typed values of recorded fields.
struct Picker<'a> {
    wire: &'a [u8],
    fields: &'a [Option<Field>; MAX_TAG + 1],
}

impl Picker<'_> {
    fn field(&self, tag: usize) -> Option<Field> {
        self.fields.get(tag).copied().flatten()
    }

    fn offset(&self, tag: usize) -> usize {
        self.field(tag).map_or(4, |f| f.head.offset)
    }

    fn reader(&self, f: &Field) -> TlvReader<'_> {
        let r = f.value.range();
        TlvReader::with_base(self.wire.get(r.clone()).unwrap_or_default(), r.start)
    }

    fn int(&self, name: &'static str, tag: usize) -> Result<Option<i64>, DecodeError> {
        let Some(f) = self.field(tag) else { return Ok(None) };
        if f.head.ty.is_int() {
            return Ok(Some(f.int));
        }
        self.reader(&f).read_int(&f.head).map(Some).map_err(|e| e.into_decode(name))
    }

    fn int32(&self, name: &'static str, tag: usize) -> Result<Option<i32>, DecodeError> {
        match self.int(name, tag)? {
            None => Ok(None),
            Some(v) => i32::try_from(v).map(Some).map_err(|_| DecodeError::Unsupported {
                field: name,
                offset: self.offset(tag),
                value: v as u64,
            }),
        }
    }

    fn string(&self, name: &'static str, tag: usize) -> Result<Option<Span>, DecodeError> {
        let Some(f) = self.field(tag) else { return Ok(None) };
        if f.head.ty.is_string() {
            return Ok(Some(f.inner));
        }
        let mut r = self.reader(&f);
        let s = r.read_string(&f.head).map_err(|e| e.into_decode(name))?;
        let end = r.offset();
        Span::new(end - s.len()..end).map(Some)
    }

    fn bytes(&self, name: &'static str, tag: usize) -> Result<Option<Span>, DecodeError> {
        let Some(f) = self.field(tag) else { return Ok(None) };
        if f.head.ty == TypeCode::SimpleList {
            return Ok(Some(f.inner));
        }
        let mut r = self.reader(&f);
        let s = r.read_simple_list(&f.head).map_err(|e| e.into_decode(name))?;
        let end = r.offset();
        Span::new(end - s.len()..end).map(Some)
    }

    /// A `map<string, string>`: checks every entry's tags and types, returns the value span.
    fn map(&self, name: &'static str, tag: usize) -> Result<Option<Span>, DecodeError> {
        let Some(f) = self.field(tag) else { return Ok(None) };
        if f.head.ty != TypeCode::Map {
            return Err(DecodeError::malformed(name, f.head.offset, "not a map"));
        }
        let mut r = self.reader(&f);
        let n = r.read_count(2).map_err(|e| e.into_decode(name))?;
        for _ in 0..n {
            for want in [0u8, 1] {
                let h = r.read_head().map_err(|e| e.into_decode(name))?;
                if h.tag != want || !h.ty.is_string() {
                    return Err(DecodeError::malformed(name, h.offset, "entry is not a string"));
                }
                r.read_string(&h).map_err(|e| e.into_decode(name))?;
            }
        }
        Ok(Some(f.value))
    }
}

/// A validated `map<string, string>` in a frame's bytes, read entry by entry on demand.
#[derive(Clone, Copy)]
pub(crate) struct MapView<'a> {
    wire: &'a [u8],
    span: Span,
}

impl<'a> MapView<'a> {
    pub fn new(wire: &'a [u8], span: Span) -> Self {
        MapView { wire, span }
    }

    /// Calls `visit(key, value, value_span)` for each entry in wire order. The map was
    /// validated at parse time, so a read error here cannot happen; it ends the walk.
    pub fn for_each(&self, mut visit: impl FnMut(&'a [u8], &'a [u8], Span) -> bool) {
        if self.span.len() == 0 {
            return;
        }
        let r = self.span.range();
        let mut reader =
            TlvReader::with_base(self.wire.get(r.clone()).unwrap_or_default(), r.start);
        let mut walk = |reader: &mut TlvReader<'a>| -> Result<(), TlvError> {
            let n = reader.read_count(2)?;
            for _ in 0..n {
                let kh = reader.read_head()?;
                let k = reader.read_string(&kh)?;
                let vh = reader.read_head()?;
                let v = reader.read_string(&vh)?;
                let end = reader.offset();
                let span = Span { start: (end - v.len()) as u32, end: end as u32 };
                if !visit(k, v, span) {
                    break;
                }
            }
            Ok(())
        };
        let _ = walk(&mut reader);
    }

    /// The value and its offset of the first entry with `key`.
    pub fn get(&self, key: &[u8]) -> Option<(&'a [u8], usize)> {
        self.get_span(key).map(|(v, s)| (v, s.start as usize))
    }

    /// The value and its span of the first entry with `key`.
    pub fn get_span(&self, key: &[u8]) -> Option<(&'a [u8], Span)> {
        let mut found = None;
        self.for_each(|k, v, span| {
            if k == key {
                found = Some((v, span));
                false
            } else {
                true
            }
        });
        found
    }
}
