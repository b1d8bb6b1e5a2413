//! What comes out about one model: the [`ModelSnapshot`] that the screen and
//! `check` show, and the records it is made of (last failure, drift,
//! percentiles, trend points).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::FailureClass;

use super::Status;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastFailure {
    pub at: DateTime<Utc>,
    pub class: FailureClass,
    pub http_status: Option<u16>,
    pub message: String,
}

/// The served model (or fingerprint) changed: pinned versions vanish, and this
/// is how you notice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    pub at: DateTime<Utc>,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: Duration,
    pub p95: Duration,
    /// How many values they are taken over.
    pub samples: u32,
}

/// How the last successful reply came: its first token of any kind (a
/// thinking model's reasoning), its first content token, and the tokens it
/// spent thinking. What the detail view shows beside the percentiles.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ReplyTiming {
    pub first_token: Option<Duration>,
    pub first_content: Option<Duration>,
    /// Of `completion_tokens`, those spent reasoning, when reported.
    pub reasoning_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
}

/// One point of a model's trend: a success's latency, or a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrendPoint {
    Ok(u32),
    Failed,
}

/// A model re-admitted after an outage while its window still holds the
/// outage: its verdict rests on the samples since re-admission, not on the
/// window's ratio. `recovering` until `counted` reaches `needed`, then
/// `healthy` (or `degraded`) until the outage leaves the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Recovery {
    /// The start of the success streak that re-admitted it.
    pub since: DateTime<Utc>,
    /// Counted samples since then, and the successes among them (all of
    /// them: a counted failure ends the recovery).
    pub ok: u32,
    pub counted: u32,
    /// Counted samples since re-admission that make it healthy again
    /// (`recover_after` × 2).
    pub needed: u32,
    /// When the last counted failure leaves the window: by then the window
    /// alone is clean.
    pub outage_leaves_at: Option<DateTime<Utc>>,
}

impl Recovery {
    /// Enough samples since re-admission: healthy again, although the
    /// window still holds the outage.
    pub fn is_complete(&self) -> bool {
        self.counted >= self.needed
    }
}

/// Everything the screen and `check` show about one model at `now`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSnapshot {
    pub name: String,
    pub id: String,
    /// The configured endpoint's name ("openrouter", "litellm"); empty when
    /// the book was not told.
    pub endpoint: String,
    pub status: Status,
    /// Why, in words: "9/15 ok; last: 502 provider unavailable".
    pub reason: String,
    /// ok / counted over the window; `None` without counted samples.
    pub ratio: Option<f64>,
    pub ok: u32,
    pub counted: u32,
    /// All samples in the window, counted or not (429s, config errors).
    pub samples: u32,
    /// Set while the verdict rests on the samples since a re-admission
    /// rather than on the window (`recovering`, or recovered while the
    /// window still holds the outage).
    pub recovery: Option<Recovery>,
    pub lifetime_ratio: Option<f64>,
    pub lifetime_ok: u64,
    pub lifetime_counted: u64,
    pub last_failure: Option<LastFailure>,
    pub last_success: Option<DateTime<Utc>>,
    pub latency: Option<Percentiles>,
    pub ttft: Option<Percentiles>,
    pub tokens_per_s: Option<f64>,
    pub served_model: Option<String>,
    pub served_by: Option<String>,
    pub drift: Option<Drift>,
    pub served_history: Vec<Drift>,
    pub rate_limited_until: Option<DateTime<Utc>>,
    /// Failures in the window by class, most frequent first.
    pub failures_by_class: Vec<(FailureClass, u32)>,
    pub trend: Vec<TrendPoint>,
    pub last_reply: Option<String>,
    /// The last success's first token, first content and reasoning tokens.
    pub last_timing: Option<ReplyTiming>,
}

impl ModelSnapshot {
    /// The provider as the screen and `check` name it: the part of the id
    /// before `/` (the article's rule), else the endpoint's name (LiteLLM,
    /// local servers and Anthropic's own ids have no `/`).
    pub fn provider(&self) -> &str {
        super::provider::provider_name(&self.id, &self.endpoint)
    }
}
