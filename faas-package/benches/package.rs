//! Packaging throughput on the shared corpus, against Info-ZIP (`zip -r -X -q`) in the same run:
//! a cold build (no cache) and a warm one (entry cache and stat index, nothing changed).
//!
//! The corpus comes from `../shared/bench/make_corpus.py` (see `benches/package.sh`, which
//! makes it and also measures peak RSS and byte-identical output). Set `FAAS_CORPUS` to its
//! root (default `/tmp/faas-corpus`).
#![allow(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};
use faas_package::PackageBuilder;

fn corpus() -> PathBuf {
    let root = PathBuf::from(std::env::var("FAAS_CORPUS").unwrap_or_else(|_| "/tmp/faas-corpus".into()));
    assert!(
        root.join("py-medium").is_dir() && root.join("node-many").is_dir(),
        "no corpus at {}: run `python3 ../shared/bench/make_corpus.py --root {}` (or benches/package.sh)",
        root.display(),
        root.display()
    );
    root
}

fn info_zip(tree: &Path, out: &Path) {
    let _ = std::fs::remove_file(out);
    let status = Command::new("zip")
        .args(["-r", "-X", "-q"])
        .arg(out)
        .arg(".")
        .current_dir(tree)
        .status()
        .expect("zip (Info-ZIP) on the PATH");
    assert!(status.success());
}

fn bench(c: &mut Criterion) {
    let root = corpus();
    let out = tempfile::tempdir().expect("tempdir");
    for tree in ["py-medium", "node-many"] {
        let src = root.join(tree);
        let mut group = c.benchmark_group(tree);
        group.sample_size(10);
        group.bench_function("faas-package cold", |b| {
            b.iter(|| {
                PackageBuilder::new(&src)
                    .output(out.path().join("faas.zip"))
                    .no_cache()
                    .build()
                    .expect("package")
            })
        });
        let cache = out.path().join(format!("cache-{tree}"));
        let warm = || {
            PackageBuilder::new(&src)
                .output(out.path().join("warm.zip"))
                .cache_dir(&cache)
                .build()
                .expect("package")
        };
        warm();
        group.bench_function("faas-package warm, nothing changed", |b| b.iter(warm));
        group.bench_function("zip -r -X", |b| b.iter(|| info_zip(&src, &out.path().join("info.zip"))));
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
