//! The decode → request-id rewrite → encode path allocates nothing (the read buffer is
//! already shared, as it is on a connection after its first frame, and the write buffer has
//! room, as a reused one does).

use bytes::BytesMut;
use xprotocol::{Codec, Frame, Limits, RequestId};
use xprotocol_tars::{RequestPacket, ResponsePacket, TarsCodec};

fn frames() -> Vec<u8> {
    let mut b = BytesMut::new();
    let ctx = [("trace", "abc"), ("k", "v")];
    RequestPacket {
        timeout: 3000,
        context: &ctx,
        ..RequestPacket::new(2, "TARS.NodeTarsServer.NodeTarsObj", "getUsrName", b"args")
    }
    .encode(&mut b)
    .unwrap();
    ResponsePacket::new(300, b"results").encode(&mut b).unwrap();
    RequestPacket { version: 3, ..RequestPacket::new(70_000, "A.B.C", "f", &[1; 300]) }
        .encode(&mut b)
        .unwrap();
    b.to_vec()
}

#[test]
fn decode_rewrite_encode_allocates_nothing() {
    let one = frames();
    let rounds = 50;
    let mut src = BytesMut::with_capacity(one.len() * (rounds + 1));
    for _ in 0..=rounds {
        src.extend_from_slice(&one);
    }
    let mut codec = TarsCodec::new(Limits::DEFAULT);
    let mut dst = BytesMut::with_capacity(one.len() * 4);
    // The first split makes the read buffer shared (one allocation, once per buffer).
    let warm = codec.decode(&mut src).unwrap().unwrap();
    drop(warm);
    let mut frames = 1;
    // Same width, wider, narrower, negative, back to the original: every rewrite case.
    let ids = [5u64, 1 << 20, 0, u64::from(u32::MAX), 130];
    let info = allocation_counter::measure(|| {
        while let Some(mut frame) = codec.decode(&mut src).unwrap() {
            let _ = (frame.service(), frame.method(), frame.header("trace"), frame.status());
            frame.for_each_header(&mut |_, _| {});
            for id in ids {
                frame.set_request_id(RequestId(id)).unwrap();
                dst.clear();
                codec.encode(&frame, &mut dst).unwrap();
            }
            frames += 1;
        }
    });
    assert_eq!(frames, 3 * (rounds + 1));
    // The counter does see allocations on this thread.
    let probe = allocation_counter::measure(|| {
        std::hint::black_box(Vec::<u8>::with_capacity(8));
    });
    assert_eq!(probe.count_total, 1);
    assert_eq!(info.count_total, 0, "allocations on the hot path: {info:?}");
    // And the result is right.
    let mut back = dst.clone();
    let f = codec.decode(&mut back).unwrap().unwrap();
    assert_eq!(f.request_id(), RequestId(130));
}
