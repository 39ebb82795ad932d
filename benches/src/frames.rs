//! One request frame per protocol and body size, built with each crate's own builder and
//! encoded by its own codec, carrying the routing metadata a real client sends.

use bytes::{Bytes, BytesMut};
use xprotocol::{Codec, EncodeError, Limits, Protocol};
use xprotocol_bolt::{Bolt, BoltFrame, BoltVersion};
use xprotocol_dubbo::{hessian2::Writer, Dubbo, RequestBuilder};
use xprotocol_tars::{RequestPacket, Tars};

use echo_protocol::{Echo, EchoFrame};

/// Bolt v1 (`"bolt"`).
pub static BOLT_V1: Bolt = xprotocol_bolt::BOLT_V1;
/// Bolt v2 (`"boltv2"`).
pub static BOLT_V2: Bolt = xprotocol_bolt::BOLT_V2;
/// Dubbo (`"dubbo"`).
pub static DUBBO: Dubbo = Dubbo;
/// The example protocol (`"echo"`).
pub static ECHO: Echo = Echo;
/// Tars (`"tars"`).
pub static TARS: Tars = Tars;

/// The body sizes every codec is measured at: empty, 1 KiB and 64 KiB.
pub const BODY_SIZES: [usize; 3] = [0, 1024, 64 * 1024];

/// The service every request addresses.
pub const SERVICE: &str = "com.example.HelloService";
/// The method every request calls.
pub const METHOD: &str = "sayHello";
/// The Tars servant every Tars request addresses.
pub const TARS_SERVANT: &str = "Hello.HelloServer.HelloObj";

/// One measured codec configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    /// Bolt v1 request with a class name and two headers.
    BoltV1,
    /// Bolt v2 request (`ver1` 2) with the CRC32 trailer, otherwise as [`Subject::BoltV1`].
    BoltV2Crc,
    /// Bolt v2 request without the CRC trailer (only for comparing the CRC rewrite cost).
    BoltV2,
    /// Dubbo hessian2 request: routing fields, one `byte[]` argument, four attachments.
    Dubbo,
    /// Tars (iVersion 1) request with a 3000 ms timeout and no context.
    Tars,
    /// The example protocol's request: 11 header bytes and the payload.
    Echo,
}

impl Subject {
    /// The codecs the benchmarks cover, one per shipped wire format (Bolt v2 with its CRC).
    pub const ALL: [Subject; 5] =
        [Subject::BoltV1, Subject::BoltV2Crc, Subject::Dubbo, Subject::Tars, Subject::Echo];

    /// The name used in benchmark ids.
    pub fn label(self) -> &'static str {
        match self {
            Subject::BoltV1 => "bolt-v1",
            Subject::BoltV2Crc => "bolt-v2-crc",
            Subject::BoltV2 => "bolt-v2",
            Subject::Dubbo => "dubbo",
            Subject::Tars => "tars",
            Subject::Echo => "echo",
        }
    }

    /// The registered name of the protocol that owns this subject's frames.
    pub fn protocol_name(self) -> &'static str {
        match self {
            Subject::BoltV1 => BOLT_V1.name(),
            Subject::BoltV2Crc | Subject::BoltV2 => BOLT_V2.name(),
            Subject::Dubbo => DUBBO.name(),
            Subject::Tars => TARS.name(),
            Subject::Echo => ECHO.name(),
        }
    }

    /// The wire bytes of one request whose application payload (Bolt content, Dubbo
    /// argument, Tars `sBuffer`, echo payload) is `body_len` bytes.
    ///
    /// # Errors
    /// What the protocol's builder or encoder refuses (nothing, for the sizes used here).
    pub fn request(self, body_len: usize) -> Result<Bytes, EncodeError> {
        let body = payload(body_len);
        match self {
            Subject::BoltV1 => encode(&BOLT_V1, &bolt(BoltVersion::V1, false, body)?),
            Subject::BoltV2Crc => encode(&BOLT_V2, &bolt(BoltVersion::V2, true, body)?),
            Subject::BoltV2 => encode(&BOLT_V2, &bolt(BoltVersion::V2, false, body)?),
            Subject::Dubbo => {
                let mut argument = BytesMut::with_capacity(body.len() + 8);
                Writer::new(&mut argument).binary(&body);
                let attachments = [
                    ("path", SERVICE),
                    ("interface", SERVICE),
                    ("version", "1.0.0"),
                    ("timeout", "3000"),
                ];
                let request = RequestBuilder {
                    id: 1,
                    version: "1.0.0",
                    parameter_types: "[B",
                    arguments: &argument,
                    attachments: &attachments,
                    ..RequestBuilder::new(SERVICE, METHOD)
                };
                encode(&DUBBO, &request.build()?)
            }
            Subject::Tars => {
                let packet = RequestPacket {
                    timeout: 3000,
                    ..RequestPacket::new(1, TARS_SERVANT, METHOD, &body)
                };
                encode(&TARS, &packet.to_frame()?)
            }
            Subject::Echo => encode(&ECHO, &EchoFrame::request(1, body)),
        }
    }
}

/// A Bolt request as Java SOFARPC sends it: class name, service and method headers.
fn bolt(version: BoltVersion, crc: bool, body: Bytes) -> Result<BoltFrame, EncodeError> {
    BoltFrame::request(version, 1)
        .ver1(if crc { 2 } else { 1 })
        .crc(crc)
        .timeout(3000)
        .class_name("com.alipay.sofa.rpc.core.request.SofaRequest")
        .header("service", "com.example.HelloService:1.0")
        .header("sofa_head_method_name", METHOD)
        .content(body)
        .build()
}

fn encode<P: Protocol>(protocol: &P, frame: &P::Frame) -> Result<Bytes, EncodeError> {
    let mut wire = BytesMut::new();
    protocol.codec(Limits::DEFAULT).encode(frame, &mut wire)?;
    Ok(wire.freeze())
}

/// `len` bytes of a fixed, non-repeating-looking pattern (so that nothing benefits from a
/// body of zeros).
pub fn payload(len: usize) -> Bytes {
    (0..len).map(|i| (i.wrapping_mul(31).wrapping_add(7) % 251) as u8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use xprotocol::{Frame, StreamKind};

    fn check<P: Protocol>(protocol: &P, subject: Subject, body_len: usize) {
        let wire = subject.request(body_len).unwrap();
        let mut codec = protocol.codec(Limits::DEFAULT);
        let mut src = BytesMut::from(&wire[..]);
        let frame = codec.decode(&mut src).unwrap().expect("a whole frame");
        assert!(src.is_empty(), "{subject:?}: bytes left over");
        assert_eq!(frame.kind(), StreamKind::Request);
        assert_eq!(frame.wire_len(), wire.len());
        // The example protocol carries no method; every RPC protocol does.
        let method = (subject != Subject::Echo).then_some(METHOD);
        assert_eq!(frame.method(), method, "{subject:?}");
        // Dubbo's body is the whole hessian2 body (routing fields, argument, attachments);
        // the others' is exactly the payload.
        if subject == Subject::Dubbo {
            assert!(frame.body().len() > body_len);
        } else {
            assert_eq!(frame.body(), &payload(body_len), "{subject:?}");
        }
        let mut out = BytesMut::new();
        codec.encode(&frame, &mut out).unwrap();
        assert_eq!(out, wire, "{subject:?}: re-encode differs");
    }

    #[test]
    fn every_request_decodes_and_reencodes_byte_exact() {
        for n in BODY_SIZES {
            check(&BOLT_V1, Subject::BoltV1, n);
            check(&BOLT_V2, Subject::BoltV2Crc, n);
            check(&BOLT_V2, Subject::BoltV2, n);
            check(&DUBBO, Subject::Dubbo, n);
            check(&TARS, Subject::Tars, n);
            check(&ECHO, Subject::Echo, n);
        }
    }

    #[test]
    fn the_crc_subject_carries_a_crc_and_the_plain_one_does_not() {
        let decode = |s: Subject| {
            let mut src = BytesMut::from(&s.request(16).unwrap()[..]);
            BOLT_V2.codec(Limits::DEFAULT).decode(&mut src).unwrap().unwrap()
        };
        assert!(decode(Subject::BoltV2Crc).crc().is_some());
        assert_eq!(decode(Subject::BoltV2).crc(), None);
    }
}
