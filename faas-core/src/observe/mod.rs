//! Observability: what a deployed function did — [`Metrics`] over a window (counts,
//! durations, cold starts, per version), series of them for charts, its [`LogRecord`]s, and
//! [`AlertRule`]s judged against the metrics.
//!
//! Providers answer through [`Provider::metrics`](crate::Provider::metrics),
//! [`Provider::metric_series`](crate::Provider::metric_series) and
//! [`Provider::logs`](crate::Provider::logs); their [`Capability`](crate::Capability) says
//! which they can (`metrics`, `logs`, `live_logs`), and the others are
//! [`Error::Unsupported`](crate::Error::Unsupported) before any call. A figure a provider
//! cannot give is `None` with its reason, never a made-up zero.
//!
//! ```no_run
//! # async fn f(p: &dyn faas_core::Provider) -> faas_core::Result<()> {
//! use std::time::Duration;
//! use faas_core::observe::{AlertRule, MetricsQuery, TimeWindow};
//! let m = p.metrics(&MetricsQuery::new("hello", TimeWindow::last(Duration::from_secs(3600)))).await?;
//! let rule: AlertRule = "error_rate > 1%".parse()?;
//! println!("{:?} invocations, {:?}", m.invocations, rule.evaluate(&m).verdict);
//! # Ok(()) }
//! ```

mod alarms;
mod alerts;
mod logs;
mod metrics;
mod window;

pub use alarms::{AlarmState, AlarmValue};
pub use alerts::{AlertRule, Comparison, Figure, Finding, Verdict};
pub use logs::{LogLevel, LogPage, LogQuery, LogRecord, MAX_LOG_LIMIT};
pub use metrics::{DurationStats, InvocationSample, Metrics, MetricsQuery};
pub use window::{TimeWindow, civil_from_days, now_ms, parse_span, unix_ms};

/// The most points a series may have.
pub const MAX_SERIES_POINTS: usize = 1440;
