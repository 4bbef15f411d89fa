//! The readable summary of an [`Advice`].

use std::fmt::{self, Display, Formatter, Write as _};

use super::{Advice, Judgement, MemoryBasis, MonthlyVolume, TimeoutBasis};
use crate::cost::CostBreakdown;

fn judged(j: &Judgement) -> String {
    match j {
        Judgement::Recommended => String::new(),
        Judgement::NotEnoughData { invocations, needed } => {
            format!("not enough data ({invocations} invocations, {needed} needed)")
        }
        Judgement::Unavailable { why } => format!("unknown ({why})"),
    }
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1u32 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// 6 decimals, or 4 significant digits below a thousandth (per-invocation figures).
fn money(x: f64) -> String {
    if x != 0.0 && x.abs() < 1e-3 {
        format!("{x:.3e}")
    } else {
        format!("{x:.6}")
    }
}

fn breakdown(b: &CostBreakdown) -> String {
    format!(
        "{} (compute {}, requests {}, init {}, storage {})",
        money(b.total()),
        money(b.compute),
        money(b.requests),
        money(b.init),
        money(b.storage)
    )
}

/// Several lines: the volume and estimate, then timeout, memory, cold starts, versions and
/// the warnings.
///
/// ```
/// use faas_core::cost::advice::{advise, AdviceInput};
/// use faas_core::cost::Pricing;
/// use faas_core::observe::{Metrics, TimeWindow};
/// use faas_core::{FunctionSpec, Limits};
/// let spec = FunctionSpec::new("f", "python3.12".parse()?, "app.handler");
/// let m = Metrics::from_samples("f", None, TimeWindow::between_ms(0, 1_000)?, &[], "test");
/// let p = Pricing::aws_default();
/// let text = advise(&AdviceInput::new("local", &spec, &Limits::LAMBDA, &m, &p, "us-east-1"))?.to_string();
/// assert!(text.contains("timeout: not enough data (0 invocations, 20 needed)"), "{text}");
/// # Ok::<(), faas_core::Error>(())
/// ```
impl Display for Advice {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let cur = &self.currency;
        let volume = match self.monthly {
            MonthlyVolume::Given { invocations } => format!("{invocations} invocations a month (given)"),
            MonthlyVolume::Extrapolated {
                invocations,
                window_invocations,
                window_s,
            } => {
                format!("{invocations} invocations a month (extrapolated from {window_invocations} in {window_s:.0} s)")
            }
        };
        writeln!(
            f,
            "{} on {}: {volume}; {} prices in {} ({cur})",
            self.function, self.provider, self.pricing, self.region
        )?;
        match (&self.estimate, &self.estimate_note) {
            (Some(e), _) => {
                writeln!(
                    f,
                    "  estimate: billed {} ms (+ {} ms init per cold start)",
                    e.billed_duration_ms, e.billed_init_ms
                )?;
                writeln!(f, "    per invocation {}", breakdown(&e.per_invocation))?;
                writeln!(f, "    per million    {}", breakdown(&e.per_million))?;
                writeln!(f, "    per month      {}", breakdown(&e.per_month))?;
            }
            (None, note) => writeln!(f, "  estimate: none ({})", note.as_deref().unwrap_or("-"))?,
        }
        let t = &self.timeout;
        let basis = match t.basis {
            TimeoutBasis::Max => "max",
            TimeoutBasis::P99 => "p99",
        };
        match t.recommended_s {
            Some(s) => writeln!(
                f,
                "  timeout: {s} s recommended (observed {basis} {:.0} ms × {}), now {} s{}",
                t.observed_ms.unwrap_or_default(),
                t.headroom,
                t.current_s,
                t.limited.as_ref().map_or(String::new(), |l| format!("; {l}"))
            )?,
            None => writeln!(f, "  timeout: {}, now {} s", judged(&t.judgement), t.current_s)?,
        }
        let m = &self.memory;
        match (m.recommended_mb, m.decided_by) {
            (Some(mb), Some(by)) => {
                let why = match by {
                    MemoryBasis::Tuning => "the tuning report's choice".to_string(),
                    MemoryBasis::MaxMemoryUsed => {
                        format!("max used {} MB × {}", m.max_used_mb.unwrap_or_default(), m.headroom)
                    }
                };
                writeln!(f, "  memory: {mb} MB recommended ({why}), now {} MB", m.current_mb)?;
            }
            _ => writeln!(f, "  memory: {}, now {} MB", judged(&m.judgement), m.current_mb)?,
        }
        let c = &self.cold_starts;
        let share = c.share.map_or("unknown".to_string(), |s| format!("{:.1}%", s * 100.0));
        let mut line = format!(
            "  cold starts: {} ({share})",
            c.cold_starts.map_or("unknown".into(), |n| n.to_string())
        );
        if let Some(cost) = c.monthly_cost {
            write!(line, ", {} {cur} a month of billed init", money(cost))?;
        }
        if !c.judgement.is_recommended() {
            write!(line, "; {}", judged(&c.judgement))?;
        }
        if let Some(note) = &c.note {
            write!(line, "; {note}")?;
        }
        writeln!(f, "{line}")?;
        for o in &c.options {
            let net = o
                .net_monthly
                .map_or(String::new(), |n| format!(" ({n:+.6} {cur} against on demand)"));
            writeln!(f, "    {}{net}: {}", o.kind, o.detail)?;
        }
        let v = &self.versions;
        let unknown = if v.sizes_known() {
            String::new()
        } else {
            format!(", {} of unknown size", v.unknown_sizes)
        };
        writeln!(
            f,
            "  versions: {} published, {} routed, {} unrouted taking {}{unknown}; pruning them frees {}",
            v.total,
            v.routed.len(),
            v.unrouted.len(),
            bytes(v.unrouted_bytes),
            if v.unknown_sizes == v.unrouted.len() && !v.unrouted.is_empty() {
                "an unknown amount".to_string()
            } else {
                bytes(v.freed_bytes)
            }
        )?;
        for w in &self.warnings {
            writeln!(f, "  WARNING: {w}")?;
        }
        Ok(())
    }
}
