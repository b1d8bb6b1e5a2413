//! The HTTP routes: `/v1/chat/completions` (OpenRouter's dialect),
//! `/v1/messages` (Anthropic's), `/v1/models` and `/v1/key`. A handler
//! checks the request as the real API would, asks for the decision and
//! hands it to the shared fault dispatch with its dialect.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use bytes::Bytes;
use serde_json::{json, Value};

use super::anthropic::{self, Anthropic};
use super::decide::{Outcome, RequestInfo};
use super::endpoints::endpoints;
use super::faults::{render, Wire};
use super::openai::{self, OpenRouter};
use super::reply::respond;
use super::scenario::ReasoningAsk;
use super::server::ConnHandle;
use super::state::{Shared, SimRequest};

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/messages", post(messages))
        .route("/v1/models", get(models))
        .route("/v1/models/{author}/{slug}/endpoints", get(endpoints))
        .route("/v1/key", get(key))
        .fallback(no_route)
        .with_state(shared)
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("authorization")?.to_str().ok()?.trim();
    let key = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
        .unwrap_or(v)
        .trim();
    (!key.is_empty()).then(|| key.to_string())
}

/// The prompt as plain text: every message's content, strings or text parts.
fn prompt_text(req: &Value) -> String {
    let mut out = String::new();
    let mut push = |c: &Value| match c {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(parts) => {
            for p in parts {
                if let Some(t) = p.get("text").and_then(Value::as_str) {
                    out.push_str(t);
                    out.push('\n');
                }
            }
        }
        _ => {}
    };
    if let Some(sys) = req.get("system") {
        push(sys);
    }
    if let Some(msgs) = req.get("messages").and_then(Value::as_array) {
        for m in msgs {
            if let Some(c) = m.get("content") {
                push(c);
            }
        }
    }
    if let Some(p) = req.get("prompt") {
        push(p);
    }
    out
}

/// The role of the last message: `assistant` asks the model to go on from
/// there (a prefill).
fn last_role(req: &Value) -> Option<String> {
    req.get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.last())
        .and_then(|m| m.get("role"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn max_tokens(req: &Value) -> Option<u64> {
    req.get("max_tokens")
        .or_else(|| req.get("max_completion_tokens"))
        .and_then(Value::as_u64)
}

/// How much thinking a request asks for: OpenRouter's `reasoning` object,
/// OpenAI's `reasoning_effort`, Anthropic's `thinking` block.
fn reasoning_ask(req: &Value) -> ReasoningAsk {
    let effort = |e: &str| match e {
        "none" | "minimal" => ReasoningAsk::Effort(0),
        "low" => ReasoningAsk::Effort(25),
        "medium" => ReasoningAsk::Effort(50),
        _ => ReasoningAsk::Effort(100),
    };
    if let Some(r) = req.get("reasoning").filter(|r| r.is_object()) {
        if r.get("enabled").and_then(Value::as_bool) == Some(false) {
            return ReasoningAsk::Off;
        }
        if let Some(n) = r.get("max_tokens").and_then(Value::as_u64) {
            return ReasoningAsk::Budget(u32::try_from(n).unwrap_or(u32::MAX));
        }
        if let Some(e) = r.get("effort").and_then(Value::as_str) {
            return effort(e);
        }
    }
    if let Some(e) = req.get("reasoning_effort").and_then(Value::as_str) {
        return effort(e);
    }
    if let Some(t) = req.get("thinking") {
        return match t.get("type").and_then(Value::as_str) {
            Some("disabled") => ReasoningAsk::Off,
            _ => t
                .get("budget_tokens")
                .and_then(Value::as_u64)
                .map_or(ReasoningAsk::Default, |n| {
                    ReasoningAsk::Budget(u32::try_from(n).unwrap_or(u32::MAX))
                }),
        };
    }
    ReasoningAsk::Default
}

async fn chat(
    State(shared): State<Arc<Shared>>,
    Extension(conn): Extension<ConnHandle>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = shared.clock.elapsed();
    let key = bearer(&headers);
    if let Some(resp) = openai::check_key(&shared.scenario.server, key.as_deref()) {
        return resp;
    }
    let Some(req) = json_object(&body) else {
        return openai::error_response(
            400,
            "Invalid JSON body: expected an object with `model` and `messages`",
        );
    };
    // `model` first, then the `models` fallback array, without repeats.
    let mut ids: Vec<&str> = Vec::new();
    if let Some(m) = req.get("model").and_then(Value::as_str) {
        ids.push(m);
    }
    for m in req
        .get("models")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !ids.contains(&m) {
            ids.push(m);
        }
    }
    let Some(first) = ids.first() else {
        return openai::error_response(400, "No model provided: set `model` or `models`");
    };
    let known: Vec<usize> = ids
        .iter()
        .filter_map(|id| shared.index.get(*id).copied())
        .collect();
    if known.is_empty() {
        return openai::error_response(
            404,
            &format!("Model {first} not found: it is not a valid model ID"),
        );
    }
    // OpenAI's reasoning models take `max_completion_tokens` only.
    if req.get("max_tokens").is_some() {
        if let Some(&idx) = known.first() {
            if shared.refuses_max_tokens(idx) {
                return openai::unsupported_max_tokens();
            }
        }
    }
    let info = RequestInfo {
        key,
        prompt: prompt_text(&req),
        max_tokens: max_tokens(&req),
        ask: reasoning_ask(&req),
        last_role: last_role(&req),
    };
    let mut chosen = None;
    for (n, &idx) in known.iter().enumerate() {
        let Some(o) = shared.decide(idx, &info, now) else {
            continue;
        };
        if refuses_prefill(&shared, &o, &info, now) {
            return openai::prefill_rejected();
        }
        let last = n + 1 == known.len();
        chosen = Some(o);
        if last || !chosen.as_ref().is_some_and(Outcome::falls_through) {
            break;
        }
    }
    let Some(o) = chosen else {
        return openai::error_response(500, "simulator: no model could be decided");
    };
    play(&shared, &conn, &OpenRouter, o, &req).await
}

async fn messages(
    State(shared): State<Arc<Shared>>,
    Extension(conn): Extension<ConnHandle>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = shared.clock.elapsed();
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| bearer(&headers));
    if let Some(resp) = anthropic::check_request(&shared.scenario.server, key.as_deref(), &headers)
    {
        return resp;
    }
    let Some(req) = json_object(&body) else {
        return anthropic::error_response(
            400,
            "invalid_request_error",
            "Request body is not a valid JSON object",
        );
    };
    let Some(model) = req.get("model").and_then(Value::as_str) else {
        return anthropic::error_response(400, "invalid_request_error", "model: Field required");
    };
    let Some(max) = max_tokens(&req) else {
        return anthropic::error_response(
            400,
            "invalid_request_error",
            "max_tokens: Field required",
        );
    };
    let Some(&idx) = shared
        .index
        .get(model)
        .or_else(|| shared.slug_index.get(model))
    else {
        return anthropic::error_response(404, "not_found_error", &format!("model: {model}"));
    };
    let info = RequestInfo {
        key,
        prompt: prompt_text(&req),
        max_tokens: Some(max),
        ask: reasoning_ask(&req),
        last_role: last_role(&req),
    };
    let Some(o) = shared.decide(idx, &info, now) else {
        return anthropic::error_response(500, "api_error", "simulator: model vanished");
    };
    if refuses_prefill(&shared, &o, &info, now) {
        return anthropic::error_response(
            400,
            "invalid_request_error",
            "This model does not support assistant message prefill. The conversation must end with a user message.",
        );
    }
    play(&shared, &conn, &Anthropic, o, &req).await
}

/// Notes the request in the log, and whether the model refuses it as a
/// prefill (its last message is the assistant's).
fn refuses_prefill(
    shared: &Shared,
    o: &Outcome,
    info: &RequestInfo,
    now: std::time::Duration,
) -> bool {
    let refuses = o.model.rejects_prefill && info.last_role.as_deref() == Some("assistant");
    shared.log_request(SimRequest {
        at: now,
        model: o.model.id.clone(),
        attempt: o.request + 1,
        last_role: info.last_role.clone(),
        action: if refuses {
            "400 prefill_rejected".to_string()
        } else {
            o.action()
        },
    });
    refuses
}

/// Charges for the reply if it answers, and plays it in dialect `wire`.
async fn play(
    shared: &Shared,
    conn: &ConnHandle,
    wire: &dyn Wire,
    o: Outcome<'_>,
    req: &Value,
) -> Response {
    if o.fault.is_none_or(|f| f.status == 200) {
        shared.add_spent(o.cost());
    }
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let reply = render(wire, &o, stream, shared.scenario.server.processing_every);
    respond(shared, o.idx, conn, reply, &o.gen_id).await
}

/// The body as a JSON object; anything else is refused before a model is asked.
fn json_object(body: &[u8]) -> Option<Value> {
    match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => Some(v),
        Ok(_) | Err(_) => None,
    }
}

fn price(p: f64) -> String {
    // f64's Display never uses exponent notation: 3e-6 prints as 0.000003.
    format!("{p}")
}

async fn models(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let data: Vec<Value> = shared
        .scenario
        .models()
        .iter()
        .map(|m| {
            json!({
                "id": m.id,
                "canonical_slug": m.id,
                "name": format!("{}: {}", m.provider, m.name),
                "created": shared.wall_start,
                "description": format!("Simulated model {} (tier {}).", m.id, m.tier.as_deref().unwrap_or("none")),
                "context_length": m.context_length,
                "architecture": {"modality": "text->text", "input_modalities": ["text"], "output_modalities": ["text"], "tokenizer": "Other"},
                "pricing": {
                    "prompt": price(m.price.prompt),
                    "completion": price(m.price.completion),
                    "request": price(m.price.request),
                    "image": price(m.price.image),
                },
                "top_provider": {"context_length": m.context_length, "max_completion_tokens": 16384, "is_moderated": false},
                "supported_parameters": supported_parameters(m),
            })
        })
        .collect();
    Json(json!({ "data": data }))
}

/// What `/models` says a model takes: thinking models list `reasoning`
/// (and `include_reasoning`), which is how a client knows in advance.
pub(super) fn supported_parameters(m: &super::ModelScenario) -> Vec<&'static str> {
    let mut params = vec!["max_tokens", "temperature", "stop", "stream"];
    if m.thinking.is_some() {
        params.extend(["reasoning", "include_reasoning"]);
    }
    params
}

async fn key(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let k = &shared.scenario.key;
    let server = &shared.scenario.server;
    if let Some(resp) = openai::check_key(server, bearer(&headers).as_deref()) {
        return resp;
    }
    let usage = shared.spent();
    let body = json!({
        "data": {
            "label": k.label,
            "limit": k.limit,
            "limit_remaining": k.limit.map(|l| (l - usage).max(0.0)),
            "usage": usage,
            "usage_daily": usage,
            "usage_weekly": usage,
            "usage_monthly": usage,
            "is_free_tier": k.is_free_tier,
            "is_provisioning_key": false,
        }
    });
    Json(body).into_response()
}

async fn no_route() -> Response {
    openai::error_response(404, "Not Found: the simulator serves /v1/chat/completions, /v1/messages, /v1/models, /v1/models/{author}/{slug}/endpoints and /v1/key")
}
