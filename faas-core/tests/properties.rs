//! Property tests for what a user or a cloud feeds faas-core: pipeline YAML (no panic, bounded
//! time), the REPORT line, qualifiers and routing.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use faas_core::pipeline::Pipeline;
use faas_core::{ExecutionReport, Qualifier, Routing, names};
use proptest::prelude::*;

/// YAML-ish text: pipeline keys, flow brackets, indentation, quotes and noise.
fn yamlish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("lambda_deployment_pipeline:".to_string()),
        Just("\n  stages:".to_string()),
        Just("\n    - name: s".to_string()),
        Just("\n      steps:".to_string()),
        Just("\n        - { name: a, type: script, config: { script: 'true' } }".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("${X:-y}".to_string()),
        Just("'".to_string()),
        Just("\"".to_string()),
        Just(": ".to_string()),
        Just("\n".to_string()),
        Just("  ".to_string()),
        "[a-z_]{1,8}".prop_map(|s| s),
        any::<char>().prop_map(|c| c.to_string()),
    ];
    prop::collection::vec(piece, 0..200).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn pipeline_yaml_never_panics_and_is_quick(text in yamlish()) {
        let started = Instant::now();
        let _ = Pipeline::from_yaml(&text);
        prop_assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    }

    #[test]
    fn deep_flow_nesting_is_refused_quickly(depth in 65usize..5000) {
        let text = format!("lambda_deployment_pipeline: {}{}\n", "[".repeat(depth), "]".repeat(depth));
        let started = Instant::now();
        prop_assert!(Pipeline::from_yaml(&text).is_err());
        prop_assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn report_lines_never_panic(line in ".{0,300}") {
        let _ = ExecutionReport::parse_line(&line);
        let _ = ExecutionReport::from_log(&line);
    }

    #[test]
    fn report_lines_round_trip(
        duration in 0.0f64..900_000.0,
        memory in 128u32..10_240,
        used in 1u32..10_240,
        init in proptest::option::of(0.0f64..10_000.0),
    ) {
        let r = ExecutionReport {
            duration_ms: (duration * 100.0).round() / 100.0,
            billed_duration_ms: duration.ceil().max(1.0) as u64,
            memory_size_mb: memory,
            max_memory_used_mb: used,
            init_duration_ms: init.map(|i| (i * 100.0).round() / 100.0),
        };
        let parsed = ExecutionReport::parse_line(&r.to_line("req-1")).unwrap();
        prop_assert_eq!(parsed.billed_duration_ms, r.billed_duration_ms);
        prop_assert_eq!(parsed.memory_size_mb, r.memory_size_mb);
        prop_assert_eq!(parsed.max_memory_used_mb, r.max_memory_used_mb);
        prop_assert!((parsed.duration_ms - r.duration_ms).abs() < 0.011);
        prop_assert_eq!(parsed.init_duration_ms.is_some(), r.init_duration_ms.is_some());
    }

    #[test]
    fn qualifiers_parse_or_refuse_and_round_trip(q in ".{0,140}") {
        if let Ok(parsed) = Qualifier::parse(&q) {
            prop_assert_eq!(parsed.to_string(), q.clone());
            prop_assert!(!q.contains('/') && !q.contains(".."), "{q:?} passed");
        }
    }

    #[test]
    fn accepted_names_never_leave_a_path(name in ".{0,80}") {
        if names::check_function(&name).is_ok() {
            prop_assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
            prop_assert!(!name.is_empty() && name.len() <= 64);
        }
        if names::check_label(&name).is_ok() {
            prop_assert!(!name.chars().all(|c| c.is_ascii_digit()));
        }
    }

    #[test]
    fn routing_validation_never_panics_and_holds_its_rules(
        primary in "[0-9]{1,3}",
        weights in prop::collection::btree_map("[0-9]{1,3}", any::<f64>(), 0..4),
        max in 0usize..4,
    ) {
        let routing = Routing { primary: primary.clone(), weights: weights.clone() };
        if routing.validate(max).is_ok() {
            prop_assert!(weights.len() <= max);
            let sum: f64 = weights.values().sum();
            prop_assert!(sum < 1.0);
            prop_assert!(weights.values().all(|w| w.is_finite() && *w > 0.0 && *w < 1.0));
            prop_assert!(!weights.contains_key(&primary));
        }
    }
}
