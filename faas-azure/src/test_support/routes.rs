//! The fake's one request handler, dispatching on the path: the Entra token endpoint
//! (`/{tenant}/oauth2/v2.0/token`), ARM (`/subscriptions/…`), Kudu (`/scm/{app}/…`), the
//! function hosts (`/hosts/{app}[-{slot}]/api/{function}`) and the Application Insights API
//! (`/appinsights/v1/apps/{appId}/query`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::app_insights;
use super::arm_specs;
use super::auth::{publishing_basic, token};
use super::identity;
use super::invoke::invoke;
use super::kudu::kudu;
use super::monitor::metrics;
use super::sites::web;
use super::state::{Fault, State};
use super::wire::{self, decode, error, ok, sha};
use faas_core::conformance::faults::FaultKind;

pub(crate) fn router(state: Arc<Mutex<State>>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(state)
}

/// Serves one request, first meeting the one-shot [`Fault::Kind`] a test queued for it.
async fn handle(
    AxumState(state): AxumState<Arc<Mutex<State>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let kind = {
        let mut s = state.lock().unwrap();
        let path = uri.path();
        s.faults
            .iter()
            .position(|(m, p, f)| matches!(f, Fault::Kind(_)) && *m == method.as_str() && path.contains(p.as_str()))
            .and_then(|i| match s.faults.remove(i).2 {
                Fault::Kind(k) => Some(k),
                Fault::Status(..) => None,
            })
    };
    let Some(kind) = kind else {
        return serve(state, method, uri, headers, body).await;
    };
    let reset = |when: &str| -> ! {
        // resume_unwind: no panic message for an injected fault; hyper closes the socket.
        std::panic::resume_unwind(Box::new(format!("injected connection reset {when} {method} {uri}")))
    };
    match kind {
        FaultKind::Status(code) => wire::arm_fault(code, &kind),
        FaultKind::Throttle { retry_after_s } => {
            let mut answer = wire::arm_fault(429, &kind);
            if let Some(s) = retry_after_s {
                answer.headers_mut().insert("retry-after", s.into());
            }
            answer
        }
        FaultKind::ResetBefore => reset("before"),
        FaultKind::ResetAfter => {
            drop(serve(state, method.clone(), uri.clone(), headers, body).await);
            reset("after")
        }
        FaultKind::Stall(d) => {
            tokio::time::sleep(d).await;
            serve(state, method, uri, headers, body).await
        }
    }
}

async fn serve(state: Arc<Mutex<State>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_string();
    let query: BTreeMap<String, String> = uri
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), decode(v)))
                .collect()
        })
        .unwrap_or_default();
    let json_body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    // The package a settings write points at is read outside the lock, as the host would.
    let in_site = json_body["properties"]["siteConfig"]["appSettings"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == crate::settings::RUN_FROM_PACKAGE))
        .and_then(|s| s["value"].as_str());
    let package = match json_body["properties"][crate::settings::RUN_FROM_PACKAGE]
        .as_str()
        .or(in_site)
    {
        Some(url) if method == Method::PUT => Some(readable(url).await),
        _ => None,
    };
    let mut s = state.lock().unwrap();
    s.requests.push(format!("{method} {uri}"));
    if let Err(violation) = arm_specs::check(method.as_str(), &path, uri.query().unwrap_or_default(), &body) {
        s.violations.push(format!("{method} {path}: {violation}"));
        return error(
            400,
            "InvalidRequestContent",
            &format!("not what the operation's definition allows: {violation}"),
        );
    }
    s.settle();
    let fault = s
        .faults
        .iter()
        .position(|(m, p, f)| matches!(f, Fault::Status(..)) && *m == method.as_str() && path.contains(p.as_str()))
        .map(|i| s.faults.remove(i).2);
    if let Some(Fault::Status(code, arm_code)) = fault {
        return error(code, arm_code, "injected fault");
    }
    if path.ends_with("/oauth2/v2.0/token") && identity::is_assertion_grant(&body) {
        return identity::assertion_token(&mut s, &path, &body);
    }
    if path.ends_with("/oauth2/v2.0/token") {
        return token(&mut s, &path, &body);
    }
    if path == identity::APP_SERVICE_IDENTITY_PATH || path == identity::IMDS_PATH {
        return identity::managed_identity(&mut s, &path, &query, &headers);
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    if let Some(rest) = path.strip_prefix("/hosts/") {
        return invoke(&mut s, rest, &headers, &json_body);
    }
    if let Some(rest) = path.strip_prefix("/appinsights/v1/apps/") {
        if !bearer.is_some_and(|b| s.ai_tokens.contains(&b)) {
            let body = json!({"error": {"message": "Valid authentication was not provided", "code": "AuthorizationRequiredError"}});
            return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
        }
        return match rest.strip_suffix("/query") {
            Some(app_id) if method == Method::POST => app_insights::query(&s, app_id, &json_body),
            _ => {
                let body =
                    json!({"error": {"message": "The requested path does not exist", "code": "PathNotFoundError"}});
                (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
            }
        };
    }
    let bearer_ok = bearer.is_some_and(|b| s.tokens.contains(&b));
    if let Some(rest) = path.strip_prefix("/scm/") {
        let app = rest.split('/').next().unwrap_or_default().to_string();
        let basic = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .map(str::to_string);
        let basic_ok = basic.as_deref() == Some(publishing_basic(&app).as_str());
        let allowed = match s.sites.get(&app) {
            Some(site) if site.basic_only => basic_ok,
            _ => bearer_ok || basic_ok,
        };
        if !allowed {
            return (StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
        }
        return kudu(&mut s, &method, rest, &body);
    }
    if !bearer_ok {
        return error(401, "InvalidAuthenticationToken", "The access token is invalid.");
    }
    if !query.contains_key("api-version") {
        return error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
    }
    let prefix = format!("/subscriptions/{}/", super::SUBSCRIPTION);
    let Some(rest) = path.strip_prefix(&prefix) else {
        return error(404, "SubscriptionNotFound", "The subscription could not be found.");
    };
    if let Some(id) = rest.strip_prefix("providers/Microsoft.Web/locations/westeurope/operations/") {
        return match s.ops.get(id) {
            Some(o) if o.pending.is_none() => ok(json!({"status": "Succeeded"})),
            Some(_) => ok(json!({"status": "InProgress"})),
            None => error(404, "NotFound", "operation not found"),
        };
    }
    if let Some(id) = rest.strip_prefix("providers/Microsoft.Web/locations/westeurope/operationResults/") {
        return match s.ops.get(id) {
            Some(o) if o.pending.is_none() => StatusCode::OK.into_response(),
            Some(_) => (StatusCode::ACCEPTED, [("retry-after", "0")]).into_response(),
            None => error(404, "NotFound", "operation not found"),
        };
    }
    let group = format!("resourceGroups/{}/providers/", super::RESOURCE_GROUP);
    let Some(rest) = rest.strip_prefix(&group) else {
        return error(404, "ResourceGroupNotFound", "Resource group could not be found.");
    };
    if let Some(account) = rest.strip_prefix("Microsoft.Storage/storageAccounts/") {
        return match account.strip_suffix("/listKeys") {
            Some(super::ACCOUNT) if method == Method::POST => ok(json!({"keys": [
                {"keyName": "key1", "value": super::ACCOUNT_KEY, "permissions": "FULL"},
                {"keyName": "key2", "value": super::ACCOUNT_KEY, "permissions": "FULL"}]})),
            _ => error(404, "ResourceNotFound", "The storage account was not found."),
        };
    }
    if let Some(plan) = rest.strip_prefix("Microsoft.Web/serverfarms/") {
        return server_farm(&method, plan);
    }
    let Some(rest) = rest.strip_prefix("Microsoft.Web/sites/") else {
        return error(404, "ResourceNotFound", "no such resource type");
    };
    if let Some(site) = rest.strip_suffix("/providers/Microsoft.Insights/metrics") {
        return metrics(&s, &method, site, &query);
    }
    web(&mut s, &method, rest, &json_body, package)
}

/// Reads a run-from-package URL the way the Functions host does (Azurite checks the SAS),
/// retrying a few times what storage answers with a server error or a dropped connection, as
/// the host retries its package download (a fault layer may sit in front of the blobs).
async fn readable(url: &str) -> Option<String> {
    for attempt in 1..=6u32 {
        match reqwest::get(url).await {
            Ok(resp) if resp.status().is_success() => {
                if let Ok(bytes) = resp.bytes().await {
                    return Some(sha(&bytes));
                }
            }
            Ok(resp) if resp.status().is_client_error() => return None,
            _ => {}
        }
        tokio::time::sleep(std::time::Duration::from_millis(20 * u64::from(attempt))).await;
    }
    None
}

/// `AppServicePlans_Get` of the fake's plans: `ep1` (Elastic Premium, Linux, the one apps are
/// created on) and `y1` (Linux Consumption: sku `Y1`, tier `Dynamic`).
fn server_farm(method: &Method, plan: &str) -> Response {
    let (sku, tier, kind) = match plan {
        "ep1" => ("EP1", "ElasticPremium", "elastic"),
        "y1" => ("Y1", "Dynamic", "functionapp"),
        _ => return error(404, "ResourceNotFound", "The App Service plan was not found."),
    };
    if method != Method::GET {
        return error(405, "MethodNotAllowed", "method not allowed");
    }
    let id = format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Web/serverfarms/{plan}",
        super::SUBSCRIPTION,
        super::RESOURCE_GROUP
    );
    ok(
        json!({"id": id, "name": plan, "type": "Microsoft.Web/serverfarms", "location": "westeurope",
        "kind": kind, "sku": {"name": sku, "tier": tier}, "properties": {"reserved": true}}),
    )
}
