//! [`TimeWindow`]: the span of time a metrics or log query covers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How far past "now" a window may end: clocks of two machines differ a little.
const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// A half-open span `[start, end)` in milliseconds since the Unix epoch.
///
/// ```
/// use std::time::Duration;
/// use faas_core::observe::TimeWindow;
/// let w = TimeWindow::last(Duration::from_secs(600));
/// assert_eq!(w.end_ms - w.start_ms, 600_000);
/// assert!(TimeWindow::between_ms(2_000, 1_000).is_err(), "start after end");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeWindow {
    /// The first millisecond in the window.
    pub start_ms: u64,
    /// The first millisecond after the window.
    pub end_ms: u64,
}

impl TimeWindow {
    /// The `span` up to now.
    pub fn last(span: Duration) -> TimeWindow {
        let end = now_ms();
        TimeWindow {
            start_ms: end.saturating_sub(span.as_millis() as u64),
            end_ms: end,
        }
    }

    /// `[start, end)`, checked: the start comes before the end, and the window does not lie in
    /// the future.
    pub fn between(start: SystemTime, end: SystemTime) -> Result<TimeWindow> {
        TimeWindow::between_ms(unix_ms(start), unix_ms(end))
    }

    /// [`TimeWindow::between`] in milliseconds since the Unix epoch.
    pub fn between_ms(start_ms: u64, end_ms: u64) -> Result<TimeWindow> {
        let w = TimeWindow { start_ms, end_ms };
        w.check()?;
        Ok(w)
    }

    /// Checks a window made by hand (see [`TimeWindow::between`]).
    pub fn check(&self) -> Result<()> {
        if self.start_ms >= self.end_ms {
            return Err(Error::invalid(
                "window",
                format!("{}..{}", self.start_ms, self.end_ms),
                "the start must come before the end",
            ));
        }
        let latest = now_ms() + CLOCK_SKEW.as_millis() as u64;
        if self.start_ms > latest {
            return Err(Error::invalid(
                "window.start",
                self.start_ms,
                "the window lies in the future: nothing has run there yet",
            ));
        }
        Ok(())
    }

    /// The window's length.
    pub fn span(&self) -> Duration {
        Duration::from_millis(self.end_ms.saturating_sub(self.start_ms))
    }

    /// Whether `at_ms` falls inside.
    pub fn contains(&self, at_ms: u64) -> bool {
        (self.start_ms..self.end_ms).contains(&at_ms)
    }

    /// The window cut into periods of `period` (the last may be shorter), checked against
    /// `max_points` so that a one-second period over a month is refused, not attempted.
    pub fn periods(&self, period: Duration, max_points: usize) -> Result<Vec<TimeWindow>> {
        let step = period.as_millis() as u64;
        if step == 0 {
            return Err(Error::invalid("period", "0s", "a period is at least one millisecond"));
        }
        let count = self.span().as_millis().div_ceil(u128::from(step));
        if count > max_points as u128 {
            return Err(Error::invalid(
                "period",
                format!("{}s", period.as_secs_f64()),
                format!("{count} periods in this window; at most {max_points}: choose a longer period"),
            ));
        }
        let mut out = Vec::with_capacity(count as usize);
        let mut start = self.start_ms;
        while start < self.end_ms {
            let end = (start + step).min(self.end_ms);
            out.push(TimeWindow {
                start_ms: start,
                end_ms: end,
            });
            start = end;
        }
        Ok(out)
    }
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    unix_ms(SystemTime::now())
}

/// `t` in milliseconds since the Unix epoch (0 before it).
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The date (year, month 1–12, day 1–31) of `days` since 1970-01-01, proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`: a dozen lines instead of a date crate).
///
/// ```
/// assert_eq!(faas_core::observe::civil_from_days(0), (1970, 1, 1));
/// assert_eq!(faas_core::observe::civil_from_days(19_782), (2024, 2, 29));
/// ```
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month as u32, day as u32)
}

/// Reads a span such as `90s`, `10m`, `2h`, `1d` (what the examples' `--since` takes).
///
/// ```
/// use std::time::Duration;
/// assert_eq!(faas_core::observe::parse_span("since", "10m").unwrap(), Duration::from_secs(600));
/// assert!(faas_core::observe::parse_span("since", "ten").is_err());
/// ```
pub fn parse_span(field: &str, text: &str) -> Result<Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| Error::invalid(field, text, "expected a number and a unit: 90s, 10m, 2h, 1d"))?;
    let secs = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "s" | "" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(Error::invalid(field, text, "the unit is one of ms, s, m, h, d")),
    };
    if secs == 0 {
        return Err(Error::invalid(field, text, "a span is longer than zero"));
    }
    Ok(Duration::from_secs(secs))
}
