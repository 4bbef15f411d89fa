//! The timeout and memory recommendations.

use serde::{Deserialize, Serialize};

use super::{AdviceInput, Judgement, TimeoutBasis};

/// The timeout recommendation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeoutAdvice {
    /// The configured timeout, s.
    pub current_s: u32,
    /// Which observed figure the recommendation starts from.
    pub basis: TimeoutBasis,
    /// That figure, ms.
    pub observed_ms: Option<f64>,
    /// The longest invocation, ms.
    pub observed_max_ms: Option<f64>,
    /// The headroom applied.
    pub headroom: f64,
    /// `observed × headroom`, rounded up to whole seconds, within the provider's range.
    pub recommended_s: Option<u32>,
    /// Whether it could be made.
    pub judgement: Judgement,
    /// Set when the recommendation hit the provider's range (`at most 900 s`).
    pub limited: Option<String>,
    /// Set when the configured timeout is at or below the longest invocation: invocations
    /// were (or were about to be) cut off.
    pub warning: Option<String>,
}

/// What decided the memory recommendation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryBasis {
    /// The most memory used, with headroom.
    MaxMemoryUsed,
    /// The tuning report's chosen size (at or above what the function used).
    Tuning,
}

/// The memory recommendation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryAdvice {
    /// The configured memory, MB.
    pub current_mb: u32,
    /// The most memory an invocation used, MB (window and tuning runs).
    pub max_used_mb: Option<u32>,
    /// The headroom applied.
    pub headroom: f64,
    /// `max_used × headroom`, rounded up to what the provider accepts, at least its minimum.
    pub from_usage_mb: Option<u32>,
    /// The tuning report's chosen size.
    pub tuned_mb: Option<u32>,
    /// The recommendation: the tuned size, but never below `from_usage_mb`.
    pub recommended_mb: Option<u32>,
    /// What decided it.
    pub decided_by: Option<MemoryBasis>,
    /// Whether it could be made.
    pub judgement: Judgement,
    /// Set when the most memory used reached the configured memory.
    pub warning: Option<String>,
}

pub(super) fn enough(input: &AdviceInput<'_>) -> Judgement {
    let seen = input.metrics.invocations.unwrap_or(0);
    if seen < input.options.min_invocations {
        Judgement::NotEnoughData {
            invocations: seen,
            needed: input.options.min_invocations,
        }
    } else {
        Judgement::Recommended
    }
}

pub(super) fn timeout_advice(input: &AdviceInput<'_>) -> TimeoutAdvice {
    let (o, spec, d) = (&input.options, input.spec, input.metrics.duration);
    let observed = d.map(|d| match o.timeout_basis {
        TimeoutBasis::Max => d.max_ms,
        TimeoutBasis::P99 => d.p99_ms,
    });
    let max = d.map(|d| d.max_ms);
    let warning = max.filter(|&ms| ms >= f64::from(spec.timeout_s) * 1000.0).map(|ms| {
        format!(
            "the timeout ({} s) is at or below the longest invocation observed ({:.0} ms): invocations were likely cut off",
            spec.timeout_s, ms
        )
    });
    let mut judgement = enough(input);
    if judgement.is_recommended() && observed.is_none() {
        judgement = Judgement::Unavailable {
            why: input
                .metrics
                .unavailable
                .get("duration")
                .cloned()
                .unwrap_or_else(|| "no duration measured".into()),
        };
    }
    let (mut recommended_s, mut limited) = (None, None);
    if let (true, Some(ms)) = (judgement.is_recommended(), observed) {
        let wanted = ((ms * o.timeout_headroom / 1000.0).ceil() as u32).max(1);
        let (lo, hi) = input.limits.timeout_s;
        let fitted = wanted.clamp(lo.max(1), hi.max(1));
        if fitted != wanted {
            limited = Some(format!("{wanted} s is outside the provider's {lo}–{hi} s: {fitted} s"));
        }
        recommended_s = Some(fitted);
    }
    TimeoutAdvice {
        current_s: spec.timeout_s,
        basis: o.timeout_basis,
        observed_ms: observed,
        observed_max_ms: max,
        headroom: o.timeout_headroom,
        recommended_s,
        judgement,
        limited,
        warning,
    }
}

/// `mb` rounded up to what the provider accepts: its step, the pricing file's allowed sizes
/// (Azure Flex), within its range.
fn fit_memory(input: &AdviceInput<'_>, mb: u32) -> u32 {
    let (lo, hi) = input.limits.memory_mb;
    let mut mb = mb.max(lo);
    if let Some(step) = input.limits.memory_step_mb.filter(|s| *s > 0) {
        mb = mb.div_ceil(step) * step;
    }
    if let Some(allowed) = &input.pricing.file().allowed_memory_mb {
        let mut sizes = allowed.values.clone();
        sizes.sort_unstable();
        mb = sizes
            .iter()
            .copied()
            .find(|s| *s >= mb)
            .or(sizes.last().copied())
            .unwrap_or(mb);
    }
    mb.min(hi)
}

pub(super) fn memory_advice(input: &AdviceInput<'_>) -> MemoryAdvice {
    let (o, spec, m) = (&input.options, input.spec, input.metrics);
    let tuned_used = input.tuning.and_then(|t| {
        t.values
            .iter()
            .filter(|v| v.failed.is_none())
            .filter_map(|v| v.max_memory_used_mb)
            .max()
    });
    let windowed = enough(input);
    let window_used = m.max_memory_used_mb.filter(|_| windowed.is_recommended());
    let max_used = window_used.max(tuned_used);
    let from_usage_mb = max_used.map(|u| fit_memory(input, (f64::from(u) * o.memory_headroom).ceil() as u32));
    let tuned_mb = input.tuning.and_then(|t| t.chosen_memory_mb);
    let (recommended_mb, decided_by) = match (from_usage_mb, tuned_mb) {
        (Some(u), Some(t)) if t >= u => (Some(t), Some(MemoryBasis::Tuning)),
        (Some(u), _) => (Some(u), Some(MemoryBasis::MaxMemoryUsed)),
        (None, Some(t)) => (Some(t), Some(MemoryBasis::Tuning)),
        (None, None) => (None, None),
    };
    let judgement = match (&recommended_mb, windowed) {
        (Some(_), _) => Judgement::Recommended,
        (None, Judgement::Recommended) => Judgement::Unavailable {
            why: m
                .unavailable
                .get("max_memory_used_mb")
                .cloned()
                .unwrap_or_else(|| "the provider reports no memory used".into()),
        },
        (None, other) => other,
    };
    let warning = m.max_memory_used_mb.filter(|&u| u >= spec.memory_mb).map(|u| {
        format!(
            "an invocation used {u} MB of the {} MB configured: it may run out of memory",
            spec.memory_mb
        )
    });
    MemoryAdvice {
        current_mb: spec.memory_mb,
        max_used_mb: max_used,
        headroom: o.memory_headroom,
        from_usage_mb,
        tuned_mb,
        recommended_mb,
        decided_by,
        judgement,
        warning,
    }
}
