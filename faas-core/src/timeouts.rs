//! [`Timeouts`]: how long any one HTTP call to a cloud may take, on every provider.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Limits on every HTTP call a provider makes (the AWS SDK's timeout configuration, the
/// `reqwest` clients of GCP and Azure), so that an endpoint that accepts connections and never
/// answers fails the call with [`Error::Timeout`](crate::Error::Timeout) naming it instead of waiting forever.
///
/// Defaults: 10 s to connect, 60 s between reads, 15 minutes for a whole request (a large
/// upload included).
///
/// ```
/// use std::time::Duration;
/// let t = faas_core::Timeouts::default().connect(Duration::from_secs(3));
/// assert_eq!(t.connect, Duration::from_secs(3));
/// assert_eq!(t.read, Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeouts {
    /// To establish a connection (TCP and TLS).
    pub connect: Duration,
    /// Between two reads of an answer (and to its first byte).
    pub read: Duration,
    /// For one whole request, from sending it to reading the last byte of its answer.
    pub operation: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(60),
            operation: Duration::from_secs(15 * 60),
        }
    }
}

impl Timeouts {
    /// Sets the connect timeout.
    pub fn connect(mut self, d: Duration) -> Self {
        self.connect = d;
        self
    }

    /// Sets the read timeout.
    pub fn read(mut self, d: Duration) -> Self {
        self.read = d;
        self
    }

    /// Sets the whole-request timeout.
    pub fn operation(mut self, d: Duration) -> Self {
        self.operation = d;
        self
    }
}
