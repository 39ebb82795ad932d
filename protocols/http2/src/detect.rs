//! HTTP/2 detection: the prior-knowledge connection preface (RFC 9113 §3.4).
//!
//! Only prior knowledge is detected: `h2c` upgrades start as HTTP/1.1 requests (hyper does not
//! serve them), and TLS-negotiated HTTP/2 is decided by ALPN before any detector runs.

use bytes::Bytes;
use xprotocol::{ConnectionProtocol, DetectResult};

/// The client connection preface every prior-knowledge HTTP/2 connection starts with.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// HTTP/2 with prior knowledge: the connection-owning protocol registered as `"http2"`; its
/// connections are served by [`serve`](crate::serve). gRPC rides on it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Http2;

xprotocol::register_connection_protocol!(Http2);

impl ConnectionProtocol for Http2 {
    fn name(&self) -> &'static str {
        "http2"
    }

    /// `Match` once the 24 preface bytes are there, `NeedMore` while what is there agrees.
    fn detect(&self, prefix: &[u8]) -> DetectResult {
        DetectResult::fixed_prefix(prefix, PREFACE)
    }

    fn samples(&self) -> Vec<Bytes> {
        SAMPLES.iter().map(|s| Bytes::from_static(s)).collect()
    }
}

/// Real openings: the preface followed by the client's SETTINGS frame, as curl
/// (`--http2-prior-knowledge`) and a gRPC client send it, and with an empty SETTINGS frame.
const SAMPLES: [&[u8]; 2] = [
    // curl 8: SETTINGS (MAX_CONCURRENT_STREAMS 100, INITIAL_WINDOW_SIZE 10 MiB,
    // ENABLE_PUSH 0), then WINDOW_UPDATE on the connection.
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\
      \x00\x00\x12\x04\x00\x00\x00\x00\x00\
      \x00\x03\x00\x00\x00\x64\
      \x00\x04\x00\xa0\x00\x00\
      \x00\x02\x00\x00\x00\x00\
      \x00\x00\x04\x08\x00\x00\x00\x00\x00\x3e\x7f\x00\x01",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
];

#[cfg(test)]
mod tests {
    use super::*;
    use xprotocol::DetectResult::{Match, NeedMore, NoMatch};

    #[test]
    fn every_prefix_of_every_sample_is_need_more_then_match() {
        for sample in Http2.samples() {
            for len in 0..=sample.len() {
                let expected = if len < PREFACE.len() { NeedMore } else { Match };
                assert_eq!(Http2.detect(&sample[..len]), expected, "at {len}");
            }
        }
    }

    #[test]
    fn anything_else_is_refused_at_the_first_difference() {
        assert_eq!(Http2.detect(b"POST / HTTP/1.1\r\n"), NoMatch);
        assert_eq!(Http2.detect(b"PRI * HTTP/1.1"), NoMatch);
        assert_eq!(Http2.detect(b"PRI * HTTP/2.0\r\n\r\nXX"), NoMatch);
        assert_eq!(Http2.detect(b"G"), NoMatch);
        assert_eq!(Http2.detect(&[0xda, 0xbb]), NoMatch);
    }

    #[test]
    fn registered_alongside_every_other_protocol_without_ambiguity() {
        static HTTP1: xprotocol::OwnsConnection<xprotocol_http1::Http1> =
            xprotocol::OwnsConnection(xprotocol_http1::Http1);
        static HTTP2: xprotocol::OwnsConnection<Http2> = xprotocol::OwnsConnection(Http2);
        let set = xprotocol::ProtocolSet::of(vec![
            &xprotocol_bolt::BOLT_V1,
            &xprotocol_bolt::BOLT_V2,
            &xprotocol_dubbo::Dubbo,
            &xprotocol_tars::Tars,
            &HTTP1,
            &HTTP2,
        ]);
        if let Err(errors) = set.validate() {
            panic!("{errors:#?}");
        }
        // The preface is decided for http2 alone within the gateway's 64-byte sniff window.
        for sample in Http2.samples() {
            let window = &sample[..sample.len().min(64)];
            assert!(
                matches!(set.detect(window), xprotocol::registry::Detection::Match(p) if p.name() == "http2"),
                "{:?}",
                set.detect(window)
            );
        }
    }

    #[test]
    fn the_inventory_registration_is_found_by_name() {
        let set = xprotocol::ProtocolSet::all();
        let Some(p) = set.get("http2") else { panic!("http2 is registered: {set:?}") };
        assert!(p.owns_connection());
        assert!(p.as_any().downcast_ref::<Http2>().is_some());
    }
}
