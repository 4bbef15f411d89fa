//! Names that reach an API or a path: functions, labels, versions, qualifiers, code hashes.
//!
//! Every provider checks what a caller gives it here, at the boundary of every operation and
//! before any call or file access, with Lambda's rules (the strictest common ground): a
//! function name is 1–64 characters of `[a-zA-Z0-9-_]`; a label is 1–128 of the same, not
//! numeric and not `$LATEST`; a version is a number or `$LATEST`. Values read back from
//! state (a code hash, a version id) are untrusted too: [`check_sha256`] before one becomes
//! a path.
//!
//! ```
//! use faas_core::{Qualifier, names};
//! assert!(names::check_function("hello-world_2").is_ok());
//! assert!(names::check_function("../../evil").is_err());
//! assert_eq!(Qualifier::parse("7").unwrap(), Qualifier::Version("7".into()));
//! assert_eq!(Qualifier::parse("$LATEST").unwrap(), Qualifier::Latest);
//! assert_eq!(Qualifier::parse("live").unwrap(), Qualifier::Label("live".into()));
//! assert!(Qualifier::parse("has space").is_err());
//! ```

use std::fmt;

use crate::{Error, Result};

/// How "latest" is spelled.
pub const LATEST: &str = "$LATEST";

/// The longest function name.
pub const FUNCTION_MAX: usize = 64;
/// The longest label name.
pub const LABEL_MAX: usize = 128;
/// The longest version id.
pub const VERSION_MAX: usize = 20;

fn word_chars(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn shown(s: &str) -> String {
    // A hostile name may be huge: show its start and its length.
    let mut out: String = s.chars().take(80).collect();
    if out.len() < s.len() {
        out = format!("{out}… ({} bytes)", s.len());
    }
    format!("{out:?}")
}

/// Checks a function name: 1–64 characters of `[a-zA-Z0-9-_]`.
pub fn check_function(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > FUNCTION_MAX || !word_chars(name) {
        return Err(Error::invalid(
            "function",
            shown(name),
            format!("a function name is 1–{FUNCTION_MAX} characters of [a-zA-Z0-9-_]"),
        ));
    }
    Ok(())
}

/// Checks a label (alias, slot, tag) name: 1–128 characters of `[a-zA-Z0-9-_]`, not only
/// digits (that is a version) and not `$LATEST`.
pub fn check_label(label: &str) -> Result<()> {
    if label.is_empty() || label.len() > LABEL_MAX || !word_chars(label) {
        return Err(Error::invalid(
            "label",
            shown(label),
            format!("a label name is 1–{LABEL_MAX} characters of [a-zA-Z0-9-_]"),
        ));
    }
    if label.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::invalid(
            "label",
            shown(label),
            "a label name must not be numeric (that is a version): add a letter",
        ));
    }
    Ok(())
}

/// Checks a version id: a number of at most 20 digits (`$LATEST` is not a published version).
pub fn check_version(version: &str) -> Result<()> {
    if version.is_empty() || version.len() > VERSION_MAX || !version.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::invalid(
            "version",
            shown(version),
            format!("a version is a number of 1–{VERSION_MAX} digits"),
        ));
    }
    Ok(())
}

/// Checks a hex sha256 (64 lowercase hex digits), e.g. one read back from state before it
/// becomes part of a path.
pub fn check_sha256(sha256: &str) -> Result<()> {
    if sha256.len() != 64 || !sha256.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) {
        return Err(Error::invalid(
            "code_sha256",
            shown(sha256),
            "a code hash is 64 lowercase hex digits: the state is damaged or was tampered with",
        ));
    }
    Ok(())
}

/// What an invocation or read addresses: the latest code, a published version or a label.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Qualifier {
    /// The latest, unpublished code and configuration (`$LATEST`).
    Latest,
    /// A published version (its id, digits).
    Version(String),
    /// A label (alias, slot or traffic tag).
    Label(String),
}

impl Qualifier {
    /// Parses and checks a qualifier: `$LATEST`, digits (a version) or a label name.
    pub fn parse(q: &str) -> Result<Qualifier> {
        if q == LATEST {
            Ok(Qualifier::Latest)
        } else if !q.is_empty() && q.chars().all(|c| c.is_ascii_digit()) {
            check_version(q).map_err(|_| {
                Error::invalid(
                    "qualifier",
                    shown(q),
                    format!("a version is a number of 1–{VERSION_MAX} digits"),
                )
            })?;
            Ok(Qualifier::Version(q.to_string()))
        } else {
            check_label(q).map_err(|_| {
                Error::invalid(
                    "qualifier",
                    shown(q),
                    format!("a qualifier is $LATEST, a version number or a label of 1–{LABEL_MAX} characters of [a-zA-Z0-9-_]"),
                )
            })?;
            Ok(Qualifier::Label(q.to_string()))
        }
    }

    /// Parses an optional qualifier; `None` is [`Qualifier::Latest`].
    pub fn parse_opt(q: Option<&str>) -> Result<Qualifier> {
        q.map_or(Ok(Qualifier::Latest), Qualifier::parse)
    }
}

impl fmt::Display for Qualifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Qualifier::Latest => f.write_str(LATEST),
            Qualifier::Version(v) => f.write_str(v),
            Qualifier::Label(l) => f.write_str(l),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(e: Error) -> String {
        match e {
            Error::InvalidInput { field, .. } => field,
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    #[test]
    fn function_names_follow_lambda() {
        for ok in ["a", "hello-world_2", &"x".repeat(64)] {
            check_function(ok).unwrap();
        }
        for bad in [
            "",
            "../../evil",
            "a/b",
            "a b",
            "ü",
            "a.b",
            "a\\b",
            &"x".repeat(65),
            "a\0",
        ] {
            assert_eq!(field(check_function(bad).unwrap_err()), "function", "{bad:?}");
        }
    }

    #[test]
    fn labels_follow_lambda_aliases() {
        for ok in ["live", "v2-canary", "x1", &"y".repeat(128)] {
            check_label(ok).unwrap();
        }
        for bad in [
            "",
            "123",
            "$LATEST",
            "has space",
            "ünïcode",
            &"z".repeat(129),
            "../x",
            "a.b",
        ] {
            assert_eq!(field(check_label(bad).unwrap_err()), "label", "{bad:?}");
        }
    }

    #[test]
    fn qualifiers_parse_once() {
        assert_eq!(Qualifier::parse_opt(None).unwrap(), Qualifier::Latest);
        assert_eq!(Qualifier::parse("42").unwrap().to_string(), "42");
        for bad in ["", "../1", "1.0", "a b", &"9".repeat(21)] {
            assert_eq!(field(Qualifier::parse(bad).unwrap_err()), "qualifier", "{bad:?}");
        }
    }

    #[test]
    fn hashes_are_hex() {
        check_sha256(&"a1".repeat(32)).unwrap();
        for bad in [
            "",
            "../../../../etc",
            &"A1".repeat(32),
            &"g".repeat(64),
            &"a".repeat(65),
        ] {
            check_sha256(bad).unwrap_err();
        }
    }

    #[test]
    fn huge_names_are_shortened_in_errors() {
        let msg = check_function(&"q".repeat(10_000)).unwrap_err().to_string();
        assert!(msg.len() < 300 && msg.contains("10000 bytes"), "{msg}");
    }
}
