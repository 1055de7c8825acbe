//! Replays the fuzzers' committed inputs under `cargo test`: the seed corpus
//! (`fuzz/corpus/<target>/`) and every crash found so far (`fuzz/regressions/<target>/`)
//! go through the same drivers as `cargo fuzz run` uses (`fuzz/src/`), so a fixed crash
//! stays fixed without a nightly toolchain.

#[path = "../fuzz/src/broker.rs"]
mod broker;
#[path = "../fuzz/src/codec.rs"]
mod codec;
#[path = "../fuzz/src/x509.rs"]
mod x509;

use std::path::Path;

/// Runs `driver` on every file in `fuzz/<kind>/<target>/`; returns how many there were.
fn replay(kind: &str, target: &str, driver: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let mut paths: Vec<_> = entries.map(|e| e.expect("readable entry").path()).collect();
    paths.sort();
    for path in &paths {
        let data = std::fs::read(path).expect("readable input");
        eprintln!("{}", path.display());
        driver(&data);
    }
    paths.len()
}

/// Replays `target`'s seed corpus, which must not be empty, and its regressions.
fn replay_all(target: &str, driver: fn(&[u8])) {
    let seeds = replay("corpus", target, driver);
    assert!(seeds > 0, "the {target} seed corpus is committed");
    replay("regressions", target, driver);
}

#[test]
fn codec_corpus() {
    replay_all("codec", codec::run);
}

#[test]
fn broker_corpus() {
    replay_all("broker", broker::run);
}

#[test]
fn x509_cn_corpus() {
    replay_all("x509_cn", x509::run);
}
