use xprotocol::{Frame, RequestId, StreamKind};

use super::{decode, encode, vector, REQUEST, RESPONSE};
use crate::{RequestPacket, ResponsePacket, Shape, Tars};

const SERVANT: &str = "TARS.NodeTarsServer.NodeTarsObj";
/// getUsrName's arguments: tag 1 string "czzou".
const ARGS: &[u8] = &[0x16, 0x05, b'c', b'z', b'z', b'o', b'u'];

fn results() -> Vec<u8> {
    // tag 0 int32 100002, tag 2 "OUT_czzou_1", tag 3 "OUT_czzou_2".
    let mut v = vec![0x02, 0x00, 0x01, 0x86, 0xa2, 0x26, 0x0b];
    v.extend_from_slice(b"OUT_czzou_1");
    v.extend_from_slice(&[0x36, 0x0b]);
    v.extend_from_slice(b"OUT_czzou_2");
    v
}

#[test]
fn request_vector_decodes_to_its_documented_fields() {
    let bytes = vector(REQUEST);
    let f = xprotocol::testkit::check_vector(&Tars, &bytes);
    assert_eq!(f.kind(), StreamKind::Request);
    assert_eq!(f.shape(), Shape::Request);
    assert_eq!(f.tars_version(), 1);
    assert_eq!(f.packet_type(), 0);
    assert_eq!(f.message_type(), 0);
    assert_eq!(f.request_id(), RequestId(2));
    assert_eq!(f.service(), Some(SERVANT));
    assert_eq!(f.method(), Some("getUsrName"));
    assert_eq!(&f.body()[..], ARGS);
    assert_eq!(f.timeout_ms(), 3000);
    assert_eq!(f.status(), None);
    let mut n = 0;
    f.for_each_header(&mut |_, _| n += 1);
    f.for_each_status(&mut |_, _| n += 1);
    assert_eq!(n, 0);
    assert_eq!(encode(&f), bytes);
}

#[test]
fn response_vector_decodes_to_its_documented_fields() {
    let bytes = vector(RESPONSE);
    let f = xprotocol::testkit::check_vector(&Tars, &bytes);
    assert_eq!(f.kind(), StreamKind::Response);
    assert_eq!(f.shape(), Shape::Response);
    assert_eq!(f.tars_version(), 1);
    assert_eq!(f.request_id(), RequestId(2));
    assert_eq!(f.message_type(), 0);
    assert_eq!(f.ret(), Some(0));
    assert_eq!(f.status(), Some(0));
    assert_eq!(f.body()[..], results()[..]);
    assert_eq!(f.result_desc(), b"");
    assert_eq!((f.service(), f.method()), (None, None));
}

#[test]
fn builders_reproduce_the_vectors_exactly() {
    let mut out = bytes::BytesMut::new();
    RequestPacket { timeout: 3000, ..RequestPacket::new(2, SERVANT, "getUsrName", ARGS) }
        .encode(&mut out)
        .unwrap();
    assert_eq!(out.to_vec(), vector(REQUEST));
    let results = results();
    let reply = ResponsePacket::new(2, &results).to_frame().unwrap();
    assert_eq!(reply.original_bytes().to_vec(), vector(RESPONSE));
}

#[test]
fn same_width_rewrite_changes_only_the_id_byte() {
    let bytes = vector(REQUEST);
    let mut f = decode(&bytes);
    let body_ptr = f.body().as_ptr();
    f.set_request_id(RequestId(5)).unwrap();
    let out = encode(&f);
    let diff: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i] != out[i]).collect();
    assert_eq!(out.len(), bytes.len());
    assert_eq!(diff, [9], "only the id's value byte (40 02 → 40 05) changes");
    assert_eq!(out[9], 5);
    // The body still points into the original buffer: nothing was re-encoded.
    assert_eq!(f.body().as_ptr(), body_ptr);
    assert_eq!(decode(&out).request_id(), RequestId(5));
}

#[test]
fn width_changing_rewrites_match_a_fresh_encoding() {
    let bytes = vector(REQUEST);
    for id in [0i32, 300, 70_000, i32::MAX, -1, -200, 2] {
        let mut f = decode(&bytes);
        f.set_request_id(RequestId(u64::from(id as u32))).unwrap();
        assert_eq!(f.tars_request_id(), id);
        let expected =
            RequestPacket { timeout: 3000, ..RequestPacket::new(id, SERVANT, "getUsrName", ARGS) }
                .to_frame()
                .unwrap();
        let out = encode(&f);
        assert_eq!(out, expected.original_bytes().to_vec(), "id {id}");
        assert_eq!(f.wire_len(), out.len());
        let back = decode(&out);
        assert_eq!(back.tars_request_id(), id);
        assert_eq!((back.service(), back.method()), (Some(SERVANT), Some("getUsrName")));
        assert_eq!(back.timeout_ms(), 3000);
    }
    // Responses carry the id at tag 3.
    let mut r = decode(&vector(RESPONSE));
    r.set_request_id(RequestId(123_456)).unwrap();
    let back = decode(&encode(&r));
    assert_eq!(back.request_id(), RequestId(123_456));
    assert_eq!(back.body()[..], results()[..]);
}

#[test]
fn rewriting_back_restores_the_original_bytes() {
    let bytes = vector(RESPONSE);
    let mut f = decode(&bytes);
    f.set_request_id(RequestId(99_999)).unwrap();
    f.set_request_id(RequestId(2)).unwrap();
    assert_eq!(encode(&f), bytes);
}

#[test]
fn ids_beyond_u32_are_refused() {
    let mut f = decode(&vector(REQUEST));
    let err = f.set_request_id(RequestId(1 << 32)).unwrap_err();
    assert!(matches!(err, xprotocol::EncodeError::RequestIdOutOfRange { .. }), "{err}");
    assert_eq!(f.request_id(), RequestId(2));
}

#[test]
fn context_and_status_are_read_in_place() {
    let f = RequestPacket {
        context: &[("trace-id", "t1"), ("set", "sz.1")],
        status: &[("STATUS_DYED_KEY", "u42")],
        message_type: 0x04,
        ..RequestPacket::new(7, SERVANT, "getall", &[])
    }
    .to_frame()
    .unwrap();
    assert_eq!(f.header("trace-id"), Some("t1"));
    assert_eq!(f.header("set"), Some("sz.1"));
    assert_eq!(f.header("missing"), None);
    assert_eq!(f.status_entry("STATUS_DYED_KEY"), Some("u42"));
    let mut seen = Vec::new();
    f.for_each_header(&mut |k, v| seen.push(format!("{k}={v}")));
    assert_eq!(seen, ["trace-id=t1", "set=sz.1"]);
    assert_eq!(f.message_type(), 4);
    assert_eq!(f.kind(), StreamKind::Request);
}

#[test]
fn one_way_and_tup_replies_are_told_apart_by_their_bytes() {
    let oneway = RequestPacket { packet_type: 1, ..RequestPacket::new(3, SERVANT, "test", &[]) };
    assert_eq!(
        decode(oneway.to_frame().unwrap().original_bytes()).kind(),
        StreamKind::OneWayRequest
    );
    let tup_req = RequestPacket { version: 3, ..RequestPacket::new(3, SERVANT, "test", &[]) };
    let f = decode(tup_req.to_frame().unwrap().original_bytes());
    assert_eq!((f.kind(), f.is_tup(), f.status()), (StreamKind::Request, true, None));
    let tup_reply = RequestPacket {
        version: 3,
        status: &[("STATUS_RESULT_CODE", "-7"), ("STATUS_RESULT_DESC", "timeout")],
        ..RequestPacket::new(3, SERVANT, "test", &[])
    };
    let f = decode(tup_reply.to_frame().unwrap().original_bytes());
    assert_eq!(f.kind(), StreamKind::Response);
    assert_eq!(f.ret(), Some(-7));
    assert_eq!(f.status(), Some(-7i32 as u32));
    assert_eq!(f.result_desc(), b"timeout");
    // In iVersion 1 the status key means nothing special.
    let plain = RequestPacket { status: tup_reply.status, ..tup_reply };
    let plain = RequestPacket { version: 1, ..plain };
    assert_eq!(decode(plain.to_frame().unwrap().original_bytes()).kind(), StreamKind::Request);
}
