//! The SDK's HTTP client, paced by a fleet delivery's limiter (`faas_core::fleet::rate`).
//!
//! The AWS SDK retries on its own (standard mode, `Retry-After` honoured), inside `send()`, so
//! faas-core's retry policy never sees its attempts. Its interceptors and retry strategies are
//! synchronous and cannot wait; the HTTP connector is the one asynchronous hook every attempt
//! passes through. So the SDK's client is wrapped: inside a delivery (a limiter in the task's
//! scope), each attempt waits its turn with the target's limiter for its API (`METHOD path`,
//! the function's name as `*`), and reports its answer — a `429` (Lambda's
//! `TooManyRequestsException`) cuts the rate and pauses the API for the `Retry-After`; a
//! success raises it. S3's `SlowDown` is a `503` told apart only by its XML body, which this
//! layer does not read: the SDK's standard retry handles it alone. The SDK's own backoff still
//! applies between its retries. Outside a delivery it only forwards.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use faas_core::fleet::RateLimiter;

/// `config` with its HTTP client paced: the one it was given, or the SDK's default (rustls
/// with aws-lc, the proxy from `HTTPS_PROXY`/`NO_PROXY`, as aws-config builds it) — which
/// aws-config leaves out of the `SdkConfig` and each client would otherwise make itself.
pub(crate) fn wrap(config: aws_config::SdkConfig) -> aws_config::SdkConfig {
    let inner = config.http_client().unwrap_or_else(default_client);
    config.into_builder().http_client(Paced { inner }).build()
}

fn default_client() -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    use aws_smithy_http_client::{Builder, ConnectorBuilder};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

#[derive(Debug)]
struct Paced {
    inner: SharedHttpClient,
}

impl HttpClient for Paced {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(PacedConnector {
            inner: self.inner.http_connector(settings, components),
        })
    }
}

#[derive(Debug)]
struct PacedConnector {
    inner: SharedHttpConnector,
}

/// `METHOD /path` of a request (no scheme, host or query).
fn operation(request: &HttpRequest) -> String {
    let uri = request.uri();
    let after_scheme = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    let path = path.split('?').next().unwrap_or(path);
    format!("{} {}", request.method(), path)
}

impl HttpConnector for PacedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let Some((limiter, api)) = RateLimiter::current_for(&operation(&request)) else {
            return self.inner.call(request);
        };
        let inner = self.inner.clone();
        HttpConnectorFuture::new(async move {
            limiter.acquire(&api).await;
            let response = inner.call(request).await?;
            let status = response.status().as_u16();
            if status == 429 {
                let after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(std::time::Duration::from_secs);
                limiter.throttled(&api, after);
            } else if status < 400 {
                limiter.succeeded(&api);
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operation_is_the_method_and_path() {
        let mut r = HttpRequest::get("http://127.0.0.1:5000/2015-03-31/functions/hello/versions?x=1").unwrap();
        r.set_method("POST").unwrap();
        assert_eq!(operation(&r), "POST /2015-03-31/functions/hello/versions");
    }
}
