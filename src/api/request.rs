//! What a request is made of: the messages, where it goes, and how long
//! each part of it may take. Plain data; the client sends it.

use std::time::Duration;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Dialect, Secret};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            role: role.into(),
            content: content.into(),
        }
    }
    pub fn system(content: impl Into<String>) -> Self {
        Message::new("system", content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Message::new("user", content)
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Message::new("assistant", content)
    }
}

#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    pub max_tokens: u32,
    pub stream: bool,
    /// Content check: a reply that does not match is `wrong_answer`.
    pub expect: Option<Regex>,
}

/// Where and how to send a request.
#[derive(Debug, Clone)]
pub struct Target {
    /// e.g. `https://openrouter.ai/api/v1`; the dialect's path is appended.
    pub base_url: String,
    pub dialect: Dialect,
    /// `None`: no auth header.
    pub api_key: Option<Secret>,
    pub model_id: String,
    /// Merged into the request body (per-model config `extra`).
    pub extra: serde_json::Map<String, Value>,
    /// Non-empty: OpenRouter's server-side fallback, sent as
    /// `models: [model_id, ..fallback_models]` (OpenAI dialect only).
    pub fallback_models: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// Informational here: the connect timeout is fixed when the [`Client`]
    /// is built (`Client::new`), since reqwest sets it per client.
    pub connect: Duration,
    /// From the start to the first content token (streams), or to the
    /// response headers (non-streamed requests, whose first token is
    /// invisible). Comments and role-only deltas do not count.
    pub first_token: Duration,
    /// From the start to the end of the reply.
    pub total: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            connect: Duration::from_secs(10),
            first_token: Duration::from_secs(10),
            total: Duration::from_secs(30),
        }
    }
}
