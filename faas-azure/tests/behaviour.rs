//! What the Azure provider does beyond the conformance suite, against the fake and Azurite:
//! no writes for an unchanged redeploy, app settings merged (not clobbered), run-from-package
//! SAS URLs Azurite accepts, Kudu zipdeploy with `409` and a failed deployment, Flex
//! OneDeploy, tags and Flex memory changed by a `PUT` of the site as read, slot swap and swap
//! back, rampUpRules, and secrets nowhere in errors or plans.

#![allow(clippy::unwrap_used)]

use faas_azure::test_support::{Azurite, FakeAzure, Fault, marked_package as package};
use faas_azure::{AzureProvider, DeployMethod, Hosting};
use faas_core::{DeployOptions, Error, FunctionSpec, InvokeRequest, Provider, ProviderExt};

fn spec(name: &str) -> FunctionSpec {
    FunctionSpec::new(name, "python3.12".parse().unwrap(), "function_app.app").env("STAGE", "test")
}

fn to(label: &str) -> DeployOptions {
    DeployOptions {
        publish: true,
        label: Some(label.into()),
        ..DeployOptions::default()
    }
}

/// A provider on Flex Consumption against the fake and Azurite.
async fn flex(fake: &FakeAzure, azurite: &Azurite) -> AzureProvider {
    fake.builder(&azurite.blob_endpoint)
        .hosting(Hosting::Flex)
        .build()
        .await
        .unwrap()
}

async fn invoke_code(p: &dyn Provider, function: &str, qualifier: Option<&str>) -> String {
    let mut req = InvokeRequest::json(&serde_json::json!({"probe": 1}));
    req.qualifier = qualifier.map(str::to_string);
    let inv = p.invoke(function, &req).await.unwrap();
    assert_eq!(inv.status, 200, "{}", String::from_utf8_lossy(&inv.payload));
    inv.json().unwrap()["code"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_from_package_merge_settings_and_no_write_redeploy() {
    let Some(azurite) = Azurite::start().await else { return };
    let fake = FakeAzure::start().await;
    let azure = fake.provider(&azurite.blob_endpoint).await;
    let dir = tempfile::tempdir().unwrap();
    let one = package(dir.path(), "one");
    let first = azure
        .deploy_package(&spec("rfp-app"), &one, &to("staging"))
        .await
        .unwrap();
    assert!(first.change.created);
    // The host loaded the package through its SAS URL (Azurite checked the signature).
    assert_eq!(invoke_code(&azure, "rfp-app", None).await, one.sha256);
    let settings = fake.settings("rfp-app");
    assert_eq!(settings["FUNCTIONS_WORKER_RUNTIME"], "python");
    assert_eq!(settings["FUNCTIONS_EXTENSION_VERSION"], "~4");
    assert!(settings["WEBSITE_RUN_FROM_PACKAGE"].contains("sig="));
    assert!(settings["AzureWebJobsStorage"].contains("AccountKey="));

    // Unchanged: reads only.
    fake.clear_requests();
    let again = azure
        .deploy_package(&spec("rfp-app"), &one, &to("staging"))
        .await
        .unwrap();
    assert!(again.change.is_noop() && again.plan.is_noop());
    assert_eq!(again.version.unwrap().id, first.version.unwrap().id);
    assert_eq!(fake.writes(), Vec::<String>::new(), "no write call");
    let calls: Vec<String> = fake.requests().into_iter().filter(|r| !r.contains("/token")).collect();
    assert_eq!(
        calls.len(),
        4,
        "the site and its settings, the slot and its settings: {calls:?}"
    );

    // A setting someone else added survives our read-merge-write; a variable the spec drops
    // is removed.
    fake.set_setting(
        "rfp-app",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "InstrumentationKey=x",
    );
    let two = package(dir.path(), "two");
    let mut fewer = spec("rfp-app");
    fewer.environment.clear();
    fewer.timeout_s = 30;
    fake.clear_requests();
    let changed = azure
        .deploy_package(&fewer, &two, &DeployOptions::default())
        .await
        .unwrap();
    // The plan reads the site and its settings; applying it reads neither again.
    let writes = fake.writes();
    let calls: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| !r.contains("/oauth2/") && !r.contains("blob.core") && !r.contains("127.0.0.1"))
        .collect();
    let first_write = calls.iter().position(|r| writes.contains(r)).unwrap();
    assert_eq!(first_write, 2, "{calls:?}");
    assert!(changed.change.code_updated && changed.change.config_updated);
    let after = fake.settings("rfp-app");
    assert!(!after.contains_key("STAGE"));
    assert_eq!(after["APPLICATIONINSIGHTS_CONNECTION_STRING"], "InstrumentationKey=x");
    assert_eq!(after["AzureFunctionsJobHost__functionTimeout"], "00:00:30");
    assert_eq!(invoke_code(&azure, "rfp-app", None).await, two.sha256);
    // The label (a slot) still runs version 1.
    assert_eq!(invoke_code(&azure, "rfp-app", Some("staging")).await, one.sha256);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slot_swap_promotes_and_swapping_back_rolls_back() {
    let Some(azurite) = Azurite::start().await else { return };
    let fake = FakeAzure::start().await;
    let azure = fake.provider(&azurite.blob_endpoint).await;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (package(dir.path(), "a"), package(dir.path(), "b"));
    azure
        .deploy_package(
            &spec("swap-app"),
            &a,
            &DeployOptions {
                publish: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let vb = azure
        .deploy_package(&spec("swap-app"), &b, &to("staging"))
        .await
        .unwrap()
        .version
        .unwrap();
    // Production runs b too now (the latest deploy); put a back in production to swap.
    azure
        .deploy_package(&spec("swap-app"), &a, &DeployOptions::default())
        .await
        .unwrap();
    assert_eq!(invoke_code(&azure, "swap-app", None).await, a.sha256);
    azure.swap("swap-app", "staging").await.unwrap();
    assert_eq!(
        invoke_code(&azure, "swap-app", None).await,
        b.sha256,
        "promoted by swap"
    );
    assert_eq!(azure.get("swap-app").await.unwrap().code_sha256, b.sha256);
    assert_eq!(
        azure.get_label("swap-app", "staging").await.unwrap().routing.primary,
        "1"
    );
    azure.swap("swap-app", "staging").await.unwrap();
    assert_eq!(invoke_code(&azure, "swap-app", None).await, a.sha256, "swapped back");
    assert_eq!(
        azure.get_label("swap-app", "staging").await.unwrap().routing.primary,
        vb.id
    );
    // Production goes back to a published version without a swap: its package and config.
    let restored = azure.restore("swap-app", &vb.id).await.unwrap();
    assert_eq!(restored.code_sha256, b.sha256);
    assert_eq!(invoke_code(&azure, "swap-app", None).await, b.sha256);
    azure.restore("swap-app", "1").await.unwrap();
    assert_eq!(invoke_code(&azure, "swap-app", None).await, a.sha256);
    // Production sends a share of its traffic to the slot.
    azure.ramp_up("swap-app", "staging", 30.0).await.unwrap();
    let rules = fake.ramp_up_rules("swap-app");
    assert_eq!(rules[0]["name"], "staging");
    assert_eq!(rules[0]["reroutePercentage"], 30.0);
    let mut to_b = 0;
    for _ in 0..100 {
        to_b += usize::from(invoke_code(&azure, "swap-app", None).await == b.sha256);
    }
    assert!((10..=55).contains(&to_b), "{to_b} of 100 went to the 30% slot");
    let e = azure.ramp_up("swap-app", "staging", 130.0).await.unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
    // Weighted labels are not Azure's model: the error says what is.
    let e = azure
        .set_label("swap-app", "staging", &faas_core::Routing::to("1").with("2", 0.2))
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Unsupported { .. }) && e.to_string().contains("ramp_up"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zipdeploy_waits_out_409_and_reports_a_failed_deployment() {
    let Some(azurite) = Azurite::start().await else { return };
    let fake = FakeAzure::start().await;
    let azure = fake
        .builder(&azurite.blob_endpoint)
        .deploy_method(DeployMethod::ZipDeploy)
        .build()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let one = package(dir.path(), "z1");
    let publish = DeployOptions {
        publish: true,
        ..Default::default()
    };
    let v1 = azure
        .deploy_package(&spec("zip-app"), &one, &publish)
        .await
        .unwrap()
        .version
        .unwrap();
    assert_eq!(invoke_code(&azure, "zip-app", None).await, one.sha256);
    assert!(!fake.settings("zip-app").contains_key("WEBSITE_RUN_FROM_PACKAGE"));
    // Another deployment is in progress: 409, waited on, retried.
    fake.fail_next("POST", "/scm/zip-app/api/zipdeploy", Fault::Status(409, "Conflict"));
    let two = package(dir.path(), "z2");
    azure
        .deploy_package(&spec("zip-app"), &two, &DeployOptions::default())
        .await
        .unwrap();
    assert_eq!(invoke_code(&azure, "zip-app", None).await, two.sha256);
    // A failed deployment reports its log; the app keeps its code and its recorded sha.
    fake.fail_next_deployment(
        "zip-app",
        "ERROR: Could not find a version that satisfies the requirement numpyy",
    );
    let three = package(dir.path(), "z3");
    let e = azure
        .deploy_package(&spec("zip-app"), &three, &DeployOptions::default())
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(text.contains("status 3") && text.contains("numpyy"), "{text}");
    assert_eq!(azure.get("zip-app").await.unwrap().code_sha256, two.sha256);
    assert_eq!(invoke_code(&azure, "zip-app", None).await, two.sha256);
    // An app whose Kudu refuses bearer tokens gets the publishing credentials instead.
    fake.require_basic_auth("zip-app");
    let four = package(dir.path(), "z4");
    azure
        .deploy_package(&spec("zip-app"), &four, &DeployOptions::default())
        .await
        .unwrap();
    assert_eq!(invoke_code(&azure, "zip-app", None).await, four.sha256);
    assert!(fake.requests().iter().any(|r| r.contains("publishingcredentials/list")));
    // Restoring version 1 pushes its stored package through Kudu again.
    azure.restore("zip-app", &v1.id).await.unwrap();
    assert_eq!(invoke_code(&azure, "zip-app", None).await, one.sha256);
    assert_eq!(azure.get("zip-app").await.unwrap().code_sha256, one.sha256);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flex_consumption_uses_onedeploy_and_has_no_slots() {
    let Some(azurite) = Azurite::start().await else { return };
    let fake = FakeAzure::start().await;
    let azure = flex(&fake, &azurite).await;
    assert!(!azure.info().capability.slot_swap);
    let dir = tempfile::tempdir().unwrap();
    let pkg = package(dir.path(), "f");
    let e = azure
        .deploy_package(&spec("flex-app"), &pkg, &DeployOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput { field, .. } if field == "memory_mb"),
        "{e}"
    );
    let flex = spec("flex-app").memory_mb(2048);
    fake.clear_requests();
    azure
        .deploy_package(
            &flex,
            &pkg,
            &DeployOptions {
                publish: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        fake.requests().iter().any(|r| r.contains("/scm/flex-app/api/publish")),
        "OneDeploy"
    );
    assert_eq!(invoke_code(&azure, "flex-app", None).await, pkg.sha256);
    let bigger = azure
        .deploy_package(&flex.clone().memory_mb(4096), &pkg, &DeployOptions::default())
        .await
        .unwrap();
    assert!(bigger.change.config_updated && !bigger.change.code_updated);
    let e = azure.promote("flex-app", "live", "1").await.unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_and_flex_memory_change_by_put_of_the_site_as_read() {
    let Some(azurite) = Azurite::start().await else { return };
    let fake = FakeAzure::start().await;
    let azure = flex(&fake, &azurite).await;
    let dir = tempfile::tempdir().unwrap();
    let pkg = package(dir.path(), "put");
    let mut first = spec("put-app").memory_mb(2048);
    first.tags.insert("team".into(), "a".into());
    azure
        .deploy_package(&first, &pkg, &DeployOptions::default())
        .await
        .unwrap();
    // Members the provider does not model, set behind its back (ones `Site` has at the
    // api-version it calls: the fake refuses members the definition lacks), and writable ones
    // next to the fields it changes.
    fake.set_site_property(
        "put-app",
        "daprConfig",
        serde_json::json!({"enabled": false, "appId": "kept"}),
    );
    fake.set_site_property("put-app", "clientCertMode", serde_json::json!("Optional"));
    fake.set_site_property(
        "put-app",
        "functionAppConfig.scaleAndConcurrency.alwaysReady",
        serde_json::json!([{"name": "http", "instanceCount": 1}]),
    );
    let before = fake.site("put-app").unwrap();
    let settings = fake.settings("put-app");

    let mut second = first.clone().memory_mb(4096);
    second.tags.insert("team".into(), "b".into());
    fake.clear_requests();
    let changed = azure
        .deploy_package(&second, &pkg, &DeployOptions::default())
        .await
        .unwrap();
    assert!(changed.change.config_updated && !changed.change.code_updated);
    let calls: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| !r.contains("/oauth2/"))
        .collect();
    let site_path = "/providers/Microsoft.Web/sites/put-app?";
    assert!(
        calls[0].starts_with("GET ") && calls[0].contains(site_path),
        "{calls:?}"
    );
    assert!(
        calls[1].contains("/sites/put-app/config/appsettings/list?"),
        "{calls:?}"
    );
    assert!(
        calls[2].starts_with("PUT ") && calls[2].contains(site_path),
        "the first write is the PUT of the site: {calls:?}"
    );
    assert!(!calls.iter().any(|r| r.starts_with("PATCH ")), "{calls:?}");

    let after = fake.site("put-app").unwrap();
    assert_eq!(after["tags"], serde_json::json!({"team": "b"}));
    let scale = &after["properties"]["functionAppConfig"]["scaleAndConcurrency"];
    assert_eq!(scale["instanceMemoryMB"], 4096);
    // Everything else went back as it was read.
    let mut expected = before.clone();
    expected["tags"] = after["tags"].clone();
    expected["properties"]["functionAppConfig"]["scaleAndConcurrency"]["instanceMemoryMB"] = 4096.into();
    expected["properties"]["lastModifiedTimeUtc"] = after["properties"]["lastModifiedTimeUtc"].clone();
    assert_eq!(after, expected);
    assert_eq!(
        after["properties"]["daprConfig"],
        serde_json::json!({"enabled": false, "appId": "kept"})
    );
    assert_eq!(scale["alwaysReady"][0]["instanceCount"], 1);
    assert_eq!(scale["maximumInstanceCount"], 100);
    assert_eq!(
        fake.settings("put-app"),
        settings,
        "the settings are not the site's PUT's"
    );
    let got = azure.get("put-app").await.unwrap();
    assert_eq!(got.spec.memory_mb, 4096);
    assert_eq!(got.spec.tags, second.tags);
    assert_eq!(invoke_code(&azure, "put-app", None).await, pkg.sha256);

    // On Premium too: a tags change is a PUT that keeps what it does not change.
    let premium = fake.provider(&azurite.blob_endpoint).await;
    let plain = spec("put-premium");
    premium
        .deploy_package(&plain, &pkg, &DeployOptions::default())
        .await
        .unwrap();
    fake.set_site_property("put-premium", "dailyMemoryTimeQuota", serde_json::json!(7));
    let mut tagged = plain.clone();
    tagged.tags.insert("cost".into(), "1".into());
    fake.clear_requests();
    premium
        .deploy_package(&tagged, &pkg, &DeployOptions::default())
        .await
        .unwrap();
    let writes = fake.writes();
    assert!(
        writes.len() == 1 && writes[0].starts_with("PUT ") && writes[0].contains("/sites/put-premium?"),
        "{writes:?}"
    );
    let site = fake.site("put-premium").unwrap();
    assert_eq!(site["tags"], serde_json::json!({"cost": "1"}));
    assert_eq!(site["properties"]["dailyMemoryTimeQuota"], 7);
    assert_eq!(site["properties"]["siteConfig"]["linuxFxVersion"], "PYTHON|3.12");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_secrets() {
    let Some(azurite) = Azurite::start().await else { return };
    let fake = FakeAzure::start().await;
    let azure = fake.provider(&azurite.blob_endpoint).await;
    let dir = tempfile::tempdir().unwrap();
    let pkg = package(dir.path(), "s");
    fake.clear_requests();
    for (bad, field) in [
        (
            FunctionSpec {
                name: "-bad".into(),
                ..spec("x")
            },
            "name",
        ),
        (spec("mem-app").memory_mb(512), "memory_mb"),
        (spec("env-app").env("AzureWebJobsStorage", "x"), "environment"),
        (
            FunctionSpec::new("rb-app", "ruby3.3".parse().unwrap(), "app.handler"),
            "runtime",
        ),
    ] {
        match azure.deploy_package(&bad, &pkg, &DeployOptions::default()).await {
            Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{other:?}"),
        }
    }
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
    // Hostile names, labels and qualifiers on every operation: refused before any request.
    faas_core::conformance::names_are_checked_first(&azure, &faas_core::conformance::Fixture::python()).await;
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
    let secret = spec("secret-app").secret_env("API_TOKEN", "hunter2-very-secret");
    azure
        .deploy_package(&secret, &pkg, &DeployOptions::default())
        .await
        .unwrap();
    let changed = spec("secret-app").secret_env("API_TOKEN", "hunter3-other-secret");
    let plan = azure.plan(&changed, &faas_core::local_artifact(&pkg)).await.unwrap();
    let shown = format!("{plan} {plan:?} {azure:?}");
    assert!(shown.contains("secret value changed"), "{shown}");
    for leaked in [
        "hunter",
        "AccountKey",
        "sig=",
        faas_azure::test_support::CLIENT_SECRET,
        faas_azure::test_support::ACCOUNT_KEY,
    ] {
        assert!(!shown.contains(leaked), "{leaked} in {shown}");
    }
    // An error from ARM while the credential works carries no secret either.
    fake.fail_next(
        "PUT",
        "/sites/secret-app/config/appsettings",
        Fault::Status(400, "BadRequest"),
    );
    let e = azure
        .deploy_package(&changed, &pkg, &DeployOptions::default())
        .await
        .unwrap_err();
    assert!(!format!("{e} {e:?}").contains("hunter"), "{e:?}");
    // A wrong client secret is Unauthenticated, and the secret is not in the message.
    let wrong = fake
        .builder(&azurite.blob_endpoint)
        .credentials(faas_azure::Credentials::ClientSecret {
            tenant_id: faas_azure::test_support::TENANT.into(),
            client_id: faas_azure::test_support::CLIENT_ID.into(),
            secret: "not-the-secret-xyz".into(),
        })
        .build()
        .await
        .unwrap();
    let e = wrong.get("secret-app").await.unwrap_err();
    assert!(
        matches!(e, Error::Unauthenticated { .. }) && !e.to_string().contains("not-the-secret-xyz"),
        "{e}"
    );
}

/// An endpoint that accepts connections and never answers: the call ends in a `Timeout`
/// naming it, within the configured limits (a short real-time test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_endpoint_times_out_naming_the_call() {
    use faas_core::conformance::{SilentServer, assert_timed_out, short_timeouts};
    let Some(azurite) = Azurite::start().await else { return };
    let fake = FakeAzure::start().await;
    let silent = SilentServer::start().await;
    let azure = fake
        .builder(&azurite.blob_endpoint)
        .arm_url(&silent.url)
        .retry(faas_core::RetryConfig::none())
        .timeouts(short_timeouts())
        .build()
        .await
        .unwrap();
    let started = std::time::Instant::now();
    assert_timed_out(azure.get("hangs-app").await, "GET ", "hangs-app", started);
}

/// With `AzureBuilder::app`, an app holds one function's package: a second function is
/// refused (naming the first), and deleting it deletes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_app_holds_one_function() {
    let Some(azurite) = Azurite::start().await else { return };
    let fake = FakeAzure::start().await;
    let azure = fake
        .builder(&azurite.blob_endpoint)
        .app("shared-app")
        .build()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (package(dir.path(), "one"), package(dir.path(), "two"));
    azure
        .deploy_package(&spec("one"), &one, &DeployOptions::default())
        .await
        .unwrap();
    for e in [
        azure
            .deploy_package(&spec("two"), &two, &DeployOptions::default())
            .await
            .unwrap_err(),
        azure.delete("two").await.unwrap_err(),
        azure.get("two").await.unwrap_err(),
    ] {
        assert!(
            matches!(&e, Error::Conflict { message, .. } if message.contains("\"one\"")),
            "{e}"
        );
    }
    assert_eq!(
        azure.get("one").await.unwrap().code_sha256,
        one.sha256,
        "one's code is intact"
    );
    azure.delete("one").await.unwrap();
}

/// A provider built from string settings alone (as a pipeline block or a map would give them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_from_a_string_map_alone() {
    use faas_azure::test_support::{ACCOUNT, CLIENT_ID, CLIENT_SECRET, PLAN, RESOURCE_GROUP, SUBSCRIPTION, TENANT};
    let Some(azurite) = Azurite::start().await else { return };
    let fake = FakeAzure::start().await;
    let settings = [
        ("subscription", SUBSCRIPTION.to_string()),
        ("resource_group", RESOURCE_GROUP.to_string()),
        ("plan", PLAN.to_string()),
        ("storage_account", ACCOUNT.to_string()),
        ("blob_endpoint", azurite.blob_endpoint.clone()),
        ("tenant_id", TENANT.to_string()),
        ("client_id", CLIENT_ID.to_string()),
        ("client_secret", CLIENT_SECRET.to_string()),
        ("authority_host", fake.url.clone()),
        ("arm_url", fake.url.clone()),
        ("kudu_url", fake.kudu_template()),
        ("ca_file", fake.ca_path().display().to_string()),
        ("poll_deadline_s", "60".to_string()),
    ];
    let azure = settings
        .iter()
        .try_fold(faas_azure::AzureBuilder::new(), |b, (k, v)| b.with_config(k, v))
        .unwrap()
        .build()
        .await
        .unwrap();
    deploys_fresh(&azure, "from-map-app").await;
    assert!(
        !format!("{azure:?}").contains(CLIENT_SECRET),
        "the secret stays out of Debug"
    );
    let e = faas_azure::AzureBuilder::new()
        .with_config("deploy_method", "ftp")
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidConfig { key, .. } if key == "deploy_method"),
        "{e}"
    );
}

/// A transport failure keeps the HTTP client's error as its `source`; no error in the whole
/// chain holds the storage key, a SAS signature or the client secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_errors_keep_their_cause_and_no_secret() {
    use faas_azure::test_support::{ACCOUNT_KEY, CLIENT_SECRET};
    let fake = FakeAzure::start().await;
    let closed = format!(
        "http://127.0.0.1:{}/{}",
        faas_core::conformance::free_port(),
        "devstoreaccount1"
    );
    let azure = fake
        .builder(&closed)
        .retry(faas_core::RetryConfig::none())
        .build()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let e = azure
        .deploy_package(&spec("chain-app"), &package(dir.path(), "c"), &DeployOptions::default())
        .await
        .unwrap_err();
    let chain: Vec<String> = std::iter::successors(Some(&e as &dyn std::error::Error), |c| c.source())
        .map(|c| format!("{c} {c:?}"))
        .collect();
    assert!(
        chain.len() >= 2,
        "the HTTP client's error is kept as the source: {chain:?}"
    );
    let all = chain.join("\n") + &e.to_json().to_string();
    for secret in [ACCOUNT_KEY, CLIENT_SECRET, "sig="] {
        assert!(!all.contains(secret), "a secret in the error chain: {all}");
    }
}

/// A program that already has a `reqwest::Client` hands it over (escape hatch): its roots
/// are used (here the fake's test CA), for Entra, ARM, Kudu and Blob alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_http_client_is_used() {
    let Some(azurite) = Azurite::start().await else { return };
    let fake = FakeAzure::start().await;
    let ca = reqwest::Certificate::from_pem(&std::fs::read(fake.ca_path()).unwrap()).unwrap();
    let client = reqwest::Client::builder().add_root_certificate(ca).build().unwrap();
    let azure = fake
        .builder(&azurite.blob_endpoint)
        .http_client(client)
        .build()
        .await
        .unwrap();
    deploys_fresh(&azure, "own-client-app").await;
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
