//! Runtimes: a spec's runtime as Azure names it (`linuxFxVersion` `PYTHON|3.12`, Flex's
//! `functionAppConfig.runtime`, `FUNCTIONS_WORKER_RUNTIME`) and the runtime a site runs.

use faas_core::{Error, FunctionSpec, Result};
use faas_package::{Runtime, RuntimeFamily};

use crate::hosting::Hosting;
use crate::resources::{FunctionsRuntime, Site};

/// `PYTHON|3.12`, `NODE|20`.
pub(crate) fn linux_fx(spec: &FunctionSpec) -> Result<String> {
    let version = spec.runtime.version().unwrap_or_default();
    match spec.runtime.family() {
        RuntimeFamily::Python => Ok(format!("PYTHON|{version}")),
        RuntimeFamily::Node => Ok(format!("NODE|{}", version.trim_end_matches(".x"))),
        _ => Err(Error::invalid(
            "runtime",
            &spec.runtime,
            "this provider deploys Python and Node.js function apps",
        )),
    }
}

/// Flex Consumption's `functionAppConfig.runtime` for a spec (`python` / `3.12`).
pub(crate) fn flex_runtime(spec: &FunctionSpec) -> Result<FunctionsRuntime> {
    let fx = linux_fx(spec)?;
    let (family, version) = fx.split_once('|').unwrap_or_default();
    Ok(FunctionsRuntime {
        name: Some(family.to_lowercase()),
        version: Some(version.to_string()),
        ..FunctionsRuntime::default()
    })
}

/// `FUNCTIONS_WORKER_RUNTIME` for a spec.
pub(crate) fn worker(spec: &FunctionSpec) -> &'static str {
    match spec.runtime.family() {
        RuntimeFamily::Node => "node",
        _ => "python",
    }
}

/// The runtime a site runs, as `FAMILY|version` (`linuxFxVersion`, or Flex's
/// `functionAppConfig.runtime` with its name as `upper` makes it).
pub(crate) fn site_fx(site: &Site, hosting: Hosting, upper: bool) -> String {
    match hosting {
        Hosting::Flex => {
            let r = site.flex_runtime();
            let name = r.and_then(|r| r.name.as_deref()).unwrap_or_default();
            format!(
                "{}|{}",
                if upper { name.to_uppercase() } else { name.to_string() },
                r.and_then(|r| r.version.as_deref()).unwrap_or_default()
            )
        }
        _ => site.linux_fx_version().unwrap_or_default().to_string(),
    }
}

/// The runtime a site runs: `desired`'s own when the site runs its `linuxFxVersion` (the
/// spec's exact name is kept), else the one the site's runtime string names.
pub(crate) fn site_runtime(site: &Site, hosting: Hosting, desired: Option<&FunctionSpec>) -> Runtime {
    let fx = site_fx(site, hosting, false);
    let (family, version) = fx.split_once('|').unwrap_or(("", ""));
    let runtime_name = match family.to_lowercase().as_str() {
        "node" => format!("nodejs{version}.x"),
        _ => format!("python{version}"),
    };
    match desired {
        Some(d) if linux_fx(d).is_ok_and(|f| f.eq_ignore_ascii_case(&fx)) => d.runtime.clone(),
        _ => runtime_name
            .parse()
            .unwrap_or_else(|_| desired.map(|d| d.runtime.clone()).unwrap_or_else(fallback_runtime)),
    }
}

/// The runtime of a site whose runtime string names none.
fn fallback_runtime() -> Runtime {
    "python3.12"
        .parse()
        .unwrap_or_else(|_| panic!("python3.12 is a known runtime"))
}
