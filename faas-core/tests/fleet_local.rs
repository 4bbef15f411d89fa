//! `fleet::deliver` on the local provider: functions × targets with per-target results, a
//! ceiling never exceeded, a delivery dropped half-way (as a killed process leaves it) that
//! converges when run again without touching what was done, `fail_fast`, and bad input
//! refused before anything is delivered — each checked against the providers' own state.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex};

use faas_core::fleet::{FleetEvent, FleetOptions, Limits, Outcome, Target, deliver};
use faas_core::local::LocalProvider;
use faas_core::{DeployJob, DeployOptions, Error, FunctionSpec, Provider};
use faas_package::PackageBuilder;

fn job(dir: &Path, i: usize, body: &str) -> DeployJob {
    let src = dir.join(format!("src-{i}-{body}"));
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("app.py"), format!("def handler(e, c):\n    return {body:?}\n")).unwrap();
    let package = PackageBuilder::new(&src)
        .output(dir.join(format!("fn-{i}-{body}.zip")))
        .no_cache()
        .build()
        .unwrap();
    DeployJob {
        spec: FunctionSpec::new(format!("fn-{i}"), "python3.12".parse().unwrap(), "app.handler"),
        package,
        options: DeployOptions {
            publish: true,
            label: Some("live".into()),
            ..DeployOptions::default()
        },
    }
}

fn quiet() -> Arc<dyn faas_core::fleet::FleetObserver> {
    Arc::new(|_: &FleetEvent<'_>| {})
}

fn local(dir: &Path, name: &str) -> Arc<dyn Provider> {
    Arc::new(LocalProvider::builder().state_dir(dir.join(name)).build().unwrap())
}

/// Per function: (version ids, the code the label serves), read from the provider.
async fn state(provider: &dyn Provider, functions: usize) -> Vec<(Vec<String>, String)> {
    let mut out = Vec::new();
    for i in 0..functions {
        let name = format!("fn-{i}");
        let versions = provider.list_versions(&name).await.unwrap();
        let live = provider.get_qualified(&name, "live").await.unwrap();
        out.push((versions.into_iter().map(|v| v.id).collect(), live.code_sha256));
    }
    out
}

/// Records events: per target, the most deliveries in flight at once, and finished names.
#[derive(Default)]
struct Recorder {
    in_flight: Mutex<BTreeMap<String, (usize, usize)>>,
    finished: Mutex<Vec<(String, String, &'static str)>>,
    order: Mutex<Vec<String>>,
}

impl Recorder {
    fn event(&self, e: &FleetEvent<'_>) {
        match e {
            FleetEvent::TargetStarted { target, .. } => self.order.lock().unwrap().push(format!("start {target}")),
            FleetEvent::Started { target, .. } => {
                let mut m = self.in_flight.lock().unwrap();
                let (now, most) = m.entry(target.to_string()).or_default();
                *now += 1;
                *most = (*most).max(*now);
            }
            FleetEvent::Finished {
                target,
                function,
                outcome,
            } => {
                if let Some((now, _)) = self.in_flight.lock().unwrap().get_mut(*target) {
                    *now = now.saturating_sub(1);
                }
                self.finished
                    .lock()
                    .unwrap()
                    .push((target.to_string(), function.to_string(), outcome.name()));
            }
            FleetEvent::TargetFinished { report } => self.order.lock().unwrap().push(format!("end {}", report.target)),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_reaches_every_target_and_a_rerun_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (local(dir.path(), "a"), local(dir.path(), "b"));
    let jobs: Vec<DeployJob> = (0..12).map(|i| job(dir.path(), i, "v1")).collect();
    let targets = vec![
        Target::new("site-a", a.clone()).limits(Limits::ceiling(3)),
        Target::new("site-b", b.clone()).limits(Limits::ceiling(5)),
    ];
    let rec = Arc::new(Recorder::default());
    let r = rec.clone();
    let report = deliver(
        targets.clone(),
        jobs.clone(),
        &FleetOptions::default(),
        Arc::new(move |e: &FleetEvent<'_>| r.event(e)),
    )
    .await
    .unwrap();
    assert!(report.converged(), "{report}");
    assert_eq!(report.tally.delivered, 24);
    assert_eq!(report.targets[1].tally.delivered, 12);
    let most = rec.in_flight.lock().unwrap().clone();
    assert!(
        most["site-a"].1 <= 3 && most["site-b"].1 <= 5,
        "ceilings exceeded: {most:?}"
    );
    assert!(most["site-a"].1 >= 2, "deliveries ran in parallel: {most:?}");
    assert_eq!(rec.finished.lock().unwrap().len(), 24);
    let order = rec.order.lock().unwrap().clone();
    assert_eq!(order.iter().filter(|o| o.starts_with("start")).count(), 2);
    assert!(order.last().unwrap().starts_with("end"));
    for (p, t) in [(&a, "site-a"), (&b, "site-b")] {
        for (i, (versions, live)) in state(p.as_ref(), 12).await.into_iter().enumerate() {
            assert_eq!(versions.len(), 1, "{t} fn-{i}: {versions:?}");
            assert_eq!(live, jobs[i].package.sha256, "{t} fn-{i}");
        }
    }
    // The JSON summary names each outcome.
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["targets"][0]["functions"][0]["outcome"], "delivered");
    assert_eq!(json["tally"]["delivered"], 24);

    let again = deliver(targets, jobs, &FleetOptions::default(), quiet()).await.unwrap();
    assert_eq!(again.tally.unchanged, 24, "{again}");
    for p in [&a, &b] {
        assert!(
            state(p.as_ref(), 12).await.iter().all(|(v, _)| v.len() == 1),
            "no new version"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_dropped_half_way_converges_when_run_again_and_skips_what_was_done() {
    let dir = tempfile::tempdir().unwrap();
    let p = local(dir.path(), "state");
    let jobs: Vec<DeployJob> = (0..16).map(|i| job(dir.path(), i, "v1")).collect();
    let targets = vec![Target::new("only", p.clone()).limits(Limits::ceiling(4))];
    // Stopped (the task dropped at whatever await it is in, as a kill leaves the provider)
    // once six functions are done.
    let done = Arc::new(Mutex::new(Vec::<String>::new()));
    let notify = Arc::new(tokio::sync::Notify::new());
    let run = {
        let (targets, jobs, done, notify) = (targets.clone(), jobs.clone(), done.clone(), notify.clone());
        tokio::spawn(async move {
            deliver(
                targets,
                jobs,
                &FleetOptions::default(),
                Arc::new(move |e: &FleetEvent<'_>| {
                    if let FleetEvent::Finished { function, outcome, .. } = e {
                        assert!(outcome.converged());
                        let mut d = done.lock().unwrap();
                        d.push(function.to_string());
                        if d.len() == 6 {
                            notify.notify_one();
                        }
                    }
                }),
            )
            .await
        })
    };
    notify.notified().await;
    run.abort();
    let _ = run.await;
    let first: Vec<String> = done.lock().unwrap().clone();
    assert!(first.len() >= 6 && first.len() < 16, "{first:?}");

    let report = deliver(targets, jobs.clone(), &FleetOptions::default(), quiet())
        .await
        .unwrap();
    assert!(report.converged(), "{report}");
    for f in &report.targets[0].functions {
        if first.contains(&f.function) {
            assert!(
                matches!(f.outcome, Outcome::Unchanged { .. }),
                "{} was done: {:?}",
                f.function,
                f.outcome
            );
        }
    }
    assert!(report.tally.delivered >= 1, "the rest was delivered: {report}");
    // The same state as an uninterrupted run: one version each, the label on the code.
    for (i, (versions, live)) in state(p.as_ref(), 16).await.into_iter().enumerate() {
        assert_eq!(versions.len(), 1, "fn-{i}: {versions:?}");
        assert_eq!(live, jobs[i].package.sha256, "fn-{i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_stops_only_its_function_unless_fail_fast() {
    let dir = tempfile::tempdir().unwrap();
    let p = local(dir.path(), "state");
    let mut jobs: Vec<DeployJob> = (0..6).map(|i| job(dir.path(), i, "v1")).collect();
    // A label name the provider refuses when it gets there.
    jobs[1].options.label = Some("not a label!".into());
    let targets = vec![Target::new("only", p.clone()).limits(Limits::ceiling(1))];
    let report = deliver(targets.clone(), jobs.clone(), &FleetOptions::default(), quiet())
        .await
        .unwrap();
    assert_eq!((report.tally.delivered, report.tally.failed), (5, 1), "{report}");
    let failures = report.failures();
    assert_eq!(failures[0].1, "fn-1");
    assert!(report.to_string().contains("failed: fn-1 on only"), "{report}");

    let dir2 = tempfile::tempdir().unwrap();
    let q = local(dir2.path(), "state");
    let targets = vec![Target::new("only", q.clone()).limits(Limits::ceiling(1))];
    let report = deliver(targets, jobs, &FleetOptions { fail_fast: true }, quiet())
        .await
        .unwrap();
    let names: Vec<&str> = report.targets[0].functions.iter().map(|f| f.outcome.name()).collect();
    assert_eq!(
        names,
        ["delivered", "failed", "skipped", "skipped", "skipped", "skipped"]
    );
    assert!(q.get("fn-2").await.is_err(), "nothing after the failure was delivered");
}

#[tokio::test]
async fn bad_input_is_refused_before_anything_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let p = local(dir.path(), "state");
    let jobs: Vec<DeployJob> = (0..2).map(|i| job(dir.path(), i, "v1")).collect();
    let field = |r: faas_core::Result<faas_core::fleet::FleetReport>| match r {
        Err(Error::InvalidInput { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    let same = vec![Target::new("x", p.clone()), Target::new("x", p.clone())];
    let o = FleetOptions::default();
    assert_eq!(field(deliver(same, jobs.clone(), &o, quiet()).await), "targets.name");
    let zero = vec![Target::new("x", p.clone()).limits(Limits::ceiling(0))];
    assert_eq!(
        field(deliver(zero, jobs.clone(), &o, quiet()).await),
        "targets.x.ceiling"
    );
    assert_eq!(field(deliver(vec![], jobs.clone(), &o, quiet()).await), "targets");
    let twice = vec![jobs[0].clone(), jobs[0].clone()];
    assert_eq!(
        field(deliver(vec![Target::new("x", p.clone())], twice, &o, quiet()).await),
        "jobs.spec.name"
    );
    let mut big = jobs.clone();
    big[1].spec.memory_mb = 1_000_000;
    let f = field(deliver(vec![Target::new("x", p.clone())], big, &o, quiet()).await);
    assert!(f.starts_with("targets.x.fn-1.") && f.contains("memory"), "{f}");
    assert!(p.get("fn-0").await.is_err(), "nothing was delivered");
}
