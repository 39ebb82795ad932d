//! # xprotocol-tars — Tars / TUP for the XProtocol SDK
//!
//! A Tars frame is a big-endian `u32` length (counting its own 4 bytes) followed by one
//! TARS-encoded struct: a `RequestPacket` (requests of every version, and TUP replies) or a
//! `ResponsePacket` (TARS replies). This crate gives:
//!
//! - [`tlv`]: a borrowing reader of every TLV type code (heads with extended tags, zero,
//!   strings, lists, maps, structs, simple lists) with a recursion-free, depth-bounded skip,
//!   and a small writer;
//! - [`TarsFrame`]: the packet as its wire bytes plus field positions, with accessors for
//!   every field, routing on servant ([`service`](xprotocol::Frame::service)) and function
//!   ([`method`](xprotocol::Frame::method)), the `context` map as (editable) headers, and a
//!   request-id rewrite that never re-encodes the body;
//! - [`TarsCodec`], [`RequestPacket`] / [`ResponsePacket`] builders, [`status`] codes and
//!   their HTTP classes, and the [`Tars`] protocol registered as `"tars"`.
//!
//! ## Limits and bad input
//!
//! The declared length is checked against [`Limits::max_frame_bytes`](xprotocol::Limits)
//! before waiting for the packet; everything but `sBuffer` counts against `max_header_bytes`;
//! TLV containers nest at most `min(max_nesting, `[`tlv::MAX_NESTING_CAP`]`)` levels (64 by
//! default). Every declared count is checked against the bytes left before it is walked, and
//! walking is iterative, so any input — truncated, oversized, deeply nested — ends in a typed
//! [`DecodeError`](xprotocol::DecodeError) in time linear in its length, without panics or
//! allocation.
#![warn(missing_docs)]

#[cfg(any(test, feature = "arbitrary"))]
pub mod arbitrary;
mod build;
mod codec;
pub mod detect;
mod frame;
pub mod packet;
mod protocol;
pub mod status;
pub mod tlv;

pub use build::{RequestPacket, ResponsePacket};
pub use codec::{TarsCodec, MIN_FRAME_LEN};
pub use frame::TarsFrame;
pub use packet::Shape;
pub use protocol::Tars;

#[cfg(test)]
mod tests;

/// Decodes every frame in `data` with small limits (1 MiB frames, nesting 32), reading every
/// field, and checks each frame's invariants: it re-encodes to its own bytes, those decode
/// again to the same bytes, and a request-id rewrite survives encoding and decoding. A fuzz
/// entry point: whatever `data` holds, it must return without panicking, looping or
/// allocating without bound.
///
/// # Errors
/// A description of a broken invariant (a bug in this crate, never bad input); the fuzz
/// target turns it into a crash. Returns the number of frames decoded otherwise.
pub fn fuzz_decode(data: &[u8]) -> Result<usize, String> {
    use xprotocol::{Codec, Frame, Limits, RequestId};
    let limits = Limits { max_frame_bytes: 1 << 20, max_header_bytes: 64 << 10, max_nesting: 32 };
    let _ = detect::detect(data);
    let mut codec = TarsCodec::new(limits);
    let mut buf = bytes::BytesMut::from(data);
    let mut frames = 0;
    while let Ok(Some(mut frame)) = codec.decode(&mut buf) {
        frames += 1;
        let _ = (frame.kind(), frame.status(), frame.service(), frame.method());
        let _ =
            (frame.timeout_ms(), frame.result_desc(), frame.context("k"), frame.status_entry("k"));
        frame.for_each_header(&mut |_, _| {});
        frame.for_each_status(&mut |_, _| {});
        let mut first = bytes::BytesMut::new();
        codec.encode(&frame, &mut first).map_err(|e| format!("encode: {e}"))?;
        if first[..] != frame.original_bytes()[..] || first.len() != frame.wire_len() {
            return Err("an unchanged frame does not encode to its own bytes".into());
        }
        let id = RequestId((frame.request_id().0.wrapping_mul(31).wrapping_add(7)) & 0xffff_ffff);
        frame.set_request_id(id).map_err(|e| format!("set_request_id: {e}"))?;
        let mut out = bytes::BytesMut::new();
        codec.encode(&frame, &mut out).map_err(|e| format!("encode after rewrite: {e}"))?;
        if out.len() != frame.wire_len() {
            return Err("wire_len differs from the rewritten encoding".into());
        }
        let unbounded =
            Limits { max_frame_bytes: usize::MAX, max_header_bytes: usize::MAX, ..limits };
        let back = TarsCodec::new(unbounded)
            .decode(&mut out)
            .map_err(|e| format!("rewritten frame does not decode: {e}"))?
            .ok_or("rewritten frame is incomplete")?;
        if back.request_id() != id || back.kind() != frame.kind() || back.body() != frame.body() {
            return Err(format!("rewrite lost: {back:?} vs {frame:?}"));
        }
    }
    Ok(frames)
}

/// Walks `data` as a sequence of TLV fields with the given nesting limit, skipping every
/// value, until the data ends or an error; returns the number of fields read and the error,
/// if any. A fuzz entry point for the TLV reader on its own.
pub fn fuzz_tlv(data: &[u8], max_nesting: usize) -> (usize, Option<tlv::TlvError>) {
    let mut r = tlv::TlvReader::new(data);
    let mut n = 0;
    while !r.is_empty() {
        match r.skip_field(max_nesting) {
            Ok(_) => n += 1,
            Err(e) => return (n, Some(e)),
        }
    }
    (n, None)
}
