//! A simulated day of probing the article's chain, for the cost benchmark
//! (`examples/cost_day.rs`, `scripts/bench-cost.sh`) and its tests
//! (`tests/cost.rs`).
//!
//! The chain is the demo's four article models (claude-sonnet-4, gpt-4o,
//! gemini-2.5-pro, deepseek-chat) at their pinned list prices, with the
//! demo's thinking for gemini-2.5-pro (at least 128 reasoning tokens) and
//! none of its faults or delays: every model truthfully healthy, every
//! reply at once, so a day runs in seconds. The engine is driven with
//! `run_due(now)` from due time to due time and the simulator's clock is
//! moved with it; nothing sleeps. An outage can be injected: from a chosen
//! time on, every request to one model fails (502).
//!
//! Policies: chainwatch's cadence ([`Policy::Chainwatch`]), chainwatch's
//! probe at a fixed interval ([`Policy::Fixed`], what it did before), and
//! the naive prober ([`Policy::Naive`]: every model every interval, one
//! fixed `max_tokens`, no word about reasoning, as the article's loop
//! would), which sends its requests with the same client.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::api::{ChatRequest, Client, Deadlines, FailureClass, Message};
use crate::config::{Config, HealthSettings};
use crate::engine::{Engine, EngineEvent, EngineOptions};
use crate::health::{HealthEventKind, Status};
use crate::pricing::attempt_cost;
use crate::probe::Cadence;
use crate::sim::scenario::{Dist, Fault, FaultKind, Window};
use crate::sim::{Scenario, SimServer};

/// The article's chain, by the demo's names.
pub const CHAIN: [&str; 4] = ["claude-sonnet", "gpt-4o", "gemini-pro", "deepseek"];

/// How the day is probed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Policy {
    /// chainwatch: the cadence policy, free signals, stand-ins.
    Chainwatch,
    /// chainwatch's probe, every model every interval.
    Fixed,
    /// Every model every interval with this `max_tokens` and nothing about
    /// reasoning: a thinking model thinks as much as it likes.
    Naive { max_tokens: u32 },
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Policy::Chainwatch => f.write_str("chainwatch"),
            Policy::Fixed => f.write_str("fixed"),
            Policy::Naive { max_tokens } => write!(f, "naive-{max_tokens}"),
        }
    }
}

/// From `after` (since the start) on, for `lasting` (`None`: for ever),
/// every request to `model` fails.
#[derive(Debug, Clone, PartialEq)]
pub struct Outage {
    pub model: String,
    pub after: Duration,
    pub lasting: Option<Duration>,
}

impl Outage {
    /// A hard outage of `model` from `after` on, for good.
    pub fn from(model: &str, after: Duration) -> Outage {
        Outage {
            model: model.to_string(),
            after,
            lasting: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct DayOptions {
    pub policy: Policy,
    /// How much simulated time (a day).
    pub length: Duration,
    pub interval: Duration,
    pub outage: Option<Outage>,
    pub seed: u64,
}

impl DayOptions {
    pub fn day(policy: Policy) -> DayOptions {
        DayOptions {
            policy,
            length: Duration::from_secs(86_400),
            interval: Duration::from_secs(60),
            outage: None,
            seed: 7,
        }
    }
}

/// One model's day.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelDay {
    pub probes: u64,
    pub usd: f64,
    /// Probes that failed (any class).
    pub failures: u64,
    /// Probes that came back with content and passed the check.
    pub answered: u64,
    /// The status at the end (the naive prober has none).
    pub status: Option<Status>,
    /// From the outage's start to the first failed probe.
    pub seen_after: Option<Duration>,
    /// From the outage's start to the model leaving the routable states.
    pub unhealthy_after: Option<Duration>,
    /// The gap between paid probes at the end (chainwatch's policies).
    pub gap_at_end: Option<Duration>,
    /// What the engine projects a day costs at that gap.
    pub per_day_at_end: f64,
}

/// What a day cost, per model.
#[derive(Debug, Clone)]
pub struct DayReport {
    pub policy: Policy,
    pub models: BTreeMap<String, ModelDay>,
    /// The simulated day took this long on the wall clock.
    pub wall: Duration,
}

impl DayReport {
    pub fn usd(&self) -> f64 {
        self.models.values().map(|m| m.usd).sum()
    }

    pub fn probes(&self) -> u64 {
        self.models.values().map(|m| m.probes).sum()
    }
}

/// The day starts at 00:00 UTC, so "today" is the whole day.
pub fn day_start() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2025, 3, 3)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or_else(Utc::now, |t| t.and_utc())
}

/// The demo's four article models at their list prices: no faults, no
/// delays, gemini-2.5-pro thinking as the demo's does (instantly). With
/// `outage`, that model fails every request from then on.
pub fn scenario(outage: Option<&Outage>) -> Scenario {
    let demo = Scenario::demo();
    let models = demo
        .models()
        .iter()
        .filter(|m| CHAIN.contains(&m.name.as_str()))
        .map(|m| {
            let mut m = m.clone();
            m.faults.clear();
            m.changes.clear();
            m.ttft = None;
            m.latency = None;
            m.tokens_per_s = None;
            if let Some(t) = &mut m.thinking {
                t.time = Dist {
                    p50: Duration::ZERO,
                    p95: Duration::ZERO,
                };
            }
            if let Some(o) = outage.filter(|o| o.model == m.name) {
                let mut fault = Fault::always(FaultKind::Class(FailureClass::ServerError));
                fault.status = 502;
                fault.window = Some(Window {
                    start: o.after,
                    end: o.lasting.map(|l| o.after + l),
                    every: None,
                });
                m.faults.push(fault);
            }
            m
        })
        .collect();
    let mut s = Scenario::from_models(models);
    s.origin = Path::new("<cost day>").to_path_buf();
    s.server.require_auth = false;
    s
}

/// Runs one simulated day (or `length`) and says what it cost.
pub async fn run_day(opts: &DayOptions) -> anyhow::Result<DayReport> {
    let wall = Instant::now();
    let models = match opts.policy {
        Policy::Naive { max_tokens } => {
            let sim = SimServer::start(
                scenario(opts.outage.as_ref()),
                "127.0.0.1:0".parse()?,
                opts.seed,
            )
            .await?;
            let config = day_config(&sim, opts.interval);
            let models = naive_day(&sim, &config, opts, max_tokens).await;
            sim.shutdown().await;
            models
        }
        Policy::Chainwatch | Policy::Fixed => engine_day(opts).await?,
    };
    Ok(DayReport {
        policy: opts.policy,
        models,
        wall: wall.elapsed(),
    })
}

/// Keeps the simulator's clock with the day's `now`.
fn keep_up(sim: &SimServer, since_start: Duration) {
    if let Some(behind) = since_start.checked_sub(sim.elapsed()) {
        sim.advance(behind);
    }
}

fn since(start: DateTime<Utc>, at: DateTime<Utc>) -> Duration {
    (at - start).to_std().unwrap_or_default()
}

/// One probe the engine ran, as the day saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Probed {
    pub model: String,
    pub at: DateTime<Utc>,
    pub ok: bool,
}

/// The engine on the simulator, stepped through simulated time: what the
/// benchmark runs, and what the tests look into as it goes.
pub struct Day {
    pub sim: SimServer,
    pub engine: Engine,
    pub start: DateTime<Utc>,
    now: DateTime<Utc>,
    events: tokio::sync::broadcast::Receiver<EngineEvent>,
    /// Every probe so far (a day at 60 s: under 6,000).
    pub probes: Vec<Probed>,
    /// Every state change and drift so far.
    pub health: Vec<crate::health::HealthEvent>,
    /// Every warning so far (free-signal warnings among them).
    pub warnings: Vec<(DateTime<Utc>, String)>,
}

impl Day {
    /// Starts the simulator on `scenario` and an engine on it (every model
    /// at `interval`, the default health rules) under `policy`'s cadence
    /// (`Fixed` for anything but `Chainwatch`).
    pub async fn start(
        scenario: Scenario,
        policy: Policy,
        interval: Duration,
        seed: u64,
    ) -> anyhow::Result<Day> {
        let sim = SimServer::start(scenario, "127.0.0.1:0".parse()?, seed).await?;
        let config = day_config(&sim, interval);
        let start = day_start();
        let engine = Engine::with_options(
            config.clone(),
            Client::new(config.probe.connect_timeout),
            None,
            EngineOptions { start, seed },
        );
        engine.set_cadence(match policy {
            Policy::Chainwatch => Cadence::default(),
            _ => Cadence::fixed(),
        });
        let events = engine.subscribe();
        Ok(Day {
            sim,
            engine,
            start,
            now: start,
            events,
            probes: Vec::new(),
            health: Vec::new(),
            warnings: Vec::new(),
        })
    }

    /// The time `since` the start of the day.
    pub fn at(&self, since: Duration) -> DateTime<Utc> {
        self.start + TimeDelta::from_std(since).unwrap_or_default()
    }

    /// Where the day is.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// Runs everything due before `since` the start, from due time to due
    /// time, the simulator's clock kept with the engine's `now`.
    pub async fn run_until(&mut self, since: Duration) {
        let end = self.at(since);
        while self.now < end {
            keep_up(&self.sim, self.since_start(self.now));
            self.engine.run_due(self.now).await;
            self.take_events();
            let next = self.engine.next_wake().unwrap_or(end);
            self.now = next.max(self.now + TimeDelta::milliseconds(1));
        }
        self.now = self.now.max(end);
    }

    /// Runs what is due at the current time only (after an outside
    /// change, such as a recorded prompt).
    pub async fn run_now(&mut self) {
        keep_up(&self.sim, self.since_start(self.now));
        self.engine.run_due(self.now).await;
        self.take_events();
    }

    fn since_start(&self, at: DateTime<Utc>) -> Duration {
        since(self.start, at)
    }

    fn take_events(&mut self) {
        while let Ok(event) = self.events.try_recv() {
            match event {
                EngineEvent::Probe { model, attempt } => self.probes.push(Probed {
                    model,
                    at: attempt.started_at,
                    ok: attempt.failure.is_none(),
                }),
                EngineEvent::Health(e) => self.health.push(e),
                EngineEvent::Warning { at, message } => self.warnings.push((at, message)),
                _ => {}
            }
        }
    }

    /// The times `model` was probed.
    pub fn probe_times(&self, model: &str) -> Vec<DateTime<Utc>> {
        self.probes
            .iter()
            .filter(|p| p.model == model)
            .map(|p| p.at)
            .collect()
    }
}

fn day_config(sim: &SimServer, interval: Duration) -> Config {
    let mut config = sim.config();
    config.probe.interval = interval;
    config.probe.ttft_timeout = Duration::from_secs(10);
    config.probe.timeout = Duration::from_secs(30);
    config.health = HealthSettings::default();
    config
}

async fn engine_day(opts: &DayOptions) -> anyhow::Result<BTreeMap<String, ModelDay>> {
    let mut day = Day::start(
        scenario(opts.outage.as_ref()),
        opts.policy,
        opts.interval,
        opts.seed,
    )
    .await?;
    day.run_until(opts.length).await;
    let mut days: BTreeMap<String, ModelDay> = CHAIN
        .iter()
        .map(|n| (n.to_string(), ModelDay::default()))
        .collect();
    for p in &day.probes {
        tally(&mut days, &p.model, p.ok);
    }
    if let Some(o) = &opts.outage {
        let at = day.at(o.after);
        if let Some(d) = days.get_mut(&o.model) {
            d.seen_after = day
                .probes
                .iter()
                .find(|p| p.model == o.model && !p.ok && p.at >= at)
                .map(|p| since(at, p.at));
            d.unhealthy_after = day
                .health
                .iter()
                .find(|e| {
                    e.model == o.model
                        && e.at >= at
                        && matches!(&e.kind, HealthEventKind::State { to, .. } if !to.is_routable())
                })
                .map(|e| since(at, e.at));
        }
    }
    let last = day.at(opts.length) - TimeDelta::milliseconds(1);
    let spending = day.engine.spending(last);
    for (name, d) in &mut days {
        if let Some(s) = spending.models.get(name) {
            d.probes = s.probes_today;
            d.usd = s.today;
            d.gap_at_end = s.gap;
            d.per_day_at_end = s.per_day;
        }
        d.status = Some(day.engine.status(name, last));
    }
    day.sim.shutdown().await;
    Ok(days)
}

fn tally(days: &mut BTreeMap<String, ModelDay>, model: &str, ok: bool) {
    if let Some(d) = days.get_mut(model) {
        if ok {
            d.answered += 1;
        } else {
            d.failures += 1;
        }
    }
}

async fn naive_day(
    sim: &SimServer,
    config: &Config,
    opts: &DayOptions,
    max_tokens: u32,
) -> BTreeMap<String, ModelDay> {
    let client = Client::new(config.probe.connect_timeout);
    let request = ChatRequest {
        messages: vec![Message::user(config.probe.prompt.clone())],
        max_tokens,
        stream: config.probe.stream,
        expect: config.probe.expect.clone(),
        passthrough: None,
    };
    let deadlines = Deadlines {
        connect: config.probe.connect_timeout,
        first_token: config.probe.ttft_timeout,
        stall: Some(config.probe.ttft_timeout),
        total: config.probe.timeout,
    };
    let mut days = BTreeMap::new();
    let mut t = Duration::ZERO;
    while t < opts.length {
        keep_up(sim, t);
        for model in config
            .models
            .iter()
            .filter(|m| CHAIN.contains(&m.name.as_str()))
        {
            let target = config.target(model, None);
            let attempt = client.send(&target, &request, deadlines, None).await;
            let d: &mut ModelDay = days.entry(model.name.clone()).or_default();
            d.probes += 1;
            d.usd += attempt_cost(&attempt, None);
            if attempt.failure.is_none() {
                d.answered += 1;
            } else {
                d.failures += 1;
                if let Some(o) = opts
                    .outage
                    .as_ref()
                    .filter(|o| o.model == model.name && t >= o.after)
                {
                    d.seen_after.get_or_insert(t - o.after);
                }
            }
        }
        t += opts.interval;
    }
    days
}
