//! Skipping any hessian2 value with an explicit, bounded stack.

use xprotocol::DecodeError;

use super::reader::{is_string_code, Reader};
use super::MAX_CLASS_DEFINITIONS;
use crate::spill_vec::SpillVec;

/// What an open container still expects, kept on the skip stack: a count of values, or one of
/// these markers for containers that end with `Z`.
const OPEN_LIST: u32 = u32::MAX;
const MAP_KEY: u32 = u32::MAX - 1;
const MAP_VALUE: u32 = u32::MAX - 2;

impl Reader<'_> {
    /// Skips one value of any type, however nested, without building it.
    ///
    /// # Errors
    /// Truncated or malformed input, a reserved type code, a reference to a value, type or
    /// class not yet defined, nesting deeper than [`Limits::max_nesting`](xprotocol::Limits)
    /// ([`DecodeError::TooDeep`]), or more than [`MAX_CLASS_DEFINITIONS`].
    pub fn skip_value(&mut self) -> Result<(), DecodeError> {
        self.skip_value_at(0)
    }

    /// Skips one value that sits inside `depth` open containers.
    pub(crate) fn skip_value_at(&mut self, depth: usize) -> Result<(), DecodeError> {
        // A scalar, string or binary (most arguments and attachment values) needs no stack.
        let at = self.pos;
        let Some(expects) = self.begin_value()? else { return Ok(()) };
        if depth >= self.max_depth {
            return Err(DecodeError::TooDeep { limit: self.max_depth, offset: self.offset(at) });
        }
        let mut stack: SpillVec<u32, 32> = SpillVec::new();
        stack.push(expects);
        loop {
            match stack.last_mut() {
                None => return Ok(()),
                Some(top) => match *top {
                    OPEN_LIST | MAP_KEY if self.eat_end() => {
                        stack.pop();
                        continue;
                    }
                    OPEN_LIST => {}
                    MAP_KEY => *top = MAP_VALUE,
                    MAP_VALUE => *top = MAP_KEY,
                    0 => {
                        stack.pop();
                        continue;
                    }
                    n => *top = n - 1,
                },
            }
            let at = self.pos;
            if let Some(expects) = self.begin_value()? {
                if depth.saturating_add(stack.len()) >= self.max_depth {
                    return Err(DecodeError::TooDeep {
                        limit: self.max_depth,
                        offset: self.offset(at),
                    });
                }
                stack.push(expects);
            }
        }
    }

    /// Consumes a value's type code and whatever follows it up to its children: a scalar
    /// entirely (`None`), a container up to its first child (`Some` of what it expects).
    fn begin_value(&mut self) -> Result<Option<u32>, DecodeError> {
        loop {
            let at = self.pos;
            let code = self.next_byte()?;
            let skip = |r: &mut Self, n: usize| r.advance(n).map(|()| None);
            return match code {
                0x00..=0x1f | 0x30..=0x33 | b'R' | b'S' => self.string_body(code).map(|_| None),
                0x20..=0x2f | 0x34..=0x37 | b'A' | b'B' => self.binary_body(code).map(|()| None),
                b'C' => {
                    // A class definition precedes the value that uses it.
                    self.class_definition(at)?;
                    continue;
                }
                b'N' | b'T' | b'F' | 0x5b | 0x5c | 0x80..=0xbf | 0xd8..=0xef => Ok(None),
                0x5d | 0xc0..=0xcf | 0xf0..=0xff => skip(self, 1),
                0x5e | 0xd0..=0xd7 | 0x38..=0x3f => skip(self, 2),
                b'I' | b'K' | b'Y' | 0x5f => skip(self, 4),
                b'D' | b'J' | b'L' => skip(self, 8),
                b'H' => self.container(MAP_KEY),
                b'M' => {
                    self.read_type()?;
                    self.container(MAP_KEY)
                }
                b'U' => {
                    self.read_type()?;
                    self.container(OPEN_LIST)
                }
                b'W' => self.container(OPEN_LIST),
                b'V' => {
                    self.read_type()?;
                    let n = self.read_count()?;
                    self.container(n)
                }
                b'X' => {
                    let n = self.read_count()?;
                    self.container(n)
                }
                0x70..=0x77 => {
                    self.read_type()?;
                    self.container(u32::from(code - 0x70))
                }
                0x78..=0x7f => self.container(u32::from(code - 0x78)),
                b'O' => {
                    let index_at = self.pos;
                    let index = self.read_int()?;
                    let fields = self.class_fields(index, index_at)?;
                    self.container(fields)
                }
                0x60..=0x6f => {
                    let fields = self.class_fields(i32::from(code - 0x60), at)?;
                    self.container(fields)
                }
                b'Q' => {
                    let index = self.read_int()?;
                    match u32::try_from(index) {
                        Ok(i) if i < self.refs => Ok(None),
                        _ => Err(self.malformed(at, "reference to a value not yet read")),
                    }
                }
                b'Z' => Err(self.malformed(at, "end marker outside a list or map")),
                0x40 | 0x45 | 0x47 | 0x50 => Err(DecodeError::Unsupported {
                    field: "hessian2 type code",
                    offset: self.offset(at),
                    value: u64::from(code),
                }),
            };
        }
    }

    /// Begins a map that is expected next (`H`, or `M` with its type): `Ok(true)` when one was
    /// begun, `Ok(false)` for null. Read its entries until [`eat_end`](Reader::eat_end).
    pub(crate) fn begin_map(&mut self) -> Result<bool, DecodeError> {
        let at = self.pos;
        match self.next_byte()? {
            b'N' => Ok(false),
            b'H' => self.container(MAP_KEY).map(|_| true),
            b'M' => {
                self.read_type()?;
                self.container(MAP_KEY).map(|_| true)
            }
            _ => Err(self.malformed(at, "expected a map")),
        }
    }

    /// Counts a list, map or object (what references index) and says what it expects.
    fn container(&mut self, expects: u32) -> Result<Option<u32>, DecodeError> {
        self.refs = self.refs.saturating_add(1);
        Ok(Some(expects))
    }

    /// Reads a fixed count of child values, refusing counts the remaining bytes cannot hold
    /// (every value takes at least one byte), so that a huge declared count fails at once.
    fn read_count(&mut self) -> Result<u32, DecodeError> {
        let at = self.pos;
        let n = self.read_len()?;
        if n as usize > self.buf.len().saturating_sub(self.pos) {
            return Err(self.malformed(at, "count larger than the remaining bytes"));
        }
        Ok(n)
    }

    /// Reads a list or map type: a type name (remembered) or the index of an earlier one.
    fn read_type(&mut self) -> Result<(), DecodeError> {
        let at = self.pos;
        match self.peek() {
            Some(code) if is_string_code(code) => {
                self.pos += 1;
                self.string_body(code)?;
                self.types = self.types.saturating_add(1);
                Ok(())
            }
            _ => match u32::try_from(self.read_int()?) {
                Ok(i) if i < self.types => Ok(()),
                _ => Err(self.malformed(at, "type reference to an undefined type")),
            },
        }
    }

    /// Reads a class definition (`C` already consumed): name, field count, field names.
    fn class_definition(&mut self, at: usize) -> Result<(), DecodeError> {
        if self.classes.len() >= MAX_CLASS_DEFINITIONS {
            return Err(self.malformed(at, "too many class definitions"));
        }
        let name_at = self.pos;
        match self.next_byte()? {
            code if is_string_code(code) => self.string_body(code)?,
            _ => return Err(self.malformed(name_at, "class name is not a string")),
        };
        let fields = self.read_count()?;
        for _ in 0..fields {
            let field_at = self.pos;
            match self.next_byte()? {
                code if is_string_code(code) => self.string_body(code)?,
                _ => return Err(self.malformed(field_at, "field name is not a string")),
            };
        }
        self.classes.push(fields);
        Ok(())
    }

    /// The field count of class definition `index`.
    fn class_fields(&self, index: i32, at: usize) -> Result<u32, DecodeError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.classes.get(i))
            .ok_or_else(|| self.malformed(at, "object of an undefined class definition"))
    }
}

#[cfg(test)]
mod tests {
    use crate::hessian2::{skip_all, Reader};
    use xprotocol::{DecodeError, Limits};

    fn skip_one(bytes: &[u8]) -> Result<usize, DecodeError> {
        let mut r = Reader::new(bytes, &Limits::DEFAULT);
        r.skip_value()?;
        Ok(r.position())
    }

    #[test]
    fn skips_every_scalar_form_exactly() {
        let cases: &[&[u8]] = &[
            b"N",
            b"T",
            b"F",
            &[0x90],
            &[0xc8, 0x01],
            &[0xd4, 0, 1],
            b"I\0\0\0\x01",
            &[0xe0],
            &[0xf8, 1],
            &[0x3c, 0, 1],
            b"Y\0\0\0\x01",
            b"L\0\0\0\0\0\0\0\x01",
            &[0x5b],
            &[0x5c],
            &[0x5d, 1],
            &[0x5e, 0, 1],
            &[0x5f, 0, 0, 0, 1],
            b"D\0\0\0\0\0\0\0\x01",
            b"J\0\0\0\0\0\0\0\x01",
            b"K\0\0\0\x01",
            b"\x03abc",
            &[0x30, 0x01, b'a'],
            b"S\0\x01a",
            b"R\0\x01aR\0\x01b\x01c",
            &[0x22, 1, 2],
            &[0x34, 0x01, 9],
            b"B\0\x01\x09",
            b"A\0\x01\x09A\0\0\x21\x09",
        ];
        for bytes in cases {
            assert_eq!(skip_one(bytes), Ok(bytes.len()), "{bytes:02x?}");
            // Every strict prefix is truncated, never a panic or a wrong success.
            for cut in 0..bytes.len() {
                assert!(skip_one(&bytes[..cut]).is_err(), "{bytes:02x?} cut at {cut}");
            }
        }
    }

    #[test]
    fn skips_containers_objects_and_references() {
        let value: &[u8] = &[
            b'H', 0x01, b'k', // untyped map: "k" =>
            b'M', 0x04, b'[', b'i', b'n', b't', // typed map
            0x90, 0x91, b'Z', // {0: 1}
            b'V', 0x90, 0x92, 0x91, 0x92, // typed fixed list, type ref 0, two items
            b'X', 0x91, b'N', // untyped fixed list of one
            b'U', 0x01, b'T', b'T', b'Z', // typed variable list
            b'W', b'F', b'Z', // untyped variable list
            0x71, 0x90, 0x91, // compact typed list, type ref 0
            0x79, b'N', // compact untyped list
            b'C', 0x03, b'P', b'o', b'j', 0x92, 0x01, b'a', 0x01, b'b', // class def 0
            0x60, 0x90, b'Q', 0x90, // object: a=0, b=ref to the map itself
            b'O', 0x90, 0x91, 0x92, // object by 'O' index
            b'Z',
        ];
        assert_eq!(skip_one(value), Ok(value.len()));
        for cut in 0..value.len() {
            assert!(skip_one(&value[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(skip_all(b"\x01a\x90N", &Limits::DEFAULT), Ok(3));
    }

    #[test]
    fn refuses_bad_references_and_reserved_codes() {
        for bad in [&b"Q\x90"[..], b"W\x51\x91Z", b"\x60", b"O\x90", b"V\x90\x90", b"M\x90Z"] {
            assert!(
                matches!(skip_one(bad), Err(DecodeError::Malformed { .. })),
                "{bad:02x?}: {:?}",
                skip_one(bad)
            );
        }
        for code in [0x40u8, 0x45, 0x47, 0x50] {
            assert!(matches!(skip_one(&[code]), Err(DecodeError::Unsupported { .. })));
        }
        assert!(skip_one(b"Z").is_err());
        assert!(skip_one(b"H\x01kZ").is_err(), "key without a value");
        assert!(skip_one(b"X\xd4\xff\xff").is_err(), "count beyond the input");
        assert!(skip_one(b"X\x8f").is_err(), "negative count");
    }

    #[test]
    fn nesting_is_bounded_by_the_limit() {
        let limits = Limits { max_nesting: 8, ..Limits::DEFAULT };
        let nested = |depth: usize| {
            let mut v = vec![b'W'; depth];
            v.push(b'N');
            v.extend(std::iter::repeat_n(b'Z', depth));
            v
        };
        assert!(Reader::new(&nested(8), &limits).skip_value().is_ok());
        assert!(matches!(
            Reader::new(&nested(9), &limits).skip_value(),
            Err(DecodeError::TooDeep { limit: 8, .. })
        ));
        // Far past the inline stack, within a generous limit: spills, no recursion.
        let deep = Limits { max_nesting: 100_000, ..Limits::DEFAULT };
        assert!(Reader::new(&nested(50_000), &deep).skip_value().is_ok());
        // A million openers under the default limit fails fast.
        let bomb = vec![b'W'; 1_000_000];
        assert!(matches!(
            Reader::new(&bomb, &Limits::DEFAULT).skip_value(),
            Err(DecodeError::TooDeep { limit: 64, .. })
        ));
    }

    #[test]
    fn class_definitions_are_bounded() {
        let mut many = Vec::new();
        for _ in 0..=super::MAX_CLASS_DEFINITIONS {
            many.extend_from_slice(b"C\x01A\x90");
        }
        many.push(b'N');
        let err = skip_one(&many).unwrap_err();
        assert!(matches!(err, DecodeError::Malformed { reason: "too many class definitions", .. }));
    }
}
