//! Fuzz target `http2_serve`: its body is `xproxy_fuzz_entries::http2_serve`, shared with the stable
//! corpus-replay test.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xproxy_fuzz_entries::http2_serve(data);
});
