//! What a run reports ([`PipelineReport`], one [`StepReport`] a step), and writing it as JSON
//! and as the JUnit XML that CI systems read.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::testcase::TestResult;
use crate::{Error, Plan, Result};

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StepStatus {
    /// It did its work.
    Passed,
    /// It failed; the pipeline stopped.
    Failed,
    /// It did not run, because an earlier step failed.
    Skipped,
}

/// One step's part of the report.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct StepReport {
    /// The stage.
    pub stage: String,
    /// The step.
    pub step: String,
    /// Its type.
    pub kind: String,
    /// How it ended.
    pub status: StepStatus,
    /// How long it took.
    pub duration: Duration,
    /// What it did, or why it failed (secrets redacted).
    pub summary: String,
    /// Test case verdicts.
    pub tests: Vec<TestResult>,
    /// Plans of deploy, publish and route steps.
    pub plans: Vec<Plan>,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct PipelineReport {
    /// The environment.
    pub environment: Option<String>,
    /// Whether it was a dry run.
    pub dry_run: bool,
    /// Every step, in order, including those skipped after a failure.
    pub steps: Vec<StepReport>,
    /// Whether every step passed.
    pub passed: bool,
    /// How long the run took.
    pub duration: Duration,
    /// What became of the run's own figures (`monitoring.cloudwatch`); `None` when the
    /// pipeline asks for none.
    pub monitoring: Option<String>,
}

impl PipelineReport {
    /// Test cases run, and how many passed.
    pub fn test_counts(&self) -> (usize, usize) {
        let all: Vec<&TestResult> = self.steps.iter().flat_map(|s| s.tests.iter()).collect();
        (all.len(), all.iter().filter(|t| t.passed).count())
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => {}
            c => out.push(c),
        }
    }
    out
}

/// The report as JUnit XML: one `<testsuite>` per test step, one `<testcase>` per case,
/// `<failure>` with the readable differences; a failed non-test step is an `<error>` case.
pub fn junit_xml(report: &PipelineReport) -> String {
    let (total, passed) = report.test_counts();
    let failed_steps: Vec<_> = report
        .steps
        .iter()
        .filter(|s| s.tests.is_empty() && s.status == super::StepStatus::Failed)
        .collect();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"faas pipeline\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3}\">",
        total + failed_steps.len(),
        total - passed,
        failed_steps.len(),
        report.duration.as_secs_f64()
    );
    for step in report.steps.iter().filter(|s| !s.tests.is_empty()) {
        let fails = step.tests.iter().filter(|t| !t.passed).count();
        let _ = writeln!(
            x,
            "  <testsuite name=\"{}/{}\" tests=\"{}\" failures=\"{fails}\" time=\"{:.3}\">",
            escape(&step.stage),
            escape(&step.step),
            step.tests.len(),
            step.duration.as_secs_f64()
        );
        for t in &step.tests {
            let _ = write!(
                x,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                escape(&step.step),
                escape(&t.name),
                t.duration.as_secs_f64()
            );
            if t.passed {
                x.push_str("/>\n");
            } else {
                let first = t.failures.first().cloned().unwrap_or_default();
                let _ = writeln!(
                    x,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                    escape(&first),
                    escape(&t.failures.join("\n"))
                );
            }
        }
        x.push_str("  </testsuite>\n");
    }
    if !failed_steps.is_empty() {
        let _ = writeln!(
            x,
            "  <testsuite name=\"steps\" tests=\"{}\" errors=\"{}\">",
            failed_steps.len(),
            failed_steps.len()
        );
        for s in failed_steps {
            let _ = writeln!(
                x,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">\n      <error message=\"{}\"/>\n    </testcase>",
                escape(&s.stage),
                escape(&s.step),
                s.duration.as_secs_f64(),
                escape(&s.summary)
            );
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

/// Writes `report.json` and `junit.xml` into `dir` (created if missing), atomically.
pub fn write_reports(report: &PipelineReport, dir: &Path) -> Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
    let json = serde_json::to_vec_pretty(report).map_err(|e| Error::io("report.json", std::io::Error::other(e)))?;
    let (j, x) = (dir.join("report.json"), dir.join("junit.xml"));
    for (path, data) in [(&j, json), (&x, junit_xml(report).into_bytes())] {
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir.display(), e))?;
        std::io::Write::write_all(&mut tmp, &data).map_err(|e| Error::io(path.display(), e))?;
        tmp.persist(path).map_err(|e| Error::io(path.display(), e.error))?;
    }
    Ok((j, x))
}
