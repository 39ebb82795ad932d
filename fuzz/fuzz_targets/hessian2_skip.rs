//! The hessian2 skipper on its own: any bytes give values or a typed error, never a panic,
//! unbounded recursion or unbounded memory.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xprotocol_dubbo::fuzz_hessian2_skip(data);
});
