//! Routing fields of a hessian2 request body, found as byte ranges on the frame's first
//! routing lookup.
//!
//! A Dubbo request body is: Dubbo version, service path, service version, method name,
//! parameter-type descriptor (all strings), one value per parameter, then the attachments map
//! (`group`, `interface`, `version`, `timeout`, user keys). The arguments are skipped, never
//! built; only ranges of the body are kept, so reading allocates nothing.
//!
//! The codec does not read the body: [`parse_request`] runs when a routing accessor of the
//! frame is first called (see [`DubboFrame`](crate::DubboFrame)). It walks the attachments
//! map once, to validate it (a malformed map makes the whole body unreadable) and to count it
//! against the header limit, and keeps only its range and the `group` value. Lookups of other
//! attachments ([`Routing::for_each_attachment`]) read the map again from the body when asked:
//! the frame stays small (it is moved several times per request), and a request whose
//! attachments no route reads pays nothing for them.

use std::ops::{ControlFlow, Range};

use xprotocol::{DecodeError, Limits};

use crate::hessian2::{Reader, StrValue};

/// The number of string attachments older versions kept inline in a frame before spilling
/// to the heap. Attachments are no longer copied into the frame (they are read from the body
/// on demand), so any number of them decodes without allocating; the constant stays for
/// source compatibility.
pub const INLINE_ATTACHMENTS: usize = 16;

/// The limits a map already validated by [`parse_request`] is read again under: the body
/// passed the decoder's own limits, so none is needed to bound the walk (its time is linear
/// in the body).
const REREAD_LIMITS: Limits =
    Limits { max_frame_bytes: usize::MAX, max_header_bytes: usize::MAX, max_nesting: usize::MAX };

/// A range of the body holding valid UTF-8.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// The span of `range` if it holds UTF-8 (and fits the u32 body length). `ascii` says the
    /// reader already found every byte ASCII, so no second scan is needed.
    fn utf8(body: &[u8], range: Range<usize>, ascii: bool) -> Option<Span> {
        if !ascii {
            std::str::from_utf8(body.get(range.clone())?).ok()?;
        }
        Self::raw(range)
    }

    fn raw(range: Range<usize>) -> Option<Span> {
        Some(Span { start: u32::try_from(range.start).ok()?, end: u32::try_from(range.end).ok()? })
    }

    /// The bytes of the span in `body`.
    pub(crate) fn bytes(self, body: &[u8]) -> Option<&[u8]> {
        body.get(self.start as usize..self.end as usize)
    }

    /// The text of the span in `body`.
    pub(crate) fn text(self, body: &[u8]) -> Option<&str> {
        std::str::from_utf8(self.bytes(body)?).ok()
    }
}

/// An optional [`Span`] in the space of one (8 bytes, where `Option<Span>` takes 12): the
/// routing ranges live inside every frame, which is moved several times per request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MaybeSpan {
    /// `start > end` marks absence.
    start: u32,
    end: u32,
}

impl MaybeSpan {
    const NONE: MaybeSpan = MaybeSpan { start: 1, end: 0 };

    /// The span, if present.
    pub(crate) fn get(self) -> Option<Span> {
        (self.start <= self.end).then_some(Span { start: self.start, end: self.end })
    }
}

impl Default for MaybeSpan {
    fn default() -> Self {
        MaybeSpan::NONE
    }
}

impl From<Option<Span>> for MaybeSpan {
    fn from(span: Option<Span>) -> Self {
        span.map_or(MaybeSpan::NONE, |Span { start, end }| MaybeSpan { start, end })
    }
}

/// Where a request's routing fields are in its body. Fields that are null, sent in chunks or
/// not UTF-8 are absent.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Routing {
    pub(crate) dubbo_version: MaybeSpan,
    pub(crate) service: MaybeSpan,
    pub(crate) version: MaybeSpan,
    pub(crate) method: MaybeSpan,
    pub(crate) parameter_types: MaybeSpan,
    pub(crate) arguments: MaybeSpan,
    /// The last `group` attachment whose value is UTF-8 text.
    pub(crate) group: MaybeSpan,
    /// The attachments map value (opening byte to closing `Z`), if the body has a non-null
    /// one; validated by [`parse_request`].
    attachments: MaybeSpan,
    /// Whether the map is an untyped `H` map of one-chunk strings only, which reads from its
    /// own bytes. Any other map may refer to types or classes defined in the arguments, and
    /// is read again from the start of the body.
    plain_attachments: bool,
}

impl Routing {
    /// Calls `visit(key, value)` with the raw bytes of each attachment whose key and value
    /// are both strings sent in one chunk, in wire order, until it breaks. Reads the map
    /// from `body`, which must be the body this routing was parsed from; allocates nothing
    /// for a plain map.
    pub(crate) fn for_each_attachment<'b>(
        &self,
        body: &'b [u8],
        mut visit: impl FnMut(&'b [u8], &'b [u8]) -> ControlFlow<()>,
    ) {
        let Some(map) = self.attachments.get() else { return };
        let mut walk = |r: &mut Reader<'b>, offset: usize| -> Result<(), DecodeError> {
            if !r.begin_map()? {
                return Ok(());
            }
            while !r.eat_end() {
                let key = r.read_str_or_skip(1)?;
                let value = r.read_str_or_skip(1)?;
                let (Some((key, _)), Some((value, _))) = (key, value) else { continue };
                let at = |range: Range<usize>| body.get(range.start + offset..range.end + offset);
                if let (Some(key), Some(value)) = (at(key), at(value)) {
                    if visit(key, value).is_break() {
                        break;
                    }
                }
            }
            Ok(())
        };
        // The map was validated by `parse_request`; a read error cannot happen and ends the
        // walk.
        if self.plain_attachments {
            let start = map.start as usize;
            let bytes = body.get(start..map.end as usize).unwrap_or_default();
            let _ = walk(&mut Reader::new(bytes, &REREAD_LIMITS), start);
        } else {
            let mut r = Reader::new(body, &REREAD_LIMITS);
            let mut routing = Routing::default();
            if read_through_arguments(&mut r, body, 0, &REREAD_LIMITS, &mut routing).is_ok() {
                let _ = walk(&mut r, 0);
            }
        }
    }
}

/// Parses a hessian2 request body. `base` is the body's offset in the frame (for errors).
///
/// The routing strings and the attachments map together count against
/// [`Limits::max_header_bytes`]; the arguments do not.
pub(crate) fn parse_request(
    body: &[u8],
    base: usize,
    limits: &Limits,
    routing: &mut Routing,
) -> Result<(), DecodeError> {
    let mut r = Reader::new(body, limits).with_base_offset(base);
    let mut header_bytes = read_through_arguments(&mut r, body, base, limits, routing)?;
    if r.is_empty() {
        return Ok(());
    }
    let map_start = r.position();
    let mut plain = body.get(map_start) == Some(&b'H');
    if r.begin_map()? {
        while !r.eat_end() {
            let key = r.read_str_or_skip(1)?;
            let value = r.read_str_or_skip(1)?;
            let (Some((key, _)), Some((value, ascii))) = (key, value) else {
                plain = false;
                continue;
            };
            if body.get(key) == Some(b"group".as_slice()) {
                if let Some(value) = Span::utf8(body, value, ascii) {
                    routing.group = Some(value).into();
                }
            }
        }
        routing.attachments = Span::raw(map_start..r.position()).into();
        routing.plain_attachments = plain;
    }
    header_bytes += r.position() - map_start;
    limits.check_header(header_bytes as u64)?;
    Ok(())
}

/// Reads the five routing strings and skips the arguments, leaving `r` at the attachments
/// map (or the end of the body). Fills the prefix fields of `routing`, `arguments` included,
/// and returns where the arguments start (the routing strings' size).
pub(crate) fn read_through_arguments(
    r: &mut Reader<'_>,
    body: &[u8],
    base: usize,
    limits: &Limits,
    routing: &mut Routing,
) -> Result<usize, DecodeError> {
    let string = |r: &mut Reader<'_>| -> Result<Option<Span>, DecodeError> {
        match r.read_string_checked()? {
            (StrValue::Contiguous(range), ascii) => Ok(Span::utf8(body, range, ascii)),
            (StrValue::Null | StrValue::Chunked, _) => Ok(None),
        }
    };
    routing.dubbo_version = string(r)?.into();
    routing.service = string(r)?.into();
    routing.version = string(r)?.into();
    routing.method = string(r)?.into();
    let desc_at = r.position();
    let params = match r.read_string_checked()? {
        (StrValue::Null, _) => 0,
        (StrValue::Chunked, _) => {
            return Err(DecodeError::malformed(
                "parameter types",
                base + desc_at,
                "descriptor sent in chunks",
            ))
        }
        (StrValue::Contiguous(range), ascii) => {
            let desc = body.get(range.clone()).unwrap_or_default();
            routing.parameter_types = Span::utf8(body, range, ascii).into();
            count_parameters(desc).ok_or_else(|| {
                DecodeError::malformed("parameter types", base + desc_at, "invalid descriptor")
            })?
        }
    };
    let args_start = r.position();
    limits.check_header(args_start as u64)?;
    for _ in 0..params {
        r.skip_value()?;
    }
    routing.arguments = Span::raw(args_start..r.position()).into();
    Ok(args_start)
}

/// The number of parameters a JVM method descriptor lists (`Ljava/lang/String;I` → 2), or
/// `None` if it is not one.
pub(crate) fn count_parameters(desc: &[u8]) -> Option<usize> {
    let mut count = 0;
    let mut rest = desc;
    while let Some((&c, tail)) = rest.split_first() {
        rest = tail;
        match c {
            b'[' => {
                // An array of what follows; the element type is counted as the parameter.
                if rest.is_empty() {
                    return None;
                }
                continue;
            }
            b'Z' | b'B' | b'C' | b'S' | b'I' | b'J' | b'F' | b'D' | b'V' => {}
            b'L' => {
                let end = rest.iter().position(|&b| b == b';')?;
                if end == 0 {
                    return None;
                }
                rest = rest.get(end + 1..)?;
            }
            _ => return None,
        }
        count += 1;
    }
    Some(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_descriptor_parameters() {
        assert_eq!(count_parameters(b""), Some(0));
        assert_eq!(count_parameters(b"Ljava/lang/String;I"), Some(2));
        assert_eq!(count_parameters(b"[[I[Ljava/lang/Object;JZ"), Some(4));
        assert_eq!(count_parameters(b"Ljava/lang/String"), None);
        assert_eq!(count_parameters(b"L;"), None);
        assert_eq!(count_parameters(b"I["), None);
        assert_eq!(count_parameters(b"Q"), None);
    }
}
