//! Many functions at once: one cache, one thread pool, progress for each, same bytes as
//! building them one by one.

#![allow(clippy::unwrap_used)]

mod common;

use common::write;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use faas_package::{BuildReport, PackageBuilder, PackageError, PackageObserver, Progress, build_many};

#[derive(Default)]
struct Watch {
    entries: AtomicUsize,
    bytes: AtomicU64,
    hits: AtomicU64,
    finished: Mutex<Vec<(usize, PathBuf, bool)>>,
}

impl PackageObserver for Watch {
    fn entry(&self, p: &Progress<'_>) {
        self.entries.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(p.size, Ordering::Relaxed);
        self.hits.fetch_add(u64::from(p.from_cache), Ordering::Relaxed);
        assert!(p.files_done <= p.files_total && !p.name.is_empty());
    }
    fn finished(&self, build: usize, source: &Path, result: &Result<BuildReport, PackageError>) {
        self.finished
            .lock()
            .unwrap()
            .push((build, source.to_path_buf(), result.is_ok()));
    }
}

fn functions(root: &Path) -> Vec<PathBuf> {
    (0..5)
        .map(|f| {
            let dir = root.join(format!("fn{f}"));
            write(
                &dir,
                "lambda_function.py",
                format!("def lambda_handler(e, c): return {f}\n").as_bytes(),
                0o644,
            );
            for i in 0..20 {
                // Shared vendored files: the same content in every function.
                write(
                    &dir,
                    &format!("vendor/lib{i}.py"),
                    format!("X = {i}\n").repeat(200).as_bytes(),
                    0o644,
                );
            }
            dir
        })
        .collect()
}

#[test]
fn build_many_shares_the_cache_and_reports_progress() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let srcs = functions(&dir.path().join("functions"));
    let builders = |tag: &str| -> Vec<PackageBuilder> {
        srcs.iter()
            .map(|s| {
                PackageBuilder::new(s)
                    .output(
                        dir.path()
                            .join(format!("{tag}-{}.zip", s.file_name().unwrap().to_string_lossy())),
                    )
                    .cache_dir(&cache)
            })
            .collect()
    };
    let watch = Arc::new(Watch::default());
    let first = build_many(builders("a"), Some(2), Some(watch.clone()));
    assert_eq!(first.len(), 5);
    for (src, r) in srcs.iter().zip(&first) {
        let r = r.as_ref().unwrap();
        let cold = PackageBuilder::new(src)
            .output(dir.path().join("cold.zip"))
            .no_cache()
            .build()
            .unwrap();
        assert_eq!(r.package.sha256, cold.sha256, "{}", src.display());
    }
    assert_eq!(watch.entries.load(Ordering::Relaxed), 5 * 21);
    let total_hits: u64 = first.iter().map(|r| r.as_ref().unwrap().stats.cache_hits).sum();
    assert_eq!(watch.hits.load(Ordering::Relaxed), total_hits);
    let mut finished = watch.finished.lock().unwrap().clone();
    finished.sort();
    assert_eq!(finished.iter().map(|f| f.0).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
    assert!(finished.iter().all(|f| f.2));

    // Second batch: everything comes from the shared cache.
    let watch = Arc::new(Watch::default());
    let second = build_many(builders("b"), None, Some(watch.clone()));
    for (a, b) in first.iter().zip(&second) {
        let (a, b) = (a.as_ref().unwrap(), b.as_ref().unwrap());
        assert_eq!(a.package.sha256, b.package.sha256);
        assert_eq!((b.stats.cache_hits, b.stats.cache_misses), (21, 0));
    }
    assert_eq!(watch.hits.load(Ordering::Relaxed), 5 * 21);
}

#[test]
fn one_failing_function_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let srcs = functions(&dir.path().join("functions"));
    let mut builders: Vec<PackageBuilder> = srcs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            PackageBuilder::new(s)
                .output(dir.path().join(format!("{i}.zip")))
                .no_cache()
        })
        .collect();
    builders.insert(2, PackageBuilder::new(dir.path().join("missing")).no_cache());
    let results = build_many(builders, None, None);
    assert_eq!(results.len(), 6);
    assert!(matches!(results[2], Err(PackageError::SourceMissing { .. })));
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 5);
    assert!(fs::metadata(dir.path().join("4.zip")).is_ok());
}
