//! Building Bolt frames from fields, for SDK clients, error replies and tests.

use bytes::{Bytes, BytesMut};
use xprotocol::EncodeError;

use crate::frame::BoltFrame;
use crate::header_map::HeaderBlockWriter;
use crate::layout::{self, BoltVersion, FixedHeader};
use crate::status::ResponseStatus;

/// Serialisation code of hessian2, SOFARPC's default.
pub const CODEC_HESSIAN2: u8 = 1;
/// Serialisation code of protobuf.
pub const CODEC_PROTOBUF: u8 = 11;

/// Timeout of a heartbeat request, as sofa-bolt-node and Java SOFARPC send it.
pub const HEARTBEAT_TIMEOUT_MS: u32 = 3000;

/// A frame under construction. Defaults: codec hessian2, `ver2` 1, v2 `ver1` 1 with the CRC
/// switch off, timeout 0, no class name, no headers, empty content.
#[derive(Debug)]
#[must_use = "call build() to get the frame"]
pub struct BoltFrameBuilder {
    fixed: FixedHeader,
    class_name: Bytes,
    headers: HeaderBlockWriter,
    content: Bytes,
    error: Option<EncodeError>,
}

impl BoltFrame {
    /// A request (type 1, cmdcode 1) expecting a response.
    pub fn request(version: BoltVersion, id: u32) -> BoltFrameBuilder {
        BoltFrameBuilder::new(version, layout::TYPE_REQUEST, layout::CMD_REQUEST, id)
    }

    /// A one-way request (type 2, cmdcode 1).
    pub fn oneway(version: BoltVersion, id: u32) -> BoltFrameBuilder {
        BoltFrameBuilder::new(version, layout::TYPE_ONEWAY, layout::CMD_REQUEST, id)
    }

    /// A response (type 0, cmdcode 2) with `status`.
    pub fn response(version: BoltVersion, id: u32, status: ResponseStatus) -> BoltFrameBuilder {
        BoltFrameBuilder::new(version, layout::TYPE_RESPONSE, layout::CMD_RESPONSE, id)
            .status_code(status.as_u16())
    }

    /// A heartbeat request (type 1, cmdcode 0) with the usual 3000 ms timeout.
    pub fn heartbeat(version: BoltVersion, id: u32) -> BoltFrameBuilder {
        BoltFrameBuilder::new(version, layout::TYPE_REQUEST, layout::CMD_HEARTBEAT, id)
            .timeout(HEARTBEAT_TIMEOUT_MS)
    }

    /// A heartbeat ack (type 0, cmdcode 0, status success).
    pub fn heartbeat_ack(version: BoltVersion, id: u32) -> BoltFrameBuilder {
        BoltFrameBuilder::new(version, layout::TYPE_RESPONSE, layout::CMD_HEARTBEAT, id)
    }

    /// A GoAway (MOSN's cmdcode 100, sent as a request).
    pub fn goaway(version: BoltVersion, id: u32) -> BoltFrameBuilder {
        BoltFrameBuilder::new(version, layout::TYPE_REQUEST, layout::CMD_GOAWAY, id)
    }
}

impl BoltFrameBuilder {
    fn new(version: BoltVersion, cmd_type: u8, cmdcode: u16, request_id: u32) -> Self {
        BoltFrameBuilder {
            fixed: FixedHeader {
                version,
                ver1: if version == BoltVersion::V2 { 1 } else { 0 },
                cmd_type,
                cmdcode,
                ver2: 1,
                request_id,
                codec: CODEC_HESSIAN2,
                switch: 0,
                timeout: 0,
                status: 0,
                class_len: 0,
                header_len: 0,
                content_len: 0,
            },
            class_name: Bytes::new(),
            headers: HeaderBlockWriter::new(),
            content: Bytes::new(),
            error: None,
        }
    }

    /// Sets the v2 `ver1` byte (1, or 2 for the CRC-capable protocol). Ignored in v1.
    pub fn ver1(mut self, ver1: u8) -> Self {
        if self.fixed.version == BoltVersion::V2 {
            self.fixed.ver1 = ver1;
        }
        self
    }

    /// Turns the v2 CRC32 trailer on or off (switch byte 1 or 0). Peers expect `ver1` 2 with
    /// it; set that with [`ver1`](Self::ver1). In v1, `true` makes `build` fail.
    pub fn crc(mut self, on: bool) -> Self {
        if self.fixed.version == BoltVersion::V2 {
            self.fixed.switch = if on { layout::SWITCH_CRC } else { 0 };
        } else if on {
            self.error.get_or_insert(EncodeError::Unencodable("Bolt v1 has no CRC"));
        }
        self
    }

    /// Sets the serialisation code.
    pub fn codec(mut self, codec: u8) -> Self {
        self.fixed.codec = codec;
        self
    }

    /// Sets the command version byte (`ver2`).
    pub fn ver2(mut self, ver2: u8) -> Self {
        self.fixed.ver2 = ver2;
        self
    }

    /// Sets a request's timeout in milliseconds (ignored for responses).
    pub fn timeout(mut self, ms: u32) -> Self {
        if !self.fixed.is_response() {
            self.fixed.timeout = ms;
        }
        self
    }

    /// Sets a response's raw status code (ignored for requests).
    pub fn status_code(mut self, code: u16) -> Self {
        if self.fixed.is_response() {
            self.fixed.status = code;
        }
        self
    }

    /// Sets the class name.
    pub fn class_name(mut self, name: impl Into<Bytes>) -> Self {
        self.class_name = name.into();
        self
    }

    /// Appends a header entry.
    pub fn header(mut self, key: &str, value: &str) -> Self {
        if let Err(e) = self.headers.push(key, value) {
            self.error.get_or_insert(e);
        }
        self
    }

    /// Appends a raw header entry (`None` = null).
    pub fn header_raw(mut self, key: Option<&[u8]>, value: Option<&[u8]>) -> Self {
        if let Err(e) = self.headers.push_raw(key, value) {
            self.error.get_or_insert(e);
        }
        self
    }

    /// Sets the content.
    pub fn content(mut self, content: impl Into<Bytes>) -> Self {
        self.content = content.into();
        self
    }

    /// The frame.
    ///
    /// # Errors
    /// [`EncodeError::TooLong`] when the class name or header block is over 32767 bytes or the
    /// content over `i32::MAX` (the peers read these lengths as signed Java integers);
    /// [`EncodeError::Unencodable`] for a CRC asked of a v1 frame or a v2 `ver1` other than 1
    /// or 2 (decoders refuse those).
    pub fn build(self) -> Result<BoltFrame, EncodeError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut fixed = self.fixed;
        if fixed.version == BoltVersion::V2 && !(1..=2).contains(&fixed.ver1) {
            return Err(EncodeError::Unencodable("Bolt v2 ver1 must be 1 or 2"));
        }
        fixed.class_len = short_len("class name", self.class_name.len())?;
        fixed.header_len = short_len("header block", self.headers.len())?;
        fixed.content_len = u32::try_from(self.content.len())
            .ok()
            .filter(|&l| l <= layout::MAX_CONTENT_LEN)
            .ok_or(EncodeError::TooLong {
                field: "content",
                len: self.content.len(),
                max: layout::MAX_CONTENT_LEN as usize,
            })?;
        let mut head = BytesMut::with_capacity(fixed.head_len());
        fixed.write(&mut head);
        head.extend_from_slice(&self.class_name);
        head.extend_from_slice(self.headers.as_bytes());
        let crc = fixed.has_crc().then(|| BoltFrame::compute_crc(&head, &self.content));
        Ok(BoltFrame::from_parts(head, self.content, crc))
    }
}

fn short_len(field: &'static str, len: usize) -> Result<u16, EncodeError> {
    u16::try_from(len).ok().filter(|&l| l <= layout::MAX_SHORT_LEN).ok_or(EncodeError::TooLong {
        field,
        len,
        max: layout::MAX_SHORT_LEN.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use xprotocol::{Frame, StreamKind};

    #[test]
    fn defaults_and_kinds() {
        let f = BoltFrame::request(BoltVersion::V2, 3).build().unwrap();
        assert_eq!(f.kind(), StreamKind::Request);
        assert_eq!(f.ver1(), Some(1));
        assert_eq!(f.switch(), Some(0));
        assert_eq!(f.codec(), CODEC_HESSIAN2);
        assert_eq!(f.crc(), None);
        assert_eq!(f.wire_len(), 24);
        let hb = BoltFrame::heartbeat(BoltVersion::V1, 1).build().unwrap();
        assert_eq!((hb.kind(), hb.timeout()), (StreamKind::HeartbeatRequest, Some(3000)));
        let ack = BoltFrame::heartbeat_ack(BoltVersion::V1, 1).build().unwrap();
        assert_eq!((ack.kind(), ack.status()), (StreamKind::HeartbeatResponse, Some(0)));
        let ga = BoltFrame::goaway(BoltVersion::V1, 1).build().unwrap();
        assert_eq!(ga.kind(), StreamKind::GoAway);
        let ow = BoltFrame::oneway(BoltVersion::V1, 1).build().unwrap();
        assert_eq!(ow.kind(), StreamKind::OneWayRequest);
    }

    #[test]
    fn limits_are_enforced() {
        let long = vec![b'c'; 0x8000];
        assert!(matches!(
            BoltFrame::request(BoltVersion::V1, 1).class_name(long.clone()).build(),
            Err(EncodeError::TooLong { field: "class name", .. })
        ));
        assert!(BoltFrame::request(BoltVersion::V1, 1)
            .class_name(vec![b'c'; 0x7fff])
            .build()
            .is_ok());
        let big = String::from_utf8(vec![b'v'; 0x8000]).unwrap();
        assert!(matches!(
            BoltFrame::request(BoltVersion::V1, 1).header("k", &big).build(),
            Err(EncodeError::TooLong { field: "header block", .. })
        ));
        assert!(matches!(
            BoltFrame::request(BoltVersion::V1, 1).crc(true).build(),
            Err(EncodeError::Unencodable(_))
        ));
        for ver1 in [0, 3] {
            assert!(matches!(
                BoltFrame::request(BoltVersion::V2, 1).ver1(ver1).build(),
                Err(EncodeError::Unencodable(_))
            ));
        }
    }
}
