//! [`BoltCodec`]: the sans-IO decoder and encoder of one Bolt version.

use bytes::{Buf, BytesMut};
use xprotocol::{Codec, DecodeError, EncodeError, Limits};

use crate::frame::BoltFrame;
use crate::header_map;
use crate::layout::{self, BoltVersion, FixedHeader};

/// Decodes and encodes frames of one Bolt version (a connection speaks one). A frame of the
/// other version is a typed error on its proto byte.
///
/// Decoding waits, consuming nothing, until the fixed header is there; checks the fields that
/// frame the message (proto, type and cmdcode, v2 `ver1` and `switch`) and the declared lengths
/// against [`Limits`] before waiting for the rest; then waits for the whole frame (reserving
/// what is missing), validates the header block, verifies the CRC if present, and splits the
/// frame off the buffer without copying or allocating.
#[derive(Clone, Debug)]
pub struct BoltCodec {
    version: BoltVersion,
    limits: Limits,
}

impl BoltCodec {
    /// A codec for `version` enforcing `limits`.
    pub fn new(version: BoltVersion, limits: Limits) -> Self {
        BoltCodec { version, limits }
    }

    /// The version this codec speaks.
    pub fn version(&self) -> BoltVersion {
        self.version
    }

    /// Checks the fixed header: field combinations and declared lengths. Detection runs the
    /// same check, so that it refuses exactly what decoding would.
    pub(crate) fn check(&self, h: &FixedHeader) -> Result<(), DecodeError> {
        let v = self.version;
        if layout::kind_of(h.cmd_type, h.cmdcode).is_none() {
            return Err(DecodeError::Unsupported {
                field: "cmdcode",
                offset: v.cmdcode_offset(),
                value: h.cmdcode.into(),
            });
        }
        if v == BoltVersion::V2 {
            if !(1..=2).contains(&h.ver1) {
                return Err(DecodeError::Unsupported {
                    field: "ver1",
                    offset: 1,
                    value: h.ver1.into(),
                });
            }
            // sofa-bolt-node writes 0 or 1 and frames a trailer iff the byte is 1; Java bolt
            // frames one iff ver1 is 2 and bit 0 is set. Other values would be framed
            // differently by the two, so they are refused.
            if h.switch > layout::SWITCH_CRC {
                return Err(DecodeError::Unsupported {
                    field: "switch",
                    offset: v.switch_offset(),
                    value: h.switch.into(),
                });
            }
        }
        let lengths = v.lengths_offset(h.is_response());
        if h.class_len > layout::MAX_SHORT_LEN {
            return Err(DecodeError::malformed(
                "class length",
                lengths,
                "negative as a Java short",
            ));
        }
        if h.header_len > layout::MAX_SHORT_LEN {
            return Err(DecodeError::malformed(
                "header length",
                lengths + 2,
                "negative as a Java short",
            ));
        }
        if h.content_len > layout::MAX_CONTENT_LEN {
            return Err(DecodeError::malformed(
                "content length",
                lengths + 4,
                "negative as a Java int",
            ));
        }
        self.limits.check_header(u64::from(h.class_len) + u64::from(h.header_len))?;
        self.limits.check_frame(h.frame_len())
    }
}

impl Codec for BoltCodec {
    type Frame = BoltFrame;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BoltFrame>, DecodeError> {
        let v = self.version;
        let Some(&proto) = src.first() else { return Ok(None) };
        if proto != v.proto() {
            return Err(DecodeError::Unsupported {
                field: "proto",
                offset: 0,
                value: proto.into(),
            });
        }
        let Some(&cmd_type) = src.get(v.type_offset()) else { return Ok(None) };
        let fixed_len = v.fixed_len(cmd_type == layout::TYPE_RESPONSE);
        let Some(fixed_bytes) = src.get(..fixed_len) else {
            // Unknown types are refused now rather than after more bytes.
            if cmd_type > layout::TYPE_ONEWAY {
                layout::parse(v, src)?;
            }
            return Ok(None);
        };
        let h = layout::parse(v, fixed_bytes)?;
        self.check(&h)?;

        // `check` bounded the frame by `max_frame_bytes`, which is a usize.
        let frame_len = usize::try_from(h.frame_len()).map_err(|_| DecodeError::FrameTooLarge {
            declared: h.frame_len(),
            limit: usize::MAX,
        })?;
        if src.len() < frame_len {
            xprotocol::codec::reserve_for_frame(src, frame_len);
            return Ok(None);
        }

        let head_len = h.head_len();
        let header_start = fixed_len + usize::from(h.class_len);
        let block = src.get(header_start..head_len).unwrap_or_default();
        header_map::validate(block, header_start)?;

        let body_end = head_len + h.content_len as usize;
        let crc = if h.has_crc() {
            let trailer: [u8; 4] = src
                .get(body_end..body_end + layout::CRC_LEN)
                .and_then(|b| b.try_into().ok())
                .ok_or(DecodeError::malformed("crc", body_end, "missing"))?;
            let expected = u32::from_be_bytes(trailer);
            let actual = crc32fast::hash(src.get(..body_end).unwrap_or_default());
            if expected != actual {
                return Err(DecodeError::Checksum { expected, actual });
            }
            Some(expected)
        } else {
            None
        };

        let head = src.split_to(head_len);
        let content = src.split_to(h.content_len as usize).freeze();
        if crc.is_some() {
            src.advance(layout::CRC_LEN);
        }
        Ok(Some(BoltFrame::from_parts(head, content, crc)))
    }

    fn encode(&mut self, frame: &BoltFrame, dst: &mut BytesMut) -> Result<(), EncodeError> {
        if frame.bolt_version() != self.version {
            return Err(EncodeError::Unencodable("frame is of the other Bolt version"));
        }
        dst.reserve(xprotocol::Frame::wire_len(frame));
        dst.extend_from_slice(&frame.head);
        dst.extend_from_slice(&frame.content);
        if let Some(crc) = frame.crc {
            dst.extend_from_slice(&crc.to_be_bytes());
        }
        Ok(())
    }
}
