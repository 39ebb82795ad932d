//! The decode → request-id rewrite → encode path allocates nothing once the connection's
//! read buffer is shared (its first split) and the write buffer has room.

use bytes::BytesMut;
use xprotocol::{Codec, Frame, Limits, Protocol, RequestId};
use xprotocol_dubbo::Dubbo;

const VECTOR: &str = include_str!("../../../testdata/vectors/dubbo-request-sayHello.hex");

#[test]
fn decode_rewrite_encode_allocates_nothing() {
    let frame = hex::decode(VECTOR.trim()).unwrap();
    let mut input = BytesMut::with_capacity(frame.len() * 10);
    for _ in 0..10 {
        input.extend_from_slice(&frame);
    }
    let mut codec = Dubbo.codec(Limits::DEFAULT);
    let mut out = BytesMut::with_capacity(frame.len() * 10);
    // The first split turns the read buffer into a shared one: one allocation, once.
    let first = codec.decode(&mut input).unwrap().unwrap();
    codec.encode(&first, &mut out).unwrap();
    drop(first);

    let mut frames = 0;
    let info = allocation_counter::measure(|| {
        for id in 1..10u64 {
            let mut f = codec.decode(&mut input).unwrap().unwrap();
            assert_eq!(f.method(), Some("sayHello"));
            assert_eq!(f.header("traceId"), Some("abc"));
            f.set_request_id(RequestId(id)).unwrap();
            codec.encode(&f, &mut out).unwrap();
            frames += 1;
        }
    });
    assert_eq!(frames, 9);
    assert_eq!(info.count_total, 0, "allocations on the hot path: {info:?}");
    assert_eq!(out.len(), frame.len() * 10);
    assert_eq!(&out[out.len() - frame.len() + 12..], &frame[12..]);
}
