//! The testkit's own checks must fail on a broken protocol: a tiny key-value protocol, correct
//! by default, with one deliberate bug per check.
//!
//! Wire format: `magic[2] | kind u8 (0 request, 1 response) | status u8 | id u32 | total u32 |
//! count u8 | count × (klen u8, key, vlen u8, value) | body`, `total` the whole frame.

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use proptest::test_runner::Config;

use super::check_protocol_against;
use crate::{
    Codec, DecodeError, DetectResult, EncodeError, Failure, Frame, Limits, Protocol, ProtocolSet,
    RequestId, StreamKind,
};

const FIXED: usize = 13;

/// The deliberate bug a [`Kv`] carries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Bug {
    None,
    /// Checks the declared length only once the whole frame has arrived.
    LateLimit,
    /// `set_header` sets the first entry and keeps later duplicates.
    KeepsDuplicates,
    /// `set_header` also clears the body.
    EditDropsBody,
    /// Detects every prefix of two bytes or more as its own.
    Greedy,
    /// Gives a response as its sample request.
    SampleIsResponse,
}

struct Kv {
    name: &'static str,
    magic: [u8; 2],
    bug: Bug,
}

static KV: Kv = Kv { name: "kv", magic: *b"KV", bug: Bug::None };
static OTHER: Kv = Kv { name: "other", magic: *b"OT", bug: Bug::None };
static LATE_LIMIT: Kv = Kv { name: "late-limit", magic: *b"KV", bug: Bug::LateLimit };
static KEEPS_DUPLICATES: Kv = Kv { name: "dups", magic: *b"KV", bug: Bug::KeepsDuplicates };
static EDIT_DROPS_BODY: Kv = Kv { name: "drops-body", magic: *b"KV", bug: Bug::EditDropsBody };
static GREEDY: Kv = Kv { name: "greedy", magic: *b"GR", bug: Bug::Greedy };
static BAD_SAMPLE: Kv = Kv { name: "bad-sample", magic: *b"KV", bug: Bug::SampleIsResponse };

#[derive(Clone, Debug, PartialEq)]
struct KvFrame {
    magic: [u8; 2],
    response: bool,
    status: u8,
    id: u32,
    headers: Vec<(String, String)>,
    body: Bytes,
    bug_keeps_duplicates: bool,
    bug_edit_drops_body: bool,
}

impl Frame for KvFrame {
    fn kind(&self) -> StreamKind {
        if self.response {
            StreamKind::Response
        } else {
            StreamKind::Request
        }
    }
    fn request_id(&self) -> RequestId {
        RequestId(self.id.into())
    }
    fn set_request_id(&mut self, id: RequestId) -> Result<(), EncodeError> {
        self.id = id.to_u32()?;
        Ok(())
    }
    fn status(&self) -> Option<u32> {
        self.response.then_some(self.status.into())
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    fn for_each_header(&self, visit: &mut dyn FnMut(&str, &str)) {
        for (k, v) in &self.headers {
            visit(k, v);
        }
    }
    fn set_header(&mut self, name: &str, value: &str) -> Result<(), EncodeError> {
        if value.len() > 255 || self.headers.len() >= 255 {
            return Err(EncodeError::Unencodable("header too long"));
        }
        match self.headers.iter().position(|(k, _)| k == name) {
            Some(first) => {
                self.headers[first].1 = value.to_owned();
                if !self.bug_keeps_duplicates {
                    let mut i = 0;
                    self.headers.retain(|(k, _)| {
                        i += 1;
                        i - 1 <= first || k != name
                    });
                }
            }
            None => self.headers.push((name.to_owned(), value.to_owned())),
        }
        if self.bug_edit_drops_body {
            self.body = Bytes::new();
        }
        Ok(())
    }
    fn remove_header(&mut self, name: &str) -> Result<(), EncodeError> {
        self.headers.retain(|(k, _)| k != name);
        Ok(())
    }
    fn body(&self) -> &Bytes {
        &self.body
    }
    fn wire_len(&self) -> usize {
        let headers: usize = self.headers.iter().map(|(k, v)| 2 + k.len() + v.len()).sum();
        FIXED + headers + self.body.len()
    }
}

struct KvCodec {
    limits: Limits,
    magic: [u8; 2],
    bug: Bug,
}

impl KvCodec {
    fn parse(&self, frame: &[u8]) -> Result<(Vec<(String, String)>, usize), DecodeError> {
        let malformed = |offset| DecodeError::Malformed { field: "header", offset, reason: "bad" };
        let count = *frame.get(FIXED - 1).ok_or(malformed(FIXED - 1))?;
        let mut at = FIXED;
        let mut headers = Vec::new();
        let text = |at: &mut usize| -> Result<String, DecodeError> {
            let len = usize::from(*frame.get(*at).ok_or(malformed(*at))?);
            let s = frame.get(*at + 1..*at + 1 + len).ok_or(malformed(*at))?;
            let s = std::str::from_utf8(s).map_err(|_| malformed(*at))?.to_owned();
            *at += 1 + len;
            Ok(s)
        };
        for _ in 0..count {
            let k = text(&mut at)?;
            let v = text(&mut at)?;
            headers.push((k, v));
        }
        Ok((headers, at))
    }
}

impl Codec for KvCodec {
    type Frame = KvFrame;
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<KvFrame>, DecodeError> {
        let Some(fixed) = src.get(..FIXED) else { return Ok(None) };
        if fixed[..2] != self.magic {
            return Err(DecodeError::Malformed { field: "magic", offset: 0, reason: "bad" });
        }
        let total = u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]);
        if self.bug != Bug::LateLimit {
            self.limits.check_frame(total.into())?;
        }
        let total = total as usize;
        if src.len() < total {
            return Ok(None);
        }
        self.limits.check_frame(total as u64)?;
        let (response, status) = (fixed[2] == 1, fixed[3]);
        let id = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
        let (headers, body_at) = self.parse(&src[..total])?;
        if body_at > total {
            return Err(DecodeError::Malformed { field: "total", offset: 8, reason: "short" });
        }
        let mut frame = src.split_to(total).freeze();
        let body = frame.split_off(body_at);
        Ok(Some(KvFrame {
            magic: self.magic,
            response,
            status,
            id,
            headers,
            body,
            bug_keeps_duplicates: self.bug == Bug::KeepsDuplicates,
            bug_edit_drops_body: self.bug == Bug::EditDropsBody,
        }))
    }
    fn encode(&mut self, f: &KvFrame, dst: &mut BytesMut) -> Result<(), EncodeError> {
        dst.put_slice(&f.magic);
        dst.put_u8(u8::from(f.response));
        dst.put_u8(f.status);
        dst.put_u32(f.id);
        dst.put_u32(u32::try_from(f.wire_len()).map_err(|_| EncodeError::Unencodable("big"))?);
        dst.put_u8(u8::try_from(f.headers.len()).map_err(|_| EncodeError::Unencodable("n"))?);
        for (k, v) in &f.headers {
            for s in [k, v] {
                dst.put_u8(u8::try_from(s.len()).map_err(|_| EncodeError::Unencodable("len"))?);
                dst.put_slice(s.as_bytes());
            }
        }
        dst.put_slice(&f.body);
        Ok(())
    }
}

impl Kv {
    fn frame(
        &self,
        response: bool,
        id: u32,
        headers: Vec<(String, String)>,
        body: Bytes,
    ) -> KvFrame {
        KvFrame {
            magic: self.magic,
            response,
            status: 0,
            id,
            headers,
            body,
            bug_keeps_duplicates: self.bug == Bug::KeepsDuplicates,
            bug_edit_drops_body: self.bug == Bug::EditDropsBody,
        }
    }
}

impl Protocol for Kv {
    type Frame = KvFrame;
    type Codec = KvCodec;
    fn name(&self) -> &'static str {
        self.name
    }
    fn detect(&self, prefix: &[u8]) -> DetectResult {
        if self.bug == Bug::Greedy && prefix.len() >= 2 {
            return DetectResult::Match;
        }
        DetectResult::fixed_prefix(prefix, &self.magic)
    }
    fn codec(&self, limits: Limits) -> KvCodec {
        KvCodec { limits, magic: self.magic, bug: self.bug }
    }
    fn sample_request(&self) -> Option<KvFrame> {
        let response = self.bug == Bug::SampleIsResponse;
        Some(self.frame(response, 1, vec![("service".into(), "demo".into())], Bytes::from("hi")))
    }
    fn error_reply(&self, request: &KvFrame, failure: Failure, _: &str) -> Option<KvFrame> {
        let mut reply = self.frame(true, request.id, Vec::new(), Bytes::new());
        reply.status = 1 + Failure::ALL.iter().position(|f| *f == failure).unwrap_or(0) as u8;
        Some(reply)
    }
    fn http_status(&self, status: u32) -> u16 {
        if status == 0 {
            200
        } else {
            500
        }
    }
}

/// Frames of `protocol` whose header names come from a small set, so that duplicates occur.
fn frames(protocol: &'static Kv) -> impl Strategy<Value = KvFrame> {
    let header = (prop::sample::select(vec!["a", "b", "c"]), "[a-z]{0,4}")
        .prop_map(|(k, v)| (k.to_owned(), v));
    (
        any::<bool>(),
        any::<u32>(),
        prop::collection::vec(header, 0..5),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(move |(response, id, headers, body)| {
            protocol.frame(response, id, headers, Bytes::from(body))
        })
}

fn check(protocol: &'static Kv, set: Vec<&'static dyn crate::AnyProtocol>) {
    check_protocol_against(
        protocol,
        frames(protocol),
        Config::with_cases(128),
        &ProtocolSet::of(set),
    );
}

#[test]
fn a_correct_protocol_passes() {
    check(&KV, vec![&KV, &OTHER]);
}

#[test]
#[should_panic(expected = "nothing to compare with")]
fn nothing_to_compare_with_fails_loudly() {
    check(&KV, vec![&KV]);
}

#[test]
#[should_panic(expected = "claims")]
fn another_protocol_claiming_the_frames_fails() {
    check(&KV, vec![&GREEDY]);
}

#[test]
#[should_panic(expected = "claims a sample")]
fn claiming_another_protocols_samples_fails() {
    check(&GREEDY, vec![&OTHER]);
}

#[test]
#[should_panic(expected = "was not refused")]
fn a_limit_checked_only_once_the_body_is_there_fails() {
    check(&LATE_LIMIT, vec![&OTHER]);
}

#[test]
#[should_panic(expected = "later duplicates go")]
fn a_header_edit_that_keeps_duplicates_fails() {
    check(&KEEPS_DUPLICATES, vec![&OTHER]);
}

#[test]
#[should_panic(expected = "changed the body beyond the edited header")]
fn a_header_edit_that_touches_the_body_fails() {
    check(&EDIT_DROPS_BODY, vec![&OTHER]);
}

#[test]
#[should_panic(expected = "sample_request gives a Response")]
fn a_sample_request_that_is_no_request_fails() {
    check(&BAD_SAMPLE, vec![&OTHER]);
}
