//! [`Tars`]: the protocol as the SDK sees it.

use bytes::Bytes;
use xprotocol::{DetectResult, EncodeError, Failure, Frame, Limits, Protocol, StreamKind};

use crate::build::{RequestPacket, ResponsePacket};
use crate::packet::{STATUS_RESULT_CODE, STATUS_RESULT_DESC};
use crate::{status, TarsCodec, TarsFrame};

/// Tars / TUP over TCP, registered as `"tars"`.
///
/// - Multiplexed: replies are matched by `iRequestId`, an `i32`; generated ids stay within
///   `1..=i32::MAX`.
/// - No heartbeats: `@tars/rpc` sends none and answers none (the C++ runtime's `tars_ping`
///   is an ordinary call of a function of that name, which the framework routes like any
///   other), so [`heartbeat_request`](Protocol::heartbeat_request) is `None`.
/// - Error replies carry the Tars return code of the failure class
///   ([`status::return_code`]) and the message as `sResultDesc`; a TUP request (iVersion
///   2/3) gets a TUP reply, which is a RequestPacket carrying `STATUS_RESULT_CODE` and
///   `STATUS_RESULT_DESC` in its status map, as `@tars/rpc` servers answer. One-way
///   requests get none.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tars;

xprotocol::register_protocol!(Tars);

/// `sBuffer` of a TUP reply with no values: an empty `UniAttribute` (tag-0 empty map), what
/// `@tars/rpc` sends when a TUP call fails.
const EMPTY_UNI_ATTRIBUTE: &[u8] = &[0x08, 0x0c];

impl Protocol for Tars {
    type Frame = TarsFrame;
    type Codec = TarsCodec;

    fn name(&self) -> &'static str {
        "tars"
    }

    fn detect(&self, prefix: &[u8]) -> DetectResult {
        crate::detect::detect(prefix)
    }

    fn codec(&self, limits: Limits) -> TarsCodec {
        TarsCodec::new(limits)
    }

    fn max_request_id(&self) -> u64 {
        i32::MAX as u64
    }

    fn error_reply(
        &self,
        request: &TarsFrame,
        failure: Failure,
        message: &str,
    ) -> Option<TarsFrame> {
        if request.kind() != StreamKind::Request {
            return None;
        }
        let code = status::return_code(failure);
        if request.is_tup() {
            let code_text = code.to_string();
            RequestPacket {
                version: request.tars_version(),
                packet_type: 0,
                message_type: request.message_type(),
                request_id: request.tars_request_id(),
                servant: request.service().unwrap_or_default(),
                function: request.method().unwrap_or_default(),
                buffer: EMPTY_UNI_ATTRIBUTE,
                timeout: 0,
                context: &[],
                status: &[(STATUS_RESULT_CODE, &code_text), (STATUS_RESULT_DESC, message)],
            }
            .to_frame()
            .ok()
        } else {
            ResponsePacket {
                version: request.tars_version(),
                packet_type: 0,
                request_id: request.tars_request_id(),
                message_type: request.message_type(),
                ret: code,
                buffer: &[],
                status: &[],
                result_desc: message,
                context: &[],
            }
            .to_frame()
            .ok()
        }
    }

    /// Reads `status` as the `i32` return code it carries (see [`Frame::status`] on
    /// [`TarsFrame`]) and maps it with [`status::http_status`].
    fn http_status(&self, status: u32) -> u16 {
        status::http_status(status as i32)
    }

    /// The getUsrName request of the golden vectors.
    fn sample_request(&self) -> Option<TarsFrame> {
        let args = [0x16, 0x05, b'c', b'z', b'z', b'o', b'u'];
        let servant = "TARS.NodeTarsServer.NodeTarsObj";
        RequestPacket { timeout: 3000, ..RequestPacket::new(2, servant, "getUsrName", &args) }
            .to_frame()
            .ok()
    }

    /// The getUsrName request and reply of the golden vectors, a one-way request with a
    /// context, and a TUP request with an id of every width class.
    fn samples(&self) -> Vec<Bytes> {
        let servant = "TARS.NodeTarsServer.NodeTarsObj";
        let args = [0x16, 0x05, b'c', b'z', b'z', b'o', b'u'];
        let results = [0x02, 0x00, 0x01, 0x86, 0xa2];
        let mut out = Vec::new();
        let mut push = |r: Result<TarsFrame, EncodeError>| {
            if let Ok(f) = r {
                out.push(f.original_bytes().clone());
            }
        };
        push(
            RequestPacket { timeout: 3000, ..RequestPacket::new(2, servant, "getUsrName", &args) }
                .to_frame(),
        );
        push(ResponsePacket::new(2, &results).to_frame());
        push(
            RequestPacket {
                packet_type: 1,
                context: &[("trace", "abc")],
                ..RequestPacket::new(300, servant, "test", &[])
            }
            .to_frame(),
        );
        push(
            RequestPacket {
                version: 3,
                ..RequestPacket::new(70000, servant, "getall", EMPTY_UNI_ATTRIBUTE)
            }
            .to_frame(),
        );
        out
    }
}
