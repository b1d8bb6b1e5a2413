//! Anthropic's native Messages format (`POST /v1/messages`): JSON and named
//! SSE events, errors as `{"type":"error","error":{"type","message"}}`.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

use super::body::Step;
use super::scenario::{Fault, FaultKind, ServerOptions, Variant};
use super::{filler, html_page, Outcome, Reply, HTML, JSON, SSE};
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

pub(crate) fn render(o: &Outcome, stream: bool, every: Duration) -> Reply {
    let Some(f) = o.fault else {
        return answer(o, stream, every);
    };
    let class = match f.kind {
        FaultKind::Huge => return huge(o, f, stream, every),
        FaultKind::Class(c) => c,
    };
    match class {
        C::Timeout => timeout(o, f, stream, every),
        C::Connect => Reply::Kill {
            reset: f.variant == Variant::Reset,
            delay: Duration::ZERO,
        },
        C::ServerError | C::RateLimited | C::Auth | C::Credits | C::NotFound | C::BadRequest => {
            status_error(o, f, class)
        }
        C::ProviderError => {
            let err = error_body(
                "overloaded_error",
                f.message.as_deref().unwrap_or("Overloaded"),
            );
            if !stream {
                return fixed_ok(JSON, err, o.total());
            }
            let mut steps = start(o, every);
            deltas(o, partial(o, f), &mut steps);
            steps.push(event("error", err));
            stream_reply(steps)
        }
        C::Truncated => {
            let cut = f.variant == Variant::Reset;
            if !stream {
                let text: String = partial(o, f).collect();
                let body = message(o, &text, None);
                if cut {
                    let half = body.slice(..body.len() / 2);
                    return Reply::Stream {
                        headers: Vec::new(),
                        content_type: JSON,
                        steps: vec![Step::Wait(o.total()), Step::Send(half), Step::Abort],
                    };
                }
                return fixed_ok(JSON, body, o.total());
            }
            let mut steps = start(o, every);
            deltas(o, partial(o, f), &mut steps);
            if cut {
                steps.push(Step::Abort);
            }
            stream_reply(steps)
        }
        C::Malformed => {
            if f.variant == Variant::Html {
                return fixed_ok(HTML, html_page(200, "OK"), o.ttft);
            }
            if !stream {
                let body = message(o, &o.tokens.concat(), Some(stop_reason(o)));
                return fixed_ok(JSON, body.slice(..body.len() / 2), o.total());
            }
            let mut steps = start(o, every);
            deltas(o, partial(o, f), &mut steps);
            steps.push(Step::Send(Bytes::from_static(
                b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_del\n\n",
            )));
            stream_reply(steps)
        }
        C::Empty | C::WrongAnswer => answer(o, stream, every),
    }
}

fn stop_reason(o: &Outcome) -> &'static str {
    if o.finish == "length" {
        "max_tokens"
    } else {
        "end_turn"
    }
}

fn msg_id(o: &Outcome) -> String {
    let tail = o.gen_id.rsplit('-').next().unwrap_or(&o.gen_id);
    format!("msg_{tail}")
}

fn message(o: &Outcome, text: &str, stop: Option<&str>) -> Bytes {
    Bytes::from(
        json!({
            "id": msg_id(o),
            "type": "message",
            "role": "assistant",
            "model": o.served.model,
            "content": [{ "type": "text", "text": text }],
            "stop_reason": stop,
            "stop_sequence": null,
            "usage": { "input_tokens": o.prompt_tokens, "output_tokens": o.completion_tokens() },
        })
        .to_string(),
    )
}

fn event(name: &str, data: impl AsRef<[u8]>) -> Step {
    let mut b = format!("event: {name}\ndata: ").into_bytes();
    b.extend_from_slice(data.as_ref());
    b.extend_from_slice(b"\n\n");
    Step::Send(Bytes::from(b))
}

fn ping() -> Bytes {
    Bytes::from_static(b"event: ping\ndata: {\"type\": \"ping\"}\n\n")
}

/// `message_start`, pings while thinking, then the text block opens.
fn start(o: &Outcome, every: Duration) -> Vec<Step> {
    let start = json!({
        "type": "message_start",
        "message": {
            "id": msg_id(o), "type": "message", "role": "assistant", "model": o.served.model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": { "input_tokens": o.prompt_tokens, "output_tokens": 1 },
        },
    });
    vec![
        event("message_start", start.to_string()),
        Step::Tick {
            chunk: ping(),
            every,
            left: o.ttft,
        },
        event(
            "content_block_start",
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        ),
    ]
}

fn delta(text: &str) -> Step {
    event(
        "content_block_delta",
        json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": text } }).to_string(),
    )
}

fn deltas<'t>(o: &Outcome, tokens: impl Iterator<Item = &'t str>, steps: &mut Vec<Step>) {
    for (i, t) in tokens.enumerate() {
        if i > 0 && !o.per_token.is_zero() {
            steps.push(Step::Wait(o.per_token));
        }
        steps.push(delta(t));
    }
}

fn end(o: &Outcome, stop: &str, steps: &mut Vec<Step>) {
    steps.push(event(
        "content_block_stop",
        r#"{"type":"content_block_stop","index":0}"#,
    ));
    steps.push(event(
        "message_delta",
        json!({
            "type": "message_delta",
            "delta": { "stop_reason": stop, "stop_sequence": null },
            "usage": { "output_tokens": o.completion_tokens() },
        })
        .to_string(),
    ));
    steps.push(event("message_stop", r#"{"type":"message_stop"}"#));
}

fn partial<'a>(o: &'a Outcome, f: &Fault) -> impl Iterator<Item = &'a str> {
    o.tokens
        .iter()
        .take(f.after_tokens as usize)
        .map(String::as_str)
}

fn stream_reply(steps: Vec<Step>) -> Reply {
    Reply::Stream {
        headers: Vec::new(),
        content_type: SSE,
        steps,
    }
}

fn fixed_ok(content_type: &'static str, body: Bytes, delay: Duration) -> Reply {
    Reply::Fixed {
        status: StatusCode::OK,
        headers: Vec::new(),
        content_type,
        body,
        delay,
    }
}

fn answer(o: &Outcome, stream: bool, every: Duration) -> Reply {
    if !stream {
        return fixed_ok(
            JSON,
            message(o, &o.tokens.concat(), Some(stop_reason(o))),
            o.total(),
        );
    }
    let mut steps = start(o, every);
    deltas(o, o.tokens.iter().map(String::as_str), &mut steps);
    end(o, stop_reason(o), &mut steps);
    stream_reply(steps)
}

fn timeout(o: &Outcome, f: &Fault, stream: bool, every: Duration) -> Reply {
    let ct = if stream { SSE } else { JSON };
    let plain = |steps| Reply::Stream {
        headers: Vec::new(),
        content_type: ct,
        steps,
    };
    match f.variant {
        Variant::Headers => plain(vec![Step::Wait(f.hang_for), Step::Abort]),
        Variant::Processing => plain(vec![
            Step::Tick {
                chunk: if stream {
                    ping()
                } else {
                    Bytes::from_static(b"\n")
                },
                every,
                left: f.hang_for,
            },
            Step::Abort,
        ]),
        Variant::Drip if stream => {
            let count =
                (f.hang_for.as_millis() / f.drip.as_millis().max(1) + 1).min(10_000) as usize;
            let mut steps = start(o, every);
            for i in 0..count {
                if i > 0 {
                    steps.push(Step::Wait(f.drip));
                }
                steps.push(delta(if i == 0 { "pong" } else { " ." }));
            }
            end(o, "end_turn", &mut steps);
            stream_reply(steps)
        }
        Variant::Drip => {
            let body = message(o, &o.tokens.concat(), Some(stop_reason(o)));
            let mut steps = Vec::new();
            let mut at = 0;
            while at < body.len() {
                let end = (at + 8).min(body.len());
                steps.push(Step::Send(body.slice(at..end)));
                steps.push(Step::Wait(f.drip));
                at = end;
            }
            plain(steps)
        }
        _ => Reply::Kill {
            reset: false,
            delay: f.hang_for,
        },
    }
}

fn status_error(o: &Outcome, f: &Fault, class: C) -> Reply {
    let mut headers: Vec<(&'static str, String)> = Vec::new();
    let mut delay = Duration::ZERO;
    let msg = |default: String| f.message.clone().unwrap_or(default);
    let (status, kind, text) = match class {
        C::ServerError => {
            delay = o.ttft;
            if let Some(ra) = f.retry_after {
                headers.push(("retry-after", ra.as_secs().max(1).to_string()));
            }
            if f.variant == Variant::Html {
                return Reply::Fixed {
                    status: StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_GATEWAY),
                    headers,
                    content_type: HTML,
                    body: html_page(f.status, "Server Error"),
                    delay,
                };
            }
            if f.status == 529 {
                (529, "overloaded_error", msg("Overloaded".into()))
            } else {
                (f.status, "api_error", msg("Internal server error".into()))
            }
        }
        C::RateLimited => {
            let ra = f.retry_after.unwrap_or(Duration::from_secs(10));
            let reset =
                chrono::DateTime::from_timestamp(o.created.saturating_add(ra.as_secs() as i64), 0)
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default();
            headers.push(("retry-after", ra.as_secs().max(1).to_string()));
            headers.push(("anthropic-ratelimit-requests-limit", "50".into()));
            headers.push(("anthropic-ratelimit-requests-remaining", "0".into()));
            headers.push(("anthropic-ratelimit-requests-reset", reset));
            (
                429,
                "rate_limit_error",
                msg("This request would exceed your organization's rate limit of 50 requests per minute.".into()),
            )
        }
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
    Reply::Fixed {
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        headers,
        content_type: JSON,
        body: error_body(kind, &text),
        delay,
    }
}

fn huge(o: &Outcome, f: &Fault, stream: bool, every: Duration) -> Reply {
    let fill = filler();
    let times = f.size.div_ceil(fill.len() as u64);
    if stream {
        let text = String::from_utf8_lossy(&fill).into_owned();
        let mut steps = start(o, every);
        let Step::Send(chunk) = delta(&text) else {
            return stream_reply(steps);
        };
        steps.push(Step::Repeat { chunk, times });
        end(o, "end_turn", &mut steps);
        return stream_reply(steps);
    }
    let whole = message(o, "\u{1}FILL\u{1}", Some("end_turn"));
    let whole = String::from_utf8_lossy(&whole).into_owned();
    let (prefix, suffix) = whole
        .split_once("\\u0001FILL\\u0001")
        .unwrap_or((&whole, ""));
    Reply::Stream {
        headers: Vec::new(),
        content_type: JSON,
        steps: vec![
            Step::Wait(o.ttft),
            Step::Send(Bytes::from(prefix.to_string())),
            Step::Repeat { chunk: fill, times },
            Step::Send(Bytes::from(suffix.to_string())),
        ],
    }
}
