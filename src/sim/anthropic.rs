//! Anthropic's native Messages format (`POST /v1/messages`): JSON and named
//! SSE events, errors as `{"type":"error","error":{"type","message"}}`.
//! Which fault shows when is decided in `faults.rs`; this file only says
//! what the bytes look like.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

use super::body::Step;
use super::decide::Outcome;
use super::faults::Wire;
use super::reply::{html_page, JSON};
use super::scenario::{Fault, ServerOptions};
use crate::api::FailureClass as C;

fn error_body(kind: &str, message: &str) -> Bytes {
    Bytes::from(
        json!({ "type": "error", "error": { "type": kind, "message": message } }).to_string(),
    )
}

pub(crate) fn error_response(status: u16, kind: &str, message: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, [("content-type", JSON)], error_body(kind, message)).into_response()
}

/// Key and version checks Anthropic does before anything else.
pub(crate) fn check_request(
    server: &ServerOptions,
    key: Option<&str>,
    headers: &HeaderMap,
) -> Option<Response> {
    match (key, &server.key) {
        (None, _) if server.require_auth || server.key.is_some() => {
            return Some(error_response(
                401,
                "authentication_error",
                "x-api-key header is required",
            ));
        }
        (Some(k), Some(want)) if k != want => {
            return Some(error_response(
                401,
                "authentication_error",
                &format!("invalid x-api-key: {k}"),
            ));
        }
        _ => {}
    }
    if !headers.contains_key("anthropic-version") {
        return Some(error_response(
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
        ));
    }
    None
}

/// Anthropic's Messages API.
pub(super) struct Anthropic;

impl Wire for Anthropic {
    /// Anthropic sends nothing before a whole reply.
    fn pads_json(&self) -> bool {
        false
    }

    fn keepalive(&self) -> Bytes {
        Bytes::from_static(b"event: ping\ndata: {\"type\": \"ping\"}\n\n")
    }

    /// Thinking blocks come before the text block; a reply that only
    /// thought (its limit reached) has no text block at all.
    fn whole(&self, o: &Outcome, text: &str, finish: Option<&str>) -> Bytes {
        let mut content = Vec::new();
        if !o.reasoning.is_empty() {
            content.push(json!({ "type": "thinking", "thinking": o.reasoning_text(), "signature": signature(o) }));
        }
        if !text.is_empty() || o.reasoning.is_empty() {
            content.push(json!({ "type": "text", "text": text }));
        }
        Bytes::from(
            json!({
                "id": msg_id(o),
                "type": "message",
                "role": "assistant",
                "model": o.served.model,
                "content": content,
                "stop_reason": finish.map(stop_reason),
                "stop_sequence": null,
                "usage": { "input_tokens": o.prompt_tokens, "output_tokens": o.completion_tokens() },
            })
            .to_string(),
        )
    }

    /// `message_start`, then pings until the first token.
    fn opening(&self, o: &Outcome, every: Duration) -> Vec<Step> {
        let start = json!({
            "type": "message_start",
            "message": {
                "id": msg_id(o), "type": "message", "role": "assistant", "model": o.served.model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": { "input_tokens": o.prompt_tokens, "output_tokens": 1 },
            },
        });
        vec![
            Step::Send(event("message_start", start.to_string())),
            Step::Tick {
                chunk: self.keepalive(),
                every,
                left: o.ttft,
            },
        ]
    }

    /// Block 0 is the thinking block: opened by the first piece.
    fn reasoning(&self, _o: &Outcome, text: &str, first: bool) -> Bytes {
        let delta = event(
            "content_block_delta",
            json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "thinking_delta", "thinking": text } }).to_string(),
        );
        if !first {
            return delta;
        }
        let mut b = event(
            "content_block_start",
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
        )
        .to_vec();
        b.extend_from_slice(&delta);
        Bytes::from(b)
    }

    /// The thinking block ends with its signature.
    fn reasoning_end(&self, o: &Outcome, steps: &mut Vec<Step>) {
        steps.push(Step::Send(event(
            "content_block_delta",
            json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "signature_delta", "signature": signature(o) } }).to_string(),
        )));
        steps.push(Step::Send(event(
            "content_block_stop",
            r#"{"type":"content_block_stop","index":0}"#,
        )));
    }

    /// The text block, after the thinking block if there was one; a reply
    /// that only thought opens none.
    fn content_start(&self, o: &Outcome, steps: &mut Vec<Step>) {
        if let Some(index) = text_index(o) {
            steps.push(Step::Send(event(
                "content_block_start",
                json!({ "type": "content_block_start", "index": index, "content_block": { "type": "text", "text": "" } }).to_string(),
            )));
        }
    }

    /// `content_block_start` opened the block already: a delta without
    /// text would say nothing.
    fn delta(&self, o: &Outcome, text: &str, _first: bool) -> Option<Bytes> {
        let index = text_index(o).unwrap_or(0);
        (!text.is_empty()).then(|| {
            event(
                "content_block_delta",
                json!({ "type": "content_block_delta", "index": index, "delta": { "type": "text_delta", "text": text } }).to_string(),
            )
        })
    }

    fn closing(&self, o: &Outcome, finish: &str, steps: &mut Vec<Step>) {
        if let Some(index) = text_index(o) {
            steps.push(Step::Send(event(
                "content_block_stop",
                json!({ "type": "content_block_stop", "index": index }).to_string(),
            )));
        }
        steps.push(Step::Send(event(
            "message_delta",
            json!({
                "type": "message_delta",
                "delta": { "stop_reason": stop_reason(finish), "stop_sequence": null },
                "usage": { "output_tokens": o.completion_tokens() },
            })
            .to_string(),
        )));
        if o.model.end_marker {
            steps.push(Step::Send(event(
                "message_stop",
                r#"{"type":"message_stop"}"#,
            )));
        }
    }

    fn status_error(&self, o: &Outcome, f: &Fault, class: C) -> (u16, Bytes) {
        let msg = |default: String| f.message.clone().unwrap_or(default);
        let (status, kind, text) = match class {
            C::ServerError if f.status == 529 => (529, "overloaded_error", msg("Overloaded".into())),
            C::ServerError => (f.status, "api_error", msg("Internal server error".into())),
            C::RateLimited => (
                429,
                "rate_limit_error",
                msg("This request would exceed your organization's rate limit of 50 requests per minute.".into()),
            ),
            C::Auth if f.status == 403 => (
                403,
                "permission_error",
                msg(format!(
                    "Your API key {} does not have permission to use the specified resource.",
                    o.key_text()
                )),
            ),
            C::Auth => (
                401,
                "authentication_error",
                msg(format!("invalid x-api-key: {}", o.key_text())),
            ),
            C::Credits => (
                402,
                "billing_error",
                msg("Your credit balance is too low to access the Anthropic API.".into()),
            ),
            C::NotFound => (
                404,
                "not_found_error",
                msg(format!("model: {}", o.model.id)),
            ),
            _ => (
                f.status,
                "invalid_request_error",
                msg(format!(
                    "prompt is too long: {} tokens > {} maximum",
                    o.model.context_length + 1,
                    o.model.context_length
                )),
            ),
        };
        (status, error_body(kind, &text))
    }

    fn rate_limit_headers(&self, o: &Outcome, wait: Duration) -> Vec<(&'static str, String)> {
        let reset =
            chrono::DateTime::from_timestamp(o.created.saturating_add(wait.as_secs() as i64), 0)
                .map(|t| t.to_rfc3339())
                .unwrap_or_default();
        vec![
            ("anthropic-ratelimit-requests-limit", "50".into()),
            ("anthropic-ratelimit-requests-remaining", "0".into()),
            ("anthropic-ratelimit-requests-reset", reset),
        ]
    }

    fn html_title(&self, _status: u16) -> &'static str {
        "Server Error"
    }

    fn provider_error_body(&self, _o: &Outcome, f: &Fault) -> Bytes {
        overloaded(f)
    }

    fn provider_error_event(&self, _o: &Outcome, f: &Fault) -> Bytes {
        event("error", overloaded(f))
    }

    fn challenge_page(&self) -> Bytes {
        html_page(200, "OK")
    }

    /// A delta cut inside its JSON.
    fn broken_event(&self, _o: &Outcome) -> Bytes {
        Bytes::from_static(
            b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_del\n\n",
        )
    }

    fn broken_tail(&self, o: &Outcome, steps: &mut Vec<Step>) {
        steps.push(Step::Send(self.broken_event(o)));
    }
}

/// The index of the text block: after the thinking block when there is
/// one; `None` when the reply only thought (its limit reached).
fn text_index(o: &Outcome) -> Option<u32> {
    match (o.reasoning.is_empty(), o.tokens.is_empty()) {
        (true, _) => Some(0),
        (false, false) => Some(1),
        (false, true) => None,
    }
}

/// A thinking block's signature (opaque to clients).
fn signature(o: &Outcome) -> String {
    format!(
        "EqQBCgYIAhgCEkD{}",
        o.gen_id.rsplit('-').next().unwrap_or("sim")
    )
}

/// Anthropic's words for OpenAI's finish reasons.
fn stop_reason(finish: &str) -> &'static str {
    match finish {
        "length" => "max_tokens",
        "content_filter" => "refusal",
        _ => "end_turn",
    }
}

fn msg_id(o: &Outcome) -> String {
    let tail = o.gen_id.rsplit('-').next().unwrap_or(&o.gen_id);
    format!("msg_{tail}")
}

fn event(name: &str, data: impl AsRef<[u8]>) -> Bytes {
    let mut b = format!("event: {name}\ndata: ").into_bytes();
    b.extend_from_slice(data.as_ref());
    b.extend_from_slice(b"\n\n");
    Bytes::from(b)
}

/// The mid-reply error Anthropic sends most.
fn overloaded(f: &Fault) -> Bytes {
    error_body(
        "overloaded_error",
        f.message.as_deref().unwrap_or("Overloaded"),
    )
}
