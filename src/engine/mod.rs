//! The live engine: probes on schedule, judges health, counts what probes
//! spend, and keeps what a restart needs.
//!
//! The scheduling rules live in [`crate::probe::Schedule`] (pure) and the
//! judging in [`crate::health::HealthBook`] (pure); the engine is the thin
//! async layer that runs what is due, records the outcomes and tells
//! subscribers. Time is a parameter here too: [`Engine::run_due`] probes what
//! is due at the `now` it is given and records the outcomes at that `now`, so
//! tests drive it with chosen times (and the simulator's clock) instead of
//! sleeping. [`Engine::spawn`] is the real loop: wall clock, one task per
//! probe, a per-endpoint concurrency cap, and an hourly price refresh.
//!
//! This file holds the engine itself, how it is built from the config and
//! what it answers about health; the rest has a room each: the scheduling
//! loop (`live`), recording outcomes (`record`), prices and the budget
//! (`money`), how often stable models are probed and the free signal
//! between paid probes (`cadence`), probing thinking models (`thinking`),
//! what survives a restart (`persist`), the chain as saved and edited by
//! this and other processes (`chain`), and the seam to a shared store that
//! makes many processes one fleet (`fleet`).
//!
//! Locks: the health book, the schedule, the money, the thinkers, the
//! drift acknowledgements, the chain and the adopted half-open trials each
//! sit behind their own `std::sync::Mutex`, held only
//! for a few microseconds and never across an `.await`, and never two at
//! once.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, Notify, Semaphore};

use crate::alert::AlertNews;
use crate::api::{Attempt, ChatRequest, Client, Deadlines, Message, Target};
use crate::config::{Config, ProbeSettings};
use crate::health::{
    FailureRecord, HealthBook, HealthEvent, HealthPolicy, ModelSnapshot, SampleKind, Status,
};
use crate::pricing::is_free_id;
use crate::probe::Schedule;
use crate::route::{Chain, HealthView, Trial};
use crate::store::{AckedDrift, Store};

mod cadence;
mod chain;
mod fleet;
mod live;
mod money;
mod persist;
mod record;
mod thinking;
mod trials;
mod views;

pub use chain::{ChainChange, CHAIN_POLL};
pub use fleet::{lease_ttl, Fleet, FleetEditError, FleetFuture, SharedSample, LEASE_SLACK_MAX};
pub use live::{StopSignals, AUTOSAVE, PRICE_REFRESH};
use money::Money;
use thinking::Thinkers;
pub use thinking::{budget_fix, shape, Shape, MUST_THINK_BUDGET, RAISED_ROOM, REASONING_ROOM};

/// Events buffered per subscriber before a slow one starts to lag.
const EVENT_BUFFER: usize = 4096;
/// The seed of the probe phases: fixed, so a model keeps its phase.
const DEFAULT_SEED: u64 = 0x00c4_a1c4_a1c4;

/// What the engine tells its subscribers (the screen, `watch`, logs).
// One event per probe at most: the size of a `Probe` does not matter, and
// boxing its attempt would only move the allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum EngineEvent {
    /// A model's status changed, or its served model drifted.
    Health(HealthEvent),
    /// A probe ended (success or failure).
    Probe { model: String, attempt: Attempt },
    /// The daily budget changed the pace of paid probes.
    Budget { at: DateTime<Utc>, message: String },
    /// Prices were fetched: how many models have one.
    Prices { at: DateTime<Utc>, models: usize },
    /// Something the user should know that is not about one model's health
    /// (a price fetch failed, the state could not be saved).
    Warning { at: DateTime<Utc>, message: String },
    /// The state was saved.
    Saved { at: DateTime<Utc>, path: PathBuf },
    /// The chain's order changed: edited here, or by another process.
    Chain {
        at: DateTime<Utc>,
        order: Vec<String>,
        change: ChainChange,
    },
    /// An alert rang, went out or could not be delivered (`crate::alert`).
    Alert(AlertNews),
}

/// How to start: tests choose the start time and the phase seed.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// The time the first probes are scheduled from.
    pub start: DateTime<Utc>,
    pub seed: u64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            start: Utc::now(),
            seed: DEFAULT_SEED,
        }
    }
}

/// How one model is probed: built once from the config.
struct ProbePlan {
    endpoint: String,
    target: Target,
    request: ChatRequest,
    deadlines: Deadlines,
    settings: ProbeSettings,
}

struct Inner {
    config: Config,
    client: Client,
    http: Option<reqwest::Client>,
    store: Option<Store>,
    plans: HashMap<String, ProbePlan>,
    limits: HashMap<String, Arc<Semaphore>>,
    book: Mutex<HealthBook>,
    schedule: Mutex<Schedule>,
    money: Mutex<Money>,
    /// Which models think, and whose probe room was raised.
    thinkers: Mutex<Thinkers>,
    /// The first `/models` fetch, which every first probe waits for (briefly):
    /// it says which models think.
    first_prices: tokio::sync::OnceCell<()>,
    acks: Mutex<Vec<AckedDrift>>,
    chain: Mutex<chain::ChainSync>,
    warnings: Vec<String>,
    events: broadcast::Sender<EngineEvent>,
    wake: Notify,
    /// Half-open trials adopted from the router, running on their own.
    trials: Mutex<Vec<tokio::task::JoinHandle<(String, Attempt)>>>,
    /// A model's status changed since the last save: the live loop saves
    /// within a second, so that `ask` in another process sees it.
    status_changed: AtomicBool,
    /// A save is being written (the live loop starts one at a time).
    saving: AtomicBool,
    /// The shared store this engine joined (`crate::shared`), if any.
    fleet: std::sync::OnceLock<Arc<dyn Fleet>>,
}

/// The engine. Cheap to clone: everything is behind one `Arc`.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("models", &self.inner.plans.len())
            .finish_non_exhaustive()
    }
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it: the
/// book and the schedule stay consistent per call, so the data is still good.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Engine {
    /// Builds the engine: registers every model, restores history, drift
    /// acknowledgements and spend from the store, and marks models whose key
    /// variable is unset as misconfigured.
    pub fn new(config: Config, client: Client, store: Option<Store>) -> Engine {
        Engine::with_options(config, client, store, EngineOptions::default())
    }

    pub fn with_options(
        config: Config,
        client: Client,
        store: Option<Store>,
        options: EngineOptions,
    ) -> Engine {
        let now = options.start;
        let mut warnings = Vec::new();
        // Stamped before reading: a write in between is noticed later.
        let stamp = store.as_ref().and_then(Store::stamp);
        let (state, warning) = persist::load(store.as_ref());
        warnings.extend(warning);
        let chain_order = Chain::of(&config, state.chain.as_deref()).order().to_vec();

        let mut book = HealthBook::new(HealthPolicy::from(&config.health));
        let mut schedule = Schedule::new(options.seed);
        let mut plans = HashMap::new();
        let mut limits = HashMap::new();
        for model in &config.models {
            let endpoint = config.endpoint_of(model);
            let settings = config.probe_for(model);
            persist::restore_model(&mut book, &state, &model.name, &model.id, now);
            book.set_endpoint(&model.name, &endpoint.name);
            if let Err(missing) = endpoint.api_key() {
                book.set_missing_key(&model.name, Some(missing.to_string()), now);
            }
            schedule.add(&model.name, settings.interval, now);
            if is_free_id(&model.id) {
                schedule.set_free(&model.name, true);
            }
            limits
                .entry(endpoint.name.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(config.probe.concurrency.max(1))));
            let plan = ProbePlan {
                endpoint: endpoint.name.clone(),
                // The key is looked up at each probe: the variable may change.
                target: config.target(model, None),
                request: ChatRequest {
                    messages: vec![Message::user(settings.prompt.clone())],
                    max_tokens: settings.max_tokens,
                    stream: settings.stream,
                    expect: settings.expect.clone(),
                    passthrough: None,
                },
                deadlines: Deadlines {
                    connect: settings.connect_timeout,
                    first_token: settings.ttft_timeout,
                    stall: Some(settings.stall_timeout),
                    total: settings.timeout,
                },
                settings,
            };
            plans.insert(model.name.clone(), plan);
        }
        book.settle(now);
        let money = Money {
            ledger: state.ledger.clone(),
            ..Money::default()
        };
        // Only for `/models` and `/key`: without it, prices are unknown and
        // probes still run (they go through `client`).
        let http = client.http().cloned();
        if http.is_none() {
            warnings.push("prices cannot be fetched: the HTTP client could not be built".into());
        }
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Engine {
            inner: Arc::new(Inner {
                config,
                client,
                http,
                store,
                plans,
                limits,
                book: Mutex::new(book),
                schedule: Mutex::new(schedule),
                money: Mutex::new(money),
                thinkers: Mutex::new(Thinkers::default()),
                first_prices: tokio::sync::OnceCell::new(),
                acks: Mutex::new(state.acknowledged),
                chain: Mutex::new(chain::ChainSync::new(chain_order, stamp)),
                warnings,
                events,
                wake: Notify::new(),
                trials: Mutex::new(Vec::new()),
                status_changed: AtomicBool::new(false),
                saving: AtomicBool::new(false),
                fleet: std::sync::OnceLock::new(),
            }),
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Problems found while starting (a state file moved aside…), to show once.
    pub fn warnings(&self) -> &[String] {
        &self.inner.warnings
    }

    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.inner.events.subscribe()
    }

    /// Puts news from beside the engine (the alerts) on its event bus, so
    /// every subscriber hears it with the rest.
    pub fn announce(&self, event: EngineEvent) {
        self.emit(event);
    }

    fn emit(&self, event: EngineEvent) {
        if let EngineEvent::Health(HealthEvent {
            kind: crate::health::HealthEventKind::State { .. },
            ..
        }) = &event
        {
            self.inner.status_changed.store(true, Ordering::Relaxed);
        }
        // No subscriber is fine: nobody is watching.
        let _ = self.inner.events.send(event);
    }

    /// Every model in config order.
    pub fn snapshots(&self, now: DateTime<Utc>) -> Vec<ModelSnapshot> {
        lock(&self.inner.book).snapshots(now)
    }

    /// The failures of every model at or after `since`, with their whole
    /// messages: the dashboard's failure log.
    pub fn failures_since(&self, since: DateTime<Utc>) -> Vec<(String, FailureRecord)> {
        lock(&self.inner.book).failures_since(since)
    }

    pub fn snapshot(&self, model: &str, now: DateTime<Utc>) -> Option<ModelSnapshot> {
        lock(&self.inner.book).snapshot(model, now)
    }

    /// A model's status; an unknown name is `Unknown`.
    pub fn status(&self, model: &str, now: DateTime<Utc>) -> Status {
        lock(&self.inner.book)
            .status(model, now)
            .unwrap_or(Status::Unknown)
    }

    /// A model's status and the reason in words; an unknown name is
    /// `Unknown`.
    pub fn judge(&self, model: &str, now: DateTime<Utc>) -> (Status, String) {
        let book = lock(&self.inner.book);
        match book.model(model) {
            Some(m) => m.status(book.policy(), now),
            None => (Status::Unknown, format!("{model} is not configured")),
        }
    }

    pub fn ttft_p95(&self, model: &str, now: DateTime<Utc>) -> Option<Duration> {
        self.snapshot(model, now)
            .and_then(|s| s.ttft)
            .map(|p| p.p95)
    }

    /// When the model is next probed (`None` while a probe is in flight).
    pub fn next_due(&self, model: &str) -> Option<DateTime<Utc>> {
        lock(&self.inner.schedule).next_due(model)
    }
}

/// The router reads health and records real prompts through this.
impl HealthView for Engine {
    fn judge(&self, model: &str, now: DateTime<Utc>) -> (Status, String) {
        Engine::judge(self, model, now)
    }

    fn ttft_p95(&self, model: &str, now: DateTime<Utc>) -> Option<Duration> {
        Engine::ttft_p95(self, model, now)
    }

    fn record(&self, model: &str, attempt: &Attempt, now: DateTime<Utc>) {
        Engine::record(self, model, attempt, SampleKind::Prompt, now);
    }

    fn last_attempt(&self, model: &str) -> Option<DateTime<Utc>> {
        lock(&self.inner.book)
            .model(model)
            .and_then(|m| m.last_attempt())
    }

    fn adopt(&self, trial: Trial) {
        Engine::adopt_trial(self, trial);
    }
}
