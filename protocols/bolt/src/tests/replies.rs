//! Error replies for every failure class.

use xprotocol::{Failure, Frame, Protocol, RequestId, StreamKind};

use super::{decode, encode, protocol_of, vector};
use crate::hessian::{rpc_server_exception, SOFA_RESPONSE_CLASS};
use crate::{Bolt, BoltFrame, BoltVersion, ResponseStatus, BOLT_V1};

fn expected_status(failure: Failure) -> u16 {
    match failure {
        Failure::NoRoute => 0x06,
        Failure::NoHealthyUpstream => 0x10,
        Failure::Timeout => 0x07,
        Failure::Overloaded => 0x04,
        Failure::BadRequest => 0x09,
        Failure::UpstreamReset => 0x10,
        _ => 0x03,
    }
}

#[test]
fn every_failure_gets_an_exception_body_in_the_requests_framing() {
    for name in ["bolt-v1-request", "bolt-v2-request", "bolt-v2-crc-request"] {
        let p = protocol_of(name);
        let request = decode(p, &vector(name));
        for failure in Failure::ALL {
            let reply = p.error_reply(&request, failure, "no route to upstream").unwrap();
            let ctx = format!("{name} {failure:?}");
            assert_eq!(reply.kind(), StreamKind::Response, "{ctx}");
            assert_eq!(reply.request_id(), RequestId(7), "{ctx}");
            assert_eq!(reply.status(), Some(u32::from(expected_status(failure))), "{ctx}");
            assert_eq!(Bolt::failure_status(failure).as_u16(), expected_status(failure));
            assert_eq!(reply.bolt_version(), request.bolt_version(), "{ctx}");
            assert_eq!(reply.ver1(), request.ver1(), "{ctx}");
            assert_eq!(reply.switch(), request.switch(), "{ctx}");
            assert_eq!(reply.crc().is_some(), request.crc().is_some(), "{ctx}");
            assert_eq!(reply.codec(), 1, "{ctx}");
            assert_eq!(reply.class_name(), Some(SOFA_RESPONSE_CLASS), "{ctx}");
            assert_eq!(reply.body(), &rpc_server_exception("no route to upstream"), "{ctx}");
            // It decodes (CRC included) to the same frame.
            assert_eq!(decode(p, &encode(p, &reply)), reply, "{ctx}");
            let http = p.http_status(u32::from(expected_status(failure)));
            assert!(http >= 500, "{ctx}: {http}");
        }
    }
}

#[test]
fn non_hessian_requests_get_an_empty_body() {
    let request = BoltFrame::request(BoltVersion::V1, 3).codec(11).build().unwrap();
    let reply = BOLT_V1.error_reply(&request, Failure::Timeout, "late").unwrap();
    assert_eq!(reply.response_status(), Some(ResponseStatus::Timeout));
    assert_eq!(reply.codec(), 11);
    assert_eq!((reply.class_name(), reply.body().len()), (None, 0));
}

#[test]
fn one_way_requests_get_no_reply_and_heartbeats_get_an_ack() {
    for name in ["bolt-v1-oneway-request", "bolt-v2-crc-oneway-request"] {
        let p = protocol_of(name);
        let request = decode(p, &vector(name));
        for failure in Failure::ALL {
            assert!(p.error_reply(&request, failure, "x").is_none(), "{name}");
        }
    }
    let hb = decode(&BOLT_V1, &vector("bolt-v1-heartbeat"));
    let reply = BOLT_V1.error_reply(&hb, Failure::Overloaded, "busy").unwrap();
    assert_eq!(reply.kind(), StreamKind::HeartbeatResponse);
    assert_eq!(reply.response_status(), Some(ResponseStatus::ServerThreadpoolBusy));
    assert_eq!(reply.body().len(), 0);
}

#[test]
fn long_messages_are_chunked() {
    let request = decode(&BOLT_V1, &vector("bolt-v1-request"));
    let message = "é".repeat(40_000);
    let reply = BOLT_V1.error_reply(&request, Failure::Internal, &message).unwrap();
    assert_eq!(reply.body(), &rpc_server_exception(&message));
    assert!(reply.body().len() > 80_000);
}
