//! [`CloudWatchFigures`]: a pipeline run's own figures, sent to CloudWatch with
//! `PutMetricData` — what the pipeline's `monitoring.cloudwatch` block asks for.

use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use faas_core::Result;
use faas_core::pipeline::{FigureSink, FigureUnit, RunFigure};

use crate::NAME;
use crate::error::{Target, map};

/// The most data points one `PutMetricData` takes (CloudWatch's quota: 1,000).
const PER_REQUEST: usize = 1000;

/// Publishes pipeline figures to CloudWatch through the provider's own client (same region,
/// credentials, endpoint, retries). Hand it to the run with
/// `ProviderSet::publish_figures_to(Arc::new(aws.figure_sink()))`.
#[derive(Debug, Clone)]
pub struct CloudWatchFigures {
    client: aws_sdk_cloudwatch::Client,
}

impl crate::AwsProvider {
    /// A [`FigureSink`] that sends a pipeline run's figures to this account's CloudWatch.
    pub fn figure_sink(&self) -> CloudWatchFigures {
        CloudWatchFigures {
            client: self.cloudwatch.client.clone(),
        }
    }
}

fn unit(u: FigureUnit) -> StandardUnit {
    match u {
        FigureUnit::Milliseconds => StandardUnit::Milliseconds,
        FigureUnit::Percent => StandardUnit::Percent,
        _ => StandardUnit::Count,
    }
}

#[async_trait]
impl FigureSink for CloudWatchFigures {
    async fn publish(&self, namespace: &str, figures: &[RunFigure]) -> Result<()> {
        let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
        for chunk in figures.chunks(PER_REQUEST) {
            let data = chunk
                .iter()
                .map(|f| {
                    let dimensions = f
                        .dimensions
                        .iter()
                        .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                        .collect();
                    MetricDatum::builder()
                        .metric_name(&f.name)
                        .value(f.value)
                        .unit(unit(f.unit))
                        .timestamp(now)
                        .set_dimensions(Some(dimensions))
                        .build()
                })
                .collect();
            self.client
                .put_metric_data()
                .namespace(namespace)
                .set_metric_data(Some(data))
                .send()
                .await
                .map_err(|e| {
                    map(
                        e,
                        Target {
                            kind: faas_core::ResourceKind::Function,
                            name: namespace,
                        },
                    )
                    .with_provider(NAME)
                })?;
        }
        tracing::info!(namespace, figures = figures.len(), "published the run's figures");
        Ok(())
    }
}
