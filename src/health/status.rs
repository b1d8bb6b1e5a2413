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
    /// Re-admitted after an outage and routable again, while its window
    /// still holds the outage: judged on the samples since re-admission.
    Recovering,
    Unhealthy,
    RateLimited,
    Misconfigured,
}

impl Status {
    /// Every status, best first, as the header counts them: the set to
    /// enumerate for column widths ([`Status::label`]) and legends.
    pub const ALL: [Status; 7] = [
        Status::Healthy,
        Status::Recovering,
        Status::Degraded,
        Status::Unhealthy,
        Status::RateLimited,
        Status::Misconfigured,
        Status::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unknown => "unknown",
            Status::Healthy => "healthy",
            Status::Degraded => "degraded",
            Status::Recovering => "recovering",
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
            Status::Recovering => "↻",
            Status::Unhealthy => "✗",
            Status::RateLimited => "⧗",
            Status::Misconfigured => "!",
        }
    }

    /// The symbol and the word, as every table shows a status ("↻ recovering").
    pub fn label(self) -> &'static str {
        match self {
            Status::Unknown => "? unknown",
            Status::Healthy => "✓ healthy",
            Status::Degraded => "◐ degraded",
            Status::Recovering => "↻ recovering",
            Status::Unhealthy => "✗ unhealthy",
            Status::RateLimited => "⧗ rate_limited",
            Status::Misconfigured => "! misconfigured",
        }
    }

    /// The word for a count of models in this status ("3 ok · 1 down").
    pub fn count_word(self) -> &'static str {
        match self {
            Status::Healthy => "ok",
            Status::Unhealthy => "down",
            Status::RateLimited => "limited",
            other => other.as_str(),
        }
    }

    /// Whether the router may send a prompt here (unknown is routable, as in
    /// the article: no data yet is not bad news; a recovering model has been
    /// re-admitted).
    pub fn is_routable(self) -> bool {
        matches!(
            self,
            Status::Unknown | Status::Healthy | Status::Degraded | Status::Recovering
        )
    }

    /// Whether `check` counts this model as fine: it has answered and is
    /// routable (a recovering model is, and says so).
    pub fn is_ok(self) -> bool {
        matches!(
            self,
            Status::Healthy | Status::Degraded | Status::Recovering
        )
    }
}

/// Fails to compile when a status is added: add it to [`Status::ALL`] too.
#[allow(dead_code)]
fn all_is_complete(s: Status) {
    match s {
        Status::Unknown
        | Status::Healthy
        | Status::Recovering
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_is_listed_once_with_its_symbol_and_word() {
        for (i, s) in Status::ALL.iter().enumerate() {
            assert!(!Status::ALL[..i].contains(s), "{s} twice");
            assert_eq!(s.label(), format!("{} {}", s.symbol(), s.as_str()));
            let json = serde_json::to_string(s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
        assert_eq!(Status::ALL.len(), 7);
        assert!(Status::Recovering.is_routable() && Status::Recovering.is_ok());
        assert!(!Status::Unhealthy.is_routable());
        assert_eq!(Status::RateLimited.to_string(), "rate_limited");
    }

    #[test]
    fn ok_means_answered_and_routable() {
        let ok: Vec<Status> = Status::ALL.into_iter().filter(|s| s.is_ok()).collect();
        assert_eq!(
            ok,
            [Status::Healthy, Status::Recovering, Status::Degraded],
            "unknown is routable but has not answered"
        );
        assert!(Status::Unknown.is_routable());
    }

    #[test]
    fn the_policy_is_the_config_s_health_settings() {
        let settings = crate::config::HealthSettings {
            window: Duration::from_secs(120),
            threshold: 0.8,
            recover_after: 5,
            slow: Some(Duration::from_secs(7)),
        };
        let policy = HealthPolicy::from(&settings);
        assert_eq!(
            policy,
            HealthPolicy {
                window: Duration::from_secs(120),
                threshold: 0.8,
                recover_after: 5,
                slow: Some(Duration::from_secs(7)),
            }
        );
        assert_ne!(policy, HealthPolicy::default());
    }
}
