//! One entry: its content's digests and compressed bytes, from the cache when it holds them.
//!
//! A file the stat index vouches for is not read when the cache holds its entry. Any other
//! file is read and hashed first; only a miss is deflated (and then stored). Files of
//! [`SPILL_THRESHOLD`] bytes or more are streamed: hashed in one pass, deflated into an
//! anonymous temporary file in a second one on a miss.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::atomic::Ordering;

use flate2::write::DeflateEncoder;
use sha2::{Digest, Sha256};

use crate::PackageError;
use crate::cache::{EntryCache, HashWriter, Hit, Payload, Store, StorePayload};
use crate::walk::SourceFile;

/// Files at least this large are deflated into a temporary file instead of memory.
pub const SPILL_THRESHOLD: u64 = 4 * 1024 * 1024;

/// Compressed data ready to be appended.
pub(crate) enum Data {
    Memory(Vec<u8>),
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
    /// Served from the cache.
    pub cached: bool,
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
}

impl Worker<'_> {
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
            let mut data = Vec::with_capacity(usize::try_from(file.size).unwrap_or(0));
            src.read_to_end(&mut data).map_err(unreadable)?;
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
        })
    }
}

enum Failure {
    Source(io::Error),
    Spill(io::Error),
}
