//! The fake's request checker: every call to Cloud Functions v2, Cloud Run Admin v2, IAM
//! Credentials, Cloud Monitoring v3 and Cloud Logging v2 is checked against Google's discovery
//! documents before the fake handles it — the method and path (the methods' `httpMethod` and
//! `flatPath`), every query parameter (known to the method or the document, of its type, one
//! of its `enum` values; each `updateMask` path a field of the request schema) and the body
//! (the method's `request` schema: no field the schema lacks, values of their types and
//! enums; none when the method takes no body). A violation is answered `400 INVALID_ARGUMENT`
//! naming it and recorded: [`super::FakeGcp`] panics on drop while violations it recorded
//! are unread ([`super::FakeGcp::take_violations`]).
//!
//! The documents are excerpts (`discovery/*.json`, written by `discovery/vendor.py` from the
//! ones google-api-python-client ships; each names its source and `revision`) holding the
//! methods faas calls and the schemas they reach. Not covered, as no machine-readable
//! definition of them ships on a registry: the OAuth token endpoint (`/token`, RFC 7523), the
//! metadata server's identity endpoint, the signed upload URLs (`/upload/…`, a V4-signed
//! Cloud Storage `PUT`) and the functions' own URLs (`/invoke/…`). Security Token Service's
//! `token` exchange (`/sts/…`) is not checked either: its discovery document ships with
//! google-api-python-client, but the client libraries send it form-encoded (RFC 8693), which
//! this JSON-schema checker does not read; the fake's handler checks its fields.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::wire::percent_decode;

/// The documents, by the path prefix the fake serves each API under.
const DOCUMENTS: &[(&str, &str)] = &[
    ("/functions/", include_str!("discovery/cloudfunctions.v2.json")),
    ("/run/", include_str!("discovery/run.v2.json")),
    ("/iam/", include_str!("discovery/iamcredentials.v1.json")),
    ("/monitoring/", include_str!("discovery/monitoring.v3.json")),
    ("/logging/", include_str!("discovery/logging.v2.json")),
];

fn documents() -> &'static [(&'static str, Value)] {
    static DOCS: OnceLock<Vec<(&'static str, Value)>> = OnceLock::new();
    DOCS.get_or_init(|| {
        DOCUMENTS
            .iter()
            .map(|(prefix, text)| {
                (
                    *prefix,
                    serde_json::from_str(text).expect("a vendored discovery document"),
                )
            })
            .collect()
    })
}

/// The paths the fake serves that no official definition on a registry describes (see the
/// module docs): checked by nothing but the fake's own handlers.
const UNDEFINED: &[&str] = &["/token", "/upload/", "/invoke/", "/computeMetadata/", "/sts/"];

/// Checks one request; `Err` names what the discovery document does not allow. A path neither
/// under a document's prefix nor in [`UNDEFINED`] is a violation too, so an endpoint added to
/// the fake is checked from its first request: vendor its document (`discovery/vendor.py`'s
/// `METHODS`, then [`DOCUMENTS`]) or, when none ships, list it in [`UNDEFINED`] and say so in
/// the module docs.
pub(super) fn check(method: &str, path: &str, query: &str, body: &[u8]) -> Result<(), String> {
    let Some((prefix, doc)) = documents().iter().find(|(p, _)| path.starts_with(p)) else {
        if UNDEFINED.iter().any(|u| path.starts_with(u)) {
            return Ok(());
        }
        return Err(format!(
            "no official definition covers {path}: vendor its discovery document or list it as undefined"
        ));
    };
    let rest = &path[prefix.len()..];
    let name = doc["name"].as_str().unwrap_or_default();
    let methods = doc["methods"].as_array().map(Vec::as_slice).unwrap_or_default();
    let on_path: Vec<&Value> = methods
        .iter()
        .filter(|m| m["flatPath"].as_str().is_some_and(|t| path_matches(t, rest)))
        .collect();
    if on_path.is_empty() {
        return Err(format!("{name}: no method has the path {rest}"));
    }
    let Some(m) = on_path.iter().find(|m| m["httpMethod"] == method) else {
        return Err(format!("{name}: {rest} takes no {method}"));
    };
    let id = m["id"].as_str().unwrap_or_default();
    let schemas = &doc["schemas"];
    let request = m["request"]["$ref"].as_str().map(|r| &schemas[r]);
    for (key, value) in query.split('&').filter(|kv| !kv.is_empty()).map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (percent_decode(k), percent_decode(v))
    }) {
        // System parameters may also come `$`-prefixed (`$alt=json;enum-encoding=int`, as
        // Google's REST clients send it: <https://cloud.google.com/apis/docs/system-parameters>).
        let system = key.strip_prefix('$').unwrap_or(&key);
        let param = m["parameters"]
            .get(&key)
            .filter(|p| p["location"] == "query")
            .or_else(|| doc["parameters"].get(system))
            .ok_or_else(|| format!("{id}: no query parameter {key:?}"))?;
        let value = match system {
            "alt" => value.split(';').next().unwrap_or_default().to_string(),
            _ => value,
        };
        check_parameter(id, &key, &value, param, request, schemas)?;
    }
    match request {
        None if body.is_empty() => Ok(()),
        None => Err(format!("{id} takes no body, got {} bytes", body.len())),
        Some(_) if body.is_empty() => Ok(()),
        Some(schema) => {
            let value: Value = serde_json::from_slice(body).map_err(|e| format!("{id}: the body is not JSON: {e}"))?;
            check_value(&value, schema, schemas, "").map_err(|e| format!("{id}: {e}"))
        }
    }
}

/// Whether `path` fits the `flatPath` template: each `{x}` one non-empty segment (with a
/// `:verb` after it where the template has one).
fn path_matches(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| match t.strip_prefix('{').and_then(|t| t.split_once('}')) {
                Some((_, verb)) => p.strip_suffix(verb).is_some_and(|v| !v.is_empty() && !v.contains(':')),
                None => t == p,
            })
}

fn check_parameter(
    id: &str,
    key: &str,
    value: &str,
    param: &Value,
    request: Option<&Value>,
    schemas: &Value,
) -> Result<(), String> {
    let bad = |why: &str| Err(format!("{id}: query parameter {key}={value:?} {why}"));
    match (param["type"].as_str(), param["format"].as_str()) {
        (Some("integer"), _) if value.parse::<i64>().is_err() => return bad("is not an integer"),
        (Some("boolean"), _) if !["true", "false"].contains(&value) => return bad("is not true or false"),
        (_, Some("google-fieldmask")) => {
            let Some(schema) = request else {
                return bad("is a field mask of a method without a body");
            };
            for path in value.split(',').filter(|p| !p.is_empty()) {
                if !mask_path_exists(path, schema, schemas) {
                    return bad(&format!("names {path:?}, which the request schema has not"));
                }
            }
        }
        (_, Some("google-datetime")) if !is_timestamp(value) => return bad("is not an RFC 3339 timestamp"),
        (_, Some("google-duration")) if !is_duration(value) => return bad("is not a duration such as 60s"),
        _ => {}
    }
    if let Some(allowed) = param["enum"].as_array()
        && !allowed.iter().any(|a| a == value)
    {
        return bad("is none of the enum's values");
    }
    Ok(())
}

/// Whether the dotted field-mask `path` names a field of `schema` (a map's keys and `any`
/// values end the walk: what follows is data).
fn mask_path_exists(path: &str, schema: &Value, schemas: &Value) -> bool {
    let mut at = resolve(schema, schemas);
    for part in path.split('.') {
        if at["type"] == "any" || at.get("additionalProperties").is_some() {
            return true;
        }
        let Some(next) = at["properties"].get(part) else {
            return false;
        };
        at = resolve(next, schemas);
        if at["type"] == "array" {
            at = resolve(&at["items"], schemas);
        }
    }
    true
}

fn resolve<'a>(schema: &'a Value, schemas: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => &schemas[r],
        None => schema,
    }
}

/// Checks a JSON value against a discovery schema, as Google's proto3 JSON parser reads it
/// (`null` is a field's default; 64-bit integers may come as strings or numbers).
fn check_value(value: &Value, schema: &Value, schemas: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(schema, schemas);
    if value.is_null() {
        return Ok(());
    }
    let bad = |want: &str| Err(format!("{} is {value}, not {want}", shown(at)));
    match schema["type"].as_str().unwrap_or_default() {
        "any" => Ok(()),
        "object" => {
            let Some(object) = value.as_object() else {
                return bad("an object");
            };
            check_object(object, schema, schemas, at)
        }
        "array" => {
            let Some(items) = value.as_array() else {
                return bad("an array");
            };
            for (i, item) in items.iter().enumerate() {
                check_value(item, &schema["items"], schemas, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        "boolean" if !value.is_boolean() => bad("a boolean"),
        "integer"
            if !(value.is_i64() || value.is_u64() || value.as_str().is_some_and(|s| s.parse::<i64>().is_ok())) =>
        {
            bad("an integer")
        }
        "number" if !(value.is_number() || value.is_string()) => bad("a number"),
        "string" => {
            let int64 = matches!(schema["format"].as_str(), Some("int64" | "uint64"));
            let Some(text) = value.as_str() else {
                return if int64 && (value.is_i64() || value.is_u64()) {
                    Ok(())
                } else {
                    bad("a string")
                };
            };
            if let Some(allowed) = schema["enum"].as_array()
                && !allowed.iter().any(|a| a == text)
            {
                return bad(&format!("one of {}", Value::Array(allowed.clone())));
            }
            match schema["format"].as_str() {
                Some("google-datetime") if !is_timestamp(text) => bad("an RFC 3339 timestamp"),
                Some("google-duration") if !is_duration(text) => bad("a duration such as 60s"),
                Some("int64" | "uint64") if text.parse::<i128>().is_err() => bad("a 64-bit integer"),
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

fn check_object(object: &Map<String, Value>, schema: &Value, schemas: &Value, at: &str) -> Result<(), String> {
    let properties = schema["properties"].as_object();
    let map_values = schema.get("additionalProperties");
    for (key, v) in object {
        let here = if at.is_empty() {
            key.clone()
        } else {
            format!("{at}.{key}")
        };
        match (properties.and_then(|p| p.get(key)), map_values) {
            (Some(field), _) | (None, Some(field)) => check_value(v, field, schemas, &here)?,
            (None, None) => {
                let of = schema["id"].as_str().unwrap_or("the object");
                return Err(format!("{} is not a field of {of}", shown(&here)));
            }
        }
    }
    Ok(())
}

fn shown(at: &str) -> String {
    if at.is_empty() {
        "the body".into()
    } else {
        format!("`{at}`")
    }
}

/// RFC 3339 as Google's JSON `Timestamp` takes it: `YYYY-MM-DDThh:mm:ss[.1-9 digits](Z|±hh:mm)`.
fn is_timestamp(t: &str) -> bool {
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let fixed = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && (b[10] == b'T' || b[10] == b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !fixed {
        return false;
    }
    let mut rest = &t[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if !(1..=9).contains(&n) {
            return false;
        }
        rest = &frac[n..];
    }
    rest == "Z" || rest == "z" || (rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')))
}

/// A JSON `Duration`: seconds with up to 9 fractional digits and an `s`.
fn is_duration(d: &str) -> bool {
    let Some(n) = d.strip_suffix('s') else {
        return false;
    };
    let n = n.strip_prefix('-').unwrap_or(n);
    let (whole, frac) = n.split_once('.').unwrap_or((n, "0"));
    !whole.is_empty()
        && whole.bytes().all(|c| c.is_ascii_digit())
        && (1..=9).contains(&frac.len())
        && frac.bytes().all(|c| c.is_ascii_digit())
}

/// The document's methods by id (for tests and docs).
#[cfg(test)]
fn method_ids() -> std::collections::BTreeMap<&'static str, Vec<String>> {
    documents()
        .iter()
        .map(|(prefix, d)| {
            let ids = d["methods"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["id"].as_str().map(str::to_string))
                .collect();
            (*prefix, ids)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FN: &str = "/functions/v2/projects/p/locations/l/functions";

    #[test]
    fn every_document_parses_and_names_its_source() {
        for (prefix, d) in documents() {
            assert!(
                d["source"]
                    .as_str()
                    .is_some_and(|s| s.contains("google-api-python-client")),
                "{prefix}"
            );
            assert!(d["revision"].is_string(), "{prefix}");
        }
        assert!(method_ids()["/functions/"].contains(&"cloudfunctions.projects.locations.functions.patch".into()));
    }

    #[test]
    fn a_valid_patch_passes() {
        let body =
            br#"{"serviceConfig": {"availableMemory": "512M", "ingressSettings": "ALLOW_ALL"}, "labels": {"a": "b"}}"#;
        check(
            "PATCH",
            &format!("{FN}/f"),
            "updateMask=serviceConfig.availableMemory%2Clabels",
            body,
        )
        .unwrap();
        check("POST", &format!("{FN}:generateUploadUrl"), "", b"{}").unwrap();
        check("GET", FN, "pageSize=2&pageToken=x&alt=json", b"").unwrap();
        check("GET", FN, "%24alt=json%3Benum-encoding%3Dint", b"").unwrap();
        assert!(check("GET", FN, "%24alt=xml", b"").is_err());
        check("POST", "/token", "", b"grant_type=x").unwrap();
        check("PUT", "/upload/x.zip", "Signature=s", b"PK").unwrap();
        let e = check("POST", "/nowhere/v1/token", "", b"").unwrap_err();
        assert!(e.contains("no official definition covers /nowhere/v1/token"), "{e}");
    }

    #[test]
    fn unknown_fields_enums_masks_parameters_and_paths_are_caught() {
        let e = check(
            "PATCH",
            &format!("{FN}/f"),
            "",
            br#"{"serviceConfig": {"memoryMb": 5}}"#,
        )
        .unwrap_err();
        assert!(
            e.contains("`serviceConfig.memoryMb` is not a field of ServiceConfig"),
            "{e}"
        );
        let e = check(
            "PATCH",
            &format!("{FN}/f"),
            "",
            br#"{"serviceConfig": {"ingressSettings": "OPEN"}}"#,
        )
        .unwrap_err();
        assert!(e.contains("ingressSettings") && e.contains("ALLOW_ALL"), "{e}");
        let e = check("PATCH", &format!("{FN}/f"), "updateMask=serviceConfig.memory", b"{}").unwrap_err();
        assert!(e.contains("serviceConfig.memory"), "{e}");
        let e = check("GET", FN, "page_size=2", b"").unwrap_err();
        assert!(e.contains("no query parameter \"page_size\""), "{e}");
        let e = check("GET", FN, "pageSize=two", b"").unwrap_err();
        assert!(e.contains("not an integer"), "{e}");
        let e = check("PUT", &format!("{FN}/f"), "", b"{}").unwrap_err();
        assert!(e.contains("takes no PUT"), "{e}");
        let e = check("GET", "/functions/v2/projects/p/functionz", "", b"").unwrap_err();
        assert!(e.contains("no method has the path"), "{e}");
        let e = check("DELETE", &format!("{FN}/f"), "", b"{}").unwrap_err();
        assert!(e.contains("takes no body"), "{e}");
    }

    #[test]
    fn timestamps_and_durations() {
        assert!(is_timestamp("2026-01-01T00:00:00Z") && is_timestamp("2026-01-01T00:00:00.123456789+01:00"));
        assert!(!is_timestamp("2026-01-01T00:00:00.12345678901234567890Z") && !is_timestamp("2026-01-01"));
        assert!(is_duration("60s") && is_duration("0.5s") && !is_duration("60") && !is_duration("1m"));
    }
}
