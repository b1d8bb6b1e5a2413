//! The engine's side of the cadence policy (`probe::Cadence`): what makes
//! a paid probe clean, what each model's probes cost and so how far they
//! are worth stretching, the free signal polled between paid probes, and
//! what probes are projected to spend per day at the pace they go now.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::api::{self, Attempt, Dialect};
use crate::health::Status;
use crate::pricing::{ModelSpending, Spending};
use crate::probe::{is_slow, judge, Cadence, Signal};

use super::{lock, Engine, EngineEvent};

/// A guess at a probe prompt's size, for cost estimates before any usage.
pub(super) const PROBE_PROMPT_TOKENS: u64 = 20;

/// What the window said about a model's speed before a probe was recorded.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Before {
    p95: Option<Duration>,
    samples: u32,
}

impl Engine {
    /// The cadence policy in force.
    pub fn cadence(&self) -> Cadence {
        lock(&self.inner.schedule).cadence()
    }

    /// Sets the cadence policy: [`Cadence::fixed`] probes every model every
    /// interval, as `check` and the naive prober do.
    pub fn set_cadence(&self, cadence: Cadence) {
        lock(&self.inner.schedule).set_cadence(cadence);
    }

    /// When anything (a probe, a free signal) is next due.
    pub fn next_wake(&self) -> Option<DateTime<Utc>> {
        lock(&self.inner.schedule).next_wake()
    }

    /// How far `model`'s paid probes are stretched now (1: every interval).
    pub fn stretch(&self, model: &str) -> u32 {
        lock(&self.inner.schedule).stretch(model)
    }

    /// What `model`'s free signal said last.
    pub fn last_signal(&self, model: &str) -> Option<Signal> {
        lock(&self.inner.schedule).last_signal(model).cloned()
    }

    pub(super) fn before_probe(&self, model: &str, now: DateTime<Utc>) -> Before {
        let book = lock(&self.inner.book);
        book.snapshot(model, now)
            .map(|s| Before {
                p95: s.latency.map(|l| l.p95),
                samples: s.counted,
            })
            .unwrap_or_default()
    }

    /// Tells the schedule how the paid probe went: clean (answered, not
    /// slow, the model healthy) grows the streak, anything else snaps the
    /// model back to the full rate.
    pub(super) fn judge_probe(
        &self,
        model: &str,
        attempt: &Attempt,
        before: Before,
        now: DateTime<Utc>,
    ) {
        let status = self.status(model, now);
        let slow = is_slow(
            attempt.latency,
            before.p95,
            before.samples,
            self.inner.config.health.slow,
        );
        let clean = attempt.failure.is_none() && !slow && status == Status::Healthy;
        self.update_cost_cap(model);
        let mut schedule = lock(&self.inner.schedule);
        if clean {
            schedule.clean(model);
        } else {
            schedule.trouble(model, now, false);
        }
    }

    /// What one probe of `model` costs: the observed average, else the
    /// price × a probe's size.
    fn per_probe(&self, model: &str) -> Option<f64> {
        let plan = self.inner.plans.get(model)?;
        // Before the money is locked: one lock at a time.
        let max_tokens = self
            .probe_max_tokens(model)
            .unwrap_or(plan.request.max_tokens);
        let money = lock(&self.inner.money);
        money.ledger.average_probe_cost(model).or_else(|| {
            money
                .prices
                .get(&plan.target.model_id)
                .map(|p| p.estimate(PROBE_PROMPT_TOKENS, u64::from(max_tokens)))
        })
    }

    /// Works out again how far `model`'s probes are worth stretching.
    pub(super) fn update_cost_cap(&self, model: &str) {
        let Some(plan) = self.inner.plans.get(model) else {
            return;
        };
        let per_probe = self.per_probe(model);
        let mut schedule = lock(&self.inner.schedule);
        let cap = schedule
            .cadence()
            .cost_cap(per_probe, plan.settings.interval);
        schedule.set_cost_cap(model, cap);
    }

    /// Polls every free signal due at `now` and acts on what each says.
    pub(super) async fn poll_signals(&self, now: DateTime<Utc>) {
        let due = lock(&self.inner.schedule).take_signals(now);
        let polls = due.iter().map(|m| self.poll_signal(m, Some(now)));
        futures_util::future::join_all(polls).await;
    }

    /// Fetches `model`'s free signal and tells the schedule; recorded at
    /// `fixed` (tests) or the wall clock. A warning (or its end) is news.
    pub(super) async fn poll_signal(&self, model: &str, fixed: Option<DateTime<Utc>>) {
        let signal = self.fetch_signal(model, fixed).await;
        let now = fixed.unwrap_or_else(Utc::now);
        let news = lock(&self.inner.schedule).signal_seen(model, now, signal.clone());
        // Only a warning that is news: one that persists was said already,
        // and the paid probes that follow speak for themselves.
        let message = match &signal {
            Signal::Warning { why, .. } if news => Some(format!(
                "{model}: {why}; probing it now, and at the full rate until it clears"
            )),
            _ => None,
        };
        if let Some(message) = message {
            tracing::info!("{message}");
            self.emit(EngineEvent::Warning { at: now, message });
        }
    }

    async fn fetch_signal(&self, model: &str, fixed: Option<DateTime<Utc>>) -> Signal {
        let (Some(plan), Some(http)) = (self.inner.plans.get(model), &self.inner.http) else {
            return Signal::Absent("no HTTP client".into());
        };
        let Some(endpoint) = self.inner.config.endpoint(&plan.endpoint) else {
            return Signal::Absent("no endpoint".into());
        };
        if endpoint.dialect != Dialect::Openai {
            return Signal::Absent(format!("{} speaks Anthropic's dialect", endpoint.name));
        }
        let key = endpoint.api_key().ok().flatten();
        let fetched = api::fetch_endpoints(
            http,
            &endpoint.base_url,
            key.as_ref(),
            &plan.target.model_id,
        )
        .await;
        let now = fixed.unwrap_or_else(Utc::now);
        match fetched {
            Ok(endpoints) => {
                let served_by = self.snapshot(model, now).and_then(|s| s.served_by);
                judge(
                    &endpoints,
                    served_by.as_deref(),
                    self.inner.config.health.threshold,
                )
            }
            Err(e) if e.is_absent() => Signal::Absent(e.to_string()),
            Err(e) => Signal::Silent(e.to_string()),
        }
    }

    /// What probes spent today (UTC) and, per model, what they will spend
    /// a day at the pace each goes now: its cost per probe (observed, else
    /// the price × a probe's size) × probes a day at its current gap.
    pub fn spending(&self, now: DateTime<Utc>) -> Spending {
        let names: Vec<String> = self
            .inner
            .config
            .models
            .iter()
            .map(|m| m.name.clone())
            .collect();
        let per_probe: Vec<Option<f64>> = names.iter().map(|n| self.per_probe(n)).collect();
        let statuses: Vec<Status> = names.iter().map(|n| self.status(n, now)).collect();
        let spent: Vec<_> = {
            let money = lock(&self.inner.money);
            names.iter().map(|n| money.ledger.spend(n, now)).collect()
        };
        let schedule = lock(&self.inner.schedule);
        let mut models = BTreeMap::new();
        for (i, name) in names.iter().enumerate() {
            let gap = schedule.gap(name);
            let sends = !matches!(statuses.get(i), Some(Status::Misconfigured));
            let per_probe = per_probe.get(i).copied().flatten();
            let per_day = match (per_probe, gap) {
                (Some(c), Some(gap)) if sends && !gap.is_zero() => c * 86_400.0 / gap.as_secs_f64(),
                _ => 0.0,
            };
            let spend = spent.get(i).copied().unwrap_or_default();
            models.insert(
                name.clone(),
                ModelSpending {
                    today: spend.probe_usd,
                    probes_today: spend.probes,
                    per_probe,
                    per_day,
                    gap,
                    stretch: schedule.stretch(name),
                    covered: schedule.covered(name),
                },
            );
        }
        Spending::of(models)
    }
}
