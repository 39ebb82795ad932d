//! The reader's primitives: bytes, integers, strings and binaries.

use std::ops::Range;

use xprotocol::{DecodeError, Limits};

use crate::spill_vec::SpillVec;

/// Field name used in hessian2 decode errors.
pub(super) const FIELD: &str = "hessian2";

/// A string value as read from the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StrValue {
    /// Hessian `N`.
    Null,
    /// A string sent in one chunk: the range of its UTF-8 bytes in the reader's buffer.
    Contiguous(Range<usize>),
    /// A string sent in several chunks (`R`…): skipped, its text not borrowable in one slice.
    Chunked,
}

/// A cursor over one hessian2 stream (a Dubbo body) that reads routing values in place and
/// skips everything else. Class definitions, type names and reference counts carry over from
/// one value to the next, as they do in a Dubbo body.
///
/// Error offsets are positions in the buffer plus the base offset given to
/// [`with_base_offset`](Reader::with_base_offset) (the header length, so that they count from
/// the start of the frame).
#[derive(Debug)]
pub struct Reader<'a> {
    pub(super) buf: &'a [u8],
    pub(super) pos: usize,
    pub(super) base: usize,
    pub(super) max_depth: usize,
    /// Field counts of the class definitions seen so far, by definition index.
    pub(super) classes: SpillVec<u32, 16>,
    /// Type names seen so far (typed lists and maps refer back to them by index).
    pub(super) types: u32,
    /// Lists, maps and objects begun so far (what `Q` references index).
    pub(super) refs: u32,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`, following values at most `limits.max_nesting` deep.
    pub fn new(buf: &'a [u8], limits: &Limits) -> Self {
        Reader {
            buf,
            pos: 0,
            base: 0,
            max_depth: limits.max_nesting,
            classes: SpillVec::new(),
            types: 0,
            refs: 0,
        }
    }

    /// Makes error offsets count from `base` bytes before the buffer (the frame start).
    pub fn with_base_offset(mut self, base: usize) -> Self {
        self.base = base;
        self
    }

    /// The position of the next unread byte in the buffer.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The next byte, not consumed.
    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Consumes a list/map end marker `Z` if it is next.
    pub fn eat_end(&mut self) -> bool {
        if self.peek() == Some(b'Z') {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn offset(&self, at: usize) -> usize {
        self.base.saturating_add(at)
    }

    pub(super) fn truncated(&self) -> DecodeError {
        DecodeError::malformed(FIELD, self.offset(self.buf.len()), "truncated value")
    }

    pub(super) fn malformed(&self, at: usize, reason: &'static str) -> DecodeError {
        DecodeError::malformed(FIELD, self.offset(at), reason)
    }

    pub(super) fn next_byte(&mut self) -> Result<u8, DecodeError> {
        let b = self.peek().ok_or_else(|| self.truncated())?;
        self.pos += 1;
        Ok(b)
    }

    pub(super) fn advance(&mut self, n: usize) -> Result<(), DecodeError> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.buf.len());
        match end {
            Some(end) => {
                self.pos = end;
                Ok(())
            }
            None => Err(self.truncated()),
        }
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let start = self.pos;
        self.advance(N)?;
        let mut out = [0u8; N];
        if let Some(src) = self.buf.get(start..start + N) {
            out.copy_from_slice(src);
        }
        Ok(out)
    }

    fn u16(&mut self) -> Result<usize, DecodeError> {
        Ok(usize::from(u16::from_be_bytes(self.take::<2>()?)))
    }

    /// Reads an int in any of its encodings (compact one-, two- and three-byte forms, `I`).
    ///
    /// # Errors
    /// Truncated input, or a value that is not an int.
    pub fn read_int(&mut self) -> Result<i32, DecodeError> {
        let at = self.pos;
        let code = self.next_byte()?;
        let c = i32::from(code);
        match code {
            0x80..=0xbf => Ok(c - 0x90),
            0xc0..=0xcf => Ok(((c - 0xc8) << 8) | i32::from(self.next_byte()?)),
            0xd0..=0xd7 => {
                let [b1, b0] = self.take::<2>()?;
                Ok(((c - 0xd4) << 16) | (i32::from(b1) << 8) | i32::from(b0))
            }
            b'I' => Ok(i32::from_be_bytes(self.take::<4>()?)),
            _ => Err(self.malformed(at, "expected an int")),
        }
    }

    /// Reads a length or count (a non-negative int).
    pub(super) fn read_len(&mut self) -> Result<u32, DecodeError> {
        let at = self.pos;
        let n = self.read_int()?;
        u32::try_from(n).map_err(|_| self.malformed(at, "negative length"))
    }

    /// Reads a string (or null) and returns where its bytes are.
    ///
    /// # Errors
    /// Truncated input, bad UTF-8 lead bytes, or a value that is neither a string nor null.
    pub fn read_string(&mut self) -> Result<StrValue, DecodeError> {
        self.read_string_checked().map(|(value, _)| value)
    }

    /// As [`read_string`](Self::read_string), and says whether the string's bytes are all
    /// ASCII: then they are valid UTF-8 and the caller need not scan them again.
    #[inline]
    pub(crate) fn read_string_checked(&mut self) -> Result<(StrValue, bool), DecodeError> {
        // The common case: a compact string (under 32 characters) of ASCII, whose length in
        // characters is its length in bytes.
        if let Some(&code @ 0x00..=0x1f) = self.buf.get(self.pos) {
            let start = self.pos + 1;
            let end = start + usize::from(code);
            if self.buf.get(start..end).is_some_and(<[u8]>::is_ascii) {
                self.pos = end;
                return Ok((StrValue::Contiguous(start..end), true));
            }
        }
        let at = self.pos;
        match self.next_byte()? {
            b'N' => Ok((StrValue::Null, false)),
            code if is_string_code(code) => self.string_body_checked(code),
            _ => Err(self.malformed(at, "expected a string")),
        }
    }

    /// Reads the next value as a string if it is one sent in one chunk (its range, and whether
    /// it is all ASCII); skips it otherwise. `depth` is the nesting the value sits at, counted
    /// against the limit.
    #[inline]
    pub(crate) fn read_str_or_skip(
        &mut self,
        depth: usize,
    ) -> Result<Option<(Range<usize>, bool)>, DecodeError> {
        match self.peek() {
            Some(code) if is_string_code(code) => match self.read_string_checked()? {
                (StrValue::Contiguous(range), ascii) => Ok(Some((range, ascii))),
                (StrValue::Null | StrValue::Chunked, _) => Ok(None),
            },
            _ => {
                self.skip_value_at(depth)?;
                Ok(None)
            }
        }
    }

    /// Reads the rest of a string whose first code byte was `code`, following chunks.
    pub(super) fn string_body(&mut self, code: u8) -> Result<StrValue, DecodeError> {
        self.string_body_checked(code).map(|(value, _)| value)
    }

    /// As [`string_body`](Self::string_body), and says whether every byte was ASCII.
    fn string_body_checked(&mut self, mut code: u8) -> Result<(StrValue, bool), DecodeError> {
        let mut chunks = 0usize;
        let mut ascii = true;
        loop {
            let at = self.pos.saturating_sub(1);
            let (chars, last) = match code {
                0x00..=0x1f => (usize::from(code), true),
                0x30..=0x33 => {
                    ((usize::from(code - 0x30) << 8) | usize::from(self.next_byte()?), true)
                }
                b'S' => (self.u16()?, true),
                b'R' => (self.u16()?, false),
                _ => return Err(self.malformed(at, "expected a string chunk")),
            };
            let start = self.pos;
            ascii &= self.skip_chars(chars)?;
            if last {
                let value = if chunks == 0 {
                    StrValue::Contiguous(start..self.pos)
                } else {
                    StrValue::Chunked
                };
                return Ok((value, ascii));
            }
            chunks += 1;
            code = self.next_byte()?;
        }
    }

    /// Skips `chars` characters and says whether they were all ASCII. Hessian counts UTF-16
    /// code units: Java writes a supplementary character as two 3-byte surrogates, others as
    /// one 4-byte sequence counted as two.
    fn skip_chars(&mut self, chars: usize) -> Result<bool, DecodeError> {
        // The common case: `chars` ASCII bytes, checked a word at a time by `is_ascii`.
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        if rest.get(..chars).is_some_and(<[u8]>::is_ascii) {
            self.pos += chars;
            return Ok(true);
        }
        let mut left = chars;
        while left > 0 {
            let rest = self.buf.get(self.pos..).unwrap_or_default();
            let ascii = rest.iter().take(left).take_while(|b| b.is_ascii()).count();
            self.pos += ascii;
            left -= ascii;
            if left == 0 {
                break;
            }
            let at = self.pos;
            let (bytes, units) = match self.peek().ok_or_else(|| self.truncated())? {
                0xc0..=0xdf => (2, 1),
                0xe0..=0xef => (3, 1),
                0xf0..=0xf7 => (4, 2),
                _ => return Err(self.malformed(at, "invalid UTF-8 lead byte in a string")),
            };
            if units > left {
                return Err(self.malformed(at, "surrogate pair split by a string length"));
            }
            self.advance(bytes)?;
            left -= units;
        }
        Ok(false)
    }

    /// Skips the rest of a binary value whose first code byte was `code`, following chunks.
    pub(super) fn binary_body(&mut self, mut code: u8) -> Result<(), DecodeError> {
        loop {
            let at = self.pos.saturating_sub(1);
            let (len, last) = match code {
                0x20..=0x2f => (usize::from(code - 0x20), true),
                0x34..=0x37 => {
                    ((usize::from(code - 0x34) << 8) | usize::from(self.next_byte()?), true)
                }
                b'B' => (self.u16()?, true),
                b'A' => (self.u16()?, false),
                _ => return Err(self.malformed(at, "expected a binary chunk")),
            };
            self.advance(len)?;
            if last {
                return Ok(());
            }
            code = self.next_byte()?;
        }
    }
}

/// Whether `code` starts a string (compact, medium, final or non-final chunk).
pub(super) fn is_string_code(code: u8) -> bool {
    matches!(code, 0x00..=0x1f | 0x30..=0x33 | b'R' | b'S')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(bytes: &[u8]) -> Reader<'_> {
        Reader::new(bytes, &Limits::DEFAULT)
    }

    #[test]
    fn ints_in_every_form() {
        let cases: &[(&[u8], i32)] = &[
            (&[0x90], 0),
            (&[0x80], -16),
            (&[0xbf], 47),
            (&[0xc8, 0x30], 48),
            (&[0xc0, 0x00], -2048),
            (&[0xd4, 0x08, 0x00], 2048),
            (&[0xd0, 0x00, 0x00], -262144),
            (&[b'I', 0x80, 0, 0, 0], i32::MIN),
        ];
        for (bytes, want) in cases {
            let mut r = reader(bytes);
            assert_eq!(r.read_int(), Ok(*want), "{bytes:02x?}");
            assert!(r.is_empty());
        }
        assert!(reader(&[b'I', 0, 0]).read_int().is_err());
        assert!(reader(b"N").read_int().is_err());
    }

    #[test]
    fn strings_compact_medium_final_and_chunked() {
        let mut r = reader(b"\x05world");
        assert_eq!(r.read_string(), Ok(StrValue::Contiguous(1..6)));
        let mut medium = vec![0x30, 0x20];
        medium.extend_from_slice(&[b'a'; 32]);
        assert_eq!(reader(&medium).read_string(), Ok(StrValue::Contiguous(2..34)));
        let mut chunked = vec![b'R', 0, 2, b'a', b'b', b'S', 0, 1, b'c'];
        chunked.push(b'N');
        let mut r = reader(&chunked);
        assert_eq!(r.read_string(), Ok(StrValue::Chunked));
        assert_eq!(r.read_string(), Ok(StrValue::Null));
        // Lengths count characters: "é" is two bytes, "😀" four bytes and two units.
        let mut r = reader(b"\x03\xc3\xa9\xf0\x9f\x98\x80");
        assert_eq!(r.read_string(), Ok(StrValue::Contiguous(1..7)));
        // CESU-8 surrogates as Java writes them: two 3-byte sequences, two units.
        let mut r = reader(b"\x02\xed\xa0\xbd\xed\xb8\x80");
        assert_eq!(r.read_string(), Ok(StrValue::Contiguous(1..7)));
        assert!(reader(b"\x01\xf0\x9f\x98\x80").read_string().is_err());
        assert!(reader(b"\x02\x80\x80").read_string().is_err());
        assert!(reader(b"\x05wor").read_string().is_err());
        assert!(reader(&[0x90]).read_string().is_err());
    }
}
