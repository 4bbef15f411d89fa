//! The entry cache: compressed entries kept by the hash of what decides their bytes.
//!
//! An entry's compressed bytes depend only on the file's content, the deflate level, the
//! deflate engine and this crate's entry format (names, modes and the timestamp live in the
//! zip headers, written fresh every time). The key is the sha256 of [`FORMAT`], the level, a
//! fingerprint of the engine (the digest of a fixed sample deflated at that level, so a new
//! `flate2`/`zlib-rs` that would change the bytes changes every key) and the content's
//! sha256. A hit is therefore byte-identical to what a cold build would write.
//!
//! Layout: `<dir>/v1/entries/<2 hex>/<62 hex>`, each file a header (magic, key, content
//! sha256, method, CRC-32, sizes, then the sha256 of the header's other fields and the
//! payload) followed by the payload. Every read checks the magic, the key, the sizes and
//! that digest: a torn, truncated or flipped entry — a bit anywhere, header or payload — is
//! counted as corrupt, removed, and compressed again. Writes go to a
//! temporary file in the entry's own directory and are renamed into place, so a reader sees
//! a whole entry or none, and two builds sharing the cache at once at worst write the same
//! bytes twice. No write is synced: an entry a crash tore is caught by its digest.
//!
//! The cache is bounded: builds add what they wrote to an approximate ledger, and once a
//! tenth of the limit has been written since the last clean-up, the least recently used
//! entries (by modification time, refreshed on a hit when older than [`TOUCH_AFTER`]) are
//! removed until the cache is at nine tenths of its limit. An unwritable or full cache is
//! warned about once and the build goes on without storing: never a failed or wrong package.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use flate2::Compression;
use flate2::write::DeflateEncoder;
use sha2::{Digest, Sha256};

use crate::hex;

/// What changes an entry's bytes besides its content, level and engine: bump on any change
/// to how entries are compressed or stored.
pub(crate) const FORMAT: &str = "faas-package entry v1";
/// The default size limit of the cache: 1 GiB.
pub const DEFAULT_CACHE_LIMIT: u64 = 1 << 30;
/// A hit refreshes its entry's time only when it is older than this (one syscall saved per
/// hit on a warm build; LRU order is kept to this resolution).
pub(crate) const TOUCH_AFTER: Duration = Duration::from_secs(600);
const MAGIC: &[u8; 8] = b"FAASENT1";
/// magic, key, content sha256, deflated, crc32, size, compressed size, digest.
pub(crate) const HEADER: usize = 8 + 32 + 32 + 1 + 4 + 8 + 8 + 32;
/// Payloads at least this large are checked and copied from the file, not held in memory.
const IN_MEMORY: u64 = 4 * 1024 * 1024;

/// Counts shared by the workers of one build.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub corrupt: AtomicU64,
    pub unread: AtomicU64,
    pub reused: AtomicU64,
    pub written_bytes: AtomicU64,
}

/// An entry found in the cache.
pub(crate) struct Hit {
    pub deflated: bool,
    pub crc32: u32,
    pub size: u64,
    pub compressed_size: u64,
    pub payload: Payload,
}

/// A hit's compressed bytes.
pub(crate) enum Payload {
    Memory(Vec<u8>),
    /// Positioned at the first payload byte; the payload runs to the end of the file.
    File(File),
}

/// What a miss stores.
pub(crate) struct Store<'a> {
    pub deflated: bool,
    pub crc32: u32,
    pub size: u64,
    pub payload: StorePayload<'a>,
}

/// A miss's compressed bytes.
pub(crate) enum StorePayload<'a> {
    Memory(&'a [u8]),
    /// Read from the start; left positioned at the start again.
    File(&'a mut File),
}

/// One build's view of a cache directory.
#[derive(Debug)]
pub(crate) struct EntryCache {
    root: PathBuf,
    limit: u64,
    level: u32,
    engine: [u8; 32],
    writable: AtomicBool,
    pub counters: Counters,
}

impl EntryCache {
    /// Opens (creating) the cache under `dir` for entries deflated at `level`; `None`, with a
    /// warning, when it cannot be created.
    pub(crate) fn open(dir: &Path, level: u32, limit: u64) -> Option<EntryCache> {
        let root = dir.join("v1");
        if let Err(e) = fs::create_dir_all(root.join("entries")) {
            tracing::warn!(dir = %dir.display(), error = %e, "package cache unusable: building without it");
            return None;
        }
        Some(EntryCache {
            root,
            limit,
            level,
            engine: engine_fingerprint(level),
            writable: AtomicBool::new(true),
            counters: Counters::default(),
        })
    }

    /// What decides an entry's bytes besides its content (format, level, engine): the key
    /// of the empty digest. The index records it with the previous zip's locations.
    pub(crate) fn salt(&self) -> [u8; 32] {
        self.key(&[0; 32])
    }

    /// The directory holding the format's files (`<dir>/v1`).
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The key of an entry whose content has this sha256.
    pub(crate) fn key(&self, content_sha: &[u8; 32]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(FORMAT.as_bytes());
        h.update([0, self.level as u8]);
        h.update(self.engine);
        h.update(content_sha);
        h.finalize().into()
    }

    fn path(&self, key: &[u8; 32]) -> PathBuf {
        let name = hex(key);
        self.root.join("entries").join(&name[..2]).join(&name[2..])
    }

    /// The entry for `content_sha` (of `size` bytes and, when known, with that CRC-32),
    /// checked; a damaged one is counted, removed and `None`.
    pub(crate) fn get(&self, content_sha: &[u8; 32], size: u64, crc32: Option<u32>) -> Option<Hit> {
        let key = self.key(content_sha);
        let path = self.path(&key);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "cache entry unreadable");
                return None;
            }
        };
        match read_entry(&mut file, &key, content_sha) {
            Ok(Some((hit, modified))) if hit.size == size && crc32.is_none_or(|c| c == hit.crc32) => {
                touch(&file, modified);
                Some(hit)
            }
            Ok(_) => {
                self.counters.corrupt.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(path = %path.display(), "cache entry does not match its key: removed, compressing again");
                let _ = fs::remove_file(&path);
                None
            }
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "cache entry unreadable");
                None
            }
        }
    }

    /// Stores an entry; on failure warns once and stores nothing more in this build.
    pub(crate) fn put(&self, content_sha: &[u8; 32], entry: Store<'_>) {
        if !self.writable.load(Ordering::Relaxed) {
            return;
        }
        let key = self.key(content_sha);
        let path = self.path(&key);
        match write_entry(&path, &key, content_sha, entry) {
            Ok(bytes) => {
                self.counters.written_bytes.fetch_add(bytes, Ordering::Relaxed);
            }
            Err(e) => {
                if self.writable.swap(false, Ordering::Relaxed) {
                    tracing::warn!(
                        dir = %self.root.display(),
                        error = %e,
                        "package cache is not writable (or full): this build stores no more entries; the package is unaffected"
                    );
                }
            }
        }
    }

    /// Adds this build's writes to the ledger and cleans up when a tenth of the limit has
    /// been written since the last clean-up.
    pub(crate) fn finish(&self) {
        let written = self.counters.written_bytes.load(Ordering::Relaxed);
        if written == 0 {
            return;
        }
        let ledger = self.root.join("ledger");
        let before: u64 = fs::read_to_string(&ledger)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let total = before.saturating_add(written);
        let next = if total >= self.limit / 10 {
            self.evict();
            0
        } else {
            total
        };
        if let Err(e) = write_atomic(&ledger, next.to_string().as_bytes()) {
            tracing::debug!(path = %ledger.display(), error = %e, "cache ledger not written");
        }
    }

    /// Removes the least recently used entries until the cache holds at most nine tenths of
    /// its limit, and temporaries killed builds left. Returns the bytes removed.
    pub(crate) fn evict(&self) -> u64 {
        let entries = self.root.join("entries");
        crate::remove_stale(&self.root.join("index"), &[".tmp-"]);
        crate::remove_stale(&self.root, &[".tmp-"]);
        let mut all: Vec<(SystemTime, u64, PathBuf)> = Vec::new();
        for shard in fs::read_dir(&entries).into_iter().flatten().flatten() {
            let shard = shard.path();
            crate::remove_stale(&shard, &[".tmp-"]);
            for e in fs::read_dir(&shard).into_iter().flatten().flatten() {
                if e.file_name().to_string_lossy().starts_with(".tmp-") {
                    continue;
                }
                if let Ok(m) = e.metadata() {
                    all.push((m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len(), e.path()));
                }
            }
        }
        let mut total: u64 = all.iter().map(|e| e.1).sum();
        let target = self.limit / 10 * 9;
        if total <= target {
            return 0;
        }
        all.sort();
        let mut removed = 0;
        for (_, size, path) in all {
            if total <= target {
                break;
            }
            if fs::remove_file(&path).is_ok() {
                total -= size;
                removed += size;
            }
        }
        tracing::debug!(dir = %self.root.display(), removed, kept = total, "package cache cleaned up");
        removed
    }
}

/// The digest of a fixed sample deflated at `level` by the engine this build links.
fn engine_fingerprint(level: u32) -> [u8; 32] {
    let mut sample = Vec::with_capacity(64 * 1024);
    let mut x: u32 = 0x2545_f491;
    let words: [&[u8]; 8] = [
        b"def ", b"return ", b"self", b"(x, y)", b"\n    ", b"value", b" = ", b"import ",
    ];
    while sample.len() < 60 * 1024 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        if x.is_multiple_of(5) {
            sample.push((x >> 8) as u8);
        } else {
            sample.extend_from_slice(words[(x >> 16) as usize % words.len()]);
        }
    }
    let mut enc = DeflateEncoder::new(Vec::new(), Compression::new(level));
    let out = enc.write_all(&sample).and_then(|()| enc.finish()).unwrap_or_default();
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(&out);
    h.finalize().into()
}

/// The header of an entry, fields in file order.
struct Header {
    key: [u8; 32],
    content_sha: [u8; 32],
    deflated: bool,
    crc32: u32,
    size: u64,
    compressed_size: u64,
    /// The sha256 of the fields above and the payload.
    digest: [u8; 32],
}

/// Where the digest starts in the header.
const DIGEST_AT: usize = HEADER - 32;

impl Header {
    fn encode(&self) -> [u8; HEADER] {
        let mut h = [0u8; HEADER];
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            h[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(MAGIC);
        put(&self.key);
        put(&self.content_sha);
        put(&[u8::from(self.deflated)]);
        put(&self.crc32.to_le_bytes());
        put(&self.size.to_le_bytes());
        put(&self.compressed_size.to_le_bytes());
        put(&self.digest);
        h
    }

    fn decode(h: &[u8; HEADER]) -> Option<Header> {
        let arr32 = |at: usize| -> [u8; 32] {
            let mut a = [0u8; 32];
            a.copy_from_slice(&h[at..at + 32]);
            a
        };
        let u64_at = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&h[at..at + 8]);
            u64::from_le_bytes(a)
        };
        if &h[..8] != MAGIC || h[72] > 1 {
            return None;
        }
        let mut crc = [0u8; 4];
        crc.copy_from_slice(&h[73..77]);
        Some(Header {
            key: arr32(8),
            content_sha: arr32(40),
            deflated: h[72] == 1,
            crc32: u32::from_le_bytes(crc),
            size: u64_at(77),
            compressed_size: u64_at(85),
            digest: arr32(DIGEST_AT),
        })
    }
}

/// The entry and its modification time; `Ok(None)`: the file is not a whole, matching entry.
/// A small entry costs one `fstat` and one `read`.
fn read_entry(file: &mut File, key: &[u8; 32], content_sha: &[u8; 32]) -> io::Result<Option<(Hit, SystemTime)>> {
    let meta = file.metadata()?;
    let (len, modified) = (meta.len(), meta.modified().unwrap_or(SystemTime::UNIX_EPOCH));
    if len < HEADER as u64 {
        return Ok(None);
    }
    let mut raw = [0u8; HEADER];
    let mut data = Vec::new();
    if len < IN_MEMORY {
        data.resize(len as usize, 0);
        file.read_exact(&mut data)?;
        raw.copy_from_slice(&data[..HEADER]);
    } else {
        file.read_exact(&mut raw)?;
    }
    let Some(h) = Header::decode(&raw) else {
        return Ok(None);
    };
    if &h.key != key || &h.content_sha != content_sha || h.compressed_size != len - HEADER as u64 {
        return Ok(None);
    }
    let mut sha = Sha256::new();
    sha.update(&raw[..DIGEST_AT]);
    let payload = if len < IN_MEMORY {
        sha.update(&data[HEADER..]);
        if <[u8; 32]>::from(sha.finalize()) != h.digest {
            return Ok(None);
        }
        data.drain(..HEADER);
        Payload::Memory(data)
    } else {
        let n = io::copy(file, &mut HashWriter(&mut sha))?;
        if n != h.compressed_size || <[u8; 32]>::from(sha.finalize()) != h.digest {
            return Ok(None);
        }
        file.seek(SeekFrom::Start(HEADER as u64))?;
        Payload::File(file.try_clone()?)
    };
    let hit = Hit {
        deflated: h.deflated,
        crc32: h.crc32,
        size: h.size,
        compressed_size: h.compressed_size,
        payload,
    };
    Ok(Some((hit, modified)))
}

/// Refreshes an entry's time (its LRU position) when it is older than [`TOUCH_AFTER`].
fn touch(file: &File, modified: SystemTime) {
    if modified.elapsed().is_ok_and(|age| age > TOUCH_AFTER) {
        let _ = file.set_modified(SystemTime::now());
    }
}

fn write_entry(path: &Path, key: &[u8; 32], content_sha: &[u8; 32], entry: Store<'_>) -> io::Result<u64> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    let mut header = Header {
        key: *key,
        content_sha: *content_sha,
        deflated: entry.deflated,
        crc32: entry.crc32,
        size: entry.size,
        compressed_size: 0,
        digest: [0; 32],
    };
    match entry.payload {
        StorePayload::Memory(data) => {
            header.compressed_size = data.len() as u64;
            let mut sha = Sha256::new();
            sha.update(&header.encode()[..DIGEST_AT]);
            sha.update(data);
            header.digest = sha.finalize().into();
            let f = tmp.as_file_mut();
            f.write_all(&header.encode())?;
            f.write_all(data)?;
        }
        StorePayload::File(src) => {
            header.compressed_size = src.seek(SeekFrom::End(0))?;
            let mut sha = Sha256::new();
            sha.update(&header.encode()[..DIGEST_AT]);
            let f = tmp.as_file_mut();
            f.write_all(&[0u8; HEADER])?;
            src.seek(SeekFrom::Start(0))?;
            let mut tee = Tee {
                out: &mut *f,
                sha: &mut sha,
            };
            let copied = io::copy(src, &mut tee)?;
            src.seek(SeekFrom::Start(0))?;
            if copied != header.compressed_size {
                return Err(io::Error::other("spill file changed while stored"));
            }
            header.digest = sha.finalize().into();
            f.seek(SeekFrom::Start(0))?;
            f.write_all(&header.encode())?;
        }
    }
    let bytes = HEADER as u64 + header.compressed_size;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(bytes)
}

/// Writes `bytes` to `path` through a temporary file renamed into place.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// A writer feeding a digest.
pub(crate) struct HashWriter<'a>(pub &'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Tee<'a, W: Write> {
    out: &'a mut W,
    sha: &'a mut Sha256,
}

impl<W: Write> Write for Tee<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// The default cache directory: `FAAS_PACKAGE_CACHE`, else `$XDG_CACHE_HOME/faas/package`,
/// else `~/.cache/faas/package`; `None` when none of them is set.
pub(crate) fn default_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = var("FAAS_PACKAGE_CACHE") {
        return Some(dir);
    }
    if let Some(xdg) = var("XDG_CACHE_HOME").filter(|p| p.is_absolute()) {
        return Some(xdg.join("faas/package"));
    }
    var("HOME").map(|home| home.join(".cache/faas/package"))
}
