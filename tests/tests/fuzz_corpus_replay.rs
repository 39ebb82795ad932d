//! Replays every committed fuzz input (seeds and regression finds under `fuzz/corpus/`)
//! through the same entry point its cargo-fuzz target calls, on the stable toolchain, so a
//! crash once found stays fixed.

use std::path::Path;

/// Each fuzz target's entry point, by corpus folder name. A corpus folder missing here fails
/// the test, so a new target cannot go unreplayed.
fn entry(target: &str) -> Option<fn(&[u8])> {
    let f: fn(&[u8]) = match target {
        "bolt_v1_decode" => |d| xprotocol::testkit::fuzz_decode(&xprotocol_bolt::BOLT_V1, d),
        "bolt_v2_decode" => |d| xprotocol::testkit::fuzz_decode(&xprotocol_bolt::BOLT_V2, d),
        "echo_decode" => |d| xprotocol::testkit::fuzz_decode(&echo_protocol::Echo, d),
        "registry_detect" => xprotocol::testkit::fuzz_detect,
        "dubbo_decode" => |d| {
            xprotocol_dubbo::fuzz_decode(d);
            xprotocol::testkit::fuzz_decode(&xprotocol_dubbo::Dubbo, d);
        },
        "hessian2_skip" => xprotocol_dubbo::fuzz_hessian2_skip,
        _ => return None,
    };
    Some(f)
}

#[test]
fn every_committed_fuzz_input_replays_cleanly() {
    xproxy_tests::link_all_protocols();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut replayed = 0;
    for dir in std::fs::read_dir(&corpus).expect("fuzz/corpus exists") {
        let dir = dir.expect("readable corpus folder").path();
        let target = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let run = entry(&target).unwrap_or_else(|| panic!("no replay entry for target {target}"));
        for file in std::fs::read_dir(&dir).expect("readable corpus folder") {
            let path = file.expect("readable corpus file").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if !(name.starts_with("seed-") || name.starts_with("regress-")) {
                continue; // libFuzzer's own finds are local, not committed
            }
            run(&std::fs::read(&path).expect("readable corpus file"));
            replayed += 1;
        }
    }
    assert!(replayed >= 40, "only {replayed} corpus files replayed");
}
