//! The fault decision: everything about one request to one model, drawn
//! from a generator seeded by (seed, model, request number) so the same
//! seed and the same requests give the same replies. Which fault (if any),
//! the timing of each token, the text; the dialects only render it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::scenario::{Fault, ModelScenario, Served};
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
        let mut rng = text::request_rng(self.seed, idx, n);
        // Fixed draw order, whatever the scenario uses, for determinism.
        let u = rng.f64();
        let ttft = text::draw(&mut rng, model.ttft);
        let total = text::draw(&mut rng, model.latency);
        let created = self.wall_start + now.as_secs() as i64;
        let gen_id = text::generation_id(&mut rng, created);
        let mut tokens = text::answer(&mut rng, &req.prompt);

        let key_ok = model
            .key
            .as_ref()
            .is_none_or(|k| req.key.as_deref() == Some(k.as_str()));
        let fault = if key_ok {
            let mut acc = 0.0;
            model.faults.iter().filter(|f| f.active_at(now)).find(|f| {
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
        let mut finish = "stop";
        if let Some(max) = req.max_tokens {
            let max = usize::try_from(max.max(1)).unwrap_or(usize::MAX);
            if tokens.len() > max {
                tokens.truncate(max);
                finish = "length";
            }
        }
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
            model,
            fault,
            ttft,
            per_token,
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
}

/// Everything decided about one reply, before it is put into a dialect.
pub(super) struct Outcome<'a> {
    pub idx: usize,
    pub model: &'a ModelScenario,
    pub fault: Option<&'a Fault>,
    pub ttft: Duration,
    /// Delay before each token after the first.
    pub per_token: Duration,
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
        self.tokens.len() as u64
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
        self.ttft.saturating_add(rest)
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

    /// The key as received, or a placeholder when none came.
    pub fn key_text(&self) -> &str {
        self.key.as_deref().unwrap_or("(none)")
    }
}
