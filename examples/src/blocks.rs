//! The providers a pipeline file's blocks describe, built through each crate's builder.
//!
//! `faas_core::pipeline` turns an enabled block into builder config keys
//! ([`ProviderConfig`]); this applies them after the builder's `from_env()` (so
//! `AWS_ENDPOINT_URL`, `FAAS_GCP_*_URL` and `FAAS_AZURE_*` still point a run at an emulator).
//! A provider the file has no block for is built from the environment alone.

use std::sync::Arc;

use faas_core::Provider;
use faas_core::pipeline::{FigureSink, ProviderConfig};

/// A provider built for a pipeline run, and where its run figures go (AWS: CloudWatch).
pub struct Built {
    /// The provider.
    pub provider: Arc<dyn Provider>,
    /// The CloudWatch sink for `monitoring.cloudwatch` (AWS only).
    pub figures: Option<Arc<dyn FigureSink>>,
}

/// Applies `config`'s keys with `with_config`, an error placed at the key's line.
#[allow(dead_code)]
fn apply<B>(
    builder: B,
    config: Option<&ProviderConfig>,
    with: impl Fn(B, &str, &str) -> Result<B, faas_core::Error>,
) -> anyhow::Result<B> {
    let Some(config) = config else { return Ok(builder) };
    config.keys.iter().try_fold(builder, |b, k| {
        with(b, &k.key, &k.value).map_err(|e| {
            // The builder's reason names the key, never a secret value.
            let reason = match &e {
                faas_core::Error::InvalidConfig { reason, .. } | faas_core::Error::InvalidInput { reason, .. } => {
                    reason.clone()
                }
                other => other.to_string(),
            };
            anyhow::Error::new(config.locate(&k.key, reason))
        })
    })
}

/// Builds `provider` (`aws`, `gcp` or `azure`) from its block, or from the environment when
/// the file has none.
pub async fn build(provider: &str, config: Option<&ProviderConfig>) -> anyhow::Result<Built> {
    match provider {
        "aws" => aws(config).await,
        "gcp" => gcp(config).await,
        "azure" => azure(config).await,
        other => anyhow::bail!("no builder for provider {other:?}: the pipeline example builds aws, gcp and azure"),
    }
}

#[cfg(feature = "aws")]
async fn aws(config: Option<&ProviderConfig>) -> anyhow::Result<Built> {
    let b = apply(faas_aws::AwsBuilder::from_env(), config, |b, k, v| b.with_config(k, v))?;
    let aws = b.build().await?;
    let figures: Arc<dyn FigureSink> = Arc::new(aws.figure_sink());
    Ok(Built {
        provider: Arc::new(aws),
        figures: Some(figures),
    })
}

#[cfg(not(feature = "aws"))]
async fn aws(_: Option<&ProviderConfig>) -> anyhow::Result<Built> {
    anyhow::bail!("this build has no AWS support: run with `--features aws`")
}

#[cfg(feature = "gcp")]
async fn gcp(config: Option<&ProviderConfig>) -> anyhow::Result<Built> {
    let b = apply(faas_gcp::GcpBuilder::from_env(), config, |b, k, v| b.with_config(k, v))?;
    Ok(Built {
        provider: Arc::new(b.build().await?),
        figures: None,
    })
}

#[cfg(not(feature = "gcp"))]
async fn gcp(_: Option<&ProviderConfig>) -> anyhow::Result<Built> {
    anyhow::bail!("this build has no GCP support: run with `--features gcp`")
}

#[cfg(feature = "azure")]
async fn azure(config: Option<&ProviderConfig>) -> anyhow::Result<Built> {
    let b = apply(faas_azure::AzureBuilder::from_env(), config, |b, k, v| {
        b.with_config(k, v)
    })?;
    Ok(Built {
        provider: Arc::new(b.build().await?),
        figures: None,
    })
}

#[cfg(not(feature = "azure"))]
async fn azure(_: Option<&ProviderConfig>) -> anyhow::Result<Built> {
    anyhow::bail!("this build has no Azure support: run with `--features azure`")
}
