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

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::{Attempt, FailureClass};

/// Samples kept per model at most, whatever the window: a hard memory bound.
pub const RING_CAP: usize = 512;
/// Served-model changes remembered per model.
const SERVED_HISTORY: usize = 8;
/// Points in a model's trend (sparkline).
pub const TREND_LEN: usize = 60;
/// Cool-down after a 429 without Retry-After: doubles from this…
const RATE_LIMIT_BACKOFF_START: Duration = Duration::from_secs(30);
/// …up to this.
const RATE_LIMIT_BACKOFF_MAX: Duration = Duration::from_secs(300);
/// A Retry-After beyond this is treated as this (a broken header must not
/// silence a model for days).
const RETRY_AFTER_MAX: Duration = Duration::from_secs(3600);

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

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a sample came from: a probe, or a real prompt (which is evidence too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleKind {
    #[default]
    Probe,
    Prompt,
}

/// One outcome, compact: this is what the ring holds and the state file keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub at: DateTime<Utc>,
    /// `None` is a success.
    pub class: Option<FailureClass>,
    #[serde(default)]
    pub kind: SampleKind,
    pub latency_ms: u32,
    #[serde(default)]
    pub ttft_ms: Option<u32>,
    #[serde(default)]
    pub tokens_per_s: Option<f32>,
}

impl Sample {
    pub fn ok(at: DateTime<Utc>, latency: Duration) -> Sample {
        Sample {
            at,
            class: None,
            kind: SampleKind::Probe,
            latency_ms: millis(latency),
            ttft_ms: None,
            tokens_per_s: None,
        }
    }

    pub fn failed(at: DateTime<Utc>, class: FailureClass, latency: Duration) -> Sample {
        Sample {
            class: Some(class),
            ..Sample::ok(at, latency)
        }
    }

    fn counts(&self) -> bool {
        self.class.is_none_or(FailureClass::counts_against_ratio)
    }
}

/// What one attempt tells the aggregator beyond the compact sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    pub http_status: Option<u16>,
    pub message: Option<String>,
    pub retry_after: Option<Duration>,
    pub served_model: Option<String>,
    pub served_by: Option<String>,
    pub fingerprint: Option<String>,
    pub reply: Option<String>,
}

impl Observation {
    pub fn from_attempt(attempt: &Attempt) -> (Sample, Observation) {
        let sample = Sample {
            at: attempt.started_at,
            class: attempt.class(),
            kind: SampleKind::Probe,
            latency_ms: millis(attempt.latency),
            ttft_ms: attempt.ttft.map(millis),
            tokens_per_s: attempt.tokens_per_s.map(|t| t as f32),
        };
        let failure = attempt.failure.as_ref();
        let observation = Observation {
            http_status: attempt.http_status,
            message: failure.map(|f| f.message.clone()),
            retry_after: failure.and_then(|f| f.retry_after),
            served_model: attempt.served_model.clone(),
            served_by: attempt.served_by.clone(),
            fingerprint: attempt.fingerprint.clone(),
            reply: (!attempt.reply.is_empty()).then(|| attempt.reply.clone()),
        };
        (sample, observation)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastFailure {
    pub at: DateTime<Utc>,
    pub class: FailureClass,
    pub http_status: Option<u16>,
    pub message: String,
}

/// The served model (or fingerprint) changed: pinned versions vanish, and this
/// is how you notice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    pub at: DateTime<Utc>,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: Duration,
    pub p95: Duration,
}

/// One point of a model's trend: a success's latency, or a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrendPoint {
    Ok(u32),
    Failed,
}

/// Everything the screen and `check` show about one model at `now`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSnapshot {
    pub name: String,
    pub id: String,
    pub status: Status,
    /// Why, in words: "9/15 ok; last: 502 provider unavailable".
    pub reason: String,
    /// ok / counted over the window; `None` without counted samples.
    pub ratio: Option<f64>,
    pub ok: u32,
    pub counted: u32,
    /// All samples in the window, counted or not (429s, config errors).
    pub samples: u32,
    pub lifetime_ratio: Option<f64>,
    pub lifetime_ok: u64,
    pub lifetime_counted: u64,
    pub last_failure: Option<LastFailure>,
    pub last_success: Option<DateTime<Utc>>,
    pub latency: Option<Percentiles>,
    pub ttft: Option<Percentiles>,
    pub tokens_per_s: Option<f64>,
    pub served_model: Option<String>,
    pub served_by: Option<String>,
    pub drift: Option<Drift>,
    pub served_history: Vec<Drift>,
    pub rate_limited_until: Option<DateTime<Utc>>,
    /// Failures in the window by class, most frequent first.
    pub failures_by_class: Vec<(FailureClass, u32)>,
    pub trend: Vec<TrendPoint>,
    pub last_reply: Option<String>,
}

/// A change worth telling the user about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthEvent {
    pub at: DateTime<Utc>,
    pub model: String,
    #[serde(flatten)]
    pub kind: HealthEventKind,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HealthEventKind {
    State {
        from: Status,
        to: Status,
        reason: String,
    },
    Drift {
        from: String,
        to: String,
    },
}

impl fmt::Display for HealthEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            HealthEventKind::State { from, to, reason } => {
                write!(f, "{}  {from} → {to}  ({reason})", self.model)
            }
            HealthEventKind::Drift { from, to } => {
                write!(f, "{}  served model changed: {from} → {to}", self.model)
            }
        }
    }
}

/// Everything kept about one model. Serializable: the state file keeps it so
/// that a restart redraws ratios and sparklines.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ModelHealth {
    pub id: String,
    samples: VecDeque<Sample>,
    lifetime_ok: u64,
    lifetime_counted: u64,
    /// Counted successes in a row; any counted failure resets it.
    consecutive_ok: u32,
    /// Start of the current success streak.
    streak_start: Option<DateTime<Utc>>,
    /// Set when a streak re-admitted an unhealthy model: older failures in
    /// the window no longer hold it down.
    readmitted_at: Option<DateTime<Utc>>,
    consecutive_rate_limits: u32,
    rate_limited_until: Option<DateTime<Utc>>,
    /// Why the model cannot work as configured (auth, credits, missing key…).
    misconfig: Option<String>,
    /// The environment now, not history: never saved.
    #[serde(skip)]
    missing_key: Option<String>,
    last_failure: Option<LastFailure>,
    last_success: Option<DateTime<Utc>>,
    served_model: Option<String>,
    served_by: Option<String>,
    fingerprint: Option<String>,
    drift: Option<Drift>,
    served_history: VecDeque<Drift>,
    #[serde(skip)]
    last_reply: Option<String>,
    /// Running figures over the ring, kept in step with every push and pop
    /// so a snapshot costs O(1) instead of a pass and three selections.
    /// Rebuilt after a restore; when out of step, computed afresh.
    #[serde(skip)]
    stats: WindowStats,
    /// The status last reported, to emit an event when it changes.
    #[serde(skip)]
    reported: Option<Status>,
}

impl ModelHealth {
    pub fn new(id: impl Into<String>) -> ModelHealth {
        ModelHealth {
            id: id.into(),
            ..ModelHealth::default()
        }
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
            }
            Some(class) => {
                self.last_failure = Some(LastFailure {
                    at,
                    class,
                    http_status: obs.http_status,
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
                // says nothing about the model's configuration.
                let about_the_prompt =
                    sample.kind == SampleKind::Prompt && class == FailureClass::BadRequest;
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

    /// The unacknowledged drift, if any.
    pub fn drift(&self) -> Option<&Drift> {
        self.drift.as_ref()
    }

    /// When the current 429 cool-down ends (it may already have).
    pub fn rate_limited_until(&self) -> Option<DateTime<Utc>> {
        self.rate_limited_until
    }

    /// Why the key is missing, if it is.
    pub fn missing_key(&self) -> Option<&str> {
        self.missing_key.as_deref()
    }

    fn prune(&mut self, policy: &HealthPolicy, now: DateTime<Utc>) {
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
        n
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
        let start = self.window_start(policy, now);
        let (ok, counted) = (stats.ok, stats.counted);
        if counted == 0 {
            return (Status::Unknown, "no samples in the window yet".into());
        }
        let window_words = format!("{ok}/{counted} ok");
        let readmitted = self.readmitted_at.filter(|at| *at >= start);
        // Since a re-admission every counted sample was a success (a counted
        // failure ends the re-admission), so the streak is the ratio.
        let (eff_ok, eff_counted) = match readmitted {
            Some(_) => (self.consecutive_ok, self.consecutive_ok),
            None => (ok, counted),
        };
        if eff_counted == 0 || ratio(eff_ok, eff_counted) <= policy.threshold {
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
        let readmit_words = if readmitted.is_some() {
            format!("re-admitted after {} ok in a row; ", self.consecutive_ok)
        } else {
            String::new()
        };
        if let Some(drift) = &self.drift {
            return (
                Status::Degraded,
                format!(
                    "{readmit_words}{window_words}; served model changed: {} → {}",
                    drift.from, drift.to
                ),
            );
        }
        if let Some(slow) = policy.slow {
            if let Some(p) = percentiles_sorted(&stats.latencies) {
                if p.p95 > slow {
                    return (
                        Status::Degraded,
                        format!(
                            "{readmit_words}{window_words}; slow: p95 {} > {}",
                            fmt_secs(p.p95),
                            fmt_secs(slow)
                        ),
                    );
                }
            }
        }
        (Status::Healthy, format!("{readmit_words}{window_words}"))
    }

    pub fn snapshot(&self, name: &str, policy: &HealthPolicy, now: DateTime<Utc>) -> ModelSnapshot {
        let stats = self.window_stats(self.window_start(policy, now));
        let (status, reason) = self.status_from(policy, now, &stats);
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
            status,
            reason,
            ratio: (counted > 0).then(|| ratio(ok, counted)),
            ok,
            counted,
            samples,
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
        }
    }
}

/// The health of every model, by name. Emits an event whenever a model's
/// status changes or its served model drifts.
#[derive(Debug, Clone)]
pub struct HealthBook {
    policy: HealthPolicy,
    names: Vec<String>,
    models: HashMap<String, ModelHealth>,
}

impl HealthBook {
    pub fn new(policy: HealthPolicy) -> HealthBook {
        HealthBook {
            policy,
            names: Vec::new(),
            models: HashMap::new(),
        }
    }

    pub fn policy(&self) -> &HealthPolicy {
        &self.policy
    }

    /// Registers a model (idempotent); `id` is the provider's model id.
    pub fn add_model(&mut self, name: &str, id: &str) {
        if !self.models.contains_key(name) {
            self.names.push(name.to_string());
            self.models.insert(name.to_string(), ModelHealth::new(id));
        }
    }

    /// Registers a model with history restored from the state file.
    pub fn restore(&mut self, name: &str, id: &str, mut health: ModelHealth) {
        health.id = id.to_string();
        let keep_from = health.samples.len().saturating_sub(RING_CAP);
        health.samples.drain(..keep_from);
        health.rebuild_stats();
        if !self.models.contains_key(name) {
            self.names.push(name.to_string());
        }
        self.models.insert(name.to_string(), health);
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Merges what another writer saved for `name` (see [`ModelHealth::absorb`])
    /// and reports any status change that follows.
    pub fn absorb(
        &mut self,
        name: &str,
        other: &ModelHealth,
        now: DateTime<Utc>,
    ) -> Vec<HealthEvent> {
        let absorbed = match self.models.get_mut(name) {
            Some(model) if model.id == other.id => model.absorb(&self.policy, other, now),
            _ => 0,
        };
        if absorbed == 0 {
            return Vec::new();
        }
        self.update_status(name, now).into_iter().collect()
    }

    /// Takes every model's status at `now` as already reported, without
    /// events: after a restore, the first event is a real change, not
    /// "unknown → healthy" for history that was already seen.
    pub fn settle(&mut self, now: DateTime<Utc>) {
        for model in self.models.values_mut() {
            model.prune(&self.policy, now);
            let (status, _) = model.status(&self.policy, now);
            model.reported = Some(status);
        }
    }

    pub fn model(&self, name: &str) -> Option<&ModelHealth> {
        self.models.get(name)
    }

    /// Records an attempt's outcome; a sample from a model the book does not
    /// know is ignored (it was removed from the config).
    pub fn record_attempt(
        &mut self,
        name: &str,
        attempt: &Attempt,
        kind: SampleKind,
        now: DateTime<Utc>,
    ) -> Vec<HealthEvent> {
        let (mut sample, obs) = Observation::from_attempt(attempt);
        sample.kind = kind;
        self.record(name, sample, obs, now)
    }

    pub fn record(
        &mut self,
        name: &str,
        sample: Sample,
        obs: Observation,
        now: DateTime<Utc>,
    ) -> Vec<HealthEvent> {
        let Some(model) = self.models.get_mut(name) else {
            return Vec::new();
        };
        let drifts = model.record(&self.policy, sample, obs);
        let mut events: Vec<HealthEvent> = drifts
            .into_iter()
            .map(|d| HealthEvent {
                at: d.at,
                model: name.to_string(),
                kind: HealthEventKind::Drift {
                    from: d.from,
                    to: d.to,
                },
            })
            .collect();
        events.extend(self.update_status(name, now));
        events
    }

    pub fn set_missing_key(
        &mut self,
        name: &str,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Vec<HealthEvent> {
        match self.models.get_mut(name) {
            Some(model) => model.set_missing_key(reason),
            None => return Vec::new(),
        }
        self.update_status(name, now).into_iter().collect()
    }

    pub fn acknowledge_drift(&mut self, name: &str, now: DateTime<Utc>) -> Vec<HealthEvent> {
        let acknowledged = self
            .models
            .get_mut(name)
            .is_some_and(ModelHealth::acknowledge_drift);
        if !acknowledged {
            return Vec::new();
        }
        self.update_status(name, now).into_iter().collect()
    }

    /// Re-judges every model at `now`: cool-downs end and failures leave the
    /// window without any new sample.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<HealthEvent> {
        let names = self.names.clone();
        names
            .iter()
            .filter_map(|n| self.update_status(n, now))
            .collect()
    }

    fn update_status(&mut self, name: &str, now: DateTime<Utc>) -> Option<HealthEvent> {
        let model = self.models.get_mut(name)?;
        model.prune(&self.policy, now);
        let (status, reason) = model.status(&self.policy, now);
        let from = model.reported.replace(status).unwrap_or(Status::Unknown);
        (from != status).then(|| HealthEvent {
            at: now,
            model: name.to_string(),
            kind: HealthEventKind::State {
                from,
                to: status,
                reason,
            },
        })
    }

    pub fn status(&self, name: &str, now: DateTime<Utc>) -> Option<Status> {
        self.models.get(name).map(|m| m.status(&self.policy, now).0)
    }

    pub fn snapshot(&self, name: &str, now: DateTime<Utc>) -> Option<ModelSnapshot> {
        self.models
            .get(name)
            .map(|m| m.snapshot(name, &self.policy, now))
    }

    /// Every model, in the order they were added.
    pub fn snapshots(&self, now: DateTime<Utc>) -> Vec<ModelSnapshot> {
        self.names
            .iter()
            .filter_map(|n| self.snapshot(n, now))
            .collect()
    }

    /// Everything worth keeping across a restart, by model name.
    pub fn models(&self) -> impl Iterator<Item = (&String, &ModelHealth)> {
        self.names
            .iter()
            .filter_map(|n| self.models.get(n).map(|m| (n, m)))
    }
}

/// A provider's rollup: the sum of its models' counted samples.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSnapshot {
    pub provider: String,
    pub models: Vec<String>,
    pub ok: u32,
    pub counted: u32,
    pub ratio: Option<f64>,
    pub status: Status,
    /// Models in each status, for "2 ok · 1 down".
    pub healthy_models: usize,
}

/// How to group models into providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKey {
    /// The part of the model id before `/` (the article's rule).
    IdPrefix,
    /// The serving provider that responses name (OpenRouter's `provider`).
    ServedBy,
}

/// Rolls model snapshots up by provider, in first-seen order.
pub fn rollup(
    snapshots: &[ModelSnapshot],
    key: ProviderKey,
    policy: &HealthPolicy,
) -> Vec<ProviderSnapshot> {
    let mut out: Vec<ProviderSnapshot> = Vec::new();
    for snap in snapshots {
        let provider = match key {
            ProviderKey::IdPrefix => provider_of(&snap.id).to_string(),
            ProviderKey::ServedBy => match &snap.served_by {
                Some(p) => p.clone(),
                None => continue,
            },
        };
        let entry = match out.iter_mut().position(|p| p.provider == provider) {
            Some(i) => &mut out[i],
            None => {
                out.push(ProviderSnapshot {
                    provider,
                    models: Vec::new(),
                    ok: 0,
                    counted: 0,
                    ratio: None,
                    status: Status::Unknown,
                    healthy_models: 0,
                });
                out.last_mut().expect("just pushed")
            }
        };
        entry.models.push(snap.name.clone());
        entry.ok += snap.ok;
        entry.counted += snap.counted;
        entry.healthy_models += usize::from(snap.status.is_ok());
    }
    for p in &mut out {
        p.ratio = (p.counted > 0).then(|| ratio(p.ok, p.counted));
        p.status = match p.ratio {
            None => Status::Unknown,
            Some(r) if r > policy.threshold => Status::Healthy,
            Some(_) => Status::Unhealthy,
        };
    }
    out
}

/// The provider part of a model id: what comes before `/`, else the whole id.
pub fn provider_of(id: &str) -> &str {
    id.split_once('/').map_or(id, |(p, _)| p)
}

fn ratio(ok: u32, counted: u32) -> f64 {
    f64::from(ok) / f64::from(counted)
}

fn backoff(consecutive: u32) -> Duration {
    let doublings = consecutive.saturating_sub(1).min(16);
    (RATE_LIMIT_BACKOFF_START * 2u32.pow(doublings)).min(RATE_LIMIT_BACKOFF_MAX)
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// Running figures over a model's ring: counts, failures by class, and the
/// window's values kept sorted (insert and remove by binary search), so
/// percentiles are a lookup.
#[derive(Debug, Clone, Default)]
struct WindowStats {
    samples: u32,
    ok: u32,
    counted: u32,
    by_class: [u32; FailureClass::ALL.len()],
    /// Successes' total latency, ms.
    latencies: Vec<u32>,
    /// Successes' time to first token, ms.
    ttfts: Vec<u32>,
    /// Successes' tokens/s × 10.
    speeds: Vec<u32>,
}

impl WindowStats {
    fn build<'a>(samples: impl Iterator<Item = &'a Sample>) -> WindowStats {
        let mut stats = WindowStats::default();
        for s in samples {
            stats.add(s);
        }
        stats
    }

    fn add(&mut self, s: &Sample) {
        self.samples += 1;
        self.counted += u32::from(s.counts());
        match s.class {
            None => {
                self.ok += 1;
                sorted_insert(&mut self.latencies, s.latency_ms);
                if let Some(ttft) = s.ttft_ms {
                    sorted_insert(&mut self.ttfts, ttft);
                }
                if let Some(speed) = speed_key(s) {
                    sorted_insert(&mut self.speeds, speed);
                }
            }
            Some(class) => {
                if let Some(n) = self.by_class.get_mut(class as usize) {
                    *n += 1;
                }
            }
        }
    }

    /// Undoes [`WindowStats::add`] for a sample that was added.
    fn remove(&mut self, s: &Sample) {
        self.samples = self.samples.saturating_sub(1);
        self.counted = self.counted.saturating_sub(u32::from(s.counts()));
        match s.class {
            None => {
                self.ok = self.ok.saturating_sub(1);
                sorted_remove(&mut self.latencies, s.latency_ms);
                if let Some(ttft) = s.ttft_ms {
                    sorted_remove(&mut self.ttfts, ttft);
                }
                if let Some(speed) = speed_key(s) {
                    sorted_remove(&mut self.speeds, speed);
                }
            }
            Some(class) => {
                if let Some(n) = self.by_class.get_mut(class as usize) {
                    *n = n.saturating_sub(1);
                }
            }
        }
    }
}

fn speed_key(s: &Sample) -> Option<u32> {
    s.tokens_per_s
        .filter(|t| t.is_finite() && *t >= 0.0)
        .map(|t| (t * 10.0) as u32)
}

fn sorted_insert(v: &mut Vec<u32>, x: u32) {
    let i = v.partition_point(|y| *y < x);
    v.insert(i, x);
}

fn sorted_remove(v: &mut Vec<u32>, x: u32) {
    if let Ok(i) = v.binary_search(&x) {
        v.remove(i);
    }
}

/// Nearest-rank percentile `p` of sorted values.
fn sorted_rank(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted.get(rank).copied()
}

fn percentiles_sorted(sorted: &[u32]) -> Option<Percentiles> {
    let ms = |v: u32| Duration::from_millis(v.into());
    Some(Percentiles {
        p50: ms(sorted_rank(sorted, 0.50)?),
        p95: ms(sorted_rank(sorted, 0.95)?),
    })
}

/// Nearest-rank p50 and p95 by selection: the reference the running
/// figures are checked against.
#[cfg(test)]
fn percentiles_raw(values: &mut [u32]) -> Option<(u32, u32)> {
    if values.is_empty() {
        return None;
    }
    let rank = |p: f64| ((p * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
    let (i50, i95) = (rank(0.50), rank(0.95));
    let p95 = *values.select_nth_unstable(i95).1;
    let p50 = *values[..=i95].select_nth_unstable(i50).1;
    Some((p50, p95))
}

/// "502 provider unavailable", "timeout no first token within 10s".
pub fn describe_failure(class: FailureClass, status: Option<u16>, message: Option<&str>) -> String {
    let message = message.filter(|m| !m.is_empty());
    match (status.filter(|code| *code >= 400), message) {
        // Providers often start their message with the code already.
        (Some(code), Some(m)) if m.starts_with(&code.to_string()) => m.to_string(),
        (Some(code), Some(m)) => format!("{code} {m}"),
        (Some(code), None) => format!("{code} {class}"),
        (None, Some(m)) => format!("{class}: {m}"),
        (None, None) => class.to_string(),
    }
}

/// A ratio as a percentage with one decimal ("95.0"), "—" without one.
pub fn fmt_ratio(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "—".to_string(), |r| format!("{:.1}", r * 100.0))
}

/// "just now", "42s ago", "3m ago", "2h ago", "5d ago".
pub fn fmt_ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds();
    match secs {
        ..=1 => "just now".to_string(),
        2..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86_399 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

/// "0.8s", "12s", "250ms".
pub fn fmt_secs(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 10_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}s", d.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).single().unwrap()
    }

    fn ok_at(secs: i64) -> (Sample, Observation) {
        (
            Sample::ok(t(secs), Duration::from_millis(800)),
            Observation::default(),
        )
    }

    fn fail_at(secs: i64, class: FailureClass, status: Option<u16>) -> (Sample, Observation) {
        (
            Sample::failed(t(secs), class, Duration::from_millis(100)),
            Observation {
                http_status: status,
                message: Some("provider unavailable".into()),
                ..Observation::default()
            },
        )
    }

    fn book() -> HealthBook {
        let mut b = HealthBook::new(HealthPolicy::default());
        b.add_model("m", "openai/gpt-4o");
        b
    }

    fn feed(b: &mut HealthBook, items: Vec<(Sample, Observation)>) -> Vec<HealthEvent> {
        items
            .into_iter()
            .flat_map(|(s, o)| {
                let now = s.at;
                b.record("m", s, o, now)
            })
            .collect()
    }

    #[test]
    fn statuses_from_sample_sequences() {
        use FailureClass::{Auth, BadRequest, Credits, Empty, NotFound, ServerError, Timeout};
        use Status::{Healthy, Misconfigured, Unhealthy, Unknown};
        const LIMITED: Status = Status::RateLimited;
        type Case = (&'static str, Vec<(Sample, Observation)>, Status);
        let table: Vec<Case> = vec![
            ("no samples", vec![], Unknown),
            ("one success", vec![ok_at(0)], Healthy),
            (
                "first failure with few samples",
                vec![ok_at(0), fail_at(60, ServerError, Some(502))],
                Unhealthy,
            ),
            ("only a failure", vec![fail_at(0, Timeout, None)], Unhealthy),
            (
                "19 of 20 is exactly 95%: not above the threshold",
                (0..19)
                    .map(|i| ok_at(i * 10))
                    .chain([fail_at(190, Empty, None)])
                    .collect(),
                Unhealthy,
            ),
            (
                "429 is not counted but cools down",
                vec![ok_at(0), fail_at(10, FailureClass::RateLimited, Some(429))],
                LIMITED,
            ),
            (
                "auth is misconfigured",
                vec![ok_at(0), fail_at(10, Auth, Some(401))],
                Misconfigured,
            ),
            (
                "credits is misconfigured",
                vec![fail_at(10, Credits, Some(402))],
                Misconfigured,
            ),
            (
                "not_found is misconfigured",
                vec![fail_at(10, NotFound, Some(404))],
                Misconfigured,
            ),
            (
                "a success after auth clears it",
                vec![fail_at(0, Auth, Some(401)), ok_at(10)],
                Healthy,
            ),
            (
                "only uncounted samples",
                vec![
                    fail_at(0, BadRequest, Some(400)),
                    fail_at(5, FailureClass::RateLimited, Some(429)),
                ],
                LIMITED,
            ),
        ];
        for (name, samples, want) in table {
            let mut b = book();
            let now = samples.last().map_or(t(0), |(s, _)| s.at);
            feed(&mut b, samples);
            assert_eq!(b.status("m", now), Some(want), "{name}");
        }
    }

    #[test]
    fn rate_limit_cooldown_honours_retry_after_then_backs_off() {
        let mut b = book();
        let (s, mut o) = fail_at(0, FailureClass::RateLimited, Some(429));
        o.retry_after = Some(Duration::from_secs(45));
        b.record("m", s, o, t(0));
        assert_eq!(b.status("m", t(44)), Some(Status::RateLimited));
        assert_eq!(
            b.status("m", t(46)),
            Some(Status::Unknown),
            "cool-down over, no counted data"
        );
        // Without Retry-After: 30s, then 60s, then 120s…
        let mut b = book();
        feed(
            &mut b,
            vec![fail_at(0, FailureClass::RateLimited, Some(429))],
        );
        assert_eq!(b.status("m", t(29)), Some(Status::RateLimited));
        assert_eq!(b.status("m", t(31)), Some(Status::Unknown));
        feed(
            &mut b,
            vec![fail_at(100, FailureClass::RateLimited, Some(429))],
        );
        assert_eq!(b.status("m", t(159)), Some(Status::RateLimited));
        assert_eq!(b.status("m", t(161)), Some(Status::Unknown));
        assert_eq!(backoff(20), RATE_LIMIT_BACKOFF_MAX);
    }

    #[test]
    fn recover_after_consecutive_successes_readmits() {
        let mut b = book();
        let mut items: Vec<_> = (0..10).map(|i| ok_at(i * 10)).collect();
        items.push(fail_at(100, FailureClass::ServerError, Some(502)));
        items.push(ok_at(110));
        items.push(ok_at(120));
        feed(&mut b, items);
        assert_eq!(
            b.status("m", t(120)),
            Some(Status::Unhealthy),
            "two of three"
        );
        let events = feed(&mut b, vec![ok_at(130)]);
        assert_eq!(b.status("m", t(130)), Some(Status::Healthy), "re-admitted");
        assert!(events.iter().any(|e| matches!(
            &e.kind,
            HealthEventKind::State { from: Status::Unhealthy, to: Status::Healthy, reason } if reason.contains("re-admitted")
        )));
        let snap = b.snapshot("m", t(130)).unwrap();
        assert_eq!(
            (snap.ok, snap.counted),
            (13, 14),
            "the window still shows the failure"
        );
        // A new failure after re-admission counts against the streak only.
        feed(&mut b, vec![fail_at(140, FailureClass::Timeout, None)]);
        assert_eq!(b.status("m", t(140)), Some(Status::Unhealthy));
    }

    #[test]
    fn failures_leave_the_window() {
        let mut b = book();
        feed(
            &mut b,
            vec![fail_at(0, FailureClass::ServerError, Some(502)), ok_at(10)],
        );
        assert_eq!(b.status("m", t(10)), Some(Status::Unhealthy));
        let after = 15 * 60 + 1;
        let events = b.tick(t(after));
        assert_eq!(b.status("m", t(after)), Some(Status::Healthy));
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn events_on_state_change_with_reason() {
        let mut b = book();
        let events = feed(
            &mut b,
            vec![
                ok_at(0),
                ok_at(10),
                fail_at(20, FailureClass::ServerError, Some(502)),
            ],
        );
        let states: Vec<_> = events
            .iter()
            .filter_map(|e| match &e.kind {
                HealthEventKind::State { from, to, reason } => Some((*from, *to, reason.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(states.len(), 2, "{states:?}");
        assert_eq!(
            (states[0].0, states[0].1),
            (Status::Unknown, Status::Healthy)
        );
        assert_eq!(
            (states[1].0, states[1].1),
            (Status::Healthy, Status::Unhealthy)
        );
        assert_eq!(states[1].2, "2/3 ok; last: 502 provider unavailable");
    }

    #[test]
    fn drift_degrades_until_acknowledged() {
        let mut b = book();
        let served = |secs, model: &str| {
            (
                Sample::ok(t(secs), Duration::from_millis(500)),
                Observation {
                    served_model: Some(model.into()),
                    ..Observation::default()
                },
            )
        };
        let events = feed(
            &mut b,
            vec![
                served(0, "openai/gpt-4o-2024-08-06"),
                served(10, "openai/gpt-4o-2024-08-06"),
            ],
        );
        assert!(!events
            .iter()
            .any(|e| matches!(e.kind, HealthEventKind::Drift { .. })));
        let events = feed(&mut b, vec![served(20, "openai/gpt-4o-2024-11-20")]);
        assert!(events.iter().any(|e| e.kind
            == HealthEventKind::Drift {
                from: "openai/gpt-4o-2024-08-06".into(),
                to: "openai/gpt-4o-2024-11-20".into()
            }));
        assert_eq!(b.status("m", t(20)), Some(Status::Degraded));
        assert_eq!(b.snapshot("m", t(20)).unwrap().served_history.len(), 1);
        b.acknowledge_drift("m", t(30));
        assert_eq!(b.status("m", t(30)), Some(Status::Healthy));
    }

    #[test]
    fn fingerprint_change_is_drift() {
        let mut b = book();
        let fp = |secs, print: &str| {
            (
                Sample::ok(t(secs), Duration::from_millis(500)),
                Observation {
                    served_model: Some("gpt-4o".into()),
                    fingerprint: Some(print.into()),
                    ..Observation::default()
                },
            )
        };
        feed(&mut b, vec![fp(0, "fp_a"), fp(10, "fp_a")]);
        assert_eq!(b.status("m", t(10)), Some(Status::Healthy));
        feed(&mut b, vec![fp(20, "fp_b")]);
        assert_eq!(b.status("m", t(20)), Some(Status::Degraded));
    }

    #[test]
    fn slow_p95_degrades() {
        let mut b = HealthBook::new(HealthPolicy {
            slow: Some(Duration::from_secs(2)),
            ..HealthPolicy::default()
        });
        b.add_model("m", "x/y");
        for i in 0..10 {
            let latency = if i == 9 { 5_000 } else { 500 };
            b.record(
                "m",
                Sample::ok(t(i), Duration::from_millis(latency)),
                Observation::default(),
                t(i),
            );
        }
        assert_eq!(b.status("m", t(9)), Some(Status::Degraded));
        let (_, why) = b.model("m").unwrap().status(b.policy(), t(9));
        assert!(why.contains("slow: p95 5.0s > 2.0s"), "{why}");
    }

    #[test]
    fn a_prompt_rejected_as_a_bad_request_does_not_misconfigure_the_model() {
        let mut b = book();
        feed(&mut b, vec![ok_at(0)]);
        let (mut s, o) = fail_at(10, FailureClass::BadRequest, Some(400));
        s.kind = SampleKind::Prompt;
        b.record("m", s, o, t(10));
        assert_eq!(b.status("m", t(10)), Some(Status::Healthy));
        // The same from a probe means the probe itself is misconfigured.
        feed(
            &mut b,
            vec![fail_at(20, FailureClass::BadRequest, Some(400))],
        );
        assert_eq!(b.status("m", t(20)), Some(Status::Misconfigured));
    }

    #[test]
    fn missing_key_is_misconfigured_with_the_fix() {
        let mut b = book();
        let events = b.set_missing_key("m", Some("OPENROUTER_API_KEY is not set".into()), t(0));
        assert_eq!(events.len(), 1);
        let snap = b.snapshot("m", t(0)).unwrap();
        assert_eq!(snap.status, Status::Misconfigured);
        assert_eq!(snap.reason, "OPENROUTER_API_KEY is not set");
    }

    #[test]
    fn settle_silences_restored_state_until_it_changes() {
        let mut b = book();
        feed(&mut b, vec![ok_at(0), ok_at(10)]);
        let saved = serde_json::to_string(b.model("m").unwrap()).unwrap();
        let mut restored = HealthBook::new(HealthPolicy::default());
        restored.restore("m", "openai/gpt-4o", serde_json::from_str(&saved).unwrap());
        restored.settle(t(20));
        assert!(restored.tick(t(20)).is_empty(), "no event for known state");
        let events = feed(
            &mut restored,
            vec![fail_at(30, FailureClass::ServerError, Some(502))],
        );
        assert_eq!(events.len(), 1);
        assert!(matches!(
            events[0].kind,
            HealthEventKind::State {
                from: Status::Healthy,
                to: Status::Unhealthy,
                ..
            }
        ));
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

    #[test]
    fn percentiles_nearest_rank() {
        assert_eq!(percentiles_raw(&mut []), None);
        assert_eq!(percentiles_raw(&mut [7]), Some((7, 7)));
        let mut v: Vec<u32> = (1..=100).rev().collect();
        assert_eq!(percentiles_raw(&mut v), Some((50, 95)));
        let mut v = vec![1, 2, 3, 4];
        assert_eq!(percentiles_raw(&mut v), Some((2, 4)));
    }

    #[test]
    fn snapshot_figures() {
        let mut b = book();
        for i in 0..20u32 {
            let mut s = Sample::ok(t(i.into()), Duration::from_millis(100 * u64::from(i + 1)));
            s.ttft_ms = Some(50);
            s.tokens_per_s = Some(40.0);
            b.record("m", s, Observation::default(), t(i.into()));
        }
        feed(
            &mut b,
            vec![
                fail_at(30, FailureClass::Timeout, None),
                fail_at(31, FailureClass::RateLimited, Some(429)),
            ],
        );
        let snap = b.snapshot("m", t(31)).unwrap();
        assert_eq!((snap.ok, snap.counted, snap.samples), (20, 21, 22));
        assert_eq!(snap.latency.unwrap().p50, Duration::from_millis(1000));
        assert_eq!(snap.latency.unwrap().p95, Duration::from_millis(1900));
        assert_eq!(snap.ttft.unwrap().p50, Duration::from_millis(50));
        assert_eq!(snap.tokens_per_s, Some(40.0));
        assert_eq!(
            snap.failures_by_class,
            vec![(FailureClass::Timeout, 1), (FailureClass::RateLimited, 1)]
        );
        assert_eq!(snap.trend.len(), 22);
        assert_eq!(snap.trend.last(), Some(&TrendPoint::Failed));
        assert_eq!(snap.lifetime_counted, 21);
    }

    #[test]
    fn ring_is_bounded() {
        let mut b = HealthBook::new(HealthPolicy {
            window: Duration::from_secs(10 * 24 * 3600),
            ..HealthPolicy::default()
        });
        b.add_model("m", "x/y");
        for i in 0..(RING_CAP as i64 * 3) {
            b.record(
                "m",
                Sample::ok(t(i), Duration::from_millis(10)),
                Observation::default(),
                t(i),
            );
        }
        let snap = b.snapshot("m", t(RING_CAP as i64 * 3)).unwrap();
        assert_eq!(snap.samples as usize, RING_CAP);
        assert_eq!(snap.lifetime_ok, RING_CAP as u64 * 3);
        assert_eq!(snap.trend.len(), TREND_LEN);
    }

    #[test]
    fn rollup_by_prefix_and_serving_provider() {
        let mut b = HealthBook::new(HealthPolicy::default());
        b.add_model("a", "openai/gpt-4o");
        b.add_model("b", "openai/gpt-4o-mini");
        b.add_model("c", "anthropic/claude-sonnet-4");
        let obs = |by: &str| Observation {
            served_by: Some(by.into()),
            ..Observation::default()
        };
        b.record("a", Sample::ok(t(0), Duration::ZERO), obs("OpenAI"), t(0));
        b.record(
            "b",
            Sample::failed(t(0), FailureClass::ServerError, Duration::ZERO),
            obs("Azure"),
            t(0),
        );
        b.record(
            "c",
            Sample::ok(t(0), Duration::ZERO),
            obs("Anthropic"),
            t(0),
        );
        let snaps = b.snapshots(t(1));
        let by_prefix = rollup(&snaps, ProviderKey::IdPrefix, b.policy());
        assert_eq!(by_prefix.len(), 2);
        assert_eq!(by_prefix[0].provider, "openai");
        assert_eq!((by_prefix[0].ok, by_prefix[0].counted), (1, 2));
        assert_eq!(by_prefix[0].status, Status::Unhealthy);
        assert_eq!(by_prefix[1].status, Status::Healthy);
        let by_served = rollup(&snaps, ProviderKey::ServedBy, b.policy());
        // `b` failed before naming a provider, so only a and c are grouped.
        let names: Vec<_> = by_served.iter().map(|p| p.provider.as_str()).collect();
        assert_eq!(names, ["OpenAI", "Anthropic"]);
    }

    #[test]
    fn describe_failure_words() {
        assert_eq!(
            describe_failure(
                FailureClass::ServerError,
                Some(502),
                Some("provider unavailable")
            ),
            "502 provider unavailable"
        );
        assert_eq!(
            describe_failure(FailureClass::Timeout, None, None),
            "timeout"
        );
        assert_eq!(
            describe_failure(FailureClass::Auth, Some(401), None),
            "401 auth"
        );
        assert_eq!(fmt_secs(Duration::from_millis(250)), "250ms");
        assert_eq!(fmt_secs(Duration::from_millis(1250)), "1.2s");
        assert_eq!(fmt_ago(t(0), t(0)), "just now");
        assert_eq!(fmt_ago(t(0), t(42)), "42s ago");
        assert_eq!(fmt_ago(t(0), t(200)), "3m ago");
        assert_eq!(fmt_ago(t(0), t(7300)), "2h ago");
    }
}
