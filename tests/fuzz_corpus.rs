//! Replays the fuzzers' committed inputs under `cargo test`: the seed corpus
//! (`fuzz/corpus/<target>/`) and every crash found so far (`fuzz/regressions/<target>/`)
//! go through the same drivers as `cargo fuzz run` uses (`fuzz/src/`), so a fixed crash
//! stays fixed without a nightly toolchain.

#[path = "../fuzz/src/broker.rs"]
mod broker;
#[path = "../fuzz/src/codec.rs"]
mod codec;
#[path = "../fuzz/src/ws.rs"]
mod ws;
#[path = "../fuzz/src/x509.rs"]
mod x509;

use std::path::Path;

/// Runs `driver` on every file in `fuzz/<kind>/<target>/`; returns how many there were.
fn replay(kind: &str, target: &str, driver: &mut dyn FnMut(&[u8])) -> usize {
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
fn replay_all(target: &str, driver: &mut dyn FnMut(&[u8])) {
    let seeds = replay("corpus", target, driver);
    assert!(seeds > 0, "the {target} seed corpus is committed");
    replay("regressions", target, driver);
}

#[test]
fn codec_corpus() {
    replay_all("codec", &mut codec::run);
}

/// The broker seeds also reach every security path the driver checks: refused and
/// accepted logins, denied publishes, deliveries checked against an ACL, reloads.
#[test]
fn broker_corpus() {
    let mut total = broker::Reached::default();
    replay_all("broker", &mut |data| {
        let r = broker::run(data);
        eprintln!("  {r:?}");
        total.refused_connects += r.refused_connects;
        total.logins += r.logins;
        total.denied_publishes += r.denied_publishes;
        total.checked_deliveries += r.checked_deliveries;
        total.reloads += r.reloads;
        total.acl_denied += r.acl_denied;
    });
    eprintln!("{total:?}");
    let broker::Reached {
        refused_connects,
        logins,
        denied_publishes,
        checked_deliveries,
        reloads,
        acl_denied,
    } = total;
    assert!(refused_connects > 0 && logins > 0, "{total:?}");
    assert!(denied_publishes > 0 && checked_deliveries > 0, "{total:?}");
    assert!(reloads > 0 && acl_denied > 0, "{total:?}");
}

#[test]
fn x509_cn_corpus() {
    replay_all("x509_cn", &mut x509::run);
}

#[test]
fn ws_corpus() {
    replay_all("ws", &mut ws::run);
}
