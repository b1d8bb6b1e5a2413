//! Shared state on Redis (or Valkey): many `serve`, `watch` and dashboard
//! processes of one team as one fleet. `[store] redis_url` (or
//! `CHAINWATCH_REDIS_URL`) turns it on; without it nothing here runs.
//!
//! | file | holds |
//! |---|---|
//! | `mod` | [`Shared`]: the engine's [`Fleet`] on Redis (leases, chain edits, the outbox) |
//! | `sync` | the background loop: outbox sent, everyone's samples taken in, the chain and the ledger followed, reconnection |
//! | `wire` | keys, Lua scripts, replies read back |
//!
//! What is shared, and how:
//! - **the chain**: one key holding the order as JSON; an edit reads it,
//!   applies the [`ChainEdit`] and writes it back only if nobody wrote in
//!   between (a compare-and-set script, retried), then publishes the new
//!   order; every process follows on the message (and on its next sync,
//!   every [`SYNC_EVERY`], should a message be lost);
//! - **health samples**: each process appends the samples it takes
//!   (probes, prompts, traffic) to one stream per model (`XADD … MAXLEN ~`
//!   [`STREAM_MAXLEN`]) and folds everyone else's into its own window
//!   with the same merge the state file uses ([`crate::health::ModelHealth::absorb`]);
//! - **probe leases**: a model's regular probe runs only in the process
//!   holding its lease (taken with `SET NX PX`, renewed by the holder at
//!   each probe, [`crate::engine::lease_ttl`] long): once per interval for
//!   the fleet; a dead holder's lease lapses and the next process due takes it;
//! - **the probe ledger**: `INCRBYFLOAT` per UTC day; the daily budget is
//!   the fleet's;
//! - **alert delivery**: one lease per rule, model and new status for the
//!   rule's `min_interval`: one outage pages once.
//!
//! Redis down: leases are granted locally (every process probes, as
//! without Redis), edits go to the state file and are queued for Redis,
//! samples wait in a bounded outbox; the screen and `/metrics` say "shared
//! store unreachable", and all of it is sent when Redis is back. Nothing
//! on the probe or route path waits on Redis longer than [`OP_TIMEOUT`].

mod sync;
pub mod wire;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use redis::aio::ConnectionManager;
use tokio::sync::Notify;

use crate::config::{Config, StoreSettings};
use crate::engine::{Engine, Fleet, FleetEditError, FleetFuture, SharedSample};
use crate::route::{Chain, ChainEdit, ChainError};

pub use sync::SYNC_EVERY;

/// One Redis call on the probe or edit path gives up after this; the
/// process then carries on alone.
pub const OP_TIMEOUT: Duration = Duration::from_millis(500);
/// Entries kept per model's sample stream (`MAXLEN ~`): a window's worth
/// at the fastest probing, as a model's own ring ([`crate::health::RING_CAP`]) × 4.
pub const STREAM_MAXLEN: usize = 2048;
/// Samples waiting for Redis at most; older ones are dropped first.
pub const OUTBOX_MAX: usize = 10_000;
/// Chain edits waiting for Redis at most.
pub const PENDING_EDITS_MAX: usize = 1_000;
/// A compare-and-set edit is retried this often against concurrent ones.
const CAS_TRIES: usize = 16;

/// The engine's [`Fleet`] on Redis.
pub struct Shared {
    /// Itself, for the tasks an edit spawns.
    me: std::sync::Weak<Shared>,
    client: redis::Client,
    shown: String,
    config: Config,
    /// This process, in leases and in the sample streams.
    holder: String,
    handle: tokio::runtime::Handle,
    state: Mutex<State>,
    /// Wakes the sync loop (a chain message, an edit to replay).
    wake: Notify,
}

#[derive(Default)]
struct State {
    conn: Option<ConnectionManager>,
    /// Why Redis is unreachable, while it is.
    down: Option<String>,
    /// The fleet's probe spend, as last read.
    spend: Option<(NaiveDate, f64)>,
    /// Samples not sent yet: (model, entry).
    outbox: VecDeque<(String, String)>,
    /// Spend not added yet, by day.
    unspent: HashMap<NaiveDate, f64>,
    /// Edits made while Redis could not be reached, oldest first.
    pending_edits: VecDeque<ChainEdit>,
    /// Each sample stream's last entry read.
    read_ids: HashMap<String, String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Why an edit did not reach Redis.
enum CasError {
    Edit(ChainError),
    Redis(String),
}

impl Shared {
    /// A fleet member for `config`'s models on the Redis at `url`. Needs a
    /// Tokio runtime. Connects lazily: an unreachable Redis is not an
    /// error here (the sync loop keeps trying); a malformed URL is.
    pub fn new(url: &str, config: &Config) -> anyhow::Result<Arc<Shared>> {
        let shown = StoreSettings::redis_shown(url);
        let url = url.replacen("valkey://", "redis://", 1);
        let client = redis::Client::open(url.as_str())
            .map_err(|e| anyhow::anyhow!("[store] redis_url {shown}: {e}"))?;
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| anyhow::anyhow!("the shared store needs a Tokio runtime"))?;
        Ok(Arc::new_cyclic(|me| Shared {
            me: me.clone(),
            client,
            shown,
            config: config.clone(),
            holder: format!("{}-{:016x}", std::process::id(), fastrand::u64(..)),
            handle,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
        }))
    }

    /// This process's name in leases and streams.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    fn conn(&self) -> Option<ConnectionManager> {
        lock(&self.state).conn.clone()
    }

    /// The connection, unless Redis is known to be away (then a lease is
    /// granted at once instead of waiting for a timeout).
    fn conn_if_up(&self) -> Option<ConnectionManager> {
        let state = lock(&self.state);
        state.down.is_none().then(|| state.conn.clone()).flatten()
    }

    /// Applies `edit` to the chain in Redis: read, apply, compare-and-set,
    /// retried while other edits come first. The order after it.
    async fn cas_edit(
        &self,
        conn: &mut ConnectionManager,
        edit: &ChainEdit,
    ) -> Result<Vec<String>, CasError> {
        let key = wire::chain_key();
        for _ in 0..CAS_TRIES {
            let current: Option<String> = redis::cmd("GET")
                .arg(&key)
                .query_async(conn)
                .await
                .map_err(|e| CasError::Redis(e.to_string()))?;
            let saved: Option<Vec<String>> = current
                .as_deref()
                .and_then(|c| serde_json::from_str(c).ok());
            let mut chain = Chain::of(&self.config, saved.as_deref());
            chain.apply(edit).map_err(CasError::Edit)?;
            let order = chain.order().to_vec();
            let new = serde_json::to_string(&order).unwrap_or_default();
            let set: i64 = redis::cmd("EVAL")
                .arg(wire::CHAIN_CAS)
                .arg(1)
                .arg(&key)
                .arg(current.unwrap_or_default())
                .arg(&new)
                .arg(wire::chain_channel())
                .query_async(conn)
                .await
                .map_err(|e| CasError::Redis(e.to_string()))?;
            if set == 1 {
                return Ok(order);
            }
        }
        Err(CasError::Redis(format!(
            "{CAS_TRIES} edits in a row came first; try again"
        )))
    }

    fn queue_edit(&self, edit: ChainEdit) {
        let mut state = lock(&self.state);
        if state.pending_edits.len() >= PENDING_EDITS_MAX {
            state.pending_edits.pop_front();
        }
        state.pending_edits.push_back(edit);
    }
}

impl Fleet for Shared {
    fn lease_probe<'a>(&'a self, model: &'a str, ttl: Duration) -> FleetFuture<'a, bool> {
        Box::pin(async move {
            let Some(mut conn) = self.conn_if_up() else {
                return true;
            };
            let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            let taken = tokio::time::timeout(
                OP_TIMEOUT,
                redis::cmd("EVAL")
                    .arg(wire::LEASE)
                    .arg(1)
                    .arg(wire::probe_lease_key(model))
                    .arg(&self.holder)
                    .arg(ms)
                    .query_async::<i64>(&mut conn),
            )
            .await;
            match taken {
                Ok(Ok(held)) => held == 1,
                // Not knowing, probe: the store's trouble must not blind
                // the fleet.
                Ok(Err(e)) => {
                    tracing::debug!("probe lease for {model}: {e}");
                    true
                }
                Err(_) => true,
            }
        })
    }

    fn publish(&self, model: &str, sample: SharedSample) {
        let Ok(entry) = serde_json::to_string(&sample) else {
            return;
        };
        let mut state = lock(&self.state);
        if state.outbox.len() >= OUTBOX_MAX {
            state.outbox.pop_front();
        }
        state.outbox.push_back((model.to_string(), entry));
    }

    fn spend(&self, usd: f64, now: DateTime<Utc>) {
        *lock(&self.state)
            .unspent
            .entry(now.date_naive())
            .or_default() += usd;
    }

    fn spend_today(&self, now: DateTime<Utc>) -> Option<f64> {
        let state = lock(&self.state);
        let day = now.date_naive();
        let read = state.spend.filter(|(d, _)| *d == day).map(|(_, v)| v)?;
        Some(read + state.unspent.get(&day).copied().unwrap_or(0.0))
    }

    fn edit_chain(&self, edit: &ChainEdit) -> Result<Vec<String>, FleetEditError> {
        let why = lock(&self.state).down.clone();
        let Some(mut conn) = self.conn_if_up() else {
            self.queue_edit(edit.clone());
            return Err(FleetEditError::Unreachable(
                why.unwrap_or_else(|| "not connected yet".into()),
            ));
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let edit = edit.clone();
        // The work runs on the runtime; this (blocking) thread waits for
        // it. Should the wait end first, the task still queues the edit
        // itself if Redis fails it, so no edit is lost or applied twice.
        let shared = self.me.upgrade();
        self.handle.spawn(async move {
            let Some(shared) = shared else {
                return;
            };
            let result =
                tokio::time::timeout(OP_TIMEOUT * 4, shared.cas_edit(&mut conn, &edit)).await;
            let result = match result {
                Ok(Ok(order)) => Ok(order),
                Ok(Err(CasError::Edit(e))) => Err(FleetEditError::Edit(e)),
                Ok(Err(CasError::Redis(why))) => {
                    shared.queue_edit(edit.clone());
                    shared.wake.notify_one();
                    Err(FleetEditError::Unreachable(why))
                }
                Err(_) => {
                    shared.queue_edit(edit.clone());
                    Err(FleetEditError::Unreachable(
                        "Redis did not answer in time".into(),
                    ))
                }
            };
            let _ = tx.send(result);
        });
        rx.recv_timeout(OP_TIMEOUT * 5).unwrap_or_else(|_| {
            Err(FleetEditError::Unreachable(
                "Redis did not answer in time".into(),
            ))
        })
    }

    fn lease_alert<'a>(&'a self, key: String, ttl: Duration) -> FleetFuture<'a, bool> {
        Box::pin(async move {
            let Some(mut conn) = self.conn_if_up() else {
                return true;
            };
            let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            let set = tokio::time::timeout(
                OP_TIMEOUT,
                redis::cmd("SET")
                    .arg(wire::alert_lease_key(&key))
                    .arg(&self.holder)
                    .arg("NX")
                    .arg("PX")
                    .arg(ms)
                    .query_async::<Option<String>>(&mut conn),
            )
            .await;
            match set {
                Ok(Ok(reply)) => reply.is_some(),
                // Better paged twice than never.
                _ => true,
            }
        })
    }

    fn unreachable(&self) -> Option<String> {
        lock(&self.state).down.clone()
    }

    fn name(&self) -> String {
        self.shown.clone()
    }
}

/// Joins `engine` to the shared store its config names (`[store]
/// redis_url`, or `CHAINWATCH_REDIS_URL`), starting the sync loop until
/// `stop`. `None` without one; a malformed URL is said on the engine's
/// event bus and in the log, and the engine carries on alone.
pub fn join(engine: &Engine, stop: tokio_util::sync::CancellationToken) -> Option<Arc<Shared>> {
    let url = engine
        .config()
        .store
        .redis_url_from(|var| std::env::var(var).ok())?;
    match Shared::new(&url, engine.config()) {
        Ok(shared) => {
            engine.join_fleet(shared.clone());
            shared.clone().spawn(engine.clone(), stop);
            Some(shared)
        }
        Err(e) => {
            tracing::warn!("{e:#}");
            engine.announce(crate::engine::EngineEvent::Warning {
                at: Utc::now(),
                message: format!("{e:#}; working without the shared store"),
            });
            None
        }
    }
}
