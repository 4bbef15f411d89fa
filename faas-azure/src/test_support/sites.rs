//! ARM `Microsoft.Web/sites` and their slots: create or replace (a long-running operation),
//! get, patch, delete, app settings, site config (`rampUpRules`), publishing credentials, host
//! keys and slot swaps.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::publishing_password;
use super::state::{Pending, Site, State, start_op};
use super::wire::{error, ok};

pub(super) fn web(
    s: &mut State,
    method: &Method,
    rest: &str,
    body: &Value,
    package: Option<Option<String>>,
) -> Response {
    // `{app}`, `{app}/slots`, `{app}/slots/{slot}`, then an optional suffix.
    let parts: Vec<&str> = rest.split('/').collect();
    let app = parts[0].to_string();
    let (slot, suffix): (Option<String>, Vec<&str>) = match parts.get(1) {
        Some(&"slots") if parts.len() >= 3 => (Some(parts[2].to_string()), parts[3..].to_vec()),
        _ => (None, parts[1..].to_vec()),
    };
    let key = match &slot {
        Some(sl) => format!("{app}-{sl}"),
        None => app.clone(),
    };
    let arm_name = match &slot {
        Some(sl) => format!("{app}/{sl}"),
        None => app.clone(),
    };
    let suffix = suffix.join("/");
    if slot.is_some() && !s.sites.contains_key(&app) {
        return error(
            404,
            "ResourceNotFound",
            &format!("The Resource 'Microsoft.Web/sites/{app}' was not found."),
        );
    }
    match (method.clone(), suffix.as_str()) {
        (Method::PUT, "") => {
            if body["properties"]["serverFarmId"].as_str().is_none_or(str::is_empty) {
                return error(
                    400,
                    "BadRequest",
                    "The parameter properties.serverFarmId has an invalid value.",
                );
            }
            if !body["kind"].as_str().unwrap_or_default().contains("functionapp") {
                return error(400, "BadRequest", "kind must be functionapp");
            }
            let settings: BTreeMap<String, String> = body["properties"]["siteConfig"]["appSettings"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| Some((s["name"].as_str()?.to_string(), s["value"].as_str()?.to_string())))
                .collect();
            for required in ["AzureWebJobsStorage", "FUNCTIONS_EXTENSION_VERSION"] {
                if !settings.contains_key(required) {
                    return error(
                        400,
                        "BadRequest",
                        &format!("function apps need the app setting {required}"),
                    );
                }
            }
            let fx = body["properties"]["siteConfig"]["linuxFxVersion"]
                .as_str()
                .unwrap_or_default();
            if body["properties"]["functionAppConfig"].is_null()
                && !(fx.starts_with("PYTHON|") || fx.starts_with("NODE|"))
            {
                return error(
                    400,
                    "BadRequest",
                    &format!("linuxFxVersion {fx:?} is not a supported runtime"),
                );
            }
            let mut props = body["properties"].clone();
            if let Some(sc) = props["siteConfig"].as_object_mut() {
                sc.remove("appSettings");
            }
            let modified = s.next();
            let code = package.flatten();
            let site = Site {
                kind: body["kind"].as_str().unwrap_or_default().to_string(),
                tags: body["tags"].clone(),
                props,
                settings,
                rules: Vec::new(),
                key: format!("fake-function-key-{:016x}", s.rng.u64(..)),
                code,
                deploying: None,
                modified,
                basic_only: false,
            };
            if s.sites.contains_key(&key) {
                s.sites.insert(key.clone(), site);
                let v = s.render(&arm_name, &s.sites[&key]);
                return ok(v);
            }
            let id = start_op(s, Pending::Create { name: key, site });
            let op = format!(
                "{}/subscriptions/{}/providers/Microsoft.Web/locations/westeurope/operations/{id}?api-version=2023-12-01",
                s.base,
                super::SUBSCRIPTION
            );
            (
                StatusCode::CREATED,
                [("azure-asyncoperation", op), ("retry-after", "0".into())],
            )
                .into_response()
        }
        (Method::GET, "slots") => {
            let prefix = format!("{app}-");
            let value: Vec<Value> = s
                .sites
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix))
                .map(|(k, site)| s.render(&format!("{app}/{}", &k[prefix.len()..]), site))
                .collect();
            ok(json!({"value": value}))
        }
        (_, "slots") => error(405, "MethodNotAllowed", "method not allowed"),
        _ if !s.sites.contains_key(&key) => error(
            404,
            "ResourceNotFound",
            &format!(
                "The Resource 'Microsoft.Web/sites/{arm_name}' under resource group '{}' was not found.",
                super::RESOURCE_GROUP
            ),
        ),
        (Method::GET, "") => ok(s.render(&arm_name, &s.sites[&key])),
        (Method::PATCH, "") => {
            let modified = s.next();
            let site = s.sites.get_mut(&key).unwrap();
            if !body["tags"].is_null() {
                site.tags = body["tags"].clone();
            }
            if let Some(fx) = body["properties"]["siteConfig"]["linuxFxVersion"].as_str() {
                site.props["siteConfig"]["linuxFxVersion"] = json!(fx);
            }
            if let Some(fac) = body["properties"]["functionAppConfig"].as_object() {
                for (k, v) in fac {
                    site.props["functionAppConfig"][k] = v.clone();
                }
            }
            site.modified = modified;
            let v = s.render(&arm_name, &s.sites[&key]);
            ok(v)
        }
        (Method::DELETE, "") => {
            s.sites.remove(&key);
            if slot.is_none() {
                let prefix = format!("{app}-");
                s.sites.retain(|k, _| !k.starts_with(&prefix));
            }
            StatusCode::OK.into_response()
        }
        (Method::POST, "config/appsettings/list") => {
            ok(json!({"name": "appsettings", "properties": s.sites[&key].settings}))
        }
        (Method::PUT, "config/appsettings") => {
            if s.sites[&key].deploying.is_some() {
                return error(
                    409,
                    "Conflict",
                    "There is a deployment currently in progress. Please try again when it completes.",
                );
            }
            let Ok(settings) = serde_json::from_value::<BTreeMap<String, String>>(body["properties"].clone()) else {
                return error(400, "BadRequest", "properties must map names to string values");
            };
            let modified = s.next();
            let site = s.sites.get_mut(&key).unwrap();
            // Run from package: the host loads what the URL serves, or nothing.
            if let Some(read) = package {
                site.code = read;
            }
            site.settings = settings;
            site.modified = modified;
            ok(json!({"name": "appsettings", "properties": site.settings}))
        }
        (Method::POST, "syncfunctiontriggers") => StatusCode::NO_CONTENT.into_response(),
        (Method::POST, "config/publishingcredentials/list") => ok(json!({"properties": {
            "publishingUserName": format!("${key}"), "publishingPassword": publishing_password(&key)}})),
        (Method::POST, "host/default/listkeys") => ok(
            json!({"masterKey": "fake-master-key", "functionKeys": {"default": s.sites[&key].key}, "systemKeys": {}}),
        ),
        (Method::GET, "config/web") => ok(json!({"properties": {"experiments": {"rampUpRules": s.sites[&key].rules}}})),
        (Method::PATCH, "config/web") => {
            let rules = body["properties"]["experiments"]["rampUpRules"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for r in &rules {
                let p = r["reroutePercentage"].as_f64().unwrap_or(-1.0);
                if !(0.0..=100.0).contains(&p) {
                    return error(400, "BadRequest", "reroutePercentage must be 0-100");
                }
            }
            s.sites.get_mut(&key).unwrap().rules = rules;
            ok(json!({"properties": {"experiments": {"rampUpRules": s.sites[&key].rules}}}))
        }
        (Method::POST, "slotsswap") => {
            let Some(sl) = slot.clone() else {
                return error(
                    400,
                    "BadRequest",
                    "swap a slot: POST sites/{app}/slots/{slot}/slotsswap",
                );
            };
            if body["targetSlot"] != "production" {
                return error(400, "BadRequest", "targetSlot must be production here");
            }
            let id = start_op(s, Pending::Swap { app, slot: sl });
            let loc = format!(
                "{}/subscriptions/{}/providers/Microsoft.Web/locations/westeurope/operationResults/{id}?api-version=2023-12-01",
                s.base,
                super::SUBSCRIPTION
            );
            (StatusCode::ACCEPTED, [("location", loc), ("retry-after", "0".into())]).into_response()
        }
        _ => error(404, "NotFound", &format!("no such endpoint: {method} {rest}")),
    }
}
