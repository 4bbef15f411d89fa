//! The `test` step: invokes a function with each case and checks the answer.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;

use super::step::{Step, StepOutcome};
use crate::pipeline::context::{Event, RunContext};
use crate::testcase::{TestCase, run_case};
use crate::{Error, Provider, ResourceKind, Result};

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
        // The function must exist, or an earlier step must deploy it: checked with one read,
        // in a dry run too (which would otherwise report the step as passing).
        if !ctx.deployed_earlier(&self.function_name) {
            match provider.get(&self.function_name).await {
                Err(Error::NotFound { provider: p, .. }) => {
                    return Err(Error::not_found(
                        ResourceKind::Function,
                        &self.function_name,
                        Some("no earlier step of this pipeline deploys it: add a deploy step before the tests, or fix function_name".into()),
                    )
                    .with_provider(p));
                }
                Err(e) => return Err(e),
                Ok(_) => {}
            }
        }
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
            let mut result = run_case(provider.as_ref(), &self.function_name, self.qualifier.as_deref(), case).await?;
            // What a failing case shows (expected and actual) goes through the redactor like
            // everything else a pipeline prints or writes.
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
