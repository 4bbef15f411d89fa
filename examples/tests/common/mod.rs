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

/// The test venv's Python (`FAAS_TEST_RIC_PYTHON`, set by scripts/test.sh: awslambdaric,
/// boto3): `None` (the test skips, saying so) when it is not set, a failure in CI.
pub fn ric_python(test: &str) -> Option<String> {
    match std::env::var("FAAS_TEST_RIC_PYTHON") {
        Ok(p) => Some(p),
        Err(_) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("FAAS_TEST_RIC_PYTHON is not set: run the tests with scripts/test.sh")
        }
        Err(_) => {
            eprintln!("SKIPPED {test} test: FAAS_TEST_RIC_PYTHON not set (scripts/test.sh sets it)");
            None
        }
    }
}
