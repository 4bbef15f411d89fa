//! Lambda SnapStart (`aws.snap_start`): `SnapStart.ApplyOn=PublishedVersions` on the
//! function, and publishing that waits for the version's snapshot.
//!
//! The developer guide ("Improving startup performance with Lambda SnapStart", supported
//! features and limitations) lists the managed runtimes Java 11 and later, Python 3.12 and
//! later and .NET 8 and later; other runtimes, OS-only runtimes and container images are not
//! supported, nor are provisioned concurrency, Amazon EFS or ephemeral storage over 512 MB,
//! and SnapStart applies only to published versions (and aliases to them), never to
//! `$LATEST`. The spec has no provisioned concurrency or EFS setting, so what it can ask for
//! and Lambda would refuse — an unsupported runtime, more than 512 MB of `/tmp` — is refused
//! here before any call.
//!
//! When a version is published, Lambda initialises it and takes the snapshot: the version
//! stays `Pending` until then, and its `SnapStart.OptimizationStatus` turns `On`.
//! [`Functions::wait_snapshot`] waits for both.

use aws_sdk_lambda::types::{FunctionConfiguration, SnapStart, SnapStartApplyOn, SnapStartOptimizationStatus};
use faas_core::{Error, FunctionSpec, PollStatus, Result, RuntimeFamily};

use crate::error::map;
use crate::lambda::{Functions, fn_target};
use crate::states::{Readiness, readiness};

/// The largest ephemeral storage SnapStart accepts, in MB.
pub(crate) const MAX_STORAGE_MB: u32 = 512;

/// Whether Lambda offers SnapStart for the runtime `family`/`version`. Of the runtimes faas
/// packages (Python, Node.js, Ruby, custom; no Java or .NET), that is Python 3.12 and later.
fn supported(family: RuntimeFamily, version: Option<&str>) -> bool {
    let mut parts = version.unwrap_or_default().split('.').map(|p| p.parse::<u32>().ok());
    family == RuntimeFamily::Python
        && matches!((parts.next(), parts.next()), (Some(Some(3)), Some(Some(minor))) if minor >= 12)
}

/// Refuses, before any call, what Lambda refuses with SnapStart.
pub(crate) fn validate(spec: &FunctionSpec) -> Result<()> {
    if !spec.aws.snap_start {
        return Ok(());
    }
    if !supported(spec.runtime.family(), spec.runtime.version()) {
        return Err(Error::invalid(
            "aws.snap_start",
            format!("true with runtime {}", spec.runtime.lambda_name()),
            "Lambda offers SnapStart for Java 11+, Python 3.12+ and .NET 8+, and faas packages Python of these: use python3.12 or later, or set snap_start to false",
        ));
    }
    if let Some(mb) = spec.aws.ephemeral_storage_mb.filter(|mb| *mb > MAX_STORAGE_MB) {
        return Err(Error::invalid(
            "aws.ephemeral_storage_mb",
            format!("{mb} with aws.snap_start"),
            format!(
                "SnapStart allows at most {MAX_STORAGE_MB} MB of ephemeral storage: lower it or set snap_start to false"
            ),
        ));
    }
    Ok(())
}

/// The `SnapStart` setting for the spec.
pub(crate) fn setting(spec: &FunctionSpec) -> SnapStart {
    let apply_on = if spec.aws.snap_start {
        SnapStartApplyOn::PublishedVersions
    } else {
        SnapStartApplyOn::None
    };
    SnapStart::builder().apply_on(apply_on).build()
}

/// Whether the configuration has SnapStart on for published versions.
pub(crate) fn enabled(c: &FunctionConfiguration) -> bool {
    c.snap_start()
        .and_then(|s| s.apply_on())
        .is_some_and(|a| *a == SnapStartApplyOn::PublishedVersions)
}

impl Functions {
    /// Waits until version `version` of `name` is `Active` with
    /// `SnapStart.OptimizationStatus=On`; an `Active` version whose status stays `Off` is an
    /// error (Lambda took no snapshot), as are the states [`readiness`] refuses.
    pub(crate) async fn wait_snapshot(&self, name: &str, version: &str) -> Result<FunctionConfiguration> {
        let qualified = format!("{name}:{version}");
        self.poll
            .poll(&format!("the SnapStart snapshot of {qualified}"), || async {
                let c = self
                    .client
                    .get_function_configuration()
                    .function_name(name)
                    .qualifier(version)
                    .send()
                    .await
                    .map_err(|e| map(e, fn_target(&qualified)))?;
                let c = FunctionConfiguration::builder()
                    .set_state(c.state().cloned())
                    .set_state_reason(c.state_reason().map(str::to_string))
                    .set_state_reason_code(c.state_reason_code().cloned())
                    .set_last_update_status(c.last_update_status().cloned())
                    .set_snap_start(c.snap_start().cloned())
                    .set_version(c.version().map(str::to_string))
                    .build();
                let status = c.snap_start().and_then(|s| s.optimization_status()).cloned();
                match (readiness(&qualified, &c), status) {
                    (Readiness::Failed(e), _) => Err(e),
                    (Readiness::Ready, Some(SnapStartOptimizationStatus::On)) => Ok(PollStatus::Done(c)),
                    (Readiness::Ready, status) => Err(Error::other(
                        "SnapStartOff",
                        format!(
                            "version {qualified} is active but its SnapStart OptimizationStatus is {}: Lambda took no snapshot; check that the function's SnapStart is ApplyOn=PublishedVersions",
                            status.as_ref().map(|s| s.as_str()).unwrap_or("missing")
                        ),
                        false,
                    )),
                    (_, status) => Ok(PollStatus::Pending(format!(
                        "State={}, OptimizationStatus={}",
                        c.state().map(|s| s.as_str()).unwrap_or("-"),
                        status.as_ref().map(|s| s.as_str()).unwrap_or("-")
                    ))),
                }
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::states::tests::{Fake, Script, functions};

    fn spec(runtime: &str) -> FunctionSpec {
        let mut s = FunctionSpec::new("snappy", runtime.parse().unwrap(), "h");
        s.aws.snap_start = true;
        s
    }

    #[test]
    fn runtimes_and_storage_are_checked_before_any_call() {
        for ok in ["python3.12", "python3.13", "python3.14"] {
            validate(&spec(ok)).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in ["python3.11", "python3.9", "nodejs22.x", "ruby3.4", "provided.al2023"] {
            match validate(&spec(bad)) {
                Err(Error::InvalidInput { field, value, .. }) => {
                    assert_eq!(field, "aws.snap_start");
                    assert!(value.contains(bad.trim_end_matches(".x")), "{value}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        let mut big = spec("python3.12");
        big.aws.ephemeral_storage_mb = Some(1024);
        assert!(
            matches!(validate(&big), Err(Error::InvalidInput { field, .. }) if field == "aws.ephemeral_storage_mb")
        );
        big.aws.ephemeral_storage_mb = Some(512);
        validate(&big).unwrap();
        big.aws.snap_start = false;
        big.aws.ephemeral_storage_mb = Some(4096);
        validate(&big).unwrap();
    }

    fn version(state: &str, status: &str) -> serde_json::Value {
        serde_json::json!({
            "FunctionName": "snappy",
            "Version": "3",
            "State": state,
            "LastUpdateStatus": "Successful",
            "SnapStart": {"ApplyOn": "PublishedVersions", "OptimizationStatus": status},
        })
    }

    #[tokio::test(start_paused = true)]
    async fn publishing_waits_for_the_snapshot() {
        let s = Arc::new(Mutex::new(Script {
            configs: vec![
                version("Pending", "Off"),
                version("Pending", "Off"),
                version("Active", "On"),
            ],
            ..Script::default()
        }));
        let started = tokio::time::Instant::now();
        let c = functions(Fake(s.clone())).wait_snapshot("snappy", "3").await.unwrap();
        assert_eq!(
            c.snap_start().and_then(|s| s.optimization_status()),
            Some(&SnapStartOptimizationStatus::On)
        );
        let seen = s.lock().unwrap().seen.clone();
        assert_eq!(seen.len(), 3, "{seen:#?}");
        assert!(
            seen[0].contains("/functions/snappy/configuration?Qualifier=3"),
            "{seen:#?}"
        );
        assert_eq!(started.elapsed(), Duration::from_secs(1 + 2));
    }

    #[tokio::test(start_paused = true)]
    async fn an_active_version_without_a_snapshot_is_an_error() {
        let s = Arc::new(Mutex::new(Script {
            configs: vec![version("Active", "Off")],
            ..Script::default()
        }));
        let err = functions(Fake(s)).wait_snapshot("snappy", "3").await.unwrap_err();
        assert!(
            matches!(&err, Error::Provider { code, .. } if code == "SnapStartOff"),
            "{err:?}"
        );
    }
}
