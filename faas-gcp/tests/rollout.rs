//! Rollouts on GCP, against the fake Cloud Functions / Cloud Run and gcp-storage-emulator:
//! the serving label's Cloud Run traffic moves step by step (read from the fake's stored
//! service, not through faas), a failing pre-traffic hook moves nothing, a label other than
//! the serving one and fractional percents are refused before anything moves, two rollouts of
//! one label never both proceed, an abort from another provider instance reaches the runner,
//! and records are conditional writes in the artifact bucket (a write whose answer was lost
//! included).
//!
//! The emulator ignores `ifGenerationMatch`, so the provider talks to it through
//! [`GcsPreconditions`], which enforces the documented semantics in front of it; the last test
//! shows what the emulator alone does.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faas_core::records::{RecordTag, WriteCondition};
use faas_core::rollout::{FnHook, Rollout, RolloutEvent, RolloutPlan, RolloutStatus};
use faas_core::{DeployOptions, Error, Provider, ProviderExt, Routing};
use faas_gcp::GcpProvider;
use faas_gcp::test_support::{FakeGcp, GcsEmulator, GcsPreconditions, package, spec};

const BUCKET: &str = "faas-artifacts";

/// The fake, the emulator behind its precondition proxy, and a provider keeping its
/// artifacts and records in the emulator's bucket.
struct Setup {
    fake: FakeGcp,
    gcs: GcsEmulator,
    proxy: GcsPreconditions,
    gcp: GcpProvider,
    dir: tempfile::TempDir,
}

/// `None` outside CI when the emulator is not installed.
async fn setup() -> Option<Setup> {
    let gcs = GcsEmulator::start(BUCKET).await?;
    let proxy = gcs.with_preconditions().await;
    let fake = FakeGcp::start().await;
    fake.set_storage(&gcs.url);
    let gcp = fake
        .builder()
        .bucket(BUCKET)
        .prefix("faas/")
        .storage_url(&proxy.url)
        .build()
        .await
        .unwrap();
    Some(Setup {
        fake,
        gcs,
        proxy,
        gcp,
        dir: tempfile::tempdir().unwrap(),
    })
}

impl Setup {
    /// `name` with version 1 behind the serving label `live` and version 2 published.
    async fn two_versions(&self, name: &str) {
        for (i, marker) in ["one", "two"].iter().enumerate() {
            let opts = DeployOptions {
                publish: true,
                label: (i == 0).then(|| "live".to_string()),
                ..DeployOptions::default()
            };
            let pkg = package(self.dir.path(), &format!("{name}-{marker}"));
            self.gcp.deploy_package(&spec(name), &pkg, &opts).await.unwrap();
        }
        assert_eq!(
            self.gcp.get_label(name, "live").await.unwrap().routing,
            Routing::to("1")
        );
    }
}

/// The serving percents of the fake's stored Cloud Run service, by version (`vN` tags name
/// the revisions): read from the fake itself, not through faas.
fn stored_percents(fake: &FakeGcp, function: &str) -> BTreeMap<String, u64> {
    let service = fake.service_json(function);
    let traffic = service["traffic"].as_array().unwrap();
    let short = |r: &serde_json::Value| r.as_str().unwrap_or_default().rsplit('/').next().unwrap().to_string();
    let version_of: BTreeMap<String, String> = traffic
        .iter()
        .filter_map(|t| {
            let tag = t["tag"].as_str()?;
            let n = tag.strip_prefix('v').filter(|n| n.parse::<u64>().is_ok())?;
            Some((short(&t["revision"]), n.to_string()))
        })
        .collect();
    let mut out = BTreeMap::new();
    for t in traffic {
        let percent = t["percent"].as_u64().unwrap_or(0);
        if percent > 0 {
            let rev = short(&t["revision"]);
            let version = version_of.get(&rev).cloned().unwrap_or(rev);
            *out.entry(version).or_insert(0) += percent;
        }
    }
    out
}

fn percents(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(v, p)| (v.to_string(), *p)).collect()
}

/// The rollout record as stored in the emulator (read there directly).
async fn stored_record(gcs: &GcsEmulator, function: &str) -> Option<serde_json::Value> {
    let object = format!("faas/records/rollouts/{function}/live.json").replace('/', "%2F");
    let resp = reqwest::get(format!("{}/storage/v1/b/{BUCKET}/o/{object}?alt=media", gcs.url))
        .await
        .unwrap();
    if resp.status() == reqwest::StatusCode::NOT_FOUND {
        return None;
    }
    Some(serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linear_rollout_moves_the_services_traffic_step_by_step() {
    let Some(s) = setup().await else { return };
    s.two_versions("linear-fn").await;
    assert_eq!(stored_percents(&s.fake, "linear-fn"), percents(&[("1", 100)]));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let fake = &s.fake;
    let observer = move |e: &RolloutEvent| {
        if let RolloutEvent::StepStarted { percent, .. } = e {
            sink.lock()
                .unwrap()
                .push((*percent, stored_percents(fake, "linear-fn")));
        }
    };
    let report = Rollout::new(&s.gcp, "linear-fn", "live", "2", "linear:50%:1500ms".parse().unwrap())
        .poll_every(Duration::from_millis(200))
        .lease(Duration::from_secs(5))
        .observer(&observer)
        .run()
        .await
        .unwrap();
    assert_eq!(report.status, RolloutStatus::Succeeded, "{}", report.summary());
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (50.0, percents(&[("1", 50), ("2", 50)])),
            (100.0, percents(&[("2", 100)]))
        ]
    );
    assert_eq!(stored_percents(&s.fake, "linear-fn"), percents(&[("2", 100)]));
    assert_eq!(report.final_routing, Some(Routing::to("2")));
    // The state and lease lived next to the artifacts, and say the rollout is over.
    let record = stored_record(&s.gcs, "linear-fn").await.unwrap();
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["lease_until_ms"], 0, "{record}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_pre_traffic_hook_leaves_the_traffic_untouched() {
    let Some(s) = setup().await else { return };
    s.two_versions("hooked-fn").await;
    let before = s.fake.service_json("hooked-fn")["traffic"].clone();
    s.fake.clear_requests();
    let hook = FnHook::new("smoke", |_ctx| {
        Box::pin(async { Ok(Err("version 2 answered 500".to_string())) })
    });
    let report = Rollout::new(&s.gcp, "hooked-fn", "live", "2", "canary:10%:1h".parse().unwrap())
        .pre_traffic(hook)
        .run()
        .await
        .unwrap();
    assert_eq!(report.status, RolloutStatus::RolledBack);
    assert_eq!(report.failure.as_ref().unwrap().gate, "pre_traffic:smoke");
    assert!(report.steps.is_empty());
    assert_eq!(s.fake.service_json("hooked-fn")["traffic"], before);
    assert_eq!(stored_percents(&s.fake, "hooked-fn"), percents(&[("1", 100)]));
    // Rolling back to where it started changes nothing: no service write at all.
    let service_writes: Vec<String> = s
        .fake
        .writes()
        .into_iter()
        .filter(|w| w.contains("/services/"))
        .collect();
    assert_eq!(service_writes, Vec::<String>::new());
    assert_eq!(report.final_routing, Some(Routing::to("1")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rollouts_are_refused_before_anything_moves() {
    let Some(s) = setup().await else { return };
    s.two_versions("strict-fn").await;
    s.gcp.set_label("strict-fn", "beta", &Routing::to("1")).await.unwrap();
    s.fake.clear_requests();
    let linear: RolloutPlan = "linear:50%:1m".parse().unwrap();
    // Only the serving label splits Cloud Run traffic.
    let e = Rollout::new(&s.gcp, "strict-fn", "beta", "2", linear.clone())
        .run()
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput { field, .. } if field == "label"),
        "{e}"
    );
    assert!(e.to_string().contains("live"), "{e}");
    // Cloud Run splits in whole percents.
    let e = Rollout::new(&s.gcp, "strict-fn", "live", "2", "canary:2.5%:1m".parse().unwrap())
        .run()
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput { field, .. } if field == "strategy.percent"),
        "{e}"
    );
    // Without a bucket there is nowhere to keep the rollout's state.
    let no_bucket = s.fake.provider().await;
    let e = Rollout::new(&no_bucket, "strict-fn", "live", "2", linear)
        .run()
        .await
        .unwrap_err();
    assert!(matches!(&e, Error::Unsupported { .. }), "{e}");
    assert!(e.to_string().contains("FAAS_GCP_BUCKET"), "{e}");
    assert!(!no_bucket.info().capability.records, "the capability says so too");
    assert_eq!(s.fake.writes(), Vec::<String>::new());
    assert_eq!(stored_percents(&s.fake, "strict-fn"), percents(&[("1", 100)]));
    assert!(stored_record(&s.gcs, "strict-fn").await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rollouts_of_the_serving_label_never_both_proceed() {
    let Some(s) = setup().await else { return };
    s.two_versions("contended-fn").await;
    let plan: RolloutPlan = "canary:50%:1s".parse().unwrap();
    let a = Rollout::new(&s.gcp, "contended-fn", "live", "2", plan.clone()).poll_every(Duration::from_millis(200));
    let b = Rollout::new(&s.gcp, "contended-fn", "live", "2", plan).poll_every(Duration::from_millis(200));
    let (ra, rb) = tokio::join!(a.run(), b.run());
    let (won, lost) = match (ra, rb) {
        (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w, l),
        other => panic!("exactly one should proceed: {other:?}"),
    };
    assert_eq!(won.status, RolloutStatus::Succeeded, "{}", won.summary());
    let Error::Conflict { message, resource, .. } = &lost else {
        panic!("{lost:?}")
    };
    assert_eq!(resource, "contended-fn@live");
    assert!(message.contains(&won.id), "{message}");
    assert_eq!(stored_percents(&s.fake, "contended-fn"), percents(&[("2", 100)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_from_another_provider_puts_the_traffic_back() {
    let Some(s) = setup().await else { return };
    s.two_versions("abort-fn").await;
    // Another process: its own provider on the same project and bucket.
    let other = s
        .fake
        .builder()
        .bucket(BUCKET)
        .prefix("faas/")
        .storage_url(&s.proxy.url)
        .build()
        .await
        .unwrap();
    let runner = Rollout::new(&s.gcp, "abort-fn", "live", "2", "canary:50%:1h".parse().unwrap())
        .poll_every(Duration::from_millis(200))
        .lease(Duration::from_secs(5))
        .run();
    let aborter = async {
        while stored_percents(&s.fake, "abort-fn") != percents(&[("1", 50), ("2", 50)]) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Rollout::new(&other, "abort-fn", "live", "2", RolloutPlan::AllAtOnce)
            .poll_every(Duration::from_millis(200))
            .abort()
            .await
    };
    let (ran, aborted) = tokio::join!(runner, aborter);
    let (ran, aborted) = (ran.unwrap(), aborted.unwrap());
    assert_eq!(ran.status, RolloutStatus::RolledBack, "{}", ran.summary());
    assert_eq!(ran.failure.as_ref().unwrap().gate, "abort");
    assert_eq!(aborted.status, RolloutStatus::RolledBack);
    assert_eq!(stored_percents(&s.fake, "abort-fn"), percents(&[("1", 100)]));
    assert_eq!(
        stored_record(&s.gcs, "abort-fn").await.unwrap()["status"],
        "rolled_back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_generation_conditional_objects() {
    let Some(s) = setup().await else { return };
    let key = "rollouts/rec-fn/live.json";
    let conflict = |r: faas_core::Result<RecordTag>| match r {
        Err(Error::Conflict { .. }) => {}
        other => panic!("expected a conflict: {other:?}"),
    };
    assert_eq!(s.gcp.read_record(key).await.unwrap(), None);
    let first = s.gcp.write_record(key, b"one", &WriteCondition::Absent).await.unwrap();
    conflict(s.gcp.write_record(key, b"again", &WriteCondition::Absent).await);
    let second = s
        .gcp
        .write_record(key, b"two", &WriteCondition::Matches(first.clone()))
        .await
        .unwrap();
    assert_ne!(first, second);
    conflict(
        s.gcp
            .write_record(key, b"stale", &WriteCondition::Matches(first.clone()))
            .await,
    );
    let read = s.gcp.read_record(key).await.unwrap().unwrap();
    assert_eq!((read.body.as_slice(), &read.tag), (b"two".as_slice(), &second));
    let e = s.gcp.delete_record(key, &first).await.unwrap_err();
    assert!(matches!(e, Error::Conflict { .. }), "{e}");
    assert!(s.gcp.read_record(key).await.unwrap().is_some());
    s.gcp.delete_record(key, &second).await.unwrap();
    assert_eq!(s.gcp.read_record(key).await.unwrap(), None);
    s.gcp.delete_record(key, &second).await.unwrap();
    // Three refusals, all from the documented preconditions.
    assert_eq!(s.proxy.refused(), 3);
    // A tag is a generation this bucket gave, nothing else.
    let e = s
        .gcp
        .write_record(key, b"x", &WriteCondition::Matches(RecordTag("etag-abc".into())))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
    // The objects sit under the artifacts' prefix.
    s.gcp
        .write_record(key, b"three", &WriteCondition::Absent)
        .await
        .unwrap();
    let meta = reqwest::get(format!(
        "{}/storage/v1/b/{BUCKET}/o/faas%2Frecords%2Frollouts%2Frec-fn%2Flive.json",
        s.gcs.url
    ))
    .await
    .unwrap();
    assert!(meta.status().is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_write_whose_answer_was_lost_is_kept_on_retry() {
    let Some(s) = setup().await else { return };
    let key = "rollouts/lost-fn/live.json";
    // The create lands, its answer is lost; the retry meets 412 and finds our bytes there.
    s.proxy.lose_next_answer();
    let first = s.gcp.write_record(key, b"one", &WriteCondition::Absent).await.unwrap();
    assert_eq!(s.proxy.refused(), 1);
    let read = s.gcp.read_record(key).await.unwrap().unwrap();
    assert_eq!((read.body.as_slice(), &read.tag), (b"one".as_slice(), &first));
    // The same for a compare-and-swap: the retry meets 412 (our write moved the generation).
    s.proxy.lose_next_answer();
    let second = s
        .gcp
        .write_record(key, b"two", &WriteCondition::Matches(first.clone()))
        .await
        .unwrap();
    assert_eq!(s.proxy.refused(), 2);
    assert_eq!(s.gcp.read_record(key).await.unwrap().unwrap().tag, second);
    // Bytes other than ours in the way are still a conflict.
    let e = s
        .gcp
        .write_record(key, b"mine", &WriteCondition::Matches(first))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Conflict { .. }), "{e}");
}

/// What gcp-storage-emulator does on its own: reads, writes, deletes and a new generation per
/// write, but `ifGenerationMatch` is ignored — a second create succeeds, a stale write and a
/// stale delete go through. This is why the other tests go through [`GcsPreconditions`]; when
/// this test fails, the emulator has learnt preconditions and the proxy can go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_alone_ignores_generation_preconditions() {
    let Some(gcs) = GcsEmulator::start(BUCKET).await else {
        return;
    };
    let fake = FakeGcp::start().await;
    let raw = fake
        .builder()
        .bucket(BUCKET)
        .storage_url(&gcs.url)
        .build()
        .await
        .unwrap();
    let key = "rollouts/raw-fn/live.json";
    let first = raw.write_record(key, b"one", &WriteCondition::Absent).await.unwrap();
    let read = raw.read_record(key).await.unwrap().unwrap();
    assert_eq!((read.body.as_slice(), &read.tag), (b"one".as_slice(), &first));
    let second = raw.write_record(key, b"two", &WriteCondition::Absent).await;
    let second = second.expect("the emulator ignores ifGenerationMatch=0 (real GCS answers 412)");
    assert_ne!(first, second, "every write is a new generation");
    let stale = raw
        .write_record(key, b"three", &WriteCondition::Matches(first.clone()))
        .await;
    assert!(stale.is_ok(), "the emulator ignores ifGenerationMatch=<generation>");
    raw.delete_record(key, &first).await.unwrap();
    assert_eq!(raw.read_record(key).await.unwrap(), None);
}
