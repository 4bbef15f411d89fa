//! Reading a pipeline file: typed structs, environments, `${VAR}` interpolation, secrets.
//!
//! Loading goes in three passes, so that every error can say where it is:
//! 1. the text is parsed (serde-saphyr, pure Rust, within a [`budget`]) into typed structs
//!    (`deny_unknown_fields`): syntax errors, unknown keys, duplicate keys and missing
//!    fields come with `file:line:column` from the YAML parser. Free-form blocks (provider
//!    settings, step configs, environment overrides) become a JSON tree
//!    ([`serde_json::Value`]), so that no YAML type leaves this module;
//! 2. the chosen environment's overrides are merged over the defaults and `${VAR}` /
//!    `${VAR:-default}` are replaced in every string, a missing variable named with its path;
//! 3. each step's `config` is read into the typed config of its step type; errors name the
//!    step and the line where it starts.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;

use crate::{Error, Result};

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineFile {
    /// AWS settings (`enabled`, `region`, `auth`, `deployment`, `monitoring`).
    #[serde(default)]
    pub aws_lambda_integration: Option<Integration>,
    /// Azure settings.
    #[serde(default)]
    pub azure_functions_integration: Option<Integration>,
    /// Google Cloud settings.
    #[serde(default)]
    pub gcp_functions_integration: Option<Integration>,
    /// Per-environment overrides, chosen by name.
    #[serde(default)]
    pub environments: BTreeMap<String, Environment>,
    /// The stages (also accepted as `pipeline`).
    #[serde(alias = "pipeline")]
    pub lambda_deployment_pipeline: PipelineDef,
}

/// A provider block. Its keys are free-form for the provider that reads it, except that
/// `enabled` must be a boolean and `auth` secrets are redacted everywhere.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Integration {
    /// Whether the block is used.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Everything else (region, auth, deployment, monitoring, ...), as JSON trees, after
    /// `${VAR}` interpolation once resolved.
    #[serde(flatten)]
    pub settings: BTreeMap<String, Value>,
}

fn yes() -> bool {
    true
}

/// Overrides for one environment.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Variables for `${VAR}` interpolation, taking precedence over the process environment.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Per-step `config` overrides, merged key by key over the step's own config.
    #[serde(default)]
    pub steps: BTreeMap<String, Value>,
    /// The provider steps use when they name none (`local`, `aws`, ...).
    #[serde(default)]
    pub provider: Option<String>,
}

/// The stages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineDef {
    /// Stages run in order.
    pub stages: Vec<StageDef>,
}

/// One stage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageDef {
    /// Its name, unique in the file.
    pub name: String,
    /// Steps run in order.
    pub steps: Vec<StepDef>,
}

/// One step as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepDef {
    /// Its name, unique in the file.
    pub name: String,
    /// Its type (`package`, `deploy`, ... or `lambda-package`, `s3-upload`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// The provider it acts on (default: the run's).
    #[serde(default)]
    pub provider: Option<String>,
    /// Its configuration, read by the step type.
    #[serde(default)]
    pub config: Value,
}

/// The location of the first line containing `needle` (1-based), for error messages.
pub(crate) fn line_of(source: &str, needle: &str) -> Option<(usize, usize)> {
    source
        .lines()
        .enumerate()
        .find_map(|(i, l)| l.find(needle).map(|c| (i + 1, c + 1)))
}

/// Where a step is written: `file:line:column`.
pub(crate) fn step_location(file: &str, source: &str, step: &str) -> String {
    let found = [
        format!("name: {step}"),
        format!("name: \"{step}\""),
        format!("name: '{step}'"),
    ]
    .iter()
    .find_map(|n| line_of(source, n));
    match found {
        Some((l, c)) => format!("{file}:{l}:{c}"),
        None => file.to_string(),
    }
}

/// The largest pipeline file read.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
/// The deepest nesting of flow collections (`[`, `{`) and indentation read.
pub const MAX_DEPTH: usize = 64;

/// Refuses, before parsing, a file too large or too deeply nested to be a pipeline (the
/// parser's time grows with nesting), naming the limit and where it was passed.
fn check_shape(file: &str, source: &str) -> Result<()> {
    if source.len() > MAX_FILE_BYTES {
        return Err(Error::invalid(
            file,
            format!("{} bytes", source.len()),
            format!("a pipeline file is at most {MAX_FILE_BYTES} bytes: split it or move data out of it"),
        ));
    }
    let (mut depth, mut quote) = (0usize, None::<char>);
    for (n, line) in source.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let mut deepest = depth + indent / 2;
        let mut prev = ' ';
        for c in line.chars() {
            match (quote, c) {
                (None, '#') if prev == ' ' || prev == '\t' => break,
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, '[' | '{') => {
                    depth += 1;
                    deepest = deepest.max(depth + indent / 2);
                }
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
            prev = c;
        }
        if quote == Some('\'') || quote == Some('"') {
            // Quoted scalars end on their line in pipeline files; do not carry a stray quote.
            quote = None;
        }
        if deepest > MAX_DEPTH {
            return Err(Error::invalid(
                format!("{file}:{}", n + 1),
                format!("nesting depth {deepest}"),
                format!("a pipeline file nests at most {MAX_DEPTH} levels deep"),
            ));
        }
    }
    Ok(())
}

/// The most events aliases (`*name`) may replay in one file.
const MAX_ALIAS_REPLAY: usize = 100_000;

/// The parser's limits: [`MAX_DEPTH`], the other budgets at serde-saphyr's defaults (events,
/// nodes, aliases and alias replay, anchors, merge keys, scalar bytes, documents; a second
/// document is an error anyway).
fn budget() -> serde_saphyr::Budget {
    let mut b = serde_saphyr::Budget::default();
    b.max_depth = MAX_DEPTH;
    b.flow_nesting_limit = MAX_DEPTH;
    b
}

/// The YAML dialect pipeline files have always been read in: only
/// `true`/`false` are booleans (`yes`, `on` stay strings); `0755` and `1_000` stay strings
/// in free-form blocks; a plain `~` or `null` given to a string field is that text. Unknown
/// tags are ignored, as before. `<<` merge keys are expanded. Duplicate keys are an error.
/// `.inf` / `.nan` in a free-form block are an error (a JSON tree cannot hold them).
fn yaml_options() -> serde_saphyr::Options {
    let mut alias_limits = serde_saphyr::options::AliasLimits::default();
    // Aliases replay at most this many events in all (serde-saphyr's default is ten times
    // more): plenty for shared blocks, and a billion-laughs file stops well within a second.
    alias_limits.max_total_replayed_events = MAX_ALIAS_REPLAY;
    serde_saphyr::options! {
        budget: Some(budget()),
        alias_limits: alias_limits,
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        null_as_string: true,
        non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::Reject,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        merge_keys: serde_saphyr::MergeKeyPolicy::Merge,
        with_snippet: false,
    }
}

/// Renders a parser message without its ` at line L, column C` suffix: the location is
/// given once, as `file:line:column`, in front.
struct NoLocation;

impl serde_saphyr::Localizer for NoLocation {
    fn attach_location<'a>(&self, base: Cow<'a, str>, _: serde_saphyr::Location) -> Cow<'a, str> {
        base
    }
}

/// Reads YAML text as `T` with the pipeline dialect and limits; an error is
/// `file:line:column` (just `file` when the parser knows no place, as for a budget) and the
/// message, after the path of the key at fault when there is one.
pub(crate) fn from_yaml<T: serde::de::DeserializeOwned>(file: &str, source: &str) -> Result<T> {
    let mut path = None;
    serde_saphyr::with_deserializer_from_str_with_options(source, yaml_options(), |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            path = Some(e.path().clone());
            e.into_inner()
        })
    })
    .map_err(|e| {
        let at = e
            .location()
            .map(|l| format!("{file}:{}:{}", l.line(), l.column()))
            .unwrap_or_else(|| file.to_string());
        let formatter = serde_saphyr::UserMessageFormatter.with_localizer(&NoLocation);
        let message = e.render_with_options(serde_saphyr::render_options! {
            formatter: &formatter,
            snippets: serde_saphyr::SnippetMode::Off,
        });
        let path = path.map(|p| key_path(&p, &message)).unwrap_or_default();
        let message = if path.is_empty() {
            message
        } else {
            format!("{path}: {message}")
        };
        Error::invalid(at, "pipeline file", message)
    })
}

/// `lambda_deployment_pipeline.stages[0]`: where the parser was, without the segments it
/// could not name, nor the key an `unknown field` message names already.
fn key_path(path: &serde_path_to_error::Path, message: &str) -> String {
    use serde_path_to_error::Segment;
    let mut segments: Vec<&Segment> = path.iter().filter(|s| !matches!(s, Segment::Unknown)).collect();
    if let Some(Segment::Map { key }) = segments.last()
        && message.contains(&format!("unknown field `{key}`"))
    {
        segments.pop();
    }
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}

/// Parses the text (pass 1).
pub(crate) fn parse(file: &str, source: &str) -> Result<PipelineFile> {
    check_shape(file, source)?;
    from_yaml(file, source)
}

/// Merges `over` into `base` key by key (maps recursively; anything else is replaced).
pub(crate) fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// `${VAR}` and `${VAR:-default}` in one string; `lookup` gives variables.
pub(crate) fn interpolate(text: &str, path: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| Error::invalid(path, text, "an unterminated `${`: write ${NAME} or ${NAME:-default}"))?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(Error::invalid(
                path,
                format!("${{{inner}}}"),
                "a variable name holds only letters, digits and _",
            ));
        }
        match lookup(name).or_else(|| default.map(str::to_string)) {
            Some(v) => out.push_str(&v),
            None => {
                return Err(Error::invalid(
                    path,
                    format!("${{{name}}}"),
                    format!(
                        "the variable {name} is not set: export it, define it under environments.<env>.variables, or write ${{{name}:-default}}"
                    ),
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Interpolates every string in `value` (pass 2), recording the values of secret keys.
pub(crate) fn interpolate_value(
    value: &mut Value,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    secrets: &mut BTreeSet<String>,
) -> Result<()> {
    match value {
        Value::String(s) => {
            // The value of a secret key is a secret, even when it fails to interpolate.
            *s = interpolate(s, path, lookup).map_err(|e| match e {
                Error::InvalidInput { field, reason, .. } if is_secret_key(path) => {
                    Error::invalid(field, crate::REDACTED, reason)
                }
                other => other,
            })?;
            if is_secret_key(path) && !s.is_empty() {
                secrets.insert(s.clone());
            }
        }
        Value::Array(seq) => {
            for (i, v) in seq.iter_mut().enumerate() {
                interpolate_value(v, &format!("{path}[{i}]"), lookup, secrets)?;
            }
        }
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                interpolate_value(v, &format!("{path}.{key}"), lookup, secrets)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The secret values of a block that is not used (a disabled integration): never applied,
/// but still secrets written in the file, so the redactor must know them. A value that
/// cannot be interpolated here (its variable is unset) is skipped, not an error.
pub(crate) fn collect_secrets(
    value: &Value,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    secrets: &mut BTreeSet<String>,
) {
    match value {
        Value::String(s) if is_secret_key(path) => {
            if let Ok(v) = interpolate(s, path, lookup).map(|v| v.trim().to_string())
                && !v.is_empty()
            {
                secrets.insert(v);
            }
        }
        Value::Array(seq) => {
            for (i, v) in seq.iter().enumerate() {
                collect_secrets(v, &format!("{path}[{i}]"), lookup, secrets);
            }
        }
        Value::Object(map) => {
            for (key, v) in map {
                collect_secrets(v, &format!("{path}.{key}"), lookup, secrets);
            }
        }
        _ => {}
    }
}

/// Keys whose values are secrets: auth credentials and explicitly secret variables.
fn is_secret_key(path: &str) -> bool {
    let last = path.rsplit('.').next().unwrap_or(path).to_ascii_lowercase();
    let in_auth = path.contains(".auth.") && !last.ends_with("_id");
    let secretish = ["secret", "password", "token", "key", "connection_string", "credentials"];
    path.contains("secret_environment_variables.")
        || (in_auth && last != "type" && secretish.iter().any(|s| last.contains(s)))
        || last.contains("secret_access_key")
        || last.contains("client_secret")
        || last.contains("session_token")
}

/// Replaces every known secret value with `***`.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// Secrets shorter than [`Redactor::MIN_LEN`] are not redacted (replacing every
    /// one- or two-character match would garble all output; such a value is no secret).
    pub const MIN_LEN: usize = 3;

    pub(crate) fn new(secrets: BTreeSet<String>) -> Redactor {
        let short = secrets
            .iter()
            .filter(|s| !s.is_empty() && s.len() < Self::MIN_LEN)
            .count();
        if short > 0 {
            tracing::warn!(
                count = short,
                "secret values shorter than {} characters are not redacted: use longer secrets",
                Self::MIN_LEN
            );
        }
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| s.len() >= Self::MIN_LEN).collect();
        // Longest first, so that a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { secrets }
    }

    /// `text` with every secret replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), crate::REDACTED);
            }
        }
        out
    }

    /// `value` with every secret inside its strings (keys too) replaced by `***`.
    pub fn redact_json(&self, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::String(s) => Value::String(self.redact(s)),
            Value::Array(a) => Value::Array(a.iter().map(|v| self.redact_json(v)).collect()),
            Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (self.redact(k), self.redact_json(v))).collect()),
            other => other.clone(),
        }
    }

    /// How many secrets it knows.
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// Whether it knows none.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_with_defaults_and_missing_variables() {
        let lookup = |k: &str| (k == "A").then(|| "1".to_string());
        assert_eq!(interpolate("x${A}y${B:-2}z", "p", &lookup).unwrap(), "x1y2z");
        let err = interpolate("${UNDEFINED}", "stages[0].steps[1].config.role_arn", &lookup).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("UNDEFINED") && msg.contains("stages[0].steps[1].config.role_arn"),
            "{msg}"
        );
        assert!(interpolate("${oops", "p", &lookup).is_err());
    }

    #[test]
    fn secrets_are_collected_and_redacted() {
        let mut v: Value = from_yaml(
            "t.yaml",
            "auth: {type: access_key, access_key_id: AKIA1, secret_access_key: shh-secret}",
        )
        .unwrap();
        let mut secrets = BTreeSet::new();
        interpolate_value(&mut v, "aws_lambda_integration", &|_| None, &mut secrets).unwrap();
        let r = Redactor::new(secrets);
        assert_eq!(r.redact("key shh-secret!"), "key ***!");
        assert_eq!(r.len(), 1, "the key id and the auth type are not secrets");
    }

    fn tree(yaml: &str) -> Value {
        from_yaml("t.yaml", yaml).unwrap()
    }

    #[test]
    fn scalars_resolve_as_pipeline_files_were_written_for() {
        // Only true/false are booleans; YAML 1.1 spellings stay text.
        assert_eq!(
            tree("a: yes\nb: no\nc: on\nd: off\ne: y\nf: True\ng: false"),
            serde_json::json!({"a": "yes", "b": "no", "c": "on", "d": "off", "e": "y", "f": true, "g": false})
        );
        // Leading zeros and underscores stay text; prefixed radixes and exponents are numbers.
        assert_eq!(
            tree("a: 0755\nb: 007\nc: 1_000\nd: 0o755\ne: 0x1F\nf: 1e3\ng: -12\nh: 18446744073709551615"),
            serde_json::json!({"a": "0755", "b": "007", "c": "1_000", "d": 493, "e": 31, "f": 1000.0, "g": -12, "h": u64::MAX})
        );
        assert_eq!(
            tree("a: ~\nb: null\nc:\nd: ''\ne: '~'\nf: 2002-12-14\ng: !!str 123\nh: \"\\u00e9\\t\""),
            serde_json::json!({"a": null, "b": null, "c": null, "d": "", "e": "~", "f": "2002-12-14", "g": "123", "h": "\u{e9}\t"})
        );
        assert_eq!(
            tree("s: |\n  one\n  two\nf: >\n  folded\n  text\n"),
            serde_json::json!({"s": "one\ntwo\n", "f": "folded text\n"})
        );
        // A tag the engine does not know is ignored, as it always was.
        assert_eq!(tree("script: !shell 'true'"), serde_json::json!({"script": "true"}));
        assert_eq!(tree(""), Value::Null);
    }

    #[test]
    fn anchors_aliases_and_merge_keys_expand() {
        assert_eq!(
            tree("base: &b {x: 1, y: [1, 2]}\nsame: *b\nmore: {<<: *b, x: 3, z: 4}"),
            serde_json::json!({
                "base": {"x": 1, "y": [1, 2]},
                "same": {"x": 1, "y": [1, 2]},
                "more": {"x": 3, "y": [1, 2], "z": 4},
            })
        );
    }

    #[test]
    fn what_a_json_tree_cannot_hold_is_an_error_with_its_location() {
        for (yaml, at, says) in [
            ("a: 1\nb: {c: 2, c: 3}\n", "t.yaml:2:", "duplicate mapping key `c`"),
            ("a: 1\nb: .inf\n", "t.yaml:2:", "not a finite number"),
            ("a: .nan\n", "t.yaml:1:", "not a finite number"),
            ("a: 1\n---\nb: 2\n", "t.yaml:", "multiple"),
            ("a: *nowhere\n", "t.yaml:1:", "unknown"),
        ] {
            let e = from_yaml::<Value>("t.yaml", yaml).unwrap_err().to_string();
            assert!(e.contains(at) && e.contains(says), "{yaml:?}: {e}");
            assert!(!e.contains(" at line "), "the location is given once: {e}");
        }
    }

    #[test]
    fn merge_is_deep() {
        let mut a: Value = from_yaml("t.yaml", "{x: 1, m: {a: 1, b: 2}}").unwrap();
        let b: Value = from_yaml("t.yaml", "{m: {b: 3}, y: 4}").unwrap();
        merge(&mut a, &b);
        assert_eq!(
            a,
            from_yaml::<Value>("t.yaml", "{x: 1, m: {a: 1, b: 3}, y: 4}").unwrap()
        );
    }
}
