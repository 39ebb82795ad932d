use proptest::prelude::*;
use xprotocol::{DetectResult, ProtocolSet};

use super::{vector, REQUEST, RESPONSE};
use crate::detect::{detect, MAX_DETECT_LEN};
use crate::Tars;

#[test]
fn vectors_match_and_their_prefixes_need_more() {
    for name in [REQUEST, RESPONSE] {
        let v = vector(name);
        assert_eq!(detect(&v), DetectResult::Match, "{name}");
        // The decision comes early: tags 1-5 are within the first 11 bytes of both vectors.
        assert_eq!(detect(&v[..12]), DetectResult::Match, "{name}");
        for n in 0..11 {
            assert_eq!(detect(&v[..n]), DetectResult::NeedMore, "{name}, {n} bytes");
        }
    }
}

#[test]
fn other_protocols_first_bytes_are_refused() {
    let mut foreign: Vec<(String, Vec<u8>)> = vec![
        ("http1".into(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("http1-post".into(), b"POST /a HTTP/1.1\r\n".to_vec()),
        ("h2-preface".into(), b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec()),
        ("tls".into(), vec![0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]),
    ];
    let dir = format!("{}/../../testdata/vectors", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(stem) = name.strip_suffix(".hex") {
            if !stem.starts_with("tars-") {
                foreign.push((stem.to_owned(), vector(stem)));
            }
        }
    }
    assert!(foreign.iter().any(|(n, _)| n.starts_with("bolt-v1")), "bolt vectors missing");
    assert!(foreign.iter().any(|(n, _)| n.starts_with("dubbo")), "dubbo vector missing");
    for (name, bytes) in &foreign {
        // Refused from the first byte on, so that no other protocol's connection is held up by
        // us; except Bolt v1, whose `0x01` may begin a 16 MiB length prefix: refused by the
        // fifth byte (Bolt's `ver2` where Tars has its tag-1 head).
        let first = if name.starts_with("bolt-v1") { 5 } else { 1 };
        for n in first..=bytes.len() {
            assert_eq!(detect(&bytes[..n]), DetectResult::NoMatch, "{name}, {n} bytes");
        }
    }
}

#[test]
fn length_prefix_bounds() {
    assert_eq!(detect(&[0x00, 0x00, 0x00, 0x09]), DetectResult::NoMatch);
    assert_eq!(detect(&[0x00, 0x00, 0x00, 0x0a]), DetectResult::NeedMore);
    assert_eq!(detect(&MAX_DETECT_LEN.to_be_bytes()), DetectResult::NeedMore);
    assert_eq!(detect(&(MAX_DETECT_LEN + 1).to_be_bytes()), DetectResult::NoMatch);
    // Exactly the default frame limit (16 MiB) is a length the codec accepts, so detected:
    // `01 00 00 00` (Bolt v1's detector refuses such a packet by its lengths), and nothing over.
    assert_eq!(MAX_DETECT_LEN, 16 << 20);
    assert_eq!(detect(&[0x01]), DetectResult::NeedMore);
    assert_eq!(detect(&[0x01, 0x00, 0x00, 0x00]), DetectResult::NeedMore);
    assert_eq!(detect(&[0x01, 0x00, 0x00, 0x01]), DetectResult::NoMatch);
    assert_eq!(detect(&[0x01, 0x01]), DetectResult::NoMatch);
    assert_eq!(detect(&[0x02]), DetectResult::NoMatch);
    assert_eq!(detect(&[0x00, 0xff]), DetectResult::NeedMore);
}

#[test]
fn inconsistent_heads_are_refused_as_soon_as_seen() {
    let v = vector(REQUEST);
    let with = |i: usize, b: u8| {
        let mut x = v.clone();
        x[i] = b;
        x
    };
    // iVersion 4, iVersion as a string, cPacketType 2, tag 3 missing, tag 5 a map.
    for (i, b) in [(5, 0x04), (4, 0x16), (6, 0x20), (7, 0x4c), (10, 0x58)] {
        let x = with(i, b);
        let x = if (i, b) == (6, 0x20) { [&x[..6], &[0x20, 0x02], &x[7..]].concat() } else { x };
        assert_eq!(detect(&x[..i + 2]), DetectResult::NoMatch, "byte {i} = {b:#x}");
        assert_eq!(detect(&x), DetectResult::NoMatch, "byte {i} = {b:#x}");
    }
    // A declared length that ends inside the heads is refused once the bytes are there.
    let mut short = v[..9].to_vec();
    short[3] = 10;
    assert_eq!(detect(&short), DetectResult::NeedMore);
    short.push(0x02);
    assert_eq!(detect(&short), DetectResult::NoMatch);
}

#[test]
fn samples_are_detected_and_validated_by_the_registry() {
    ProtocolSet::of(vec![&Tars]).validate().unwrap();
    assert!(ProtocolSet::all().get("tars").is_some(), "Tars is registered");
}

proptest! {
    #[test]
    fn detection_never_panics_and_only_matches_plausible_prefixes(
        data in proptest::collection::vec(any::<u8>(), 0..64)
    ) {
        let r = detect(&data);
        if let Some(&first) = data.first() {
            if first != 0 {
                prop_assert_eq!(r, DetectResult::NoMatch);
            }
        }
        if r == DetectResult::Match {
            prop_assert!(data.len() >= 11);
            prop_assert_eq!(data[4] & 0xf0, 0x10);
        }
    }
}
