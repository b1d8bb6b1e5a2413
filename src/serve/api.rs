//! The API a remote dashboard (or a script) lives on, versioned under
//! `/api/v1/`, and `/metrics`. Every document is one of the typed structs
//! of `crate::report` (fields in `docs/json.md`).

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::errors::ApiError;
use super::Shared;
use crate::engine::EngineEvent;
use crate::report::{CheckReport, SnapshotReport, WatchLine, SCHEMA_VERSION};
use crate::route::{Chain, ChainEdit, ChainError, SaveEditError};

/// `GET /metrics`: the Prometheus text format.
pub async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        shared.metrics.render(&shared.engine, Utc::now()),
    )
        .into_response()
}

fn chain_of(shared: &Shared) -> Chain {
    Chain::of(shared.engine.config(), Some(&shared.engine.chain_order()))
}

/// `GET /api/v1/health`: the `check --json` document, live.
pub async fn health(State(shared): State<Arc<Shared>>) -> Response {
    let now = Utc::now();
    let report = CheckReport::new(
        shared.engine.config(),
        &chain_of(&shared),
        &shared.engine.snapshots(now),
        now,
    );
    axum::Json(report).into_response()
}

/// `GET /api/v1/snapshot`: everything the screen shows.
pub async fn snapshot(State(shared): State<Arc<Shared>>) -> Response {
    let now = Utc::now();
    let engine = &shared.engine;
    let since = now - chrono::Duration::from_std(engine.config().health.window).unwrap_or_default();
    let report = SnapshotReport::new(
        engine.config(),
        &chain_of(&shared),
        &engine.snapshots(now),
        engine.failures_since(since),
        |model| engine.spend_of(model, now),
        engine.spend_today(now),
        now,
    );
    axum::Json(report).into_response()
}

/// `GET /api/v1/events`: server-sent events, one per state change, drift,
/// budget change, price refresh, chain change, alert and proxied request;
/// each `event:` is the document's `kind`, each `data:` a `watch --json`
/// line. Ends when the server stops.
pub async fn events(
    State(shared): State<Arc<Shared>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let engine_events = shared.engine.subscribe();
    let routes = shared.routes.subscribe();
    let stopping = shared.stopping.clone();
    let engine = futures_util::stream::unfold(engine_events, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(event) => {
                    if let Some(line) = line_of(&event) {
                        return Some((line, rx));
                    }
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    });
    let routes = futures_util::stream::unfold(routes, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(line) => return Some((line, rx)),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    });
    let merged = futures_util::stream::select(engine, routes)
        .take_until(async move { stopping.cancelled().await })
        .map(|line| Ok(to_event(&line)));
    Sse::new(merged).keep_alive(KeepAlive::default())
}

fn line_of(event: &EngineEvent) -> Option<WatchLine> {
    WatchLine::new(event, false)
}

fn to_event(line: &WatchLine) -> Event {
    let value = serde_json::to_value(line).unwrap_or_default();
    let kind = value
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or("event")
        .to_string();
    Event::default().event(kind).data(value.to_string())
}

/// `GET /api/v1/chain`: the saved order.
pub async fn chain(State(shared): State<Arc<Shared>>) -> Response {
    let chain = chain_of(&shared);
    axum::Json(json!({
        "schema_version": SCHEMA_VERSION,
        "order": chain.order(),
        "config_order": shared.engine.config().chain,
    }))
    .into_response()
}

/// `PUT /api/v1/chain`: one edit operation (`{"edit": "move", "model":
/// "gpt-4o", "to": 1}`, as `watch --json` reports them), applied to the
/// chain on disk under the same lock as the CLI and the dashboard. The
/// next request follows it.
pub async fn edit_chain(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let edit: ChainEdit = match serde_json::from_slice(&body) {
        Ok(edit) => edit,
        Err(e) => {
            return ApiError::invalid(format!(
                "not a chain edit ({e}); send e.g. {{\"edit\": \"move\", \"model\": \"gpt-4o\", \"to\": 1}} (edit: move, top, shift, remove, add, reset)"
            ))
            .into_response()
        }
    };
    let engine = shared.engine.clone();
    let saved = tokio::task::spawn_blocking(move || engine.edit_chain(&edit)).await;
    match saved {
        Ok(Ok(order)) => axum::Json(json!({
            "schema_version": SCHEMA_VERSION,
            "order": order,
        }))
        .into_response(),
        Ok(Err(SaveEditError::Edit(e))) => {
            let status = match e {
                ChainError::Unknown { .. } => StatusCode::NOT_FOUND,
                _ => StatusCode::CONFLICT,
            };
            ApiError::new(status, "invalid_request_error", "bad_edit", e.to_string())
                .into_response()
        }
        Ok(Err(e)) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "not_saved",
            e.to_string(),
        )
        .into_response(),
        Err(e) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal",
            e.to_string(),
        )
        .into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelArg {
    model: Option<String>,
}

/// An optional `{"model": NAME}` body.
fn model_arg(shared: &Shared, body: &[u8]) -> Result<Option<String>, ApiError> {
    let arg: ModelArg = if body.iter().all(u8::is_ascii_whitespace) {
        ModelArg::default()
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::invalid(format!("expected {{\"model\": NAME}}: {e}")))?
    };
    if let Some(model) = &arg.model {
        if shared.engine.config().model(model).is_none() {
            let known: Vec<&str> = shared
                .engine
                .config()
                .models
                .iter()
                .map(|m| m.name.as_str())
                .collect();
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "model_not_found",
                format!("no model {model:?}; known models: {}", known.join(", ")),
            ));
        }
    }
    Ok(arg.model)
}

/// `POST /api/v1/probe`: probe one model (`{"model": NAME}`) or all now.
pub async fn probe(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    match model_arg(&shared, &body) {
        Ok(model) => {
            shared.engine.probe_now(model.as_deref());
            (
                StatusCode::ACCEPTED,
                axum::Json(json!({"schema_version": SCHEMA_VERSION, "probing": model.map_or_else(|| json!("all"), |m| json!(m))})),
            )
                .into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /api/v1/ack`: acknowledge a model's drift (`{"model": NAME}`).
pub async fn ack(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let model = match model_arg(&shared, &body) {
        Ok(Some(model)) => model,
        Ok(None) => {
            return ApiError::invalid("send {\"model\": NAME}")
                .param("model")
                .into_response()
        }
        Err(e) => return e.into_response(),
    };
    let now = Utc::now();
    let drifted = shared
        .engine
        .snapshot(&model, now)
        .is_some_and(|s| s.drift.is_some());
    shared.engine.acknowledge_drift(&model, now);
    axum::Json(json!({"schema_version": SCHEMA_VERSION, "model": model, "acknowledged": drifted}))
        .into_response()
}
