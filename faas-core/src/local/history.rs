//! The invocation history: every invocation of a function, one JSON line each, in an
//! append-only, size-bounded store — what the local provider's metrics and logs come from.
//!
//! ```text
//! <root>/invocations/<function>/lock               exclusive lock for appends and rotation
//! <root>/invocations/<function>/0000000001.jsonl   the oldest generation kept
//! <root>/invocations/<function>/0000000002.jsonl   the one being appended to
//! ```
//!
//! A record is one `write` of one line with `O_APPEND`, under the lock: several processes may
//! invoke at once, and a crash loses at most the invocation in flight (a torn last line is
//! ended before the next append and skipped when read). A generation that reaches
//! [`History::max_file_bytes`] is closed and a new one begun; only the newest
//! [`History::keep_files`] are kept, so a function's history stays bounded.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One invocation, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct InvocationRecord {
    pub request_id: String,
    /// The version that ran.
    pub version: String,
    /// The label it was invoked through, if any.
    pub via: Option<String>,
    pub start_ms: u64,
    pub end_ms: u64,
    pub duration_ms: f64,
    pub billed_ms: u64,
    pub init_ms: Option<f64>,
    pub max_memory_mb: Option<u32>,
    /// The function error's type, when it raised one.
    pub error_type: Option<String>,
    /// Its log lines (the tail the runner kept), secret values already masked.
    pub logs: Vec<String>,
    /// Refused for lack of concurrency (it did not run; its figures are zero).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub throttled: bool,
}

/// Where a reader stopped: a generation, the byte offset of a record in it, and how many of
/// that record's log lines were already returned. Text form `generation.offset.line`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Cursor {
    pub generation: u64,
    pub offset: u64,
    pub line: usize,
}

impl Cursor {
    pub fn parse(text: &str) -> Option<Cursor> {
        let mut parts = text.split('.');
        let c = Cursor {
            generation: parts.next()?.parse().ok()?,
            offset: parts.next()?.parse().ok()?,
            line: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(c)
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.generation, self.offset, self.line)
    }
}

/// The history of every function under one state directory.
#[derive(Debug, Clone)]
pub(crate) struct History {
    dir: PathBuf,
    /// A generation is closed once it holds this many bytes.
    pub max_file_bytes: u64,
    /// How many generations are kept.
    pub keep_files: usize,
}

impl History {
    /// The history under `root/invocations` (created by the first append).
    pub fn new(root: &Path) -> History {
        History {
            dir: root.join("invocations"),
            max_file_bytes: 4 * 1024 * 1024,
            keep_files: 4,
        }
    }

    fn function_dir(&self, function: &str) -> PathBuf {
        self.dir.join(function)
    }

    /// Appends one record.
    pub fn append(&self, function: &str, record: &InvocationRecord) -> io::Result<()> {
        let dir = self.function_dir(function);
        fs::create_dir_all(&dir)?;
        let lock = File::create(dir.join("lock"))?;
        lock.lock()?;
        let mut generations = generations(&dir)?;
        let mut current = generations.last().copied().unwrap_or(1);
        let path = gen_path(&dir, current);
        let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if size >= self.max_file_bytes {
            current += 1;
            generations.push(current);
            let drop = generations.len().saturating_sub(self.keep_files);
            for g in &generations[..drop] {
                let _ = fs::remove_file(gen_path(&dir, *g));
            }
        }
        let path = gen_path(&dir, current);
        let mut file = OpenOptions::new().create(true).append(true).read(true).open(&path)?;
        let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
        line.push(b'\n');
        // A record torn by a crash is ended first, so that it cannot swallow this one.
        if ends_torn(&mut file)? {
            line.insert(0, b'\n');
        }
        file.write_all(&line)?;
        Ok(())
    }

    /// Every record from `from` on, oldest first, each with its position, and the position
    /// after the last whole line read (where the next read starts).
    pub fn read(&self, function: &str, from: Cursor) -> io::Result<(Vec<(Cursor, InvocationRecord)>, Cursor)> {
        let dir = self.function_dir(function);
        let mut out = Vec::new();
        let mut end = from;
        for g in generations(&dir)? {
            if g < from.generation {
                continue;
            }
            let start = if g == from.generation { from.offset } else { 0 };
            let mut file = match File::open(gen_path(&dir, g)) {
                Ok(f) => BufReader::new(f),
                // Rotated away between the listing and now.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            file.seek(SeekFrom::Start(start))?;
            let mut offset = start;
            let mut buf = Vec::new();
            loop {
                buf.clear();
                let n = file.read_until(b'\n', &mut buf)?;
                if n == 0 || buf.last() != Some(&b'\n') {
                    // The end, or a line still being written (or torn): not read yet.
                    break;
                }
                if let Ok(record) = serde_json::from_slice::<InvocationRecord>(&buf) {
                    let line = if g == from.generation && offset == from.offset {
                        from.line
                    } else {
                        0
                    };
                    out.push((
                        Cursor {
                            generation: g,
                            offset,
                            line,
                        },
                        record,
                    ));
                }
                offset += n as u64;
            }
            if g > end.generation || offset > end.offset {
                end = Cursor {
                    generation: g,
                    offset,
                    line: 0,
                };
            }
        }
        Ok((out, end))
    }

    /// Forgets a function's history (when the function is deleted).
    pub fn remove(&self, function: &str) -> io::Result<()> {
        match fs::remove_dir_all(self.function_dir(function)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

fn gen_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("{generation:010}.jsonl"))
}

/// The generations present, oldest first.
fn generations(dir: &Path) -> io::Result<Vec<u64>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out: Vec<u64> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".jsonl")?.parse().ok()
        })
        .collect();
    out.sort_unstable();
    Ok(out)
}

/// Whether the file's last byte is not a newline (a record torn by a crash).
fn ends_torn(file: &mut File) -> io::Result<bool> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u64) -> InvocationRecord {
        InvocationRecord {
            request_id: format!("r{n}"),
            version: "$LATEST".into(),
            via: None,
            start_ms: n,
            end_ms: n + 1,
            duration_ms: 1.0,
            billed_ms: 1,
            init_ms: None,
            max_memory_mb: Some(10),
            error_type: None,
            logs: vec![format!("line {n}")],
            throttled: false,
        }
    }

    #[test]
    fn appends_rotate_within_bounds_and_a_torn_line_costs_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::new(dir.path());
        h.max_file_bytes = 1024;
        h.keep_files = 2;
        for n in 0..100 {
            h.append("f", &record(n)).unwrap();
        }
        let fdir = dir.path().join("invocations/f");
        let files = generations(&fdir).unwrap();
        assert_eq!(files.len(), 2, "{files:?}");
        let total: u64 = files
            .iter()
            .map(|g| fs::metadata(gen_path(&fdir, *g)).unwrap().len())
            .sum();
        assert!(total < 2 * 1024 + 400, "bounded: {total} bytes");
        let (kept, _) = h.read("f", Cursor::default()).unwrap();
        assert_eq!(kept.last().unwrap().1.request_id, "r99", "the newest are kept");
        // A crash mid-write leaves half a line: it is skipped, and the next record is whole.
        let last = gen_path(&fdir, *files.last().unwrap());
        OpenOptions::new()
            .append(true)
            .open(&last)
            .unwrap()
            .write_all(b"{\"request_id\":\"torn")
            .unwrap();
        h.append("f", &record(100)).unwrap();
        let (after, end) = h.read("f", Cursor::default()).unwrap();
        assert_eq!(after.last().unwrap().1.request_id, "r100");
        assert_eq!(after.len(), kept.len() + 1, "only the torn record is lost");
        // Reading from a cursor returns what came after it.
        h.append("f", &record(101)).unwrap();
        let new: Vec<String> = h
            .read("f", end)
            .unwrap()
            .0
            .into_iter()
            .map(|(_, r)| r.request_id)
            .collect();
        assert_eq!(new, vec!["r101"]);
    }

    #[test]
    fn cursors_round_trip_as_text() {
        let c = Cursor {
            generation: 3,
            offset: 1200,
            line: 2,
        };
        assert_eq!(Cursor::parse(&c.to_string()), Some(c));
        assert_eq!(Cursor::parse("1.2"), None);
        assert_eq!(Cursor::parse("a.b.c"), None);
    }
}
