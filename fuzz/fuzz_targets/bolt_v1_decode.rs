//! Fuzz target `bolt_v1_decode`: its body is `xproxy_fuzz_entries::bolt_v1_decode`, shared with the stable
//! corpus-replay test.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xproxy_fuzz_entries::bolt_v1_decode(data);
});
