use crate::{arbitrary, Tars};

/// Links the other shipped protocols into this test binary, so that their registrations are in
/// [`xprotocol::ProtocolSet::all`] and the testkit's cross-detection checks compare with them
/// (with none to compare with, the testkit fails).
fn link_shipped_protocols() {
    let _ = (
        &xprotocol_bolt::BOLT_V1,
        &xprotocol_dubbo::Dubbo,
        &xprotocol_http1::Http1,
        &xprotocol_http2::Http2,
    );
    xprotocol::testkit::assert_registered(&["bolt", "dubbo", "http1", "http2"]);
}

#[test]
fn tars_passes_the_sdk_testkit() {
    link_shipped_protocols();
    xprotocol::testkit::check_protocol(&Tars, arbitrary::frames());
}
