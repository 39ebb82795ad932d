//! Where the fields of a RequestPacket or ResponsePacket sit in a frame's bytes.
//!
//! `Layout::parse` walks a whole packet once, checks every field's type, records the byte
//! ranges of the strings, the body buffer and the two maps, and reads the integers. Nothing is
//! copied or allocated: accessors later slice the frame's buffer with these ranges.
//!
//! Packets as every Tars implementation writes them (the fields in tag order, each of its
//! declared type, the maps `map<string, string>`) are read by a straight pass
//! (module `canonical`); anything else, and every packet that does not parse, goes through the
//! general walk (module `general`), which accepts any field order and unknown tags and names what
//! is wrong. Both give the same result on the packets the first accepts.

mod canonical;
mod general;

use std::ops::Range;

use xprotocol::{DecodeError, Limits, StreamKind};

use crate::tlv::{TlvError, TlvReader};

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
    pub(crate) fn new(r: Range<usize>) -> Result<Span, DecodeError> {
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

/// What a frame keeps of its packet: what kinds, routes and rewrites it (integers by value,
/// strings and the context field by range), in 44 bytes, so that the frame stays within 128
/// bytes and moves without a call to `memcpy`. The rest ([`Details`]) is found again when
/// asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub shape: Shape,
    pub kind: StreamKind,
    pub version: i16,
    pub packet_type: i8,
    /// Bytes of the request-id field, head included (at most 10).
    pub(crate) id_len: u8,
    /// Bytes of the context field's head (1, or 2 in the extended form; 0 with no context).
    pub(crate) context_head: u8,
    /// Where the request-id field starts.
    pub(crate) id_at: u32,
    pub request_id: i32,
    /// The return code: iRet, or a TUP reply's `STATUS_RESULT_CODE` (0 for requests).
    pub ret: i32,
    pub servant: Span,
    pub function: Span,
    /// The whole context field (head included) if present; else an empty span where a
    /// context field goes: before the first field with a higher tag, or at the end.
    pub context_field: Span,
}

/// The fields of a packet the frame does not keep, found again by [`Details::find`] (a walk of
/// the packet) when one of the accessors that need them is called.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Details {
    pub message_type: i32,
    pub timeout: i32,
    /// The `sBuffer` bytes.
    pub buffer: Span,
    pub result_desc: Span,
    /// Value bytes of the status map, empty if absent.
    pub status: Span,
}

/// Highest tag either packet struct defines.
pub(crate) const MAX_TAG: usize = 10;

/// Tag of the `context` map in both packet structs.
pub(crate) const CONTEXT_TAG: u8 = 9;

/// Limits for walking a packet again: it was checked at decode, under limits at least as tight.
const REWALK_LIMITS: Limits =
    Limits { max_frame_bytes: usize::MAX, max_header_bytes: usize::MAX, max_nesting: usize::MAX };

impl Layout {
    /// The whole request-id field, head included: what an id rewrite replaces.
    pub fn id_field(&self) -> Span {
        Span { start: self.id_at, end: self.id_at + u32::from(self.id_len) }
    }

    /// The tag of the request id: 4 in a RequestPacket, 3 in a ResponsePacket.
    pub fn id_tag(&self) -> u8 {
        match self.shape {
            Shape::Request => 4,
            Shape::Response => 3,
        }
    }

    /// Value bytes (count and entries) of the context map, empty if absent.
    pub fn context(&self) -> Span {
        match self.context_field.len() {
            0 => Span::default(),
            _ => Span {
                start: self.context_field.start + u32::from(self.context_head),
                end: self.context_field.end,
            },
        }
    }

    /// Parses a whole frame (`wire` starts with the 4-byte length prefix and holds exactly
    /// the declared length).
    ///
    /// # Errors
    /// A [`DecodeError`] naming the field and offset: missing required fields (iVersion, the
    /// request id, and for requests the servant and function names), wrong types, undefined
    /// iVersion or cPacketType values, duplicate tags, TLV errors (nesting beyond
    /// `limits.max_nesting` included), and a header section over `limits.max_header_bytes`.
    #[inline]
    pub fn parse(wire: &[u8], limits: &Limits) -> Result<(Layout, Details), DecodeError> {
        let (layout, details) = match canonical::parse(wire, limits) {
            Some(parsed) => parsed,
            None => general::parse(wire, limits)?,
        };
        let header = wire.len().saturating_sub(details.buffer.len());
        limits.check_header(header as u64)?;
        Ok((layout, details))
    }
}

impl Details {
    /// Walks the packet of a frame that [`Layout::parse`] accepted again, for the fields the
    /// frame does not keep. (A packet that no longer parses, which cannot happen, gives the
    /// defaults: zeros and empty ranges.)
    pub fn find(wire: &[u8]) -> Details {
        Layout::parse(wire, &REWALK_LIMITS).map(|(_, details)| details).unwrap_or_default()
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
