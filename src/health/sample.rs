//! What goes into the aggregator: one compact [`Sample`] per attempt (what
//! the ring holds and the state file keeps) and the [`Observation`] that
//! travels with it (status code, message, served model) but is not kept.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::{Attempt, FailureClass};

use super::ReplyTiming;

/// Where a sample came from: a probe, a real prompt (`ask`, the prompt
/// panel), or an app's request proxied by `chainwatch serve`. Real requests
/// are evidence too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleKind {
    #[default]
    Probe,
    Prompt,
    /// An app's request through `chainwatch serve`.
    Traffic,
}

impl SampleKind {
    /// A real request (a prompt or proxied traffic), not a probe: its
    /// failures that blame the request misconfigure nothing, and a status it
    /// changes moves the probe schedule.
    pub fn is_real(self) -> bool {
        !matches!(self, SampleKind::Probe)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SampleKind::Probe => "probe",
            SampleKind::Prompt => "prompt",
            SampleKind::Traffic => "traffic",
        }
    }
}

/// One outcome, compact: this is what the ring holds and the state file keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub at: DateTime<Utc>,
    /// `None` is a success.
    pub class: Option<FailureClass>,
    #[serde(default)]
    pub kind: SampleKind,
    pub latency_ms: u32,
    #[serde(default)]
    pub ttft_ms: Option<u32>,
    #[serde(default)]
    pub tokens_per_s: Option<f32>,
}

impl Sample {
    pub fn ok(at: DateTime<Utc>, latency: Duration) -> Sample {
        Sample {
            at,
            class: None,
            kind: SampleKind::Probe,
            latency_ms: millis(latency),
            ttft_ms: None,
            tokens_per_s: None,
        }
    }

    pub fn failed(at: DateTime<Utc>, class: FailureClass, latency: Duration) -> Sample {
        Sample {
            class: Some(class),
            ..Sample::ok(at, latency)
        }
    }

    pub(super) fn counts(&self) -> bool {
        self.class.is_none_or(FailureClass::counts_against_ratio)
    }
}

/// What one attempt tells the aggregator beyond the compact sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    pub http_status: Option<u16>,
    pub message: Option<String>,
    pub retry_after: Option<Duration>,
    pub served_model: Option<String>,
    pub served_by: Option<String>,
    pub fingerprint: Option<String>,
    pub reply: Option<String>,
    /// First token, first content and reasoning tokens of this reply.
    pub timing: ReplyTiming,
}

impl Observation {
    pub fn from_attempt(attempt: &Attempt) -> (Sample, Observation) {
        let sample = Sample {
            at: attempt.started_at,
            class: attempt.class(),
            kind: SampleKind::Probe,
            latency_ms: millis(attempt.latency),
            // The answer's first token: for a model that thinks aloud that is
            // its first content token, not its first reasoning token (the
            // hedge delay and the table's ttft mean when the answer starts).
            ttft_ms: attempt.ttfc.or(attempt.ttft).map(millis),
            tokens_per_s: attempt.tokens_per_s.map(|t| t as f32),
        };
        let failure = attempt.failure.as_ref();
        let observation = Observation {
            http_status: attempt.http_status,
            message: failure.map(|f| f.message.clone()),
            retry_after: failure.and_then(|f| f.retry_after),
            served_model: attempt.served_model.clone(),
            served_by: attempt.served_by.clone(),
            fingerprint: attempt.fingerprint.clone(),
            reply: (!attempt.reply.is_empty()).then(|| attempt.reply.clone()),
            timing: ReplyTiming {
                first_token: attempt.ttft,
                first_content: attempt.ttfc,
                reasoning_tokens: attempt.usage.as_ref().and_then(|u| u.reasoning_tokens),
                completion_tokens: attempt.usage.as_ref().map(|u| u.completion_tokens),
            },
        };
        (sample, observation)
    }
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}
