//! One model's state machine ([`ModelHealth`]): the ring of samples, the
//! lifetime counters, the streaks that re-admit an unhealthy model (and the
//! recovery that follows), the 429 cool-down, misconfiguration, drift of the
//! served model, and the status and snapshot derived from all of it at `now`.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::FailureClass;
use crate::fmt::{describe_failure, fmt_percent, fmt_secs};

use super::failures::{FailureRecord, FailureRing};
use super::window::{percentiles_sorted, ratio, sorted_rank, WindowStats};
use super::{
    Drift, HealthPolicy, LastFailure, ModelSnapshot, Observation, Recovery, ReplyTiming, Sample,
    Status, TrendPoint,
};

/// Samples kept per model at most, whatever the window: a hard memory bound.
pub const RING_CAP: usize = 512;
/// Served-model changes remembered per model.
const SERVED_HISTORY: usize = 8;
/// Points in a model's trend (sparkline).
pub const TREND_LEN: usize = 60;
/// Cool-down after a 429 without Retry-After: doubles from this…
const RATE_LIMIT_BACKOFF_START: Duration = Duration::from_secs(30);
/// …up to this.
pub(super) const RATE_LIMIT_BACKOFF_MAX: Duration = Duration::from_secs(300);
/// A Retry-After beyond this is treated as this (a broken header must not
/// silence a model for days).
const RETRY_AFTER_MAX: Duration = Duration::from_secs(3600);

/// Everything kept about one model. Serializable: the state file keeps it so
/// that a restart redraws ratios and sparklines.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ModelHealth {
    pub id: String,
    /// The configured endpoint's name: config, not history, so never saved.
    #[serde(skip)]
    endpoint: String,
    samples: VecDeque<Sample>,
    lifetime_ok: u64,
    lifetime_counted: u64,
    /// Counted successes in a row; any counted failure resets it.
    consecutive_ok: u32,
    /// Start of the current success streak.
    streak_start: Option<DateTime<Utc>>,
    /// Set when a streak re-admitted an unhealthy model (to the streak's
    /// start): while the window still holds the outage, the samples since
    /// then judge it (`recovering`, then recovered). A counted failure
    /// clears it. Saved, so a restart mid-recovery stays recovering.
    readmitted_at: Option<DateTime<Utc>>,
    consecutive_rate_limits: u32,
    rate_limited_until: Option<DateTime<Utc>>,
    /// Why the model cannot work as configured (auth, credits, missing key…).
    misconfig: Option<String>,
    /// The environment now, not history: never saved.
    #[serde(skip)]
    missing_key: Option<String>,
    last_failure: Option<LastFailure>,
    /// The last failures with their whole messages: the failure log.
    #[serde(default, skip_serializing_if = "FailureRing::is_empty")]
    failures: FailureRing,
    last_success: Option<DateTime<Utc>>,
    served_model: Option<String>,
    served_by: Option<String>,
    fingerprint: Option<String>,
    drift: Option<Drift>,
    served_history: VecDeque<Drift>,
    #[serde(skip)]
    last_reply: Option<String>,
    #[serde(skip)]
    last_timing: Option<ReplyTiming>,
    /// Running figures over the ring, kept in step with every push and pop
    /// so a snapshot costs O(1) instead of a pass and three selections.
    /// Rebuilt after a restore; when out of step, computed afresh.
    #[serde(skip)]
    stats: WindowStats,
    /// The status last reported, to emit an event when it changes.
    #[serde(skip)]
    pub(super) reported: Option<Status>,
}

impl ModelHealth {
    pub fn new(id: impl Into<String>) -> ModelHealth {
        ModelHealth {
            id: id.into(),
            ..ModelHealth::default()
        }
    }

    /// What other processes shared of this model (`crate::shared`): their
    /// samples and failures, to be taken in with [`ModelHealth::absorb`].
    pub fn from_samples(
        id: &str,
        mut samples: Vec<Sample>,
        failures: Vec<FailureRecord>,
    ) -> ModelHealth {
        samples.sort_by_key(|s| s.at);
        let keep_from = samples.len().saturating_sub(RING_CAP);
        let mut model = ModelHealth::new(id);
        model.last_success = samples
            .iter()
            .filter(|s| s.class.is_none())
            .map(|s| s.at)
            .max();
        model.last_failure = failures.iter().max_by_key(|f| f.at).map(|f| LastFailure {
            at: f.at,
            class: f.class,
            http_status: f.http_status,
            message: f.message.clone(),
        });
        for f in failures {
            model.failures.push(f);
        }
        model.samples = samples.into_iter().skip(keep_from).collect();
        model
    }

    /// Adds one outcome. Samples arrive in roughly time order; the ring drops
    /// what has left the window and never holds more than [`RING_CAP`].
    pub fn record(
        &mut self,
        policy: &HealthPolicy,
        sample: Sample,
        obs: Observation,
    ) -> Vec<Drift> {
        let at = sample.at;
        let mut drifts = Vec::new();
        match sample.class {
            None => {
                self.lifetime_ok += 1;
                self.lifetime_counted += 1;
                self.consecutive_rate_limits = 0;
                self.rate_limited_until = None;
                self.misconfig = None;
                self.last_success = Some(at);
                if self.consecutive_ok == 0 {
                    self.streak_start = Some(at);
                }
                self.consecutive_ok += 1;
                drifts.extend(self.note_served(at, &obs));
                self.last_reply = obs.reply.clone();
                self.last_timing = Some(obs.timing);
            }
            Some(class) => {
                self.last_failure = Some(LastFailure {
                    at,
                    class,
                    http_status: obs.http_status,
                    message: obs.message.clone().unwrap_or_default(),
                });
                self.failures.push(FailureRecord {
                    at,
                    class,
                    http_status: obs.http_status,
                    kind: sample.kind,
                    message: obs.message.clone().unwrap_or_default(),
                });
                if class == FailureClass::RateLimited {
                    self.consecutive_rate_limits += 1;
                    let wait = obs.retry_after.map_or_else(
                        || backoff(self.consecutive_rate_limits),
                        |d| d.min(RETRY_AFTER_MAX),
                    );
                    self.rate_limited_until = Some(at + wait);
                } else {
                    self.consecutive_rate_limits = 0;
                    self.rate_limited_until = None;
                }
                // A user's prompt rejected as a bad request (too long, moderated)
                // or too small for a thinking model says nothing about the
                // model's configuration.
                let about_the_prompt = sample.kind.is_real() && class.blames_the_request();
                if !about_the_prompt {
                    self.misconfig = class
                        .is_misconfiguration()
                        .then(|| describe_failure(class, obs.http_status, obs.message.as_deref()));
                }
                if class.counts_against_ratio() {
                    self.lifetime_counted += 1;
                    self.consecutive_ok = 0;
                    self.streak_start = None;
                    self.readmitted_at = None;
                }
                if let Some(reply) = obs.reply {
                    self.last_reply = Some(reply);
                }
            }
        }
        if self.in_step() {
            self.stats.add(&sample);
        }
        self.samples.push_back(sample);
        self.prune(policy, at);

        // Half-open: enough successes in a row re-admit an unhealthy model.
        if self.consecutive_ok >= policy.recover_after.max(1) && self.readmitted_at.is_none() {
            let stats = self.window_stats(self.window_start(policy, at));
            let (ok, counted) = (stats.ok, stats.counted);
            if counted > 0 && ratio(ok, counted) <= policy.threshold {
                self.readmitted_at = self.streak_start;
            }
        }
        drifts
    }

    fn note_served(&mut self, at: DateTime<Utc>, obs: &Observation) -> Option<Drift> {
        if obs.served_by.is_some() {
            self.served_by.clone_from(&obs.served_by);
        }
        let served = obs.served_model.as_ref()?;
        let changed_model = self
            .served_model
            .as_ref()
            .filter(|prev| *prev != served)
            .cloned();
        let changed_print = match (&self.fingerprint, &obs.fingerprint) {
            (Some(prev), Some(now)) if prev != now => Some((prev.clone(), now.clone())),
            _ => None,
        };
        self.served_model = Some(served.clone());
        if obs.fingerprint.is_some() {
            self.fingerprint.clone_from(&obs.fingerprint);
        }
        let (from, to) = match (changed_model, changed_print) {
            (Some(prev), _) => (prev, served.clone()),
            (None, Some((prev, now))) => {
                (format!("{served} ({prev})"), format!("{served} ({now})"))
            }
            (None, None) => return None,
        };
        let drift = Drift { at, from, to };
        if self.served_history.len() == SERVED_HISTORY {
            self.served_history.pop_front();
        }
        self.served_history.push_back(drift.clone());
        self.drift = Some(drift.clone());
        Some(drift)
    }

    /// Clears the drift flag: the user has seen the new served model.
    pub fn acknowledge_drift(&mut self) -> bool {
        self.drift.take().is_some()
    }

    /// Marks the model unusable for a reason found outside any attempt, such
    /// as an unset key variable; `None` clears it.
    pub fn set_missing_key(&mut self, reason: Option<String>) {
        self.missing_key = reason;
    }

    /// Tells the model which configured endpoint serves it (for the provider
    /// name of ids without `/`, and the per-endpoint rollup).
    pub fn set_endpoint(&mut self, endpoint: &str) {
        endpoint.clone_into(&mut self.endpoint);
    }

    /// The unacknowledged drift, if any.
    pub fn drift(&self) -> Option<&Drift> {
        self.drift.as_ref()
    }

    /// When the model was last tried (probe, prompt or trial), as far as
    /// the samples kept say: an unhealthy model's half-open period runs
    /// from it.
    pub fn last_attempt(&self) -> Option<DateTime<Utc>> {
        self.samples.iter().map(|s| s.at).max()
    }

    /// When the current 429 cool-down ends (it may already have).
    pub fn rate_limited_until(&self) -> Option<DateTime<Utc>> {
        self.rate_limited_until
    }

    /// The last failures with their whole messages, oldest first.
    pub fn failures(&self) -> &FailureRing {
        &self.failures
    }

    /// Why the key is missing, if it is.
    pub fn missing_key(&self) -> Option<&str> {
        self.missing_key.as_deref()
    }

    pub(super) fn prune(&mut self, policy: &HealthPolicy, now: DateTime<Utc>) {
        let start = now - policy.window;
        let in_step = self.in_step();
        while let Some(front) = self
            .samples
            .front()
            .filter(|s| s.at < start || self.samples.len() > RING_CAP)
        {
            if in_step {
                self.stats.remove(front);
            }
            self.samples.pop_front();
        }
        if !in_step {
            self.rebuild_stats();
        }
    }

    /// Takes in the samples another process (`ask`, `check`) saved for this
    /// model that this one has not seen, so that concurrent writers of the
    /// state file do not erase each other's evidence. Samples are matched by
    /// their timestamp; what is older than the window is left out.
    pub fn absorb(
        &mut self,
        policy: &HealthPolicy,
        other: &ModelHealth,
        now: DateTime<Utc>,
    ) -> usize {
        // The failure log is not bound to the window: merged on its own.
        self.failures.merge(&other.failures);
        let start = self.window_start(policy, now);
        let known: std::collections::HashSet<DateTime<Utc>> =
            self.samples.iter().map(|s| s.at).collect();
        let foreign: Vec<Sample> = other
            .samples
            .iter()
            .filter(|s| s.at >= start && !known.contains(&s.at))
            .cloned()
            .collect();
        if foreign.is_empty() {
            return 0;
        }
        for s in &foreign {
            self.lifetime_ok += u64::from(s.class.is_none());
            self.lifetime_counted += u64::from(s.counts());
        }
        if other.last_failure.as_ref().map(|f| f.at) > self.last_failure.as_ref().map(|f| f.at) {
            self.last_failure.clone_from(&other.last_failure);
        }
        self.last_success = self.last_success.max(other.last_success);
        let n = foreign.len();
        let mut merged: Vec<Sample> = self.samples.drain(..).chain(foreign).collect();
        merged.sort_by_key(|s| s.at);
        let keep_from = merged.len().saturating_sub(RING_CAP);
        self.samples = merged.into_iter().skip(keep_from).collect();
        self.rebuild_stats();
        self.recount_streak();
        n
    }

    /// After samples from elsewhere were merged in: the success streak is
    /// what the merged ring says since its last counted failure, and a
    /// re-admission that such a failure followed is over.
    fn recount_streak(&mut self) {
        let Some(failed_at) = self
            .samples
            .iter()
            .rev()
            .find(|s| s.class.is_some() && s.counts())
            .map(|s| s.at)
        else {
            return;
        };
        let mut streak = self
            .samples
            .iter()
            .filter(|s| s.at > failed_at && s.class.is_none());
        self.streak_start = streak.next().map(|s| s.at);
        self.consecutive_ok = u32::from(self.streak_start.is_some())
            + u32::try_from(streak.count()).unwrap_or(u32::MAX);
        if self.readmitted_at.is_some_and(|at| at <= failed_at) {
            self.readmitted_at = None;
        }
    }

    /// Takes history restored from the state file as the history of `id`,
    /// cut to the ring's bound, with the running figures rebuilt.
    pub(super) fn restore_as(&mut self, id: &str) {
        self.id = id.to_string();
        self.failures.bound();
        let keep_from = self.samples.len().saturating_sub(RING_CAP);
        self.samples.drain(..keep_from);
        self.rebuild_stats();
    }

    /// Whether the running figures describe exactly the ring.
    fn in_step(&self) -> bool {
        self.stats.samples as usize == self.samples.len()
    }

    fn rebuild_stats(&mut self) {
        self.stats = WindowStats::build(self.samples.iter());
    }

    fn window_start(&self, policy: &HealthPolicy, now: DateTime<Utc>) -> DateTime<Utc> {
        now - policy.window
    }

    fn in_window<'a>(&'a self, since: DateTime<Utc>) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| s.at >= since)
    }

    /// The figures over the window starting at `start`: the running ones
    /// when nothing in the ring has left the window since the last prune
    /// (the usual case), else the running ones minus the stale front.
    fn window_stats(&self, start: DateTime<Utc>) -> std::borrow::Cow<'_, WindowStats> {
        use std::borrow::Cow;
        if !self.in_step() {
            return Cow::Owned(WindowStats::build(self.in_window(start)));
        }
        let stale = self.samples.iter().take_while(|s| s.at < start).count();
        if stale == 0 {
            return Cow::Borrowed(&self.stats);
        }
        if stale * 2 > self.samples.len() {
            return Cow::Owned(WindowStats::build(self.in_window(start)));
        }
        let mut stats = self.stats.clone();
        for s in self.samples.iter().take(stale) {
            stats.remove(s);
        }
        Cow::Owned(stats)
    }

    /// The status at `now`, with the reason in words.
    pub fn status(&self, policy: &HealthPolicy, now: DateTime<Utc>) -> (Status, String) {
        let stats = self.window_stats(self.window_start(policy, now));
        self.status_from(policy, now, &stats)
    }

    fn status_from(
        &self,
        policy: &HealthPolicy,
        now: DateTime<Utc>,
        stats: &WindowStats,
    ) -> (Status, String) {
        if let Some(missing) = &self.missing_key {
            return (Status::Misconfigured, missing.clone());
        }
        if let Some(why) = &self.misconfig {
            return (Status::Misconfigured, why.clone());
        }
        if let Some(until) = self.rate_limited_until.filter(|until| *until > now) {
            let secs = (until - now).num_seconds().max(1);
            return (
                Status::RateLimited,
                format!("429; cooling down for {secs}s more"),
            );
        }
        let (ok, counted) = (stats.ok, stats.counted);
        if counted == 0 {
            return (Status::Unknown, "no samples in the window yet".into());
        }
        let window_words = format!("{ok}/{counted} ok");
        let recovery = self.recovery(policy, now, stats);
        let (mut words, recovering) = match recovery {
            None if ratio(ok, counted) > policy.threshold => (window_words, false),
            None => {
                let last = self
                    .last_failure
                    .as_ref()
                    .map(|f| {
                        format!(
                            "; last: {}",
                            describe_failure(f.class, f.http_status, Some(&f.message))
                        )
                    })
                    .unwrap_or_default();
                return (Status::Unhealthy, format!("{window_words}{last}"));
            }
            Some(r) if !r.is_complete() => (
                format!(
                    "re-admitted after an outage: {}/{} ok since, healthy at {}; {} in the window ({window_words})",
                    r.ok,
                    r.counted,
                    r.needed,
                    fmt_percent(Some(ratio(ok, counted)))
                ),
                true,
            ),
            Some(r) => (
                format!(
                    "recovered: {}/{} ok since re-admission; the window ({window_words}, {}) still holds the outage",
                    r.ok,
                    r.counted,
                    fmt_percent(Some(ratio(ok, counted)))
                ),
                false,
            ),
        };
        // A recovering model stays `recovering` whatever else is wrong with
        // it: the outage is the bigger news; drift and slowness are noted.
        let mut degraded = false;
        if let Some(drift) = &self.drift {
            words.push_str(&format!(
                "; served model changed: {} → {}",
                drift.from, drift.to
            ));
            degraded = true;
        }
        if let Some(slow) = policy.slow {
            if let Some(p) = percentiles_sorted(&stats.latencies).filter(|p| p.p95 > slow) {
                words.push_str(&format!(
                    "; slow: p95 {} > {}",
                    fmt_secs(p.p95),
                    fmt_secs(slow)
                ));
                degraded = true;
            }
        }
        let status = match (recovering, degraded) {
            (true, _) => Status::Recovering,
            (false, true) => Status::Degraded,
            (false, false) => Status::Healthy,
        };
        (status, words)
    }

    /// The recovery at `now`: a re-admission inside the window that no
    /// counted failure has undone, while the window's ratio alone would
    /// still say unhealthy. Samples since re-admission are counted from the
    /// ring, so what another process saved is taken into account.
    fn recovery(
        &self,
        policy: &HealthPolicy,
        now: DateTime<Utc>,
        stats: &WindowStats,
    ) -> Option<Recovery> {
        let start = self.window_start(policy, now);
        let since = self.readmitted_at.filter(|at| *at >= start)?;
        if stats.counted == 0 || ratio(stats.ok, stats.counted) > policy.threshold {
            return None;
        }
        let (mut ok, mut counted) = (0u32, 0u32);
        let mut last_failure = None;
        for s in self.samples.iter().rev().filter(|s| s.counts()) {
            match s.class {
                Some(_) if s.at >= since => return None,
                Some(_) => {
                    last_failure = Some(s.at);
                    break;
                }
                None if s.at >= since => {
                    ok += 1;
                    counted += 1;
                }
                None => {}
            }
        }
        Some(Recovery {
            since,
            ok,
            counted,
            needed: policy.recover_after.max(1).saturating_mul(2),
            outage_leaves_at: last_failure.map(|at| at + policy.window),
        })
    }

    pub fn snapshot(&self, name: &str, policy: &HealthPolicy, now: DateTime<Utc>) -> ModelSnapshot {
        let stats = self.window_stats(self.window_start(policy, now));
        let (status, reason) = self.status_from(policy, now, &stats);
        // Only where the verdict rests on it: a cool-down or a config error
        // speaks louder than a recovery in progress.
        let recovery = self.recovery(policy, now, &stats).filter(|_| {
            matches!(
                status,
                Status::Recovering | Status::Healthy | Status::Degraded
            )
        });
        let (ok, counted, samples) = (stats.ok, stats.counted, stats.samples);
        let mut failures_by_class: Vec<(FailureClass, u32)> = FailureClass::ALL
            .iter()
            .zip(stats.by_class)
            .filter(|(_, n)| *n > 0)
            .map(|(c, n)| (*c, n))
            .collect();
        failures_by_class.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        let trend = self
            .samples
            .iter()
            .skip(self.samples.len().saturating_sub(TREND_LEN))
            .map(|s| match s.class {
                None => TrendPoint::Ok(s.latency_ms),
                Some(_) => TrendPoint::Failed,
            })
            .collect();
        ModelSnapshot {
            name: name.to_string(),
            id: self.id.clone(),
            endpoint: self.endpoint.clone(),
            status,
            reason,
            ratio: (counted > 0).then(|| ratio(ok, counted)),
            ok,
            counted,
            samples,
            recovery,
            lifetime_ratio: (self.lifetime_counted > 0)
                .then(|| self.lifetime_ok as f64 / self.lifetime_counted as f64),
            lifetime_ok: self.lifetime_ok,
            lifetime_counted: self.lifetime_counted,
            last_failure: self.last_failure.clone(),
            last_success: self.last_success,
            latency: percentiles_sorted(&stats.latencies),
            ttft: percentiles_sorted(&stats.ttfts),
            tokens_per_s: sorted_rank(&stats.speeds, 0.50).map(|p50| f64::from(p50) / 10.0),
            served_model: self.served_model.clone(),
            served_by: self.served_by.clone(),
            drift: self.drift.clone(),
            served_history: self.served_history.iter().cloned().collect(),
            rate_limited_until: self.rate_limited_until.filter(|until| *until > now),
            failures_by_class,
            trend,
            last_reply: self.last_reply.clone(),
            last_timing: self.last_timing,
        }
    }
}

/// The cool-down after `consecutive` 429s without Retry-After.
pub(super) fn backoff(consecutive: u32) -> Duration {
    let doublings = consecutive.saturating_sub(1).min(16);
    (RATE_LIMIT_BACKOFF_START * 2u32.pow(doublings)).min(RATE_LIMIT_BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::window::percentiles_raw;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).single().unwrap()
    }

    #[test]
    fn running_figures_match_a_fresh_count() {
        let policy = HealthPolicy {
            window: Duration::from_secs(120),
            ..HealthPolicy::default()
        };
        let mut rng = fastrand::Rng::with_seed(11);
        let mut m = ModelHealth::new("x/y");
        let mut at = 0;
        for _ in 0..3000 {
            at += rng.i64(0..20);
            let class = match rng.u8(0..10) {
                0 => Some(FailureClass::ServerError),
                1 => Some(FailureClass::RateLimited),
                2 => Some(FailureClass::Auth),
                _ => None,
            };
            let mut s = Sample::ok(t(at), Duration::from_millis(rng.u64(1..5000)));
            s.class = class;
            s.ttft_ms = rng.bool().then(|| rng.u32(1..900));
            s.tokens_per_s = rng.bool().then(|| rng.f32() * 100.0);
            m.record(&policy, s, Observation::default());
            // Ask at a later time too, when some of the ring has gone stale.
            let query = t(at + rng.i64(0..200));
            let start = m.window_start(&policy, query);
            let fresh = WindowStats::build(m.in_window(start));
            let running = m.window_stats(start);
            assert_eq!(
                (
                    running.samples,
                    running.ok,
                    running.counted,
                    running.by_class
                ),
                (fresh.samples, fresh.ok, fresh.counted, fresh.by_class)
            );
            assert_eq!(running.latencies, fresh.latencies);
            assert_eq!(running.ttfts, fresh.ttfts);
            assert_eq!(running.speeds, fresh.speeds);
            let mut raw = fresh.latencies.clone();
            assert_eq!(
                percentiles_sorted(&running.latencies).map(|p| (p.p50, p.p95)),
                percentiles_raw(&mut raw).map(|(a, b)| (
                    Duration::from_millis(a.into()),
                    Duration::from_millis(b.into())
                ))
            );
        }
        assert!(m.samples.len() <= RING_CAP);
    }
}
