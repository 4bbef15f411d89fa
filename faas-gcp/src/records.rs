//! Records — a rollout's state and lease — as objects `{prefix}records/{key}` in the artifact
//! bucket, through the Cloud Storage JSON API and its generation preconditions (the
//! `ifGenerationMatch` query parameter of `objects.get`, `objects.insert` and
//! `objects.delete`):
//!
//! * **read**: `GET storage/v1/b/{bucket}/o/{object}` for the object's `generation` (the
//!   record's tag), then `GET …?alt=media&ifGenerationMatch={generation}` for exactly those
//!   bytes; a `412` or `404` there means it changed in between, so it is read again. A
//!   missing object is no record.
//! * **write**: `POST upload/storage/v1/b/{bucket}/o?uploadType=media&name={object}` with
//!   `ifGenerationMatch=0` (only if there is no live object) or `ifGenerationMatch={tag}`
//!   (only if it is still that write); `412 Precondition Failed` is
//!   [`precondition_failed`]. The new object's `generation` is the new tag. When an attempt
//!   failed in transit and the retry meets `412`, the record is read back: holding our bytes,
//!   it was our write that landed.
//! * **delete**: `DELETE storage/v1/b/{bucket}/o/{object}?ifGenerationMatch={tag}`; a
//!   missing object is already deleted.
//!
//! Records are stored as `application/octet-stream`: their bytes are opaque here.

use faas_core::records::{RecordTag, StoredRecord, WriteCondition, precondition_failed};
use faas_core::{Error, ResourceKind, Result};
use reqwest::{Method, Url};
use serde_json::Value;

use crate::artifacts::{Bucket, object_url};
use crate::rest::{Target, map_error, retry_after};

/// How many times a read starts again when the record changes between its two calls.
const READ_ATTEMPTS: usize = 5;

/// What one call answered (throttling, 5xx and transport failures were retried).
struct Answer {
    status: u16,
    body: Vec<u8>,
    /// More than one attempt was made: an earlier one may have been carried out.
    retried: bool,
}

impl Answer {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    fn error(&self, target: Target<'_>) -> Error {
        map_error(self.status, None, &self.body, target)
    }
}

impl Bucket {
    /// The object holding record `key` (a checked key).
    fn record_object(&self, key: &str) -> String {
        format!("{}records/{key}", self.prefix)
    }

    /// The record under `key`, if any.
    pub(crate) async fn read_record(&self, key: &str) -> Result<Option<StoredRecord>> {
        let object = self.record_object(key);
        let target = target(&object);
        let meta = object_url(&self.base, &["storage", "v1", "b", &self.bucket, "o", &object])?;
        for attempt in 1..=READ_ATTEMPTS {
            let found = self.send(Method::GET, &meta, None, target).await?;
            if found.status == 404 {
                return Ok(None);
            }
            if !found.ok() {
                return Err(found.error(target));
            }
            let generation = generation_of(&found.body, &object)?;
            let mut media = meta.clone();
            media
                .query_pairs_mut()
                .append_pair("alt", "media")
                .append_pair("ifGenerationMatch", &generation);
            let bytes = self.send(Method::GET, &media, None, target).await?;
            match bytes.status {
                _ if bytes.ok() => {
                    return Ok(Some(StoredRecord {
                        body: bytes.body,
                        tag: RecordTag(generation),
                    }));
                }
                404 | 412 => {
                    tracing::debug!(bucket = %self.bucket, %object, attempt, "record changed while read; reading again");
                }
                _ => return Err(bytes.error(target)),
            }
        }
        Err(Error::conflict(
            object,
            format!("the record changed under every one of {READ_ATTEMPTS} reads: try again"),
        ))
    }

    /// Writes `body` under `key` if `condition` holds; the new tag.
    pub(crate) async fn write_record(&self, key: &str, body: &[u8], condition: &WriteCondition) -> Result<RecordTag> {
        let object = self.record_object(key);
        let target = target(&object);
        let expected = match condition {
            WriteCondition::Absent => "0".to_string(),
            WriteCondition::Matches(tag) => generation_param(tag, key)?,
        };
        let mut url = object_url(&self.base, &["upload", "storage", "v1", "b", &self.bucket, "o"])?;
        url.query_pairs_mut()
            .append_pair("uploadType", "media")
            .append_pair("name", &object)
            .append_pair("ifGenerationMatch", &expected);
        let answer = self.send(Method::POST, &url, Some(body), target).await?;
        if answer.ok() {
            let tag = RecordTag(generation_of(&answer.body, &object)?);
            tracing::debug!(bucket = %self.bucket, %object, generation = %tag.0, "record written");
            return Ok(tag);
        }
        if answer.status != 412 {
            return Err(answer.error(target));
        }
        if answer.retried
            && let Some(stored) = self.read_record(key).await?
            && stored.body == body
        {
            tracing::info!(bucket = %self.bucket, %object, "a retried record write had landed; keeping it");
            return Ok(stored.tag);
        }
        Err(precondition_failed(key, condition))
    }

    /// Deletes the record under `key` if it is still the write `tag`.
    pub(crate) async fn delete_record(&self, key: &str, tag: &RecordTag) -> Result<()> {
        let object = self.record_object(key);
        let target = target(&object);
        let mut url = object_url(&self.base, &["storage", "v1", "b", &self.bucket, "o", &object])?;
        url.query_pairs_mut()
            .append_pair("ifGenerationMatch", &generation_param(tag, key)?);
        let answer = self.send(Method::DELETE, &url, None, target).await?;
        match answer.status {
            _ if answer.ok() => Ok(()),
            404 => Ok(()),
            412 => Err(precondition_failed(key, &WriteCondition::Matches(tag.clone()))),
            _ => Err(answer.error(target)),
        }
    }

    /// Sends one call with a bearer token, retrying throttling, 5xx and transport failures
    /// under the API's `RetryConfig`; every other answer is the caller's to read.
    async fn send(&self, method: Method, url: &Url, body: Option<&[u8]>, target: Target<'_>) -> Result<Answer> {
        let what = format!("{method} {}", url.path());
        let (mut answer, retried) = self
            .api
            .retry
            .retry_counted(&what, Error::is_transient, || {
                self.once(method.clone(), url, body, target, &what)
            })
            .await?;
        answer.retried = retried;
        Ok(answer)
    }

    async fn once(
        &self,
        method: Method,
        url: &Url,
        body: Option<&[u8]>,
        target: Target<'_>,
        what: &str,
    ) -> Result<Answer> {
        let token = crate::auth::access_token(self.api.tokens.as_ref()).await?;
        let mut request = self.api.http.request(method, url.clone()).bearer_auth(token);
        if let Some(b) = body {
            request = request
                .header("content-type", "application/octet-stream")
                .body(b.to_vec());
        }
        tracing::debug!(call = what, "gcs record call");
        let resp = request.send().await.map_err(|e| transport(what, e))?;
        let status = resp.status().as_u16();
        let retry_after = retry_after(resp.headers());
        let bytes = resp.bytes().await.map_err(|e| transport(what, e))?;
        if status == 429 || status >= 500 {
            return Err(map_error(status, retry_after, &bytes, target));
        }
        Ok(Answer {
            status,
            body: bytes.to_vec(),
            retried: false,
        })
    }
}

fn target(object: &str) -> Target<'_> {
    Target {
        kind: ResourceKind::Rollout,
        name: object,
    }
}

/// The `generation` of a JSON API object resource (a string in the API; a number in some
/// emulators).
fn generation_of(body: &[u8], object: &str) -> Result<String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| crate::rest::invalid_response(object, e))?;
    match &v["generation"] {
        Value::String(s) if is_generation(s) => Ok(s.clone()),
        Value::Number(n) if n.as_u64().is_some_and(|g| g > 0) => Ok(n.to_string()),
        _ => Err(Error::other(
            "invalid_response",
            format!("{object}: the object resource has no generation"),
            false,
        )),
    }
}

/// A tag as the `ifGenerationMatch` it stands for: a generation this bucket gave.
fn generation_param(tag: &RecordTag, key: &str) -> Result<String> {
    if is_generation(&tag.0) {
        return Ok(tag.0.clone());
    }
    Err(Error::invalid(
        "record tag",
        &tag.0,
        format!("{key}: a tag here is a Cloud Storage generation (a positive integer) read from the bucket"),
    ))
}

/// A positive int64 in decimal.
fn is_generation(s: &str) -> bool {
    s.parse::<i64>().is_ok_and(|g| g > 0) && s.bytes().all(|b| b.is_ascii_digit())
}

/// The error of a call the network failed (`Timeout` when it ran out of time).
fn transport(what: &str, e: reqwest::Error) -> Error {
    if e.is_timeout() {
        return crate::http::timed_out(what.to_string());
    }
    Error::other("transport", what.to_string(), true).with_source(e.without_url())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_generations() {
        let tag = |s: &str| RecordTag(s.into());
        assert_eq!(
            generation_param(&tag("1796136293255888440"), "k").unwrap(),
            "1796136293255888440"
        );
        for bad in ["", "0", "-3", "+3", "12a", "99999999999999999999", "sha256-abc"] {
            let e = generation_param(&tag(bad), "k").unwrap_err();
            assert!(matches!(e, Error::InvalidInput { .. }), "{bad}: {e}");
        }
        assert_eq!(generation_of(br#"{"generation": "17"}"#, "o").unwrap(), "17");
        assert_eq!(generation_of(br#"{"generation": 17}"#, "o").unwrap(), "17");
        assert!(generation_of(br#"{"name": "o"}"#, "o").is_err());
    }
}
