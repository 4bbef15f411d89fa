//! Records (a rollout's state and lease) as S3 objects in the artifact bucket, under
//! `{prefix}records/{key}`, written with S3's conditional requests: `If-None-Match: *` to
//! create, `If-Match: <ETag>` to replace or delete. S3 evaluates the condition and writes
//! atomically, so of two writers holding the same ETag exactly one wins; the other gets
//! `412 PreconditionFailed` (or `409 ConditionalRequestConflict` when the two overlap), which
//! becomes [`precondition_failed`]. A record's tag is its ETag, as S3 returns it.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use faas_core::records::{RecordTag, StoredRecord, WriteCondition, precondition_failed};
use faas_core::{Error, ResourceKind, Result};

use crate::artifacts::ArtifactStore;
use crate::error::{Target, map};

/// The S3 errors of a write whose condition did not hold: `PreconditionFailed` (412),
/// `ConditionalRequestConflict` (409: a concurrent write to the key), `NoSuchKey` (404:
/// `If-Match` on a key with no object), and a 412 or 409 without a code (a `HEAD`-style
/// answer with no body). Other 409s (`InvalidBucketState`, …) are not about the record.
fn lost_condition<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    let SdkError::ServiceError(s) = err else {
        return false;
    };
    match err.code() {
        Some(code) => matches!(code, "PreconditionFailed" | "ConditionalRequestConflict" | "NoSuchKey"),
        None => matches!(s.raw().status().as_u16(), 409 | 412),
    }
}

/// Whether S3 said there is no object under the key (not: no bucket).
fn no_such_key<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::ServiceError(s) => {
            err.code() == Some("NoSuchKey") || (err.code().is_none() && s.raw().status().as_u16() == 404)
        }
        _ => false,
    }
}

fn etag_of(etag: Option<&str>, uri: &str) -> Result<RecordTag> {
    etag.filter(|t| !t.is_empty())
        .map(|t| RecordTag(t.to_string()))
        .ok_or_else(|| Error::other("Response", format!("S3 answered for {uri} without an ETag"), false))
}

impl ArtifactStore {
    /// The object key of record `key` (checked by faas-core): `{prefix}records/{key}`.
    pub(crate) fn record_key(&self, key: &str) -> String {
        format!("{}records/{key}", self.prefix)
    }

    fn record_uri(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.record_key(key))
    }

    /// `GetObject`; no object is `None`.
    pub(crate) async fn read_record(&self, key: &str) -> Result<Option<StoredRecord>> {
        let uri = self.record_uri(key);
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.record_key(key))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if no_such_key(&e) => return Ok(None),
            Err(e) => {
                return Err(map(
                    e,
                    Target {
                        kind: ResourceKind::Rollout,
                        name: &uri,
                    },
                ));
            }
        };
        let tag = etag_of(out.e_tag(), &uri)?;
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| Error::other("Response", format!("reading {uri} was cut off"), true).with_source(e))?;
        Ok(Some(StoredRecord {
            body: body.into_bytes().to_vec(),
            tag,
        }))
    }

    /// `PutObject` with `If-None-Match: *` (create) or `If-Match: <ETag>` (replace).
    ///
    /// When the SDK retried the request after the first attempt had already landed (its
    /// answer lost), S3 refuses the retry's condition although the record is ours: a lost
    /// condition is therefore checked with one `GetObject`, and a record holding exactly
    /// these bytes is this write's.
    pub(crate) async fn write_record(&self, key: &str, body: &[u8], condition: &WriteCondition) -> Result<RecordTag> {
        let uri = self.record_uri(key);
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.record_key(key))
            .content_type("application/json")
            .body(ByteStream::from(body.to_vec()));
        let req = match condition {
            WriteCondition::Absent => req.if_none_match("*"),
            WriteCondition::Matches(tag) => req.if_match(&tag.0),
        };
        match req.send().await {
            Ok(out) => etag_of(out.e_tag(), &uri),
            Err(e) if lost_condition(&e) => match self.read_record(key).await? {
                Some(now) if now.body == body => {
                    tracing::debug!(%uri, "a retried conditional write had landed before");
                    Ok(now.tag)
                }
                _ => Err(precondition_failed(key, condition)),
            },
            Err(e) => Err(map(
                e,
                Target {
                    kind: ResourceKind::Rollout,
                    name: &uri,
                },
            )),
        }
    }

    /// `DeleteObject` with `If-Match: <ETag>`; no object is success.
    pub(crate) async fn delete_record(&self, key: &str, tag: &RecordTag) -> Result<()> {
        let uri = self.record_uri(key);
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.record_key(key))
            .if_match(&tag.0)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if no_such_key(&e) => Ok(()),
            Err(e) if lost_condition(&e) => Err(precondition_failed(key, &WriteCondition::Matches(tag.clone()))),
            Err(e) => Err(map(
                e,
                Target {
                    kind: ResourceKind::Rollout,
                    name: &uri,
                },
            )),
        }
    }
}
