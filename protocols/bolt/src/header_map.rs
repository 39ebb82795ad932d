//! The SOFARPC header block: a sequence of (key, value) pairs, each a big-endian `i32` length
//! followed by that many bytes, length -1 meaning null.
//!
//! Decoding validates the structure once ([`validate`]) without allocating; lookups then scan
//! the block lazily and borrow from it. [`HeaderBlockWriter`] writes a block for builders.

use bytes::{BufMut, BytesMut};
use xprotocol::{DecodeError, EncodeError};

/// Length prefix that marks a null key or value.
const NULL_LEN: u32 = u32::MAX;

/// Checks that `block` is a well-formed sequence of (key, value) entries. `base` is the block's
/// offset in the frame, so that errors name frame offsets.
///
/// # Errors
/// `Malformed` naming the entry's key or value whose length prefix is cut short, negative
/// (other than -1) or overruns the block.
pub fn validate(block: &[u8], base: usize) -> Result<(), DecodeError> {
    let mut pos = 0;
    while pos < block.len() {
        pos = check_item(block, pos, base, "header key")?;
        if pos >= block.len() {
            return Err(DecodeError::malformed("header value", base + pos, "missing value"));
        }
        pos = check_item(block, pos, base, "header value")?;
    }
    Ok(())
}

fn check_item(
    block: &[u8],
    pos: usize,
    base: usize,
    field: &'static str,
) -> Result<usize, DecodeError> {
    let len = read_len(block, pos)
        .ok_or_else(|| DecodeError::malformed(field, base + pos, "length prefix cut short"))?;
    let start = pos + 4;
    if len == NULL_LEN {
        return Ok(start);
    }
    if len > i32::MAX as u32 {
        return Err(DecodeError::malformed(field, base + pos, "negative length"));
    }
    let end = start
        .checked_add(len as usize)
        .filter(|&end| end <= block.len())
        .ok_or_else(|| DecodeError::malformed(field, base + pos, "length overruns the block"))?;
    Ok(end)
}

fn read_len(block: &[u8], pos: usize) -> Option<u32> {
    let bytes = block.get(pos..pos.checked_add(4)?)?;
    let arr: [u8; 4] = bytes.try_into().ok()?;
    Some(u32::from_be_bytes(arr))
}

/// A validated header block, borrowed. Lookups scan it; nothing is copied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderMap<'a> {
    block: &'a [u8],
}

impl<'a> HeaderMap<'a> {
    /// Wraps a block that [`validate`] accepted. An unvalidated block is safe too: iteration
    /// stops at the first malformed entry.
    pub fn new(block: &'a [u8]) -> Self {
        HeaderMap { block }
    }

    /// The raw bytes of the block.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.block
    }

    /// Whether the block has no entries.
    pub fn is_empty(&self) -> bool {
        self.block.is_empty()
    }

    /// Every entry in wire order, as raw bytes (`None` = null).
    pub fn iter(&self) -> HeaderIter<'a> {
        HeaderIter { block: self.block, pos: 0 }
    }

    /// Every entry whose key and value are both non-null UTF-8, in wire order.
    pub fn iter_str(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.iter().filter_map(|(k, v)| {
            Some((std::str::from_utf8(k?).ok()?, std::str::from_utf8(v?).ok()?))
        })
    }

    /// The value of the first entry with key `name`, if that value is non-null UTF-8.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter()
            .find(|(k, _)| *k == Some(name.as_bytes()))
            .and_then(|(_, v)| std::str::from_utf8(v?).ok())
    }
}

/// Iterator over the entries of a [`HeaderMap`].
#[derive(Clone, Debug)]
pub struct HeaderIter<'a> {
    block: &'a [u8],
    pos: usize,
}

impl<'a> HeaderIter<'a> {
    fn item(&mut self) -> Option<Option<&'a [u8]>> {
        let len = read_len(self.block, self.pos)?;
        let start = self.pos + 4;
        if len == NULL_LEN {
            self.pos = start;
            return Some(None);
        }
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        let bytes = self.block.get(start..end)?;
        self.pos = end;
        Some(Some(bytes))
    }
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = (Option<&'a [u8]>, Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        let key = self.item();
        let value = key.and_then(|_| self.item());
        match (key, value) {
            (Some(k), Some(v)) => Some((k, v)),
            _ => {
                // Malformed tail (only possible on an unvalidated block): stop for good.
                self.pos = self.block.len();
                None
            }
        }
    }
}

/// Writes a header block, for builders. Each item is an `i32` length and its bytes.
#[derive(Debug, Default)]
pub struct HeaderBlockWriter {
    buf: BytesMut,
}

impl HeaderBlockWriter {
    /// An empty block.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an entry; `None` writes a null.
    ///
    /// # Errors
    /// [`EncodeError::TooLong`] if a key or value is longer than `i32::MAX` bytes.
    pub fn push_raw(
        &mut self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<(), EncodeError> {
        for item in [key, value] {
            match item {
                None => self.buf.put_u32(NULL_LEN),
                Some(bytes) => {
                    let len = u32::try_from(bytes.len())
                        .ok()
                        .filter(|&l| l <= i32::MAX as u32)
                        .ok_or(EncodeError::TooLong {
                            field: "header entry",
                            len: bytes.len(),
                            max: i32::MAX as usize,
                        })?;
                    self.buf.put_u32(len);
                    self.buf.put_slice(bytes);
                }
            }
        }
        Ok(())
    }

    /// Appends a string entry.
    ///
    /// # Errors
    /// See [`push_raw`](Self::push_raw).
    pub fn push(&mut self, key: &str, value: &str) -> Result<(), EncodeError> {
        self.push_raw(Some(key.as_bytes()), Some(value.as_bytes()))
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The block's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Entry<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

    fn block(entries: &[Entry<'_>]) -> Vec<u8> {
        let mut w = HeaderBlockWriter::new();
        for (k, v) in entries {
            w.push_raw(*k, *v).unwrap();
        }
        w.as_bytes().to_vec()
    }

    #[test]
    fn writes_what_sofa_bolt_node_writes() {
        let mut w = HeaderBlockWriter::new();
        w.push("service", "a:1.0").unwrap();
        assert_eq!(w.as_bytes(), b"\0\0\0\x07service\0\0\0\x05a:1.0");
    }

    #[test]
    fn lookups_skip_null_and_non_utf8() {
        let b = block(&[
            (Some(b"k1"), None),
            (None, Some(b"v")),
            (Some(b"bad"), Some(&[0xff, 0xfe])),
            (Some(b"k1"), Some(b"second")),
            (Some(b""), Some(b"")),
        ]);
        validate(&b, 0).unwrap();
        let map = HeaderMap::new(&b);
        assert_eq!(map.iter().count(), 5);
        assert_eq!(map.get("k1"), None, "first k1 is null");
        assert_eq!(map.get("bad"), None);
        assert_eq!(map.get("missing"), None);
        let all: Vec<_> = map.iter_str().collect();
        assert_eq!(all, vec![("k1", "second"), ("", "")]);
    }

    #[test]
    fn malformed_blocks_are_typed_errors_with_offsets() {
        // Cut-short length prefix.
        assert_eq!(
            validate(&[0, 0, 0], 40),
            Err(DecodeError::malformed("header key", 40, "length prefix cut short"))
        );
        // Key without a value.
        let b = block(&[(Some(b"k"), Some(b"v"))]);
        assert_eq!(
            validate(&b[..5], 10),
            Err(DecodeError::malformed("header value", 15, "missing value"))
        );
        // Value overruns.
        assert_eq!(
            validate(&b[..b.len() - 1], 0),
            Err(DecodeError::malformed("header value", 5, "length overruns the block"))
        );
        // Negative length other than -1.
        assert_eq!(
            validate(&[0xff, 0xff, 0xff, 0xfe], 0),
            Err(DecodeError::malformed("header key", 0, "negative length"))
        );
        // Iteration over an unvalidated block stops instead of panicking.
        assert_eq!(HeaderMap::new(&b[..b.len() - 1]).iter().count(), 0);
    }

    #[test]
    fn empty_block_is_valid() {
        validate(&[], 0).unwrap();
        assert!(HeaderMap::new(&[]).is_empty());
    }
}
