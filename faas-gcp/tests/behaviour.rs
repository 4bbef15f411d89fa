//! What the GCP provider does beyond the conformance suite, against the fake: no writes for
//! an unchanged redeploy, 409 ABORTED after a lost answer, failed builds, pinned traffic,
//! concurrent traffic writers, weighted routing, ID tokens, and the GCS path against
//! gcp-storage-emulator.

#![allow(clippy::unwrap_used)]

use faas_core::{DeployOptions, Error, FunctionSpec, InvokeRequest, Provider, ProviderExt, Routing};
use faas_gcp::test_support::{FakeGcp, Fault, GcsEmulator, package, spec};

fn publish_to(label: &str) -> DeployOptions {
    DeployOptions {
        publish: true,
        label: Some(label.into()),
        ..DeployOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_redeploy_makes_no_write_call() {
    let fake = FakeGcp::start().await;
    let gcp = fake.provider().await;
    let dir = tempfile::tempdir().unwrap();
    let pkg = package(dir.path(), "one");
    let first = gcp
        .deploy_package(&spec("noop-fn"), &pkg, &publish_to("live"))
        .await
        .unwrap();
    assert!(first.change.created);
    assert_eq!(first.version.as_ref().unwrap().id, "1");
    fake.clear_requests();
    let again = gcp
        .deploy_package(&spec("noop-fn"), &pkg, &publish_to("live"))
        .await
        .unwrap();
    assert!(again.change.is_noop() && again.plan.is_noop());
    assert_eq!(again.version.unwrap().id, "1", "no new version");
    assert_eq!(fake.writes(), Vec::<String>::new(), "no write call at all");
    let reads = fake.requests().iter().filter(|r| r.starts_with("GET ")).count();
    assert_eq!(reads, 3, "function, and what the label serves: {:?}", fake.requests());
    // A deploy without a label is a single read.
    fake.clear_requests();
    gcp.deploy_package(&spec("noop-fn"), &pkg, &DeployOptions::default())
        .await
        .unwrap();
    let calls: Vec<String> = fake.requests().into_iter().filter(|r| !r.contains("/token")).collect();
    assert_eq!(calls.len(), 1, "{calls:?}");
    // A change reads the function once (the plan) and the service once (whose traffic must
    // stay pinned), then patches: applying the plan reads nothing again.
    fake.clear_requests();
    gcp.deploy_package(&spec("noop-fn").memory_mb(512), &pkg, &DeployOptions::default())
        .await
        .unwrap();
    let calls: Vec<String> = fake.requests().into_iter().filter(|r| !r.contains("/token")).collect();
    let first_write = calls.iter().position(|r| !r.starts_with("GET ")).unwrap();
    assert_eq!(first_write, 2, "{calls:?}");
    assert!(calls[first_write].starts_with("PATCH "), "{calls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_whose_answer_is_lost_then_hits_409_ends_as_success() {
    let fake = FakeGcp::start().await;
    let gcp = fake.provider().await;
    let dir = tempfile::tempdir().unwrap();
    gcp.deploy_package(&spec("lost-fn"), &package(dir.path(), "a"), &DeployOptions::default())
        .await
        .unwrap();
    // The PATCH is carried out but its answer is lost (503); our retry meets the running
    // operation (409 ABORTED); the provider waits, diffs again, finds nothing left to do.
    fake.fail_next("PATCH", "/functions/lost-fn", Fault::UnavailableAfterApply);
    fake.clear_requests();
    let b = package(dir.path(), "b");
    let report = gcp
        .deploy_package(&spec("lost-fn").memory_mb(512), &b, &DeployOptions::default())
        .await
        .unwrap();
    assert!(
        report.change.code_updated && report.change.config_updated,
        "{:?}",
        report.change
    );
    let patches: Vec<String> = fake.writes().into_iter().filter(|r| r.starts_with("PATCH")).collect();
    assert_eq!(patches.len(), 2, "the first applied, the retry met 409: {patches:?}");
    assert!(patches[0].contains("updateMask=") && patches[0].contains("serviceConfig.availableMemory"));
    let now = gcp.get("lost-fn").await.unwrap();
    assert_eq!(now.code_sha256, b.sha256);
    assert_eq!(now.spec.memory_mb, 512);

    // A 409 from someone else's operation is waited out the same way.
    fake.fail_next("PATCH", "/functions/lost-fn", Fault::Status(409, "ABORTED"));
    let c = package(dir.path(), "c");
    gcp.deploy_package(&spec("lost-fn").memory_mb(512), &c, &DeployOptions::default())
        .await
        .unwrap();
    assert_eq!(gcp.get("lost-fn").await.unwrap().code_sha256, c.sha256);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_build_names_its_stage_and_the_function_state() {
    let fake = FakeGcp::start().await;
    let gcp = fake.provider().await;
    let dir = tempfile::tempdir().unwrap();
    fake.fail_next_build("broken-fn", "pip install: no matching distribution for numpyy");
    let err = gcp
        .deploy_package(&spec("broken-fn"), &package(dir.path(), "x"), &DeployOptions::default())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, Error::Provider { code, .. } if code == "BUILD_FAILED"),
        "{err:?}"
    );
    assert!(text.contains("stage BUILD") && text.contains("numpyy"), "{text}");
    let state = gcp.get("broken-fn").await.unwrap().state;
    assert!(
        matches!(&state, faas_core::DeployState::Failed(m) if m.contains("numpyy")),
        "{state:?}"
    );
    // The next deploy fixes it.
    gcp.deploy_package(&spec("broken-fn"), &package(dir.path(), "y"), &DeployOptions::default())
        .await
        .unwrap();
    assert_eq!(
        gcp.get("broken-fn").await.unwrap().state,
        faas_core::DeployState::Active
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_traffic_stays_put_when_a_new_revision_deploys() {
    let fake = FakeGcp::start().await;
    let gcp = fake.provider().await;
    let dir = tempfile::tempdir().unwrap();
    let v1 = gcp
        .deploy_package(&spec("pin-fn"), &package(dir.path(), "1"), &publish_to("live"))
        .await
        .unwrap();
    let rev1 = fake.service_json("pin-fn")["trafficStatuses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["tag"] == "live")
        .unwrap()["revision"]
        .clone();
    fake.clear_requests();
    gcp.deploy_package(&spec("pin-fn"), &package(dir.path(), "2"), &DeployOptions::default())
        .await
        .unwrap();
    let patch = fake.writes().into_iter().find(|r| r.starts_with("PATCH")).unwrap();
    assert!(patch.contains("serviceConfig.allTrafficOnLatestRevision"), "{patch}");
    let service = fake.service_json("pin-fn");
    let serving: Vec<_> = service["trafficStatuses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["percent"].as_u64() > Some(0))
        .collect();
    assert_eq!(serving.len(), 1);
    assert_eq!(serving[0]["revision"], rev1, "the new revision takes no traffic");
    assert_ne!(
        service["latestReadyRevision"].as_str().unwrap().rsplit('/').next(),
        rev1.as_str()
    );
    assert_eq!(
        gcp.get_label("pin-fn", "live").await.unwrap().routing,
        Routing::to(v1.version.unwrap().id)
    );
    // Promoting moves it.
    let v2 = gcp.publish("pin-fn", &Default::default()).await.unwrap();
    gcp.promote("pin-fn", "live", &v2.id).await.unwrap();
    let answer = gcp
        .invoke("pin-fn", &InvokeRequest::json(&serde_json::json!({})).qualifier("live"))
        .await
        .unwrap();
    let ran = answer.json().unwrap()["revision"].as_str().unwrap().to_string();
    assert_eq!(
        Some(ran.as_str()),
        service["latestReadyRevision"].as_str().unwrap().rsplit('/').next()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_split_tags_and_a_concurrent_writer() {
    let fake = FakeGcp::start().await;
    let gcp = fake.provider().await;
    let dir = tempfile::tempdir().unwrap();
    let a = gcp
        .deploy_package(&spec("split-fn"), &package(dir.path(), "a"), &publish_to("live"))
        .await
        .unwrap();
    let b = gcp
        .deploy_package(&spec("split-fn"), &package(dir.path(), "b"), &publish_to("staging"))
        .await
        .unwrap();
    let (a, b) = (a.version.unwrap().id, b.version.unwrap().id);
    // Another deployer changes the service between our read and our write: the etag
    // refuses our write, we read again and write again.
    fake.fail_next("PATCH", "/services/split-fn", Fault::Status(409, "ABORTED"));
    let label = gcp
        .set_label("split-fn", "live", &Routing::to(&a).with(&b, 0.3))
        .await
        .unwrap();
    assert_eq!(label.routing, Routing::to(&a).with(&b, 0.3));
    let statuses = fake.service_json("split-fn")["trafficStatuses"].clone();
    let percents: Vec<u64> = statuses
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["percent"].as_u64().filter(|p| *p > 0))
        .collect();
    assert_eq!(percents.iter().sum::<u64>(), 100);
    assert!(percents.contains(&70) && percents.contains(&30), "{statuses}");
    // The service URL splits; the tag URL pins.
    let mut to_b = 0;
    let b_rev = gcp.get_qualified("split-fn", &b).await.unwrap().revision.unwrap();
    for _ in 0..200 {
        let inv = gcp
            .invoke(
                "split-fn",
                &InvokeRequest::json(&serde_json::json!({})).qualifier("live"),
            )
            .await
            .unwrap();
        to_b += usize::from(inv.json().unwrap()["revision"] == b_rev.as_str());
    }
    assert!((35..=85).contains(&to_b), "{to_b} of 200 went to the 30% revision");
    let staged = gcp
        .invoke(
            "split-fn",
            &InvokeRequest::json(&serde_json::json!({})).qualifier("staging"),
        )
        .await
        .unwrap();
    assert_eq!(staged.executed_version.as_deref(), Some(b.as_str()));
    assert_eq!(staged.json().unwrap()["revision"], b_rev.as_str());
    assert!(staged.headers.contains_key("content-type"));
    // Weights on a tag-only label, fractions of a percent, and reserved names are refused.
    let e = gcp
        .set_label("split-fn", "staging", &Routing::to(&a).with(&b, 0.3))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
    let e = gcp
        .set_label("split-fn", "live", &Routing::to(&a).with(&b, 0.255))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("whole percents"), "{e}");
    let e = gcp.set_label("split-fn", "v9", &Routing::to(&a)).await.unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
    // Deleting the serving label gives all traffic back to the latest revision.
    gcp.delete_label("split-fn", "live").await.unwrap();
    let traffic = fake.service_json("split-fn")["traffic"].clone();
    assert!(
        traffic
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["type"] == "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST" && t["percent"] == 100),
        "{traffic}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_fails_before_any_call_and_secrets_stay_hidden() {
    let fake = FakeGcp::start().await;
    let gcp = fake.provider().await;
    let dir = tempfile::tempdir().unwrap();
    let pkg = package(dir.path(), "s");
    fake.clear_requests();
    for (bad, field) in [
        (
            FunctionSpec {
                name: "Bad_Name".into(),
                ..spec("x")
            },
            "name",
        ),
        (spec("mem-fn").memory_mb(40_000), "memory_mb"),
        (
            FunctionSpec {
                handler: "app.main".into(),
                ..spec("handler-fn")
            },
            "handler",
        ),
        (spec("env-fn").env("K_SERVICE", "x"), "environment"),
    ] {
        match gcp.deploy_package(&bad, &pkg, &DeployOptions::default()).await {
            Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{other:?}"),
        }
    }
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
    // Hostile names, labels and qualifiers on every operation: refused before any request.
    faas_core::conformance::names_are_checked_first(&gcp, &faas_core::conformance::Fixture::python()).await;
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
    let secret = spec("secret-fn").secret_env("API_TOKEN", "hunter2-very-secret");
    let report = gcp
        .deploy_package(
            &secret,
            &pkg,
            &DeployOptions {
                dry_run: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!format!("{} {report:?}", report.plan).contains("hunter2"));
    gcp.deploy_package(&secret, &pkg, &DeployOptions::default())
        .await
        .unwrap();
    let changed = spec("secret-fn").secret_env("API_TOKEN", "hunter3-other-secret");
    let plan = gcp.plan(&changed, &faas_core::local_artifact(&pkg)).await.unwrap();
    let shown = format!("{plan} {plan:?}");
    assert!(
        shown.contains("secret value changed") && !shown.contains("hunter"),
        "{shown}"
    );
    let debug = format!("{gcp:?}");
    assert!(!debug.contains("ya29") && !debug.contains("PRIVATE KEY"), "{debug}");
    // Invocations carry an ID token for the URL; a missing token is refused by the function.
    let inv = gcp
        .invoke("secret-fn", &InvokeRequest::json(&serde_json::json!({"x": 1})))
        .await
        .unwrap();
    assert_eq!(inv.json().unwrap()["event"]["x"], 1);
    // From the metadata server (as on Cloud Build, GCE or Cloud Run), cached per audience.
    let on_gcp = fake
        .builder()
        .invoker(faas_gcp::Invoker::Metadata)
        .metadata_url(format!("{}/computeMetadata/v1/", fake.url))
        .build()
        .await
        .unwrap();
    fake.clear_requests();
    for _ in 0..3 {
        on_gcp
            .invoke("secret-fn", &InvokeRequest::json(&serde_json::json!({})))
            .await
            .unwrap();
    }
    let minted = fake.requests().iter().filter(|r| r.contains("/identity?")).count();
    assert_eq!(minted, 1, "{:?}", fake.requests());
    let public = fake.builder().invoker(faas_gcp::Invoker::Public).build().await.unwrap();
    let e = public
        .invoke("secret-fn", &InvokeRequest::json(&serde_json::json!({})))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unauthenticated { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_bucket_path_against_gcp_storage_emulator() {
    let Some(gcs) = GcsEmulator::start("faas-artifacts").await else {
        return;
    };
    let fake = FakeGcp::start().await;
    fake.set_storage(&gcs.url);
    let gcp = fake
        .builder()
        .bucket("faas-artifacts")
        .prefix("functions/")
        .storage_url(&gcs.url)
        .build()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pkg = package(dir.path(), "g");
    let first = gcp.upload("gcs-fn", &pkg).await.unwrap();
    let object = format!("functions/gcs-fn/{}.zip", pkg.sha256);
    assert!(
        first.uri.starts_with(&format!("gs://faas-artifacts/{object}")),
        "{}",
        first.uri
    );
    let meta: serde_json::Value = reqwest::get(format!(
        "{}/storage/v1/b/faas-artifacts/o/{}",
        gcs.url,
        object.replace('/', "%2F")
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(meta["size"].as_str(), Some(pkg.size.to_string().as_str()));
    let again = gcp.upload("gcs-fn", &pkg).await.unwrap();
    assert_eq!(again.uri, first.uri, "the present object is reused");
    let report = gcp
        .deploy_package(&spec("gcs-fn"), &pkg, &publish_to("live"))
        .await
        .unwrap();
    assert!(report.change.created);
    // The fake checked the source object in the emulator; a missing one is refused.
    let missing = faas_core::ArtifactRef {
        uri: "gs://faas-artifacts/functions/gcs-fn/missing.zip".into(),
        sha256: "00".repeat(32),
        ..first.clone()
    };
    let e = gcp.deploy(&spec("gcs-fn"), &missing).await.unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
}

/// An endpoint that accepts connections and never answers: the call ends in a `Timeout`
/// naming it, within the configured limits (a short real-time test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_endpoint_times_out_naming_the_call() {
    use faas_core::conformance::{SilentServer, assert_timed_out, short_timeouts};
    let fake = FakeGcp::start().await;
    let silent = SilentServer::start().await;
    let gcp = fake
        .builder()
        .functions_url(format!("{}/v2/", silent.url))
        .retry(faas_core::RetryConfig::none())
        .timeouts(short_timeouts())
        .build()
        .await
        .unwrap();
    let started = std::time::Instant::now();
    assert_timed_out(gcp.get("hangs").await, "GET ", "hangs", started);
}

/// A provider built from string settings alone (as a pipeline block or a map would give them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_from_a_string_map_alone() {
    use faas_gcp::test_support::{CLIENT_EMAIL, PROJECT, REGION};
    let fake = FakeGcp::start().await;
    let key = fake.key_path().display().to_string();
    let settings = [
        ("project", PROJECT.to_string()),
        ("region", REGION.to_string()),
        ("key_file", key),
        ("functions_url", fake.functions_url()),
        ("run_url", fake.run_url()),
        ("iam_credentials_url", fake.iam_url()),
        ("invoker", CLIENT_EMAIL.to_string()),
        ("poll_deadline_s", "60".to_string()),
    ];
    let gcp = settings
        .iter()
        .try_fold(faas_gcp::GcpBuilder::new(), |b, (k, v)| b.with_config(k, v))
        .unwrap()
        .build()
        .await
        .unwrap();
    deploys_fresh(&gcp, "from-map").await;
    let e = faas_gcp::GcpBuilder::new()
        .with_config("invoker", "nobody")
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidConfig { key, .. } if key == "invoker"),
        "{e}"
    );
}

/// A program that already has a `reqwest::Client` hands it over (escape hatch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_http_client_is_used() {
    let fake = FakeGcp::start().await;
    let gcp = fake
        .builder()
        .http_client(reqwest::Client::new())
        .build()
        .await
        .unwrap();
    deploys_fresh(&gcp, "own-client").await;
}

/// Deploys a new function `name` and checks that it was created.
async fn deploys_fresh(p: &dyn Provider, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let report = p
        .deploy_package(&spec(name), &package(dir.path(), name), &DeployOptions::default())
        .await
        .unwrap();
    assert!(report.change.created, "{name}: {:?}", report.change);
}

/// Cloud Run functions' runtime schedule (faas-core/runtimes/gcp-cloud-functions.json): a
/// decommissioned runtime is refused before any request; a deprecated one deploys with a
/// warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decommissioned_runtimes_are_refused_before_any_request() {
    let fake = FakeGcp::start().await;
    let gcp = fake.provider().await;
    let dir = tempfile::tempdir().unwrap();
    let pkg = package(dir.path(), "old");
    fake.clear_requests();
    let old = faas_core::FunctionSpec::new("old-fn", "python39".parse().unwrap(), "main.main");
    let e = gcp
        .deploy_package(&old, &pkg, &DeployOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput { field, .. } if field == "runtime"),
        "{e}"
    );
    assert!(
        e.to_string().contains("python39") && e.to_string().contains("since 2026-04-05"),
        "{e}"
    );
    let calls: Vec<String> = fake.requests().into_iter().filter(|r| !r.contains("/token")).collect();
    assert_eq!(calls, Vec::<String>::new());
}
