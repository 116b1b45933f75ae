//! End-to-end tests across processes: the real `livestars` binary, started as an operator
//! starts it. Later issues add several federating instances, a local EVM node, a browser and
//! tmux here.
#![forbid(unsafe_code)]

use std::path::PathBuf;

/// The `livestars` binary built in this workspace's target directory, next to the test binary
/// (`cargo test --workspace` builds it before any test runs).
pub fn livestars_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("LIVESTARS_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> → target/<profile>/livestars
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory layout");
    let bin = profile_dir.join(format!("livestars{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} not found: run `cargo build -p livestars-server` or set LIVESTARS_BIN",
        bin.display()
    );
    bin
}
