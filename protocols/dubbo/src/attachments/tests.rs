use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use xprotocol::{Codec, EncodeError, Frame, Limits, StreamKind};

use crate::builder::BUILD_LIMITS;
use crate::header::Header;
use crate::hessian2::Writer;
use crate::{DubboCodec, DubboFrame, RequestBuilder};

const VECTOR: &str = include_str!("../../../../testdata/vectors/dubbo-request-sayHello.hex");

fn vector() -> Vec<u8> {
    xprotocol::testkit::hex(VECTOR)
}

fn decode(bytes: &[u8]) -> DubboFrame {
    let mut buf = BytesMut::from(bytes);
    let f = DubboCodec::new(BUILD_LIMITS).decode(&mut buf).unwrap().unwrap();
    assert!(buf.is_empty());
    f
}

fn encode(f: &DubboFrame) -> Vec<u8> {
    let mut out = BytesMut::new();
    DubboCodec::new(Limits::DEFAULT).encode(f, &mut out).unwrap();
    out.to_vec()
}

fn headers(f: &DubboFrame) -> Vec<(String, String)> {
    let mut all = Vec::new();
    f.for_each_header(&mut |k, v| all.push((k.to_owned(), v.to_owned())));
    all
}

/// The vector's request with `attachments` instead of its own.
fn vector_with(attachments: &[(&str, &str)]) -> Vec<u8> {
    let mut args = BytesMut::new();
    Writer::new(&mut args).string("world").int(42);
    let frame = RequestBuilder {
        id: 0,
        dubbo_version: "2.4.10",
        version: "1.0.0",
        parameter_types: "Ljava/lang/String;I",
        arguments: &args,
        attachments,
        ..RequestBuilder::new("com.example.DemoService", "sayHello")
    }
    .build()
    .unwrap();
    encode(&frame)
}

const SERVICE: &str = "com.example.DemoService";

#[test]
fn adding_then_removing_gives_back_the_vector() {
    let bytes = vector();
    let mut f = decode(&bytes);
    f.set_header("x-gateway", "xproxy").unwrap();
    let added = decode(&encode(&f));
    assert_eq!(added.header("x-gateway"), Some("xproxy"));
    assert_eq!(added.method(), Some("sayHello"));
    assert_eq!(added.arguments(), Some(&b"\x05world\xba"[..]));
    f.remove_header("x-gateway").unwrap();
    assert_eq!(hex::encode(encode(&f)), hex::encode(&bytes));
    // Setting a value it already has, or removing an absent key, changes no byte.
    f.set_header("traceId", "abc").unwrap();
    f.remove_header("absent").unwrap();
    assert_eq!(hex::encode(encode(&f)), hex::encode(&bytes));
}

#[test]
fn edits_match_a_request_built_with_the_edited_attachments() {
    let mut f = decode(&vector());
    f.set_header("traceId", "a much longer trace id than before").unwrap();
    f.set_header("x-via", "gw").unwrap();
    f.remove_header("group").unwrap();
    let want = vector_with(&[
        ("path", SERVICE),
        ("interface", SERVICE),
        ("version", "1.0.0"),
        ("traceId", "a much longer trace id than before"),
        ("x-via", "gw"),
    ]);
    assert_eq!(hex::encode(encode(&f)), hex::encode(&want));
    assert_eq!(f.group(), None, "routing ranges follow the new body");
    assert_eq!(f.version(), Some("1.0.0"));
    assert_eq!(f.header_fields().body_len as usize, f.body().len());
}

#[test]
fn duplicates_are_replaced_in_place_and_dropped() {
    let bytes = vector_with(&[("a", "1"), ("b", "2"), ("a", "3")]);
    let mut f = decode(&bytes);
    f.set_header("a", "new").unwrap();
    assert_eq!(hex::encode(encode(&f)), hex::encode(vector_with(&[("a", "new"), ("b", "2")])));
    let mut f = decode(&bytes);
    f.remove_header("a").unwrap();
    assert_eq!(hex::encode(encode(&f)), hex::encode(vector_with(&[("b", "2")])));
}

fn request_with_body(body: &[u8]) -> DubboFrame {
    let header = Header { flags: 0xc2, status: 0, id: 77, body_len: 0 };
    DubboFrame::from_parts(header, Bytes::copy_from_slice(body), &BUILD_LIMITS).unwrap()
}

#[test]
fn a_missing_or_null_map_gets_one() {
    for body in [&b"\x01a\x01b\x01c\x01d\x00"[..], b"\x01a\x01b\x01c\x01d\x00N"] {
        let mut f = request_with_body(body);
        let before = f.clone();
        f.remove_header("k").unwrap();
        assert_eq!(f, before);
        f.set_header("k", "v").unwrap();
        assert_eq!(&f.body()[..], b"\x01a\x01b\x01c\x01d\x00H\x01k\x01vZ");
        assert_eq!((f.header("k"), f.request_id().0), (Some("v"), 77));
    }
}

#[test]
fn object_values_are_refused_and_other_entries_kept_byte_for_byte() {
    // {"obj": {"x": 1}, "s": "t", 5: "five"} after one argument holding a class definition.
    let mut body = BytesMut::new();
    let mut w = Writer::new(&mut body);
    w.string("2.0.2").string("S").string("").string("m").string("Ljava/lang/Object;");
    w.class_definition("P", &["f"]).object_begin(0).int(1);
    w.map_begin().string("obj").map_begin().string("x").int(1).end();
    w.string("s").string("t").int(5).string("five").string("p").object_begin(0).int(2).end();
    let mut f = request_with_body(&body);
    let before = f.clone();
    for name in ["obj", "p"] {
        assert!(matches!(f.set_header(name, "v"), Err(EncodeError::Unencodable(_))));
        assert!(matches!(f.remove_header(name), Err(EncodeError::Unencodable(_))));
        assert_eq!(f, before, "a refused edit changes nothing");
    }
    f.set_header("s", "u").unwrap();
    f.set_header("new", "n").unwrap();
    let mut want = BytesMut::new();
    let mut w = Writer::new(&mut want);
    w.string("2.0.2").string("S").string("").string("m").string("Ljava/lang/Object;");
    w.class_definition("P", &["f"]).object_begin(0).int(1);
    w.map_begin().string("obj").map_begin().string("x").int(1).end();
    w.string("s").string("u").int(5).string("five").string("p").object_begin(0).int(2);
    w.string("new").string("n").end();
    assert_eq!(hex::encode(f.body()), hex::encode(&want));
}

#[test]
fn only_hessian2_requests_are_editable() {
    let opaque = DubboFrame::trusted(
        Header { flags: 0xc6, status: 0, id: 3, body_len: 0 },
        Bytes::from_static(b"\"2.0.2\"\n"),
    );
    let response = DubboFrame::error_response(1, crate::Status::ServiceError, "boom");
    let heartbeat = DubboFrame::heartbeat_request(2);
    for mut f in [opaque, response, heartbeat] {
        let before = f.clone();
        assert!(matches!(f.set_header("k", "v"), Err(EncodeError::Unencodable(_))), "{f:?}");
        assert!(matches!(f.remove_header("k"), Err(EncodeError::Unencodable(_))), "{f:?}");
        assert_eq!(f, before);
    }
}

/// Values the property test sets: BMP text (hessian2 writes astral characters as CESU-8,
/// which `header` does not read as UTF-8).
fn bmp_text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 _.:é中-]{0,40}"
}

proptest! {
    #[test]
    fn edits_keep_everything_else(
        f in crate::arbitrary::request(),
        pick in any::<usize>(),
        fresh in "[a-z]{1,10}",
        value in bmp_text(),
    ) {
        let existing = headers(&f);
        let name = existing.get(pick % (existing.len() + 1)).map_or(fresh, |(k, _)| k.clone());
        let others = |g: &DubboFrame| {
            headers(g).into_iter().filter(|(k, _)| *k != name).collect::<Vec<_>>()
        };
        let args_end = {
            let args = f.arguments().unwrap_or_default();
            args.as_ptr() as usize - f.body().as_ptr() as usize + args.len()
        };
        let mut edited = f.clone();
        match edited.set_header(&name, &value) {
            Err(EncodeError::Unencodable(_)) => {
                prop_assert_eq!(&edited, &f);
                return Ok(());
            }
            Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
            Ok(()) => {}
        }
        for (g, want) in [(edited.clone(), Some(value.as_str())), ({
            let mut g = edited.clone();
            g.remove_header(&name).unwrap();
            g
        }, None)] {
            let back = decode(&encode(&g));
            prop_assert_eq!(back.header(&name), want);
            prop_assert_eq!(others(&back), others(&f));
            prop_assert_eq!(back.body().get(..args_end), f.body().get(..args_end));
            prop_assert_eq!(back.arguments(), f.arguments());
            prop_assert_eq!(
                (back.service(), back.method(), back.version(), back.dubbo_version()),
                (f.service(), f.method(), f.version(), f.dubbo_version())
            );
            prop_assert_eq!(back.request_id(), f.request_id());
            prop_assert_eq!(back.kind(), f.kind());
            prop_assert!(matches!(back.kind(), StreamKind::Request | StreamKind::OneWayRequest));
        }
    }
}
