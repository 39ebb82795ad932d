//! `proptest` strategies of valid Bolt frames, for the testkit, fuzz seeds and benchmarks
//! (feature `arbitrary`).

use bytes::Bytes;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

use crate::builder::BoltFrameBuilder;
use crate::frame::BoltFrame;
use crate::layout::BoltVersion;
use crate::protocol::Bolt;

/// How a v2 frame is framed: `ver1` and whether it carries a CRC.
fn wire(version: BoltVersion) -> BoxedStrategy<(u8, bool)> {
    match version {
        BoltVersion::V1 => Just((0, false)).boxed(),
        BoltVersion::V2 => prop_oneof![Just((1, false)), Just((2, false)), Just((2, true))].boxed(),
    }
}

const ALPHABET: &[char] = &[
    'a', 'b', 'c', 'x', 'y', 'z', 'A', 'S', 'Z', '0', '1', '9', '.', '_', ':', '$', '-', 'é', '😀',
];

fn text(max: usize) -> impl Strategy<Value = String> {
    vec(proptest::sample::select(ALPHABET), 0..=max).prop_map(String::from_iter)
}

/// A header entry: mostly strings, sometimes a null key or value, sometimes non-UTF-8 bytes.
fn header_entry() -> impl Strategy<Value = (Option<Vec<u8>>, Option<Vec<u8>>)> {
    let item = prop_oneof![
        8 => text(24).prop_map(|s| Some(s.into_bytes())),
        1 => Just(None),
        1 => vec(any::<u8>(), 0..8).prop_map(Some),
    ];
    (item.clone(), item)
}

/// The shape of the frame: which builder, with which kind-specific value.
#[derive(Clone, Copy, Debug)]
enum Shape {
    Request(u32),
    OneWay(u32),
    Response(u16),
    Heartbeat(u32),
    HeartbeatAck(u16),
    GoAway,
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        4 => any::<u32>().prop_map(Shape::Request),
        2 => any::<u32>().prop_map(Shape::OneWay),
        4 => any::<u16>().prop_map(Shape::Response),
        1 => any::<u32>().prop_map(Shape::Heartbeat),
        1 => any::<u16>().prop_map(Shape::HeartbeatAck),
        1 => Just(Shape::GoAway),
    ]
}

/// Valid frames of `version`: requests, one-way requests, responses with any status,
/// heartbeats and acks, GoAways; random ids, codecs, class names, header blocks (with nulls
/// and non-UTF-8 entries) and bodies of 0 to 4 KiB; in v2, `ver1` 1 or 2, with and without a
/// CRC. Heartbeats, acks and GoAways carry no class, headers or body, as peers send them.
pub fn frames(version: BoltVersion) -> impl Strategy<Value = BoltFrame> {
    (
        wire(version),
        shape(),
        any::<u32>(),
        any::<u8>(),
        option::of(text(80)),
        vec(header_entry(), 0..6),
        vec(any::<u8>(), 0..4096),
    )
        .prop_filter_map(
            "frame builds",
            move |((ver1, crc), shape, id, codec, class, headers, body)| {
                let (b, rpc) = match shape {
                    Shape::Request(t) => (BoltFrame::request(version, id).timeout(t), true),
                    Shape::OneWay(t) => (BoltFrame::oneway(version, id).timeout(t), true),
                    Shape::Response(s) => (
                        BoltFrame::response(version, id, crate::ResponseStatus::Success)
                            .status_code(s),
                        true,
                    ),
                    Shape::Heartbeat(t) => (BoltFrame::heartbeat(version, id).timeout(t), false),
                    Shape::HeartbeatAck(s) => {
                        (BoltFrame::heartbeat_ack(version, id).status_code(s), false)
                    }
                    Shape::GoAway => (BoltFrame::goaway(version, id), false),
                };
                let mut b: BoltFrameBuilder = b.codec(codec).ver1(ver1).crc(crc);
                if rpc {
                    if let Some(class) = class {
                        b = b.class_name(class);
                    }
                    for (k, v) in &headers {
                        b = b.header_raw(k.as_deref(), v.as_deref());
                    }
                    b = b.content(Bytes::from(body));
                }
                b.build().ok()
            },
        )
}

/// Valid frames of the protocol `bolt` speaks; see [`frames`].
pub fn frames_for(bolt: &Bolt) -> impl Strategy<Value = BoltFrame> {
    frames(bolt.version())
}
