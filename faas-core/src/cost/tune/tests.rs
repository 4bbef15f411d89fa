//! Tuning's arithmetic recomputed by hand: the rates are read from the pricing file's JSON
//! here, not through the estimate code, and the trimmed means from the recorded durations.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::FunctionSpec;
use crate::cost::Pricing;

/// The first-tier x86_64 GB-s rate and the per-request fee of us-east-1, from the file.
fn aws_rates() -> (f64, f64) {
    let file: serde_json::Value = serde_json::from_str(include_str!("../../../pricing/aws-lambda.json")).unwrap();
    let rates = &file["regions"]["us-east-1"]["rates"];
    assert_eq!(rates["requests"]["unit"], "1M requests");
    (
        rates["duration_x86_64"]["tiers"][0]["price"].as_f64().unwrap(),
        rates["requests"]["tiers"][0]["price"].as_f64().unwrap() / 1e6,
    )
}

/// us-east-1 prices, tiers at a million a month, 20 % trimmed.
fn aws_summary<'a>(pricing: &'a Pricing, spec: &'a FunctionSpec) -> Summary<'a> {
    Summary {
        pricing,
        region: "us-east-1",
        spec,
        monthly_invocations: 1_000_000,
        trim: 0.2,
    }
}

fn spec() -> FunctionSpec {
    FunctionSpec::new("f", "python3.12".parse().unwrap(), "app.handler")
}

/// Recorded durations of one size: ten invocations, the first a cold start.
fn recorded(mb: u32, ms: &[f64], init_first: Option<f64>) -> Vec<Sample> {
    ms.iter()
        .enumerate()
        .map(|(i, &d)| Sample::ok(mb, 0, d, if i == 0 { init_first } else { None }))
        .collect()
}

/// The hand computation: sort by duration + init, drop floor(n/5) at each end, bill each
/// kept invocation ceil(duration) + ceil(init) ms at memory/1024 GB, add the request fee.
fn by_hand(mb: u32, samples: &[Sample]) -> (f64, f64) {
    let (gb_s, request) = aws_rates();
    let mut rows: Vec<(f64, f64)> = samples
        .iter()
        .map(|s| {
            let billed = s.duration_ms.ceil() + s.init_ms.map_or(0.0, f64::ceil);
            (s.total_ms(), billed / 1000.0 * f64::from(mb) / 1024.0 * gb_s + request)
        })
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let cut = rows.len() / 5;
    let kept = &rows[cut..rows.len() - cut];
    let n = kept.len() as f64;
    (
        kept.iter().map(|r| r.0).sum::<f64>() / n,
        kept.iter().map(|r| r.1).sum::<f64>() / n,
    )
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12_f64.max(b.abs() * 1e-9)
}

/// A CPU-bound function's recorded durations: about twice as fast per doubling up to 1769 MB,
/// flat above; one slow outlier and one cold start (its init) per size.
#[rustfmt::skip]
const RECORDED: [(u32, [f64; 10], f64); 5] = [
    (256, [801.2, 799.9, 805.1, 798.3, 1200.0, 802.7, 800.4, 796.6, 803.3, 799.1], 310.5),
    (512, [402.4, 399.1, 401.7, 398.8, 650.2, 400.3, 401.1, 397.9, 400.6, 399.4], 240.2),
    (1024, [201.3, 199.2, 200.8, 198.9, 330.0, 200.1, 199.7, 198.4, 201.9, 200.2], 180.4),
    (1769, [116.1, 115.2, 115.8, 114.9, 190.0, 115.5, 115.0, 114.6, 116.4, 115.3], 150.1),
    (3008, [115.9, 115.1, 116.0, 114.8, 188.0, 115.4, 115.1, 114.7, 116.2, 115.2], 149.8),
];

#[test]
fn a_tuning_report_recomputed_by_hand() {
    let (pricing, spec) = (Pricing::aws_default(), spec());
    let how = aws_summary(&pricing, &spec);
    let runs: Vec<(u32, Vec<Sample>)> = RECORDED
        .iter()
        .map(|(mb, ms, init)| (*mb, recorded(*mb, ms, Some(*init))))
        .collect();
    let values: Vec<ValueResult> = runs.iter().map(|(mb, s)| summarize(*mb, s, &how).unwrap()).collect();
    for ((mb, samples), v) in runs.iter().zip(&values) {
        let (duration, cost) = by_hand(*mb, samples);
        assert!(close(v.duration_ms, duration), "{mb}: {} vs {duration}", v.duration_ms);
        assert!(
            close(v.cost_per_invocation, cost),
            "{mb}: {} vs {cost}",
            v.cost_per_invocation
        );
        assert!(close(v.cost_per_million, cost * 1e6));
        assert_eq!((v.invocations, v.errors, v.cold_starts), (10, 0, 1));
    }
    // The winners, recomputed: cheapest, fastest, and the balanced score by hand.
    let cost = |i: usize| values[i].cost_per_invocation;
    let cheapest = (0..values.len()).min_by(|&a, &b| cost(a).total_cmp(&cost(b))).unwrap();
    assert_eq!(choose(&values, Strategy::Cost), Some(cheapest));
    assert_eq!(values[choose(&values, Strategy::Speed).unwrap()].memory_mb, 3008);
    let max_c = values.iter().map(|v| v.cost_per_invocation).fold(0.0, f64::max);
    let max_d = values.iter().map(|v| v.duration_ms).fold(0.0, f64::max);
    let score = |v: &ValueResult| 0.5 * v.cost_per_invocation / max_c + 0.5 * v.duration_ms / max_d;
    let best = (0..values.len())
        .min_by(|&a, &b| score(&values[a]).total_cmp(&score(&values[b])))
        .unwrap();
    assert_eq!(choose(&values, Strategy::Balanced(0.5)), Some(best));
    // Weight 1 is cost only, weight 0 speed only.
    assert_eq!(choose(&values, Strategy::Balanced(1.0)), Some(cheapest));
    assert_eq!(
        values[choose(&values, Strategy::Balanced(0.0)).unwrap()].memory_mb,
        3008
    );
}

#[test]
fn a_size_where_every_invocation_failed_is_reported_not_averaged() {
    let (pricing, spec) = (Pricing::aws_default(), spec());
    let how = aws_summary(&pricing, &spec);
    let mut failing = recorded(128, &[5.0, 5.0], None);
    for s in &mut failing {
        s.error = Some("Runtime.OutOfMemory: signal: killed".into());
    }
    let mut half = recorded(256, &[10.0, 30.0], None);
    half[1].error = Some("ValueError: boom".into());
    let values = vec![
        summarize(128, &failing, &how).unwrap(),
        summarize(256, &half, &how).unwrap(),
    ];
    assert_eq!(values[0].failed.as_deref(), Some("Runtime.OutOfMemory: signal: killed"));
    assert_eq!(
        (values[1].errors, values[1].duration_ms),
        (1, 10.0),
        "errors are counted, not averaged in"
    );
    assert_eq!(
        choose(&values, Strategy::Cost),
        Some(1),
        "the failed size is never chosen"
    );
    assert_eq!(choose(&values[..1], Strategy::Speed), None);
    // The URL leaves the failed size out.
    assert_eq!(
        PowerTuningData::from_url(&power_tuning_url(&values)).unwrap().powers,
        [256]
    );
}

#[test]
fn the_url_decodes_back_to_the_report_numbers() {
    let (pricing, spec) = (Pricing::aws_default(), spec());
    let how = aws_summary(&pricing, &spec);
    let values: Vec<ValueResult> = [(1024, 20.5), (128, 160.25), (512, 40.75)]
        .iter()
        .map(|&(mb, ms)| summarize(mb, &recorded(mb, &[ms], None), &how).unwrap())
        .collect();
    let data = PowerTuningData::from_url(&power_tuning_url(&values)).unwrap();
    assert_eq!(data.powers, [128, 512, 1024], "sorted by size");
    assert_eq!(data.durations, [160.25, 40.75, 20.5]);
    let costs: Vec<f32> = [1, 2, 0]
        .iter()
        .map(|&i| values[i].cost_per_invocation as f32)
        .collect();
    assert_eq!(data.costs, costs);
    assert!(PowerTuningData::from_url("https://x/#AQ;AA;AA").is_err());
    assert!(PowerTuningData::from_url("https://x/#nope").is_err());
}

#[test]
fn weighted_payloads_share_the_invocations() {
    let o = TuneOptions::new().invocations(10).weighted_payloads(vec![
        WeightedPayload::new(serde_json::json!(1), 1.0),
        WeightedPayload::new(serde_json::json!(2), 2.0),
        WeightedPayload::new(serde_json::json!(3), 2.0),
    ]);
    let counts: Vec<u32> = o.payload_counts().into_iter().map(|(_, n)| n).collect();
    assert_eq!(counts, [2, 4, 4]);
    let o = o.invocations(7);
    let counts: Vec<u32> = o.payload_counts().into_iter().map(|(_, n)| n).collect();
    assert_eq!((counts.iter().sum::<u32>(), counts), (7, vec![1, 3, 3]));
}

#[test]
fn strategies_parse_and_refuse_bad_weights() {
    assert_eq!("balanced".parse::<Strategy>().unwrap(), Strategy::Balanced(0.5));
    for bad in ["balanced:-0.1", "balanced:2", "balanced:x", "cheapest"] {
        let e = bad.parse::<Strategy>().unwrap_err();
        assert!(
            matches!(&e, crate::Error::InvalidInput { field, .. } if field == "strategy"),
            "{bad}: {e}"
        );
    }
}
