//! # xprotocol-dubbo — the Dubbo 2.x exchange protocol
//!
//! A 16-byte header (magic `da bb`, request/two-way/event flags and serialization id, status,
//! u64 request id, u32 body length) and a body in the frame's serialization. The codec checks
//! the header and splits the frame off; it does not read the body. Requests in hessian2 have
//! their routing fields read on the first routing lookup, as ranges of the body — Dubbo
//! version, service path, service version, method, parameter types and the attachments map
//! after the arguments — by a hessian2 reader that skips any value without building it
//! ([`hessian2::Reader`]); a body that does not read gives no routing fields and its error
//! ([`DubboFrame::routing_error`]). Other serializations pass through and route on header
//! fields only.
//!
//! - [`Dubbo`] is the [`Protocol`](xprotocol::Protocol), registered as `"dubbo"`;
//! - [`DubboCodec`] the sans-IO codec, [`DubboFrame`] the frame (wire bytes kept, request id
//!   patched in place, attachments of a hessian2 request editable as headers);
//! - [`RequestBuilder`] and the [`DubboFrame`] constructors build requests, responses,
//!   heartbeats and error replies;
//! - [`Status`] the response statuses and their HTTP-like classes.
//!
//! ## Limits
//! Reading a request body (on its first routing lookup, under the decoding codec's limits)
//! follows hessian2 values at most [`Limits::max_nesting`](xprotocol::Limits) deep
//! (default 64: a value inside 64 lists, maps or objects is refused with
//! [`DecodeError::TooDeep`](xprotocol::DecodeError)), keeps at most
//! [`hessian2::MAX_CLASS_DEFINITIONS`] class definitions per body, and counts the routing
//! strings plus the attachments map against `max_header_bytes`. Skipping is one pass over the
//! body with an explicit stack, so time is linear in the body and memory bounded by the
//! nesting limit; references (`Q`) are checked but never followed.
#![warn(missing_docs)]

mod attachments;
mod builder;
mod codec;
mod frame;
pub mod header;
pub mod hessian2;
mod protocol;
mod routing;
mod spill_vec;
mod status;

#[cfg(any(test, feature = "arbitrary"))]
pub mod arbitrary;

pub use builder::{response_flag, RequestBuilder, MAX_ERROR_MESSAGE};
pub use codec::DubboCodec;
pub use frame::DubboFrame;
pub use header::Header;
pub use protocol::Dubbo;
pub use routing::INLINE_ATTACHMENTS;
pub use status::{http_status, Status};

use bytes::BytesMut;
use xprotocol::{Codec, Limits};

/// The fuzzing entry point for the hessian2 skipper on its own: skips every value in `data`
/// under a shallow and the default nesting limit. Any input must give values or a typed error
/// in bounded time and memory; a panic is a bug.
pub fn fuzz_hessian2_skip(data: &[u8]) {
    for max_nesting in [4, 64] {
        let limits = Limits { max_nesting, ..Limits::DEFAULT };
        let _ = hessian2::skip_all(data, &limits);
    }
}

/// The fuzzing entry point for the decoder: decodes every frame in `data` (as one connection's
/// bytes) under the default limits and under tight ones, reads each frame's routing fields
/// (the body, which decoding leaves unread), and checks that each decoded frame re-encodes to
/// exactly its bytes, including after a request-id rewrite and back. Returns how many frames
/// decoded under the default limits.
///
/// # Panics
/// Only on a codec bug: a decoded frame that does not re-encode byte-exact.
pub fn fuzz_decode(data: &[u8]) -> usize {
    let tight = Limits { max_frame_bytes: 4096, max_header_bytes: 512, max_nesting: 4 };
    let mut decoded = 0;
    for limits in [Limits::DEFAULT, tight] {
        let mut codec = DubboCodec::new(limits);
        let mut buf = BytesMut::from(data);
        let mut offset = 0;
        let mut frames = 0;
        while let Ok(Some(mut frame)) = codec.decode(&mut buf) {
            use xprotocol::Frame;
            let unreadable = frame.routing_error().is_some();
            let routed = (frame.service(), frame.method(), frame.group(), frame.header("k"));
            assert!(!unreadable || routed == (None, None, None, None), "routing of a bad body");
            let len = frame.wire_len();
            let original = data.get(offset..offset + len);
            let mut out = BytesMut::new();
            let encoded = codec.encode(&frame, &mut out);
            assert!(encoded.is_ok() && original == Some(&out[..]), "re-encode differs");
            let id = frame.request_id();
            let rewritten = frame.set_request_id(xprotocol::RequestId(id.0 ^ 0x5a5a));
            assert!(rewritten.is_ok() && frame.request_id().0 == id.0 ^ 0x5a5a);
            let _ = frame.set_request_id(id);
            out.clear();
            let encoded = codec.encode(&frame, &mut out);
            assert!(encoded.is_ok() && original == Some(&out[..]), "id rewrite not undone");
            offset += len;
            frames += 1;
        }
        if limits == Limits::DEFAULT {
            decoded = frames;
        }
    }
    decoded
}
