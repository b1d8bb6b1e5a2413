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

/// One point of a model's trend: a success's latency, or a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrendPoint {
    Ok(u32),
    Failed,
}

/// Everything the screen and `check` show about one model at `now`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSnapshot {
    pub name: String,
    pub id: String,
    pub status: Status,
    /// Why, in words: "9/15 ok; last: 502 provider unavailable".
    pub reason: String,
    /// ok / counted over the window; `None` without counted samples.
    pub ratio: Option<f64>,
    pub ok: u32,
    pub counted: u32,
    /// All samples in the window, counted or not (429s, config errors).
    pub samples: u32,
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
}
