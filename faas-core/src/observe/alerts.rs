//! Alert rules as data (`error_rate > 1%`, `p99_ms > 800 over 5m min 20`), evaluated against
//! [`Metrics`] into [`Finding`]s.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Metrics;
use crate::{Error, Result};

/// A figure a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Figure {
    /// Errors per invocation, as a percentage.
    ErrorRate,
    /// Cold starts per invocation, as a percentage.
    ColdStartRate,
    /// Throttles per attempt, as a percentage.
    ThrottleRate,
    /// Invocations.
    Invocations,
    /// Function errors.
    Errors,
    /// Throttles.
    Throttles,
    /// Cold starts.
    ColdStarts,
    /// Mean duration, ms.
    AvgMs,
    /// Median duration, ms.
    P50Ms,
    /// 90th percentile duration, ms.
    P90Ms,
    /// 99th percentile duration, ms.
    P99Ms,
    /// Longest duration, ms.
    MaxMs,
    /// Most invocations at once.
    PeakConcurrency,
    /// Most memory one invocation used, MB.
    MaxMemoryMb,
}

const FIGURES: &[(&str, Figure)] = &[
    ("error_rate", Figure::ErrorRate),
    ("cold_start_rate", Figure::ColdStartRate),
    ("throttle_rate", Figure::ThrottleRate),
    ("invocations", Figure::Invocations),
    ("errors", Figure::Errors),
    ("throttles", Figure::Throttles),
    ("cold_starts", Figure::ColdStarts),
    ("avg_ms", Figure::AvgMs),
    ("p50_ms", Figure::P50Ms),
    ("p90_ms", Figure::P90Ms),
    ("p99_ms", Figure::P99Ms),
    ("max_ms", Figure::MaxMs),
    ("peak_concurrency", Figure::PeakConcurrency),
    ("max_memory_mb", Figure::MaxMemoryMb),
];

impl Figure {
    /// Its name in rules.
    pub fn name(self) -> &'static str {
        FIGURES.iter().find(|(_, f)| *f == self).map_or("?", |(n, _)| n)
    }

    /// Whether it is a percentage (`1%` and `1` mean the same).
    pub fn is_rate(self) -> bool {
        matches!(self, Figure::ErrorRate | Figure::ColdStartRate | Figure::ThrottleRate)
    }

    /// Its value in `m` (rates in percent), if the provider gave it.
    pub fn value(self, m: &Metrics) -> Option<f64> {
        let pct = |r: Option<f64>| r.map(|r| r * 100.0);
        match self {
            Figure::ErrorRate => pct(m.error_rate()),
            Figure::ColdStartRate => pct(m.cold_start_rate()),
            Figure::ThrottleRate => pct(m.throttle_rate()),
            Figure::Invocations => m.invocations.map(|n| n as f64),
            Figure::Errors => m.errors.map(|n| n as f64),
            Figure::Throttles => m.throttles.map(|n| n as f64),
            Figure::ColdStarts => m.cold_starts.map(|n| n as f64),
            Figure::AvgMs => m.duration.map(|d| d.avg_ms),
            Figure::P50Ms => m.duration.map(|d| d.p50_ms),
            Figure::P90Ms => m.duration.map(|d| d.p90_ms),
            Figure::P99Ms => m.duration.map(|d| d.p99_ms),
            Figure::MaxMs => m.duration.map(|d| d.max_ms),
            Figure::PeakConcurrency => m.peak_concurrency.map(|n| n as f64),
            Figure::MaxMemoryMb => m.max_memory_used_mb.map(f64::from),
        }
    }

    /// The field of [`Metrics`] it reads (where [`Metrics::unavailable`] says why it is
    /// missing).
    pub fn field(self) -> &'static str {
        match self {
            Figure::ErrorRate | Figure::Errors => "errors",
            Figure::ColdStartRate | Figure::ColdStarts => "cold_starts",
            Figure::ThrottleRate | Figure::Throttles => "throttles",
            Figure::Invocations => "invocations",
            Figure::AvgMs | Figure::P50Ms | Figure::P90Ms | Figure::P99Ms | Figure::MaxMs => "duration",
            Figure::PeakConcurrency => "peak_concurrency",
            Figure::MaxMemoryMb => "max_memory_used_mb",
        }
    }
}

/// How a figure is compared with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Comparison {
    /// `>`
    Above,
    /// `>=`
    AtLeast,
    /// `<`
    Below,
    /// `<=`
    AtMost,
}

impl Comparison {
    fn symbol(self) -> &'static str {
        match self {
            Comparison::Above => ">",
            Comparison::AtLeast => ">=",
            Comparison::Below => "<",
            Comparison::AtMost => "<=",
        }
    }

    fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::Above => value > threshold,
            Comparison::AtLeast => value >= threshold,
            Comparison::Below => value < threshold,
            Comparison::AtMost => value <= threshold,
        }
    }
}

/// A rule: fires when `figure` compares with `threshold` as `comparison` says, over the last
/// `window` when given, once at least `min_invocations` ran (fewer: not enough data, never
/// healthy).
///
/// The text form is `FIGURE OP VALUE[%|ms] [over SPAN] [min N]`:
///
/// ```
/// use faas_core::observe::{AlertRule, Figure};
/// let r: AlertRule = "p99_ms > 800 over 5m min 20".parse().unwrap();
/// assert_eq!((r.figure, r.threshold, r.min_invocations), (Figure::P99Ms, 800.0, 20));
/// assert_eq!(r.to_string(), "p99_ms > 800 over 300s min 20");
/// assert!("error_rate >> 1%".parse::<AlertRule>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRule {
    /// The figure.
    pub figure: Figure,
    /// How it is compared.
    pub comparison: Comparison,
    /// The threshold (percent for rates).
    pub threshold: f64,
    /// The window it looks at, when the rule names one.
    pub window: Option<Duration>,
    /// Below this many invocations the verdict is [`Verdict::NotEnoughData`]. Defaults: 10
    /// for rates and durations, 0 for counts.
    pub min_invocations: u64,
}

impl std::str::FromStr for AlertRule {
    type Err = Error;

    fn from_str(text: &str) -> Result<AlertRule> {
        let bad = |why: &str| Error::invalid("alert rule", text, why.to_string());
        let words: Vec<&str> = text.split_whitespace().collect();
        // Allow `error_rate>1%` as well as `error_rate > 1%`.
        let joined: String;
        let words = if words.len() == 1 || (words.len() > 1 && !is_op(words.get(1).copied().unwrap_or(""))) {
            joined = spaced(words.first().copied().unwrap_or(""));
            let mut w: Vec<&str> = joined.split_whitespace().collect();
            w.extend_from_slice(&words[1..]);
            w
        } else {
            words
        };
        let [name, op, value, rest @ ..] = words.as_slice() else {
            return Err(bad("expected FIGURE OP VALUE, e.g. error_rate > 1%"));
        };
        let figure = FIGURES
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                let names: Vec<&str> = FIGURES.iter().map(|(n, _)| *n).collect();
                bad(&format!("unknown figure {name:?}; one of {}", names.join(", ")))
            })?;
        let comparison = match *op {
            ">" => Comparison::Above,
            ">=" => Comparison::AtLeast,
            "<" => Comparison::Below,
            "<=" => Comparison::AtMost,
            _ => return Err(bad("the comparison is one of >, >=, <, <=")),
        };
        let number = value.trim_end_matches('%').trim_end_matches("ms");
        let threshold: f64 = number
            .parse()
            .ok()
            .filter(|t: &f64| t.is_finite())
            .ok_or_else(|| bad("the threshold is a number (1%, 800ms, 3)"))?;
        if value.ends_with('%') && !figure.is_rate() {
            return Err(bad("only rates take a percentage"));
        }
        let mut rule = AlertRule {
            figure,
            comparison,
            threshold,
            window: None,
            min_invocations: if figure.is_rate() || figure.field() == "duration" {
                10
            } else {
                0
            },
        };
        let mut rest = rest.iter();
        while let Some(word) = rest.next() {
            let arg = rest.next().ok_or_else(|| bad("`over` and `min` take a value"))?;
            match *word {
                "over" => rule.window = Some(super::parse_span("alert rule window", arg)?),
                "min" => {
                    rule.min_invocations = arg
                        .parse()
                        .map_err(|_| bad("`min` takes a whole number of invocations"))?
                }
                _ => return Err(bad("after the threshold come `over SPAN` and `min N`")),
            }
        }
        Ok(rule)
    }
}

fn is_op(w: &str) -> bool {
    matches!(w, ">" | ">=" | "<" | "<=")
}

/// `error_rate>1%` → `error_rate > 1%`.
fn spaced(w: &str) -> String {
    match w.find(['>', '<']) {
        Some(i) => {
            let len = if w[i + 1..].starts_with('=') { 2 } else { 1 };
            format!("{} {} {}", &w[..i], &w[i..i + len], &w[i + len..])
        }
        None => w.to_string(),
    }
}

impl fmt::Display for AlertRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = if self.figure.is_rate() { "%" } else { "" };
        write!(
            f,
            "{} {} {}{unit}",
            self.figure.name(),
            self.comparison.symbol(),
            self.threshold
        )?;
        if let Some(w) = self.window {
            write!(f, " over {}s", w.as_secs())?;
        }
        write!(f, " min {}", self.min_invocations)
    }
}

/// A rule's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "verdict", content = "reason")]
#[non_exhaustive]
pub enum Verdict {
    /// The condition holds.
    Fired,
    /// It does not.
    Ok,
    /// Too few invocations to say.
    NotEnoughData,
    /// The provider could not give the figure (why).
    Unavailable(String),
}

/// A rule evaluated against metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule, as text.
    pub rule: String,
    /// The figure's value, when known.
    pub value: Option<f64>,
    /// How many invocations it is based on, when known.
    pub invocations: Option<u64>,
    /// The verdict.
    #[serde(flatten)]
    pub verdict: Verdict,
}

impl AlertRule {
    /// This rule against `metrics`.
    ///
    /// ```
    /// use faas_core::observe::{AlertRule, InvocationSample, Metrics, TimeWindow, Verdict};
    /// let w = TimeWindow::between_ms(0, 1_000).unwrap();
    /// let s = |error| InvocationSample {
    ///     start_ms: 1, version: "1".into(), duration_ms: 5.0, init_ms: None,
    ///     max_memory_mb: None, error, throttled: false,
    /// };
    /// let mut samples: Vec<_> = (0..19).map(|_| s(false)).collect();
    /// samples.push(s(true));
    /// let m = Metrics::from_samples("f", None, w, &samples, "test");
    /// let rule: AlertRule = "error_rate > 1%".parse().unwrap();
    /// assert_eq!(rule.evaluate(&m).verdict, Verdict::Fired);
    /// let strict: AlertRule = "error_rate > 1% min 50".parse().unwrap();
    /// assert_eq!(strict.evaluate(&m).verdict, Verdict::NotEnoughData);
    /// ```
    pub fn evaluate(&self, metrics: &Metrics) -> Finding {
        let value = self.figure.value(metrics);
        let verdict = match (value, metrics.invocations) {
            (_, Some(n)) if n < self.min_invocations => Verdict::NotEnoughData,
            (_, None) if self.min_invocations > 0 => Verdict::Unavailable(
                metrics
                    .unavailable
                    .get("invocations")
                    .cloned()
                    .unwrap_or_else(|| "the provider gave no invocation count".into()),
            ),
            (None, _) => match metrics.unavailable.get(self.figure.field()) {
                Some(why) => Verdict::Unavailable(why.clone()),
                // Nothing ran, so there is no duration, rate or memory to judge.
                None => Verdict::NotEnoughData,
            },
            (Some(v), _) if self.comparison.holds(v, self.threshold) => Verdict::Fired,
            (Some(_), _) => Verdict::Ok,
        };
        Finding {
            rule: self.to_string(),
            value,
            invocations: metrics.invocations,
            verdict,
        }
    }
}
