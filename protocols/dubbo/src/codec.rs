//! The sans-IO codec.

use bytes::{BufMut, BytesMut};
use xprotocol::{Codec, DecodeError, EncodeError, Limits};

use crate::frame::DubboFrame;
use crate::header::{Header, HEADER_LEN};

/// Decodes and encodes Dubbo frames on one connection.
///
/// Decoding checks the magic bytes as soon as they arrive and the declared body length against
/// [`Limits::max_frame_bytes`] from the header alone; it then waits for the whole frame and
/// splits it off without copying. Encoding writes the frame's header bytes (with any rewritten
/// request id) and its body as they are.
#[derive(Clone, Debug)]
pub struct DubboCodec {
    limits: Limits,
}

impl DubboCodec {
    /// A codec enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        DubboCodec { limits }
    }
}

impl Codec for DubboCodec {
    type Frame = DubboFrame;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<DubboFrame>, DecodeError> {
        let Some(header) = Header::parse(src)? else {
            return Ok(None);
        };
        let total = HEADER_LEN as u64 + u64::from(header.body_len);
        self.limits.check_frame(total)?;
        let total = total as usize;
        if src.len() < total {
            return Ok(None);
        }
        let wire = src.split_to(total).freeze();
        DubboFrame::from_parts(header, wire.slice(HEADER_LEN..), &self.limits).map(Some)
    }

    fn encode(&mut self, frame: &DubboFrame, dst: &mut BytesMut) -> Result<(), EncodeError> {
        dst.reserve(xprotocol::Frame::wire_len(frame));
        dst.put_slice(frame.header_bytes());
        dst.put_slice(xprotocol::Frame::body(frame));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xprotocol::testkit::expect_decode_error;

    fn request(body: &[u8]) -> Vec<u8> {
        let mut v = vec![0xda, 0xbb, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 7];
        v.extend_from_slice(&(body.len() as u32).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    fn decode(bytes: &[u8], limits: Limits) -> Result<Option<DubboFrame>, DecodeError> {
        DubboCodec::new(limits).decode(&mut BytesMut::from(bytes))
    }

    #[test]
    fn oversized_frames_are_refused_from_the_header() {
        let mut header = request(b"")[..16].to_vec();
        header[12..16].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(decode(&header, Limits::DEFAULT), Err(DecodeError::FrameTooLarge { .. })));
    }

    #[test]
    fn bad_magic_fails_on_the_first_byte() {
        assert!(decode(&[0x47], Limits::DEFAULT).is_err());
        assert_eq!(decode(&[0xda], Limits::DEFAULT), Ok(None));
    }

    #[test]
    fn bad_request_bodies_give_typed_errors() {
        let limits = Limits::DEFAULT;
        // Truncated routing string.
        let r = decode(&request(b"\x05ab"), limits);
        expect_decode_error(r);
        // Descriptor that is not one.
        let r = decode(&request(b"\x01a\x01b\x01c\x01d\x01Q"), limits);
        assert!(matches!(r, Err(DecodeError::Malformed { field: "parameter types", .. })));
        // An argument nested deeper than the limit.
        let mut body = b"\x01a\x01b\x01c\x01d\x12Ljava/lang/Object;".to_vec();
        body.extend(std::iter::repeat_n(b'W', 100_000));
        let r = decode(&request(&body), limits);
        assert!(matches!(r, Err(DecodeError::TooDeep { limit: 64, .. })), "{r:?}");
        // Attachments that are not a map.
        let r = decode(&request(b"\x01a\x01b\x01c\x01d\x00\x90"), limits);
        expect_decode_error(r);
        // A self-reference is skipped, not followed.
        let ok = decode(&request(b"\x01a\x01b\x01c\x01d\x00H\x01kQ\x90Z"), limits);
        assert!(matches!(ok, Ok(Some(_))), "{ok:?}");
        // Routing strings and attachments count against the header limit.
        let tight = Limits { max_header_bytes: 8, ..Limits::DEFAULT };
        let r = decode(&request(b"\x01a\x01b\x01c\x01d\x00H\x05group\x02g1Z"), tight);
        assert!(matches!(r, Err(DecodeError::HeaderTooLarge { .. })), "{r:?}");
    }

    #[test]
    fn attachments_read_on_demand_keep_the_decode_time_rules() {
        use xprotocol::Frame;
        // A non-UTF-8 value hides its entry (the next `k` is found), the last UTF-8 `group`
        // wins; in a plain `H` map of strings and in a typed map with a non-string entry
        // (read again from the start of the body).
        let entries: &[u8] = b"\x01k\x01\xc3\x28\x01k\x01v\x05group\x02g1\x05group\x02\xc3\x28x";
        for (open, extra) in [(&b"H"[..], &b""[..]), (&b"M\x03Map"[..], &b"\x91\x92"[..])] {
            let mut body = b"\x01a\x01b\x01c\x01d\x00".to_vec();
            body.extend_from_slice(open);
            body.extend_from_slice(extra);
            body.extend_from_slice(entries);
            body.push(b'Z');
            let frame = decode(&request(&body), Limits::DEFAULT).unwrap().unwrap();
            assert_eq!(frame.header("k"), Some("v"), "{open:?}");
            assert_eq!(frame.group(), Some("g1"), "{open:?}");
            assert_eq!(frame.header("absent"), None);
            let mut seen = Vec::new();
            frame.for_each_header(&mut |k, v| seen.push(format!("{k}={v}")));
            assert_eq!(seen, ["k=v", "group=g1"], "{open:?}");
        }
    }

    #[test]
    fn many_attachments_spill_and_stay_readable() {
        let mut body = BytesMut::new();
        let mut w = crate::hessian2::Writer::new(&mut body);
        w.string("2.0.2").string("S").string("").string("m").string("").map_begin();
        for i in 0..40 {
            w.string(&format!("k{i}")).string(&format!("v{i}"));
        }
        w.int(1).int(2); // a non-string pair is skipped
        w.end();
        let frame = decode(&request(&body), Limits::DEFAULT).unwrap().unwrap();
        assert_eq!(xprotocol::Frame::header(&frame, "k39"), Some("v39"));
        assert_eq!(xprotocol::Frame::header(&frame, "k0"), Some("v0"));
        let mut n = 0;
        xprotocol::Frame::for_each_header(&frame, &mut |_, _| n += 1);
        assert_eq!(n, 40);
    }
}
