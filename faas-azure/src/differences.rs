//! What differs between an app and a spec: the code, the runtime, Flex memory, tags and app
//! settings, with field-level diffs for a plan (secret values redacted).

use std::collections::BTreeMap;

use faas_core::{ConfigDiff, FunctionSpec, Result};

use crate::hosting::Hosting;
use crate::resources::Site;
use crate::runtime::{linux_fx, site_fx};
use crate::settings::{CODE_SHA, SECRET_KEYS, Settings, TIMEOUT, desired_settings, shown_value};

/// What differs between an app and a spec: code, and configuration as field-level diffs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Differences {
    /// The code marker now and wanted (`from`, `to` sha256), when they differ.
    pub code: Option<(String, String)>,
    /// The runtime (`linuxFxVersion`, or Flex's `functionAppConfig.runtime`).
    pub runtime: bool,
    /// Flex Consumption's instance memory.
    pub memory: bool,
    pub tags: bool,
    /// The app settings (environment, timeout, ours) other than the code marker.
    pub settings: bool,
    /// What a plan shows, secret values redacted.
    pub diffs: Vec<ConfigDiff>,
}

impl Differences {
    pub fn is_empty(&self) -> bool {
        self.code.is_none() && !self.runtime && !self.memory && !self.tags && !self.settings
    }
}

/// What differs between `site` (with settings `current`) and `spec` running code `sha256`;
/// setting values a plan shows are redacted where secret.
pub(crate) fn differences(
    site: &Site,
    current: &Settings,
    spec: &FunctionSpec,
    hosting: Hosting,
    storage: &str,
    sha256: &str,
) -> Result<Differences> {
    let mut d = Differences::default();
    let now = current.get(CODE_SHA).cloned().unwrap_or_default();
    if now != sha256 {
        d.code = Some((now, sha256.to_string()));
    }
    let mut diff = |field: &str, from: Option<String>, to: Option<String>| {
        d.diffs.push(ConfigDiff {
            field: field.to_string(),
            from,
            to,
        })
    };
    let fx = linux_fx(spec)?;
    let have_fx = site_fx(site, hosting, true);
    if !have_fx.eq_ignore_ascii_case(&fx) {
        d.runtime = true;
        diff("runtime", Some(have_fx), Some(fx));
    }
    if hosting == Hosting::Flex && site.instance_memory_mb() != Some(spec.memory_mb) {
        d.memory = true;
        diff(
            "memory_mb",
            site.instance_memory_mb().map(|m| m.to_string()),
            Some(spec.memory_mb.to_string()),
        );
    }
    let tags: BTreeMap<String, String> = site.tags.clone().unwrap_or_default();
    if tags != spec.tags {
        d.tags = true;
        diff("tags", Some(format!("{tags:?}")), Some(format!("{:?}", spec.tags)));
    }
    let want = desired_settings(
        current,
        spec,
        hosting,
        storage,
        None,
        site.name.as_deref().unwrap_or_default(),
    );
    let keys: std::collections::BTreeSet<&String> = want.keys().chain(current.keys()).collect();
    for k in keys {
        let (from, to) = (current.get(k), want.get(k));
        if from != to {
            d.settings = true;
            let field = if spec.environment.contains_key(k) || !want.contains_key(k) {
                format!("environment.{k}")
            } else if k == TIMEOUT {
                "timeout_s".to_string()
            } else {
                format!("settings.{k}")
            };
            let mut to_shown = shown_value(spec, &want, k, to);
            if from.is_some() && to.is_some() && to_shown == shown_value(spec, current, k, from) {
                to_shown = to_shown.map(|t| format!("{t} (a secret value changed)"));
            }
            // An app without our record of secret keys cannot say which old values were secret.
            let from_shown =
                if from.is_some() && field.starts_with("environment.") && !current.contains_key(SECRET_KEYS) {
                    Some(faas_core::REDACTED.to_string())
                } else {
                    shown_value(spec, current, k, from)
                };
            diff(&field, from_shown, to_shown);
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observed::observed_spec;
    use crate::settings::{RUN_FROM_PACKAGE, parse_hhmmss};

    fn spec() -> FunctionSpec {
        FunctionSpec::new("app-1", "python3.12".parse().unwrap(), "function_app.app")
            .env("A", "1")
            .secret_env("TOKEN", "s3cr3t")
    }

    #[test]
    fn settings_merge_keeps_foreign_and_drops_removed_variables() {
        let mut current = Settings::new();
        current.insert("APPLICATIONINSIGHTS_CONNECTION_STRING".into(), "keep".into());
        let first = desired_settings(
            &current,
            &spec(),
            Hosting::Premium,
            "conn",
            Some(("ab", Some("url".into()))),
            "app-1",
        );
        assert_eq!(first["A"], "1");
        assert_eq!(first["APPLICATIONINSIGHTS_CONNECTION_STRING"], "keep");
        assert_eq!(first[TIMEOUT], "00:00:03");
        let mut smaller = spec();
        smaller.environment.remove("A");
        let second = desired_settings(&first, &smaller, Hosting::Premium, "conn", None, "app-1");
        assert!(!second.contains_key("A"));
        assert_eq!(
            second[RUN_FROM_PACKAGE], "url",
            "code settings stay unless the code changes"
        );
        let site: Site = serde_json::from_value(
            serde_json::json!({"properties": {"siteConfig": {"linuxFxVersion": "PYTHON|3.12"}}}),
        )
        .unwrap();
        let d = differences(&site, &first, &spec(), Hosting::Premium, "conn", "ab").unwrap();
        assert!(d.is_empty(), "{:?}", d.diffs);
        let changed = spec().secret_env("TOKEN", "other");
        let d = differences(&site, &first, &changed, Hosting::Premium, "conn", "ab").unwrap();
        let shown = format!("{:?}", d.diffs);
        assert!(
            d.settings && shown.contains("secret value changed") && !shown.contains("other"),
            "{shown}"
        );
        let seen = observed_spec("app-1", &site, &first, Hosting::Premium, Some(&spec()));
        assert!(faas_core::diff_config(&seen, &spec()).is_empty());
        assert_eq!(parse_hhmmss("01:02:03"), Some(3723));
    }
}
