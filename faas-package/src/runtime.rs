//! Runtimes, and what each one needs to find in a package for its handler.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::PackageError;

/// The language family of a runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum RuntimeFamily {
    /// CPython; handler `module.function`.
    Python,
    /// Node.js; handler `file.export`.
    Node,
    /// Ruby; handler `file.method`.
    Ruby,
    /// A custom runtime: an executable `bootstrap` speaking the Lambda Runtime API.
    Custom,
}

/// A function runtime, parsed from the names the clouds use.
///
/// Accepted spellings: Lambda's (`python3.12`, `nodejs20.x`, `ruby3.3`, `provided.al2023`,
/// `provided.al2`, `provided`) and Cloud Functions' (`python312`, `nodejs20`, `ruby33`).
///
/// ```
/// use faas_package::{Runtime, RuntimeFamily};
/// let r: Runtime = "python3.12".parse().unwrap();
/// assert_eq!(r.family(), RuntimeFamily::Python);
/// assert_eq!(r.version(), Some("3.12"));
/// assert_eq!(r.gcp_name().as_deref(), Some("python312"));
/// assert_eq!("nodejs20".parse::<Runtime>().unwrap().lambda_name(), "nodejs20.x");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Runtime {
    family: RuntimeFamily,
    version: Option<String>,
    name: String,
}

const ACCEPTED: &str = "pythonX.Y (python3.13, or python313), nodejsN.x (nodejs22.x, or nodejs22), rubyX.Y (ruby3.4, or ruby34), provided.al2023, provided.al2, provided; faas packages no Java, .NET or Go code";

impl Runtime {
    /// The language family.
    pub fn family(&self) -> RuntimeFamily {
        self.family
    }

    /// The language version (`"3.12"`, `"20"`, `"3.3"`), `None` for custom runtimes.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The name as Lambda spells it (`python3.12`, `nodejs20.x`, `provided.al2023`).
    pub fn lambda_name(&self) -> String {
        match (self.family, self.version.as_deref()) {
            (RuntimeFamily::Python, Some(v)) => format!("python{v}"),
            (RuntimeFamily::Node, Some(v)) => format!("nodejs{v}.x"),
            (RuntimeFamily::Ruby, Some(v)) => format!("ruby{v}"),
            _ => self.name.clone(),
        }
    }

    /// The name as Cloud Functions spells it (`python312`, `nodejs20`); `None` for custom runtimes.
    pub fn gcp_name(&self) -> Option<String> {
        let v = self.version.as_deref()?;
        let digits: String = v.chars().filter(char::is_ascii_digit).collect();
        Some(match self.family {
            RuntimeFamily::Python => format!("python{digits}"),
            RuntimeFamily::Node => format!("nodejs{digits}"),
            RuntimeFamily::Ruby => format!("ruby{digits}"),
            RuntimeFamily::Custom => return None,
        })
    }

    /// The paths inside the package of which one must exist for `handler`.
    ///
    /// Python `pkg.mod.fn` needs `pkg/mod.py` or `pkg/mod/__init__.py`; Node `src/index.handler`
    /// needs `src/index.js`, `.mjs` or `.cjs`; Ruby `file.method` needs `file.rb`; a custom
    /// runtime needs an executable `bootstrap` whatever the handler says.
    pub fn handler_candidates(&self, handler: &str) -> Result<Vec<String>, PackageError> {
        let invalid = |reason: &str| PackageError::InvalidHandler {
            runtime: self.name.clone(),
            value: handler.to_string(),
            reason: reason.to_string(),
        };
        if self.family == RuntimeFamily::Custom {
            return Ok(vec!["bootstrap".to_string()]);
        }
        let (module, function) = handler.rsplit_once('.').ok_or_else(|| {
            invalid("expected `module.function`, e.g. lambda_function.lambda_handler or index.handler")
        })?;
        if module.is_empty() || function.is_empty() {
            return Err(invalid(
                "module and function must both be non-empty, e.g. lambda_function.lambda_handler",
            ));
        }
        if module.starts_with('/') || module.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(invalid("the module path must be relative and must not contain `..`"));
        }
        Ok(match self.family {
            RuntimeFamily::Python => {
                let m = module.replace('.', "/");
                vec![format!("{m}.py"), format!("{m}/__init__.py")]
            }
            RuntimeFamily::Node => ["js", "mjs", "cjs"]
                .iter()
                .map(|ext| format!("{module}.{ext}"))
                .collect(),
            RuntimeFamily::Ruby => vec![format!("{module}.rb")],
            RuntimeFamily::Custom => vec!["bootstrap".to_string()],
        })
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl FromStr for Runtime {
    type Err = PackageError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || PackageError::UnknownRuntime {
            value: s.to_string(),
            accepted: ACCEPTED.to_string(),
        };
        let make = |family, version: &str| Runtime {
            family,
            version: Some(version.to_string()),
            name: s.to_string(),
        };
        if matches!(s, "provided" | "provided.al2" | "provided.al2023") {
            return Ok(Runtime {
                family: RuntimeFamily::Custom,
                version: None,
                name: s.to_string(),
            });
        }
        // Any version of a known family parses (old ones too), so that a retired runtime
        // is refused by the clouds' lifecycle tables as retired, not as unknown.
        let digits = |t: &str| !t.is_empty() && t.len() <= 3 && t.bytes().all(|b| b.is_ascii_digit());
        // `3.12` / `2.7` (Lambda) or `312` / `27` (Cloud Functions): major digit, then minor.
        let dotted = |rest: &str| -> Option<String> {
            match rest.split_once('.') {
                Some((major, minor)) if digits(major) && digits(minor) => Some(format!("{major}.{minor}")),
                None if digits(rest) && rest.len() >= 2 => Some(format!("{}.{}", &rest[..1], &rest[1..])),
                _ => None,
            }
        };
        if let Some(rest) = s.strip_prefix("python") {
            return dotted(rest)
                .map(|v| make(RuntimeFamily::Python, &v))
                .ok_or_else(unknown);
        }
        if let Some(rest) = s.strip_prefix("nodejs") {
            // `nodejs20.x`, `nodejs20`, and the old `nodejs8.10` / `nodejs4.3`.
            let major = match rest.split_once('.') {
                Some((major, "x" | "10" | "3")) => major,
                Some(_) => return Err(unknown()),
                None => rest,
            };
            return match digits(major) {
                true => Ok(make(RuntimeFamily::Node, major)),
                false => Err(unknown()),
            };
        }
        if let Some(rest) = s.strip_prefix("ruby") {
            return dotted(rest).map(|v| make(RuntimeFamily::Ruby, &v)).ok_or_else(unknown);
        }
        Err(unknown())
    }
}

impl Serialize for Runtime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

impl<'de> Deserialize<'de> for Runtime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lambda_and_gcp_spellings() {
        for (s, fam, v) in [
            ("python3.12", RuntimeFamily::Python, Some("3.12")),
            ("python39", RuntimeFamily::Python, Some("3.9")),
            ("nodejs20.x", RuntimeFamily::Node, Some("20")),
            ("nodejs22", RuntimeFamily::Node, Some("22")),
            ("ruby3.3", RuntimeFamily::Ruby, Some("3.3")),
            ("provided.al2023", RuntimeFamily::Custom, None),
        ] {
            let r: Runtime = s.parse().expect(s);
            assert_eq!(r.family(), fam, "{s}");
            assert_eq!(r.version(), v, "{s}");
        }
    }

    #[test]
    fn unknown_runtime_lists_accepted_names() {
        let err = "cobol85".parse::<Runtime>().unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("cobol85") && msg.contains("python3.13") && msg.contains("runtime"),
            "{msg}"
        );
        for bad in [
            "java21",
            "python",
            "python3.x",
            "nodejs",
            "nodejs20.y",
            "ruby3.",
            "go1.x",
            "dotnet8",
        ] {
            assert!(bad.parse::<Runtime>().is_err(), "{bad}");
        }
    }

    #[test]
    fn old_and_new_versions_parse_so_lifecycle_tables_can_judge_them() {
        for (s, v) in [
            ("python2.7", "2.7"),
            ("python3.14", "3.14"),
            ("python37", "3.7"),
            ("nodejs8.10", "8"),
            ("nodejs24.x", "24"),
            ("ruby2.7", "2.7"),
        ] {
            assert_eq!(s.parse::<Runtime>().expect(s).version(), Some(v), "{s}");
        }
        assert_eq!("python37".parse::<Runtime>().unwrap().lambda_name(), "python3.7");
    }

    #[test]
    fn handler_candidates() {
        let py: Runtime = "python3.12".parse().unwrap();
        assert_eq!(
            py.handler_candidates("app.main.handler").unwrap(),
            vec!["app/main.py", "app/main/__init__.py"]
        );
        let node: Runtime = "nodejs20.x".parse().unwrap();
        assert_eq!(node.handler_candidates("src/index.handler").unwrap()[0], "src/index.js");
        assert!(py.handler_candidates("nodot").is_err());
        assert!(py.handler_candidates("../x.handler").is_err());
        let custom: Runtime = "provided.al2023".parse().unwrap();
        assert_eq!(custom.handler_candidates("anything").unwrap(), vec!["bootstrap"]);
    }
}
