//! `check --json`: one document, a verdict per model.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::api::FailureClass;
use crate::config::Config;
use crate::health::{LastFailure, ModelSnapshot, Percentiles, Recovery, Status};
use crate::route::Chain;

use super::{ms, SCHEMA_VERSION};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    pub schema_version: u32,
    #[serde(serialize_with = "super::stamp::ser_secs")]
    pub generated_at: DateTime<Utc>,
    /// A model is healthy when its ratio is above this.
    pub threshold: f64,
    /// The sliding window the ratios are taken over.
    pub window_ms: u64,
    pub models: Vec<ModelReport>,
}

/// One model's verdict, from its [`ModelSnapshot`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelReport {
    pub name: String,
    pub id: String,
    /// The config's endpoint name.
    pub endpoint: Option<String>,
    /// The part of the id before `/` (the endpoint's name for an id without one).
    pub provider: String,
    /// 1-based place in the saved chain; `None` when out of it.
    pub chain_position: Option<usize>,
    pub in_chain: bool,
    pub status: Status,
    /// Why, in words: always present, for every verdict.
    pub reason: String,
    pub ratio: Option<f64>,
    pub samples: u32,
    /// Set while the window still holds an outage the model came back from.
    pub recovery: Option<RecoveryReport>,
    pub last_failure: Option<FailureReport>,
    pub latency_ms: Option<Spread>,
    pub ttft_ms: Option<Spread>,
    pub served_model: Option<String>,
    pub served_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecoveryReport {
    /// The start of the success streak that re-admitted the model.
    #[serde(serialize_with = "super::stamp::ser_secs")]
    pub since: DateTime<Utc>,
    /// Counted samples since then, and the successes among them.
    pub ok: u32,
    pub counted: u32,
    /// Counted samples since re-admission that make it healthy again.
    pub needed: u32,
    /// When the last counted failure leaves the window.
    #[serde(serialize_with = "super::stamp::ser_secs_opt")]
    pub outage_leaves_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailureReport {
    #[serde(serialize_with = "super::stamp::ser_secs")]
    pub at: DateTime<Utc>,
    pub class: FailureClass,
    pub http_status: Option<u16>,
    pub message: String,
}

/// Two percentiles of a duration, in the unit of the key that holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Spread {
    pub p50: u64,
    pub p95: u64,
}

impl CheckReport {
    pub fn new(
        config: &Config,
        chain: &Chain,
        snapshots: &[ModelSnapshot],
        now: DateTime<Utc>,
    ) -> CheckReport {
        CheckReport {
            schema_version: SCHEMA_VERSION,
            generated_at: now,
            threshold: config.health.threshold,
            window_ms: ms(config.health.window),
            models: snapshots
                .iter()
                .map(|s| ModelReport::new(config, chain, s))
                .collect(),
        }
    }
}

impl ModelReport {
    pub fn new(config: &Config, chain: &Chain, s: &ModelSnapshot) -> ModelReport {
        ModelReport {
            name: s.name.clone(),
            id: s.id.clone(),
            endpoint: config.model(&s.name).map(|m| m.endpoint.clone()),
            provider: s.provider().to_string(),
            chain_position: chain.position(&s.name),
            in_chain: chain.contains(&s.name),
            status: s.status,
            reason: s.reason.clone(),
            ratio: s.ratio,
            samples: s.samples,
            recovery: s.recovery.map(RecoveryReport::from),
            last_failure: s.last_failure.as_ref().map(FailureReport::from),
            latency_ms: s.latency.map(Spread::from),
            ttft_ms: s.ttft.map(Spread::from),
            served_model: s.served_model.clone(),
            served_by: s.served_by.clone(),
        }
    }
}

impl From<&LastFailure> for FailureReport {
    fn from(f: &LastFailure) -> FailureReport {
        FailureReport {
            at: f.at,
            class: f.class,
            http_status: f.http_status,
            message: f.message.clone(),
        }
    }
}

impl From<Recovery> for RecoveryReport {
    fn from(r: Recovery) -> RecoveryReport {
        RecoveryReport {
            since: r.since,
            ok: r.ok,
            counted: r.counted,
            needed: r.needed,
            outage_leaves_at: r.outage_leaves_at,
        }
    }
}

impl From<Percentiles> for Spread {
    fn from(p: Percentiles) -> Spread {
        Spread {
            p50: ms(p.p50),
            p95: ms(p.p95),
        }
    }
}
