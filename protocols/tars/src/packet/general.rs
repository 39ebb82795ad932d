//! The general parse: any field order, unknown and extended tags, any value types (checked),
//! and the error a malformed packet gets. [`super::canonical`] handles the usual packets
//! faster and hands everything else here.

use std::ops::Range;

use xprotocol::{DecodeError, Limits, StreamKind};

use super::{
    Details, Layout, MapView, Shape, Span, CONTEXT_TAG, MAX_TAG, STATUS_RESULT_CODE,
    STATUS_RESULT_DESC,
};
use crate::tlv::{Head, TlvError, TlvReader, TypeCode};

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

/// Parses a whole frame (`wire` starts with the 4-byte length prefix and holds exactly the
/// declared length) in two steps: one walk over every field, recording the fields of known
/// tags, then the typed checks, in the order the errors are reported.
///
/// # Errors
/// A [`DecodeError`] naming the field and offset: missing required fields (iVersion, the
/// request id, and for requests the servant and function names), wrong types, undefined
/// iVersion or cPacketType values, duplicate tags, TLV errors (nesting beyond
/// `limits.max_nesting` included). (The header limit is [`Layout::parse`]'s to check.)
pub(super) fn parse(wire: &[u8], limits: &Limits) -> Result<(Layout, Details), DecodeError> {
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
                return Err(DecodeError::malformed("packet field", head.offset, "duplicate tag"));
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
    let id_span = Span::new(id_field.head.offset..id_field.value.end as usize)?;
    let mut layout = Layout {
        shape,
        kind: StreamKind::Response,
        version: version as i16,
        packet_type: packet_type as i8,
        // A head and an integer: at most 2 + 8 bytes.
        id_len: u8::try_from(id_span.len()).unwrap_or(u8::MAX),
        id_at: id_span.start,
        request_id,
        ret: 0,
        servant: Span::default(),
        function: Span::default(),
        context_field: match get(usize::from(CONTEXT_TAG)) {
            Some(f) => Span::new(f.head.offset..f.value.end as usize)?,
            None => {
                let at = after_context.unwrap_or(wire.len());
                Span::new(at..at)?
            }
        },
        // One byte, or two for a head written in the extended form.
        context_head: get(usize::from(CONTEXT_TAG))
            .map_or(0, |f| (f.value.start as usize).saturating_sub(f.head.offset) as u8),
    };
    let mut details = Details { message_type, ..Details::default() };
    match shape {
        Shape::Request => {
            layout.servant = p.string("sServantName", 5)?.ok_or(missing("sServantName"))?;
            layout.function = p.string("sFuncName", 6)?.ok_or(missing("sFuncName"))?;
            details.buffer = p.bytes("sBuffer", 7)?.unwrap_or_default();
            details.timeout = p.int32("iTimeout", 8)?.unwrap_or(0);
            p.map("context", CONTEXT_TAG.into())?;
            details.status = p.map("status", 10)?.unwrap_or_default();
            let tup_code = if version >= 2 {
                MapView::new(wire, details.status).get(STATUS_RESULT_CODE.as_bytes())
            } else {
                None
            };
            if let Some((code, at)) = tup_code {
                layout.ret = parse_code(code).ok_or(DecodeError::malformed(
                    "status",
                    at,
                    "STATUS_RESULT_CODE is not a 32-bit integer",
                ))?;
            }
            layout.kind =
                request_shaped_kind(wire, &mut details, tup_code.is_some(), packet_type == 1);
        }
        Shape::Response => {
            layout.ret = p.int32("iRet", 5)?.unwrap_or(0);
            details.buffer = p.bytes("sBuffer", 6)?.unwrap_or_default();
            details.status = p.map("status", 7)?.unwrap_or_default();
            details.result_desc = p.string("sResultDesc", 8)?.unwrap_or_default();
            p.map("context", CONTEXT_TAG.into())?;
        }
    }
    Ok((layout, details))
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

/// The kind of a packet of the request shape: a TUP response (version 2 or 3 with
/// `STATUS_RESULT_CODE` in its status map, which the caller has read and checked, since the
/// two walks report a bad code differently) is a response, and its `STATUS_RESULT_DESC` is
/// kept; otherwise a one-way or two-way request.
pub(super) fn request_shaped_kind(
    wire: &[u8],
    details: &mut Details,
    tup_response: bool,
    one_way: bool,
) -> StreamKind {
    if tup_response {
        let status = MapView::new(wire, details.status);
        if let Some((_, desc)) = status.get_span(STATUS_RESULT_DESC.as_bytes()) {
            details.result_desc = desc;
        }
        StreamKind::Response
    } else if one_way {
        StreamKind::OneWayRequest
    } else {
        StreamKind::Request
    }
}

pub(super) fn parse_code(bytes: &[u8]) -> Option<i32> {
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
