//! The aggregator: windows, ratios, states and percentiles.
//!
//! Pure: no I/O and no clock of its own. Every call that depends on time
//! takes `now`, so the rules below are tested without sleeping.
//!
//! Per model it keeps a ring of recent samples (bounded by the window and by
//! [`RING_CAP`]), lifetime counters, the last failure and success, and what the
//! provider says it served. A status is derived from those:
//!
//! - `misconfigured`: the last attempt was auth/credits/not_found/bad_request
//!   (or `budget`: a thinking model's probe too small even after one raise),
//!   or the key is missing;
//! - `rate_limited`: a 429 arrived and its cool-down has not passed;
//! - `unknown`: no counted sample in the window yet;
//! - `unhealthy`: ratio ≤ threshold, until `recover_after` consecutive
//!   successes re-admit it;
//! - `recovering`: re-admitted, while the window still holds the outage:
//!   routable, judged on the samples since re-admission; `healthy` once
//!   those number `recover_after` × 2 (or the outage leaves the window),
//!   `unhealthy` again on a counted failure;
//! - `degraded`: healthy but slow (p95 above `slow`) or drifted;
//! - `healthy`: otherwise.
//!
//! The rooms: what goes in (`sample`), the rules and the verdict
//! (`status`), the per-model state machine (`model`) and its running window
//! figures (`window`), the book of every model (`book`), what comes out
//! (`snapshot`, `event`), the failure log (`failures`: the last fifty
//! failures per model with their whole messages), and the rollups by
//! provider and by endpoint (`provider`).

mod book;
#[cfg(test)]
mod edge_tests;
mod event;
mod failures;
mod model;
#[cfg(test)]
mod pinned_tests;
mod provider;
#[cfg(test)]
mod recovery_tests;
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
pub use provider::{
    by_endpoint, provider_name, provider_of, rollup, verdict, EndpointSummary, ProviderKey,
    ProviderSnapshot,
};
pub use sample::{Observation, Sample, SampleKind};
pub use snapshot::{
    Drift, LastFailure, ModelSnapshot, Percentiles, Recovery, ReplyTiming, TrendPoint,
};
pub use status::{HealthPolicy, Status};
