//! The whole test suite a protocol author needs: the SDK's testkit does the work.

use bytes::{Bytes, BytesMut};
use echo_protocol::{Echo, EchoFrame, MAGIC};
use proptest::prelude::*;
use xprotocol::{Codec, DecodeError, DetectResult, Limits, Protocol, ProtocolSet};

/// Any valid echo frame: requests, one-way requests, responses and heartbeats.
fn frames() -> impl Strategy<Value = EchoFrame> {
    (
        any::<bool>(),
        0u8..=2,
        any::<u32>(),
        any::<u16>(),
        proptest::collection::vec(any::<u8>(), 0..2048),
    )
        .prop_map(|(heartbeat, dir, id, status, payload)| {
            let status = (dir == 0).then_some(status);
            EchoFrame::new(heartbeat, dir, id, status, Bytes::from(payload))
        })
}

#[test]
fn echo_passes_the_testkit() {
    // Link shipped protocols so that cross-detection compares echo frames with theirs.
    let _ = (&xprotocol_bolt::BOLT_V1, &xprotocol_dubbo::Dubbo, &xprotocol_tars::Tars);
    xprotocol::testkit::check_protocol(&Echo, frames());
}

#[test]
fn echo_is_registered_and_detected_unambiguously() {
    let all = ProtocolSet::all();
    assert!(all.get("echo").is_some());
    all.validate().expect("registry is consistent");
    let sample = &Echo.samples()[0];
    assert_eq!(sample[..3], [MAGIC, 1, 1], "the default sample is the heartbeat");
    assert!(
        matches!(all.detect(sample), xprotocol::registry::Detection::Match(p) if p.name() == "echo")
    );
}

#[test]
fn detection_decides_on_three_bytes() {
    assert_eq!(Echo.detect(&[MAGIC]), DetectResult::NeedMore);
    assert_eq!(Echo.detect(&[MAGIC, 0, 1]), DetectResult::Match);
    assert_eq!(Echo.detect(&[MAGIC, 7]), DetectResult::NoMatch);
    assert_eq!(Echo.detect(b"GET / HTTP/1.1\r\n"), DetectResult::NoMatch);
}

#[test]
fn oversized_frame_is_refused_from_the_header() {
    let mut codec = Echo.codec(Limits { max_frame_bytes: 1024, ..Limits::DEFAULT });
    let mut buf = BytesMut::from(&[MAGIC, 0, 1, 0, 0, 0, 1, 0, 0, 0x10, 0][..]);
    let err = xprotocol::testkit::expect_decode_error(codec.decode(&mut buf));
    assert!(matches!(err, DecodeError::FrameTooLarge { declared: 4107, limit: 1024 }), "{err}");
}

#[test]
fn garbage_is_a_typed_error() {
    let mut codec = Echo.codec(Limits::DEFAULT);
    let err = xprotocol::testkit::expect_decode_error(
        codec.decode(&mut BytesMut::from(&b"\xEC\x09\x00"[..])),
    );
    assert!(matches!(err, DecodeError::Malformed { field: "header", .. }));
}

proptest! {
    #[test]
    fn fuzz_entry_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut data = data;
        if let Some(b) = data.first_mut() { *b = MAGIC; }
        xprotocol::testkit::fuzz_decode(&Echo, &data);
    }
}
