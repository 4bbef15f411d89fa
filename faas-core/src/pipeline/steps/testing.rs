//! The `test` step: invokes a function with each case and checks the answer.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;

use super::step::{Step, StepOutcome};
use crate::pipeline::context::{Event, RunContext};
use crate::testcase::{TestCase, evaluate};
use crate::{Error, InvokeRequest, Provider, Result};

/// `test` / `lambda-test`: invokes the function with each case and checks the answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestConfig {
    function_name: String,
    #[serde(default)]
    qualifier: Option<String>,
    test_cases: Vec<TestCase>,
}

#[async_trait]
impl Step for TestConfig {
    fn mutates(&self) -> bool {
        false
    }

    async fn run(&self, ctx: &mut RunContext<'_>, provider: Arc<dyn Provider>) -> Result<StepOutcome> {
        if ctx.dry_run() {
            return Ok(StepOutcome {
                summary: format!(
                    "would run {} test cases against {}",
                    self.test_cases.len(),
                    self.function_name
                ),
                ..StepOutcome::default()
            });
        }
        let mut results = Vec::new();
        for case in &self.test_cases {
            let mut req = InvokeRequest::json(&case.payload);
            req.qualifier = self.qualifier.clone();
            let call = provider.invoke(&self.function_name, &req);
            let inv = match case.timeout_s {
                Some(t) => tokio::time::timeout(std::time::Duration::from_secs_f64(t), call)
                    .await
                    .map_err(|_| {
                        Error::timeout(
                            format!("test case {}", case.name),
                            std::time::Duration::from_secs_f64(t),
                            "no answer",
                        )
                    })?,
                None => call.await,
            }?;
            // What a failing case shows (expected and actual) goes through the redactor like
            // everything else a pipeline prints or writes.
            let mut result = evaluate(case, &inv);
            result.failures = result.failures.iter().map(|f| ctx.redact(f)).collect();
            result.response = ctx.redactor().redact_json(&result.response);
            ctx.observe(Event::TestCase {
                step: ctx.step_name().to_string(),
                result: result.clone(),
            });
            results.push(result);
        }
        let passed = results.iter().filter(|r| r.passed).count();
        Ok(StepOutcome {
            summary: format!("{passed}/{} passed", results.len()),
            tests: results,
            ..StepOutcome::default()
        })
    }
}
