//! The HTTP client every call goes through, and the error of a call that timed out.

/// A `reqwest` client with the connect, read and whole-request limits of `timeouts`.
pub(crate) fn http_client(timeouts: &faas_core::Timeouts) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .read_timeout(timeouts.read)
        .timeout(timeouts.operation)
        .build()
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not configure the HTTP client's timeouts; using the defaults");
            reqwest::Client::new()
        })
}

/// The error of an HTTP call that got no (complete) answer within the client's timeouts.
pub(crate) fn timed_out(call: impl Into<String>) -> faas_core::Error {
    faas_core::Error::timeout(
        call,
        std::time::Duration::ZERO,
        "no answer within the HTTP client's connect/read/request limits (GcpBuilder::timeouts)",
    )
}
