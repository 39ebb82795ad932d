//! The method name of a SOFARPC hessian2 request, read from the start of its content.
//!
//! sofa-rpc-node (and Java SOFARPC with hessian2) puts only `service` in the Bolt header map;
//! the method is the first field, `methodName`, of the `SofaRequest` object the content starts
//! with. Two hessian2 dialects are read:
//!
//! ```text
//! Hessian 2.0 draft (sofa-hessian-node "3.0", Java sofa-hessian 3.x, the golden vectors):
//!   'O' int(type length) type-bytes int(field count) field-name-strings…  'o' int(0) values…
//! Hessian 2.0 final:
//!   'C' string(type) int(field count) field-name-strings…  (0x60 | 'O' int(0)) values…
//! ```
//!
//! [`method_name`] is a small bounded reader over the class definition and the first value
//! only: it borrows the name from the content, allocates nothing, never panics, and gives up
//! (`None`) on anything but the exact shape above with a first value that is a string sent in
//! one piece.

/// Class name of a SOFARPC request object.
pub const SOFA_REQUEST_CLASS: &str = "com.alipay.sofa.rpc.core.request.SofaRequest";

/// The name the first field of a `SofaRequest` must have.
const METHOD_FIELD: &str = "methodName";

/// More fields than a `SofaRequest` has (5 today): a definition beyond this is not one.
const MAX_FIELDS: usize = 64;

/// The `methodName` of the `SofaRequest` object `content` starts with, or `None` if the
/// content does not start with a `SofaRequest` class definition and an instance of it whose
/// first value is a non-null string sent in one chunk (valid UTF-8, no CESU-8 surrogates).
pub fn method_name(content: &[u8]) -> Option<&str> {
    let mut r = Cursor { buf: content, pos: 0 };
    let (type_name, final_dialect) = match r.byte()? {
        b'O' => {
            let len = r.len()?;
            (r.take(len)?, false)
        }
        b'C' => (r.string()?.as_bytes(), true),
        _ => return None,
    };
    if type_name != SOFA_REQUEST_CLASS.as_bytes() {
        return None;
    }
    let fields = r.len()?;
    if fields == 0 || fields > MAX_FIELDS || r.string()? != METHOD_FIELD {
        return None;
    }
    for _ in 1..fields {
        r.string()?;
    }
    let definition = match (r.byte()?, final_dialect) {
        (b'o', false) | (b'O', true) => r.len()?,
        (0x60, true) => 0,
        _ => return None,
    };
    if definition != 0 {
        return None;
    }
    r.string()
}

/// A bounds-checked cursor: every read past the end is `None`.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let bytes = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(bytes)
    }

    /// A hessian2 int in any form.
    fn int(&mut self) -> Option<i32> {
        let code = self.byte()?;
        let c = i32::from(code);
        Some(match code {
            0x80..=0xbf => c - 0x90,
            0xc0..=0xcf => ((c - 0xc8) << 8) | i32::from(self.byte()?),
            0xd0..=0xd7 => {
                let b1 = i32::from(self.byte()?);
                let b0 = i32::from(self.byte()?);
                ((c - 0xd4) << 16) | (b1 << 8) | b0
            }
            b'I' => {
                let b = self.take(4)?;
                i32::from_be_bytes([*b.first()?, *b.get(1)?, *b.get(2)?, *b.get(3)?])
            }
            _ => return None,
        })
    }

    /// A non-negative hessian2 int.
    fn len(&mut self) -> Option<usize> {
        usize::try_from(self.int()?).ok()
    }

    /// A string sent in one chunk (compact, medium or final `S`); anything else is `None`.
    fn string(&mut self) -> Option<&'a str> {
        let units = match self.byte()? {
            code @ 0x00..=0x1f => usize::from(code),
            code @ 0x30..=0x33 => (usize::from(code - 0x30) << 8) | usize::from(self.byte()?),
            b'S' => {
                let hi = usize::from(self.byte()?);
                (hi << 8) | usize::from(self.byte()?)
            }
            _ => return None,
        };
        // Hessian counts UTF-16 units: walk lead bytes until that many are covered.
        let start = self.pos;
        let mut left = units;
        while left > 0 {
            let (bytes, count) = match self.byte()? {
                0x00..=0x7f => (1, 1),
                0xc0..=0xdf => (2, 1),
                0xe0..=0xef => (3, 1),
                0xf0..=0xf7 => (4, 2),
                _ => return None,
            };
            left = left.checked_sub(count)?;
            self.take(bytes - 1)?;
        }
        std::str::from_utf8(self.buf.get(start..self.pos)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use proptest::prelude::*;

    use crate::hessian::{write_class_def, write_int, write_object_start, write_string};

    const FIELDS: [&str; 5] =
        ["methodName", "methodArgSigs", "targetServiceUniqueName", "targetAppName", "requestProps"];

    /// A draft-dialect `SofaRequest` whose first value is written by `first`.
    fn draft(first: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
        let mut b = BytesMut::new();
        write_class_def(&mut b, SOFA_REQUEST_CLASS, &FIELDS);
        write_object_start(&mut b, 0);
        first(&mut b);
        b.extend_from_slice(b"N");
        b.to_vec()
    }

    /// The same in the final dialect (`C`, then `0x60` or `O` int).
    fn final_dialect(compact: bool, method: &str) -> Vec<u8> {
        let mut b = BytesMut::new();
        b.extend_from_slice(b"C");
        write_string(&mut b, SOFA_REQUEST_CLASS);
        write_int(&mut b, FIELDS.len() as i32);
        for f in FIELDS {
            write_string(&mut b, f);
        }
        if compact {
            b.extend_from_slice(&[0x60]);
        } else {
            b.extend_from_slice(b"O");
            write_int(&mut b, 0);
        }
        write_string(&mut b, method);
        b.to_vec()
    }

    #[test]
    fn reads_both_dialects() {
        assert_eq!(method_name(&draft(|b| write_string(b, "sayHello"))), Some("sayHello"));
        assert_eq!(method_name(&final_dialect(true, "sayHello")), Some("sayHello"));
        assert_eq!(method_name(&final_dialect(false, "sayHello")), Some("sayHello"));
        // Medium (32..=1023 units) and `S` strings, non-ASCII characters.
        let medium = "m".repeat(40);
        assert_eq!(method_name(&draft(|b| write_string(b, &medium))), Some(medium.as_str()));
        let long = "é".repeat(2000);
        let mut b = BytesMut::new();
        b.extend_from_slice(b"S");
        b.extend_from_slice(&2000u16.to_be_bytes());
        b.extend_from_slice(long.as_bytes());
        assert_eq!(method_name(&draft(|x| x.extend_from_slice(&b))), Some(long.as_str()));
    }

    #[test]
    fn anything_else_is_none() {
        // Null, an int, a chunked string as the first value.
        assert_eq!(method_name(&draft(|b| b.extend_from_slice(b"N"))), None);
        assert_eq!(method_name(&draft(|b| write_int(b, 7))), None);
        assert_eq!(method_name(&draft(|b| b.extend_from_slice(b"s\x00\x01aS\x00\x01b"))), None);
        // CESU-8 surrogates are not UTF-8.
        assert_eq!(method_name(&draft(|b| write_string(b, "😀"))), None);
        // Another class, another first field, another definition index.
        let mut b = BytesMut::new();
        write_class_def(&mut b, "com.example.Other", &FIELDS);
        write_object_start(&mut b, 0);
        write_string(&mut b, "sayHello");
        assert_eq!(method_name(&b), None);
        let mut b = BytesMut::new();
        write_class_def(&mut b, SOFA_REQUEST_CLASS, &["targetAppName", "methodName"]);
        write_object_start(&mut b, 0);
        write_string(&mut b, "app");
        assert_eq!(method_name(&b), None);
        let mut b = BytesMut::new();
        write_class_def(&mut b, SOFA_REQUEST_CLASS, &FIELDS);
        write_object_start(&mut b, 1);
        write_string(&mut b, "sayHello");
        assert_eq!(method_name(&b), None);
        // Truncated anywhere.
        let whole = draft(|b| write_string(b, "sayHello"));
        for cut in 0..whole.len() - 1 {
            assert_eq!(method_name(&whole[..cut]), None, "cut at {cut}");
        }
        assert_eq!(method_name(&whole[..whole.len() - 1]), Some("sayHello"));
    }

    proptest! {
        #[test]
        fn random_contents_never_panic(content in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = method_name(&content);
        }

        #[test]
        fn mutated_requests_never_panic(
            at in 0usize..200,
            byte in any::<u8>(),
            cut in 0usize..220,
        ) {
            let mut content = draft(|b| write_string(b, "sayHello"));
            if let Some(b) = content.get_mut(at) {
                *b = byte;
            }
            content.truncate(cut);
            if let Some(m) = method_name(&content) {
                prop_assert!(content.len() >= m.len());
            }
        }
    }
}
