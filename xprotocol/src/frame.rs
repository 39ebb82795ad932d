//! The frame abstraction: what the framework needs to know of one protocol message.

use bytes::Bytes;
use std::fmt;

use crate::{DecodeError, EncodeError};

/// What a frame is, as far as multiplexing, heartbeats and routing are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// A request that expects a response with the same request id.
    Request,
    /// A request that expects no response.
    OneWayRequest,
    /// A response to a [`Request`](StreamKind::Request).
    Response,
    /// A keep-alive probe; answered by a [`HeartbeatResponse`](StreamKind::HeartbeatResponse).
    HeartbeatRequest,
    /// The answer to a heartbeat.
    HeartbeatResponse,
    /// The peer is draining: send no new requests on this connection (MOSN's Bolt cmdcode 100).
    GoAway,
}

impl StreamKind {
    /// Whether a frame of this kind waits for a reply with its request id.
    pub fn expects_reply(self) -> bool {
        matches!(self, StreamKind::Request | StreamKind::HeartbeatRequest)
    }

    /// Whether this kind is a reply to an earlier request.
    pub fn is_reply(self) -> bool {
        matches!(self, StreamKind::Response | StreamKind::HeartbeatResponse)
    }

    /// Whether this kind is a heartbeat probe or answer.
    pub fn is_heartbeat(self) -> bool {
        matches!(self, StreamKind::HeartbeatRequest | StreamKind::HeartbeatResponse)
    }
}

/// A request id as the framework sees it: wide enough for every protocol's id field (Bolt
/// u32, Dubbo u64, Tars i32). A protocol's [`max_request_id`](crate::Protocol::max_request_id)
/// says how much of it is usable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl RequestId {
    /// The id as a `u32`, for protocols with 32-bit id fields.
    ///
    /// # Errors
    /// [`EncodeError::RequestIdOutOfRange`] if the id does not fit.
    pub fn to_u32(self) -> Result<u32, EncodeError> {
        u32::try_from(self.0)
            .map_err(|_| EncodeError::RequestIdOutOfRange { id: self.0, max: u32::MAX.into() })
    }
}

impl From<u64> for RequestId {
    fn from(v: u64) -> Self {
        RequestId(v)
    }
}

/// One decoded protocol message.
///
/// A frame keeps its wire bytes: reading a field is a lookup into them (lazily, when a route
/// asks), [`set_request_id`](Frame::set_request_id) patches the bytes in place where the id has
/// a fixed width, and encoding an unchanged frame writes its original bytes, never a
/// re-serialisation. Routing lookups borrow from the frame's buffer and allocate nothing.
pub trait Frame: Send + fmt::Debug + 'static {
    /// What the frame is.
    fn kind(&self) -> StreamKind;

    /// The frame's request id (responses carry the id of the request they answer).
    fn request_id(&self) -> RequestId;

    /// Replaces the request id. Implementations patch the id bytes in place (and whatever
    /// depends on them, such as a checksum) rather than re-encoding the frame.
    ///
    /// # Errors
    /// [`EncodeError::RequestIdOutOfRange`] if `id` does not fit the protocol's id field.
    fn set_request_id(&mut self, id: RequestId) -> Result<(), EncodeError>;

    /// The protocol's own status code of a response, `None` for requests.
    fn status(&self) -> Option<u32> {
        None
    }

    /// The service (interface) a request addresses, if the protocol carries one.
    fn service(&self) -> Option<&str> {
        None
    }

    /// The method a request calls.
    fn method(&self) -> Option<&str> {
        None
    }

    /// The service version a request asks for.
    fn version(&self) -> Option<&str> {
        None
    }

    /// The service group a request asks for.
    fn group(&self) -> Option<&str> {
        None
    }

    /// The value of the protocol's own header `name` (first match), if present and UTF-8.
    /// Protocols with key-value headers implement this and
    /// [`for_each_header`](Frame::for_each_header) together.
    fn header(&self, name: &str) -> Option<&str> {
        let _ = name;
        None
    }

    /// Calls `visit` for every key-value header the frame carries, in wire order. Entries that
    /// are not valid UTF-8 are skipped.
    fn for_each_header(&self, visit: &mut dyn FnMut(&str, &str)) {
        let _ = visit;
    }

    /// Sets the protocol's own header `name` to `value`: the first entry with that key gets
    /// the new value in place (later entries with the same key are dropped), or, when there is
    /// none, a new entry is appended. Afterwards [`header`](Frame::header) gives `value`.
    ///
    /// Unlike a request-id rewrite this may allocate and copy the header section; everything
    /// else (other headers, the body, the request id) stays byte for byte as it was, and the
    /// frame's lengths and checksum are fixed up so that it still encodes to a valid frame.
    /// The relay calls it only for routes that configure header edits.
    ///
    /// # Errors
    /// [`EncodeError::Unencodable`] when the protocol (or this frame: a response, another
    /// serialization) has no editable headers, which is the default;
    /// [`EncodeError::TooLong`] when the edited header section would not fit its length field.
    /// On error the frame is unchanged.
    fn set_header(&mut self, name: &str, value: &str) -> Result<(), EncodeError> {
        let _ = (name, value);
        Err(EncodeError::Unencodable("this protocol has no editable headers"))
    }

    /// Removes every entry of the protocol's own header `name`; removing a header the frame
    /// does not carry changes nothing. As with [`set_header`](Frame::set_header), everything
    /// else stays byte for byte and lengths and checksum are fixed up.
    ///
    /// # Errors
    /// As [`set_header`](Frame::set_header). On error the frame is unchanged.
    fn remove_header(&mut self, name: &str) -> Result<(), EncodeError> {
        let _ = name;
        Err(EncodeError::Unencodable("this protocol has no editable headers"))
    }

    /// Why this request's routing fields cannot be read, for protocols that read them from
    /// the body only when asked (Dubbo's hessian2 invocation): decoding such a frame succeeds
    /// so that a bad body costs nothing until routing, and the routing accessors then all
    /// answer `None`. A gateway checks this before routing and answers the request with a
    /// bad-request error instead of forwarding what it could not read. `None` (the default)
    /// for protocols that validate everything at decode.
    fn routing_error(&self) -> Option<DecodeError> {
        None
    }

    /// The body (payload) of the frame: a zero-copy slice of the buffer it was decoded from.
    fn body(&self) -> &Bytes;

    /// Whether this frame ends its call. Protocols whose calls span several frames return
    /// `false` on all but the last; every protocol shipped today has single-frame calls.
    fn end_of_stream(&self) -> bool {
        true
    }

    /// Bytes the frame takes on the wire, so writers can reserve once.
    fn wire_len(&self) -> usize;
}
