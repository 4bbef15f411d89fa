//! Where packages go before a deploy: a signed upload URL from `functions:generateUploadUrl`,
//! or a content-addressed object in a Cloud Storage bucket (skipped when already there).

use faas_core::{ArtifactRef, Error, ResourceKind, Result};
use faas_package::Package;
use reqwest::{Method, Url};
use serde_json::Value;

use crate::functions::Functions;
use crate::resources::StorageSource;
use crate::rest::{Api, Target, map_error, retry_after};
use crate::spec_mapping::storage_uri;

/// A bucket for content-addressed packages.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    pub api: Api,
    /// The storage root (the JSON API is under `storage/v1/`).
    pub base: String,
    pub bucket: String,
    pub prefix: String,
}

impl Bucket {
    /// Uploads `package` as `{prefix}{function}/{sha256}.zip` unless an object of that name and
    /// size is there already.
    pub async fn upload(&self, function: &str, package: &Package) -> Result<ArtifactRef> {
        let object = format!("{}{function}/{}.zip", self.prefix, package.sha256);
        let target = Target {
            kind: ResourceKind::Artifact,
            name: &object,
        };
        let meta = object_url(&self.base, &["storage", "v1", "b", &self.bucket, "o", &object])?;
        if let Some(found) = self.api.get_opt::<Value>(meta.as_str(), target).await?
            && found["size"].as_str().and_then(|s| s.parse::<u64>().ok()) == Some(package.size)
        {
            tracing::info!(bucket = %self.bucket, %object, "package already uploaded");
            return Ok(self.artifact(&found, package));
        }
        let mut url = object_url(&self.base, &["upload", "storage", "v1", "b", &self.bucket, "o"])?;
        url.query_pairs_mut()
            .append_pair("uploadType", "media")
            .append_pair("name", &object);
        let stored = put_with_retries(&self.api, &object, || async {
            let token = crate::auth::access_token(self.api.tokens.as_ref()).await?;
            let request = self.api.http.request(Method::POST, url.clone()).bearer_auth(token);
            send_zip(request, package, target).await
        })
        .await?;
        tracing::info!(bucket = %self.bucket, %object, bytes = package.size, "package uploaded");
        Ok(self.artifact(&stored, package))
    }

    /// The reference to a stored object (a Cloud Storage JSON API object resource: `bucket`,
    /// `name`, `generation`; read as it comes, since emulators differ in its number types).
    fn artifact(&self, object: &Value, package: &Package) -> ArtifactRef {
        let text = |key: &str| object[key].as_str().map(str::to_string);
        let source = StorageSource {
            bucket: text("bucket").unwrap_or_else(|| self.bucket.clone()),
            object: text("name").unwrap_or_default(),
            generation: text("generation"),
        };
        artifact_ref(&source, package)
    }
}

/// Uploads through `functions:generateUploadUrl`: a `PUT` of the zip to the signed URL with
/// `content-type: application/zip` and no `Authorization` header, as the API asks.
pub(crate) async fn upload_signed(functions: &Functions, package: &Package) -> Result<ArtifactRef> {
    let (upload_url, source) = functions.upload_url().await?;
    let target = Target {
        kind: ResourceKind::Artifact,
        name: "signed upload URL",
    };
    put_with_retries(&functions.api, "signed upload", || async {
        // A fresh client call without bearer auth: the signed URL is the credential.
        send_zip(functions.api.http.put(&upload_url), package, target).await
    })
    .await?;
    tracing::info!(object = %storage_uri(&source), bytes = package.size, "package uploaded to the signed URL");
    Ok(artifact_ref(&source, package))
}

/// The reference to `package` stored at `source`.
fn artifact_ref(source: &StorageSource, package: &Package) -> ArtifactRef {
    ArtifactRef {
        uri: storage_uri(source),
        sha256: package.sha256.clone(),
        size: package.size,
        local_path: Some(package.path.clone()),
    }
}

/// Sends the zip, streamed from disk, with `request` (a `POST` to the bucket, a `PUT` to a
/// signed URL) and reads the answer.
async fn send_zip(request: reqwest::RequestBuilder, package: &Package, target: Target<'_>) -> Result<Value> {
    let resp = request
        .header("content-type", "application/zip")
        .header("content-length", package.size)
        .body(file_body(package).await?)
        .send()
        .await
        .map_err(transport)?;
    let status = resp.status();
    let retry_after = retry_after(resp.headers());
    let bytes = resp.bytes().await.map_err(transport)?;
    if status.is_success() {
        return Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null));
    }
    Err(map_error(status.as_u16(), retry_after, &bytes, target))
}

/// Sends the package with `send`, retrying transient failures under the API's `RetryConfig`
/// (the file is reopened for each attempt, so nothing is held in memory).
async fn put_with_retries<F, Fut>(api: &Api, what: &str, send: F) -> Result<Value>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Value>>,
{
    api.retry.retry_if(what, Error::is_transient, send).await
}

/// The zip, streamed from its file.
async fn file_body(package: &Package) -> Result<reqwest::Body> {
    let file = tokio::fs::File::open(&package.path)
        .await
        .map_err(|e| Error::io(package.path.display().to_string(), e))?;
    Ok(reqwest::Body::from(file))
}

/// `base` with `path` appended, each segment percent-encoded.
pub(crate) fn object_url(base: &str, path: &[&str]) -> Result<Url> {
    let mut url = Url::parse(base).map_err(|e| Error::config("storage_url", base, e.to_string()))?;
    url.path_segments_mut()
        .map_err(|_| Error::config("storage_url", base, "not a base URL"))?
        .pop_if_empty()
        .extend(path);
    Ok(url)
}

/// The error of an upload the network failed (`Timeout` when it ran out of time).
fn transport(e: reqwest::Error) -> Error {
    if e.is_timeout() {
        return crate::http::timed_out("upload");
    }
    Error::other("transport", "upload", true).with_source(e.without_url())
}
