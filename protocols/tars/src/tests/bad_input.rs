use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use proptest::prelude::*;
use xprotocol::testkit::expect_decode_error;
use xprotocol::{Codec, DecodeError, Limits};

use super::{vector, REQUEST, RESPONSE};
use crate::tlv::{write_int, write_map_header, write_string};
use crate::{RequestPacket, TarsCodec};

fn decode_with(bytes: &[u8], limits: Limits) -> Result<Option<crate::TarsFrame>, DecodeError> {
    TarsCodec::new(limits).decode(&mut BytesMut::from(bytes))
}

fn decode(bytes: &[u8]) -> Result<Option<crate::TarsFrame>, DecodeError> {
    decode_with(bytes, Limits::DEFAULT)
}

/// Frames `packet` with a correct length prefix.
fn framed(packet: &[u8]) -> Vec<u8> {
    let mut v = ((packet.len() + 4) as u32).to_be_bytes().to_vec();
    v.extend_from_slice(packet);
    v
}

/// The request vector's packet with `extra` appended as more fields.
fn request_with(extra: &[u8]) -> Vec<u8> {
    let v = vector(REQUEST);
    framed(&[&v[4..], extra].concat())
}

#[test]
fn oversized_lengths_are_refused_from_the_prefix_alone() {
    let err = expect_decode_error(decode(&[0x7f, 0xff, 0xff, 0xff]));
    assert!(matches!(err, DecodeError::FrameTooLarge { declared: 0x7fff_ffff, .. }), "{err}");
    let small = Limits { max_frame_bytes: 64, ..Limits::DEFAULT };
    let err = expect_decode_error(decode_with(&vector(REQUEST)[..4], small));
    assert!(matches!(err, DecodeError::FrameTooLarge { declared: 73, limit: 64 }), "{err}");
}

#[test]
fn lengths_below_a_packet_are_refused() {
    for len in 0u32..6 {
        let err = expect_decode_error(decode(&len.to_be_bytes()));
        assert!(matches!(err, DecodeError::Malformed { field: "length", .. }), "{len}: {err}");
    }
}

#[test]
fn a_partial_frame_waits_and_consumes_nothing() {
    let v = vector(REQUEST);
    let mut buf = BytesMut::from(&v[..40]);
    assert!(TarsCodec::new(Limits::DEFAULT).decode(&mut buf).unwrap().is_none());
    assert_eq!(buf.len(), 40);
}

#[test]
fn truncated_packets_give_typed_errors() {
    // Re-frame every prefix of each vector's packet as if it were whole.
    for name in [REQUEST, RESPONSE] {
        let v = vector(name);
        for cut in 4..v.len() {
            let r = decode(&framed(&v[4..cut]));
            // Before the required fields end (the function name of a request, the return
            // code of a reply), nothing decodes.
            let required_end = if name == REQUEST { 55 } else { 10 };
            if cut < required_end {
                assert!(r.is_err(), "{name} cut at {cut}: {r:?}");
            }
            if let Err(e) = &r {
                assert!(
                    matches!(e, DecodeError::Malformed { .. } | DecodeError::Unsupported { .. }),
                    "{name} cut at {cut}: {e}"
                );
            }
        }
    }
    // A string whose length overruns the packet.
    let v = vector(REQUEST);
    let mut bad = v.clone();
    bad[11] = 0xff; // servant length 31 → 255
    let err = expect_decode_error(decode(&bad));
    assert!(matches!(err, DecodeError::Malformed { offset: 10, .. }), "{err}");
}

#[test]
fn deep_nesting_gives_too_deep_quickly() {
    // An unknown tag-11 field holding a million nested lists, and one holding structs.
    let mut lists = vec![0xb9u8, 0x00, 0x01];
    lists.extend([0x09u8, 0x00, 0x01].repeat(1_000_000));
    lists.push(0x0c);
    let mut structs = vec![0xbau8];
    structs.extend(vec![0x0au8; 1_000_000]);
    for extra in [lists, structs] {
        let frame = request_with(&extra);
        let limits = Limits { max_frame_bytes: 8 << 20, ..Limits::DEFAULT };
        let t = Instant::now();
        let err = expect_decode_error(decode_with(&frame, limits));
        assert!(matches!(err, DecodeError::TooDeep { limit: 64, .. }), "{err}");
        assert!(t.elapsed() < Duration::from_secs(1));
    }
}

#[test]
fn the_nesting_limit_is_configurable() {
    // tag 11: list[list[list[0]]] — three levels.
    let frame = request_with(&[0xb9, 0x00, 0x01, 0x09, 0x00, 0x01, 0x09, 0x00, 0x01, 0x0c]);
    let at = |n| decode_with(&frame, Limits { max_nesting: n, ..Limits::DEFAULT });
    assert!(at(3).unwrap().is_some());
    assert!(matches!(at(2), Err(DecodeError::TooDeep { limit: 2, .. })));
}

#[test]
fn unknown_tags_are_skipped_and_kept() {
    // Tags 11, 20 (extended) and 0 after the known fields.
    let mut extra = BytesMut::new();
    write_int(&mut extra, 11, 5);
    write_string(&mut extra, 20, b"x").unwrap();
    let frame = request_with(&extra);
    let f = decode(&frame).unwrap().unwrap();
    assert_eq!(f.original_bytes()[..], frame[..]);
}

#[test]
fn structural_mistakes_are_named() {
    // Duplicate tag 10.
    let err = expect_decode_error(decode(&request_with(&[0xa8, 0x0c])));
    assert!(matches!(err, DecodeError::Malformed { reason: "duplicate tag", .. }), "{err}");
    // Undefined type code 14.
    let err = expect_decode_error(decode(&request_with(&[0xbe])));
    assert!(matches!(err, DecodeError::Unsupported { value: 14, .. }), "{err}");
    // iVersion 4.
    let mut v = vector(REQUEST);
    v[5] = 4;
    let err = expect_decode_error(decode(&v));
    assert!(matches!(err, DecodeError::Unsupported { field: "iVersion", value: 4, .. }), "{err}");
    // cPacketType 7.
    let v = vector(REQUEST);
    let p = [&v[4..6], &[0x20, 0x07], &v[7..]].concat();
    let err = expect_decode_error(decode(&framed(&p)));
    assert!(matches!(err, DecodeError::Unsupported { field: "cPacketType", .. }), "{err}");
    // A request id wider than int32.
    let p = [&v[4..8], &[0x43, 0, 0, 0, 1, 0, 0, 0, 0], &v[10..]].concat();
    let err = expect_decode_error(decode(&framed(&p)));
    assert!(matches!(err, DecodeError::Unsupported { field: "iRequestId", .. }), "{err}");
    // Context with an int value.
    let p = [&v[4..v.len() - 4], &[0x98, 0x00, 0x01, 0x06, 0x01, b'k', 0x1c, 0xa8, 0x0c]].concat();
    let err = expect_decode_error(decode(&framed(&p)));
    assert!(matches!(err, DecodeError::Malformed { field: "context", .. }), "{err}");
    // No servant name and no buffer: neither packet struct.
    let err = expect_decode_error(decode(&framed(&[0x10, 0x01, 0x2c, 0x3c, 0x4c])));
    assert!(matches!(err, DecodeError::Malformed { field: "packet", .. }), "{err}");
    // A struct end at the top level.
    let err = expect_decode_error(decode(&request_with(&[0x0b])));
    assert!(matches!(err, DecodeError::Malformed { .. }), "{err}");
}

#[test]
fn the_header_section_is_limited() {
    let big = "v".repeat(70_000);
    let frame =
        RequestPacket { context: &[("k", big.as_str())], ..RequestPacket::new(1, "S", "f", &[]) }
            .to_frame()
            .unwrap();
    let err = expect_decode_error(decode(frame.original_bytes()));
    assert!(matches!(err, DecodeError::HeaderTooLarge { .. }), "{err}");
    // A large body does not count against it.
    let body = vec![7u8; 200_000];
    let frame = RequestPacket::new(1, "S", "f", &body).to_frame().unwrap();
    assert!(decode(frame.original_bytes()).unwrap().is_some());
}

#[test]
fn huge_declared_counts_fail_without_allocating_or_waiting() {
    // A context map declaring 2^31-1 entries in a 30-byte packet.
    let v = vector(REQUEST);
    let mut extra = BytesMut::new();
    write_map_header(&mut extra, 11, i32::MAX as usize).unwrap();
    extra.put_u8(0x0c);
    let err = expect_decode_error(decode(&request_with(&extra)));
    assert!(matches!(err, DecodeError::Malformed { .. }), "{err}");
    assert!(v.len() < 100);
}

#[test]
fn fuzz_entry_points_accept_the_vectors() {
    assert_eq!(crate::fuzz_decode(&vector(REQUEST)), Ok(1));
    let both = [vector(REQUEST), vector(RESPONSE)].concat();
    assert_eq!(crate::fuzz_decode(&both), Ok(2));
    assert_eq!(crate::fuzz_decode(b"GET / HTTP/1.1\r\n"), Ok(0));
}

proptest! {
    #[test]
    fn arbitrary_packets_never_panic(packet in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode(&framed(&packet));
        prop_assert!(crate::fuzz_decode(&framed(&packet)).is_ok());
    }

    #[test]
    fn mutated_vectors_never_panic_and_round_trip_when_they_decode(
        flips in proptest::collection::vec((4usize..73, any::<u8>()), 1..4)
    ) {
        let mut v = vector(REQUEST);
        for (i, b) in flips {
            v[i] = b;
        }
        if let Ok(Some(f)) = decode(&v) {
            prop_assert_eq!(&f.original_bytes()[..], &v[..]);
        }
        prop_assert!(crate::fuzz_decode(&v).is_ok());
    }
}

#[test]
fn committed_fuzz_seeds_decode_and_replay_cleanly() {
    let corpus = format!("{}/../../fuzz/corpus", env!("CARGO_MANIFEST_DIR"));
    let mut decoded = 0;
    for entry in std::fs::read_dir(format!("{corpus}/tars_decode")).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        let frames = crate::fuzz_decode(&data).unwrap();
        assert!(frames >= 1, "every decode seed holds a valid frame");
        decoded += frames;
    }
    assert!(decoded >= 9, "{decoded}");
    for entry in std::fs::read_dir(format!("{corpus}/tars_tlv")).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let (fields, err) = crate::fuzz_tlv(&data, 64);
        let deep = path.to_string_lossy().contains("deep");
        assert_eq!(err.is_some(), deep, "{path:?}: {fields} fields, {err:?}");
    }
}
