//! A borrowing Hessian 2.0 reader and a small writer.
//!
//! Dubbo request bodies are a series of hessian2 values: five routing strings, the arguments,
//! then the attachments map. To reach the attachments without decoding arguments into objects,
//! [`Reader`] can *skip* any value: every type code of the Hessian 2.0 grammar (null, booleans,
//! all int/long/double compact forms, dates, strings and binaries including chunked ones,
//! typed/untyped fixed/variable lists, typed/untyped maps, class definitions, object instances
//! and references). Skipping allocates nothing for typical input, uses an explicit stack bounded
//! by [`Limits::max_nesting`](xprotocol::Limits) instead of recursion, and keeps a class
//! definition table bounded by [`MAX_CLASS_DEFINITIONS`]. References are never followed, so a
//! self-referencing value is skipped in one pass.
//!
//! [`Writer`] writes the values Dubbo frames need (strings for error replies, routing fields
//! and attachments for builders) and enough of the rest for tests, with the same compact
//! encodings the Java implementation picks.

mod reader;
mod skip;
mod writer;

pub use reader::{Reader, StrValue};
pub use writer::Writer;

use xprotocol::{DecodeError, Limits};

/// The largest number of class definitions (`C`) one body may declare. Each entry costs four
/// bytes of decoder memory; the first 16 are kept inline.
pub const MAX_CLASS_DEFINITIONS: usize = 4096;

/// Skips every value in `data` as one hessian2 stream (class definitions, types and references
/// carry over from one value to the next, as in a Dubbo body) and returns how many values it
/// held. This is the hessian2 skipper on its own, as the fuzz target drives it.
///
/// # Errors
/// The first [`DecodeError`]: truncated or malformed input, a reserved type code, nesting
/// deeper than `limits.max_nesting`, or too many class definitions.
pub fn skip_all(data: &[u8], limits: &Limits) -> Result<usize, DecodeError> {
    let mut reader = Reader::new(data, limits);
    let mut values = 0;
    while !reader.is_empty() {
        reader.skip_value()?;
        values += 1;
    }
    Ok(values)
}
