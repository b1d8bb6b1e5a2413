//! `GET /api/v1/snapshot` read back: the document `serve` writes
//! (`crate::report::SnapshotReport`, fields in `docs/json.md`) turned into
//! what the screen draws — a [`ModelSnapshot`] per model, the failure log,
//! the chain, the day's spend — and the [`Config`] the screen needs (the
//! models, their endpoints' names, the window, threshold and probe
//! interval). Nothing here panics on a bad document: a field that is
//! missing or of the wrong type is an error that names it, or a default
//! where the screen can do without it.

use std::time::Duration;

use anyhow::{anyhow, Context as _};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::{Dialect, FailureClass};
use crate::config::{
    Config, ConfigSource, Endpoint, HealthSettings, ModelConfig, ProbeOverrides, ProbeSettings,
    RouteSettings,
};
use crate::health::{
    Drift, FailureRecord, LastFailure, ModelSnapshot, Percentiles, Recovery, SampleKind, Status,
    TrendPoint,
};

/// One snapshot document, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Remote {
    pub models: Vec<ModelSnapshot>,
    pub failures: Vec<(String, FailureRecord)>,
    pub chain: Vec<String>,
    pub spend_today: f64,
    pub threshold: f64,
    pub window: Duration,
    /// `None` from a server that does not say (older than the field).
    pub probe_interval: Option<Duration>,
}

/// Reads the document; `Err` names what is wrong with it.
pub fn read(doc: &Value) -> anyhow::Result<Remote> {
    let models = doc
        .get("models")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("the snapshot has no `models` list"))?
        .iter()
        .enumerate()
        .map(|(i, m)| model(m).with_context(|| format!("models[{i}]")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let failures = doc
        .get("failures")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|f| {
            let model = f.get("model")?.as_str()?.to_string();
            Some((
                model,
                FailureRecord {
                    at: time(f.get("at"))?,
                    class: field::<FailureClass>(f, "class").ok()?,
                    http_status: f
                        .get("http_status")
                        .and_then(Value::as_u64)
                        .and_then(|s| u16::try_from(s).ok()),
                    kind: field::<SampleKind>(f, "kind").unwrap_or_default(),
                    message: str_of(f, "message").unwrap_or_default(),
                },
            ))
        })
        .collect();
    let chain = field::<Vec<String>>(doc, "chain").context("`chain`")?;
    Ok(Remote {
        models,
        failures,
        chain,
        spend_today: doc
            .get("probe_spend_today")
            .and_then(Value::as_f64)
            .unwrap_or(0.0),
        threshold: doc
            .get("threshold")
            .and_then(Value::as_f64)
            .unwrap_or(HealthSettings::default().threshold),
        window: doc
            .get("window_ms")
            .and_then(Value::as_u64)
            .map_or(HealthSettings::default().window, Duration::from_millis),
        probe_interval: doc
            .get("probe_interval_ms")
            .and_then(Value::as_u64)
            .map(Duration::from_millis),
    })
}

/// The config an attached screen runs on: the server's models by name, id
/// and endpoint name, every endpoint pointing at the server (nothing is
/// sent to them: an attached dashboard runs no prober and routes through
/// the server), and the server's window, threshold and probe interval.
/// Tiers are not in the snapshot: an attached prompt goes to the chain or
/// to one model.
pub fn config_of(remote: &Remote, base: &str) -> Config {
    let mut endpoints: Vec<Endpoint> = Vec::new();
    let mut models = Vec::new();
    for m in &remote.models {
        let endpoint = if m.endpoint.is_empty() {
            "serve".to_string()
        } else {
            m.endpoint.clone()
        };
        if !endpoints.iter().any(|e| e.name == endpoint) {
            endpoints.push(Endpoint {
                name: endpoint.clone(),
                base_url: format!("{base}/v1"),
                api_key_env: None,
                dialect: Dialect::Openai,
                native_fallback: false,
            });
        }
        models.push(ModelConfig {
            name: m.name.clone(),
            id: m.id.clone(),
            endpoint,
            tier: None,
            probe: ProbeOverrides::default(),
            extra: serde_json::Map::new(),
            reasoning: None,
            same_as: None,
        });
    }
    let probe = ProbeSettings {
        interval: remote
            .probe_interval
            .unwrap_or(ProbeSettings::default().interval),
        ..ProbeSettings::default()
    };
    Config {
        chain: remote.chain.clone(),
        health: HealthSettings {
            window: remote.window,
            threshold: remote.threshold,
            ..HealthSettings::default()
        },
        route: RouteSettings::default(),
        probe,
        endpoints,
        models,
        tiers: Default::default(),
        alerts: Vec::new(),
        store: Default::default(),
        source: ConfigSource::Builtin,
    }
}

fn field<T: DeserializeOwned>(v: &Value, key: &str) -> anyhow::Result<T> {
    let raw = v.get(key).cloned().unwrap_or(Value::Null);
    serde_json::from_value(raw).map_err(|e| anyhow!("`{key}`: {e}"))
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v?.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn spread(v: Option<&Value>, samples: u32) -> Option<Percentiles> {
    let v = v?;
    Some(Percentiles {
        p50: Duration::from_millis(v.get("p50")?.as_u64()?),
        p95: Duration::from_millis(v.get("p95")?.as_u64()?),
        samples,
    })
}

fn drift(v: &Value) -> Option<Drift> {
    Some(Drift {
        at: time(v.get("at"))?,
        from: str_of(v, "from")?,
        to: str_of(v, "to")?,
    })
}

fn model(m: &Value) -> anyhow::Result<ModelSnapshot> {
    let name = str_of(m, "name").ok_or_else(|| anyhow!("no `name`"))?;
    let samples = m
        .get("samples")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0);
    let ratio = m.get("ratio").and_then(Value::as_f64);
    // The document gives the ratio and the samples; the counted ones are
    // not in it: the screen shows the samples, the ratio and the verdict.
    let counted = samples;
    let ok = ratio.map_or(0, |r| (r * f64::from(counted)).round() as u32);
    let recovery = m.get("recovery").filter(|r| !r.is_null()).and_then(|r| {
        Some(Recovery {
            since: time(r.get("since"))?,
            ok: u32::try_from(r.get("ok")?.as_u64()?).ok()?,
            counted: u32::try_from(r.get("counted")?.as_u64()?).ok()?,
            needed: u32::try_from(r.get("needed")?.as_u64()?).ok()?,
            outage_leaves_at: time(r.get("outage_leaves_at")),
        })
    });
    let last_failure = m
        .get("last_failure")
        .filter(|f| !f.is_null())
        .and_then(|f| {
            Some(LastFailure {
                at: time(f.get("at"))?,
                class: field::<FailureClass>(f, "class").ok()?,
                http_status: f
                    .get("http_status")
                    .and_then(Value::as_u64)
                    .and_then(|s| u16::try_from(s).ok()),
                message: str_of(f, "message").unwrap_or_default(),
            })
        });
    let trend = m
        .get("trend")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|p| {
            match (
                p.get("ok").and_then(Value::as_bool),
                p.get("latency_ms").and_then(Value::as_u64),
            ) {
                (Some(true), Some(ms)) => TrendPoint::Ok(u32::try_from(ms).unwrap_or(u32::MAX)),
                _ => TrendPoint::Failed,
            }
        })
        .collect();
    let failures_by_class = m
        .get("failures_by_class")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|c| {
            Some((
                field::<FailureClass>(c, "class").ok()?,
                u32::try_from(c.get("count")?.as_u64()?).ok()?,
            ))
        })
        .collect();
    Ok(ModelSnapshot {
        id: str_of(m, "id").unwrap_or_else(|| name.clone()),
        endpoint: str_of(m, "endpoint").unwrap_or_default(),
        status: field::<Status>(m, "status").unwrap_or(Status::Unknown),
        reason: str_of(m, "reason").unwrap_or_default(),
        ratio,
        ok,
        counted,
        samples,
        recovery,
        lifetime_ratio: m.get("lifetime_ratio").and_then(Value::as_f64),
        lifetime_ok: 0,
        lifetime_counted: 0,
        last_failure,
        last_success: time(m.get("last_success")),
        latency: spread(m.get("latency_ms"), samples),
        ttft: spread(m.get("ttft_ms"), samples),
        tokens_per_s: m.get("tokens_per_second").and_then(Value::as_f64),
        served_model: str_of(m, "served_model"),
        served_by: str_of(m, "served_by"),
        drift: m.get("drift").and_then(drift),
        served_history: m
            .get("served_history")
            .and_then(Value::as_array)
            .map(|h| h.iter().filter_map(drift).collect())
            .unwrap_or_default(),
        rate_limited_until: time(m.get("rate_limited_until")),
        failures_by_class,
        trend,
        last_reply: str_of(m, "last_reply"),
        last_timing: None,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_model_view_reads_back_and_a_bad_document_says_where() {
        let doc = json!({
            "schema_version": 1, "threshold": 0.9, "window_ms": 60000, "probe_interval_ms": 2000,
            "chain": ["a"],
            "models": [{
                "name": "a", "id": "x/a", "endpoint": "sim", "status": "unhealthy",
                "reason": "1/2 ok", "ratio": 0.5, "samples": 2,
                "latency_ms": {"p50": 10, "p95": 20},
                "last_failure": {"at": "2025-03-01T12:00:00Z", "class": "server_error", "http_status": 502, "message": "boom"},
                "trend": [{"ok": true, "latency_ms": 10}, {"ok": false, "latency_ms": null}],
                "drift": null, "served_history": [], "failures_by_class": [{"class": "server_error", "count": 1}]
            }],
            "failures": [{"at": "2025-03-01T12:00:00.000Z", "model": "a", "class": "server_error", "http_status": 502, "kind": "traffic", "message": "boom"}],
            "probe_spend_today": 0.25
        });
        let r = read(&doc).unwrap();
        let m = &r.models[0];
        assert_eq!(m.status, Status::Unhealthy);
        assert_eq!((m.ok, m.samples), (1, 2));
        assert_eq!(m.latency.unwrap().p95, Duration::from_millis(20));
        assert_eq!(m.trend, vec![TrendPoint::Ok(10), TrendPoint::Failed]);
        assert_eq!(m.last_failure.as_ref().unwrap().http_status, Some(502));
        assert_eq!(r.failures[0].1.kind, SampleKind::Traffic);
        assert_eq!(r.probe_interval, Some(Duration::from_secs(2)));
        let config = config_of(&r, "http://127.0.0.1:9");
        assert_eq!(config.models[0].endpoint, "sim");
        assert_eq!(config.probe.interval, Duration::from_secs(2));
        assert_eq!(config.health.threshold, 0.9);

        let bad = json!({"models": [{"id": "no name"}], "chain": []});
        let err = format!("{:#}", read(&bad).unwrap_err());
        assert!(err.contains("models[0]") && err.contains("name"), "{err}");
        let err = format!("{:#}", read(&json!({"chain": []})).unwrap_err());
        assert!(err.contains("models"), "{err}");
    }
}
