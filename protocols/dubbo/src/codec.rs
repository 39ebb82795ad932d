//! The sans-IO codec.

use bytes::{Buf, BufMut, BytesMut};
use xprotocol::{Codec, DecodeError, EncodeError, Limits};

use crate::frame::DubboFrame;
use crate::header::{Header, HEADER_LEN};

/// Decodes and encodes Dubbo frames on one connection.
///
/// Decoding checks the magic bytes as soon as they arrive and the declared body length against
/// [`Limits::max_frame_bytes`] from the header alone; it then waits for the whole frame and
/// splits it off without copying. It does not read the body: a hessian2 request's routing
/// fields are read, under the codec's limits, on the frame's first routing lookup (see
/// [`DubboFrame`]). Encoding writes the frame's header bytes (with any rewritten request id)
/// and its body as they are.
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
        if (src.len() as u64) < total {
            return Ok(None);
        }
        // The header is kept as a copy (it is patched in place on an id rewrite), the body as
        // a slice of the buffer: one split, and the body is not read here.
        let head = src.first_chunk::<HEADER_LEN>().copied().ok_or(DecodeError::malformed(
            "header",
            0,
            "truncated header",
        ))?;
        src.advance(HEADER_LEN);
        let body = src.split_to(header.body_len as usize).freeze();
        Ok(Some(DubboFrame::lazy(head, body, &self.limits)))
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

    /// Decodes `body` as a request (which must succeed: the codec does not read bodies) and
    /// returns why its routing fields do not read, if they do not.
    fn routing_error(body: &[u8], limits: Limits) -> Option<DecodeError> {
        use xprotocol::Frame;
        let wire = request(body);
        let frame = decode(&wire, limits).unwrap().unwrap();
        let error = frame.routing_error();
        if error.is_some() {
            // A body that does not read gives no routing field, and still relays byte-exact.
            assert_eq!((frame.service(), frame.method(), frame.group()), (None, None, None));
            assert_eq!((frame.header("k"), frame.arguments()), (None, None));
            let mut n = 0;
            frame.for_each_header(&mut |_, _| n += 1);
            assert_eq!(n, 0);
            let mut out = BytesMut::new();
            DubboCodec::new(limits).encode(&frame, &mut out).unwrap();
            assert_eq!(&out[..], &wire[..]);
        }
        error
    }

    #[test]
    fn bad_request_bodies_give_typed_errors_on_first_lookup() {
        let limits = Limits::DEFAULT;
        // Truncated routing string.
        assert!(routing_error(b"\x05ab", limits).is_some());
        // Descriptor that is not one.
        let r = routing_error(b"\x01a\x01b\x01c\x01d\x01Q", limits);
        assert!(matches!(r, Some(DecodeError::Malformed { field: "parameter types", .. })));
        // An argument nested deeper than the limit.
        let mut body = b"\x01a\x01b\x01c\x01d\x12Ljava/lang/Object;".to_vec();
        body.extend(std::iter::repeat_n(b'W', 100_000));
        let r = routing_error(&body, limits);
        assert!(matches!(r, Some(DecodeError::TooDeep { limit: 64, .. })), "{r:?}");
        // Attachments that are not a map.
        assert!(routing_error(b"\x01a\x01b\x01c\x01d\x00\x90", limits).is_some());
        // A self-reference is skipped, not followed.
        let ok = routing_error(b"\x01a\x01b\x01c\x01d\x00H\x01kQ\x90Z", limits);
        assert_eq!(ok, None);
        // Routing strings and attachments count against the header limit of the codec that
        // decoded the frame.
        let tight = Limits { max_header_bytes: 8, ..Limits::DEFAULT };
        let body = b"\x01a\x01b\x01c\x01d\x00H\x05group\x02g1Z";
        let r = routing_error(body, tight);
        assert!(matches!(r, Some(DecodeError::HeaderTooLarge { .. })), "{r:?}");
        assert_eq!(routing_error(body, limits), None);
    }

    #[test]
    fn the_body_is_read_on_first_lookup_only() {
        use xprotocol::Frame;
        // A garbage hessian2 request body decodes: the codec checks only the header.
        let garbage = request(b"\xff\xfe\xfd not hessian2");
        let mut codec = DubboCodec::new(Limits::DEFAULT);
        let mut src = BytesMut::from(&garbage[..]);
        let mut frame = codec.decode(&mut src).unwrap().unwrap();
        assert!(src.is_empty());
        assert_eq!(frame.kind(), xprotocol::StreamKind::Request);
        assert_eq!(frame.request_id(), xprotocol::RequestId(7));
        // Rewriting the id does not need the body either, and re-encodes byte-exact.
        frame.set_request_id(xprotocol::RequestId(0x0102)).unwrap();
        let mut out = BytesMut::new();
        codec.encode(&frame, &mut out).unwrap();
        assert_eq!(&out[12..], &garbage[12..]);
        assert_eq!(&out[4..12], &[0, 0, 0, 0, 0, 0, 1, 2]);
        // The first lookup reads it and finds it does not read; so does every later one, and
        // a clone.
        assert_eq!(frame.service(), None);
        assert!(frame.routing_error().is_some());
        assert!(frame.clone().routing_error().is_some());
        assert_eq!(frame.method(), None);
        assert!(frame.set_header("k", "v").is_err(), "no edit of a body that does not read");
        // A well-formed body, read after the rewrite, routes.
        let mut body = BytesMut::new();
        crate::hessian2::Writer::new(&mut body)
            .string("2.0.2")
            .string("S")
            .string("1.0")
            .string("m")
            .string("");
        let mut src = BytesMut::from(&request(&body)[..]);
        let mut frame = codec.decode(&mut src).unwrap().unwrap();
        frame.set_request_id(xprotocol::RequestId(9)).unwrap();
        assert_eq!(
            (frame.service(), frame.method(), frame.version()),
            (Some("S"), Some("m"), Some("1.0"))
        );
        assert_eq!(frame.routing_error(), None);
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

    /// Everything a routing lookup reads, as owned values.
    type Read = (Vec<Option<String>>, Option<Vec<u8>>, Vec<(String, String)>);

    fn read(f: &DubboFrame) -> Read {
        use xprotocol::Frame;
        let fields = [f.service(), f.method(), f.version(), f.group()]
            .into_iter()
            .chain([f.dubbo_version(), f.parameter_types(), f.header("path")])
            .map(|v| v.map(str::to_owned))
            .collect();
        let mut headers = Vec::new();
        f.for_each_header(&mut |k, v| headers.push((k.to_owned(), v.to_owned())));
        (fields, f.arguments().map(<[u8]>::to_vec), headers)
    }

    #[test]
    fn frames_stay_within_128_bytes() {
        // Moved several times per request: past 128 bytes a move is a call to `memcpy`.
        assert!(std::mem::size_of::<DubboFrame>() <= 128);
    }

    proptest::proptest! {
        #[test]
        fn reading_on_first_lookup_gives_what_reading_at_once_gives(
            f in crate::arbitrary::frame(),
            tight in proptest::bool::ANY,
        ) {
            use xprotocol::Frame as _;
            let limits = if tight {
                Limits { max_header_bytes: 96, max_nesting: 2, ..Limits::DEFAULT }
            } else {
                Limits::DEFAULT
            };
            let mut wire = BytesMut::new();
            DubboCodec::new(limits).encode(&f, &mut wire).unwrap();
            let at_once = DubboFrame::from_wire(wire.clone().freeze(), &limits);
            let lazy = DubboCodec::new(limits).decode(&mut wire).unwrap().unwrap();
            match at_once {
                Ok(eager) => {
                    proptest::prop_assert_eq!(lazy.routing_error(), None);
                    proptest::prop_assert_eq!(read(&lazy), read(&eager));
                }
                Err(e) => {
                    proptest::prop_assert_eq!(lazy.routing_error(), Some(e));
                    proptest::prop_assert_eq!(read(&lazy), (vec![None; 7], None, vec![]));
                }
            }
        }
    }
}
