//! The user-editable fallback chain, and the one way the program loads it:
//! the order saved in the state file, else the config's.

use crate::config::Config;
use crate::store::Store;

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
        let chain = Chain::new(&config.chain, &known_models(config), saved.as_deref());
        (chain, warning)
    }

    /// `configured` is the config's chain; `known` every model name;
    /// `saved` the order a user saved earlier, if any (names that no longer
    /// exist are dropped).
    pub fn new(configured: &[String], known: &[String], saved: Option<&[String]>) -> Chain {
        let order = match saved {
            Some(saved) => {
                let mut order: Vec<String> = Vec::new();
                for name in saved {
                    if known.contains(name) && !order.contains(name) {
                        order.push(name.clone());
                    }
                }
                order
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
}

/// Every model name, the config's chain first, as [`Chain::known`] lists them.
fn known_models(config: &Config) -> Vec<String> {
    let mut known = config.chain.clone();
    for m in &config.models {
        if !known.contains(&m.name) {
            known.push(m.name.clone());
        }
    }
    known
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
