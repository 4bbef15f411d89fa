//! Rollouts on Azure Premium/Dedicated, against the fake ARM and Azurite: the slot `staging`
//! runs the new version, each step sets production's `rampUpRules` share to the slot (read
//! from the fake's stored site config, not through faas), the last step clears the rule and
//! swaps the slot into production; a gate on the slot's metrics rolls back before the swap; a
//! failing post-traffic hook swaps back; an abort from another provider takes the share back
//! without a swap; two rollouts never both proceed; a version the slot does not run is
//! refused before anything moves; records are conditional blobs in Azurite (`If-None-Match:
//! *`, `If-Match`) that ride out busy storage and lost answers
//! ([`BlobFaults`](faas_azure::test_support::BlobFaults)); Flex Consumption is refused
//! before any call.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use faas_azure::test_support::{Azurite, FakeAzure, marked_package as package};
use faas_azure::{AzureProvider, Hosting};
use faas_core::records::{RecordTag, WriteCondition};
use faas_core::rollout::{FnHook, Gate, Rollout, RolloutEvent, RolloutPlan, RolloutStatus};
use faas_core::{DeployOptions, Error, FunctionSpec, Provider, ProviderExt, Routing};

/// The app setting holding the sha256 of the code a site runs.
const CODE_SHA: &str = "FAAS_CODE_SHA256";

fn spec(name: &str) -> FunctionSpec {
    FunctionSpec::new(name, "python3.12".parse().unwrap(), "function_app.app")
}

/// The fake, Azurite and a Premium provider on them.
struct Setup {
    fake: FakeAzure,
    azure: AzureProvider,
    azurite: Azurite,
    dir: tempfile::TempDir,
}

/// `None` outside CI when Azurite is not installed.
async fn setup() -> Option<Setup> {
    let azurite = Azurite::start().await?;
    let fake = FakeAzure::start().await;
    let azure = fake.provider(&azurite.blob_endpoint).await;
    Some(Setup {
        fake,
        azure,
        azurite,
        dir: tempfile::tempdir().unwrap(),
    })
}

/// The code sha256s of `app`'s version 1 and 2.
struct Shas {
    one: String,
    two: String,
}

impl Setup {
    /// Version 1 in production, version 2 in the slot `staging` (both published).
    async fn two_versions(&self, app: &str) -> Shas {
        let (one, two) = (
            package(self.dir.path(), &format!("{app}-one")),
            package(self.dir.path(), &format!("{app}-two")),
        );
        let publish = DeployOptions {
            publish: true,
            ..DeployOptions::default()
        };
        self.azure.deploy_package(&spec(app), &one, &publish).await.unwrap();
        let staging = DeployOptions {
            label: Some("staging".into()),
            ..publish
        };
        self.azure.deploy_package(&spec(app), &two, &staging).await.unwrap();
        // Deploying to the slot ran version 2 in production too: put version 1 back.
        self.azure
            .deploy_package(&spec(app), &one, &DeployOptions::default())
            .await
            .unwrap();
        assert_eq!(self.production_sha(app), one.sha256);
        assert_eq!(self.fake.settings(&format!("{app}-staging"))[CODE_SHA], two.sha256);
        Shas {
            one: one.sha256,
            two: two.sha256,
        }
    }

    /// The code production runs, from the fake's stored settings.
    fn production_sha(&self, app: &str) -> String {
        self.fake.settings(app)[CODE_SHA].clone()
    }

    /// The slot's `defaultHostName`, from the fake's stored site.
    fn staging_host(&self, app: &str) -> String {
        let site = self.fake.site(&format!("{app}-staging")).unwrap();
        site["properties"]["defaultHostName"].as_str().unwrap().to_string()
    }
}

/// Production's stored `rampUpRules` as (actionHostName, reroutePercentage).
fn stored_rules(fake: &FakeAzure, app: &str) -> Vec<(String, f64)> {
    fake.ramp_up_rules(app)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["actionHostName"].as_str().unwrap_or_default().to_string(),
                r["reroutePercentage"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// A rollout of version 2 on `app@staging` following `plan`, checking often.
fn rollout<'a>(azure: &'a AzureProvider, app: &str, plan: &str) -> Rollout<'a> {
    Rollout::new(azure, app, "staging", "2", plan.parse().unwrap())
        .poll_every(Duration::from_millis(200))
        .lease(Duration::from_secs(5))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linear_rollout_ramps_the_slot_up_then_swaps_it_in() {
    let Some(s) = setup().await else { return };
    let shas = s.two_versions("ramp-app").await;
    let host = s.staging_host("ramp-app");
    assert_eq!(s.azure.ramp_up_percent("ramp-app", "staging").await.unwrap(), 0.0);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let fake = &s.fake;
    let observer = move |e: &RolloutEvent| {
        if let RolloutEvent::StepStarted { percent, .. } = e {
            let production = fake.settings("ramp-app")[CODE_SHA].clone();
            sink.lock()
                .unwrap()
                .push((*percent, stored_rules(fake, "ramp-app"), production));
        }
    };
    let report = rollout(&s.azure, "ramp-app", "linear:50%:1500ms")
        .observer(&observer)
        .run()
        .await
        .unwrap();
    assert_eq!(report.status, RolloutStatus::Succeeded, "{}", report.summary());
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (50.0, vec![(host, 50.0)], shas.one.clone()),
            (100.0, vec![], shas.two.clone()),
        ]
    );
    // Swapped: production runs version 2, the slot version 1; no rule left.
    assert_eq!(s.production_sha("ramp-app"), shas.two);
    assert_eq!(s.fake.settings("ramp-app-staging")[CODE_SHA], shas.one);
    assert_eq!(stored_rules(&s.fake, "ramp-app"), vec![]);
    // Production's version is named, not `latest`.
    assert_eq!(report.starting_routing, Some(Routing::to("1")));
    assert_eq!(report.final_routing, Some(Routing::to("2")));
    assert!(s.fake.requests().iter().any(|r| r.contains("/slotsswap")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_post_traffic_hook_swaps_back() {
    let Some(s) = setup().await else { return };
    let shas = s.two_versions("hook-app").await;
    // Another slot's rule is not the rollout's: it stays as it is throughout.
    s.azure
        .set_label("hook-app", "canary", &Routing::to("1"))
        .await
        .unwrap();
    s.azure.ramp_up("hook-app", "canary", 10.0).await.unwrap();
    let canary = s.fake.site("hook-app-canary").unwrap()["properties"]["defaultHostName"]
        .as_str()
        .unwrap()
        .to_string();
    let hook = FnHook::new("smoke", |_ctx| {
        Box::pin(async { Ok(Err("version 2 answered 500".to_string())) })
    });
    let report = rollout(&s.azure, "hook-app", "canary:25%:500ms")
        .post_traffic(hook)
        .run()
        .await
        .unwrap();
    assert_eq!(report.status, RolloutStatus::RolledBack, "{}", report.summary());
    assert_eq!(report.failure.as_ref().unwrap().gate, "post_traffic:smoke");
    // The swap happened and was undone: production runs version 1, the slot version 2.
    let swaps = s
        .fake
        .requests()
        .iter()
        .filter(|r| r.starts_with("POST ") && r.contains("/slotsswap"))
        .count();
    assert_eq!(swaps, 2);
    assert_eq!(s.production_sha("hook-app"), shas.one);
    assert_eq!(s.fake.settings("hook-app-staging")[CODE_SHA], shas.two);
    // The starting share (none) is back; the other slot's rule was kept.
    assert_eq!(stored_rules(&s.fake, "hook-app"), vec![(canary, 10.0)]);
    assert_eq!(s.azure.ramp_up_percent("hook-app", "staging").await.unwrap(), 0.0);
    assert_eq!(s.azure.ramp_up_percent("hook-app", "canary").await.unwrap(), 10.0);
    assert_eq!(report.final_routing, Some(Routing::to("1")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_measures_the_slot_and_rolls_back_before_the_swap() {
    let Some(s) = setup().await else { return };
    let shas = s.two_versions("gate-app").await;
    // Once the slot has its share, it answers 20 of 100 requests with 5xx; production none.
    let fake = &s.fake;
    let observer = move |e: &RolloutEvent| {
        if let RolloutEvent::StepStarted { percent, .. } = e
            && *percent < 100.0
        {
            let at = faas_core::observe::now_ms();
            fake.seed_metric("gate-app-staging", "Requests", at, 100.0);
            fake.seed_metric("gate-app-staging", "Http5xx", at, 20.0);
            fake.seed_metric("gate-app", "Requests", at, 100.0);
        }
    };
    let report = rollout(&s.azure, "gate-app", "canary:10%:1500ms")
        .gate(Gate::Alert("error_rate > 5% min 10".parse().unwrap()))
        .observer(&observer)
        .run()
        .await
        .unwrap();
    assert_eq!(report.status, RolloutStatus::RolledBack, "{}", report.summary());
    let failure = report.failure.as_ref().unwrap();
    assert_eq!(failure.step, Some(0), "{failure:?}");
    assert!(failure.observed.is_some_and(|o| o > 0.05), "{failure:?}");
    // The metrics query named the slot.
    assert!(
        s.fake
            .requests()
            .iter()
            .any(|r| r.contains("/sites/gate-app/slots/staging/providers/Microsoft.Insights/metrics")),
        "{:?}",
        s.fake.requests()
    );
    assert_eq!(stored_rules(&s.fake, "gate-app"), vec![]);
    assert_eq!(s.production_sha("gate-app"), shas.one);
    assert!(!s.fake.requests().iter().any(|r| r.contains("/slotsswap")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_from_another_provider_takes_the_share_back_without_a_swap() {
    let Some(s) = setup().await else { return };
    let shas = s.two_versions("abort-app").await;
    let host = s.staging_host("abort-app");
    // Another process: its own provider on the same subscription and container.
    let other = s.fake.provider(&s.azurite.blob_endpoint).await;
    let runner = rollout(&s.azure, "abort-app", "canary:50%:1h").run();
    let aborter = async {
        while stored_rules(&s.fake, "abort-app") != vec![(host.clone(), 50.0)] {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Rollout::new(&other, "abort-app", "staging", "2", RolloutPlan::AllAtOnce)
            .poll_every(Duration::from_millis(200))
            .abort()
            .await
    };
    let (ran, aborted) = tokio::join!(runner, aborter);
    let (ran, aborted) = (ran.unwrap(), aborted.unwrap());
    assert_eq!(ran.status, RolloutStatus::RolledBack, "{}", ran.summary());
    assert_eq!(ran.failure.as_ref().unwrap().gate, "abort");
    assert_eq!(aborted.status, RolloutStatus::RolledBack);
    assert_eq!(stored_rules(&s.fake, "abort-app"), vec![]);
    assert_eq!(s.production_sha("abort-app"), shas.one);
    assert!(!s.fake.requests().iter().any(|r| r.contains("/slotsswap")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rollouts_of_the_slot_never_both_proceed() {
    let Some(s) = setup().await else { return };
    let shas = s.two_versions("race-app").await;
    let a = rollout(&s.azure, "race-app", "canary:50%:1s");
    let b = rollout(&s.azure, "race-app", "canary:50%:1s");
    let (ra, rb) = tokio::join!(a.run(), b.run());
    let (won, lost) = match (ra, rb) {
        (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w, l),
        other => panic!("exactly one should proceed: {other:?}"),
    };
    assert_eq!(won.status, RolloutStatus::Succeeded, "{}", won.summary());
    let Error::Conflict { message, resource, .. } = &lost else {
        panic!("{lost:?}")
    };
    assert_eq!(resource, "race-app@staging");
    assert!(message.contains(&won.id), "{message}");
    assert_eq!(s.production_sha("race-app"), shas.two);
    assert_eq!(stored_rules(&s.fake, "race-app"), vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_the_slot_does_not_run_is_refused_before_anything_moves() {
    let Some(s) = setup().await else { return };
    let shas = s.two_versions("strict-app").await;
    s.azure
        .set_label("strict-app", "staging", &Routing::to("1"))
        .await
        .unwrap();
    s.fake.clear_requests();
    let e = Rollout::new(&s.azure, "strict-app", "staging", "2", "linear:50%:1m".parse().unwrap())
        .run()
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput { field, .. } if field == "version"),
        "{e}"
    );
    assert!(e.to_string().contains("staging"), "{e}");
    assert_eq!(s.fake.writes(), Vec::<String>::new());
    assert_eq!(s.production_sha("strict-app"), shas.one);
    assert_eq!(stored_rules(&s.fake, "strict-app"), vec![]);
    // No record was taken either.
    let record = s.azure.read_record("rollouts/strict-app/staging.json").await.unwrap();
    assert_eq!(record, None);
    // A gate on a figure Azure cannot give (cold starts) is refused the same way.
    s.azure
        .set_label("strict-app", "staging", &Routing::to("2"))
        .await
        .unwrap();
    s.fake.clear_requests();
    let e = Rollout::new(&s.azure, "strict-app", "staging", "2", "linear:50%:1m".parse().unwrap())
        .gate(faas_core::rollout::Gate::Alert(
            "cold_start_rate > 20%".parse().unwrap(),
        ))
        .run()
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput { field, .. } if field == "gate"),
        "{e}"
    );
    assert!(e.to_string().contains("cold_start_rate"), "{e}");
    assert_eq!(s.fake.writes(), Vec::<String>::new());
    assert_eq!(stored_rules(&s.fake, "strict-app"), vec![]);
}

/// The records' conditional contract itself is the conformance suite's
/// `records_are_conditional` (tests/conformance.rs); here is what is Azure's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_blobs_beside_the_packages() {
    let Some(s) = setup().await else { return };
    let key = "rollouts/rec-app/staging.json";
    let first = s
        .azure
        .write_record(key, b"one", &WriteCondition::Absent)
        .await
        .unwrap();
    // The tag is the blob's ETag, quotes and all.
    assert!(first.0.starts_with('"') && first.0.ends_with('"'), "{first:?}");
    // A tag this container never gave is a conflict, never a write.
    let foreign = RecordTag("\"0x8D000000000\"".into());
    let e = s
        .azure
        .write_record(key, b"x", &WriteCondition::Matches(foreign.clone()))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Conflict { .. }), "{e}");
    let e = s.azure.delete_record(key, &foreign).await.unwrap_err();
    assert!(matches!(e, Error::Conflict { .. }), "{e}");
    assert_eq!(s.azure.read_record(key).await.unwrap().unwrap().body, b"one");
    // A function named `records` shares the records' prefix: deleting it leaves them be.
    let pkg = package(s.dir.path(), "records-fn");
    s.azure
        .deploy_package(&spec("records"), &pkg, &DeployOptions::default())
        .await
        .unwrap();
    s.azure.delete("records").await.unwrap();
    assert_eq!(s.azure.read_record(key).await.unwrap().unwrap().tag, first);
    s.azure.delete_record(key, &first).await.unwrap();
    assert_eq!(s.azure.read_record(key).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flex_consumption_refuses_rollouts_before_any_call() {
    let Some(azurite) = Azurite::start().await else { return };
    let fake = FakeAzure::start().await;
    let flex = fake
        .builder(&azurite.blob_endpoint)
        .hosting(Hosting::Flex)
        .build()
        .await
        .unwrap();
    assert!(!flex.info().capability.records);
    fake.clear_requests();
    for plan in ["linear:50%:1m", "all-at-once"] {
        let e = Rollout::new(&flex, "flex-app", "staging", "1", plan.parse().unwrap())
            .run()
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
        assert!(e.to_string().contains("labels"), "{e}");
    }
    let e = flex.read_record("rollouts/flex-app/staging.json").await.unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    assert_eq!(fake.requests(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_calls_ride_out_busy_storage_and_lost_answers() {
    let Some(azurite) = Azurite::start().await else { return };
    let faults = azurite.with_faults().await;
    let fake = FakeAzure::start().await;
    let azure = fake.provider(&faults.blob_endpoint).await;
    let key = "rollouts/flaky-app/staging.json";
    // Busy storage (503 ServerBusy) is waited out, for reads and writes alike.
    assert_eq!(azure.read_record(key).await.unwrap(), None);
    faults.busy_next(2);
    let first = azure.write_record(key, b"one", &WriteCondition::Absent).await.unwrap();
    assert_eq!(faults.faulted(), 2);
    // The create lands, its answer is lost; the retry meets 409 and finds our bytes there.
    azure.delete_record(key, &first).await.unwrap();
    faults.lose_next_answer();
    let created = azure.write_record(key, b"one", &WriteCondition::Absent).await.unwrap();
    assert_eq!(faults.faulted(), 3);
    let read = azure.read_record(key).await.unwrap().unwrap();
    assert_eq!((read.body.as_slice(), &read.tag), (b"one".as_slice(), &created));
    // The same for a replace: the retry meets 412 (our write changed the ETag).
    faults.lose_next_answer();
    let second = azure
        .write_record(key, b"two", &WriteCondition::Matches(created.clone()))
        .await
        .unwrap();
    assert_eq!(faults.faulted(), 4);
    assert_eq!(azure.read_record(key).await.unwrap().unwrap().tag, second);
    // Bytes other than ours in the way are still a conflict.
    let e = azure
        .write_record(key, b"mine", &WriteCondition::Matches(created))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Conflict { .. }), "{e}");
    // A delete whose answer was lost is done: the retry finds nothing there.
    faults.lose_next_answer();
    azure.delete_record(key, &second).await.unwrap();
    assert_eq!(azure.read_record(key).await.unwrap(), None);
}
