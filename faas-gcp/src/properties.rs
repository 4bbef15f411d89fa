//! Property tests: whatever the Cloud Functions and Cloud Run APIs answer — any JSON, in
//! their shapes or not — faas-gcp maps it to a typed result or error and never panics: an
//! answer that reads as the resource's type is walked by the code that uses it.

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::differences::differences;
use crate::layout::Layout;
use crate::resources::{Function, Service};
use crate::rest::{Target, map_error};
use crate::spec_mapping::{code_sha, deployment, observed_spec};

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"),
            Just("TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"),
            Just("python312"),
            Just("256M"),
            Just("1Gi"),
            Just("[{\"id\":1}]"),
        ]
        .prop_map(|s| Value::String(s.into())),
    ]
}

/// Any JSON, with the keys the APIs use over-represented.
fn json_value() -> impl Strategy<Value = Value> {
    let keys = prop_oneof![
        Just("traffic"),
        Just("annotations"),
        Just("type"),
        Just("percent"),
        Just("revision"),
        Just("tag"),
        Just("serviceConfig"),
        Just("buildConfig"),
        Just("runtime"),
        Just("entryPoint"),
        Just("environmentVariables"),
        Just("availableMemory"),
        Just("timeoutSeconds"),
        Just("labels"),
        Just("error"),
        Just("code"),
        Just("message"),
        Just("status"),
        Just("details"),
        Just("uri"),
        Just("faas.dev/versions"),
        Just("FAAS_CODE_SHA256"),
        Just("latestReadyRevision"),
    ]
    .prop_map(str::to_string);
    leaf().prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(prop_oneof![keys.clone(), "[a-z]{1,6}".prop_map(|s| s)], inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// JSON in the shape of a `Function`, with any values of the right JSON types (so it reads).
fn function_value() -> impl Strategy<Value = Value> {
    let text = || {
        prop_oneof![
            ".{0,12}",
            Just("python312".to_string()),
            Just("256M".to_string()),
            Just("1Gi".to_string())
        ]
    };
    let state = prop_oneof![
        Just("ACTIVE"),
        Just("FAILED"),
        Just("DEPLOYING"),
        Just("UNKNOWN"),
        Just("DETACH_FAILED"),
        Just("SOMETHING_NEW"),
    ];
    let env = || {
        prop::collection::btree_map(
            prop_oneof![Just("FAAS_CODE_SHA256".to_string()), "[A-Z_]{1,8}"],
            ".{0,8}",
            0..4,
        )
    };
    (
        (text(), text(), text(), any::<u32>(), prop::option::of(any::<u32>())),
        (env(), env(), prop::collection::btree_map("[a-z-]{1,8}", ".{0,8}", 0..4)),
        (state, text(), text()),
    )
        .prop_map(
            |((runtime, entry, memory, timeout, max), (build_env, run_env, labels), (state, message, url))| {
                json!({
                    "buildConfig": {"runtime": runtime, "entryPoint": entry, "environmentVariables": build_env},
                    "serviceConfig": {"availableMemory": memory, "timeoutSeconds": timeout, "maxInstanceCount": max,
                        "environmentVariables": run_env, "uri": url},
                    "labels": labels,
                    "state": state,
                    "stateMessages": [{"severity": "ERROR", "type": "BuildFailed", "message": message}],
                })
            },
        )
}

fn walk_function(f: &Function) {
    let spec = faas_core::FunctionSpec::new("f", "python312".parse().unwrap(), "main.main");
    let _ = code_sha(f);
    let _ = observed_spec(f, "f", Some(&spec));
    let _ = observed_spec(f, "f", None);
    let _ = differences(f, &spec, &"a".repeat(64));
    let _ = deployment(f, "f", None);
}

fn target() -> Target<'static> {
    Target {
        kind: faas_core::ResourceKind::Function,
        name: "f",
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn error_answers_always_map(status in 100u16..600, body in json_value(), raw in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = map_error(status, None, body.to_string().as_bytes(), target());
        let _ = map_error(status, None, &raw, target());
    }

    #[test]
    fn functions_never_panic(v in json_value()) {
        if let Ok(f) = serde_json::from_value::<Function>(v) {
            walk_function(&f);
        }
    }

    #[test]
    fn function_shaped_answers_never_panic(v in function_value()) {
        let f: Function = serde_json::from_value(v).unwrap();
        walk_function(&f);
    }

    #[test]
    fn services_never_panic(traffic in json_value(), annotations in json_value(), extra in json_value()) {
        let v = json!({
            "name": "projects/p/locations/r/services/f",
            "traffic": traffic,
            "annotations": annotations,
            "extra": extra,
        });
        if let Ok(service) = serde_json::from_value::<Service>(v) {
            let _ = Layout::read(&service, "live");
        }
    }
}
