//! Chain edits from the keyboard and undoing them.
//!
//! Every edit is a [`ChainEdit`], the operation that is saved under the
//! state file's lock; before it is applied, the chain says which edit
//! undoes it ([`crate::route::Chain::inverse`]), and `u` sends that inverse
//! the same way. So undo is just another edit, saved like any other. Edits
//! leave in one place, [`App::send_edit`].

use std::collections::VecDeque;

use crate::route::ChainEdit;

use super::{App, Command};

/// Edits that `u` can undo, newest last.
pub const UNDO_DEPTH: usize = 20;

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
    /// Applies a chain edit, remembers how to undo it and sends it to be
    /// saved. An edit that changes nothing (the top model moved up) is not
    /// sent and leaves nothing to undo.
    pub fn edit_chain(&mut self, edit: ChainEdit) -> Vec<Command> {
        let inverse = self.chain.inverse(&edit);
        let out = self.send_edit(edit.clone());
        if let (false, Some(inverse)) = (out.is_empty(), inverse) {
            self.history.push(inverse, edit.to_string());
        }
        out
    }

    /// `u`: applies the inverse of the last edit.
    pub(super) fn undo(&mut self) -> Vec<Command> {
        let Some((inverse, what)) = self.history.pop() else {
            self.flash("nothing to undo".to_string());
            return Vec::new();
        };
        let out = self.send_edit(inverse);
        if !out.is_empty() {
            let words = format!("undone: {what}");
            self.info(words.clone());
            self.flash(words);
        }
        out
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

    /// The one place a chain edit leaves: applied to the screen's chain at
    /// once, and sent to be saved as an operation on the order on disk.
    fn send_edit(&mut self, edit: ChainEdit) -> Vec<Command> {
        let before = self.chain.order().to_vec();
        if let Err(err) = self.chain.apply(&edit) {
            self.flash(err.to_string());
            return Vec::new();
        }
        if self.chain.order() == before {
            return Vec::new();
        }
        self.chain_pending += 1;
        vec![Command::EditChain(edit)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::Chain;

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

    /// Every edit followed by the inverse the chain gave for it beforehand
    /// puts the order back.
    #[test]
    fn every_edit_has_an_inverse() {
        let edits = [
            ChainEdit::Shift {
                model: "b".into(),
                by: -1,
            },
            ChainEdit::Shift {
                model: "b".into(),
                by: 1,
            },
            ChainEdit::Move {
                model: "c".into(),
                to: 1,
            },
            ChainEdit::Top { model: "c".into() },
            ChainEdit::Add {
                model: "d".into(),
                at: Some(2),
            },
            ChainEdit::Add {
                model: "d".into(),
                at: None,
            },
            ChainEdit::Remove { model: "a".into() },
            ChainEdit::Restore {
                order: names(&["d", "c"]),
            },
        ];
        for edit in edits {
            let mut c = chain();
            let inverse = c.inverse(&edit).expect("the edit applies");
            c.apply(&edit).unwrap();
            assert_ne!(c.order(), chain().order(), "{edit:?}");
            c.apply(&inverse).unwrap();
            assert_eq!(c.order(), chain().order(), "{edit:?} then {inverse:?}");
        }
        // Reset from a custom order, and back.
        let mut c = chain();
        c.move_to("c", 1).unwrap();
        c.remove("a").unwrap();
        let custom = c.order().to_vec();
        let inverse = c.inverse(&ChainEdit::Reset).unwrap();
        c.apply(&ChainEdit::Reset).unwrap();
        assert_eq!(c.order(), names(&["a", "b", "c"]));
        c.apply(&inverse).unwrap();
        assert_eq!(c.order(), custom);
    }

    #[test]
    fn an_edit_that_fails_has_no_inverse() {
        assert_eq!(
            chain().inverse(&ChainEdit::Remove { model: "d".into() }),
            None
        );
    }
}
