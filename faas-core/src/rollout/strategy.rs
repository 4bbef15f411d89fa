//! [`RolloutPlan`]: how traffic moves to the new version — all at once, a canary step, or
//! linear steps — parsed from CodeDeploy's names or a short custom form, and turned into a
//! [`Step`] schedule.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::observe::parse_span;
use crate::{Error, Result};

/// How a rollout moves a label's traffic to the new version.
///
/// Parsed from the names CodeDeploy and SAM use (`Canary10Percent5Minutes`,
/// `LambdaLinear10PercentEvery1Minute`, `CodeDeployDefault.LambdaAllAtOnce`) or a custom form:
/// `canary:10%:30s` (10 % for 30 s, then all), `linear:20%:10s` (20 % more every 10 s),
/// `all-at-once`.
///
/// ```
/// use std::time::Duration;
/// use faas_core::rollout::RolloutPlan;
/// let p: RolloutPlan = "Canary10Percent5Minutes".parse().unwrap();
/// assert_eq!(p, RolloutPlan::Canary { percent: 10.0, wait: Duration::from_secs(300) });
/// let steps = "linear:25%:10s".parse::<RolloutPlan>().unwrap().schedule();
/// let percents: Vec<f64> = steps.iter().map(|s| s.percent).collect();
/// assert_eq!(percents, [25.0, 50.0, 75.0, 100.0]);
/// assert!("Canary10Percent7Minutes".parse::<RolloutPlan>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum RolloutPlan {
    /// All traffic at once (gates and hooks still run).
    AllAtOnce,
    /// `percent` of the traffic for `wait`, then all of it.
    Canary {
        /// The canary's share, 1–99.
        percent: f64,
        /// How long the canary runs before the rest moves.
        #[serde(with = "millis")]
        wait: Duration,
    },
    /// `percent` more of the traffic every `every`, until all of it.
    Linear {
        /// Each step's increment, 1–99.
        percent: f64,
        /// How long each step runs.
        #[serde(with = "millis")]
        every: Duration,
    },
}

/// One step of a schedule: move to `percent` of traffic on the new version, then wait.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The new version's share after this step, 0 < percent ≤ 100.
    pub percent: f64,
    /// How long the step runs before the gates are checked and the next step starts (zero
    /// for the last).
    #[serde(with = "millis")]
    pub wait: Duration,
}

/// The names CodeDeploy predefines for Lambda deployments (SAM's `DeploymentPreference.Type`
/// drops the `Lambda`), with what they mean.
pub const CODEDEPLOY_NAMES: &[(&str, RolloutPlan)] = &[
    ("Canary10Percent5Minutes", canary(5)),
    ("Canary10Percent10Minutes", canary(10)),
    ("Canary10Percent15Minutes", canary(15)),
    ("Canary10Percent30Minutes", canary(30)),
    ("Linear10PercentEvery1Minute", linear(1)),
    ("Linear10PercentEvery2Minutes", linear(2)),
    ("Linear10PercentEvery3Minutes", linear(3)),
    ("Linear10PercentEvery10Minutes", linear(10)),
    ("AllAtOnce", RolloutPlan::AllAtOnce),
];

const fn canary(minutes: u64) -> RolloutPlan {
    RolloutPlan::Canary {
        percent: 10.0,
        wait: Duration::from_secs(minutes * 60),
    }
}

const fn linear(minutes: u64) -> RolloutPlan {
    RolloutPlan::Linear {
        percent: 10.0,
        every: Duration::from_secs(minutes * 60),
    }
}

impl RolloutPlan {
    /// The steps, in order; the last one is 100 %.
    pub fn schedule(&self) -> Vec<Step> {
        let last = Step {
            percent: 100.0,
            wait: Duration::ZERO,
        };
        match *self {
            RolloutPlan::AllAtOnce => vec![last],
            RolloutPlan::Canary { percent, wait } => vec![Step { percent, wait }, last],
            RolloutPlan::Linear { percent, every } => {
                let mut steps = Vec::new();
                let mut k = 1.0;
                while percent * k < 100.0 - 1e-9 {
                    steps.push(Step {
                        percent: percent * k,
                        wait: every,
                    });
                    k += 1.0;
                }
                steps.push(last);
                steps
            }
        }
    }

    /// The whole schedule's waiting time.
    pub fn total_wait(&self) -> Duration {
        self.schedule().iter().map(|s| s.wait).sum()
    }

    /// Checks the percent (1–99; whole when `whole_percent`, as Cloud Run needs) and the
    /// waits (longer than zero).
    pub fn check(&self, whole_percent: bool) -> Result<()> {
        let (percent, wait) = match *self {
            RolloutPlan::AllAtOnce => return Ok(()),
            RolloutPlan::Canary { percent, wait } => (percent, wait),
            RolloutPlan::Linear { percent, every } => (percent, every),
        };
        if !(1.0..=99.0).contains(&percent) {
            return Err(Error::invalid(
                "strategy.percent",
                percent,
                "a step moves 1–99 % of the traffic",
            ));
        }
        if whole_percent && percent.fract() != 0.0 {
            return Err(Error::invalid(
                "strategy.percent",
                percent,
                "this provider splits traffic in whole percents: use e.g. 10%",
            ));
        }
        if wait.is_zero() {
            return Err(Error::invalid(
                "strategy.wait",
                "0s",
                "a step waits longer than zero (e.g. 30s); use all-at-once for no wait",
            ));
        }
        Ok(())
    }
}

impl std::str::FromStr for RolloutPlan {
    type Err = Error;

    fn from_str(text: &str) -> Result<RolloutPlan> {
        let t = text.trim();
        let bare = t.strip_prefix("CodeDeployDefault.").unwrap_or(t);
        let bare = bare.strip_prefix("Lambda").unwrap_or(bare);
        if let Some((_, plan)) = CODEDEPLOY_NAMES.iter().find(|(n, _)| *n == bare) {
            return Ok(plan.clone());
        }
        if t == "all-at-once" {
            return Ok(RolloutPlan::AllAtOnce);
        }
        let unknown = || {
            let names: Vec<&str> = CODEDEPLOY_NAMES.iter().map(|(n, _)| *n).collect();
            Error::invalid(
                "strategy",
                text,
                format!(
                    "one of {} (optionally prefixed Lambda or CodeDeployDefault.Lambda), or \
                     canary:PERCENT%:WAIT, linear:PERCENT%:EVERY, all-at-once",
                    names.join(", ")
                ),
            )
        };
        let mut parts = t.split(':');
        let (Some(kind), Some(percent), Some(span), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(unknown());
        };
        let percent: f64 = percent
            .strip_suffix('%')
            .and_then(|p| p.parse().ok())
            .filter(|p: &f64| p.is_finite())
            .ok_or_else(|| Error::invalid("strategy.percent", percent, "a percentage such as 10%"))?;
        let span = parse_span("strategy.wait", span)?;
        let plan = match kind {
            "canary" => RolloutPlan::Canary { percent, wait: span },
            "linear" => RolloutPlan::Linear { percent, every: span },
            _ => return Err(unknown()),
        };
        plan.check(false)?;
        Ok(plan)
    }
}

impl fmt::Display for RolloutPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((name, _)) = CODEDEPLOY_NAMES.iter().find(|(_, p)| p == self) {
            return f.write_str(name);
        }
        match self {
            RolloutPlan::AllAtOnce => f.write_str("all-at-once"),
            RolloutPlan::Canary { percent, wait } => write!(f, "canary:{percent}%:{}", span(*wait)),
            RolloutPlan::Linear { percent, every } => write!(f, "linear:{percent}%:{}", span(*every)),
        }
    }
}

fn span(d: Duration) -> String {
    if d.subsec_millis() != 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs())
    }
}

/// Durations as whole milliseconds in JSON.
pub(crate) mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codedeploy_names_and_prefixes() {
        for (name, plan) in CODEDEPLOY_NAMES {
            assert_eq!(&name.parse::<RolloutPlan>().unwrap(), plan);
            assert_eq!(&format!("Lambda{name}").parse::<RolloutPlan>().unwrap(), plan);
            assert_eq!(
                &format!("CodeDeployDefault.Lambda{name}")
                    .parse::<RolloutPlan>()
                    .unwrap(),
                plan
            );
            assert_eq!(plan.to_string(), *name);
        }
        let total: Vec<u64> = CODEDEPLOY_NAMES
            .iter()
            .map(|(_, p)| p.total_wait().as_secs() / 60)
            .collect();
        assert_eq!(total, [5, 10, 15, 30, 9, 18, 27, 90, 0]);
    }

    #[test]
    fn custom_forms_round_trip() {
        assert_eq!("all-at-once".parse::<RolloutPlan>().unwrap(), RolloutPlan::AllAtOnce);
        for text in ["canary:5%:30s", "linear:20%:10s", "canary:2.5%:1500ms"] {
            let p: RolloutPlan = text.parse().unwrap();
            assert_eq!(p.to_string(), text);
            assert_eq!(p.to_string().parse::<RolloutPlan>().unwrap(), p);
        }
        let linear: RolloutPlan = "linear:30%:1m".parse().unwrap();
        let s: Vec<f64> = linear.schedule().iter().map(|s| s.percent).collect();
        assert_eq!(s, [30.0, 60.0, 90.0, 100.0]);
        assert!(linear.schedule()[..3].iter().all(|s| s.wait == Duration::from_secs(60)));
    }

    #[test]
    fn bad_strategies_name_the_problem() {
        let e = "Canary10Percent7Minutes"
            .parse::<RolloutPlan>()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("Canary10Percent5Minutes") && e.contains("canary:PERCENT%"),
            "{e}"
        );
        for (text, field) in [
            ("canary:0%:30s", "strategy.percent"),
            ("canary:100%:30s", "strategy.percent"),
            ("linear:ten%:1m", "strategy.percent"),
            ("canary:10%:soon", "strategy.wait"),
            ("canary:10%:0s", "strategy.wait"),
        ] {
            let e = text.parse::<RolloutPlan>().unwrap_err();
            assert!(e.to_string().contains(field), "{text}: {e}");
        }
        let half: RolloutPlan = "canary:2.5%:30s".parse().unwrap();
        assert!(half.check(false).is_ok());
        assert!(half.check(true).unwrap_err().to_string().contains("whole percents"));
    }
}
