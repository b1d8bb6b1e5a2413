//! The fault decision: everything about one request to one model, drawn
//! from a generator seeded by (seed, model, request number) so the same
//! seed and the same requests give the same replies. Which fault (if any),
//! the timing of each token, the text; the dialects only render it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::scenario::{Fault, ModelScenario, ReasoningAsk, ReasoningField, Served};
use super::state::Shared;
use super::text;
use crate::api::FailureClass;

impl Shared {
    /// Decides everything about one request to model `idx` at scenario time
    /// `now`: the fault (if any), timing, text.
    pub(super) fn decide<'a>(
        &'a self,
        idx: usize,
        req: &RequestInfo,
        now: Duration,
    ) -> Option<Outcome<'a>> {
        let model = self.scenario.models().get(idx)?;
        let stats = self.stats.get(idx)?;
        let n = stats.requests.fetch_add(1, Ordering::Relaxed);
        let request = n;
        let mut rng = text::request_rng(self.seed, idx, n);
        // Fixed draw order, whatever the scenario uses, for determinism.
        let u = rng.f64();
        let ttft = text::draw(&mut rng, model.ttft);
        let total = text::draw(&mut rng, model.latency);
        let created = self.wall_start + now.as_secs() as i64;
        let gen_id = text::generation_id(&mut rng, created);
        let mut tokens = text::answer(&mut rng, &req.prompt);
        if let Some(reply) = model.reply.as_deref().filter(|_| tokens != ["pong"]) {
            tokens = text::tokens(reply);
        }
        // Drawn last, so that adding thinking to a model shifts no other draw.
        let think = text::draw(&mut rng, model.thinking.map(|t| t.time));
        if let Some(answer) = &model.answer {
            if tokens == ["pong"] {
                tokens = text::tokens(answer);
            }
        }

        let key_ok = model
            .key
            .as_ref()
            .is_none_or(|k| req.key.as_deref() == Some(k.as_str()));
        let fault = if key_ok {
            let mut acc = 0.0;
            model
                .faults
                .iter()
                .filter(|f| f.active_at(now, n))
                .find(|f| {
                    acc += f.p;
                    u < acc
                })
        } else {
            Some(&self.key_fault)
        };
        match fault.and_then(|f| f.kind.class()) {
            Some(FailureClass::Empty) => tokens.clear(),
            Some(FailureClass::WrongAnswer) => {
                let content = fault
                    .and_then(|f| f.content.as_deref())
                    .unwrap_or("I'm sorry, I can't help with that request.");
                tokens = text::tokens(content);
            }
            _ => {}
        }
        // Reasoning comes first and counts against the limit: a model whose
        // thinking reaches `max_tokens` stops there with no content.
        let budget_fault = fault.and_then(|f| f.kind.class()) == Some(FailureClass::Budget);
        let planned = match (budget_fault, model.thinking) {
            (true, _) => req.max_tokens.unwrap_or(4096).max(1),
            (false, Some(t)) => u64::from(t.tokens_for(req.ask)),
            (false, None) => 0,
        };
        let mut reasoning_tokens = planned;
        let mut finish = "stop";
        if let Some(max) = req.max_tokens {
            let max = max.max(1);
            if reasoning_tokens >= max {
                reasoning_tokens = max;
                tokens.clear();
                finish = "length";
            } else {
                let room = usize::try_from(max - reasoning_tokens).unwrap_or(usize::MAX);
                if tokens.len() > room {
                    tokens.truncate(room);
                    finish = "length";
                }
            }
        }
        // Thinking cut short by the limit takes its share of the time.
        let think = if planned > 0 {
            think.mul_f64(reasoning_tokens as f64 / planned as f64)
        } else {
            Duration::ZERO
        };
        let field = model
            .thinking
            .map_or(ReasoningField::Reasoning, |t| t.field);
        // With a total latency the last token lands at `total`: the first
        // after `ttft` (its share of the total when no ttft is given), the
        // rest evenly spread.
        let n = u32::try_from(tokens.len().max(1)).unwrap_or(u32::MAX);
        let (ttft, per_token) = match model.latency {
            // One token (a probe's "pong") is done at its first token.
            Some(_) if n == 1 && model.ttft.is_some() => (ttft.min(total), Duration::ZERO),
            Some(_) if n == 1 => (total, Duration::ZERO),
            Some(_) => {
                let first = if model.ttft.is_some() {
                    ttft.min(total)
                } else {
                    total / n
                };
                (first, total.saturating_sub(first) / (n - 1))
            }
            None => (
                ttft,
                model
                    .tokens_per_s
                    .and_then(|tps| Duration::try_from_secs_f64(1.0 / tps).ok())
                    .unwrap_or_default(),
            ),
        };
        Some(Outcome {
            idx,
            request,
            model,
            fault,
            ttft,
            per_token,
            think,
            // Hidden reasoning is billed and takes its time, but says nothing.
            reasoning: match field {
                ReasoningField::Hidden => Vec::new(),
                _ => text::reasoning(reasoning_tokens, think),
            },
            reasoning_tokens,
            field,
            tokens,
            finish,
            served: model.served_at(now),
            gen_id,
            created,
            prompt_tokens: text::count_tokens(&req.prompt),
            key: req.key.clone(),
        })
    }
}

/// What a handler extracted from the request, dialect-neutral.
pub(super) struct RequestInfo {
    pub key: Option<String>,
    pub prompt: String,
    pub max_tokens: Option<u64>,
    /// How much thinking the request asked for.
    pub ask: ReasoningAsk,
    /// The role of the last message: `assistant` is a prefill.
    pub last_role: Option<String>,
}

/// Everything decided about one reply, before it is put into a dialect.
pub(super) struct Outcome<'a> {
    pub idx: usize,
    /// This is the model's `request`-th request (0-based) since the start.
    pub request: u64,
    pub model: &'a ModelScenario,
    pub fault: Option<&'a Fault>,
    /// The first token of any kind: reasoning when the model thinks aloud.
    pub ttft: Duration,
    /// Delay before each content token after the first.
    pub per_token: Duration,
    /// How long the reasoning streams, from `ttft` to the first content token.
    pub think: Duration,
    /// The reasoning as it is streamed, one piece per delta (empty when the
    /// model does not think, or hides its reasoning).
    pub reasoning: Vec<String>,
    /// Reasoning tokens billed (inside `completion_tokens`).
    pub reasoning_tokens: u64,
    pub field: ReasoningField,
    pub tokens: Vec<String>,
    /// "stop" or "length".
    pub finish: &'static str,
    pub served: Served<'a>,
    pub gen_id: String,
    pub created: i64,
    pub prompt_tokens: u64,
    /// The key the client sent, which auth errors echo (the client must mask it).
    pub key: Option<String>,
}

impl Outcome<'_> {
    pub fn class(&self) -> Option<FailureClass> {
        self.fault.and_then(|f| f.kind.class())
    }

    pub fn completion_tokens(&self) -> u64 {
        self.tokens.len() as u64 + self.reasoning_tokens
    }

    /// The reasoning goes on the wire as text (not hidden, not absent).
    pub fn thinks_aloud(&self) -> bool {
        !self.reasoning.is_empty()
    }

    /// The reasoning as one text.
    pub fn reasoning_text(&self) -> String {
        self.reasoning.concat()
    }

    /// Time from the first token to each reasoning piece after the first.
    pub fn reasoning_gap(&self) -> Duration {
        let n = u32::try_from(self.reasoning.len().max(1)).unwrap_or(u32::MAX);
        self.think / n
    }

    pub fn cost(&self) -> f64 {
        let p = self.model.price;
        p.request
            + p.prompt * self.prompt_tokens as f64
            + p.completion * self.completion_tokens() as f64
    }

    /// Time from the request to the last token.
    pub fn total(&self) -> Duration {
        let gaps = u32::try_from(self.tokens.len().saturating_sub(1)).unwrap_or(u32::MAX);
        let rest = self.per_token.checked_mul(gaps).unwrap_or(Duration::MAX);
        self.ttft.saturating_add(self.think).saturating_add(rest)
    }

    /// OpenRouter moves on to the next model of a `models` array when this
    /// one fails with an error status before answering; account-level
    /// errors (credits) and failures after the headers are not retried.
    pub(super) fn falls_through(&self) -> bool {
        matches!(
            self.class(),
            Some(
                FailureClass::ServerError
                    | FailureClass::RateLimited
                    | FailureClass::NotFound
                    | FailureClass::BadRequest
                    | FailureClass::Auth
            )
        )
    }

    /// What the model does with this request, in a few words, for the
    /// request log: "200", "503 server_error", "tcp reset (connect)".
    pub fn action(&self) -> String {
        use super::scenario::{FaultKind, Variant};
        let Some(f) = self.fault else {
            return "200".to_string();
        };
        let class = match f.kind {
            FaultKind::Huge => return "200 huge".to_string(),
            FaultKind::Class(c) => c,
        };
        let n = f.after_tokens;
        match (class, f.variant) {
            (FailureClass::Timeout, Variant::Silent) => "no response (timeout)".to_string(),
            (FailureClass::Timeout, Variant::Headers) => {
                "200 headers, then silence (timeout)".to_string()
            }
            (FailureClass::Timeout, Variant::Processing) => {
                "200 keep-alives, no token (timeout)".to_string()
            }
            (FailureClass::Timeout, Variant::Drip) => "200 drip (timeout)".to_string(),
            (FailureClass::Timeout, _) => format!("200 stall after {n} tokens (timeout)"),
            (FailureClass::Connect, Variant::Reset) => "tcp reset (connect)".to_string(),
            (FailureClass::Connect, _) => "closed (connect)".to_string(),
            (FailureClass::ProviderError, _) => {
                format!("200 error after {n} tokens (provider_error)")
            }
            (FailureClass::Truncated, _) => format!("200 cut after {n} tokens (truncated)"),
            (FailureClass::Malformed, Variant::Event) => {
                format!("200 broken event after {n} tokens (malformed)")
            }
            (FailureClass::Malformed, _) => "200 malformed".to_string(),
            (FailureClass::Refused, Variant::Filter) => "200 content_filter (refused)".to_string(),
            (FailureClass::RateLimited, _) if f.rate_headers => format!(
                "429 retry-after {}s (rate_limited)",
                super::faults::rate_limit_wait(f).as_secs().max(1)
            ),
            (FailureClass::RateLimited, _) => "429 (rate_limited)".to_string(),
            (c, _) if f.status >= 400 => format!("{} {c}", f.status),
            (c, _) => format!("200 {c}"),
        }
    }

    /// The key as received, or a placeholder when none came.
    pub fn key_text(&self) -> &str {
        self.key.as_deref().unwrap_or("(none)")
    }
}
