//! The book of every model ([`HealthBook`]): one [`ModelHealth`] per name,
//! in config order, under one policy. It turns what the models record into
//! events: a status that changed, a served model that drifted.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::api::Attempt;

use super::{
    FailureRecord, HealthEvent, HealthEventKind, HealthPolicy, ModelHealth, ModelSnapshot,
    Observation, Sample, SampleKind, Status,
};

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
        health.restore_as(id);
        if !self.models.contains_key(name) {
            self.names.push(name.to_string());
        }
        self.models.insert(name.to_string(), health);
    }

    /// Tells a registered model which configured endpoint serves it.
    pub fn set_endpoint(&mut self, name: &str, endpoint: &str) {
        if let Some(model) = self.models.get_mut(name) {
            model.set_endpoint(endpoint);
        }
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

    /// Every model's failures at or after `since` with their whole
    /// messages (the dashboard's failure log), by model name, in config
    /// order and oldest first within a model.
    pub fn failures_since(&self, since: DateTime<Utc>) -> Vec<(String, FailureRecord)> {
        self.models()
            .flat_map(|(name, m)| m.failures().since(since).map(|r| (name.clone(), r.clone())))
            .collect()
    }

    /// Everything worth keeping across a restart, by model name.
    pub fn models(&self) -> impl Iterator<Item = (&String, &ModelHealth)> {
        self.names
            .iter()
            .filter_map(|n| self.models.get(n).map(|m| (n, m)))
    }
}
