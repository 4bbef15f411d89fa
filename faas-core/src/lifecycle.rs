//! Runtime lifecycles as data: when each cloud deprecated a runtime, when it stopped letting
//! functions be created with it and when it stopped letting them be updated, and what to
//! move to — one JSON file per cloud in `faas-core/runtimes/`, every row with its source.
//!
//! [`Provider::plan`](crate::Provider::plan) consults the table of the provider's cloud
//! (the local provider uses Lambda's): a runtime past its *block update* date is refused
//! before any request, one past its *block create* date is refused when the plan would
//! create the function, and a deprecated one deploys with a warning in the plan
//! ([`Plan::warnings`](crate::Plan::warnings)). The local provider only warns: it runs
//! whatever runtime it has an interpreter for, so old pipeline files still run offline.
//!
//! ```
//! use faas_core::lifecycle::{RuntimeTable, Verdict};
//! let aws = RuntimeTable::aws();
//! // Lambda blocked creating python3.7 functions in 2024 and blocks updating them in 2027.
//! assert!(matches!(aws.verdict("python3.7", "2026-12-01", true), Verdict::Blocked { create_only: true, .. }));
//! assert!(matches!(aws.verdict("python3.7", "2026-12-01", false), Verdict::Deprecated { .. }));
//! assert!(matches!(aws.verdict("python2.7", "2026-12-01", false), Verdict::Blocked { create_only: false, .. }));
//! assert_eq!(aws.verdict("cobol85", "2026-12-01", true), Verdict::Unlisted);
//! ```

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::cost::is_date;
use crate::{Error, Result};

const AWS: &str = include_str!("../runtimes/aws-lambda.json");
const GCP: &str = include_str!("../runtimes/gcp-cloud-functions.json");
const AZURE: &str = include_str!("../runtimes/azure-functions.json");

/// One cloud's table, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeTable {
    /// The file's schema version (1).
    pub schema_version: u32,
    /// `aws`, `gcp` or `azure`.
    pub cloud: String,
    /// The day the table was read.
    pub as_of: String,
    /// The pages it was read from.
    pub sources: Vec<String>,
    /// The runtimes.
    pub runtimes: Vec<RuntimeLifecycle>,
}

/// One runtime's dates (`YYYY-MM-DD`; `None`: none announced).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeLifecycle {
    /// The cloud's identifier (`python3.9`, `nodejs20`, `python:3.11`).
    pub id: String,
    /// The language.
    pub language: String,
    /// The runtime to move to.
    pub successor: Option<String>,
    /// Deprecated (end of support) from this day.
    pub deprecated: Option<String>,
    /// No new functions from this day.
    pub block_create: Option<String>,
    /// No updates from this day.
    pub block_update: Option<String>,
    /// Where the row was read.
    pub source: String,
    /// What the source says beyond the dates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What the table says about deploying a runtime on a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Supported.
    Supported,
    /// Not in the table: the provider's own checks decide.
    Unlisted,
    /// Deprecated since `since`: it deploys, with a warning.
    Deprecated {
        /// The row.
        runtime: RuntimeLifecycle,
    },
    /// Refused since `since` (for new functions only, when `create_only`).
    Blocked {
        /// The row.
        runtime: RuntimeLifecycle,
        /// The day the block began.
        since: String,
        /// Only creating is blocked (updates still work).
        create_only: bool,
    },
}

impl RuntimeTable {
    /// Lambda's table (also the local provider's).
    pub fn aws() -> &'static RuntimeTable {
        static T: OnceLock<RuntimeTable> = OnceLock::new();
        T.get_or_init(|| shipped(AWS))
    }

    /// Cloud Run functions' (Cloud Functions 2nd gen) table.
    pub fn gcp() -> &'static RuntimeTable {
        static T: OnceLock<RuntimeTable> = OnceLock::new();
        T.get_or_init(|| shipped(GCP))
    }

    /// Azure Functions' (4.x language stacks) table.
    pub fn azure() -> &'static RuntimeTable {
        static T: OnceLock<RuntimeTable> = OnceLock::new();
        T.get_or_init(|| shipped(AZURE))
    }

    /// Reads and checks a table (dates `YYYY-MM-DD`, block dates not before deprecation,
    /// successors that are rows of the table).
    pub fn from_json(name: &str, text: &str) -> Result<RuntimeTable> {
        let table: RuntimeTable = serde_json::from_str(text)
            .map_err(|e| Error::invalid(name, format!("line {} column {}", e.line(), e.column()), e.to_string()))?;
        if table.schema_version != 1 {
            return Err(Error::invalid(
                format!("{name}: schema_version"),
                table.schema_version,
                "this library reads schema 1",
            ));
        }
        for r in &table.runtimes {
            for (field, date) in [
                ("deprecated", &r.deprecated),
                ("block_create", &r.block_create),
                ("block_update", &r.block_update),
            ] {
                if let Some(d) = date
                    && !is_date(d)
                {
                    return Err(Error::invalid(
                        format!("{name}: {}.{field}", r.id),
                        d,
                        "expected YYYY-MM-DD",
                    ));
                }
            }
            if let Some(s) = &r.successor
                && !table.runtimes.iter().any(|o| &o.id == s)
            {
                return Err(Error::invalid(
                    format!("{name}: {}.successor", r.id),
                    s,
                    "the successor must be a runtime of the table",
                ));
            }
        }
        Ok(table)
    }

    /// The row of `id`.
    pub fn get(&self, id: &str) -> Option<&RuntimeLifecycle> {
        self.runtimes.iter().find(|r| r.id == id)
    }

    /// What the table says about `id` on `today` (`YYYY-MM-DD`), for a function that
    /// would be created (`creating`) or updated.
    pub fn verdict(&self, id: &str, today: &str, creating: bool) -> Verdict {
        let Some(r) = self.get(id) else {
            return Verdict::Unlisted;
        };
        let passed = |d: &Option<String>| d.as_deref().is_some_and(|d| d <= today);
        let blocked = |since: &Option<String>, create_only| Verdict::Blocked {
            runtime: r.clone(),
            since: since.clone().unwrap_or_default(),
            create_only,
        };
        if passed(&r.block_update) {
            return blocked(&r.block_update, false);
        }
        if creating && passed(&r.block_create) {
            return blocked(&r.block_create, true);
        }
        if passed(&r.deprecated) || passed(&r.block_create) {
            return Verdict::Deprecated { runtime: r.clone() };
        }
        Verdict::Supported
    }

    /// The table of `provider` (`local`, `aws`, `gcp`, `azure`), and the runtime's id in it.
    pub(crate) fn of_provider(
        provider: &str,
        runtime: &faas_package::Runtime,
    ) -> Option<(&'static RuntimeTable, String)> {
        match provider {
            "local" | "aws" => Some((RuntimeTable::aws(), runtime.lambda_name())),
            "gcp" => Some((RuntimeTable::gcp(), runtime.gcp_name()?)),
            "azure" => {
                let stack = match runtime.family() {
                    faas_package::RuntimeFamily::Python => "python",
                    faas_package::RuntimeFamily::Node => "node",
                    _ => return None,
                };
                Some((RuntimeTable::azure(), format!("{stack}:{}", runtime.version()?)))
            }
            _ => None,
        }
    }
}

impl Verdict {
    /// A sentence for errors and warnings: what the cloud did when, and what to move to.
    pub fn explain(&self, cloud: &str) -> String {
        let successor = |r: &RuntimeLifecycle| {
            r.successor
                .as_ref()
                .map_or_else(|| "no successor is listed".to_string(), |s| format!("move to {s}"))
        };
        match self {
            Verdict::Supported | Verdict::Unlisted => String::new(),
            Verdict::Deprecated { runtime } => format!(
                "{cloud} deprecated {} on {}{}; {} (source: {})",
                runtime.id,
                runtime
                    .deprecated
                    .as_deref()
                    .or(runtime.block_create.as_deref())
                    .unwrap_or("?"),
                runtime
                    .block_update
                    .as_ref()
                    .map_or(String::new(), |d| format!(" and blocks updates from {d}")),
                successor(runtime),
                runtime.source
            ),
            Verdict::Blocked {
                runtime,
                since,
                create_only,
            } => format!(
                "{cloud} blocks {} with {} since {since}; {} (source: {})",
                if *create_only {
                    "creating functions"
                } else {
                    "creating and updating functions"
                },
                runtime.id,
                successor(runtime),
                runtime.source
            ),
        }
    }
}

/// The shipped tables are checked by a test; a broken one is a build defect.
fn shipped(text: &str) -> RuntimeTable {
    #[allow(clippy::expect_used)]
    RuntimeTable::from_json("shipped runtime table", text).expect("the shipped runtime tables are valid (tested)")
}

/// Today in UTC as `YYYY-MM-DD`.
pub fn today() -> String {
    civil(crate::observe::now_ms() / 86_400_000)
}

fn civil(days: u64) -> String {
    let (y, m, d) = crate::observe::civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_shipped_tables_are_valid() {
        for (name, text) in [("aws", AWS), ("gcp", GCP), ("azure", AZURE)] {
            let t = RuntimeTable::from_json(name, text).unwrap();
            assert_eq!(t.cloud, name);
            assert!(!t.runtimes.is_empty());
        }
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), "1970-01-01");
        assert_eq!(civil(20_423), "2025-12-01");
        assert_eq!(civil(19_782), "2024-02-29");
        assert!(is_date(&today()));
    }

    #[test]
    fn verdicts_follow_the_dates() {
        let t = RuntimeTable::from_json(
            "t",
            r#"{"schema_version":1,"cloud":"aws","as_of":"2026-12-01","sources":[],"runtimes":[
              {"id":"old","language":"x","successor":"new","deprecated":"2025-01-01","block_create":"2025-02-01","block_update":"2025-03-01","source":"s"},
              {"id":"new","language":"x","successor":null,"deprecated":null,"block_create":null,"block_update":null,"source":"s"}]}"#,
        )
        .unwrap();
        assert_eq!(t.verdict("new", "2030-01-01", true), Verdict::Supported);
        assert!(matches!(t.verdict("old", "2024-12-31", true), Verdict::Supported));
        assert!(matches!(
            t.verdict("old", "2025-01-15", true),
            Verdict::Deprecated { .. }
        ));
        assert!(matches!(
            t.verdict("old", "2025-02-15", false),
            Verdict::Deprecated { .. }
        ));
        let v = t.verdict("old", "2025-02-15", true);
        assert!(
            matches!(&v, Verdict::Blocked { create_only: true, since, .. } if since == "2025-02-01"),
            "{v:?}"
        );
        assert!(v.explain("Lambda").contains("move to new"));
        assert!(matches!(
            t.verdict("old", "2025-03-01", false),
            Verdict::Blocked { create_only: false, .. }
        ));
        let bad = r#"{"schema_version":1,"cloud":"aws","as_of":"x","sources":[],"runtimes":[{"id":"a","language":"x","successor":"zz","deprecated":null,"block_create":null,"block_update":null,"source":"s"}]}"#;
        assert!(RuntimeTable::from_json("t", bad).is_err());
    }
}
