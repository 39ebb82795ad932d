//! The protocol author's testkit (feature `testkit`): one call gives a protocol round-trip
//! property tests, every-split streaming tests, request-id rewrite and header-edit tests, a
//! limits test, error-reply and heartbeat checks, and detection tests against the other
//! protocols linked into the test binary; one more call checks a golden vector; and
//! [`fuzz_decode`] is a ready-made fuzz entry point.
//!
//! Cross-detection needs other protocols to compare with, and a protocol crate's own test
//! binary registers only that crate's protocols. Link the shipped ones in as dev-dependencies
//! (referencing a static of each is enough for `inventory` to see it), or pass them with
//! [`check_protocol_against`]; with nothing to compare with, the testkit fails rather than
//! pass vacuously.
//!
//! ```ignore
//! #[test]
//! fn my_protocol_passes_the_testkit() {
//!     let _ = (&xprotocol_bolt::BOLT_V1, &xprotocol_dubbo::Dubbo); // link them
//!     xprotocol::testkit::check_protocol(&MY_PROTOCOL, my_frames());
//! }
//! ```
//!
//! Everything here panics with a message naming the property and the input on failure, as a
//! test should; none of it belongs in production code.

mod header_edit;
mod limits;
#[cfg(test)]
mod tests;

use bytes::BytesMut;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::registry::Detection;
use crate::{
    AnyProtocol, Codec, DecodeError, DetectResult, Failure, Frame, Limits, Protocol, ProtocolSet,
    RequestId, StreamKind,
};

/// Every-split checks decode each split point of frames up to this size; larger frames are
/// split at a sample of points (the start, the end, and every 97th byte).
const EXHAUSTIVE_SPLIT_LEN: usize = 4096;

/// Runs every property on 256 frames from `frames`. See [`check_protocol_with`].
///
/// # Panics
/// On the first failing property, with the shrunk frame that fails it.
pub fn check_protocol<P, S>(protocol: &'static P, frames: S)
where
    P: Protocol,
    S: Strategy<Value = P::Frame>,
{
    check_protocol_with(protocol, frames, Config { cases: 256, ..Config::default() });
}

/// Runs every property on frames from `frames` with a proptest `config`:
///
/// - **round trip**: encoding gives [`Frame::wire_len`] bytes; decoding them gives exactly one
///   frame with the same kind, request id, status, routing fields, headers and body, which
///   re-encodes to the same bytes;
/// - **streaming**: fed in two pieces at every split point (and one byte at a time), the
///   decoder returns nothing and consumes nothing until the frame is whole, then the same
///   frame; two frames back to back decode as two;
/// - **id rewrite**: after [`Frame::set_request_id`] the frame reports, encodes and decodes with
///   the new id and is otherwise unchanged;
/// - **header edits**: on a request, [`Frame::set_header`] of a header the frame carries (or a new one) sets
///   it, drops later duplicates and leaves the other headers, the id, the kind, the status
///   and the body alone (where headers live in the body, as Dubbo's attachments do, the body
///   may change only where the edited entry is); [`Frame::remove_header`] removes it; both leave a frame that encodes,
///   is detected and decodes back the same. A refused edit leaves the frame as it was;
/// - **limits**: under a `max_frame_bytes` one byte smaller than the frame, every split of its
///   bytes is refused with an error, from the header alone, before the body arrives;
/// - **detection**: the protocol matches its encoded frames and never refuses a prefix of them;
///   no other protocol matches them, and the protocol matches none of the others' samples;
/// - **samples**: every [`Protocol::samples`] frame is detected by the protocol alone, and
///   [`Protocol::sample_request`] (a warning when missing) is a request that decodes;
/// - **replies**: heartbeats and their replies have the right kinds and ids, and every
///   [`Failure`] gives a decodable error reply to each two-way request.
///
/// The other protocols are those registered in the test binary ([`ProtocolSet::all`]); see
/// [`check_protocol_against`] to name them.
///
/// # Panics
/// On the first failing property, with the shrunk frame that fails it; and when no other
/// protocol is registered, since cross-detection would then check nothing.
pub fn check_protocol_with<P, S>(protocol: &'static P, frames: S, config: Config)
where
    P: Protocol,
    S: Strategy<Value = P::Frame>,
{
    check_protocol_against(protocol, frames, config, &ProtocolSet::all());
}

/// [`check_protocol_with`], comparing detection with the members of `set` other than
/// `protocol` instead of every registered protocol: for a test binary that links other
/// protocols without registering them, or that wants a fixed set.
///
/// # Panics
/// As [`check_protocol_with`]: on the first failing property, and when `set` has no member
/// other than `protocol`.
pub fn check_protocol_against<P, S>(
    protocol: &'static P,
    frames: S,
    config: Config,
    set: &ProtocolSet,
) where
    P: Protocol,
    S: Strategy<Value = P::Frame>,
{
    let others = others_of(protocol.name(), set);
    if let Err(e) = check_samples(protocol, &others) {
        panic!("protocol {:?} fails the testkit's sample checks: {e}", protocol.name());
    }
    let max_id = protocol.max_request_id();
    let header_value = proptest::collection::vec(proptest::char::range('a', 'z'), 1..12)
        .prop_map(|chars| chars.into_iter().collect::<String>());
    let mut runner = TestRunner::new(config);
    let strategy = (frames, any::<u64>(), any::<Index>(), header_value);
    let result = runner.run(&strategy, |(frame, raw_id, pick, value)| {
        let bytes = encode(protocol, &frame)?;
        prop_assert_eq!(bytes.len(), frame.wire_len(), "encoded length differs from wire_len");
        check_detection(protocol, &bytes)?;
        check_not_claimed(protocol.name(), &others, &bytes)?;
        let decoded = decode_one(protocol, &bytes)?;
        check_same_fields(&frame, &decoded)?;
        prop_assert_eq!(&encode(protocol, &decoded)?[..], &bytes[..], "re-encode differs");
        check_splits(protocol, &bytes)?;
        limits::check_limits(protocol, &bytes, frame.body().len())?;
        header_edit::check_header_edit(protocol, &decoded, pick, &value)?;

        let new_id = RequestId(raw_id % max_id.max(1) + 1);
        let mut rewritten = decoded;
        rewritten
            .set_request_id(new_id)
            .map_err(|e| TestCaseError::fail(format!("set_request_id({new_id}) failed: {e}")))?;
        prop_assert_eq!(rewritten.request_id(), new_id);
        let rewritten_bytes = encode(protocol, &rewritten)?;
        let reparsed = decode_one(protocol, &rewritten_bytes)?;
        prop_assert_eq!(reparsed.request_id(), new_id, "rewritten id lost in encoding");
        prop_assert_eq!(reparsed.kind(), frame.kind());
        prop_assert_eq!(reparsed.status(), frame.status());
        prop_assert_eq!(reparsed.body(), frame.body());
        prop_assert_eq!(reparsed.service(), frame.service());
        prop_assert_eq!(reparsed.method(), frame.method());
        prop_assert_eq!(headers(&reparsed), headers(&frame), "an id rewrite changed headers");

        check_replies(protocol, &frame)?;
        Ok(())
    });
    if let Err(e) = result {
        panic!("protocol {:?} fails the testkit: {e}", protocol.name());
    }
}

/// Checks one golden vector: detection matches it (and no prefix of it is refused), no other
/// registered protocol claims it, it decodes to exactly one frame with nothing left over, that
/// frame re-encodes to the same bytes, and every split of it decodes the same. Returns the
/// frame so the caller can assert its fields.
///
/// # Panics
/// On any failed check, naming it; and when no other protocol is registered (see the module
/// documentation).
pub fn check_vector<P: Protocol>(protocol: &P, bytes: &[u8]) -> P::Frame {
    let others = others_of(protocol.name(), &ProtocolSet::all());
    let check = || -> Result<P::Frame, TestCaseError> {
        check_detection(protocol, bytes)?;
        check_not_claimed(protocol.name(), &others, bytes)?;
        let frame = decode_one(protocol, bytes)?;
        prop_assert_eq!(frame.wire_len(), bytes.len(), "wire_len differs from the vector");
        prop_assert_eq!(&encode(protocol, &frame)?[..], bytes, "re-encode differs from vector");
        check_splits(protocol, bytes)?;
        Ok(frame)
    };
    match check() {
        Ok(frame) => frame,
        Err(e) => panic!("vector fails for protocol {:?}: {e}", protocol.name()),
    }
}

/// A fuzz entry point: detects and decodes arbitrary `data` under small limits (1 MiB frames),
/// and for every frame decoded reads every field, re-encodes it, decodes that again, rewrites
/// its id and encodes once more. Panics only on a real bug: a decoder panic, a re-encoded
/// frame that no longer decodes, or a rewrite that is lost.
pub fn fuzz_decode<P: Protocol>(protocol: &P, data: &[u8]) {
    let limits = Limits { max_frame_bytes: 1 << 20, max_header_bytes: 64 << 10, max_nesting: 32 };
    let _ = protocol.detect(data);
    let mut codec = protocol.codec(limits);
    let mut buf = BytesMut::from(data);
    while let Ok(Some(mut frame)) = codec.decode(&mut buf) {
        touch_fields(&frame);
        let mut first = BytesMut::new();
        if codec.encode(&frame, &mut first).is_err() {
            continue;
        }
        assert_eq!(first.len(), frame.wire_len(), "encoded length differs from wire_len");
        let mut again = protocol.codec(limits);
        let mut copy = first.clone();
        match again.decode(&mut copy) {
            Ok(Some(back)) => {
                let mut second = BytesMut::new();
                again.encode(&back, &mut second).expect("re-encoding a decoded frame");
                assert_eq!(first, second, "encode(decode(encode(frame))) changed the bytes");
            }
            other => panic!("a frame's own encoding does not decode: {other:?}"),
        }
        let id = RequestId(frame.request_id().0 % protocol.max_request_id().max(1) + 1);
        if frame.set_request_id(id).is_ok() {
            assert_eq!(frame.request_id(), id, "set_request_id lost");
            let mut out = BytesMut::new();
            if codec.encode(&frame, &mut out).is_ok() {
                let mut check = protocol.codec(limits);
                let back = check.decode(&mut out);
                assert!(
                    matches!(&back, Ok(Some(f)) if f.request_id() == id),
                    "rewritten frame does not decode with its new id: {back:?}"
                );
            }
        }
    }
}

/// A fuzz entry point for detection: detects `data` across every registered protocol at each
/// prefix length up to 64 bytes, checking that a decided answer never changes (a match stays
/// the same protocol; a refusal is never followed by a match), then decodes `data` with the
/// protocol that matched. Panics only on a real bug.
pub fn fuzz_detect(data: &[u8]) {
    let set = ProtocolSet::all();
    let limits = Limits { max_frame_bytes: 1 << 20, max_header_bytes: 64 << 10, max_nesting: 32 };
    let mut decided: Option<&'static str> = None;
    let mut refused = false;
    for len in 0..=data.len().min(64) {
        match set.detect(&data[..len]) {
            Detection::Match(p) => {
                assert!(!refused, "{:?} matched after every protocol refused", p.name());
                if let Some(prev) = decided {
                    assert_eq!(prev, p.name(), "detection changed its mind at {len} bytes");
                }
                decided = Some(p.name());
            }
            Detection::NoMatch => refused = true,
            Detection::NeedMore => {
                assert!(decided.is_none() && !refused, "back to need-more at {len} bytes")
            }
        }
    }
    if let Detection::Match(p) = set.detect_final(data) {
        let _ = p.decode_all(data, limits);
    }
}

/// Decodes a hex string (whitespace ignored), for golden vectors kept as `.hex` files.
///
/// # Panics
/// On a character that is not a hex digit or an odd number of digits.
pub fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => panic!("not a hex digit: {:?}", b as char),
        })
        .collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits");
    digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect()
}

/// Asserts that every protocol in `names` is registered in this binary: a test that links
/// other protocols for the cross-detection checks proves here that the link took.
///
/// # Panics
/// Naming the first protocol missing from [`ProtocolSet::all`].
pub fn assert_registered(names: &[&str]) {
    let all = ProtocolSet::all();
    for name in names {
        assert!(all.get(name).is_some(), "{name} is not linked: {all:?}");
    }
}

/// The members of `set` other than the protocol named `name`.
///
/// # Panics
/// When there are none: every "no other protocol claims this" check would then pass without
/// checking anything.
fn others_of(name: &str, set: &ProtocolSet) -> Vec<&'static dyn AnyProtocol> {
    let others: Vec<_> = set.iter().filter(|q| q.name() != name).collect();
    assert!(
        !others.is_empty(),
        "testkit for {name:?}: nothing to compare with: no other protocol is registered in this \
         test binary, so cross-detection would check nothing. Link the shipped protocols into \
         it (add e.g. xprotocol-bolt and xprotocol-dubbo as dev-dependencies and reference \
         their statics: `let _ = (&xprotocol_bolt::BOLT_V1, &xprotocol_dubbo::Dubbo);`) or \
         pass them to check_protocol_against"
    );
    others
}

/// No protocol in `others` matches `bytes`, a frame of the protocol named `owner`.
fn check_not_claimed(
    owner: &str,
    others: &[&'static dyn AnyProtocol],
    bytes: &[u8],
) -> Result<(), TestCaseError> {
    for other in others {
        prop_assert_ne!(
            other.detect(bytes),
            DetectResult::Match,
            "protocol {:?} claims a frame of {:?}",
            other.name(),
            owner
        );
    }
    Ok(())
}

/// The protocol's samples are its own and nobody else's, in both directions, and its sample
/// request is a request that decodes. A protocol without a sample request is warned about
/// rather than failed, since the item is optional; its detection was then checked against
/// heartbeats and the caller's frames only.
fn check_samples<P: Protocol>(
    protocol: &P,
    others: &[&'static dyn AnyProtocol],
) -> Result<(), TestCaseError> {
    let samples = Protocol::samples(protocol);
    prop_assert!(!samples.is_empty(), "Protocol::samples is empty");
    for sample in &samples {
        check_detection(protocol, sample)?;
        check_not_claimed(protocol.name(), others, sample)?;
    }
    for other in others {
        for sample in other.samples() {
            prop_assert_ne!(
                Protocol::detect(protocol, &sample),
                DetectResult::Match,
                "{:?} claims a sample of {:?}",
                protocol.name(),
                other.name()
            );
        }
    }
    match protocol.sample_request() {
        Some(request) => {
            let kind = request.kind();
            prop_assert!(
                matches!(kind, StreamKind::Request | StreamKind::OneWayRequest),
                "Protocol::sample_request gives a {:?}",
                kind
            );
            let bytes = encode(protocol, &request)?;
            check_detection(protocol, &bytes)?;
            check_not_claimed(protocol.name(), others, &bytes)?;
            decode_one(protocol, &bytes)?;
        }
        None => eprintln!(
            "warning: testkit for {:?}: Protocol::sample_request is None, so the registry's \
             samples hold no request; implement it",
            protocol.name()
        ),
    }
    Ok(())
}

fn touch_fields<F: Frame>(frame: &F) {
    let _ = (frame.kind(), frame.request_id(), frame.status(), frame.body().len());
    let _ = (frame.service(), frame.method(), frame.version(), frame.group());
    let mut n = 0usize;
    frame.for_each_header(&mut |k, v| n += k.len() + v.len());
    let _ = frame.header("service");
}

fn encode<P: Protocol>(protocol: &P, frame: &P::Frame) -> Result<BytesMut, TestCaseError> {
    let mut out = BytesMut::new();
    protocol
        .codec(Limits::DEFAULT)
        .encode(frame, &mut out)
        .map_err(|e| TestCaseError::fail(format!("encode failed: {e}")))?;
    Ok(out)
}

fn decode_one<P: Protocol>(protocol: &P, bytes: &[u8]) -> Result<P::Frame, TestCaseError> {
    let mut codec = protocol.codec(Limits::DEFAULT);
    let mut buf = BytesMut::from(bytes);
    let frame = codec
        .decode(&mut buf)
        .map_err(|e| TestCaseError::fail(format!("decode failed: {e}")))?
        .ok_or_else(|| TestCaseError::fail("a whole frame decoded to nothing"))?;
    prop_assert!(buf.is_empty(), "{} bytes left over after one frame", buf.len());
    Ok(frame)
}

fn check_detection<P: Protocol>(protocol: &P, bytes: &[u8]) -> Result<(), TestCaseError> {
    prop_assert_eq!(protocol.detect(bytes), DetectResult::Match, "own frame not detected");
    for len in 0..bytes.len().min(256) {
        prop_assert_ne!(
            protocol.detect(&bytes[..len]),
            DetectResult::NoMatch,
            "own frame's {}-byte prefix refused",
            len
        );
    }
    Ok(())
}

fn check_same_fields<F: Frame>(a: &F, b: &F) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.kind(), b.kind());
    prop_assert_eq!(a.request_id(), b.request_id());
    prop_assert_eq!(a.status(), b.status());
    prop_assert_eq!(a.service(), b.service());
    prop_assert_eq!(a.method(), b.method());
    prop_assert_eq!(a.version(), b.version());
    prop_assert_eq!(a.group(), b.group());
    prop_assert_eq!(a.body(), b.body());
    prop_assert_eq!(a.end_of_stream(), b.end_of_stream());
    prop_assert_eq!(headers(a), headers(b));
    Ok(())
}

fn headers<F: Frame>(frame: &F) -> Vec<(String, String)> {
    let mut out = Vec::new();
    frame.for_each_header(&mut |k, v| out.push((k.to_owned(), v.to_owned())));
    out
}

/// Split points to try for a frame of `len` bytes.
fn split_points(len: usize) -> Vec<usize> {
    if len <= EXHAUSTIVE_SPLIT_LEN {
        (0..=len).collect()
    } else {
        let mut points: Vec<usize> = (0..=len).step_by(97).collect();
        points.extend([1, 2, 3, len - 1, len]);
        points
    }
}

fn check_splits<P: Protocol>(protocol: &P, bytes: &[u8]) -> Result<(), TestCaseError> {
    let expect_wire = bytes;
    for split in split_points(bytes.len()) {
        let mut codec = protocol.codec(Limits::DEFAULT);
        let mut buf = BytesMut::from(&bytes[..split]);
        if split < bytes.len() {
            match codec.decode(&mut buf) {
                Ok(None) => {}
                other => {
                    return Err(TestCaseError::fail(format!(
                        "decoding the first {split} of {} bytes gave {other:?}",
                        bytes.len()
                    )))
                }
            }
            prop_assert_eq!(buf.len(), split, "a partial decode consumed bytes");
            buf.extend_from_slice(&bytes[split..]);
        }
        let frame = codec
            .decode(&mut buf)
            .map_err(|e| TestCaseError::fail(format!("split at {split}: {e}")))?
            .ok_or_else(|| TestCaseError::fail(format!("split at {split}: no frame")))?;
        prop_assert!(buf.is_empty(), "split at {}: bytes left over", split);
        let mut out = BytesMut::new();
        codec
            .encode(&frame, &mut out)
            .map_err(|e| TestCaseError::fail(format!("split at {split}: encode: {e}")))?;
        prop_assert_eq!(&out[..], expect_wire, "split at {}: re-encode differs", split);
    }

    // One byte at a time, then two frames back to back in one buffer.
    let mut codec = protocol.codec(Limits::DEFAULT);
    let mut buf = BytesMut::new();
    let mut got = None;
    for (i, b) in bytes.iter().enumerate() {
        buf.extend_from_slice(&[*b]);
        match codec.decode(&mut buf) {
            Ok(None) => {}
            Ok(Some(f)) if i + 1 == bytes.len() => got = Some(f),
            other => {
                return Err(TestCaseError::fail(format!("byte-at-a-time decode at {i}: {other:?}")))
            }
        }
    }
    prop_assert!(got.is_some(), "byte-at-a-time decode gave no frame");
    let mut two = BytesMut::from(bytes);
    two.extend_from_slice(bytes);
    let decoded = decode_stream(protocol, &mut two)?;
    prop_assert_eq!(decoded, 2, "two frames back to back");
    prop_assert!(two.is_empty(), "bytes left after two frames");
    Ok(())
}

fn decode_stream<P: Protocol>(protocol: &P, buf: &mut BytesMut) -> Result<usize, TestCaseError> {
    let mut codec = protocol.codec(Limits::DEFAULT);
    let mut n = 0;
    loop {
        match codec.decode(buf) {
            Ok(Some(_)) => n += 1,
            Ok(None) => return Ok(n),
            Err(e) => return Err(TestCaseError::fail(format!("stream decode: {e}"))),
        }
    }
}

fn check_replies<P: Protocol>(protocol: &P, frame: &P::Frame) -> Result<(), TestCaseError> {
    let id = frame.request_id();
    if let Some(hb) = protocol.heartbeat_request(id) {
        prop_assert_eq!(hb.kind(), StreamKind::HeartbeatRequest);
        prop_assert_eq!(hb.request_id(), id);
        let bytes = encode(protocol, &hb)?;
        let hb = decode_one(protocol, &bytes)?;
        if let Some(reply) = protocol.heartbeat_reply(&hb) {
            prop_assert_eq!(reply.kind(), StreamKind::HeartbeatResponse);
            prop_assert_eq!(reply.request_id(), id);
            decode_one(protocol, &encode(protocol, &reply)?)?;
        }
    }
    if frame.kind() == StreamKind::Request {
        for failure in Failure::ALL {
            let reply = protocol.error_reply(frame, failure, "testkit: failure message");
            let reply = reply.ok_or_else(|| {
                TestCaseError::fail(format!("no error reply for {failure} to a request"))
            })?;
            prop_assert_eq!(reply.kind(), StreamKind::Response, "error reply kind");
            prop_assert_eq!(reply.request_id(), id, "error reply id");
            let status = reply.status();
            prop_assert!(status.is_some(), "error reply without a status");
            let back = decode_one(protocol, &encode(protocol, &reply)?)?;
            prop_assert_eq!(back.status(), status);
            let http = protocol.http_status(status.unwrap_or_default());
            prop_assert!(http >= 400, "error reply for {} maps to HTTP {}", failure, http);
        }
    }
    Ok(())
}

/// Asserts that `result` is a typed decode error (for bad-input tests).
///
/// # Panics
/// If `result` is not an error.
pub fn expect_decode_error<F: std::fmt::Debug>(
    result: Result<Option<F>, DecodeError>,
) -> DecodeError {
    match result {
        Err(e) => e,
        Ok(other) => panic!("expected a decode error, got {other:?}"),
    }
}
