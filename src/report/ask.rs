//! `ask --json`: one document, the answer (or the failure) and every attempt.

use serde::Serialize;

use crate::api::{FailureClass, Usage};
use crate::health::Status;
use crate::route::{AttemptRecord, RouteAnswer, RouteFailure, Skip};

use super::{ms, SCHEMA_VERSION};

/// What `ask --json` prints: `ok` tells the two shapes apart.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AskReport {
    Answer(AskAnswer),
    Failure(AskFailure),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AskAnswer {
    pub schema_version: u32,
    /// Always `true` here.
    pub ok: bool,
    /// The config's name of the model that answered.
    pub model: String,
    pub model_id: String,
    pub served_model: Option<String>,
    pub served_by: Option<String>,
    pub ttft_ms: Option<u64>,
    pub total_ms: u64,
    pub usage: Option<Usage>,
    /// USD.
    pub cost: Option<f64>,
    pub text: String,
    pub last_resort: bool,
    pub skipped: Vec<SkipReport>,
    pub attempts: Vec<AttemptReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AskFailure {
    pub schema_version: u32,
    /// Always `false` here.
    pub ok: bool,
    pub error: String,
    pub last_resort: bool,
    pub skipped: Vec<SkipReport>,
    pub attempts: Vec<AttemptReport>,
}

/// A model passed over before anything was tried, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkipReport {
    pub model: String,
    pub status: Status,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Ok,
    Failed,
    /// Lost a hedge race (closed), not failed.
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptReport {
    pub model: String,
    pub outcome: AttemptOutcome,
    /// Started beside a model that was slow to its first token.
    pub hedged: bool,
    pub class: Option<FailureClass>,
    pub message: Option<String>,
    pub http_status: Option<u16>,
    pub latency_ms: u64,
    /// First token of any kind, reasoning included.
    pub ttft_ms: Option<u64>,
    /// First content token.
    pub ttfc_ms: Option<u64>,
    pub served_model: Option<String>,
    pub served_by: Option<String>,
}

impl AskReport {
    pub fn new(result: &Result<RouteAnswer, RouteFailure>) -> AskReport {
        match result {
            Ok(a) => AskReport::Answer(AskAnswer {
                schema_version: SCHEMA_VERSION,
                ok: true,
                model: a.model.clone(),
                model_id: a.model_id.clone(),
                served_model: a.served_model.clone(),
                served_by: a.served_by.clone(),
                ttft_ms: a.ttft.map(ms),
                total_ms: ms(a.total),
                usage: a.usage.clone(),
                cost: a.cost,
                text: a.text.clone(),
                last_resort: a.last_resort,
                skipped: a.skipped.iter().map(SkipReport::from).collect(),
                attempts: a.attempts.iter().map(AttemptReport::from).collect(),
            }),
            Err(f) => AskReport::Failure(AskFailure {
                schema_version: SCHEMA_VERSION,
                ok: false,
                error: f.to_string(),
                last_resort: f.last_resort,
                skipped: f.skipped.iter().map(SkipReport::from).collect(),
                attempts: f.attempts.iter().map(AttemptReport::from).collect(),
            }),
        }
    }
}

impl From<&Skip> for SkipReport {
    fn from(s: &Skip) -> SkipReport {
        SkipReport {
            model: s.model.clone(),
            status: s.status,
            reason: s.reason.clone(),
        }
    }
}

impl From<&AttemptRecord> for AttemptReport {
    fn from(r: &AttemptRecord) -> AttemptReport {
        let a = &r.attempt;
        let outcome = if r.cancelled {
            AttemptOutcome::Cancelled
        } else if a.is_ok() {
            AttemptOutcome::Ok
        } else {
            AttemptOutcome::Failed
        };
        AttemptReport {
            model: r.model.clone(),
            outcome,
            hedged: r.hedged,
            class: a.class(),
            message: a.failure.as_ref().map(|f| f.message.clone()),
            http_status: a.http_status,
            latency_ms: ms(a.latency),
            ttft_ms: a.ttft.map(ms),
            ttfc_ms: a.ttfc.map(ms),
            served_model: a.served_model.clone(),
            served_by: a.served_by.clone(),
        }
    }
}
