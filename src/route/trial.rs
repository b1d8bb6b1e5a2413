//! Half-open, done by the router: an unhealthy model whose half-open
//! period has passed gets a trial, raced with the next model, and the
//! trial runs to its end whoever wins (its success counts toward
//! `recover_after`, as a probe's does). This file holds the period and the
//! [`Trial`] handed over when the answer came first.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::api::Attempt;
use crate::config::{Config, ModelConfig};

/// The half-open period is the prober's interval for unhealthy models
/// (interval / 4)…
const HALF_OPEN_DIVISOR: u32 = 4;
/// …but never longer than this, so that a model back from an outage is
/// used again soon even with a long probe interval.
pub const HALF_OPEN_MAX: Duration = Duration::from_secs(15);

/// How long after its last attempt an unhealthy model is tried again:
/// `probe.interval` (the model's own, when it has one) / 4, at most
/// [`HALF_OPEN_MAX`].
pub fn half_open_period(config: &Config, model: &ModelConfig) -> Duration {
    let interval = model.probe.interval.unwrap_or(config.probe.interval);
    (interval / HALF_OPEN_DIVISOR).min(HALF_OPEN_MAX)
}

/// Whether an unhealthy model last tried at `last` is due a trial at `now`
/// (never tried in memory: due).
pub(super) fn due(period: Duration, last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    let Some(last) = last else {
        return true;
    };
    (now - last).to_std().is_ok_and(|since| since >= period)
}

/// A half-open trial that was still running when another model answered.
/// Awaiting [`Trial::run`] runs it to its end (within the attempt's own
/// deadlines); dropping it closes its connection, and nothing is recorded.
pub struct Trial {
    /// The model (config name) on trial.
    pub model: String,
    pub started_at: DateTime<Utc>,
    send: Pin<Box<dyn Future<Output = Attempt> + Send>>,
}

impl Trial {
    pub(super) fn new(
        model: String,
        started_at: DateTime<Utc>,
        send: Pin<Box<dyn Future<Output = Attempt> + Send>>,
    ) -> Trial {
        Trial {
            model,
            started_at,
            send,
        }
    }

    /// The trial's attempt, once it has ended. Record it (as a prompt's
    /// sample): its success counts toward `recover_after`.
    pub async fn run(self) -> Attempt {
        self.send.await
    }
}

impl fmt::Debug for Trial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trial")
            .field("model", &self.model)
            .field("started_at", &self.started_at)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_period_is_a_quarter_interval_at_most_fifteen_seconds() {
        let mut config = Config::demo("http://127.0.0.1:9", &[("a".into(), "x/a".into(), None)]);
        config.probe.interval = Duration::from_secs(20);
        let model = config.models[0].clone();
        assert_eq!(half_open_period(&config, &model), Duration::from_secs(5));
        config.probe.interval = Duration::from_secs(600);
        assert_eq!(half_open_period(&config, &model), HALF_OPEN_MAX);
        let mut own = model.clone();
        own.probe.interval = Some(Duration::from_secs(8));
        assert_eq!(half_open_period(&config, &own), Duration::from_secs(2));
    }

    #[test]
    fn due_once_the_period_has_passed_since_the_last_attempt() {
        let t = |s: i64| Utc.timestamp_opt(1_700_000_000 + s, 0).single().unwrap();
        let period = Duration::from_secs(15);
        assert!(due(period, None, t(0)));
        assert!(!due(period, Some(t(0)), t(14)));
        assert!(due(period, Some(t(0)), t(15)));
        // A clock that went back is not "long ago".
        assert!(!due(period, Some(t(30)), t(0)));
    }
}
