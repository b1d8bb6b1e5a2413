//! Recording outcomes: every attempt (probe or real prompt) goes into the
//! health book and the ledger, and what changed goes to the subscribers and,
//! when a real prompt moved a model's status, to the schedule.

use chrono::{DateTime, Utc};

use crate::api::Attempt;
use crate::health::{FailureRecord, HealthBook, Observation, SampleKind, Status};
use crate::pricing::attempt_cost_checked;
use crate::probe::Condition;
use crate::store::AckedDrift;

use super::{lock, Engine, EngineEvent, SharedSample};

impl Engine {
    /// Records an outcome (probes and real prompts alike: a prompt is a sample
    /// too), counts its cost, and tells subscribers.
    pub fn record(&self, model: &str, attempt: &Attempt, kind: SampleKind, now: DateTime<Utc>) {
        let Some(plan) = self.inner.plans.get(model) else {
            return;
        };
        let (cost, doubt) = {
            let mut money = lock(&self.inner.money);
            let price = money.prices.get(&plan.target.model_id);
            let (cost, doubt) = attempt_cost_checked(attempt, price);
            money.ledger.add(model, kind, cost, now);
            (cost, doubt)
        };
        if let Some(why) = doubt {
            tracing::warn!("{model}: {why}");
            self.emit(EngineEvent::Warning {
                at: now,
                message: format!("{model}: {why}"),
            });
        }
        let (events, cond) = {
            let mut book = lock(&self.inner.book);
            let events = book.record_attempt(model, attempt, kind, now);
            (events, condition(&book, model, now))
        };
        // Anything but a probe (a real prompt, proxied traffic) is evidence
        // the schedule uses too: a success stands in for the paid probe of
        // this gap, a failure brings the full rate back, and a change of
        // status moves the next probe (sooner when unhealthy, later when
        // cooling down).
        if kind.is_real() {
            let mut schedule = lock(&self.inner.schedule);
            if attempt.failure.is_none() && cond == Condition::Normal {
                schedule.stand_in(model, now);
            } else if attempt
                .class()
                .is_some_and(crate::api::FailureClass::counts_against_ratio)
            {
                schedule.trouble(model, now, false);
            }
            if !events.is_empty() {
                schedule.condition_changed(model, now, cond);
            }
        }
        if let Some(fleet) = self.fleet() {
            // As the book took it: stamped when the attempt started.
            let (mut sample, obs) = Observation::from_attempt(attempt);
            sample.kind = kind;
            let failure = sample.class.map(|class| FailureRecord {
                at: sample.at,
                class,
                http_status: obs.http_status,
                kind,
                message: obs.message.clone().unwrap_or_default(),
            });
            fleet.publish(model, SharedSample { sample, failure });
            if kind == SampleKind::Probe && cost > 0.0 {
                fleet.spend(cost, now);
            }
        }
        if kind == SampleKind::Probe {
            self.emit(EngineEvent::Probe {
                model: model.to_string(),
                attempt: attempt.clone(),
            });
        }
        for event in events {
            self.emit(EngineEvent::Health(event));
        }
    }

    /// Clears a model's drift flag and remembers it across restarts.
    pub fn acknowledge_drift(&self, model: &str, now: DateTime<Utc>) {
        let (served, events) = {
            let mut book = lock(&self.inner.book);
            let served = book
                .model(model)
                .and_then(|m| m.drift())
                .map(|d| d.to.clone());
            (served, book.acknowledge_drift(model, now))
        };
        if let Some(served) = served {
            let mut acks = lock(&self.inner.acks);
            acks.retain(|a| a.model != model);
            acks.push(AckedDrift {
                model: model.to_string(),
                served,
                at: now,
            });
        }
        for event in events {
            self.emit(EngineEvent::Health(event));
        }
    }

    /// Re-judges every model at `now` (cool-downs end, failures leave the
    /// window) and tells subscribers what changed; follows a chain another
    /// process saved.
    pub fn tick(&self, now: DateTime<Utc>) {
        let events = lock(&self.inner.book).tick(now);
        for event in events {
            self.emit(EngineEvent::Health(event));
        }
        self.follow_chain(now);
    }
}

/// The scheduling condition of `model` in `book` at `now`.
pub(super) fn condition(book: &HealthBook, model: &str, now: DateTime<Utc>) -> Condition {
    let status = book.status(model, now).unwrap_or(Status::Unknown);
    let until = book.model(model).and_then(|m| m.rate_limited_until());
    Condition::of(status, until)
}
