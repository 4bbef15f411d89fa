//! azure_identity's credentials send their token requests through this: our `reqwest` client
//! (the one the provider uses for ARM, Kudu and Blob), so there is one HTTP stack with one set
//! of trusted roots.

use async_trait::async_trait;
use azure_core::http::headers::{HeaderName, HeaderValue, Headers};
use azure_core::http::{AsyncRawResponse, Body, HttpClient, Method, Request};
use azure_core::{Bytes, error::ErrorKind};

/// `reqwest` as azure_core's `HttpClient`.
#[derive(Debug, Clone)]
pub(crate) struct ReqwestTransport(pub reqwest::Client);

fn method(m: Method) -> reqwest::Method {
    match m {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Delete => reqwest::Method::DELETE,
        Method::Patch => reqwest::Method::PATCH,
        Method::Head => reqwest::Method::HEAD,
        _ => reqwest::Method::GET,
    }
}

#[async_trait]
impl HttpClient for ReqwestTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let mut req = self.0.request(method(request.method()), request.url().clone());
        for (name, value) in request.headers().iter() {
            req = req.header(name.as_str(), value.as_str());
        }
        req = match request.body() {
            Body::Bytes(bytes) => req.body(bytes.clone()),
            #[allow(unreachable_patterns)]
            _ => {
                return Err(azure_core::Error::with_message(
                    ErrorKind::Other,
                    "streamed request bodies are not used by credentials",
                ));
            }
        };
        let resp = req
            .send()
            .await
            .map_err(|e| azure_core::Error::with_error(ErrorKind::Io, e.without_url(), "token request failed"))?;
        let status = resp.status().as_u16();
        let mut headers = Headers::new();
        for (k, v) in resp.headers() {
            if let Ok(v) = v.to_str() {
                headers.insert(HeaderName::from(k.as_str().to_owned()), HeaderValue::from(v.to_owned()));
            }
        }
        let body: Bytes = resp
            .bytes()
            .await
            .map_err(|e| azure_core::Error::with_error(ErrorKind::Io, e.without_url(), "reading a token response"))?;
        let stream = futures::stream::once(async move { Ok::<Bytes, azure_core::Error>(body) });
        Ok(AsyncRawResponse::new(status.into(), headers, Box::pin(stream)))
    }
}
