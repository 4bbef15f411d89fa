//! [`Step`], what a step type does, and [`StepOutcome`], what it did.

use std::sync::Arc;

use async_trait::async_trait;

use crate::pipeline::context::RunContext;
use crate::testcase::TestResult;
use crate::{Plan, Provider, Result};

/// What a step did.
#[derive(Debug, Clone, Default)]
pub struct StepOutcome {
    /// One line for the person watching.
    pub summary: String,
    /// Test case verdicts (test steps).
    pub tests: Vec<TestResult>,
    /// Plans (deploy steps; in a dry run, what would have happened).
    pub plans: Vec<Plan>,
}

/// A step type's behaviour. Register your own with
/// [`StepRegistry::register`](crate::pipeline::StepRegistry::register).
#[async_trait]
pub trait Step: Send + Sync + std::fmt::Debug {
    /// Whether the step changes something beyond this machine: in a dry run such a step
    /// must only report what it would do.
    fn mutates(&self) -> bool;

    /// Runs the step. `provider` is the one the step names, or the run's default.
    async fn run(&self, ctx: &mut RunContext<'_>, provider: Arc<dyn Provider>) -> Result<StepOutcome>;
}
