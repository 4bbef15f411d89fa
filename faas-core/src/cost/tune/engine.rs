//! The run: check, clean up what an earlier run left, make one target per size (a version
//! and a label, or the function itself at that size), invoke them under the parallelism
//! cap, remove what was made, put the function back, choose, and apply if asked.

use std::time::Instant;

use futures::StreamExt as _;

use super::marker::{self, delete_label, delete_version, tuned};
use super::report::{Sample, Summary, TuningReport, choose, summarize};
use super::url::power_tuning_url;
use super::{ApplyTo, CleanupReport, LABEL_PREFIX, MARKER, TuneOptions};
use crate::{ArtifactRef, Deployment, Error, InvokeRequest, LabelModel, Provider, PublishRequest, Result, Routing};

/// What a run is doing, for progress bars.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TuneEvent {
    /// What an interrupted run had left was removed.
    CleanedUp(CleanupReport),
    /// The run begins: these sizes, this many invocations in all.
    Started {
        /// The sizes, ascending.
        memory_mb: Vec<u32>,
        /// Invocations over all sizes.
        invocations: u64,
    },
    /// A size's version and label are ready (`None`s: the function itself is invoked).
    Prepared {
        /// The size.
        memory_mb: u32,
        /// The version published for it.
        version: Option<String>,
    },
    /// One invocation finished.
    Invoked {
        /// Its size.
        memory_mb: u32,
        /// Whether it failed.
        failed: bool,
    },
    /// The winner was applied.
    Applied {
        /// The size.
        memory_mb: u32,
    },
}

/// Receives [`TuneEvent`]s.
pub trait TuneObserver: Send + Sync {
    /// One event.
    fn event(&self, event: &TuneEvent);
}

impl<F: Fn(&TuneEvent) + Send + Sync> TuneObserver for F {
    fn event(&self, event: &TuneEvent) {
        self(event)
    }
}

/// Tunes `function`'s memory (see the [module docs](super)).
///
/// Every check (sizes against the provider's rules, counts, weights, the pricing region)
/// is made before anything is created; what the run creates is removed when it ends,
/// fails, or — through [`clean_up`](super::clean_up) at the start of the next run — was
/// killed.
pub async fn tune(provider: &dyn Provider, function: &str, options: &TuneOptions) -> Result<TuningReport> {
    tune_observed(provider, function, options, &|_: &TuneEvent| {}).await
}

/// [`tune`], telling `observer` what happens.
pub async fn tune_observed(
    provider: &dyn Provider,
    function: &str,
    options: &TuneOptions,
    observer: &dyn TuneObserver,
) -> Result<TuningReport> {
    let started = Instant::now();
    let info = provider.info();
    options.check_capability(&info)?;
    let (pricing, region) = options.prices(&info)?;
    let current = provider.get(function).await?;
    let original_spec = marker::untuned(&current.spec)?.unwrap_or_else(|| current.spec.clone());
    let sizes = options.check(provider, &original_spec, &pricing)?;

    let cleaned_before = super::clean_up(provider, function).await?;
    if !cleaned_before.is_empty() {
        observer.event(&TuneEvent::CleanedUp(cleaned_before.clone()));
    }
    let original = provider.get(function).await?;
    let per_size = u64::from(options.invocations);
    observer.event(&TuneEvent::Started {
        memory_mb: sizes.clone(),
        invocations: per_size * sizes.len() as u64,
    });

    let mut made = Made::default();
    // A failing handler's message may quote a secret variable: errors are masked with the
    // spec's secret values (longest first) before they reach the report.
    let mut secrets: Vec<String> = original
        .spec
        .secret_env
        .iter()
        .filter_map(|k| original.spec.environment.get(k).cloned())
        .filter(|v| v.len() >= 3)
        .collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let run = Run {
        provider,
        function,
        options,
        observer,
        original: &original,
        secrets: &secrets,
    };
    let outcome = match info.capability.label_model {
        LabelModel::None => run.in_place(&sizes, &mut made).await,
        _ => run.with_labels(&sizes, &mut made).await,
    };
    let removed = run.remove(&mut made).await;
    let samples = match (outcome, removed) {
        (Ok(samples), Ok(())) => samples,
        (Err(e), removed) => {
            if let Err(cleanup) = removed {
                tracing::warn!(function, error = %cleanup, "tuning failed and so did its clean-up: the next run (or clean_up) removes the rest");
            }
            return Err(e);
        }
        (Ok(_), Err(e)) => return Err(e),
    };

    let how = Summary {
        pricing: &pricing,
        region: &region,
        spec: &original.spec,
        monthly_invocations: options.monthly_invocations,
        trim: options.trim,
    };
    let values = sizes
        .iter()
        .map(|&mb| {
            let own: Vec<Sample> = samples.iter().filter(|s| s.memory_mb == mb).cloned().collect();
            summarize(mb, &own, &how)
        })
        .collect::<Result<Vec<_>>>()?;
    let chosen_memory_mb = choose(&values, options.strategy).map(|i| values[i].memory_mb);
    let applied = match (&options.apply, chosen_memory_mb) {
        (Some(to), Some(mb)) => {
            let version = run.apply(to, mb).await?;
            observer.event(&TuneEvent::Applied { memory_mb: mb });
            Some((to.clone(), version))
        }
        _ => None,
    };
    Ok(TuningReport {
        function: function.to_string(),
        provider: info.name.to_string(),
        strategy: options.strategy,
        invocations: options.invocations,
        parallel: options.parallel,
        cold_starts_only: options.cold_starts_only,
        trim: options.trim,
        pricing: pricing.name().to_string(),
        region,
        currency: pricing.file().currency.clone(),
        monthly_invocations: options.monthly_invocations,
        original_memory_mb: original.spec.memory_mb,
        power_tuning_url: power_tuning_url(&values),
        values,
        chosen_memory_mb,
        applied,
        cleaned_before,
        versions_removed: made.removed_versions,
        labels_removed: made.removed_labels,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

/// What this run made, so it can be removed.
#[derive(Default)]
struct Made {
    versions: Vec<String>,
    labels: Vec<String>,
    /// The function's configuration is not the original one.
    changed: bool,
    removed_versions: Vec<String>,
    removed_labels: Vec<String>,
}

/// One thing to invoke: a size, the qualifier that reaches it, and which payloads.
struct Target {
    memory_mb: u32,
    qualifier: Option<String>,
    payloads: Vec<usize>,
}

struct Run<'a> {
    provider: &'a dyn Provider,
    function: &'a str,
    options: &'a TuneOptions,
    observer: &'a dyn TuneObserver,
    original: &'a Deployment,
    secrets: &'a [String],
}

impl Run<'_> {
    /// The payload index of each invocation of one size, in order.
    fn payload_plan(&self) -> Vec<usize> {
        self.options
            .payload_counts()
            .iter()
            .enumerate()
            .flat_map(|(i, (_, n))| std::iter::repeat_n(i, *n as usize))
            .collect()
    }

    /// The function at `memory_mb` (with `nonce` for a fresh version), marked.
    async fn reconfigure(&self, memory_mb: u32, nonce: Option<&str>, made: &mut Made) -> Result<()> {
        made.changed = true;
        let spec = tuned(self.original, memory_mb, nonce);
        self.provider
            .deploy(&spec, &ArtifactRef::deployed(self.original))
            .await
            .map(|_| ())
    }

    /// Puts the function's configuration back as it was.
    async fn restore(&self, made: &mut Made) -> Result<()> {
        if made.changed {
            self.provider
                .deploy(&self.original.spec, &ArtifactRef::deployed(self.original))
                .await?;
            made.changed = false;
        }
        Ok(())
    }

    /// Labels exist: a version and a label per size (per invocation when every one must be
    /// cold), the function put back, then every target invoked under the cap.
    async fn with_labels(&self, sizes: &[u32], made: &mut Made) -> Result<Vec<Sample>> {
        let plan = self.payload_plan();
        let mut targets = Vec::new();
        for &mb in sizes {
            let rounds: Vec<Option<usize>> = match self.options.cold_starts_only {
                true => (0..plan.len()).map(Some).collect(),
                false => vec![None],
            };
            for round in rounds {
                let nonce = round.map(|i| format!("{mb}-{i}"));
                self.reconfigure(mb, nonce.as_deref(), made).await?;
                let description = match round {
                    Some(i) => format!("{MARKER}: {mb} MB, cold start {}", i + 1),
                    None => format!("{MARKER}: {mb} MB"),
                };
                let version = self
                    .provider
                    .publish(
                        self.function,
                        &PublishRequest {
                            description,
                            expected_code_sha256: Some(self.original.code_sha256.clone()),
                        },
                    )
                    .await?;
                made.versions.push(version.id.clone());
                let label = match round {
                    Some(i) => format!("{LABEL_PREFIX}{mb}-{}", i + 1),
                    None => format!("{LABEL_PREFIX}{mb}"),
                };
                made.labels.push(label.clone());
                self.provider
                    .set_label(self.function, &label, &Routing::to(&version.id))
                    .await?;
                self.observer.event(&super::TuneEvent::Prepared {
                    memory_mb: mb,
                    version: Some(version.id.clone()),
                });
                targets.push(Target {
                    memory_mb: mb,
                    qualifier: Some(label),
                    payloads: match round {
                        Some(i) => vec![plan[i]],
                        None => plan.clone(),
                    },
                });
            }
        }
        self.restore(made).await?;
        Ok(self.invoke_all(&targets).await)
    }

    /// No labels (Azure Flex): the function itself, one size after the other.
    async fn in_place(&self, sizes: &[u32], made: &mut Made) -> Result<Vec<Sample>> {
        let plan = self.payload_plan();
        let mut samples = Vec::new();
        for &mb in sizes {
            match self.options.cold_starts_only {
                true => {
                    for (i, &payload) in plan.iter().enumerate() {
                        self.reconfigure(mb, Some(&format!("{mb}-{i}")), made).await?;
                        let target = Target {
                            memory_mb: mb,
                            qualifier: None,
                            payloads: vec![payload],
                        };
                        samples.extend(self.invoke_all(&[target]).await);
                    }
                }
                false => {
                    self.reconfigure(mb, None, made).await?;
                    self.observer.event(&super::TuneEvent::Prepared {
                        memory_mb: mb,
                        version: None,
                    });
                    let target = Target {
                        memory_mb: mb,
                        qualifier: None,
                        payloads: plan.clone(),
                    };
                    samples.extend(self.invoke_all(&[target]).await);
                }
            }
        }
        self.restore(made).await?;
        Ok(samples)
    }

    /// Every invocation of `targets`, at most `parallel` at once.
    async fn invoke_all(&self, targets: &[Target]) -> Vec<Sample> {
        let payloads: Vec<Vec<u8>> = self
            .options
            .payload_counts()
            .into_iter()
            .map(|(p, _)| p.to_string().into_bytes())
            .collect();
        let calls = targets
            .iter()
            .flat_map(|t| t.payloads.iter().map(move |&p| (t, p)))
            .map(|(target, payload)| {
                let body = payloads[payload].clone();
                async move {
                    let mut request = InvokeRequest::json(&serde_json::Value::Null);
                    request.payload = body;
                    request.qualifier = target.qualifier.clone();
                    let mut sample = sample_of(
                        target.memory_mb,
                        payload,
                        self.provider.invoke(self.function, &request).await,
                    );
                    sample.error = sample.error.map(|e| {
                        self.secrets
                            .iter()
                            .fold(e, |text, secret| text.replace(secret.as_str(), crate::REDACTED))
                    });
                    self.observer.event(&super::TuneEvent::Invoked {
                        memory_mb: target.memory_mb,
                        failed: sample.error.is_some(),
                    });
                    sample
                }
            });
        futures::stream::iter(calls)
            .buffer_unordered(self.options.parallel.max(1))
            .collect()
            .await
    }

    /// Deletes the labels, then the versions, and puts the configuration back; a failure
    /// stops nothing else (the first error is returned after all were tried).
    async fn remove(&self, made: &mut Made) -> Result<()> {
        let mut first: Option<Error> = None;
        for label in std::mem::take(&mut made.labels) {
            match delete_label(self.provider, self.function, &label).await {
                Ok(()) => made.removed_labels.push(label),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        for version in std::mem::take(&mut made.versions) {
            match delete_version(self.provider, self.function, &version).await {
                Ok(()) => made.removed_versions.push(version),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        if let Err(e) = self.restore(made).await {
            first.get_or_insert(e);
        }
        first.map_or(Ok(()), Err)
    }

    /// Leaves the function at `memory_mb`; for a label, publishes that and points the label
    /// at the new version. Returns the version.
    async fn apply(&self, to: &ApplyTo, memory_mb: u32) -> Result<Option<String>> {
        let spec = self.original.spec.clone().memory_mb(memory_mb);
        self.provider
            .deploy(&spec, &ArtifactRef::deployed(self.original))
            .await?;
        let ApplyTo::Label(label) = to else {
            return Ok(None);
        };
        let version = self
            .provider
            .publish(
                self.function,
                &PublishRequest {
                    description: format!("tuned: {memory_mb} MB"),
                    expected_code_sha256: Some(self.original.code_sha256.clone()),
                },
            )
            .await?;
        self.provider
            .set_label(self.function, label, &Routing::to(&version.id))
            .await?;
        Ok(Some(version.id))
    }
}

/// The figures of one invocation.
fn sample_of(memory_mb: u32, payload: usize, result: Result<crate::Invocation>) -> Sample {
    let mut sample = Sample {
        memory_mb,
        payload,
        duration_ms: 0.0,
        init_ms: None,
        max_memory_mb: None,
        from_report: false,
        error: None,
    };
    match result {
        Err(e) => sample.error = Some(e.to_string()),
        Ok(inv) => {
            if let Some(fe) = &inv.function_error {
                sample.error = Some(format!("{}: {}", fe.error_type, fe.message));
            }
            match &inv.report {
                Some(r) => {
                    sample.duration_ms = r.duration_ms;
                    sample.init_ms = r.init_duration_ms;
                    sample.max_memory_mb = Some(r.max_memory_used_mb);
                    sample.from_report = true;
                }
                None => sample.duration_ms = inv.elapsed.as_secs_f64() * 1000.0,
            }
        }
    }
    sample
}
