//! CloudWatch alarms from faas alert rules (`PutMetricAlarm`), and their states for rollout
//! gates (`DescribeAlarms`).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_cloudwatch::types::{AlarmType, ComparisonOperator, Dimension, MetricDataQuery, StateValue, Statistic};
use faas_core::observe::{AlarmState, AlarmValue, AlertRule, Comparison, Figure};
use faas_core::{Error, Qualifier, ResourceKind, Result, names};

use crate::error::{Target, map};
use crate::metrics::{NAMESPACE, Scope, Stat, metric_stat};
use crate::{AwsProvider, NAME};

/// The most alarm names one `DescribeAlarms` takes.
const NAMES_PER_CALL: usize = 100;

/// The period of an alarm whose rule names no window.
const DEFAULT_WINDOW: Duration = Duration::from_secs(300);

/// A Lambda metric and the statistic a figure reads (`p99` is an extended statistic).
fn metric_of(figure: Figure) -> Option<(&'static str, &'static str)> {
    let stat = |s: Stat| (s.metric(), s.statistic());
    Some(match figure {
        Figure::Invocations => stat(Stat::Invocations),
        Figure::Errors => stat(Stat::Errors),
        Figure::Throttles => stat(Stat::Throttles),
        Figure::PeakConcurrency => stat(Stat::Concurrency),
        Figure::AvgMs => ("Duration", "Average"),
        Figure::P50Ms => ("Duration", "p50"),
        Figure::P90Ms => ("Duration", "p90"),
        Figure::P99Ms => ("Duration", "p99"),
        Figure::MaxMs => ("Duration", "Maximum"),
        _ => return None,
    })
}

/// A rate as metric math over `Sum`s: the expression and the metrics it names.
fn rate_of(figure: Figure) -> Option<(&'static str, &'static [(&'static str, Stat)])> {
    match figure {
        Figure::ErrorRate => Some(("100*e/i", &[("e", Stat::Errors), ("i", Stat::Invocations)])),
        Figure::ThrottleRate => Some(("100*t/(i+t)", &[("t", Stat::Throttles), ("i", Stat::Invocations)])),
        _ => None,
    }
}

fn operator(c: Comparison) -> ComparisonOperator {
    match c {
        Comparison::Above => ComparisonOperator::GreaterThanThreshold,
        Comparison::AtLeast => ComparisonOperator::GreaterThanOrEqualToThreshold,
        Comparison::Below => ComparisonOperator::LessThanThreshold,
        Comparison::AtMost => ComparisonOperator::LessThanOrEqualToThreshold,
        // A comparison faas adds later has no alarm operator until it is mapped here.
        _ => ComparisonOperator::GreaterThanThreshold,
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "alarm name",
            name,
            "an alarm name has 1–255 characters and no control characters",
        ));
    }
    Ok(())
}

/// The alarm's period: the rule's window, whole minutes (Lambda's metrics have one-minute
/// resolution), at most a day (an alarm evaluates at most a day of data).
fn period_of(rule: &AlertRule) -> Result<i32> {
    let window = rule.window.unwrap_or(DEFAULT_WINDOW);
    let secs = window.as_secs();
    if window.subsec_nanos() != 0 || secs == 0 || !secs.is_multiple_of(60) || secs > 86_400 {
        return Err(Error::invalid(
            "window",
            format!("{}s", window.as_secs_f64()),
            "an alarm on Lambda's one-minute metrics looks at whole minutes, up to a day (over 5m, over 1h)",
        ));
    }
    Ok(secs as i32)
}

impl AwsProvider {
    /// Creates or replaces the CloudWatch alarm `name`, which goes to `ALARM` when `rule`
    /// holds for `function` (or one version or alias) over the rule's window (default five
    /// minutes, one evaluation period).
    ///
    /// * Counts, durations and concurrency become a plain alarm on `AWS/Lambda`
    ///   (`Invocations`/`Errors`/`Throttles` Sum, `Duration` Average/p50/p90/p99/Maximum,
    ///   `ConcurrentExecutions` Maximum) with the function's dimensions (`FunctionName`, and
    ///   `Resource` = `name:qualifier` for a version or alias).
    /// * Rates become metric math: `100*e/i` (errors per invocation, in percent) and
    ///   `100*t/(i+t)` (throttles per attempt).
    /// * A rule's `min N` becomes `IF(i >= N, value)` over the `Invocations` Sum: with fewer
    ///   invocations the expression has no point, and the alarm reports `INSUFFICIENT_DATA`
    ///   — never `OK` — as [`Verdict::NotEnoughData`](faas_core::observe::Verdict) does.
    ///
    /// Cold starts, their rate and memory are in the `REPORT` log lines, not in `AWS/Lambda`:
    /// such rules are [`Error::Unsupported`]. `$LATEST` has no CloudWatch dimension of its own
    /// here (see [`Provider::metrics`](faas_core::Provider::metrics)): also unsupported. An
    /// unknown function, version or alias is [`Error::NotFound`] (one `GetFunction`), a bad
    /// name or window [`Error::InvalidInput`].
    ///
    /// ```no_run
    /// # async fn t(aws: &faas_aws::AwsProvider) -> faas_core::Result<()> {
    /// let rule: faas_core::observe::AlertRule = "error_rate > 1% over 5m".parse()?;
    /// aws.put_alarm("hello", Some("live"), &rule, "hello-live-errors").await?;
    /// # Ok(()) }
    /// ```
    pub async fn put_alarm(&self, function: &str, qualifier: Option<&str>, rule: &AlertRule, name: &str) -> Result<()> {
        self.create_alarm(function, qualifier, rule, name)
            .await
            .map_err(|e| e.with_provider(NAME))
    }

    async fn create_alarm(&self, function: &str, qualifier: Option<&str>, rule: &AlertRule, name: &str) -> Result<()> {
        names::check_function(function)?;
        check_name(name)?;
        let scope = match (qualifier, Qualifier::parse_opt(qualifier)?) {
            (None, _) => Scope::Function,
            (_, Qualifier::Latest) => {
                return Err(Error::unsupported(
                    "a CloudWatch alarm on $LATEST",
                    Some("alarm on the function (no qualifier), a version or an alias".into()),
                ));
            }
            (_, Qualifier::Version(v)) => Scope::Version(v),
            (_, Qualifier::Label(l)) => Scope::Label {
                name: l,
                versions: Vec::new(),
            },
        };
        let unsupported = || {
            Error::unsupported(
                format!("a CloudWatch alarm for `{rule}`"),
                Some(
                    "cold starts and memory are in the REPORT log lines, not in AWS/Lambda: evaluate the rule against Provider::metrics"
                        .into(),
                ),
            )
        };
        if metric_of(rule.figure).is_none() && rate_of(rule.figure).is_none() {
            return Err(unsupported());
        }
        let period = period_of(rule)?;
        let dims = scope.dimensions(function).unwrap_or_default();
        // The alarm would watch nothing for a function, version or alias that does not exist.
        if self.functions.observe_qualified(function, qualifier).await?.is_none() {
            let kind = match scope {
                Scope::Label { .. } => ResourceKind::Label,
                Scope::Version(_) => ResourceKind::Version,
                _ => ResourceKind::Function,
            };
            let shown = match qualifier {
                Some(q) => format!("{function}:{q}"),
                None => function.to_string(),
            };
            return Err(Error::not_found(kind, shown, None));
        }

        let mut req = self
            .cloudwatch
            .client
            .put_metric_alarm()
            .alarm_name(name)
            .alarm_description(format!(
                "faas: {rule} on {function}{}",
                qualifier.map(|q| format!(":{q}")).unwrap_or_default()
            ))
            .comparison_operator(operator(rule.comparison))
            .threshold(rule.threshold)
            .evaluation_periods(1)
            .treat_missing_data("missing");
        let query = |id: &str, metric: &str, statistic: &str| {
            MetricDataQuery::builder()
                .id(id)
                .metric_stat(metric_stat(metric, statistic, &dims, period))
                .return_data(false)
                .build()
        };
        match (metric_of(rule.figure), rule.min_invocations) {
            (Some((metric, statistic)), 0) => {
                let dimensions = dims
                    .iter()
                    .map(|(n, v)| Dimension::builder().name(*n).value(v).build())
                    .collect();
                req = req
                    .namespace(NAMESPACE)
                    .metric_name(metric)
                    .set_dimensions(Some(dimensions))
                    .period(period);
                req = if statistic.starts_with('p') {
                    req.extended_statistic(statistic)
                } else {
                    req.statistic(Statistic::from(statistic))
                };
            }
            (plain, min) => {
                let mut queries = Vec::new();
                let mut has_invocations = false;
                let value = match (plain, rate_of(rule.figure)) {
                    (Some((metric, statistic)), _) => {
                        queries.push(query("m", metric, statistic));
                        "m".to_string()
                    }
                    (None, Some((expr, parts))) => {
                        for (id, stat) in parts {
                            has_invocations |= *stat == Stat::Invocations;
                            queries.push(query(id, stat.metric(), stat.statistic()));
                        }
                        expr.to_string()
                    }
                    (None, None) => return Err(unsupported()),
                };
                if min > 0 && !has_invocations {
                    queries.push(query("i", Stat::Invocations.metric(), Stat::Invocations.statistic()));
                }
                let expression = if min > 0 {
                    format!("IF(i >= {min}, {value})")
                } else {
                    value
                };
                queries.push(
                    MetricDataQuery::builder()
                        .id("alarm")
                        .expression(expression)
                        .label(rule.to_string())
                        .return_data(true)
                        .build(),
                );
                req = req.set_metrics(Some(queries));
            }
        }
        req.send().await.map_err(|e| {
            map(
                e,
                Target {
                    kind: ResourceKind::Function,
                    name,
                },
            )
        })?;
        Ok(())
    }
}

fn value_of(state: Option<&StateValue>) -> AlarmValue {
    match state {
        Some(StateValue::Ok) => AlarmValue::Ok,
        Some(StateValue::Alarm) => AlarmValue::Alarm,
        // INSUFFICIENT_DATA, and a state CloudWatch adds later: not a verdict either way.
        _ => AlarmValue::InsufficientData,
    }
}

impl AwsProvider {
    /// `DescribeAlarms` with `AlarmNames` (100 a call, metric and composite alarms), in the
    /// order asked; a name CloudWatch does not return is `NotFound`.
    pub(crate) async fn read_alarm_states(&self, names: &[String]) -> Result<Vec<AlarmState>> {
        let mut found: HashMap<String, AlarmState> = HashMap::new();
        for chunk in names.chunks(NAMES_PER_CALL) {
            let mut pages = self
                .cloudwatch
                .client
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .alarm_types(AlarmType::MetricAlarm)
                .alarm_types(AlarmType::CompositeAlarm)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| {
                    map(
                        e,
                        Target {
                            kind: ResourceKind::Alarm,
                            name: "cloudwatch:DescribeAlarms",
                        },
                    )
                })?;
                let metric = page
                    .metric_alarms()
                    .iter()
                    .map(|a| (a.alarm_name(), a.state_value(), a.state_reason()));
                let composite = page
                    .composite_alarms()
                    .iter()
                    .map(|a| (a.alarm_name(), a.state_value(), a.state_reason()));
                for (name, state, reason) in metric.chain(composite) {
                    let Some(name) = name else { continue };
                    found.insert(
                        name.to_string(),
                        AlarmState {
                            name: name.to_string(),
                            value: value_of(state),
                            reason: reason.unwrap_or_default().to_string(),
                        },
                    );
                }
            }
        }
        names
            .iter()
            .map(|n| {
                found.get(n).cloned().ok_or_else(|| {
                    Error::not_found(
                        ResourceKind::Alarm,
                        n.clone(),
                        Some(format!(
                            "CloudWatch has no alarm named {n:?} in this account and region: create it (AwsProvider::put_alarm) or fix the gate"
                        )),
                    )
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_names_are_checked() {
        let rule = |t: &str| t.parse::<AlertRule>().unwrap();
        assert_eq!(period_of(&rule("errors > 1")).unwrap(), 300);
        assert_eq!(period_of(&rule("errors > 1 over 1h")).unwrap(), 3600);
        for bad in ["errors > 1 over 90s", "errors > 1 over 2d"] {
            assert!(matches!(period_of(&rule(bad)), Err(Error::InvalidInput { field, .. }) if field == "window"));
        }
        assert!(check_name("ok-name").is_ok());
        assert!(check_name("").is_err() && check_name("a\nb").is_err() && check_name(&"x".repeat(256)).is_err());
        assert!(metric_of(Figure::ColdStarts).is_none() && rate_of(Figure::ColdStartRate).is_none());
    }

    #[test]
    fn states_map_to_alarm_values() {
        assert_eq!(value_of(Some(&StateValue::Ok)), AlarmValue::Ok);
        assert_eq!(value_of(Some(&StateValue::Alarm)), AlarmValue::Alarm);
        assert_eq!(
            value_of(Some(&StateValue::InsufficientData)),
            AlarmValue::InsufficientData
        );
        assert_eq!(value_of(None), AlarmValue::InsufficientData);
    }
}
