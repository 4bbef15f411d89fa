//! ARM `Microsoft.Web/sites` and their slots: create (a long-running operation) or update
//! (`PUT`, a `Site`), get, patch (only what `SitePatchResource` has), delete, app settings, site
//! config (`rampUpRules`), publishing credentials, host keys and slot swaps.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::publishing_password;
use super::state::{Pending, Site, State, start_op};
use super::wire::{error, ok};

/// A `PATCH sites/{name}` body with a member `SitePatchResource` (WebApps.json 2023-12-01,
/// the body of `WebApps_Update`) does not have — `tags`, `location`, `properties.functionAppConfig`,
/// … — answered as ARM answers a body it cannot deserialize (`400 InvalidRequestContent`). The
/// model is the one the request checker reads ([`super::arm_specs`]), so a call through the
/// fake's routes is refused there first; this is for the handler on its own.
fn outside_site_patch_resource(body: &Value) -> Option<Response> {
    let why = super::arm_specs::check_body("SitePatchResource", body).err()?;
    Some(error(
        400,
        "InvalidRequestContent",
        &format!("The request content was invalid and could not be deserialized: {why}"),
    ))
}

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
        // While a site's creation runs, App Service refuses another write to it: `409
        // Conflict`, "Cannot modify this site because another operation is in progress" (the
        // error azure-sdk-for-java#1827 and vscode-azureappservice#1306 quote).
        (Method::PUT, "") if s.creating(&key).is_some() => {
            let id = s.creating(&key).unwrap_or_default();
            error(
                409,
                "Conflict",
                &format!(
                    "Cannot modify this site because another operation is in progress. Details: Id: {id}, OperationName: Create"
                ),
            )
        }
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
            let given: Option<BTreeMap<String, String>> =
                body["properties"]["siteConfig"]["appSettings"].as_array().map(|a| {
                    a.iter()
                        .filter_map(|s| Some((s["name"].as_str()?.to_string(), s["value"].as_str()?.to_string())))
                        .collect()
                });
            let exists = s.sites.contains_key(&key);
            // Creating needs the settings; an update without them keeps the site's.
            if given.is_some() || !exists {
                let settings = given.clone().unwrap_or_default();
                for required in ["AzureWebJobsStorage", "FUNCTIONS_EXTENSION_VERSION"] {
                    if !settings.contains_key(required) {
                        return error(
                            400,
                            "BadRequest",
                            &format!("function apps need the app setting {required}"),
                        );
                    }
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
            if exists {
                // `WebApps_CreateOrUpdate` of an existing site updates it: the body's tags and
                // properties (`siteConfig.linuxFxVersion`, `functionAppConfig`, …) replace the
                // stored ones (the read-only ones are rendered); its settings, code, keys and
                // routing stay unless the body sets the settings.
                let site = s.sites.get_mut(&key).unwrap();
                site.kind = body["kind"].as_str().unwrap_or_default().to_string();
                site.tags = body["tags"].clone();
                site.props = props;
                if let Some(settings) = given {
                    site.settings = settings;
                    site.code = code;
                }
                site.modified = modified;
                let v = s.render(&arm_name, &s.sites[&key]);
                return ok(v);
            }
            let mut settings = given.unwrap_or_default();
            if s.connect_new_apps {
                settings
                    .entry(crate::app_insights::CONNECTION_STRING.into())
                    .or_insert_with(super::connection_string);
            }
            let site = Site {
                kind: body["kind"].as_str().unwrap_or_default().to_string(),
                tags: body["tags"].clone(),
                props,
                settings,
                rules: Vec::new(),
                key: format!("fake-function-key-{:016x}", s.rng.u64(..)),
                code,
                deploying: None,
                functions: Vec::new(),
                modified,
                basic_only: false,
            };
            let started = s.render(&arm_name, &site);
            let id = start_op(
                s,
                Pending::Create {
                    name: key,
                    site: Box::new(site),
                },
            );
            let op = format!(
                "{}/subscriptions/{}/providers/Microsoft.Web/locations/westeurope/operations/{id}?api-version=2023-12-01",
                s.base,
                super::SUBSCRIPTION
            );
            // `WebApps_CreateOrUpdate` / `_CreateOrUpdateSlot` answer 200 or 202 (WebApps.json
            // 2023-12-01; azure-mgmt-web 7.3 accepts `[200, 202]`), never 201: a new site is
            // 202 with the operation to follow and the `Site` as it starts.
            (
                StatusCode::ACCEPTED,
                [("azure-asyncoperation", op), ("retry-after", "0".into())],
                axum::Json(started),
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
        // `WebApps_ListFunctions` (`FunctionEnvelopeCollection`): what the host indexed.
        (Method::GET, "functions") => {
            let site_id = format!(
                "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Web/sites/{arm_name}",
                super::SUBSCRIPTION,
                super::RESOURCE_GROUP
            );
            let value: Vec<Value> = s.sites[&key]
                .functions
                .iter()
                .map(|f| {
                    json!({"id": format!("{site_id}/functions/{f}"), "name": format!("{arm_name}/{f}"),
                        "type": "Microsoft.Web/sites/functions",
                        "properties": {"function_app_id": site_id, "language": "python", "isDisabled": false}})
                })
                .collect();
            ok(json!({"value": value}))
        }
        // `WebApps_GetProductionSiteDeploymentStatus` (`CsmDeploymentStatus`) of a Kudu deployment.
        (Method::GET, p) if p.starts_with("deploymentStatus/") => {
            let id = &p["deploymentStatus/".len()..];
            match s.deployments.get(id).filter(|d| d.app == key) {
                None => error(404, "NotFound", "no such deployment"),
                Some(d) => {
                    let done = d.ready_at <= std::time::Instant::now();
                    let (status, ok_n, failed_n) = match (done, &d.fail) {
                        (false, _) => ("BuildInProgress", 0, 0),
                        (true, Some(_)) => ("BuildFailed", 0, 1),
                        (true, None) => ("RuntimeSuccessful", 1, 0),
                    };
                    ok(
                        json!({"id": format!("{}/deploymentStatus/{id}", s.render(&arm_name, &s.sites[&key])["id"].as_str().unwrap_or_default()),
                        "name": id, "type": "Microsoft.Web/sites/deploymentStatus",
                        "properties": {"deploymentId": id, "status": status,
                            "numberOfInstancesInProgress": if done { 0 } else { 1 },
                            "numberOfInstancesSuccessful": ok_n, "numberOfInstancesFailed": failed_n,
                            "failedInstancesLogs": [], "errors": []}}),
                    )
                }
            }
        }
        (Method::PATCH, "") => {
            if let Some(refused) = outside_site_patch_resource(body) {
                return refused;
            }
            let modified = s.next();
            let site = s.sites.get_mut(&key).unwrap();
            // What the body sets changes; `siteConfig` member by member.
            for (k, v) in body["properties"].as_object().into_iter().flatten() {
                match v.as_object() {
                    Some(config) if k == "siteConfig" => {
                        for (ck, cv) in config {
                            site.props["siteConfig"][ck] = cv.clone();
                        }
                    }
                    _ => site.props[k] = v.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn call(s: &mut State, method: Method, body: Value) -> (StatusCode, Value) {
        let answer = web(s, &method, "app", &body, None);
        let status = answer.status();
        let bytes = axum::body::to_bytes(answer.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    fn state() -> State {
        let mut s = State::new("https://fake");
        s.sites.insert(
            "app".into(),
            Site {
                kind: "functionapp,linux".into(),
                tags: json!({"team": "a"}),
                props: json!({"serverFarmId": "plan", "siteConfig": {"linuxFxVersion": "PYTHON|3.12"}}),
                settings: BTreeMap::from([("AzureWebJobsStorage".into(), "conn".into())]),
                ..Site::default()
            },
        );
        s
    }

    #[tokio::test]
    async fn patch_takes_only_what_site_patch_resource_has() {
        let mut s = state();
        let (status, e) = call(&mut s, Method::PATCH, json!({"tags": {"team": "b"}})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(e["error"]["code"], "InvalidRequestContent");
        assert!(e["error"]["message"].as_str().unwrap().contains("`tags`"), "{e}");
        let flex = json!({"properties": {"functionAppConfig": {"scaleAndConcurrency": {"instanceMemoryMB": 4096}}}});
        let (status, e) = call(&mut s, Method::PATCH, flex).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("properties.functionAppConfig"),
            "{e}"
        );
        assert_eq!(
            s.sites["app"].tags,
            json!({"team": "a"}),
            "a refused PATCH changes nothing"
        );
        let fx = json!({"properties": {"siteConfig": {"linuxFxVersion": "PYTHON|3.11"}}});
        let (status, site) = call(&mut s, Method::PATCH, fx).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(site["properties"]["siteConfig"]["linuxFxVersion"], "PYTHON|3.11");
    }

    #[tokio::test]
    async fn put_updates_an_existing_site_and_keeps_its_settings() {
        let mut s = state();
        let site = json!({"kind": "functionapp,linux", "location": "westeurope", "tags": {"team": "b"},
            "properties": {"serverFarmId": "plan", "siteConfig": {"linuxFxVersion": "NODE|20"}, "other": 1}});
        let (status, after) = call(&mut s, Method::PUT, site).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(after["tags"], json!({"team": "b"}));
        assert_eq!(after["properties"]["siteConfig"]["linuxFxVersion"], "NODE|20");
        assert_eq!(after["properties"]["other"], 1);
        assert_eq!(s.sites["app"].settings["AzureWebJobsStorage"], "conn");
    }
}
