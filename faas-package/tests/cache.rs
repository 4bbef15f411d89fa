//! The entry cache and the stat index never change a package's bytes: cold, warm, after a
//! one-file change, with corrupted entries, with a lying or foreign index, with an unusable
//! cache, and with two builds sharing one cache at once.

#![allow(clippy::unwrap_used)]

mod common;

use common::{noise, write};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use faas_package::{BuildReport, PackageBuilder, RACY_MARGIN};

/// Small text, a large file (streamed), an incompressible one (stored), an empty one and
/// an executable.
fn tree(root: &Path) -> usize {
    write(
        root,
        "lambda_function.py",
        b"def lambda_handler(e, c):\n    return 1\n",
        0o644,
    );
    for i in 0..40 {
        let body = format!("# module {i}\nVALUE = {i}\n").repeat(50 + i);
        write(root, &format!("pkg/m{i:02}.py"), body.as_bytes(), 0o644);
    }
    let big: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8 ^ (i / 4096) as u8).collect();
    write(root, "data/big.bin", &big, 0o644);
    let noise = noise(50_000, 0x1234_5678);
    write(root, "data/noise.bin", &noise, 0o644);
    write(root, "empty.txt", b"", 0o644);
    write(root, "bin/tool", b"#!/bin/sh\necho tool\n", 0o755);
    45
}

fn build(src: &Path, out: &Path, cache: Option<&Path>) -> BuildReport {
    let b = PackageBuilder::new(src).output(out);
    let b = match cache {
        Some(c) => b.cache_dir(c),
        None => b.no_cache(),
    };
    b.build_report().unwrap()
}

fn cold(src: &Path, out: &Path) -> Vec<u8> {
    let r = build(src, out, None);
    assert_eq!(r.cache_dir, None);
    fs::read(out).unwrap()
}

/// A temporary directory with a tree in `src`, a cache path and the tree's cold zip.
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let (src, cache) = (dir.path().join("src"), dir.path().join("cache"));
    tree(&src);
    let expected = cold(&src, &dir.path().join("cold.zip"));
    (dir, src, cache, expected)
}

fn entries(cache: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    for shard in fs::read_dir(cache.join("v1/entries")).unwrap().flatten() {
        for e in fs::read_dir(shard.path()).unwrap().flatten() {
            all.push(e.path());
        }
    }
    all.sort();
    all
}

#[test]
fn cold_warm_and_one_file_changed_give_the_bytes_of_a_cold_build() {
    let dir = tempfile::tempdir().unwrap();
    let (src, cache) = (dir.path().join("src"), dir.path().join("cache"));
    let n = tree(&src);
    let expected = cold(&src, &dir.path().join("cold.zip"));

    let first = build(&src, &dir.path().join("1.zip"), Some(&cache));
    assert_eq!(fs::read(dir.path().join("1.zip")).unwrap(), expected, "cold cache");
    assert_eq!((first.stats.cache_hits, first.stats.cache_misses), (0, n as u64));
    assert_eq!(first.stats.files, n);
    assert_eq!(first.cache_dir.as_deref(), Some(cache.as_path()));

    let warm = build(&src, &dir.path().join("2.zip"), Some(&cache));
    assert_eq!(fs::read(dir.path().join("2.zip")).unwrap(), expected, "warm cache");
    assert_eq!((warm.stats.cache_hits, warm.stats.cache_misses), (n as u64, 0));
    assert_eq!(
        warm.package,
        PackageBuilder::new(&src)
            .output(dir.path().join("2.zip"))
            .no_cache()
            .build()
            .unwrap()
    );

    write(&src, "pkg/m07.py", b"VALUE = 'changed'\n", 0o644);
    let changed = build(&src, &dir.path().join("3.zip"), Some(&cache));
    let expected = cold(&src, &dir.path().join("cold2.zip"));
    assert_eq!(
        fs::read(dir.path().join("3.zip")).unwrap(),
        expected,
        "one file changed"
    );
    assert_eq!(
        (changed.stats.cache_hits, changed.stats.cache_misses),
        (n as u64 - 1, 1)
    );

    // Another level is another key: nothing is served from level 6's entries.
    let other = PackageBuilder::new(&src)
        .output(dir.path().join("9.zip"))
        .compression_level(9)
        .cache_dir(&cache)
        .build_report()
        .unwrap();
    assert_eq!(other.stats.cache_hits, 0);
    let cold9 = PackageBuilder::new(&src)
        .output(dir.path().join("cold9.zip"))
        .compression_level(9)
        .no_cache()
        .build()
        .unwrap();
    assert_eq!(other.package.sha256, cold9.sha256);
}

#[test]
fn corrupted_entries_are_detected_counted_and_rebuilt() {
    let (dir, src, cache, expected) = setup();
    build(&src, &dir.path().join("1.zip"), Some(&cache));
    let all = entries(&cache);
    assert!(all.len() >= 40, "{all:?}");
    // A flipped payload byte, a truncated entry, an empty one, a flipped header byte and the
    // big streamed entry with its last byte changed.
    let flip = |p: &Path, at: usize| {
        let mut b = fs::read(p).unwrap();
        let at = at.min(b.len() - 1);
        b[at] ^= 0x40;
        fs::write(p, b).unwrap();
    };
    flip(&all[0], 200);
    let b = fs::read(&all[1]).unwrap();
    fs::write(&all[1], &b[..b.len() / 2]).unwrap();
    fs::write(&all[2], b"").unwrap();
    flip(&all[3], 80);
    let big = all[4..].iter().max_by_key(|p| fs::metadata(p).unwrap().len()).unwrap();
    flip(big, usize::MAX);

    let r = build(&src, &dir.path().join("2.zip"), Some(&cache));
    assert_eq!(fs::read(dir.path().join("2.zip")).unwrap(), expected);
    assert_eq!(r.stats.cache_corrupt, 5, "{:?}", r.stats);
    assert_eq!(r.stats.cache_misses, 5);
    let again = build(&src, &dir.path().join("3.zip"), Some(&cache));
    assert_eq!(fs::read(dir.path().join("3.zip")).unwrap(), expected);
    assert_eq!(
        (again.stats.cache_corrupt, again.stats.cache_misses),
        (0, 0),
        "rebuilt entries were stored"
    );
}

#[test]
fn an_unusable_cache_falls_back_to_a_cold_build() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    tree(&src);
    let expected = cold(&src, &dir.path().join("cold.zip"));
    // A file where the cache directory should be: nothing can be created under it.
    let blocked = dir.path().join("not-a-dir");
    fs::write(&blocked, b"x").unwrap();
    let r = build(&src, &dir.path().join("1.zip"), Some(&blocked));
    assert_eq!(fs::read(dir.path().join("1.zip")).unwrap(), expected);
    assert_eq!(r.cache_dir, None);
    // Entries cannot be written (every shard is a file): warned, and the package is right.
    let cache = dir.path().join("cache");
    fs::create_dir_all(cache.join("v1/entries")).unwrap();
    for i in 0..256 {
        fs::write(cache.join(format!("v1/entries/{i:02x}")), b"").unwrap();
    }
    let r = build(&src, &dir.path().join("2.zip"), Some(&cache));
    assert_eq!(fs::read(dir.path().join("2.zip")).unwrap(), expected);
    assert_eq!((r.stats.cache_hits, r.stats.cache_written_bytes), (0, 0));
}

#[test]
fn the_cache_stays_within_its_limit_least_recently_used_first() {
    let (dir, src, cache, expected) = setup();
    let limit = 200_000;
    for i in 0..3 {
        let out = dir.path().join(format!("{i}.zip"));
        PackageBuilder::new(&src)
            .output(&out)
            .cache_dir(&cache)
            .cache_limit(limit)
            .build()
            .unwrap();
        assert_eq!(fs::read(&out).unwrap(), expected);
        let size: u64 = entries(&cache).iter().map(|p| fs::metadata(p).unwrap().len()).sum();
        assert!(size <= limit, "cache holds {size} bytes, limit {limit}");
    }
}

#[test]
fn two_builds_sharing_one_cache_at_once_are_both_right() {
    let (dir, src, cache, expected) = setup();
    for round in 0..3 {
        let outs: Vec<PathBuf> = (0..2).map(|i| dir.path().join(format!("r{round}-{i}.zip"))).collect();
        std::thread::scope(|s| {
            for out in &outs {
                let (src, cache) = (&src, &cache);
                s.spawn(move || build(src, out, Some(cache)));
            }
        });
        for out in &outs {
            assert_eq!(fs::read(out).unwrap(), expected, "round {round}: {}", out.display());
        }
    }
    let leftovers: Vec<_> = entries(&cache)
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Waits until files written now are older than the racy margin, so the index trusts them.
fn age_past_racy_margin() {
    std::thread::sleep(RACY_MARGIN + Duration::from_millis(200));
}

#[test]
fn the_stat_index_skips_reading_and_a_lying_index_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (src, cache) = (dir.path().join("src"), dir.path().join("cache"));
    let n = tree(&src) as u64;
    age_past_racy_margin();
    build(&src, &dir.path().join("1.zip"), Some(&cache));
    let warm = build(&src, &dir.path().join("2.zip"), Some(&cache));
    assert_eq!(warm.stats.files_unread, n, "{:?}", warm.stats);

    // Same size, same mtime, other content: the change time gives it away.
    let victim = src.join("pkg/m03.py");
    let meta = fs::metadata(&victim).unwrap();
    let mut content = fs::read(&victim).unwrap();
    content[0] = b'X';
    fs::write(&victim, &content).unwrap();
    fs::File::options()
        .write(true)
        .open(&victim)
        .unwrap()
        .set_modified(meta.modified().unwrap())
        .unwrap();
    assert_eq!(fs::metadata(&victim).unwrap().len(), meta.len());
    assert_eq!(
        fs::metadata(&victim).unwrap().modified().unwrap(),
        meta.modified().unwrap()
    );
    let r = build(&src, &dir.path().join("3.zip"), Some(&cache));
    assert_eq!(
        fs::read(dir.path().join("3.zip")).unwrap(),
        cold(&src, &dir.path().join("c.zip"))
    );
    assert_eq!(r.stats.files_unread, n - 1);
    let entry = r.package.manifest.iter().find(|m| m.path == "pkg/m03.py").unwrap();
    assert_eq!(entry.sha256, faas_hex(&content));

    // An index whose bytes lie (a digest changed): its trailer no longer matches, so it is
    // ignored and every file is read.
    let index = fs::read_dir(cache.join("v1/index"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| !p.file_name().unwrap().to_string_lossy().starts_with(".tmp-"))
        .unwrap();
    let mut bytes = fs::read(&index).unwrap();
    let len = bytes.len();
    bytes[len - 40] ^= 1;
    fs::write(&index, &bytes).unwrap();
    let r = build(&src, &dir.path().join("4.zip"), Some(&cache));
    assert_eq!(r.stats.files_unread, 0);
    assert_eq!(
        fs::read(dir.path().join("4.zip")).unwrap(),
        cold(&src, &dir.path().join("c.zip"))
    );

    // Another tree's index, copied in place of this one's: ignored.
    let other = dir.path().join("other");
    tree(&other);
    write(&other, "pkg/m03.py", b"other tree\n", 0o644);
    age_past_racy_margin();
    build(&other, &dir.path().join("o1.zip"), Some(&cache));
    build(&other, &dir.path().join("o2.zip"), Some(&cache));
    let indexes: Vec<PathBuf> = fs::read_dir(cache.join("v1/index"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    let theirs = indexes.iter().find(|p| **p != index).unwrap();
    fs::copy(theirs, &index).unwrap();
    let r = build(&src, &dir.path().join("5.zip"), Some(&cache));
    assert_eq!(r.stats.files_unread, 0);
    assert_eq!(
        fs::read(dir.path().join("5.zip")).unwrap(),
        cold(&src, &dir.path().join("c.zip"))
    );
}

#[test]
fn a_file_changed_within_the_racy_margin_is_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let (src, cache) = (dir.path().join("src"), dir.path().join("cache"));
    let n = tree(&src) as u64;
    // Written just now: not older than the build's start by the margin, so not trusted.
    build(&src, &dir.path().join("1.zip"), Some(&cache));
    let r = build(&src, &dir.path().join("2.zip"), Some(&cache));
    assert_eq!(r.stats.files_unread, 0, "{:?}", r.stats);
    assert_eq!(r.stats.cache_hits, n);
    // Switched off: every file is read.
    let r = PackageBuilder::new(&src)
        .output(dir.path().join("3.zip"))
        .cache_dir(&cache)
        .stat_index(false)
        .build_report()
        .unwrap();
    assert_eq!(r.stats.files_unread, 0);
}

fn faas_hex(content: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(content)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
