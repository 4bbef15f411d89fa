//! Nothing changed: the zip the previous build wrote at the same path is the package.
//!
//! When the stat index vouches for every file of the tree, the index's record of the
//! previous zip has as many entries, the same entry time and the same salt (format, level,
//! engine: see `index.rs`), the output path is that zip's and the zip's stat fields are as
//! recorded, the package this build would write has exactly the previous zip's bytes. They
//! are still hashed once, whole, and compared with the recorded sha256 before the zip is
//! kept as it is; anything else (a mismatch, a read error) means an ordinary build.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::cache::HashWriter;
use crate::index::Previous;
use crate::walk::SourceFile;

/// Whether the previous zip (`zip`, opened from `recorded.zip` and checked against its
/// stat fields) is the package of `files` at `output` with entries dated `dos_time`.
pub(crate) fn is_the_package(
    files: &[SourceFile],
    recorded: &Previous,
    zip: &File,
    output: &Path,
    dos_time: (u16, u16),
) -> bool {
    if recorded.entries != files.len() as u64
        || recorded.dos_time != dos_time
        || !files.iter().all(|f| f.known.is_some())
        || std::fs::canonicalize(output).ok().as_deref() != Some(recorded.zip.as_path())
    {
        return false;
    }
    let mut sha = Sha256::new();
    match io::copy(&mut zip.take(recorded.size + 1), &mut HashWriter(&mut sha)) {
        Ok(n) if n == recorded.size && <[u8; 32]>::from(sha.finalize()) == recorded.sha256 => true,
        Ok(_) => {
            tracing::warn!(zip = %recorded.zip.display(), "previous zip does not hash to what the index recorded: building it again");
            false
        }
        Err(e) => {
            tracing::debug!(zip = %recorded.zip.display(), error = %e, "previous zip unreadable: building it again");
            false
        }
    }
}
