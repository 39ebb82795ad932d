//! `DubboFrame`: one exchange message, kept as its wire bytes.

use std::ops::ControlFlow;

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
/// Requests in hessian2 (serialization 2) that are not events have their routing fields found
/// at decode as ranges of the body: [`service`](Frame::service) is the service path,
/// [`version`](Frame::version) the service version, [`method`](Frame::method) the method name,
/// [`group`](Frame::group) the `group` attachment, and [`header`](Frame::header) /
/// [`for_each_header`](Frame::for_each_header) read the attachments whose key and value are
/// both strings, reading the attachments map from the body on each call (decode validates
/// the map and keeps only its range and the `group` value). Fields that are null, chunked
/// (over 32 768 characters) or not UTF-8 read as absent. Bodies in other serializations pass
/// through unread; such frames route on header fields only.
#[derive(Clone, Debug)]
pub struct DubboFrame {
    header: [u8; HEADER_LEN],
    body: Bytes,
    routing: Routing,
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
    /// hessian2 request under `limits`.
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

    /// A frame of `header` and `body` (the header's body length is taken from the body).
    pub(crate) fn from_parts(
        header: Header,
        body: Bytes,
        limits: &Limits,
    ) -> Result<Self, DecodeError> {
        let mut routing = Routing::default();
        if header.is_request()
            && !header.is_event()
            && header.serialization() == serialization::HESSIAN2
        {
            routing::parse_request(&body, HEADER_LEN, limits, &mut routing)?;
        }
        let header = Header { body_len: u32::try_from(body.len()).unwrap_or(u32::MAX), ..header };
        Ok(DubboFrame { header: header.to_bytes(), body, routing })
    }

    /// A frame whose body is not read (responses, events, built frames already checked).
    pub(crate) fn unparsed(header: Header, body: Bytes) -> Result<Self, EncodeError> {
        let body_len = u32::try_from(body.len()).map_err(|_| EncodeError::TooLong {
            field: "body",
            len: body.len(),
            max: u32::MAX as usize,
        })?;
        let header = Header { body_len, ..header };
        Ok(DubboFrame { header: header.to_bytes(), body, routing: Routing::default() })
    }

    /// A frame whose body is not read and is known to fit the u32 length field (a small body
    /// we built, or one that came off the wire).
    pub(crate) fn trusted(header: Header, body: Bytes) -> Self {
        let header = Header { body_len: u32::try_from(body.len()).unwrap_or(u32::MAX), ..header };
        DubboFrame { header: header.to_bytes(), body, routing: Routing::default() }
    }

    /// The fixed header.
    pub fn header_fields(&self) -> Header {
        let [_, _, flags, status, i0, i1, i2, i3, i4, i5, i6, i7, l0, l1, l2, l3] = self.header;
        Header {
            flags,
            status,
            id: u64::from_be_bytes([i0, i1, i2, i3, i4, i5, i6, i7]),
            body_len: u32::from_be_bytes([l0, l1, l2, l3]),
        }
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
        self.routing.dubbo_version?.text(&self.body)
    }

    /// The JVM parameter-type descriptor of a hessian2 request (`Ljava/lang/String;I`).
    pub fn parameter_types(&self) -> Option<&str> {
        self.routing.parameter_types?.text(&self.body)
    }

    /// The hessian2 bytes of a request's arguments, as sent.
    pub fn arguments(&self) -> Option<&[u8]> {
        self.routing.arguments?.bytes(&self.body)
    }

    /// The string attachment `key` of a hessian2 request (same as [`Frame::header`]).
    ///
    /// The attachments map is read from the body on each call (decode only validated it), so
    /// a caller that needs many attachments should use [`Frame::for_each_header`] once.
    pub fn attachment(&self, key: &str) -> Option<&str> {
        let mut found = None;
        self.routing.for_each_attachment(&self.body, |k, v| {
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

    fn service(&self) -> Option<&str> {
        self.routing.service?.text(&self.body)
    }

    fn method(&self) -> Option<&str> {
        self.routing.method?.text(&self.body)
    }

    fn version(&self) -> Option<&str> {
        self.routing.version?.text(&self.body)
    }

    fn group(&self) -> Option<&str> {
        self.routing.group?.text(&self.body)
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
        self.routing.for_each_attachment(&self.body, |k, v| {
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
