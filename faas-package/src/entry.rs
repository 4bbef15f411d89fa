//! One entry: its content's digests and compressed bytes, from the cache when it holds them.
//!
//! A file the stat index vouches for is not read when the cache holds its entry. Any other
//! file is read and hashed first; only a miss is deflated (and then stored). Files of
//! [`SPILL_THRESHOLD`] bytes or more are streamed: hashed in one pass, deflated into an
//! anonymous temporary file in a second one on a miss.
//!
//! A file the index vouches for whose bytes the previous zip holds (see `index.rs`) is
//! copied from that zip: one read for each stretch of adjacent entries, each entry checked
//! against its digest (one that does not match is taken from the cache or compressed).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use flate2::write::DeflateEncoder;
use sha2::{Digest, Sha256};

use crate::PackageError;
use crate::cache::{EntryCache, HashWriter, Hit, Payload, Store, StorePayload};
use crate::index::Located;
use crate::walk::SourceFile;

/// Files at least this large are deflated into a temporary file instead of memory.
pub const SPILL_THRESHOLD: u64 = 4 * 1024 * 1024;
/// The most bytes one read of the previous zip covers.
const MAX_STRETCH: u64 = 2 * 1024 * 1024;
/// The largest gap between two adjacent entries' bytes (a local header and its name).
const MAX_GAP: u64 = 30 + 65_535;

/// Compressed data ready to be appended.
pub(crate) enum Data {
    Memory(Vec<u8>),
    /// Part of a stretch read from the previous zip.
    Shared(Arc<Vec<u8>>, Range<usize>),
    /// Positioned at the first byte to copy; runs to the end of the file.
    Spilled(File),
}

/// One entry ready to be written.
pub(crate) struct Compressed {
    pub data: Data,
    pub deflated: bool,
    pub crc32: u32,
    pub size: u64,
    pub compressed_size: u64,
    pub sha256: [u8; 32],
    /// Served from the cache (or the previous zip).
    pub cached: bool,
    /// The digest of the compressed bytes bound to the content (see [`Located`]), when it
    /// was computed (for the index; spilled entries get theirs while they are copied).
    pub digest: Option<[u8; 16]>,
}

impl Compressed {
    fn from_hit(hit: Hit, sha256: [u8; 32]) -> Compressed {
        Compressed {
            data: match hit.payload {
                Payload::Memory(v) => Data::Memory(v),
                Payload::File(f) => Data::Spilled(f),
            },
            deflated: hit.deflated,
            crc32: hit.crc32,
            size: hit.size,
            compressed_size: hit.compressed_size,
            sha256,
            cached: true,
            digest: None,
        }
    }
}

/// Where a worker's deflater writes.
pub(crate) enum Sink {
    Memory(Vec<u8>),
    Spill(File),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Memory(v) => v.write(buf),
            Sink::Spill(f) => f.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Memory(_) => Ok(()),
            Sink::Spill(f) => f.flush(),
        }
    }
}

/// A worker's reusable state.
pub(crate) struct Worker<'a> {
    pub encoder: DeflateEncoder<Sink>,
    pub buf: Vec<u8>,
    pub cache: Option<&'a EntryCache>,
    /// The previous zip, checked against the index's record of it.
    pub previous: Option<&'a File>,
    /// Where it holds each file's bytes, by position in the file list (empty: nowhere).
    pub locations: &'a [Option<Located>],
    /// Whether to compute the digests the index records.
    pub locate: bool,
}

impl Worker<'_> {
    /// Where the previous zip holds file `i`'s bytes, when they can be copied from it (the
    /// index vouches for its content and says where they are).
    fn reusable(&self, files: &[SourceFile], i: usize) -> Option<Located> {
        let f = files.get(i)?;
        let l = (*self.locations.get(i)?)?;
        (f.known.is_some() && f.size < SPILL_THRESHOLD).then_some(l)
    }

    /// The entries of `files[run]` (in zip order), appended to `out`; stops after an error.
    pub(crate) fn entries(
        &mut self,
        files: &[SourceFile],
        run: Range<usize>,
        out: &mut Vec<Result<Compressed, PackageError>>,
    ) {
        let mut i = run.start;
        while i < run.end {
            let end = self.stretch(files, i, run.end);
            if end > i {
                self.copy_stretch(files, i..end, out);
                i = end;
                continue;
            }
            let r = self.entry(&files[i]).map(|c| self.with_digest(c));
            let failed = r.is_err();
            out.push(r);
            if failed {
                return;
            }
            i += 1;
        }
    }

    /// The end (at most `limit`) of the stretch of reusable files from `start` whose bytes
    /// lie close together in the previous zip (`start` when `files[start]` is not reusable).
    fn stretch(&self, files: &[SourceFile], start: usize, limit: usize) -> usize {
        if self.previous.is_none() {
            return start;
        }
        let Some(first) = self.reusable(files, start) else {
            return start;
        };
        let mut end = start + 1;
        let mut last = first;
        while let Some(next) = self.reusable(files, end).filter(|_| end < limit) {
            let last_end = u64::from(last.offset) + u64::from(last.compressed_size);
            let next_end = u64::from(next.offset) + u64::from(next.compressed_size);
            let gap = u64::from(next.offset).checked_sub(last_end);
            if gap.is_none_or(|g| g > MAX_GAP) || next_end - u64::from(first.offset) > MAX_STRETCH {
                break;
            }
            last = next;
            end += 1;
        }
        end
    }

    /// Copies a stretch from the previous zip with one read; an entry whose bytes do not
    /// match its digest (or a failed read) is taken from the cache or compressed instead.
    fn copy_stretch(&mut self, all: &[SourceFile], run: Range<usize>, out: &mut Vec<Result<Compressed, PackageError>>) {
        let located: Vec<Located> = run.clone().filter_map(|i| self.reusable(all, i)).collect();
        let files = &all[run];
        let (Some(first), Some(last), Some(previous)) = (located.first(), located.last(), self.previous) else {
            return;
        };
        let start = u64::from(first.offset);
        let len = u64::from(last.offset) + u64::from(last.compressed_size) - start;
        let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0)];
        let read = read_at(previous, &mut buf, start);
        if let Err(e) = &read {
            tracing::debug!(error = %e, "previous zip unreadable: taking its entries from the cache");
        }
        // An Arc of the Vec itself: `Arc<[u8]>::from` would copy the stretch.
        let buf = Arc::new(buf);
        for (file, l) in files.iter().zip(&located) {
            let at = (l.offset as usize) - (start as usize);
            let range = at..at + l.compressed_size as usize;
            let sha = file.known.unwrap_or_default();
            if read.is_ok() && Located::digest_of(&sha, &buf[range.clone()]) == l.digest {
                if let Some(cache) = self.cache {
                    cache.counters.hits.fetch_add(1, Ordering::Relaxed);
                    cache.counters.unread.fetch_add(1, Ordering::Relaxed);
                    cache.counters.reused.fetch_add(1, Ordering::Relaxed);
                }
                out.push(Ok(Compressed {
                    data: Data::Shared(Arc::clone(&buf), range),
                    deflated: l.deflated,
                    crc32: l.crc32,
                    size: u64::from(l.size),
                    compressed_size: u64::from(l.compressed_size),
                    sha256: sha,
                    cached: true,
                    digest: Some(l.digest),
                }));
                continue;
            }
            if read.is_ok() {
                tracing::warn!(entry = %file.name, "previous zip's bytes do not match the index: taking the entry from the cache");
            }
            let r = self.entry(file).map(|c| self.with_digest(c));
            let failed = r.is_err();
            out.push(r);
            if failed {
                return;
            }
        }
    }

    /// `c` with the digest the index records, when one is wanted and its bytes are here.
    fn with_digest(&self, mut c: Compressed) -> Compressed {
        if self.locate
            && c.digest.is_none()
            && let Data::Memory(bytes) = &c.data
        {
            c.digest = Some(Located::digest_of(&c.sha256, bytes));
        }
        c
    }

    /// The entry for `file`.
    pub(crate) fn entry(&mut self, file: &SourceFile) -> Result<Compressed, PackageError> {
        if let (Some(cache), Some(sha)) = (self.cache, file.known)
            && let Some(hit) = cache.get(&sha, file.size, None)
        {
            cache.counters.hits.fetch_add(1, Ordering::Relaxed);
            cache.counters.unread.fetch_add(1, Ordering::Relaxed);
            return Ok(Compressed::from_hit(hit, sha));
        }
        let unreadable = |e: io::Error| PackageError::Unreadable {
            path: file.disk_path(),
            reason: e.to_string(),
        };
        let mut src = File::open(file.disk_path()).map_err(unreadable)?;
        if file.size < SPILL_THRESHOLD {
            let data = read_all(&mut src, file.size).map_err(unreadable)?;
            return self.small(data);
        }
        if let Some(cache) = self.cache {
            let mut sha = Sha256::new();
            let read = io::copy(&mut src, &mut HashWriter(&mut sha)).map_err(unreadable)?;
            let sha: [u8; 32] = sha.finalize().into();
            if let Some(hit) = cache.get(&sha, read, None) {
                cache.counters.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(Compressed::from_hit(hit, sha));
            }
            src.seek(SeekFrom::Start(0)).map_err(unreadable)?;
        }
        let mut c = self.large(&mut src).map_err(|e| match e {
            Failure::Source(e) => unreadable(e),
            Failure::Spill(e) => PackageError::io(std::env::temp_dir(), e),
        })?;
        if let (Some(cache), Data::Spilled(f)) = (self.cache, &mut c.data) {
            cache.counters.misses.fetch_add(1, Ordering::Relaxed);
            cache.put(
                &c.sha256,
                Store {
                    deflated: c.deflated,
                    crc32: c.crc32,
                    size: c.size,
                    payload: StorePayload::File(f),
                },
            );
        }
        Ok(c)
    }

    /// A file read whole into memory.
    fn small(&mut self, data: Vec<u8>) -> Result<Compressed, PackageError> {
        let spill_err = |e: io::Error| PackageError::io(std::env::temp_dir(), e);
        let sha: [u8; 32] = Sha256::digest(&data).into();
        let crc32 = crc32fast::hash(&data);
        if let Some(cache) = self.cache
            && let Some(hit) = cache.get(&sha, data.len() as u64, Some(crc32))
        {
            cache.counters.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Compressed::from_hit(hit, sha));
        }
        self.encoder.write_all(&data).map_err(spill_err)?;
        let Sink::Memory(deflated) = self.encoder.reset(Sink::Memory(Vec::new())).map_err(spill_err)? else {
            return Err(spill_err(io::Error::other("deflater lost its memory sink")));
        };
        let size = data.len() as u64;
        let (data, deflated_flag) = if deflated.len() < data.len() {
            (deflated, true)
        } else {
            (data, false)
        };
        if let Some(cache) = self.cache {
            cache.counters.misses.fetch_add(1, Ordering::Relaxed);
            cache.put(
                &sha,
                Store {
                    deflated: deflated_flag,
                    crc32,
                    size,
                    payload: StorePayload::Memory(&data),
                },
            );
        }
        Ok(Compressed {
            compressed_size: data.len() as u64,
            data: Data::Memory(data),
            deflated: deflated_flag,
            crc32,
            size,
            sha256: sha,
            cached: false,
            digest: None,
        })
    }

    /// A file deflated as it streams into an anonymous temporary file.
    fn large(&mut self, src: &mut File) -> Result<Compressed, Failure> {
        let spill = tempfile::tempfile().map_err(Failure::Spill)?;
        self.encoder.reset(Sink::Spill(spill)).map_err(Failure::Spill)?;
        let mut crc = crc32fast::Hasher::new();
        let mut sha = Sha256::new();
        let mut size = 0u64;
        loop {
            let n = src.read(&mut self.buf).map_err(Failure::Source)?;
            if n == 0 {
                break;
            }
            let chunk = &self.buf[..n];
            crc.update(chunk);
            sha.update(chunk);
            self.encoder.write_all(chunk).map_err(Failure::Spill)?;
            size += n as u64;
        }
        let Sink::Spill(mut spill) = self.encoder.reset(Sink::Memory(Vec::new())).map_err(Failure::Spill)? else {
            return Err(Failure::Spill(io::Error::other("deflater lost its spill file")));
        };
        let compressed_size = spill.stream_position().map_err(Failure::Spill)?;
        spill.seek(SeekFrom::Start(0)).map_err(Failure::Spill)?;
        Ok(Compressed {
            data: Data::Spilled(spill),
            deflated: true,
            crc32: crc.finalize(),
            size,
            compressed_size,
            sha256: sha.finalize().into(),
            cached: false,
            digest: None,
        })
    }
}

/// The whole file, `size` bytes as walked: two reads for an unchanged file (the second sees
/// the end), where `read_to_end` also asks the size and the position (two more syscalls per
/// file). A file that grew since the walk is read to its end all the same.
fn read_all(src: &mut File, size: u64) -> io::Result<Vec<u8>> {
    let mut data = vec![0u8; usize::try_from(size).unwrap_or(0).saturating_add(1)];
    let mut filled = 0;
    loop {
        if filled == data.len() {
            data.resize(data.len() * 2, 0);
        }
        match src.read(&mut data[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    data.truncate(filled);
    Ok(data)
}

/// Fills `buf` from `file` at `offset`, without moving a shared position.
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let mut done = 0;
        while done < buf.len() {
            let n = std::os::windows::fs::FileExt::seek_read(file, &mut buf[done..], offset + done as u64)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            done += n;
        }
        Ok(())
    }
}

enum Failure {
    Source(io::Error),
    Spill(io::Error),
}
