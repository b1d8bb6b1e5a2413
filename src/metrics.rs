//! Prometheus metrics: what the screen shows, for Prometheus, Grafana and
//! Alertmanager. `serve` exposes them at `/metrics` on its own listener;
//! `watch --metrics ADDR` and the dashboard's `--metrics ADDR` on a small
//! listener of their own ([`listen`]).
//!
//! Two sources. The engine's verdicts (status, window ratio, samples,
//! chain position, provider ratio, probe spend) are read from its
//! snapshots at every scrape, so a scrape sees exactly what the screen
//! shows at that moment. Attempts (probes from the engine's events,
//! proxied traffic from `serve`) are counted as they end.
//!
//! Labels are bounded: configured model names, their providers, the
//! failure classes, the sample kinds, the route targets (`chain`, a tier,
//! a configured model, or `other`). Never a provider message, never an id
//! a client made up.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::api::Attempt;
use crate::engine::{Engine, EngineEvent};
use crate::health::{provider_name, rollup, ProviderKey, SampleKind, Status};
use crate::route::Chain;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Seconds: from a fast local model's first token to a slow thinker's end.
const TIME_BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0,
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
    provider: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    /// `redis://host:port`, never a password.
    store: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    model: String,
    provider: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    model: String,
    provider: String,
    /// `ok` or the failure class.
    class: String,
    /// `probe`, or `traffic` through serve (prompts from `ask` and the
    /// prompt panel are not counted here).
    kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TimeLabels {
    model: String,
    provider: String,
    kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// `chain`, a tier, a configured model name, `models` (a per-request
    /// list) or `other` (refused before routing).
    target: String,
    /// `ok`, `failed` (every model failed), `broken` (failed after the
    /// answer began), `timeout` (the request deadline passed), `refused`
    /// (4xx before routing, or the concurrency cap) or `cancelled` (the
    /// client went away).
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailoverLabels {
    /// The model the request moved on from.
    model: String,
}

fn time_histogram() -> Histogram {
    Histogram::new(TIME_BUCKETS)
}

type TimeFamily = Family<TimeLabels, Histogram, fn() -> Histogram>;

/// Every metric chainwatch exports. Cheap to share: hold it in an `Arc`.
pub struct Metrics {
    registry: Registry,
    status: Family<StatusLabels, Gauge>,
    ratio: Family<ModelLabels, Gauge<f64, AtomicU64>>,
    samples: Family<ModelLabels, Gauge>,
    chain_position: Family<ModelLabels, Gauge>,
    provider_ratio: Family<ProviderLabels, Gauge<f64, AtomicU64>>,
    attempts: Family<AttemptLabels, Counter>,
    latency: TimeFamily,
    ttft: TimeFamily,
    probe_spend: Family<ModelLabels, Counter<f64, AtomicU64>>,
    requests: Family<RequestLabels, Counter>,
    failovers: Family<FailoverLabels, Counter>,
    in_flight: Gauge,
    /// 1 while the shared store answers, 0 while it is unreachable;
    /// absent without one.
    shared_store: Family<StoreLabels, Gauge>,
    /// Each model's probe spend today as last read from the ledger, to
    /// turn the daily ledger into a counter that never goes down.
    spend_seen: Mutex<HashMap<String, (chrono::NaiveDate, f64)>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("chainwatch");
        let status = Family::<StatusLabels, Gauge>::default();
        registry.register(
            "model_status",
            "1 for the model's current status, 0 for the others (the screen's verdict)",
            status.clone(),
        );
        let ratio = Family::<ModelLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "model_window_ratio",
            "ok / counted samples in the sliding window (absent without counted samples)",
            ratio.clone(),
        );
        let samples = Family::<ModelLabels, Gauge>::default();
        registry.register(
            "model_window_samples",
            "samples in the sliding window, counted or not",
            samples.clone(),
        );
        let chain_position = Family::<ModelLabels, Gauge>::default();
        registry.register(
            "model_chain_position",
            "1-based place in the saved fallback chain (absent when out of it)",
            chain_position.clone(),
        );
        let provider_ratio = Family::<ProviderLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "provider_window_ratio",
            "ok / counted samples in the window over the provider's models",
            provider_ratio.clone(),
        );
        let attempts = Family::<AttemptLabels, Counter>::default();
        registry.register(
            "attempts",
            "attempts that ended, by outcome class (ok or the failure class) and kind (probe, or traffic through serve)",
            attempts.clone(),
        );
        let latency = TimeFamily::new_with_constructor(time_histogram);
        registry.register(
            "attempt_latency_seconds",
            "start of a successful attempt to its last byte",
            latency.clone(),
        );
        let ttft = TimeFamily::new_with_constructor(time_histogram);
        registry.register(
            "attempt_ttft_seconds",
            "start of a successful attempt to its first content token",
            ttft.clone(),
        );
        let probe_spend = Family::<ModelLabels, Counter<f64, AtomicU64>>::default();
        registry.register(
            "probe_spend_usd",
            "what probes spent, in US dollars (from this process's ledger)",
            probe_spend.clone(),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "proxied_requests",
            "requests served by chainwatch serve, by target and outcome",
            requests.clone(),
        );
        let failovers = Family::<FailoverLabels, Counter>::default();
        registry.register(
            "failovers",
            "proxied requests that moved on from this model to the next after it failed",
            failovers.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "requests_in_flight",
            "proxied requests being served now",
            in_flight.clone(),
        );
        let shared_store = Family::<StoreLabels, Gauge>::default();
        registry.register(
            "shared_store_up",
            "1 while the shared store ([store] redis_url) answers, 0 while it is unreachable (each process then works on local state)",
            shared_store.clone(),
        );
        Metrics {
            shared_store,
            registry,
            status,
            ratio,
            samples,
            chain_position,
            provider_ratio,
            attempts,
            latency,
            ttft,
            probe_spend,
            requests,
            failovers,
            in_flight,
            spend_seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt that ended: its class, and its timings when it
    /// succeeded.
    pub fn attempt(&self, model: &str, provider: &str, kind: SampleKind, attempt: &Attempt) {
        let class = attempt
            .class()
            .map_or("ok", crate::api::FailureClass::as_str);
        self.attempts
            .get_or_create(&AttemptLabels {
                model: model.to_string(),
                provider: provider.to_string(),
                class: class.to_string(),
                kind: kind.as_str().to_string(),
            })
            .inc();
        if attempt.is_ok() {
            let labels = TimeLabels {
                model: model.to_string(),
                provider: provider.to_string(),
                kind: kind.as_str().to_string(),
            };
            self.latency
                .get_or_create(&labels)
                .observe(attempt.latency.as_secs_f64());
            if let Some(ttft) = attempt.ttfc.or(attempt.ttft) {
                self.ttft.get_or_create(&labels).observe(ttft.as_secs_f64());
            }
        }
    }

    /// A proxied request ended.
    pub fn request(&self, target: &str, outcome: &str) {
        self.requests
            .get_or_create(&RequestLabels {
                target: target.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// A proxied request moved on from `model` after it failed.
    pub fn failover(&self, model: &str) {
        self.failovers
            .get_or_create(&FailoverLabels {
                model: model.to_string(),
            })
            .inc();
    }

    /// One more (or one fewer) proxied request in flight.
    pub fn in_flight(&self, delta: i64) {
        self.in_flight.inc_by(delta);
    }

    /// The text exposition of every metric, the verdicts read from `engine`
    /// at `now`.
    pub fn render(&self, engine: &Engine, now: DateTime<Utc>) -> String {
        self.read_engine(engine, now);
        let mut out = String::new();
        // Writing into a String does not fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    fn read_engine(&self, engine: &Engine, now: DateTime<Utc>) {
        if let (Some(fleet), Some(link)) = (engine.fleet(), engine.fleet_link()) {
            self.shared_store
                .get_or_create(&StoreLabels {
                    store: fleet.name(),
                })
                .set(i64::from(link.is_none()));
        }
        let config = engine.config();
        let snapshots = engine.snapshots(now);
        let chain = Chain::of(config, Some(&engine.chain_order()));
        for s in &snapshots {
            let labels = ModelLabels {
                model: s.name.clone(),
                provider: provider_name(&s.id, &s.endpoint).to_string(),
            };
            for status in Status::ALL {
                self.status
                    .get_or_create(&StatusLabels {
                        model: labels.model.clone(),
                        provider: labels.provider.clone(),
                        status: status.as_str().to_string(),
                    })
                    .set(i64::from(status == s.status));
            }
            match s.ratio {
                Some(r) => {
                    self.ratio.get_or_create(&labels).set(r);
                }
                None => {
                    self.ratio.remove(&labels);
                }
            }
            self.samples
                .get_or_create(&labels)
                .set(i64::from(s.samples));
            match chain.position(&s.name) {
                Some(p) => {
                    self.chain_position
                        .get_or_create(&labels)
                        .set(i64::try_from(p).unwrap_or(i64::MAX));
                }
                None => {
                    self.chain_position.remove(&labels);
                }
            }
            let today = engine.spend_of(&s.name, now).probe_usd;
            let added = {
                let mut seen = self.spend_seen.lock().unwrap_or_else(|p| p.into_inner());
                let day = now.date_naive();
                let before = match seen.get(&s.name) {
                    Some((d, usd)) if *d == day => *usd,
                    _ => 0.0,
                };
                seen.insert(s.name.clone(), (day, today.max(before)));
                (today - before).max(0.0)
            };
            let counter = self.probe_spend.get_or_create(&labels);
            if added > 0.0 {
                counter.inc_by(added);
            }
        }
        for p in rollup(&snapshots, ProviderKey::IdPrefix) {
            let labels = ProviderLabels {
                provider: p.provider.clone(),
            };
            match p.ratio {
                Some(r) => {
                    self.provider_ratio.get_or_create(&labels).set(r);
                }
                None => {
                    self.provider_ratio.remove(&labels);
                }
            }
        }
    }

    /// Counts the engine's probes as they end, until `cancel`.
    pub fn follow(self: &Arc<Self>, engine: &Engine, cancel: CancellationToken) {
        let metrics = self.clone();
        let mut events = engine.subscribe();
        let engine = engine.clone();
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    () = cancel.cancelled() => break,
                    event = events.recv() => event,
                };
                match event {
                    Ok(EngineEvent::Probe { model, attempt }) => {
                        let provider = provider_of_model(&engine, &model);
                        metrics.attempt(&model, &provider, SampleKind::Probe, &attempt);
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break,
                }
            }
        });
    }
}

/// The provider label of a configured model.
pub fn provider_of_model(engine: &Engine, model: &str) -> String {
    let config = engine.config();
    config
        .model(model)
        .map(|m| provider_name(&m.id, &config.endpoint_of(m).name).to_string())
        .unwrap_or_default()
}

/// `GET /metrics` alone on `addr`, for `watch` and the dashboard, until
/// `cancel`. Returns the address bound (port 0 picks one).
pub async fn listen(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    engine: Engine,
    cancel: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for /metrics on {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    metrics.follow(&engine, cancel.clone());
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            let engine = engine.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)],
                    metrics.render(&engine, Utc::now()),
                )
            }
        }),
    );
    tokio::spawn(async move {
        let stop = cancel.clone();
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
        {
            tracing::warn!("the /metrics listener stopped: {e}");
        }
    });
    Ok(bound)
}
