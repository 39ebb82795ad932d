//! Every golden vector decodes to its documented fields, re-encodes byte-exact, and is
//! reproduced by the builders from those fields.

use bytes::Bytes;
use xprotocol::{Frame, Protocol, RequestId, StreamKind};

use super::{decode, encode, protocol_of, vector, vectors};
use crate::{BoltFrame, BoltVersion, ResponseStatus, BOLT_V1, BOLT_V2};

const SERVICE: &str = "com.alipay.sofa.rpc.quickstart.HelloService";
const REQUEST_CLASS: &str = "com.alipay.sofa.rpc.core.request.SofaRequest";
const RESPONSE_CLASS: &str = "com.alipay.sofa.rpc.core.response.SofaResponse";

/// What the vector's name says about it.
struct Expected {
    version: BoltVersion,
    ver1: Option<u8>,
    crc: bool,
    kind: StreamKind,
    id: u64,
}

fn expected(name: &str) -> Expected {
    let (version, ver1, crc) = if name.starts_with("bolt-v1") {
        (BoltVersion::V1, None, false)
    } else if name.starts_with("bolt-v2-crc") {
        (BoltVersion::V2, Some(2), true)
    } else {
        (BoltVersion::V2, Some(1), false)
    };
    let (kind, id) = if name.ends_with("heartbeat") {
        (StreamKind::HeartbeatRequest, 9)
    } else if name.ends_with("heartbeat-ack") {
        (StreamKind::HeartbeatResponse, 9)
    } else if name.ends_with("oneway-request") {
        (StreamKind::OneWayRequest, 8)
    } else if name.ends_with("request") {
        (StreamKind::Request, 7)
    } else {
        (StreamKind::Response, 7)
    };
    Expected { version, ver1, crc, kind, id }
}

#[test]
fn vectors_decode_to_their_documented_fields() {
    for v in vectors() {
        let p = protocol_of(v.name);
        let f = xprotocol::testkit::check_vector(p, &v.bytes);
        let e = expected(v.name);
        let ctx = v.name;
        assert_eq!(f.bolt_version(), e.version, "{ctx}");
        assert_eq!(f.ver1(), e.ver1, "{ctx}");
        assert_eq!(f.switch(), e.ver1.map(|_| u8::from(e.crc)), "{ctx}");
        assert_eq!(f.crc().is_some(), e.crc, "{ctx}");
        assert_eq!(f.kind(), e.kind, "{ctx}");
        assert_eq!(f.request_id(), RequestId(e.id), "{ctx}");
        assert_eq!(f.codec(), 1, "{ctx}");
        assert_eq!(f.ver2(), 1, "{ctx}");
        match e.kind {
            StreamKind::HeartbeatRequest => {
                assert_eq!(f.timeout(), Some(3000), "{ctx}");
                assert_eq!((f.status(), f.class_name(), f.body().len()), (None, None, 0), "{ctx}");
                assert!(f.header_block().is_empty(), "{ctx}");
            }
            StreamKind::HeartbeatResponse => {
                assert_eq!(f.timeout(), None, "{ctx}");
                assert_eq!(f.response_status(), Some(ResponseStatus::Success), "{ctx}");
                assert_eq!((f.class_name(), f.body().len()), (None, 0), "{ctx}");
            }
            StreamKind::Request | StreamKind::OneWayRequest => {
                assert_eq!(f.timeout(), Some(3000), "{ctx}");
                assert_eq!(f.status(), None, "{ctx}");
                assert_eq!(f.class_name(), Some(REQUEST_CLASS), "{ctx}");
                assert_eq!(f.service(), Some(SERVICE), "{ctx}");
                assert_eq!(f.version(), Some("1.0"), "{ctx}");
                assert_eq!(f.group(), None, "{ctx}");
                assert_eq!(
                    f.header("service"),
                    Some("com.alipay.sofa.rpc.quickstart.HelloService:1.0")
                );
                // sofa-bolt-node puts the method in the hessian body only.
                assert_eq!(f.header("sofa_head_method_name"), None, "{ctx}");
                assert_eq!(f.method(), Some("sayHello"), "{ctx}");
                let mut seen = Vec::new();
                f.for_each_header(&mut |k, v| seen.push((k.to_owned(), v.to_owned())));
                assert_eq!(seen.len(), 1, "{ctx}");
                assert_eq!(f.body().len(), 0xe9, "{ctx}");
                assert!(f.body().ends_with(b"peter"), "{ctx}");
            }
            StreamKind::Response => {
                assert_eq!(f.class_name(), Some(RESPONSE_CLASS), "{ctx}");
                assert!(f.header_block().is_empty(), "{ctx}");
                if v.name.ends_with("error") {
                    assert_eq!(f.response_status(), Some(ResponseStatus::ServerException));
                    assert_eq!(f.status(), Some(2), "{ctx}");
                    assert_eq!(f.body().len(), 0x3e5, "{ctx}");
                    assert_eq!(BOLT_V1.http_status(2), 500);
                } else {
                    assert_eq!(f.response_status(), Some(ResponseStatus::Success), "{ctx}");
                    assert_eq!(f.body().len(), 0x6f, "{ctx}");
                }
            }
            StreamKind::GoAway => unreachable!(),
        }
        assert_eq!(f.wire_len(), v.bytes.len(), "{ctx}");
    }
}

/// Builds the vector `name` from the fields of its decoded frame, through the public builders.
fn rebuild(name: &str, f: &BoltFrame, id: u32) -> BoltFrame {
    let version = f.bolt_version();
    let b = match f.kind() {
        StreamKind::HeartbeatRequest => BoltFrame::heartbeat(version, id),
        StreamKind::HeartbeatResponse => BoltFrame::heartbeat_ack(version, id),
        StreamKind::OneWayRequest => BoltFrame::oneway(version, id).timeout(3000),
        StreamKind::Request => BoltFrame::request(version, id).timeout(3000),
        StreamKind::Response => {
            let status = if name.ends_with("error") {
                ResponseStatus::ServerException
            } else {
                ResponseStatus::Success
            };
            BoltFrame::response(version, id, status)
        }
        StreamKind::GoAway => unreachable!(),
    };
    let mut b = b.codec(1);
    if let Some(class) = f.class_name() {
        b = b.class_name(Bytes::copy_from_slice(class.as_bytes()));
    }
    if let Some(service) = f.header("service") {
        b = b.header("service", service);
    }
    if name.contains("crc") {
        b = b.ver1(2).crc(true);
    }
    b.content(f.body().clone()).build().unwrap()
}

#[test]
fn builders_reproduce_every_vector() {
    for v in vectors() {
        let p = protocol_of(v.name);
        let f = decode(p, &v.bytes);
        let built = rebuild(v.name, &f, expected(v.name).id as u32);
        assert_eq!(hex(&encode(p, &built)), hex(&v.bytes), "{}", v.name);
        assert_eq!(built, f, "{}: built frame differs from the decoded one", v.name);
    }
}

#[test]
fn id_rewrite_matches_a_frame_built_with_the_new_id() {
    for v in vectors() {
        let p = protocol_of(v.name);
        let mut f = decode(p, &v.bytes);
        let old_crc = f.crc();
        f.set_request_id(RequestId(0xfedc_ba98)).unwrap();
        assert_eq!(f.request_id(), RequestId(0xfedc_ba98));
        if old_crc.is_some() {
            assert_ne!(f.crc(), old_crc, "{}: CRC not recomputed", v.name);
        }
        let rebuilt = rebuild(v.name, &f, 0xfedc_ba98);
        assert_eq!(hex(&encode(p, &f)), hex(&encode(p, &rebuilt)), "{}", v.name);
        // And the rewritten bytes decode (CRC verified).
        assert_eq!(decode(p, &encode(p, &f)).request_id(), RequestId(0xfedc_ba98));
    }
}

#[test]
fn ids_over_u32_are_refused() {
    let mut f = decode(&BOLT_V1, &vector("bolt-v1-request"));
    let err = f.set_request_id(RequestId(u64::from(u32::MAX) + 1)).unwrap_err();
    assert_eq!(
        err,
        xprotocol::EncodeError::RequestIdOutOfRange {
            id: u64::from(u32::MAX) + 1,
            max: u32::MAX.into()
        }
    );
    assert_eq!(f.request_id(), RequestId(7), "a refused rewrite changes nothing");
    f.set_request_id(RequestId(u32::MAX.into())).unwrap();
    assert_eq!(BOLT_V1.max_request_id(), u64::from(u32::MAX));
}

#[test]
fn heartbeats_are_the_vector_bytes() {
    for (p, hb, ack) in [
        (&BOLT_V1, "bolt-v1-heartbeat", "bolt-v1-heartbeat-ack"),
        (&BOLT_V2, "bolt-v2-heartbeat", "bolt-v2-heartbeat-ack"),
    ] {
        let frame = p.heartbeat_request(RequestId(9)).unwrap();
        assert_eq!(hex(&encode(p, &frame)), hex(&vector(hb)));
        let reply = p.heartbeat_reply(&frame).unwrap();
        assert_eq!(hex(&encode(p, &reply)), hex(&vector(ack)));
    }
    // A CRC heartbeat is answered with a CRC ack.
    let crc_hb = decode(&BOLT_V2, &vector("bolt-v2-crc-heartbeat"));
    let reply = BOLT_V2.heartbeat_reply(&crc_hb).unwrap();
    assert_eq!(hex(&encode(&BOLT_V2, &reply)), hex(&vector("bolt-v2-crc-heartbeat-ack")));
    // Only heartbeats of the protocol's own version get a reply.
    assert!(BOLT_V2.heartbeat_reply(&decode(&BOLT_V1, &vector("bolt-v1-heartbeat"))).is_none());
    assert!(BOLT_V1.heartbeat_reply(&decode(&BOLT_V1, &vector("bolt-v1-request"))).is_none());
    assert!(BOLT_V1.heartbeat_request(RequestId(u64::from(u32::MAX) + 1)).is_none());
}

#[test]
fn decoding_borrows_the_read_buffer() {
    let bytes = vector("bolt-v2-crc-request");
    let mut buf = bytes::BytesMut::from(&bytes[..]);
    let start = buf.as_ptr() as usize;
    let end = start + buf.len();
    let f = xprotocol::Codec::decode(&mut BOLT_V2.codec(xprotocol::Limits::DEFAULT), &mut buf)
        .unwrap()
        .unwrap();
    let body = f.body().as_ptr() as usize;
    assert!(start <= body && body < end, "body was copied out of the read buffer");
    let class = f.class_name().unwrap().as_ptr() as usize;
    assert!(start <= class && class < end, "head was copied out of the read buffer");
}

#[test]
fn service_parts_follow_the_sofarpc_unique_name() {
    let f = BoltFrame::request(BoltVersion::V1, 1)
        .header("sofa_head_target_service", "com.a.B:2.0:blue")
        .header("sofa_head_method_name", "hello")
        .build()
        .unwrap();
    assert_eq!(f.service(), Some("com.a.B"));
    assert_eq!(f.version(), Some("2.0"));
    assert_eq!(f.group(), Some("blue"));
    assert_eq!(f.method(), Some("hello"));
    let f = BoltFrame::request(BoltVersion::V1, 1).header("service", "com.a.B").build().unwrap();
    assert_eq!((f.service(), f.version(), f.group()), (Some("com.a.B"), None, None));
}

fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

proptest::proptest! {
    /// The CRC after an id rewrite (updated from the four changed bytes) is the CRC of the
    /// whole rewritten frame, on random v2 frames of every shape and id.
    #[test]
    fn id_rewrite_crc_matches_a_full_recomputation(
        f in crate::arbitrary::frames(BoltVersion::V2),
        ids in proptest::collection::vec(proptest::prelude::any::<u32>(), 1..4),
    ) {
        let mut f = f;
        for id in ids {
            f.set_request_id(RequestId(id.into())).unwrap();
            if f.crc().is_some() {
                proptest::prop_assert_eq!(f.crc(), Some(BoltFrame::compute_crc(&f.head, &f.content)));
                let wire = encode(&BOLT_V2, &f);
                proptest::prop_assert_eq!(decode(&BOLT_V2, &wire).request_id(), RequestId(id.into()));
            }
        }
    }
}
