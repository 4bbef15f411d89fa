//! Container images deployed by reference: [`ArtifactRef::image`] and the check of an
//! image reference (the OCI distribution spec's grammar), before any call.

use crate::{ArtifactRef, Error, Result};

/// The `uri` prefix of an [`ArtifactRef::image`].
pub const IMAGE_SCHEME: &str = "image:";

impl ArtifactRef {
    /// A container image deployed by reference (nothing is built or uploaded): `reference` is
    /// `[registry[:port]/]repository[:tag][@sha256:<64 hex>]` as the OCI distribution spec
    /// writes it (path components of lowercase letters and digits joined by `.`, `_`, `__`
    /// or `-`; a tag of at most 128 word characters, `.` and `-`). Providers deploy it only
    /// with [`Capability::container_images`](crate::Capability::container_images).
    ///
    /// `sha256` is the pinned digest's hex when the reference has one (the provider checks
    /// the deployed image against it), else the sha256 of the reference text, which stands
    /// for the code until the provider resolves the tag. A malformed reference is
    /// [`Error::InvalidInput`] naming it.
    ///
    /// ```
    /// use faas_core::ArtifactRef;
    /// let d = format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:{}", "ab".repeat(32));
    /// let a = ArtifactRef::image(&d).unwrap();
    /// assert_eq!(a.sha256, "ab".repeat(32));
    /// assert_eq!(a.image_reference(), Some(d.as_str()));
    /// assert!(a.image_digest().is_some());
    /// assert!(ArtifactRef::image("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1").unwrap().image_digest().is_none());
    /// assert!(ArtifactRef::image("Not A/Reference").is_err());
    /// ```
    pub fn image(reference: &str) -> Result<ArtifactRef> {
        let digest = check_image_reference(reference)?;
        let sha256 = match digest {
            Some(hex) => hex.to_string(),
            None => {
                use sha2::Digest;
                sha2::Sha256::digest(reference.as_bytes())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            }
        };
        Ok(ArtifactRef {
            uri: format!("{IMAGE_SCHEME}{reference}"),
            sha256,
            size: 0,
            local_path: None,
        })
    }

    /// The image reference, when this artifact is an [`image`](ArtifactRef::image).
    pub fn image_reference(&self) -> Option<&str> {
        self.uri.strip_prefix(IMAGE_SCHEME)
    }

    /// The pinned digest's hex, when this artifact is an image referenced by digest.
    pub fn image_digest(&self) -> Option<&str> {
        let reference = self.image_reference()?;
        reference.rsplit_once("@sha256:").map(|(_, hex)| hex)
    }
}

/// Checks an image reference; the digest's hex when it pins one.
fn check_image_reference(reference: &str) -> Result<Option<&str>> {
    let bad = |why: &str| {
        Err(Error::invalid(
            "image",
            format!("{reference:?}"),
            format!(
                "{why}: expected [registry[:port]/]repository[:tag][@sha256:<64 hex>], e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/my-function:v1"
            ),
        ))
    };
    if reference.is_empty() || reference.len() > 1024 {
        return bad("an image reference is 1–1024 characters");
    }
    let (name_tag, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    let digest = match digest {
        Some(d) => match d.strip_prefix("sha256:") {
            Some(hex) if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) => {
                Some(hex)
            }
            _ => return bad("the digest must be sha256: and 64 lowercase hex digits"),
        },
        None => None,
    };
    // The tag follows the last ':' after the last '/' (a registry's ':port' comes before it).
    let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_tag[last_slash..].rfind(':') {
        Some(i) => (&name_tag[..last_slash + i], Some(&name_tag[last_slash + i + 1..])),
        None => (name_tag, None),
    };
    if let Some(tag) = tag {
        let ok = (1..=128).contains(&tag.len())
            && tag
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !ok {
            return bad("a tag is 1–128 letters, digits, '_', '.' or '-', not starting with '.' or '-'");
        }
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    // A first part with a '.' or ':' (or `localhost`) is the registry host.
    if parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost") {
        let host = parts.remove(0);
        let (h, port) = host.split_once(':').unwrap_or((host, "1"));
        let host_ok = !h.is_empty()
            && h.split('.').all(|l| {
                !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') && !l.starts_with('-')
            });
        if !host_ok || port.parse::<u16>().is_err() {
            return bad("the registry must be a host name with an optional :port");
        }
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.chars()
                .next()
                .is_some_and(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            && c.chars()
                .last()
                .is_some_and(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            && c.chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '.' | '_' | '-'))
            && !c.contains("..")
            && !c.contains("___")
    };
    if parts.is_empty() || !parts.iter().all(|c| component_ok(c)) {
        return bad("the repository is lowercase letters and digits, separated by '/', '.', '_' or '-'");
    }
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_checked_and_named() {
        let hex = "0123456789abcdef".repeat(4);
        for ok in [
            "app".to_string(),
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:v1.2-rc_3".to_string(),
            "localhost:5000/app:latest".to_string(),
            format!("registry.example.com:443/app@sha256:{hex}"),
            format!("ghcr.io/org/app:v1@sha256:{hex}"),
        ] {
            check_image_reference(&ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "",
            "App",
            "app:",
            "app:-x",
            "host:notaport/app",
            "app@sha256:abc",
            "app@md5:0123",
            "a//b",
            "app name",
            "-app",
        ] {
            match ArtifactRef::image(bad) {
                Err(Error::InvalidInput { field, value, .. }) => {
                    assert_eq!(field, "image");
                    assert!(value.contains(bad), "{value}");
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        let tagged = ArtifactRef::image("app:v1").unwrap();
        assert_eq!(tagged.sha256.len(), 64, "the reference's own hash stands for a tag");
        assert_eq!(tagged.image_digest(), None);
        assert_eq!(ArtifactRef::image(&format!("app@sha256:{hex}")).unwrap().sha256, hex);
    }
}
