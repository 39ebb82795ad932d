//! [`BoltFrame`]: one Bolt message, kept as its wire bytes.

use bytes::{Bytes, BytesMut};
use xprotocol::{EncodeError, Frame, RequestId, StreamKind};

use crate::builder::CODEC_HESSIAN2;
use crate::crc_patch;
use crate::header_map::HeaderMap;
use crate::layout::{self, BoltVersion, FixedHeader};
use crate::sofa_request;
use crate::status::ResponseStatus;

/// Header that carries the service unique name (`interface:version[:uniqueId]`), as
/// sofa-bolt-node and MOSN write it.
pub const HEADER_SERVICE: &str = "service";
/// Header Java SOFARPC also writes with the service unique name.
pub const HEADER_TARGET_SERVICE: &str = "sofa_head_target_service";
/// Header that carries the method name (Java SOFARPC writes it; sofa-bolt-node does not).
pub const HEADER_METHOD: &str = "sofa_head_method_name";

/// One Bolt v1 or v2 frame.
///
/// A decoded frame holds `head` (fixed header, class name and header block: one slice split
/// off the read buffer), `content` (a frozen slice of the same buffer) and the CRC trailer if
/// the frame has one. Reading a field looks into those bytes (the fixed header's fields too:
/// the frame keeps no parsed copy, so that it stays small); nothing is copied or allocated.
/// [`set_request_id`](Frame::set_request_id) patches four bytes of `head` (and updates the
/// CRC from them, in constant time); encoding writes the three parts as they are.
///
/// Build frames from fields with [`BoltFrame::request`], [`oneway`](BoltFrame::oneway),
/// [`response`](BoltFrame::response), [`heartbeat`](BoltFrame::heartbeat) and
/// [`heartbeat_ack`](BoltFrame::heartbeat_ack).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoltFrame {
    /// Starts with a whole fixed header whose proto byte is 1 or 2 and whose type and cmdcode
    /// combine (the codec and the builder check), then exactly the class name and header
    /// block it declares.
    pub(crate) head: BytesMut,
    pub(crate) content: Bytes,
    pub(crate) crc: Option<u32>,
}

impl BoltFrame {
    /// Assembles a frame from parts whose consistency the caller (codec or builder) checked:
    /// `head` starts with a fixed header of a known type and holds exactly the declared class
    /// and header.
    pub(crate) fn from_parts(head: BytesMut, content: Bytes, crc: Option<u32>) -> Self {
        BoltFrame { head, content, crc }
    }

    /// The CRC32 of `head` then `content`.
    pub(crate) fn compute_crc(head: &[u8], content: &[u8]) -> u32 {
        let mut h = crc32fast::Hasher::new();
        h.update(head);
        h.update(content);
        h.finalize()
    }

    /// The byte at `at` of the head (0 past its end, which a frame's head never is).
    fn byte(&self, at: usize) -> u8 {
        self.head.get(at).copied().unwrap_or(0)
    }

    fn be_u16(&self, at: usize) -> u16 {
        u16::from_be_bytes([self.byte(at), self.byte(at + 1)])
    }

    fn be_u32(&self, at: usize) -> u32 {
        u32::from_be_bytes([self.byte(at), self.byte(at + 1), self.byte(at + 2), self.byte(at + 3)])
    }

    /// The wire version (proto byte).
    pub fn bolt_version(&self) -> BoltVersion {
        match self.byte(0) {
            layout::PROTO_V2 => BoltVersion::V2,
            _ => BoltVersion::V1,
        }
    }

    /// The fixed header's fields, read through the accessors below.
    pub fn fixed_header(&self) -> FixedHeader {
        let lengths = self.lengths_offset();
        FixedHeader {
            version: self.bolt_version(),
            ver1: self.ver1().unwrap_or(0),
            cmd_type: self.cmd_type(),
            cmdcode: self.cmdcode(),
            ver2: self.ver2(),
            request_id: self.be_u32(self.bolt_version().id_offset()),
            codec: self.codec(),
            switch: self.switch().unwrap_or(0),
            timeout: self.timeout().unwrap_or(0),
            status: self.status_code().unwrap_or(0),
            class_len: self.be_u16(lengths),
            header_len: self.be_u16(lengths + 2),
            content_len: self.be_u32(lengths + 4),
        }
    }

    /// Where the class, header and content lengths start in the head.
    fn lengths_offset(&self) -> usize {
        self.bolt_version().lengths_offset(self.is_response())
    }

    /// Whether the type byte says response.
    pub(crate) fn is_response(&self) -> bool {
        self.cmd_type() == layout::TYPE_RESPONSE
    }

    /// The v2 `ver1` byte (1, or 2 = CRC capable); `None` in v1.
    pub fn ver1(&self) -> Option<u8> {
        (self.bolt_version() == BoltVersion::V2).then(|| self.byte(1))
    }

    /// The v2 `switch` byte; `None` in v1.
    pub fn switch(&self) -> Option<u8> {
        let v = self.bolt_version();
        (v == BoltVersion::V2).then(|| self.byte(v.switch_offset()))
    }

    /// The type byte (0 response, 1 request, 2 one-way).
    pub fn cmd_type(&self) -> u8 {
        self.byte(self.bolt_version().type_offset())
    }

    /// The command code (0 heartbeat, 1 request, 2 response, 100 GoAway).
    pub fn cmdcode(&self) -> u16 {
        self.be_u16(self.bolt_version().cmdcode_offset())
    }

    /// The command version byte (`ver2`).
    pub fn ver2(&self) -> u8 {
        self.byte(self.bolt_version().cmdcode_offset() + 2)
    }

    /// The serialisation code (1 hessian2, 11 protobuf, …).
    pub fn codec(&self) -> u8 {
        self.byte(self.bolt_version().codec_offset())
    }

    /// The request timeout in milliseconds; `None` for responses.
    pub fn timeout(&self) -> Option<u32> {
        (!self.is_response()).then(|| self.be_u32(self.bolt_version().timeout_offset()))
    }

    /// The raw status code; `None` for requests.
    pub fn status_code(&self) -> Option<u16> {
        self.is_response().then(|| self.be_u16(self.bolt_version().timeout_offset()))
    }

    /// The status of a response, if Bolt defines its code.
    pub fn response_status(&self) -> Option<ResponseStatus> {
        self.status_code().and_then(ResponseStatus::from_u16)
    }

    /// The CRC32 trailer, if the frame carries one.
    pub fn crc(&self) -> Option<u32> {
        self.crc
    }

    pub(crate) fn class_range(&self) -> (usize, usize) {
        let start = self.bolt_version().fixed_len(self.is_response());
        (start, start + usize::from(self.be_u16(self.lengths_offset())))
    }

    /// The class name's bytes (empty when the frame has none).
    pub fn class_name_bytes(&self) -> &[u8] {
        let (start, end) = self.class_range();
        self.head.get(start..end).unwrap_or_default()
    }

    /// The class name, if present and UTF-8.
    pub fn class_name(&self) -> Option<&str> {
        let bytes = self.class_name_bytes();
        if bytes.is_empty() {
            return None;
        }
        std::str::from_utf8(bytes).ok()
    }

    /// The raw header block.
    pub fn header_block(&self) -> &[u8] {
        let (_, start) = self.class_range();
        self.head.get(start..).unwrap_or_default()
    }

    /// The header block as a lazily scanned map.
    pub fn headers(&self) -> HeaderMap<'_> {
        HeaderMap::new(self.header_block())
    }

    /// The content (body) bytes.
    pub fn content(&self) -> &Bytes {
        &self.content
    }

    /// The service unique name (`interface:version[:uniqueId]`) from the `service` header, or
    /// Java SOFARPC's `sofa_head_target_service`.
    pub fn service_unique_name(&self) -> Option<&str> {
        let headers = self.headers();
        headers.get(HEADER_SERVICE).or_else(|| headers.get(HEADER_TARGET_SERVICE))
    }

    /// Segment `n` (0 interface, 1 version, 2 uniqueId) of the service unique name.
    fn service_part(&self, n: usize) -> Option<&str> {
        self.service_unique_name()?.splitn(3, ':').nth(n).filter(|s| !s.is_empty())
    }
}

impl Frame for BoltFrame {
    fn kind(&self) -> StreamKind {
        // The codec and the builders only create frames whose type and cmdcode combine.
        layout::kind_of(self.cmd_type(), self.cmdcode()).unwrap_or(StreamKind::Request)
    }

    fn request_id(&self) -> RequestId {
        RequestId(self.be_u32(self.bolt_version().id_offset()).into())
    }

    fn set_request_id(&mut self, id: RequestId) -> Result<(), EncodeError> {
        let new = u32::try_from(id.0)
            .map_err(|_| EncodeError::RequestIdOutOfRange { id: id.0, max: u32::MAX.into() })?;
        let at = self.bolt_version().id_offset();
        let slot = self
            .head
            .get_mut(at..at + 4)
            .ok_or(EncodeError::Unencodable("frame head shorter than its fixed header"))?;
        let mut old = [0u8; 4];
        old.copy_from_slice(slot);
        let new_bytes = new.to_be_bytes();
        slot.copy_from_slice(&new_bytes);
        if let Some(crc) = self.crc {
            // Only the four id bytes changed: update the CRC from them (constant time) rather
            // than reading the whole frame again.
            let after = (self.head.len().saturating_sub(at + 4) + self.content.len()) as u64;
            self.crc = Some(crc_patch::replace4(crc, old, new_bytes, after));
        }
        Ok(())
    }

    fn status(&self) -> Option<u32> {
        self.status_code().map(u32::from)
    }

    /// The interface: the unique name up to its first `:`.
    fn service(&self) -> Option<&str> {
        self.service_part(0)
    }

    /// The `sofa_head_method_name` header (Java SOFARPC), or else, for a hessian2 request
    /// whose class is `SofaRequest` (sofa-rpc-node sends the method in the content only), the
    /// `methodName` field the content starts with: read on each call, bounded, borrowed from
    /// the content, allocation-free; `None` if the content is not of that shape.
    fn method(&self) -> Option<&str> {
        self.headers().get(HEADER_METHOD).or_else(|| {
            let sofa_request = self.codec() == CODEC_HESSIAN2
                && self.class_name_bytes() == sofa_request::SOFA_REQUEST_CLASS.as_bytes();
            sofa_request.then(|| sofa_request::method_name(&self.content)).flatten()
        })
    }

    /// The version: the unique name's segment after the first `:`.
    fn version(&self) -> Option<&str> {
        self.service_part(1)
    }

    /// SOFARPC's uniqueId (its equivalent of a group): the unique name's third segment.
    fn group(&self) -> Option<&str> {
        self.service_part(2)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers().get(name)
    }

    /// Sets an entry of the header map; see [`Frame::set_header`]. The head (fixed header,
    /// class name, header block) is rewritten with the new header length and the CRC, if
    /// any, recomputed; the content is not copied.
    fn set_header(&mut self, name: &str, value: &str) -> Result<(), EncodeError> {
        self.edit_header(name, Some(value))
    }

    /// Removes every entry `name` of the header map; see [`Frame::remove_header`].
    fn remove_header(&mut self, name: &str) -> Result<(), EncodeError> {
        self.edit_header(name, None)
    }

    fn for_each_header(&self, visit: &mut dyn FnMut(&str, &str)) {
        for (k, v) in self.headers().iter_str() {
            visit(k, v);
        }
    }

    fn body(&self) -> &Bytes {
        &self.content
    }

    fn wire_len(&self) -> usize {
        self.head.len() + self.content.len() + if self.crc.is_some() { layout::CRC_LEN } else { 0 }
    }
}
