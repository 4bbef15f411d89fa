//! How a rollout moves traffic on a provider, chosen from its capability before anything
//! moves:
//!
//! * **weights** — a label's weighted routing (an alias's `RoutingConfig`, Cloud Run's
//!   traffic percents, the local provider's weighted aliases): each step sets
//!   `old + new at p %`, the last `new`.
//! * **slot** — a deployment slot that runs the new version, and production's ramp-up rule
//!   sending `p %` of production's traffic to it (Azure `rampUpRules`): the last step clears
//!   the rule and swaps the slot into production.
//!
//! Both are described with a [`Routing`]: in slot mode its primary is the version production
//! runs and its one weight the slot's version with the ramp-up share, so a report and a
//! rollback read the same on every provider.

use crate::{Error, LabelModel, Provider, ProviderInfo, Result, Routing};

/// Which of the two ways, for one rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A label's weighted routing.
    Weights,
    /// A slot's ramp-up share of production, then a swap.
    Slot,
}

/// The routing of step `percent` (0 < percent ≤ 100) from `old` to `new`.
pub(crate) fn routing_at(old: &str, new: &str, percent: f64) -> Routing {
    if percent >= 100.0 || old == new {
        Routing::to(new)
    } else {
        Routing::to(old).with(new, percent / 100.0)
    }
}

/// How `info`'s provider moves `label` (gradually, or all at once); an error naming why it
/// cannot, before anything moves.
pub(crate) fn mode(info: &ProviderInfo, label: &str, gradual: bool) -> Result<Mode> {
    let cap = &info.capability;
    let unsupported = |why: &str, hint: &str| {
        Err(Error::unsupported(format!("rollouts on {}: {why}", info.name), Some(hint.into())).with_provider(info.name))
    };
    match cap.label_model {
        LabelModel::Slot if cap.slot_swap => return Ok(Mode::Slot),
        LabelModel::Alias | LabelModel::TrafficTag => {}
        LabelModel::None => return unsupported("it has no labels", "deploy without a rollout"),
        _ => return unsupported("its labels cannot carry traffic shares", "deploy without a rollout"),
    }
    if gradual && cap.weighted_versions == 0 {
        return unsupported("its labels carry no weights", "use the all-at-once strategy");
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
    Ok(Mode::Weights)
}

/// One rollout's traffic: the mode, the function, the label, the new version.
#[derive(Debug, Clone)]
pub(crate) struct Traffic<'a> {
    pub mode: Mode,
    pub provider: &'a dyn Provider,
    pub function: &'a str,
    pub label: &'a str,
    pub new: &'a str,
}

impl Traffic<'_> {
    /// What the gates measure the new version by: the version itself, or the slot that
    /// alone runs it.
    pub(crate) fn measured(&self) -> &str {
        match self.mode {
            Mode::Weights => self.new,
            Mode::Slot => self.label,
        }
    }

    /// The routing now (`None`: the label does not exist).
    pub(crate) async fn current(&self) -> Result<Option<Routing>> {
        let p = self.provider;
        match self.mode {
            Mode::Weights => match p.get_label(self.function, self.label).await {
                Ok(l) => Ok(Some(l.routing)),
                Err(Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            },
            Mode::Slot => {
                let slot = p.get_label(self.function, self.label).await?.routing.primary;
                let production = self.production().await?;
                let share = p.ramp_up_percent(self.function, self.label).await?;
                Ok(Some(if share > 0.0 {
                    Routing::to(production).with(slot, share / 100.0)
                } else {
                    Routing::to(production)
                }))
            }
        }
    }

    /// The version production runs: `get`'s, or where production is not itself a version
    /// (Azure's is `latest`) the newest published version with its code.
    async fn production(&self) -> Result<String> {
        let p = self.provider;
        let now = p.get(self.function).await?;
        let versions = p.list_versions(self.function).await?;
        if versions.iter().any(|v| v.id == now.version) {
            return Ok(now.version);
        }
        Ok(versions
            .iter()
            .rev()
            .find(|v| !now.code_sha256.is_empty() && v.code_sha256 == now.code_sha256)
            .map_or(now.version, |v| v.id.clone()))
    }

    /// The routing a rollout starts from, checked: in slot mode the slot must run the new
    /// version.
    pub(crate) async fn starting(&self) -> Result<Option<Routing>> {
        if self.mode == Mode::Slot {
            let slot = self
                .provider
                .get_label(self.function, self.label)
                .await?
                .routing
                .primary;
            if slot != self.new {
                return Err(Error::invalid(
                    "version",
                    self.new,
                    format!(
                        "slot {} runs {slot}: deploy version {} to the slot first, then roll it out",
                        self.label, self.new
                    ),
                )
                .with_provider(self.provider.info().name));
            }
        }
        self.current().await
    }

    /// Moves to `percent` on the new version (from `old`), returning the routing now.
    pub(crate) async fn set(&self, old: &str, percent: f64) -> Result<Routing> {
        let p = self.provider;
        match self.mode {
            Mode::Weights => {
                let routing = routing_at(old, self.new, percent);
                Ok(p.set_label(self.function, self.label, &routing).await?.routing)
            }
            Mode::Slot if percent >= 100.0 => {
                // Clear the rule first: for the moment between, production (known good)
                // serves everything; then the slot's code becomes production's.
                p.ramp_up(self.function, self.label, 0.0).await?;
                p.swap(self.function, self.label).await?;
                Ok(Routing::to(self.new))
            }
            Mode::Slot => {
                p.ramp_up(self.function, self.label, percent).await?;
                Ok(routing_at(old, self.new, percent))
            }
        }
    }

    /// Puts everything back to `start` (`None`: remove the label the rollout created).
    pub(crate) async fn restore(&self, start: Option<&Routing>) -> Result<()> {
        let p = self.provider;
        match (self.mode, start) {
            (Mode::Weights, Some(start)) => p.set_label(self.function, self.label, start).await.map(|_| ()),
            (Mode::Weights, None) => match p.delete_label(self.function, self.label).await {
                Ok(()) | Err(Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            },
            (Mode::Slot, start) => {
                // After the swap the slot runs the old code: swap back first.
                let slot = p.get_label(self.function, self.label).await?.routing.primary;
                if slot != self.new {
                    p.ramp_up(self.function, self.label, 0.0).await?;
                    p.swap(self.function, self.label).await?;
                }
                let share = start.and_then(|s| s.weights.values().next().copied()).unwrap_or(0.0);
                p.ramp_up(self.function, self.label, share * 100.0).await
            }
        }
    }
}
