//! The example private protocol, fuzzed with the SDK's ready-made entry point.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xprotocol::testkit::fuzz_decode(&echo_protocol::Echo, data);
});
