//! Many functions at once: [`build_many`] and the [`PackageObserver`] that watches builds.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::{BuildReport, PackageBuilder, PackageError};

/// One entry written, as a [`PackageObserver`] sees it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Progress<'a> {
    /// The build's position in the batch (0 for a single build).
    pub build: usize,
    /// The build's source directory.
    pub source: &'a Path,
    /// The entry's name in the zip.
    pub name: &'a str,
    /// Its uncompressed size.
    pub size: u64,
    /// Whether it came from the entry cache.
    pub from_cache: bool,
    /// Entries written so far in this build, this one included.
    pub files_done: usize,
    /// Entries this build writes in all.
    pub files_total: usize,
    /// Uncompressed bytes written so far in this build.
    pub bytes_done: u64,
    /// Entries taken from the cache so far in this build.
    pub cache_hits: u64,
}

/// Watches builds: called for every entry written (in zip order, on the thread writing the
/// zip) and once per finished build. Both methods do nothing by default.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use faas_package::{PackageObserver, Progress};
///
/// #[derive(Default)]
/// struct Bytes(AtomicU64);
/// impl PackageObserver for Bytes {
///     fn entry(&self, p: &Progress<'_>) {
///         self.0.fetch_add(p.size, Ordering::Relaxed);
///     }
/// }
/// # let _ = Bytes::default();
/// ```
pub trait PackageObserver: Send + Sync {
    /// An entry was written.
    fn entry(&self, progress: &Progress<'_>) {
        let _ = progress;
    }
    /// Build number `build` of the batch ended.
    fn finished(&self, build: usize, source: &Path, result: &Result<BuildReport, PackageError>) {
        let _ = (build, source, result);
    }
}

/// Builds several packages at once — a monorepo's functions — on one pool of `threads`
/// compression threads (default: one per core) and whatever entry cache each builder names
/// (by default all share the user's). Up to `threads` builds run at a time, each with an
/// equal share of the threads; results come back in the builders' order, one per builder
/// (a failed build does not stop the others).
///
/// ```no_run
/// use faas_package::{PackageBuilder, build_many};
///
/// let builders = ["fn-a", "fn-b", "fn-c"]
///     .map(|f| PackageBuilder::new(format!("functions/{f}")).output(format!("dist/{f}.zip")));
/// for result in build_many(builders, None, None) {
///     let report = result?;
///     println!("{} {} hits", report.package.path.display(), report.stats.cache_hits);
/// }
/// # Ok::<(), faas_package::PackageError>(())
/// ```
pub fn build_many(
    builders: impl IntoIterator<Item = PackageBuilder>,
    threads: Option<usize>,
    observer: Option<Arc<dyn PackageObserver>>,
) -> Vec<Result<BuildReport, PackageError>> {
    let builders: Vec<PackageBuilder> = builders.into_iter().collect();
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let jobs = threads.min(builders.len()).max(1);
    let share = (threads / jobs).max(1);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<BuildReport, PackageError>>>> =
        Mutex::new((0..builders.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(builder) = builders.get(i) else { return };
                    let source = builder.source_dir().to_path_buf();
                    let mut b = builder.clone().threads(builder.thread_count().min(share));
                    b = b.batch_index(i);
                    if let Some(o) = &observer {
                        b = b.observer(Arc::clone(o));
                    }
                    let result = b.build_report();
                    if let Some(o) = &observer {
                        o.finished(i, &source, &result);
                    }
                    results.lock().unwrap_or_else(PoisonError::into_inner)[i] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(PackageError::InvalidOption {
                    field: "build_many".into(),
                    value: "a build".into(),
                    reason: "its thread ended without a result".into(),
                })
            })
        })
        .collect()
}

/// The observer of a builder, shareable and printable.
#[derive(Clone)]
pub(crate) struct ObserverHandle(pub Arc<dyn PackageObserver>);

impl std::fmt::Debug for ObserverHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PackageObserver")
    }
}
