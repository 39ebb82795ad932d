//! Proptest strategies of valid Tars frames (feature `arbitrary`), for property tests, fuzz
//! seeds and benchmarks: requests, one-way requests, TARS replies and TUP replies, with
//! request ids of every TLV width (zero, int8, int16, int32, negative), servant names long
//! enough to need a 4-byte string length, contexts, status maps and buffers.

use proptest::collection::vec;
use proptest::prelude::*;

use crate::build::{RequestPacket, ResponsePacket};
use crate::packet::{STATUS_RESULT_CODE, STATUS_RESULT_DESC};
use crate::TarsFrame;

/// Request ids covering every encoded width: 0 (zero type), int8, int16, int32, negatives.
pub fn request_ids() -> impl Strategy<Value = i32> {
    prop_oneof![
        Just(0),
        1..=127i32,
        -128..0i32,
        128..=32767i32,
        32768..=i32::MAX,
        i32::MIN..-32768,
        any::<i32>(),
    ]
}

/// Integers of every width for the other int fields.
fn ints() -> impl Strategy<Value = i32> {
    prop_oneof![Just(0), -128..=127i32, any::<i16>().prop_map(i32::from), any::<i32>()]
}

/// Names, sometimes over 255 bytes (a 4-byte string length), never empty.
fn names() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[A-Za-z][A-Za-z0-9_.]{0,40}",
        1 => "[a-z]{256,300}",
    ]
}

/// Map entries whose keys are lower-case, so a TUP request never carries the reply marker.
fn entries(max: usize) -> impl Strategy<Value = Vec<(String, String)>> {
    vec(("[a-z][a-z0-9_-]{0,12}", "[ -~]{0,24}"), 0..=max)
}

fn buffers() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![4 => vec(any::<u8>(), 0..64), 1 => vec(any::<u8>(), 200..700)]
}

fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Requests (two-way and one-way) of iVersion 1, 2 and 3.
pub fn requests() -> impl Strategy<Value = TarsFrame> {
    (
        (1..=3i16, 0..=1i8, ints(), request_ids()),
        (names(), names(), buffers(), ints()),
        (entries(4), entries(2)),
    )
        .prop_filter_map(
            "valid request",
            |((version, packet_type, message_type, request_id), (s, f, buf, timeout), (c, st))| {
                let (context, status) = (pairs(&c), pairs(&st));
                RequestPacket {
                    version,
                    packet_type,
                    message_type,
                    request_id,
                    servant: &s,
                    function: &f,
                    buffer: &buf,
                    timeout,
                    context: &context,
                    status: &status,
                }
                .to_frame()
                .ok()
            },
        )
}

/// TARS replies (ResponsePacket) with varied return codes.
pub fn responses() -> impl Strategy<Value = TarsFrame> {
    let codes = prop_oneof![Just(0), -12..=-1i32, Just(-99), any::<i32>()];
    ((1..=3i16, request_ids(), ints(), codes), (buffers(), entries(2), "[ -~]{0,40}", entries(3)))
        .prop_filter_map(
            "valid response",
            |((version, request_id, message_type, ret), (buf, st, desc, c))| {
                let (status, context) = (pairs(&st), pairs(&c));
                ResponsePacket {
                    version,
                    packet_type: 0,
                    request_id,
                    message_type,
                    ret,
                    buffer: &buf,
                    status: &status,
                    result_desc: &desc,
                    context: &context,
                }
                .to_frame()
                .ok()
            },
        )
}

/// TUP replies: RequestPackets of iVersion 2/3 carrying `STATUS_RESULT_CODE`.
pub fn tup_replies() -> impl Strategy<Value = TarsFrame> {
    ((2..=3i16, request_ids(), ints()), (names(), names(), buffers(), "[ -~]{0,40}"))
        .prop_filter_map("valid TUP reply", |((version, request_id, code), (s, f, buf, desc))| {
            let code = code.to_string();
            let status = [(STATUS_RESULT_CODE, code.as_str()), (STATUS_RESULT_DESC, desc.as_str())];
            RequestPacket {
                version,
                status: &status,
                ..RequestPacket::new(request_id, &s, &f, &buf)
            }
            .to_frame()
            .ok()
        })
}

/// Every kind of frame.
pub fn frames() -> impl Strategy<Value = TarsFrame> {
    prop_oneof![3 => requests(), 2 => responses(), 1 => tup_replies()]
}
