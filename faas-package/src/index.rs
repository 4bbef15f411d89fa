//! The stat index: which files are unchanged since the last build, without reading them.
//!
//! One index per source tree (`<cache>/v1/index/<sha256 of the canonical source path>`)
//! records, per packaged file, its zip name, size, modification and change times (seconds
//! and nanoseconds), device, inode and mode, and the sha256 of the content that build read,
//! plus the time the build started. A later build takes a file's sha256 from the index only
//! when every one of those fields is equal **and** both recorded times are more than
//! [`RACY_MARGIN`] older than the recorded start (the racy-git rule: a file changed within
//! the timestamp granularity of the moment it was read could look unchanged). Anything else
//! — a missing, truncated or damaged index (its own sha256 trailer), one written for another
//! tree or format — is ignored and the files are read.
//!
//! Why this can not give a wrong package on a local file system: the change time (`ctime`)
//! is set by the kernel on every write, truncate, rename onto, chmod and `utimes` — a
//! process can set the mtime back (the "edit keeping size and mtime" case) but not the
//! ctime — and `(device, inode, ctime)` names one version of one file: an inode reused by a
//! new file gets a ctime after the old one was read, which the racy rule refuses.
//! The residual risks, all outside a normal build: a file system that does not keep ctime
//! (some FUSE and network mounts), a clock set back by root between builds, a file written
//! through a shared `mmap` while a build reads it, and someone who can write the cache
//! directory and forges an index with a consistent trailer. Builds on such trees turn the
//! index off ([`PackageBuilder::stat_index`](crate::PackageBuilder::stat_index)).
//!
//! The index also says where each entry's compressed bytes are in the zip that build wrote
//! ([`Located`]: offset, sizes, CRC-32, method and a digest of the content's sha256 and the
//! compressed bytes), with that zip's path and stat fields, and the cache's salt (format,
//! level, engine). The next build copies an unchanged file's bytes from that zip instead of
//! opening a cache entry — only when the zip's stat fields are as recorded, the salt is this
//! build's and the bytes read match the digest (else the entry comes from the cache or is
//! compressed again). The bytes are therefore those a cold build would write.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::cache::HashWriter;
use crate::walk::SourceFile;

/// How much older than the indexing build's start a file's times must be to be trusted.
pub const RACY_MARGIN: Duration = Duration::from_secs(2);
const MAGIC: &[u8; 8] = b"FAASIDX2";

/// The stat fields compared (Unix; elsewhere there is no index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    pub size: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
}

impl Stat {
    /// The fields of `meta`, or `None` where they do not exist.
    pub(crate) fn of(meta: &fs::Metadata) -> Option<Stat> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Some(Stat {
                size: meta.size(),
                mtime: (meta.mtime(), meta.mtime_nsec()),
                ctime: (meta.ctime(), meta.ctime_nsec()),
                dev: meta.dev(),
                ino: meta.ino(),
                mode: meta.mode(),
            })
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            None
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.size.to_le_bytes());
        for v in [self.mtime.0, self.mtime.1, self.ctime.0, self.ctime.1] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.dev.to_le_bytes());
        out.extend_from_slice(&self.ino.to_le_bytes());
        out.extend_from_slice(&self.mode.to_le_bytes());
    }

    const LEN: usize = 8 * 7 + 4;

    fn decode(b: &[u8; Stat::LEN]) -> Stat {
        let u = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i * 8..i * 8 + 8]);
            a
        };
        let mut m = [0u8; 4];
        m.copy_from_slice(&b[56..60]);
        Stat {
            size: u64::from_le_bytes(u(0)),
            mtime: (i64::from_le_bytes(u(1)), i64::from_le_bytes(u(2))),
            ctime: (i64::from_le_bytes(u(3)), i64::from_le_bytes(u(4))),
            dev: u64::from_le_bytes(u(5)),
            ino: u64::from_le_bytes(u(6)),
            mode: u32::from_le_bytes(m),
        }
    }

    /// Both times are older than `limit` (nanoseconds since the epoch).
    fn older_than(&self, limit: i128) -> bool {
        let ns = |(s, n): (i64, i64)| i128::from(s) * 1_000_000_000 + i128::from(n);
        ns(self.mtime) < limit && ns(self.ctime) < limit
    }
}

/// Where an entry's compressed bytes are in the zip the indexing build wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Located {
    /// The offset of the first compressed byte (after the local header).
    pub offset: u32,
    pub compressed_size: u32,
    pub size: u32,
    pub crc32: u32,
    pub deflated: bool,
    /// The first 16 bytes of sha256(content sha256 ‖ compressed bytes).
    pub digest: [u8; 16],
}

impl Located {
    const LEN: usize = 4 * 4 + 1 + 16;

    /// The digest binding `compressed` to the content whose sha256 is `content`.
    pub(crate) fn digest_of(content: &[u8; 32], compressed: &[u8]) -> [u8; 16] {
        let mut h = Sha256::new();
        h.update(content);
        h.update(compressed);
        Self::truncate(h)
    }

    /// The digest from a hasher that was fed the content sha256 and the compressed bytes.
    pub(crate) fn truncate(h: Sha256) -> [u8; 16] {
        let full: [u8; 32] = h.finalize().into();
        let mut d = [0u8; 16];
        d.copy_from_slice(&full[..16]);
        d
    }

    fn encode(&self, out: &mut Vec<u8>) {
        for v in [self.offset, self.compressed_size, self.size, self.crc32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.push(u8::from(self.deflated));
        out.extend_from_slice(&self.digest);
    }

    fn decode(b: &[u8; Located::LEN]) -> Option<Located> {
        let u = |i: usize| {
            let mut a = [0u8; 4];
            a.copy_from_slice(&b[i * 4..i * 4 + 4]);
            u32::from_le_bytes(a)
        };
        let mut digest = [0u8; 16];
        digest.copy_from_slice(&b[17..]);
        (b[16] <= 1).then_some(Located {
            offset: u(0),
            compressed_size: u(1),
            size: u(2),
            crc32: u(3),
            deflated: b[16] == 1,
            digest,
        })
    }
}

/// The zip the indexing build wrote, as the index recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Previous {
    /// Its canonical path.
    pub zip: PathBuf,
    /// Its stat fields once published.
    pub stat: Stat,
    /// Its sha256 and size.
    pub sha256: [u8; 32],
    pub size: u64,
    /// The DOS (time, date) of its entries.
    pub dos_time: (u16, u16),
    /// How many entries it holds.
    pub entries: u64,
}

impl Previous {
    fn encode(&self, out: &mut Vec<u8>) {
        self.stat.encode(out);
        out.extend_from_slice(&self.sha256);
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.dos_time.0.to_le_bytes());
        out.extend_from_slice(&self.dos_time.1.to_le_bytes());
        out.extend_from_slice(&self.entries.to_le_bytes());
    }

    fn decode(r: &mut impl Read, zip: PathBuf) -> io::Result<Previous> {
        Ok(Previous {
            zip,
            stat: Stat::decode(&read_array(r)?),
            sha256: read_array(r)?,
            size: u64::from_le_bytes(read_array(r)?),
            dos_time: (u16::from_le_bytes(read_array(r)?), u16::from_le_bytes(read_array(r)?)),
            entries: u64::from_le_bytes(read_array(r)?),
        })
    }
}

/// Opens the previous zip when it is as the index recorded it (same stat fields: not
/// replaced, written or touched since); `None` otherwise.
pub(crate) fn open_previous(previous: &Previous) -> Option<File> {
    let file = File::open(&previous.zip).ok()?;
    let stat = Stat::of(&file.metadata().ok()?)?;
    if stat == previous.stat {
        Some(file)
    } else {
        tracing::debug!(zip = %previous.zip.display(), "previous zip changed since it was indexed: not reused");
        None
    }
}

/// Nanoseconds since the epoch, now.
pub(crate) fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// Where the index of the tree at `source` lives under the cache's `root`.
pub(crate) fn path_for(root: &Path, source: &Path) -> Option<PathBuf> {
    let canonical = fs::canonicalize(source).ok()?;
    let digest = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    Some(root.join("index").join(crate::hex(&digest[..16])))
}

/// Where the previous zip holds the compressed bytes of each file (by position in the file
/// list; empty when it holds none: a side table, so that a tree's file list does not grow
/// by a location per file when there is no previous zip).
pub(crate) type Locations = Vec<Option<Located>>;

/// Sets `known` on the files (sorted by name) whose index entry is trusted. Returns how many
/// are trusted, the previous zip (`None` when the index has no usable one) and where it
/// holds the trusted files' bytes at this `salt`.
pub(crate) fn apply(
    path: &Path,
    source_key: &[u8],
    salt: &[u8; 32],
    files: &mut [SourceFile],
) -> (usize, Option<Previous>, Locations) {
    match read(path, source_key, salt, files) {
        Ok(n) => n,
        Err(e) => {
            for f in files.iter_mut() {
                f.known = None;
            }
            if e.kind() != io::ErrorKind::NotFound {
                tracing::debug!(path = %path.display(), error = %e, "stat index ignored");
            }
            (0, None, Vec::new())
        }
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

fn read(
    path: &Path,
    source_key: &[u8],
    salt: &[u8; 32],
    files: &mut [SourceFile],
) -> io::Result<(usize, Option<Previous>, Locations)> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut sha = Sha256::new();
    let mut r = HashingReader {
        inner: BufReader::with_capacity(256 * 1024, file),
        sha: &mut sha,
        left: len.checked_sub(32).ok_or_else(|| bad("truncated"))?,
    };
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(bad("another format"));
    }
    let key = read_bytes(&mut r)?;
    if key != source_key {
        return Err(bad("another tree"));
    }
    let started = i128::from_le_bytes(read_array(&mut r)?);
    let same_salt = read_array::<32>(&mut r)? == *salt;
    let trusted_before = started - RACY_MARGIN.as_nanos() as i128;
    let count = u64::from_le_bytes(read_array(&mut r)?);
    let mut next = 0;
    let mut trusted = 0;
    let mut name = Vec::new();
    let mut locations: Locations = Vec::new();
    for _ in 0..count {
        read_bytes_into(&mut r, &mut name)?;
        let stat = Stat::decode(&read_array(&mut r)?);
        let content: [u8; 32] = read_array(&mut r)?;
        let located = match read_array::<1>(&mut r)? {
            [0] => None,
            [1] => Some(Located::decode(&read_array(&mut r)?).ok_or_else(|| bad("bad method"))?),
            _ => return Err(bad("bad location flag")),
        };
        while next < files.len() && files[next].name.as_bytes() < name.as_slice() {
            next += 1;
        }
        if let Some(f) = files.get_mut(next).filter(|f| f.name.as_bytes() == name.as_slice())
            && f.stat == Some(stat)
            && stat.older_than(trusted_before)
        {
            f.known = Some(content);
            if let Some(l) = located.filter(|l| same_salt && u64::from(l.size) == f.size) {
                if locations.is_empty() {
                    locations = vec![None; files.len()];
                }
                locations[next] = Some(l);
            }
            trusted += 1;
        }
    }
    // Recorded as UTF-8 (empty when the path is not): no reuse from an unnamed zip.
    let zip = String::from_utf8(read_bytes(&mut r)?).ok().filter(|z| !z.is_empty());
    let recorded = match read_array::<1>(&mut r)? {
        [0] => None,
        [1] => Some(Previous::decode(&mut r, PathBuf::new())?),
        _ => return Err(bad("bad zip flag")),
    };
    if r.left != 0 {
        return Err(bad("trailing bytes"));
    }
    let mut trailer = [0u8; 32];
    r.inner.read_exact(&mut trailer)?;
    if <[u8; 32]>::from(sha.finalize()) != trailer {
        return Err(bad("digest mismatch"));
    }
    let previous = zip
        .zip(recorded)
        .filter(|_| same_salt)
        .map(|(zip, p)| Previous { zip: zip.into(), ..p });
    if previous.is_none() {
        locations = Vec::new();
    }
    Ok((trusted, previous, locations))
}

/// Writes the index of a build as its entries are written (to a temporary file in the
/// index's directory), then the zip's record and the trailer, and renames it into place.
pub(crate) struct IndexWriter {
    path: PathBuf,
    tmp: tempfile::NamedTempFile,
    sha: Sha256,
    out: Vec<u8>,
    count: u64,
    written: u64,
}

impl IndexWriter {
    /// Starts the index of a build of `count` files with stat fields, started at `started`.
    pub(crate) fn create(
        path: &Path,
        source_key: &[u8],
        started: i128,
        salt: &[u8; 32],
        count: u64,
    ) -> io::Result<IndexWriter> {
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir)?;
        let tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
        let mut out = Vec::with_capacity(128 * 1024);
        out.extend_from_slice(MAGIC);
        put_bytes(&mut out, source_key);
        out.extend_from_slice(&started.to_le_bytes());
        out.extend_from_slice(salt);
        out.extend_from_slice(&count.to_le_bytes());
        Ok(IndexWriter {
            path: path.to_path_buf(),
            tmp,
            sha: Sha256::new(),
            out,
            count,
            written: 0,
        })
    }

    /// Records one file (in zip order) with its content's sha256 and where its bytes are.
    pub(crate) fn entry(&mut self, file: &SourceFile, content: &[u8; 32], located: Option<&Located>) -> io::Result<()> {
        let Some(stat) = file.stat else { return Ok(()) };
        put_bytes(&mut self.out, file.name.as_bytes());
        stat.encode(&mut self.out);
        self.out.extend_from_slice(content);
        match located {
            Some(l) => {
                self.out.push(1);
                l.encode(&mut self.out);
            }
            None => self.out.push(0),
        }
        self.written += 1;
        if self.out.len() > 64 * 1024 {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sha.update(&self.out);
        self.tmp.as_file_mut().write_all(&self.out)?;
        self.out.clear();
        Ok(())
    }

    /// Ends the index with the zip the build wrote (`None`: its stat fields are unknown, so
    /// the next build copies nothing from it).
    pub(crate) fn finish(mut self, zip: Option<&Previous>) -> io::Result<()> {
        if self.written != self.count {
            return Err(bad("not every file was recorded"));
        }
        let path = zip.and_then(|z| z.zip.to_str()).unwrap_or_default();
        put_bytes(&mut self.out, path.as_bytes());
        match zip {
            Some(z) => {
                self.out.push(1);
                z.encode(&mut self.out);
            }
            None => self.out.push(0),
        }
        self.flush()?;
        let trailer: [u8; 32] = std::mem::take(&mut self.sha).finalize().into();
        self.tmp.as_file_mut().write_all(&trailer)?;
        self.tmp.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

fn read_array<const N: usize>(r: &mut impl Read) -> io::Result<[u8; N]> {
    let mut a = [0u8; N];
    r.read_exact(&mut a)?;
    Ok(a)
}

fn read_bytes(r: &mut HashingReader<'_>) -> io::Result<Vec<u8>> {
    let mut b = Vec::new();
    read_bytes_into(r, &mut b)?;
    Ok(b)
}

fn read_bytes_into(r: &mut HashingReader<'_>, b: &mut Vec<u8>) -> io::Result<()> {
    let n = u32::from_le_bytes(read_array(r)?) as u64;
    if n > r.left {
        return Err(bad("length past the end"));
    }
    b.resize(n as usize, 0);
    r.read_exact(b)
}

/// Reads at most `left` bytes (the body before the trailer), hashing them.
struct HashingReader<'a> {
    inner: BufReader<File>,
    sha: &'a mut Sha256,
    left: u64,
}

impl Read for HashingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let max = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.left -= n as u64;
        HashWriter(self.sha).write_all(&buf[..n])?;
        Ok(n)
    }
}
