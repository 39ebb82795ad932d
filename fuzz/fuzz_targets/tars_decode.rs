//! Tars: any bytes give need-more, frames or a typed error; decoded frames re-encode to their
//! own bytes, decode again, and keep a rewritten request id (whatever its TLV width).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xprotocol::testkit::fuzz_decode(&xprotocol_tars::Tars, data);
    if let Err(bug) = xprotocol_tars::fuzz_decode(data) {
        panic!("tars invariant broken: {bug}");
    }
});
