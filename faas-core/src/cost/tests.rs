//! Estimates recomputed by hand from the files' own numbers (read here as plain JSON, not
//! through the module's types), and the schema's refusals.

use serde_json::Value;

use super::*;
use crate::{Architecture, Error};

const AWS: &str = include_str!("../../pricing/aws-lambda.json");
const GCP: &str = include_str!("../../pricing/gcp-cloud-run-functions.json");
const AZURE: &str = include_str!("../../pricing/azure-functions-flex.json");

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// The price of tier `i` of `rate` in `region`, straight from the JSON.
fn price(doc: &Value, region: &str, rate: &str, i: usize) -> f64 {
    doc["regions"][region]["rates"][rate]["tiers"][i]["price"]
        .as_f64()
        .unwrap()
}

fn grant(doc: &Value, name: &str) -> f64 {
    doc["free_grants"][name]["value"].as_f64().unwrap()
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() <= 1e-9 * b.abs().max(1e-6), "{a} != {b}");
}

fn off() -> EstimateOptions {
    EstimateOptions::default()
}

fn invalid_field(e: &Error) -> &str {
    match e {
        Error::InvalidInput { field, .. } => field,
        other => panic!("not InvalidInput: {other:?}"),
    }
}

#[test]
fn shipped_files_pass_their_schema() {
    for cloud in [Cloud::Aws, Cloud::Gcp, Cloud::Azure] {
        let p = Pricing::default_for(cloud);
        assert_eq!(p.file().cloud, cloud);
        assert!(!p.file().regions.is_empty());
    }
}

#[test]
fn lambda_by_hand_with_init_and_storage() {
    let doc = json(AWS);
    let usage = Usage::new("us-east-1", 1024, 2_000_000)
        .duration_ms(99.2)
        .init(250.4, 0.02)
        .ephemeral_storage_mb(1024);
    let e = estimate(&Pricing::aws_default(), &usage, &off()).unwrap();
    // 1 ms rounding: 99.2 → 100 ms, 250.4 → 251 ms; 1024 MB = 1 GB.
    let (n, gb) = (2_000_000.0, 1.0);
    let compute = gb * 0.100 * n * price(&doc, "us-east-1", "duration_x86_64", 0);
    let init = gb * 0.251 * n * 0.02 * price(&doc, "us-east-1", "duration_x86_64", 0);
    let requests = n / 1e6 * price(&doc, "us-east-1", "requests", 0);
    let storage =
        (1024.0 - 512.0) / 1024.0 * (0.100 + 0.251 * 0.02) * n * price(&doc, "us-east-1", "ephemeral_storage", 0);
    assert_eq!((e.billed_duration_ms, e.billed_init_ms), (100.0, 251.0));
    close(e.per_month.compute, compute);
    close(e.per_month.init, init);
    close(e.per_month.requests, requests);
    close(e.per_month.storage, storage);
    let total = compute + init + requests + storage;
    close(e.per_month.total(), total);
    close(e.per_invocation.total(), total / n);
    close(e.per_million.total(), total / n * 1e6);
    assert!(e.unpriced.is_empty() && !e.free_grants);
}

#[test]
fn lambda_tiers_are_crossed_by_monthly_gb_s() {
    let doc = json(AWS);
    let p = |i| price(&doc, "us-east-1", "duration_x86_64", i);
    // 10 GB for 1 s: 10 GB-s an invocation. 700 M invocations = 7 billion GB-s: 6 in tier 1, 1 in tier 2.
    let usage = Usage::new("us-east-1", 10_240, 700_000_000).duration_ms(1000.0);
    let e = estimate(&Pricing::aws_default(), &usage, &off()).unwrap();
    close(e.per_month.compute, 6e9 * p(0) + 1e9 * p(1));
    close(e.per_month.requests, 700.0 * price(&doc, "us-east-1", "requests", 0));
    // 1.6 billion invocations = 16 billion GB-s: 6 + 9 + 1.
    let usage = Usage::new("us-east-1", 10_240, 1_600_000_000).duration_ms(1000.0);
    let e = estimate(&Pricing::aws_default(), &usage, &off()).unwrap();
    close(e.per_month.compute, 6e9 * p(0) + 9e9 * p(1) + 1e9 * p(2));
    // arm64: 8 billion GB-s crosses its 7.5 billion boundary.
    let a = |i| price(&doc, "us-east-1", "duration_arm64", i);
    let usage = Usage::new("us-east-1", 10_240, 800_000_000)
        .duration_ms(1000.0)
        .architecture(Architecture::Arm64);
    let e = estimate(&Pricing::aws_default(), &usage, &off()).unwrap();
    close(e.per_month.compute, 7.5e9 * a(0) + 0.5e9 * a(1));
    // 20 billion GB-s crosses its 18.75 billion boundary too.
    let usage = Usage::new("us-east-1", 10_240, 2_000_000_000)
        .duration_ms(1000.0)
        .architecture(Architecture::Arm64);
    let e = estimate(&Pricing::aws_default(), &usage, &off()).unwrap();
    close(e.per_month.compute, 7.5e9 * a(0) + 11.25e9 * a(1) + 1.25e9 * a(2));
}

#[test]
fn lambda_refuses_what_the_file_does_not_price() {
    // eu-west-1 above 6 billion GB-s: the higher tiers were not found, so no estimate.
    let usage = Usage::new("eu-west-1", 10_240, 700_000_000).duration_ms(1000.0);
    let e = estimate(&Pricing::aws_default(), &usage, &off()).unwrap_err();
    assert_eq!(invalid_field(&e), "regions.eu-west-1.rates.duration_x86_64.tiers");
    // eu-west-1 has no arm64 rate: the architecture is named.
    let usage = Usage::new("eu-west-1", 128, 1000)
        .duration_ms(10.0)
        .architecture(Architecture::Arm64);
    let e = estimate(&Pricing::aws_default(), &usage, &off()).unwrap_err();
    assert_eq!(invalid_field(&e), "architecture");
    assert!(e.to_string().contains("arm64"), "{e}");
    let e = estimate(&Pricing::aws_default(), &Usage::new("mars-1", 128, 1), &off()).unwrap_err();
    assert_eq!(invalid_field(&e), "region");
    assert!(e.to_string().contains("us-east-1"), "{e}");
}

#[test]
fn free_grants_are_off_by_default_and_on_when_asked() {
    let doc = json(AWS);
    // The pricing page's own example: 512 MB, 3 M invocations of 1 s.
    let usage = Usage::new("us-east-1", 512, 3_000_000).duration_ms(1000.0);
    let p1 = price(&doc, "us-east-1", "duration_x86_64", 0);
    let fee = price(&doc, "us-east-1", "requests", 0);
    let plain = estimate(&Pricing::aws_default(), &usage, &off()).unwrap();
    close(plain.per_month.compute, 1_500_000.0 * p1);
    close(plain.per_month.requests, 3.0 * fee);
    let on = EstimateOptions {
        free_grants: true,
        ..off()
    };
    let granted = estimate(&Pricing::aws_default(), &usage, &on).unwrap();
    assert!(granted.free_grants);
    close(granted.per_month.compute, (1_500_000.0 - grant(&doc, "duration")) * p1);
    close(
        granted.per_month.requests,
        (3_000_000.0 - grant(&doc, "requests")) / 1e6 * fee,
    );
}

#[test]
fn cloud_run_by_hand_with_default_vcpu_and_100ms_rounding() {
    let doc = json(GCP);
    let usage = Usage::new("us-central1", 512, 1_000_000)
        .duration_ms(120.0)
        .init(1000.0, 0.1);
    let e = estimate(&Pricing::gcp_default(), &usage, &off()).unwrap();
    // 512 MiB gets 0.333 vCPU; 120 ms → 200 ms; each cold start bills 1 s.
    let vcpu = doc["cpu_by_memory"]["steps"][2]["vcpu"].as_f64().unwrap();
    assert_eq!(doc["cpu_by_memory"]["steps"][2]["memory_mb"], 512);
    let (handler_s, init_s) = (0.2 * 1e6, 1.0 * 1e6 * 0.1);
    let per_s = vcpu * price(&doc, "us-central1", "vcpu", 0) + 0.5 * price(&doc, "us-central1", "memory", 0);
    assert_eq!((e.billed_duration_ms, e.vcpu), (200.0, Some(vcpu)));
    close(e.per_month.compute, handler_s * per_s);
    close(e.per_month.init, init_s * per_s);
    close(e.per_month.requests, price(&doc, "us-central1", "requests", 0));
    assert_eq!(e.per_month.storage, 0.0);
    // A given vCPU replaces the default.
    let e = estimate(&Pricing::gcp_default(), &usage.clone().vcpu(1.0), &off()).unwrap();
    let per_s = price(&doc, "us-central1", "vcpu", 0) + 0.5 * price(&doc, "us-central1", "memory", 0);
    close(e.per_month.compute + e.per_month.init, (handler_s + init_s) * per_s);
    // The free grants cover all of it: 99,900 vCPU-s, 150,000 GiB-s, 1 M requests.
    let on = EstimateOptions {
        free_grants: true,
        ..off()
    };
    let e = estimate(&Pricing::gcp_default(), &usage, &on).unwrap();
    assert!(vcpu * 300_000.0 < grant(&doc, "vcpu") && 150_000.0 < grant(&doc, "memory"));
    assert_eq!(e.per_month.total(), 0.0);
}

#[test]
fn azure_flex_by_hand_and_its_missing_rates() {
    let doc = json(AZURE);
    let usage = Usage::new("eastus", 2048, 1_000_000).duration_ms(250.5);
    // No executions rate was found: refused by default, naming the rate.
    let e = estimate(&Pricing::azure_default(), &usage, &off()).unwrap_err();
    assert_eq!(invalid_field(&e), "regions.eastus.rates.on_demand_executions");
    let lax = EstimateOptions {
        allow_unpriced: true,
        ..off()
    };
    let e = estimate(&Pricing::azure_default(), &usage, &lax).unwrap();
    // 250.5 ms rounds up to 300 ms, below the 1,000 ms minimum; 2048 MB = 2 GB.
    assert_eq!(doc["billing"]["minimum_billed_ms"]["value"], 1000);
    assert_eq!(e.billed_duration_ms, 1000.0);
    close(
        e.per_month.compute,
        2.0 * 1.0 * 1e6 * price(&doc, "eastus", "on_demand_execution", 0),
    );
    assert_eq!(
        e.unpriced,
        vec!["regions.eastus.rates.on_demand_executions".to_string()]
    );
    // Past the minimum, 1,234 ms bills 1,300 ms. With the grants, 100,000 GB-s are free and
    // 250,000 executions leave nothing of 200,000 to price (so nothing is unpriced).
    let usage = Usage::new("eastus", 4096, 200_000).duration_ms(1234.0);
    let both = EstimateOptions {
        allow_unpriced: true,
        free_grants: true,
    };
    let e = estimate(&Pricing::azure_default(), &usage, &both).unwrap();
    let gbs = 4.0 * 1.3 * 200_000.0;
    close(
        e.per_month.compute,
        (gbs - grant(&doc, "duration")) * price(&doc, "eastus", "on_demand_execution", 0),
    );
    assert!(e.unpriced.is_empty() && e.per_month.requests == 0.0);
    let e = estimate(&Pricing::azure_default(), &Usage::new("eastus", 1024, 1), &lax).unwrap_err();
    assert_eq!(invalid_field(&e), "memory_mb");
    let e = estimate(&Pricing::azure_default(), &Usage::new("westeurope", 2048, 1), &lax).unwrap_err();
    assert_eq!(invalid_field(&e), "region");
}

/// An edit of a pricing document.
type Edit = Box<dyn FnOnce(&mut Value)>;

/// The AWS file with `edit` applied, loaded.
fn edited(edit: impl FnOnce(&mut Value)) -> crate::Result<Pricing> {
    let mut doc = json(AWS);
    edit(&mut doc);
    Pricing::from_json("edited.json", &doc.to_string())
}

#[test]
fn schema_failures_name_the_field() {
    let rate = "regions.us-east-1.rates.duration_x86_64";
    let cases: Vec<(Edit, String)> = vec![
        (
            Box::new(|d| d["regions"]["us-east-1"]["rates"]["requests"]["tiers"][0]["price"] = (-0.2).into()),
            "regions.us-east-1.rates.requests.tiers[0].price".into(),
        ),
        (
            Box::new(|d| {
                d["regions"]["us-east-1"]["rates"]["requests"]
                    .as_object_mut()
                    .unwrap()
                    .remove("source");
            }),
            "regions.us-east-1.rates.requests.source".into(),
        ),
        (
            Box::new(|d| d["billing"]["mb_per_gb"]["source"] = "".into()),
            "billing.mb_per_gb.source".into(),
        ),
        (
            Box::new(|d| d["free_grants"]["requests"]["as_of"] = "last week".into()),
            "free_grants.requests.as_of".into(),
        ),
        (
            Box::new(|d| d["regions"]["us-east-1"]["rates"]["duration_x86_64"]["tiers"][1]["up_to"] = 1e9.into()),
            format!("{rate}.tiers[1].up_to"),
        ),
        (
            Box::new(|d| d["regions"]["us-east-1"]["rates"]["duration_x86_64"]["tiers"][0]["up_to"] = Value::Null),
            format!("{rate}.tiers[0].up_to"),
        ),
        (
            Box::new(|d| d["regions"]["us-east-1"]["rates"]["duration_x86_64"]["discount"] = 0.1.into()),
            format!("{rate}.discount"),
        ),
        (
            Box::new(|d| {
                d["regions"]["us-east-1"]["rates"]["durations_x86"] =
                    d["regions"]["us-east-1"]["rates"]["requests"].clone()
            }),
            "regions.us-east-1.rates.durations_x86".into(),
        ),
        (
            Box::new(|d| d["free_grants"]["gb_seconds"] = d["free_grants"]["duration"].clone()),
            "free_grants.gb_seconds".into(),
        ),
        (Box::new(|d| d["currency_code"] = "USD".into()), "currency_code".into()),
        (Box::new(|d| d["schema_version"] = 2.into()), "schema_version".into()),
    ];
    for (edit, field) in cases {
        let e = edited(edit).unwrap_err();
        assert_eq!(invalid_field(&e), field, "{e}");
        assert!(e.to_string().contains("edited.json"), "{e}");
    }
}

#[test]
fn a_user_file_overrides_a_price() {
    let doc = json(AWS);
    let mut mine = doc.clone();
    mine["regions"]["us-east-1"]["rates"]["requests"]["tiers"][0]["price"] = 0.1.into();
    mine["regions"]["us-east-1"]["rates"]["requests"]["source"] = "https://example.com/our-contract".into();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("negotiated.json");
    std::fs::write(&path, mine.to_string()).unwrap();
    let pricing = Pricing::from_path(&path).unwrap();
    let usage = Usage::new("us-east-1", 128, 5_000_000).duration_ms(10.0);
    let e = estimate(&pricing, &usage, &off()).unwrap();
    close(e.per_month.requests, 5.0 * 0.1);
    close(
        e.per_month.compute,
        0.125 * 0.010 * 5e6 * price(&doc, "us-east-1", "duration_x86_64", 0),
    );
    assert!(e.sources.contains(&"https://example.com/our-contract".to_string()));
    assert!(e.pricing.ends_with("negotiated.json"));
    let e = Pricing::from_path(dir.path().join("absent.json")).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
}

#[test]
fn reports_feed_the_estimate() {
    let doc = json(AWS);
    let r = |ms, init| crate::ExecutionReport {
        duration_ms: ms,
        billed_duration_ms: 0,
        memory_size_mb: 256,
        max_memory_used_mb: 50,
        init_duration_ms: init,
    };
    let usage = Usage::new("us-east-1", 256, 1_000_000)
        .reports(&[r(10.2, Some(199.5)), r(20.2, None)])
        .unwrap();
    let e = estimate(&Pricing::aws_default(), &usage, &off()).unwrap();
    // Mean 15.2 ms → 16 ms; half the invocations bill 200 ms of init.
    let p = price(&doc, "us-east-1", "duration_x86_64", 0);
    close(e.per_month.compute, 0.25 * 0.016 * 1e6 * p);
    close(e.per_month.init, 0.25 * 0.200 * 1e6 * 0.5 * p);
    let bad = Usage::new("us-east-1", 256, 0);
    assert_eq!(
        invalid_field(&estimate(&Pricing::aws_default(), &bad, &off()).unwrap_err()),
        "invocations_per_month"
    );
}
