//! The S3 artifact store: content-addressed keys, skip when present, multipart streamed from disk.

use std::io::Read;
use std::path::Path;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart};
use base64::Engine;
use faas_core::{ArtifactRef, Error, Package, ResourceKind, Result};
use sha2::{Digest, Sha256};

use crate::error::{Target, map};

/// Object metadata key holding the package's hex sha256 (multipart checksums are composite).
const SHA_META: &str = "faas-sha256";

/// Where and how packages are stored.
#[derive(Debug, Clone)]
pub(crate) struct ArtifactStore {
    pub client: aws_sdk_s3::Client,
    pub bucket: String,
    pub prefix: String,
    pub multipart_threshold: u64,
    pub part_size: u64,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::io(path.display().to_string(), e)
}

impl ArtifactStore {
    /// `{prefix}{function}/{sha256}.zip`.
    pub fn key(&self, function: &str, sha256: &str) -> String {
        format!("{}{function}/{sha256}.zip", self.prefix)
    }

    /// Uploads `package` unless an object with its sha256 is already at its key.
    pub async fn put(&self, function: &str, package: &Package) -> Result<(ArtifactRef, bool)> {
        self.put_key(&self.key(function, &package.sha256), package).await
    }

    /// Uploads `package` to `key` of the bucket unless an object with its sha256 is there.
    pub async fn put_key(&self, key: &str, package: &Package) -> Result<(ArtifactRef, bool)> {
        let key = key.to_string();
        let artifact = ArtifactRef {
            uri: format!("s3://{}/{key}", self.bucket),
            sha256: package.sha256.clone(),
            size: package.size,
            local_path: Some(package.path.clone()),
        };
        let target = Target {
            kind: ResourceKind::Artifact,
            name: &artifact.uri,
        };
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await;
        match head {
            Ok(h) => {
                let same = h.metadata().and_then(|m| m.get(SHA_META)).map(String::as_str)
                    == Some(package.sha256.as_str())
                    || h.checksum_sha256() == Some(package.code_sha256.as_str());
                if same {
                    tracing::debug!(uri = %artifact.uri, "artifact already uploaded");
                    return Ok((artifact, false));
                }
            }
            Err(e) => match map(e, target) {
                Error::NotFound { hint, .. } if hint.as_deref().is_some_and(|h| h.contains("bucket")) => {
                    return Err(Error::not_found(
                        ResourceKind::Artifact,
                        format!("s3://{}", self.bucket),
                        hint,
                    ));
                }
                Error::NotFound { .. } => {}
                other => return Err(other),
            },
        }
        if package.size >= self.multipart_threshold {
            self.put_multipart(&key, package, target).await?;
        } else {
            let body = ByteStream::from_path(&package.path)
                .await
                .map_err(|e| Error::io(package.path.display().to_string(), std::io::Error::other(e)))?;
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&key)
                .body(body)
                .content_type("application/zip")
                .checksum_algorithm(ChecksumAlgorithm::Sha256)
                .checksum_sha256(&package.code_sha256)
                .metadata(SHA_META, &package.sha256)
                .send()
                .await
                .map_err(|e| map(e, target))?;
        }
        tracing::info!(uri = %artifact.uri, size = package.size, "artifact uploaded");
        Ok((artifact, true))
    }

    /// Streams the object at `key` into the file `to`, hashing as it goes, and checks the
    /// bytes against the sha256 the object's metadata (or its SHA-256 checksum) records.
    pub async fn get_to_file(&self, key: &str, to: &Path) -> Result<ArtifactRef> {
        let uri = format!("s3://{}/{key}", self.bucket);
        let target = Target {
            kind: ResourceKind::Artifact,
            name: &uri,
        };
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .map_err(|e| map(e, target))?;
        let recorded = out.metadata().and_then(|m| m.get(SHA_META)).cloned();
        let checksum = out.checksum_sha256().map(crate::lambda::b64_to_hex);
        let Some(expected) = recorded.or(checksum.filter(|c| c.len() == 64)) else {
            return Err(Error::invalid(
                "s3_key",
                &uri,
                format!(
                    "the object records no sha256 (metadata {SHA_META} or a SHA-256 checksum), so nothing proves what it holds: upload it with faas, or with --checksum-algorithm SHA256"
                ),
            ));
        };
        let mut body = out.body.into_async_read();
        let mut file = tokio::fs::File::create(to).await.map_err(io_err(to))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut body, &mut buf)
                .await
                .map_err(|e| Error::io(&uri, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
            tokio::io::AsyncWriteExt::write_all(&mut file, &buf[..n])
                .await
                .map_err(io_err(to))?;
        }
        tokio::io::AsyncWriteExt::flush(&mut file).await.map_err(io_err(to))?;
        let sha256 = crate::lambda::hex(&hasher.finalize());
        if sha256 != expected {
            let _ = tokio::fs::remove_file(to).await;
            return Err(Error::invalid(
                "s3_key",
                &uri,
                format!(
                    "its bytes have sha256 {sha256} but its metadata records {expected}: the object was altered or replaced"
                ),
            ));
        }
        Ok(ArtifactRef {
            uri,
            sha256,
            size,
            local_path: Some(to.to_path_buf()),
        })
    }

    async fn put_multipart(&self, key: &str, package: &Package, target: Target<'_>) -> Result<()> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/zip")
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .metadata(SHA_META, &package.sha256)
            .send()
            .await
            .map_err(|e| map(e, target))?;
        let upload_id = created.upload_id().unwrap_or_default().to_string();
        let result = self.upload_parts(key, &upload_id, &package.path, target).await;
        match result {
            Ok(parts) => {
                self.client
                    .complete_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                    .send()
                    .await
                    .map_err(|e| map(e, target))?;
                Ok(())
            }
            Err(e) => {
                let _ = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .send()
                    .await;
                Err(e)
            }
        }
    }

    /// Reads one part at a time from disk, so memory stays at one part whatever the size.
    async fn upload_parts(
        &self,
        key: &str,
        upload_id: &str,
        path: &Path,
        target: Target<'_>,
    ) -> Result<Vec<CompletedPart>> {
        let mut file = std::fs::File::open(path).map_err(io_err(path))?;
        let mut parts = Vec::new();
        let mut number = 1;
        let part_size = usize::try_from(self.part_size).unwrap_or(8 * 1024 * 1024);
        loop {
            let mut buf = Vec::with_capacity(part_size);
            (&mut file)
                .take(part_size as u64)
                .read_to_end(&mut buf)
                .map_err(io_err(path))?;
            if buf.is_empty() {
                break;
            }
            let checksum = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&buf));
            let out = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .checksum_algorithm(ChecksumAlgorithm::Sha256)
                .checksum_sha256(&checksum)
                .body(ByteStream::from(buf))
                .send()
                .await
                .map_err(|e| map(e, target))?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag().map(str::to_string))
                    .checksum_sha256(checksum)
                    .build(),
            );
            number += 1;
        }
        tracing::debug!(key, parts = parts.len(), "multipart upload");
        Ok(parts)
    }
}
