//! `DubboFrame`: one exchange message, kept as its wire bytes.

use std::ops::ControlFlow;
use std::sync::OnceLock;

use bytes::Bytes;
use xprotocol::{DecodeError, EncodeError, Frame, Limits, RequestId, StreamKind};

use crate::header::{serialization, Header, HEADER_LEN, ID_OFFSET};
use crate::routing::{self, Routing};

/// The hessian2 body of a read-only event (`"R"`), which a provider sends one-way to say it
/// is shutting down: the framework's go-away.
const READONLY_EVENT_BODY: [u8; 2] = [0x01, b'R'];

/// One Dubbo message: the 16 header bytes, patched in place when the request id changes, and
/// the body as a zero-copy slice of the read buffer.
///
/// Requests in hessian2 (serialization 2) that are not events carry routing fields in their
/// body: [`service`](Frame::service) is the service path, [`version`](Frame::version) the
/// service version, [`method`](Frame::method) the method name, [`group`](Frame::group) the
/// `group` attachment, and [`header`](Frame::header) / [`for_each_header`](Frame::for_each_header)
/// read the attachments whose key and value are both strings. Fields that are null, chunked
/// (over 32 768 characters) or not UTF-8 read as absent. Bodies in other serializations pass
/// through unread; such frames route on header fields only.
///
/// # When the body is read
///
/// The codec checks only the header and the length: it does not read the body. The first
/// call of a routing accessor (those above, [`dubbo_version`](Self::dubbo_version),
/// [`parameter_types`](Self::parameter_types), [`arguments`](Self::arguments),
/// [`attachment`](Self::attachment), [`routing_error`](Self::routing_error)) walks the body
/// once, under the limits of the codec that decoded the frame, and keeps the ranges it found
/// (the attachments map is validated then and read again from the body on each lookup). A
/// relay that never asks pays nothing for the body; one that asks pays once per frame, and
/// each clone of a frame not yet read reads it again.
///
/// A body that does not read (malformed hessian2, nesting over the limit, routing strings and
/// attachments over `max_header_bytes`) gives no routing field at all: every accessor above
/// answers `None` (or nothing, for `for_each_header`) and [`routing_error`](Self::routing_error)
/// says why. Such a frame still re-encodes byte for byte and its request id can be rewritten;
/// a header edit is refused. Frames built with [`RequestBuilder`](crate::RequestBuilder) and
/// [`from_wire`](Self::from_wire) are read at once and refused if they do not read.
#[derive(Clone, Debug)]
pub struct DubboFrame {
    header: [u8; HEADER_LEN],
    body: Bytes,
    /// What the body is read under: the decoding codec's limits.
    limits: BodyLimits,
    /// The routing fields once read, `None` if the body does not read (set at construction
    /// for frames whose body is not a hessian2 request, or was read at once).
    routing: OnceLock<Option<Routing>>,
}

/// The two limits reading a body needs, in 8 bytes (the frame stays within 128 bytes, which
/// moves without a call to `memcpy`). `u32::MAX` stands for no limit: a body is shorter.
#[derive(Clone, Copy, Debug)]
struct BodyLimits {
    max_header_bytes: u32,
    max_nesting: u32,
}

impl BodyLimits {
    fn new(limits: &Limits) -> Self {
        let narrow = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        BodyLimits {
            max_header_bytes: narrow(limits.max_header_bytes),
            max_nesting: narrow(limits.max_nesting),
        }
    }

    fn limits(self) -> Limits {
        let wide = |v: u32| if v == u32::MAX { usize::MAX } else { v as usize };
        Limits {
            max_frame_bytes: usize::MAX,
            max_header_bytes: wide(self.max_header_bytes),
            max_nesting: wide(self.max_nesting),
        }
    }
}

impl PartialEq for DubboFrame {
    /// Frames are equal when their wire bytes are (routing ranges follow from them).
    fn eq(&self, other: &Self) -> bool {
        self.header == other.header && self.body == other.body
    }
}

impl Eq for DubboFrame {}

impl DubboFrame {
    /// Decodes one whole frame from exactly its wire bytes, reading the routing fields of a
    /// hessian2 request under `limits` at once (unlike the codec, which leaves them to the
    /// first accessor).
    ///
    /// # Errors
    /// A wrong magic number, a length that does not match the bytes given, or a malformed,
    /// too deep or too large hessian2 request body.
    pub fn from_wire(wire: Bytes, limits: &Limits) -> Result<Self, DecodeError> {
        let header = match Header::parse(&wire)? {
            Some(h) => h,
            None => return Err(DecodeError::malformed("header", wire.len(), "truncated header")),
        };
        if wire.len() - HEADER_LEN != header.body_len as usize {
            return Err(DecodeError::malformed(
                "body length",
                12,
                "does not match the frame bytes",
            ));
        }
        let body = wire.slice(HEADER_LEN..);
        Self::from_parts(header, body, limits)
    }

    /// A frame as the codec decodes it: `header` holds the 16 header bytes (magic checked, body
    /// length that of `body`); the body is read on first use, under `limits`.
    pub(crate) fn lazy(header: [u8; HEADER_LEN], body: Bytes, limits: &Limits) -> Self {
        DubboFrame { header, body, limits: BodyLimits::new(limits), routing: OnceLock::new() }
    }

    /// A frame of `header` and `body` (the header's body length is taken from the body) whose
    /// hessian2 request body is read at once under `limits`.
    pub(crate) fn from_parts(
        header: Header,
        body: Bytes,
        limits: &Limits,
    ) -> Result<Self, DecodeError> {
        let header = Header { body_len: u32::try_from(body.len()).unwrap_or(u32::MAX), ..header };
        let frame = Self::lazy(header.to_bytes(), body, limits);
        let routing = frame.read_routing()?;
        let _ = frame.routing.set(Some(routing));
        Ok(frame)
    }

    /// A frame whose body is not read (responses, events, built frames already checked).
    pub(crate) fn unparsed(header: Header, body: Bytes) -> Result<Self, EncodeError> {
        let body_len = u32::try_from(body.len()).map_err(|_| EncodeError::TooLong {
            field: "body",
            len: body.len(),
            max: u32::MAX as usize,
        })?;
        Ok(Self::unread(Header { body_len, ..header }, body))
    }

    /// A frame whose body is not read and is known to fit the u32 length field (a small body
    /// we built, or one that came off the wire).
    pub(crate) fn trusted(header: Header, body: Bytes) -> Self {
        let header = Header { body_len: u32::try_from(body.len()).unwrap_or(u32::MAX), ..header };
        Self::unread(header, body)
    }

    fn unread(header: Header, body: Bytes) -> Self {
        DubboFrame {
            header: header.to_bytes(),
            body,
            limits: BodyLimits::new(&crate::builder::BUILD_LIMITS),
            routing: OnceLock::from(Some(Routing::default())),
        }
    }

    /// Reads the routing fields of a hessian2 request body (none for other frames).
    fn read_routing(&self) -> Result<Routing, DecodeError> {
        let mut routing = Routing::default();
        let h = self.header_fields();
        if h.is_request() && !h.is_event() && h.serialization() == serialization::HESSIAN2 {
            routing::parse_request(&self.body, HEADER_LEN, &self.limits.limits(), &mut routing)?;
        }
        Ok(routing)
    }

    /// The routing fields, read from the body on the first call; `None` if it does not read.
    pub(crate) fn routing(&self) -> Option<&Routing> {
        self.routing.get_or_init(|| self.read_routing().ok()).as_ref()
    }

    /// The fixed header.
    pub fn header_fields(&self) -> Header {
        Header::from_bytes(&self.header)
    }

    /// The 16 header bytes as they go on the wire.
    pub fn header_bytes(&self) -> &[u8; HEADER_LEN] {
        &self.header
    }

    /// The body's serialization id (2 hessian2, 6 fastjson, 22 protobuf…).
    pub fn serialization(&self) -> u8 {
        self.header_fields().serialization()
    }

    /// Whether the frame is a request (else a response).
    pub fn is_request(&self) -> bool {
        self.header_fields().is_request()
    }

    /// Whether the request expects a response.
    pub fn is_two_way(&self) -> bool {
        self.header_fields().is_two_way()
    }

    /// Whether the frame is an event (heartbeat, read-only notice).
    pub fn is_event(&self) -> bool {
        self.header_fields().is_event()
    }

    /// The Dubbo protocol version a hessian2 request carries (`2.0.2`, `2.4.10`…).
    pub fn dubbo_version(&self) -> Option<&str> {
        self.routing()?.dubbo_version.get()?.text(&self.body)
    }

    /// The JVM parameter-type descriptor of a hessian2 request (`Ljava/lang/String;I`).
    pub fn parameter_types(&self) -> Option<&str> {
        self.routing()?.parameter_types.get()?.text(&self.body)
    }

    /// The hessian2 bytes of a request's arguments, as sent.
    pub fn arguments(&self) -> Option<&[u8]> {
        self.routing()?.arguments.get()?.bytes(&self.body)
    }

    /// The string attachment `key` of a hessian2 request (same as [`Frame::header`]).
    ///
    /// The attachments map is read from the body on each call (decode only validated it), so
    /// a caller that needs many attachments should use [`Frame::for_each_header`] once.
    pub fn attachment(&self, key: &str) -> Option<&str> {
        let mut found = None;
        self.routing()?.for_each_attachment(&self.body, |k, v| {
            if k == key.as_bytes() {
                if let Ok(v) = std::str::from_utf8(v) {
                    found = Some(v);
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        });
        found
    }
}

impl Frame for DubboFrame {
    fn kind(&self) -> StreamKind {
        let h = self.header_fields();
        match (h.is_request(), h.is_event(), h.is_two_way()) {
            (true, false, true) => StreamKind::Request,
            (true, false, false) => StreamKind::OneWayRequest,
            (true, true, true) => StreamKind::HeartbeatRequest,
            (true, true, false) if self.body[..] == READONLY_EVENT_BODY => StreamKind::GoAway,
            (true, true, false) => StreamKind::OneWayRequest,
            (false, true, _) => StreamKind::HeartbeatResponse,
            (false, false, _) => StreamKind::Response,
        }
    }

    fn request_id(&self) -> RequestId {
        RequestId(self.header_fields().id)
    }

    fn set_request_id(&mut self, id: RequestId) -> Result<(), EncodeError> {
        for (dst, src) in self.header.iter_mut().skip(ID_OFFSET).zip(id.0.to_be_bytes()) {
            *dst = src;
        }
        Ok(())
    }

    fn status(&self) -> Option<u32> {
        let h = self.header_fields();
        (!h.is_request()).then_some(u32::from(h.status))
    }

    /// Why the body of a hessian2 request does not read: malformed hessian2, a value nested
    /// deeper than the decoding codec's `max_nesting`, or routing strings and attachments
    /// over its `max_header_bytes`. `None` when it reads, and for frames whose body is not
    /// read (responses, events, other serializations). Reads the body if no accessor has yet,
    /// and again when it does not read, to say why (the frame keeps only whether it reads).
    ///
    /// A gateway that must not forward such requests checks this before routing; the routing
    /// accessors of such a frame all answer `None`.
    fn routing_error(&self) -> Option<DecodeError> {
        match self.routing() {
            Some(_) => None,
            None => self.read_routing().err(),
        }
    }

    fn service(&self) -> Option<&str> {
        self.routing()?.service.get()?.text(&self.body)
    }

    fn method(&self) -> Option<&str> {
        self.routing()?.method.get()?.text(&self.body)
    }

    fn version(&self) -> Option<&str> {
        self.routing()?.version.get()?.text(&self.body)
    }

    fn group(&self) -> Option<&str> {
        self.routing()?.group.get()?.text(&self.body)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.attachment(name)
    }

    /// Sets attachment `name` of a hessian2 request; see [`Frame::set_header`]. The body is
    /// copied once: the routing strings and arguments byte for byte, the attachments map
    /// rebuilt. Other serializations, events and responses give
    /// [`EncodeError::Unencodable`], as does replacing an attachment whose value is a list,
    /// map or object.
    fn set_header(&mut self, name: &str, value: &str) -> Result<(), EncodeError> {
        self.edit_attachment(name, Some(value))
    }

    /// Removes every attachment `name` of a hessian2 request; see [`Frame::remove_header`]
    /// and [`set_header`](Frame::set_header) for what is refused.
    fn remove_header(&mut self, name: &str) -> Result<(), EncodeError> {
        self.edit_attachment(name, None)
    }

    fn for_each_header(&self, visit: &mut dyn FnMut(&str, &str)) {
        let Some(routing) = self.routing() else { return };
        routing.for_each_attachment(&self.body, |k, v| {
            if let (Ok(k), Ok(v)) = (std::str::from_utf8(k), std::str::from_utf8(v)) {
                visit(k, v);
            }
            ControlFlow::Continue(())
        });
    }

    fn body(&self) -> &Bytes {
        &self.body
    }

    fn wire_len(&self) -> usize {
        HEADER_LEN + self.body.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Dubbo, DubboCodec, RequestBuilder};
    use bytes::BytesMut;
    use xprotocol::Codec;

    const VECTOR: &str = include_str!("../../../testdata/vectors/dubbo-request-sayHello.hex");

    fn vector() -> Vec<u8> {
        xprotocol::testkit::hex(VECTOR)
    }

    #[test]
    fn golden_vector_decodes_to_its_documented_fields() {
        let bytes = vector();
        let frame = xprotocol::testkit::check_vector(&Dubbo, &bytes);
        assert_eq!(frame.kind(), StreamKind::Request);
        assert_eq!(frame.request_id(), RequestId(0));
        assert_eq!(frame.status(), None);
        assert_eq!(frame.serialization(), serialization::HESSIAN2);
        assert!(frame.is_two_way() && !frame.is_event());
        assert_eq!(frame.dubbo_version(), Some("2.4.10"));
        assert_eq!(frame.service(), Some("com.example.DemoService"));
        assert_eq!(frame.version(), Some("1.0.0"));
        assert_eq!(frame.method(), Some("sayHello"));
        assert_eq!(frame.parameter_types(), Some("Ljava/lang/String;I"));
        assert_eq!(frame.arguments(), Some(&b"\x05world\xba"[..]));
        assert_eq!(frame.group(), Some("g1"));
        assert_eq!(frame.header("traceId"), Some("abc"));
        assert_eq!(frame.header("interface"), Some("com.example.DemoService"));
        assert_eq!(frame.header("timeout"), None);
        let mut seen = Vec::new();
        frame.for_each_header(&mut |k, v| seen.push(format!("{k}={v}")));
        assert_eq!(
            seen,
            [
                "path=com.example.DemoService",
                "interface=com.example.DemoService",
                "version=1.0.0",
                "group=g1",
                "traceId=abc"
            ]
        );
    }

    #[test]
    fn builder_reproduces_the_golden_vector() {
        let attachments = [
            ("path", "com.example.DemoService"),
            ("interface", "com.example.DemoService"),
            ("version", "1.0.0"),
            ("group", "g1"),
            ("traceId", "abc"),
        ];
        let mut args = BytesMut::new();
        crate::hessian2::Writer::new(&mut args).string("world").int(42);
        let frame = RequestBuilder {
            id: 0,
            dubbo_version: "2.4.10",
            version: "1.0.0",
            parameter_types: "Ljava/lang/String;I",
            arguments: &args,
            attachments: &attachments,
            ..RequestBuilder::new("com.example.DemoService", "sayHello")
        }
        .build()
        .unwrap();
        let mut out = BytesMut::new();
        DubboCodec::new(Limits::DEFAULT).encode(&frame, &mut out).unwrap();
        assert_eq!(hex::encode(&out), hex::encode(vector()));
    }

    #[test]
    fn request_id_is_patched_in_place() {
        let bytes = vector();
        let mut frame =
            DubboFrame::from_wire(Bytes::from(bytes.clone()), &Limits::DEFAULT).unwrap();
        frame.set_request_id(RequestId(0x0102_0304_0506_0708)).unwrap();
        assert_eq!(frame.request_id().0, 0x0102_0304_0506_0708);
        let mut out = BytesMut::new();
        DubboCodec::new(Limits::DEFAULT).encode(&frame, &mut out).unwrap();
        assert_eq!(&out[4..12], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&out[..4], &bytes[..4]);
        assert_eq!(&out[12..], &bytes[12..]);
        assert_eq!(frame.method(), Some("sayHello"), "routing survives the rewrite");
    }

    #[test]
    fn kinds_from_flags() {
        let hb = DubboFrame::heartbeat_request(9);
        assert_eq!(hb.kind(), StreamKind::HeartbeatRequest);
        assert_eq!(hb.header_bytes()[..4], [0xda, 0xbb, 0xe2, 0x00]);
        let reply = DubboFrame::heartbeat_response(&hb);
        assert_eq!(reply.kind(), StreamKind::HeartbeatResponse);
        assert_eq!(reply.header_bytes()[..4], [0xda, 0xbb, 0x22, 20]);
        assert_eq!(reply.request_id(), RequestId(9));
        assert_eq!(&reply.body()[..], b"N");
        let readonly = Header { flags: 0xa2, status: 0, id: 1, body_len: 0 };
        let goaway = DubboFrame::trusted(readonly, Bytes::from_static(b"\x01R"));
        assert_eq!(goaway.kind(), StreamKind::GoAway);
        let built = DubboFrame::readonly_event();
        assert_eq!(built.kind(), StreamKind::GoAway);
        assert_eq!(built.header_bytes()[..4], [0xda, 0xbb, 0xa2, 0x00]);
        let err = DubboFrame::error_response(5, crate::Status::ServiceNotFound, "no such service");
        assert_eq!(err.kind(), StreamKind::Response);
        assert_eq!(err.status(), Some(60));
        assert_eq!(&err.body()[..], b"\x0fno such service");
    }

    #[test]
    fn other_serializations_pass_through_unread() {
        // fastjson body that is not hessian2 at all.
        let header = Header { flags: 0xc6, status: 0, id: 3, body_len: 0 };
        let frame = DubboFrame::trusted(header, Bytes::from_static(b"\"2.0.2\"\n"));
        let mut out = BytesMut::new();
        DubboCodec::new(Limits::DEFAULT).encode(&frame, &mut out).unwrap();
        let back = DubboCodec::new(Limits::DEFAULT).decode(&mut out).unwrap().unwrap();
        assert_eq!(back.kind(), StreamKind::Request);
        assert_eq!(back.serialization(), 6);
        assert_eq!(back.service(), None);
        assert_eq!(back, frame);
    }
}
