//! Records (a rollout's state and lease) as block blobs in the package container, under
//! `records/`, written with the Blob service's conditional headers: Put Blob with
//! `If-None-Match: *` creates, with `If-Match: <ETag>` replaces only the write last read;
//! Delete Blob takes `If-Match` too. A lost condition — `412 ConditionNotMet`, or
//! `409 BlobAlreadyExists` for a create — is
//! [`precondition_failed`](faas_core::records::precondition_failed); the tag is the blob's
//! `ETag` as the service returns it (quotes included, which the conditional headers accept).

use faas_core::records::{RecordTag, StoredRecord, WriteCondition, precondition_failed};
use faas_core::{Error, Result};
use reqwest::Method;

use crate::blob::Blobs;
use crate::provider::AzureProvider;

/// Where records live in the container.
pub(crate) const PREFIX: &str = "records/";

fn blob_of(key: &str) -> String {
    format!("{PREFIX}{key}")
}

/// The `ETag` of a Blob service answer.
fn etag(resp: &reqwest::Response, key: &str) -> Result<RecordTag> {
    resp.headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(|v| RecordTag(v.to_string()))
        .ok_or_else(|| {
            Error::other(
                "InvalidResponse",
                format!("Blob storage answered for record {key} without an ETag"),
                false,
            )
        })
}

impl Blobs {
    /// Get Blob of a record: its bytes and ETag, or `None` (404).
    pub(crate) async fn read_record(&self, key: &str) -> Result<Option<StoredRecord>> {
        let name = blob_of(key);
        let resp = self.send(Method::GET, self.url(Some(&name))?, &[], None, 0).await?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        let resp = Self::check(resp, self.target(&name)).await?;
        let tag = etag(&resp, key)?;
        let body = resp
            .bytes()
            .await
            .map_err(|e| crate::arm::transport(&format!("reading record {key}"), e))?;
        Ok(Some(StoredRecord {
            body: body.to_vec(),
            tag,
        }))
    }

    /// Put Blob (a block blob) of a record under `condition`; the new ETag.
    pub(crate) async fn write_record(&self, key: &str, body: &[u8], condition: &WriteCondition) -> Result<RecordTag> {
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
        let len = body.len() as u64;
        let resp = self
            .send(
                Method::PUT,
                self.url(Some(&name))?,
                &headers,
                Some(reqwest::Body::from(body.to_vec())),
                len,
            )
            .await?;
        if lost(&resp, condition) {
            return Err(precondition_failed(key, condition));
        }
        let resp = Self::check(resp, self.target(&name)).await?;
        etag(&resp, key)
    }

    /// Delete Blob of a record if it is still the write with `tag`; a missing one is fine
    /// (`404`, or `412` with no blob there).
    pub(crate) async fn delete_record(&self, key: &str, tag: &RecordTag) -> Result<()> {
        let name = blob_of(key);
        let headers = [("if-match", tag.0.clone())];
        let resp = self
            .send(Method::DELETE, self.url(Some(&name))?, &headers, None, 0)
            .await?;
        match resp.status().as_u16() {
            404 => Ok(()),
            // `If-Match` on a blob that is gone also fails (Azurite answers 412): gone is fine.
            412 if self.size(&name).await?.is_none() => Ok(()),
            412 => Err(precondition_failed(key, &WriteCondition::Matches(tag.clone()))),
            _ => Self::check(resp, self.target(&name)).await.map(|_| ()),
        }
    }
}

/// Whether the service refused the write for its condition: `412` (ConditionNotMet), or
/// `409` (BlobAlreadyExists) for a create.
fn lost(resp: &reqwest::Response, condition: &WriteCondition) -> bool {
    match resp.status().as_u16() {
        412 => true,
        409 => matches!(condition, WriteCondition::Absent),
        _ => false,
    }
}

impl AzureProvider {
    /// See `Provider::read_record`.
    pub(crate) async fn stored_record(&self, key: &str) -> Result<Option<StoredRecord>> {
        self.storage().await?.0.read_record(key).await
    }

    /// See `Provider::write_record`.
    pub(crate) async fn store_record(&self, key: &str, body: &[u8], condition: &WriteCondition) -> Result<RecordTag> {
        self.storage().await?.0.write_record(key, body, condition).await
    }

    /// See `Provider::delete_record`.
    pub(crate) async fn remove_record(&self, key: &str, tag: &RecordTag) -> Result<()> {
        self.storage().await?.0.delete_record(key, tag).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_sit_under_their_prefix() {
        assert_eq!(blob_of("rollouts/f/live.json"), "records/rollouts/f/live.json");
    }
}
