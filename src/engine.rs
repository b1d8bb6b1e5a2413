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
//! Locks: the health book, the schedule and the money each sit behind their
//! own `std::sync::Mutex`, held only for a few microseconds and never across
//! an `.await`, and never two at once.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::{self, Attempt, ChatRequest, Client, Deadlines, Dialect, Message, Target};
use crate::config::{Config, ProbeSettings};
use crate::health::{HealthBook, HealthEvent, HealthPolicy, ModelSnapshot, SampleKind, Status};
use crate::pace::Pace;
use crate::pricing::{
    self, attempt_cost, budget_pace, describe_pace, is_free_id, KeyInfo, Ledger, PriceTable,
    ProbeCost,
};
use crate::probe::{Condition, FreeLimits, Schedule};
use crate::route::HealthView;
use crate::store::{AckedDrift, Store};

/// Prices are fetched again this often.
pub const PRICE_REFRESH: Duration = Duration::from_secs(3600);
/// The live loop saves the state this often (and on exit, by its owner).
pub const AUTOSAVE: Duration = Duration::from_secs(300);
/// The live loop re-judges every model at least this often, so cool-downs
/// end and failures leave the window without a new sample.
const TICK: Duration = Duration::from_secs(1);
/// Events buffered per subscriber before a slow one starts to lag.
const EVENT_BUFFER: usize = 4096;
/// A guess at a probe prompt's size, for cost estimates before any usage.
const PROBE_PROMPT_TOKENS: u64 = 20;
/// The seed of the probe phases: fixed, so a model keeps its phase.
const DEFAULT_SEED: u64 = 0x00c4_a1c4_a1c4;

/// What the engine tells its subscribers (the screen, `watch`, logs).
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

/// Prices, spend and the budget's pace.
#[derive(Default)]
struct Money {
    prices: PriceTable,
    ledger: Ledger,
    pace: Option<Pace>,
    key: Option<KeyInfo>,
    fetched: bool,
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
    acks: Mutex<Vec<AckedDrift>>,
    warnings: Vec<String>,
    events: broadcast::Sender<EngineEvent>,
    wake: Notify,
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
        let (state, warning) = match &store {
            Some(store) => store.load(),
            None => Default::default(),
        };
        warnings.extend(warning);

        let mut book = HealthBook::new(HealthPolicy::from(&config.health));
        let mut schedule = Schedule::new(options.seed);
        let mut plans = HashMap::new();
        let mut limits = HashMap::new();
        for model in &config.models {
            let endpoint = config.endpoint_of(model);
            let settings = config.probe_for(model);
            match state.models.get(&model.name) {
                // History of a model whose id changed belongs to another model.
                Some(h) if h.id == model.id => book.restore(&model.name, &model.id, h.clone()),
                _ => book.add_model(&model.name, &model.id),
            }
            if let Some(ack) = state.acknowledged_for(&model.name) {
                let acked = book
                    .model(&model.name)
                    .and_then(|m| m.drift())
                    .is_some_and(|d| d.to == ack.served);
                if acked {
                    book.acknowledge_drift(&model.name, now);
                }
            }
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
                },
                deadlines: Deadlines {
                    connect: settings.connect_timeout,
                    first_token: settings.ttft_timeout,
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
                acks: Mutex::new(state.acknowledged),
                warnings,
                events,
                wake: Notify::new(),
            }),
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Every model's price per token, by model name, as far as known.
    pub fn prices(&self) -> std::collections::HashMap<String, crate::pricing::Price> {
        let money = lock(&self.inner.money);
        self.inner
            .plans
            .iter()
            .filter_map(|(name, plan)| {
                Some((name.clone(), money.prices.get(&plan.target.model_id)?))
            })
            .collect()
    }

    /// Problems found while starting (a state file moved aside…), to show once.
    pub fn warnings(&self) -> &[String] {
        &self.inner.warnings
    }

    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.inner.events.subscribe()
    }

    fn emit(&self, event: EngineEvent) {
        // No subscriber is fine: nobody is watching.
        let _ = self.inner.events.send(event);
    }

    /// Every model in config order.
    pub fn snapshots(&self, now: DateTime<Utc>) -> Vec<ModelSnapshot> {
        lock(&self.inner.book).snapshots(now)
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

    /// The budget's current pace for paid probes.
    pub fn pace(&self) -> Pace {
        lock(&self.inner.schedule).pace()
    }

    /// What the key's `/key` said, when an endpoint answered it.
    pub fn key_info(&self) -> Option<KeyInfo> {
        lock(&self.inner.money).key.clone()
    }

    /// Records an outcome (probes and real prompts alike: a prompt is a sample
    /// too), counts its cost, and tells subscribers.
    pub fn record(&self, model: &str, attempt: &Attempt, kind: SampleKind, now: DateTime<Utc>) {
        let Some(plan) = self.inner.plans.get(model) else {
            return;
        };
        {
            let mut money = lock(&self.inner.money);
            let price = money.prices.get(&plan.target.model_id);
            let cost = attempt_cost(attempt, price);
            money.ledger.add(model, kind, cost, now);
        }
        let (events, cond) = {
            let mut book = lock(&self.inner.book);
            let events = book.record_attempt(model, attempt, kind, now);
            (events, condition(&book, model, now))
        };
        if kind == SampleKind::Prompt && !events.is_empty() {
            lock(&self.inner.schedule).condition_changed(model, now, cond);
        }
        if kind == SampleKind::Probe {
            self.emit(EngineEvent::Probe {
                model: model.to_string(),
                attempt: attempt.clone(),
            });
        }
        for event in events {
            self.emit(EngineEvent::Health(event));
        }
    }

    /// Clears a model's drift flag and remembers it across restarts.
    pub fn acknowledge_drift(&self, model: &str, now: DateTime<Utc>) {
        let (served, events) = {
            let mut book = lock(&self.inner.book);
            let served = book
                .model(model)
                .and_then(|m| m.drift())
                .map(|d| d.to.clone());
            (served, book.acknowledge_drift(model, now))
        };
        if let Some(served) = served {
            let mut acks = lock(&self.inner.acks);
            acks.retain(|a| a.model != model);
            acks.push(AckedDrift {
                model: model.to_string(),
                served,
                at: now,
            });
        }
        for event in events {
            self.emit(EngineEvent::Health(event));
        }
    }

    /// One probe of `model` now, recorded. `None` for an unknown model or
    /// one whose key variable is unset (no request is sent).
    pub async fn probe(&self, model: &str) -> Option<Attempt> {
        self.probe_at(model, None).await
    }

    /// Probes everything due at `now` (at most `probe.concurrency` at a time
    /// per endpoint) and records the outcomes at `now`. Returns how many
    /// probes ran. Fetches prices first if that was never tried.
    pub async fn run_due(&self, now: DateTime<Utc>) -> usize {
        if !lock(&self.inner.money).fetched {
            self.refresh_prices(now).await;
        }
        let due = lock(&self.inner.schedule).take_due(now);
        let n = due.len();
        let probes = due.iter().map(|d| self.probe_at(&d.model, Some(now)));
        futures_util::future::join_all(probes).await;
        self.after_probes(now);
        self.tick(now);
        n
    }

    /// Probes `model`, recording at `fixed` (tests) or at the wall clock.
    async fn probe_at(&self, model: &str, fixed: Option<DateTime<Utc>>) -> Option<Attempt> {
        let plan = self.inner.plans.get(model)?;
        let endpoint = self.inner.config.endpoint(&plan.endpoint)?;
        let key = match endpoint.api_key() {
            Ok(key) => {
                let had_missing = lock(&self.inner.book)
                    .model(model)
                    .is_some_and(|m| m.missing_key().is_some());
                if had_missing {
                    let events = lock(&self.inner.book).set_missing_key(
                        model,
                        None,
                        fixed.unwrap_or_else(Utc::now),
                    );
                    events
                        .into_iter()
                        .for_each(|e| self.emit(EngineEvent::Health(e)));
                }
                key
            }
            Err(missing) => {
                let now = fixed.unwrap_or_else(Utc::now);
                let events =
                    lock(&self.inner.book).set_missing_key(model, Some(missing.to_string()), now);
                events
                    .into_iter()
                    .for_each(|e| self.emit(EngineEvent::Health(e)));
                lock(&self.inner.schedule).finish(model, now, Condition::Misconfigured);
                return None;
            }
        };
        let mut target = plan.target.clone();
        target.api_key = key;
        let attempt = {
            let limit = self.inner.limits.get(&plan.endpoint).cloned();
            // The semaphore is never closed, so acquiring only waits.
            let _permit = match &limit {
                Some(sem) => sem.acquire().await.ok(),
                None => None,
            };
            self.inner
                .client
                .send(&target, &plan.request, plan.deadlines, None)
                .await
        };
        let mut attempt = attempt;
        let now = match fixed {
            Some(at) => {
                attempt.started_at = at;
                at
            }
            None => Utc::now(),
        };
        self.record(model, &attempt, SampleKind::Probe, now);
        let cond = condition(&lock(&self.inner.book), model, now);
        lock(&self.inner.schedule).finish(model, now, cond);
        Some(attempt)
    }

    /// Re-judges every model at `now` (cool-downs end, failures leave the
    /// window) and tells subscribers what changed.
    pub fn tick(&self, now: DateTime<Utc>) {
        let events = lock(&self.inner.book).tick(now);
        for event in events {
            self.emit(EngineEvent::Health(event));
        }
    }

    /// Recomputes the budget's pace after probes spent money.
    fn after_probes(&self, now: DateTime<Utc>) {
        let Some(budget) = self.inner.config.probe.daily_budget else {
            return;
        };
        let free: Vec<bool> = {
            let schedule = lock(&self.inner.schedule);
            self.inner
                .config
                .models
                .iter()
                .map(|m| schedule.is_free(&m.name))
                .collect()
        };
        let (pace, old, spent) = {
            let mut money = lock(&self.inner.money);
            let costs: Vec<ProbeCost> = self
                .inner
                .config
                .models
                .iter()
                .zip(&free)
                .filter(|(_, free)| !**free)
                .filter_map(|(m, _)| {
                    let plan = self.inner.plans.get(&m.name)?;
                    let per_probe = money.ledger.average_probe_cost(&m.name).or_else(|| {
                        money.prices.get(&m.id).map(|p| {
                            p.estimate(PROBE_PROMPT_TOKENS, u64::from(plan.settings.max_tokens))
                        })
                    })?;
                    Some(ProbeCost {
                        per_probe,
                        interval: plan.settings.interval,
                    })
                })
                .collect();
            let spent = money.ledger.probe_spend(now);
            let pace = budget_pace(budget, spent, &costs, now);
            let old = money.pace.replace(pace);
            (pace, old, spent)
        };
        lock(&self.inner.schedule).set_pace(pace);
        let notable = match old {
            None => pace != Pace::Normal,
            Some(old) => old.differs_notably(&pace),
        };
        if notable {
            self.emit(EngineEvent::Budget {
                at: now,
                message: describe_pace(&pace, budget, spent),
            });
        }
    }

    /// USD spent by probes on the UTC day of `now`.
    pub fn spend_today(&self, now: DateTime<Utc>) -> f64 {
        lock(&self.inner.money).ledger.probe_spend(now)
    }

    /// Fetches prices from every OpenAI-dialect endpoint, and `/key` where a
    /// key is set; marks free models so their probes respect the free limits.
    pub async fn refresh_prices(&self, now: DateTime<Utc>) {
        lock(&self.inner.money).fetched = true;
        let Some(http) = &self.inner.http else {
            return;
        };
        let mut table = PriceTable::default();
        let mut key_info = None;
        let mut any_ok = false;
        for endpoint in &self.inner.config.endpoints {
            if endpoint.dialect != Dialect::Openai {
                continue;
            }
            let key = endpoint.api_key().ok().flatten();
            match api::fetch_prices(http, &endpoint.base_url, key.as_ref()).await {
                Ok(t) => {
                    any_ok = true;
                    table.merge(t);
                }
                Err(e) => self.emit(EngineEvent::Warning {
                    at: now,
                    message: format!("prices from {}: {e}", endpoint.name),
                }),
            }
            if let (Some(key), None) = (&key, &key_info) {
                // Not every OpenAI-compatible API has `/key`; silence is fine.
                match api::fetch_key(http, &endpoint.base_url, key).await {
                    Ok(info) => key_info = Some(info),
                    Err(e) => tracing::debug!("no /key at {}: {e}", endpoint.name),
                }
            }
        }
        if !any_ok {
            return;
        }
        let priced = self
            .inner
            .config
            .models
            .iter()
            .filter(|m| table.get(&m.id).is_some())
            .count();
        {
            let mut schedule = lock(&self.inner.schedule);
            for m in &self.inner.config.models {
                // The free limits are OpenRouter's: a zero price elsewhere (a
                // local server, the simulator) limits nothing.
                let on_openrouter =
                    pricing::is_openrouter(&self.inner.config.endpoint_of(m).base_url);
                let free = is_free_id(&m.id)
                    || (on_openrouter && table.get(&m.id).is_some_and(|p| p.is_free()));
                schedule.set_free(&m.name, free);
            }
            if let Some(info) = &key_info {
                schedule.set_free_limits(FreeLimits {
                    per_day: info.free_per_day(),
                    ..FreeLimits::default()
                });
            }
        }
        {
            let mut money = lock(&self.inner.money);
            money.prices = table;
            if key_info.is_some() {
                money.key = key_info;
            }
        }
        self.emit(EngineEvent::Prices {
            at: now,
            models: priced,
        });
    }

    /// Command: probe one model (or all) at once; the live loop wakes.
    pub fn probe_now(&self, model: Option<&str>) {
        lock(&self.inner.schedule).probe_now(model, Utc::now());
        self.inner.wake.notify_one();
    }

    /// Saves history, acknowledgements and spend through the store,
    /// atomically, keeping the fields other writers own (the chain order).
    pub fn save(&self) -> anyhow::Result<()> {
        let Some(store) = &self.inner.store else {
            return Ok(());
        };
        let ledger = lock(&self.inner.money).ledger.clone();
        let acks = lock(&self.inner.acks).clone();
        let now = Utc::now();
        let mut absorbed = Vec::new();
        store
            .update(|state| {
                // Another process (`ask`, `check`) may have saved samples
                // since this one loaded: take them in rather than erase them.
                let mut book = lock(&self.inner.book);
                for (name, theirs) in &state.models {
                    absorbed.extend(book.absorb(name, theirs, now));
                }
                state.models = book.models().map(|(n, h)| (n.clone(), h.clone())).collect();
                state.ledger = ledger;
                for a in acks {
                    state.acknowledge(&a.model, &a.served, a.at);
                }
                state.saved_at = Some(now);
            })
            .map_err(|e| {
                anyhow::anyhow!(
                    "could not save the state to {}: {e}; check that the directory is writable",
                    store.path().display()
                )
            })?;
        for event in absorbed {
            self.emit(EngineEvent::Health(event));
        }
        self.emit(EngineEvent::Saved {
            at: now,
            path: store.path().to_path_buf(),
        });
        Ok(())
    }

    /// The live loop: probes on the wall clock, one task per probe, refreshes
    /// prices hourly, saves every few minutes. Ends cleanly on `cancel`:
    /// in-flight probes are dropped (their connections close), no task is
    /// left behind.
    pub fn spawn(&self, cancel: CancellationToken) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        tokio::spawn(async move { engine.live(cancel).await })
    }

    async fn live(self, cancel: CancellationToken) {
        let mut probes: JoinSet<()> = JoinSet::new();
        let mut side: JoinSet<()> = JoinSet::new();
        let start = tokio::time::Instant::now();
        let mut next_prices = start;
        let mut next_save = start + AUTOSAVE;
        let mut next_tick = start;
        loop {
            let now = Utc::now();
            let instant = tokio::time::Instant::now();
            if instant >= next_prices && side.is_empty() {
                let engine = self.clone();
                side.spawn(async move { engine.refresh_prices(Utc::now()).await });
                next_prices = instant + PRICE_REFRESH;
            }
            let due = lock(&self.inner.schedule).take_due(now);
            for d in due {
                let engine = self.clone();
                probes.spawn(async move {
                    engine.probe_at(&d.model, None).await;
                });
            }
            if instant >= next_tick {
                self.after_probes(now);
                self.tick(now);
                next_tick = instant + TICK;
            }
            if instant >= next_save && self.inner.store.is_some() {
                let engine = self.clone();
                side.spawn(async move {
                    let saver = engine.clone();
                    let saved = tokio::task::spawn_blocking(move || saver.save()).await;
                    if let Ok(Err(e)) = saved {
                        tracing::warn!("{e:#}");
                        engine.emit(EngineEvent::Warning {
                            at: Utc::now(),
                            message: format!("{e:#}"),
                        });
                    }
                });
                next_save = instant + AUTOSAVE;
            }
            // Sleep until the next probe is due, but wake for the tick, a
            // "probe now" command, or a probe finishing (it reschedules).
            let wake_at = lock(&self.inner.schedule)
                .next_wake()
                .map(|due| {
                    let ms = (due - Utc::now()).num_milliseconds().max(0);
                    instant + Duration::from_millis(ms.unsigned_abs())
                })
                .unwrap_or(next_tick)
                .min(next_tick);
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep_until(wake_at) => {}
                () = self.inner.wake.notified() => {}
                Some(done) = probes.join_next(), if !probes.is_empty() => {
                    // Reap everything else that finished too, in one go. A
                    // probe that panicked is a bug: say so rather than lose
                    // the model silently.
                    for result in std::iter::once(done).chain(std::iter::from_fn(|| probes.try_join_next())) {
                        if let Err(e) = result.map_err(|e| e.to_string()) {
                            tracing::error!("a probe task failed: {e}");
                            self.emit(EngineEvent::Warning { at: Utc::now(), message: format!("a probe task failed: {e}") });
                        }
                    }
                }
                Some(_) = side.join_next(), if !side.is_empty() => {}
            }
        }
        probes.shutdown().await;
        side.shutdown().await;
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
}

/// The scheduling condition of `model` in `book` at `now`.
fn condition(book: &HealthBook, model: &str, now: DateTime<Utc>) -> Condition {
    let status = book.status(model, now).unwrap_or(Status::Unknown);
    let until = book.model(model).and_then(|m| m.rate_limited_until());
    Condition::of(status, until)
}
