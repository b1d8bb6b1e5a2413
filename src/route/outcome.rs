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

/// Every attempt failed (or nothing could be tried).
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{}", failure_summary(self))]
pub struct RouteFailure {
    pub attempts: Vec<AttemptRecord>,
    pub skipped: Vec<Skip>,
    pub last_resort: bool,
}

fn failure_summary(failure: &RouteFailure) -> String {
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
        .map(|r| match &r.attempt.failure {
            _ if r.cancelled => format!("{}: cancelled", r.model),
            Some(f) if f.message.is_empty() => format!("{}: {}", r.model, f.class),
            Some(f) => format!("{}: {} ({})", r.model, f.class, f.message),
            None => format!("{}: ok", r.model),
        })
        .collect();
    let after_first_token = failure
        .attempts
        .iter()
        .any(|r| !r.cancelled && r.attempt.failure.is_some() && r.attempt.ttft.is_some());
    let head = if after_first_token {
        "the answer broke off after it had started"
    } else {
        "every model failed"
    };
    format!("{head} — {}", tried.join("; "))
}
