//! The chain, tiers and the fallback executor.
//!
//! A prompt goes to the first model of the chain (or tier) that is not known
//! to be down; a failure before the first token moves on to the next model,
//! and a model that has not produced a first token by the hedge delay gets a
//! runner-up started alongside it. Everything that happens is reported as a
//! [`RouteEvent`], so the prompt panel can show the route as it unfolds.

use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::time::{sleep_until, Instant, Sleep};

use crate::api::{
    Attempt, ChatRequest, Client, Deadlines, Dialect, FailureClass, Message, Target, Usage,
};
use crate::config::{Config, Hedge, ModelConfig, Tier};
use crate::health::Status;

/// What to route a prompt through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    /// The user's chain, in its current order.
    Chain,
    /// A cost tier, escalating budget → standard → premium when a whole tier fails.
    Tier(Tier),
    /// One model, whatever its health.
    Model(String),
}

/// A model the router passed over, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skip {
    pub model: String,
    pub status: Status,
    pub reason: String,
}

/// One attempt the router made.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptRecord {
    pub model: String,
    /// Started alongside a model that was slow to its first token.
    pub hedged: bool,
    /// Lost a hedge race (or the user cancelled): closed, not failed.
    pub cancelled: bool,
    pub attempt: Attempt,
}

/// What happened, as it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteEvent {
    /// The order the router will try, and what it skipped.
    Plan {
        order: Vec<String>,
        skipped: Vec<Skip>,
        /// Nothing was eligible: every model is tried anyway.
        last_resort: bool,
    },
    /// A whole tier failed; moving up.
    Escalate {
        from: Tier,
        to: Tier,
    },
    Trying {
        model: String,
        hedge: bool,
    },
    FirstToken {
        model: String,
        ttft: Duration,
    },
    Delta {
        model: String,
        text: String,
    },
    Failed {
        model: String,
        class: FailureClass,
        message: String,
        after_first_token: bool,
    },
    /// Closed on purpose: lost a hedge race, or the user cancelled.
    Cancelled {
        model: String,
        reason: String,
    },
}

/// A prompt that was answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteAnswer {
    /// The model (config name) that answered.
    pub model: String,
    pub model_id: String,
    /// What the provider says it served, and through which upstream.
    pub served_model: Option<String>,
    pub served_by: Option<String>,
    pub ttft: Option<Duration>,
    pub total: Duration,
    pub usage: Option<Usage>,
    /// USD: the provider's figure, else tokens × price when prices are known.
    pub cost: Option<f64>,
    pub text: String,
    pub attempts: Vec<AttemptRecord>,
    pub skipped: Vec<Skip>,
    pub last_resort: bool,
}

/// Every attempt failed (or nothing could be tried).
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{}", failure_summary(self))]
pub struct RouteFailure {
    pub attempts: Vec<AttemptRecord>,
    pub skipped: Vec<Skip>,
    pub last_resort: bool,
}

fn failure_summary(failure: &RouteFailure) -> String {
    if failure.attempts.is_empty() {
        return match failure.skipped.first() {
            Some(skip) if failure.skipped.len() == 1 => {
                format!("no model to try: {} {}", skip.model, skip.reason)
            }
            _ => "no model to try".to_string(),
        };
    }
    let tried: Vec<String> = failure
        .attempts
        .iter()
        .map(|r| match &r.attempt.failure {
            _ if r.cancelled => format!("{}: cancelled", r.model),
            Some(f) if f.message.is_empty() => format!("{}: {}", r.model, f.class),
            Some(f) => format!("{}: {} ({})", r.model, f.class, f.message),
            None => format!("{}: ok", r.model),
        })
        .collect();
    let after_first_token = failure
        .attempts
        .iter()
        .any(|r| !r.cancelled && r.attempt.failure.is_some() && r.attempt.ttft.is_some());
    let head = if after_first_token {
        "the answer broke off after it had started"
    } else {
        "every model failed"
    };
    format!("{head} — {}", tried.join("; "))
}

/// What the router needs to know of health, and how it reports what it saw.
/// The engine implements it; tests implement it over a plain `HealthBook`.
pub trait HealthView: Send + Sync {
    /// The status and the reason in words.
    fn judge(&self, model: &str, now: DateTime<Utc>) -> (Status, String);
    /// p95 time to first token, for the automatic hedge delay.
    fn ttft_p95(&self, model: &str, now: DateTime<Utc>) -> Option<Duration>;
    /// A real prompt is evidence too: record it as a sample.
    fn record(&self, model: &str, attempt: &Attempt, now: DateTime<Utc>);
}

// ---------------------------------------------------------------------------
// The router.

/// `max_tokens` for a prompt when the caller does not say.
pub const DEFAULT_MAX_TOKENS: u32 = 1024;
/// Attempts in flight at once: the one being waited on and one hedge. A
/// third would spend on yet another model for little gain.
const MAX_IN_FLIGHT: usize = 2;
/// The automatic hedge delay is the model's p95 time to first token, kept
/// within these bounds…
const AUTO_HEDGE_MIN: Duration = Duration::from_secs(1);
const AUTO_HEDGE_MAX: Duration = Duration::from_secs(10);
/// …or this while the model has no history.
const AUTO_HEDGE_DEFAULT: Duration = Duration::from_secs(2);

/// One prompt to route.
#[derive(Debug, Clone)]
pub struct RouteRequest {
    pub messages: Vec<Message>,
    pub target: RouteTarget,
    pub max_tokens: u32,
    /// `None`: the config's `[route] hedge`.
    pub hedge: Option<Hedge>,
}

impl RouteRequest {
    /// A single user message through `target`, with the defaults.
    pub fn new(prompt: impl Into<String>, target: RouteTarget) -> RouteRequest {
        RouteRequest {
            messages: vec![Message::user(prompt)],
            target,
            max_tokens: DEFAULT_MAX_TOKENS,
            hedge: None,
        }
    }
}

/// The order a prompt would try now and what it would skip.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// The models to try, first choice first.
    pub order: Vec<String>,
    pub skipped: Vec<Skip>,
    /// Nothing was eligible, so `order` is every model, tried anyway.
    pub last_resort: bool,
    /// For a tier target: `order` cut by tier, cheapest first (a tier whose
    /// models were all skipped is left out). Empty for the chain or one model.
    pub tiers: Vec<(Tier, Vec<String>)>,
}

/// USD for a reply without a reported cost: `(model id, usage)` → price.
/// The engine's pricing can supply it once it knows the prices.
pub type CostLookup = Arc<dyn Fn(&str, &Usage) -> Option<f64> + Send + Sync>;

/// Routes prompts through the healthy part of the chain. Cheap to clone.
#[derive(Clone)]
pub struct Router {
    config: Arc<Config>,
    client: Client,
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

/// The order a prompt would try now and what it would skip, by `config`'s
/// models and tiers. Pure: no I/O, nothing recorded (the prompt panel's
/// preview uses it too).
pub fn plan(
    config: &Config,
    health: &dyn HealthView,
    chain: &[String],
    target: &RouteTarget,
    now: DateTime<Utc>,
) -> Plan {
    let mut plan = Plan::default();
    // (name, tier) in the order they would be tried.
    let mut candidates: Vec<(&str, Option<Tier>)> = Vec::new();
    match target {
        RouteTarget::Model(name) => {
            if config.model(name).is_some() {
                plan.order.push(name.clone());
            } else {
                plan.skipped.push(not_configured(name));
            }
            return plan;
        }
        RouteTarget::Chain => candidates.extend(chain.iter().map(|n| (n.as_str(), None))),
        RouteTarget::Tier(first) => {
            let mut tier = Some(*first);
            while let Some(t) = tier {
                for name in config.tiers.get(t) {
                    if !candidates.iter().any(|(n, _)| n == name) {
                        candidates.push((name, Some(t)));
                    }
                }
                tier = t.next();
            }
        }
    }
    let mut eligible: Vec<(&str, Option<Tier>)> = Vec::with_capacity(candidates.len());
    let mut known: Vec<(&str, Option<Tier>)> = Vec::with_capacity(candidates.len());
    for &(name, tier) in &candidates {
        if config.model(name).is_none() {
            plan.skipped.push(not_configured(name));
            continue;
        }
        known.push((name, tier));
        let (status, reason) = health.judge(name, now);
        if status.is_routable() {
            eligible.push((name, tier));
        } else {
            plan.skipped.push(Skip {
                model: name.to_string(),
                status,
                reason,
            });
        }
    }
    if eligible.is_empty() && !known.is_empty() {
        plan.last_resort = true;
        eligible = known;
    }
    for (name, tier) in eligible {
        plan.order.push(name.to_string());
        if let Some(t) = tier {
            match plan.tiers.last_mut() {
                Some((last, models)) if *last == t => models.push(name.to_string()),
                _ => plan.tiers.push((t, vec![name.to_string()])),
            }
        }
    }
    plan
}

impl Router {
    /// `client` should be built with `config.route.connect_timeout`.
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
    /// attempt in flight (their connections close).
    pub async fn route(
        &self,
        health: &dyn HealthView,
        chain: &[String],
        request: RouteRequest,
        events: Option<UnboundedSender<RouteEvent>>,
    ) -> Result<RouteAnswer, RouteFailure> {
        let start = Instant::now();
        let plan = self.plan(health, chain, &request.target, Utc::now());
        let mut race = Race {
            router: self,
            health,
            events,
            chat: Arc::new(ChatRequest {
                messages: request.messages,
                max_tokens: request.max_tokens,
                stream: true,
                expect: None,
            }),
            hedge: request.hedge.unwrap_or(self.config.route.hedge),
            queue: plan.order.iter().cloned().collect(),
            running: Vec::new(),
            records: Vec::new(),
            tier: match &request.target {
                RouteTarget::Tier(t) => Some(*t),
                _ => None,
            },
            tiers: plan.tiers.clone(),
            start,
        };
        race.emit(RouteEvent::Plan {
            order: plan.order.clone(),
            skipped: plan.skipped.clone(),
            last_resort: plan.last_resort,
        });
        match race.run().await {
            Some((won, attempt, ttft)) => {
                let model_id = self
                    .config
                    .model(&won)
                    .map(|m| m.id.clone())
                    .unwrap_or_default();
                let cost = attempt.usage.as_ref().and_then(|u| {
                    u.cost
                        .or_else(|| self.cost.as_ref().and_then(|price| price(&model_id, u)))
                });
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
                    attempts: std::mem::take(&mut race.records),
                    skipped: plan.skipped,
                    last_resort: plan.last_resort,
                })
            }
            None => Err(RouteFailure {
                attempts: std::mem::take(&mut race.records),
                skipped: plan.skipped,
                last_resort: plan.last_resort,
            }),
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
    fn target_for(&self, model: &ModelConfig) -> Target {
        // A missing key is sent as none: the provider's 401 then says so,
        // which is what "try it anyway" (last resort) asks for.
        let key = self.config.endpoint_of(model).api_key().ok().flatten();
        self.config.target(model, key)
    }

    fn deadlines(&self) -> Deadlines {
        let r = &self.config.route;
        Deadlines {
            connect: r.connect_timeout,
            first_token: r.ttft_timeout,
            total: r.timeout,
        }
    }
}

fn not_configured(name: &str) -> Skip {
    Skip {
        model: name.to_string(),
        status: Status::Misconfigured,
        reason: "not in the config; add a [[model]] with this name or take it out of the chain"
            .to_string(),
    }
}

/// One attempt in flight.
struct Running {
    /// The model asked for.
    model: String,
    /// Models of the same endpoint sent along as OpenRouter's `models`
    /// array (native fallback); whichever served is the one that answered.
    folded: Vec<String>,
    hedged: bool,
    started_at: DateTime<Utc>,
    t0: Instant,
    deltas: UnboundedReceiver<String>,
    send: Pin<Box<dyn Future<Output = Attempt> + Send>>,
}

impl Running {
    /// The config name of the model that served: the one asked for, or one
    /// of the folded models when the provider says so.
    fn served_name(&self, config: &Config, served: Option<&str>) -> String {
        let Some(served) = served else {
            return self.model.clone();
        };
        let candidates = std::iter::once(&self.model).chain(&self.folded);
        let mut best: Option<(&String, usize)> = None;
        for name in candidates {
            let Some(id) = config.model(name).map(|m| m.id.as_str()) else {
                continue;
            };
            // "openai/gpt-4o-2024-11-20" is "openai/gpt-4o"; the longest id
            // wins so that it is not also "openai/gpt-4o-mini"'s.
            let matches = served == id
                || served
                    .strip_prefix(id)
                    .is_some_and(|rest| rest.starts_with(['-', ':', '@']));
            if matches && best.is_none_or(|(_, len)| id.len() > len) {
                best = Some((name, id.len()));
            }
        }
        best.map_or_else(|| self.model.clone(), |(name, _)| name.clone())
    }
}

/// What woke the race up.
enum Happening {
    Delta(usize, String),
    Done(usize, Box<Attempt>),
    Hedge,
}

/// The state of one routed prompt. Dropping it (the caller dropped the
/// `route` future) drops every attempt in flight and says so.
struct Race<'a> {
    router: &'a Router,
    health: &'a dyn HealthView,
    events: Option<UnboundedSender<RouteEvent>>,
    chat: Arc<ChatRequest>,
    hedge: Hedge,
    queue: VecDeque<String>,
    running: Vec<Running>,
    records: Vec<AttemptRecord>,
    /// The tier of the last model started, to announce escalations.
    tier: Option<Tier>,
    /// The plan's models by tier.
    tiers: Vec<(Tier, Vec<String>)>,
    start: Instant,
}

impl Drop for Race<'_> {
    fn drop(&mut self) {
        for r in std::mem::take(&mut self.running) {
            self.emit(RouteEvent::Cancelled {
                model: r.model,
                reason: "cancelled".to_string(),
            });
        }
    }
}

impl Race<'_> {
    fn emit(&self, event: RouteEvent) {
        if let Some(tx) = &self.events {
            // Nobody listening is fine.
            let _ = tx.send(event);
        }
    }

    /// Runs the race to the end: the winner's name, its attempt and the
    /// time from the start to its first token; `None` when all failed.
    async fn run(&mut self) -> Option<(String, Attempt, Duration)> {
        self.start_next(false);
        let mut hedge_timer = self.hedge_timer();
        // Set once a model has produced a first token: it has won.
        let mut first_token_at: Option<Duration> = None;
        let mut text = String::new();
        while !self.running.is_empty() {
            match next_happening(&mut self.running, hedge_timer.as_mut()).await {
                Happening::Hedge => {
                    self.start_next(true);
                    hedge_timer = self.hedge_timer();
                }
                Happening::Delta(i, delta) => {
                    if first_token_at.is_none() {
                        first_token_at = Some(self.start.elapsed());
                        hedge_timer = None;
                        let Some(winner) = self.take(i) else {
                            continue;
                        };
                        self.emit(RouteEvent::FirstToken {
                            model: winner.model.clone(),
                            ttft: winner.t0.elapsed(),
                        });
                        self.cancel_all(&winner.model);
                        self.running.push(winner);
                    }
                    // Once won, the winner is the only attempt left.
                    let model = self.running.first().map(|r| r.model.clone());
                    text.push_str(&delta);
                    self.emit(RouteEvent::Delta {
                        model: model.unwrap_or_default(),
                        text: delta,
                    });
                }
                Happening::Done(i, attempt) => {
                    let attempt = *attempt;
                    let Some(mut r) = self.take(i) else {
                        continue;
                    };
                    let mut late = Vec::new();
                    while let Ok(delta) = r.deltas.try_recv() {
                        late.push(delta);
                    }
                    if first_token_at.is_none() && (!late.is_empty() || attempt.is_ok()) {
                        // Its first token and its end came in one poll.
                        first_token_at = Some(self.start.elapsed());
                        self.emit(RouteEvent::FirstToken {
                            model: r.model.clone(),
                            ttft: attempt.ttft.unwrap_or_else(|| r.t0.elapsed()),
                        });
                        self.cancel_all(&r.model);
                    }
                    for delta in late {
                        text.push_str(&delta);
                        self.emit(RouteEvent::Delta {
                            model: r.model.clone(),
                            text: delta,
                        });
                    }
                    let model = if attempt.is_ok() {
                        r.served_name(&self.router.config, attempt.served_model.as_deref())
                    } else {
                        std::mem::take(&mut r.model)
                    };
                    self.health.record(&model, &attempt, Utc::now());
                    if let Some(f) = &attempt.failure {
                        self.emit(RouteEvent::Failed {
                            model: model.clone(),
                            class: f.class,
                            message: f.message.clone(),
                            after_first_token: first_token_at.is_some(),
                        });
                    }
                    self.records.push(AttemptRecord {
                        model: model.clone(),
                        hedged: r.hedged,
                        cancelled: false,
                        attempt: attempt.clone(),
                    });
                    if let Some(ttft) = first_token_at {
                        if !attempt.is_ok() {
                            // A broken answer is reported, never replaced.
                            return None;
                        }
                        let mut attempt = attempt;
                        if attempt.reply.is_empty() {
                            attempt.reply = text;
                        }
                        return Some((model, attempt, ttft));
                    }
                    self.start_next(false);
                    hedge_timer = self.hedge_timer();
                }
            }
        }
        None
    }

    fn take(&mut self, i: usize) -> Option<Running> {
        (i < self.running.len()).then(|| self.running.remove(i))
    }

    /// Starts the next model in the queue, if any and if there is room.
    fn start_next(&mut self, hedged: bool) {
        if self.running.len() >= MAX_IN_FLIGHT {
            return;
        }
        let config = &self.router.config;
        // The plan holds only configured models; anything else is passed over.
        let Some((name, model)) = std::iter::from_fn(|| self.queue.pop_front())
            .find_map(|n| config.model(&n).map(|m| (n, m)))
        else {
            return;
        };
        if let (Some(from), Some(to)) = (self.tier, self.tier_of(&name)) {
            if to > from {
                self.emit(RouteEvent::Escalate { from, to });
                self.tier = Some(to);
            }
        }
        let mut target = self.router.target_for(model);
        let endpoint = config.endpoint_of(model);
        let mut folded = Vec::new();
        if endpoint.native_fallback && endpoint.dialect == Dialect::Openai {
            // The rest of this endpoint's eligible chain, in one request.
            let (same, rest): (VecDeque<String>, VecDeque<String>) =
                self.queue.drain(..).partition(|n| {
                    config
                        .model(n)
                        .is_some_and(|m| m.endpoint == model.endpoint)
                });
            self.queue = rest;
            for n in same {
                if let Some(m) = config.model(&n) {
                    target.fallback_models.push(m.id.clone());
                    folded.push(n);
                }
            }
        }
        self.emit(RouteEvent::Trying {
            model: name.clone(),
            hedge: hedged,
        });
        let (tx, rx) = unbounded_channel();
        let client = self.router.client.clone();
        let chat = self.chat.clone();
        let deadlines = self.router.deadlines();
        let send = Box::pin(async move { client.send(&target, &chat, deadlines, Some(&tx)).await });
        self.running.push(Running {
            model: name,
            folded,
            hedged,
            started_at: Utc::now(),
            t0: Instant::now(),
            deltas: rx,
            send,
        });
    }

    /// The tier a model was planned under (for a tier target).
    fn tier_of(&self, name: &str) -> Option<Tier> {
        self.tiers
            .iter()
            .find(|(_, models)| models.iter().any(|n| n == name))
            .map(|(t, _)| *t)
    }

    /// A timer for hedging the newest attempt, when hedging is on, there is
    /// a model left to start and room to start it.
    fn hedge_timer(&self) -> Option<Pin<Box<Sleep>>> {
        if self.queue.is_empty() || self.running.len() >= MAX_IN_FLIGHT {
            return None;
        }
        let newest = self.running.last()?;
        let delay = self
            .router
            .hedge_delay(self.hedge, self.health, &newest.model, Utc::now())?;
        Some(Box::pin(sleep_until(newest.t0 + delay)))
    }

    /// Closes every attempt still running, recording each as cancelled
    /// (not failed: it lost a race), and drops the models not yet started.
    fn cancel_all(&mut self, winner: &str) {
        self.queue.clear();
        for r in std::mem::take(&mut self.running) {
            self.emit(RouteEvent::Cancelled {
                model: r.model.clone(),
                reason: format!("{winner} answered first"),
            });
            self.records.push(AttemptRecord {
                model: r.model,
                hedged: r.hedged,
                cancelled: true,
                attempt: Attempt::blank(r.started_at, r.t0.elapsed()),
            });
        }
    }
}

/// Waits for the next delta, finished attempt or the hedge timer.
async fn next_happening(
    running: &mut [Running],
    mut hedge: Option<&mut Pin<Box<Sleep>>>,
) -> Happening {
    poll_fn(|cx| {
        for (i, r) in running.iter_mut().enumerate() {
            // Deltas first: an attempt's text is read before its end.
            if let Poll::Ready(Some(delta)) = r.deltas.poll_recv(cx) {
                return Poll::Ready(Happening::Delta(i, delta));
            }
            if let Poll::Ready(attempt) = r.send.as_mut().poll(cx) {
                return Poll::Ready(Happening::Done(i, Box::new(attempt)));
            }
        }
        if let Some(timer) = hedge.as_mut() {
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Happening::Hedge);
            }
        }
        Poll::Pending
    })
    .await
}

/// The fallback chain: the user's order of the models in it, and the config's
/// order to reset to. Models not in the chain are still watched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    configured: Vec<String>,
    order: Vec<String>,
    known: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("unknown model {name:?}; known models: {known}")]
    Unknown { name: String, known: String },
    #[error("{0:?} is not in the chain; add it with `chainwatch chain add {0}`")]
    NotInChain(String),
    #[error("{0:?} is already in the chain")]
    AlreadyInChain(String),
    #[error("position {pos} is out of range: the chain has {len} models (positions 1..={len})")]
    BadPosition { pos: usize, len: usize },
}

impl Chain {
    /// `configured` is the config's chain; `known` every model name;
    /// `saved` the order a user saved earlier, if any (names that no longer
    /// exist are dropped).
    pub fn new(configured: &[String], known: &[String], saved: Option<&[String]>) -> Chain {
        let order = match saved {
            Some(saved) => {
                let mut order: Vec<String> = Vec::new();
                for name in saved {
                    if known.contains(name) && !order.contains(name) {
                        order.push(name.clone());
                    }
                }
                order
            }
            None => configured.to_vec(),
        };
        Chain {
            configured: configured.to_vec(),
            order,
            known: known.to_vec(),
        }
    }

    /// The models in the chain, first choice first.
    pub fn order(&self) -> &[String] {
        &self.order
    }

    /// Every model, chain first then the rest, as the screen lists them.
    pub fn known(&self) -> &[String] {
        &self.known
    }

    pub fn contains(&self, name: &str) -> bool {
        self.order.iter().any(|n| n == name)
    }

    /// 1-based position in the chain.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.order.iter().position(|n| n == name).map(|i| i + 1)
    }

    /// Whether the order differs from the config's.
    pub fn is_customised(&self) -> bool {
        self.order != self.configured
    }

    fn check_known(&self, name: &str) -> Result<(), ChainError> {
        if self.known.iter().any(|n| n == name) {
            Ok(())
        } else {
            Err(ChainError::Unknown {
                name: name.to_string(),
                known: self.known.join(", "),
            })
        }
    }

    fn index(&self, name: &str) -> Result<usize, ChainError> {
        self.check_known(name)?;
        self.order
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| ChainError::NotInChain(name.to_string()))
    }

    /// Moves a model to a 1-based position.
    pub fn move_to(&mut self, name: &str, pos: usize) -> Result<(), ChainError> {
        let from = self.index(name)?;
        let len = self.order.len();
        if pos == 0 || pos > len {
            return Err(ChainError::BadPosition { pos, len });
        }
        let model = self.order.remove(from);
        self.order.insert(pos - 1, model);
        Ok(())
    }

    /// Moves a model one place earlier (`-1`) or later (`+1`); at either end
    /// it stays put.
    pub fn shift(&mut self, name: &str, by: isize) -> Result<(), ChainError> {
        let from = self.index(name)?;
        let to = from.saturating_add_signed(by).min(self.order.len() - 1);
        let model = self.order.remove(from);
        self.order.insert(to, model);
        Ok(())
    }

    pub fn remove(&mut self, name: &str) -> Result<(), ChainError> {
        let at = self.index(name)?;
        self.order.remove(at);
        Ok(())
    }

    /// Adds a model at a 1-based position, or at the end.
    pub fn add(&mut self, name: &str, pos: Option<usize>) -> Result<(), ChainError> {
        self.check_known(name)?;
        if self.contains(name) {
            return Err(ChainError::AlreadyInChain(name.to_string()));
        }
        let len = self.order.len();
        let pos = pos.unwrap_or(len + 1);
        if pos == 0 || pos > len + 1 {
            return Err(ChainError::BadPosition { pos, len: len + 1 });
        }
        self.order.insert(pos - 1, name.to_string());
        Ok(())
    }

    /// Takes a model out of the chain or puts it back at the end.
    pub fn toggle(&mut self, name: &str) -> Result<(), ChainError> {
        if self.contains(name) {
            self.remove(name)
        } else {
            self.add(name, None)
        }
    }

    pub fn reset(&mut self) {
        self.order = self.configured.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn chain() -> Chain {
        Chain::new(
            &names(&["a", "b", "c"]),
            &names(&["a", "b", "c", "d"]),
            None,
        )
    }

    #[test]
    fn edits() {
        let mut c = chain();
        c.move_to("c", 1).unwrap();
        assert_eq!(c.order(), names(&["c", "a", "b"]));
        c.shift("c", 1).unwrap();
        assert_eq!(c.order(), names(&["a", "c", "b"]));
        c.shift("a", -1).unwrap();
        assert_eq!(c.order(), names(&["a", "c", "b"]), "top stays top");
        c.shift("b", 1).unwrap();
        assert_eq!(c.order(), names(&["a", "c", "b"]), "bottom stays bottom");
        c.toggle("c").unwrap();
        assert_eq!(c.order(), names(&["a", "b"]));
        c.toggle("d").unwrap();
        assert_eq!(c.order(), names(&["a", "b", "d"]));
        c.add("c", Some(1)).unwrap();
        assert_eq!(c.order(), names(&["c", "a", "b", "d"]));
        assert!(c.is_customised());
        assert_eq!(c.position("a"), Some(2));
        c.reset();
        assert_eq!(c.order(), names(&["a", "b", "c"]));
        assert!(!c.is_customised());
    }

    #[test]
    fn errors_name_the_problem() {
        let mut c = chain();
        let err = c.move_to("zz", 1).unwrap_err().to_string();
        assert!(
            err.contains("unknown model \"zz\"") && err.contains("a, b, c, d"),
            "{err}"
        );
        assert_eq!(
            c.move_to("a", 4),
            Err(ChainError::BadPosition { pos: 4, len: 3 })
        );
        assert_eq!(
            c.move_to("a", 0),
            Err(ChainError::BadPosition { pos: 0, len: 3 })
        );
        assert_eq!(c.remove("d"), Err(ChainError::NotInChain("d".into())));
        assert_eq!(
            c.add("a", None),
            Err(ChainError::AlreadyInChain("a".into()))
        );
        assert_eq!(
            c.order(),
            names(&["a", "b", "c"]),
            "failed edits change nothing"
        );
    }

    #[test]
    fn saved_order_drops_unknown_and_duplicate_names() {
        let saved = names(&["c", "gone", "a", "c"]);
        let c = Chain::new(
            &names(&["a", "b", "c"]),
            &names(&["a", "b", "c"]),
            Some(&saved),
        );
        assert_eq!(c.order(), names(&["c", "a"]));
    }
}
