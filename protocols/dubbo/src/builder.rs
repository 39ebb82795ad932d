//! Building frames: requests from routing fields, responses, heartbeats and error replies.

use bytes::{Bytes, BytesMut};
use xprotocol::{EncodeError, Limits};

use crate::frame::DubboFrame;
use crate::header::{serialization, Header, FLAG_EVENT, FLAG_REQUEST, FLAG_TWO_WAY};
use crate::hessian2::Writer;
use crate::status::Status;

/// The first value of a hessian2 response body: what follows it.
pub mod response_flag {
    /// An exception object follows.
    pub const EXCEPTION: i32 = 0;
    /// The return value follows.
    pub const VALUE: i32 = 1;
    /// Nothing follows: the method returned null.
    pub const NULL_VALUE: i32 = 2;
    /// As [`EXCEPTION`], then an attachments map.
    pub const EXCEPTION_WITH_ATTACHMENTS: i32 = 3;
    /// As [`VALUE`], then an attachments map.
    pub const VALUE_WITH_ATTACHMENTS: i32 = 4;
    /// As [`NULL_VALUE`], then an attachments map.
    pub const NULL_VALUE_WITH_ATTACHMENTS: i32 = 5;
}

/// Longest error message an error reply carries, in bytes.
pub const MAX_ERROR_MESSAGE: usize = 16 * 1024;

/// Limits for re-reading a frame we built ourselves: lengths are ours, nesting generous.
pub(crate) const BUILD_LIMITS: Limits =
    Limits { max_frame_bytes: usize::MAX, max_header_bytes: usize::MAX, max_nesting: 1024 };

/// A hessian2 request from its routing fields. Attachments are written in the order given;
/// Dubbo consumers put `path`, `interface`, `version`, `group`, `timeout` and user keys there.
#[derive(Clone, Debug)]
pub struct RequestBuilder<'a> {
    /// Request id.
    pub id: u64,
    /// Whether a response is expected (else one-way).
    pub two_way: bool,
    /// Dubbo protocol version (`2.0.2`).
    pub dubbo_version: &'a str,
    /// Service path (usually the interface name).
    pub service: &'a str,
    /// Service version.
    pub version: &'a str,
    /// Method name.
    pub method: &'a str,
    /// JVM parameter-type descriptor; it must list as many types as `arguments` holds values.
    pub parameter_types: &'a str,
    /// The arguments, already hessian2-encoded one after the other (see [`Writer`]).
    pub arguments: &'a [u8],
    /// String attachments.
    pub attachments: &'a [(&'a str, &'a str)],
}

impl<'a> RequestBuilder<'a> {
    /// A two-way request with id 0, Dubbo version `2.0.2`, no version, arguments or
    /// attachments.
    pub fn new(service: &'a str, method: &'a str) -> Self {
        RequestBuilder {
            id: 0,
            two_way: true,
            dubbo_version: "2.0.2",
            service,
            version: "",
            method,
            parameter_types: "",
            arguments: &[],
            attachments: &[],
        }
    }

    /// The request's body bytes.
    pub fn body(&self) -> Bytes {
        let mut body = BytesMut::with_capacity(64 + self.arguments.len());
        let mut w = Writer::new(&mut body);
        w.string(self.dubbo_version)
            .string(self.service)
            .string(self.version)
            .string(self.method)
            .string(self.parameter_types)
            .raw(self.arguments)
            .map_begin();
        for (k, v) in self.attachments {
            w.string(k).string(v);
        }
        w.end();
        body.freeze()
    }

    /// The request frame.
    ///
    /// # Errors
    /// [`EncodeError::TooLong`] for a body over 4 GiB, [`EncodeError::Unencodable`] if the
    /// arguments do not match the descriptor.
    pub fn build(&self) -> Result<DubboFrame, EncodeError> {
        let two_way = if self.two_way { FLAG_TWO_WAY } else { 0 };
        let flags = FLAG_REQUEST | two_way | serialization::HESSIAN2;
        let header = Header { flags, status: 0, id: self.id, body_len: 0 };
        let body = self.body();
        check_len(body.len())?;
        DubboFrame::from_parts(header, body, &BUILD_LIMITS)
            .map_err(|_| EncodeError::Unencodable("arguments do not match the parameter types"))
    }
}

fn check_len(len: usize) -> Result<(), EncodeError> {
    if len > u32::MAX as usize {
        Err(EncodeError::TooLong { field: "body", len, max: u32::MAX as usize })
    } else {
        Ok(())
    }
}

impl DubboFrame {
    /// A response to request `id` with `status` and a body already encoded in `serialization`.
    ///
    /// # Errors
    /// [`EncodeError::TooLong`] for a body over 4 GiB.
    pub fn response(
        id: u64,
        serialization: u8,
        status: Status,
        body: Bytes,
    ) -> Result<Self, EncodeError> {
        let flags = serialization & crate::header::SERIALIZATION_MASK;
        DubboFrame::unparsed(Header { flags, status: status.code(), id, body_len: 0 }, body)
    }

    /// A successful hessian2 response carrying `value` (one hessian2-encoded value).
    ///
    /// # Errors
    /// [`EncodeError::TooLong`] for a body over 4 GiB.
    pub fn value_response(id: u64, value: &[u8]) -> Result<Self, EncodeError> {
        let mut body = BytesMut::with_capacity(1 + value.len());
        Writer::new(&mut body).int(response_flag::VALUE).raw(value);
        Self::response(id, serialization::HESSIAN2, Status::Ok, body.freeze())
    }

    /// An error response: `status` with a hessian2 string `message`, which is what Dubbo
    /// providers send for every status but OK (a Java consumer raises a `RemotingException`,
    /// or its `TimeoutException` for the two timeout statuses, carrying the message). Messages
    /// are cut to [`MAX_ERROR_MESSAGE`] bytes.
    ///
    /// The body is hessian2 whatever the request's serialization: every Dubbo consumer can read
    /// hessian2, and the serialization id in the header tells it which to use.
    pub fn error_response(id: u64, status: Status, message: &str) -> Self {
        let mut cut = message.len().min(MAX_ERROR_MESSAGE);
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        let message = message.get(..cut).unwrap_or_default();
        let mut body = BytesMut::with_capacity(message.len() + 3);
        Writer::new(&mut body).string(message);
        let flags = serialization::HESSIAN2;
        DubboFrame::trusted(Header { flags, status: status.code(), id, body_len: 0 }, body.freeze())
    }

    /// A heartbeat: a two-way event request whose body is hessian2 null.
    pub fn heartbeat_request(id: u64) -> Self {
        let flags = FLAG_REQUEST | FLAG_TWO_WAY | FLAG_EVENT | serialization::HESSIAN2;
        DubboFrame::trusted(Header { flags, status: 0, id, body_len: 0 }, Bytes::from_static(b"N"))
    }

    /// The read-only event a Dubbo provider sends when it shuts down: a one-way event request
    /// whose body is the hessian2 string `"R"`. A consumer that reads it sends no new requests
    /// on the connection (Dubbo's `Request.READONLY_EVENT`).
    pub fn readonly_event() -> Self {
        let flags = FLAG_REQUEST | FLAG_EVENT | serialization::HESSIAN2;
        DubboFrame::trusted(
            Header { flags, status: 0, id: 0, body_len: 0 },
            Bytes::from_static(b"\x01R"),
        )
    }

    /// The reply to heartbeat request `request`: an event response, status OK, with the
    /// request's id, serialization and body (a heartbeat's body is null in its
    /// serialization, and so is the reply's).
    pub fn heartbeat_response(request: &DubboFrame) -> Self {
        let h = request.header_fields();
        let header =
            Header { flags: FLAG_EVENT | h.serialization(), status: Status::Ok.code(), ..h };
        DubboFrame::trusted(header, xprotocol::Frame::body(request).clone())
    }
}
