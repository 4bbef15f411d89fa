//! The checks, each a plain async function over `&dyn Provider` that panics on failure.

use crate::{
    ArtifactRef, DeployOptions, Error, FunctionSpec, InvokeMode, InvokeRequest, LabelModel, Plan, Provider,
    ProviderExt, PublishRequest, Routing, local_artifact,
};

use super::{Fixture, Scratch, cap};

/// Deploy, then invoke the latest code and get the function's answer.
pub async fn deploy_invoke_round_trip(p: &dyn Provider, fx: &Fixture) {
    let s = Scratch::new(p, fx, "roundtrip");
    let report = s.deploy("one", false).await;
    assert!(report.change.created, "first deploy must create: {:?}", report.change);
    let got = p.get(&s.name).await.expect("get after deploy");
    assert_eq!(got.code_sha256, report.code_sha256);
    assert_eq!(got.spec.memory_mb, fx.memory_mb);
    assert_eq!(got.spec.timeout_s, 3);
    let inv = s.invoke(None).await;
    assert_eq!(inv.status, 200);
    if fx.runs_code {
        assert_eq!(s.marker_of(&inv).as_deref(), Some("one"));
        let v: serde_json::Value = serde_json::from_slice(&inv.payload).expect("JSON answer");
        assert_eq!(v["event"]["probe"], true, "the event reaches the handler");
    }
    if cap(p).log_tail && fx.runs_code {
        assert!(inv.report.is_some(), "a provider with log tails reports durations");
        assert!(inv.log_tail.as_deref().is_some_and(|t| t.contains("REPORT")));
    }
    s.cleanup().await;
}

/// Deploying the same package and configuration twice changes nothing the second time.
pub async fn redeploy_unchanged_is_noop(p: &dyn Provider, fx: &Fixture) {
    let s = Scratch::new(p, fx, "noop");
    let first = s.deploy("same", false).await;
    let before = p.get(&s.name).await.expect("get");
    let second = s.deploy("same", false).await;
    assert!(
        second.change.is_noop(),
        "unchanged redeploy changed {:?}",
        second.change
    );
    assert!(second.plan.is_noop(), "unchanged redeploy planned {}", second.plan);
    assert_eq!(first.code_sha256, second.code_sha256);
    assert_eq!(
        p.get(&s.name).await.expect("get").revision,
        before.revision,
        "nothing rewritten"
    );
    // A configuration change is an update, not a no-op (the timeout: every provider sets it;
    // memory is the plan's on some Azure plans).
    let mut spec = s.spec();
    spec.timeout_s = 10;
    let changed = p
        .deploy_package(&spec, &s.package("same"), &DeployOptions::default())
        .await
        .expect("config deploy");
    assert!(
        changed.change.config_updated && !changed.change.code_updated,
        "{:?}",
        changed.change
    );
    s.cleanup().await;
}

/// A published version keeps its code when the latest code changes; publishing twice without
/// a change returns the same version.
pub async fn published_version_is_immutable(p: &dyn Provider, fx: &Fixture) {
    let s = Scratch::new(p, fx, "immutable");
    let v1 = s.deploy("v1", true).await.version.expect("version");
    let again = p
        .publish(&s.name, &PublishRequest::default())
        .await
        .expect("publish unchanged");
    assert_eq!(again.id, v1.id, "publishing unchanged code must not create a version");
    let r2 = s.deploy("v2", false).await;
    assert!(r2.change.code_updated);
    if fx.runs_code {
        assert_eq!(s.marker_of(&s.invoke(Some(&v1.id)).await).as_deref(), Some("v1"));
        assert_eq!(s.marker_of(&s.invoke(None).await).as_deref(), Some("v2"));
    }
    let versions = p.list_versions(&s.name).await.expect("list");
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].code_sha256, v1.code_sha256);
    assert_ne!(versions[0].code_sha256, r2.code_sha256);
    s.cleanup().await;
}

async fn two_versions(s: &Scratch<'_>) -> (String, String) {
    let a = s.deploy("a", true).await.version.expect("version a").id;
    let b = s.deploy("b", true).await.version.expect("version b").id;
    assert_ne!(a, b);
    (a, b)
}

/// A label moves from one version to another and invocations follow it; rollback returns it
/// to the previous version.
pub async fn label_move_and_rollback(p: &dyn Provider, fx: &Fixture) {
    let s = Scratch::new(p, fx, "label");
    let (a, b) = two_versions(&s).await;
    p.promote(&s.name, "live", &a).await.expect("label to a");
    let inv = s.invoke(Some("live")).await;
    if fx.reports_executed_version {
        assert_eq!(inv.executed_version.as_deref(), Some(a.as_str()));
    }
    p.promote(&s.name, "live", &b).await.expect("label to b");
    let label = p.get_label(&s.name, "live").await.expect("get label");
    assert_eq!(label.routing.primary, b);
    let serves = p.get_qualified(&s.name, "live").await.expect("what the label serves");
    assert_eq!(serves.code_sha256, s_code(p, &s.name, &b).await);
    assert_eq!(serves.version, b);
    let inv = s.invoke(Some("live")).await;
    if fx.reports_executed_version {
        assert_eq!(inv.executed_version.as_deref(), Some(b.as_str()));
    }
    if fx.runs_code {
        assert_eq!(s.marker_of(&inv).as_deref(), Some("b"));
    }
    let back = p.rollback(&s.name, "live").await.expect("rollback");
    assert_eq!(back.routing, Routing::to(&a));
    let err = p
        .rollback(&s.name, "live")
        .await
        .expect_err("nothing before the first version");
    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
    assert_eq!(p.list_labels(&s.name).await.expect("labels").len(), 1);
    s.cleanup().await;
}

async fn s_code(p: &dyn Provider, function: &str, version: &str) -> String {
    let versions = p.list_versions(function).await.expect("list versions");
    versions
        .into_iter()
        .find(|v| v.id == version)
        .map(|v| v.code_sha256)
        .expect("version listed")
}

/// Weighted routing sends about the configured share of invocations to the extra version.
///
/// The label is the provider's [`weighted_label`](crate::ProviderInfo::weighted_label) when it
/// names one (GCP: only the serving label, the function URL's traffic, can split), else `live`.
pub async fn weighted_split(p: &dyn Provider, fx: &Fixture) {
    if cap(p).weighted_versions == 0 {
        return;
    }
    let label = p.info().weighted_label.unwrap_or_else(|| "live".into());
    let s = Scratch::new(p, fx, "split");
    let (a, b) = two_versions(&s).await;
    let routing = Routing::to(&a).with(&b, 0.3);
    p.set_label(&s.name, &label, &routing).await.expect("weighted label");
    assert_eq!(p.get_label(&s.name, &label).await.expect("get").routing, routing);
    if !fx.reports_executed_version {
        s.cleanup().await;
        return;
    }
    let n = fx.split_samples;
    let mut to_b = 0;
    for _ in 0..n {
        let inv = s.invoke(Some(&label)).await;
        let v = inv.executed_version.expect("executed version");
        assert!(v == a || v == b, "ran {v}, routed to {a} and {b}");
        to_b += usize::from(v == b);
    }
    let share = to_b as f64 / n as f64;
    assert!((0.1..=0.5).contains(&share), "{to_b} of {n} went to the 30% version");
    s.cleanup().await;
}

/// Pruning keeps the newest N plus every routed version; a routed version cannot be deleted.
pub async fn prune_keeps_newest_and_routed(p: &dyn Provider, fx: &Fixture) {
    let s = Scratch::new(p, fx, "prune");
    if !cap(p).delete_versions {
        let err = p.prune_versions(&s.name, 1).await.expect_err("unsupported");
        assert!(matches!(err, Error::Unsupported { .. }), "{err}");
        return;
    }
    let mut ids = Vec::new();
    for m in ["p1", "p2", "p3", "p4"] {
        ids.push(s.deploy(m, true).await.version.expect("version").id);
    }
    let left: Vec<String> = if cap(p).has_labels() {
        p.promote(&s.name, "old", &ids[0]).await.expect("label");
        let err = p.delete_version(&s.name, &ids[0]).await.expect_err("routed version");
        assert!(matches!(err, Error::Conflict { .. }), "{err}");
        let deleted = p.prune_versions(&s.name, 2).await.expect("prune");
        assert_eq!(deleted, vec![ids[1].clone()]);
        vec![ids[0].clone(), ids[2].clone(), ids[3].clone()]
    } else {
        let deleted = p.prune_versions(&s.name, 2).await.expect("prune");
        assert_eq!(deleted, vec![ids[0].clone(), ids[1].clone()]);
        vec![ids[2].clone(), ids[3].clone()]
    };
    let listed: Vec<String> = p
        .list_versions(&s.name)
        .await
        .expect("list")
        .into_iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(listed, left);
    s.cleanup().await;
}

/// Missing things are typed `NotFound`; a bad payload is `InvalidInput`.
pub async fn typed_errors(p: &dyn Provider, fx: &Fixture) {
    let s = Scratch::new(p, fx, "errors");
    let missing = format!("{}-missing", s.name);
    let who = p.info().name;
    // Every error says which provider failed, in its field, its message and its JSON.
    let is_not_found = |e: &Error| {
        assert_eq!(e.provider(), who, "{e}");
        assert!(e.to_string().starts_with(&format!("{who}: ")), "{e}");
        assert_eq!(e.to_json()["provider"], who.as_str(), "{e}");
        matches!(e, Error::NotFound { .. })
    };
    let e = p.get(&missing).await.expect_err("get missing");
    assert!(is_not_found(&e), "{e}");
    if fx.invoke_rejects_missing {
        let e = p
            .invoke(&missing, &InvokeRequest::json(&serde_json::json!({})))
            .await
            .expect_err("invoke missing");
        assert!(is_not_found(&e), "{e}");
    }
    s.deploy("x", false).await;
    let e = p.get_label(&s.name, "nope").await.expect_err("missing label");
    if cap(p).has_labels() {
        assert!(is_not_found(&e), "{e}");
    } else {
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    }
    let e = p.get_qualified(&s.name, "99").await.expect_err("missing version");
    assert!(is_not_found(&e), "{e}");
    if fx.invoke_rejects_missing {
        let e = p
            .invoke(&s.name, &InvokeRequest::json(&serde_json::json!({})).qualifier("99"))
            .await
            .expect_err("missing version");
        assert!(is_not_found(&e), "{e}");
    }
    let bad = InvokeRequest {
        payload: b"{not json".to_vec(),
        ..InvokeRequest::default()
    };
    let e = p.invoke(&s.name, &bad).await.expect_err("bad payload");
    assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
    let name = s.name.clone();
    s.cleanup().await;
    let e = p.delete(&name).await.expect_err("deleted twice");
    assert!(is_not_found(&e), "{e}");
}

/// What the capability says is missing fails with `Unsupported`; what it says is there works.
pub async fn capability_is_honest(p: &dyn Provider, fx: &Fixture) {
    let c = cap(p);
    let s = Scratch::new(p, fx, "cap");
    s.deploy("c", false).await;
    let req = InvokeRequest {
        mode: InvokeMode::Async,
        ..InvokeRequest::json(&serde_json::json!({}))
    };
    match p.invoke(&s.name, &req).await {
        Ok(inv) => assert!(
            c.async_invoke && inv.status == 202,
            "async invoke: capability {c:?}, status {}",
            inv.status
        ),
        Err(e) => assert!(!c.async_invoke && matches!(e, Error::Unsupported { .. }), "{e}"),
    }
    if !c.has_labels() {
        let e = p.promote(&s.name, "live", "1").await.expect_err("labels unsupported");
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
        assert!(p.list_labels(&s.name).await.expect("no labels").is_empty());
    }
    let window = crate::observe::TimeWindow::last(std::time::Duration::from_secs(60));
    if !c.metrics {
        let e = p
            .metrics(&crate::observe::MetricsQuery::new(&s.name, window))
            .await
            .expect_err("metrics unsupported");
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    }
    if !c.logs {
        let e = p
            .logs(&crate::observe::LogQuery::new(&s.name, window))
            .await
            .expect_err("logs unsupported");
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    }
    if !c.slot_swap {
        let e = p.swap(&s.name, "staging").await.expect_err("swap unsupported");
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    }
    if c.label_model != LabelModel::Slot {
        let e = p
            .ramp_up(&s.name, "staging", 10.0)
            .await
            .expect_err("ramp-up unsupported");
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    }
    if c.weighted_versions == 0 {
        let (a, b) = two_versions(&s).await;
        let e = p
            .set_label(&s.name, "w", &Routing::to(a).with(b, 0.5))
            .await
            .expect_err("weights unsupported");
        assert!(
            matches!(e, Error::Unsupported { .. } | Error::InvalidInput { .. }),
            "{e}"
        );
    }
    s.cleanup().await;
}

/// A slot promoted by swapping it with production, through `dyn Provider`: production runs
/// what the slot ran; swapping again rolls back.
pub async fn slot_swap_promotes_and_swaps_back(p: &dyn Provider, fx: &Fixture) {
    let s = Scratch::new(p, fx, "swap");
    let (a, b) = (s.package("a"), s.package("b"));
    let staged = DeployOptions {
        publish: true,
        label: Some("staging".into()),
        ..DeployOptions::default()
    };
    p.deploy_package(&s.spec(), &b, &staged).await.expect("b to staging");
    p.deploy_package(&s.spec(), &a, &DeployOptions::default())
        .await
        .expect("a in production");
    let code = |d: crate::Deployment| d.code_sha256;
    assert_eq!(code(p.get(&s.name).await.expect("get")), a.sha256);
    p.swap(&s.name, "staging").await.expect("swap");
    assert_eq!(code(p.get(&s.name).await.expect("get")), b.sha256, "promoted by swap");
    p.swap(&s.name, "staging").await.expect("swap back");
    assert_eq!(code(p.get(&s.name).await.expect("get")), a.sha256, "swapped back");
    s.cleanup().await;
}

/// A plan applies as planned: once, by the provider that made it, with the code it names; a
/// plan read back from JSON can be shown but not applied.
pub async fn plans_apply_as_planned(p: &dyn Provider, fx: &Fixture) {
    let s = Scratch::new(p, fx, "plan");
    let pkg = s.package("p1");
    let artifact = p.upload(&s.name, &pkg).await.expect("upload");
    let plan = p.plan(&s.spec(), &artifact).await.expect("plan");
    assert!(plan.creates() && plan.can_apply(), "{plan:?}");
    assert_eq!(plan.planned_by(), p.info().name);
    let back: Plan = serde_json::from_str(&serde_json::to_string(&plan).expect("plan JSON")).expect("read back");
    assert_eq!(back, plan, "the JSON holds everything shown");
    assert_eq!(
        invalid_field(p.apply(&back, &artifact).await.expect_err("a plan read back")),
        "plan"
    );
    let other = ArtifactRef {
        sha256: "0".repeat(64),
        ..artifact.clone()
    };
    assert_eq!(
        invalid_field(p.apply(&plan, &other).await.expect_err("other code")),
        "artifact.sha256"
    );
    let out = p.apply(&plan, &artifact).await.expect("apply");
    assert!(out.change.created, "{:?}", out.change);
    assert_eq!(out.deployment.code_sha256, pkg.sha256);
    let again = p.plan(&s.spec(), &artifact).await.expect("plan again");
    assert!(again.is_noop(), "{again}");
    assert!(again.observed_revision.is_some() || p.get(&s.name).await.expect("get").revision.is_none());
    let same = p.apply(&again, &artifact).await.expect("apply a no-op");
    assert!(same.change.is_noop(), "{:?}", same.change);
    s.cleanup().await;
}

/// Invocations show up in the metrics (counted exactly) and the logs (with request ids).
pub async fn metrics_and_logs_see_invocations(p: &dyn Provider, fx: &Fixture) {
    use crate::observe::{LogQuery, MetricsQuery, TimeWindow, now_ms};
    let c = cap(p);
    let s = Scratch::new(p, fx, "observe");
    s.deploy("o", false).await;
    let start = now_ms();
    for _ in 0..3 {
        s.invoke(None).await;
    }
    let window = TimeWindow::between_ms(start.saturating_sub(60_000), now_ms() + 60_000).expect("window");
    if c.metrics {
        let m = p.metrics(&MetricsQuery::new(&s.name, window)).await.expect("metrics");
        assert_eq!((m.invocations, m.errors), (Some(3), Some(0)), "{m:?}");
        assert!(m.duration.is_some(), "{m:?}");
    } else {
        let e = p
            .metrics(&MetricsQuery::new(&s.name, window))
            .await
            .expect_err("no metrics");
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    }
    if c.logs {
        let page = p.logs(&LogQuery::new(&s.name, window)).await.expect("logs");
        let ids: std::collections::BTreeSet<_> = page.records.iter().filter_map(|r| r.request_id.clone()).collect();
        assert_eq!(ids.len(), 3, "one request id per invocation: {:?}", page.records);
    } else {
        let e = p.logs(&LogQuery::new(&s.name, window)).await.expect_err("no logs");
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    }
    s.cleanup().await;
}

fn invalid_field(e: Error) -> String {
    match e {
        Error::InvalidInput { field, .. } => field,
        other => panic!("expected InvalidInput, got {other}"),
    }
}

/// Names, labels and qualifiers that could leave a path or a URL are refused, typed, on every
/// operation, before the provider is called.
pub async fn names_are_checked_first(p: &dyn Provider, fx: &Fixture) {
    let s = Scratch::new(p, fx, "names");
    let pkg = s.package("n");
    let req = InvokeRequest::json(&serde_json::json!({}));
    for bad in ["../../evil", "a/b", "", "x y", "%2e%2e", &"n".repeat(65)] {
        let mut spec = s.spec();
        spec.name = bad.to_string();
        assert_eq!(
            invalid_field(p.upload(bad, &pkg).await.expect_err("upload")),
            "function"
        );
        let artifact = local_artifact(&pkg);
        assert_eq!(
            invalid_field(p.plan(&spec, &artifact).await.expect_err("plan")),
            "function"
        );
        assert_eq!(
            invalid_field(p.deploy(&spec, &artifact).await.expect_err("deploy")),
            "function"
        );
        assert_eq!(
            invalid_field(p.invoke(bad, &req).await.expect_err("invoke")),
            "function"
        );
        assert_eq!(invalid_field(p.get(bad).await.expect_err("get")), "function");
        assert_eq!(
            invalid_field(p.get_qualified(bad, "1").await.expect_err("qualified")),
            "function"
        );
        assert_eq!(invalid_field(p.delete(bad).await.expect_err("delete")), "function");
        let publish = p.publish(bad, &PublishRequest::default()).await;
        assert_eq!(invalid_field(publish.expect_err("publish")), "function");
        assert_eq!(
            invalid_field(p.list_versions(bad).await.expect_err("versions")),
            "function"
        );
        assert_eq!(
            invalid_field(p.delete_version(bad, "1").await.expect_err("delete version")),
            "function"
        );
        let label = p.set_label(bad, "live", &Routing::to("1")).await;
        assert_eq!(invalid_field(label.expect_err("set label")), "function");
        assert_eq!(
            invalid_field(p.get_label(bad, "live").await.expect_err("get label")),
            "function"
        );
        assert_eq!(invalid_field(p.list_labels(bad).await.expect_err("labels")), "function");
        assert_eq!(
            invalid_field(p.delete_label(bad, "live").await.expect_err("delete label")),
            "function"
        );
    }
    for bad in ["123", "$LATEST", "has space", "ünïcode", &"l".repeat(129), "../x"] {
        let e = p
            .set_label(&s.name, bad, &Routing::to("1"))
            .await
            .expect_err("bad label");
        if cap(p).has_labels() {
            assert_eq!(invalid_field(e), "label", "{bad:?}");
        } else {
            assert!(matches!(e, Error::Unsupported { .. }), "{e}");
        }
    }
    for bad in ["../1", "1.0", "a b", "live/../x", "%2F"] {
        let req = InvokeRequest::json(&serde_json::json!({})).qualifier(bad);
        assert_eq!(
            invalid_field(p.invoke(&s.name, &req).await.expect_err("qualifier")),
            "qualifier"
        );
        let e = p.get_qualified(&s.name, bad).await.expect_err("qualifier");
        assert_eq!(invalid_field(e), "qualifier");
    }
    for bad in ["../1", "$LATEST", "one"] {
        let e = p.delete_version(&s.name, bad).await.expect_err("bad version");
        assert!(
            matches!(e, Error::InvalidInput { .. } | Error::Unsupported { .. }),
            "{e}"
        );
    }
}

/// A variable that was secret and becomes plain, or is removed, never shows its old value in
/// a plan (text, JSON, Debug) or a dry-run report.
pub async fn old_secrets_stay_hidden(p: &dyn Provider, fx: &Fixture) {
    let s = Scratch::new(p, fx, "secrets");
    let pkg = s.package("s");
    let first: FunctionSpec = s
        .spec()
        .secret_env("TOKEN", "canary-was-secret")
        .secret_env("GONE", "canary-removed");
    p.deploy_package(&first, &pkg, &DeployOptions::default())
        .await
        .expect("deploy with secrets");
    let next = s.spec().env("TOKEN", "plain-now");
    let plan = p.plan(&next, &local_artifact(&pkg)).await.expect("plan");
    let dry = DeployOptions {
        dry_run: true,
        ..DeployOptions::default()
    };
    let report = p.deploy_package(&next, &pkg, &dry).await.expect("dry run");
    let json = serde_json::to_string(&report).expect("report JSON");
    let shown = format!("{plan}\n{plan:?}\n{json}\n{report:?}");
    assert!(!shown.contains("canary"), "an old secret value was shown:\n{shown}");
    assert!(!plan.is_noop(), "the change is planned");
    s.cleanup().await;
}
