//! The scenario: which models the simulator serves and how each one
//! behaves over scenario time. These are the types the server reads; the
//! TOML file is read and validated into them in `parse.rs`. The file's
//! schema is documented at the top of `assets/scenarios/demo.toml`.

mod parse;

pub use parse::ScenarioError;

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::api::FailureClass;

/// What the simulator serves: options for the whole server, what `GET /key`
/// reports, and the models.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file it was read from (or a pseudo path such as `<demo>`).
    pub origin: PathBuf,
    pub server: ServerOptions,
    pub key: KeyInfo,
    models: Vec<ModelScenario>,
}

/// `[server]`: behaviour that is not per model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerOptions {
    /// Reject requests that carry no key at all (OpenRouter does).
    pub require_auth: bool,
    /// When set, only this key is accepted on any model (401 otherwise).
    pub key: Option<String>,
    /// How often `: OPENROUTER PROCESSING` (or Anthropic's `ping`, or the
    /// keep-alive whitespace) is sent while a model is "thinking".
    #[serde(deserialize_with = "parse::de_interval")]
    pub processing_every: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            require_auth: true,
            key: None,
            processing_every: Duration::from_secs(1),
        }
    }
}

/// `[key]`: what `GET /key` reports. `usage` grows with the cost served.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeyInfo {
    pub label: String,
    /// Credit limit in USD; `None` is unlimited.
    pub limit: Option<f64>,
    /// USD already spent when the server starts.
    pub usage: f64,
    pub is_free_tier: bool,
}

impl Default for KeyInfo {
    fn default() -> Self {
        KeyInfo {
            label: "sk-or-v1-sim...0000".into(),
            limit: None,
            usage: 0.0,
            is_free_tier: false,
        }
    }
}

/// One simulated model (`[[model]]`).
#[derive(Debug, Clone)]
pub struct ModelScenario {
    /// What a chainwatch config calls it.
    pub name: String,
    /// The OpenRouter model id, e.g. `anthropic/claude-sonnet-4`.
    pub id: String,
    pub tier: Option<String>,
    /// The serving provider reported in `provider`, e.g. `Anthropic`.
    pub provider: String,
    pub context_length: u64,
    pub price: Price,
    /// Time to first token.
    pub ttft: Option<Dist>,
    /// Total time; when set, the tokens after the first are spread so the
    /// whole reply takes this long (and `tokens_per_s` is not used).
    pub latency: Option<Dist>,
    /// Pace after the first token; `None` sends the tokens at once.
    pub tokens_per_s: Option<f64>,
    /// Send whitespace before a non-streamed JSON body while thinking.
    pub keepalive: bool,
    /// The `model` reported in replies (defaults to `id`).
    pub served_model: Option<String>,
    pub fingerprint: Option<String>,
    /// When set, this model accepts only this key.
    pub key: Option<String>,
    /// A thinking model: reasoning before its content.
    pub thinking: Option<Thinking>,
    /// Content as a list of typed parts (`[{"type": "text", "text"}]`)
    /// rather than a string, in replies and stream deltas.
    pub content_parts: bool,
    /// Refuses `max_tokens` with OpenAI's 400 (`unsupported_parameter`):
    /// only `max_completion_tokens` is taken, as OpenAI's reasoning models do.
    pub refuses_max_tokens: bool,
    /// The reply to a probe ("pong" when not set): a chatty model says more.
    pub answer: Option<String>,
    /// The reply to every other prompt, word by word (canned sentences when
    /// not set): a fixed text a caller can check for completeness.
    pub reply: Option<String>,
    /// A stream ends with `data: [DONE]` (OpenAI dialect); `false` leaves
    /// it out after the finish reason and the usage chunk.
    pub end_marker: bool,
    /// Refuses a request whose last message is the assistant's (a prefill)
    /// with a 400, as Claude's newest models do.
    pub rejects_prefill: bool,
    /// What `GET /models/{id}/endpoints` reports; each figure left out is
    /// worked out from the faults over that span of scenario time.
    pub uptime: Uptime,
    /// The dialect a config made from the scenario speaks to it
    /// ([`SimServer::config`](super::SimServer::config)); the server
    /// answers both on every model.
    pub dialect: crate::api::Dialect,
    pub faults: Vec<Fault>,
    pub changes: Vec<Change>,
}

/// How a thinking model reasons (`thinking = {...}` on a `[[model]]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thinking {
    /// Reasoning tokens when the request does not limit them.
    pub tokens: u32,
    /// The least it thinks whatever it is asked: 0 when thinking can be
    /// turned off, 128 for Gemini 2.5 Pro.
    pub min_tokens: u32,
    /// How long the reasoning streams before the first content token.
    pub time: Dist,
    /// Where the reasoning text goes in the OpenAI dialect.
    pub field: ReasoningField,
}

/// Where a thinking model's reasoning shows in the OpenAI dialect (the
/// Anthropic dialect always sends thinking blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasoningField {
    /// OpenRouter: `reasoning`, with `reasoning_details` beside it.
    Reasoning,
    /// DeepSeek, vLLM and most OpenAI-compatible servers.
    ReasoningContent,
    /// No text at all, only the tokens billed (OpenAI's o-series).
    Hidden,
}

/// How much reasoning a request asks for, in any dialect's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReasoningAsk {
    /// Nothing said: the model thinks as it likes.
    #[default]
    Default,
    /// `reasoning.max_tokens`, Anthropic's `thinking.budget_tokens`.
    Budget(u32),
    /// `reasoning.effort` / `reasoning_effort`, as a share of the default
    /// in per cent (none and minimal: 0, low: 25, medium: 50, high: 100).
    Effort(u32),
    /// `reasoning.enabled = false`, Anthropic's `thinking.type = "disabled"`.
    Off,
}

impl Thinking {
    /// Reasoning tokens for a request that asked for `ask`, before the
    /// output limit: never below the model's minimum.
    pub fn tokens_for(&self, ask: ReasoningAsk) -> u32 {
        let wanted = match ask {
            ReasoningAsk::Default => self.tokens,
            ReasoningAsk::Budget(n) => n.min(self.tokens),
            ReasoningAsk::Effort(pct) => {
                u32::try_from(u64::from(self.tokens) * u64::from(pct.min(100)) / 100)
                    .unwrap_or(self.tokens)
            }
            ReasoningAsk::Off => 0,
        };
        wanted.max(self.min_tokens)
    }
}

/// `uptime = {...}`: the figures `/endpoints` reports, in per cent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Uptime {
    pub last_5m: Option<f64>,
    pub last_30m: Option<f64>,
    pub last_1d: Option<f64>,
    /// OpenRouter's endpoint `status` (0 is normal, negative is trouble).
    pub status: Option<i32>,
}

/// Prices in USD per token, as `/models` reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Price {
    pub prompt: f64,
    pub completion: f64,
    pub request: f64,
    pub image: f64,
}

/// A latency distribution: log-normal through the given median and 95th
/// percentile (constant when they are equal).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dist {
    pub p50: Duration,
    pub p95: Duration,
}

/// When a fault applies: `[start, end)` in scenario time, repeated every
/// `every` when given. `end = None` lasts for ever.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub start: Duration,
    pub end: Option<Duration>,
    pub every: Option<Duration>,
}

impl Window {
    pub fn contains(&self, t: Duration) -> bool {
        let Some(since) = t.checked_sub(self.start) else {
            return false;
        };
        let Some(end) = self.end else { return true };
        let len = end.saturating_sub(self.start);
        match self.every {
            Some(every) if !every.is_zero() => {
                let phase = since.as_nanos() % every.as_nanos();
                phase < len.as_nanos()
            }
            _ => since < len,
        }
    }
}

/// How a fault looks on the wire, where a class has more than one form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// timeout: no response at all.
    Silent,
    /// timeout: headers, then nothing.
    Headers,
    /// timeout: headers, then `: OPENROUTER PROCESSING` (or whitespace) for ever.
    Processing,
    /// timeout: one token every `drip`.
    Drip,
    /// timeout: `after_tokens` tokens, then silence for `hang_for`, then
    /// the connection closes.
    Stall,
    /// connect: TCP reset. / truncated: the connection is cut.
    Reset,
    /// connect: orderly close without a response.
    Close,
    /// server_error / malformed: a JSON body (malformed: broken JSON).
    Json,
    /// server_error / malformed: an HTML page.
    Html,
    /// provider_error: a top-level `error` object. / truncated: the body ends cleanly.
    Body,
    /// provider_error: the `error` sits inside the choice.
    Choice,
    /// malformed: one broken event after `after_tokens` tokens, then the
    /// stream goes on to its normal end.
    Event,
    /// refused: a 200 reply that the content filter ends
    /// (`finish_reason: "content_filter"`, Anthropic's `refusal`).
    Filter,
    /// Classes with a single form.
    Plain,
}

/// What a fault produces: one failure class, or a huge reply (which is not
/// a class of its own: the client's size cap decides what it becomes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    Class(FailureClass),
    Huge,
}

impl FaultKind {
    pub fn class(self) -> Option<FailureClass> {
        match self {
            FaultKind::Class(c) => Some(c),
            FaultKind::Huge => None,
        }
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FaultKind::Class(c) => f.write_str(c.as_str()),
            FaultKind::Huge => f.write_str("huge"),
        }
    }
}

/// One way a model fails (`[[model.fault]]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub kind: FaultKind,
    /// Probability per request while the window is open.
    pub p: f64,
    pub window: Option<Window>,
    /// Only the first this many requests to the model (since the server
    /// started) may draw this fault: "fails once, then healthy".
    pub first: Option<u64>,
    /// HTTP status for classes that answer with one.
    pub status: u16,
    pub variant: Variant,
    pub retry_after: Option<Duration>,
    /// provider_error / truncated / malformed: tokens sent before the fault.
    pub after_tokens: u32,
    /// timeout drip: time between tokens.
    pub drip: Duration,
    /// timeout: how long a hang lasts before the server closes the connection.
    pub hang_for: Duration,
    /// huge: reply size in bytes.
    pub size: u64,
    /// Send `Retry-After` as an HTTP date rather than seconds.
    pub retry_after_date: bool,
    /// rate_limited: send `Retry-After` and the `X-RateLimit-*` headers
    /// (`false`: a bare 429 that says nothing of when to come back).
    pub rate_headers: bool,
    /// Overrides the error message.
    pub message: Option<String>,
    /// wrong_answer: the reply text.
    pub content: Option<String>,
}

impl Fault {
    /// A fault of `class` in its default form, always on.
    pub fn always(kind: FaultKind) -> Fault {
        let (status, variant) = defaults(kind);
        Fault {
            kind,
            p: 1.0,
            window: None,
            first: None,
            status,
            variant,
            retry_after: None,
            after_tokens: 1,
            drip: Duration::from_secs(2),
            hang_for: Duration::from_secs(300),
            size: 64 << 20,
            retry_after_date: false,
            rate_headers: true,
            message: None,
            content: None,
        }
    }

    /// Whether the fault may strike the `n`-th request (0-based) to its
    /// model at scenario time `t`.
    pub fn active_at(&self, t: Duration, n: u64) -> bool {
        self.window.is_none_or(|w| w.contains(t)) && self.first.is_none_or(|first| n < first)
    }
}

/// What changes at scenario time `at` (`[[model.change]]`): drift.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    #[serde(deserialize_with = "parse::de_duration")]
    pub at: Duration,
    pub served_model: Option<String>,
    pub fingerprint: Option<String>,
    pub provider: Option<String>,
}

/// The served identity of a model at some moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Served<'a> {
    pub model: &'a str,
    pub fingerprint: Option<&'a str>,
    pub provider: &'a str,
}

impl ModelScenario {
    /// A healthy model that answers at once.
    pub fn healthy(name: &str, id: &str) -> ModelScenario {
        ModelScenario {
            name: name.into(),
            id: id.into(),
            tier: None,
            provider: default_provider(id),
            context_length: 128_000,
            price: Price::default(),
            ttft: None,
            latency: None,
            tokens_per_s: None,
            keepalive: false,
            served_model: None,
            fingerprint: None,
            key: None,
            thinking: None,
            content_parts: false,
            refuses_max_tokens: false,
            answer: None,
            reply: None,
            end_marker: true,
            rejects_prefill: false,
            uptime: Uptime::default(),
            dialect: crate::api::Dialect::Openai,
            faults: Vec::new(),
            changes: Vec::new(),
        }
    }

    /// Served model, fingerprint and provider at scenario time `t`, after
    /// every change whose `at` has passed.
    pub fn served_at(&self, t: Duration) -> Served<'_> {
        let mut s = Served {
            model: self.served_model.as_deref().unwrap_or(&self.id),
            fingerprint: self.fingerprint.as_deref(),
            provider: &self.provider,
        };
        for c in self.changes.iter().filter(|c| c.at <= t) {
            if let Some(m) = &c.served_model {
                s.model = m;
            }
            if let Some(f) = &c.fingerprint {
                s.fingerprint = Some(f);
            }
            if let Some(p) = &c.provider {
                s.provider = p;
            }
        }
        s
    }
}

impl Scenario {
    pub fn models(&self) -> &[ModelScenario] {
        &self.models
    }

    /// `n` healthy fast models `sim/model-0001`.. (named `model-0001`..),
    /// for benchmarks.
    pub fn many(n: usize) -> Scenario {
        let models = (1..=n)
            .map(|i| {
                let mut m =
                    ModelScenario::healthy(&format!("model-{i:04}"), &format!("sim/model-{i:04}"));
                m.provider = "Sim".into();
                m.ttft = Some(Dist {
                    p50: Duration::from_millis(5),
                    p95: Duration::from_millis(20),
                });
                m
            })
            .collect();
        let mut s = Scenario::from_models(models);
        s.server.require_auth = false;
        s
    }

    /// A scenario of the given models with default server options.
    pub fn from_models(models: Vec<ModelScenario>) -> Scenario {
        Scenario {
            origin: PathBuf::from("<built-in>"),
            server: ServerOptions::default(),
            key: KeyInfo::default(),
            models,
        }
    }
}

/// The serving provider a model id suggests (`openai/…` → `OpenAI`).
fn default_provider(id: &str) -> String {
    let author = id.split('/').next().unwrap_or(id);
    match author {
        "openai" => "OpenAI".into(),
        "anthropic" => "Anthropic".into(),
        "google" => "Google".into(),
        "deepseek" => "DeepSeek".into(),
        "meta-llama" => "Meta".into(),
        other => {
            let mut c = other.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect())
                .unwrap_or_else(|| "Sim".into())
        }
    }
}

/// Default status and form per class.
fn defaults(kind: FaultKind) -> (u16, Variant) {
    use FailureClass as C;
    let FaultKind::Class(class) = kind else {
        return (200, Variant::Plain);
    };
    match class {
        C::Timeout => (0, Variant::Silent),
        C::Connect => (0, Variant::Reset),
        C::ServerError => (502, Variant::Json),
        C::ProviderError => (200, Variant::Body),
        C::Truncated => (200, Variant::Body),
        C::Malformed => (200, Variant::Html),
        C::Empty | C::WrongAnswer => (200, Variant::Plain),
        C::RateLimited => (429, Variant::Plain),
        C::Auth => (401, Variant::Plain),
        C::Credits => (402, Variant::Plain),
        C::NotFound => (404, Variant::Plain),
        C::BadRequest => (400, Variant::Plain),
        C::Budget => (200, Variant::Plain),
        C::Refused => (400, Variant::Plain),
    }
}
