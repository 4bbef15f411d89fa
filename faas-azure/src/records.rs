//! Records (a rollout's state and lease) as block blobs in the package container, under
//! `records/`, written with the Blob service's conditional headers:
//!
//! * **read**: Get Blob; `404` is no record; the blob's `ETag` (quotes included, which the
//!   conditional headers accept) is the record's tag.
//! * **write**: Put Blob (`x-ms-blob-type: BlockBlob`) with `If-None-Match: *` (create: only
//!   if there is no blob) or `If-Match: <ETag>` (replace: only if it is still that write); the
//!   answer's `ETag` is the new tag. `412 ConditionNotMet`, or `409 BlobAlreadyExists` for a
//!   create, is [`precondition_failed`]. When an attempt failed in transit and the retry meets
//!   that, the record is read back: holding our bytes, it was our write that landed.
//! * **delete**: Delete Blob with `If-Match: <ETag>`; a missing blob (`404`, or `412` with no
//!   blob there) is already deleted.
//!
//! Throttling (`429`, `503 ServerBusy`), other 5xx answers and transport failures are
//! retried under the provider's `RetryConfig`.

use faas_core::records::{RecordTag, StoredRecord, WriteCondition, precondition_failed};
use faas_core::{Error, ResourceKind, Result, RetryConfig};
use reqwest::Method;

use crate::arm::{Target, transport};
use crate::blob::Blobs;
use crate::provider::AzureProvider;

/// Where records live in the container.
pub(crate) const PREFIX: &str = "records/";

fn blob_of(key: &str) -> String {
    format!("{PREFIX}{key}")
}

fn target(blob: &str) -> Target<'_> {
    Target {
        kind: ResourceKind::Rollout,
        name: blob,
    }
}

/// What one call answered (throttling, 5xx and transport failures were retried).
struct Answer {
    status: u16,
    etag: Option<String>,
    body: Vec<u8>,
    /// More than one attempt was made: an earlier one may have been carried out.
    retried: bool,
}

impl Answer {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The `ETag` of a successful answer.
    fn tag(&self, key: &str) -> Result<RecordTag> {
        self.etag
            .clone()
            .filter(|t| !t.is_empty())
            .map(RecordTag)
            .ok_or_else(|| {
                Error::other(
                    "InvalidResponse",
                    format!("Blob storage answered for record {key} without an ETag"),
                    false,
                )
            })
    }
}

/// Whether the service refused a write for its condition: `412` (ConditionNotMet), or `409`
/// (BlobAlreadyExists) for a create.
fn lost(status: u16, condition: &WriteCondition) -> bool {
    status == 412 || (status == 409 && matches!(condition, WriteCondition::Absent))
}

impl Blobs {
    /// Get Blob of a record: its bytes and ETag, or `None`.
    pub(crate) async fn read_record(&self, retry: &RetryConfig, key: &str) -> Result<Option<StoredRecord>> {
        let name = blob_of(key);
        let answer = self.call(retry, Method::GET, &name, &[], None).await?;
        match answer.status {
            404 => Ok(None),
            _ if answer.ok() => Ok(Some(StoredRecord {
                tag: answer.tag(key)?,
                body: answer.body,
            })),
            status => Err(Self::error_of(status, &answer.body, target(&name))),
        }
    }

    /// Put Blob (a block blob) of a record under `condition`; the new ETag.
    pub(crate) async fn write_record(
        &self,
        retry: &RetryConfig,
        key: &str,
        body: &[u8],
        condition: &WriteCondition,
    ) -> Result<RecordTag> {
        let name = blob_of(key);
        let guard = match condition {
            WriteCondition::Absent => ("if-none-match", "*".to_string()),
            WriteCondition::Matches(tag) => ("if-match", tag.0.clone()),
        };
        let headers = [
            ("x-ms-blob-type", "BlockBlob".to_string()),
            ("content-type", "application/json".to_string()),
            guard,
        ];
        let answer = self.call(retry, Method::PUT, &name, &headers, Some(body)).await?;
        if answer.ok() {
            return answer.tag(key);
        }
        if !lost(answer.status, condition) {
            return Err(Self::error_of(answer.status, &answer.body, target(&name)));
        }
        if answer.retried
            && let Some(stored) = self.read_record(retry, key).await?
            && stored.body == body
        {
            tracing::info!(blob = %name, "a retried record write had landed; keeping it");
            return Ok(stored.tag);
        }
        Err(precondition_failed(key, condition))
    }

    /// Delete Blob of a record if it is still the write with `tag`; a missing one is fine.
    pub(crate) async fn delete_record(&self, retry: &RetryConfig, key: &str, tag: &RecordTag) -> Result<()> {
        let name = blob_of(key);
        let headers = [("if-match", tag.0.clone())];
        let answer = self.call(retry, Method::DELETE, &name, &headers, None).await?;
        match answer.status {
            _ if answer.ok() => Ok(()),
            404 => Ok(()),
            // `If-Match` on a blob that is gone fails too (Azurite answers 412): gone is fine.
            412 if self.read_record(retry, key).await?.is_none() => Ok(()),
            412 => Err(precondition_failed(key, &WriteCondition::Matches(tag.clone()))),
            status => Err(Self::error_of(status, &answer.body, target(&name))),
        }
    }

    /// One record call, retrying throttling, 5xx and transport failures; every other answer
    /// is the caller's to read.
    async fn call(
        &self,
        retry: &RetryConfig,
        method: Method,
        name: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Result<Answer> {
        let what = format!("{method} record blob {name}");
        let (mut answer, retried) = retry
            .retry_counted(&what, Error::is_transient, || {
                self.once(method.clone(), name, headers, body, &what)
            })
            .await?;
        answer.retried = retried;
        Ok(answer)
    }

    async fn once(
        &self,
        method: Method,
        name: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
        what: &str,
    ) -> Result<Answer> {
        let url = self.url(Some(name))?;
        let length = body.map_or(0, |b| b.len() as u64);
        let body = body.map(|b| reqwest::Body::from(b.to_vec()));
        let resp = self.send(method, url, headers, body, length).await?;
        let status = resp.status().as_u16();
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = resp.bytes().await.map_err(|e| transport(what, e))?;
        if status == 429 || status >= 500 {
            return Err(Self::error_of(status, &bytes, target(name)));
        }
        Ok(Answer {
            status,
            etag,
            body: bytes.to_vec(),
            retried: false,
        })
    }
}

impl AzureProvider {
    /// See `Provider::read_record`.
    pub(crate) async fn stored_record(&self, key: &str) -> Result<Option<StoredRecord>> {
        let (blobs, _) = self.storage().await?;
        blobs.read_record(self.store.retry(), key).await
    }

    /// See `Provider::write_record`.
    pub(crate) async fn store_record(&self, key: &str, body: &[u8], condition: &WriteCondition) -> Result<RecordTag> {
        let (blobs, _) = self.storage().await?;
        blobs.write_record(self.store.retry(), key, body, condition).await
    }

    /// See `Provider::delete_record`.
    pub(crate) async fn remove_record(&self, key: &str, tag: &RecordTag) -> Result<()> {
        let (blobs, _) = self.storage().await?;
        blobs.delete_record(self.store.retry(), key, tag).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_sit_under_their_prefix_and_lose_only_on_their_condition() {
        assert_eq!(blob_of("rollouts/f/live.json"), "records/rollouts/f/live.json");
        let matches = WriteCondition::Matches(RecordTag("\"0x1\"".into()));
        assert!(lost(412, &WriteCondition::Absent) && lost(409, &WriteCondition::Absent));
        assert!(lost(412, &matches) && !lost(409, &matches) && !lost(404, &matches));
    }
}
