//! `LocalProvider::serve` with real clients: aws-sdk-lambda and boto3 on the Invoke API,
//! reqwest on function URLs, and the serve example as a user runs it.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_lambda::operation::RequestId as _;
use aws_sdk_lambda::operation::invoke::InvokeError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{InvocationType, LogType};
use base64::Engine as _;
use faas_core::local::{LocalProvider, ServeConfig, Server};
use faas_core::observe::{MetricsQuery, TimeWindow};
use faas_core::{DeployOptions, FunctionSpec, InvokeRequest, Provider, ProviderExt, PublishRequest, Routing};
use faas_package::PackageBuilder;
use serde_json::{Value, json};

const HELLO: &str = r#"import json
def handler(event, context):
    print("log line from hello")
    if event.get("fail"):
        raise ValueError("asked to fail")
    if event.get("sleep"):
        import time
        time.sleep(event["sleep"])
    if event.get("context"):
        cc = context.client_context
        return {"custom": cc.custom if cc else None, "request_id": context.aws_request_id}
    return {"hello": event.get("name", "world"), "version": context.function_version}
"#;

const WEB: &str = r#"import base64, json
def handler(event, context):
    path = event["rawPath"]
    if path == "/echo":
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(event)}
    if path == "/custom":
        return {
            "statusCode": 201,
            "headers": {"Content-Type": "application/octet-stream", "X-Custom": "yes"},
            "cookies": ["a=1; Max-Age=60", "b=2; Path=/"],
            "body": base64.b64encode(b"\x00\x01binary").decode(),
            "isBase64Encoded": True,
        }
    if path == "/ids":
        return {"event": event["requestContext"]["requestId"], "context": context.aws_request_id}
    if path == "/plain":
        return {"message": "Hello, world!"}
    if path == "/string":
        return "Hello, world!"
    raise RuntimeError("no route for " + path)
"#;

struct Env {
    _dir: tempfile::TempDir,
    provider: LocalProvider,
    server: Server,
}

async fn deploy(provider: &LocalProvider, dir: &std::path::Path, name: &str, code: &str, timeout_s: u32) {
    let src = dir.join(format!("src-{name}"));
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("app.py"), code).unwrap();
    let spec = FunctionSpec::new(name, "python3.12".parse().unwrap(), "app.handler").timeout_s(timeout_s);
    let package = PackageBuilder::new(&src)
        .output(dir.join(format!("{name}.zip")))
        .build()
        .unwrap();
    provider
        .deploy_package(&spec, &package, &DeployOptions::default())
        .await
        .unwrap();
}

/// `hello` (version 1, alias `live` → 1) and `web`, served on a free loopback port.
async fn env(config: ServeConfig) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let provider = LocalProvider::builder()
        .state_dir(dir.path().join("state"))
        .build()
        .unwrap();
    deploy(&provider, dir.path(), "hello", HELLO, 5).await;
    deploy(&provider, dir.path(), "web", WEB, 5).await;
    let v = provider.publish("hello", &PublishRequest::default()).await.unwrap();
    provider.set_label("hello", "live", &Routing::to(&v.id)).await.unwrap();
    let server = provider.serve_with("127.0.0.1:0", config).await.unwrap();
    Env {
        _dir: dir,
        provider,
        server,
    }
}

fn sdk(url: &str) -> aws_sdk_lambda::Client {
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "faas-test"))
        .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

/// The service error of a call that must fail.
async fn fails(call: aws_sdk_lambda::operation::invoke::builders::InvokeFluentBuilder) -> InvokeError {
    call.send().await.unwrap_err().into_service_error()
}

fn json_of(out: &aws_sdk_lambda::operation::invoke::InvokeOutput) -> Value {
    serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_sdk_lambda_invokes_through_serve() {
    let env = env(ServeConfig::default()).await;
    let client = sdk(&env.server.url());

    // Synchronous, with the log tail.
    let out = client
        .invoke()
        .function_name("hello")
        .log_type(LogType::Tail)
        .payload(Blob::new(r#"{"name":"sdk"}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.function_error(), None);
    assert_eq!(out.executed_version(), Some("$LATEST"));
    assert_eq!(json_of(&out), json!({"hello": "sdk", "version": "$LATEST"}));
    let log = base64::engine::general_purpose::STANDARD
        .decode(out.log_result().unwrap())
        .unwrap();
    let log = String::from_utf8(log).unwrap();
    assert!(
        log.contains("log line from hello") && log.contains("REPORT RequestId:"),
        "{log}"
    );
    assert!(log.len() <= 4096);

    // No log tail unless asked.
    let out = client.invoke().function_name("hello").send().await.unwrap();
    assert_eq!(out.log_result(), None);
    assert_eq!(json_of(&out)["hello"], "world");

    // A function error: 200 with X-Amz-Function-Error and Lambda's error body.
    let out = client
        .invoke()
        .function_name("hello")
        .payload(Blob::new(r#"{"fail":true}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.function_error(), Some("Unhandled"));
    let body = json_of(&out);
    assert_eq!(body["errorType"], "ValueError");
    assert_eq!(body["errorMessage"], "asked to fail");

    // The client context (base64 of a JSON object) is the handler's context.client_context.
    let out = client
        .invoke()
        .function_name("hello")
        .client_context(base64::engine::general_purpose::STANDARD.encode(r#"{"custom":{"from":"sdk"}}"#))
        .payload(Blob::new(r#"{"context":true}"#))
        .send()
        .await
        .unwrap();
    let body = json_of(&out);
    assert_eq!(body["custom"], json!({"from": "sdk"}));
    assert_eq!(body["request_id"].as_str(), out.request_id());
    let e = fails(client.invoke().function_name("hello").client_context("not base64 json")).await;
    assert!(e.is_invalid_request_content_exception(), "{e:?}");
    assert!(
        e.to_string()
            .contains("Client context must be a valid Base64-encoded JSON object"),
        "{e}"
    );

    // Event → 202, DryRun → 204.
    let out = client
        .invoke()
        .function_name("hello")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 202);
    let out = client
        .invoke()
        .function_name("hello")
        .invocation_type(InvocationType::DryRun)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 204);

    // Versions, aliases and ARNs.
    let cases = [
        ("hello", Some("1"), "1"),
        ("hello", Some("live"), "1"),
        ("hello:live", None, "1"),
        ("hello", Some("$LATEST"), "$LATEST"),
        ("123456789012:function:hello", Some("1"), "1"),
        ("arn:aws:lambda:us-east-1:123456789012:function:hello", None, "$LATEST"),
        ("arn:aws:lambda:us-east-1:123456789012:function:hello:live", None, "1"),
    ];
    for (name, qualifier, version) in cases {
        let out = client
            .invoke()
            .function_name(name)
            .set_qualifier(qualifier.map(str::to_string))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name} {qualifier:?}: {:?}", e.into_service_error()));
        assert_eq!(out.executed_version(), Some(version), "{name} {qualifier:?}");
        assert_eq!(json_of(&out)["version"], version, "{name} {qualifier:?}");
    }

    // Typed errors.
    let e = fails(client.invoke().function_name("nope")).await;
    assert!(e.is_resource_not_found_exception(), "{e:?}");
    assert!(
        e.to_string()
            .contains("Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"),
        "{e}"
    );
    for qualifier in ["9", "gone"] {
        let e = fails(client.invoke().function_name("hello").qualifier(qualifier)).await;
        assert!(e.is_resource_not_found_exception(), "{qualifier}: {e:?}");
    }
    let hello = || client.invoke().function_name("hello");
    let e = fails(hello().payload(Blob::new("not json"))).await;
    assert!(e.is_invalid_request_content_exception(), "{e:?}");
    let e = fails(hello().invocation_type(InvocationType::from("Later"))).await;
    assert!(e.is_invalid_parameter_value_exception(), "{e:?}");
    let e = fails(client.invoke().function_name("hello:live").qualifier("1")).await;
    assert!(e.is_invalid_parameter_value_exception(), "{e:?}");
    let e = fails(hello().payload(Blob::new(vec![b' '; 6 * 1024 * 1024 + 1]))).await;
    assert!(e.is_request_too_large_exception(), "{e:?}");

    // Served calls are in the invocation history (the event too, once it has run).
    env.server.shutdown().await;
    let m = env
        .provider
        .metrics(&MetricsQuery::new("hello", TimeWindow::last(Duration::from_secs(600))))
        .await
        .unwrap();
    assert!(m.invocations.unwrap() >= 11, "{m:?}");
    assert!(m.errors.unwrap() >= 1, "{m:?}");
}

/// faas's own AWS provider, pointed at the local server, gets what it gets from Lambda.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faas_aws_invokes_through_serve() {
    let env = env(ServeConfig::default()).await;
    let aws = common::aws_at(&env.server.url()).await;
    let inv = aws
        .invoke(
            "hello",
            &InvokeRequest::json(&json!({"name": "faas-aws"})).qualifier("live"),
        )
        .await
        .unwrap();
    assert_eq!(inv.status, 200);
    assert_eq!(inv.executed_version.as_deref(), Some("1"));
    assert_eq!(inv.json().unwrap()["hello"], "faas-aws");
    assert!(inv.log_tail.unwrap().contains("log line from hello"));
    assert!(inv.report.is_some(), "the REPORT line is parsed from the log tail");
    let failed = aws
        .invoke("hello", &InvokeRequest::json(&json!({"fail": true})))
        .await
        .unwrap();
    assert_eq!(failed.function_error.unwrap().error_type, "ValueError");
    let req =
        InvokeRequest::json(&json!({"context": true})).with_client_context(&json!({"custom": {"via": "faas-aws"}}));
    let inv = aws.invoke("hello", &req).await.unwrap();
    assert_eq!(inv.json().unwrap()["custom"], json!({"via": "faas-aws"}));
    let e = aws.invoke("nope", &InvokeRequest::json(&json!({}))).await.unwrap_err();
    assert!(matches!(e, faas_core::Error::NotFound { .. }), "{e:?}");
    env.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_at_once_are_throttled_and_shutdown_waits_for_them() {
    let env = env(ServeConfig::default().concurrency(1)).await;
    let client = sdk(&env.server.url());
    let slow = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .invoke()
                .function_name("hello")
                .payload(Blob::new(r#"{"sleep": 3, "name": "slow"}"#))
                .send()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let e = client
        .invoke()
        .function_name("hello")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_too_many_requests_exception(), "{e:?}");
    // Events too: one running at once.
    let event = || {
        client
            .invoke()
            .function_name("hello")
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(r#"{"sleep": 1}"#))
    };
    assert_eq!(event().send().await.unwrap().status_code(), 202);
    let e = fails(event()).await;
    assert!(e.is_too_many_requests_exception(), "{e:?}");
    // Shutting down lets the running calls finish.
    let url = env.server.url();
    env.server.shutdown().await;
    let out = slow.await.unwrap().unwrap();
    assert_eq!(json_of(&out)["hello"], "slow");
    // And then nothing listens.
    assert!(reqwest::get(format!("{url}/url/web/plain")).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_arrives_is_refused_not_waited_for() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let env = env(ServeConfig::default().body_timeout(Duration::from_millis(300))).await;
    let mut tcp = tokio::net::TcpStream::connect(env.server.local_addr()).await.unwrap();
    tcp.write_all(b"POST /2015-03-31/functions/hello/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&answer).contains("did not arrive") {
            let n = tcp.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    let text = String::from_utf8_lossy(&answer);
    assert!(read.is_ok(), "no answer within 10 s: {text}");
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(
        text.contains("x-amzn-errortype: InvalidRequestContentException"),
        "{text}"
    );
    env.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_urls_speak_payload_format_2() {
    let env = env(ServeConfig::default()).await;
    let base = format!("{}/url/web", env.server.url());
    let http = reqwest::Client::new();

    let r = http
        .post(format!("{base}/echo?a=1&a=2&b=x%20y"))
        .header("cookie", "c1=v1; c2=v2")
        .header("user-agent", "faas-test/1")
        .header("content-type", "application/octet-stream")
        .body(vec![0u8, 159, 146, 150])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-amzn-requestid"));
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["version"], "2.0");
    assert_eq!(e["routeKey"], "$default");
    assert_eq!(e["rawPath"], "/echo");
    assert_eq!(e["rawQueryString"], "a=1&a=2&b=x%20y");
    assert_eq!(e["queryStringParameters"], json!({"a": "1,2", "b": "x y"}));
    assert_eq!(e["cookies"], json!(["c1=v1", "c2=v2"]));
    assert_eq!(e["headers"]["user-agent"], "faas-test/1");
    assert_eq!(e["requestContext"]["http"]["method"], "POST");
    assert_eq!(e["requestContext"]["http"]["path"], "/echo");
    assert_eq!(e["requestContext"]["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(e["requestContext"]["http"]["userAgent"], "faas-test/1");
    assert!(e["requestContext"]["timeEpoch"].as_u64().unwrap() > 1_700_000_000_000);
    assert_eq!(e["isBase64Encoded"], true);
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(e["body"].as_str().unwrap())
            .unwrap(),
        [0u8, 159, 146, 150]
    );

    // A text body stays text.
    let e: Value = http
        .put(format!("{base}/echo"))
        .header("content-type", "application/json")
        .body(r#"{"k":"v"}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (e["body"].as_str(), &e["isBase64Encoded"]),
        (Some(r#"{"k":"v"}"#), &json!(false))
    );

    // statusCode, headers, cookies → Set-Cookie, a base64 body.
    let r = http.get(format!("{base}/custom")).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-custom"], "yes");
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    let cookies: Vec<_> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(cookies, ["a=1; Max-Age=60", "b=2; Path=/"]);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"\x00\x01binary");

    // Plain JSON and a string: 200 application/json with the JSON as the body.
    // One request id end to end: the event's, the handler's and the response header's.
    let r = http.get(format!("{base}/ids")).send().await.unwrap();
    let header = r.headers()["x-amzn-requestid"].to_str().unwrap().to_string();
    let ids: Value = r.json().await.unwrap();
    assert_eq!(header.len(), 36, "{header}");
    assert_eq!(ids, json!({"event": header, "context": header}));

    let r = http.get(format!("{base}/plain")).send().await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.headers()["content-type"].to_str().unwrap()),
        (200, "application/json")
    );
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"message": "Hello, world!"}));
    let r = http.get(format!("{base}/string")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), r#""Hello, world!""#);

    // A function error is a 502; an unknown function a 404; an alias in the URL works.
    let r = http.get(format!("{base}/nothing-here")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    let r = http
        .get(format!("{}/url/nope/", env.server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http
        .get(format!("{}/url/hello:live/", env.server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["version"], "1");
    env.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_invokes_through_serve() {
    let Some(python) = common::ric_python("boto3") else {
        return;
    };
    let env = env(ServeConfig::default()).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/serve_boto3.py");
    let out = tokio::process::Command::new(python)
        .arg(script)
        .arg(env.server.url())
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("boto3: all checks passed"), "{stdout}\n{stderr}");
    env.server.shutdown().await;
}

#[test]
fn the_serve_example_prints_its_address_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(common::example("serve"))
        .args(["--port", "0", "--state-dir"])
        .arg(dir.path().join("state"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first.split(" on ").nth(1).unwrap().trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{first}");
    let aws = lines.next().unwrap().unwrap();
    assert!(
        aws.contains(&format!("aws lambda invoke --endpoint-url {url} --function-name hello")),
        "{aws}"
    );
    // The server answers: no such function yet.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{url}/2015-03-31/functions/hello/invocations"))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 404);
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("stopping")), "{rest:?}");
}
