//! Metrics and logs of a function: which Cloud Run revisions a query covers ([`Scope`]), and
//! the secret values its log lines must not show.

use std::collections::BTreeMap;

use faas_core::{Error, Qualifier, ResourceKind, Result};

use crate::layout::short;
use crate::monitoring::MIN_ALIGNMENT_S;
use crate::resources::Function;
use crate::spec_mapping::user_env;
use crate::traffic::Traffic;

/// The revisions a metrics or log query covers.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    /// The function.
    pub function: String,
    /// The Cloud Run service's short name (the `service_name` label).
    pub service: String,
    /// The revisions (`revision_name` labels); `None`: all of the service's.
    pub revisions: Option<Vec<String>>,
    /// Published versions by revision.
    versions: BTreeMap<String, String>,
}

impl Scope {
    /// The version id a revision stands for (its number when published, else its name).
    pub fn version_of(&self, revision: &str) -> String {
        self.versions
            .get(revision)
            .cloned()
            .unwrap_or_else(|| revision.to_string())
    }
}

/// The scope of `qualifier` (none: every revision; a version: its revision; a label: the
/// revisions it routes to — Cloud Run records no tag per request, so a label's figures are
/// those of its revisions), and the secret values to mask in its logs.
pub(crate) async fn scope(traffic: &Traffic, function: &str, qualifier: Option<&str>) -> Result<(Scope, Vec<String>)> {
    let (f, service, layout) = traffic.layout(function).await?;
    let revisions = match qualifier {
        None => None,
        Some(q) => Some(match Qualifier::parse(q)? {
            Qualifier::Latest => {
                vec![short(f.service_config.output.revision.as_deref().unwrap_or_default()).to_string()]
            }
            Qualifier::Version(v) => vec![
                layout
                    .version(&v)
                    .ok_or_else(|| Error::not_found(ResourceKind::Version, format!("{function}:{v}"), None))?
                    .revision
                    .clone(),
            ],
            Qualifier::Label(l) => {
                let routing = traffic.label_of(&layout, function, &l)?.routing;
                let mut ids = vec![routing.primary];
                ids.extend(routing.weights.into_keys());
                ids.iter()
                    .map(|id| layout.revision_of(function, id).or_else(|_| Ok::<_, Error>(id.clone())))
                    .collect::<Result<Vec<_>>>()?
            }
        }),
    };
    let scope = Scope {
        function: function.to_string(),
        service: short(&service.name).to_string(),
        revisions,
        versions: layout
            .versions
            .iter()
            .map(|v| (v.revision.clone(), v.id.to_string()))
            .collect(),
    };
    Ok((scope, secret_values(&f)))
}

/// The values to mask in log lines. Cloud Functions keeps no record of which variables were
/// secret (as for plans, `differences.rs`), so every user variable's value is masked, except
/// values shorter than three characters (masking every `1` or `on` would garble the lines,
/// and such a value is no secret); longest first, so a value holding another goes whole.
fn secret_values(f: &Function) -> Vec<String> {
    let mut values: Vec<String> = user_env(f).into_values().filter(|v| v.len() >= 3).collect();
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    values.dedup();
    values
}

/// A string literal of the Monitoring filter and Logging query languages.
pub(crate) fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A series period Cloud Monitoring can align to: whole seconds, at least a minute.
pub(crate) fn check_period(period: std::time::Duration) -> Result<()> {
    if period.as_secs() < MIN_ALIGNMENT_S || period.subsec_nanos() != 0 {
        return Err(Error::invalid(
            "period",
            format!("{}s", period.as_secs_f64()),
            format!(
                "Cloud Monitoring aligns to whole seconds, at least {MIN_ALIGNMENT_S}s: choose a period like 60s or 5m"
            ),
        ));
    }
    Ok(())
}
