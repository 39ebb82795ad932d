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
    #[inline]
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Bytes left to read.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Whether every byte has been read.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    #[inline]
    fn take(&mut self, n: usize, at: usize) -> Result<&'a [u8], TlvError> {
        let end = self.pos.checked_add(n).ok_or(TlvError::Truncated { offset: at })?;
        let bytes = self.buf.get(self.pos..end).ok_or(TlvError::Truncated { offset: at })?;
        self.pos = end;
        Ok(bytes)
    }

    #[inline]
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
    #[inline]
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
    #[inline]
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
    #[inline]
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
    #[inline]
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
    #[inline]
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
    /// Scalars, strings, byte lists and empty containers (every top-level field of a typical
    /// packet) are skipped directly. Other containers are walked in a loop over an explicit
    /// stack (no recursion, no allocation) that keeps its first levels inline and moves to the
    /// full `MAX_NESTING_CAP`-level array only when a walk goes deeper, so a shallow value does
    /// not pay for zeroing 1 KiB. Every step consumes at least one byte, so the time is linear
    /// in the input.
    ///
    /// # Errors
    /// [`TlvError::TooDeep`] past the nesting limit, [`TlvError::UnexpectedStructEnd`] if
    /// `head` itself is a struct end, and any error of the values inside.
    #[inline]
    pub fn skip_value(&mut self, head: &Head, max_nesting: usize) -> Result<(), TlvError> {
        match self.skip_leaf(head)? {
            Some(0) | None => Ok(()),
            Some(opened) => self.skip_container(head, opened, max_nesting),
        }
    }

    /// Skips a value that holds no other value and returns `None`; for a list, map or struct,
    /// reads its count and returns how many values are still to skip inside it (`Some(0)` for
    /// an empty list or map, [`OPEN_STRUCT`] for a struct). A struct end is an error here: it
    /// is only valid inside a struct, which [`skip_container`](Self::skip_container) tracks.
    #[inline]
    fn skip_leaf(&mut self, head: &Head) -> Result<Option<usize>, TlvError> {
        Ok(match head.ty {
            TypeCode::Int8
            | TypeCode::Int16
            | TypeCode::Int32
            | TypeCode::Int64
            | TypeCode::Zero => {
                self.read_int(head)?;
                None
            }
            TypeCode::Float | TypeCode::Double => {
                self.read_float(head)?;
                None
            }
            TypeCode::String1 | TypeCode::String4 => {
                self.read_string(head)?;
                None
            }
            TypeCode::SimpleList => {
                self.read_simple_list(head)?;
                None
            }
            TypeCode::List => Some(self.read_count(1)?),
            TypeCode::Map => Some(self.read_count(2)?.saturating_mul(2)),
            TypeCode::StructBegin => Some(OPEN_STRUCT as usize),
            TypeCode::StructEnd => {
                return Err(TlvError::UnexpectedStructEnd { offset: head.offset })
            }
        })
    }

    /// Skips the inside of the container `head`, whose count [`skip_leaf`](Self::skip_leaf)
    /// has read (`opened`).
    fn skip_container(
        &mut self,
        head: &Head,
        opened: usize,
        max_nesting: usize,
    ) -> Result<(), TlvError> {
        let limit = max_nesting.min(MAX_NESTING_CAP);
        // Each level holds the values still to skip in an open list or map, or OPEN_STRUCT.
        let mut stack = SkipStack::new();
        let mut cur = *head;
        let mut opened = Some(opened);
        loop {
            let mut completed = true;
            if let Some(count) = opened {
                if count > 0 {
                    if stack.depth >= limit {
                        return Err(TlvError::TooDeep { limit, offset: cur.offset });
                    }
                    // Counts were checked against the bytes left, and frames are far below
                    // 4 GiB, so they fit; saturate rather than trust that.
                    let level = u32::try_from(count).unwrap_or(OPEN_STRUCT - 1);
                    if !stack.push(level) {
                        return Err(TlvError::TooDeep { limit, offset: cur.offset });
                    }
                    completed = false;
                }
            }
            // A finished value completes one element of the innermost list or map, which may
            // finish that container in turn; inside a struct, the next head decides.
            while completed {
                let Some(top) = stack.depth.checked_sub(1) else { return Ok(()) };
                match stack.slot_mut(top) {
                    Some(slot) if *slot != OPEN_STRUCT => {
                        *slot -= 1;
                        if *slot == 0 {
                            stack.depth = top;
                        } else {
                            completed = false;
                        }
                    }
                    _ => completed = false,
                }
            }
            cur = self.read_head()?;
            opened = if cur.ty == TypeCode::StructEnd {
                let top = stack.depth.checked_sub(1);
                match top.and_then(|top| stack.slot_mut(top)) {
                    Some(&mut OPEN_STRUCT) => stack.depth -= 1,
                    _ => return Err(TlvError::UnexpectedStructEnd { offset: cur.offset }),
                }
                None
            } else {
                self.skip_leaf(&cur)?
            };
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

/// Levels of the skip stack kept inline; a walk that goes deeper moves to the full array.
const SHALLOW_LEVELS: usize = 16;

/// The skip walk's stack: [`SHALLOW_LEVELS`] inline levels, and the full
/// [`MAX_NESTING_CAP`]-level array created (on the stack, never the heap) only when a walk
/// goes deeper than that, so that shallow values do not pay for zeroing 1 KiB.
struct SkipStack {
    shallow: [u32; SHALLOW_LEVELS],
    deep: Option<[u32; MAX_NESTING_CAP]>,
    depth: usize,
}

impl SkipStack {
    fn new() -> Self {
        SkipStack { shallow: [0; SHALLOW_LEVELS], deep: None, depth: 0 }
    }

    fn slot_mut(&mut self, level: usize) -> Option<&mut u32> {
        match &mut self.deep {
            Some(deep) => deep.get_mut(level),
            None => self.shallow.get_mut(level),
        }
    }

    /// Pushes a level; `false` if the stack is full ([`MAX_NESTING_CAP`] levels).
    fn push(&mut self, level: u32) -> bool {
        if self.deep.is_none() && self.depth >= SHALLOW_LEVELS {
            let mut deep = [0u32; MAX_NESTING_CAP];
            for (dst, src) in deep.iter_mut().zip(self.shallow) {
                *dst = src;
            }
            self.deep = Some(deep);
        }
        let depth = self.depth;
        match self.slot_mut(depth) {
            Some(slot) => {
                *slot = level;
                self.depth += 1;
                true
            }
            None => false,
        }
    }
}
