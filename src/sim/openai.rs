//! The OpenRouter (OpenAI-compatible) wire format: completions, SSE chunks,
//! and errors as OpenRouter shows them. Which fault shows when is decided
//! in `faults.rs`; this file only says what the bytes look like.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::body::Step;
use super::decide::Outcome;
use super::faults::{partial, rate_limit_wait, Wire};
use super::reply::JSON;
use super::scenario::{Fault, ReasoningField, ServerOptions, Variant};
use crate::api::FailureClass as C;

const PROCESSING: &[u8] = b": OPENROUTER PROCESSING\n\n";
const DONE: &[u8] = b"data: [DONE]\n\n";

/// An OpenRouter error body: `{"error":{"code","message","metadata"?}}`.
fn error_body(code: u16, message: &str, metadata: Option<Value>) -> Bytes {
    let mut e = json!({ "code": code, "message": message });
    if let (Some(meta), Some(obj)) = (metadata, e.as_object_mut()) {
        obj.insert("metadata".into(), meta);
    }
    Bytes::from(json!({ "error": e }).to_string())
}

/// An immediate OpenRouter error, for requests that never reach a model.
pub(crate) fn error_response(status: u16, message: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        code,
        [("content-type", JSON)],
        error_body(status, message, None),
    )
        .into_response()
}

/// OpenAI's answer to `max_tokens` for a reasoning model, byte for byte.
pub(crate) fn unsupported_max_tokens() -> Response {
    let body = json!({ "error": {
        "message": "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
        "type": "invalid_request_error",
        "param": "max_tokens",
        "code": "unsupported_parameter",
    }});
    (
        StatusCode::BAD_REQUEST,
        [("content-type", JSON)],
        body.to_string(),
    )
        .into_response()
}

/// The 400 of a model that takes no assistant prefill (the last message
/// must be the user's).
pub(crate) fn prefill_rejected() -> Response {
    let body = json!({ "error": {
        "message": "This model does not support assistant message prefill. The conversation must end with a user message.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "invalid_prefill",
    }});
    (
        StatusCode::BAD_REQUEST,
        [("content-type", JSON)],
        body.to_string(),
    )
        .into_response()
}

/// The key check OpenRouter does before routing.
pub(crate) fn check_key(server: &ServerOptions, key: Option<&str>) -> Option<Response> {
    match (key, &server.key) {
        (None, _) if server.require_auth => Some(error_response(401, "No auth credentials found")),
        (Some(k), Some(want)) if k != want => Some(error_response(401, &bad_key_message(k))),
        (None, Some(_)) => Some(error_response(401, "No auth credentials found")),
        _ => None,
    }
}

/// Echoes the key, as some providers do: the client must mask it.
fn bad_key_message(key: &str) -> String {
    format!("Incorrect API key provided: {key}. You can find your API key at https://openrouter.ai/settings/keys.")
}

fn base(o: &Outcome, object: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), o.gen_id.clone().into());
    m.insert("provider".into(), o.served.provider.into());
    m.insert("model".into(), o.served.model.into());
    m.insert("object".into(), object.into());
    m.insert("created".into(), o.created.into());
    if let Some(fp) = o.served.fingerprint {
        m.insert("system_fingerprint".into(), fp.into());
    }
    m
}

fn usage(o: &Outcome) -> Value {
    json!({
        "prompt_tokens": o.prompt_tokens,
        "completion_tokens": o.completion_tokens(),
        "total_tokens": o.prompt_tokens + o.completion_tokens(),
        "cost": o.cost(),
        "is_byok": false,
        "prompt_tokens_details": { "cached_tokens": 0 },
        "completion_tokens_details": { "reasoning_tokens": o.reasoning_tokens },
    })
}

/// Content as the model's server writes it: a string, or typed parts.
fn content(o: &Outcome, text: &str) -> Value {
    if o.model.content_parts {
        json!([{ "type": "text", "text": text }])
    } else {
        json!(text)
    }
}

/// Gemini says why it stopped in its own words; OpenRouter passes them on.
fn native_finish(o: &Outcome, finish: Option<&str>) -> Option<&'static str> {
    match finish? {
        "length" if o.model.id.contains("gemini") => Some("MAX_TOKENS"),
        "length" => Some("length"),
        "error" => Some("error"),
        _ => Some("stop"),
    }
}

/// A message or delta with the reasoning where this model puts it: the
/// text in `reasoning` with `reasoning_details` beside it (OpenRouter), in
/// `reasoning_content` with content null until it speaks (DeepSeek, vLLM),
/// or nowhere (hidden).
fn with_reasoning(o: &Outcome, mut message: Value, reasoning: &str) -> Value {
    let Some(obj) = message.as_object_mut() else {
        return message;
    };
    if reasoning.is_empty() {
        obj.insert("reasoning".into(), Value::Null);
        return message;
    }
    match o.field {
        ReasoningField::Reasoning => {
            obj.insert("reasoning".into(), json!(reasoning));
            obj.insert(
                "reasoning_details".into(),
                json!([{ "type": "reasoning.text", "text": reasoning, "format": "unknown", "index": 0 }]),
            );
        }
        ReasoningField::ReasoningContent => {
            obj.insert("reasoning_content".into(), json!(reasoning));
        }
        ReasoningField::Hidden => {}
    }
    message
}

fn completion(o: &Outcome, text: &str, finish: Option<&str>) -> Value {
    let mut m = base(o, "chat.completion");
    let said = if text.is_empty() && o.thinks_aloud() {
        Value::Null
    } else {
        content(o, text)
    };
    let message = json!({ "role": "assistant", "content": said, "refusal": null });
    let reasoning = if o.thinks_aloud() {
        o.reasoning_text()
    } else {
        String::new()
    };
    m.insert(
        "choices".into(),
        json!([{
            "logprobs": null,
            "finish_reason": finish,
            "native_finish_reason": native_finish(o, finish),
            "index": 0,
            "message": with_reasoning(o, message, &reasoning),
        }]),
    );
    m.insert("usage".into(), usage(o));
    Value::Object(m)
}

fn sse(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

fn chunk(o: &Outcome, delta: Value, finish: Option<&str>) -> Bytes {
    let mut m = base(o, "chat.completion.chunk");
    m.insert(
        "choices".into(),
        json!([{
            "index": 0,
            "delta": delta,
            "finish_reason": finish,
            "native_finish_reason": finish,
            "logprobs": null,
        }]),
    );
    sse(&Value::Object(m))
}

fn upstream_error(o: &Outcome, f: &Fault) -> Value {
    let message = f.message.clone().unwrap_or_else(|| {
        format!(
            "{}: upstream connection reset during generation",
            o.served.provider
        )
    });
    json!({ "code": 502, "message": message, "metadata": { "provider_name": o.served.provider } })
}

/// OpenRouter's dialect of the OpenAI wire format.
pub(super) struct OpenRouter;

impl Wire for OpenRouter {
    fn pads_json(&self) -> bool {
        true
    }

    fn keepalive(&self) -> Bytes {
        Bytes::from_static(PROCESSING)
    }

    fn whole(&self, o: &Outcome, text: &str, finish: Option<&str>) -> Bytes {
        Bytes::from(completion(o, text, finish).to_string())
    }

    /// Headers at once, then `: OPENROUTER PROCESSING` until the first token.
    fn opening(&self, o: &Outcome, every: Duration) -> Vec<Step> {
        vec![Step::Tick {
            chunk: self.keepalive(),
            every,
            left: o.ttft,
        }]
    }

    /// The first reasoning delta names the role; content is "" (or null,
    /// where the reasoning has its own field) until the model speaks.
    fn reasoning(&self, o: &Outcome, text: &str, first: bool) -> Bytes {
        let empty = match o.field {
            ReasoningField::ReasoningContent => Value::Null,
            _ => json!(""),
        };
        let delta = if first {
            json!({ "role": "assistant", "content": empty })
        } else {
            json!({ "content": empty })
        };
        chunk(o, with_reasoning(o, delta, text), None)
    }

    fn reasoning_end(&self, _o: &Outcome, _steps: &mut Vec<Step>) {}

    fn content_start(&self, _o: &Outcome, _steps: &mut Vec<Step>) {}

    /// The first delta names the role (unless reasoning already did), so it
    /// is sent even without text.
    fn delta(&self, o: &Outcome, text: &str, first: bool) -> Option<Bytes> {
        let delta = if first && !o.thinks_aloud() {
            json!({ "role": "assistant", "content": content(o, text) })
        } else {
            json!({ "content": content(o, text) })
        };
        Some(chunk(o, delta, None))
    }

    fn closing(&self, o: &Outcome, finish: &str, steps: &mut Vec<Step>) {
        let mut last = base(o, "chat.completion.chunk");
        last.insert(
            "choices".into(),
            json!([{
                "index": 0,
                "delta": { "content": "" },
                "finish_reason": finish,
                "native_finish_reason": native_finish(o, Some(finish)),
                "logprobs": null,
            }]),
        );
        steps.push(Step::Send(sse(&Value::Object(last))));
        let mut m = base(o, "chat.completion.chunk");
        m.insert("choices".into(), json!([]));
        m.insert("usage".into(), usage(o));
        steps.push(Step::Send(sse(&Value::Object(m))));
        if o.model.end_marker {
            steps.push(Step::Send(Bytes::from_static(DONE)));
        }
    }

    fn status_error(&self, o: &Outcome, f: &Fault, class: C) -> (u16, Bytes) {
        let id = &o.model.id;
        let provider = o.served.provider;
        let msg = |default: String| f.message.clone().unwrap_or(default);
        let body = match class {
            C::ServerError => {
                let default = match f.status {
                    502 => format!("Provider returned error: {provider} is unavailable"),
                    503 => "No available model provider that meets your routing requirements".to_string(),
                    524 => format!("Provider timed out: {provider} took too long to respond"),
                    529 => format!("Provider returned error: {provider} is overloaded"),
                    _ => "Internal Server Error".to_string(),
                };
                error_body(
                    f.status,
                    &msg(default),
                    Some(json!({ "provider_name": provider, "raw": "upstream connect error or disconnect/reset before headers" })),
                )
            }
            C::RateLimited => error_body(
                429,
                &msg(format!("{id} is temporarily rate-limited upstream. Please retry shortly.")),
                Some(json!({
                    "provider_name": provider,
                    "headers": {
                        "X-RateLimit-Limit": "20",
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset": reset_ms(o, rate_limit_wait(f)).to_string(),
                    },
                })),
            ),
            C::Auth if f.status == 403 => error_body(
                403,
                &msg(format!("Key {} is not allowed to use {id}", o.key_text())),
                None,
            ),
            C::Auth => error_body(401, &msg(bad_key_message(o.key_text())), None),
            C::Credits if f.status == 429 => Bytes::from(
                json!({ "error": {
                    "message": msg("You exceeded your current quota, please check your plan and billing details.".into()),
                    "type": "insufficient_quota",
                    "param": null,
                    "code": "insufficient_quota",
                }})
                .to_string(),
            ),
            C::Credits => error_body(
                402,
                &msg("Insufficient credits. Add more using https://openrouter.ai/settings/credits".into()),
                None,
            ),
            C::NotFound => error_body(404, &msg(format!("No endpoints found for {id}.")), None),
            // OpenRouter's moderation: a 403 naming what was flagged.
            C::Refused if f.status == 403 => error_body(
                403,
                &msg(format!("{id} requires moderation on OpenRouter. Your input was flagged for \"violence\"")),
                Some(json!({ "reasons": ["violence"], "flagged_input": "Explain in detail how…", "provider_name": provider })),
            ),
            // OpenAI's safety system, as OpenAI words it.
            C::Refused => Bytes::from(
                json!({ "error": {
                    "message": msg("Your request was rejected as a result of our safety system.".into()),
                    "type": "invalid_request_error",
                    "param": null,
                    "code": "content_policy_violation",
                }})
                .to_string(),
            ),
            _ => error_body(
                f.status,
                &msg(format!(
                    "This endpoint's maximum context length is {} tokens. However, you requested about {} tokens. Please reduce the length of the messages.",
                    o.model.context_length,
                    o.model.context_length.saturating_add(o.prompt_tokens)
                )),
                Some(json!({ "provider_name": provider })),
            ),
        };
        (f.status, body)
    }

    fn rate_limit_headers(&self, o: &Outcome, wait: Duration) -> Vec<(&'static str, String)> {
        vec![
            ("x-ratelimit-limit", "20".into()),
            ("x-ratelimit-remaining", "0".into()),
            ("x-ratelimit-reset", reset_ms(o, wait).to_string()),
        ]
    }

    fn html_title(&self, status: u16) -> &'static str {
        match status {
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            524 => "A timeout occurred",
            529 => "Overloaded",
            _ => "Internal Server Error",
        }
    }

    fn provider_error_body(&self, o: &Outcome, f: &Fault) -> Bytes {
        let err = upstream_error(o, f);
        let mut m = base(o, "chat.completion");
        if f.variant == Variant::Choice {
            let content: String = partial(o, f).collect();
            m.insert(
                "choices".into(),
                json!([{
                    "index": 0,
                    "message": { "role": "assistant", "content": content },
                    "finish_reason": "error",
                    "native_finish_reason": "error",
                    "error": err,
                }]),
            );
        } else {
            m.insert("error".into(), err);
        }
        Bytes::from(Value::Object(m).to_string())
    }

    fn provider_error_event(&self, o: &Outcome, f: &Fault) -> Bytes {
        let err = upstream_error(o, f);
        let mut m = base(o, "chat.completion.chunk");
        if f.variant == Variant::Choice {
            m.insert(
                "choices".into(),
                json!([{ "index": 0, "delta": { "content": "" }, "finish_reason": "error", "native_finish_reason": "error", "error": err }]),
            );
        } else {
            m.insert("error".into(), err);
            m.insert(
                "choices".into(),
                json!([{ "index": 0, "delta": { "content": "" }, "finish_reason": "error", "native_finish_reason": "error" }]),
            );
        }
        sse(&Value::Object(m))
    }

    /// Cloudflare's browser check, in front of the API.
    fn challenge_page(&self) -> Bytes {
        Bytes::from_static(
            b"<!DOCTYPE html>\n<html><head><title>Just a moment...</title></head>\n<body><h1>Checking your browser before accessing openrouter.ai</h1></body></html>\n",
        )
    }

    /// A chunk cut inside its JSON.
    fn broken_event(&self, o: &Outcome) -> Bytes {
        Bytes::from(format!(
            "data: {{\"id\":\"{}\",\"choices\":[{{\"delta\":{{\"content\":\"po\n\n",
            o.gen_id
        ))
    }

    /// A chunk cut inside its JSON, then the end marker.
    fn broken_tail(&self, o: &Outcome, steps: &mut Vec<Step>) {
        steps.push(Step::Send(self.broken_event(o)));
        steps.push(Step::Send(Bytes::from_static(DONE)));
    }
}

/// When a rate limit lifts, in Unix milliseconds.
fn reset_ms(o: &Outcome, wait: Duration) -> i64 {
    o.created
        .saturating_mul(1000)
        .saturating_add(wait.as_millis() as i64)
}
