//! The AWS provider against moto_server (Lambda, S3, STS, IAM), through a recording,
//! fault-injecting proxy.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;

use faas_aws::AssumeRole;
use faas_aws::test_support::{BUCKET, Fault, FaultKind, Moto, Proxy, ROLE};
use faas_core::conformance::{self, Fixture};
use faas_core::{DeployOptions, Error, FunctionSpec, Package, Provider, ProviderExt};
use faas_package::PackageBuilder;

fn package(dir: &Path, name: &str, marker: &str, extra: Option<(&str, Vec<u8>)>) -> Package {
    let src = dir.join(format!("src-{name}-{marker}"));
    fs::create_dir_all(&src).unwrap();
    fs::write(
        src.join("lambda_function.py"),
        format!("def lambda_handler(event, context):\n    return {{'marker': '{marker}'}}\n"),
    )
    .unwrap();
    if let Some((file, bytes)) = extra {
        fs::write(src.join(file), bytes).unwrap();
    }
    PackageBuilder::new(&src)
        .runtime("python3.12".parse().unwrap())
        .handler("lambda_function.lambda_handler")
        .output(dir.join(format!("{name}-{marker}.zip")))
        .build()
        .unwrap()
}

fn spec(name: &str) -> FunctionSpec {
    FunctionSpec::new(name, "python3.12".parse().unwrap(), "lambda_function.lambda_handler")
        .role(ROLE)
        .memory_mb(256)
        .env("STAGE", "test")
}

fn publish_live() -> DeployOptions {
    DeployOptions {
        publish: true,
        label: Some("live".into()),
        ..DeployOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_against_moto() {
    let Some(moto) = Moto::start().await else { return };
    let proxy = Proxy::start(&moto.url).await;
    let aws = proxy.provider(|b| b).await;
    let fixture = Fixture {
        runs_code: false,
        reports_executed_version: false,
        // moto answers 200 for a missing function; real Lambda answers 404.
        invoke_rejects_missing: false,
        role: Some(ROLE.into()),
        prefix: "moto".into(),
        // moto's invocations emit no CloudWatch metrics or logs (tests/observe.rs seeds them).
        observes_invocations: false,
        ..Fixture::python()
    };
    let report = conformance::run_all(&aws, &fixture).await;
    eprintln!("{report}");
    let skipped: Vec<&str> = report.skipped.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        skipped,
        vec!["slot_swap_promotes_and_swaps_back", "metrics_and_logs_see_invocations"],
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_redeploy_makes_only_reads() {
    let Some(moto) = Moto::start().await else { return };
    let proxy = Proxy::start(&moto.url).await;
    let aws = proxy.provider(|b| b).await;
    let dir = tempfile::tempdir().unwrap();
    let pkg = package(dir.path(), "same", "v1", None);
    let first = aws.deploy_package(&spec("same"), &pkg, &publish_live()).await.unwrap();
    assert!(first.change.created);
    assert_eq!(first.version.as_ref().unwrap().id, "1");
    let writes_first = proxy.seen().iter().filter(|s| s.is_write()).count();
    assert!(writes_first >= 3, "upload, create, publish, alias: {:?}", proxy.seen());

    // Hostile names, labels and qualifiers on every operation: refused before any request.
    proxy.clear();
    conformance::names_are_checked_first(&aws, &Fixture::python()).await;
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());

    proxy.clear();
    let again = aws.deploy_package(&spec("same"), &pkg, &publish_live()).await.unwrap();
    let seen = proxy.seen();
    let writes: Vec<_> = seen.iter().filter(|s| s.is_write()).collect();
    assert!(writes.is_empty(), "an unchanged redeploy wrote: {writes:?}");
    assert_eq!(seen.len(), 2, "the function, and what the label serves: {seen:?}");
    assert!(again.change.is_noop() && again.plan.is_noop());
    assert_eq!(again.version.unwrap().id, "1");
    let listed = aws.list_versions("same").await.unwrap();
    assert_eq!(listed.len(), 1, "no new version");
    assert_eq!(
        listed[0].code_size,
        Some(pkg.size),
        "Lambda's CodeSize: the package's bytes"
    );

    // A configuration change is one update, then a new version and an alias move: the plan
    // is the only read before the write (no second look, no wait on a settled function).
    proxy.clear();
    let changed = aws
        .deploy_package(&spec("same").memory_mb(512), &pkg, &publish_live())
        .await
        .unwrap();
    assert!(changed.change.config_updated && !changed.change.code_updated);
    let seen = proxy.seen();
    let first_write = seen.iter().position(|s| s.is_write()).unwrap();
    assert_eq!(first_write, 1, "one read, then UpdateFunctionConfiguration: {seen:?}");
    assert_eq!(seen[1].path, "/2015-03-31/functions/same/configuration", "{seen:?}");
    assert_eq!(changed.version.unwrap().id, "2");
    assert_eq!(aws.get_label("same", "live").await.unwrap().routing.primary, "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_package_goes_through_s3_multipart() {
    let Some(moto) = Moto::start().await else { return };
    let proxy = Proxy::start(&moto.url).await;
    let aws = proxy
        .provider(|b| b.inline_limit(1024 * 1024).multipart(5 * 1024 * 1024, 5 * 1024 * 1024))
        .await;
    let dir = tempfile::tempdir().unwrap();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..12 * 1024 * 1024)
        .map(|_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng as u8
        })
        .collect();
    let pkg = package(dir.path(), "big", "v1", Some(("blob.bin", noise)));
    assert!(pkg.size > 10 * 1024 * 1024);
    let report = aws
        .deploy_package(&spec("big"), &pkg, &DeployOptions::default())
        .await
        .unwrap();
    assert!(report.change.created);
    let seen = proxy.seen();
    assert!(
        seen.iter().any(|s| s.method == "POST" && s.query.contains("uploads")),
        "no multipart start: {seen:?}"
    );
    let parts = seen
        .iter()
        .filter(|s| s.method == "PUT" && s.query.contains("partNumber"))
        .count();
    assert_eq!(parts, 3, "12 MB in 5 MB parts");
    let create = seen
        .iter()
        .find(|s| s.method == "POST" && s.path.ends_with("/functions"))
        .unwrap();
    assert!(
        create.body.contains("S3Key") && create.body.contains(BUCKET),
        "code came from S3: {}",
        create.body
    );
    assert_eq!(aws.get("big").await.unwrap().code_sha256, pkg.sha256);

    // The same package again: HeadObject finds it, nothing is uploaded.
    proxy.clear();
    aws.upload("big", &pkg).await.unwrap();
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "HEAD");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assume_role_with_external_id_goes_through_sts() {
    let Some(moto) = Moto::start().await else { return };
    let proxy = Proxy::start(&moto.url).await;
    let aws = proxy
        .provider(|b| {
            b.assume_role(AssumeRole {
                role_arn: "arn:aws:iam::123456789012:role/deployer".into(),
                external_id: Some("ci-cd-platform".into()),
                session_name: Some("faas-ci".into()),
                duration: None,
            })
        })
        .await;
    let (account, arn) = aws.caller_identity().await.unwrap();
    assert_eq!(account, "123456789012");
    assert!(arn.contains("assumed-role/deployer/faas-ci"), "{arn}");
    let seen = proxy.seen();
    let assume = seen
        .iter()
        .find(|s| s.body.contains("Action=AssumeRole"))
        .expect("an STS AssumeRole call");
    assert!(assume.body.contains("ExternalId=ci-cd-platform"), "{}", assume.body);
    // The assumed credentials serve Lambda too.
    let dir = tempfile::tempdir().unwrap();
    aws.deploy_package(
        &spec("assumed"),
        &package(dir.path(), "assumed", "v1", None),
        &DeployOptions::default(),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_sha256_mismatch_is_detected() {
    let Some(moto) = Moto::start().await else { return };
    let proxy = Proxy::start(&moto.url).await;
    let aws = proxy.provider(|b| b.inline_limit(1)).await;
    let dir = tempfile::tempdir().unwrap();
    let real = package(dir.path(), "mismatch", "real", None);
    let claimed = package(dir.path(), "mismatch", "claimed", None);
    let mut artifact = aws.upload("mismatch", &real).await.unwrap();
    // The artifact claims to be another package: what Lambda reports must expose it.
    artifact.sha256 = claimed.sha256.clone();
    let err = aws.deploy(&spec("mismatch"), &artifact).await.unwrap_err();
    match err {
        Error::Conflict { message, .. } => {
            assert!(
                message.contains(&real.sha256) && message.contains(&claimed.sha256),
                "{message}"
            )
        }
        other => panic!("expected Conflict, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_faults_are_retried_and_converge() {
    let Some(moto) = Moto::start().await else { return };
    let proxy = Proxy::start(&moto.url).await;
    let aws = proxy.provider(|b| b).await;
    let dir = tempfile::tempdir().unwrap();
    aws.deploy_package(
        &spec("flaky"),
        &package(dir.path(), "flaky", "v1", None),
        &publish_live(),
    )
    .await
    .unwrap();

    let conflict = FaultKind::Error {
        status: 409,
        error_type: "ResourceConflictException",
        retry_after: None,
    };
    let throttle = FaultKind::Error {
        status: 429,
        error_type: "TooManyRequestsException",
        retry_after: Some(1),
    };
    let server = FaultKind::Error {
        status: 500,
        error_type: "ServiceException",
        retry_after: None,
    };
    proxy.inject(Fault {
        method: "GET",
        path: "/functions/flaky",
        skip: 0,
        times: 1,
        kind: throttle,
    });
    proxy.inject(Fault {
        method: "PUT",
        path: "/functions/flaky/code",
        skip: 0,
        times: 2,
        kind: conflict.clone(),
    });
    proxy.inject(Fault {
        method: "PUT",
        path: "/functions/flaky/configuration",
        skip: 0,
        times: 1,
        kind: FaultKind::Reset,
    });
    proxy.inject(Fault {
        method: "POST",
        path: "/functions/flaky/versions",
        skip: 0,
        times: 1,
        kind: server,
    });
    proxy.inject(Fault {
        method: "POST",
        path: "/functions/flaky/versions",
        skip: 0,
        times: 1,
        kind: FaultKind::ResetAfterForward,
    });
    proxy.inject(Fault {
        method: "PUT",
        path: "/functions/flaky/aliases/live",
        skip: 0,
        times: 1,
        kind: conflict,
    });

    let v2 = package(dir.path(), "flaky", "v2", None);
    let report = aws
        .deploy_package(&spec("flaky").memory_mb(1024), &v2, &publish_live())
        .await
        .unwrap();
    assert!(
        report.change.code_updated && report.change.config_updated,
        "{:?}",
        report.change
    );
    let faults_left: usize = proxy.faults.lock().unwrap().iter().map(|f| f.times).sum();
    assert_eq!(faults_left, 0, "every injected fault was hit");

    let d = aws.get("flaky").await.unwrap();
    assert_eq!(d.code_sha256, v2.sha256);
    assert_eq!(d.spec.memory_mb, 1024);
    let versions = aws.list_versions("flaky").await.unwrap();
    assert_eq!(
        versions.len(),
        2,
        "a retried publish must not add a version: {versions:?}"
    );
    assert_eq!(report.version.unwrap().id, "2");
    assert_eq!(aws.get_label("flaky", "live").await.unwrap().routing.primary, "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_while_pending_and_in_progress() {
    let Some(moto) = Moto::start().await else { return };
    let proxy = Proxy::start(&moto.url).await;
    proxy.simulate_pending(std::time::Duration::from_millis(400));
    let aws = proxy.provider(|b| b).await;
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    aws.deploy_package(&spec("slow"), &package(dir.path(), "slow", "v1", None), &publish_live())
        .await
        .unwrap();
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(400),
        "returned while Pending"
    );
    let polls = proxy
        .seen()
        .iter()
        .filter(|s| s.method == "GET" && s.path.ends_with("/functions/slow"))
        .count();
    assert!(polls >= 3, "State=Pending was polled: {polls} reads");

    proxy.clear();
    let started = std::time::Instant::now();
    let r = aws
        .deploy_package(
            &spec("slow"),
            &package(dir.path(), "slow", "v2", None),
            &DeployOptions::default(),
        )
        .await
        .unwrap();
    assert!(r.change.code_updated);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(400),
        "returned while InProgress"
    );

    // Running out of time says what was last seen.
    proxy.simulate_pending(std::time::Duration::from_secs(5));
    let impatient = proxy
        .provider(|b| {
            b.poll(faas_core::PollPolicy {
                deadline: std::time::Duration::from_millis(300),
                ..faas_core::PollPolicy::fast()
            })
        })
        .await;
    let err = impatient
        .deploy_package(
            &spec("slow2"),
            &package(dir.path(), "slow2", "v1", None),
            &DeployOptions::default(),
        )
        .await
        .unwrap_err();
    match err {
        Error::Timeout { last_seen, .. } => assert!(last_seen.contains("State=Pending"), "{last_seen}"),
        other => panic!("expected Timeout, got {other}"),
    }
}

/// One retry layer (the SDK's) that honours `Retry-After` on Lambda and retries a bare 429 on
/// S3; a 409 whose code faas does not know (moto's `ConflictException`) is still a conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_and_s3_throttling_is_retried() {
    let Some(moto) = Moto::start().await else { return };
    let proxy = Proxy::start(&moto.url).await;
    let aws = proxy.provider(|b| b.inline_limit(0)).await;
    let dir = tempfile::tempdir().unwrap();
    proxy.inject(Fault {
        method: "GET",
        path: "/functions/patient",
        skip: 0,
        times: 1,
        kind: FaultKind::Error {
            status: 429,
            error_type: "TooManyRequestsException",
            retry_after: Some(1),
        },
    });
    proxy.inject(Fault {
        method: "PUT",
        path: "/patient/",
        skip: 0,
        times: 2,
        kind: FaultKind::Error {
            status: 429,
            error_type: "",
            retry_after: None,
        },
    });
    aws.deploy_package(
        &spec("patient"),
        &package(dir.path(), "patient", "v1", None),
        &DeployOptions::default(),
    )
    .await
    .unwrap();
    let seen = proxy.seen();
    let gets: Vec<_> = seen
        .iter()
        .filter(|s| s.method == "GET" && s.path.ends_with("/functions/patient"))
        .collect();
    let gap = gets[1].at - gets[0].at;
    assert!(
        gap >= std::time::Duration::from_millis(950),
        "retried after {gap:?}, 1 s was asked"
    );
    let puts = seen
        .iter()
        .filter(|s| s.method == "PUT" && s.path.contains("/patient/"))
        .count();
    assert_eq!(puts, 3, "two throttled PutObject calls, then the one that went through");
    let faults_left: usize = proxy.faults.lock().unwrap().iter().map(|f| f.times).sum();
    assert_eq!(faults_left, 0);
    // An unmodelled 409 maps by status: a conflict, which the caller can wait out.
    proxy.inject(Fault {
        method: "POST",
        path: "/functions/patient/versions",
        skip: 0,
        times: 1,
        kind: FaultKind::Error {
            status: 409,
            error_type: "ConflictException",
            retry_after: None,
        },
    });
    let v = aws
        .publish("patient", &faas_core::PublishRequest::default())
        .await
        .unwrap();
    assert_eq!(v.id, "1");
}

/// A provider built from string settings alone (as a pipeline block or a map would give them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_from_a_string_map_alone() {
    let Some(moto) = Moto::start().await else { return };
    let settings = [
        ("region", "us-east-1"),
        ("endpoint_url", moto.url.as_str()),
        ("access_key_id", "testing"),
        ("secret_access_key", "testing"),
        ("bucket", BUCKET),
        ("max_attempts", "3"),
        ("read_timeout_s", "30"),
    ];
    let aws = settings
        .iter()
        .try_fold(faas_aws::AwsBuilder::new(), |b, (k, v)| b.with_config(k, v))
        .unwrap()
        .build()
        .await
        .unwrap();
    deploys_fresh(&aws, "from-map").await;
    let e = faas_aws::AwsBuilder::new()
        .with_config("max_attempts", "lots")
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidConfig { key, .. } if key == "max_attempts"),
        "{e}"
    );
    let e = faas_aws::AwsBuilder::new()
        .with_config("access_key_id", "x")
        .unwrap()
        .region("us-east-1")
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidConfig { key, .. } if key == "secret_access_key"),
        "{e}"
    );
}

/// A program that already has an `SdkConfig` hands it over (escape hatch), S3 included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_sdk_config_is_used_as_given() {
    let Some(moto) = Moto::start().await else { return };
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&moto.url)
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "mine",
        ))
        .load()
        .await;
    let aws = faas_aws::AwsBuilder::new()
        .sdk_config(config)
        .bucket(BUCKET)
        .inline_limit(0)
        .build()
        .await
        .unwrap();
    deploys_fresh(&aws, "own-config").await;
}

/// Deploys a new function `name` and checks that it was created.
async fn deploys_fresh(p: &dyn Provider, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let report = p
        .deploy_package(
            &spec(name),
            &package(dir.path(), name, "v1", None),
            &DeployOptions::default(),
        )
        .await
        .unwrap();
    assert!(report.change.created, "{name}: {:?}", report.change);
}
