//! Unchanged entries are copied from the zip the previous build of the tree wrote — and only
//! when that zip is as the index recorded it and each entry's bytes match their digest: the
//! package is byte-identical to a cold build with a fresh, stale, deleted or lied-about
//! previous zip, and when builds of one tree run at once.

#![allow(clippy::unwrap_used)]

mod common;

use common::{noise, write};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use faas_package::{BuildReport, PackageBuilder, RACY_MARGIN};
use sha2::{Digest, Sha256};

/// 60 small modules, an executable, an incompressible file (stored) and a large one
/// (streamed: never copied from the previous zip). Returns the number of files.
fn tree(root: &Path) -> u64 {
    write(
        root,
        "lambda_function.py",
        b"def lambda_handler(e, c):\n    return 1\n",
        0o644,
    );
    for i in 0..60 {
        let body = format!("# module {i}\nVALUE = {i}\n").repeat(20 + i);
        write(root, &format!("pkg/m{i:02}.py"), body.as_bytes(), 0o644);
    }
    write(root, "bin/tool", b"#!/bin/sh\necho tool\n", 0o755);
    let noise = noise(20_000, 0x9e37_79b9);
    write(root, "data/noise.bin", &noise, 0o644);
    let big: Vec<u8> = (0..4_500_000u32).map(|i| (i % 253) as u8 ^ (i / 8192) as u8).collect();
    write(root, "data/big.bin", &big, 0o644);
    64
}

fn build(src: &Path, out: &Path, cache: &Path) -> BuildReport {
    PackageBuilder::new(src)
        .output(out)
        .cache_dir(cache)
        .build_report()
        .unwrap()
}

fn cold(src: &Path, out: &Path) -> Vec<u8> {
    PackageBuilder::new(src).output(out).no_cache().build().unwrap();
    fs::read(out).unwrap()
}

/// Waits until files written now are older than the racy margin, so the index trusts them.
fn age_past_racy_margin() {
    std::thread::sleep(RACY_MARGIN + Duration::from_millis(200));
}

/// A tree old enough to be trusted, its cold zip, and a first (indexing) build into `1.zip`.
fn primed() -> (tempfile::TempDir, PathBuf, PathBuf, Vec<u8>, u64) {
    let dir = tempfile::tempdir().unwrap();
    let (src, cache) = (dir.path().join("src"), dir.path().join("cache"));
    let n = tree(&src);
    age_past_racy_margin();
    let expected = cold(&src, &dir.path().join("cold.zip"));
    let first = build(&src, &dir.path().join("1.zip"), &cache);
    assert_eq!(first.stats.reused, 0);
    assert_eq!(fs::read(dir.path().join("1.zip")).unwrap(), expected);
    (dir, src, cache, expected, n)
}

#[test]
fn unchanged_entries_come_from_the_previous_zip_and_the_bytes_stay_those_of_a_cold_build() {
    let (dir, src, cache, expected, n) = primed();
    let warm = build(&src, &dir.path().join("2.zip"), &cache);
    assert_eq!(fs::read(dir.path().join("2.zip")).unwrap(), expected, "nothing changed");
    // Every file but the large one is copied from 1.zip; the large one is a cache hit.
    assert_eq!(warm.stats.reused, n - 1, "{:?}", warm.stats);
    assert_eq!((warm.stats.cache_hits, warm.stats.files_unread), (n, n));

    // The same output path, nothing changed: the zip there (hashed whole, as recorded) is
    // the package and is left as it is — every entry counted as copied.
    let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&fs::metadata(p).unwrap());
    let before = inode(&dir.path().join("2.zip"));
    let again = build(&src, &dir.path().join("2.zip"), &cache);
    assert_eq!(
        fs::read(dir.path().join("2.zip")).unwrap(),
        expected,
        "same output path"
    );
    assert_eq!(
        (again.stats.reused, again.stats.files_unread, again.stats.cache_misses),
        (n, n, 0)
    );
    assert_eq!(inode(&dir.path().join("2.zip")), before, "kept, not rewritten");
    assert_eq!(again.package, warm.package);

    // Another entry time at the same path: headers differ, so the zip is written again
    // (its entries' bytes still copied), as a cold build with that time would write it.
    let dated = PackageBuilder::new(&src)
        .output(dir.path().join("2.zip"))
        .cache_dir(&cache)
        .timestamp(1_700_000_000)
        .build_report()
        .unwrap();
    assert_eq!(dated.stats.reused, n - 1);
    let cold_dated = PackageBuilder::new(&src)
        .output(dir.path().join("cold-dated.zip"))
        .no_cache()
        .timestamp(1_700_000_000)
        .build()
        .unwrap();
    assert_eq!(
        fs::read(dir.path().join("2.zip")).unwrap(),
        fs::read(&cold_dated.path).unwrap()
    );
    build(&src, &dir.path().join("2.zip"), &cache);

    write(&src, "pkg/m07.py", b"VALUE = 'changed'\n", 0o644);
    let changed = build(&src, &dir.path().join("3.zip"), &cache);
    let expected = cold(&src, &dir.path().join("cold2.zip"));
    assert_eq!(
        fs::read(dir.path().join("3.zip")).unwrap(),
        expected,
        "one file changed"
    );
    assert_eq!(changed.stats.reused, n - 2);
    assert_eq!((changed.stats.cache_hits, changed.stats.cache_misses), (n - 1, 1));
}

#[test]
fn a_stale_or_missing_previous_zip_is_not_copied_from() {
    let (dir, src, cache, expected, n) = primed();
    let previous = dir.path().join("1.zip");
    // Same length, other bytes: its stat fields (change time) no longer match the record.
    let mut bytes = fs::read(&previous).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle..middle + 64].fill(0);
    fs::write(&previous, &bytes).unwrap();
    let r = build(&src, &dir.path().join("2.zip"), &cache);
    assert_eq!(r.stats.reused, 0, "{:?}", r.stats);
    assert_eq!(r.stats.cache_hits, n);
    assert_eq!(
        fs::read(dir.path().join("2.zip")).unwrap(),
        expected,
        "stale previous zip"
    );

    // Replaced by another file under the same name (another inode): not copied from.
    fs::copy(dir.path().join("cold.zip"), dir.path().join("other.zip")).unwrap();
    fs::rename(dir.path().join("other.zip"), dir.path().join("2.zip")).unwrap();
    let r = build(&src, &dir.path().join("3.zip"), &cache);
    assert_eq!(r.stats.reused, 0);
    assert_eq!(
        fs::read(dir.path().join("3.zip")).unwrap(),
        expected,
        "replaced previous zip"
    );

    fs::remove_file(dir.path().join("3.zip")).unwrap();
    let r = build(&src, &dir.path().join("4.zip"), &cache);
    assert_eq!((r.stats.reused, r.stats.cache_hits), (0, n));
    assert_eq!(
        fs::read(dir.path().join("4.zip")).unwrap(),
        expected,
        "deleted previous zip"
    );
}

/// The path of the tree's index in `cache`.
fn index_file(cache: &Path) -> PathBuf {
    fs::read_dir(cache.join("v1/index"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| !p.file_name().unwrap().to_string_lossy().starts_with(".tmp-"))
        .unwrap()
}

/// Rewrites the index with `edit` applied to its body and a matching trailer, as someone
/// writing the cache directory could.
fn forge_index(cache: &Path, edit: impl FnOnce(&mut Vec<u8>)) {
    let path = index_file(cache);
    let mut bytes = fs::read(&path).unwrap();
    bytes.truncate(bytes.len() - 32);
    edit(&mut bytes);
    let trailer = Sha256::digest(&bytes);
    bytes.extend_from_slice(&trailer);
    fs::write(&path, &bytes).unwrap();
}

/// Where the recorded location of `name` starts in the index body (after its name, stat
/// fields, content sha256 and the location flag).
fn location_of(index: &[u8], name: &str) -> usize {
    let at = index.windows(name.len()).position(|w| w == name.as_bytes()).unwrap();
    let flag = at + name.len() + 60 + 32;
    assert_eq!(index[flag], 1, "{name} has a recorded location");
    flag + 1
}

#[test]
fn an_index_lying_about_where_the_bytes_are_is_caught_by_the_digest() {
    let (dir, src, cache, expected, n) = primed();
    // Two entries' locations swapped, and a third one's offset moved by a byte: each copied
    // range then fails its digest (bound to the content's sha256), so those three come from
    // the cache instead.
    forge_index(&cache, |body| {
        let (a, b) = (location_of(body, "pkg/m10.py"), location_of(body, "pkg/m11.py"));
        let la: Vec<u8> = body[a..a + 33].to_vec();
        let lb: Vec<u8> = body[b..b + 33].to_vec();
        body[a..a + 33].copy_from_slice(&lb);
        body[b..b + 33].copy_from_slice(&la);
        let c = location_of(body, "pkg/m20.py");
        let offset = u32::from_le_bytes(body[c..c + 4].try_into().unwrap());
        body[c..c + 4].copy_from_slice(&(offset + 1).to_le_bytes());
    });
    let r = build(&src, &dir.path().join("2.zip"), &cache);
    assert_eq!(fs::read(dir.path().join("2.zip")).unwrap(), expected, "lying locations");
    assert_eq!(r.stats.reused, n - 1 - 3, "{:?}", r.stats);
    assert_eq!(r.stats.cache_hits, n);
}

#[test]
fn an_index_lying_about_the_previous_zips_digest_means_an_ordinary_build() {
    let (dir, src, cache, expected, n) = primed();
    let out = dir.path().join("1.zip");
    // The record of 1.zip ends the body: its sha256 sits before size (8), time (4) and
    // entries (8). A flipped bit there and the whole-zip check refuses to keep the zip.
    forge_index(&cache, |body| {
        let at = body.len() - 20 - 32;
        body[at] ^= 1;
    });
    let r = build(&src, &out, &cache);
    assert_eq!(fs::read(&out).unwrap(), expected, "lying zip digest");
    assert_eq!(
        r.stats.reused,
        n - 1,
        "an ordinary build, copying entries: {:?}",
        r.stats
    );
    let again = build(&src, &out, &cache);
    assert_eq!(again.stats.reused, n, "the rewritten index is honest again");
}

#[test]
fn builds_of_one_tree_at_once_copying_from_the_same_previous_zip_are_all_right() {
    let (dir, src, cache, expected, _) = primed();
    let expected_sha: String = Sha256::digest(&expected).iter().map(|b| format!("{b:02x}")).collect();
    for round in 0..3 {
        // Two builds write the same output (each replacing the zip the other copies from)
        // and one writes its own.
        let outs = [
            dir.path().join("shared.zip"),
            dir.path().join("shared.zip"),
            dir.path().join(format!("own-{round}.zip")),
        ];
        let reports: Vec<BuildReport> = std::thread::scope(|s| {
            let handles: Vec<_> = outs
                .iter()
                .map(|out| {
                    let (src, cache) = (&src, &cache);
                    s.spawn(move || build(src, out, cache))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in &reports {
            assert_eq!(
                r.package.sha256,
                expected_sha,
                "round {round}: {}",
                r.package.path.display()
            );
        }
        for out in &outs {
            assert_eq!(fs::read(out).unwrap(), expected, "round {round}: {}", out.display());
        }
    }
}
