//! `ProviderExt::follow_logs` on tokio's paused clock: it polls once per interval with the
//! cursor, hands every record over once and in order, and stops when the sink says so.
//! The backend is a test double that only answers `logs`.

#![allow(clippy::unwrap_used)]

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use faas_core::observe::{LogPage, LogQuery, LogRecord, TimeWindow};
use faas_core::{
    ArtifactRef, Capability, DeployOutcome, Deployment, Error, FunctionSpec, Invocation, InvokeRequest, Label,
    LabelModel, Limits, Package, Plan, ProviderBackend, ProviderExt, ProviderInfo, PublishRequest, Qualifier, Result,
    Routing, Version,
};

/// Records appended by the test; `logs` returns those after the cursor (an index).
#[derive(Debug, Default)]
struct Feed {
    records: Mutex<Vec<LogRecord>>,
    polls: Mutex<u32>,
}

fn no() -> Error {
    Error::unsupported("anything but logs (test double)", None)
}

#[async_trait]
impl ProviderBackend for Feed {
    fn info(&self) -> ProviderInfo {
        ProviderInfo::new("feed", Capability::new(LabelModel::None).logs(true), Limits::LAMBDA)
    }
    async fn upload(&self, _: &str, _: &Package) -> Result<ArtifactRef> {
        Err(no())
    }
    async fn plan(&self, _: &FunctionSpec, _: &ArtifactRef) -> Result<Plan> {
        Err(no())
    }
    async fn apply(&self, _: &Plan, _: &FunctionSpec, _: &ArtifactRef) -> Result<DeployOutcome> {
        Err(no())
    }
    async fn get(&self, _: &str) -> Result<Deployment> {
        Err(no())
    }
    async fn get_qualified(&self, _: &str, _: &Qualifier) -> Result<Deployment> {
        Err(no())
    }
    async fn delete(&self, _: &str) -> Result<()> {
        Err(no())
    }
    async fn publish(&self, _: &str, _: &PublishRequest) -> Result<Version> {
        Err(no())
    }
    async fn list_versions(&self, _: &str) -> Result<Vec<Version>> {
        Err(no())
    }
    async fn delete_version(&self, _: &str, _: &str) -> Result<()> {
        Err(no())
    }
    async fn set_label(&self, _: &str, _: &str, _: &Routing) -> Result<Label> {
        Err(no())
    }
    async fn get_label(&self, _: &str, _: &str) -> Result<Label> {
        Err(no())
    }
    async fn list_labels(&self, _: &str) -> Result<Vec<Label>> {
        Err(no())
    }
    async fn delete_label(&self, _: &str, _: &str) -> Result<()> {
        Err(no())
    }
    async fn invoke(&self, _: &str, _: &Qualifier, _: &InvokeRequest) -> Result<Invocation> {
        Err(no())
    }
    async fn logs(&self, query: &LogQuery) -> Result<LogPage> {
        *self.polls.lock().unwrap() += 1;
        let from: usize = query.cursor.as_deref().map_or(0, |c| c.parse().unwrap());
        let all = self.records.lock().unwrap();
        Ok(LogPage {
            records: all[from..].to_vec(),
            cursor: Some(all.len().to_string()),
        })
    }
}

fn record(n: u64) -> LogRecord {
    LogRecord {
        time_ms: n,
        request_id: Some(format!("r{n}")),
        version: None,
        level: None,
        message: format!("line {n}"),
    }
}

#[tokio::test(start_paused = true)]
async fn follows_once_per_interval_in_order_and_stops_when_told() {
    let feed = Arc::new(Feed::default());
    feed.records.lock().unwrap().push(record(0));
    let producer = {
        let feed = feed.clone();
        tokio::spawn(async move {
            // At 28, 53, 78, 103 and 128 s: never on a poll's instant.
            tokio::time::sleep(Duration::from_secs(3)).await;
            for n in 1..=5 {
                tokio::time::sleep(Duration::from_secs(25)).await;
                feed.records.lock().unwrap().push(record(n));
            }
        })
    };
    let started = tokio::time::Instant::now();
    let mut seen = Vec::new();
    let mut sink = |r: LogRecord| {
        seen.push((r.message, started.elapsed()));
        if seen.len() == 6 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let query = LogQuery::new("f", TimeWindow::last(Duration::from_secs(60)));
    feed.follow_logs(&query, Duration::from_secs(10), &mut sink)
        .await
        .unwrap();
    producer.await.unwrap();
    let lines: Vec<&str> = seen.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(lines, ["line 0", "line 1", "line 2", "line 3", "line 4", "line 5"]);
    // Record n appears at 3 + 25·n s and is seen at the next poll (every 10 s).
    let at: Vec<u64> = seen.iter().map(|(_, t)| t.as_secs()).collect();
    assert_eq!(at, [0, 30, 60, 80, 110, 130]);
    assert_eq!(
        *feed.polls.lock().unwrap(),
        14,
        "one poll at 0 s and one every 10 s to 130 s"
    );
}
