//! Blob storage over its REST API with Shared Key authorization (the account key comes from
//! ARM `listKeys`): content-addressed packages, version records created with
//! `If-None-Match: *`, and read-only service SAS URLs for run-from-package.

use std::collections::BTreeMap;
use std::time::Duration;

use azure_core::time::{OffsetDateTime, to_rfc7231};
use base64::Engine;
use faas_core::{Error, ResourceKind, Result, RetryConfig};
use hmac::{KeyInit, Mac};
use reqwest::{Method, Url};

use crate::arm::{Target, map_error, transport};

const VERSION: &str = "2021-08-06";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// One container of one storage account.
#[derive(Clone)]
pub(crate) struct Blobs {
    pub http: reqwest::Client,
    /// `https://{account}.blob.core.windows.net` (or Azurite's `http://127.0.0.1:10000/devstoreaccount1`).
    pub endpoint: String,
    pub account: String,
    pub key: Vec<u8>,
    pub container: String,
    /// How throttling (`503 ServerBusy`, 429), other 5xx and transport failures are retried.
    pub retry: RetryConfig,
}

impl std::fmt::Debug for Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blobs")
            .field("endpoint", &self.endpoint)
            .field("account", &self.account)
            .field("container", &self.container)
            .finish_non_exhaustive()
    }
}

fn hmac(key: &[u8], text: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable_key());
    mac.update(text.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

fn unreachable_key() -> hmac::Hmac<sha2::Sha256> {
    // HMAC takes keys of any length.
    panic!("HMAC rejected a key")
}

fn iso(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Object metadata, for version records.
pub(crate) type Metadata = BTreeMap<String, String>;

/// A request's body, made again for every attempt.
#[derive(Clone, Copy)]
pub(crate) enum Payload<'a> {
    /// None (`Content-Length: 0` on a `PUT`).
    Empty,
    /// These bytes.
    Bytes(&'a [u8]),
    /// This file, streamed from disk (reopened for a retry).
    File(&'a std::path::Path),
}

impl Payload<'_> {
    async fn body(self) -> Result<Option<reqwest::Body>> {
        Ok(match self {
            Payload::Empty => None,
            Payload::Bytes(b) => Some(reqwest::Body::from(b.to_vec())),
            Payload::File(path) => Some(reqwest::Body::from(
                tokio::fs::File::open(path)
                    .await
                    .map_err(|e| Error::io(path.display().to_string(), e))?,
            )),
        })
    }
}

impl Blobs {
    pub(crate) fn url(&self, blob: Option<&str>) -> Result<Url> {
        let mut url =
            Url::parse(&self.endpoint).map_err(|e| Error::invalid("blob_endpoint", &self.endpoint, e.to_string()))?;
        {
            let mut segs = url
                .path_segments_mut()
                .map_err(|_| Error::invalid("blob_endpoint", &self.endpoint, "not a base URL"))?;
            segs.pop_if_empty().push(&self.container);
            if let Some(b) = blob {
                segs.extend(b.split('/'));
            }
        }
        Ok(url)
    }

    /// Signs a request the Shared Key way and sends it. The signed standard headers are
    /// `Content-Length`, `Content-Type`, `If-Match` and `If-None-Match` (the others are never
    /// sent).
    pub(crate) async fn send(
        &self,
        method: Method,
        url: Url,
        headers: &[(&str, String)],
        body: Option<reqwest::Body>,
        length: u64,
    ) -> Result<reqwest::Response> {
        let date = to_rfc7231(&OffsetDateTime::now_utc());
        let mut ms: Vec<(String, String)> = vec![("x-ms-date".into(), date), ("x-ms-version".into(), VERSION.into())];
        let mut plain: BTreeMap<&str, String> = BTreeMap::new();
        for (k, v) in headers {
            if k.starts_with("x-ms-") {
                ms.push((k.to_string(), v.clone()));
            } else {
                plain.insert(k, v.clone());
            }
        }
        ms.sort();
        let get = |k: &str| plain.get(k).cloned().unwrap_or_default();
        let mut query: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.to_lowercase(), v.into_owned()))
            .collect();
        query.sort();
        let mut resource = format!("/{}{}", self.account, url.path());
        for (k, v) in &query {
            resource.push_str(&format!("\n{k}:{v}"));
        }
        let to_sign = format!(
            "{}\n\n\n{}\n\n{}\n\n\n{}\n{}\n\n\n{}{}",
            method.as_str(),
            if length == 0 { String::new() } else { length.to_string() },
            get("content-type"),
            get("if-match"),
            get("if-none-match"),
            ms.iter().map(|(k, v)| format!("{k}:{v}\n")).collect::<String>(),
            resource
        );
        let mut req = self.http.request(method.clone(), url.clone()).header(
            "authorization",
            format!("SharedKey {}:{}", self.account, hmac(&self.key, &to_sign)),
        );
        for (k, v) in ms
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .chain(plain.iter().map(|(k, v)| (*k, v)))
        {
            req = req.header(k, v);
        }
        if let Some(b) = body {
            req = req.header("content-length", length).body(b);
        } else if method == Method::PUT {
            req = req.header("content-length", 0);
        }
        req.send()
            .await
            .map_err(|e| transport(&format!("{method} blob {}", url.path()), e))
    }

    /// [`Blobs::send`] under the retry policy: throttling (`503 ServerBusy` — Storage throttles
    /// with 503 — or 429, waiting its `Retry-After` when it gives one), other 5xx and transport
    /// failures are sent again (the body made again from `payload`); every other answer is the
    /// caller's to read. Whether a write whose answer was lost landed is the caller's to find
    /// out (a create meets `409`, a delete `404`; a plain `PUT` just lands again).
    pub(crate) async fn send_retried(
        &self,
        method: Method,
        url: Url,
        headers: &[(&str, String)],
        payload: Payload<'_>,
        length: u64,
    ) -> Result<reqwest::Response> {
        let what = format!("{method} blob {}", url.path());
        self.retry
            .retry_if(&what, Error::is_transient, || {
                self.send_once(method.clone(), &url, headers, payload, length, &what)
            })
            .await
    }

    /// One attempt of [`Blobs::send_retried`]: throttling and 5xx answers as errors.
    async fn send_once(
        &self,
        method: Method,
        url: &Url,
        headers: &[(&str, String)],
        payload: Payload<'_>,
        length: u64,
        what: &str,
    ) -> Result<reqwest::Response> {
        let resp = self
            .send(method, url.clone(), headers, payload.body().await?, length)
            .await?;
        let status = resp.status().as_u16();
        if status != 429 && status < 500 {
            return Ok(resp);
        }
        let retry_after = crate::arm::retry_after(&resp);
        // The error code is in `x-ms-error-code` (the only place a HEAD answer has it) and
        // the XML body.
        let header_code = resp
            .headers()
            .get("x-ms-error-code")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp.bytes().await.unwrap_or_default();
        let text = String::from_utf8_lossy(&body);
        let code = header_code.as_deref().or(between(&text, "<Code>", "</Code>"));
        if status == 429 || code == Some("ServerBusy") || retry_after.is_some() {
            let message = between(&text, "<Message>", "</Message>").unwrap_or("the server is busy");
            return Err(Error::throttled(retry_after, format!("{what}: {message}")));
        }
        Err(Self::error_of(status, &body, self.target(url.path())))
    }

    pub(crate) async fn check(resp: reqwest::Response, target: Target<'_>) -> Result<reqwest::Response> {
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let body = resp.bytes().await.unwrap_or_default();
        Err(Self::error_of(status, &body, target))
    }

    /// The typed error of a Blob service answer: its XML `Code` and `Message`, mapped like
    /// ARM's (5xx retryable, 429 throttled, 409/412 conflicts).
    pub(crate) fn error_of(status: u16, body: &[u8], target: Target<'_>) -> Error {
        let text = String::from_utf8_lossy(body);
        let code = between(&text, "<Code>", "</Code>").unwrap_or_default();
        let message = between(&text, "<Message>", "</Message>").unwrap_or_default();
        let json = serde_json::json!({"error": {"code": code, "message": message.lines().next().unwrap_or("")}});
        map_error(status, None, json.to_string().as_bytes(), target)
    }

    pub(crate) fn target<'a>(&self, name: &'a str) -> Target<'a> {
        Target {
            kind: ResourceKind::Artifact,
            name,
        }
    }

    /// Creates the container unless it exists.
    pub async fn ensure_container(&self) -> Result<()> {
        let mut url = self.url(None)?;
        url.query_pairs_mut().append_pair("restype", "container");
        let resp = self.send_retried(Method::PUT, url, &[], Payload::Empty, 0).await?;
        if resp.status().as_u16() == 409 {
            return Ok(());
        }
        Self::check(resp, self.target(&self.container)).await.map(|_| ())
    }

    /// The blob's size, or `None` when it does not exist.
    pub async fn size(&self, name: &str) -> Result<Option<u64>> {
        let resp = self
            .send_retried(Method::HEAD, self.url(Some(name))?, &[], Payload::Empty, 0)
            .await?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        let resp = Self::check(resp, self.target(name)).await?;
        Ok(resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok()))
    }

    /// Uploads a file as a block blob, streamed from disk.
    pub async fn put_file(&self, name: &str, path: &std::path::Path, size: u64) -> Result<()> {
        let headers = [
            ("x-ms-blob-type", "BlockBlob".to_string()),
            ("content-type", "application/zip".to_string()),
        ];
        let resp = self
            .send_retried(Method::PUT, self.url(Some(name))?, &headers, Payload::File(path), size)
            .await?;
        Self::check(resp, self.target(name)).await.map(|_| ())
    }

    /// Creates a small blob only if none has that name: `Ok(false)` when one exists.
    pub async fn create(&self, name: &str, bytes: Vec<u8>, metadata: &Metadata) -> Result<bool> {
        let mut headers = vec![
            ("x-ms-blob-type", "BlockBlob".to_string()),
            ("content-type", "application/json".to_string()),
            ("if-none-match", "*".to_string()),
        ];
        let meta: Vec<(String, String)> = metadata
            .iter()
            .map(|(k, v)| (format!("x-ms-meta-{k}"), v.clone()))
            .collect();
        headers.extend(meta.iter().map(|(k, v)| (k.as_str(), v.clone())));
        let len = bytes.len() as u64;
        let resp = self
            .send_retried(
                Method::PUT,
                self.url(Some(name))?,
                &headers,
                Payload::Bytes(&bytes),
                len,
            )
            .await?;
        if matches!(resp.status().as_u16(), 409 | 412) {
            return Ok(false);
        }
        Self::check(resp, self.target(name)).await.map(|_| true)
    }

    /// The blob's bytes, or `None`.
    pub async fn get(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let url = self.url(Some(name))?;
        let what = format!("GET blob {}", url.path());
        // A body cut off by a dropped connection is read again.
        self.retry
            .retry_if(&what, Error::is_transient, || async {
                let resp = self.send_once(Method::GET, &url, &[], Payload::Empty, 0, &what).await?;
                if resp.status().as_u16() == 404 {
                    return Ok(None);
                }
                let resp = Self::check(resp, self.target(name)).await?;
                let bytes = resp.bytes().await.map_err(|e| transport("reading a blob", e))?;
                Ok(Some(bytes.to_vec()))
            })
            .await
    }

    /// Deletes a blob; one already gone is fine.
    pub async fn delete(&self, name: &str) -> Result<()> {
        let resp = self
            .send_retried(Method::DELETE, self.url(Some(name))?, &[], Payload::Empty, 0)
            .await?;
        if resp.status().as_u16() == 404 {
            return Ok(());
        }
        Self::check(resp, self.target(name)).await.map(|_| ())
    }

    /// Blob names (and metadata) under `prefix`, in name order.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, Metadata)>> {
        let mut out = Vec::new();
        let mut marker = String::new();
        loop {
            let mut url = self.url(None)?;
            url.query_pairs_mut()
                .append_pair("restype", "container")
                .append_pair("comp", "list")
                .append_pair("prefix", prefix)
                .append_pair("include", "metadata");
            if !marker.is_empty() {
                url.query_pairs_mut().append_pair("marker", &marker);
            }
            let what = format!("listing blobs under {prefix}");
            // A listing cut off by a dropped connection is asked again.
            let xml = self
                .retry
                .retry_if(&what, Error::is_transient, || async {
                    let resp = self.send_once(Method::GET, &url, &[], Payload::Empty, 0, &what).await?;
                    let resp = Self::check(resp, self.target(prefix)).await?;
                    resp.text().await.map_err(|e| transport("listing blobs", e))
                })
                .await?;
            for blob in xml.split("<Blob>").skip(1) {
                let name = between(blob, "<Name>", "</Name>").map(unescape).unwrap_or_default();
                let mut meta = Metadata::new();
                if let Some(m) = between(blob, "<Metadata>", "</Metadata>") {
                    for part in m.split("</").filter_map(|p| p.rsplit_once('<').map(|(_, kv)| kv)) {
                        if let Some((k, v)) = part.split_once('>') {
                            meta.insert(k.to_lowercase(), unescape(v));
                        }
                    }
                }
                out.push((name, meta));
            }
            match between(&xml, "<NextMarker>", "</NextMarker>").filter(|m| !m.is_empty()) {
                Some(m) => marker = m.to_string(),
                None => break,
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// A read-only service SAS URL for a blob, valid for `valid_for`.
    pub fn sas_url(&self, name: &str, valid_for: Duration) -> Result<String> {
        let url = self.url(Some(name))?;
        let expiry = iso(OffsetDateTime::now_utc() + valid_for);
        let resource = format!("/blob/{}/{}/{}", self.account, self.container, name);
        let to_sign = format!("r\n\n{expiry}\n{resource}\n\n\n\n{VERSION}\nb\n\n\n\n\n\n\n");
        let sig = hmac(&self.key, &to_sign);
        let mut out = url;
        out.query_pairs_mut()
            .append_pair("sv", VERSION)
            .append_pair("sr", "b")
            .append_pair("sp", "r")
            .append_pair("se", &expiry)
            .append_pair("sig", &sig);
        Ok(out.to_string())
    }
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(&s[i..j])
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_xml_is_read() {
        let xml = "<EnumerationResults><Blobs><Blob><Name>f/versions/0000000001.json</Name><Metadata><sha256>ab</sha256><Description>x &amp; y</Description></Metadata></Blob></Blobs><NextMarker/></EnumerationResults>";
        let blob = xml.split("<Blob>").nth(1).unwrap();
        assert_eq!(between(blob, "<Name>", "</Name>"), Some("f/versions/0000000001.json"));
        assert_eq!(unescape("x &amp; y"), "x & y");
        assert!(iso(OffsetDateTime::UNIX_EPOCH).starts_with("1970-01-01T00:00:00Z"));
    }
}
