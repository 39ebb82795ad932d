//! HTTP/1.1 detection from the request line's start: a registered method, one space and the
//! first bytes of a request-target of a form that method may use.
//!
//! Why so little: the gateway sniffs at most 64 bytes and holds the connection while any
//! detector says `NeedMore`, so the detector decides at the request-target's first byte (or,
//! for the absolute form, its scheme), never later than [`MAX_DETECT_BYTES`]. Anything after
//! that (the version, the headers) is hyper's to parse and reject with a proper status.

use bytes::Bytes;
use xprotocol::{ConnectionProtocol, DetectResult};

/// The request methods detection accepts (RFC 9110 §9 and PATCH, RFC 5789), case-sensitive as
/// the grammar requires. Other methods (WebDAV's `PROPFIND`, ...) are not detected: a longer
/// list would keep more prefixes undecided and risk claiming other protocols' bytes.
pub const METHODS: [&str; 9] =
    ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

/// The longest prefix detection ever needs to decide: `OPTIONS https://` is 16 bytes; every
/// prefix of 16 bytes or more is `Match` or `NoMatch`.
pub const MAX_DETECT_BYTES: usize = 16;

/// The schemes of an absolute-form request-target (a request to a forward proxy), compared
/// without regard to case as RFC 9110 §4.2.3 allows.
const ABSOLUTE_SCHEMES: [&[u8]; 2] = [b"http://", b"https://"];

/// HTTP/1.1 (and 1.0): the connection-owning protocol registered as `"http1"`; its
/// connections are served by [`serve`](crate::serve).
#[derive(Clone, Copy, Debug, Default)]
pub struct Http1;

xprotocol::register_connection_protocol!(Http1);

impl ConnectionProtocol for Http1 {
    fn name(&self) -> &'static str {
        "http1"
    }

    fn detect(&self, prefix: &[u8]) -> DetectResult {
        detect_request_line(prefix)
    }

    fn samples(&self) -> Vec<Bytes> {
        SAMPLES.iter().map(|s| Bytes::from_static(s)).collect()
    }
}

/// Real openings, as curl, a browser, a JSON client and a forward-proxy client send them.
const SAMPLES: [&[u8]; 6] = [
    b"GET /index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
    b"POST /api/orders HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: application/json\r\n\
      Content-Length: 13\r\n\r\n{\"id\": 12345}",
    b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n",
    b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nProxy-Connection: keep-alive\r\n\r\n",
    b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
      Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
];

/// The three-way decision on a request line's first bytes.
pub fn detect_request_line(prefix: &[u8]) -> DetectResult {
    let Some(space) = prefix.iter().position(|&b| b == b' ') else {
        // Still inside the method: it must be the start of a known one.
        return if METHODS.iter().any(|m| m.as_bytes().starts_with(prefix)) {
            DetectResult::NeedMore
        } else {
            DetectResult::NoMatch
        };
    };
    let (method, rest) = prefix.split_at(space);
    let target = rest.get(1..).unwrap_or_default();
    if !METHODS.iter().any(|m| m.as_bytes() == method) {
        return DetectResult::NoMatch;
    }
    let Some(&first) = target.first() else {
        return DetectResult::NeedMore;
    };
    if method == b"CONNECT" {
        // Authority-form only (RFC 9112 §3.2.3): a host name, an IPv4 address or `[` of an
        // IPv6 literal.
        return if first.is_ascii_alphanumeric() || first == b'[' {
            DetectResult::Match
        } else {
            DetectResult::NoMatch
        };
    }
    match first {
        b'/' => DetectResult::Match,
        b'*' if method == b"OPTIONS" => DetectResult::Match,
        _ => absolute_form(target),
    }
}

/// `Match` once `target` starts with an absolute-form scheme, `NeedMore` while it may.
fn absolute_form(target: &[u8]) -> DetectResult {
    let mut result = DetectResult::NoMatch;
    for scheme in ABSOLUTE_SCHEMES {
        let n = target.len().min(scheme.len());
        let agrees =
            target.iter().zip(scheme.iter()).take(n).all(|(a, b)| a.eq_ignore_ascii_case(b));
        if agrees && n == scheme.len() {
            return DetectResult::Match;
        }
        if agrees {
            result = DetectResult::NeedMore;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use xprotocol::DetectResult::{Match, NeedMore, NoMatch};

    #[test]
    fn every_prefix_of_every_sample_is_need_more_or_match_and_the_whole_matches() {
        for sample in Http1.samples() {
            assert_eq!(Http1.detect(&sample), Match, "{sample:?}");
            let mut decided = false;
            for len in 0..=sample.len() {
                let r = Http1.detect(&sample[..len]);
                assert_ne!(r, NoMatch, "prefix {:?}", &sample[..len]);
                if decided {
                    assert_eq!(r, Match, "went back to need-more at {len}");
                }
                decided = r == Match;
                if len >= MAX_DETECT_BYTES {
                    assert_eq!(r, Match, "undecided after {len} bytes of {sample:?}");
                }
            }
        }
    }

    #[test]
    fn what_is_not_a_request_line_is_refused_early() {
        for (bytes, expected) in [
            (&b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..], NoMatch),
            (b"PR", NoMatch),
            (b"P", NeedMore),
            (b"get / HTTP/1.1\r\n", NoMatch),
            (b"GET  /", NoMatch),
            (b"GET x", NoMatch),
            (b"GET *", NoMatch),
            (b"OPTIONS *", Match),
            (b"CONNECT /", NoMatch),
            (b"CONNECT [::1]:443", Match),
            (b"CONNECT 10.0.0.1:80", Match),
            (b"GET ftp://", NoMatch),
            (b"GET HTTPS://", Match),
            (b"GET http:/", NeedMore),
            (b"GET https:/", NeedMore),
            (b"GET httpx", NoMatch),
            (b"PROPFIND / HTTP/1.1", NoMatch),
            (b"GETX / HTTP/1.1", NoMatch),
            (b"\x16\x03\x01\x02\x00", NoMatch),
            (&[0xda, 0xbb, 0xc2, 0x00], NoMatch),
            (&[0x01, 0x01, 0x00, 0x01], NoMatch),
            (b"", NeedMore),
        ] {
            assert_eq!(
                detect_request_line(bytes),
                expected,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    /// Every way to stay undecided is a method prefix, `METHOD ` or `METHOD ` plus a scheme
    /// prefix; extending each of those to 16 bytes with any byte must decide.
    #[test]
    fn sixteen_bytes_always_decide() {
        let mut undecided: Vec<Vec<u8>> = Vec::new();
        for m in METHODS {
            for scheme in ABSOLUTE_SCHEMES {
                for n in 0..scheme.len() {
                    let mut p = format!("{m} ").into_bytes();
                    p.extend_from_slice(&scheme[..n]);
                    undecided.push(p);
                }
            }
        }
        for p in &undecided {
            assert!(p.len() < MAX_DETECT_BYTES, "{p:?}");
            for b in 0..=255u8 {
                let mut q = p.clone();
                q.resize(MAX_DETECT_BYTES, b);
                assert_ne!(detect_request_line(&q), NeedMore, "{:?}", String::from_utf8_lossy(&q));
            }
        }
    }

    #[test]
    fn registered_alongside_the_rpc_protocols_without_ambiguity() {
        static HTTP1: xprotocol::OwnsConnection<Http1> = xprotocol::OwnsConnection(Http1);
        let set = xprotocol::ProtocolSet::of(vec![
            &xprotocol_bolt::BOLT_V1,
            &xprotocol_bolt::BOLT_V2,
            &xprotocol_dubbo::Dubbo,
            &xprotocol_tars::Tars,
            &HTTP1,
        ]);
        if let Err(errors) = set.validate() {
            panic!("{errors:#?}");
        }
        // Within the gateway's 64-byte sniff window every sample is decided for http1 alone.
        for sample in Http1.samples() {
            let window = &sample[..sample.len().min(64)];
            assert!(
                matches!(set.detect(window), xprotocol::registry::Detection::Match(p) if p.name() == "http1"),
                "{:?} -> {:?}",
                String::from_utf8_lossy(window),
                set.detect(window)
            );
        }
    }

    #[test]
    fn the_inventory_registration_is_found_by_name() {
        let set = xprotocol::ProtocolSet::all();
        let Some(p) = set.get("http1") else { panic!("http1 is registered: {set:?}") };
        assert!(p.owns_connection());
        assert!(p.as_any().downcast_ref::<Http1>().is_some());
    }
}
