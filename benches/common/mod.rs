//! What the micro-benchmarks share: criterion's settings for this project.

use criterion::Criterion;
use std::time::Duration;

/// Short runs, and changes under 5 % reported as noise: `cargo bench` runs on a shared
/// 2-core machine. `--warm-up-time`, `--measurement-time` and `--noise-threshold` on the
/// command line override these.
pub fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .noise_threshold(0.05)
}
