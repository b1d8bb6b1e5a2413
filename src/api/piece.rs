//! What one reply, or one stream event, contributes to an [`super::Attempt`];
//! both dialects parse into this, the client folds pieces together.

use serde_json::Value;

use super::classify::ErrorInfo;
use super::Usage;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Piece {
    /// Content text (a delta when streaming).
    pub text: String,
    /// Reasoning text (a delta when streaming): OpenRouter's `reasoning`,
    /// `reasoning_content` elsewhere, Anthropic's `thinking`.
    pub reasoning: String,
    /// The model was thinking, text or not: an encrypted or redacted
    /// reasoning part, Anthropic's `signature_delta`, a thinking block
    /// opening. Proof of life like any token.
    pub thinking: bool,
    /// A tool call (OpenAI's `tool_calls` or `function_call`): the answer,
    /// as content is, though it has no text.
    pub tool_call: bool,
    pub finish_reason: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub fingerprint: Option<String>,
    pub usage: UsageParts,
    /// An `error` object in a 200 body or a stream event.
    pub error: Option<ErrorInfo>,
    /// The end marker: OpenAI's `[DONE]`, Anthropic's `message_stop`.
    pub done: bool,
}

/// Usage arrives in parts (Anthropic: input tokens at the start, output
/// tokens at the end); a later part overrides an earlier one field by field.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UsageParts {
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub cost: Option<f64>,
    pub reasoning_tokens: Option<u64>,
}

impl Piece {
    /// Anything the model produced: content, reasoning, or a sign of thinking.
    pub fn has_token(&self) -> bool {
        !self.text.is_empty() || !self.reasoning.is_empty() || self.thinking || self.tool_call
    }
}

impl UsageParts {
    pub fn merge(&mut self, later: UsageParts) {
        self.prompt_tokens = later.prompt_tokens.or(self.prompt_tokens);
        self.completion_tokens = later.completion_tokens.or(self.completion_tokens);
        self.cost = later.cost.or(self.cost);
        self.reasoning_tokens = later.reasoning_tokens.or(self.reasoning_tokens);
    }

    pub fn is_empty(&self) -> bool {
        self.prompt_tokens.is_none()
            && self.completion_tokens.is_none()
            && self.cost.is_none()
            && self.reasoning_tokens.is_none()
    }

    pub fn to_usage(self) -> Option<Usage> {
        (!self.is_empty()).then(|| Usage {
            prompt_tokens: self.prompt_tokens.unwrap_or(0),
            completion_tokens: self.completion_tokens.unwrap_or(0),
            cost: self.cost,
            reasoning_tokens: self.reasoning_tokens,
        })
    }
}

/// A token count: integer, float or numeric string; anything else is absent.
pub fn count(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A price: number or decimal string (OpenRouter sends both in places).
pub fn money(v: Option<&Value>) -> Option<f64> {
    let f = match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }?;
    f.is_finite().then_some(f)
}

/// A non-empty string field.
pub fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}
