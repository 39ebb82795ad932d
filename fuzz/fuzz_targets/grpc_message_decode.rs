//! Fuzz target `grpc_message_decode`: its body is `xproxy_fuzz_entries::grpc_message_decode`,
//! shared with the stable corpus-replay test.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xproxy_fuzz_entries::grpc_message_decode(data);
});
