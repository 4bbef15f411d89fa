//! Memory power tuning on the local provider: a CPU-bound function gets faster with memory up
//! to one vCPU (1,769 MB) and not beyond; nothing tuning made is left behind — after a run,
//! after a run dropped half-way, after bad input (refused before anything is made); a size
//! that always fails is reported as failed; the winner is applied to a label.

#![allow(clippy::unwrap_used)]

mod support;

use faas_core::cost::tune::{
    ApplyTo, LABEL_PREFIX, MARKER, ORIGINAL_MEMORY_VAR, Strategy, TuneOptions, clean_up, tune,
};
use faas_core::local::Enforcement;
use faas_core::{Error, FunctionSpec, Provider};
use support::{Env, spec};

const HANDLER: &str = r#"
import os
KEEP = []
def handler(event, context):
    if event.get("leak"):
        raise ValueError("token is " + os.environ["TOKEN"])
    if "alloc_mb" in event:
        KEEP.append(bytearray(event["alloc_mb"] << 20))
    n = 0
    for i in range(event.get("spin", 0)):
        n += i * i
    return {"n": n}
"#;

/// One test at a time: the tuning curve is measured with the machine's two cores to itself,
/// not shared with the other tests' handlers.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn tuned_spec(name: &str) -> FunctionSpec {
    spec(name)
        .memory_mb(1024)
        .timeout_s(60)
        .env("LOG_LEVEL", "INFO")
        .secret_env("TOKEN", "s3cr3t-value")
}

/// Nothing of tuning's is left on `function` and its configuration is `expected`'s.
async fn nothing_left(p: &dyn Provider, function: &str, expected: &FunctionSpec) {
    let versions = p.list_versions(function).await.unwrap();
    assert!(
        versions.iter().all(|v| !v.description.starts_with(MARKER)),
        "tuning versions left: {versions:?}"
    );
    let labels = p.list_labels(function).await.unwrap();
    assert!(
        labels.iter().all(|l| !l.name.starts_with(LABEL_PREFIX)),
        "tuning labels left: {labels:?}"
    );
    let now = p.get(function).await.unwrap().spec;
    assert_eq!(now.memory_mb, expected.memory_mb);
    assert_eq!(
        now.environment, expected.environment,
        "the configuration is put back variable for variable"
    );
    assert!(!now.environment.contains_key(ORIGINAL_MEMORY_VAR));
}

#[tokio::test]
async fn a_cpu_bound_function_gets_faster_up_to_one_vcpu_and_nothing_is_left() {
    let _serial = SERIAL.lock().await;
    let env = Env::new(HANDLER);
    let controls = env.provider.resource_controls();
    let spec = tuned_spec("spin");
    env.deploy(&spec).await;
    let options = TuneOptions::new()
        .memory([256, 885, 1769, 3008])
        .invocations(5)
        .parallel(1)
        // About a quarter second at one vCPU: long enough that the first period's whole
        // quota is a small part of a throttled run.
        .payload(serde_json::json!({"spin": 6_000_000}))
        .strategy(Strategy::Speed);
    let started = std::time::Instant::now();
    let report = tune(&env.provider, "spin", &options).await.unwrap();
    eprintln!(
        "{report}\n(took {:.1} s; cpu: {})",
        started.elapsed().as_secs_f64(),
        controls.cpu
    );
    assert_eq!(report.values.len(), 4);
    assert!(
        report
            .values
            .iter()
            .all(|v| v.errors == 0 && v.duration_source == "report")
    );
    assert_eq!(report.versions_removed.len(), 4);
    assert_eq!(report.labels_removed.len(), 4);
    nothing_left(&env.provider, "spin", &spec).await;
    // The trimmed means drop the cold start (1 of 5 at each end is cut).
    let ms = |mb: u32| report.values.iter().find(|v| v.memory_mb == mb).unwrap().duration_ms;
    let Enforcement::Cgroup { .. } = controls.cpu else {
        eprintln!(
            "\n!!! shape of the tuning curve NOT CHECKED: CPU is not limited here ({}) !!!\n",
            controls.cpu
        );
        return;
    };
    // In theory 6.9×, 2× and 1×; a busy machine slows the unthrottled runs more than the
    // throttled ones, hence the margins.
    assert!(
        ms(256) > 3.0 * ms(1769),
        "256 MB is 1/7 of a vCPU: {} vs {} ms",
        ms(256),
        ms(1769)
    );
    // Half a vCPU: 2× in theory; CFS throttles in whole periods, and a CI run on a loaded
    // two-core machine measured 3.01×, so the bound is loose, and the order of the three
    // throttled sizes is checked on its own.
    let half = ms(885) / ms(1769);
    assert!(
        (1.3..=4.5).contains(&half),
        "885 MB is half a vCPU: {} vs {} ms",
        ms(885),
        ms(1769)
    );
    assert!(
        ms(256) > 1.5 * ms(885),
        "256 MB is slower than 885 MB: {} vs {} ms",
        ms(256),
        ms(885)
    );
    assert!(
        ms(3008) > 0.8 * ms(1769),
        "no faster past one vCPU: {} vs {}",
        ms(3008),
        ms(1769)
    );
    assert!(
        [1769, 3008].contains(&report.chosen_memory_mb.unwrap()),
        "speed picks one vCPU or more: {:?}",
        report.chosen_memory_mb
    );
    // Cost: past one vCPU more memory only costs more.
    let cost = |mb: u32| {
        report
            .values
            .iter()
            .find(|v| v.memory_mb == mb)
            .unwrap()
            .cost_per_invocation
    };
    assert!(cost(3008) > cost(1769));
}

#[tokio::test]
async fn a_run_dropped_half_way_is_cleaned_up_by_the_next() {
    let _serial = SERIAL.lock().await;
    let env = Env::new(HANDLER);
    let spec = tuned_spec("dropped");
    env.deploy(&spec).await;
    let before = env.provider.list_versions("dropped").await.unwrap().len();
    let options = TuneOptions::new().memory([128, 256, 512]).invocations(2);
    faas_core::conformance::interrupted_tune(&env.provider, "dropped", &options, 2).await;
    let versions = env.provider.list_versions("dropped").await.unwrap();
    assert!(
        versions.len() >= before + 2,
        "the dropped run had made versions: {versions:?}"
    );
    let current = env.provider.get("dropped").await.unwrap().spec;
    assert!(
        current.environment.contains_key(ORIGINAL_MEMORY_VAR),
        "and left the function changed"
    );

    let cleaned = clean_up(&env.provider, "dropped").await.unwrap();
    assert!(cleaned.versions.len() >= 2 && cleaned.labels.len() >= 2, "{cleaned:?}");
    assert_eq!(cleaned.restored_memory_mb, Some(1024));
    nothing_left(&env.provider, "dropped", &spec).await;
    assert_eq!(env.provider.list_versions("dropped").await.unwrap().len(), before);
    // A second clean-up finds nothing.
    assert!(clean_up(&env.provider, "dropped").await.unwrap().is_empty());
}

#[tokio::test]
async fn bad_input_is_refused_before_anything_is_made() {
    let _serial = SERIAL.lock().await;
    let env = Env::new(HANDLER);
    let spec = tuned_spec("bad");
    env.deploy(&spec).await;
    let cases: Vec<(TuneOptions, &str)> = vec![
        (TuneOptions::new().memory([64, 512]), "memory_mb"),
        (TuneOptions::new().memory([512, 20_000]), "memory_mb"),
        (TuneOptions::new().invocations(0), "invocations"),
        (TuneOptions::new().parallel(0), "parallel"),
        (TuneOptions::new().strategy(Strategy::Balanced(1.5)), "strategy"),
        (TuneOptions::new().trim(0.5), "trim"),
        (TuneOptions::new().region("mars-1"), "region"),
        (TuneOptions::new().apply(ApplyTo::Label("faas-tune-x".into())), "apply"),
    ];
    for (options, field) in cases {
        let e = tune(&env.provider, "bad", &options).await.unwrap_err();
        match &e {
            Error::InvalidInput { field: f, .. } => assert!(f.contains(field), "{field}: {e}"),
            other => panic!("{field}: {other}"),
        }
        assert!(!e.to_string().contains("s3cr3t-value"));
    }
    nothing_left(&env.provider, "bad", &spec).await;
    assert!(
        env.provider.list_versions("bad").await.unwrap().is_empty(),
        "not one version was made"
    );
    assert!(matches!(
        tune(&env.provider, "missing", &TuneOptions::new()).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn a_size_that_always_fails_is_reported_and_the_winner_goes_to_a_label() {
    let _serial = SERIAL.lock().await;
    let env = Env::new(HANDLER);
    let spec = tuned_spec("hungry");
    env.deploy(&spec).await;
    // 300 MB does not fit in 128 MB: every invocation there is killed.
    let options = TuneOptions::new()
        .memory([128, 512, 1024])
        .invocations(2)
        .payload(serde_json::json!({"alloc_mb": 300}))
        .apply(ApplyTo::Label("live".into()));
    let report = tune(&env.provider, "hungry", &options).await.unwrap();
    eprintln!("{report}");
    let small = &report.values[0];
    assert_eq!((small.memory_mb, small.errors), (128, 2));
    assert!(
        small.failed.as_deref().unwrap().contains("Runtime.OutOfMemory"),
        "{:?}",
        small.failed
    );
    assert_ne!(report.chosen_memory_mb, Some(128));
    let chosen = report.chosen_memory_mb.unwrap();
    let Some((ApplyTo::Label(label), Some(version))) = &report.applied else {
        panic!("not applied: {:?}", report.applied)
    };
    assert_eq!(label, "live");
    let live = env.provider.get_qualified("hungry", "live").await.unwrap();
    assert_eq!((live.version.as_str(), live.spec.memory_mb), (version.as_str(), chosen));
    // The function stays at the winner; the rest is put back and removed.
    nothing_left(&env.provider, "hungry", &spec.clone().memory_mb(chosen)).await;
}

#[tokio::test]
async fn a_secret_quoted_by_a_failing_handler_never_reaches_the_report() {
    let _serial = SERIAL.lock().await;
    let env = Env::new(HANDLER);
    let spec = tuned_spec("leaky");
    env.deploy(&spec).await;
    let options = TuneOptions::new()
        .memory([512])
        .invocations(2)
        .payload(serde_json::json!({"leak": true}));
    let report = tune(&env.provider, "leaky", &options).await.unwrap();
    let failed = report.values[0].failed.clone().unwrap();
    assert!(failed.contains("token is ***"), "{failed}");
    for shown in [
        report.to_string(),
        serde_json::to_string(&report).unwrap(),
        format!("{report:?}"),
    ] {
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
    }
    nothing_left(&env.provider, "leaky", &spec).await;
}
