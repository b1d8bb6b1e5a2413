//! Chain edits from the keyboard and undoing them.
//!
//! Every edit is a [`ChainEdit`] applied through the chain's own methods
//! (`shift`, `move_to`, `add`, `remove`, `reset`); applying one returns the
//! edit that undoes it, and `u` applies that inverse the same way. So undo
//! is just another edit, saved like any other, and maps one to one onto
//! chain operations applied under a lock. The save is asked for in one
//! place, [`App::save_chain`].

use std::collections::VecDeque;

use crate::route::{Chain, ChainError};

use super::{App, Command};

/// Edits that `u` can undo, newest last.
pub const UNDO_DEPTH: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainEdit {
    /// One place earlier (`-1`) or later (`+1`).
    Shift {
        name: String,
        by: isize,
    },
    /// To a 1-based position.
    MoveTo {
        name: String,
        pos: usize,
    },
    /// Into the chain at a 1-based position, or at the end.
    Add {
        name: String,
        pos: Option<usize>,
    },
    Remove {
        name: String,
    },
    /// Back to the config's order.
    Reset,
    /// A whole order put back (what undoes a reset).
    Restore(Vec<String>),
}

impl ChainEdit {
    /// Applies the edit to `chain`. Returns the edit that undoes it, or
    /// `None` when the order did not change (a model at the top moved up).
    pub fn apply(&self, chain: &mut Chain) -> Result<Option<ChainEdit>, ChainError> {
        let before = chain.order().to_vec();
        let was_at = |name: &str| before.iter().position(|n| n == name).map(|i| i + 1);
        let inverse = match self {
            ChainEdit::Shift { name, by } => {
                let from = was_at(name);
                chain.shift(name, *by)?;
                from.map(|pos| ChainEdit::MoveTo {
                    name: name.clone(),
                    pos,
                })
            }
            ChainEdit::MoveTo { name, pos } => {
                let from = was_at(name);
                chain.move_to(name, *pos)?;
                from.map(|pos| ChainEdit::MoveTo {
                    name: name.clone(),
                    pos,
                })
            }
            ChainEdit::Add { name, pos } => {
                chain.add(name, *pos)?;
                Some(ChainEdit::Remove { name: name.clone() })
            }
            ChainEdit::Remove { name } => {
                let from = was_at(name);
                chain.remove(name)?;
                Some(ChainEdit::Add {
                    name: name.clone(),
                    pos: from,
                })
            }
            ChainEdit::Reset => {
                chain.reset();
                Some(ChainEdit::Restore(before.clone()))
            }
            ChainEdit::Restore(order) => {
                restore(chain, order)?;
                Some(ChainEdit::Restore(before.clone()))
            }
        };
        Ok(inverse.filter(|_| chain.order() != before))
    }

    /// What the edit did, for the footer and the events: "moved gpt-4o to
    /// 1".
    pub fn describe(&self) -> String {
        match self {
            ChainEdit::Shift { name, by } if *by < 0 => format!("moved {name} up"),
            ChainEdit::Shift { name, .. } => format!("moved {name} down"),
            ChainEdit::MoveTo { name, pos } => format!("moved {name} to {pos}"),
            ChainEdit::Add { name, .. } => format!("put {name} in the chain"),
            ChainEdit::Remove { name } => format!("took {name} out of the chain"),
            ChainEdit::Reset => "reset the chain to the config's order".to_string(),
            ChainEdit::Restore(_) => "put the chain back".to_string(),
        }
    }
}

/// Puts `order` back with `remove`, `add` and `move_to`: what is not in it
/// leaves, then each name goes to its place, first to last.
fn restore(chain: &mut Chain, order: &[String]) -> Result<(), ChainError> {
    for name in chain.order().to_vec() {
        if !order.contains(&name) {
            chain.remove(&name)?;
        }
    }
    for (i, name) in order.iter().enumerate() {
        if chain.contains(name) {
            chain.move_to(name, i + 1)?;
        } else {
            chain.add(name, Some(i + 1))?;
        }
    }
    Ok(())
}

/// The edits that can be undone: (the inverse, what the edit did).
#[derive(Debug, Clone, Default)]
pub struct ChainHistory(VecDeque<(ChainEdit, String)>);

impl ChainHistory {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn push(&mut self, inverse: ChainEdit, what: String) {
        if self.0.len() == UNDO_DEPTH {
            self.0.pop_front();
        }
        self.0.push_back((inverse, what));
    }

    fn pop(&mut self) -> Option<(ChainEdit, String)> {
        self.0.pop_back()
    }
}

/// A question waiting for `y` or `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    ResetChain,
}

impl App {
    /// Applies a chain edit, remembers how to undo it and asks for a save.
    pub(super) fn edit_chain(&mut self, edit: ChainEdit) -> Vec<Command> {
        match edit.apply(&mut self.chain) {
            Ok(Some(inverse)) => {
                self.history.push(inverse, edit.describe());
                self.save_chain()
            }
            Ok(None) => Vec::new(),
            Err(err) => {
                self.flash(err.to_string());
                Vec::new()
            }
        }
    }

    /// `u`: applies the inverse of the last edit.
    pub(super) fn undo(&mut self) -> Vec<Command> {
        let Some((inverse, what)) = self.history.pop() else {
            self.flash("nothing to undo".to_string());
            return Vec::new();
        };
        match inverse.apply(&mut self.chain) {
            Ok(_) => {
                let words = format!("undone: {what}");
                self.info(words.clone());
                self.flash(words);
                self.save_chain()
            }
            Err(err) => {
                self.flash(format!("could not undo {what}: {err}"));
                Vec::new()
            }
        }
    }

    /// `R`: asks first, unless there is nothing to reset.
    pub(super) fn ask_reset(&mut self) {
        if self.chain.is_customised() {
            self.confirm = Some(Confirm::ResetChain);
        } else {
            self.flash("the chain is in the config's order already".to_string());
        }
    }

    pub(super) fn answer(&mut self, yes: bool) -> Vec<Command> {
        let Some(question) = self.confirm.take() else {
            return Vec::new();
        };
        match (question, yes) {
            (Confirm::ResetChain, true) => {
                let out = self.edit_chain(ChainEdit::Reset);
                self.info("chain reset to the config's order (u undoes it)".to_string());
                out
            }
            (Confirm::ResetChain, false) => {
                self.flash("the chain is unchanged".to_string());
                Vec::new()
            }
        }
    }

    /// The one place a chain save is asked for: the order as it is now.
    fn save_chain(&self) -> Vec<Command> {
        vec![Command::SaveChain(self.chain.order().to_vec())]
    }
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

    /// Every edit followed by its inverse gives the order back.
    #[test]
    fn every_edit_has_an_inverse() {
        let edits = [
            ChainEdit::Shift {
                name: "b".into(),
                by: -1,
            },
            ChainEdit::Shift {
                name: "b".into(),
                by: 1,
            },
            ChainEdit::MoveTo {
                name: "c".into(),
                pos: 1,
            },
            ChainEdit::Add {
                name: "d".into(),
                pos: Some(2),
            },
            ChainEdit::Add {
                name: "d".into(),
                pos: None,
            },
            ChainEdit::Remove { name: "a".into() },
            ChainEdit::Restore(names(&["d", "c"])),
        ];
        for edit in edits {
            let mut c = chain();
            let inverse = edit.apply(&mut c).unwrap().expect("the order changed");
            assert_ne!(c.order(), chain().order(), "{edit:?}");
            inverse.apply(&mut c).unwrap();
            assert_eq!(c.order(), chain().order(), "{edit:?} then {inverse:?}");
        }
        // Reset from a custom order, and back.
        let mut c = chain();
        c.move_to("c", 1).unwrap();
        c.remove("a").unwrap();
        let custom = c.order().to_vec();
        let inverse = ChainEdit::Reset.apply(&mut c).unwrap().unwrap();
        assert_eq!(c.order(), names(&["a", "b", "c"]));
        inverse.apply(&mut c).unwrap();
        assert_eq!(c.order(), custom);
    }

    #[test]
    fn no_change_no_inverse_and_errors_pass_through() {
        let mut c = chain();
        let up = ChainEdit::Shift {
            name: "a".into(),
            by: -1,
        };
        assert_eq!(up.apply(&mut c), Ok(None), "the top cannot move up");
        assert!(ChainEdit::Remove { name: "d".into() }
            .apply(&mut c)
            .is_err());
    }
}
