//! The [`Bolt`] protocol type and its two registered instances, [`BOLT_V1`] and [`BOLT_V2`].

use bytes::{Bytes, BytesMut};
use xprotocol::{
    Codec, DetectResult, Failure, Frame, Limits, PoolMode, Protocol, RequestId, StreamKind,
};

use crate::builder::{BoltFrameBuilder, CODEC_HESSIAN2};
use crate::codec::BoltCodec;
use crate::frame::BoltFrame;
use crate::hessian;
use crate::layout::{self, BoltVersion};
use crate::status::{self, ResponseStatus};

/// SOFARPC Bolt, one wire version per value: [`BOLT_V1`] (`"bolt"`, proto byte 0x01) and
/// [`BOLT_V2`] (`"boltv2"`, proto byte 0x02). Both are registered with the SDK registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bolt {
    version: BoltVersion,
}

/// Bolt v1, named `"bolt"`.
pub const BOLT_V1: Bolt = Bolt { version: BoltVersion::V1 };
/// Bolt v2, named `"boltv2"`.
pub const BOLT_V2: Bolt = Bolt { version: BoltVersion::V2 };

xprotocol::register_protocol!(BOLT_V1);
xprotocol::register_protocol!(BOLT_V2);

impl Bolt {
    /// The wire version this value speaks.
    pub const fn version(&self) -> BoltVersion {
        self.version
    }

    /// The Bolt status answering `failure`.
    pub fn failure_status(failure: Failure) -> ResponseStatus {
        match failure {
            Failure::NoRoute => ResponseStatus::NoProcessor,
            Failure::NoHealthyUpstream | Failure::UpstreamReset => ResponseStatus::ConnectionClosed,
            Failure::Timeout => ResponseStatus::Timeout,
            Failure::Overloaded => ResponseStatus::ServerThreadpoolBusy,
            Failure::BadRequest => ResponseStatus::CodecException,
            _ => ResponseStatus::Unknown,
        }
    }

    /// Samples of v2 use `ver1` 2 with the CRC, the form that checks the most.
    fn sample_framing(&self, b: BoltFrameBuilder) -> BoltFrameBuilder {
        match self.version {
            BoltVersion::V1 => b,
            BoltVersion::V2 => b.ver1(2).crc(true),
        }
    }

    fn sample_request_frame(&self) -> Option<BoltFrame> {
        let b = BoltFrame::request(self.version, 1)
            .timeout(3000)
            .class_name("com.alipay.sofa.rpc.core.request.SofaRequest")
            .header("service", "com.alipay.sofa.rpc.quickstart.HelloService:1.0")
            .header("sofa_head_method_name", "sayHello")
            .content(Bytes::from_static(b"N"));
        self.sample_framing(b).build().ok()
    }

    fn sample_response(&self) -> Option<BoltFrame> {
        let b = BoltFrame::response(self.version, 1, ResponseStatus::Success)
            .class_name(hessian::SOFA_RESPONSE_CLASS)
            .content(Bytes::from_static(b"N"));
        self.sample_framing(b).build().ok()
    }
}

/// No [`go_away`](Protocol::go_away): MOSN's GoAway (cmdcode 100) is understood by MOSN
/// only; SOFARPC's own clients (sofa-bolt-node among them) decode it as a request they
/// cannot answer. A draining Bolt connection instead serves what arrives and closes once
/// quiet (see [`EngineConfig::drain_quiet`](xprotocol::engine::EngineConfig::drain_quiet)).
impl Protocol for Bolt {
    type Frame = BoltFrame;
    type Codec = BoltCodec;

    fn name(&self) -> &'static str {
        match self.version {
            BoltVersion::V1 => "bolt",
            BoltVersion::V2 => "boltv2",
        }
    }

    /// Checks, in wire order and as soon as each byte is there: the proto byte; in v2 `ver1`
    /// (1 or 2); the type (0, 1, 2); the command code's high byte (0) and its low byte
    /// against the type (0/2 for responses, 0/1/100 for requests, 1/100 for one-way); in v2 the
    /// switch byte (0 or 1). Any of these refuses at once. Then, once the whole fixed header
    /// (20 to 24 bytes) is there, its declared lengths go through the decoder's own check at
    /// [`Limits::DEFAULT`]: class and header lengths as Java shorts, the content length as a
    /// Java int, class + header within `max_header_bytes`, the frame within `max_frame_bytes`;
    /// and a heartbeat, heartbeat ack or GoAway must be empty (no class, header or content).
    /// The decoder would take a non-empty one, but no peer sends it (sofa-bolt's heartbeat
    /// commands have no body), and it is what a Tars packet of exactly 16 MiB looks like
    /// (`01 00 00 00` is Bolt v1's proto, response type and heartbeat code; the bytes where
    /// Bolt's lengths sit are TLV fields, never all zero).
    ///
    /// So detection refuses exactly what the codec refuses, and no earlier than it can be
    /// sure: the first four bytes alone are too weak a signature (`01 00 00 00` is also a Tars
    /// length prefix of exactly 16 MiB), so `Match` waits for the lengths. A first frame over
    /// the *default* limits is not detected even where larger limits are configured. `ver2`
    /// and the codec byte are not checked: SOFARPC lets users register serialisers with their
    /// own codes, and the decoder accepts any.
    fn detect(&self, prefix: &[u8]) -> DetectResult {
        let v = self.version;
        let byte = |at: usize, ok: &dyn Fn(u8) -> bool| match prefix.get(at) {
            None => DetectResult::NeedMore,
            Some(&b) if ok(b) => DetectResult::Match,
            Some(_) => DetectResult::NoMatch,
        };
        let mut result = byte(0, &|b| b == v.proto());
        if v == BoltVersion::V2 {
            result = result.and(byte(1, &|b| (1..=2).contains(&b)));
        }
        let cmd_type = prefix.get(v.type_offset()).copied();
        result = result
            .and(byte(v.type_offset(), &|b| b <= layout::TYPE_ONEWAY))
            .and(byte(v.cmdcode_offset(), &|b| b == 0))
            .and(byte(v.cmdcode_offset() + 1, &|b| {
                cmd_type.is_some_and(|t| layout::kind_of(t, b.into()).is_some())
            }));
        if v == BoltVersion::V2 {
            result = result.and(byte(v.switch_offset(), &|b| b <= layout::SWITCH_CRC));
        }
        if result != DetectResult::Match {
            return result;
        }
        let response = cmd_type == Some(layout::TYPE_RESPONSE);
        let Some(fixed) = prefix.get(..v.fixed_len(response)) else {
            return DetectResult::NeedMore;
        };
        let Ok(header) = layout::parse(v, fixed) else { return DetectResult::NoMatch };
        let control = matches!(
            layout::kind_of(header.cmd_type, header.cmdcode),
            Some(StreamKind::HeartbeatRequest | StreamKind::HeartbeatResponse | StreamKind::GoAway)
        );
        let empty = header.class_len == 0 && header.header_len == 0 && header.content_len == 0;
        let refused =
            BoltCodec::new(v, Limits::DEFAULT).check(&header).is_err() || (control && !empty);
        if refused {
            DetectResult::NoMatch
        } else {
            DetectResult::Match
        }
    }

    fn codec(&self, limits: Limits) -> BoltCodec {
        BoltCodec::new(self.version, limits)
    }

    fn pool_mode(&self) -> PoolMode {
        PoolMode::Multiplexed
    }

    fn max_request_id(&self) -> u64 {
        u32::MAX.into()
    }

    /// A heartbeat with a 3000 ms timeout and codec hessian2 (v2: `ver1` 1, no CRC), as
    /// sofa-bolt-node sends it. `None` for ids over `u32::MAX`.
    fn heartbeat_request(&self, id: RequestId) -> Option<BoltFrame> {
        let id = u32::try_from(id.0).ok()?;
        BoltFrame::heartbeat(self.version, id).build().ok()
    }

    /// An ack with the request's id, codec, `ver1` and switch. `None` unless `request` is a
    /// heartbeat of this version.
    fn heartbeat_reply(&self, request: &BoltFrame) -> Option<BoltFrame> {
        if request.kind() != StreamKind::HeartbeatRequest || request.bolt_version() != self.version
        {
            return None;
        }
        reply_to(request, layout::CMD_HEARTBEAT).build().ok()
    }

    /// A response with the request's version, `ver1`, switch (CRC), codec and id, and the
    /// status [`Bolt::failure_status`] gives. A hessian2 request (codec 1) gets a
    /// `SofaResponse { isError: true, errorMsg: message }` body with its class name, as a
    /// SOFARPC server writes; other codecs get an empty body. A heartbeat gets an ack with the
    /// status and no body; one-way requests and GoAways get nothing.
    fn error_reply(
        &self,
        request: &BoltFrame,
        failure: Failure,
        message: &str,
    ) -> Option<BoltFrame> {
        let status = Self::failure_status(failure).as_u16();
        let reply = match request.kind() {
            StreamKind::Request => {
                let b = reply_to(request, layout::CMD_RESPONSE).status_code(status);
                if request.codec() == CODEC_HESSIAN2 {
                    b.class_name(hessian::SOFA_RESPONSE_CLASS)
                        .content(hessian::rpc_server_exception(message))
                } else {
                    b
                }
            }
            StreamKind::HeartbeatRequest => {
                reply_to(request, layout::CMD_HEARTBEAT).status_code(status)
            }
            _ => return None,
        };
        reply.build().ok()
    }

    fn http_status(&self, status: u32) -> u16 {
        status::http_status(status)
    }

    /// A SOFARPC `HelloService.sayHello` request (v2: with `ver1` 2 and a CRC).
    fn sample_request(&self) -> Option<BoltFrame> {
        self.sample_request_frame()
    }

    /// A request, a response, a heartbeat and its ack (v2: the request and response with
    /// `ver1` 2 and a CRC).
    fn samples(&self) -> Vec<Bytes> {
        let heartbeat = self.heartbeat_request(RequestId(1));
        let ack = heartbeat.as_ref().and_then(|hb| self.heartbeat_reply(hb));
        let mut codec = self.codec(Limits::DEFAULT);
        [self.sample_request_frame(), self.sample_response(), heartbeat, ack]
            .into_iter()
            .flatten()
            .filter_map(|f| {
                let mut buf = BytesMut::new();
                codec.encode(&f, &mut buf).ok().map(|()| buf.freeze())
            })
            .collect()
    }
}

/// A response-typed builder carrying `request`'s version, `ver1`, switch, codec and id.
fn reply_to(request: &BoltFrame, cmdcode: u16) -> BoltFrameBuilder {
    let id = u32::try_from(request.request_id().0).unwrap_or_default();
    let version = request.bolt_version();
    let b = if cmdcode == layout::CMD_HEARTBEAT {
        BoltFrame::heartbeat_ack(version, id)
    } else {
        BoltFrame::response(version, id, ResponseStatus::Success)
    };
    let b = b.codec(request.codec()).ver2(request.ver2());
    match (request.ver1(), request.switch()) {
        (Some(ver1), Some(switch)) => b.ver1(ver1).crc(switch == layout::SWITCH_CRC),
        _ => b,
    }
}
