//! Replays every committed fuzz input (seeds and regression finds under `fuzz/corpus/`)
//! through the same entry point its cargo-fuzz target calls, on the stable toolchain, so a
//! crash once found stays fixed.

use std::path::Path;

#[test]
fn every_committed_fuzz_input_replays_cleanly() {
    xproxy_fuzz_entries::link_protocols();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut replayed = 0;
    for dir in std::fs::read_dir(&corpus).expect("fuzz/corpus exists") {
        let dir = dir.expect("readable corpus folder").path();
        let target = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        // A corpus folder without a target fails here, so no target goes unreplayed.
        let run = xproxy_fuzz_entries::entry(&target)
            .unwrap_or_else(|| panic!("no fuzz entry for corpus folder {target}"));
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
    assert!(replayed >= 100, "only {replayed} corpus files replayed");
}

#[test]
fn every_fuzz_target_has_a_corpus_and_a_cargo_fuzz_binary() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for (name, _) in xproxy_fuzz_entries::TARGETS {
        assert!(root.join("corpus").join(name).is_dir(), "no corpus for {name}");
        assert!(manifest.contains(&format!("name = \"{name}\"")), "no [[bin]] for {name}");
    }
}
