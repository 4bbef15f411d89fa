//! Rollouts on the local provider: healthy versions reach 100 %, a failing one rolls back at
//! the first gate with the figures, two rollouts of one label never both proceed, hooks
//! gate before and after traffic, and long schedules run on tokio's paused clock.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faas_core::local::LocalProvider;
use faas_core::observe::now_ms;
use faas_core::rollout::{
    FnHook, Gate, NotEnoughData, Rollout, RolloutEvent, RolloutPlan, RolloutStatus, TestCaseHook,
};
use faas_core::testcase::TestCase;
use faas_core::{DeployOptions, Error, FunctionSpec, InvokeRequest, Provider, ProviderExt, Routing};
use faas_package::PackageBuilder;

/// Version 1 always answers; version 2 fails on inputs whose last digit is 0, 1 or 2 (30 %).
const GOOD: &str = "def handler(event, context):\n    return {'ok': True, 'i': event.get('i', 0)}\n";
const BAD: &str = "def handler(event, context):\n    i = event.get('i', 0)\n    if i % 10 < 3:\n        raise ValueError('thirty percent fail')\n    return {'ok': True, 'i': i}\n";

/// `name` with version 1 (good code) behind label `live`, and version 2 (`second`'s code).
async fn two_versions(dir: &std::path::Path, name: &str, second: &str) -> LocalProvider {
    let p = LocalProvider::builder().state_dir(dir.join("state")).build().unwrap();
    let spec = FunctionSpec::new(name, "python3.12".parse().unwrap(), "app.handler").timeout_s(5);
    for (i, code) in [GOOD, second].iter().enumerate() {
        let src = dir.join(format!("src-{name}-{i}"));
        std::fs::create_dir_all(&src).unwrap();
        // A comment makes version 2 new code even when it behaves as version 1.
        std::fs::write(src.join("app.py"), format!("{code}# version {}\n", i + 1)).unwrap();
        let pkg = PackageBuilder::new(&src)
            .runtime(spec.runtime.clone())
            .handler("app.handler")
            .output(dir.join(format!("{name}-{i}.zip")))
            .build()
            .unwrap();
        let label = (i == 0).then(|| "live".to_string());
        let opts = DeployOptions {
            publish: true,
            label,
            ..Default::default()
        };
        p.deploy_package(&spec, &pkg, &opts).await.unwrap();
    }
    assert_eq!(p.get_label(name, "live").await.unwrap().routing, Routing::to("1"));
    p
}

/// Invokes `function@live` until `stop`, counting what version 2 did.
fn traffic(
    p: Arc<LocalProvider>,
    function: &'static str,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(u64, u64)> {
    tokio::spawn(async move {
        let (mut on_two, mut failed_on_two) = (0, 0);
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let req = InvokeRequest::json(&serde_json::json!({ "i": i })).qualifier("live");
            let inv = p.invoke(function, &req).await.unwrap();
            if inv.executed_version.as_deref() == Some("2") {
                on_two += 1;
                failed_on_two += u64::from(inv.function_error.is_some());
            }
            i += 1;
        }
        (on_two, failed_on_two)
    })
}

fn events() -> (Arc<Mutex<Vec<RolloutEvent>>>, impl Fn(&RolloutEvent) + Send + Sync) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    (seen, move |e: &RolloutEvent| sink.lock().unwrap().push(e.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_version_reaches_all_traffic_through_each_step_in_real_time() {
    let dir = tempfile::tempdir().unwrap();
    let p = Arc::new(two_versions(dir.path(), "healthy", GOOD).await);
    let stop = Arc::new(AtomicBool::new(false));
    let load = traffic(p.clone(), "healthy", stop.clone());
    let (seen, observer) = events();
    let report = Rollout::new(p.as_ref(), "healthy", "live", "2", "linear:50%:1500ms".parse().unwrap())
        .gate(Gate::Alert("error_rate > 5% min 3".parse().unwrap()))
        .not_enough_data(NotEnoughData::WaitLonger {
            up_to: Duration::from_secs(20),
            every: Duration::from_millis(500),
        })
        .poll_every(Duration::from_millis(200))
        .lease(Duration::from_secs(5))
        .observer(&observer)
        .run()
        .await
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    let (on_two, failed) = load.await.unwrap();
    assert_eq!(report.status, RolloutStatus::Succeeded, "{}", report.summary());
    assert_eq!(failed, 0);
    assert!(on_two > 0, "the canary step sent traffic to version 2");
    let percents: Vec<f64> = report.steps.iter().map(|s| s.percent).collect();
    assert_eq!(percents, [50.0, 100.0]);
    let gate = &report.steps[0].gates.last().unwrap();
    assert!(gate.passed() && gate.invocations.unwrap() >= 3, "{gate:?}");
    assert_eq!(report.final_routing, Some(Routing::to("2")));
    assert_eq!(p.get_label("healthy", "live").await.unwrap().routing, Routing::to("2"));
    let weights: Vec<Routing> = seen
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            RolloutEvent::StepStarted { routing, .. } => Some(routing.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(weights, [Routing::to("1").with("2", 0.5), Routing::to("2")]);
    // The record says it is over: a new rollout of the label may start.
    let again = Rollout::new(p.as_ref(), "healthy", "live", "1", RolloutPlan::AllAtOnce)
        .run()
        .await
        .unwrap();
    assert_eq!(again.status, RolloutStatus::Succeeded);
    assert_eq!(p.get_label("healthy", "live").await.unwrap().routing, Routing::to("1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_version_rolls_back_at_the_first_gate_with_its_figures() {
    let dir = tempfile::tempdir().unwrap();
    let p = Arc::new(two_versions(dir.path(), "failing", BAD).await);
    let stop = Arc::new(AtomicBool::new(false));
    let load = traffic(p.clone(), "failing", stop.clone());
    let report = Rollout::new(p.as_ref(), "failing", "live", "2", "canary:50%:2s".parse().unwrap())
        .gate(Gate::Alert("error_rate > 5% min 10".parse().unwrap()))
        .not_enough_data(NotEnoughData::WaitLonger {
            up_to: Duration::from_secs(30),
            every: Duration::from_millis(500),
        })
        .poll_every(Duration::from_millis(250))
        .run()
        .await
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    let (on_two, failed_on_two) = load.await.unwrap();
    assert_eq!(report.status, RolloutStatus::RolledBack, "{}", report.summary());
    let f = report.failure.as_ref().unwrap();
    assert_eq!((f.gate.as_str(), f.step), ("error_rate > 5% min 10", Some(0)));
    assert_eq!(f.threshold, Some(5.0));
    // The gate judged version 2 alone: its rate is the share of failures among the calls
    // version 2 ran by then, which this test counted itself.
    let gate = report.steps[0].gates.iter().find(|g| g.verdict == "fired").unwrap();
    let n = gate.invocations.unwrap();
    assert!(n >= 10 && n <= on_two, "{n} of {on_two}");
    let observed = f.observed.unwrap();
    assert!(observed > 5.0, "{observed}");
    let overall = failed_on_two as f64 * 100.0 / on_two as f64;
    assert!((observed - overall).abs() < 35.0, "{observed} vs {overall}");
    assert_eq!(report.steps.len(), 1, "no step after the failed gate");
    // Back to exactly where it started.
    assert_eq!(report.starting_routing, Some(Routing::to("1")));
    assert_eq!(p.get_label("failing", "live").await.unwrap().routing, Routing::to("1"));
    assert_eq!(report.final_routing, Some(Routing::to("1")));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["status"], "rolled_back");
    assert_eq!(json["failure"]["gate"], "error_rate > 5% min 10");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rollouts_of_one_label_never_both_proceed() {
    let dir = tempfile::tempdir().unwrap();
    let p = two_versions(dir.path(), "contended", GOOD).await;
    let plan: RolloutPlan = "canary:50%:1s".parse().unwrap();
    let a = Rollout::new(&p, "contended", "live", "2", plan.clone()).poll_every(Duration::from_millis(100));
    let b = Rollout::new(&p, "contended", "live", "2", plan).poll_every(Duration::from_millis(100));
    let (ra, rb) = tokio::join!(a.run(), b.run());
    let (won, lost) = match (ra, rb) {
        (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w, l),
        other => panic!("exactly one should proceed: {other:?}"),
    };
    assert_eq!(won.status, RolloutStatus::Succeeded);
    let Error::Conflict { message, resource, .. } = &lost else {
        panic!("{lost:?}")
    };
    assert_eq!(resource, "contended@live");
    assert!(message.contains(&won.id) && message.contains("holds it"), "{message}");
    assert_eq!(
        p.get_label("contended", "live").await.unwrap().routing,
        Routing::to("2")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_gate_before_traffic_moves_and_after_all_of_it_has() {
    let dir = tempfile::tempdir().unwrap();
    let p = two_versions(dir.path(), "hooked", BAD).await;
    // A pre-traffic test case that version 2 fails (input 1 raises): nothing moves.
    let case: TestCase = serde_json::from_value(serde_json::json!({
        "name": "smoke", "payload": {"i": 1}, "expected_response": {"ok": true}
    }))
    .unwrap();
    let (seen, observer) = events();
    let report = Rollout::new(&p, "hooked", "live", "2", "canary:10%:1h".parse().unwrap())
        .pre_traffic(TestCaseHook(vec![case.clone()]))
        .observer(&observer)
        .run()
        .await
        .unwrap();
    assert_eq!(report.status, RolloutStatus::RolledBack);
    assert_eq!(report.failure.as_ref().unwrap().gate, "pre_traffic:test cases smoke");
    assert!(report.steps.is_empty());
    assert!(
        !seen
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, RolloutEvent::StepStarted { .. }))
    );
    assert_eq!(p.get_label("hooked", "live").await.unwrap().routing, Routing::to("1"));

    // A post-traffic closure that fails after all traffic moved: back to the start.
    let calls = Arc::new(AtomicU64::new(0));
    let counted = calls.clone();
    let hook = FnHook::new("checker", move |ctx| {
        let counted = counted.clone();
        Box::pin(async move {
            counted.fetch_add(1, Ordering::Relaxed);
            let label = ctx.provider.get_label(ctx.function, ctx.label).await?;
            Ok(if label.routing == Routing::to(ctx.version) {
                Err("all traffic is on the new version, and the checker dislikes it".to_string())
            } else {
                Ok("fine".to_string())
            })
        })
    });
    let report = Rollout::new(&p, "hooked", "live", "2", RolloutPlan::AllAtOnce)
        .post_traffic(hook)
        .run()
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert_eq!(report.status, RolloutStatus::RolledBack);
    assert_eq!(report.failure.unwrap().gate, "post_traffic:checker");
    assert_eq!(report.steps.len(), 1);
    assert_eq!(p.get_label("hooked", "live").await.unwrap().routing, Routing::to("1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_before_anything_moves() {
    let dir = tempfile::tempdir().unwrap();
    let p = two_versions(dir.path(), "strict", GOOD).await;
    let plan: RolloutPlan = "canary:10%:1m".parse().unwrap();
    let missing = Rollout::new(&p, "strict", "live", "9", plan.clone())
        .run()
        .await
        .unwrap_err();
    assert!(matches!(missing, Error::NotFound { .. }), "{missing}");
    let no_label = Rollout::new(&p, "strict", "nolabel", "2", plan.clone())
        .run()
        .await
        .unwrap_err();
    assert!(no_label.to_string().contains("strict@nolabel"), "{no_label}");
    let nothing = Rollout::new(&p, "strict", "live", "2", plan.clone())
        .abort()
        .await
        .unwrap_err();
    assert!(matches!(nothing, Error::NotFound { .. }), "{nothing}");
    // A label split by someone else is reported, and repaired only when asked.
    p.set_label("strict", "live", &Routing::to("1").with("2", 0.2))
        .await
        .unwrap();
    let split = Rollout::new(&p, "strict", "live", "2", plan.clone())
        .run()
        .await
        .unwrap_err();
    assert!(split.to_string().contains("already split"), "{split}");
    assert_eq!(
        p.get_label("strict", "live").await.unwrap().routing,
        Routing::to("1").with("2", 0.2)
    );
    let repaired = Rollout::new(&p, "strict", "live", "2", RolloutPlan::AllAtOnce)
        .repair_split(true)
        .run()
        .await
        .unwrap();
    assert_eq!(repaired.starting_routing, Some(Routing::to("1")));
    assert_eq!(repaired.status, RolloutStatus::Succeeded);
    // The lease must outlast the polls.
    let e = Rollout::new(&p, "strict", "live", "1", plan.clone())
        .lease(Duration::from_secs(1))
        .poll_every(Duration::from_secs(5))
        .run()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("lease"), "{e}");
    // A dry run shows the schedule and moves nothing.
    let dry = Rollout::new(
        &p,
        "strict",
        "live",
        "1",
        "Linear10PercentEvery1Minute".parse().unwrap(),
    )
    .dry_run(true)
    .run()
    .await
    .unwrap();
    assert!(dry.dry_run && dry.steps.is_empty());
    assert_eq!(dry.schedule.len(), 10);
    assert_eq!(p.get_label("strict", "live").await.unwrap().routing, Routing::to("2"));
}

#[tokio::test(start_paused = true)]
async fn a_thirty_minute_canary_runs_on_the_paused_clock() {
    let dir = tempfile::tempdir().unwrap();
    let p = two_versions(dir.path(), "patient", GOOD).await;
    let t0 = tokio::time::Instant::now();
    let wall0 = now_ms();
    let at = Arc::new(Mutex::new(Vec::new()));
    let seen = at.clone();
    let observer = move |e: &RolloutEvent| {
        if let RolloutEvent::StepStarted { percent, .. } = e {
            seen.lock().unwrap().push((*percent, t0.elapsed()));
        }
    };
    let report = Rollout::new(&p, "patient", "live", "2", "Canary10Percent30Minutes".parse().unwrap())
        .poll_every(Duration::from_secs(60))
        .lease(Duration::from_secs(600))
        .observer(&observer)
        .run()
        .await
        .unwrap();
    assert_eq!(report.status, RolloutStatus::Succeeded);
    let at = at.lock().unwrap().clone();
    assert_eq!(at.len(), 2);
    assert_eq!(at[0].0, 10.0);
    assert_eq!(at[1].0, 100.0);
    let waited = at[1].1 - at[0].1;
    assert!(
        // The deadline is wall-clock time set when the traffic moved: the wait ends there,
        // the few real milliseconds the calls took earlier.
        waited >= Duration::from_secs(30 * 60 - 1) && waited < Duration::from_secs(30 * 60 + 60),
        "{waited:?}"
    );
    assert!(
        now_ms() - wall0 < 30 * 60 * 1000,
        "the wall clock did not wait half an hour"
    );
}

#[tokio::test(start_paused = true)]
async fn too_little_traffic_waits_longer_then_rolls_back_never_passes() {
    let dir = tempfile::tempdir().unwrap();
    let p = two_versions(dir.path(), "quiet", GOOD).await;
    let t0 = tokio::time::Instant::now();
    let (seen, observer) = events();
    let report = Rollout::new(&p, "quiet", "live", "2", "Canary10Percent5Minutes".parse().unwrap())
        .gate(Gate::Alert("error_rate > 1% min 10".parse().unwrap()))
        .not_enough_data(NotEnoughData::WaitLonger {
            up_to: Duration::from_secs(600),
            every: Duration::from_secs(60),
        })
        .poll_every(Duration::from_secs(30))
        .observer(&observer)
        .run()
        .await
        .unwrap();
    assert_eq!(report.status, RolloutStatus::RolledBack);
    let f = report.failure.unwrap();
    assert!(f.reason.starts_with("not enough data"), "{}", f.reason);
    let extended = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, RolloutEvent::Extended { .. }))
        .count();
    assert_eq!(extended, 10, "ten one-minute extensions of up to ten minutes");
    let elapsed = t0.elapsed();
    assert!(
        elapsed >= Duration::from_secs(15 * 60 - 1) && elapsed < Duration::from_secs(16 * 60),
        "{elapsed:?}"
    );
    assert_eq!(p.get_label("quiet", "live").await.unwrap().routing, Routing::to("1"));

    // With the default policy, too little traffic rolls back at the end of the first wait.
    let strict = Rollout::new(&p, "quiet", "live", "2", "Canary10Percent5Minutes".parse().unwrap())
        .gate(Gate::Alert("error_rate > 1% min 10".parse().unwrap()))
        .run()
        .await
        .unwrap();
    assert_eq!(strict.status, RolloutStatus::RolledBack);
    assert!(strict.failure.unwrap().reason.starts_with("not enough data"));
}

/// Starts a one-hour 50 % canary of version 2 in the background and waits until it split.
async fn running_canary(
    p: &Arc<LocalProvider>,
    function: &'static str,
) -> tokio::task::JoinHandle<faas_core::rollout::RolloutReport> {
    let runner = p.clone();
    let task = tokio::spawn(async move {
        Rollout::new(runner.as_ref(), function, "live", "2", "canary:50%:1h".parse().unwrap())
            .poll_every(Duration::from_millis(100))
            .lease(Duration::from_secs(5))
            .run()
            .await
            .unwrap()
    });
    while p.get_label(function, "live").await.unwrap().routing != Routing::to("1").with("2", 0.5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_rollout_takes_promote_now_and_stop_from_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let p = Arc::new(two_versions(dir.path(), "steered", GOOD).await);
    // Promote now: the runner skips the hour and moves all traffic.
    let task = running_canary(&p, "steered").await;
    let told = Rollout::existing(p.as_ref(), "steered", "live")
        .poll_every(Duration::from_millis(100))
        .promote_now()
        .await
        .unwrap();
    assert_eq!(told.status, RolloutStatus::Succeeded);
    let ran = task.await.unwrap();
    assert_eq!(ran.status, RolloutStatus::Succeeded);
    assert_eq!(ran.id, told.id);
    assert_eq!(p.get_label("steered", "live").await.unwrap().routing, Routing::to("2"));

    // Stop: the split stays; a later abort still restores where that rollout started.
    p.set_label("steered", "live", &Routing::to("1")).await.unwrap();
    let task = running_canary(&p, "steered").await;
    let stopped = Rollout::existing(p.as_ref(), "steered", "live").stop().await.unwrap();
    assert_eq!(stopped.status, RolloutStatus::Stopped);
    assert_eq!(task.await.unwrap().status, RolloutStatus::Stopped);
    assert_eq!(
        p.get_label("steered", "live").await.unwrap().routing,
        Routing::to("1").with("2", 0.5)
    );
    let aborted = Rollout::existing(p.as_ref(), "steered", "live").abort().await.unwrap();
    assert_eq!(aborted.status, RolloutStatus::RolledBack);
    assert_eq!(p.get_label("steered", "live").await.unwrap().routing, Routing::to("1"));
    // Resuming a rollout that ended is refused.
    let e = Rollout::existing(p.as_ref(), "steered", "live")
        .resume()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("already ended"), "{e}");
}
