//! Routing a prompt: the chain, tiers and the fallback executor.
//!
//! A prompt goes to the first model of the chain (or tier) that is not known
//! to be down; a failure before the first token moves on to the next model
//! (a single 5xx or reset is retried once, raced with the next model; a
//! short `Retry-After` is waited out), and a model that has not produced a
//! first token by the hedge delay gets a runner-up started alongside it.
//! An unhealthy model whose half-open period has passed gets a trial raced
//! with the next model. Everything that happens is reported as a
//! [`RouteEvent`], so the prompt panel can show the route as it unfolds.
//!
//! | file | holds |
//! |---|---|
//! | `plan` | [`plan`]: the order a prompt would try now and what it skips (pure) |
//! | `router` | [`Router`]: plans, runs the race, prices the answer |
//! | `race` | the race: winner, losers, retries, restarts |
//! | `running` | one attempt in flight: how it starts, what wakes the race |
//! | `retry` | which failures are retried, waited out or final |
//! | `trial` | the half-open period and the [`Trial`] that outlives an answer |
//! | `outcome` | [`RouteEvent`], [`RouteAnswer`], [`RouteFailure`] |
//! | `chain` | [`Chain`]: the user's order, and [`Chain::load`] |

mod chain;
mod outcome;
mod plan;
mod race;
mod retry;
mod router;
mod running;
mod trial;

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::api::Attempt;
use crate::health::Status;

pub use chain::{save_edit, Chain, ChainEdit, ChainError, SaveEditError};
pub use outcome::{AttemptRecord, AttemptRole, RouteAnswer, RouteEvent, RouteFailure};
pub use plan::{plan, Plan, RouteTarget, Skip};
pub use router::{CostLookup, RouteRequest, Router, DEFAULT_MAX_TOKENS};
pub use trial::{half_open_period, Trial, HALF_OPEN_MAX};

/// What the router needs to know of health, and how it reports what it saw.
/// The engine implements it; tests implement it over a plain `HealthBook`.
pub trait HealthView: Send + Sync {
    /// The status and the reason in words.
    fn judge(&self, model: &str, now: DateTime<Utc>) -> (Status, String);
    /// p95 time to first token, for the automatic hedge delay.
    fn ttft_p95(&self, model: &str, now: DateTime<Utc>) -> Option<Duration>;
    /// A real prompt is evidence too: record it as a sample.
    fn record(&self, model: &str, attempt: &Attempt, now: DateTime<Utc>);
    /// When the model was last tried (probe, prompt or trial): an
    /// unhealthy model's half-open period runs from it. `None`: not known,
    /// and a trial is due. (No default: a view that forgot it would trial
    /// every unhealthy model on every route.)
    fn last_attempt(&self, model: &str) -> Option<DateTime<Utc>>;
    /// A half-open trial still running when another model answered: run it
    /// to its end and [`record`](HealthView::record) it (the engine spawns
    /// it). Dropping it closes its connection and records nothing.
    fn adopt(&self, trial: Trial);
}
