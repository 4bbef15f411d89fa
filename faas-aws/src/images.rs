//! Container images deployed by reference (`PackageType=Image`, `Code.ImageUri`).
//!
//! Lambda resolves an image's tag when it deploys it and reports what it runs as
//! `Code.ResolvedImageUri` (`…@sha256:<digest>`) in `GetFunction`, and the digest's hex as
//! `CodeSha256`. faas deploys an image pinned by digest, so that the deployed image can be
//! checked against the one asked for: a tag alone is refused before any call (resolve it
//! first, e.g. `aws ecr describe-images`). A function's package type cannot be changed
//! (`CreateFunction` sets it once), so an image for a zip function, or a package for an
//! image function, is refused after the plan's one read.

use aws_sdk_lambda::types::PackageType;
use faas_core::{ArtifactRef, Error, Result};

use crate::lambda::{Functions, Observed, is_image};

/// Refuses, before any call, an image reference Lambda's deploy could not be checked against.
pub(crate) fn check_reference(artifact: &ArtifactRef) -> Result<()> {
    match artifact.image_reference() {
        Some(reference) if artifact.image_digest().is_none() => Err(Error::invalid(
            "image",
            reference,
            "faas-aws deploys an image pinned by digest (repository@sha256:<64 hex>) so that the deployed image is checked: resolve the tag first (aws ecr describe-images)",
        )),
        _ => Ok(()),
    }
}

/// Refuses switching the package type of an existing function.
pub(crate) fn check_package_type(name: &str, artifact: &ArtifactRef, observed: &Observed) -> Result<()> {
    let want_image = artifact.image_reference().is_some();
    if want_image == is_image(&observed.config) {
        return Ok(());
    }
    let (is, wants) = if want_image {
        (PackageType::Zip, PackageType::Image)
    } else {
        (PackageType::Image, PackageType::Zip)
    };
    Err(Error::invalid(
        "artifact",
        &artifact.uri,
        format!(
            "function {name} has PackageType={} and Lambda cannot change it to {}: delete the function first, or deploy under another name",
            is.as_str(),
            wants.as_str()
        ),
    ))
}

impl Functions {
    /// Checks that the function runs the digest asked for (`Code.ResolvedImageUri`).
    pub(crate) async fn check_image(&self, name: &str, artifact: &ArtifactRef) -> Result<()> {
        let Some(wanted) = artifact.image_digest() else {
            return Ok(());
        };
        let out = self.read(name).await?;
        let resolved = out.code().and_then(|c| c.resolved_image_uri()).unwrap_or_default();
        let deployed = resolved.rsplit_once("@sha256:").map(|(_, hex)| hex);
        if deployed != Some(wanted) {
            return Err(Error::conflict(
                name,
                format!(
                    "Lambda runs the image {} but sha256:{wanted} was deployed: another deployer changed it",
                    if resolved.is_empty() {
                        "(none reported)"
                    } else {
                        resolved
                    }
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::states::tests::{Fake, Script, functions};

    fn answering(resolved: &str) -> Functions {
        functions(Fake(Arc::new(Mutex::new(Script {
            configs: vec![serde_json::json!({"FunctionName": "boxed", "PackageType": "Image", "State": "Active"})],
            code: Some(serde_json::json!({
                "RepositoryType": "ECR",
                "ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1",
                "ResolvedImageUri": resolved,
            })),
            ..Script::default()
        }))))
    }

    #[tokio::test]
    async fn the_deployed_digest_must_be_the_one_asked_for() {
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let image =
            ArtifactRef::image(&format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:{a}")).unwrap();
        let repo = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app";
        answering(&format!("{repo}@sha256:{a}"))
            .check_image("boxed", &image)
            .await
            .unwrap();
        let err = answering(&format!("{repo}@sha256:{b}"))
            .check_image("boxed", &image)
            .await
            .unwrap_err();
        match &err {
            Error::Conflict { message, .. } => assert!(message.contains(&b) && message.contains(&a), "{message}"),
            other => panic!("{other:?}"),
        }
    }
}
