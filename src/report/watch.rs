//! `watch --json`: one document per line, one line per event.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::alert::AlertOutcome;
use crate::api::FailureClass;
use crate::engine::{ChainChange, EngineEvent};
use crate::fmt::describe_failure;
use crate::health::{HealthEventKind, Status};
use crate::route::{ChainEdit, RouteAnswer, RouteFailure};

use super::{ms, AttemptReport, SkipReport, SCHEMA_VERSION};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WatchLine {
    pub schema_version: u32,
    #[serde(serialize_with = "super::stamp::ser_millis")]
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub event: WatchEvent,
}

/// What happened; `kind` names the variant.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WatchEvent {
    /// A model's status changed.
    State {
        model: String,
        from: Status,
        to: Status,
        reason: String,
    },
    /// The model a provider serves changed.
    Drift {
        model: String,
        from: String,
        to: String,
        reason: String,
    },
    /// A probe ended (only with `-v`).
    Probe {
        model: String,
        ok: bool,
        class: Option<FailureClass>,
        http_status: Option<u16>,
        reason: Option<String>,
        latency_ms: u64,
        /// First token of any kind, reasoning included.
        ttft_ms: Option<u64>,
        /// First content token.
        ttfc_ms: Option<u64>,
        reasoning_tokens: Option<u64>,
        served_model: Option<String>,
        served_by: Option<String>,
        /// USD, as the provider reported it.
        cost: Option<f64>,
    },
    /// The daily budget changed the pace of paid probes.
    Budget { reason: String },
    /// Prices were fetched.
    Prices { models: usize, reason: String },
    /// An alert went out (`ok`) or could not be delivered (`reason` says
    /// why). The bell is the dashboard's and is not printed.
    Alert {
        rule: String,
        model: String,
        to: Status,
        ok: bool,
        via: String,
        reason: String,
    },
    /// The chain's order changed: edited by this process, or by another.
    Chain {
        order: Vec<String>,
        change: ChainChangeReport,
        reason: String,
    },
    /// A request proxied by `serve` ended (only on serve's
    /// `/api/v1/events`, never printed by `watch`).
    Route {
        /// `chain`, a tier, a configured model, or `models` (a list sent
        /// with the request).
        target: String,
        ok: bool,
        /// The model that answered.
        model: Option<String>,
        /// A model failed before another answered.
        failover: bool,
        ttft_ms: Option<u64>,
        total_ms: u64,
        reason: String,
        skipped: Vec<SkipReport>,
        attempts: Vec<AttemptReport>,
    },
}

impl WatchLine {
    /// The line for a request `serve` routed to `target`, ended at `at`
    /// after `total`.
    pub fn route(
        at: DateTime<Utc>,
        target: &str,
        result: &Result<RouteAnswer, RouteFailure>,
        total: std::time::Duration,
    ) -> WatchLine {
        let (records, skipped) = match result {
            Ok(a) => (&a.attempts, &a.skipped),
            Err(f) => (&f.attempts, &f.skipped),
        };
        let failover = records.iter().any(|r| !r.cancelled && !r.attempt.is_ok()) && result.is_ok();
        let event = WatchEvent::Route {
            target: target.to_string(),
            ok: result.is_ok(),
            model: result.as_ref().ok().map(|a| a.model.clone()),
            failover,
            ttft_ms: result.as_ref().ok().and_then(|a| a.ttft).map(ms),
            total_ms: ms(total),
            reason: match result {
                Ok(a) if failover => format!("{} answered after a failover", a.model),
                Ok(a) => format!("{} answered", a.model),
                Err(f) => f.to_string(),
            },
            skipped: skipped.iter().map(SkipReport::from).collect(),
            attempts: records.iter().map(AttemptReport::from).collect(),
        };
        WatchLine {
            schema_version: SCHEMA_VERSION,
            at,
            event,
        }
    }
}

/// The edit this process made, or `"outside"` for another process's.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ChainChangeReport {
    Edited(ChainEdit),
    Outside(&'static str),
}

/// "changed by another process: a › b", "moved a to 2: b › a".
pub fn chain_reason(order: &[String], change: &ChainChange) -> String {
    let order = order.join(" › ");
    match change {
        ChainChange::Edited(edit) => format!("{edit}: {order}"),
        ChainChange::Outside => format!("changed by another process: {order}"),
    }
}

impl WatchLine {
    /// The line for `event`, or `None` for events `watch` does not print on
    /// stdout (warnings, saves, and probes unless `verbose`).
    pub fn new(event: &EngineEvent, verbose: bool) -> Option<WatchLine> {
        let (at, event) = match event {
            EngineEvent::Health(e) => {
                let model = e.model.clone();
                let event = match &e.kind {
                    HealthEventKind::State { from, to, reason } => WatchEvent::State {
                        model,
                        from: *from,
                        to: *to,
                        reason: reason.clone(),
                    },
                    HealthEventKind::Drift { from, to } => WatchEvent::Drift {
                        model,
                        from: from.clone(),
                        to: to.clone(),
                        reason: format!("served model changed: {from} → {to}"),
                    },
                };
                (e.at, event)
            }
            EngineEvent::Probe { model, attempt } if verbose => {
                let failure = attempt.failure.as_ref();
                let event = WatchEvent::Probe {
                    model: model.clone(),
                    ok: attempt.is_ok(),
                    class: failure.map(|f| f.class),
                    http_status: attempt.http_status,
                    reason: failure
                        .map(|f| describe_failure(f.class, attempt.http_status, Some(&f.message))),
                    latency_ms: ms(attempt.latency),
                    ttft_ms: attempt.ttft.map(ms),
                    ttfc_ms: attempt.ttfc.map(ms),
                    reasoning_tokens: attempt.usage.as_ref().and_then(|u| u.reasoning_tokens),
                    served_model: attempt.served_model.clone(),
                    served_by: attempt.served_by.clone(),
                    cost: attempt.usage.as_ref().and_then(|u| u.cost),
                };
                (attempt.started_at, event)
            }
            EngineEvent::Budget { at, message } => (
                *at,
                WatchEvent::Budget {
                    reason: message.clone(),
                },
            ),
            EngineEvent::Prices { at, models } => (
                *at,
                WatchEvent::Prices {
                    models: *models,
                    reason: format!("prices for {models} models"),
                },
            ),
            EngineEvent::Chain { at, order, change } => (
                *at,
                WatchEvent::Chain {
                    order: order.clone(),
                    change: match change {
                        ChainChange::Edited(edit) => ChainChangeReport::Edited(edit.clone()),
                        ChainChange::Outside => ChainChangeReport::Outside("outside"),
                    },
                    reason: chain_reason(order, change),
                },
            ),
            EngineEvent::Alert(news) => {
                let (ok, via, reason) = match &news.outcome {
                    AlertOutcome::Bell => return None,
                    AlertOutcome::Sent { via } => (true, via, format!("sent by {via}")),
                    AlertOutcome::Failed { via, error } => (false, via, error.clone()),
                };
                (
                    news.at,
                    WatchEvent::Alert {
                        rule: news.rule.clone(),
                        model: news.model.clone(),
                        to: news.to,
                        ok,
                        via: via.clone(),
                        reason,
                    },
                )
            }
            EngineEvent::Probe { .. } | EngineEvent::Warning { .. } | EngineEvent::Saved { .. } => {
                return None
            }
        };
        Some(WatchLine {
            schema_version: SCHEMA_VERSION,
            at,
            event,
        })
    }
}
