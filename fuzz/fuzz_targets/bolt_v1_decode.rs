//! Bolt v1: any bytes give need-more, frames or a typed error; decoded frames re-encode
//! consistently and keep a rewritten id.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xprotocol::testkit::fuzz_decode(&xprotocol_bolt::BOLT_V1, data);
});
