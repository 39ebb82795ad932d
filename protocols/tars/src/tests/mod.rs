//! Crate-level tests: golden vectors, id rewrite, detection, bad input, replies, testkit.

mod bad_input;
mod detection;
mod headers;
mod replies;
mod testkit;
mod vectors;

use bytes::BytesMut;
use xprotocol::{Codec, Limits};

use crate::{TarsCodec, TarsFrame};

pub(crate) fn vector(name: &str) -> Vec<u8> {
    let path = format!("{}/../../testdata/vectors/{name}.hex", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    xprotocol::testkit::hex(&text)
}

pub(crate) const REQUEST: &str = "tars-request-getUsrName";
pub(crate) const RESPONSE: &str = "tars-response-getUsrName";

pub(crate) fn decode(bytes: &[u8]) -> TarsFrame {
    let mut buf = BytesMut::from(bytes);
    let frame = TarsCodec::new(Limits::DEFAULT).decode(&mut buf).unwrap().unwrap();
    assert!(buf.is_empty());
    frame
}

pub(crate) fn encode(frame: &TarsFrame) -> Vec<u8> {
    let mut out = BytesMut::new();
    TarsCodec::new(Limits::DEFAULT).encode(frame, &mut out).unwrap();
    out.to_vec()
}

#[test]
fn frames_stay_within_128_bytes() {
    // Moved several times per request: past 128 bytes a move is a call to `memcpy`. The
    // fields the frame does not keep are read again from the packet (see `TarsFrame`).
    assert!(std::mem::size_of::<TarsFrame>() <= 128);
}
