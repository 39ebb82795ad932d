//! The straight pass over a packet as Tars implementations write it: the fields in increasing
//! tag order, one-byte heads, each field of its declared type, the maps `map<string, string>`
//! and nothing after the last field. One look at each byte, no table of fields, no second
//! reading of the maps: what the relay decodes for every request.
//!
//! It never decides an error: on anything else (another order, an unknown or extended tag, a
//! value of another type or out of range, a truncated value) it gives up, and the general walk
//! ([`super::general`]) reads the packet or names what is wrong with it. On the packets it
//! accepts, it gives what the general walk would.

use xprotocol::{Limits, StreamKind};

use super::general::{parse_code, request_shaped_kind};
use super::{Details, Layout, MapView, Shape, Span, CONTEXT_TAG, STATUS_RESULT_CODE};
use crate::tlv::TypeCode;

/// Type nibbles, as [`TypeCode`] numbers them.
const INT8: u8 = TypeCode::Int8 as u8;
const INT16: u8 = TypeCode::Int16 as u8;
const INT32: u8 = TypeCode::Int32 as u8;
const INT64: u8 = TypeCode::Int64 as u8;
const ZERO: u8 = TypeCode::Zero as u8;
const STRING1: u8 = TypeCode::String1 as u8;
const STRING4: u8 = TypeCode::String4 as u8;
const MAP: u8 = TypeCode::Map as u8;
const SIMPLE_LIST: u8 = TypeCode::SimpleList as u8;

/// Reads a canonical packet (`wire` starts with the 4-byte length prefix), or `None` for
/// anything else, which the general walk then reads or refuses.
///
/// Inlined into [`Layout::parse`] and from there into the decoder, so that the layout goes
/// from registers into the frame once instead of being copied through two return slots.
#[inline(always)]
pub(super) fn parse(wire: &[u8], limits: &Limits) -> Option<(Layout, Details)> {
    // A non-empty map is one level of nesting: with none allowed, the general walk decides.
    if limits.max_nesting == 0 {
        return None;
    }
    let mut c = Cursor { wire, pos: 4 };
    let ty = c.field(1)??;
    let version = c.int(ty)?;
    if !(1..=3).contains(&version) {
        return None;
    }
    let packet_type = match c.field(2)? {
        Some(ty) => c.int(ty)?,
        None => 0,
    };
    if !(0..=1).contains(&packet_type) {
        return None;
    }
    // Tags 3 and 4 are the message type and the request id of a request, the other way round
    // in a response; the type of tag 5 says which.
    let third = c.int32_field(3)?;
    let fourth = c.int32_field(4)?;
    let fifth = c.field(5)??;
    let request = matches!(fifth, STRING1 | STRING4);
    let (id, message_type) = if request { (fourth, third) } else { (third, fourth) };
    let (id_at, id_end, request_id) = id?;
    let mut layout = Layout {
        shape: Shape::Request,
        kind: StreamKind::Request,
        version: version as i16,
        packet_type: packet_type as i8,
        id_len: u8::try_from(id_end - id_at).ok()?,
        id_at: u32::try_from(id_at).ok()?,
        request_id,
        ret: 0,
        servant: Span::default(),
        function: Span::default(),
        context_field: Span::default(),
        context_head: 0,
    };
    let mut details =
        Details { message_type: message_type.map_or(0, |(_, _, v)| v), ..Details::default() };
    let context;
    // Where a context field goes when there is none: before the first field with a higher tag.
    let mut after_context = None;
    if request {
        layout.servant = c.string(fifth)?;
        let ty = c.field(6)??;
        layout.function = c.string(ty)?;
        if let Some(ty) = c.field(7)? {
            details.buffer = c.simple_list(ty)?;
        }
        details.timeout = c.int32_field(8)?.map_or(0, |(_, _, v)| v);
        context = c.context()?;
        let status_at = c.pos;
        if let Some(ty) = c.field(10)? {
            after_context = Some(status_at);
            details.status = c.string_map(ty)?;
        }
        let tup_code = if version >= 2 {
            MapView::new(wire, details.status).get(STATUS_RESULT_CODE.as_bytes())
        } else {
            None
        };
        if let Some((code, _)) = tup_code {
            layout.ret = parse_code(code)?;
        }
        layout.kind = request_shaped_kind(wire, &mut details, tup_code.is_some(), packet_type == 1);
    } else {
        layout.shape = Shape::Response;
        layout.kind = StreamKind::Response;
        layout.ret = int32(c.int(fifth)?)?;
        if let Some(ty) = c.field(6)? {
            details.buffer = c.simple_list(ty)?;
        }
        if let Some(ty) = c.field(7)? {
            details.status = c.string_map(ty)?;
        }
        if let Some(ty) = c.field(8)? {
            details.result_desc = c.string(ty)?;
        }
        context = c.context()?;
    }
    // Nothing may follow the last field (an unknown tag is the general walk's to skip).
    if c.pos != wire.len() {
        return None;
    }
    layout.context_field = match context {
        Some(field) => {
            // This pass reads only one-byte heads (see `Cursor::field`).
            layout.context_head = 1;
            field
        }
        None => {
            let at = u32::try_from(after_context.unwrap_or(wire.len())).ok()?;
            Span { start: at, end: at }
        }
    };
    Some((layout, details))
}

fn int32(v: i64) -> Option<i32> {
    i32::try_from(v).ok()
}

/// The bytes of an integer value of type `ty`.
fn int_len(ty: u8) -> Option<usize> {
    match ty {
        ZERO => Some(0),
        INT8 => Some(1),
        INT16 => Some(2),
        INT32 => Some(4),
        INT64 => Some(8),
        _ => None,
    }
}

/// A read position in the packet; every read checks the bytes left and gives `None` past them.
///
/// The reads are `#[inline(always)]`: out of line, each `Option<Span>` comes back through
/// memory and is read back wider than it was written, which stalls the load (measured: the
/// whole pass took twice as long).
struct Cursor<'a> {
    wire: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    /// The type of the field with `tag` if it comes next (and consumes its head); `Some(None)`
    /// if the next field has a higher tag or the packet ends there; `None` for a lower tag (a
    /// duplicate or another order) or an extended head, which this pass does not read.
    #[inline(always)]
    fn field(&mut self, tag: u8) -> Option<Option<u8>> {
        let Some(&head) = self.wire.get(self.pos) else { return Some(None) };
        let next = head >> 4;
        if next == 15 || next < tag {
            return None;
        }
        if next > tag {
            return Some(None);
        }
        self.pos += 1;
        Some(Some(head & 0x0f))
    }

    #[inline(always)]
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let bytes = self.wire.get(self.pos..self.pos.checked_add(N)?)?;
        self.pos += N;
        bytes.try_into().ok()
    }

    /// `n` bytes as a span.
    #[inline(always)]
    fn span(&mut self, n: usize) -> Option<Span> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.wire.len())?;
        let span = Span { start: u32::try_from(self.pos).ok()?, end: u32::try_from(end).ok()? };
        self.pos = end;
        Some(span)
    }

    /// An integer value of type `ty`.
    #[inline(always)]
    fn int(&mut self, ty: u8) -> Option<i64> {
        Some(match ty {
            ZERO => 0,
            INT8 => i64::from(i8::from_be_bytes(self.take()?)),
            INT16 => i64::from(i16::from_be_bytes(self.take()?)),
            INT32 => i64::from(i32::from_be_bytes(self.take()?)),
            INT64 => i64::from_be_bytes(self.take()?),
            _ => return None,
        })
    }

    /// The int32 field `tag`, if it comes next, with where its head starts and its value
    /// ends: `Some(None)` when absent.
    #[inline(always)]
    fn int32_field(&mut self, tag: u8) -> Option<Option<(usize, usize, i32)>> {
        let at = self.pos;
        match self.field(tag)? {
            Some(ty) => Some(Some((at, self.pos + int_len(ty)?, int32(self.int(ty)?)?))),
            None => Some(None),
        }
    }

    /// The bytes of a string value of type `ty`.
    #[inline(always)]
    fn string(&mut self, ty: u8) -> Option<Span> {
        let len = match ty {
            STRING1 => usize::from(u8::from_be_bytes(self.take()?)),
            STRING4 => usize::try_from(u32::from_be_bytes(self.take()?)).ok()?,
            _ => return None,
        };
        self.span(len)
    }

    /// A container's count: a tag-0 integer, at most the bytes left over `min_item_bytes`.
    #[inline(always)]
    fn count(&mut self, min_item_bytes: usize) -> Option<usize> {
        let ty = self.field(0)??;
        let n = usize::try_from(self.int(ty)?).ok()?;
        let left = self.wire.len() - self.pos.min(self.wire.len());
        (n.checked_mul(min_item_bytes)? <= left).then_some(n)
    }

    /// The bytes of a simple list (`vector<byte>`) of type `ty`.
    #[inline(always)]
    fn simple_list(&mut self, ty: u8) -> Option<Span> {
        if ty != SIMPLE_LIST || self.take::<1>()? != [0] {
            return None;
        }
        let len = self.count(1)?;
        self.span(len)
    }

    /// The value (count and entries) of a `map<string, string>` of type `ty`.
    #[inline(always)]
    fn string_map(&mut self, ty: u8) -> Option<Span> {
        if ty != MAP {
            return None;
        }
        let start = self.pos;
        let n = self.count(2)?;
        for _ in 0..n {
            let key = self.field(0)??;
            self.string(key)?;
            let value = self.field(1)??;
            self.string(value)?;
        }
        Some(Span { start: u32::try_from(start).ok()?, end: u32::try_from(self.pos).ok()? })
    }

    /// The context field (tag 9, head included) if it comes next: `Some(None)` when absent.
    #[inline(always)]
    fn context(&mut self) -> Option<Option<Span>> {
        let at = self.pos;
        match self.field(CONTEXT_TAG)? {
            Some(ty) => {
                let value = self.string_map(ty)?;
                Some(Some(Span { start: u32::try_from(at).ok()?, end: value.end }))
            }
            None => Some(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use xprotocol::Limits;

    use super::super::general;
    use crate::{RequestPacket, ResponsePacket};

    fn agree(wire: &[u8], limits: &Limits) -> bool {
        let fast = super::parse(wire, limits);
        if let Some(fast) = fast {
            assert_eq!(Ok(fast), general::parse(wire, limits), "{}", hex::encode(wire));
        }
        fast.is_some()
    }

    #[test]
    fn what_the_builders_write_is_read_straight() {
        let mut wires = Vec::new();
        let ctx = [("trace", "abc"), ("k", "v")];
        let body = vec![7u8; 1024];
        let request = RequestPacket {
            timeout: 3000,
            context: &ctx,
            ..RequestPacket::new(300, "A.B.Obj", "f", &body)
        };
        wires.push(request.to_frame().unwrap());
        wires.push(RequestPacket { version: 3, packet_type: 1, ..request }.to_frame().unwrap());
        wires.push(RequestPacket { context: &[], status: &ctx, ..request }.to_frame().unwrap());
        wires.push(ResponsePacket::new(-70_000, b"results").to_frame().unwrap());
        let tup = [("STATUS_RESULT_CODE", "-7"), ("STATUS_RESULT_DESC", "no")];
        wires.push(RequestPacket { version: 2, status: &tup, ..request }.to_frame().unwrap());
        for f in &wires {
            assert!(agree(f.original_bytes(), &Limits::DEFAULT), "{f:?}");
        }
        for name in [crate::tests::REQUEST, crate::tests::RESPONSE] {
            assert!(agree(&crate::tests::vector(name), &Limits::DEFAULT), "{name}");
        }
        // What it leaves to the general walk: an unknown tag, nesting not allowed.
        let mut unknown = wires[0].original_bytes().to_vec();
        unknown.extend_from_slice(&[0xb0, 0x01]);
        let len = (unknown.len() as u32).to_be_bytes();
        unknown[..4].copy_from_slice(&len);
        assert!(!agree(&unknown, &Limits::DEFAULT));
        let flat = Limits { max_nesting: 0, ..Limits::DEFAULT };
        assert!(!agree(wires[0].original_bytes(), &flat));
    }

    proptest! {
        #[test]
        fn agrees_with_the_general_walk_on_frames(f in crate::arbitrary::frames()) {
            prop_assert!(agree(f.original_bytes(), &Limits::DEFAULT));
        }

        #[test]
        fn agrees_with_the_general_walk_on_mutations(
            f in crate::arbitrary::frames(),
            at in any::<prop::sample::Index>(),
            byte: u8,
        ) {
            let mut wire = f.original_bytes().to_vec();
            let at = 4 + at.index(wire.len() - 4);
            wire[at] = byte;
            agree(&wire, &Limits::DEFAULT);
        }

        #[test]
        fn agrees_with_the_general_walk_on_cut_packets(
            f in crate::arbitrary::frames(),
            from in any::<prop::sample::Index>(),
            len in 0usize..12,
        ) {
            // Bytes cut out of the packet (fields missing, or split), the prefix fixed.
            let mut wire = f.original_bytes().to_vec();
            let from = 4 + from.index(wire.len() - 4);
            let to = (from + len).min(wire.len());
            wire.drain(from..to);
            let prefix = (wire.len() as u32).to_be_bytes();
            wire[..4].copy_from_slice(&prefix);
            agree(&wire, &Limits::DEFAULT);
        }
    }
}
