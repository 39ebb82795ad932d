//! Writes the fuzz seed corpora (`fuzz/corpus/{dubbo_decode,hessian2_skip}/seed-*`) from the
//! golden vector and deterministic samples of the property-test strategies. Run on purpose:
//! `cargo test -p xprotocol-dubbo --features arbitrary --test fuzz_seeds -- --ignored`.

use std::path::PathBuf;

use bytes::BytesMut;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use xprotocol::{Codec, Frame, Limits, Protocol};
use xprotocol_dubbo::{arbitrary, Dubbo};

const VECTOR: &str = include_str!("../../../testdata/vectors/dubbo-request-sayHello.hex");

fn corpus(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
#[ignore = "writes files into fuzz/corpus; run on purpose"]
fn write_fuzz_seeds() {
    let vector = hex::decode(VECTOR.trim()).unwrap();
    let decode_dir = corpus("dubbo_decode");
    let skip_dir = corpus("hessian2_skip");
    std::fs::write(decode_dir.join("seed-golden-sayHello"), &vector).unwrap();
    std::fs::write(skip_dir.join("seed-golden-sayHello-body"), &vector[16..]).unwrap();
    for (i, sample) in Protocol::samples(&Dubbo).iter().enumerate() {
        std::fs::write(decode_dir.join(format!("seed-sample-{i}")), sample).unwrap();
    }
    let mut runner = TestRunner::deterministic();
    let mut codec = Dubbo.codec(Limits::DEFAULT);
    for i in 0..24 {
        let frame = arbitrary::frame().new_tree(&mut runner).unwrap().current();
        let mut out = BytesMut::new();
        codec.encode(&frame, &mut out).unwrap();
        if out.len() <= 8192 {
            std::fs::write(decode_dir.join(format!("seed-frame-{i:02}")), &out).unwrap();
            std::fs::write(skip_dir.join(format!("seed-body-{i:02}")), frame.body()).unwrap();
        }
    }
    for i in 0..24 {
        let values = proptest::collection::vec(arbitrary::small_value(), 1..4)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let bytes = arbitrary::encode_values(&values);
        std::fs::write(skip_dir.join(format!("seed-values-{i:02}")), bytes).unwrap();
    }
}
