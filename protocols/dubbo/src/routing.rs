//! Routing fields of a hessian2 request body, found as byte ranges at decode time.
//!
//! A Dubbo request body is: Dubbo version, service path, service version, method name,
//! parameter-type descriptor (all strings), one value per parameter, then the attachments map
//! (`group`, `interface`, `version`, `timeout`, user keys). The arguments are skipped, never
//! built; only ranges of the body are kept, so decoding allocates nothing for requests with up
//! to [`INLINE_ATTACHMENTS`] string attachments.

use std::ops::Range;

use xprotocol::{DecodeError, Limits};

use crate::hessian2::{Reader, StrValue};
use crate::spill_vec::SpillVec;

/// String attachments kept inline in a frame; more spill to one heap allocation.
pub const INLINE_ATTACHMENTS: usize = 16;

/// A range of the body holding valid UTF-8.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// The span of `range` if it holds UTF-8 (and fits the u32 body length).
    fn utf8(body: &[u8], range: Range<usize>) -> Option<Span> {
        let text = body.get(range.clone())?;
        std::str::from_utf8(text).ok()?;
        Some(Span { start: u32::try_from(range.start).ok()?, end: u32::try_from(range.end).ok()? })
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

/// One attachment whose key and value are both strings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Attachment {
    pub(crate) key: Span,
    pub(crate) value: Span,
}

/// Where a request's routing fields are in its body. Fields that are null, sent in chunks or
/// not UTF-8 are absent.
#[derive(Clone, Debug)]
pub(crate) struct Routing {
    pub(crate) dubbo_version: Option<Span>,
    pub(crate) service: Option<Span>,
    pub(crate) version: Option<Span>,
    pub(crate) method: Option<Span>,
    pub(crate) parameter_types: Option<Span>,
    pub(crate) arguments: Option<Span>,
    pub(crate) group: Option<Span>,
    pub(crate) attachments: SpillVec<Attachment, INLINE_ATTACHMENTS>,
}

impl Default for Routing {
    fn default() -> Self {
        Routing {
            dubbo_version: None,
            service: None,
            version: None,
            method: None,
            parameter_types: None,
            arguments: None,
            group: None,
            attachments: SpillVec::new(),
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
) -> Result<Routing, DecodeError> {
    let mut r = Reader::new(body, limits).with_base_offset(base);
    let mut routing = Routing::default();
    let mut header_bytes = read_through_arguments(&mut r, body, base, limits, &mut routing)?;
    if r.is_empty() {
        return Ok(routing);
    }
    let map_start = r.position();
    if r.begin_map()? {
        while !r.eat_end() {
            let key = r.read_str_or_skip(1)?;
            let value = r.read_str_or_skip(1)?;
            let (Some(key), Some(value)) = (key, value) else { continue };
            let (Some(key), Some(value)) = (Span::utf8(body, key), Span::utf8(body, value)) else {
                continue;
            };
            if key.bytes(body) == Some(b"group".as_slice()) {
                routing.group = Some(value);
            }
            routing.attachments.push(Attachment { key, value });
        }
    }
    header_bytes += r.position() - map_start;
    limits.check_header(header_bytes as u64)?;
    Ok(routing)
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
        match r.read_string()? {
            StrValue::Contiguous(range) => Ok(Span::utf8(body, range)),
            StrValue::Null | StrValue::Chunked => Ok(None),
        }
    };
    routing.dubbo_version = string(r)?;
    routing.service = string(r)?;
    routing.version = string(r)?;
    routing.method = string(r)?;
    let desc_at = r.position();
    let params = match r.read_string()? {
        StrValue::Null => 0,
        StrValue::Chunked => {
            return Err(DecodeError::malformed(
                "parameter types",
                base + desc_at,
                "descriptor sent in chunks",
            ))
        }
        StrValue::Contiguous(range) => {
            let desc = body.get(range.clone()).unwrap_or_default();
            routing.parameter_types = Span::utf8(body, range);
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
    routing.arguments = Span::raw(args_start..r.position());
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
