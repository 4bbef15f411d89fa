//! CI authentication without long-lived keys, through moto's STS: `AssumeRoleWithWebIdentity`
//! with a token file (the builder's `auth = web_identity` keys, and aws-config's own chain
//! reading `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`) and with the GitHub Actions job's
//! ID token (a local fake of its token service). A recording proxy in front of moto proves
//! the token reached STS and that the S3 and Lambda calls after it are signed with the access
//! key id moto issued (SigV4's `Credential=` in the `Authorization` header) — and no token
//! reaches a trace-level log line.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use faas_aws::test_support::{BUCKET, Moto, ROLE};
use faas_aws::{AwsBuilder, WebIdentity};
use faas_core::Provider;
use faas_core::ci_token::GithubOidc;
use faas_core::ci_token::fake::{GithubTokenService, run_in_child};

/// One request through the recording proxy.
#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    authorization: String,
    body: String,
    answer: String,
}

#[derive(Clone)]
struct Upstream {
    url: String,
    http: reqwest::Client,
    seen: Arc<Mutex<Vec<Recorded>>>,
}

async fn forward(State(up): State<Upstream>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let path_query = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut out = up.http.request(parts.method.clone(), format!("{}{path_query}", up.url));
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            out = out.header(name, value);
        }
    }
    let resp = out.body(body.clone()).send().await.unwrap();
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
    let mut headers = HeaderMap::new();
    for (name, value) in resp.headers() {
        if name != "content-length" && name != "transfer-encoding" && name != "connection" {
            headers.insert(name, value.clone());
        }
    }
    let answer = resp.bytes().await.unwrap();
    up.seen.lock().unwrap().push(Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        authorization: parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
        body: String::from_utf8_lossy(&body).into_owned(),
        answer: String::from_utf8_lossy(&answer).into_owned(),
    });
    (status, headers, answer).into_response()
}

/// A proxy in front of `upstream` that records what passes.
async fn recording_proxy(upstream: &str) -> (String, Arc<Mutex<Vec<Recorded>>>) {
    let up = Upstream {
        url: upstream.to_string(),
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        seen: Arc::default(),
    };
    let seen = up.seen.clone();
    let app = axum::Router::new().fallback(forward).with_state(up);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

/// The value of `<Field>…</Field>` in an XML answer (STS speaks awsQuery).
fn xml_field(xml: &str, field: &str) -> Option<String> {
    let open = format!("<{field}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{field}>"))? + start;
    Some(xml[start..end].to_string())
}

/// The STS exchange the proxy saw (its request carried `token`), and the access key id moto
/// issued in answer; then checks that every S3 and Lambda request after it is signed with it.
fn assert_exchanged_and_used(seen: &[Recorded], token: &str, role: &str) -> String {
    let sts = seen
        .iter()
        .find(|r| r.body.contains("Action=AssumeRoleWithWebIdentity"))
        .unwrap_or_else(|| panic!("no AssumeRoleWithWebIdentity in {seen:#?}"));
    let form: Vec<(String, String)> = url_decode_form(&sts.body);
    let get = |k: &str| form.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    assert_eq!(get("WebIdentityToken").as_deref(), Some(token), "the token reached STS");
    assert_eq!(get("RoleArn").as_deref(), Some(role));
    assert!(sts.authorization.is_empty(), "AssumeRoleWithWebIdentity is unsigned");
    let key = xml_field(&sts.answer, "AccessKeyId").unwrap_or_else(|| panic!("no key in {}", sts.answer));
    let signed: Vec<&Recorded> = seen
        .iter()
        .filter(|r| r.path.starts_with("/2015-03-31/functions") || r.path.starts_with(&format!("/{BUCKET}")))
        .collect();
    assert!(
        signed.iter().any(|r| r.path.starts_with("/2015-03-31/")),
        "a Lambda call: {seen:#?}"
    );
    assert!(signed.iter().any(|r| r.method == "PUT"), "an S3 upload: {seen:#?}");
    for r in &signed {
        assert!(
            r.authorization.contains(&format!("Credential={key}/")),
            "{} {} was not signed with the assumed role's key {key}: {}",
            r.method,
            r.path,
            r.authorization
        );
    }
    key
}

fn url_decode_form(body: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(body.as_bytes()).into_owned().collect()
}

/// Uploads a package (S3) and reads a function that does not exist (Lambda).
async fn s3_and_lambda_calls(aws: &faas_aws::AwsProvider) {
    let dir = tempfile::tempdir().unwrap();
    let pkg = faas_aws::test_support::python_package(dir.path(), "federated");
    aws.upload("federated-fn", &pkg).await.unwrap();
    let e = aws.get("federated-fn").await.unwrap_err();
    assert_eq!(e.kind(), "not_found", "{e}");
}

const FILE_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.canary-file-token.sig";

#[tokio::test]
async fn auth_web_identity_reads_the_token_file_and_its_keys_sign_s3_and_lambda() {
    let Some(moto) = Moto::start().await else { return };
    let (proxy, seen) = recording_proxy(&moto.url).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{FILE_TOKEN}\n")).unwrap();
    let mut b = AwsBuilder::new();
    for (k, v) in [
        ("region", "us-east-1"),
        ("endpoint_url", proxy.as_str()),
        ("bucket", BUCKET),
        ("auth", "web_identity"),
        ("role_arn", ROLE),
        ("session_name", "ci-run"),
        ("web_identity_token_file", file.to_str().unwrap()),
    ] {
        b = b.with_config(k, v).unwrap();
    }
    let aws = b.build().await.unwrap();
    s3_and_lambda_calls(&aws).await;
    let seen = seen.lock().unwrap().clone();
    assert_exchanged_and_used(&seen, FILE_TOKEN, ROLE);
    let sts = seen
        .iter()
        .find(|r| r.body.contains("AssumeRoleWithWebIdentity"))
        .unwrap();
    assert!(sts.body.contains("RoleSessionName=ci-run"), "{}", sts.body);
    assert!(!format!("{aws:?}").contains("canary"));
}

const REQUEST_TOKEN: &str = "canary-actions-request-token";
const GITHUB_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.canary-github-id-token.sig";

#[tokio::test(flavor = "current_thread")]
async fn the_github_oidc_token_is_exchanged_its_keys_sign_the_calls_and_no_token_is_logged() {
    let Some(moto) = Moto::start().await else { return };
    let (proxy, seen) = recording_proxy(&moto.url).await;
    let service = GithubTokenService::start(REQUEST_TOKEN, |_| GITHUB_TOKEN.to_string()).await;
    let (logs, _guard) = faas_core::conformance::capture_logs();
    let oidc = GithubOidc::new(&service.url, REQUEST_TOKEN).unwrap();
    let aws = AwsBuilder::new()
        .region("us-east-1")
        .endpoint_url(&proxy)
        .bucket(BUCKET)
        .web_identity(WebIdentity::github(ROLE, oidc))
        .build()
        .await
        .unwrap();
    s3_and_lambda_calls(&aws).await;
    assert_eq!(service.seen().audiences, [faas_aws::AWS_AUDIENCE]);
    let seen = seen.lock().unwrap().clone();
    let key = assert_exchanged_and_used(&seen, GITHUB_TOKEN, ROLE);
    let sts = seen
        .iter()
        .find(|r| r.body.contains("AssumeRoleWithWebIdentity"))
        .unwrap();
    let secret = xml_field(&sts.answer, "SecretAccessKey").unwrap();
    let session = xml_field(&sts.answer, "SessionToken").unwrap();
    let text = logs.text();
    assert!(
        text.contains(&key),
        "the capture works (the access key id is not secret)"
    );
    logs.assert_free_of(&[REQUEST_TOKEN, GITHUB_TOKEN, "canary", &secret, &session]);
    assert!(!format!("{aws:?}").contains("canary"));
}

#[tokio::test]
async fn the_default_chain_assumes_the_role_of_aws_web_identity_token_file() {
    let Some(moto) = Moto::start().await else { return };
    let (proxy, seen) = recording_proxy(&moto.url).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, FILE_TOKEN).unwrap();
    let missing = dir.path().join("none");
    // aws-config reads these variables itself: a child process gets them, not this one.
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    run_in_child(
        "default_chain_child",
        &[
            ("AWS_WEB_IDENTITY_TOKEN_FILE", file.as_os_str()),
            ("AWS_ROLE_ARN", os(ROLE)),
            ("AWS_ROLE_SESSION_NAME", os("chain-run")),
            ("AWS_ENDPOINT_URL", std::ffi::OsStr::new(&proxy)),
            ("AWS_REGION", os("us-east-1")),
            ("FAAS_AWS_BUCKET", os(BUCKET)),
            ("AWS_CONFIG_FILE", missing.as_os_str()),
            ("AWS_SHARED_CREDENTIALS_FILE", missing.as_os_str()),
            ("AWS_EC2_METADATA_DISABLED", os("true")),
            ("FAAS_CHAIN_CHILD", os("1")),
        ],
    )
    .await;
    let seen = seen.lock().unwrap().clone();
    assert_exchanged_and_used(&seen, FILE_TOKEN, ROLE);
    assert!(seen.iter().any(|r| r.body.contains("RoleSessionName=chain-run")));
}

/// Run by `the_default_chain_assumes_the_role_of_aws_web_identity_token_file` in a child
/// process whose environment holds the web identity variables (and no keys).
#[tokio::test]
#[ignore = "run in a child process by the_default_chain_assumes_the_role_of_aws_web_identity_token_file"]
async fn default_chain_child() {
    assert_eq!(
        std::env::var("FAAS_CHAIN_CHILD").as_deref(),
        Ok("1"),
        "run by its parent test"
    );
    let aws = AwsBuilder::from_env().build().await.unwrap();
    s3_and_lambda_calls(&aws).await;
}

#[tokio::test]
async fn web_identity_settings_are_checked_before_any_call() {
    let build = |pairs: &[(&str, &str)]| {
        let mut b = AwsBuilder::new().region("us-east-1").endpoint_url("http://127.0.0.1:9");
        for (k, v) in pairs {
            b = b.with_config(k, v).unwrap();
        }
        b.build()
    };
    let e = AwsBuilder::new().with_config("auth", "oidc").unwrap_err();
    assert_eq!(e.kind(), "invalid_config");
    assert!(e.to_string().contains("web_identity"), "{e}");
    let e = build(&[("auth", "web_identity"), ("role_arn", ROLE), ("external_id", "x")])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("external_id"), "{e}");
    let e = build(&[
        ("auth", "web_identity"),
        ("role_arn", ROLE),
        ("access_key_id", "AKID"),
        ("secret_access_key", "canary-secret"),
    ])
    .await
    .unwrap_err();
    assert!(e.to_string().contains("static keys"), "{e}");
    assert!(!format!("{e}{e:?}").contains("canary"));
    let e = build(&[
        ("auth", "web_identity"),
        ("role_arn", ROLE),
        ("web_identity_token_file", "/nonexistent/token"),
    ])
    .await
    .unwrap_err();
    assert!(e.to_string().contains("web_identity_token_file"), "{e}");
    assert!(e.to_string().contains("/nonexistent/token"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "t").unwrap();
    let e = build(&[
        ("auth", "web_identity"),
        ("web_identity_token_file", file.to_str().unwrap()),
    ])
    .await
    .unwrap_err();
    if std::env::var_os("AWS_ROLE_ARN").is_none() {
        assert!(e.to_string().contains("role_arn"), "{e}");
    }
    if std::env::var_os("ACTIONS_ID_TOKEN_REQUEST_URL").is_none() {
        let e = build(&[("auth", "github_oidc"), ("role_arn", ROLE)]).await.unwrap_err();
        assert!(e.to_string().contains("ACTIONS_ID_TOKEN_REQUEST_URL"), "{e}");
    }
}
