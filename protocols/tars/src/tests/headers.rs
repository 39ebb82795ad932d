//! Context edits: set and remove, alone and with an id rewrite, against the builders.

use bytes::BytesMut;
use proptest::prelude::*;
use xprotocol::{Frame, RequestId, StreamKind};

use super::{decode, encode, vector, REQUEST, RESPONSE};
use crate::tlv::{write_bytes, write_int, write_map_header, write_string};
use crate::{RequestPacket, ResponsePacket};

const SERVANT: &str = "TARS.NodeTarsServer.NodeTarsObj";
const ARGS: &[u8] = &[0x16, 0x05, b'c', b'z', b'z', b'o', b'u'];

fn vector_request(id: i32, context: &[(&str, &str)]) -> Vec<u8> {
    let mut out = BytesMut::new();
    RequestPacket { timeout: 3000, context, ..RequestPacket::new(id, SERVANT, "getUsrName", ARGS) }
        .encode(&mut out)
        .unwrap();
    out.to_vec()
}

fn headers(f: &impl Frame) -> Vec<(String, String)> {
    let mut all = Vec::new();
    f.for_each_header(&mut |k, v| all.push((k.to_owned(), v.to_owned())));
    all
}

#[test]
fn a_context_with_an_extended_head_reads_and_edits() {
    // The vector request without its context and status maps (`98 0c a8 0c`), then a context
    // whose head is written in the two-byte form (`f8 09`) and the status map.
    let v = vector_request(2, &[]);
    let mut packet = v[4..v.len() - 4].to_vec();
    packet.extend_from_slice(&[0xf8, 0x09, 0x00, 0x01, 0x06, 0x01, b'k', 0x16, 0x01, b'v']);
    packet.extend_from_slice(&[0xa8, 0x0c]);
    let mut bytes = ((packet.len() + 4) as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(&packet);
    let mut f = decode(&bytes);
    assert_eq!(headers(&f), [("k".to_owned(), "v".to_owned())]);
    assert_eq!(f.timeout_ms(), 3000);
    f.set_header("k", "w").unwrap();
    let back = decode(&encode(&f));
    assert_eq!(headers(&back), [("k".to_owned(), "w".to_owned())]);
    assert_eq!(back.body(), f.body());
}

#[test]
fn adding_then_removing_gives_back_the_vectors() {
    for name in [REQUEST, RESPONSE] {
        let bytes = vector(name);
        let mut f = decode(&bytes);
        f.set_header("x-gateway", "xproxy").unwrap();
        let added = encode(&f);
        assert_eq!(added.len(), f.wire_len());
        let back = decode(&added);
        assert_eq!(back.header("x-gateway"), Some("xproxy"), "{name}");
        assert_eq!(back.body(), f.body());
        f.remove_header("x-gateway").unwrap();
        assert_eq!(hex::encode(encode(&f)), hex::encode(&bytes), "{name}");
        f.remove_header("absent").unwrap();
        assert_eq!(encode(&f), bytes, "{name}");
    }
}

#[test]
fn edits_match_a_request_built_with_that_context() {
    let mut f = decode(&vector(REQUEST));
    let body = f.body().as_ptr();
    f.set_header("a", "1").unwrap();
    f.set_header("b", "2").unwrap();
    f.set_header("a", "one").unwrap();
    assert_eq!(encode(&f), vector_request(2, &[("a", "one"), ("b", "2")]));
    assert_eq!(f.header("a"), Some("one"));
    assert_eq!(f.body().as_ptr(), body, "sBuffer is not copied");
    f.remove_header("a").unwrap();
    assert_eq!(encode(&f), vector_request(2, &[("b", "2")]));
}

#[test]
fn edits_and_id_rewrites_combine_in_any_order() {
    for id_first in [true, false] {
        let mut f = decode(&vector(REQUEST));
        if id_first {
            f.set_request_id(RequestId(300)).unwrap();
        }
        f.set_header("trace", "t").unwrap();
        if !id_first {
            f.set_request_id(RequestId(70_000)).unwrap();
        }
        let id = if id_first { 300 } else { 70_000 };
        let out = encode(&f);
        assert_eq!(out.len(), f.wire_len());
        assert_eq!(out, vector_request(id, &[("trace", "t")]), "id first: {id_first}");
        // Back to the original id and context: the original bytes.
        f.set_request_id(RequestId(2)).unwrap();
        f.remove_header("trace").unwrap();
        assert_eq!(encode(&f), vector(REQUEST));
    }
}

#[test]
fn duplicates_are_replaced_in_place_and_dropped() {
    let bytes = vector_request(2, &[("a", "1"), ("b", "2"), ("a", "3")]);
    let mut f = decode(&bytes);
    f.set_header("a", "x").unwrap();
    assert_eq!(encode(&f), vector_request(2, &[("a", "x"), ("b", "2")]));
    let mut f = decode(&bytes);
    f.remove_header("a").unwrap();
    assert_eq!(encode(&f), vector_request(2, &[("b", "2")]));
}

/// A request without a context field, with a status map after where it would be.
fn request_without_context() -> Vec<u8> {
    let mut p = BytesMut::new();
    write_int(&mut p, 1, 1);
    write_int(&mut p, 2, 0);
    write_int(&mut p, 3, 0);
    write_int(&mut p, 4, 2);
    write_string(&mut p, 5, SERVANT.as_bytes()).unwrap();
    write_string(&mut p, 6, b"getUsrName").unwrap();
    write_bytes(&mut p, 7, ARGS).unwrap();
    write_int(&mut p, 8, 3000);
    write_map_header(&mut p, 10, 1).unwrap();
    write_string(&mut p, 0, b"s").unwrap();
    write_string(&mut p, 1, b"t").unwrap();
    let mut wire = ((p.len() + 4) as u32).to_be_bytes().to_vec();
    wire.extend_from_slice(&p);
    wire
}

#[test]
fn a_missing_context_is_inserted_in_tag_order() {
    let bytes = request_without_context();
    let mut f = decode(&bytes);
    f.remove_header("k").unwrap();
    assert_eq!(encode(&f), bytes, "removing from no context changes nothing");
    f.set_header("k", "v").unwrap();
    let mut want = BytesMut::new();
    RequestPacket {
        timeout: 3000,
        context: &[("k", "v")],
        status: &[("s", "t")],
        ..RequestPacket::new(2, SERVANT, "getUsrName", ARGS)
    }
    .encode(&mut want)
    .unwrap();
    assert_eq!(hex::encode(encode(&f)), hex::encode(&want));
    let back = decode(&want);
    assert_eq!((back.header("k"), back.status_entry("s")), (Some("v"), Some("t")));
}

#[test]
fn responses_have_an_editable_context_too() {
    let results = b"r";
    let bytes = ResponsePacket::new(9, results).to_frame().unwrap().original_bytes().to_vec();
    let mut f = decode(&bytes);
    f.set_header("k", "v").unwrap();
    let want = ResponsePacket { context: &[("k", "v")], ..ResponsePacket::new(9, results) };
    assert_eq!(encode(&f), want.to_frame().unwrap().original_bytes().to_vec());
}

proptest! {
    #[test]
    fn edits_keep_everything_else(
        f in crate::arbitrary::frames(),
        pick in any::<usize>(),
        fresh in "[a-z]{1,10}",
        value in "[ -~é中]{0,40}",
        new_id in proptest::option::of(0u64..=u64::from(u32::MAX)),
    ) {
        let existing = headers(&f);
        let name = existing.get(pick % (existing.len() + 1)).map_or(fresh, |(k, _)| k.clone());
        let others = |g: &crate::TarsFrame| {
            headers(g).into_iter().filter(|(k, _)| *k != name).collect::<Vec<_>>()
        };
        let mut statuses = Vec::new();
        f.for_each_status(&mut |k, v| statuses.push(format!("{k}={v}")));
        let mut edited = f.clone();
        if let Some(id) = new_id {
            edited.set_request_id(RequestId(id)).unwrap();
        }
        let want_id = edited.request_id();
        edited.set_header(&name, &value).unwrap();
        let mut removed = edited.clone();
        removed.remove_header(&name).unwrap();
        for (g, want) in [(edited, Some(value.as_str())), (removed, None)] {
            let out = encode(&g);
            prop_assert_eq!(out.len(), g.wire_len());
            let back = decode(&out);
            prop_assert_eq!(back.header(&name), want);
            prop_assert_eq!(g.header(&name), want);
            prop_assert_eq!(others(&back), others(&f));
            prop_assert_eq!(back.body(), f.body());
            prop_assert_eq!(back.request_id(), want_id);
            prop_assert_eq!((back.kind(), back.service(), back.method()), (f.kind(), f.service(), f.method()));
            prop_assert_eq!(back.status(), f.status());
            let mut back_statuses = Vec::new();
            back.for_each_status(&mut |k, v| back_statuses.push(format!("{k}={v}")));
            prop_assert_eq!(&back_statuses, &statuses);
            prop_assert!(back.kind() != StreamKind::GoAway);
        }
    }
}
