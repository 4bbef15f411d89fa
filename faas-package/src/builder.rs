//! [`PackageBuilder`]: from a source directory to a [`Package`].

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::archive::{self, ArchiveOptions};
use crate::cache::{self, DEFAULT_CACHE_LIMIT, EntryCache};
use crate::deps::{self, DependencyOptions};
use crate::index;
use crate::many::ObserverHandle;
use crate::walk::{self, SourceFile};
use crate::{
    BuildReport, BuildStats, ManifestEntry, Package, PackageError, PackageLimits, PackageObserver, Progress, Runtime,
    RuntimeFamily, hex, largest,
};

/// 1980-01-01T00:00:00Z, the earliest time a zip can record.
const ZIP_EPOCH: u64 = 315_532_800;

/// Builds a [`Package`] from a source directory. See the crate docs for the guarantees.
#[derive(Debug, Clone)]
pub struct PackageBuilder {
    source: PathBuf,
    output: Option<PathBuf>,
    runtime: Option<Runtime>,
    handler: Option<String>,
    limits: PackageLimits,
    dependencies: DependencyOptions,
    timestamp: Option<u64>,
    level: u32,
    threads: Option<usize>,
    cache: CacheChoice,
    cache_limit: u64,
    stat_index: bool,
    observer: Option<ObserverHandle>,
    batch: usize,
}

/// Where the entry cache is.
#[derive(Debug, Clone)]
enum CacheChoice {
    /// `FAAS_PACKAGE_CACHE`, else the user's cache directory.
    Default,
    Dir(PathBuf),
    Off,
}

impl PackageBuilder {
    /// Starts a package of the files under `source`.
    pub fn new(source: impl Into<PathBuf>) -> Self {
        PackageBuilder {
            source: source.into(),
            output: None,
            runtime: None,
            handler: None,
            limits: PackageLimits::NONE,
            dependencies: DependencyOptions::default(),
            timestamp: None,
            level: 6,
            threads: None,
            cache: CacheChoice::Default,
            cache_limit: DEFAULT_CACHE_LIMIT,
            stat_index: true,
            observer: None,
            batch: 0,
        }
    }

    /// Where to write the zip (default `./dist/<source dir name>.zip`). Must be outside the source.
    pub fn output(mut self, path: impl Into<PathBuf>) -> Self {
        self.output = Some(path.into());
        self
    }

    /// The runtime: enables the handler check and dependency vendoring.
    pub fn runtime(mut self, runtime: Runtime) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// The handler (`lambda_function.lambda_handler`, `index.handler`); its file must be packaged.
    pub fn handler(mut self, handler: impl Into<String>) -> Self {
        self.handler = Some(handler.into());
        self
    }

    /// Size limits to enforce (see [`PackageLimits::LAMBDA`]).
    pub fn limits(mut self, limits: PackageLimits) -> Self {
        self.limits = limits;
        self
    }

    /// How dependencies are vendored.
    pub fn dependencies(mut self, options: DependencyOptions) -> Self {
        self.dependencies = options;
        self
    }

    /// The timestamp of every entry, in seconds since the Unix epoch (default:
    /// `SOURCE_DATE_EPOCH`, else 1980-01-01). Clamped to what a zip can hold (1980–2107).
    pub fn timestamp(mut self, unix_seconds: u64) -> Self {
        self.timestamp = Some(unix_seconds);
        self
    }

    /// The deflate level, 0–9 (default 6). Part of what decides the bytes.
    pub fn compression_level(mut self, level: u32) -> Self {
        self.level = level.min(9);
        self
    }

    /// Compression threads (default: one per core).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads.max(1));
        self
    }

    /// The entry cache's directory (default: `FAAS_PACKAGE_CACHE`, else
    /// `$XDG_CACHE_HOME/faas/package`, else `~/.cache/faas/package`). Compressed entries are
    /// kept there by the hash of their content, level and engine, so a rebuild compresses only
    /// what changed and writes the same bytes as a cold build. Builds may share it at once.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), faas_package::PackageError> {
    /// let report = faas_package::PackageBuilder::new("./src")
    ///     .cache_dir("/ci-cache/faas-package")
    ///     .build_report()?;
    /// println!("{} entries from the cache", report.stats.cache_hits);
    /// # Ok(()) }
    /// ```
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache = CacheChoice::Dir(dir.into());
        self
    }

    /// A cold build: no entry cache and no stat index are read or written.
    pub fn no_cache(mut self) -> Self {
        self.cache = CacheChoice::Off;
        self
    }

    /// The entry cache's size limit in bytes (default [`DEFAULT_CACHE_LIMIT`], 1 GiB); the
    /// least recently used entries go first.
    pub fn cache_limit(mut self, bytes: u64) -> Self {
        self.cache_limit = bytes;
        self
    }

    /// Whether to use the stat index (default `true`, with a cache): files whose size, times,
    /// inode and mode are as the last build of this tree recorded are not read again. Turn it
    /// off on file systems that do not keep change times (see the crate docs).
    pub fn stat_index(mut self, enabled: bool) -> Self {
        self.stat_index = enabled;
        self
    }

    /// Reports every entry written to `observer` (see [`PackageObserver`], [`crate::build_many`]).
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use faas_package::{PackageBuilder, PackageObserver, Progress};
    ///
    /// struct Dots;
    /// impl PackageObserver for Dots {
    ///     fn entry(&self, p: &Progress<'_>) {
    ///         eprint!("\r{}/{} files, {} from the cache", p.files_done, p.files_total, p.cache_hits);
    ///     }
    /// }
    /// # fn main() -> Result<(), faas_package::PackageError> {
    /// PackageBuilder::new("./src").observer(Arc::new(Dots)).build()?;
    /// # Ok(()) }
    /// ```
    pub fn observer(mut self, observer: Arc<dyn PackageObserver>) -> Self {
        self.observer = Some(ObserverHandle(observer));
        self
    }

    pub(crate) fn batch_index(mut self, index: usize) -> Self {
        self.batch = index;
        self
    }

    pub(crate) fn source_dir(&self) -> &Path {
        &self.source
    }

    /// The compression threads this builder would use.
    pub(crate) fn thread_count(&self) -> usize {
        self.threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// Builds the package. Validates everything before writing; on error no output is left behind.
    pub fn build(self) -> Result<Package, PackageError> {
        self.build_report().map(|r| r.package)
    }

    /// Builds the package and says what it took: files, bytes, cache hits and misses.
    pub fn build_report(self) -> Result<BuildReport, PackageError> {
        let started = index::now_ns();
        let source = &self.source;
        match fs::metadata(source) {
            Err(_) => {
                return Err(PackageError::SourceMissing { path: source.clone() });
            }
            Ok(m) if !m.is_dir() => {
                return Err(PackageError::SourceNotDirectory { path: source.clone() });
            }
            Ok(_) => {}
        }
        let output = match &self.output {
            Some(o) => o.clone(),
            None => default_output(source),
        };
        check_output_outside(source, &output)?;
        let candidates = match (&self.runtime, &self.handler) {
            (Some(rt), Some(h)) => Some(rt.handler_candidates(h)?),
            (Some(rt), None) if rt.family() == RuntimeFamily::Custom => Some(vec!["bootstrap".to_string()]),
            _ => None,
        };
        let timestamp = match self.timestamp {
            Some(t) => t,
            None => source_date_epoch()?,
        };

        let staged = match &self.runtime {
            Some(rt) => deps::stage(source, rt, &self.dependencies)?,
            None => None,
        };
        if let Some(s) = &staged {
            tracing::info!(dir = %s.root.display(), from_cache = !s.installed, "dependencies staged");
        }
        let skip: Vec<&str> = staged.iter().filter_map(|s| s.replaces).collect();
        let mut files = walk::walk(source, &skip)?;
        if let Some(staged) = staged.as_ref().filter(|s| s.root.is_dir()) {
            let extra = walk::walk(&staged.root, &[])?.into_iter().map(|f| SourceFile {
                name: format!("{}{}", staged.prefix, f.name),
                skip: staged.prefix.len(),
                ..f
            });
            files = merge_sorted(files, extra.collect());
        }
        if files.is_empty() {
            return Err(PackageError::EmptySource { path: source.clone() });
        }
        if let (Some(_), Some(rt)) = (&candidates, &self.runtime) {
            crate::check_handler(
                files.iter().map(|f| (f.name.as_str(), f.executable)),
                rt,
                self.handler.as_deref().unwrap_or("bootstrap"),
            )?;
        }
        let unzipped: u64 = files.iter().map(|f| f.size).sum();
        if let Some(limit) = self.limits.max_unzipped.filter(|l| unzipped > *l) {
            return Err(too_large("unzipped", unzipped, limit, &files));
        }

        let cache_dir = match &self.cache {
            CacheChoice::Off => None,
            CacheChoice::Dir(d) => Some(d.clone()),
            CacheChoice::Default => cache::default_dir(),
        };
        let cache = cache_dir
            .as_deref()
            .and_then(|d| EntryCache::open(d, self.level, self.cache_limit));
        let canonical_source = fs::canonicalize(source).map_err(|e| PackageError::io(source, e))?;
        let source_key = canonical_source.as_os_str().as_encoded_bytes();
        let index_path = cache
            .as_ref()
            .filter(|_| self.stat_index)
            .and_then(|c| index::path_for(c.root(), source));
        let salt = cache.as_ref().map(EntryCache::salt).unwrap_or_default();
        let (mut previous, mut recorded, mut locations) = (None, None, Vec::new());
        if let Some(path) = &index_path {
            let (trusted, record, located) = index::apply(path, source_key, &salt, &mut files);
            previous = record.as_ref().and_then(index::open_previous);
            recorded = record;
            if previous.is_some() {
                locations = located;
            }
            tracing::debug!(index = %path.display(), trusted, files = files.len(), previous_zip = previous.is_some(), "stat index read");
        }
        let parent = output
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(|e| PackageError::io(parent, e))?;
        crate::remove_stale(parent, &[".faas-package-"]);
        if let (Some(zip), Some(rec), Some(c)) = (&previous, &recorded, &cache)
            && rec.size <= self.limits.max_zipped.unwrap_or(u64::MAX)
            && crate::unchanged::is_the_package(&files, rec, zip, &output, dos_time(timestamp))
        {
            return Ok(self.unchanged_report(output, rec, files, unzipped, c, cache_dir));
        }
        let mut tmp = tempfile::Builder::new()
            .prefix(".faas-package-")
            .suffix(".zip.tmp")
            .tempfile_in(parent)
            .map_err(|e| PackageError::io(parent, e))?;
        let options = ArchiveOptions {
            level: self.level,
            dos_time: dos_time(timestamp),
            threads: self.thread_count(),
        };
        let (mut files_done, mut bytes_done, mut hits) = (0, 0, 0);
        let total = files.len();
        let mut on_entry = |name: &str, size: u64, from_cache: bool| {
            files_done += 1;
            bytes_done += size;
            hits += u64::from(from_cache);
            if let Some(o) = &self.observer {
                o.0.entry(&Progress {
                    build: self.batch,
                    source,
                    name,
                    size,
                    from_cache,
                    files_done,
                    files_total: total,
                    bytes_done,
                    cache_hits: hits,
                });
            }
        };
        let index_writer = index_path.as_ref().and_then(|path| {
            let count = files.iter().filter(|f| f.stat.is_some()).count() as u64;
            index::IndexWriter::create(path, source_key, started, &salt, count)
                .map_err(|e| tracing::warn!(index = %path.display(), error = %e, "stat index not written: the next build reads every file"))
                .ok()
        });
        let mut reuse = archive::Reuse {
            cache: cache.as_ref(),
            previous: previous.as_ref(),
            locations: &locations,
            index: index_writer,
        };
        let (written, sha, size) =
            archive::write_zip(&files, tmp.as_file_mut(), &output, options, &mut reuse, &mut on_entry)?;
        if let Some(limit) = self.limits.max_zipped.filter(|l| size > *l) {
            return Err(too_large("zipped", size, limit, &files));
        }
        tmp.as_file().sync_all().map_err(|e| PackageError::io(&output, e))?;
        let published = tmp.persist(&output).map_err(|e| PackageError::io(&output, e.error))?;
        if let Some(w) = reuse.index.take() {
            // The zip as it now is, so that the next build copies from it only while unchanged.
            let record = published
                .metadata()
                .ok()
                .and_then(|m| index::Stat::of(&m))
                .map(|stat| index::Previous {
                    zip: fs::canonicalize(&output).unwrap_or_else(|_| output.clone()),
                    stat,
                    sha256: sha,
                    size,
                    dos_time: options.dos_time,
                    entries: files.len() as u64,
                });
            if let Err(e) = w.finish(record.as_ref()) {
                tracing::warn!(error = %e, "stat index not written: the next build reads every file");
            }
        }
        drop(published);
        let stats = match &cache {
            Some(c) => {
                c.finish();
                BuildStats::from_counters(files.len(), unzipped, &c.counters)
            }
            None => BuildStats {
                files: files.len(),
                bytes: unzipped,
                cache_misses: files.len() as u64,
                ..BuildStats::default()
            },
        };
        let manifest: Vec<ManifestEntry> = written
            .into_iter()
            .zip(files)
            .map(|(w, f)| ManifestEntry {
                path: f.name,
                size: w.size,
                sha256: hex(&w.sha256),
                executable: w.executable,
            })
            .collect();
        tracing::info!(
            output = %output.display(),
            sha256 = %hex(&sha),
            size,
            files = manifest.len(),
            cache_hits = stats.cache_hits,
            cache_misses = stats.cache_misses,
            "package built"
        );
        Ok(BuildReport {
            package: Package::assemble(output, sha, size, manifest),
            stats,
            cache_dir: cache.map(|_| cache_dir).unwrap_or_default(),
        })
    }
}

impl PackageBuilder {
    /// The report of a build whose package is the previous zip, as it is at `output`.
    fn unchanged_report(
        &self,
        output: PathBuf,
        recorded: &index::Previous,
        files: Vec<SourceFile>,
        unzipped: u64,
        cache: &EntryCache,
        cache_dir: Option<PathBuf>,
    ) -> BuildReport {
        let n = files.len() as u64;
        for counter in [&cache.counters.hits, &cache.counters.unread, &cache.counters.reused] {
            counter.store(n, std::sync::atomic::Ordering::Relaxed);
        }
        let (total, mut bytes_done) = (files.len(), 0);
        let manifest: Vec<ManifestEntry> = files
            .into_iter()
            .enumerate()
            .map(|(i, f)| {
                bytes_done += f.size;
                if let Some(o) = &self.observer {
                    o.0.entry(&Progress {
                        build: self.batch,
                        source: &self.source,
                        name: &f.name,
                        size: f.size,
                        from_cache: true,
                        files_done: i + 1,
                        files_total: total,
                        bytes_done,
                        cache_hits: i as u64 + 1,
                    });
                }
                ManifestEntry {
                    sha256: hex(&f.known.unwrap_or_default()),
                    size: f.size,
                    executable: f.executable,
                    path: f.name,
                }
            })
            .collect();
        tracing::info!(output = %output.display(), sha256 = %hex(&recorded.sha256), files = total, "package unchanged: the previous zip is kept");
        BuildReport {
            package: Package::assemble(output, recorded.sha256, recorded.size, manifest),
            stats: BuildStats::from_counters(total, unzipped, &cache.counters),
            cache_dir,
        }
    }
}

fn default_output(source: &Path) -> PathBuf {
    let name = fs::canonicalize(source)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "function".into());
    PathBuf::from("dist").join(format!("{name}.zip"))
}

/// Canonicalizes the longest existing ancestor of `path` and appends the rest.
fn canonical_lenient(path: &Path) -> PathBuf {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(c) = fs::canonicalize(existing) {
            return rest.iter().rev().fold(c, |acc: PathBuf, part| acc.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return abs,
        }
    }
}

fn check_output_outside(source: &Path, output: &Path) -> Result<(), PackageError> {
    let src = canonical_lenient(source);
    if canonical_lenient(output).starts_with(&src) {
        return Err(PackageError::OutputInsideSource {
            output: output.to_path_buf(),
            source_dir: source.to_path_buf(),
        });
    }
    Ok(())
}

/// Two lists sorted by name as one; on a name in both, `first`'s file is kept.
fn merge_sorted(first: Vec<SourceFile>, second: Vec<SourceFile>) -> Vec<SourceFile> {
    let mut out = Vec::with_capacity(first.len() + second.len());
    let (mut a, mut b) = (first.into_iter().peekable(), second.into_iter().peekable());
    loop {
        let take_a = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => match x.name.cmp(&y.name) {
                std::cmp::Ordering::Less => true,
                std::cmp::Ordering::Equal => {
                    b.next();
                    true
                }
                std::cmp::Ordering::Greater => false,
            },
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return out,
        };
        out.extend(if take_a { a.next() } else { b.next() });
    }
}

fn too_large(what: &'static str, size: u64, limit: u64, files: &[SourceFile]) -> PackageError {
    PackageError::TooLarge {
        what,
        size,
        limit,
        over: size - limit,
        largest: largest(files.iter().map(|f| (f.name.clone(), f.size)), 5),
    }
}

fn source_date_epoch() -> Result<u64, PackageError> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().map_err(|_| PackageError::InvalidOption {
            field: "SOURCE_DATE_EPOCH".into(),
            value: v.clone(),
            reason: "expected whole seconds since 1970-01-01 (e.g. `git log -1 --format=%ct`)".into(),
        }),
        _ => Ok(ZIP_EPOCH),
    }
}

/// The DOS (time, date) of a Unix timestamp, in UTC, clamped to 1980-01-01..2107-12-31.
fn dos_time(unix: u64) -> (u16, u16) {
    let secs = unix.max(ZIP_EPOCH);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (year, month, day, rem) = if year > 2107 {
        (2107, 12, 31, 86_398)
    } else {
        (year, month, day, rem)
    };
    let (hour, minute, second) = ((rem / 3600) as u16, (rem % 3600 / 60) as u16, (rem % 60) as u16);
    let time = (hour << 11) | (minute << 5) | (second / 2);
    let date = (((year - 1980) as u16) << 9) | (u16::from(month) << 5) | u16::from(day);
    (time, date)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn civil((time, date): (u16, u16)) -> String {
        format!(
            "{}-{:02}-{:02} {:02}:{:02}:{:02}",
            1980 + (date >> 9),
            (date >> 5) & 15,
            date & 31,
            time >> 11,
            (time >> 5) & 63,
            (time & 31) * 2
        )
    }

    #[test]
    fn dos_time_conversion() {
        assert_eq!(civil(dos_time(0)), "1980-01-01 00:00:00");
        // 2024-02-29T12:34:56Z
        assert_eq!(civil(dos_time(1_709_210_096)), "2024-02-29 12:34:56");
        assert_eq!(civil(dos_time(u64::MAX / 2)), "2107-12-31 23:59:58");
    }
}
