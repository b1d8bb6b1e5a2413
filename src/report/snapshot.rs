//! `GET /api/v1/snapshot` on `serve`: everything the dashboard's screen
//! shows, as one document a remote screen (or a script) can be fed from —
//! each model's verdict and figures, its trend, last reply and
//! served-model history, the provider rollup, the failure log and the
//! day's spend.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::api::FailureClass;
use crate::config::Config;
use crate::health::{
    rollup, Drift, FailureRecord, ModelSnapshot, ProviderKey, SampleKind, Status, TrendPoint,
};
use crate::pricing::Spend;
use crate::route::Chain;

use super::{ms, CheckReport, ModelReport, SCHEMA_VERSION};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotReport {
    pub schema_version: u32,
    #[serde(serialize_with = "super::stamp::ser_millis")]
    pub generated_at: DateTime<Utc>,
    pub threshold: f64,
    pub window_ms: u64,
    /// `[probe] interval`: an attached dashboard's header shows it.
    pub probe_interval_ms: u64,
    /// The saved chain, first choice first.
    pub chain: Vec<String>,
    /// Every configured model, in the config's order.
    pub models: Vec<ModelView>,
    /// The rollup by the part of the id before `/`.
    pub providers: Vec<ProviderReport>,
    /// Every failure in the window, newest first, with its whole message.
    pub failures: Vec<FailureLine>,
    /// USD spent today (UTC) by probes, over every model.
    pub probe_spend_today: f64,
}

/// One model: its verdict as `check --json` gives it, and what else the
/// screen shows of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelView {
    #[serde(flatten)]
    pub verdict: ModelReport,
    pub lifetime_ratio: Option<f64>,
    /// Output tokens per second of decoding (not a duration: no `_ms`).
    pub tokens_per_second: Option<f64>,
    #[serde(serialize_with = "super::stamp::ser_secs_opt")]
    pub last_success: Option<DateTime<Utc>>,
    #[serde(serialize_with = "super::stamp::ser_secs_opt")]
    pub rate_limited_until: Option<DateTime<Utc>>,
    /// An unacknowledged change of the served model.
    pub drift: Option<DriftReport>,
    /// Every served-model change kept, oldest first.
    pub served_history: Vec<DriftReport>,
    pub failures_by_class: Vec<ClassCount>,
    /// The latest samples, oldest first: the screen's sparkline.
    pub trend: Vec<TrendReport>,
    /// The last reply's text (provider text: escape it before showing).
    pub last_reply: Option<String>,
    /// What it spent today (UTC).
    pub spend_today: SpendReport,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    #[serde(serialize_with = "super::stamp::ser_secs")]
    pub at: DateTime<Utc>,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassCount {
    pub class: FailureClass,
    pub count: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TrendReport {
    pub ok: bool,
    /// A success's latency; null for a failure.
    pub latency_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SpendReport {
    pub probes: u64,
    pub probe_usd: f64,
    pub prompts: u64,
    pub prompt_usd: f64,
    /// Requests proxied by `serve`, and what they cost (the apps' spend).
    pub traffic: u64,
    pub traffic_usd: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderReport {
    pub provider: String,
    pub status: Status,
    pub ratio: Option<f64>,
    pub ok: u32,
    pub counted: u32,
    pub models: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailureLine {
    #[serde(serialize_with = "super::stamp::ser_millis")]
    pub at: DateTime<Utc>,
    pub model: String,
    pub class: FailureClass,
    pub http_status: Option<u16>,
    /// `probe`, `prompt` or `traffic`.
    pub kind: SampleKind,
    pub message: String,
}

impl SnapshotReport {
    /// `spend` says what a model spent today.
    pub fn new(
        config: &Config,
        chain: &Chain,
        snapshots: &[ModelSnapshot],
        failures: Vec<(String, FailureRecord)>,
        spend: impl Fn(&str) -> Spend,
        probe_spend_today: f64,
        now: DateTime<Utc>,
    ) -> SnapshotReport {
        let check = CheckReport::new(config, chain, snapshots, now);
        let models = check
            .models
            .into_iter()
            .zip(snapshots)
            .map(|(verdict, s)| ModelView {
                lifetime_ratio: s.lifetime_ratio,
                tokens_per_second: s.tokens_per_s,
                last_success: s.last_success,
                rate_limited_until: s.rate_limited_until,
                drift: s.drift.as_ref().map(DriftReport::from),
                served_history: s.served_history.iter().map(DriftReport::from).collect(),
                failures_by_class: s
                    .failures_by_class
                    .iter()
                    .map(|(class, count)| ClassCount {
                        class: *class,
                        count: *count,
                    })
                    .collect(),
                trend: s
                    .trend
                    .iter()
                    .map(|p| match p {
                        TrendPoint::Ok(ms) => TrendReport {
                            ok: true,
                            latency_ms: Some(u64::from(*ms)),
                        },
                        TrendPoint::Failed => TrendReport {
                            ok: false,
                            latency_ms: None,
                        },
                    })
                    .collect(),
                last_reply: s.last_reply.clone(),
                spend_today: SpendReport::from(spend(&s.name)),
                verdict,
            })
            .collect();
        let mut failures: Vec<FailureLine> = failures
            .into_iter()
            .map(|(model, f)| FailureLine {
                at: f.at,
                model,
                class: f.class,
                http_status: f.http_status,
                kind: f.kind,
                message: f.message,
            })
            .collect();
        failures.sort_by_key(|f| std::cmp::Reverse(f.at));
        SnapshotReport {
            schema_version: SCHEMA_VERSION,
            generated_at: now,
            threshold: config.health.threshold,
            window_ms: ms(config.health.window),
            probe_interval_ms: ms(config.probe.interval),
            chain: chain.order().to_vec(),
            models,
            providers: rollup(snapshots, ProviderKey::IdPrefix)
                .into_iter()
                .map(|p| ProviderReport {
                    provider: p.provider,
                    status: p.status,
                    ratio: p.ratio,
                    ok: p.ok,
                    counted: p.counted,
                    models: p.models,
                })
                .collect(),
            failures,
            probe_spend_today,
        }
    }
}

impl From<&Drift> for DriftReport {
    fn from(d: &Drift) -> DriftReport {
        DriftReport {
            at: d.at,
            from: d.from.clone(),
            to: d.to.clone(),
        }
    }
}

impl From<Spend> for SpendReport {
    fn from(s: Spend) -> SpendReport {
        SpendReport {
            probes: s.probes,
            probe_usd: s.probe_usd,
            prompts: s.prompts,
            prompt_usd: s.prompt_usd,
            traffic: s.traffic,
            traffic_usd: s.traffic_usd,
        }
    }
}
