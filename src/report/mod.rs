//! One way to report: the JSON documents the commands print (`check --json`,
//! `ask --json`, each line of `watch --json`) and `serve` answers with
//! (`/api/v1/health`, `/api/v1/events`, `/api/v1/snapshot`) as typed
//! structs, and the plain-text printer that lays out their tables and lines.
//!
//! Every document carries [`SCHEMA_VERSION`]; every duration is an integer
//! of milliseconds under a key ending in `_ms`; timestamps are RFC 3339 in
//! UTC. The fields are documented once, in `docs/json.md`: a field added
//! here is added there.

pub mod ask;
pub mod check;
pub mod snapshot;
pub mod text;
pub mod watch;

#[cfg(test)]
mod tests;

use std::time::Duration;

use serde_json::Value;

pub use ask::{AskOutcome, AskReport, AttemptOutcome, AttemptReport, RefusalReport, SkipReport};
pub use check::{CheckReport, FailureReport, ModelReport, Spread};
pub use snapshot::SnapshotReport;
pub use watch::{WatchEvent, WatchLine};

/// The version of every document's shape. Raise it when a field changes
/// meaning or goes away; adding a field does not need it.
pub const SCHEMA_VERSION: u32 = 1;

/// What in `doc` breaks the rules every document keeps (empty when none):
/// `schema_version` at the top, no key ending in `_s`, and under every key
/// ending in `_ms` an integer of milliseconds (or `null`, or an object of
/// them, as `latency_ms: {p50, p95}`). The tests of every command that
/// prints JSON ask this of what it printed.
pub fn rule_breaks(doc: &Value) -> Vec<String> {
    let mut breaks = Vec::new();
    if doc.get("schema_version").and_then(Value::as_u64) != Some(u64::from(SCHEMA_VERSION)) {
        breaks.push(format!("schema_version is not {SCHEMA_VERSION}"));
    }
    walk(doc, "", &mut breaks);
    breaks
}

fn walk(v: &Value, path: &str, breaks: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (key, value) in map {
                let here = format!("{path}/{key}");
                if let Some(stem) = key.strip_suffix("_s") {
                    breaks.push(format!("{here}: seconds; the documents say {stem}_ms"));
                }
                if key.ends_with("_ms") && !is_ms(value) {
                    breaks.push(format!("{here}: not an integer of milliseconds: {value}"));
                }
                walk(value, &here, breaks);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &format!("{path}/{i}"), breaks);
            }
        }
        _ => {}
    }
}

fn is_ms(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Number(n) => n.is_u64(),
        Value::Object(map) => map
            .values()
            .all(|v| matches!(v, Value::Number(n) if n.is_u64())),
        _ => false,
    }
}

/// A duration in whole milliseconds, the one unit of time in the documents.
pub fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Timestamps as the documents (and the event lines) write them.
pub mod stamp {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::Serializer;

    /// "2025-03-01T12:01:03Z"
    pub fn secs(at: DateTime<Utc>) -> String {
        at.to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    /// "2025-03-01T12:01:03.000Z"
    pub fn millis(at: DateTime<Utc>) -> String {
        at.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    pub(super) fn ser_secs<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&secs(*at))
    }

    pub(super) fn ser_secs_opt<S: Serializer>(
        at: &Option<DateTime<Utc>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => s.serialize_str(&secs(*at)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn ser_millis<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&millis(*at))
    }
}
