use xprotocol::{Failure, Frame, Protocol, RequestId, StreamKind};

use super::{decode, encode, vector, REQUEST};
use crate::{status, RequestPacket, Shape, Tars};

#[test]
fn error_replies_carry_the_code_message_version_and_id() {
    let req = decode(&vector(REQUEST));
    for failure in Failure::ALL {
        let reply = Tars.error_reply(&req, failure, "no route to servant").unwrap();
        let back = decode(&encode(&reply));
        assert_eq!(back.shape(), Shape::Response);
        assert_eq!(back.kind(), StreamKind::Response);
        assert_eq!(back.request_id(), RequestId(2));
        assert_eq!(back.tars_version(), 1);
        assert_eq!(back.ret(), Some(status::return_code(failure)));
        assert_eq!(back.result_desc(), b"no route to servant");
        assert_eq!(Tars.http_status(back.status().unwrap()), failure.http_status());
    }
    let reply = Tars.error_reply(&req, Failure::Timeout, "t").unwrap();
    assert_eq!(reply.ret(), Some(-7));
    let reply = Tars.error_reply(&req, Failure::NoRoute, "t").unwrap();
    assert_eq!(reply.ret(), Some(-4));
}

#[test]
fn tup_requests_get_tup_replies() {
    let req =
        RequestPacket { version: 3, message_type: 0, ..RequestPacket::new(-5, "A.B.C", "f", &[]) }
            .to_frame()
            .unwrap();
    let reply = Tars.error_reply(&req, Failure::Overloaded, "busy").unwrap();
    let back = decode(&encode(&reply));
    assert_eq!(back.shape(), Shape::Request);
    assert_eq!(back.kind(), StreamKind::Response);
    assert_eq!(back.tars_version(), 3);
    assert_eq!(back.tars_request_id(), -5);
    assert_eq!(back.status_entry("STATUS_RESULT_CODE"), Some("-9"));
    assert_eq!(back.result_desc(), b"busy");
    assert_eq!((back.service(), back.method()), (Some("A.B.C"), Some("f")));
}

#[test]
fn one_way_requests_and_replies_get_no_error_reply() {
    let oneway = RequestPacket { packet_type: 1, ..RequestPacket::new(1, "A.B.C", "f", &[]) }
        .to_frame()
        .unwrap();
    assert!(Tars.error_reply(&oneway, Failure::Timeout, "x").is_none());
    let reply = Tars.error_reply(&decode(&vector(REQUEST)), Failure::Timeout, "x").unwrap();
    assert!(Tars.error_reply(&reply, Failure::Timeout, "x").is_none());
}

#[test]
fn no_heartbeats_and_an_i32_id_space() {
    assert!(Tars.heartbeat_request(RequestId(1)).is_none());
    assert_eq!(Tars.max_request_id(), i32::MAX as u64);
    assert_eq!(Tars.name(), "tars");
}
