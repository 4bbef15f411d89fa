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

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::cache::HashWriter;
use crate::walk::SourceFile;

/// How much older than the indexing build's start a file's times must be to be trusted.
pub const RACY_MARGIN: Duration = Duration::from_secs(2);
const MAGIC: &[u8; 8] = b"FAASIDX1";

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

/// Nanoseconds since the epoch, now.
pub(crate) fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// Where the index of the tree at `source` lives under the cache's `root`.
pub(crate) fn path_for(root: &Path, source: &Path) -> Option<std::path::PathBuf> {
    let canonical = fs::canonicalize(source).ok()?;
    let digest = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    Some(root.join("index").join(crate::hex(&digest[..16])))
}

/// Sets `known` on the files (sorted by name) whose index entry is trusted. Returns how many.
pub(crate) fn apply(path: &Path, source_key: &[u8], files: &mut [SourceFile]) -> usize {
    match read(path, source_key, files) {
        Ok(n) => n,
        Err(e) => {
            for f in files.iter_mut() {
                f.known = None;
            }
            if e.kind() != io::ErrorKind::NotFound {
                tracing::debug!(path = %path.display(), error = %e, "stat index ignored");
            }
            0
        }
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

fn read(path: &Path, source_key: &[u8], files: &mut [SourceFile]) -> io::Result<usize> {
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
    let trusted_before = started - RACY_MARGIN.as_nanos() as i128;
    let count = u64::from_le_bytes(read_array(&mut r)?);
    let mut next = 0;
    let mut trusted = 0;
    for _ in 0..count {
        let name = read_bytes(&mut r)?;
        let stat = Stat::decode(&read_array(&mut r)?);
        let content: [u8; 32] = read_array(&mut r)?;
        while next < files.len() && files[next].name.as_bytes() < name.as_slice() {
            next += 1;
        }
        if let Some(f) = files.get_mut(next).filter(|f| f.name.as_bytes() == name.as_slice())
            && f.stat == Some(stat)
            && stat.older_than(trusted_before)
        {
            f.known = Some(content);
            trusted += 1;
        }
    }
    if r.left != 0 {
        return Err(bad("trailing bytes"));
    }
    let mut trailer = [0u8; 32];
    r.inner.read_exact(&mut trailer)?;
    if <[u8; 32]>::from(sha.finalize()) != trailer {
        return Err(bad("digest mismatch"));
    }
    Ok(trusted)
}

/// Writes the index for `files` (sorted by name) and their content digests, atomically.
pub(crate) fn write(
    path: &Path,
    source_key: &[u8],
    started: i128,
    files: &[SourceFile],
    digests: impl Iterator<Item = [u8; 32]>,
) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    let mut sha = Sha256::new();
    {
        let mut w = BufWriter::with_capacity(256 * 1024, tmp.as_file_mut());
        let mut out = Vec::with_capacity(4096);
        out.extend_from_slice(MAGIC);
        put_bytes(&mut out, source_key);
        out.extend_from_slice(&started.to_le_bytes());
        let count = files.iter().filter(|f| f.stat.is_some()).count() as u64;
        out.extend_from_slice(&count.to_le_bytes());
        for (f, digest) in files.iter().zip(digests) {
            let Some(stat) = f.stat else { continue };
            put_bytes(&mut out, f.name.as_bytes());
            stat.encode(&mut out);
            out.extend_from_slice(&digest);
            if out.len() > 64 * 1024 {
                sha.update(&out);
                w.write_all(&out)?;
                out.clear();
            }
        }
        sha.update(&out);
        w.write_all(&out)?;
        w.write_all(&sha.finalize())?;
        w.flush()?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
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
    let n = u32::from_le_bytes(read_array(r)?) as u64;
    if n > r.left {
        return Err(bad("length past the end"));
    }
    let mut b = vec![0u8; n as usize];
    r.read_exact(&mut b)?;
    Ok(b)
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
