//! How a rollout moves traffic on a provider: a label's weights (an alias's `RoutingConfig`,
//! Cloud Run's traffic percents, the local provider's weighted aliases), chosen from the
//! capability before anything moves.

use crate::{Error, LabelModel, Provider, ProviderInfo, Result, Routing};

/// The routing of step `percent` (0 < percent ≤ 100) from `old` to `new`.
pub(crate) fn routing_at(old: &str, new: &str, percent: f64) -> Routing {
    if percent >= 100.0 || old == new {
        Routing::to(new)
    } else {
        Routing::to(old).with(new, percent / 100.0)
    }
}

/// Whether `info`'s provider can move `label` gradually, all at once otherwise; an error
/// naming why not, before anything moves.
pub(crate) fn check(info: &ProviderInfo, label: &str, gradual: bool) -> Result<()> {
    let cap = &info.capability;
    let weights = matches!(cap.label_model, LabelModel::Alias | LabelModel::TrafficTag);
    if !weights {
        let why = match cap.label_model {
            LabelModel::None => "it has no labels",
            _ => "its labels are deployment slots; rollouts move weighted labels",
        };
        return Err(Error::unsupported(
            format!("rollouts on {}: {why}", info.name),
            Some("deploy and promote without a rollout".into()),
        )
        .with_provider(info.name));
    }
    if gradual && cap.weighted_versions == 0 {
        return Err(Error::unsupported(
            "gradual rollouts (labels carry no weights)",
            Some("use the all-at-once strategy".into()),
        )
        .with_provider(info.name));
    }
    if let (true, Some(only)) = (gradual, &info.weighted_label)
        && only != label
    {
        return Err(Error::invalid(
            "label",
            label,
            format!(
                "{} splits traffic only on its serving label {only:?}: roll out on that label",
                info.name
            ),
        )
        .with_provider(info.name));
    }
    Ok(())
}

/// Sets `label` to `routing`.
pub(crate) async fn set(p: &dyn Provider, function: &str, label: &str, routing: &Routing) -> Result<Routing> {
    Ok(p.set_label(function, label, routing).await?.routing)
}
