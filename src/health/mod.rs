//! The aggregator: windows, ratios, states and percentiles.
//!
//! Pure: no I/O and no clock of its own. Every call that depends on time
//! takes `now`, so the rules below are tested without sleeping.
//!
//! Per model it keeps a ring of recent samples (bounded by the window and by
//! [`RING_CAP`]), lifetime counters, the last failure and success, and what the
//! provider says it served. A status is derived from those:
//!
//! - `misconfigured`: the last attempt was auth/credits/not_found/bad_request,
//!   or the key is missing;
//! - `rate_limited`: a 429 arrived and its cool-down has not passed;
//! - `unknown`: no counted sample in the window yet;
//! - `unhealthy`: ratio ≤ threshold, until `recover_after` consecutive
//!   successes re-admit it;
//! - `degraded`: healthy by ratio but slow (p95 above `slow`) or drifted;
//! - `healthy`: otherwise.
//!
//! The rooms: what goes in (`sample`), the rules and the verdict
//! (`status`), the per-model state machine (`model`) and its running window
//! figures (`window`), the book of every model (`book`), what comes out
//! (`snapshot`, `event`), the failure log (`failures`: the last fifty
//! failures per model with their whole messages), and the rollup by
//! provider (`provider`).

mod book;
mod event;
mod failures;
mod model;
mod provider;
mod sample;
mod snapshot;
mod status;
#[cfg(test)]
mod tests;
mod window;

pub use book::HealthBook;
pub use event::{HealthEvent, HealthEventKind};
pub use failures::{FailureRecord, FailureRing, FAILURES_KEPT, FAILURE_MESSAGE_MAX};
pub use model::{ModelHealth, RING_CAP, TREND_LEN};
pub use provider::{provider_of, rollup, ProviderKey, ProviderSnapshot};
pub use sample::{Observation, Sample, SampleKind};
pub use snapshot::{Drift, LastFailure, ModelSnapshot, Percentiles, TrendPoint};
pub use status::{HealthPolicy, Status};
