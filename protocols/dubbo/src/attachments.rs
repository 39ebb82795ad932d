//! Setting and removing attachments of a hessian2 request ([`Frame::set_header`] and
//! [`Frame::remove_header`]).
//!
//! The attachments map is the last value of a request body, after the arguments. An edit
//! writes a new body: the routing strings and the arguments copied byte for byte, then the map
//! rebuilt entry by entry (untouched entries keep their bytes and their place, whatever their
//! types), then whatever followed the map. The header's body length follows the new body; the
//! request id and flags are kept. The routing ranges are found again on the new body.
//!
//! Hessian2 numbers class definitions, type names and containers across a whole body, so an
//! entry that defines one of them cannot be dropped without renumbering what follows: replacing
//! or removing an attachment whose value is a list, map or object is refused. Attachments
//! Dubbo consumers send are strings.
//!
//! [`Frame::set_header`]: xprotocol::Frame::set_header
//! [`Frame::remove_header`]: xprotocol::Frame::remove_header

use std::ops::Range;

use bytes::{BufMut, BytesMut};
use xprotocol::EncodeError;

use crate::builder::BUILD_LIMITS;
use crate::frame::DubboFrame;
use crate::header::serialization;
use crate::hessian2::{Reader, Writer};
use crate::routing::{read_through_arguments, Routing};

/// Where the attachments map sits in a request body.
struct MapLayout {
    /// Where the map value starts: the end of the arguments.
    start: usize,
    /// The map's opening bytes (`H`, or `M` and its type); empty when the body has no map or
    /// a null one, which an edit replaces with `H`.
    open: Range<usize>,
    /// Each entry's raw key and value bytes, and the key's text range if it is a string.
    entries: Vec<Entry>,
    /// Where the map value ends (after its `Z`).
    end: usize,
}

struct Entry {
    key: Range<usize>,
    value: Range<usize>,
    text: Option<Range<usize>>,
}

const NOT_HESSIAN2_REQUEST: EncodeError =
    EncodeError::Unencodable("Dubbo header edits need a hessian2 request (not an event)");
const NOT_READABLE: EncodeError =
    EncodeError::Unencodable("the request body is not hessian2 this codec can edit");

impl DubboFrame {
    /// Sets (`Some`) or removes (`None`) attachment `name`: setting replaces the first entry
    /// with that key in place and drops later ones, or appends an entry; removing drops every
    /// entry with that key. A removal of an absent key leaves the frame as it is.
    pub(crate) fn edit_attachment(
        &mut self,
        name: &str,
        value: Option<&str>,
    ) -> Result<(), EncodeError> {
        let h = self.header_fields();
        if !h.is_request() || h.is_event() || h.serialization() != serialization::HESSIAN2 {
            return Err(NOT_HESSIAN2_REQUEST);
        }
        // A body that did not read under the decoding codec's limits is not edited, even if it
        // would read under the generous ones below.
        if self.routing().is_none() {
            return Err(NOT_READABLE);
        }
        let body = xprotocol::Frame::body(self).clone();
        let map = map_layout(&body).ok_or(NOT_READABLE)?;
        let key_is =
            |e: &&Entry| e.text.as_ref().and_then(|t| body.get(t.clone())) == Some(name.as_bytes());
        let matching = || map.entries.iter().filter(key_is);
        if value.is_none() && matching().next().is_none() {
            return Ok(());
        }
        if matching().any(|e| body.get(e.value.start).copied().is_some_and(defines_something)) {
            return Err(EncodeError::Unencodable(
                "the attachment's value is a list, map or object, which cannot be replaced",
            ));
        }
        let mut out =
            BytesMut::with_capacity(body.len() + name.len() + value.map_or(0, str::len) + 8);
        out.put_slice(body.get(..map.start).ok_or(NOT_READABLE)?);
        if map.open.is_empty() {
            out.put_u8(b'H');
        } else {
            out.put_slice(body.get(map.open.clone()).ok_or(NOT_READABLE)?);
        }
        let mut pending = value;
        for e in &map.entries {
            if key_is(&e) {
                if let Some(new) = pending.take() {
                    Writer::new(&mut out).string(name).string(new);
                }
            } else {
                out.put_slice(body.get(e.key.start..e.value.end).ok_or(NOT_READABLE)?);
            }
        }
        if let Some(new) = pending {
            Writer::new(&mut out).string(name).string(new);
        }
        out.put_u8(b'Z');
        out.put_slice(body.get(map.end..).ok_or(NOT_READABLE)?);
        if out.len() > u32::MAX as usize {
            return Err(EncodeError::TooLong {
                field: "body",
                len: out.len(),
                max: u32::MAX as usize,
            });
        }
        *self = DubboFrame::from_parts(h, out.freeze(), &BUILD_LIMITS).map_err(|_| NOT_READABLE)?;
        Ok(())
    }
}

/// Whether a value starting with `code` declares a class definition, a type name or a
/// container that later values may refer to by number.
fn defines_something(code: u8) -> bool {
    matches!(code, b'C' | b'O' | 0x60..=0x6f | b'H' | b'M' | b'U'..=b'X' | 0x70..=0x7f)
}

/// Finds the attachments map of a hessian2 request body; `None` if the body does not read.
fn map_layout(body: &[u8]) -> Option<MapLayout> {
    let mut r = Reader::new(body, &BUILD_LIMITS);
    read_through_arguments(&mut r, body, 0, &BUILD_LIMITS, &mut Routing::default()).ok()?;
    let start = r.position();
    let mut map = MapLayout { start, open: start..start, entries: Vec::new(), end: start };
    if r.is_empty() {
        return Some(map);
    }
    if r.begin_map().ok()? {
        map.open = start..r.position();
        while !r.eat_end() {
            let key_start = r.position();
            let text = r.read_str_or_skip(1).ok()?.map(|(range, _)| range);
            let value_start = r.position();
            r.read_str_or_skip(1).ok()?;
            map.entries.push(Entry {
                key: key_start..value_start,
                value: value_start..r.position(),
                text,
            });
        }
    }
    map.end = r.position();
    Some(map)
}

#[cfg(test)]
mod tests;
