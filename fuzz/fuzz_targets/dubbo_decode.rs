//! Dubbo: any bytes give need-more, frames or a typed error (hessian2 request bodies
//! included); decoded frames re-encode byte-exact and keep a rewritten id.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xprotocol_dubbo::fuzz_decode(data);
    xprotocol::testkit::fuzz_decode(&xprotocol_dubbo::Dubbo, data);
});
