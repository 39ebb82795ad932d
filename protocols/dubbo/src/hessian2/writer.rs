//! A small hessian2 writer: the encodings Java's `Hessian2Output` picks, for the values Dubbo
//! frames need (and enough of the rest for tests and property strategies).

use bytes::{BufMut, BytesMut};

/// Longest string or binary chunk, in UTF-16 units or bytes, as Java writes them.
const CHUNK: usize = 0x8000;

/// Appends hessian2 values to a buffer.
#[derive(Debug)]
pub struct Writer<'b> {
    out: &'b mut BytesMut,
}

impl<'b> Writer<'b> {
    /// A writer appending to `out`.
    pub fn new(out: &'b mut BytesMut) -> Self {
        Writer { out }
    }

    /// `N`.
    pub fn null(&mut self) -> &mut Self {
        self.out.put_u8(b'N');
        self
    }

    /// `T` or `F`.
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.out.put_u8(if v { b'T' } else { b'F' });
        self
    }

    /// An int in its shortest form.
    pub fn int(&mut self, v: i32) -> &mut Self {
        let b = v.to_be_bytes();
        match v {
            -0x10..=0x2f => self.out.put_u8((0x90 + v) as u8),
            -0x800..=0x7ff => self.out.put_slice(&[(0xc8 + (v >> 8)) as u8, b[3]]),
            -0x40000..=0x3ffff => self.out.put_slice(&[(0xd4 + (v >> 16)) as u8, b[2], b[3]]),
            _ => {
                self.out.put_u8(b'I');
                self.out.put_slice(&b);
            }
        }
        self
    }

    /// A long in its shortest form.
    pub fn long(&mut self, v: i64) -> &mut Self {
        let b = v.to_be_bytes();
        match v {
            -0x08..=0x0f => self.out.put_u8((0xe0 + v) as u8),
            -0x800..=0x7ff => self.out.put_slice(&[(0xf8 + (v >> 8)) as u8, b[7]]),
            -0x40000..=0x3ffff => self.out.put_slice(&[(0x3c + (v >> 16)) as u8, b[6], b[7]]),
            _ => match i32::try_from(v) {
                Ok(small) => {
                    self.out.put_u8(b'Y');
                    self.out.put_i32(small);
                }
                Err(_) => {
                    self.out.put_u8(b'L');
                    self.out.put_slice(&b);
                }
            },
        }
        self
    }

    /// A double, compact where Java's writer is (0.0, 1.0, byte, short, milli-int).
    pub fn double(&mut self, v: f64) -> &mut Self {
        let int = v as i32;
        if f64::from(int) == v {
            match int {
                0 => return self.raw(&[0x5b]),
                1 => return self.raw(&[0x5c]),
                -0x80..=0x7f => return self.raw(&[0x5d, int as u8]),
                -0x8000..=0x7fff => {
                    self.out.put_u8(0x5e);
                    self.out.put_i16(int as i16);
                    return self;
                }
                _ => {}
            }
        }
        let mills = (v * 1000.0) as i32;
        if 0.001 * f64::from(mills) == v {
            self.out.put_u8(0x5f);
            self.out.put_i32(mills);
        } else {
            self.out.put_u8(b'D');
            self.out.put_f64(v);
        }
        self
    }

    /// A date (`J`, milliseconds since the epoch).
    pub fn date(&mut self, millis: i64) -> &mut Self {
        self.out.put_u8(b'J');
        self.out.put_i64(millis);
        self
    }

    /// A string: compact up to 31 units, medium up to 1023, `S` up to 32768, and `R` chunks
    /// of 32768 units before that (never splitting a surrogate pair). Lengths count UTF-16
    /// units; characters outside the BMP are written as two 3-byte surrogates (CESU-8), as
    /// Java does, since Java readers refuse 4-byte UTF-8.
    pub fn string(&mut self, s: &str) -> &mut Self {
        let mut rest = s;
        loop {
            let (units, split) = chunk_of(rest);
            let last = split == rest.len();
            let (chunk, tail) = rest.split_at(split);
            if !last {
                self.out.put_u8(b'R');
                self.out.put_u16(units as u16);
            } else if units <= 0x1f {
                self.out.put_u8(units as u8);
            } else if units <= 0x3ff {
                self.out.put_slice(&[0x30 + (units >> 8) as u8, units as u8]);
            } else {
                self.out.put_u8(b'S');
                self.out.put_u16(units as u16);
            }
            for c in chunk.chars() {
                put_cesu8(self.out, c);
            }
            if last {
                return self;
            }
            rest = tail;
        }
    }

    /// A binary value, chunked like a string (by bytes).
    pub fn binary(&mut self, data: &[u8]) -> &mut Self {
        let mut rest = data;
        while rest.len() > CHUNK {
            let (chunk, tail) = rest.split_at(CHUNK);
            self.out.put_u8(b'A');
            self.out.put_u16(CHUNK as u16);
            self.out.put_slice(chunk);
            rest = tail;
        }
        let n = rest.len();
        if n <= 0x0f {
            self.out.put_u8(0x20 + n as u8);
        } else if n <= 0x3ff {
            self.out.put_slice(&[0x34 + (n >> 8) as u8, n as u8]);
        } else {
            self.out.put_u8(b'B');
            self.out.put_u16(n as u16);
        }
        self.out.put_slice(rest);
        self
    }

    /// Begins an untyped map (`H`); write keys and values, then [`end`](Self::end).
    pub fn map_begin(&mut self) -> &mut Self {
        self.raw(b"H")
    }

    /// Begins a typed map (`M` type); write keys and values, then [`end`](Self::end).
    pub fn typed_map_begin(&mut self, type_name: &str) -> &mut Self {
        self.raw(b"M").string(type_name)
    }

    /// Begins an untyped variable-length list (`W`); write items, then [`end`](Self::end).
    pub fn list_begin(&mut self) -> &mut Self {
        self.raw(b"W")
    }

    /// Begins an untyped list of `len` items (compact up to 7); write exactly `len` items.
    pub fn fixed_list_begin(&mut self, len: u32) -> &mut Self {
        match len {
            0..=7 => self.raw(&[0x78 + len as u8]),
            _ => self.raw(b"X").int(len as i32),
        }
    }

    /// Begins a typed list of `len` items (`V` type length, compact up to 7).
    pub fn typed_list_begin(&mut self, type_name: &str, len: u32) -> &mut Self {
        match len {
            0..=7 => self.raw(&[0x70 + len as u8]).string(type_name),
            _ => self.raw(b"V").string(type_name).int(len as i32),
        }
    }

    /// Ends a variable-length list or a map (`Z`).
    pub fn end(&mut self) -> &mut Self {
        self.raw(b"Z")
    }

    /// A class definition (`C` name count fields…); the caller numbers definitions from 0.
    pub fn class_definition(&mut self, name: &str, fields: &[&str]) -> &mut Self {
        self.raw(b"C").string(name).int(fields.len() as i32);
        for f in fields {
            self.string(f);
        }
        self
    }

    /// Begins an object of class definition `index`; write one value per field.
    pub fn object_begin(&mut self, index: u32) -> &mut Self {
        match index {
            0..=0x0f => self.raw(&[0x60 + index as u8]),
            _ => self.raw(b"O").int(index as i32),
        }
    }

    /// A reference (`Q`) to the `index`-th list, map or object written so far.
    pub fn reference(&mut self, index: u32) -> &mut Self {
        self.raw(b"Q").int(index as i32)
    }

    /// Bytes already encoded (an argument encoded elsewhere, say).
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.out.put_slice(bytes);
        self
    }
}

/// How much of `s` fits the next chunk: (UTF-16 units, byte length).
fn chunk_of(s: &str) -> (usize, usize) {
    let mut units = 0;
    for (i, c) in s.char_indices() {
        let u = c.len_utf16();
        if units + u > CHUNK {
            return (units, i);
        }
        units += u;
    }
    (units, s.len())
}

/// Writes `c` as UTF-8, except outside the BMP: two 3-byte surrogates.
fn put_cesu8(out: &mut BytesMut, c: char) {
    let mut units = [0u16; 2];
    let encoded = c.encode_utf16(&mut units);
    if encoded.len() == 1 {
        let mut buf = [0u8; 4];
        out.put_slice(c.encode_utf8(&mut buf).as_bytes());
    } else {
        for u in encoded.iter() {
            out.put_slice(&[
                0xe0 | (u >> 12) as u8,
                0x80 | ((u >> 6) & 0x3f) as u8,
                0x80 | (u & 0x3f) as u8,
            ]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hessian2::{skip_all, Reader, StrValue};
    use xprotocol::Limits;

    fn written(f: impl FnOnce(&mut Writer<'_>)) -> Vec<u8> {
        let mut buf = BytesMut::new();
        f(&mut Writer::new(&mut buf));
        buf.to_vec()
    }

    #[test]
    fn ints_and_longs_use_the_shortest_form() {
        assert_eq!(
            written(|w| {
                w.int(42);
            }),
            [0xba]
        );
        assert_eq!(
            written(|w| {
                w.int(-2048);
            }),
            [0xc0, 0x00]
        );
        assert_eq!(
            written(|w| {
                w.int(262143);
            }),
            [0xd7, 0xff, 0xff]
        );
        assert_eq!(
            written(|w| {
                w.int(262144);
            }),
            [b'I', 0, 4, 0, 0]
        );
        assert_eq!(
            written(|w| {
                w.long(0);
            }),
            [0xe0]
        );
        assert_eq!(
            written(|w| {
                w.long(-262144);
            }),
            [0x38, 0, 0]
        );
        assert_eq!(
            written(|w| {
                w.long(1 << 40);
            }),
            [b'L', 0, 0, 1, 0, 0, 0, 0, 0]
        );
        for v in [0, 1, -16, 47, 48, -17, 2047, -2048, 2048, 262143, -262144, i32::MAX, i32::MIN] {
            let bytes = written(|w| {
                w.int(v);
            });
            assert_eq!(Reader::new(&bytes, &Limits::DEFAULT).read_int(), Ok(v), "{v}");
        }
    }

    #[test]
    fn doubles_like_java() {
        assert_eq!(
            written(|w| {
                w.double(0.0);
            }),
            [0x5b]
        );
        assert_eq!(
            written(|w| {
                w.double(-3.0);
            }),
            [0x5d, 0xfd]
        );
        assert_eq!(
            written(|w| {
                w.double(1000.0);
            }),
            [0x5e, 0x03, 0xe8]
        );
        assert_eq!(
            written(|w| {
                w.double(1.5);
            }),
            [0x5f, 0, 0, 0x05, 0xdc]
        );
        assert_eq!(
            written(|w| {
                w.double(0.1234567);
            })[0],
            b'D'
        );
    }

    #[test]
    fn long_strings_are_chunked_and_read_back() {
        let s = "é".repeat(CHUNK + 5);
        let bytes = written(|w| {
            w.string(&s);
        });
        assert_eq!(bytes[0], b'R');
        assert_eq!(skip_all(&bytes, &Limits::DEFAULT), Ok(1));
        assert_eq!(Reader::new(&bytes, &Limits::DEFAULT).read_string(), Ok(StrValue::Chunked));
        let short = written(|w| {
            w.string("hello");
        });
        assert_eq!(short, b"\x05hello");
        // A supplementary character is two units, written as CESU-8.
        assert_eq!(
            written(|w| {
                w.string("😀");
            }),
            [0x02, 0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80]
        );
    }

    #[test]
    fn binaries_chunk_and_skip() {
        for n in [0, 15, 16, 1023, 1024, CHUNK, CHUNK + 1, 3 * CHUNK] {
            let bytes = written(|w| {
                w.binary(&vec![7u8; n]);
            });
            assert_eq!(skip_all(&bytes, &Limits::DEFAULT), Ok(1), "{n}");
        }
    }
}
