//! The router: the public face of routing. It plans, runs the race (see
//! `race`), and turns the winner into a [`RouteAnswer`], priced when the
//! provider did not say what it cost.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

use super::race::Race;
use super::{plan, HealthView, Plan, RouteAnswer, RouteEvent, RouteFailure, RouteTarget};
use crate::api::{Client, Deadlines, Message, Passthrough, Target, Usage};
use crate::config::{Config, Hedge, ModelConfig};

/// `max_tokens` for a prompt when the caller does not say.
pub const DEFAULT_MAX_TOKENS: u32 = 1024;
/// The automatic hedge delay is the model's p95 time to first token, kept
/// within these bounds…
const AUTO_HEDGE_MIN: Duration = Duration::from_secs(1);
const AUTO_HEDGE_MAX: Duration = Duration::from_secs(10);
/// …or this while the model has no history (1.5 s: a hung primary nobody
/// has measured yet costs 1.5 s plus the fallback's own time, which keeps
/// failoverbench's S06 and S07 under 3 s end to end).
const AUTO_HEDGE_DEFAULT: Duration = Duration::from_millis(1500);

/// One prompt to route.
#[derive(Debug, Clone)]
pub struct RouteRequest {
    pub messages: Vec<Message>,
    pub target: RouteTarget,
    pub max_tokens: u32,
    /// `None`: the config's `[route] hedge`.
    pub hedge: Option<Hedge>,
    /// A client's own request carried through (`chainwatch serve`): its
    /// fields go to the model, every event of the reply is tapped.
    pub passthrough: Option<Arc<Passthrough>>,
    /// Nothing of the answer is shown before it is complete (JSON output,
    /// `ask --buffer`, the prompt panel's "buffer answers", a non-streamed
    /// request to `serve`): no `Delta` events are sent, and an answer that
    /// breaks off after its first token restarts cleanly on the next model
    /// instead of ending the route.
    pub buffered: bool,
}

impl RouteRequest {
    /// A single user message through `target`, with the defaults.
    pub fn new(prompt: impl Into<String>, target: RouteTarget) -> RouteRequest {
        RouteRequest {
            messages: vec![Message::user(prompt)],
            target,
            max_tokens: DEFAULT_MAX_TOKENS,
            hedge: None,
            passthrough: None,
            buffered: false,
        }
    }

    /// The same request with [`RouteRequest::buffered`] set.
    pub fn buffered(mut self, buffered: bool) -> RouteRequest {
        self.buffered = buffered;
        self
    }
}

/// USD for a reply without a reported cost: `(model name, usage)` → USD,
/// `None` when the model's price is unknown. `wiring` supplies one from the
/// engine's `/models` prices.
pub type CostLookup = Arc<dyn Fn(&str, &Usage) -> Option<f64> + Send + Sync>;

/// Routes prompts through the healthy part of the chain. Cheap to clone.
#[derive(Clone)]
pub struct Router {
    pub(super) config: Arc<Config>,
    pub(super) client: Client,
    cost: Option<CostLookup>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("models", &self.config.models.len())
            .field("route", &self.config.route)
            .finish_non_exhaustive()
    }
}

impl Router {
    /// `client` should be built with `config.route.connect_timeout`, the
    /// deadline reqwest cannot take per request (`crate::wiring` does so).
    pub fn new(config: Config, client: Client) -> Router {
        Router {
            config: Arc::new(config),
            client,
            cost: None,
        }
    }

    /// Prices replies that do not report their cost.
    pub fn with_cost_lookup(mut self, lookup: CostLookup) -> Router {
        self.cost = Some(lookup);
        self
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The order a prompt would try now and what it would skip. Pure: no
    /// I/O, nothing recorded.
    pub fn plan(
        &self,
        health: &dyn HealthView,
        chain: &[String],
        target: &RouteTarget,
        now: DateTime<Utc>,
    ) -> Plan {
        plan(&self.config, health, chain, target, now)
    }

    /// Routes one prompt: skips what is known to be down, tries the rest in
    /// order with hedging, streams the answer as [`RouteEvent`]s and records
    /// every attempt through `health`. Dropping the future cancels every
    /// attempt in flight (their connections close). A half-open trial still
    /// running when another model answered is handed to
    /// [`HealthView::adopt`] to run on.
    pub async fn route(
        &self,
        health: &dyn HealthView,
        chain: &[String],
        request: RouteRequest,
        events: Option<UnboundedSender<RouteEvent>>,
    ) -> Result<RouteAnswer, RouteFailure> {
        let start = Instant::now();
        let plan = self.plan(health, chain, &request.target, Utc::now());
        let mut race = Race::new(self, health, events, request, &plan, start);
        race.emit(RouteEvent::Plan {
            order: plan.order.clone(),
            skipped: plan.skipped.clone(),
            last_resort: plan.last_resort,
        });
        let won = race.run().await;
        for trial in race.take_trailing() {
            health.adopt(trial.into_trial());
        }
        match won {
            Some((won, attempt, ttft)) => {
                let model_id = self
                    .config
                    .model(&won)
                    .map(|m| m.id.clone())
                    .unwrap_or_default();
                let cost = attempt.usage.as_ref().and_then(|u| {
                    let derived = self.cost.as_ref().and_then(|price| price(&won, u));
                    // A reported cost beyond belief for one request is not
                    // shown (the engine's ledger ignores it too).
                    let bound = match derived {
                        Some(d) if d > 0.0 => d * crate::pricing::COST_OVER_PRICE,
                        _ => crate::pricing::COST_CEILING,
                    };
                    u.cost
                        .filter(|c| c.is_finite() && (0.0..=bound).contains(c))
                        .or(derived)
                });
                // Only what was passed over before the answer was skipped;
                // models after the one that answered were never reached.
                let skipped = plan.skipped_before(&won);
                Ok(RouteAnswer {
                    model: won,
                    model_id,
                    served_model: attempt.served_model.clone(),
                    served_by: attempt.served_by.clone(),
                    ttft: Some(ttft),
                    total: start.elapsed(),
                    usage: attempt.usage.clone(),
                    cost,
                    text: attempt.reply.clone(),
                    attempts: race.take_records(),
                    skipped,
                    last_resort: plan.last_resort,
                })
            }
            None => {
                let mut failure = RouteFailure {
                    attempts: race.take_records(),
                    skipped: Vec::new(),
                    last_resort: plan.last_resort,
                };
                // A refusal ends the route where it came; every other
                // failure went through the whole plan.
                failure.skipped = match failure.refusal() {
                    Some(r) => plan.skipped_before(&r.model),
                    None => plan.skipped.clone(),
                };
                Err(failure)
            }
        }
    }

    /// How long to wait for `model`'s first token before starting the next.
    pub fn hedge_delay(
        &self,
        hedge: Hedge,
        health: &dyn HealthView,
        model: &str,
        now: DateTime<Utc>,
    ) -> Option<Duration> {
        match hedge {
            Hedge::Off => None,
            Hedge::After(delay) => Some(delay),
            Hedge::Auto => Some(
                health
                    .ttft_p95(model, now)
                    .map_or(AUTO_HEDGE_DEFAULT, |p95| {
                        p95.clamp(AUTO_HEDGE_MIN, AUTO_HEDGE_MAX)
                    }),
            ),
        }
    }

    /// The request target for `model`, with the endpoint's key read now.
    pub(super) fn target_for(&self, model: &ModelConfig) -> Target {
        // A missing key is sent as none: the provider's 401 then says so,
        // which is what "try it anyway" (last resort) asks for.
        let key = self.config.endpoint_of(model).api_key().ok().flatten();
        self.config.target(model, key)
    }

    pub(super) fn deadlines(&self) -> Deadlines {
        let r = &self.config.route;
        Deadlines {
            connect: r.connect_timeout,
            first_token: r.ttft_timeout,
            stall: Some(r.stall_timeout),
            total: r.timeout,
        }
    }
}
