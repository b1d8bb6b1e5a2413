//! What survives a restart, through the store: at start, each model's
//! history and drift acknowledgement are restored (and the spend, by the
//! caller); [`Engine::save`] writes them back, first taking in what other
//! processes (`ask`, `check`) saved meanwhile so that nobody's evidence is
//! erased.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};

use crate::health::HealthBook;
use crate::store::{State, Store};

use super::{lock, Engine, EngineEvent};

/// The saved state, or a fresh one without a store; the warning says why a
/// bad file was moved aside.
pub(super) fn load(store: Option<&Store>) -> (State, Option<String>) {
    match store {
        Some(store) => store.load(),
        None => Default::default(),
    }
}

/// Registers a model in `book` with the history `state` kept for it, and
/// keeps its drift acknowledged if the user acknowledged this very drift.
pub(super) fn restore_model(
    book: &mut HealthBook,
    state: &State,
    name: &str,
    id: &str,
    now: DateTime<Utc>,
) {
    match state.models.get(name) {
        // History of a model whose id changed belongs to another model.
        Some(h) if h.id == id => book.restore(name, id, h.clone()),
        _ => book.add_model(name, id),
    }
    if let Some(ack) = state.acknowledged_for(name) {
        let acked = book
            .model(name)
            .and_then(|m| m.drift())
            .is_some_and(|d| d.to == ack.served);
        if acked {
            book.acknowledge_drift(name, now);
        }
    }
}

impl Engine {
    /// Whether the live loop should save now: the autosave is due
    /// (`periodic`), or a model's status changed since the last save (so
    /// that `ask` in another process sees it within a second). Never while
    /// a save is being written; claims the save when it answers yes.
    pub(super) fn save_due(&self, periodic: bool) -> bool {
        if self.inner.store.is_none() || self.inner.saving.load(Ordering::Acquire) {
            return false;
        }
        let changed = self.inner.status_changed.swap(false, Ordering::AcqRel);
        let due = periodic || changed;
        if due {
            self.inner.saving.store(true, Ordering::Release);
        }
        due
    }

    /// [`Engine::save`] for a save claimed by [`Engine::save_due`].
    pub(super) fn save_once(&self) -> anyhow::Result<()> {
        let saved = self.save();
        self.inner.saving.store(false, Ordering::Release);
        saved
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
                // Models that left the config keep their history a while.
                state.put_models(book.models().map(|(n, h)| (n.clone(), h.clone())), now);
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
}
