//! What a routed prompt reports: the events as they happen, and the answer
//! or the failure at the end, with every attempt made.

use std::time::Duration;

use serde::Serialize;

use super::Skip;
use crate::api::{Attempt, FailureClass, Usage};
use crate::config::Tier;

/// One attempt the router made.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptRecord {
    pub model: String,
    /// Started alongside a model that was slow to its first token.
    pub hedged: bool,
    /// Lost a hedge race (or the user cancelled): closed, not failed.
    pub cancelled: bool,
    pub attempt: Attempt,
    /// Why this attempt was made.
    pub role: AttemptRole,
    /// A half-open trial still running when the answer came: it runs on to
    /// its end (the [`HealthView`](super::HealthView) adopts it) and is
    /// recorded then; `attempt` is blank here.
    pub running: bool,
}

impl AttemptRecord {
    /// A finished or cancelled attempt made for `role`.
    pub fn new(model: impl Into<String>, role: AttemptRole, attempt: Attempt) -> AttemptRecord {
        AttemptRecord {
            model: model.into(),
            hedged: role == AttemptRole::Hedge,
            cancelled: false,
            attempt,
            role,
            running: false,
        }
    }

    /// It failed (was neither cancelled nor still running) after its first
    /// content token: the answer in progress broke off.
    pub fn broke_off(&self) -> bool {
        !self.cancelled && !self.running && !self.attempt.is_ok() && self.attempt.ttfc.is_some()
    }
}

/// Why the router made an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptRole {
    /// The model's turn in the plan's order.
    #[default]
    Planned,
    /// Started beside a model that was slow to its first token.
    Hedge,
    /// The same model once more: after a single 5xx or a reset (raced with
    /// the next model), or after waiting out a short `Retry-After`.
    Retry,
    /// A half-open trial of an unhealthy model, raced with the next model;
    /// it runs to its end even when the other wins.
    Trial,
    /// The prompt started again on this model after the answer in progress
    /// broke off before anything of it was shown (buffered routes).
    Restart,
}

impl AttemptRole {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptRole::Planned => "planned",
            AttemptRole::Hedge => "hedge",
            AttemptRole::Retry => "retry",
            AttemptRole::Trial => "trial",
            AttemptRole::Restart => "restart",
        }
    }
}

/// What happened, as it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteEvent {
    /// The order the router will try, and what it skipped.
    Plan {
        order: Vec<String>,
        skipped: Vec<Skip>,
        /// Nothing was eligible: every model is tried anyway.
        last_resort: bool,
    },
    /// A whole tier failed; moving up.
    Escalate {
        from: Tier,
        to: Tier,
    },
    Trying {
        model: String,
        hedge: bool,
    },
    FirstToken {
        model: String,
        ttft: Duration,
    },
    Delta {
        model: String,
        text: String,
    },
    Failed {
        model: String,
        class: FailureClass,
        message: String,
        after_first_token: bool,
    },
    /// Closed on purpose: lost a hedge race, or the user cancelled.
    Cancelled {
        model: String,
        reason: String,
    },
    /// The same model is asked again: at once, raced with the next model
    /// (`wait` zero, after a single 5xx or a reset), or once a short
    /// `Retry-After` has passed.
    Retrying {
        model: String,
        wait: Duration,
        reason: String,
    },
    /// An unhealthy model's half-open period has passed: it is tried beside
    /// the next model, and runs to its end whoever wins.
    Trial {
        model: String,
        reason: String,
    },
    /// The answer in progress broke off before any of it was shown (a
    /// buffered route): nothing is stitched, the prompt starts again
    /// cleanly on the next model.
    Restarting {
        model: String,
        reason: String,
    },
}

/// A prompt that was answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteAnswer {
    /// The model (config name) that answered.
    pub model: String,
    pub model_id: String,
    /// What the provider says it served, and through which upstream.
    pub served_model: Option<String>,
    pub served_by: Option<String>,
    pub ttft: Option<Duration>,
    pub total: Duration,
    pub usage: Option<Usage>,
    /// USD: the provider's figure, else tokens × price when prices are known.
    pub cost: Option<f64>,
    pub text: String,
    pub attempts: Vec<AttemptRecord>,
    pub skipped: Vec<Skip>,
    pub last_resort: bool,
}

/// Every attempt failed (or nothing could be tried), or the provider's
/// content policy refused the prompt ([`RouteFailure::refusal`]).
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{}", failure_summary(self))]
pub struct RouteFailure {
    pub attempts: Vec<AttemptRecord>,
    pub skipped: Vec<Skip>,
    pub last_resort: bool,
}

impl RouteFailure {
    /// The attempt whose refusal ended the route: the provider's content
    /// policy refused the prompt, and that is the answer's outcome (not
    /// routed around unless `route.reroute_refusals`).
    pub fn refusal(&self) -> Option<&AttemptRecord> {
        self.attempts
            .iter()
            .rev()
            .find(|r| !r.cancelled && !r.running && r.attempt.failure.is_some())
            .filter(|r| r.attempt.class() == Some(FailureClass::Refused))
    }
}

fn failure_summary(failure: &RouteFailure) -> String {
    if let Some(r) = failure.refusal() {
        let why = r
            .attempt
            .failure
            .as_ref()
            .map(|f| f.message.as_str())
            .filter(|m| !m.is_empty())
            .unwrap_or("no reason given");
        return format!("{} refused the prompt: {why}", r.model);
    }
    if failure.attempts.is_empty() {
        return match failure.skipped.first() {
            Some(skip) if failure.skipped.len() == 1 => {
                format!("no model to try: {} {}", skip.model, skip.reason)
            }
            _ => "no model to try".to_string(),
        };
    }
    let tried: Vec<String> = failure
        .attempts
        .iter()
        .filter(|r| !r.running)
        .map(|r| match &r.attempt.failure {
            _ if r.cancelled => format!("{}: cancelled", r.model),
            Some(f) if f.message.is_empty() => format!("{}: {}", r.model, f.class),
            Some(f) => format!("{}: {} ({})", r.model, f.class, f.message),
            None => format!("{}: ok", r.model),
        })
        .collect();
    // The last attempt decides: a break that a clean restart followed is
    // not why the route failed.
    let after_first_token = failure
        .attempts
        .iter()
        .rev()
        .find(|r| !r.cancelled && !r.running)
        .is_some_and(AttemptRecord::broke_off);
    let head = if after_first_token {
        "the answer broke off after it had started"
    } else {
        "every model failed"
    };
    format!("{head} — {}", tried.join("; "))
}
