//! Fuzz target `hessian2_skip`: its body is `xproxy_fuzz_entries::hessian2_skip`, shared with the stable
//! corpus-replay test.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xproxy_fuzz_entries::hessian2_skip(data);
});
