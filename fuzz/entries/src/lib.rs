//! The body of every fuzz target. The cargo-fuzz targets in `fuzz/fuzz_targets/` call these,
//! and the stable test `tests/tests/fuzz_corpus_replay.rs` replays every committed input
//! through the same function, found by target name with [`entry`].
#![warn(missing_docs)]

mod http;

pub use http::{http1_serve, http2_serve};

/// A fuzz target's body.
pub type Body = fn(&[u8]);

/// Every target: its name (the cargo-fuzz binary and corpus folder) and its body.
pub const TARGETS: &[(&str, Body)] = &[
    ("bolt_v1_decode", bolt_v1_decode),
    ("bolt_v2_decode", bolt_v2_decode),
    ("dubbo_decode", dubbo_decode),
    ("hessian2_skip", hessian2_skip),
    ("tars_decode", tars_decode),
    ("tars_tlv", tars_tlv),
    ("echo_decode", echo_decode),
    ("registry_detect", registry_detect),
    ("grpc_message_decode", grpc_message_decode),
    ("http1_serve", http1_serve),
    ("http2_serve", http2_serve),
];

/// The body of the target named `name`.
pub fn entry(name: &str) -> Option<Body> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// Links every protocol crate so that `inventory` registers each one.
pub fn link_protocols() {
    let _ = (&xprotocol_bolt::BOLT_V1, &xprotocol_bolt::BOLT_V2, &echo_protocol::Echo);
    let _ = (&xprotocol_dubbo::Dubbo, &xprotocol_tars::Tars);
    let _ = (&xprotocol_http1::Http1, &xprotocol_http2::Http2);
}

/// Bolt v1 through the SDK's generic decoder checks.
pub fn bolt_v1_decode(data: &[u8]) {
    xprotocol::testkit::fuzz_decode(&xprotocol_bolt::BOLT_V1, data);
}

/// Bolt v2 (with and without CRC) through the SDK's generic decoder checks.
pub fn bolt_v2_decode(data: &[u8]) {
    xprotocol::testkit::fuzz_decode(&xprotocol_bolt::BOLT_V2, data);
}

/// Dubbo: the crate's byte-exactness checks under default and tight limits, then the SDK's.
pub fn dubbo_decode(data: &[u8]) {
    xprotocol_dubbo::fuzz_decode(data);
    xprotocol::testkit::fuzz_decode(&xprotocol_dubbo::Dubbo, data);
}

/// The hessian2 skipper on its own.
pub fn hessian2_skip(data: &[u8]) {
    xprotocol_dubbo::fuzz_hessian2_skip(data);
}

/// Tars: the SDK's generic checks, then the crate's own invariants.
pub fn tars_decode(data: &[u8]) {
    xprotocol::testkit::fuzz_decode(&xprotocol_tars::Tars, data);
    if let Err(bug) = xprotocol_tars::fuzz_decode(data) {
        panic!("tars invariant broken: {bug}");
    }
}

/// The Tars TLV reader on its own, under a shallow and the default nesting limit.
pub fn tars_tlv(data: &[u8]) {
    for max_nesting in [4, 64] {
        let (fields, _err) = xprotocol_tars::fuzz_tlv(data, max_nesting);
        assert!(fields <= data.len(), "more fields than bytes");
    }
}

/// The example private protocol, with the SDK's ready-made entry point.
pub fn echo_decode(data: &[u8]) {
    xprotocol::testkit::fuzz_decode(&echo_protocol::Echo, data);
}

/// Detection across every registered protocol, then a decode with whichever matched.
pub fn registry_detect(data: &[u8]) {
    link_protocols();
    xprotocol::testkit::fuzz_detect(data);
}

/// gRPC length-prefixed messages, under a tight and a roomy size limit, fed whole and in two
/// pieces: every decoded message re-encodes to exactly the bytes it consumed, a rejected length
/// is over the limit, and a split changes nothing.
pub fn grpc_message_decode(data: &[u8]) {
    use xprotocol_grpc::{encode_message, MessageDecoder, MessageError};

    /// Decodes all of `src`: the messages re-encoded back to back, and how it ended.
    fn decode_all(
        decoder: &mut MessageDecoder,
        src: &mut bytes::BytesMut,
        encoded: &mut bytes::BytesMut,
    ) -> Option<MessageError> {
        loop {
            let before = src.len();
            match decoder.decode(src) {
                Ok(Some(message)) => {
                    assert!(message.data.len() <= decoder.max_message_bytes(), "over the limit");
                    assert_eq!(before - src.len(), message.encoded_len(), "consumed bytes");
                    encode_message(&message.data, message.compressed, encoded)
                        .expect("a decoded message re-encodes");
                }
                Ok(None) => return None,
                Err(err) => {
                    assert_eq!(src.len(), before, "an error consumed bytes");
                    match err {
                        MessageError::TooLarge { declared, limit } => {
                            assert!(declared > limit, "rejected a length within the limit")
                        }
                        MessageError::BadFlag { flag } => assert!(flag > 1, "rejected flag {flag}"),
                        _ => {}
                    }
                    return Some(err);
                }
            }
        }
    }

    for max in [16, 1 << 20] {
        let mut decoder = MessageDecoder::new(max);
        let mut src = bytes::BytesMut::from(data);
        let mut encoded = bytes::BytesMut::new();
        let end = decode_all(&mut decoder, &mut src, &mut encoded);
        let consumed = data.len() - src.len();
        assert_eq!(&encoded[..], &data[..consumed], "re-encoding differs from the input");
        if end.is_none() {
            // Whatever is left is the start of one message still waiting for bytes.
            if let Some(&[_, a, b, c, d]) = src.get(..5) {
                let declared = u32::from_be_bytes([a, b, c, d]) as usize;
                assert!(src.len() < 5 + declared, "waiting with a whole message buffered");
            }
        }

        // The same bytes in two pieces decode to the same messages and end the same way.
        let first = usize::from(data.first().copied().unwrap_or(0));
        for split in [data.len() / 2, first % (data.len() + 1)] {
            let mut src = bytes::BytesMut::from(&data[..split]);
            let mut again = bytes::BytesMut::new();
            let mut split_end = decode_all(&mut decoder, &mut src, &mut again);
            if split_end.is_none() {
                src.extend_from_slice(&data[split..]);
                split_end = decode_all(&mut decoder, &mut src, &mut again);
            }
            assert_eq!(split_end, end, "a split at {split} changed how decoding ended");
            assert_eq!(again, encoded, "a split at {split} changed the messages");
        }
    }
}
