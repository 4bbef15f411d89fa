//! The lambda-power-tuning.show URL: the chart Power Tuning's users know, from our figures.
//!
//! Its `#` fragment is three base64 strings joined by `;`: the memory sizes as little-endian
//! Int16, the durations (ms) and the costs per invocation as little-endian Float32, sorted
//! by size. The fragment never reaches the server.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::ValueResult;
use crate::{Error, Result};

/// The chart's address.
pub const POWER_TUNING_SHOW: &str = "https://lambda-power-tuning.show/";

/// The numbers a lambda-power-tuning.show URL carries.
///
/// ```
/// use faas_core::cost::tune::PowerTuningData;
/// let d = PowerTuningData { powers: vec![1, 2, 3], durations: vec![2.0, 2.0, 1.0], costs: vec![3.0, 2.0, 2.0] };
/// let url = d.to_url();
/// assert!(url.ends_with("#AQACAAMA;AAAAQAAAAEAAAIA/;AABAQAAAAEAAAABA"));
/// assert_eq!(PowerTuningData::from_url(&url)?, d);
/// # Ok::<(), faas_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerTuningData {
    /// Memory sizes, MB, ascending.
    pub powers: Vec<i16>,
    /// Durations, ms.
    pub durations: Vec<f32>,
    /// Costs per invocation.
    pub costs: Vec<f32>,
}

impl PowerTuningData {
    /// The URL.
    pub fn to_url(&self) -> String {
        let powers: Vec<u8> = self.powers.iter().flat_map(|p| p.to_le_bytes()).collect();
        let floats = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
        format!(
            "{POWER_TUNING_SHOW}#{};{};{}",
            STANDARD.encode(powers),
            STANDARD.encode(floats(&self.durations)),
            STANDARD.encode(floats(&self.costs))
        )
    }

    /// Reads the numbers back from a URL (or its fragment).
    pub fn from_url(url: &str) -> Result<PowerTuningData> {
        let fragment = url.rsplit_once('#').map_or(url, |(_, f)| f);
        let parts: Vec<&str> = fragment.split(';').collect();
        let [powers, durations, costs] = parts[..] else {
            return Err(Error::invalid(
                "url",
                fragment,
                "expected three base64 parts joined by ';' after '#'",
            ));
        };
        let bytes = |part: &str, width: usize| -> Result<Vec<u8>> {
            let b = STANDARD
                .decode(part)
                .map_err(|e| Error::invalid("url", part, format!("not base64: {e}")))?;
            match b.len() % width {
                0 => Ok(b),
                _ => Err(Error::invalid(
                    "url",
                    part,
                    format!("{} bytes is not a whole number of {width}-byte values", b.len()),
                )),
            }
        };
        let floats = |part: &str| -> Result<Vec<f32>> {
            Ok(bytes(part, 4)?
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect())
        };
        let data = PowerTuningData {
            powers: bytes(powers, 2)?
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect(),
            durations: floats(durations)?,
            costs: floats(costs)?,
        };
        if data.durations.len() != data.powers.len() || data.costs.len() != data.powers.len() {
            return Err(Error::invalid(
                "url",
                fragment,
                "the three parts must hold as many values each",
            ));
        }
        Ok(data)
    }
}

/// The URL of `values`: the sizes that did not fail, ascending (a size above Int16's 32,767
/// MB cannot be shown and is left out).
pub fn power_tuning_url(values: &[ValueResult]) -> String {
    let mut shown: Vec<&ValueResult> = values
        .iter()
        .filter(|v| v.failed.is_none() && v.memory_mb <= i16::MAX as u32)
        .collect();
    shown.sort_by_key(|v| v.memory_mb);
    PowerTuningData {
        powers: shown.iter().map(|v| v.memory_mb as i16).collect(),
        durations: shown.iter().map(|v| v.duration_ms as f32).collect(),
        costs: shown.iter().map(|v| v.cost_per_invocation as f32).collect(),
    }
    .to_url()
}
