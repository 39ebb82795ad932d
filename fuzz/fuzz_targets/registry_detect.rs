//! Detection across every registered protocol, then a decode with whichever matched.
#![no_main]

// Referencing each protocol crate links it, so that `inventory` registers it.
fn link_protocols() {
    let _ = (&xprotocol_bolt::BOLT_V1, &echo_protocol::Echo, &xprotocol_dubbo::Dubbo);
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    link_protocols();
    xprotocol::testkit::fuzz_detect(data);
});
