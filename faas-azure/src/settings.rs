//! App settings: the ones this provider manages, what a spec means as settings merged over
//! what an app has (settings not ours are kept), which values are secret, and who owns an app.

use std::collections::BTreeMap;

use faas_core::{Error, FunctionSpec, Result};

use crate::hosting::Hosting;
use crate::runtime::worker;

/// The package's sha256 (hex): the code identity, whatever the deploy method.
pub(crate) const CODE_SHA: &str = "FAAS_CODE_SHA256";
/// The spec's environment variable names (to remove the ones a spec drops).
pub(crate) const ENV_KEYS: &str = "FAAS_ENV_KEYS";
/// Which of them are secret (their values are never printed).
pub(crate) const SECRET_KEYS: &str = "FAAS_SECRET_KEYS";
/// The function the app holds: an app holds one package, so one function.
pub(crate) const FUNCTION: &str = "FAAS_FUNCTION";
/// The description (app settings are the one place that travels with a slot swap).
pub(crate) const DESCRIPTION: &str = "FAAS_DESCRIPTION";
/// Run from package: the package's read-only SAS URL.
pub(crate) const RUN_FROM_PACKAGE: &str = "WEBSITE_RUN_FROM_PACKAGE";
/// The function timeout, `hh:mm:ss`.
pub(crate) const TIMEOUT: &str = "AzureFunctionsJobHost__functionTimeout";
/// The host's storage connection string.
const STORAGE: &str = "AzureWebJobsStorage";
/// Flex Consumption's deployment storage connection string (named in `functionAppConfig`).
pub(crate) const DEPLOYMENT_STORAGE: &str = "DEPLOYMENT_STORAGE_CONNECTION_STRING";
/// The worker runtime (`python`, `node`; not on Flex).
const WORKER: &str = "FUNCTIONS_WORKER_RUNTIME";
/// The Functions host version (`~4`).
pub(crate) const EXTENSION: &str = "FUNCTIONS_EXTENSION_VERSION";
/// Elastic Premium: the storage connection string of the app's content file share
/// (Microsoft's Functions app-settings reference: Premium and Windows Consumption only).
pub(crate) const CONTENT_CONNECTION: &str = "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING";
/// Elastic Premium: the name of that file share (set together with the connection string).
pub(crate) const CONTENT_SHARE: &str = "WEBSITE_CONTENTSHARE";

/// App settings this provider manages; a spec cannot set them.
pub const AZURE_RESERVED_ENV: &[&str] = &[
    CODE_SHA,
    FUNCTION,
    ENV_KEYS,
    SECRET_KEYS,
    DESCRIPTION,
    RUN_FROM_PACKAGE,
    TIMEOUT,
    STORAGE,
    DEPLOYMENT_STORAGE,
    WORKER,
    EXTENSION,
    CONTENT_CONNECTION,
    CONTENT_SHARE,
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
];

/// Settings whose values are credentials (or, like the Application Insights connection
/// string, are kept out of plans and logs all the same).
pub(crate) const SECRET_SETTINGS: &[&str] = &[
    STORAGE,
    CONTENT_CONNECTION,
    DEPLOYMENT_STORAGE,
    RUN_FROM_PACKAGE,
    crate::app_insights::CONNECTION_STRING,
];

/// App settings, name → value.
pub(crate) type Settings = BTreeMap<String, String>;

/// `hh:mm:ss` for a timeout in seconds.
fn hhmmss(secs: u32) -> String {
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// Seconds for `hh:mm:ss`.
pub(crate) fn parse_hhmmss(s: &str) -> Option<u32> {
    let mut parts = s.split(':').map(|p| p.parse::<u32>().ok());
    let (h, m, sec) = (parts.next()??, parts.next()??, parts.next()??);
    Some(h * 3600 + m * 60 + sec)
}

/// A setting's value as a plan may show it: secrets redacted.
pub(crate) fn shown_value(
    spec: &FunctionSpec,
    settings: &Settings,
    key: &str,
    value: Option<&String>,
) -> Option<String> {
    let secret = SECRET_SETTINGS.contains(&key)
        || spec.is_secret(key)
        || settings
            .get(SECRET_KEYS)
            .is_some_and(|s| s.split(',').any(|k| k == key));
    value.map(|v| {
        if secret {
            faas_core::REDACTED.to_string()
        } else {
            v.clone()
        }
    })
}

/// The Azure Files share name for `site` (`app`, or `app/slot`): the rules of share names
/// (3–63 characters, lowercase letters, digits and single hyphens, starting and ending with a
/// letter or digit), the site's name made to fit, then 8 hex digits of its sha256 so that
/// `app-x/y` and `app/x-y` do not share.
pub(crate) fn content_share(site: &str) -> String {
    use sha2::Digest;
    let mut base = String::new();
    for c in site.chars().map(|c| c.to_ascii_lowercase()) {
        if c.is_ascii_alphanumeric() {
            base.push(c);
        } else if !base.is_empty() && !base.ends_with('-') {
            base.push('-');
        }
    }
    base.truncate(54);
    let base = base.trim_end_matches('-');
    let hash: String = sha2::Sha256::digest(site.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if base.is_empty() {
        hash[..8].to_string()
    } else {
        format!("{base}-{}", &hash[..8])
    }
}

/// The app settings `spec` means on top of `current` for the site named `site` (`app` or
/// `app/slot`): variables the spec no longer has are removed, everything else not ours is
/// kept (the PUT replaces them all). On Elastic Premium the content share settings are added
/// once and then kept as they are: a new share name would leave the app's files behind.
pub(crate) fn desired_settings(
    current: &Settings,
    spec: &FunctionSpec,
    hosting: Hosting,
    storage: &str,
    code: Option<(&str, Option<String>)>,
    site: &str,
) -> Settings {
    let mut s = current.clone();
    s.insert(FUNCTION.into(), spec.name.clone());
    for old in current.get(ENV_KEYS).map(|k| k.split(',')).into_iter().flatten() {
        s.remove(old);
    }
    for (k, v) in &spec.environment {
        s.insert(k.clone(), v.clone());
    }
    let keys: Vec<&str> = spec.environment.keys().map(String::as_str).collect();
    s.insert(ENV_KEYS.into(), keys.join(","));
    let secret: Vec<&str> = spec.secret_env.iter().map(String::as_str).collect();
    s.insert(SECRET_KEYS.into(), secret.join(","));
    s.insert(TIMEOUT.into(), hhmmss(spec.timeout_s));
    s.insert(
        EXTENSION.into(),
        spec.azure.extension_version.clone().unwrap_or_else(|| "~4".into()),
    );
    s.insert(STORAGE.into(), storage.to_string());
    if hosting == Hosting::Premium {
        s.entry(CONTENT_CONNECTION.into())
            .or_insert_with(|| storage.to_string());
        s.entry(CONTENT_SHARE.into()).or_insert_with(|| content_share(site));
    }
    if hosting == Hosting::Flex {
        s.insert(DEPLOYMENT_STORAGE.into(), storage.to_string());
        s.remove(WORKER);
    } else {
        s.insert(WORKER.into(), worker(spec).into());
    }
    if spec.description.is_empty() {
        s.remove(DESCRIPTION);
    } else {
        s.insert(DESCRIPTION.into(), spec.description.clone());
    }
    if let Some((sha, url)) = code {
        s.insert(CODE_SHA.into(), sha.to_string());
        match url {
            Some(u) => s.insert(RUN_FROM_PACKAGE.into(), u),
            None => s.remove(RUN_FROM_PACKAGE),
        };
    }
    s
}

/// Refuses to treat `app` as `function`'s when it holds another function: an app holds one
/// package (and one code marker), so a second function would replace the first one's code,
/// and deleting one would delete both.
pub(crate) fn check_owner(app: &str, settings: &Settings, function: &str) -> Result<()> {
    match settings.get(FUNCTION) {
        Some(holder) if holder != function => Err(Error::conflict(
            format!("function app {app}"),
            format!(
                "it holds function {holder:?}, and an app holds one function's package: give {function:?} an app of its own (AzureBuilder without app() names each app after its function)"
            ),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_share_name(s: &str) -> bool {
        (3..=63).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-')
            && !s.ends_with('-')
            && !s.contains("--")
    }

    #[test]
    fn content_share_names_follow_the_share_rules_and_differ_per_site() {
        let long = "A".repeat(60) + "/Staging--Slot";
        for site in ["hello-app", "hello-app/staging", "My_App", &long, "--", "x"] {
            let name = content_share(site);
            assert!(is_share_name(&name), "{site:?} -> {name:?}");
        }
        assert_ne!(content_share("app-x/y"), content_share("app/x-y"));
        assert_ne!(content_share("app"), content_share("app/staging"));
        assert_eq!(content_share("hello-app"), content_share("hello-app"));
    }

    #[test]
    fn premium_apps_get_their_content_share_once_and_keep_it() {
        let spec = FunctionSpec::new("f", "python3.12".parse().unwrap(), "function_app.app");
        let first = desired_settings(&Settings::new(), &spec, Hosting::Premium, "conn-1", None, "app");
        assert_eq!(first[CONTENT_CONNECTION], "conn-1");
        assert_eq!(first[CONTENT_SHARE], content_share("app"));
        // Kept as they are, even when the storage connection string or the name would differ.
        let mut kept = first.clone();
        kept.insert(CONTENT_SHARE.into(), "made-by-the-portal".into());
        let again = desired_settings(&kept, &spec, Hosting::Premium, "conn-2", None, "app");
        assert_eq!(again[CONTENT_SHARE], "made-by-the-portal");
        assert_eq!(again[CONTENT_CONNECTION], "conn-1");
        for hosting in [Hosting::Flex, Hosting::Dedicated] {
            let s = desired_settings(&Settings::new(), &spec, hosting, "conn", None, "app");
            assert!(
                !s.contains_key(CONTENT_SHARE) && !s.contains_key(CONTENT_CONNECTION),
                "{hosting:?}"
            );
        }
        let shown = shown_value(&spec, &first, CONTENT_CONNECTION, first.get(CONTENT_CONNECTION));
        assert_eq!(shown.as_deref(), Some(faas_core::REDACTED));
    }
}
