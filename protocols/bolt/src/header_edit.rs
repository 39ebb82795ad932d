//! Setting and removing entries of a frame's header map ([`Frame::set_header`] and
//! [`Frame::remove_header`]).
//!
//! The header block sits in the frame's head, between the class name and the content, and its
//! length is a field of the fixed header. An edit writes a new head: the fixed header and the
//! class name copied as they are (with the header length patched), then the edited block, in
//! which every untouched entry keeps its bytes (nulls and non-UTF-8 entries included) and its
//! place. The content is not touched: it stays the zero-copy slice of the read buffer. The CRC
//! trailer, if the frame has one, is recomputed.
//!
//! [`Frame::set_header`]: xprotocol::Frame::set_header
//! [`Frame::remove_header`]: xprotocol::Frame::remove_header

use bytes::BytesMut;
use xprotocol::EncodeError;

use crate::frame::BoltFrame;
use crate::header_map::{HeaderBlockWriter, HeaderMap};
use crate::layout;

impl BoltFrame {
    /// Sets (`Some`) or removes (`None`) header `name`. Setting replaces the first entry with
    /// that key in place and drops later ones, or appends an entry; removing drops every entry
    /// with that key. A removal of an absent key leaves the frame as it is.
    pub(crate) fn edit_header(
        &mut self,
        name: &str,
        value: Option<&str>,
    ) -> Result<(), EncodeError> {
        let old = self.headers();
        if value.is_none() && old.iter().all(|(k, _)| k != Some(name.as_bytes())) {
            return Ok(());
        }
        let block = edited_block(old, name, value)?;
        let header_len = u16::try_from(block.len())
            .ok()
            .filter(|&l| l <= layout::MAX_SHORT_LEN)
            .ok_or(EncodeError::TooLong {
                field: "header block",
                len: block.len(),
                max: layout::MAX_SHORT_LEN.into(),
            })?;
        let (_, block_start) = self.class_range();
        let prefix = self
            .head
            .get(..block_start)
            .ok_or(EncodeError::Unencodable("frame head shorter than its class name"))?;
        let mut head = BytesMut::with_capacity(block_start + block.len());
        head.extend_from_slice(prefix);
        head.extend_from_slice(block.as_bytes());
        let at = self.bolt_version().lengths_offset(self.is_response()) + 2;
        let slot = head
            .get_mut(at..at + 2)
            .ok_or(EncodeError::Unencodable("frame head shorter than its fixed header"))?;
        slot.copy_from_slice(&header_len.to_be_bytes());
        self.head = head;
        if self.crc.is_some() {
            self.crc = Some(Self::compute_crc(&self.head, &self.content));
        }
        Ok(())
    }
}

/// `old` with `name` set to `value` (or removed, for `None`), other entries as they were.
fn edited_block(
    old: HeaderMap<'_>,
    name: &str,
    value: Option<&str>,
) -> Result<HeaderBlockWriter, EncodeError> {
    let mut block = HeaderBlockWriter::new();
    let mut pending = value;
    for (k, v) in old.iter() {
        if k == Some(name.as_bytes()) {
            if let Some(new) = pending.take() {
                block.push(name, new)?;
            }
        } else {
            block.push_raw(k, v)?;
        }
    }
    if let Some(new) = pending {
        block.push(name, new)?;
    }
    Ok(block)
}
