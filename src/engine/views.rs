//! What `serve` and the metrics read of the engine beyond health: one
//! model's spend today.

use chrono::{DateTime, Utc};

use crate::pricing::Spend;

use super::{lock, Engine};

impl Engine {
    /// What `model` spent on the UTC day of `now`: probes, prompts and
    /// proxied traffic, counted apart.
    pub fn spend_of(&self, model: &str, now: DateTime<Utc>) -> Spend {
        lock(&self.inner.money).ledger.spend(model, now)
    }
}
