//! Fuzz target `dubbo_decode`: its body is `xproxy_fuzz_entries::dubbo_decode`, shared with the stable
//! corpus-replay test.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xproxy_fuzz_entries::dubbo_decode(data);
});
