//! The scheduling loop: what is due is probed, one task per probe under a
//! per-endpoint cap, with prices refreshed hourly and the state saved every
//! few minutes, and within a second of a model's status changing.
//! [`Engine::run_due`] is the same work at a `now` the caller chooses, for
//! tests.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::{Attempt, FailureClass};
use crate::health::SampleKind;
use crate::probe::Condition;

use super::record::condition;
use super::{lock, Engine, EngineEvent};

/// Prices are fetched again this often.
pub const PRICE_REFRESH: Duration = Duration::from_secs(3600);
/// The live loop saves the state this often (and on exit, by its owner),
/// and at its next tick (within a second) after a status change.
pub const AUTOSAVE: Duration = Duration::from_secs(300);
/// How long a probe waits for the first `/models` fetch.
const FIRST_PRICES_WAIT: Duration = Duration::from_secs(5);
/// The live loop re-judges every model at least this often, so cool-downs
/// end and failures leave the window without a new sample.
const TICK: Duration = Duration::from_secs(1);

impl Engine {
    /// One probe of `model` now, recorded. `None` for an unknown model or
    /// one whose key variable is unset (no request is sent).
    pub async fn probe(&self, model: &str) -> Option<Attempt> {
        self.probe_at(model, None, false).await
    }

    /// Probes everything due at `now` (at most `probe.concurrency` at a time
    /// per endpoint) and records the outcomes at `now`. Returns how many
    /// probes ran. Fetches prices first if that was never tried.
    pub async fn run_due(&self, now: DateTime<Utc>) -> usize {
        self.first_prices(now).await;
        // The free signals first: a warning makes the paid probe due now.
        self.poll_signals(now).await;
        let due = lock(&self.inner.schedule).take_due(now);
        let n = due.len();
        let probes = due
            .iter()
            .map(|d| self.probe_at(&d.model, Some(now), !d.forced));
        futures_util::future::join_all(probes).await;
        self.after_probes(now);
        self.tick(now);
        n
    }

    /// Probes `model`, recording at `fixed` (tests) or at the wall clock.
    /// `leased`: in a fleet, only when this process holds the model's probe
    /// lease (else another process probes it this interval, and its sample
    /// comes through the shared store).
    async fn probe_at(
        &self,
        model: &str,
        fixed: Option<DateTime<Utc>>,
        leased: bool,
    ) -> Option<Attempt> {
        let plan = self.inner.plans.get(model)?;
        if leased {
            if let Some(fleet) = self.fleet() {
                let ttl = super::lease_ttl(plan.settings.interval);
                if !fleet.lease_probe(model, ttl).await {
                    let now = fixed.unwrap_or_else(Utc::now);
                    let cond = condition(&lock(&self.inner.book), model, now);
                    lock(&self.inner.schedule).finish(model, now, cond);
                    return None;
                }
            }
        }
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
        // Which models think comes with the first `/models`; a probe does not
        // wait long for it (the budget raise covers a model it missed).
        let _ = tokio::time::timeout(
            FIRST_PRICES_WAIT,
            self.first_prices(fixed.unwrap_or_else(Utc::now)),
        )
        .await;
        let mut attempt = self.send_probe(model, plan, key.clone()).await;
        let now = fixed.unwrap_or_else(Utc::now);
        if attempt.class() == Some(FailureClass::Budget) {
            attempt = self.after_budget(model, plan, key, attempt, now).await;
        }
        if fixed.is_some() {
            attempt.started_at = now;
        }
        let before = self.before_probe(model, now);
        self.record(model, &attempt, SampleKind::Probe, now);
        self.judge_probe(model, &attempt, before, now);
        let cond = condition(&lock(&self.inner.book), model, now);
        lock(&self.inner.schedule).finish(model, now, cond);
        Some(attempt)
    }

    /// Command: probe one model (or all) at once; the live loop wakes.
    pub fn probe_now(&self, model: Option<&str>) {
        lock(&self.inner.schedule).probe_now(model, Utc::now());
        self.inner.wake.notify_one();
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
                // The first fetch is the one the first probes wait for.
                let first = next_prices == start;
                side.spawn(async move {
                    if first {
                        engine.first_prices(Utc::now()).await;
                    } else {
                        engine.refresh_prices(Utc::now()).await;
                    }
                });
                next_prices = instant + PRICE_REFRESH;
            }
            let due = lock(&self.inner.schedule).take_due(now);
            for d in due {
                let engine = self.clone();
                probes.spawn(async move {
                    engine.probe_at(&d.model, None, !d.forced).await;
                });
            }
            // Free signals are polled beside the probes; a poll's end wakes
            // the loop like a probe's (a warning makes a probe due now).
            let signals = lock(&self.inner.schedule).take_signals(now);
            for model in signals {
                let engine = self.clone();
                probes.spawn(async move {
                    engine.poll_signal(&model, None).await;
                });
            }
            if instant >= next_tick {
                self.after_probes(now);
                self.tick(now);
                next_tick = instant + TICK;
            }
            if self.save_due(instant >= next_save) {
                let engine = self.clone();
                side.spawn(async move {
                    let saver = engine.clone();
                    let saved = tokio::task::spawn_blocking(move || saver.save_once()).await;
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

/// The signals that ask a long-running chainwatch to stop: SIGTERM,
/// SIGINT (Ctrl-C), SIGHUP (its terminal went away) and SIGQUIT. The
/// dashboard and `watch` then end as on `q`: terminal restored, state
/// saved. Listening starts when this is made (call it before the screen
/// is up, so no signal can slip in before); [`StopSignals::recv`] waits.
pub struct StopSignals {
    #[cfg(unix)]
    streams: Vec<tokio::signal::unix::Signal>,
}

impl StopSignals {
    /// Starts listening. Needs a tokio runtime.
    pub fn listen() -> StopSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let kinds = [
                SignalKind::terminate(),
                SignalKind::interrupt(),
                SignalKind::hangup(),
                SignalKind::quit(),
            ];
            let streams = kinds
                .into_iter()
                .filter_map(|kind| match signal(kind) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        tracing::warn!("cannot listen for signal {kind:?}: {e}");
                        None
                    }
                })
                .collect();
            StopSignals { streams }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    /// Resolves on the first of them (Ctrl-C alone where no other can be
    /// listened for).
    pub async fn recv(self) {
        #[cfg(unix)]
        {
            let mut streams = self.streams;
            if !streams.is_empty() {
                let waits = streams.iter_mut().map(|s| Box::pin(s.recv()));
                futures_util::future::select_all(waits).await;
                return;
            }
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
