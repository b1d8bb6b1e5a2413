//! The engine among others: with a shared store (`[store] redis_url`,
//! `crate::shared`), every process of a team probes each model once per
//! interval between them, judges on everyone's samples, follows one chain,
//! counts one probe budget and pages once per outage. This file is the
//! seam: the [`Fleet`] trait the engine calls (never waiting long: a
//! store that is down or slow costs a timeout and local work, never a
//! stalled probe or route), and what the fleet hands back
//! ([`Engine::take_foreign`], [`Engine::follow_fleet_chain`],
//! [`Engine::fleet_link`]). Without a fleet nothing here runs.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::health::{FailureRecord, ModelHealth, Sample};
use crate::route::{Chain, ChainEdit, ChainError};

use super::{lock, ChainChange, Engine, EngineEvent};

pub type FleetFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One sample this process took, as the fleet shares it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SharedSample {
    pub sample: Sample,
    /// The failure's record (message masked when taken), for the log.
    pub failure: Option<FailureRecord>,
}

/// Why a shared chain edit did not land.
#[derive(Debug, Clone, PartialEq)]
pub enum FleetEditError {
    /// The edit does not fit the shared chain.
    Edit(ChainError),
    /// The store could not be reached; the edit is queued for it.
    Unreachable(String),
}

/// What the engine needs of a shared store. Every method returns at once
/// or within the store's own short timeout.
pub trait Fleet: Send + Sync + 'static {
    /// Whether this process holds (or just took) `model`'s probe lease,
    /// good for `ttl`. `true` when the store cannot be asked: probing on
    /// local state beats not probing.
    fn lease_probe<'a>(&'a self, model: &'a str, ttl: Duration) -> FleetFuture<'a, bool>;
    /// Shares a sample this process took (queued; sent in the background).
    fn publish(&self, model: &str, sample: SharedSample);
    /// Adds probe spend to the fleet's ledger for the day of `now` (queued).
    fn spend(&self, usd: f64, now: DateTime<Utc>);
    /// The fleet's probe spend on the day of `now`, as last read.
    fn spend_today(&self, now: DateTime<Utc>) -> Option<f64>;
    /// Applies an edit to the shared chain (optimistic concurrency) and
    /// announces it; the order after it. [`FleetEditError::Unreachable`]
    /// when the store cannot be reached: the edit is then kept and
    /// replayed when it returns. Blocking (at most a short timeout):
    /// called off async tasks.
    fn edit_chain(&self, edit: &ChainEdit) -> Result<Vec<String>, FleetEditError>;
    /// Whether this process may deliver the alert named `key`: the first
    /// process to ask within `ttl` may.
    fn lease_alert<'a>(&'a self, key: String, ttl: Duration) -> FleetFuture<'a, bool>;
    /// `None` while reachable; else why not, in words (never the URL's
    /// password).
    fn unreachable(&self) -> Option<String>;
    /// How the store is named on screen (`redis://host:port`, no password).
    fn name(&self) -> String;
}

/// The fleet's lease on a model's probe slot outlives the interval by
/// half of it (at most [`LEASE_SLACK_MAX`]): the holder renews it at its
/// next probe before it lapses, and a dead holder's lease lapses within
/// one and a half intervals.
pub fn lease_ttl(interval: Duration) -> Duration {
    interval + (interval / 2).min(LEASE_SLACK_MAX)
}
pub const LEASE_SLACK_MAX: Duration = Duration::from_secs(30);

impl Engine {
    /// Joins a fleet: from now on probes are leased, samples shared, spend
    /// counted and the chain edited through it. Once per engine.
    pub fn join_fleet(&self, fleet: Arc<dyn Fleet>) {
        let _ = self.inner.fleet.set(fleet);
    }

    pub fn fleet(&self) -> Option<&Arc<dyn Fleet>> {
        self.inner.fleet.get()
    }

    /// `Some(None)` with a reachable shared store, `Some(Some(why))` with
    /// one that is not, `None` without one.
    pub fn fleet_link(&self) -> Option<Option<String>> {
        self.fleet().map(|f| f.unreachable())
    }

    /// Other processes' samples of `model`, taken into the window (the
    /// same merge as the state file's, [`ModelHealth::absorb`]).
    pub fn take_foreign(&self, model: &str, samples: Vec<SharedSample>, now: DateTime<Utc>) {
        let Some(plan) = self.inner.plans.get(model) else {
            return;
        };
        let (samples, failures): (Vec<Sample>, Vec<FailureRecord>) = samples
            .into_iter()
            .map(|s| (s.sample, s.failure))
            .fold((Vec::new(), Vec::new()), |(mut ss, mut fs), (s, f)| {
                ss.push(s);
                fs.extend(f);
                (ss, fs)
            });
        let theirs = ModelHealth::from_samples(&plan.target.model_id, samples, failures);
        let events = lock(&self.inner.book).absorb(model, &theirs, now);
        for event in events {
            self.emit(EngineEvent::Health(event));
        }
    }

    /// The shared chain says `order`: followed (and saved to the state
    /// file, so a restart without the store starts from it) when it
    /// differs from this engine's.
    pub fn follow_fleet_chain(&self, order: &[String], now: DateTime<Utc>) {
        let order = Chain::of(&self.inner.config, Some(order)).order().to_vec();
        {
            let mut sync = lock(&self.inner.chain);
            if sync.order == order {
                return;
            }
            sync.order.clone_from(&order);
            if let Some(store) = &self.inner.store {
                let saved = store.update(|state| state.chain = Some(order.clone()));
                if let Err(e) = saved {
                    tracing::warn!("the shared chain could not be saved locally: {e}");
                }
                sync.stamp = store.stamp();
            }
        }
        tracing::info!("chain changed in the shared store: {}", order.join(" › "));
        self.emit(EngineEvent::Chain {
            at: now,
            order,
            change: ChainChange::Outside,
        });
    }

    /// Says that the shared store became unreachable (`Some(why)`) or
    /// reachable again (`None`): a warning on the event bus, which the
    /// screen logs and `watch` prints.
    pub fn fleet_changed(&self, why: Option<&str>, name: &str) {
        let message = match why {
            Some(why) => format!(
                "shared store unreachable ({name}: {why}); working on local state, resyncing when it returns"
            ),
            None => format!("shared store reachable again ({name}); resynced"),
        };
        tracing::warn!("{message}");
        self.emit(EngineEvent::Warning {
            at: Utc::now(),
            message,
        });
    }
}
