//! `ask --json`: one document, the answer (or the failure) and every attempt.

use serde::Serialize;

use crate::api::{FailureClass, Usage};
use crate::health::Status;
use crate::route::{AttemptRecord, AttemptRole, RouteAnswer, RouteFailure, Skip};

use super::{ms, SCHEMA_VERSION};

/// How an `ask` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AskOutcome {
    /// A model answered.
    Answered,
    /// The provider's content policy refused the prompt: that is the
    /// answer (exit 1); `refusal` says who and why.
    Refused,
    /// Every model failed, or the answer broke off.
    Failed,
}

/// What `ask --json` prints: `ok` (and `outcome`) tell the shapes apart.
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
    /// Always `answered` here.
    pub outcome: AskOutcome,
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
    /// `refused` or `failed`.
    pub outcome: AskOutcome,
    pub error: String,
    /// The refusal that is the outcome: the model and the provider's reason
    /// (masked, one line); `null` unless `outcome` is `refused`.
    pub refusal: Option<RefusalReport>,
    pub last_resort: bool,
    pub skipped: Vec<SkipReport>,
    pub attempts: Vec<AttemptReport>,
}

/// Who refused the prompt, and the provider's words for why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefusalReport {
    pub model: String,
    pub reason: String,
    pub http_status: Option<u16>,
}

/// A model passed over before the answer, and why.
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
    /// A half-open trial still running when the answer came: it runs on,
    /// and is saved to the state file when it ends.
    Running,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptReport {
    pub model: String,
    pub outcome: AttemptOutcome,
    /// Started beside a model that was slow to its first token.
    pub hedged: bool,
    /// Why it was made: `planned`, `hedge`, `retry`, `trial` or `restart`.
    pub role: AttemptRole,
    /// It failed after its first content token: the answer in progress
    /// broke off (and, buffered, restarted on the next model).
    pub broke_off: bool,
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
                outcome: AskOutcome::Answered,
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
                outcome: if f.refusal().is_some() {
                    AskOutcome::Refused
                } else {
                    AskOutcome::Failed
                },
                error: f.to_string(),
                refusal: f.refusal().map(|r| RefusalReport {
                    model: r.model.clone(),
                    reason: r
                        .attempt
                        .failure
                        .as_ref()
                        .map(|f| f.message.clone())
                        .unwrap_or_default(),
                    http_status: r.attempt.http_status,
                }),
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
        let outcome = if r.running {
            AttemptOutcome::Running
        } else if r.cancelled {
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
            role: r.role,
            broke_off: r.broke_off(),
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
