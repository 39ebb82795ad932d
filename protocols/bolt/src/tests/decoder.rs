//! Decoder discipline: waiting, limits before waiting, typed errors, CRC, detection.

use bytes::BytesMut;
use xprotocol::{Codec, DecodeError, DetectResult, Frame, Limits, Protocol, StreamKind};

use super::{decode, protocol_of, vector, vectors};
use crate::{BoltFrame, BoltVersion, BOLT_V1, BOLT_V2};

fn decode_err(p: &crate::Bolt, limits: Limits, bytes: &[u8]) -> DecodeError {
    let mut buf = BytesMut::from(bytes);
    p.codec(limits).decode(&mut buf).unwrap_err()
}

#[test]
fn truncated_input_waits_and_consumes_nothing() {
    for v in vectors() {
        let mut codec = protocol_of(v.name).codec(Limits::DEFAULT);
        for len in 0..v.bytes.len() {
            let mut buf = BytesMut::from(&v.bytes[..len]);
            assert!(codec.decode(&mut buf).unwrap().is_none(), "{} at {len}", v.name);
            assert_eq!(&buf[..], &v.bytes[..len], "{} at {len}: consumed", v.name);
        }
    }
}

#[test]
fn frames_back_to_back_decode_in_order() {
    let mut buf = BytesMut::new();
    for name in ["bolt-v2-crc-request", "bolt-v2-heartbeat", "bolt-v2-crc-response"] {
        buf.extend_from_slice(&vector(name));
    }
    let mut codec = BOLT_V2.codec(Limits::DEFAULT);
    let kinds: Vec<_> =
        std::iter::from_fn(|| codec.decode(&mut buf).unwrap()).map(|f| f.kind()).collect();
    assert_eq!(kinds, [StreamKind::Request, StreamKind::HeartbeatRequest, StreamKind::Response]);
    assert!(buf.is_empty());
}

#[test]
fn over_limit_lengths_are_refused_from_the_fixed_header_alone() {
    // v1 request: lengths at 14 (class), 16 (header), 18 (content).
    let mut fixed = vector("bolt-v1-request")[..22].to_vec();
    fixed[18..22].copy_from_slice(&0x7fff_0000u32.to_be_bytes());
    let err = decode_err(&BOLT_V1, Limits::DEFAULT, &fixed);
    assert!(matches!(err, DecodeError::FrameTooLarge { .. }), "{err:?}");

    let small = Limits { max_header_bytes: 64, ..Limits::DEFAULT };
    let fixed = &vector("bolt-v1-request")[..22]; // class 44 + header 62 > 64
    assert_eq!(
        decode_err(&BOLT_V1, small, fixed),
        DecodeError::HeaderTooLarge { declared: 106, limit: 64 }
    );

    // The CRC trailer counts: a frame exactly at the limit without it is over with it.
    let crc = vector("bolt-v2-crc-response");
    let limits = Limits { max_frame_bytes: crc.len() - 1, ..Limits::DEFAULT };
    assert!(matches!(
        decode_err(&BOLT_V2, limits, &crc[..22]),
        DecodeError::FrameTooLarge { declared, .. } if declared == crc.len() as u64
    ));

    // Lengths the Java peers would read as negative.
    let mut fixed = vector("bolt-v2-response")[..22].to_vec();
    fixed[16..18].copy_from_slice(&0x8000u16.to_be_bytes());
    assert_eq!(
        decode_err(&BOLT_V2, Limits::DEFAULT, &fixed),
        DecodeError::malformed("header length", 16, "negative as a Java short")
    );
}

#[test]
fn crc_mismatch_is_a_typed_error() {
    let good = vector("bolt-v2-crc-request");
    let mut bad = good.clone();
    let last = bad.len() - 5;
    bad[last] ^= 1; // a content byte
    assert!(matches!(decode_err(&BOLT_V2, Limits::DEFAULT, &bad), DecodeError::Checksum { .. }));
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 1] ^= 1; // the trailer
    let err = decode_err(&BOLT_V2, Limits::DEFAULT, &bad);
    let DecodeError::Checksum { expected, actual } = err else { panic!("{err:?}") };
    assert_eq!(expected ^ 1, actual);
}

#[test]
fn crc_presence_follows_the_switch_byte() {
    // sofa-bolt-node frames a trailer iff switch == 1, whatever ver1 says.
    let f = BoltFrame::request(BoltVersion::V2, 1).ver1(1).crc(true).build().unwrap();
    let bytes = super::encode(&BOLT_V2, &f);
    assert_eq!(bytes.len(), 24 + 4);
    assert!(decode(&BOLT_V2, &bytes).crc().is_some());
    let f = BoltFrame::request(BoltVersion::V2, 1).ver1(2).build().unwrap();
    assert_eq!(decode(&BOLT_V2, &super::encode(&BOLT_V2, &f)).crc(), None);
    // Other switch values are framed differently by Java and node: refused.
    let mut hb = vector("bolt-v2-heartbeat");
    hb[11] = 3;
    assert_eq!(
        decode_err(&BOLT_V2, Limits::DEFAULT, &hb),
        DecodeError::Unsupported { field: "switch", offset: 11, value: 3 }
    );
    assert_eq!(BOLT_V2.detect(&hb), DetectResult::NoMatch);
}

#[test]
fn malformed_header_block_is_a_typed_error() {
    let mut bytes = vector("bolt-v1-request");
    // Header block starts at 22 + 44 = 66; its first key length becomes 0x7f.
    bytes[66..70].copy_from_slice(&0x7fu32.to_be_bytes());
    assert_eq!(
        decode_err(&BOLT_V1, Limits::DEFAULT, &bytes),
        DecodeError::malformed("header key", 66, "length overruns the block")
    );
    // The value length says 46 where 47 bytes follow: a 1-byte dangling key.
    let mut bytes = vector("bolt-v2-request");
    let value_len_at = 24 + 44 + 4 + 7;
    bytes[value_len_at..value_len_at + 4].copy_from_slice(&46u32.to_be_bytes());
    assert_eq!(
        decode_err(&BOLT_V2, Limits::DEFAULT, &bytes),
        DecodeError::malformed("header key", value_len_at + 4 + 46, "length prefix cut short")
    );
}

#[test]
fn each_codec_refuses_the_other_version_and_bad_fields() {
    let v2 = vector("bolt-v2-request");
    assert_eq!(
        decode_err(&BOLT_V1, Limits::DEFAULT, &v2[..1]),
        DecodeError::Unsupported { field: "proto", offset: 0, value: 2 }
    );
    let v1 = vector("bolt-v1-request");
    assert_eq!(
        decode_err(&BOLT_V2, Limits::DEFAULT, &v1),
        DecodeError::Unsupported { field: "proto", offset: 0, value: 1 }
    );
    // Unknown type, refused before the fixed header is complete.
    assert_eq!(
        decode_err(&BOLT_V1, Limits::DEFAULT, &[1, 3]),
        DecodeError::Unsupported { field: "type", offset: 1, value: 3 }
    );
    // A response-typed frame with the request cmdcode.
    let mut bad = v1[..22].to_vec();
    bad[1] = 0;
    assert_eq!(
        decode_err(&BOLT_V1, Limits::DEFAULT, &bad),
        DecodeError::Unsupported { field: "cmdcode", offset: 2, value: 1 }
    );
    // ver1 3.
    let mut bad = v2.clone();
    bad[1] = 3;
    assert_eq!(
        decode_err(&BOLT_V2, Limits::DEFAULT, &bad),
        DecodeError::Unsupported { field: "ver1", offset: 1, value: 3 }
    );
    // Encoding a frame with the other version's codec.
    let f = decode(&BOLT_V2, &v2);
    assert!(BOLT_V1.codec(Limits::DEFAULT).encode(&f, &mut BytesMut::new()).is_err());
}

#[test]
fn goaway_decodes() {
    let mut bytes = vector("bolt-v1-heartbeat");
    bytes[3] = 100;
    let f = decode(&BOLT_V1, &bytes);
    assert_eq!(f.kind(), StreamKind::GoAway);
    assert_eq!(f.cmdcode(), 100);
    assert_eq!(BOLT_V1.detect(&bytes), DetectResult::Match);
    let built = BoltFrame::goaway(BoltVersion::V2, 5).build().unwrap();
    assert_eq!(decode(&BOLT_V2, &super::encode(&BOLT_V2, &built)).kind(), StreamKind::GoAway);
}

#[test]
fn detection_refuses_early_and_matches_on_the_fixed_header() {
    // A match waits for the declared lengths at the end of the fixed header.
    let v1 = vector("bolt-v1-request");
    assert_eq!(BOLT_V1.detect(&[]), DetectResult::NeedMore);
    assert_eq!(BOLT_V1.detect(&v1[..4]), DetectResult::NeedMore);
    assert_eq!(BOLT_V1.detect(&v1[..21]), DetectResult::NeedMore);
    assert_eq!(BOLT_V1.detect(&v1[..22]), DetectResult::Match);
    let v1_response = vector("bolt-v1-response");
    assert_eq!(BOLT_V1.detect(&v1_response[..19]), DetectResult::NeedMore);
    assert_eq!(BOLT_V1.detect(&v1_response[..20]), DetectResult::Match);
    let v2 = vector("bolt-v2-crc-request");
    assert_eq!(BOLT_V2.detect(&v2[..23]), DetectResult::NeedMore);
    assert_eq!(BOLT_V2.detect(&v2[..24]), DetectResult::Match);
    // What the decoder refuses, detection refuses: a content length over the default frame
    // limit, a class length negative as a Java short.
    let mut big = v1.clone();
    big[18..22].copy_from_slice(&(16u32 << 20).to_be_bytes());
    assert_eq!(BOLT_V1.detect(&big), DetectResult::NoMatch);
    let mut negative = v1.clone();
    negative[14..16].copy_from_slice(&0x8000u16.to_be_bytes());
    assert_eq!(BOLT_V1.detect(&negative), DetectResult::NoMatch);
    // A heartbeat ack with a body is no peer's: it is a Tars packet of exactly 16 MiB.
    let ack = vector("bolt-v1-heartbeat-ack");
    assert_eq!(BOLT_V1.detect(&ack), DetectResult::Match);
    let mut tars_like = ack.clone();
    tars_like[12..14].copy_from_slice(&5u16.to_be_bytes());
    assert_eq!(BOLT_V1.detect(&tars_like), DetectResult::NoMatch);
    // Each version refuses the other.
    assert_eq!(BOLT_V1.detect(&v2), DetectResult::NoMatch);
    assert_eq!(BOLT_V2.detect(&v1), DetectResult::NoMatch);
    // Refusals on the fields beyond the first byte.
    assert_eq!(BOLT_V1.detect(&[1, 3]), DetectResult::NoMatch); // type
    assert_eq!(BOLT_V1.detect(&[1, 1, 1]), DetectResult::NoMatch); // cmdcode high byte
    assert_eq!(BOLT_V1.detect(&[1, 0, 0, 1]), DetectResult::NoMatch); // response + request code
    assert_eq!(BOLT_V1.detect(&[1, 2, 0, 0]), DetectResult::NoMatch); // one-way heartbeat
    assert_eq!(BOLT_V2.detect(&[2, 0]), DetectResult::NoMatch); // ver1 0
                                                                // Text protocols are refused at once.
    assert_eq!(BOLT_V1.detect(b"GET / HTTP/1.1"), DetectResult::NoMatch);
    assert_eq!(BOLT_V2.detect(b"PRI * HTTP/2.0"), DetectResult::NoMatch);
}

#[test]
fn the_fixed_header_is_read_from_the_head() {
    // The frame keeps no parsed copy of its fixed header (it stays within 128 bytes, which
    // moves without a call to `memcpy`): every accessor reads the head, before and after a
    // rewrite of the id and of the headers.
    assert!(std::mem::size_of::<BoltFrame>() <= 128);
    for v in vectors() {
        let p = protocol_of(v.name);
        let mut f = decode(p, &v.bytes);
        let parsed = crate::layout::parse(p.version(), &v.bytes).unwrap();
        assert_eq!(f.fixed_header(), parsed, "{}", v.name);
        assert_eq!(
            (f.bolt_version(), f.cmd_type(), f.cmdcode()),
            (p.version(), parsed.cmd_type, parsed.cmdcode)
        );
        f.set_request_id(xprotocol::RequestId(0x0102_0304)).unwrap();
        let rewritten = crate::layout::FixedHeader { request_id: 0x0102_0304, ..parsed };
        assert_eq!(f.fixed_header(), rewritten, "{}", v.name);
        if f.set_header("x-new", "value").is_ok() {
            let grown = f.fixed_header();
            assert_eq!(grown.header_len, parsed.header_len + 4 + 5 + 4 + 5, "{}", v.name);
            assert_eq!(f.header("x-new"), Some("value"));
            let back = decode(p, &super::encode(p, &f));
            assert_eq!(back.fixed_header(), grown, "{}", v.name);
        }
    }
}
