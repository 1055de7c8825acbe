//! Records when the binary was built, as `SOL_BUILD_TIME` (seconds since the epoch):
//! TLS checks client certificate dates against it while the system clock reads earlier
//! (a gateway before NTP). `SOURCE_DATE_EPOCH` wins, for reproducible builds.

use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    println!("cargo:rustc-env=SOL_BUILD_TIME={secs}");
}
