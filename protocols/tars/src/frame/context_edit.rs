//! Setting and removing `context` entries: the new context field, built beside the wire bytes.

use bytes::BytesMut;
use xprotocol::{EncodeError, Frame};

use super::{ContextPatch, TarsFrame};
use crate::packet::CONTEXT_TAG;
use crate::tlv::{write_head, write_int, write_string, TypeCode};

impl TarsFrame {
    /// Sets (`Some`) or removes (`None`) context entry `name`. Setting replaces the first
    /// entry with that key in place and drops later ones, or appends an entry; removing drops
    /// every entry with that key. A removal of an absent key leaves the frame as it is.
    pub(super) fn edit_context(
        &mut self,
        name: &str,
        value: Option<&str>,
    ) -> Result<(), EncodeError> {
        let mut entries = BytesMut::new();
        let mut count = 0usize;
        let mut found = false;
        let mut pending = value;
        let mut result = Ok(());
        let mut push = |k: &[u8], v: &[u8], entries: &mut BytesMut| {
            count += 1;
            write_string(entries, 0, k).and_then(|()| write_string(entries, 1, v))
        };
        self.context_view().for_each(|k, v, _| {
            let written = if k != name.as_bytes() {
                push(k, v, &mut entries)
            } else {
                found = true;
                match pending.take() {
                    Some(new) => push(k, new.as_bytes(), &mut entries),
                    None => Ok(()),
                }
            };
            result = written;
            result.is_ok()
        });
        result?;
        if let Some(new) = pending {
            push(name.as_bytes(), new.as_bytes(), &mut entries)?;
        }
        if value.is_none() && !found {
            return Ok(());
        }
        let count = i32::try_from(count).map_err(|_| EncodeError::TooLong {
            field: "context",
            len: count,
            max: i32::MAX as usize,
        })?;
        let mut field = BytesMut::with_capacity(entries.len() + 6);
        write_head(&mut field, CONTEXT_TAG, TypeCode::Map);
        let value_at = field.len() as u32;
        write_int(&mut field, 0, count.into());
        field.extend_from_slice(&entries);
        let original = self.wire.get(self.layout.context_field.range()).unwrap_or_default();
        let new_len = self.wire_len() - self.current_context_len() + field.len();
        if u32::try_from(new_len).is_err() {
            return Err(EncodeError::TooLong {
                field: "frame",
                len: new_len,
                max: u32::MAX as usize,
            });
        }
        self.context_patch = if field[..] == *original {
            None
        } else {
            Some(Box::new(ContextPatch { field: field.freeze(), value_at }))
        };
        Ok(())
    }

    /// Bytes the context field takes now (0 when the packet has none).
    fn current_context_len(&self) -> usize {
        match &self.context_patch {
            Some(p) => p.field.len(),
            None => self.layout.context_field.len(),
        }
    }
}
