//! Invoking a function: a `POST` of the event to its URL (or a tag's, or the service's) with
//! an ID token for that URL; only synchronous calls.

use std::collections::BTreeMap;
use std::time::Instant;

use faas_core::{Error, Invocation, InvokeMode, Result};

use crate::auth::IdTokenCache;

/// Refuses the invocation modes HTTP functions do not have, before any call.
pub(crate) fn check_mode(mode: &InvokeMode) -> Result<()> {
    match mode {
        InvokeMode::Sync => Ok(()),
        InvokeMode::Async => Err(unsupported(
            "asynchronous invocation",
            "HTTP functions answer synchronously; publish to Pub/Sub or Cloud Tasks for fire-and-forget",
        )),
        InvokeMode::DryRun => Err(unsupported("dry-run invocation", "call the function instead")),
    }
}

/// Calls `function` at `url` with `body`; `executed_version` is the version that URL pins.
pub(crate) async fn post(
    http: &reqwest::Client,
    id_tokens: &IdTokenCache,
    function: &str,
    url: &str,
    body: Vec<u8>,
    executed_version: Option<String>,
) -> Result<Invocation> {
    let token = id_tokens.get(url).await?;
    let started = Instant::now();
    let mut req = http.post(url).header("content-type", "application/json").body(body);
    if let Some(t) = &token {
        req = req.bearer_auth(t.secret());
    }
    let resp = req
        .send()
        .await
        .map_err(|e| Error::other("transport", format!("invoking {function}: {}", e.without_url()), true))?;
    let status = resp.status().as_u16();
    let headers: BTreeMap<String, String> = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let payload = resp.bytes().await.map_err(|e| {
        Error::other(
            "transport",
            format!("reading {function}'s answer: {}", e.without_url()),
            true,
        )
    })?;
    let elapsed = started.elapsed();
    let text = || String::from_utf8_lossy(&payload).chars().take(300).collect::<String>();
    match status {
        401 => {
            return Err(Error::unauthenticated(format!(
                "{function} refused the call (401): {}",
                text()
            )));
        }
        403 => {
            return Err(Error::permission_denied(
                Some(format!("run.routes.invoke on {function}'s service (roles/run.invoker)")),
                text(),
            ));
        }
        _ => {}
    }
    Invocation::from_http(function, status, headers, payload.to_vec(), elapsed, executed_version)
}

fn unsupported(operation: &str, hint: &str) -> Error {
    Error::unsupported(operation, Some(hint.into()))
}
