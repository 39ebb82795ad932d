//! `Dubbo`: the protocol as the framework sees it.

use bytes::{Bytes, BytesMut};
use xprotocol::{Codec, DetectResult, Failure, Frame, Limits, Protocol, RequestId, StreamKind};

use crate::builder::RequestBuilder;
use crate::codec::DubboCodec;
use crate::frame::DubboFrame;
use crate::header::{
    serialization, Header, FLAG_REQUEST, FLAG_TWO_WAY, HEADER_LEN, MAGIC, SERIALIZATION_MASK,
};
use crate::status::{self, Status};

/// The Dubbo 2.x exchange protocol, registered as `"dubbo"`.
///
/// Detection refuses from the first four bytes: the magic `da bb`, a flags byte whose
/// serialization id Dubbo defines, and a status byte consistent with it (0 on a request; a
/// defined status, and no two-way bit, on a response). It matches once the whole 16-byte
/// header is there and its body length passes the codec's frame limit at
/// [`Limits::DEFAULT`], so that detection never claims what decoding refuses (a first frame
/// over the default 16 MiB is not detected even where a larger limit is configured). Request
/// ids are the full u64; connections are multiplexed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Dubbo;

xprotocol::register_protocol!(Dubbo);

impl Protocol for Dubbo {
    type Frame = DubboFrame;
    type Codec = DubboCodec;

    fn name(&self) -> &'static str {
        "dubbo"
    }

    fn detect(&self, prefix: &[u8]) -> DetectResult {
        let magic = DetectResult::fixed_prefix(prefix, &MAGIC);
        if magic != DetectResult::Match {
            return magic;
        }
        let Some(&flags) = prefix.get(2) else {
            return DetectResult::NeedMore;
        };
        let request = flags & FLAG_REQUEST != 0;
        if !serialization::is_known(flags & SERIALIZATION_MASK)
            || (!request && flags & FLAG_TWO_WAY != 0)
        {
            return DetectResult::NoMatch;
        }
        let Some(&status) = prefix.get(3) else {
            return DetectResult::NeedMore;
        };
        let consistent = if request { status == 0 } else { Status::from_code(status).is_some() };
        if !consistent {
            return DetectResult::NoMatch;
        }
        let Some(&body_len) = prefix.get(12..HEADER_LEN).and_then(|b| b.first_chunk::<4>()) else {
            return DetectResult::NeedMore;
        };
        let total = HEADER_LEN as u64 + u64::from(u32::from_be_bytes(body_len));
        if Limits::DEFAULT.check_frame(total).is_ok() {
            DetectResult::Match
        } else {
            DetectResult::NoMatch
        }
    }

    fn codec(&self, limits: Limits) -> DubboCodec {
        DubboCodec::new(limits)
    }

    fn max_request_id(&self) -> u64 {
        u64::MAX
    }

    fn heartbeat_request(&self, id: RequestId) -> Option<DubboFrame> {
        Some(DubboFrame::heartbeat_request(id.0))
    }

    fn heartbeat_reply(&self, request: &DubboFrame) -> Option<DubboFrame> {
        (request.kind() == StreamKind::HeartbeatRequest)
            .then(|| DubboFrame::heartbeat_response(request))
    }

    /// The read-only event: Dubbo consumers stop sending on a connection that carried it.
    fn go_away(&self) -> Option<DubboFrame> {
        Some(DubboFrame::readonly_event())
    }

    /// A response with the request's id, the status [`Status::for_failure`] picks and the
    /// message as a hessian2 string. `None` for requests that expect no reply.
    fn error_reply(
        &self,
        request: &DubboFrame,
        failure: Failure,
        message: &str,
    ) -> Option<DubboFrame> {
        if !request.is_request() || !request.is_two_way() {
            return None;
        }
        let id = request.request_id().0;
        Some(DubboFrame::error_response(id, Status::for_failure(failure), message))
    }

    fn http_status(&self, status: u32) -> u16 {
        status::http_status(status)
    }

    /// `DemoService.sayHello("world", 42)` in hessian2, with a `path` and a `group`.
    fn sample_request(&self) -> Option<DubboFrame> {
        demo_request().build().ok()
    }

    fn samples(&self) -> Vec<Bytes> {
        let mut frames = Vec::new();
        frames.extend(self.sample_request());
        frames.extend(RequestBuilder { two_way: false, id: 2, ..demo_request() }.build().ok());
        frames.push(DubboFrame::heartbeat_request(3));
        let json = Header {
            flags: FLAG_REQUEST | FLAG_TWO_WAY | serialization::FASTJSON,
            status: 0,
            id: 4,
            body_len: 0,
        };
        let body = Bytes::from_static(b"\"2.0.2\"\n\"com.example.DemoService\"\n");
        frames.push(DubboFrame::trusted(json, body));
        let mut codec = self.codec(Limits::DEFAULT);
        frames
            .iter()
            .filter_map(|f| {
                let mut buf = BytesMut::new();
                codec.encode(f, &mut buf).ok().map(|()| buf.freeze())
            })
            .collect()
    }
}

/// The two-way request (id 1) of the samples.
fn demo_request() -> RequestBuilder<'static> {
    RequestBuilder {
        id: 1,
        version: "1.0.0",
        parameter_types: "Ljava/lang/String;I",
        arguments: b"\x05world\xba",
        attachments: &[("path", "com.example.DemoService"), ("group", "g1")],
        ..RequestBuilder::new("com.example.DemoService", "sayHello")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xprotocol::ProtocolSet;

    #[test]
    fn refuses_from_four_bytes_and_matches_on_the_header() {
        let d = |b: &[u8]| Protocol::detect(&Dubbo, b);
        // A header of `start` with an id of 7 and a body length of `body`.
        let header = |start: [u8; 4], body: u32| {
            let mut h = start.to_vec();
            h.extend_from_slice(&7u64.to_be_bytes());
            h.extend_from_slice(&body.to_be_bytes());
            h
        };
        assert_eq!(d(&[]), DetectResult::NeedMore);
        assert_eq!(d(&[0xda]), DetectResult::NeedMore);
        assert_eq!(d(&[0xda, 0xbb]), DetectResult::NeedMore);
        assert_eq!(d(&[0xda, 0xbb, 0xc2]), DetectResult::NeedMore);
        assert_eq!(d(&[0xda, 0xbb, 0xc2, 0x00]), DetectResult::NeedMore);
        assert_eq!(d(&header([0xda, 0xbb, 0xc2, 0x00], 10)[..15]), DetectResult::NeedMore);
        assert_eq!(d(&header([0xda, 0xbb, 0xc2, 0x00], 10)), DetectResult::Match);
        assert_eq!(d(&header([0xda, 0xbb, 0xe2, 0x00], 1)), DetectResult::Match, "heartbeat");
        assert_eq!(d(&header([0xda, 0xbb, 0x02, 20], 0)), DetectResult::Match, "response");
        // The body length against the default frame limit, header included, as the codec.
        let limit = Limits::DEFAULT.max_frame_bytes as u32;
        assert_eq!(d(&header([0xda, 0xbb, 0xc2, 0], limit - 16)), DetectResult::Match);
        assert_eq!(d(&header([0xda, 0xbb, 0xc2, 0], limit - 15)), DetectResult::NoMatch);
        assert_eq!(d(&header([0xda, 0xbb, 0xc2, 0], u32::MAX)), DetectResult::NoMatch);
        assert_eq!(d(&[0xdb]), DetectResult::NoMatch);
        assert_eq!(d(&[0xda, 0xbc]), DetectResult::NoMatch);
        assert_eq!(d(&[0xda, 0xbb, 0xc0]), DetectResult::NoMatch, "serialization 0");
        assert_eq!(d(&[0xda, 0xbb, 0xc5]), DetectResult::NoMatch, "serialization 5");
        assert_eq!(d(&[0xda, 0xbb, 0x42]), DetectResult::NoMatch, "two-way response");
        assert_eq!(d(&[0xda, 0xbb, 0xc2, 20]), DetectResult::NoMatch, "request with a status");
        assert_eq!(d(&[0xda, 0xbb, 0x02, 21]), DetectResult::NoMatch, "undefined status");
    }

    #[test]
    fn registered_samples_validate() {
        let set = ProtocolSet::all();
        let dubbo = set.get("dubbo").expect("registered");
        assert_eq!(dubbo.samples().len(), 4);
        let only = ProtocolSet::of(vec![&Dubbo]);
        assert_eq!(only.validate(), Ok(()));
        assert_eq!(
            set.validate()
                .map_err(|e| e.into_iter().filter(|e| format!("{e}").contains("dubbo")).count()),
            Ok(())
        );
    }

    #[test]
    fn error_replies_carry_id_status_and_message() {
        let request = Protocol::samples(&Dubbo).into_iter().next().unwrap();
        let mut codec = Dubbo.codec(Limits::DEFAULT);
        let request = codec.decode(&mut BytesMut::from(&request[..])).unwrap().unwrap();
        let want = [
            (Failure::NoRoute, 60),
            (Failure::NoHealthyUpstream, 100),
            (Failure::Timeout, 31),
            (Failure::Overloaded, 100),
            (Failure::BadRequest, 40),
            (Failure::UpstreamReset, 80),
            (Failure::Internal, 80),
        ];
        for (failure, status) in want {
            let reply = Dubbo.error_reply(&request, failure, "it failed").unwrap();
            assert_eq!(reply.status(), Some(status), "{failure:?}");
            assert_eq!(reply.request_id(), request.request_id());
            assert_eq!(&reply.body()[..], b"\x09it failed");
            assert_eq!(reply.serialization(), 2);
        }
        let one_way =
            codec.decode(&mut BytesMut::from(&Protocol::samples(&Dubbo)[1][..])).unwrap().unwrap();
        assert_eq!(one_way.kind(), StreamKind::OneWayRequest);
        assert!(Dubbo.error_reply(&one_way, Failure::Timeout, "x").is_none());
        assert_eq!(Dubbo.max_request_id(), u64::MAX);
        assert_eq!(Protocol::pool_mode(&Dubbo), xprotocol::PoolMode::Multiplexed);
    }

    /// Links the other shipped protocols into this test binary, so that their registrations are in
    /// [`xprotocol::ProtocolSet::all`] and the testkit's cross-detection checks compare with them
    /// (with none to compare with, the testkit fails).
    fn link_shipped_protocols() {
        let _ = (
            &xprotocol_bolt::BOLT_V1,
            &xprotocol_tars::Tars,
            &xprotocol_http1::Http1,
            &xprotocol_http2::Http2,
        );
        xprotocol::testkit::assert_registered(&["bolt", "tars", "http1", "http2"]);
    }

    #[test]
    fn passes_the_testkit() {
        link_shipped_protocols();
        xprotocol::testkit::check_protocol(&Dubbo, crate::arbitrary::frame());
    }

    #[test]
    fn builder_requests_pass_the_testkit() {
        link_shipped_protocols();
        xprotocol::testkit::check_protocol_with(
            &Dubbo,
            crate::arbitrary::built_request(),
            proptest::test_runner::Config { cases: 64, ..Default::default() },
        );
    }

    proptest::proptest! {
        #[test]
        fn skipper_consumes_exactly_what_the_writer_wrote(
            values in proptest::collection::vec(crate::arbitrary::value(), 1..6)
        ) {
            let bytes = crate::arbitrary::encode_values(&values);
            let limits = Limits { max_nesting: 1024, ..Limits::DEFAULT };
            proptest::prop_assert_eq!(crate::hessian2::skip_all(&bytes, &limits), Ok(values.len()));
            for cut in 0..bytes.len().min(300) {
                // Never a panic; a cut inside the last value is an error or fewer values.
                let _ = crate::hessian2::skip_all(&bytes[..cut], &limits);
            }
        }
    }
}
