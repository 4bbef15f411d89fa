//! Rollouts on moto: alias weights read back with the Lambda SDK at each step, a CloudWatch
//! alarm put into `ALARM` rolling the alias back to exactly where it started, two rollouts of
//! one alias never both proceeding, and the S3 records behind that being conditional.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, MetricDatum, StandardUnit, StateValue, Statistic};
use faas_aws::AwsProvider;
use faas_aws::test_support::{BUCKET, Fault, FaultKind, Moto, Proxy, ROLE};
use faas_core::observe::AlarmValue;
use faas_core::records::{RecordTag, WriteCondition};
use faas_core::rollout::{Gate, Rollout, RolloutEvent, RolloutPlan, RolloutStatus};
use faas_core::{DeployOptions, Error, FunctionSpec, Package, Provider, ProviderExt, ResourceKind, Routing};
use faas_package::PackageBuilder;

fn package(dir: &std::path::Path, marker: &str) -> Package {
    let src = dir.join(format!("src-{marker}"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("lambda_function.py"),
        format!("def lambda_handler(event, context):\n    return '{marker}'\n"),
    )
    .unwrap();
    PackageBuilder::new(&src)
        .runtime("python3.12".parse().unwrap())
        .handler("lambda_function.lambda_handler")
        .output(dir.join(format!("{marker}.zip")))
        .build()
        .unwrap()
}

/// moto, the proxy, a provider, raw Lambda / CloudWatch / S3 clients through the proxy.
struct World {
    _moto: Moto,
    proxy: Proxy,
    aws: AwsProvider,
    lambda: aws_sdk_lambda::Client,
    cw: aws_sdk_cloudwatch::Client,
    s3: aws_sdk_s3::Client,
}

async fn world() -> Option<World> {
    let moto = Moto::start().await?;
    let proxy = Proxy::start(&moto.url).await;
    let aws = proxy.provider(|b| b).await;
    let sdk = proxy.sdk_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    Some(World {
        _moto: moto,
        lambda: aws_sdk_lambda::Client::new(&sdk),
        cw: aws_sdk_cloudwatch::Client::new(&sdk),
        s3,
        proxy,
        aws,
    })
}

/// `function` with versions 1 and 2 published, `live` on 1.
async fn two_versions(aws: &AwsProvider, function: &str) {
    versions(aws, function, 2).await;
}

/// `function` with versions 1 to `count` published, `live` on 1.
async fn versions(aws: &AwsProvider, function: &str, count: usize) {
    let dir = tempfile::tempdir().unwrap();
    let spec = FunctionSpec::new(
        function,
        "python3.12".parse().unwrap(),
        "lambda_function.lambda_handler",
    )
    .role(ROLE);
    for (i, marker) in ["v1", "v2", "v3"].into_iter().take(count).enumerate() {
        let opts = DeployOptions {
            publish: true,
            label: (i == 0).then(|| "live".to_string()),
            ..DeployOptions::default()
        };
        aws.deploy_package(&spec.clone().env("MARKER", marker), &package(dir.path(), marker), &opts)
            .await
            .unwrap();
    }
    assert_eq!(aws.get_label(function, "live").await.unwrap().routing, Routing::to("1"));
}

/// The alias as Lambda itself answers `GetAlias`: its version and its weights.
async fn alias(lambda: &aws_sdk_lambda::Client, function: &str) -> (String, HashMap<String, f64>) {
    let a = lambda
        .get_alias()
        .function_name(function)
        .name("live")
        .send()
        .await
        .unwrap();
    let weights = a
        .routing_config()
        .and_then(|r| r.additional_version_weights())
        .cloned()
        .unwrap_or_default();
    (a.function_version().unwrap().to_string(), weights)
}

/// A CloudWatch alarm (on a metric nothing publishes) forced into `state`.
async fn alarm(cw: &aws_sdk_cloudwatch::Client, name: &str, state: StateValue, reason: &str) {
    cw.put_metric_alarm()
        .alarm_name(name)
        .namespace("AWS/Lambda")
        .metric_name("Errors")
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .send()
        .await
        .unwrap();
    set_state(cw, name, state, reason).await;
}

async fn set_state(cw: &aws_sdk_cloudwatch::Client, name: &str, state: StateValue, reason: &str) {
    cw.set_alarm_state()
        .alarm_name(name)
        .state_value(state)
        .state_reason(reason)
        .send()
        .await
        .unwrap();
}

/// Runs `f` to completion from inside a (synchronous) rollout observer.
fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

/// A rollout of `version` on `function@live` gated on `gate`, with short polls.
fn rollout<'a>(aws: &'a AwsProvider, function: &str, version: &str, plan: &str, gate: Gate) -> Rollout<'a> {
    Rollout::new(aws, function, "live", version, plan.parse().unwrap())
        .gate(gate)
        .poll_every(Duration::from_millis(300))
        .lease(Duration::from_secs(10))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linear_rollout_moves_the_alias_weights_step_by_step() {
    let Some(w) = world().await else { return };
    two_versions(&w.aws, "linear").await;
    alarm(&w.cw, "linear-healthy", StateValue::Ok, "all quiet").await;
    // At each step, what Lambda says the alias routes.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (sink, lambda) = (seen.clone(), w.lambda.clone());
    let observer = move |e: &RolloutEvent| {
        if let RolloutEvent::StepStarted { index, .. } = e {
            let now = block_on(alias(&lambda, "linear"));
            sink.lock().unwrap().push((*index, now));
        }
    };
    let report = rollout(
        &w.aws,
        "linear",
        "2",
        "linear:50%:1500ms",
        Gate::Alarm("linear-healthy".into()),
    )
    .observer(&observer)
    .run()
    .await
    .unwrap();
    assert_eq!(report.status, RolloutStatus::Succeeded, "{}", report.summary());
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            (0, ("1".to_string(), HashMap::from([("2".to_string(), 0.5)]))),
            (1, ("2".to_string(), HashMap::new())),
        ]
    );
    let gate = report.steps[0].gates.last().unwrap();
    assert_eq!(
        (gate.gate.as_str(), gate.verdict.as_str()),
        ("alarm:linear-healthy", "ok")
    );
    assert_eq!(gate.detail, "all quiet");
    assert_eq!(report.final_routing, Some(Routing::to("2")));
    // The record is in the artifact bucket, under the provider's prefix, and says it is over.
    let record =
        w.s3.get_object()
            .bucket(BUCKET)
            .key("functions/records/rollouts/linear/live.json")
            .send()
            .await
            .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&record.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(
        (body["id"].as_str(), body["status"].as_str()),
        (Some(report.id.as_str()), Some("succeeded"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_in_alarm_rolls_back_to_exactly_the_starting_routing() {
    let Some(w) = world().await else { return };
    two_versions(&w.aws, "alarmed").await;
    alarm(&w.cw, "alarmed-errors", StateValue::Ok, "fine so far").await;
    let before = alias(&w.lambda, "alarmed").await;
    // Once the canary's traffic has moved, the alarm fires.
    let (cw, lambda) = (w.cw.clone(), w.lambda.clone());
    let during = Arc::new(Mutex::new(None));
    let sink = during.clone();
    let observer = move |e: &RolloutEvent| {
        if let RolloutEvent::StepStarted { index: 0, .. } = e {
            *sink.lock().unwrap() = Some(block_on(alias(&lambda, "alarmed")));
            block_on(set_state(
                &cw,
                "alarmed-errors",
                StateValue::Alarm,
                "Threshold Crossed: 7 errors",
            ));
        }
    };
    let report = rollout(
        &w.aws,
        "alarmed",
        "2",
        "canary:50%:1500ms",
        Gate::Alarm("alarmed-errors".into()),
    )
    .observer(&observer)
    .run()
    .await
    .unwrap();
    assert_eq!(report.status, RolloutStatus::RolledBack, "{}", report.summary());
    let f = report.failure.as_ref().unwrap();
    assert_eq!((f.gate.as_str(), f.step), ("alarm:alarmed-errors", Some(0)));
    assert_eq!(f.reason, "Threshold Crossed: 7 errors");
    assert_eq!(
        during.lock().unwrap().clone().unwrap(),
        ("1".to_string(), HashMap::from([("2".to_string(), 0.5)]))
    );
    assert_eq!(report.steps.len(), 1);
    assert_eq!(report.starting_routing, Some(Routing::to("1")));
    assert_eq!(report.final_routing, Some(Routing::to("1")));
    assert_eq!(alias(&w.lambda, "alarmed").await, before);
    assert_eq!(before, ("1".to_string(), HashMap::new()));

    // An alarm already in ALARM stops the rollout before any traffic moves.
    let again = rollout(
        &w.aws,
        "alarmed",
        "2",
        "canary:50%:1500ms",
        Gate::Alarm("alarmed-errors".into()),
    )
    .run()
    .await
    .unwrap();
    assert_eq!(again.status, RolloutStatus::RolledBack);
    assert!(again.steps.is_empty(), "{:?}", again.steps);
    assert_eq!(alias(&w.lambda, "alarmed").await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarm_states_come_back_in_order_and_a_missing_alarm_is_not_found() {
    let Some(w) = world().await else { return };
    alarm(&w.cw, "a-ok", StateValue::Ok, "ok reason").await;
    alarm(&w.cw, "b-alarm", StateValue::Alarm, "alarm reason").await;
    let names = ["b-alarm".to_string(), "a-ok".to_string()];
    let states = w.aws.alarm_states(&names).await.unwrap();
    let got: Vec<_> = states
        .iter()
        .map(|s| (s.name.as_str(), s.value, s.reason.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("b-alarm", AlarmValue::Alarm, "alarm reason"),
            ("a-ok", AlarmValue::Ok, "ok reason")
        ]
    );
    let e = w
        .aws
        .alarm_states(&["a-ok".to_string(), "nobody".to_string()])
        .await
        .unwrap_err();
    let Error::NotFound { kind, name, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!((*kind, name.as_str()), (ResourceKind::Alarm, "nobody"));
    assert!(e.to_string().starts_with("aws: "), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rollouts_of_one_alias_never_both_proceed() {
    let Some(w) = world().await else { return };
    two_versions(&w.aws, "contended").await;
    let plan: RolloutPlan = "canary:50%:1s".parse().unwrap();
    let a = Rollout::new(&w.aws, "contended", "live", "2", plan.clone()).poll_every(Duration::from_millis(200));
    let b = Rollout::new(&w.aws, "contended", "live", "2", plan).poll_every(Duration::from_millis(200));
    let (ra, rb) = tokio::join!(a.run(), b.run());
    let (won, lost) = match (ra, rb) {
        (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w, l),
        other => panic!("exactly one should proceed: {other:?}"),
    };
    assert_eq!(won.status, RolloutStatus::Succeeded, "{}", won.summary());
    let Error::Conflict { message, resource, .. } = &lost else {
        panic!("{lost:?}")
    };
    assert_eq!(resource, "contended@live");
    assert!(message.contains(&won.id) && message.contains("holds it"), "{message}");
    assert_eq!(alias(&w.lambda, "contended").await, ("2".to_string(), HashMap::new()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_conditional_s3_objects() {
    let Some(w) = world().await else { return };
    let p = &w.aws;
    let key = "tests/one.json";
    assert_eq!(p.read_record(key).await.unwrap(), None);
    let t1 = p.write_record(key, b"one", &WriteCondition::Absent).await.unwrap();
    // Create twice: the second loses.
    let e = p
        .write_record(key, b"other", &WriteCondition::Absent)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Conflict { resource, .. } if resource == key),
        "{e:?}"
    );
    assert!(e.to_string().contains("already exists"), "{e}");
    let t2 = p
        .write_record(key, b"two", &WriteCondition::Matches(t1.clone()))
        .await
        .unwrap();
    assert_ne!(t1, t2);
    // A stale tag loses, to a write and to a delete.
    let e = p
        .write_record(key, b"three", &WriteCondition::Matches(t1.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Conflict { .. }) && e.to_string().contains("changed"),
        "{e}"
    );
    let e = p.delete_record(key, &t1).await.unwrap_err();
    assert!(matches!(&e, Error::Conflict { .. }), "{e:?}");
    let now = p.read_record(key).await.unwrap().unwrap();
    assert_eq!((now.body.as_slice(), &now.tag), (&b"two"[..], &t2));
    // The tag is the object's ETag, in the bucket under the provider's prefix.
    let head =
        w.s3.head_object()
            .bucket(BUCKET)
            .key(format!("functions/records/{key}"))
            .send()
            .await
            .unwrap();
    assert_eq!(head.e_tag(), Some(t2.0.as_str()));
    p.delete_record(key, &t2).await.unwrap();
    assert_eq!(p.read_record(key).await.unwrap(), None);
    // Deleting what is not there is not an error; replacing it is a lost condition.
    p.delete_record(key, &t2).await.unwrap();
    let e = p
        .write_record(key, b"x", &WriteCondition::Matches(t2))
        .await
        .unwrap_err();
    assert!(matches!(&e, Error::Conflict { .. }), "{e:?}");
    let bad = p
        .write_record("../escape", b"x", &WriteCondition::Absent)
        .await
        .unwrap_err();
    assert!(matches!(bad, Error::InvalidInput { .. }), "{bad:?}");

    // Many creators at once: exactly one wins.
    let attempts: Vec<_> = (0..12)
        .map(|i| {
            let p = p.clone();
            tokio::spawn(async move {
                p.write_record(
                    "tests/race.json",
                    format!("writer {i}").as_bytes(),
                    &WriteCondition::Absent,
                )
                .await
            })
        })
        .collect();
    let mut results = Vec::new();
    for a in attempts {
        results.push(a.await.unwrap());
    }
    let won: Vec<&RecordTag> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(e, Error::Conflict { .. })),
        "{results:?}"
    );
}

/// What Lambda publishes for `n` invocations of `function:live` that ran `version`, `errors`
/// of them failing, at `at_ms`: under `Resource=function:live` with `ExecutedVersion`.
async fn seed(cw: &aws_sdk_cloudwatch::Client, function: &str, version: &str, n: u32, errors: u32, at_ms: u64) {
    let dims: Vec<Dimension> = [
        ("FunctionName", function.to_string()),
        ("Resource", format!("{function}:live")),
        ("ExecutedVersion", version.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| Dimension::builder().name(k).value(v).build())
    .collect();
    let datum = |metric: &str, value: u32| {
        MetricDatum::builder()
            .metric_name(metric)
            .set_dimensions(Some(dims.clone()))
            .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from_millis(at_ms as i64))
            .value(f64::from(value))
            .unit(StandardUnit::Count)
            .build()
    };
    cw.put_metric_data()
        .namespace("AWS/Lambda")
        .metric_data(datum("Invocations", n))
        .metric_data(datum("Errors", errors))
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_on_the_new_versions_metrics_counts_its_traffic_through_the_alias() {
    let Some(w) = world().await else { return };
    versions(&w.aws, "gated", 3).await;
    let rule = || Gate::Alert("error_rate > 5% min 10".parse().unwrap());
    // Healthy: at each step, 20 calls of version 2 through `live`, none failing (and version 1
    // failing, which the gate does not look at).
    let cw = w.cw.clone();
    let healthy = move |e: &RolloutEvent| {
        if let RolloutEvent::StepStarted { .. } = e {
            let at = faas_core::observe::now_ms();
            block_on(seed(&cw, "gated", "2", 20, 0, at));
            block_on(seed(&cw, "gated", "1", 20, 20, at));
        }
    };
    let report = rollout(&w.aws, "gated", "2", "canary:50%:1500ms", rule())
        .observer(&healthy)
        .run()
        .await
        .unwrap();
    assert_eq!(report.status, RolloutStatus::Succeeded, "{}", report.summary());
    let gate = report.steps[0].gates.last().unwrap();
    assert_eq!((gate.verdict.as_str(), gate.invocations), ("ok", Some(20)), "{gate:?}");
    assert_eq!(alias(&w.lambda, "gated").await, ("2".to_string(), HashMap::new()));

    // Failing: version 3 fails 6 of its 20 calls through `live` during the canary.
    let cw = w.cw.clone();
    let failing = move |e: &RolloutEvent| {
        if let RolloutEvent::StepStarted { index: 0, .. } = e {
            block_on(seed(&cw, "gated", "3", 20, 6, faas_core::observe::now_ms()));
        }
    };
    let report = rollout(&w.aws, "gated", "3", "canary:50%:1500ms", rule())
        .observer(&failing)
        .run()
        .await
        .unwrap();
    assert_eq!(report.status, RolloutStatus::RolledBack, "{}", report.summary());
    let f = report.failure.unwrap();
    assert_eq!(
        (f.gate.as_str(), f.observed, f.step),
        ("error_rate > 5% min 10", Some(30.0), Some(0))
    );
    assert_eq!(alias(&w.lambda, "gated").await, ("2".to_string(), HashMap::new()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_on_a_missing_alarm_is_refused_before_anything_moves() {
    let Some(w) = world().await else { return };
    two_versions(&w.aws, "misspelt").await;
    let e = Rollout::new(&w.aws, "misspelt", "live", "2", "canary:50%:1s".parse().unwrap())
        .gate(Gate::Alarm("no-such-alarm".into()))
        .run()
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::NotFound { name, .. } if name == "no-such-alarm"),
        "{e:?}"
    );
    assert_eq!(alias(&w.lambda, "misspelt").await, ("1".to_string(), HashMap::new()));
    // No lease was taken: no record was written.
    assert_eq!(w.aws.read_record("rollouts/misspelt/live.json").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conditional_write_retried_after_it_landed_is_still_ours() {
    let Some(w) = world().await else { return };
    let p = &w.aws;
    // S3 writes the record, then the answer is lost: the SDK sends it again, and S3 refuses
    // the retry's If-None-Match (the object is there now: ours).
    let lose_the_answer = || {
        w.proxy.inject(Fault {
            method: "PUT",
            path: "/records/tests/retried.json",
            skip: 0,
            times: 1,
            kind: FaultKind::ResetAfterForward,
        })
    };
    lose_the_answer();
    let t1 = p
        .write_record("tests/retried.json", b"mine", &WriteCondition::Absent)
        .await
        .unwrap();
    let puts = |seen: &[faas_aws::test_support::Seen]| {
        seen.iter()
            .filter(|s| s.method == "PUT" && s.path.ends_with("/records/tests/retried.json"))
            .count()
    };
    assert_eq!(puts(&w.proxy.seen()), 2, "the SDK retried the write");
    let now = p.read_record("tests/retried.json").await.unwrap().unwrap();
    assert_eq!((now.body.as_slice(), &now.tag), (&b"mine"[..], &t1));
    // The same for a replace (If-Match on the tag the first attempt replaced).
    lose_the_answer();
    let t2 = p
        .write_record(
            "tests/retried.json",
            b"mine again",
            &WriteCondition::Matches(t1.clone()),
        )
        .await
        .unwrap();
    assert_eq!(p.read_record("tests/retried.json").await.unwrap().unwrap().tag, t2);
    // Someone else's bytes are still a lost condition.
    let e = p
        .write_record("tests/retried.json", b"theirs", &WriteCondition::Matches(t1))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Conflict { .. }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_from_elsewhere_stops_a_running_rollout_and_restores_the_alias() {
    let Some(w) = world().await else { return };
    two_versions(&w.aws, "aborted").await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = Mutex::new(Some(tx));
    let observer = move |e: &RolloutEvent| {
        if let RolloutEvent::StepStarted { index: 0, .. } = e
            && let Some(tx) = tx.lock().unwrap().take()
        {
            let _ = tx.send(());
        }
    };
    // A canary of an hour, aborted by a second runner (another process, as far as the
    // record knows) once its traffic has moved.
    let running = Rollout::new(&w.aws, "aborted", "live", "2", "canary:50%:1h".parse().unwrap())
        .poll_every(Duration::from_millis(200))
        .lease(Duration::from_secs(10))
        .observer(&observer)
        .run();
    let abort = async {
        rx.await.unwrap();
        assert_eq!(
            alias(&w.lambda, "aborted").await,
            ("1".to_string(), HashMap::from([("2".to_string(), 0.5)]))
        );
        Rollout::new(&w.aws, "aborted", "live", "2", RolloutPlan::AllAtOnce)
            .poll_every(Duration::from_millis(200))
            .abort()
            .await
    };
    let (ran, aborted) = tokio::time::timeout(Duration::from_secs(60), async { tokio::join!(running, abort) })
        .await
        .unwrap();
    let (ran, aborted) = (ran.unwrap(), aborted.unwrap());
    assert_eq!(ran.status, RolloutStatus::RolledBack, "{}", ran.summary());
    assert_eq!(ran.failure.unwrap().gate, "abort");
    assert_eq!(aborted.status, RolloutStatus::RolledBack);
    assert_eq!(alias(&w.lambda, "aborted").await, ("1".to_string(), HashMap::new()));
}
