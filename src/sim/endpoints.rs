//! `GET /v1/models/{author}/{slug}/endpoints`: OpenRouter's per-provider
//! figures for one model, which cost no tokens: `status`, uptime over the
//! last 5 minutes, 30 minutes and day, latency and throughput (null without
//! a key). Uptime is worked out from the model's faults over that span of
//! scenario time, unless the scenario pins it (`uptime = {...}`).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::openai;
use super::routes::supported_parameters;
use super::scenario::{Dist, FaultKind, ModelScenario};
use super::state::Shared;
use crate::api::FailureClass;

/// Points sampled over each span to average the failing share.
const POINTS: u32 = 60;

pub(super) async fn endpoints(
    State(shared): State<Arc<Shared>>,
    Path((author, slug)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let id = format!("{author}/{slug}");
    let Some(model) = shared
        .index
        .get(&id)
        .and_then(|&i| shared.scenario.models().get(i))
    else {
        return openai::error_response(404, &format!("Model {id} not found"));
    };
    let now = shared.clock.elapsed();
    let authed = headers.contains_key("authorization");
    let served = model.served_at(now);
    let pinned = model.uptime;
    let uptime = |span: Duration, pin: Option<f64>| {
        pin.unwrap_or_else(|| round2(computed_uptime(model, now, span)))
    };
    let percentiles = |d: Option<Dist>| {
        authed.then(|| {
            let d = d.unwrap_or(Dist {
                p50: Duration::ZERO,
                p95: Duration::ZERO,
            });
            json!({
                "p50": quantile_ms(d, 0.0),
                "p75": quantile_ms(d, 0.674_49),
                "p90": quantile_ms(d, 1.281_55),
                "p99": quantile_ms(d, 2.326_35),
            })
        })
    };
    let throughput = model.tokens_per_s.filter(|_| authed).map(|tps| {
        json!({"p50": round2(tps), "p75": round2(tps * 0.9), "p90": round2(tps * 0.8), "p99": round2(tps * 0.6)})
    });
    let price = |p: f64| format!("{p}");
    let endpoint = json!({
        "name": format!("{} | {}", served.provider, model.id),
        "model_name": model.name,
        "context_length": model.context_length,
        "pricing": {
            "prompt": price(model.price.prompt),
            "completion": price(model.price.completion),
            "request": price(model.price.request),
            "image": price(model.price.image),
        },
        "provider_name": served.provider,
        "tag": served.provider.to_ascii_lowercase().replace(' ', "-"),
        "quantization": null,
        "max_completion_tokens": 16384,
        "max_prompt_tokens": null,
        "supported_parameters": supported_parameters(model),
        "status": pinned.status.unwrap_or(0),
        "uptime_last_5m": uptime(Duration::from_secs(300), pinned.last_5m),
        "uptime_last_30m": uptime(Duration::from_secs(1800), pinned.last_30m),
        "uptime_last_1d": uptime(Duration::from_secs(86_400), pinned.last_1d),
        "latency_last_30m": percentiles(model.ttft),
        "throughput_last_30m": throughput,
    });
    Json(json!({
        "data": {
            "id": model.id,
            "name": format!("{}: {}", model.provider, model.name),
            "created": shared.wall_start,
            "description": format!("Simulated model {}.", model.id),
            "architecture": {"modality": "text->text", "input_modalities": ["text"], "output_modalities": ["text"], "tokenizer": "Other"},
            "endpoints": [endpoint],
        }
    }))
    .into_response()
}

/// The share of requests that would have succeeded over the `span` before
/// `now` (scenario time), in per cent: OpenRouter counts errors from the
/// provider (5xx, timeouts, cut or broken replies) and leaves 429s and the
/// caller's own mistakes out. Before the scenario began the model was up.
fn computed_uptime(model: &ModelScenario, now: Duration, span: Duration) -> f64 {
    let step = span / (POINTS - 1);
    let mut failing = 0.0;
    for i in 0..POINTS {
        let Some(t) = now.checked_sub(step * i) else {
            continue;
        };
        let share: f64 = model
            .faults
            .iter()
            .filter(|f| f.first.is_none() && f.active_at(t, 0) && counts_as_error(f.kind))
            .map(|f| f.p)
            .sum();
        failing += share.min(1.0);
    }
    100.0 * (1.0 - failing / f64::from(POINTS))
}

fn counts_as_error(kind: FaultKind) -> bool {
    use FailureClass as C;
    matches!(
        kind.class(),
        Some(
            C::Timeout
                | C::Connect
                | C::ServerError
                | C::ProviderError
                | C::Truncated
                | C::Malformed
        )
    )
}

/// A quantile of the log-normal through the distribution's p50 and p95,
/// `z` standard deviations out, in whole milliseconds.
fn quantile_ms(d: Dist, z: f64) -> u64 {
    let (p50, p95) = (d.p50.as_secs_f64(), d.p95.as_secs_f64());
    let secs = if p50 <= 0.0 || p95 <= p50 {
        p50
    } else {
        let sigma = (p95.ln() - p50.ln()) / 1.644_853_6;
        (p50.ln() + sigma * z).exp()
    };
    (secs * 1000.0).round() as u64
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// For tests: the uptime a model shows at scenario time `now`.
#[cfg(test)]
pub(super) fn uptime_at(model: &ModelScenario, now: Duration, span: Duration) -> f64 {
    round2(computed_uptime(model, now, span))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scenario::Fault;

    #[test]
    fn quantiles_of_the_latency() {
        let d = Dist {
            p50: Duration::from_millis(400),
            p95: Duration::from_millis(1000),
        };
        assert_eq!(quantile_ms(d, 0.0), 400);
        assert_eq!(quantile_ms(d, 1.644_853_6), 1000);
        let p99 = quantile_ms(d, 2.326_35);
        assert!((1000..2000).contains(&p99), "{p99}");
        let flat = Dist {
            p50: Duration::from_millis(50),
            p95: Duration::from_millis(50),
        };
        assert_eq!(quantile_ms(flat, 2.3), 50);
    }

    #[test]
    fn uptime_follows_the_faults_over_the_span() {
        let mut m = ModelScenario::healthy("m", "sim/m");
        assert_eq!(
            uptime_at(&m, Duration::from_secs(600), Duration::from_secs(300)),
            100.0
        );
        // Down for ever from 10 minutes in.
        let mut outage = Fault::always(FaultKind::Class(FailureClass::ServerError));
        outage.window = Some(crate::sim::scenario::Window {
            start: Duration::from_secs(600),
            end: None,
            every: None,
        });
        m.faults.push(outage);
        let five = Duration::from_secs(300);
        assert_eq!(uptime_at(&m, Duration::from_secs(599), five), 100.0);
        let half = uptime_at(&m, Duration::from_secs(750), five);
        assert!((45.0..55.0).contains(&half), "{half}");
        assert_eq!(uptime_at(&m, Duration::from_secs(900), five), 0.0);
        // 429s are left out.
        let mut limited = ModelScenario::healthy("r", "sim/r");
        limited
            .faults
            .push(Fault::always(FaultKind::Class(FailureClass::RateLimited)));
        assert_eq!(uptime_at(&limited, Duration::from_secs(60), five), 100.0);
    }
}
