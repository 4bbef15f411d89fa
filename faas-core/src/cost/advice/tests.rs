//! Every figure of the advice recomputed by hand from the inputs and the pricing file's JSON
//! (read here as plain JSON, not through the module's types).

#![allow(clippy::unwrap_used)]

use serde_json::Value;

use super::*;
use crate::cost::tune::{CleanupReport, Strategy, ValueResult};
use crate::cost::{CostBreakdown, Pricing};
use crate::observe::InvocationSample;
use crate::{Routing, Version};

const AWS: &str = include_str!("../../../pricing/aws-lambda.json");

fn price(rate: &str) -> f64 {
    let doc: Value = serde_json::from_str(AWS).unwrap();
    let tiers = &doc["regions"]["us-east-1"]["rates"][rate]["tiers"];
    tiers[0]["price"].as_f64().unwrap()
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() <= 1e-9 * b.abs().max(1e-6), "{a} != {b}");
}

fn spec(runtime: &str, timeout_s: u32) -> FunctionSpec {
    FunctionSpec::new("f", runtime.parse().unwrap(), "app.handler")
        .memory_mb(256)
        .timeout_s(timeout_s)
}

/// `n` invocations 10 s apart in one hour, durations 200, 250, ... ms, memory 40, 41, ... MB;
/// #0 and #12 cold (init 300.4 and 250.2 ms); #1 starts 100 ms after #0, while it runs.
fn metrics(n: u64) -> Metrics {
    let samples: Vec<InvocationSample> = (0..n)
        .map(|i| InvocationSample {
            start_ms: if i == 1 { 100 } else { i * 10_000 },
            version: "3".into(),
            duration_ms: 200.0 + 50.0 * i as f64,
            init_ms: match i {
                0 => Some(300.4),
                12 => Some(250.2),
                _ => None,
            },
            max_memory_mb: Some(40 + i as u32),
            error: false,
            throttled: false,
        })
        .collect();
    Metrics::from_samples(
        "f",
        None,
        TimeWindow::between_ms(0, 3_600_000).unwrap(),
        &samples,
        "test",
    )
}

fn version(id: &str, sha: &str, size: Option<u64>) -> Version {
    Version {
        id: id.into(),
        code_sha256: sha.into(),
        description: String::new(),
        code_size: size,
    }
}

/// Versions 1–3 of 1000, 2000 and 3000 bytes; 1 has the code `first_sha`.
fn three_versions(first_sha: &str) -> Vec<Version> {
    vec![
        version("1", first_sha, Some(1_000)),
        version("2", "b", Some(2_000)),
        version("3", "c", Some(3_000)),
    ]
}

fn labels() -> Vec<Label> {
    vec![
        Label {
            name: "live".into(),
            routing: Routing::to("3"),
        },
        Label {
            name: "canary".into(),
            routing: Routing::to("3").with("2", 0.1),
        },
    ]
}

/// The advice on `provider` with the default options and Lambda's limits.
fn on(provider: &str, spec: &FunctionSpec, m: &Metrics, pricing: &Pricing, region: &str) -> Advice {
    advise(&AdviceInput::new(provider, spec, &Limits::LAMBDA, m, pricing, region)).unwrap()
}

fn invalid_field(e: Error) -> String {
    match e {
        Error::InvalidInput { field, .. } => field,
        other => panic!("not InvalidInput: {other:?}"),
    }
}

#[test]
fn aws_figures_by_hand() {
    let (spec, m, pricing) = (spec("python3.12", 10), metrics(25), Pricing::aws_default());
    let versions = three_versions("a");
    let labels = labels();
    let input = AdviceInput::new("aws", &spec, &Limits::LAMBDA, &m, &pricing, "us-east-1").versions(&versions, &labels);
    let a = advise(&input).unwrap();

    // 25 invocations in one hour → 25 × 730 a month.
    let n = 25.0 * 730.0;
    assert_eq!(a.monthly.invocations(), 18_250);
    // Timeout: max 200 + 50 × 24 = 1400 ms × 1.5 = 2.1 s → 3 s; 10 s is above the max.
    assert_eq!(
        (a.timeout.observed_ms, a.timeout.recommended_s),
        (Some(1400.0), Some(3))
    );
    assert!(a.timeout.warning.is_none() && a.warnings.is_empty());
    // Memory: 64 MB × 1.25 = 80 MB → Lambda's 128 MB minimum.
    assert_eq!((a.memory.max_used_mb, a.memory.from_usage_mb), (Some(64), Some(128)));
    assert_eq!(
        (a.memory.recommended_mb, a.memory.decided_by),
        (Some(128), Some(MemoryBasis::MaxMemoryUsed))
    );

    // Estimate: mean 800 ms at 0.25 GB; 2 of 25 cold, mean init 275.3 → 276 ms billed.
    let (gb, p) = (256.0 / 1024.0, price("duration_x86_64"));
    let compute = gb * 0.800 * n * p;
    let init = gb * 0.276 * n * (2.0 / 25.0) * p;
    let requests = n / 1e6 * price("requests");
    let e = a.estimate.as_ref().unwrap();
    assert_eq!((e.billed_duration_ms, e.billed_init_ms), (800.0, 276.0));
    close(e.per_month.compute, compute);
    close(e.per_month.init, init);
    close(e.per_month.requests, requests);
    close(e.per_invocation.total(), (compute + init + requests) / n);
    close(e.per_million.total(), (compute + init + requests) / n * 1e6);

    // Cold starts: their cost is the init; provisioned concurrency for the peak of 2.
    let c = &a.cold_starts;
    assert_eq!((c.cold_starts, c.peak_concurrency), (Some(2), Some(2)));
    close(c.share.unwrap(), 0.08);
    close(c.monthly_cost.unwrap(), init);
    let pc = &c.options[0];
    assert_eq!(
        (pc.kind, pc.instances),
        (ColdStartOptionKind::ProvisionedConcurrency, Some(2))
    );
    let pc_cost = 2.0 * gb * 730.0 * 3600.0 * price("provisioned_concurrency_x86_64")
        + gb * 0.800 * n * price("provisioned_duration_x86_64");
    close(pc.monthly_cost.unwrap(), pc_cost);
    close(pc.net_monthly.unwrap(), pc_cost - compute - init);
    let snap = &c.options[1];
    assert!(snap.kind == ColdStartOptionKind::SnapStart && snap.applies && snap.monthly_cost.is_none());
    assert!(snap.detail.contains("unpriced"), "{}", snap.detail);

    // Versions: 3 and 2 are routed (2 by weight); 1 is not, and frees its 1000 bytes.
    let v = &a.versions;
    assert_eq!(v.routed, ["2", "3"]);
    assert_eq!(v.unrouted.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(), ["1"]);
    assert_eq!(
        (v.unrouted_bytes, v.freed_bytes, v.storage),
        (1_000, 1_000, StorageModel::PerVersion)
    );

    let text = a.to_string();
    assert!(
        text.contains("timeout: 3 s recommended (observed max 1400 ms × 1.5), now 10 s"),
        "{text}"
    );
    assert!(
        text.contains("memory: 128 MB recommended (max used 64 MB × 1.25)"),
        "{text}"
    );
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(json["timeout"]["judgement"]["status"], "recommended");
}

#[test]
fn timeout_below_the_observed_max_warns() {
    let (spec, m, pricing) = (spec("python3.12", 1), metrics(25), Pricing::aws_default());
    let o = AdviceOptions {
        timeout_basis: TimeoutBasis::P99,
        timeout_headroom: 2.0,
        ..Default::default()
    };
    let a = advise(&AdviceInput::new("local", &spec, &Limits::LAMBDA, &m, &pricing, "us-east-1").options(o)).unwrap();
    // p99 of 25 is the 25th value: 1400 ms × 2 = 2.8 s → 3 s.
    assert_eq!(
        (a.timeout.observed_ms, a.timeout.recommended_s),
        (Some(1400.0), Some(3))
    );
    let w = a.timeout.warning.as_deref().unwrap();
    assert!(w.contains("1 s") && w.contains("1400 ms"), "{w}");
    assert_eq!(a.warnings, [w.to_string()]);
    assert!(a.to_string().contains("WARNING"));
}

#[test]
fn too_few_invocations_is_not_enough_data() {
    let (spec, m, pricing) = (spec("python3.12", 1), metrics(5), Pricing::aws_default());
    let a = on("local", &spec, &m, &pricing, "us-east-1");
    let none = Judgement::NotEnoughData {
        invocations: 5,
        needed: 20,
    };
    assert_eq!((&a.timeout.judgement, a.timeout.recommended_s), (&none, None));
    assert_eq!((&a.memory.judgement, a.memory.recommended_mb), (&none, None));
    // The longest of the five (400 ms) is below the 1 s timeout: no warning.
    assert!(a.warnings.is_empty());
    // The estimate is still made from what was measured: 5 in an hour → 3650 a month.
    assert_eq!(a.monthly.invocations(), 3_650);
    assert!(a.estimate.is_some());
    assert_eq!(a.cold_starts.judgement, none);
    assert!(a.to_string().contains("not enough data (5 invocations, 20 needed)"));
}

#[test]
fn snapstart_only_where_the_runtime_supports_it() {
    let (m, pricing) = (metrics(25), Pricing::aws_default());
    for (runtime, why) in [
        ("nodejs20.x", "nodejs20.x is not supported"),
        ("python3.11", "python3.12 or later"),
        ("provided.al2023", "OS-only"),
    ] {
        let spec = spec(runtime, 10);
        let a = on("aws", &spec, &m, &pricing, "us-east-1");
        let snap = a
            .cold_starts
            .options
            .iter()
            .find(|o| o.kind == ColdStartOptionKind::SnapStart)
            .unwrap();
        assert!(!snap.applies && snap.detail.contains(why), "{runtime}: {}", snap.detail);
    }
    let mut big_tmp = spec("python3.13", 10);
    big_tmp.aws.ephemeral_storage_mb = Some(1024);
    assert!(snapstart_support(&big_tmp).unwrap_err().contains("512 MB"));
}

#[test]
fn gcp_and_azure_name_their_analogues_unpriced() {
    let m = metrics(25);
    let spec = spec("python3.12", 10);
    let gcp = Pricing::gcp_default();
    let a = on("gcp", &spec, &m, &gcp, "us-central1");
    let kinds: Vec<_> = a.cold_starts.options.iter().map(|o| o.kind).collect();
    assert_eq!(kinds, [ColdStartOptionKind::MinInstances]);
    assert!(a.cold_starts.options[0].monthly_cost.is_none());
    assert!(
        a.cold_starts.options[0]
            .detail
            .contains("min_instance_count = 2: unpriced")
    );

    let azure = Pricing::azure_default();
    let spec = spec.memory_mb(2048);
    let mut m = m;
    m.cold_starts = None;
    m.init_duration = None;
    let o = AdviceOptions {
        estimate: EstimateOptions {
            allow_unpriced: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let a = advise(&AdviceInput::new("azure", &spec, &Limits::LAMBDA, &m, &azure, "eastus").options(o)).unwrap();
    let c = &a.cold_starts;
    assert_eq!((c.cold_starts, c.monthly_cost), (None, None));
    assert_eq!(c.options[0].kind, ColdStartOptionKind::AlwaysReady);
    assert!(
        c.options[0].detail.contains("no always_ready_baseline rate in eastus"),
        "{}",
        c.options[0].detail
    );
    // Azure Flex instance sizes: 64 MB × 1.25 → the smallest allowed size that fits.
    assert_eq!(a.memory.from_usage_mb, Some(512));
}

#[test]
fn local_pruning_frees_only_code_nothing_else_holds() {
    let (spec, m, pricing) = (spec("python3.12", 10), metrics(25), Pricing::aws_default());
    let mut versions = three_versions("latest");
    versions.extend([version("4", "d", Some(500)), version("5", "d", Some(500))]);
    let labels = labels();
    let a = advise(
        &AdviceInput::new("local", &spec, &Limits::LAMBDA, &m, &pricing, "us-east-1")
            .versions(&versions, &labels)
            .latest_code("latest"),
    )
    .unwrap();
    // 1 shares $LATEST's code; 4 and 5 share one artifact.
    assert_eq!((a.versions.unrouted_bytes, a.versions.freed_bytes), (2_000, 500));

    // GCP and Azure say no size: unknown, not zero.
    let gcp = Pricing::gcp_default();
    let unknown = vec![version("1", "a", None), version("3", "c", None)];
    let a =
        advise(&AdviceInput::new("gcp", &spec, &Limits::LAMBDA, &m, &gcp, "us-central1").versions(&unknown, &labels))
            .unwrap();
    assert_eq!((a.versions.unknown_sizes, a.versions.sizes_known()), (1, false));
    assert!(a.to_string().contains("frees an unknown amount"));
}

fn tuned(chosen: u32, used: u32) -> TuningReport {
    let value = ValueResult {
        memory_mb: chosen,
        vcpu: None,
        invocations: 10,
        errors: 0,
        failed: None,
        cold_starts: 1,
        duration_ms: 100.0,
        stats: None,
        billed_ms: 100.0,
        cost_per_invocation: 0.0,
        cost_per_million: 0.0,
        breakdown: CostBreakdown::default(),
        max_memory_used_mb: Some(used),
        duration_source: "report".into(),
        unpriced: vec![],
    };
    TuningReport {
        function: "f".into(),
        provider: "local".into(),
        strategy: Strategy::Cost,
        invocations: 10,
        parallel: 1,
        cold_starts_only: false,
        trim: 0.2,
        pricing: "aws-lambda.json".into(),
        region: "us-east-1".into(),
        currency: "USD".into(),
        monthly_invocations: 1_000_000,
        original_memory_mb: 256,
        values: vec![value],
        chosen_memory_mb: Some(chosen),
        applied: None,
        cleaned_before: CleanupReport::default(),
        versions_removed: vec![],
        labels_removed: vec![],
        elapsed_ms: 0,
        power_tuning_url: String::new(),
    }
}

#[test]
fn memory_from_the_tuning_report_never_below_what_was_used() {
    let (spec, m, pricing) = (spec("python3.12", 10), metrics(25), Pricing::aws_default());
    let input = AdviceInput::new("local", &spec, &Limits::LAMBDA, &m, &pricing, "us-east-1");
    let report = tuned(512, 70);
    let a = advise(&input.clone().tuning(&report)).unwrap();
    // 70 MB (the tuning runs' max, above the window's 64) × 1.25 = 87.5 → 128; tuning chose 512.
    assert_eq!((a.memory.max_used_mb, a.memory.from_usage_mb), (Some(70), Some(128)));
    assert_eq!(
        (a.memory.recommended_mb, a.memory.decided_by),
        (Some(512), Some(MemoryBasis::Tuning))
    );
    let report = tuned(128, 200);
    let a = advise(&input.tuning(&report)).unwrap();
    // 200 × 1.25 = 250 MB, above the tuned 128: usage decides.
    assert_eq!(
        (a.memory.recommended_mb, a.memory.decided_by),
        (Some(250), Some(MemoryBasis::MaxMemoryUsed))
    );
}

#[test]
fn bad_input_names_the_field() {
    let (spec, m, aws) = (spec("python3.12", 10), metrics(25), Pricing::aws_default());
    let input = AdviceInput::new("aws", &spec, &Limits::LAMBDA, &m, &aws, "us-east-1");
    let o = AdviceOptions {
        timeout_headroom: 0.5,
        ..Default::default()
    };
    assert_eq!(
        invalid_field(advise(&input.clone().options(o)).unwrap_err()),
        "timeout_headroom"
    );
    assert_eq!(
        invalid_field(advise(&input.clone().monthly(0)).unwrap_err()),
        "monthly_invocations"
    );
    let mut mars = input.clone();
    mars.region = "mars-1";
    assert_eq!(invalid_field(advise(&mars).unwrap_err()), "region");
    let mut wrong = input;
    wrong.provider = "gcp";
    assert_eq!(invalid_field(advise(&wrong).unwrap_err()), "pricing");
}
