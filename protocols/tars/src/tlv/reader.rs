//! A borrowing TLV reader: heads, scalars, strings and byte lists as slices of the input, and
//! a depth-bounded, recursion-free skip over any value.

use super::{TlvError, TypeCode, MAX_NESTING_CAP};

/// A field head: its tag, its type, and where it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// The field tag (0-255).
    pub tag: u8,
    /// The value's type.
    pub ty: TypeCode,
    /// Offset of the head's first byte (base-relative, see [`TlvReader::with_base`]).
    pub offset: usize,
}

/// Reads TLV values from a byte slice without copying or allocating.
///
/// Every read checks the bytes left first and fails with [`TlvError::Truncated`] rather than
/// panicking; declared counts are checked against the bytes left before any element is read.
#[derive(Clone, Debug)]
pub struct TlvReader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

/// Marks a struct level on the skip stack (other levels hold the values still to skip).
const OPEN_STRUCT: u32 = u32::MAX;

impl<'a> TlvReader<'a> {
    /// A reader over `buf`, reporting offsets from its start.
    pub fn new(buf: &'a [u8]) -> Self {
        TlvReader { buf, pos: 0, base: 0 }
    }

    /// A reader over `buf` that reports offsets as `base + index` (the frame offset at which
    /// `buf` starts), so errors point into the whole frame.
    pub fn with_base(buf: &'a [u8], base: usize) -> Self {
        TlvReader { buf, pos: 0, base }
    }

    /// Index of the next byte to read, relative to the start of the slice.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Base-relative offset of the next byte to read.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn take(&mut self, n: usize, at: usize) -> Result<&'a [u8], TlvError> {
        let end = self.pos.checked_add(n).ok_or(TlvError::Truncated { offset: at })?;
        let bytes = self.buf.get(self.pos..end).ok_or(TlvError::Truncated { offset: at })?;
        self.pos = end;
        Ok(bytes)
    }

    fn take_array<const N: usize>(&mut self, at: usize) -> Result<[u8; N], TlvError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, at)?);
        Ok(out)
    }

    /// The next head, without consuming it.
    ///
    /// # Errors
    /// [`TlvError::Truncated`] or [`TlvError::BadType`].
    pub fn peek_head(&self) -> Result<Head, TlvError> {
        self.clone().read_head()
    }

    /// Reads a head (one byte, or two for tags of 15 and more).
    ///
    /// # Errors
    /// [`TlvError::Truncated`] or [`TlvError::BadType`].
    pub fn read_head(&mut self) -> Result<Head, TlvError> {
        let offset = self.offset();
        let [b] = self.take_array::<1>(offset)?;
        let ty =
            TypeCode::from_nibble(b & 0x0f).ok_or(TlvError::BadType { offset, code: b & 0x0f })?;
        let mut tag = b >> 4;
        if tag == 15 {
            [tag] = self.take_array::<1>(offset)?;
        }
        Ok(Head { tag, ty, offset })
    }

    /// Reads the integer value of `head` (any integer type, or zero).
    ///
    /// # Errors
    /// [`TlvError::TypeMismatch`] if `head` is not an integer, [`TlvError::Truncated`].
    pub fn read_int(&mut self, head: &Head) -> Result<i64, TlvError> {
        let at = head.offset;
        Ok(match head.ty {
            TypeCode::Zero => 0,
            TypeCode::Int8 => i64::from(i8::from_be_bytes(self.take_array(at)?)),
            TypeCode::Int16 => i64::from(i16::from_be_bytes(self.take_array(at)?)),
            TypeCode::Int32 => i64::from(i32::from_be_bytes(self.take_array(at)?)),
            TypeCode::Int64 => i64::from_be_bytes(self.take_array(at)?),
            found => return Err(TlvError::TypeMismatch { offset: at, found, expected: "integer" }),
        })
    }

    /// Reads the floating-point value of `head` (float, double or zero).
    ///
    /// # Errors
    /// [`TlvError::TypeMismatch`] if `head` is not a float, double or zero;
    /// [`TlvError::Truncated`].
    pub fn read_float(&mut self, head: &Head) -> Result<f64, TlvError> {
        let at = head.offset;
        Ok(match head.ty {
            TypeCode::Zero => 0.0,
            TypeCode::Float => f64::from(f32::from_be_bytes(self.take_array(at)?)),
            TypeCode::Double => f64::from_be_bytes(self.take_array(at)?),
            found => return Err(TlvError::TypeMismatch { offset: at, found, expected: "float" }),
        })
    }

    /// Reads the bytes of a string value (not checked for UTF-8: TARS strings are bytes).
    ///
    /// # Errors
    /// [`TlvError::TypeMismatch`] if `head` is not a string, [`TlvError::Truncated`].
    pub fn read_string(&mut self, head: &Head) -> Result<&'a [u8], TlvError> {
        let at = head.offset;
        let len = match head.ty {
            TypeCode::String1 => usize::from(self.take_array::<1>(at)?[0]),
            TypeCode::String4 => usize::try_from(u32::from_be_bytes(self.take_array(at)?))
                .map_err(|_| TlvError::Truncated { offset: at })?,
            found => return Err(TlvError::TypeMismatch { offset: at, found, expected: "string" }),
        };
        self.take(len, at)
    }

    /// Reads the bytes of a simple list (`vector<byte>`): the element head `0x00`, a tag-0
    /// integer length, then the bytes.
    ///
    /// # Errors
    /// [`TlvError::TypeMismatch`] if `head` is not a simple list, [`TlvError::BadContainer`]
    /// for a wrong element head, [`TlvError::BadLength`], [`TlvError::Truncated`].
    pub fn read_simple_list(&mut self, head: &Head) -> Result<&'a [u8], TlvError> {
        if head.ty != TypeCode::SimpleList {
            return Err(TlvError::TypeMismatch {
                offset: head.offset,
                found: head.ty,
                expected: "simple list",
            });
        }
        let elem = self.read_head()?;
        if elem.tag != 0 || elem.ty != TypeCode::Int8 {
            return Err(TlvError::BadContainer { offset: elem.offset });
        }
        let len = self.read_count(1)?;
        self.take(len, head.offset)
    }

    /// Reads a container's count: a tag-0 integer field. The count must be non-negative and
    /// `count * min_item_bytes` must fit in the bytes left, so that no declared count makes a
    /// walker loop longer than the input.
    ///
    /// # Errors
    /// [`TlvError::BadContainer`] if the next field is not a tag-0 integer,
    /// [`TlvError::BadLength`] if the count is negative, [`TlvError::Truncated`] if it is
    /// larger than the bytes left could hold.
    pub fn read_count(&mut self, min_item_bytes: usize) -> Result<usize, TlvError> {
        let head = self.read_head()?;
        if head.tag != 0 || !head.ty.is_int() {
            return Err(TlvError::BadContainer { offset: head.offset });
        }
        let n = self.read_int(&head)?;
        let n = usize::try_from(n).map_err(|_| TlvError::BadLength { offset: head.offset })?;
        // More bytes could make a large count fit: report it as truncation, which a decoder
        // over a whole packet turns into a malformed-field error.
        match n.checked_mul(min_item_bytes) {
            Some(need) if need <= self.remaining() => Ok(n),
            _ => Err(TlvError::Truncated { offset: head.offset }),
        }
    }

    /// Skips the value of `head`, however nested, following at most
    /// `min(max_nesting, MAX_NESTING_CAP)` levels of lists, maps and structs.
    ///
    /// The walk is a loop over a fixed stack (no recursion, no allocation); every step
    /// consumes at least one byte, so its time is linear in the input.
    ///
    /// # Errors
    /// [`TlvError::TooDeep`] past the nesting limit, [`TlvError::UnexpectedStructEnd`] if
    /// `head` itself is a struct end, and any error of the values inside.
    pub fn skip_value(&mut self, head: &Head, max_nesting: usize) -> Result<(), TlvError> {
        let limit = max_nesting.min(MAX_NESTING_CAP);
        // Each level holds the values still to skip in an open list or map, or OPEN_STRUCT.
        let mut stack = [0u32; MAX_NESTING_CAP];
        let mut depth = 0usize;
        let mut cur = *head;
        loop {
            let opened = match cur.ty {
                TypeCode::Int8
                | TypeCode::Int16
                | TypeCode::Int32
                | TypeCode::Int64
                | TypeCode::Zero => {
                    self.read_int(&cur)?;
                    None
                }
                TypeCode::Float | TypeCode::Double => {
                    self.read_float(&cur)?;
                    None
                }
                TypeCode::String1 | TypeCode::String4 => {
                    self.read_string(&cur)?;
                    None
                }
                TypeCode::SimpleList => {
                    self.read_simple_list(&cur)?;
                    None
                }
                TypeCode::List => Some(self.read_count(1)?),
                TypeCode::Map => Some(self.read_count(2)?.saturating_mul(2)),
                TypeCode::StructBegin => Some(OPEN_STRUCT as usize),
                TypeCode::StructEnd => {
                    match depth.checked_sub(1).and_then(|top| stack.get(top)) {
                        Some(&OPEN_STRUCT) => depth -= 1,
                        _ => return Err(TlvError::UnexpectedStructEnd { offset: cur.offset }),
                    }
                    None
                }
            };
            let mut completed = true;
            if let Some(count) = opened {
                if count > 0 {
                    if depth >= limit {
                        return Err(TlvError::TooDeep { limit, offset: cur.offset });
                    }
                    let slot = stack
                        .get_mut(depth)
                        .ok_or(TlvError::TooDeep { limit, offset: cur.offset })?;
                    // Counts were checked against the bytes left, and frames are far below
                    // 4 GiB, so they fit; saturate rather than trust that.
                    *slot = u32::try_from(count).unwrap_or(OPEN_STRUCT - 1);
                    depth += 1;
                    completed = false;
                }
            }
            // A finished value completes one element of the innermost list or map, which may
            // finish that container in turn; inside a struct, the next head decides.
            while completed {
                let Some(top) = depth.checked_sub(1) else { return Ok(()) };
                match stack.get_mut(top) {
                    Some(slot) if *slot != OPEN_STRUCT => {
                        *slot -= 1;
                        if *slot == 0 {
                            depth = top;
                        } else {
                            completed = false;
                        }
                    }
                    _ => completed = false,
                }
            }
            cur = self.read_head()?;
        }
    }

    /// Reads a head and skips its value: one whole field.
    ///
    /// # Errors
    /// As [`read_head`](Self::read_head) and [`skip_value`](Self::skip_value).
    pub fn skip_field(&mut self, max_nesting: usize) -> Result<Head, TlvError> {
        let head = self.read_head()?;
        self.skip_value(&head, max_nesting)?;
        Ok(head)
    }
}
