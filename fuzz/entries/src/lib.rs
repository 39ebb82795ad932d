//! The body of every fuzz target. The cargo-fuzz targets in `fuzz/fuzz_targets/` call these,
//! and the stable test `tests/tests/fuzz_corpus_replay.rs` replays every committed input
//! through the same function, found by target name with [`entry`].
#![warn(missing_docs)]

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
];

/// The body of the target named `name`.
pub fn entry(name: &str) -> Option<Body> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// Links every protocol crate so that `inventory` registers each one.
pub fn link_protocols() {
    let _ = (&xprotocol_bolt::BOLT_V1, &xprotocol_bolt::BOLT_V2, &echo_protocol::Echo);
    let _ = (&xprotocol_dubbo::Dubbo, &xprotocol_tars::Tars);
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
