//! The registry with every shipped protocol linked: unique names, every protocol detects its
//! own sample frames, and no protocol claims another's — including the golden vectors and
//! common non-RPC first bytes (HTTP/1.1, the HTTP/2 preface, TLS).

use xprotocol::registry::Detection;
use xprotocol::{DetectResult, ProtocolSet};

fn vector(name: &str) -> Vec<u8> {
    let path = format!("{}/../testdata/vectors/{name}.hex", env!("CARGO_MANIFEST_DIR"));
    xprotocol::testkit::hex(&std::fs::read_to_string(&path).expect("vector file"))
}

#[test]
fn every_shipped_protocol_is_registered_once_and_unambiguous() {
    xproxy_tests::link_all_protocols();
    let all = ProtocolSet::all();
    assert_eq!(all.names(), vec!["bolt", "boltv2", "dubbo", "echo", "http1", "http2", "tars"]);
    if let Err(errors) = all.validate() {
        panic!("registry problems: {errors:#?}");
    }
}

#[test]
fn golden_vectors_are_detected_as_their_own_protocol_only() {
    xproxy_tests::link_all_protocols();
    let all = ProtocolSet::all();
    let dir = format!("{}/../testdata/vectors", env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).expect("vectors folder") {
        let path = entry.expect("entry").path();
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
        let want = match name.split('-').next() {
            Some("bolt") if name.starts_with("bolt-v1") => "bolt",
            Some("bolt") => "boltv2",
            Some(other) => other,
            None => continue,
        };
        let bytes = vector(&name);
        let claimers: Vec<_> = all
            .iter()
            .filter(|p| p.detect(&bytes) == DetectResult::Match)
            .map(|p| p.name())
            .collect();
        assert_eq!(claimers, vec![want], "{name}");
        assert!(matches!(all.detect(&bytes), Detection::Match(p) if p.name() == want), "{name}");
        checked += 1;
    }
    assert_eq!(checked, 21);
}

#[test]
fn http_openings_go_to_http_and_foreign_bytes_to_nobody() {
    xproxy_tests::link_all_protocols();
    let all = ProtocolSet::all();
    let http: [(&[u8], &str); 4] = [
        (b"GET / HTTP/1.1\r\nHost: example\r\n\r\n", "http1"),
        (b"POST /api HTTP/1.1\r\n", "http1"),
        (b"CONNECT example.com:443 HTTP/1.1\r\n", "http1"),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "http2"),
    ];
    for (input, want) in http {
        let claimers: Vec<_> = all
            .iter()
            .filter(|p| p.detect(input) == DetectResult::Match)
            .map(|p| p.name())
            .collect();
        assert_eq!(claimers, vec![want], "{:?}", String::from_utf8_lossy(input));
        assert!(matches!(all.detect(input), Detection::Match(p) if p.name() == want));
    }
    let tls_client_hello = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03];
    let foreign: [&[u8]; 3] =
        [&tls_client_hello, b"SSH-2.0-OpenSSH_9.2\r\n", b"HELO mail.example.com\r\n"];
    for input in foreign {
        for p in all.iter() {
            assert_eq!(p.detect(input), DetectResult::NoMatch, "{} on {:?}", p.name(), input);
        }
        assert!(matches!(all.detect(input), Detection::NoMatch));
    }
}
