//! The byte prefixes detection is measured on: each protocol's first bytes, an HTTP/1.1
//! request line, and random garbage.

use bytes::Bytes;
use xprotocol::EncodeError;

use crate::Subject;

/// How many bytes of a connection detection is measured on: the longest fixed header a
/// detector reads before it matches (Bolt v2's request, 24 bytes, whose declared lengths are
/// checked against the limits).
pub const PREFIX_LEN: usize = 24;

/// An HTTP/1.1 request line and the start of its headers: what a misdirected HTTP client
/// sends to an RPC port.
pub const HTTP_REQUEST: &[u8] = b"GET /api/v1/users?id=42 HTTP/1.1\r\nHost: gateway\r\n\r\n";

/// The first [`PREFIX_LEN`] bytes of `subject`'s 1 KiB request.
///
/// # Errors
/// As [`Subject::request`].
pub fn first_bytes(subject: Subject) -> Result<Bytes, EncodeError> {
    let wire = subject.request(1024)?;
    Ok(wire.slice(..PREFIX_LEN.min(wire.len())))
}

/// [`PREFIX_LEN`] bytes from a fixed-seed xorshift generator: the same "random" bytes on
/// every run, which no protocol claims (a test checks it).
pub fn garbage() -> [u8; PREFIX_LEN] {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = [0u8; PREFIX_LEN];
    for byte in &mut out {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = (state >> 56) as u8;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use xprotocol::registry::Detection;
    use xprotocol::{DetectResult, ProtocolSet};

    fn matched(d: Detection) -> Option<&'static str> {
        match d {
            Detection::Match(p) => Some(p.name()),
            _ => None,
        }
    }

    #[test]
    fn every_linked_protocol_is_registered() {
        let names: Vec<_> = crate::linked_protocols().iter().map(|p| p.name()).collect();
        assert_eq!(ProtocolSet::all().names(), names);
        assert_eq!(names, ["bolt", "boltv2", "dubbo", "echo", "tars"]);
    }

    #[test]
    fn each_prefix_is_detected_as_its_own_protocol() {
        let set = ProtocolSet::all();
        for subject in Subject::ALL {
            let prefix = first_bytes(subject).unwrap();
            assert_eq!(prefix.len(), PREFIX_LEN);
            assert_eq!(matched(set.detect(&prefix)), Some(subject.protocol_name()), "{subject:?}");
            let own = set.get(subject.protocol_name()).unwrap();
            assert_eq!(own.detect(&prefix), DetectResult::Match, "{subject:?}");
        }
    }

    #[test]
    fn http_and_garbage_are_refused_by_every_protocol() {
        let set = ProtocolSet::all();
        assert!(matches!(set.detect(HTTP_REQUEST), Detection::NoMatch));
        assert!(matches!(set.detect(&garbage()), Detection::NoMatch), "{:x?}", garbage());
    }
}
