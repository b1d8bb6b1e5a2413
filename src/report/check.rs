//! `check --json`: one document, a verdict per model.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::api::FailureClass;
use crate::config::Config;
use crate::health::{provider_of, LastFailure, ModelSnapshot, Percentiles, Status};

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
    /// The part of the id before `/`.
    pub provider: String,
    pub status: Status,
    pub reason: String,
    pub ratio: Option<f64>,
    pub samples: u32,
    pub last_failure: Option<FailureReport>,
    pub latency_ms: Option<Spread>,
    pub ttft_ms: Option<Spread>,
    pub served_model: Option<String>,
    pub served_by: Option<String>,
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
    pub fn new(config: &Config, snapshots: &[ModelSnapshot], now: DateTime<Utc>) -> CheckReport {
        CheckReport {
            schema_version: SCHEMA_VERSION,
            generated_at: now,
            threshold: config.health.threshold,
            window_ms: ms(config.health.window),
            models: snapshots
                .iter()
                .map(|s| ModelReport::new(config, s))
                .collect(),
        }
    }
}

impl ModelReport {
    pub fn new(config: &Config, s: &ModelSnapshot) -> ModelReport {
        ModelReport {
            name: s.name.clone(),
            id: s.id.clone(),
            endpoint: config.model(&s.name).map(|m| m.endpoint.clone()),
            provider: provider_of(&s.id).to_string(),
            status: s.status,
            reason: s.reason.clone(),
            ratio: s.ratio,
            samples: s.samples,
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

impl From<Percentiles> for Spread {
    fn from(p: Percentiles) -> Spread {
        Spread {
            p50: ms(p.p50),
            p95: ms(p.p95),
        }
    }
}
