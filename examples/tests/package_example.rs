//! The package example as a user runs it: same sha256 twice, and for a copy of the tree with
//! scrambled mtimes made under another umask; `bootstrap` stays executable in `zipinfo`.

#![allow(clippy::unwrap_used)]

mod common;

use common::example;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn package_json(src: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    let cache = out.parent().unwrap().join("cache");
    let output = Command::new(example("package"))
        .env("FAAS_PACKAGE_CACHE", &cache)
        .arg(src)
        .args(["--runtime", "provided.al2023", "--out"])
        .arg(out)
        .arg("--json")
        .args(extra)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn make_tree(root: &Path, mode: u32, exec_mode: u32, mtime: u64) {
    let files = [
        ("bootstrap", "#!/bin/sh\necho hi\n", exec_mode),
        ("lib/helper.sh", "echo helper\n", mode),
        ("README.md", "# fn\n", mode),
    ];
    for (rel, content, m) in files {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, content).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(m)).unwrap();
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime + rel.len() as u64 * 977);
        fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }
}

#[test]
fn same_sha256_for_the_same_files() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    make_tree(&a, 0o644, 0o755, 1_600_000_000);
    make_tree(&b, 0o600, 0o700, 1_234_567_890);
    let first = package_json(&a, &dir.path().join("1.zip"), &[]);
    let second = package_json(&a, &dir.path().join("2.zip"), &[]);
    let copy = package_json(&b, &dir.path().join("3.zip"), &[]);
    assert_eq!(first["sha256"], second["sha256"]);
    assert_eq!(first["sha256"], copy["sha256"]);
    for key in ["sha256", "code_sha256", "size", "unzipped_size", "files"] {
        assert!(!first[key].is_null(), "--json lacks {key}: {first}");
    }
    assert_eq!(first["files"], 3);

    let zipinfo = Command::new("zipinfo").arg(dir.path().join("3.zip")).output().unwrap();
    let listing = String::from_utf8_lossy(&zipinfo.stdout);
    let line = listing
        .lines()
        .find(|l| l.ends_with(" bootstrap"))
        .expect("bootstrap listed");
    assert!(line.starts_with("-rwxr-xr-x"), "{line}");
    let readme = listing.lines().find(|l| l.ends_with(" README.md")).unwrap();
    assert!(readme.starts_with("-rw-r--r--"), "{readme}");
}

#[test]
fn rebuilds_come_from_the_cache_and_no_cache_builds_cold() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_tree(&src, 0o644, 0o755, 1_600_000_000);
    let first = package_json(&src, &dir.path().join("1.zip"), &[]);
    assert_eq!(first["cache"]["misses"], 3, "{first}");
    let second = package_json(&src, &dir.path().join("2.zip"), &[]);
    assert_eq!(
        (second["cache"]["hits"].as_u64(), second["cache"]["misses"].as_u64()),
        (Some(3), Some(0)),
        "{second}"
    );
    assert_eq!(second["cache"]["dir"], dir.path().join("cache").to_str().unwrap());
    let cold = package_json(&src, &dir.path().join("3.zip"), &["--no-cache"]);
    assert_eq!(cold["cache"]["hits"], 0, "{cold}");
    assert!(cold["cache"]["dir"].is_null(), "{cold}");
    assert_eq!(first["sha256"], second["sha256"]);
    assert_eq!(first["sha256"], cold["sha256"]);
}

#[test]
fn bad_input_exits_non_zero_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(example("package"))
        .arg(dir.path().join("missing"))
        .args(["--out"])
        .arg(dir.path().join("x.zip"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not exist"), "{err}");
    assert!(!dir.path().join("x.zip").exists());
}
