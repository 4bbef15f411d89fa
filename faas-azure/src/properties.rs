//! Property tests: whatever ARM and Kudu answer — any JSON, in their shapes or not —
//! faas-azure maps it to a typed result or error and never panics; and whatever a site holds,
//! reading a spec from it and comparing it with one never panics.

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::arm::{Target, map_error};
use crate::differences::differences;
use crate::hosting::Hosting;
use crate::observed::observed_spec;
use crate::resources::{
    FunctionAppConfig, FunctionsRuntime, FunctionsScaleAndConcurrency, Site, SiteConfig, SiteProperties,
};
use crate::settings::Settings;

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("PYTHON|3.12"),
            Just("Node|20"),
            Just("python"),
            Just("functionapp,linux")
        ]
        .prop_map(|s| Value::String(s.into())),
    ]
}

/// Any JSON, with the keys ARM uses over-represented.
fn json_value() -> impl Strategy<Value = Value> {
    let keys = prop_oneof![
        Just("properties"),
        Just("siteConfig"),
        Just("linuxFxVersion"),
        Just("functionAppConfig"),
        Just("runtime"),
        Just("name"),
        Just("version"),
        Just("scaleAndConcurrency"),
        Just("instanceMemoryMB"),
        Just("tags"),
        Just("error"),
        Just("code"),
        Just("message"),
        Just("defaultHostName"),
        Just("state"),
        Just("status"),
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn error_answers_always_map(status in 100u16..600, body in json_value(), raw in prop::collection::vec(any::<u8>(), 0..200)) {
        let target = Target { kind: faas_core::ResourceKind::Function, name: "app" };
        let _ = map_error(status, None, body.to_string().as_bytes(), target);
        let _ = map_error(status, None, &raw, target);
    }

    #[test]
    fn sites_never_panic(
        site in json_value(),
        settings in prop::collection::btree_map("[A-Za-z_]{1,24}", ".{0,30}", 0..8),
        flex in any::<bool>(),
    ) {
        // Any JSON is a Site or an error, never a panic; what parses is walked like a site.
        if let Ok(site) = serde_json::from_value::<Site>(site) {
            walk(&site, settings, flex);
        }
    }

    #[test]
    fn typed_sites_never_panic(
        site in typed_site(),
        settings in prop::collection::btree_map("[A-Za-z_]{1,24}", ".{0,30}", 0..8),
        flex in any::<bool>(),
    ) {
        walk(&site, settings, flex);
    }
}

fn walk(site: &Site, settings: std::collections::BTreeMap<String, String>, flex: bool) {
    let hosting = if flex { Hosting::Flex } else { Hosting::Premium };
    let settings: Settings = settings.into_iter().collect();
    let spec = faas_core::FunctionSpec::new("app", "python3.12".parse().unwrap(), "function_app.app");
    let _ = observed_spec("app", site, &settings, hosting, Some(&spec));
    let _ = observed_spec("app", site, &settings, hosting, None);
    let _ = differences(site, &settings, &spec, hosting, "conn", &"b".repeat(64));
}

/// Sites with any runtime strings, memory, tags and state, and any of their parts missing.
fn typed_site() -> impl Strategy<Value = Site> {
    let text = || {
        prop_oneof![
            Just("PYTHON|3.12".to_string()),
            Just("Node|20".to_string()),
            Just("python".to_string()),
            Just("|".to_string()),
            ".{0,20}",
        ]
    };
    (
        prop::option::of(text()),
        prop::option::of((prop::option::of(text()), prop::option::of(text()))),
        prop::option::of(prop::option::of(any::<u32>())),
        prop::option::of(prop::collection::btree_map(".{0,8}", ".{0,8}", 0..3)),
        prop::option::of(text()),
        any::<bool>(),
    )
        .prop_map(|(fx, runtime, memory, tags, state, has_properties)| Site {
            tags,
            properties: has_properties.then(|| SiteProperties {
                state,
                site_config: fx.map(|f| SiteConfig {
                    linux_fx_version: Some(f),
                    ..SiteConfig::default()
                }),
                function_app_config: Some(FunctionAppConfig {
                    runtime: runtime.map(|(name, version)| FunctionsRuntime {
                        name,
                        version,
                        ..FunctionsRuntime::default()
                    }),
                    scale_and_concurrency: memory.map(|m| FunctionsScaleAndConcurrency {
                        instance_memory_mb: m,
                        ..FunctionsScaleAndConcurrency::default()
                    }),
                    ..FunctionAppConfig::default()
                }),
                ..SiteProperties::default()
            }),
            ..Site::default()
        })
}
