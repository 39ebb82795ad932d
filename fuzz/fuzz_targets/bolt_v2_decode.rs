//! Bolt v2 (with and without CRC): as the v1 target.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xprotocol::testkit::fuzz_decode(&xprotocol_bolt::BOLT_V2, data);
});
