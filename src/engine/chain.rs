//! The chain as the running engine knows it: every edit made here is an
//! operation saved under the state file's lock (and an event), and an edit
//! made by another process (`chainwatch chain move`, another dashboard) is
//! noticed on the tick — one `stat` of the state file, the file read only
//! when it changed — and reported as "chain changed by another process"
//! within [`CHAIN_POLL`] of it. The samples another process saved
//! (`serve`'s traffic beside a dashboard) are taken in at the same read.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::route::{save_edit, Chain, ChainEdit, SaveEditError};
use crate::store::Stamp;

use super::{lock, Engine, EngineEvent, FleetEditError};

/// How often the state file is looked at for outside chain edits.
pub const CHAIN_POLL: Duration = Duration::from_secs(1);

/// Why the chain changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainChange {
    /// This process edited it.
    Edited(ChainEdit),
    /// Another process did; this is what the state file says now.
    Outside,
}

/// What the engine last knew of the chain on disk.
pub(super) struct ChainSync {
    pub(super) order: Vec<String>,
    pub(super) stamp: Option<Stamp>,
    next_poll: Option<DateTime<Utc>>,
}

impl ChainSync {
    pub(super) fn new(order: Vec<String>, stamp: Option<Stamp>) -> ChainSync {
        ChainSync {
            order,
            stamp,
            next_poll: None,
        }
    }
}

impl Engine {
    /// The chain order as this engine last saved or saw it on disk.
    pub fn chain_order(&self) -> Vec<String> {
        lock(&self.inner.chain).order.clone()
    }

    /// Applies `edit` to the chain as it is on disk now (under the state
    /// file's lock), saves it, and tells subscribers. Returns the order
    /// after the edit, with any other process's edits in it. Without a
    /// store the edit applies to the engine's own copy. Blocking I/O: call
    /// it off the UI's task.
    pub fn edit_chain(&self, edit: &ChainEdit) -> Result<Vec<String>, SaveEditError> {
        // Held across the save, so the tick never takes our own write for
        // another process's.
        let mut sync = lock(&self.inner.chain);
        // With a shared store its chain is the one edited; the state file
        // keeps a copy. A store that cannot be reached queues the edit and
        // the file takes it meanwhile.
        if let Some(fleet) = self.fleet() {
            match fleet.edit_chain(edit) {
                Ok(order) => {
                    let order = Chain::of(&self.inner.config, Some(&order)).order().to_vec();
                    if let Some(store) = &self.inner.store {
                        store.update(|state| state.chain = Some(order.clone()))?;
                        sync.stamp = store.stamp();
                    }
                    sync.order.clone_from(&order);
                    drop(sync);
                    self.emit(EngineEvent::Chain {
                        at: Utc::now(),
                        order: order.clone(),
                        change: ChainChange::Edited(edit.clone()),
                    });
                    return Ok(order);
                }
                Err(FleetEditError::Edit(e)) => return Err(SaveEditError::Edit(e)),
                Err(FleetEditError::Unreachable(why)) => {
                    tracing::warn!("chain edit kept for the shared store ({why})");
                }
            }
        }
        let order = match &self.inner.store {
            Some(store) => {
                let chain = save_edit(&self.inner.config, store, edit)?;
                sync.stamp = store.stamp();
                chain.order().to_vec()
            }
            None => {
                let mut chain = Chain::of(&self.inner.config, Some(&sync.order));
                chain.apply(edit)?;
                chain.order().to_vec()
            }
        };
        sync.order.clone_from(&order);
        drop(sync);
        self.emit(EngineEvent::Chain {
            at: Utc::now(),
            order: order.clone(),
            change: ChainChange::Edited(edit.clone()),
        });
        Ok(order)
    }

    /// Looks at the state file (at most once per [`CHAIN_POLL`] of `now`)
    /// and reports a chain another process saved. Skipped while an edit of
    /// this process is being saved.
    pub(super) fn follow_chain(&self, now: DateTime<Utc>) {
        let Some(store) = &self.inner.store else {
            return;
        };
        let Ok(mut sync) = self.inner.chain.try_lock() else {
            return;
        };
        if sync.next_poll.is_some_and(|next| now < next) {
            return;
        }
        sync.next_poll = Some(now + CHAIN_POLL);
        // Stamped before reading: a write in between is seen next time.
        let stamp = store.stamp();
        if stamp == sync.stamp {
            return;
        }
        sync.stamp = stamp;
        let (state, _) = store.load();
        let order = Chain::of(&self.inner.config, state.chain.as_deref())
            .order()
            .to_vec();
        let chain_changed = order != sync.order;
        if chain_changed {
            sync.order.clone_from(&order);
        }
        drop(sync);
        // Another process's samples (`serve`'s traffic, `ask`, `check`)
        // are evidence here too, at once rather than at the next save.
        let absorbed: Vec<_> = {
            let mut book = lock(&self.inner.book);
            state
                .models
                .iter()
                .flat_map(|(name, theirs)| book.absorb(name, theirs, now))
                .collect()
        };
        for event in absorbed {
            self.emit(EngineEvent::Health(event));
        }
        if !chain_changed {
            return;
        }
        tracing::info!("chain changed by another process: {}", order.join(" › "));
        self.emit(EngineEvent::Chain {
            at: now,
            order,
            change: ChainChange::Outside,
        });
    }
}
