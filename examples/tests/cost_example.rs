//! The cost example, run as a user runs it on the local provider: its JSON figures against a
//! recomputation from the local metrics and the pricing file, the warning exit code, and
//! errors as JSON.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::example;
use faas_core::local::LocalProvider;
use faas_core::observe::{MetricsQuery, TimeWindow};
use faas_core::{DeployOptions, FunctionSpec, InvokeRequest, Provider, ProviderExt};
use faas_package::PackageBuilder;
use serde_json::Value;

const AWS: &str = include_str!("../../faas-core/pricing/aws-lambda.json");

/// Deploys `name` twice (versions 1 and 2, `live` ending on 2) from code that sleeps
/// `event["sleep"]` seconds; returns the size of version 1's package.
async fn deploy(p: &LocalProvider, dir: &Path, name: &str, timeout_s: u32) -> u64 {
    let spec = FunctionSpec::new(name, "python3.12".parse().unwrap(), "app.handler")
        .memory_mb(256)
        .timeout_s(timeout_s);
    let mut first = 0;
    for v in 1..=2 {
        let src = dir.join(format!("{name}-src{v}"));
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(
            src.join("app.py"),
            format!(
                "import time\n\ndef handler(event, context):\n    time.sleep(event.get('sleep', 0))\n    return {{'version': {v}}}\n"
            ),
        )
        .unwrap();
        let pkg = PackageBuilder::new(&src)
            .runtime(spec.runtime.clone())
            .handler("app.handler")
            .output(dir.join(format!("{name}-v{v}.zip")))
            .build()
            .unwrap();
        if v == 1 {
            first = pkg.size;
        }
        let opts = DeployOptions {
            publish: true,
            label: Some("live".into()),
            ..Default::default()
        };
        p.deploy_package(&spec, &pkg, &opts).await.unwrap();
    }
    first
}

fn cost(state: &Path, function: &str, extra: &[&str]) -> Output {
    Command::new(example("cost"))
        .args(["--function", function, "--since", "7d", "--state-dir"])
        .arg(state)
        .args(extra)
        .output()
        .unwrap()
}

fn rate(doc: &Value, name: &str) -> f64 {
    doc["regions"]["us-east-1"]["rates"][name]["tiers"][0]["price"]
        .as_f64()
        .unwrap()
}

fn close(a: &Value, b: f64) {
    let a = a.as_f64().unwrap();
    assert!((a - b).abs() <= 1e-9 * b.abs().max(1e-9), "{a} != {b}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cost_json_matches_a_recomputation_from_the_local_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let p = LocalProvider::builder().state_dir(&state).build().unwrap();
    let v1_size = deploy(&p, dir.path(), "priced", 10).await;
    for i in 0..25 {
        let inv = p
            .invoke(
                "priced",
                &InvokeRequest::json(&serde_json::json!({"i": i})).qualifier("live"),
            )
            .await
            .unwrap();
        assert!(inv.function_error.is_none(), "{inv:?}");
    }

    let out = cost(&state, "priced", &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let a = &v["advice"];

    // The same figures, read from the local store here, recomputed by hand.
    let week = Duration::from_secs(7 * 86_400);
    let m = p
        .metrics(&MetricsQuery::new("priced", TimeWindow::last(week)))
        .await
        .unwrap();
    assert_eq!((m.invocations, a["invocations"].as_u64()), (Some(25), Some(25)));
    let d = m.duration.unwrap();
    let monthly = (25.0 * 730.0 * 3600.0 / week.as_secs_f64()).round();
    assert_eq!(a["monthly"]["invocations"].as_f64(), Some(monthly));
    assert_eq!(a["monthly"]["basis"], "extrapolated");

    let doc: Value = serde_json::from_str(AWS).unwrap();
    let (gb, p0) = (256.0 / 1024.0, rate(&doc, "duration_x86_64"));
    let cold = m.cold_starts.unwrap() as f64;
    let share = cold / 25.0;
    let billed = d.avg_ms.ceil();
    let billed_init = m.init_duration.map_or(0.0, |i| i.avg_ms.ceil());
    let e = &a["estimate"];
    assert_eq!(e["billed_duration_ms"].as_f64(), Some(billed));
    close(&e["per_month"]["compute"], gb * billed / 1000.0 * monthly * p0);
    close(
        &e["per_month"]["init"],
        gb * billed_init / 1000.0 * monthly * share * p0,
    );
    close(&e["per_month"]["requests"], monthly / 1e6 * rate(&doc, "requests"));
    close(
        &a["cold_starts"]["monthly_cost"],
        gb * billed_init / 1000.0 * monthly * share * p0,
    );

    // Timeout: the longest × 1.5, whole seconds, at least 1; memory: the most used × 1.25,
    // at least Lambda's 128 MB.
    let timeout = ((d.max_ms * 1.5 / 1000.0).ceil() as u64).max(1);
    assert_eq!(a["timeout"]["recommended_s"].as_u64(), Some(timeout));
    let used = f64::from(m.max_memory_used_mb.unwrap());
    let memory = ((used * 1.25).ceil() as u64).max(128);
    assert_eq!(a["memory"]["recommended_mb"].as_u64(), Some(memory));
    assert_eq!(a["memory"]["decided_by"], "max_memory_used");

    // Provisioned concurrency for the peak observed.
    let peak = m.peak_concurrency.unwrap() as f64;
    let pc = &a["cold_starts"]["options"][0];
    assert_eq!(pc["kind"], "provisioned_concurrency");
    close(
        &pc["monthly_cost"],
        peak * gb * 730.0 * 3600.0 * rate(&doc, "provisioned_concurrency_x86_64")
            + gb * billed / 1000.0 * monthly * rate(&doc, "provisioned_duration_x86_64"),
    );
    assert_eq!(
        a["cold_starts"]["options"][1]["applies"], true,
        "python3.12 has SnapStart"
    );

    // Version 1 is unrouted: its artifact (the package's bytes) is what pruning frees.
    let versions = &a["versions"];
    assert_eq!(versions["unrouted"][0]["id"], "1");
    assert_eq!(versions["unrouted"][0]["code_size"].as_u64(), Some(v1_size));
    assert_eq!(versions["freed_bytes"].as_u64(), Some(v1_size));
    assert_eq!(versions["routed"], serde_json::json!(["2"]));

    let text = cost(&state, "priced", &[]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("per million") && text.contains("1 unrouted"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timeout_below_the_longest_run_exits_3_and_errors_are_json() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let p = LocalProvider::builder().state_dir(&state).build().unwrap();
    deploy(&p, dir.path(), "slow", 1).await;
    for _ in 0..2 {
        let req = InvokeRequest::json(&serde_json::json!({"sleep": 1.5})).qualifier("live");
        let inv = p.invoke("slow", &req).await.unwrap();
        assert!(inv.function_error.is_some(), "it times out: {inv:?}");
    }
    let out = cost(&state, "slow", &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("WARNING: the timeout (1 s)"), "{text}");
    assert!(
        text.contains("timeout: not enough data (2 invocations, 20 needed)"),
        "{text}"
    );

    let bad = cost(&state, "slow", &["--json", "--monthly", "0"]);
    assert_eq!(bad.status.code(), Some(1));
    let e: Value = serde_json::from_slice(&bad.stderr).unwrap();
    assert_eq!(
        (e["error"]["kind"].as_str(), e["error"]["fields"]["field"].as_str()),
        (Some("invalid_input"), Some("monthly"))
    );
    let missing = cost(&state, "nobody", &["--json"]);
    assert_eq!(missing.status.code(), Some(1));
    let e: Value = serde_json::from_slice(&missing.stderr).unwrap();
    assert_eq!(e["error"]["kind"], "not_found");
}
