//! The Tars TLV reader on its own: any bytes are read field by field (every value skipped,
//! however nested) or give a typed error, in time linear in the input and without recursion.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for max_nesting in [4, 64] {
        let (fields, _err) = xprotocol_tars::fuzz_tlv(data, max_nesting);
        assert!(fields <= data.len(), "more fields than bytes");
    }
});
