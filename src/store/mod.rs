//! What survives a restart: chain order, acknowledged drifts, probe spend and
//! recent history, in one JSON file shared by every chainwatch process that
//! watches the same config.
//!
//! Where: `<config-stem>.state.json` beside the config file when one is
//! used (`work.toml` → `work.state.json`), else
//! `$XDG_STATE_HOME/chainwatch/state.json` (or `~/.local/state/…`), or
//! `--state FILE`. A `chainwatch-state.json` that an older chainwatch kept
//! beside the config (one for every config in the folder) is read when the
//! per-config file does not exist yet, and copied into it by the first
//! save; the old file is left where it is.
//!
//! How (see `disk` and `lock`):
//! - every read-modify-write ([`Store::update`]) holds an advisory `flock`
//!   on `<state>.lock` for the whole read-merge-write, behind a per-file
//!   lock within the process, so writers in any process take turns and
//!   none works from a stale read;
//! - the write is atomic (a private temporary file, fsync, rename); a
//!   symlinked state file is followed and its target replaced;
//! - only a regular file of at most [`STATE_FILE_MAX`] bytes is read;
//! - the file carries a format marker (`"format": "chainwatch-state"`).
//!   A marked file that no longer parses is moved aside
//!   (`….corrupt-<timestamp>`), and only by a write; a file without the
//!   marker that does not parse (not ours: the config, a typo'd path) is
//!   never renamed or overwritten, and saving to it is an error. Reading
//!   ([`Store::load`]) never renames anything.
//!
//! Keys are never part of the state.

mod disk;
mod lock;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::health::ModelHealth;
use crate::pricing::Ledger;

pub use disk::Stamp;

/// The file format's version; a file from a newer chainwatch is left alone
/// rather than misread or overwritten.
pub const STATE_VERSION: u32 = 1;
/// The marker every state file chainwatch writes carries in `format`.
pub const STATE_FORMAT: &str = "chainwatch-state";
/// Acknowledgements remembered (the newest win).
pub const ACKS_MAX: usize = 64;
/// A state file larger than this is not read (ours stay far below it).
pub const STATE_FILE_MAX: u64 = 64 * 1024 * 1024;
/// History of a model that left the config is kept this long…
pub const DEPARTED_DAYS: i64 = 7;
/// …for at most this many such models (the most recently seen).
pub const DEPARTED_MAX: usize = 64;
/// What older chainwatch versions called the state beside a config.
pub const LEGACY_NAME: &str = "chainwatch-state.json";

/// A drift the user has seen: "model X now serves Y, and that is fine".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AckedDrift {
    pub model: String,
    /// The served model (or fingerprint) acknowledged.
    pub served: String,
    pub at: DateTime<Utc>,
}

/// Everything kept across restarts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    /// [`STATE_FORMAT`]: first in the file, so that a damaged file still
    /// says whose it is. Empty in files from before the marker.
    #[serde(default)]
    pub format: String,
    pub version: u32,
    /// The chain as the user ordered it; `None` follows the config's order.
    #[serde(default)]
    pub chain: Option<Vec<String>>,
    #[serde(default)]
    pub acknowledged: Vec<AckedDrift>,
    /// Per-model health history, by model name.
    #[serde(default)]
    pub models: BTreeMap<String, ModelHealth>,
    /// When each model in `models` was last in a config that saved: models
    /// that left the config are forgotten [`DEPARTED_DAYS`] after.
    #[serde(default)]
    pub seen: BTreeMap<String, DateTime<Utc>>,
    /// What probes spent, per model per day.
    #[serde(default)]
    pub ledger: Ledger,
    #[serde(default)]
    pub saved_at: Option<DateTime<Utc>>,
}

impl Default for State {
    fn default() -> Self {
        State {
            format: STATE_FORMAT.to_string(),
            version: STATE_VERSION,
            chain: None,
            acknowledged: Vec::new(),
            models: BTreeMap::new(),
            seen: BTreeMap::new(),
            ledger: Ledger::default(),
            saved_at: None,
        }
    }
}

impl State {
    /// Remembers an acknowledgement (replacing the model's previous one).
    pub fn acknowledge(&mut self, model: &str, served: &str, at: DateTime<Utc>) {
        self.acknowledged.retain(|a| a.model != model);
        self.acknowledged.push(AckedDrift {
            model: model.to_string(),
            served: served.to_string(),
            at,
        });
        let excess = self.acknowledged.len().saturating_sub(ACKS_MAX);
        self.acknowledged.drain(..excess);
    }

    /// The served model acknowledged for `model`, if any.
    pub fn acknowledged_for(&self, model: &str) -> Option<&AckedDrift> {
        self.acknowledged.iter().rev().find(|a| a.model == model)
    }

    /// Puts the current models' history in, keeping that of models no
    /// longer configured for [`DEPARTED_DAYS`] after they were last seen, at
    /// most [`DEPARTED_MAX`] of them (the most recently seen): a model taken
    /// out of the config and put back within the week keeps its evidence.
    pub fn put_models(
        &mut self,
        current: impl IntoIterator<Item = (String, ModelHealth)>,
        now: DateTime<Utc>,
    ) {
        let mut models: BTreeMap<String, ModelHealth> = current.into_iter().collect();
        for name in models.keys() {
            self.seen.insert(name.clone(), now);
        }
        let cutoff = now - TimeDelta::days(DEPARTED_DAYS);
        let mut departed: Vec<(DateTime<Utc>, String, ModelHealth)> =
            std::mem::take(&mut self.models)
                .into_iter()
                .filter(|(name, _)| !models.contains_key(name))
                .map(|(name, h)| {
                    // A file from before `seen` starts the clock now.
                    let seen = *self.seen.entry(name.clone()).or_insert(now);
                    (seen, name, h)
                })
                .filter(|(seen, ..)| *seen >= cutoff)
                .collect();
        departed.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        departed.truncate(DEPARTED_MAX);
        models.extend(departed.into_iter().map(|(_, name, h)| (name, h)));
        self.seen.retain(|name, _| models.contains_key(name));
        self.models = models;
    }
}

/// Why the state could not be read or written. Nothing was renamed or
/// changed when one of these comes back.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot use the state file {path}: {why}")]
    Unusable { path: PathBuf, why: String },
    #[error(
        "the state file {path} is not a chainwatch state file ({why}); chainwatch will not \
         overwrite it: move it away, or pass --state FILE to keep the state elsewhere"
    )]
    Foreign { path: PathBuf, why: String },
    #[error(
        "the state file {path} was written by a newer chainwatch (format {version}, this one \
         reads up to {STATE_VERSION}); it is left as it is: upgrade, or pass --state FILE"
    )]
    Newer { path: PathBuf, version: u32 },
    #[error(
        "could not write the state file {path}: {source}; check that the directory is writable"
    )]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where the state lives, and how it is read and written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    path: PathBuf,
    /// An older, shared state file to start from while `path` does not
    /// exist yet.
    legacy: Option<PathBuf>,
}

impl Store {
    /// A store at an explicit path (tests, `--state`).
    pub fn at(path: impl Into<PathBuf>) -> Store {
        Store {
            path: path.into(),
            legacy: None,
        }
    }

    /// The default location: `<config-stem>.state.json` beside the config
    /// file when one is used (migrating an old `chainwatch-state.json`
    /// there), else under `$XDG_STATE_HOME` or `~/.local/state`. `None` when
    /// there is no home to put it in.
    pub fn default_for(config_path: Option<&Path>) -> Option<Store> {
        let path = default_path_from(
            config_path,
            std::env::var_os("XDG_STATE_HOME").as_deref(),
            std::env::var_os("HOME").as_deref(),
        )?;
        let legacy = config_path.map(|_| path.with_file_name(LEGACY_NAME));
        Some(Store { path, legacy })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The same store under another file name in the same folder (the
    /// demo's own file), without a legacy file to migrate.
    pub fn with_file_name(&self, name: &str) -> Store {
        Store::at(self.path.with_file_name(name))
    }

    /// Reads the state without changing anything on disk. A missing file is
    /// a fresh start; one that cannot be used gives a fresh state and a
    /// warning that says what a save will do about it.
    pub fn load(&self) -> (State, Option<String>) {
        match disk::read(self) {
            Ok(disk::Found::State(state)) => (*state, None),
            Ok(disk::Found::Missing) => (State::default(), None),
            Ok(disk::Found::Damaged(why)) => (
                State::default(),
                Some(format!(
                    "the state file {} is damaged ({why}); starting fresh, and the next save \
                     moves it aside",
                    self.path.display()
                )),
            ),
            Err(e) => (State::default(), Some(e.to_string())),
        }
    }

    /// What the state file is now (cheap: one `stat`), to notice that
    /// another process wrote it. `None` when there is none.
    pub fn stamp(&self) -> Option<Stamp> {
        disk::stamp(&self.path)
    }

    /// Load, change, save, holding the lock throughout: so that two writers
    /// (another process reordering the chain, the dashboard saving history)
    /// never undo each other. A damaged file of ours is moved aside first.
    pub fn update(&self, change: impl FnOnce(&mut State)) -> Result<(), StoreError> {
        self.try_update(|state| {
            change(state);
            Ok::<(), Infallible>(())
        })
        .map(|done| match done {
            Ok(()) => (),
            Err(never) => match never {},
        })
    }

    /// [`Store::update`] for a change that may refuse: on `Err` nothing is
    /// written and the refusal comes back inside `Ok`.
    pub fn try_update<T, E>(
        &self,
        change: impl FnOnce(&mut State) -> Result<T, E>,
    ) -> Result<Result<T, E>, StoreError> {
        let target = disk::resolve(&self.path)?;
        let turn = lock::turn_for(&target);
        let _turn = turn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut flock = lock::open(&target)?;
        let _held = flock.write().map_err(|source| StoreError::Write {
            path: target.clone(),
            source,
        })?;
        let mut state = match disk::read(self)? {
            disk::Found::State(state) => *state,
            disk::Found::Missing => State::default(),
            disk::Found::Damaged(why) => {
                let note = disk::move_aside(&target)?;
                tracing::warn!(
                    "the state file {} was damaged ({why}); {note}; starting fresh",
                    target.display()
                );
                State::default()
            }
        };
        let result = change(&mut state);
        if result.is_ok() {
            state.format = STATE_FORMAT.to_string();
            state.version = STATE_VERSION;
            disk::write(&target, &state)?;
        }
        Ok(result)
    }
}

/// The default state path, from the environment's values (pure, for tests).
pub fn default_path_from(
    config_path: Option<&Path>,
    xdg_state_home: Option<&std::ffi::OsStr>,
    home: Option<&std::ffi::OsStr>,
) -> Option<PathBuf> {
    if let Some(config) = config_path {
        let dir = config
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let stem = config
            .file_stem()
            .map_or_else(|| "chainwatch".into(), |s| s.to_string_lossy().into_owned());
        return Some(dir.join(format!("{stem}.state.json")));
    }
    // The XDG spec says a relative value is invalid and must be ignored.
    let base = xdg_state_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            home.filter(|h| !h.is_empty())
                .map(|h| Path::new(h).join(".local/state"))
        })?;
    Some(base.join("chainwatch").join("state.json"))
}
