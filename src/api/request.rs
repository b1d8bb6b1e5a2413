//! What a request is made of: the messages, where it goes, and how long
//! each part of it may take. Plain data; the client sends it.

use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::mpsc::UnboundedSender;

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
    /// A client's own request sent through (`chainwatch serve`): its fields
    /// go into the body, and every event of the reply is tapped.
    pub passthrough: Option<Arc<Passthrough>>,
}

/// A client's request carried through to the model as it asked for it
/// (`chainwatch serve`). Built once per request; every attempt of a route
/// uses it.
#[derive(Debug, Clone)]
pub struct Passthrough {
    /// For OpenAI-dialect endpoints: the client's body, without `model`,
    /// `models` and `stream` (the router sets those). Its fields win over
    /// the model's `extra`, which fills what the client left out.
    pub openai: Map<String, Value>,
    /// For Anthropic endpoints: the client's body translated to the
    /// Messages API (without `model` and `stream`), or why it cannot be (a
    /// tool, an image): such an attempt fails as `bad_request` unsent.
    pub anthropic: Result<Map<String, Value>, String>,
    /// Every event of every attempt as it arrives, for relaying the
    /// winner's to the client.
    pub tap: Option<UnboundedSender<Tapped>>,
}

/// One piece of a reply as the provider sent it, keys masked.
#[derive(Debug, Clone, PartialEq)]
pub struct Tapped {
    /// Which attempt: [`Target::tap_key`] of its target.
    pub key: String,
    pub dialect: super::Dialect,
    pub event: TapEvent,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TapEvent {
    /// One stream event: its `event:` name and its `data:`.
    Event { name: Option<String>, data: String },
    /// A whole (non-streamed) reply body.
    Whole(String),
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

impl Target {
    /// Names an attempt to this target in [`Tapped::key`]: the endpoint's
    /// URL and the model id.
    pub fn tap_key(&self) -> String {
        format!("{}\n{}", self.base_url.trim_end_matches('/'), self.model_id)
    }
}

/// Which body field carries the output limit. OpenAI-compatible servers,
/// OpenRouter and Anthropic take `max_tokens`; OpenAI's own API and Azure
/// refuse it for reasoning models with a 400 that names
/// `max_completion_tokens` (api-facts.md, "Reasoning models"), which they
/// take for every model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TokenParam {
    #[default]
    MaxTokens,
    MaxCompletionTokens,
}

impl TokenParam {
    pub fn field(self) -> &'static str {
        match self {
            TokenParam::MaxTokens => "max_tokens",
            TokenParam::MaxCompletionTokens => "max_completion_tokens",
        }
    }

    pub fn from_field(name: &str) -> Option<TokenParam> {
        [TokenParam::MaxTokens, TokenParam::MaxCompletionTokens]
            .into_iter()
            .find(|p| p.field() == name)
    }

    pub fn other(self) -> TokenParam {
        match self {
            TokenParam::MaxTokens => TokenParam::MaxCompletionTokens,
            TokenParam::MaxCompletionTokens => TokenParam::MaxTokens,
        }
    }

    /// What an endpoint takes before anything was learned from it: OpenAI's
    /// own API and Azure OpenAI get `max_completion_tokens`, the rest
    /// `max_tokens`.
    pub fn for_endpoint(base_url: &str) -> TokenParam {
        if is_openai_direct(base_url) {
            TokenParam::MaxCompletionTokens
        } else {
            TokenParam::MaxTokens
        }
    }
}

/// Whether `base_url` is OpenAI's own API or Azure OpenAI: the endpoints
/// that take `reasoning_effort` and `max_completion_tokens`.
pub fn is_openai_direct(base_url: &str) -> bool {
    let rest = base_url
        .split_once("://")
        .map_or(base_url, |(_, rest)| rest);
    let host = rest
        .split(['/', ':', '?'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    host == "api.openai.com"
        || host.ends_with(".openai.azure.com")
        || host.ends_with(".cognitiveservices.azure.com")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// Informational here: the connect timeout is fixed when the [`Client`]
    /// is built (`Client::new`), since reqwest sets it per client.
    pub connect: Duration,
    /// From the start to the first token (streams), or to the response
    /// headers (non-streamed requests, whose first token is invisible).
    /// Reasoning counts: a model thinking aloud is alive. Comments and
    /// role-only deltas do not count.
    pub first_token: Duration,
    /// The longest gap allowed between two tokens once the first came
    /// (reasoning counts here too); `None`: only the total deadline.
    pub stall: Option<Duration>,
    /// From the start to the end of the reply.
    pub total: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            connect: Duration::from_secs(10),
            first_token: Duration::from_secs(10),
            stall: None,
            total: Duration::from_secs(30),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_direct_hosts() {
        for url in [
            "https://api.openai.com/v1",
            "https://my-res.openai.azure.com/openai/deployments/o3",
            "https://x.cognitiveservices.azure.com/openai",
            "HTTPS://API.OPENAI.COM:443/v1",
        ] {
            assert!(is_openai_direct(url), "{url}");
            assert_eq!(
                TokenParam::for_endpoint(url),
                TokenParam::MaxCompletionTokens
            );
        }
        for url in [
            "https://openrouter.ai/api/v1",
            "http://127.0.0.1:8080/v1",
            "https://api.openai.com.evil.example/v1",
            "https://api.deepseek.com",
        ] {
            assert!(!is_openai_direct(url), "{url}");
            assert_eq!(TokenParam::for_endpoint(url), TokenParam::MaxTokens);
        }
    }

    #[test]
    fn token_params_round_trip() {
        for p in [TokenParam::MaxTokens, TokenParam::MaxCompletionTokens] {
            assert_eq!(TokenParam::from_field(p.field()), Some(p));
            assert_eq!(p.other().other(), p);
        }
        assert_eq!(TokenParam::from_field("max_output_tokens"), None);
    }
}
