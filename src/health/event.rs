//! The changes worth telling the user about: a status moved, or the served
//! model drifted. One line each, as the event log and `watch` print them.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Status;

/// A change worth telling the user about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthEvent {
    pub at: DateTime<Utc>,
    pub model: String,
    #[serde(flatten)]
    pub kind: HealthEventKind,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HealthEventKind {
    State {
        from: Status,
        to: Status,
        reason: String,
    },
    Drift {
        from: String,
        to: String,
    },
}

impl fmt::Display for HealthEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            HealthEventKind::State { from, to, reason } => {
                write!(f, "{}  {from} → {to}  ({reason})", self.model)
            }
            HealthEventKind::Drift { from, to } => {
                write!(f, "{}  served model changed: {from} → {to}", self.model)
            }
        }
    }
}
