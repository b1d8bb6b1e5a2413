//! Probing thinking models correctly and cheaply (DESIGN.md, "Probing real
//! models"). A model is known to think from `/models` (`reasoning` among its
//! `supported_parameters`) or from its config (`reasoning = true`). Its
//! probe asks for the least reasoning the model allows, in the words its
//! endpoint takes, and leaves room for that reasoning on top of
//! `probe.max_tokens` (which stays the room for the answer). A reply that
//! still stops at the limit with no content (`budget`) makes the prober
//! raise that model's room once, by itself, and probe again at once; a
//! second one is the verdict, with the fix in words.
//!
//! [`shape`] is pure and decides the request; the engine keeps, per model,
//! what `/models` said and whether the room was raised.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::api::{
    is_openai_direct, Attempt, ChatRequest, Deadlines, Dialect, FailureClass, Secret, Target,
};
use crate::config::{Endpoint, ModelConfig};
use crate::health::SampleKind;
use crate::pricing::{attempt_cost, is_openrouter};

use super::{lock, Engine, EngineEvent, ProbePlan};

/// Room for reasoning in a thinking model's probe, on top of the answer's.
pub const REASONING_ROOM: u32 = 256;
/// The room once a probe's reasoning ate it all: raised once, by this much.
pub const RAISED_ROOM: u32 = REASONING_ROOM * 4;
/// The reasoning budget asked of a model that cannot stop thinking: Gemini
/// 2.5 Pro's least (api-facts.md, "Reasoning models").
pub const MUST_THINK_BUDGET: u32 = 128;

/// Models that cannot turn thinking off: asked for a small budget rather
/// than an effort, which some providers turn into a larger one.
const MUST_THINK: &[&str] = &["gemini-2.5-pro"];

/// Body fields that already say how much to think: the user chose.
const REASONING_FIELDS: [&str; 3] = ["reasoning", "reasoning_effort", "thinking"];

/// What the probe of a model adds for its thinking.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Shape {
    /// Whether the model is probed as a thinking model.
    pub thinks: bool,
    /// Body fields to add (never over what `extra` already sets).
    pub extra: Map<String, Value>,
    /// Tokens added to `probe.max_tokens`.
    pub room: u32,
}

/// How `model` at `endpoint` is probed, given whether `/models` listed it
/// as thinking and whether its room was raised after a `budget` reply.
///
/// - Claude (Anthropic's models, by either dialect) thinks only when asked:
///   it is asked nothing, since asking would turn thinking on and bill it.
/// - OpenAI's own API and Azure take `reasoning_effort: "low"`.
/// - Endpoints that take OpenRouter's `reasoning` (OpenRouter, or any whose
///   `/models` listed the model as thinking) get `{max_tokens: 128}` for the
///   models that cannot stop thinking and `{effort: "low"}` for the rest,
///   never both.
/// - Other servers (vLLM, DeepSeek's own API) have no common field: room only.
/// - What the user put in `extra` is theirs: nothing is added over it, and
///   a budget they set there gets room too.
pub fn shape(model: &ModelConfig, endpoint: &Endpoint, listed: bool, raised: bool) -> Shape {
    let opt_in = thinks_only_when_asked(model, endpoint);
    let thinks = raised || model.reasoning.unwrap_or(listed && !opt_in);
    if !thinks {
        return Shape::default();
    }
    let mut room = if raised { RAISED_ROOM } else { REASONING_ROOM };
    if let Some(budget) = user_budget(&model.extra) {
        room = room.max(budget);
    }
    let mut extra = Map::new();
    let user_chose = REASONING_FIELDS
        .iter()
        .any(|k| model.extra.contains_key(*k));
    if !user_chose && !opt_in && endpoint.dialect == Dialect::Openai {
        if is_openai_direct(&endpoint.base_url) {
            extra.insert("reasoning_effort".into(), json!("low"));
        } else if listed || is_openrouter(&endpoint.base_url) {
            let ask = if MUST_THINK.iter().any(|m| model.id.contains(m)) {
                json!({ "max_tokens": MUST_THINK_BUDGET })
            } else {
                json!({ "effort": "low" })
            };
            extra.insert("reasoning".into(), ask);
        }
    }
    Shape {
        thinks,
        extra,
        room,
    }
}

/// Claude thinks only when a request turns thinking on.
fn thinks_only_when_asked(model: &ModelConfig, endpoint: &Endpoint) -> bool {
    let id = model.id.to_ascii_lowercase();
    endpoint.dialect == Dialect::Anthropic || id.starts_with("anthropic/") || id.contains("claude")
}

/// A reasoning budget the user set in `extra` (OpenRouter's
/// `reasoning.max_tokens`, Anthropic's `thinking.budget_tokens`).
fn user_budget(extra: &Map<String, Value>) -> Option<u32> {
    let n = extra
        .get("reasoning")
        .and_then(|r| r.get("max_tokens"))
        .or_else(|| extra.get("thinking").and_then(|t| t.get("budget_tokens")))
        .and_then(Value::as_u64)?;
    u32::try_from(n).ok()
}

/// The fix, in words, for a model whose probe reasoning ate every token
/// even after the room was raised.
pub fn budget_fix(model: &ModelConfig, endpoint: &Endpoint, max_tokens: u32) -> String {
    let lever = if endpoint.dialect == Dialect::Anthropic || model.extra.contains_key("thinking") {
        "or lower extra.thinking.budget_tokens".to_string()
    } else if is_openai_direct(&endpoint.base_url) {
        "or set extra = { reasoning_effort = \"low\" }".to_string()
    } else {
        "or set extra.reasoning (e.g. { max_tokens = 128 })".to_string()
    };
    format!(
        "reasoning ate all {max_tokens} probe tokens, even after the prober raised them once; \
         raise probe.max_tokens for {} {lever}",
        model.name
    )
}

/// What the engine knows about each model's thinking.
#[derive(Debug, Default)]
pub(super) struct Thinkers {
    models: HashMap<String, Known>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Known {
    /// `/models` lists `reasoning` for it.
    listed: bool,
    /// Its probe room was raised after a `budget` reply.
    raised: bool,
}

impl Thinkers {
    pub(super) fn listed(&self, model: &str) -> bool {
        self.models.get(model).is_some_and(|k| k.listed)
    }

    pub(super) fn raised(&self, model: &str) -> bool {
        self.models.get(model).is_some_and(|k| k.raised)
    }

    pub(super) fn set_listed(&mut self, model: &str, listed: bool) {
        self.models.entry(model.to_string()).or_default().listed = listed;
    }

    /// Raises the model's room; `false` when it was raised already.
    pub(super) fn raise(&mut self, model: &str) -> bool {
        let known = self.models.entry(model.to_string()).or_default();
        !std::mem::replace(&mut known.raised, true)
    }
}

impl Engine {
    /// Whether `model` is probed as a thinking model now.
    pub fn thinks(&self, model: &str) -> bool {
        self.probe_shape(model).is_some_and(|s| s.thinks)
    }

    /// The output limit `model`'s next probe asks for: `probe.max_tokens`
    /// plus the room for its reasoning.
    pub fn probe_max_tokens(&self, model: &str) -> Option<u32> {
        let plan = self.inner.plans.get(model)?;
        let shape = self.probe_shape(model)?;
        Some(plan.request.max_tokens.saturating_add(shape.room))
    }

    fn probe_shape(&self, model: &str) -> Option<Shape> {
        let config = self.inner.config.model(model)?;
        let endpoint = self.inner.config.endpoint(&config.endpoint)?;
        let (listed, raised) = {
            let t = lock(&self.inner.thinkers);
            (t.listed(model), t.raised(model))
        };
        Some(shape(config, endpoint, listed, raised))
    }

    /// The probe of `model` as it goes out now: the plan's request, shaped
    /// for the model's thinking, with `key`. A thinking model's reply that
    /// is not streamed shows no token before it is whole (unless a gateway
    /// sends headers early), so its first-token deadline is the total one.
    fn probe_request(
        &self,
        model: &str,
        plan: &ProbePlan,
        key: Option<Secret>,
    ) -> (Target, ChatRequest, Deadlines) {
        let mut target = plan.target.clone();
        target.api_key = key;
        let mut request = plan.request.clone();
        let mut deadlines = plan.deadlines;
        if let Some(shape) = self.probe_shape(model).filter(|s| s.thinks) {
            for (k, v) in shape.extra {
                target.extra.entry(k).or_insert(v);
            }
            request.max_tokens = request.max_tokens.saturating_add(shape.room);
            if !request.stream {
                deadlines.first_token = deadlines.total;
            }
        }
        (target, request, deadlines)
    }

    /// Sends `model`'s probe, within its endpoint's concurrency cap.
    pub(super) async fn send_probe(
        &self,
        model: &str,
        plan: &ProbePlan,
        key: Option<Secret>,
    ) -> Attempt {
        let (target, request, deadlines) = self.probe_request(model, plan, key);
        let limit = self.inner.limits.get(&plan.endpoint).cloned();
        // The semaphore is never closed, so acquiring only waits.
        let _permit = match &limit {
            Some(sem) => sem.acquire().await.ok(),
            None => None,
        };
        self.inner
            .client
            .send(&target, &request, deadlines, None)
            .await
    }

    /// A probe's reasoning ate its whole limit. The first time, the model's
    /// room is raised and it is probed again at once; that first reply is
    /// paid for (the ledger counts it) but is no health sample: the probe
    /// was too small, the model is fine. A `budget` reply after the raise
    /// is the verdict, with the fix in words.
    pub(super) async fn after_budget(
        &self,
        model: &str,
        plan: &ProbePlan,
        key: Option<Secret>,
        attempt: Attempt,
        now: DateTime<Utc>,
    ) -> Attempt {
        let before = self
            .probe_max_tokens(model)
            .unwrap_or(plan.request.max_tokens);
        let mut attempt = attempt;
        if lock(&self.inner.thinkers).raise(model) {
            {
                let mut money = lock(&self.inner.money);
                let price = money.prices.get(&plan.target.model_id);
                let cost = attempt_cost(&attempt, price);
                money.ledger.add(model, SampleKind::Probe, cost, now);
            }
            let after = self.probe_max_tokens(model).unwrap_or(before);
            self.emit(EngineEvent::Warning {
                at: now,
                message: format!(
                    "{model}: reasoning used all {before} probe tokens before any content; \
                     probing again with room for {after}"
                ),
            });
            attempt = self.send_probe(model, plan, key).await;
        }
        if attempt.class() == Some(FailureClass::Budget) {
            let config = self.inner.config.model(model);
            let endpoint = config.and_then(|m| self.inner.config.endpoint(&m.endpoint));
            if let (Some(config), Some(endpoint), Some(failure)) =
                (config, endpoint, attempt.failure.as_mut())
            {
                let max_tokens = self.probe_max_tokens(model).unwrap_or(before);
                failure.message = budget_fix(config, endpoint, max_tokens);
            }
        }
        attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProbeOverrides;

    fn model(id: &str, reasoning: Option<bool>, extra: Value) -> ModelConfig {
        ModelConfig {
            name: "m".into(),
            id: id.into(),
            endpoint: "e".into(),
            tier: None,
            probe: ProbeOverrides::default(),
            extra: extra.as_object().cloned().unwrap_or_default(),
            reasoning,
            same_as: None,
        }
    }

    fn endpoint(base_url: &str, dialect: Dialect) -> Endpoint {
        Endpoint {
            name: "e".into(),
            base_url: base_url.into(),
            api_key_env: None,
            dialect,
            native_fallback: false,
        }
    }

    const OR: &str = "https://openrouter.ai/api/v1";
    const LOCAL: &str = "http://127.0.0.1:8080/v1";

    fn ask(s: &Shape) -> Value {
        Value::Object(s.extra.clone())
    }

    #[test]
    fn plain_models_are_probed_as_before() {
        let s = shape(
            &model("openai/gpt-4o", None, json!({})),
            &endpoint(OR, Dialect::Openai),
            false,
            false,
        );
        assert_eq!(s, Shape::default());
        // `reasoning = false` wins over what /models says.
        let s = shape(
            &model("x/y", Some(false), json!({})),
            &endpoint(OR, Dialect::Openai),
            true,
            false,
        );
        assert!(!s.thinks);
    }

    #[test]
    fn gemini_pro_through_openrouter_gets_a_small_budget() {
        let e = endpoint(OR, Dialect::Openai);
        let s = shape(
            &model("google/gemini-2.5-pro", None, json!({})),
            &e,
            true,
            false,
        );
        assert!(s.thinks);
        assert_eq!(ask(&s), json!({"reasoning": {"max_tokens": 128}}));
        assert_eq!(s.room, REASONING_ROOM);
        // Other thinking models: a low effort. Known by config alone on
        // OpenRouter, before /models answered.
        let s = shape(
            &model("deepseek/deepseek-r1", Some(true), json!({})),
            &e,
            false,
            false,
        );
        assert_eq!(ask(&s), json!({"reasoning": {"effort": "low"}}));
    }

    #[test]
    fn claude_is_asked_nothing() {
        let s = shape(
            &model("anthropic/claude-sonnet-4", None, json!({})),
            &endpoint(OR, Dialect::Openai),
            true,
            false,
        );
        assert!(!s.thinks, "listed, but it thinks only when asked");
        let s = shape(
            &model("claude-sonnet-4-20250514", Some(true), json!({})),
            &endpoint("https://api.anthropic.com/v1", Dialect::Anthropic),
            false,
            false,
        );
        assert!(s.thinks && s.extra.is_empty());
        // With thinking turned on in `extra`, its budget needs room.
        let s = shape(
            &model(
                "claude-sonnet-4-20250514",
                Some(true),
                json!({"thinking": {"type": "enabled", "budget_tokens": 1024}}),
            ),
            &endpoint("https://api.anthropic.com/v1", Dialect::Anthropic),
            false,
            false,
        );
        assert_eq!((s.extra.is_empty(), s.room), (true, 1024));
    }

    #[test]
    fn each_endpoint_in_its_own_words() {
        let openai = endpoint("https://api.openai.com/v1", Dialect::Openai);
        let s = shape(
            &model("o3-mini", Some(true), json!({})),
            &openai,
            false,
            false,
        );
        assert_eq!(ask(&s), json!({"reasoning_effort": "low"}));
        // A local server: no common field, room only...
        let s = shape(
            &model("qwq", Some(true), json!({})),
            &endpoint(LOCAL, Dialect::Openai),
            false,
            false,
        );
        assert!(s.thinks && s.extra.is_empty());
        // ... unless its /models said it takes `reasoning` (the simulator).
        let s = shape(
            &model("google/gemini-2.5-pro", None, json!({})),
            &endpoint(LOCAL, Dialect::Openai),
            true,
            false,
        );
        assert_eq!(ask(&s), json!({"reasoning": {"max_tokens": 128}}));
    }

    #[test]
    fn the_users_reasoning_is_theirs() {
        let e = endpoint(OR, Dialect::Openai);
        let s = shape(
            &model(
                "google/gemini-2.5-pro",
                None,
                json!({"reasoning": {"max_tokens": 2000}}),
            ),
            &e,
            true,
            false,
        );
        assert!(s.extra.is_empty());
        assert_eq!(s.room, 2000);
        let s = shape(
            &model(
                "google/gemini-2.5-pro",
                None,
                json!({"reasoning": {"effort": "high"}}),
            ),
            &e,
            true,
            false,
        );
        assert_eq!((s.extra.is_empty(), s.room), (true, REASONING_ROOM));
    }

    #[test]
    fn a_raise_makes_any_model_a_thinker_with_more_room() {
        let e = endpoint(LOCAL, Dialect::Openai);
        let s = shape(&model("mystery/model", None, json!({})), &e, false, true);
        assert!(s.thinks);
        assert_eq!(s.room, RAISED_ROOM);
        let mut t = Thinkers::default();
        assert!(t.raise("m"));
        assert!(!t.raise("m"), "once");
        assert!(t.raised("m") && !t.listed("m"));
    }

    #[test]
    fn the_builtin_chain_probes_gemini_pro_right_from_the_start() {
        let c = crate::config::Config::builtin();
        let shape_of = |name: &str| {
            let m = c.model(name).unwrap();
            // Before /models answered: nothing listed.
            shape(m, c.endpoint_of(m), false, false)
        };
        let pro = shape_of("gemini-pro");
        assert_eq!(ask(&pro), json!({"reasoning": {"max_tokens": 128}}));
        assert_eq!(pro.room, REASONING_ROOM);
        for plain in ["claude-sonnet", "gpt-4o", "deepseek"] {
            assert_eq!(shape_of(plain), Shape::default(), "{plain}");
        }
        // Claude is listed by OpenRouter's /models, and still asked nothing.
        let claude = c.model("claude-sonnet").unwrap();
        assert!(!shape(claude, c.endpoint_of(claude), true, false).thinks);
    }

    #[test]
    fn the_fix_names_the_lever() {
        let m = model("google/gemini-2.5-pro", None, json!({}));
        let fix = budget_fix(&m, &endpoint(OR, Dialect::Openai), 1040);
        assert_eq!(
            fix,
            "reasoning ate all 1040 probe tokens, even after the prober raised them once; \
             raise probe.max_tokens for m or set extra.reasoning (e.g. { max_tokens = 128 })"
        );
        let fix = budget_fix(
            &m,
            &endpoint("https://api.openai.com/v1", Dialect::Openai),
            1040,
        );
        assert!(fix.ends_with("reasoning_effort = \"low\" }"), "{fix}");
    }
}
