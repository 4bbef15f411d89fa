//! Keyed records (a rollout's state and lease) under `<root>/records/`, read and written with
//! the store's lock held, so a conditional write is a real compare-and-swap across
//! processes. A record's tag is the sha256 of its bytes, as an ETag is a digest of an
//! object's.

use std::fs;
use std::io::ErrorKind;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::store::{Store, write_atomic};
use crate::records::{RecordTag, StoredRecord, WriteCondition, check_key, precondition_failed};
use crate::{Error, Result};

/// The file of `key` (checked, so it never leaves `records/`).
fn path(store: &Store, key: &str) -> Result<PathBuf> {
    check_key(key)?;
    Ok(store.root().join("records").join(key))
}

fn tag_of(body: &[u8]) -> RecordTag {
    RecordTag(Sha256::digest(body).iter().map(|b| format!("{b:02x}")).collect())
}

/// The record under `key`, if any.
pub(super) fn read(store: &Store, key: &str) -> Result<Option<StoredRecord>> {
    let p = path(store, key)?;
    match fs::read(&p) {
        Ok(body) => Ok(Some(StoredRecord {
            tag: tag_of(&body),
            body,
        })),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(p.display(), e)),
    }
}

/// Writes `body` under `key` if `condition` holds (the caller holds the store's lock).
pub(super) fn write(store: &Store, key: &str, body: &[u8], condition: &WriteCondition) -> Result<RecordTag> {
    let current = read(store, key)?;
    let holds = match (condition, &current) {
        (WriteCondition::Absent, None) => true,
        (WriteCondition::Matches(tag), Some(r)) => &r.tag == tag,
        _ => false,
    };
    if !holds {
        return Err(precondition_failed(key, condition));
    }
    write_atomic(&path(store, key)?, body, 0o600)?;
    Ok(tag_of(body))
}

/// Deletes the record under `key` if it still has `tag` (the caller holds the lock).
pub(super) fn delete(store: &Store, key: &str, tag: &RecordTag) -> Result<()> {
    match read(store, key)? {
        None => Ok(()),
        Some(r) if &r.tag == tag => {
            let p = path(store, key)?;
            fs::remove_file(&p).map_err(|e| Error::io(p.display(), e))
        }
        Some(_) => Err(precondition_failed(key, &WriteCondition::Matches(tag.clone()))),
    }
}
