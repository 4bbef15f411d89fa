//! Writing the zip: entries deflated in parallel, written in sorted order, memory bounded.
//!
//! Worker threads (one per core) take the next entry in order, read it, hash it (CRC-32 and
//! sha256) and deflate it with a compressor they keep and reset between entries — or take it
//! from the entry cache (see `entry.rs`, `cache.rs`); the calling
//! thread appends finished entries in order and writes the central directory. A byte budget
//! bounds what is held in memory: a worker waits before starting an entry that would go over
//! it, unless that entry is the very next one to write (so the pipeline always moves). Files
//! of [`SPILL_THRESHOLD`] bytes or more are deflated into an anonymous temporary file instead
//! of memory.
//!
//! The format is written here rather than through the `zip` crate's writer: its prepared
//! entries build a fresh deflate stream per file, which made a 20k-file `node_modules` slower
//! than Info-ZIP. The `zip` crate still reads and checks what we write (see the tests).
//!
//! Every entry gets the same timestamp, mode 0644 or 0755, Unix as "made by" system, and no
//! extra fields, so the bytes depend only on names and contents. An entry that deflate would
//! not make smaller is stored. Archives with more than 65,535 entries get a zip64 end record.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Condvar, Mutex, PoisonError};

use flate2::Compression;
use flate2::write::DeflateEncoder;
use sha2::{Digest, Sha256};

use crate::PackageError;
use crate::cache::EntryCache;
use crate::entry::{Compressed, Data, SPILL_THRESHOLD, Sink, Worker};
use crate::index::{IndexWriter, Located};
use crate::walk::SourceFile;

/// Bytes of file data (raw plus compressed) that may be held in memory at once.
const MEMORY_BUDGET: u64 = 16 * 1024 * 1024;
/// The most files a worker takes at once.
const BATCH_FILES: usize = 64;
/// The most bytes (raw plus compressed) a worker takes at once.
const BATCH_BYTES: u64 = 1024 * 1024;
/// The largest archive this writer produces (no zip64 offsets).
const MAX_ARCHIVE: u64 = u32::MAX as u64 - 1;

/// What was written for one file.
#[derive(Debug, Clone)]
pub(crate) struct WrittenEntry {
    pub size: u64,
    pub sha256: [u8; 32],
    pub executable: bool,
}

/// How to write the archive.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ArchiveOptions {
    pub level: u32,
    /// DOS (time, date) of every entry.
    pub dos_time: (u16, u16),
    pub threads: usize,
}

struct Flow {
    next_to_take: usize,
    next_to_write: usize,
    reserved: u64,
    stopped: bool,
}

type Message = (usize, u64, Vec<Result<Compressed, PackageError>>);

/// Where entries may come from besides compressing, and where to record them.
pub(crate) struct Reuse<'a> {
    /// The entry cache.
    pub cache: Option<&'a EntryCache>,
    /// The previous zip of this tree, checked against the index's record of it.
    pub previous: Option<&'a File>,
    /// Where it holds each file's bytes (empty: nowhere).
    pub locations: &'a [Option<Located>],
    /// The index being written (each entry is recorded with where its bytes are).
    pub index: Option<IndexWriter>,
}

/// Writes `files` (already sorted by name) as a zip to `out`.
/// Returns what was written and the sha256 and size of the archive.
pub(crate) fn write_zip(
    files: &[SourceFile],
    out: &mut File,
    out_path: &Path,
    opts: ArchiveOptions,
    reuse: &mut Reuse<'_>,
    on_entry: &mut dyn FnMut(&str, u64, bool),
) -> Result<(Vec<WrittenEntry>, [u8; 32], u64), PackageError> {
    let (cache, previous, locate) = (reuse.cache, reuse.previous, reuse.index.is_some());
    let locations = reuse.locations;
    let flow = Mutex::new(Flow {
        next_to_take: 0,
        next_to_write: 0,
        reserved: 0,
        stopped: false,
    });
    let turn = Condvar::new();
    let (tx, rx) = mpsc::channel::<Message>();
    let threads = opts.threads.clamp(1, files.len().max(1));
    let mut sink = Counting {
        inner: BufWriter::with_capacity(256 * 1024, out),
        sha: Sha256::new(),
        bytes: 0,
    };
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let tx = tx.clone();
            let (flow, turn) = (&flow, &turn);
            let worker = Worker {
                encoder: DeflateEncoder::new(Sink::Memory(Vec::new()), Compression::new(opts.level)),
                buf: vec![0u8; 128 * 1024],
                cache,
                previous,
                locations,
                locate,
            };
            scope.spawn(move || compress_worker(files, worker, flow, turn, tx));
        }
        drop(tx);
        let index = &mut reuse.index;
        let result = write_in_order(files, &mut sink, out_path, opts, (&flow, &turn), rx, index, on_entry);
        if result.is_err() {
            flow.lock().unwrap_or_else(PoisonError::into_inner).stopped = true;
            turn.notify_all();
        }
        result
    })
    .map(|written| {
        let bytes = sink.bytes;
        (written, sink.sha.finalize().into(), bytes)
    })
    .and_then(|(written, sha, bytes)| {
        sink.inner.flush().map_err(|e| PackageError::io(out_path, e))?;
        Ok((written, sha, bytes))
    })
}

fn compress_worker(
    files: &[SourceFile],
    mut worker: Worker<'_>,
    flow: &Mutex<Flow>,
    turn: &Condvar,
    tx: mpsc::Sender<Message>,
) {
    loop {
        let (start, end, cost) = {
            let mut f = flow.lock().unwrap_or_else(PoisonError::into_inner);
            if f.stopped || f.next_to_take >= files.len() {
                return;
            }
            // Take a run of small files (or one large one) to keep locking and wake-ups rare.
            let start = f.next_to_take;
            let mut end = start;
            let mut cost = 0;
            while end < files.len() && end - start < BATCH_FILES && cost < BATCH_BYTES {
                let size = files[end].size;
                if size >= SPILL_THRESHOLD {
                    end += usize::from(end == start);
                    break;
                }
                cost += 2 * size;
                end += 1;
            }
            f.next_to_take = end;
            while !f.stopped && f.reserved + cost > MEMORY_BUDGET && start != f.next_to_write {
                f = turn.wait(f).unwrap_or_else(PoisonError::into_inner);
            }
            if f.stopped {
                return;
            }
            f.reserved += cost;
            (start, end, cost)
        };
        let mut results = Vec::with_capacity(end - start);
        worker.entries(files, start..end, &mut results);
        if tx.send((start, cost, results)).is_err() {
            return;
        }
    }
}

/// A writer that counts and hashes what passes through it (the zip is written front to back).
struct Counting<W: Write> {
    inner: W,
    sha: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Copies into the zip, feeding a digest too when there is one.
struct DigestTee<'a, W: Write> {
    out: &'a mut W,
    sha: Option<&'a mut Sha256>,
}

impl<W: Write> Write for DigestTee<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        if let Some(sha) = self.sha.as_mut() {
            sha.update(&buf[..n]);
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Borrows its name from the file list: one copy of every name, whatever the tree's size.
struct CentralEntry<'a> {
    name: &'a str,
    deflated: bool,
    crc32: u32,
    compressed_size: u32,
    size: u32,
    offset: u32,
    executable: bool,
}

fn too_big(out_path: &Path, what: &str) -> PackageError {
    PackageError::TooLarge {
        what: "zipped",
        size: MAX_ARCHIVE + 1,
        limit: MAX_ARCHIVE,
        over: 1,
        largest: format!(
            "{what} (zip64 offsets are not written; no function platform takes a package this large: {})",
            out_path.display()
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn write_in_order<'a, W: Write>(
    files: &'a [SourceFile],
    out: &mut Counting<W>,
    out_path: &Path,
    opts: ArchiveOptions,
    (flow, turn): (&Mutex<Flow>, &Condvar),
    rx: mpsc::Receiver<Message>,
    index: &mut Option<IndexWriter>,
    on_entry: &mut dyn FnMut(&str, u64, bool),
) -> Result<Vec<WrittenEntry>, PackageError> {
    let io_err = |e| PackageError::io(out_path, e);
    let mut pending: BTreeMap<usize, (u64, Vec<Result<Compressed, PackageError>>)> = BTreeMap::new();
    let mut written = Vec::with_capacity(files.len());
    let mut central = Vec::with_capacity(files.len());
    let mut next = 0;
    for (start, cost, batch) in rx {
        pending.insert(start, (cost, batch));
        while let Some((cost, batch)) = pending.remove(&next) {
            for c in batch {
                let c = c?;
                let file = &files[next];
                let offset = out.bytes;
                let fits = |v: u64| {
                    u32::try_from(v)
                        .ok()
                        .filter(|_| offset + c.compressed_size < MAX_ARCHIVE)
                };
                let (Some(offset32), Some(csize), Some(size)) = (fits(offset), fits(c.compressed_size), fits(c.size))
                else {
                    return Err(too_big(out_path, &file.name));
                };
                let entry = CentralEntry {
                    name: &file.name,
                    deflated: c.deflated,
                    crc32: c.crc32,
                    compressed_size: csize,
                    size,
                    offset: offset32,
                    executable: file.executable,
                };
                write_local_header(out, &entry, opts.dos_time).map_err(io_err)?;
                let data_at = out.bytes;
                let mut digest = c.digest;
                match c.data {
                    Data::Memory(bytes) => out.write_all(&bytes).map_err(io_err)?,
                    Data::Shared(bytes, range) => out.write_all(&bytes[range]).map_err(io_err)?,
                    Data::Spilled(f) => {
                        // Exactly the size recorded in the headers, whatever the file holds.
                        let mut sha = index.as_ref().map(|_| Sha256::new_with_prefix(c.sha256));
                        let mut tee = DigestTee {
                            out: &mut *out,
                            sha: sha.as_mut(),
                        };
                        let n = io::copy(&mut f.take(c.compressed_size), &mut tee).map_err(io_err)?;
                        if n != c.compressed_size {
                            return Err(PackageError::zip(out_path, "a compressed entry was cut short"));
                        }
                        digest = sha.map(Located::truncate);
                    }
                }
                if let Some(w) = index.as_mut() {
                    let located = digest.and_then(|digest| {
                        Some(Located {
                            offset: u32::try_from(data_at).ok()?,
                            compressed_size: csize,
                            size,
                            crc32: c.crc32,
                            deflated: c.deflated,
                            digest,
                        })
                    });
                    if let Err(e) = w.entry(file, &c.sha256, located.as_ref()) {
                        tracing::warn!(error = %e, "stat index not written: the next build reads every file");
                        *index = None;
                    }
                }
                central.push(entry);
                on_entry(&file.name, c.size, c.cached);
                written.push(WrittenEntry {
                    size: c.size,
                    sha256: c.sha256,
                    executable: file.executable,
                });
                next += 1;
            }
            let mut f = flow.lock().unwrap_or_else(PoisonError::into_inner);
            f.reserved -= cost;
            f.next_to_write = next;
            drop(f);
            turn.notify_all();
        }
    }
    if written.len() != files.len() {
        return Err(PackageError::zip(out_path, "a compression worker stopped early"));
    }
    write_central_directory(out, &central, opts.dos_time).map_err(io_err)?;
    if out.bytes > MAX_ARCHIVE {
        return Err(too_big(out_path, "central directory"));
    }
    Ok(written)
}

const FLAG_UTF8: u16 = 1 << 11;
const VERSION_NEEDED: u16 = 20;
const VERSION_MADE_BY_UNIX: u16 = (3 << 8) | 20;

fn flags(name: &str) -> u16 {
    if name.is_ascii() { 0 } else { FLAG_UTF8 }
}

fn method(e: &CentralEntry<'_>) -> u16 {
    if e.deflated { 8 } else { 0 }
}

/// The fields local and central headers share, from "version needed" to the name length.
fn shared_fields(h: &mut Vec<u8>, e: &CentralEntry<'_>, (time, date): (u16, u16)) {
    for v in [VERSION_NEEDED, flags(e.name), method(e), time, date] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    for v in [e.crc32, e.compressed_size, e.size] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    h.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
}

fn write_local_header(w: &mut impl Write, e: &CentralEntry<'_>, dos_time: (u16, u16)) -> io::Result<()> {
    let mut h = Vec::with_capacity(30 + e.name.len());
    h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    shared_fields(&mut h, e, dos_time);
    h.extend_from_slice(&0u16.to_le_bytes());
    h.extend_from_slice(e.name.as_bytes());
    w.write_all(&h)
}

fn write_central_directory<W: Write>(
    w: &mut Counting<W>,
    entries: &[CentralEntry<'_>],
    dos_time: (u16, u16),
) -> io::Result<()> {
    let start = w.bytes;
    for e in entries {
        let mode: u32 = 0o100_000 | if e.executable { 0o755 } else { 0o644 };
        let mut h = Vec::with_capacity(46 + e.name.len());
        h.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        h.extend_from_slice(&VERSION_MADE_BY_UNIX.to_le_bytes());
        shared_fields(&mut h, e, dos_time);
        h.extend_from_slice(&[0; 8]); // extra len, comment len, disk start, internal attributes
        h.extend_from_slice(&(mode << 16).to_le_bytes());
        h.extend_from_slice(&e.offset.to_le_bytes());
        h.extend_from_slice(e.name.as_bytes());
        w.write_all(&h)?;
    }
    let (cd_start, cd_size, count) = (start, w.bytes - start, entries.len() as u64);
    if count > 0xFFFF {
        let zip64_end = w.bytes;
        let mut r = Vec::with_capacity(76);
        r.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
        r.extend_from_slice(&44u64.to_le_bytes());
        r.extend_from_slice(&VERSION_MADE_BY_UNIX.to_le_bytes());
        r.extend_from_slice(&45u16.to_le_bytes());
        r.extend_from_slice(&[0; 8]); // this disk, disk with the central directory
        r.extend_from_slice(&count.to_le_bytes());
        r.extend_from_slice(&count.to_le_bytes());
        r.extend_from_slice(&cd_size.to_le_bytes());
        r.extend_from_slice(&cd_start.to_le_bytes());
        r.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
        r.extend_from_slice(&0u32.to_le_bytes());
        r.extend_from_slice(&zip64_end.to_le_bytes());
        r.extend_from_slice(&1u32.to_le_bytes());
        w.write_all(&r)?;
    }
    let count16 = u16::try_from(count).unwrap_or(0xFFFF);
    let mut end = Vec::with_capacity(22);
    end.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    end.extend_from_slice(&[0; 4]); // this disk, disk with the central directory
    end.extend_from_slice(&count16.to_le_bytes());
    end.extend_from_slice(&count16.to_le_bytes());
    end.extend_from_slice(&(cd_size as u32).to_le_bytes());
    end.extend_from_slice(&(cd_start as u32).to_le_bytes());
    end.extend_from_slice(&0u16.to_le_bytes());
    w.write_all(&end)
}
