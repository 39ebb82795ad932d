//! Tests across modules: golden vectors, decoder discipline, replies, the testkit.

mod decoder;
mod headers;
mod replies;
mod vectors;

use bytes::BytesMut;
use xprotocol::{Codec, Limits, Protocol};

use crate::{Bolt, BoltFrame, BOLT_V1, BOLT_V2};

/// A golden vector: its file name and bytes.
pub(crate) struct Vector {
    pub name: &'static str,
    pub bytes: Vec<u8>,
}

macro_rules! vector {
    ($name:literal) => {
        Vector {
            name: $name,
            bytes: xprotocol::testkit::hex(include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../testdata/vectors/",
                $name,
                ".hex"
            ))),
        }
    };
}

/// Every Bolt golden vector.
pub(crate) fn vectors() -> Vec<Vector> {
    vec![
        vector!("bolt-v1-heartbeat"),
        vector!("bolt-v1-heartbeat-ack"),
        vector!("bolt-v1-oneway-request"),
        vector!("bolt-v1-request"),
        vector!("bolt-v1-response"),
        vector!("bolt-v1-response-error"),
        vector!("bolt-v2-heartbeat"),
        vector!("bolt-v2-heartbeat-ack"),
        vector!("bolt-v2-oneway-request"),
        vector!("bolt-v2-request"),
        vector!("bolt-v2-response"),
        vector!("bolt-v2-response-error"),
        vector!("bolt-v2-crc-heartbeat"),
        vector!("bolt-v2-crc-heartbeat-ack"),
        vector!("bolt-v2-crc-oneway-request"),
        vector!("bolt-v2-crc-request"),
        vector!("bolt-v2-crc-response"),
        vector!("bolt-v2-crc-response-error"),
    ]
}

/// The vector named `name`.
pub(crate) fn vector(name: &str) -> Vec<u8> {
    vectors().into_iter().find(|v| v.name == name).map(|v| v.bytes).unwrap()
}

/// The protocol a vector belongs to.
pub(crate) fn protocol_of(name: &str) -> &'static Bolt {
    if name.starts_with("bolt-v1") {
        &BOLT_V1
    } else {
        &BOLT_V2
    }
}

/// Decodes exactly one frame from `bytes`.
pub(crate) fn decode(protocol: &Bolt, bytes: &[u8]) -> BoltFrame {
    let mut buf = BytesMut::from(bytes);
    let frame = protocol.codec(Limits::DEFAULT).decode(&mut buf).unwrap().unwrap();
    assert!(buf.is_empty());
    frame
}

/// Encodes one frame.
pub(crate) fn encode(protocol: &Bolt, frame: &BoltFrame) -> Vec<u8> {
    let mut buf = BytesMut::new();
    protocol.codec(Limits::DEFAULT).encode(frame, &mut buf).unwrap();
    buf.to_vec()
}

#[test]
fn registry_validates_with_both_bolt_protocols() {
    let all = xprotocol::ProtocolSet::all();
    assert!(all.get("bolt").is_some() && all.get("boltv2").is_some(), "{all:?}");
    if let Err(errors) = all.validate() {
        panic!("registry validation failed: {errors:?}");
    }
}

/// Links the other shipped protocols into this test binary, so that their registrations are in
/// [`xprotocol::ProtocolSet::all`] and the testkit's cross-detection checks compare with them
/// (with none to compare with, the testkit fails).
fn link_shipped_protocols() {
    let _ = (
        &xprotocol_dubbo::Dubbo,
        &xprotocol_tars::Tars,
        &xprotocol_http1::Http1,
        &xprotocol_http2::Http2,
    );
    xprotocol::testkit::assert_registered(&["dubbo", "tars", "http1", "http2"]);
}

#[test]
fn v1_passes_the_testkit() {
    link_shipped_protocols();
    xprotocol::testkit::check_protocol(&BOLT_V1, crate::arbitrary::frames_for(&BOLT_V1));
}

#[test]
fn v2_passes_the_testkit() {
    link_shipped_protocols();
    xprotocol::testkit::check_protocol(&BOLT_V2, crate::arbitrary::frames_for(&BOLT_V2));
}

#[test]
fn fuzz_entry_point_survives_vectors_and_mutations() {
    for v in vectors() {
        let p = protocol_of(v.name);
        xprotocol::testkit::fuzz_decode(p, &v.bytes);
        for i in 0..v.bytes.len().min(64) {
            let mut m = v.bytes.clone();
            m[i] ^= 0xff;
            xprotocol::testkit::fuzz_decode(p, &m);
        }
    }
}
