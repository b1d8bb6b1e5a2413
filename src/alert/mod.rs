//! Alerts: telling someone when a model's state changes and nobody is
//! looking at the screen.
//!
//! Fed by the engine's events (`watch`, `serve` and the dashboard all use
//! this one module), each `[[alert]]` rule of the config
//! ([`AlertRule`]) picks the state changes it is about (`rule`), at most
//! one per model per `min_interval` (`throttle`: a flapping model pages
//! once, and the change held back goes out when the interval is over if
//! the model ended somewhere else), and sends them as a command's stdin
//! and environment or a webhook's JSON body (`payload`, `deliver`).
//!
//! Delivery never blocks the engine: matching is a few comparisons on the
//! engine's event, and the sending happens in one worker task behind a
//! bounded queue, each delivery within the rule's timeout. What happened
//! comes back as [`AlertNews`] (the engine puts it on its event bus, so
//! `watch` prints it and the dashboard logs it and rings its bell); a full
//! queue or a failed delivery is news too, never an error that stops
//! anything.
//!
//! Time is a parameter: [`Alerter::offer`] takes the engine's event,
//! [`Alerter::tick`] a `now`, and [`Alerter::settled`] waits until every
//! queued delivery is done, so tests drive it from `Engine::run_due(now)`
//! without sleeping.

mod deliver;
mod payload;
mod rule;
mod throttle;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast::error::RecvError, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use deliver::via;
pub use payload::Alert;
pub use rule::{matches, Change};
pub use throttle::Throttle;

use crate::config::{AlertRule, Config};
use crate::engine::{Engine, EngineEvent, Fleet};
use crate::health::{HealthEventKind, Status};
use crate::route::Chain;
use crate::store::Store;

/// Deliveries waiting at most; beyond, an alert is dropped (and says so).
pub const QUEUE: usize = 64;
/// How often the follower releases alerts held back by `min_interval`.
const TICK: Duration = Duration::from_secs(1);

/// Whether a model is in the fallback chain now.
pub type ChainLookup = Arc<dyn Fn(&str) -> bool + Send + Sync>;
/// Where [`AlertNews`] goes.
pub type Report = Arc<dyn Fn(AlertNews) + Send + Sync>;
/// How the environment is read (the webhook URL, PagerDuty's key).
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What became of an alert.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertNews {
    /// When the change happened.
    pub at: DateTime<Utc>,
    pub rule: String,
    pub model: String,
    pub to: Status,
    pub outcome: AlertOutcome,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AlertOutcome {
    /// The rule rings the dashboard's bell.
    Bell,
    /// Delivered; `via` says how, in words safe to show.
    Sent { via: String },
    /// Not delivered, and why (never the webhook's URL or a key).
    Failed { via: String, error: String },
}

impl fmt::Display for AlertNews {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = format!("alert {:?}: {} → {}", self.rule, self.model, self.to);
        match &self.outcome {
            AlertOutcome::Bell => write!(f, "{what}: bell"),
            AlertOutcome::Sent { via } => write!(f, "{what}: sent by {via}"),
            AlertOutcome::Failed { via, error } => {
                write!(f, "{what}: NOT delivered by {via}: {error}")
            }
        }
    }
}

struct Job {
    rule: usize,
    alert: Alert,
}

struct Inner {
    rules: Arc<Vec<AlertRule>>,
    ids: HashMap<String, String>,
    in_chain: ChainLookup,
    throttle: Mutex<Throttle>,
    queue: mpsc::Sender<Job>,
    pending: watch::Sender<usize>,
    report: Report,
    fleet: FleetSlot,
}

/// The fleet an alerter delivers through, once it has joined one.
type FleetSlot = Arc<std::sync::OnceLock<Arc<dyn Fleet>>>;

/// How long an alert's delivery lease is held: the rule's `min_interval`,
/// at least a minute (the replicas see a change within seconds of
/// each other).
fn alert_lease(rule: &AlertRule) -> Duration {
    rule.min_interval.max(Duration::from_secs(60))
}

/// The alerts of one process. Cheap to clone; the worker that sends them
/// ends when the last clone is dropped.
#[derive(Clone)]
pub struct Alerter {
    inner: Arc<Inner>,
}

impl fmt::Debug for Alerter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Alerter")
            .field("rules", &self.inner.rules.len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Alerter {
    /// The alerts of `config`, reporting to `report`; `None` when the config
    /// has no `[[alert]]`. Starts the delivery worker: call inside a Tokio
    /// runtime.
    pub fn start(
        config: &Config,
        in_chain: ChainLookup,
        report: Report,
        env: EnvLookup,
    ) -> Option<Alerter> {
        if config.alerts.is_empty() {
            return None;
        }
        let rules = Arc::new(config.alerts.clone());
        let (queue, jobs) = mpsc::channel(QUEUE);
        let (pending, _) = watch::channel(0usize);
        // Proxies from the environment, as for every other request.
        let http = reqwest::Client::builder().build().ok();
        let fleet: FleetSlot = Arc::default();
        tokio::spawn(work(
            jobs,
            Arc::clone(&rules),
            http,
            env,
            Arc::clone(&report),
            pending.clone(),
            Arc::clone(&fleet),
        ));
        Some(Alerter {
            inner: Arc::new(Inner {
                rules,
                ids: config
                    .models
                    .iter()
                    .map(|m| (m.name.clone(), m.id.clone()))
                    .collect(),
                in_chain,
                throttle: Mutex::new(Throttle::default()),
                queue,
                pending,
                report,
                fleet,
            }),
        })
    }

    /// Delivers through a fleet: each alert only from the one process that
    /// takes its lease first (one outage pages once, not once per replica
    /// and dashboard).
    pub fn share(&self, fleet: Arc<dyn Fleet>) {
        let _ = self.inner.fleet.set(fleet);
    }

    /// The alerts of the engine's config: news goes onto the engine's event
    /// bus, the chain is the one saved in `store` (else the config's), the
    /// environment the process's.
    pub fn for_engine(engine: &Engine, store: Option<Store>) -> Option<Alerter> {
        let config = engine.config().clone();
        let chain_config = config.clone();
        let in_chain: ChainLookup = Arc::new(move |model: &str| {
            Chain::load(&chain_config, store.as_ref()).0.contains(model)
        });
        let bus = engine.clone();
        let report: Report = Arc::new(move |news| bus.announce(EngineEvent::Alert(news)));
        let env: EnvLookup = Arc::new(|var: &str| std::env::var(var).ok());
        let alerter = Alerter::start(&config, in_chain, report, env)?;
        if let Some(fleet) = engine.fleet() {
            alerter.share(Arc::clone(fleet));
        }
        Some(alerter)
    }

    pub fn rules(&self) -> &[AlertRule] {
        &self.inner.rules
    }

    /// Looks at one engine event: every rule it matches (and that is not
    /// held back) rings the bell and queues its delivery. Returns how many
    /// deliveries were queued. Never waits.
    pub fn offer(&self, event: &EngineEvent) -> usize {
        let EngineEvent::Health(health) = event else {
            return 0;
        };
        let HealthEventKind::State { from, to, reason } = &health.kind else {
            return 0;
        };
        let change = Change {
            model: &health.model,
            from: *from,
            to: *to,
        };
        let mut chain: Option<bool> = None;
        let mut in_chain = || *chain.get_or_insert_with(|| (self.inner.in_chain)(&health.model));
        let mut ready = Vec::new();
        {
            let mut throttle = lock(&self.inner.throttle);
            for (i, rule) in self.inner.rules.iter().enumerate() {
                if !matches(rule, change, &mut in_chain) {
                    continue;
                }
                let alert = Alert {
                    rule: rule.name.clone(),
                    at: health.at,
                    model: health.model.clone(),
                    model_id: self
                        .inner
                        .ids
                        .get(&health.model)
                        .cloned()
                        .unwrap_or_default(),
                    from: *from,
                    to: *to,
                    reason: reason.clone(),
                    in_chain: in_chain(),
                    held_back: 0,
                };
                if let Some(alert) = throttle.offer(i, rule.min_interval, alert, health.at) {
                    ready.push((i, alert));
                }
            }
        }
        ready
            .into_iter()
            .map(|(i, alert)| self.fire(i, alert))
            .sum()
    }

    /// Sends what `min_interval` held back and may go at `now`. Returns how
    /// many deliveries were queued.
    pub fn tick(&self, now: DateTime<Utc>) -> usize {
        let due = {
            let mut throttle = lock(&self.inner.throttle);
            if !throttle.holds_any() {
                return 0;
            }
            let rules = &self.inner.rules;
            throttle.due(now, |i| {
                rules.get(i).map_or(Duration::ZERO, |r| r.min_interval)
            })
        };
        due.into_iter().map(|(i, alert)| self.fire(i, alert)).sum()
    }

    /// Rings and queues one alert of rule `i`; 1 when a delivery was queued.
    fn fire(&self, i: usize, alert: Alert) -> usize {
        let Some(rule) = self.inner.rules.get(i) else {
            return 0;
        };
        let news = |outcome| AlertNews {
            at: alert.at,
            rule: rule.name.clone(),
            model: alert.model.clone(),
            to: alert.to,
            outcome,
        };
        if rule.bell {
            (self.inner.report)(news(AlertOutcome::Bell));
        }
        let Some(via) = via(rule) else {
            return 0;
        };
        self.inner.pending.send_modify(|n| *n += 1);
        let job = Job {
            rule: i,
            alert: alert.clone(),
        };
        match self.inner.queue.try_send(job) {
            Ok(()) => 1,
            Err(e) => {
                self.inner.pending.send_modify(|n| *n = n.saturating_sub(1));
                let error = match e {
                    mpsc::error::TrySendError::Full(_) => {
                        format!("dropped: {QUEUE} alerts are already waiting to be sent")
                    }
                    mpsc::error::TrySendError::Closed(_) => {
                        "dropped: the alert worker has stopped".to_string()
                    }
                };
                (self.inner.report)(news(AlertOutcome::Failed { via, error }));
                0
            }
        }
    }

    /// Waits until every delivery queued so far has been sent or has failed.
    pub async fn settled(&self) {
        let mut pending = self.inner.pending.subscribe();
        let _ = pending.wait_for(|n| *n == 0).await;
    }

    /// Follows `engine`'s events until `cancel`: offers each one, and
    /// releases held-back alerts every second.
    pub fn follow(&self, engine: &Engine, cancel: CancellationToken) -> JoinHandle<()> {
        let alerter = self.clone();
        let bus = engine.clone();
        // Subscribed now, so nothing the engine says from here on is missed.
        let mut events = engine.subscribe();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    () = cancel.cancelled() => break,
                    event = events.recv() => match event {
                        Ok(event) => {
                            alerter.offer(&event);
                        }
                        Err(RecvError::Lagged(n)) => bus.announce(EngineEvent::Warning {
                            at: Utc::now(),
                            message: format!("alerts: {n} engine events were missed (too many at once); alerts for them may be missing"),
                        }),
                        Err(RecvError::Closed) => break,
                    },
                    _ = tick.tick() => {
                        alerter.tick(Utc::now());
                    }
                }
            }
        })
    }
}

/// The delivery worker: one alert at a time, each within its rule's
/// timeout, until every [`Alerter`] is gone.
async fn work(
    mut jobs: mpsc::Receiver<Job>,
    rules: Arc<Vec<AlertRule>>,
    http: Option<reqwest::Client>,
    env: EnvLookup,
    report: Report,
    pending: watch::Sender<usize>,
    fleet: FleetSlot,
) {
    while let Some(job) = jobs.recv().await {
        if let Some(rule) = rules.get(job.rule) {
            if let Some(fleet) = fleet.get() {
                let key = format!("{}:{}:{}", rule.name, job.alert.model, job.alert.to);
                if !fleet.lease_alert(key, alert_lease(rule)).await {
                    tracing::info!(
                        "alert {:?} for {} → {}: delivered by another process",
                        rule.name,
                        job.alert.model,
                        job.alert.to
                    );
                    pending.send_modify(|n| *n = n.saturating_sub(1));
                    continue;
                }
            }
            let via = via(rule).unwrap_or_default();
            let outcome =
                match deliver::deliver(http.as_ref(), rule, &job.alert, env.as_ref()).await {
                    Ok(()) => AlertOutcome::Sent { via },
                    Err(error) => {
                        tracing::warn!("alert {:?} for {}: {error}", rule.name, job.alert.model);
                        AlertOutcome::Failed { via, error }
                    }
                };
            report(AlertNews {
                at: job.alert.at,
                rule: rule.name.clone(),
                model: job.alert.model.clone(),
                to: job.alert.to,
                outcome,
            });
        }
        pending.send_modify(|n| *n = n.saturating_sub(1));
    }
}
