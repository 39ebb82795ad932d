//! Fuzz target `registry_detect`: its body is `xproxy_fuzz_entries::registry_detect`, shared with the stable
//! corpus-replay test.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xproxy_fuzz_entries::registry_detect(data);
});
