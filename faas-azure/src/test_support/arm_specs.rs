//! The fake's request checker: every ARM call faas makes to `Microsoft.Web/sites` (and their
//! slots) and to `Microsoft.Storage/storageAccounts/listKeys` is checked against the
//! operations of azure-rest-api-specs, as the official Python SDKs generated from them define
//! them, before the fake handles it — the method and URL template, the query parameters (and
//! the api-version faas is meant to send), and the body (the operation's body model: no member
//! the model lacks, values of their types; none when the operation takes no body). A violation
//! is answered `400 InvalidRequestContent` naming it and recorded: [`super::FakeAzure`] panics
//! on drop while violations it recorded are unread ([`super::FakeAzure::take_violations`]).
//!
//! The definitions (`arm_specs/*.json`, written by `arm_specs/vendor.py`) come from
//! azure-mgmt-web (api-version 2023-12-01, WebApps.json) and azure-mgmt-storage (2023-05-01,
//! storage.json); each names its source. Not covered: the Entra token endpoint (OAuth 2.0,
//! no definition on a registry), the managed-identity endpoints (App Service's `/msi/token`,
//! documented in prose only; IMDS's `/metadata/identity/oauth2/token`, not vendored), Kudu (`/scm/…`: documented in prose only, no OpenAPI
//! description ships), the function hosts (`/hosts/…`, the user's functions), the ARM
//! long-running-operation status URLs the fake hands out, Azure Monitor `Metrics_List`
//! (azure-mgmt-monitor is not installed) and the Application Insights query API.

use std::sync::OnceLock;

use serde_json::Value;

use super::wire::decode;

const DEFINITIONS: &[&str] = &[
    include_str!("arm_specs/web.2023-12-01.json"),
    include_str!("arm_specs/plans.2023-12-01.json"),
    include_str!("arm_specs/storage.2023-05-01.json"),
];

fn definitions() -> &'static [Value] {
    static DEFS: OnceLock<Vec<Value>> = OnceLock::new();
    DEFS.get_or_init(|| {
        DEFINITIONS
            .iter()
            .map(|t| serde_json::from_str(t).expect("a vendored ARM definition"))
            .collect()
    })
}

/// What the fake serves that is not checked (see the module docs), by a part of the path:
/// endpoints without an official definition on a registry, and ARM ones whose definition is not
/// vendored.
const UNCHECKED: &[&str] = &[
    "/oauth2/v2.0/token",
    "/msi/token",
    "/metadata/identity/oauth2/token",
    "/scm/",
    "/hosts/",
    "/appinsights/",
    "/providers/Microsoft.Insights/metrics",
    "/providers/Microsoft.Web/locations/",
];

/// Checks one request; `Err` names what the operation's definition does not allow. A path
/// neither under a vendored operation nor in [`UNCHECKED`] is a violation too, so an endpoint
/// added to the fake is checked from its first request: vendor its operations
/// (`arm_specs/vendor.py`) or list it in [`UNCHECKED`] and say why in the module docs.
pub(super) fn check(method: &str, path: &str, query: &str, body: &[u8]) -> Result<(), String> {
    if UNCHECKED.iter().any(|u| path.contains(u)) {
        return Ok(());
    }
    let candidates: Vec<(&Value, &Value)> = definitions()
        .iter()
        .flat_map(|d| d["operations"].as_array().into_iter().flatten().map(move |o| (d, o)))
        .filter(|(_, o)| o["url"].as_str().is_some_and(|t| url_matches(t, path)))
        .collect();
    if candidates.is_empty() {
        return Err(format!("no operation has the URL {path}"));
    }
    let Some((def, op)) = candidates.iter().find(|(_, o)| o["method"] == method) else {
        return Err(format!("{path} takes no {method}"));
    };
    let name = op["operation"].as_str().unwrap_or_default();
    let known = op["query"].as_array().map(Vec::as_slice).unwrap_or_default();
    let mut api_version = None;
    for (key, value) in query.split('&').filter(|kv| !kv.is_empty()).map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (decode(k), decode(v))
    }) {
        if !known.iter().any(|k| *k == key.as_str()) {
            return Err(format!("{name}: no query parameter {key:?}"));
        }
        if key == "api-version" {
            api_version = Some(value);
        }
    }
    if api_version.as_deref() != def["apiVersion"].as_str() {
        return Err(format!(
            "{name}: api-version {api_version:?}, the definitions are of {}",
            def["apiVersion"]
        ));
    }
    let models = &def["models"];
    match op["body"].as_str() {
        None if body.is_empty() => Ok(()),
        None => Err(format!("{name} takes no body, got {} bytes", body.len())),
        Some(_) if body.is_empty() => Err(format!("{name} needs a body")),
        Some(model) => {
            let value: Value =
                serde_json::from_slice(body).map_err(|e| format!("{name}: the body is not JSON: {e}"))?;
            check_value(&value, &models[model], models, model, "").map_err(|e| format!("{name}: {e}"))
        }
    }
}

/// Checks `body` against the body model `model` (of whichever definition has it).
pub(super) fn check_body(model: &str, body: &Value) -> Result<(), String> {
    let models = definitions()
        .iter()
        .map(|d| &d["models"])
        .find(|m| m.get(model).is_some())
        .ok_or_else(|| format!("no definition has the model {model}"))?;
    check_value(body, &models[model], models, model, "")
}

/// Whether `path` fits the URL template: each `{x}` one non-empty segment. ARM matches the
/// literal segments without regard to case.
fn url_matches(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| match t.starts_with('{') && t.ends_with('}') {
                true => !p.is_empty(),
                false => t.eq_ignore_ascii_case(p),
            })
}

/// Checks a JSON value against a model field as msrest serializes it.
fn check_value(value: &Value, field: &Value, models: &Value, of: &str, at: &str) -> Result<(), String> {
    if let Some(model) = field["$ref"].as_str() {
        return check_value(value, &models[model], models, model, at);
    }
    if value.is_null() {
        return Ok(());
    }
    let shown = if at.is_empty() {
        "the body".to_string()
    } else {
        format!("`{at}`")
    };
    let bad = |want: &str| Err(format!("{shown} is {value}, not {want}"));
    let join = |key: &str| {
        if at.is_empty() {
            key.to_string()
        } else {
            format!("{at}.{key}")
        }
    };
    match field["type"].as_str().unwrap_or_default() {
        "object" => {
            let Some(object) = value.as_object() else {
                return bad("an object");
            };
            for (key, v) in object {
                let Some(member) = field["fields"].get(key) else {
                    return Err(format!("`{}` is not a member of {of}", join(key)));
                };
                check_value(v, member, models, of, &join(key))?;
            }
            Ok(())
        }
        "map" => {
            let Some(object) = value.as_object() else {
                return bad("an object");
            };
            for (key, v) in object {
                check_value(v, &field["values"], models, of, &join(key))?;
            }
            Ok(())
        }
        "array" => {
            let Some(items) = value.as_array() else {
                return bad("an array");
            };
            for (i, item) in items.iter().enumerate() {
                check_value(item, &field["items"], models, of, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        "string" | "date-time" | "duration" if !value.is_string() => bad("a string"),
        "integer" if !(value.is_i64() || value.is_u64()) => bad("an integer"),
        "number" if !value.is_number() => bad("a number"),
        "boolean" if !value.is_boolean() => bad("a boolean"),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: &str = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Web/sites/app";

    #[test]
    fn the_definitions_name_their_source() {
        for d in definitions() {
            assert!(d["source"].as_str().is_some_and(|s| s.contains("azure-mgmt-")), "{d}");
        }
    }

    #[test]
    fn what_the_operations_allow_passes() {
        let site = br#"{"location": "westeurope", "kind": "functionapp,linux", "tags": {"a": "b"},
            "properties": {"serverFarmId": "plan", "siteConfig": {"linuxFxVersion": "PYTHON|3.12",
            "appSettings": [{"name": "A", "value": "1"}]},
            "functionAppConfig": {"scaleAndConcurrency": {"instanceMemoryMB": 2048}}}}"#;
        check("PUT", SITE, "api-version=2023-12-01", site).unwrap();
        check("PUT", &format!("{SITE}/slots/staging"), "api-version=2023-12-01", site).unwrap();
        check("GET", &format!("{SITE}/slots"), "api-version=2023-12-01", b"").unwrap();
        check(
            "POST",
            &format!("{SITE}/config/appsettings/list"),
            "api-version=2023-12-01",
            b"",
        )
        .unwrap();
        check(
            "GET",
            "/subscriptions/s/providers/Microsoft.Web/locations/x/operations/1",
            "",
            b"",
        )
        .unwrap();
    }

    #[test]
    fn members_methods_parameters_and_versions_the_definitions_lack_are_caught() {
        let v = "api-version=2023-12-01";
        let e = check("PATCH", SITE, v, br#"{"properties": {"functionAppConfig": {}}}"#).unwrap_err();
        assert!(
            e.contains("`properties.functionAppConfig` is not a member of SitePatchResource"),
            "{e}"
        );
        let e = check("PATCH", SITE, v, br#"{"tags": {"a": "b"}}"#).unwrap_err();
        assert!(e.contains("`tags` is not a member of SitePatchResource"), "{e}");
        let e = check(
            "PUT",
            SITE,
            v,
            br#"{"properties": {"siteConfig": {"numberOfWorkers": "2"}}}"#,
        )
        .unwrap_err();
        assert!(e.contains("numberOfWorkers") && e.contains("an integer"), "{e}");
        let e = check("PUT", SITE, "api-version=2022-03-01", b"{}").unwrap_err();
        assert!(e.contains("api-version"), "{e}");
        let e = check("GET", SITE, "api-version=2023-12-01&$expand=x", b"").unwrap_err();
        assert!(e.contains("no query parameter \"$expand\""), "{e}");
        let e = check("POST", SITE, v, b"").unwrap_err();
        assert!(e.contains("takes no POST"), "{e}");
        let e = check("GET", &format!("{SITE}/slots/a/b"), v, b"").unwrap_err();
        assert!(e.contains("no operation has the URL"), "{e}");
        let e = check("POST", &format!("{SITE}/syncfunctiontriggers"), v, b"{}").unwrap_err();
        assert!(e.contains("takes no body"), "{e}");
    }
}
