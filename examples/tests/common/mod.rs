//! Helpers for the examples' tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// `target/<profile>/examples/<name>`, built by `cargo test` before the tests run.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(Path::parent).unwrap().join("examples").join(name);
    assert!(
        bin.is_file(),
        "{} is not built: run `cargo build -p examples --examples`",
        bin.display()
    );
    bin
}
