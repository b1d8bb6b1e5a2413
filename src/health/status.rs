//! The rules a model is judged by ([`HealthPolicy`], from `[health]`) and
//! the verdict ([`Status`]): the two words every other room speaks.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The rules the aggregator judges by (`[health]` in the config).
#[derive(Debug, Clone, PartialEq)]
pub struct HealthPolicy {
    pub window: Duration,
    /// Healthy when the ratio is strictly above this.
    pub threshold: f64,
    /// Consecutive successes that re-admit an unhealthy model.
    pub recover_after: u32,
    /// p95 latency above this makes a healthy model `degraded`.
    pub slow: Option<Duration>,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        HealthPolicy {
            window: Duration::from_secs(15 * 60),
            threshold: 0.95,
            recover_after: 3,
            slow: None,
        }
    }
}

impl From<&crate::config::HealthSettings> for HealthPolicy {
    fn from(settings: &crate::config::HealthSettings) -> Self {
        HealthPolicy {
            window: settings.window,
            threshold: settings.threshold,
            recover_after: settings.recover_after,
            slow: settings.slow,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Unknown,
    Healthy,
    Degraded,
    Unhealthy,
    RateLimited,
    Misconfigured,
}

impl Status {
    /// Every status, so that what is sized or counted by status (the
    /// table's status column) covers each one. A new status goes here too:
    /// the match in `all_is_complete` below stops compiling until it does.
    pub const ALL: &'static [Status] = &[
        Status::Unknown,
        Status::Healthy,
        Status::Degraded,
        Status::Unhealthy,
        Status::RateLimited,
        Status::Misconfigured,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unknown => "unknown",
            Status::Healthy => "healthy",
            Status::Degraded => "degraded",
            Status::Unhealthy => "unhealthy",
            Status::RateLimited => "rate_limited",
            Status::Misconfigured => "misconfigured",
        }
    }

    /// A symbol to go with the word and the colour, so status is never
    /// colour alone.
    pub fn symbol(self) -> &'static str {
        match self {
            Status::Unknown => "?",
            Status::Healthy => "✓",
            Status::Degraded => "◐",
            Status::Unhealthy => "✗",
            Status::RateLimited => "⧗",
            Status::Misconfigured => "!",
        }
    }

    /// Whether the router may send a prompt here (unknown is routable, as in
    /// the article: no data yet is not bad news).
    pub fn is_routable(self) -> bool {
        matches!(self, Status::Unknown | Status::Healthy | Status::Degraded)
    }

    /// Whether `check` counts this model as fine.
    pub fn is_ok(self) -> bool {
        matches!(self, Status::Healthy | Status::Degraded)
    }
}

/// Fails to compile when a status is added: add it to [`Status::ALL`] too.
#[allow(dead_code)]
fn all_is_complete(s: Status) {
    match s {
        Status::Unknown
        | Status::Healthy
        | Status::Degraded
        | Status::Unhealthy
        | Status::RateLimited
        | Status::Misconfigured => {}
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
