//! Small records a provider keeps next to its artifacts — a rollout's durable state and its
//! lease — written with the store's conditional writes, so two writers never both win.
//!
//! [`Provider::read_record`](crate::Provider::read_record),
//! [`write_record`](crate::Provider::write_record) and
//! [`delete_record`](crate::Provider::delete_record) work where the capability has
//! [`records`](crate::Capability::records): the local state directory, an S3 object
//! (`If-None-Match` / `If-Match`), a GCS object (`ifGenerationMatch`), a blob
//! (`If-None-Match` / `If-Match`).

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The longest record key.
pub const MAX_KEY_LEN: usize = 512;

/// What a store says identifies one write of a record: an ETag, a GCS generation, a local
/// revision. Opaque: compare, never parse.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RecordTag(pub String);

/// A record as read: its bytes and the tag of the write that produced them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The bytes.
    pub body: Vec<u8>,
    /// The tag to make the next write conditional on.
    pub tag: RecordTag,
}

/// When a write may happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteCondition {
    /// Only if there is no record under the key (create).
    Absent,
    /// Only if the record is still the one with this tag (compare and swap).
    Matches(RecordTag),
}

/// Checks a record key: `/`-separated segments of letters, digits, `.`, `_` and `-`, none
/// of them `.` or `..`, at most [`MAX_KEY_LEN`] bytes.
///
/// ```
/// use faas_core::records::check_key;
/// assert!(check_key("rollouts/hello/live.json").is_ok());
/// assert!(check_key("rollouts/../../etc/passwd").is_err());
/// ```
pub fn check_key(key: &str) -> Result<()> {
    let bad = |why: &str| Error::invalid("record key", key, why.to_string());
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(bad(&format!("a record key is 1–{MAX_KEY_LEN} bytes")));
    }
    for seg in key.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return Err(bad("segments are non-empty and not . or .."));
        }
        if !seg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(bad("segments hold only letters, digits, '.', '_' and '-'"));
        }
    }
    Ok(())
}

/// The [`Error::Conflict`] of a conditional write that lost.
pub fn precondition_failed(key: &str, condition: &WriteCondition) -> Error {
    let why = match condition {
        WriteCondition::Absent => "a record already exists",
        WriteCondition::Matches(_) => "the record changed since it was read",
    };
    Error::conflict(key, why)
}
