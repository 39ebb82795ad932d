//! Cross-detection at the edges of declared lengths.
//!
//! The registry takes the first member that says `Match`, so a frame one protocol's detector
//! refuses (or waits on) can fall to another whose fixed bytes it happens to resemble: a Tars
//! frame of exactly 16 MiB starts `01 00 00 00`, which is also Bolt v1's proto byte, response
//! type and heartbeat command code. This sweep takes every registered protocol's samples,
//! rewrites their declared length fields to the boundary values (0, the header size and one
//! under it, 2^16, 2^24 and its neighbours, the default frame limit, the Java int limits,
//! u32::MAX), and checks, for each such frame and every prefix of it, that no *other*
//! protocol says `Match`: the set detects the frame's own protocol or nothing. (A length over
//! the owner's own limit makes the bytes nobody's in particular, and they may be a valid
//! frame of another protocol; there only the owner's refusal is checked.) It also checks
//! that each detector agrees with its own codec at default limits: it does not refuse a
//! declared length the codec would wait for, and does not claim one the codec refuses as too
//! large.

use xprotocol::registry::Detection;
use xprotocol::{AnyProtocol, DecodeError, DetectResult, Limits, ProtocolSet};

const MAX_FRAME: u64 = Limits::DEFAULT.max_frame_bytes as u64;

/// Declared lengths to try, for a header of `header` bytes, capped to what the field holds.
fn boundaries(header: u64, field_max: u64) -> Vec<u64> {
    let mut lengths = vec![
        0,
        header.saturating_sub(1),
        header,
        header + 1,
        (1 << 15) - 1,
        1 << 15,
        (1 << 16) - 1,
        1 << 16,
        (1 << 24) - 1,
        1 << 24,
        (1 << 24) + 1,
        (1 << 24) + 2,
        MAX_FRAME - header,
        MAX_FRAME - 1,
        MAX_FRAME,
        MAX_FRAME + 1,
        i32::MAX as u64,
        i32::MAX as u64 + 1,
        u32::MAX as u64,
    ];
    lengths.retain(|&l| l <= field_max);
    lengths.sort_unstable();
    lengths.dedup();
    lengths
}

/// A length field: where it is, how wide (big-endian), and the header size it is measured
/// against.
struct Field {
    offset: usize,
    width: usize,
    header: u64,
    /// The detector refuses some lengths its codec takes, on purpose: a Bolt heartbeat or
    /// GoAway must be empty to be detected (no peer sends a body in one, and a Tars packet of
    /// 16 MiB looks like a Bolt heartbeat ack with one).
    stricter: bool,
}

/// The declared-length fields of a sample of `protocol`.
fn length_fields(protocol: &str, sample: &[u8]) -> Vec<Field> {
    let field = |offset, width, header| Field { offset, width, header, stricter: false };
    match protocol {
        // u32 length prefix, counting itself; the detector's smallest packet is 10 bytes.
        "tars" => vec![field(0, 4, 4), field(0, 4, 10)],
        // classLen(2) headerLen(2) contentLen(4) after the fixed header.
        "bolt" | "boltv2" => {
            let v2 = protocol == "boltv2";
            let response = sample.get(if v2 { 2 } else { 1 }) == Some(&0);
            let fixed = match (v2, response) {
                (false, true) => 20,
                (false, false) => 22,
                (true, true) => 22,
                (true, false) => 24,
            };
            let at = fixed - 8;
            let cmdcode = sample.get(if v2 { 4 } else { 3 }).copied();
            let stricter = matches!(cmdcode, Some(0 | 100));
            [(at, 2), (at + 2, 2), (at + 4, 4)]
                .into_iter()
                .map(|(offset, width)| Field { stricter, ..field(offset, width, fixed as u64) })
                .collect()
        }
        // Body length (u32) at 12 of the 16-byte header.
        "dubbo" => vec![field(12, 4, 16)],
        // The SETTINGS frame after the 24-byte preface: a 24-bit length.
        "http2" => vec![field(24, 3, 9)],
        _ => Vec::new(),
    }
}

fn patched(sample: &[u8], f: &Field, length: u64) -> Option<Vec<u8>> {
    let mut bytes = sample.to_vec();
    let slot = bytes.get_mut(f.offset..f.offset + f.width)?;
    slot.copy_from_slice(&length.to_be_bytes()[8 - f.width..]);
    Some(bytes)
}

/// Every prefix of `frame` is claimed by `own` or by nobody; the set's final answer too.
fn assert_only_own(all: &ProtocolSet, own: &dyn AnyProtocol, frame: &[u8], what: &str) {
    for n in 0..=frame.len() {
        for q in all.iter().filter(|q| q.name() != own.name()) {
            assert_ne!(
                q.detect(&frame[..n]),
                DetectResult::Match,
                "{what}: `{}` claims the first {n} bytes of a `{}` frame {:02x?}",
                q.name(),
                own.name(),
                &frame[..n.min(24)],
            );
        }
    }
    match all.detect_final(frame) {
        Detection::Match(p) => assert_eq!(p.name(), own.name(), "{what}"),
        Detection::NoMatch => {}
        Detection::NeedMore => unreachable!("detect_final decides"),
    }
}

/// The detector and its codec agree on a declared length, at default limits: a length the
/// codec waits for is not refused (when it runs past the bytes there, so that what follows
/// is unknown to both), and a length it refuses as too large is not claimed. The
/// codec is shown only the first `header` bytes, so that it judges the first frame's header
/// (with the whole sample, a short declared length would make it read the rest as a second
/// frame).
fn assert_agrees_with_codec(
    own: &dyn AnyProtocol,
    frame: &[u8],
    field: &Field,
    declared: u64,
    what: &str,
) {
    let header = field.header as usize;
    if own.owns_connection() {
        return;
    }
    let detected = own.detect(frame);
    match own.decode_all(&frame[..header.min(frame.len())], Limits::DEFAULT) {
        Ok((0, _)) if declared > frame.len() as u64 && !field.stricter => {
            assert_ne!(detected, DetectResult::NoMatch, "{what}: the codec waits for this frame")
        }
        Err(e @ (DecodeError::FrameTooLarge { .. } | DecodeError::HeaderTooLarge { .. })) => {
            assert_ne!(detected, DetectResult::Match, "{what}: the codec refuses it: {e}")
        }
        _ => {}
    }
}

/// Whether `own`'s codec refuses the frame's declared length as over its default limits.
fn too_large_for(own: &dyn AnyProtocol, frame: &[u8], field: &Field) -> bool {
    let header = &frame[..(field.header as usize).min(frame.len())];
    matches!(
        own.decode_all(header, Limits::DEFAULT),
        Err(DecodeError::FrameTooLarge { .. } | DecodeError::HeaderTooLarge { .. })
    )
}

#[test]
fn samples_are_detected_as_their_own_protocol() {
    xproxy_tests::link_all_protocols();
    let all = ProtocolSet::all();
    for p in all.iter() {
        for sample in p.samples() {
            assert_only_own(&all, p, &sample, &format!("{} sample", p.name()));
            assert!(matches!(all.detect(&sample), Detection::Match(m) if m.name() == p.name()));
        }
    }
}

#[test]
fn no_declared_length_makes_a_frame_another_protocols() {
    xproxy_tests::link_all_protocols();
    let all = ProtocolSet::all();
    let mut checked = 0;
    for p in all.iter() {
        for sample in p.samples() {
            for field in length_fields(p.name(), &sample) {
                let field_max = (1u64 << (8 * field.width)) - 1;
                for length in boundaries(field.header, field_max) {
                    let Some(frame) = patched(&sample, &field, length) else { continue };
                    let what = format!(
                        "{} sample, {}-byte length at {} = {length:#x}",
                        p.name(),
                        field.width,
                        field.offset
                    );
                    assert_agrees_with_codec(p, &frame, &field, length, &what);
                    if too_large_for(p, &frame, &field) {
                        // Not this protocol's frame any more, and its bytes may well be
                        // another's (a Tars length of 2^24 + 2 is a Bolt v1 response's first
                        // four bytes, and what follows can be valid Bolt lengths): only the
                        // owner must not claim it, which the codec check above asserts.
                        continue;
                    }
                    assert_only_own(&all, p, &frame, &what);
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 200, "only {checked} frames checked");
}

/// The operator trial's frame: a Tars packet of exactly the default frame limit (16 MiB,
/// `01 00 00 00`), which the Tars codec accepts, was taken for Bolt v1.
#[test]
fn a_tars_frame_of_exactly_the_frame_limit_is_tars() {
    xproxy_tests::link_all_protocols();
    let all = ProtocolSet::all();
    let tars = all.get("tars").expect("tars is registered");
    for sample in tars.samples() {
        let mut frame = sample.to_vec();
        frame[..4].copy_from_slice(&(MAX_FRAME as u32).to_be_bytes());
        assert_eq!(&frame[..4], [0x01, 0, 0, 0]);
        assert!(matches!(tars.decode_all(&frame, Limits::DEFAULT), Ok((0, _))), "codec waits");
        assert!(
            matches!(all.detect(&frame), Detection::Match(p) if p.name() == "tars"),
            "{:?}",
            all.detect(&frame)
        );
    }
}
