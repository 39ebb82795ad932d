//! Shared helpers for the cross-crate and interop tests in `tests/tests/`.

pub mod peers;

/// Links every protocol crate into the test binary, so that `inventory` registers each one
/// and `ProtocolSet::all()` sees them all.
pub fn link_all_protocols() {
    let _ = (&xprotocol_bolt::BOLT_V1, &xprotocol_bolt::BOLT_V2, &echo_protocol::Echo);
    let _ = (&xprotocol_dubbo::Dubbo, &xprotocol_tars::Tars);
    let _ = (&xprotocol_http1::Http1, &xprotocol_http2::Http2);
}
