//! The REST resources faas-gcp sends and reads, as typed serde structs: the Cloud Functions v2
//! `Function` (and the `generateUploadUrl` exchange), the Cloud Run Admin v2 `Service` and its
//! traffic, the long-running `Operation` both APIs answer with, and what Cloud Monitoring v3
//! (`timeSeries.list`) and Cloud Logging v2 (`entries.list`) answer.
//!
//! Field names and enum values follow the APIs' discovery documents
//! (`https://cloudfunctions.googleapis.com/$discovery/rest?version=v2` and
//! `https://run.googleapis.com/$discovery/rest?version=v2`); each type names the schema it
//! follows. Only the fields this crate reads or writes are here: other fields of an answer are
//! dropped, except where a read-modify-write sends an object back (`extra`). Every field is
//! optional or defaulted, so a sparse answer still reads. Enums keep a value they do not know
//! as `Other`, since the APIs add values (`DETACHING` came after `UNKNOWN`, for one).

/// An enum of an API's string values, with `Other` for the values this crate does not know
/// yet; `as_str` and `Display` give the value as the API spells it.
macro_rules! api_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub(crate) enum $name {
            $(#[doc = concat!("`", $text, "`.")] #[serde(rename = $text)] $variant,)+
            /// A value this crate does not know (the API may add values), kept as sent.
            #[serde(untagged)]
            Other(String),
        }

        impl $name {
            /// The value as the API spells it.
            pub(crate) fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(text) => text,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

mod function;
mod logging;
mod monitoring;
mod operation;
mod service;

pub(crate) use function::{
    BuildConfig, Environment, Function, GenerateUploadUrlRequest, GenerateUploadUrlResponse, ServiceConfig, Severity,
    Source, State, StateMessage, StorageSource,
};
pub(crate) use logging::{ListLogEntriesRequest, ListLogEntriesResponse, LogEntry, LogSeverity};
pub(crate) use monitoring::{Distribution, ListTimeSeriesResponse, TimeSeries};
#[cfg(feature = "test-support")]
pub(crate) use monitoring::{Labelled, Point, Range, TimeInterval, TypedValue};
pub(crate) use operation::{Operation, Stage, StageState, Status};
pub(crate) use service::{AllocationType, Service, TrafficTarget};
