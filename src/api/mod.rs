//! Talking to models: the OpenAI-compatible and Anthropic dialects, SSE
//! framing, and turning every way a request can go wrong into one
//! [`FailureClass`].
//!
//! The rooms: `request` (what a request is made of), `client` (the pool and
//! `send`), `send` and `stream` (the transport, within deadlines and the
//! cap), `reply` (folding what the reply said into an [`Attempt`]),
//! `dialect` with `openai` and `anthropic` (all that differs on the wire),
//! `classify` (errors and statuses to a class), `mask` (keys out of
//! everything shown), `sse` and `piece` (framing and parsed fragments).

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod anthropic;
pub mod classify;
#[cfg(test)]
mod classify_tests;
mod client;
mod dialect;
mod mask;
mod openai;
mod openrouter;
mod piece;
#[cfg(test)]
mod props;
mod reply;
mod request;
mod send;
pub mod sse;
mod stream;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod thinking_tests;

pub use client::{Client, DEFAULT_REPLY_CAP};
pub use dialect::Dialect;
pub use mask::{mask_secrets, short_message};
pub use openrouter::{fetch_endpoints, fetch_key, fetch_prices, FetchError};
pub use request::{
    is_openai_direct, ChatRequest, Deadlines, Message, Passthrough, TapEvent, Tapped, Target,
    TokenParam,
};

/// Every failed attempt ends in exactly one class; the class decides what the
/// health engine does with it (see DESIGN.md, "Failure classes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    Timeout,
    Connect,
    ServerError,
    ProviderError,
    Truncated,
    Malformed,
    Empty,
    WrongAnswer,
    RateLimited,
    Auth,
    Credits,
    NotFound,
    BadRequest,
    /// The reply stopped at `max_tokens` before any content: a thinking
    /// model spent every token on reasoning. The request was too small, the
    /// model is fine (see DESIGN.md, "Probing real models").
    Budget,
    /// The provider's content policy refused the prompt (a 400 or 403
    /// flagging the input, `content_policy_violation`, a reply that ended
    /// with `finish_reason: "content_filter"`): the answer to this prompt,
    /// not an outage and not a misconfiguration.
    Refused,
}

impl FailureClass {
    pub const ALL: [FailureClass; 15] = [
        FailureClass::Timeout,
        FailureClass::Connect,
        FailureClass::ServerError,
        FailureClass::ProviderError,
        FailureClass::Truncated,
        FailureClass::Malformed,
        FailureClass::Empty,
        FailureClass::WrongAnswer,
        FailureClass::RateLimited,
        FailureClass::Auth,
        FailureClass::Credits,
        FailureClass::NotFound,
        FailureClass::BadRequest,
        FailureClass::Budget,
        FailureClass::Refused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Timeout => "timeout",
            FailureClass::Connect => "connect",
            FailureClass::ServerError => "server_error",
            FailureClass::ProviderError => "provider_error",
            FailureClass::Truncated => "truncated",
            FailureClass::Malformed => "malformed",
            FailureClass::Empty => "empty",
            FailureClass::WrongAnswer => "wrong_answer",
            FailureClass::RateLimited => "rate_limited",
            FailureClass::Auth => "auth",
            FailureClass::Credits => "credits",
            FailureClass::NotFound => "not_found",
            FailureClass::BadRequest => "bad_request",
            FailureClass::Budget => "budget",
            FailureClass::Refused => "refused",
        }
    }

    /// Outages count against the success ratio; rate limits, refusals and
    /// misconfiguration do not (OpenRouter's uptime figures leave 429s out too).
    pub fn counts_against_ratio(self) -> bool {
        !matches!(self, FailureClass::RateLimited | FailureClass::Refused)
            && !self.is_misconfiguration()
    }

    /// The caller, not the provider, is at fault: fix the config or the key.
    pub fn is_misconfiguration(self) -> bool {
        matches!(
            self,
            FailureClass::Auth
                | FailureClass::Credits
                | FailureClass::NotFound
                | FailureClass::BadRequest
                | FailureClass::Budget
        )
    }

    /// Failures that say the request was wrong for the model, not that the
    /// model's configuration is: a user's prompt rejected as a bad request,
    /// or too small for a thinking model, misconfigures nothing.
    pub fn blames_the_request(self) -> bool {
        matches!(
            self,
            FailureClass::BadRequest | FailureClass::Budget | FailureClass::Refused
        )
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An API key. Never printed: `Debug` and `Display` show a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(key: impl Into<String>) -> Self {
        Secret(key.into())
    }
    /// The key itself, for the request header and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Token counts and cost as the provider reported them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    /// Every output token, reasoning included (it is billed as output).
    pub completion_tokens: u64,
    /// USD, when the provider reports it (OpenRouter's `usage.cost`).
    pub cost: Option<f64>,
    /// Of `completion_tokens`, those spent thinking, when the provider says
    /// (`completion_tokens_details.reasoning_tokens`). Already inside
    /// `completion_tokens`: never add the two.
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub class: FailureClass,
    /// The provider's (or our) message: cut short, anything key-like masked.
    pub message: String,
    /// Seconds the provider asked us to wait (429/503 `Retry-After`).
    #[serde(default, with = "opt_secs")]
    pub retry_after: Option<Duration>,
}

impl Failure {
    /// A failure without a `Retry-After`.
    pub(crate) fn new(class: FailureClass, message: impl Into<String>) -> Failure {
        Failure {
            class,
            message: message.into(),
            retry_after: None,
        }
    }
}

/// One request to one model, start to end. Success is `failure == None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub started_at: DateTime<Utc>,
    pub failure: Option<Failure>,
    pub http_status: Option<u16>,
    /// Start of the request to the last byte (or to the failure).
    pub latency: Duration,
    /// Start of the request to the first token of any kind: reasoning
    /// counts, as proof that the model is alive and working.
    pub ttft: Option<Duration>,
    /// Start of the request to the first content token: when the answer
    /// itself began. Equal to `ttft` for a model that does not think aloud.
    #[serde(default)]
    pub ttfc: Option<Duration>,
    pub tokens_per_s: Option<f64>,
    /// The `model` the response says served the request.
    pub served_model: Option<String>,
    /// OpenRouter's upstream `provider`, when the response names one.
    pub served_by: Option<String>,
    /// OpenAI's `system_fingerprint`, when present.
    pub fingerprint: Option<String>,
    pub usage: Option<Usage>,
    /// The reply text, capped.
    pub reply: String,
    pub finish_reason: Option<String>,
}

impl Attempt {
    /// An attempt with nothing known yet but when it started and how long it
    /// took: a success until a `failure` is set.
    pub fn blank(started_at: DateTime<Utc>, latency: Duration) -> Attempt {
        Attempt {
            started_at,
            failure: None,
            http_status: None,
            latency,
            ttft: None,
            ttfc: None,
            tokens_per_s: None,
            served_model: None,
            served_by: None,
            fingerprint: None,
            usage: None,
            reply: String::new(),
            finish_reason: None,
        }
    }

    pub fn is_ok(&self) -> bool {
        self.failure.is_none()
    }
    pub fn class(&self) -> Option<FailureClass> {
        self.failure.as_ref().map(|f| f.class)
    }
}

/// Durations as fractional seconds in JSON, `null` when absent.
pub(crate) mod opt_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let secs: Option<f64> = Option::deserialize(d)?;
        Ok(secs
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64))
    }
}
