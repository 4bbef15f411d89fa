//! [`AlarmState`]: what the cloud's own alarms say (CloudWatch `DescribeAlarms`), for rollout
//! gates that defer to alarms the account already has.

use serde::{Deserialize, Serialize};

/// An alarm's state, as the cloud reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AlarmValue {
    /// Within its threshold (`OK`).
    Ok,
    /// Breaching (`ALARM`).
    Alarm,
    /// Not enough data to decide (`INSUFFICIENT_DATA`).
    InsufficientData,
}

/// One alarm's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmState {
    /// The alarm's name.
    pub name: String,
    /// Its state.
    pub value: AlarmValue,
    /// The cloud's reason for it (`StateReason`).
    pub reason: String,
}
