//! The user-editable fallback chain, and the one way the program loads it:
//! the order saved in the state file, else the config's.
//!
//! An edit is a [`ChainEdit`], an operation ("move X to 2", "take X out"),
//! never a whole order: [`save_edit`] applies it to the order *on disk*
//! under the state file's lock, so two edits from two processes (or a
//! dashboard and `chainwatch chain`) both survive, whatever each had read
//! before.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::store::{Store, StoreError};

/// The fallback chain: the user's order of the models in it, and the config's
/// order to reset to. Models not in the chain are still watched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    configured: Vec<String>,
    order: Vec<String>,
    known: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("unknown model {name:?}; known models: {known}")]
    Unknown { name: String, known: String },
    #[error("{0:?} is not in the chain; add it with `chainwatch chain add {0}`")]
    NotInChain(String),
    #[error("{0:?} is already in the chain")]
    AlreadyInChain(String),
    #[error("position {pos} is out of range: the chain has {len} models (positions 1..={len})")]
    BadPosition { pos: usize, len: usize },
}

impl Chain {
    /// The chain every command and the dashboard start from: the order saved
    /// in `store` (see `chainwatch chain`), else the config's; with a
    /// warning when the state file could not be read.
    pub fn load(config: &Config, store: Option<&Store>) -> (Chain, Option<String>) {
        let (saved, warning) = match store {
            Some(store) => {
                let (state, warning) = store.load();
                (state.chain, warning)
            }
            None => (None, None),
        };
        (Chain::of(config, saved.as_deref()), warning)
    }

    /// The chain of `config` with the order `saved` in a state file (see
    /// [`Chain::new`]).
    pub fn of(config: &Config, saved: Option<&[String]>) -> Chain {
        Chain::new(&config.chain, &known_models(config), saved)
    }

    /// `configured` is the config's chain; `known` every model name;
    /// `saved` the order a user saved earlier, if any (names that no longer
    /// exist are dropped).
    pub fn new(configured: &[String], known: &[String], saved: Option<&[String]>) -> Chain {
        let order = match saved {
            Some(saved) => {
                let known: HashSet<&str> = known.iter().map(String::as_str).collect();
                let mut seen = HashSet::new();
                saved
                    .iter()
                    .filter(|name| known.contains(name.as_str()) && seen.insert(name.as_str()))
                    .cloned()
                    .collect()
            }
            None => configured.to_vec(),
        };
        Chain {
            configured: configured.to_vec(),
            order,
            known: known.to_vec(),
        }
    }

    /// The models in the chain, first choice first.
    pub fn order(&self) -> &[String] {
        &self.order
    }

    /// Every model, chain first then the rest, as the screen lists them.
    pub fn known(&self) -> &[String] {
        &self.known
    }

    pub fn contains(&self, name: &str) -> bool {
        self.order.iter().any(|n| n == name)
    }

    /// 1-based position in the chain.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.order.iter().position(|n| n == name).map(|i| i + 1)
    }

    /// Whether the order differs from the config's.
    pub fn is_customised(&self) -> bool {
        self.order != self.configured
    }

    fn check_known(&self, name: &str) -> Result<(), ChainError> {
        if self.known.iter().any(|n| n == name) {
            Ok(())
        } else {
            Err(ChainError::Unknown {
                name: name.to_string(),
                known: self.known.join(", "),
            })
        }
    }

    fn index(&self, name: &str) -> Result<usize, ChainError> {
        self.check_known(name)?;
        self.order
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| ChainError::NotInChain(name.to_string()))
    }

    /// Moves a model to a 1-based position.
    pub fn move_to(&mut self, name: &str, pos: usize) -> Result<(), ChainError> {
        let from = self.index(name)?;
        let len = self.order.len();
        if pos == 0 || pos > len {
            return Err(ChainError::BadPosition { pos, len });
        }
        let model = self.order.remove(from);
        self.order.insert(pos - 1, model);
        Ok(())
    }

    /// Moves a model one place earlier (`-1`) or later (`+1`); at either end
    /// it stays put.
    pub fn shift(&mut self, name: &str, by: isize) -> Result<(), ChainError> {
        let from = self.index(name)?;
        let to = from.saturating_add_signed(by).min(self.order.len() - 1);
        let model = self.order.remove(from);
        self.order.insert(to, model);
        Ok(())
    }

    pub fn remove(&mut self, name: &str) -> Result<(), ChainError> {
        let at = self.index(name)?;
        self.order.remove(at);
        Ok(())
    }

    /// Adds a model at a 1-based position, or at the end.
    pub fn add(&mut self, name: &str, pos: Option<usize>) -> Result<(), ChainError> {
        self.check_known(name)?;
        if self.contains(name) {
            return Err(ChainError::AlreadyInChain(name.to_string()));
        }
        let len = self.order.len();
        let pos = pos.unwrap_or(len + 1);
        if pos == 0 || pos > len + 1 {
            return Err(ChainError::BadPosition { pos, len: len + 1 });
        }
        self.order.insert(pos - 1, name.to_string());
        Ok(())
    }

    /// Takes a model out of the chain or puts it back at the end.
    pub fn toggle(&mut self, name: &str) -> Result<(), ChainError> {
        if self.contains(name) {
            self.remove(name)
        } else {
            self.add(name, None)
        }
    }

    pub fn reset(&mut self) {
        self.order = self.configured.clone();
    }

    /// Takes `order` (as saved on disk) for the chain's order; unknown and
    /// repeated names are dropped as in [`Chain::new`].
    pub fn set_order(&mut self, order: &[String]) {
        self.order = Chain::new(&self.configured, &self.known, Some(order)).order;
    }

    /// What the state file keeps: `None` while the order is the config's,
    /// so that a later edit of the config is not masked by a saved copy of
    /// its old order.
    pub fn saved(&self) -> Option<Vec<String>> {
        self.is_customised().then(|| self.order.clone())
    }

    /// Carries out `edit`; on error nothing changed.
    pub fn apply(&mut self, edit: &ChainEdit) -> Result<(), ChainError> {
        match edit {
            ChainEdit::Move { model, to } => self.move_to(model, *to),
            ChainEdit::Top { model } => self.move_to(model, 1),
            ChainEdit::Shift { model, by } => self.shift(model, *by),
            ChainEdit::Remove { model } => self.remove(model),
            ChainEdit::Add { model, at } => self.add(model, *at),
            ChainEdit::Reset => {
                self.reset();
                Ok(())
            }
            ChainEdit::Restore { order } => {
                self.set_order(order);
                Ok(())
            }
        }
    }

    /// The edit that undoes `edit` if it is applied to this chain now:
    /// what an undo key sends after `edit`. `None` when `edit` would fail.
    pub fn inverse(&self, edit: &ChainEdit) -> Option<ChainEdit> {
        let mut after = self.clone();
        after.apply(edit).ok()?;
        let back_to = |model: &str| {
            Some(match self.position(model) {
                Some(to) => ChainEdit::Move {
                    model: model.to_string(),
                    to,
                },
                None => ChainEdit::Remove {
                    model: model.to_string(),
                },
            })
        };
        match edit {
            ChainEdit::Move { model, .. }
            | ChainEdit::Top { model }
            | ChainEdit::Shift { model, .. } => back_to(model),
            ChainEdit::Remove { model } => Some(ChainEdit::Add {
                model: model.clone(),
                at: self.position(model),
            }),
            ChainEdit::Add { model, .. } => Some(ChainEdit::Remove {
                model: model.clone(),
            }),
            ChainEdit::Reset | ChainEdit::Restore { .. } => Some(ChainEdit::Restore {
                order: self.order.clone(),
            }),
        }
    }
}

/// One change to the chain, as the user asked for it. Saved as what it is,
/// applied to the order on disk under the lock ([`save_edit`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "edit", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChainEdit {
    /// Move a model to a 1-based position.
    Move { model: String, to: usize },
    /// Move a model to the top (first choice).
    Top { model: String },
    /// One place earlier (`-1`) or later (`+1`); at either end it stays.
    Shift { model: String, by: isize },
    /// Take a model out of the chain (it is still watched).
    Remove { model: String },
    /// Put a model back, at a 1-based position or at the end.
    Add { model: String, at: Option<usize> },
    /// Back to the config's order.
    Reset,
    /// Exactly this order: only to undo a reset ([`Chain::inverse`]).
    Restore { order: Vec<String> },
}

impl fmt::Display for ChainEdit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainEdit::Move { model, to } => write!(f, "moved {model} to {to}"),
            ChainEdit::Top { model } => write!(f, "moved {model} to the top"),
            ChainEdit::Shift { model, by } if *by < 0 => write!(f, "moved {model} up"),
            ChainEdit::Shift { model, .. } => write!(f, "moved {model} down"),
            ChainEdit::Remove { model } => write!(f, "took {model} out"),
            ChainEdit::Add {
                model,
                at: Some(at),
            } => write!(f, "put {model} back at {at}"),
            ChainEdit::Add { model, at: None } => write!(f, "put {model} back"),
            ChainEdit::Reset => f.write_str("reset to the config's order"),
            ChainEdit::Restore { .. } => f.write_str("restored the previous order"),
        }
    }
}

/// Why a chain edit was not saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveEditError {
    /// The edit does not fit the chain as it is on disk now.
    #[error(transparent)]
    Edit(#[from] ChainError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Applies `edit` to the chain as saved in `store`, under its lock, and
/// saves the result: the chain as it is now, with every other process's
/// edits in it.
pub fn save_edit(config: &Config, store: &Store, edit: &ChainEdit) -> Result<Chain, SaveEditError> {
    let edited = store.try_update(|state| {
        let mut chain = Chain::of(config, state.chain.as_deref());
        chain.apply(edit)?;
        state.chain = chain.saved();
        Ok::<Chain, ChainError>(chain)
    })?;
    Ok(edited?)
}

/// Every model name, the config's chain first, as [`Chain::known`] lists them.
fn known_models(config: &Config) -> Vec<String> {
    let mut seen: HashSet<&str> = HashSet::new();
    config
        .chain
        .iter()
        .chain(config.models.iter().map(|m| &m.name))
        .filter(|name| seen.insert(name.as_str()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn chain() -> Chain {
        Chain::new(
            &names(&["a", "b", "c"]),
            &names(&["a", "b", "c", "d"]),
            None,
        )
    }

    #[test]
    fn edits() {
        let mut c = chain();
        c.move_to("c", 1).unwrap();
        assert_eq!(c.order(), names(&["c", "a", "b"]));
        c.shift("c", 1).unwrap();
        assert_eq!(c.order(), names(&["a", "c", "b"]));
        c.shift("a", -1).unwrap();
        assert_eq!(c.order(), names(&["a", "c", "b"]), "top stays top");
        c.shift("b", 1).unwrap();
        assert_eq!(c.order(), names(&["a", "c", "b"]), "bottom stays bottom");
        c.toggle("c").unwrap();
        assert_eq!(c.order(), names(&["a", "b"]));
        c.toggle("d").unwrap();
        assert_eq!(c.order(), names(&["a", "b", "d"]));
        c.add("c", Some(1)).unwrap();
        assert_eq!(c.order(), names(&["c", "a", "b", "d"]));
        assert!(c.is_customised());
        assert_eq!(c.position("a"), Some(2));
        c.reset();
        assert_eq!(c.order(), names(&["a", "b", "c"]));
        assert!(!c.is_customised());
    }

    #[test]
    fn errors_name_the_problem() {
        let mut c = chain();
        let err = c.move_to("zz", 1).unwrap_err().to_string();
        assert!(
            err.contains("unknown model \"zz\"") && err.contains("a, b, c, d"),
            "{err}"
        );
        assert_eq!(
            c.move_to("a", 4),
            Err(ChainError::BadPosition { pos: 4, len: 3 })
        );
        assert_eq!(
            c.move_to("a", 0),
            Err(ChainError::BadPosition { pos: 0, len: 3 })
        );
        assert_eq!(c.remove("d"), Err(ChainError::NotInChain("d".into())));
        assert_eq!(
            c.add("a", None),
            Err(ChainError::AlreadyInChain("a".into()))
        );
        assert_eq!(
            c.order(),
            names(&["a", "b", "c"]),
            "failed edits change nothing"
        );
    }

    #[test]
    fn every_edit_has_an_inverse() {
        let c = chain();
        let edits = [
            ChainEdit::Move {
                model: "c".into(),
                to: 1,
            },
            ChainEdit::Top { model: "b".into() },
            ChainEdit::Shift {
                model: "a".into(),
                by: 1,
            },
            ChainEdit::Remove { model: "b".into() },
            ChainEdit::Add {
                model: "d".into(),
                at: Some(2),
            },
            ChainEdit::Reset,
        ];
        let mut moved = c.clone();
        moved.move_to("c", 1).unwrap();
        for start in [c, moved] {
            for edit in &edits {
                let undo = start.inverse(edit).expect("an inverse");
                let mut after = start.clone();
                after.apply(edit).unwrap();
                after.apply(&undo).unwrap();
                assert_eq!(after.order(), start.order(), "{edit} then {undo:?}");
            }
        }
        assert_eq!(
            chain().inverse(&ChainEdit::Remove { model: "d".into() }),
            None
        );
        assert_eq!(
            ChainEdit::Shift {
                model: "a".into(),
                by: -1
            }
            .to_string(),
            "moved a up"
        );
    }

    #[test]
    fn edits_on_disk_from_two_stale_copies_both_survive() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("state.json"));
        let config = Config::builtin();
        // Both "processes" read the chain before either edits.
        let (first, _) = Chain::load(&config, Some(&store));
        let (second, _) = Chain::load(&config, Some(&store));
        assert_eq!(first, second);
        let one = ChainEdit::Top {
            model: "deepseek".into(),
        };
        let two = ChainEdit::Remove {
            model: "gpt-4o".into(),
        };
        save_edit(&config, &store, &one).unwrap();
        let after = save_edit(&config, &store, &two).unwrap();
        assert_eq!(after.order(), ["deepseek", "claude-sonnet", "gemini-pro"]);
        assert_eq!(Chain::load(&config, Some(&store)).0, after);
        // An edit that no longer fits the chain on disk is refused, and
        // nothing is written.
        let err = save_edit(&config, &store, &two).unwrap_err();
        assert!(err.to_string().contains("is not in the chain"), "{err}");
        // A reset saves "follow the config" rather than a copy of its order.
        save_edit(&config, &store, &ChainEdit::Reset).unwrap();
        assert_eq!(store.load().0.chain, None);
    }

    #[test]
    fn saved_order_drops_unknown_and_duplicate_names() {
        let saved = names(&["c", "gone", "a", "c"]);
        let c = Chain::new(
            &names(&["a", "b", "c"]),
            &names(&["a", "b", "c"]),
            Some(&saved),
        );
        assert_eq!(c.order(), names(&["c", "a"]));
    }
}
