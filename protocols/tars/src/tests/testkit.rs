use crate::{arbitrary, Tars};

#[test]
fn tars_passes_the_sdk_testkit() {
    xprotocol::testkit::check_protocol(&Tars, arbitrary::frames());
}
