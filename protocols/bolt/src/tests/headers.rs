//! Header edits and the method read from a SofaRequest content.

use proptest::prelude::*;
use xprotocol::{EncodeError, Frame, RequestId, StreamKind};

use super::{decode, encode, protocol_of, vector, vectors};
use crate::arbitrary::frames;
use crate::{BoltFrame, BoltVersion, BOLT_V1};

type Entry = (Option<Vec<u8>>, Option<Vec<u8>>);

/// The raw entries of the frame's header map whose key is not `name`.
fn others(f: &BoltFrame, name: &str) -> Vec<Entry> {
    f.headers()
        .iter()
        .filter(|(k, _)| *k != Some(name.as_bytes()))
        .map(|(k, v)| (k.map(<[u8]>::to_vec), v.map(<[u8]>::to_vec)))
        .collect()
}

/// Encodes `f` and decodes it again (CRC and lengths checked by the decoder).
fn round_trip(f: &BoltFrame) -> BoltFrame {
    let p = if f.bolt_version() == BoltVersion::V1 { &crate::BOLT_V1 } else { &crate::BOLT_V2 };
    decode(p, &encode(p, f))
}

fn check_edits(f: &BoltFrame, name: &str, value: &str) -> Result<(), TestCaseError> {
    let mut edited = f.clone();
    edited.set_header(name, value).unwrap();
    let back = round_trip(&edited);
    prop_assert_eq!(back.header(name), Some(value));
    prop_assert_eq!(back.headers().iter().filter(|(k, _)| *k == Some(name.as_bytes())).count(), 1);
    prop_assert_eq!(others(&back, name), others(f, name));
    prop_assert_eq!(back.body(), f.body());
    prop_assert_eq!(back.request_id(), f.request_id());
    prop_assert_eq!(back.class_name_bytes(), f.class_name_bytes());
    prop_assert_eq!(
        (back.kind(), back.timeout(), back.status()),
        (f.kind(), f.timeout(), f.status())
    );
    prop_assert_eq!(back.crc().is_some(), f.crc().is_some());
    prop_assert_eq!(&back, &edited);

    edited.remove_header(name).unwrap();
    let back = round_trip(&edited);
    prop_assert_eq!(back.header(name), None);
    prop_assert_eq!(others(&back, name), others(f, name));
    prop_assert_eq!(back.body(), f.body());
    prop_assert_eq!(back.request_id(), f.request_id());
    Ok(())
}

fn name_of(f: &BoltFrame, pick: usize, fresh: String) -> String {
    let existing: Vec<&str> = f.headers().iter_str().map(|(k, _)| k).collect();
    match existing.get(pick % (existing.len() + 1)) {
        Some(k) => (*k).to_owned(),
        None => fresh,
    }
}

proptest! {
    #[test]
    fn edits_keep_everything_else(
        f in prop_oneof![frames(BoltVersion::V1), frames(BoltVersion::V2)],
        pick in any::<usize>(),
        fresh in "[a-z_]{0,12}",
        value in "[ -~é]{0,40}",
    ) {
        let name = name_of(&f, pick, fresh);
        check_edits(&f, &name, &value)?;
    }
}

#[test]
fn adding_then_removing_gives_back_every_vector() {
    for v in vectors() {
        let p = protocol_of(v.name);
        let mut f = decode(p, &v.bytes);
        f.set_header("x-gateway", "xproxy").unwrap();
        let added = encode(p, &f);
        assert_ne!(added, v.bytes, "{}", v.name);
        assert_eq!(decode(p, &added).header("x-gateway"), Some("xproxy"), "{}", v.name);
        f.remove_header("x-gateway").unwrap();
        assert_eq!(hex::encode(encode(p, &f)), hex::encode(&v.bytes), "{}", v.name);
        // Setting a header to its value, or removing an absent one, changes no byte.
        if let Some(service) = f.header("service").map(str::to_owned) {
            f.set_header("service", &service).unwrap();
        }
        f.remove_header("absent").unwrap();
        assert_eq!(hex::encode(encode(p, &f)), hex::encode(&v.bytes), "{}", v.name);
    }
}

#[test]
fn replacing_keeps_the_place_and_drops_duplicates() {
    let f = BoltFrame::request(BoltVersion::V2, 3)
        .ver1(2)
        .crc(true)
        .header("a", "1")
        .header_raw(None, Some(b"null key"))
        .header("b", "2")
        .header("a", "3")
        .content(&b"body"[..])
        .build()
        .unwrap();
    let mut edited = f.clone();
    edited.set_header("a", "new").unwrap();
    let want = BoltFrame::request(BoltVersion::V2, 3)
        .ver1(2)
        .crc(true)
        .header("a", "new")
        .header_raw(None, Some(b"null key"))
        .header("b", "2")
        .content(&b"body"[..])
        .build()
        .unwrap();
    assert_eq!(edited, want, "same bytes and CRC as a frame built that way");
    edited.remove_header("a").unwrap();
    let mut seen = Vec::new();
    edited.for_each_header(&mut |k, v| seen.push(format!("{k}={v}")));
    assert_eq!(seen, ["b=2"]);
    assert_eq!(edited.headers().iter().count(), 2, "the null-key entry stays");
    assert!(edited.body().as_ptr() == f.body().as_ptr(), "content is not copied");
}

#[test]
fn a_header_block_over_a_java_short_is_refused_and_changes_nothing() {
    let mut f = decode(&BOLT_V1, &vector("bolt-v1-request"));
    let before = f.clone();
    let big = "v".repeat(0x8000);
    let err = f.set_header("big", &big).unwrap_err();
    assert!(matches!(err, EncodeError::TooLong { field: "header block", .. }), "{err:?}");
    assert_eq!(f, before);
}

#[test]
fn every_request_vector_routes_on_the_method_in_its_content() {
    let mut n = 0;
    for v in vectors() {
        let f = decode(protocol_of(v.name), &v.bytes);
        let want = matches!(f.kind(), StreamKind::Request | StreamKind::OneWayRequest)
            .then_some("sayHello");
        assert_eq!(f.method(), want, "{}", v.name);
        n += usize::from(want.is_some());
    }
    assert_eq!(n, 6);
}

#[test]
fn the_method_header_wins_and_other_codecs_or_classes_are_not_read() {
    let content = decode(&BOLT_V1, &vector("bolt-v1-request")).body().clone();
    let class = "com.alipay.sofa.rpc.core.request.SofaRequest";
    let build = |codec: u8, class: &str, method: Option<&str>| {
        let mut b =
            BoltFrame::request(BoltVersion::V1, 1).codec(codec).class_name(class.to_owned());
        if let Some(m) = method {
            b = b.header("sofa_head_method_name", m);
        }
        b.content(content.clone()).build().unwrap()
    };
    assert_eq!(build(1, class, None).method(), Some("sayHello"));
    assert_eq!(build(1, class, Some("fromHeader")).method(), Some("fromHeader"));
    assert_eq!(build(11, class, None).method(), None, "protobuf content is not hessian2");
    assert_eq!(build(1, "com.example.Other", None).method(), None);
}

proptest! {
    #[test]
    fn random_sofa_request_contents_never_panic(
        content in proptest::collection::vec(any::<u8>(), 0..512),
        keep in 0usize..200,
    ) {
        // A real prefix (class definition and more) followed by random bytes, and pure noise.
        let real = decode(&BOLT_V1, &vector("bolt-v1-request")).body().clone();
        let mut mixed = real.get(..keep.min(real.len())).unwrap_or_default().to_vec();
        mixed.extend_from_slice(&content);
        for body in [mixed, content] {
            let f = BoltFrame::request(BoltVersion::V1, 1)
                .class_name("com.alipay.sofa.rpc.core.request.SofaRequest")
                .content(body)
                .build()
                .unwrap();
            if let Some(m) = f.method() {
                prop_assert!(f.body().len() > m.len());
            }
        }
    }
}

#[test]
fn edits_need_no_particular_request_id() {
    let mut f = decode(&crate::BOLT_V2, &vector("bolt-v2-crc-request"));
    f.set_request_id(RequestId(99)).unwrap();
    f.set_header("k", "v").unwrap();
    let back = round_trip(&f);
    assert_eq!((back.request_id(), back.header("k")), (RequestId(99), Some("v")));
}
