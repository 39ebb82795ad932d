//! Fixtures of the codec and detection benchmarks (`benches/codecs.rs`, `benches/detect.rs`):
//! one realistic request frame per shipped protocol and body size, and the byte prefixes that
//! detection is measured on. They live in a library so that `cargo test` checks them (each
//! frame decodes, re-encodes byte for byte and is detected as its own protocol) without
//! running a benchmark.
//!
//! Linking this crate links every protocol crate, so [`ProtocolSet::all`](xprotocol::ProtocolSet)
//! sees all of them; [`linked_protocols`] names one static of each so that the linker keeps
//! their registrations.
#![warn(missing_docs)]

pub mod clock;
pub mod frames;
pub mod load;
pub mod prefixes;

pub use frames::{Subject, BODY_SIZES};

use xprotocol::AnyProtocol;

/// One protocol value of every shipped protocol crate, in name order. Referencing them keeps
/// each crate (and so its `register_protocol!` submission) in the benchmark binaries.
pub fn linked_protocols() -> [&'static dyn AnyProtocol; 5] {
    [&frames::BOLT_V1, &frames::BOLT_V2, &frames::DUBBO, &frames::ECHO, &frames::TARS]
}
