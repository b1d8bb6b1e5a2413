//! The OpenRouter (OpenAI-compatible) wire format: completions, SSE chunks,
//! and every fault as OpenRouter shows it.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::body::Step;
use super::scenario::{Fault, FaultKind, ServerOptions, Variant};
use super::{filler, html_page, Outcome, Reply, HTML, JSON, SSE};
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
        C::ProviderError => provider_error(o, f, stream, every),
        C::Truncated => truncated(o, f, stream, every),
        C::Malformed => malformed(o, f, stream, every),
        C::Empty | C::WrongAnswer => answer(o, stream, every),
    }
}

// ---- JSON pieces

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
        "completion_tokens_details": { "reasoning_tokens": 0 },
    })
}

fn completion(o: &Outcome, content: &str, finish: Option<&str>) -> Value {
    let mut m = base(o, "chat.completion");
    m.insert(
        "choices".into(),
        json!([{
            "logprobs": null,
            "finish_reason": finish,
            "native_finish_reason": finish,
            "index": 0,
            "message": { "role": "assistant", "content": content, "refusal": null, "reasoning": null },
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

// ---- streams

/// Headers at once, then `: OPENROUTER PROCESSING` until the first token.
fn sse_start(o: &Outcome, every: Duration) -> Vec<Step> {
    vec![Step::Tick {
        chunk: Bytes::from_static(PROCESSING),
        every,
        left: o.ttft,
    }]
}

fn sse_tokens<'t>(
    o: &Outcome,
    tokens: impl Iterator<Item = &'t str>,
    gap: Duration,
    steps: &mut Vec<Step>,
) {
    for (i, t) in tokens.enumerate() {
        if i > 0 && !gap.is_zero() {
            steps.push(Step::Wait(gap));
        }
        let delta = if i == 0 {
            json!({ "role": "assistant", "content": t })
        } else {
            json!({ "content": t })
        };
        steps.push(Step::Send(chunk(o, delta, None)));
    }
}

fn sse_end(o: &Outcome, finish: &str, steps: &mut Vec<Step>) {
    steps.push(Step::Send(chunk(o, json!({ "content": "" }), Some(finish))));
    let mut m = base(o, "chat.completion.chunk");
    m.insert("choices".into(), json!([]));
    m.insert("usage".into(), usage(o));
    steps.push(Step::Send(sse(&Value::Object(m))));
    steps.push(Step::Send(Bytes::from_static(DONE)));
}

fn stream_reply(content_type: &'static str, steps: Vec<Step>) -> Reply {
    Reply::Stream {
        headers: Vec::new(),
        content_type,
        steps,
    }
}

/// A JSON body after `wait`; with keep-alive on, headers go at once and
/// whitespace fills the wait, as OpenRouter does.
fn json_after(o: &Outcome, body: Bytes, wait: Duration, every: Duration) -> Reply {
    if o.model.keepalive {
        stream_reply(
            JSON,
            vec![
                Step::Tick {
                    chunk: Bytes::from_static(b"\n"),
                    every,
                    left: wait,
                },
                Step::Send(body),
            ],
        )
    } else {
        Reply::Fixed {
            status: StatusCode::OK,
            headers: Vec::new(),
            content_type: JSON,
            body,
            delay: wait,
        }
    }
}

// ---- replies

fn answer(o: &Outcome, stream: bool, every: Duration) -> Reply {
    if !stream {
        let body = Bytes::from(completion(o, &o.tokens.concat(), Some(o.finish)).to_string());
        return json_after(o, body, o.total(), every);
    }
    let mut steps = sse_start(o, every);
    if o.tokens.is_empty() {
        sse_tokens(o, std::iter::once(""), Duration::ZERO, &mut steps);
    } else {
        sse_tokens(
            o,
            o.tokens.iter().map(String::as_str),
            o.per_token,
            &mut steps,
        );
    }
    sse_end(o, o.finish, &mut steps);
    stream_reply(SSE, steps)
}

fn timeout(o: &Outcome, f: &Fault, stream: bool, every: Duration) -> Reply {
    let ct = if stream { SSE } else { JSON };
    match f.variant {
        Variant::Headers => stream_reply(ct, vec![Step::Wait(f.hang_for), Step::Abort]),
        Variant::Processing => {
            let chunk = if stream { PROCESSING } else { b"\n" };
            stream_reply(
                ct,
                vec![
                    Step::Tick {
                        chunk: Bytes::from_static(chunk),
                        every,
                        left: f.hang_for,
                    },
                    Step::Abort,
                ],
            )
        }
        Variant::Drip => {
            if stream {
                let count =
                    (f.hang_for.as_millis() / f.drip.as_millis().max(1) + 1).min(10_000) as usize;
                let toks: Vec<String> = if o.tokens.is_empty() {
                    vec![".".into()]
                } else {
                    o.tokens.clone()
                };
                let dripped = toks
                    .iter()
                    .cycle()
                    .take(count)
                    .enumerate()
                    .map(|(i, t)| {
                        if i == 0 {
                            t.clone()
                        } else {
                            format!(" {}", t.trim())
                        }
                    })
                    .collect::<Vec<_>>();
                let mut steps = sse_start(o, every);
                sse_tokens(o, dripped.iter().map(String::as_str), f.drip, &mut steps);
                sse_end(o, "stop", &mut steps);
                stream_reply(SSE, steps)
            } else {
                // The body itself trickles out, eight bytes at a time.
                let body =
                    Bytes::from(completion(o, &o.tokens.concat(), Some(o.finish)).to_string());
                let mut steps = Vec::new();
                let mut at = 0;
                while at < body.len() {
                    let end = (at + 8).min(body.len());
                    steps.push(Step::Send(body.slice(at..end)));
                    steps.push(Step::Wait(f.drip));
                    at = end;
                }
                stream_reply(JSON, steps)
            }
        }
        // Silent (and anything else): no response at all until the hang ends.
        _ => Reply::Kill {
            reset: false,
            delay: f.hang_for,
        },
    }
}

fn status_error(o: &Outcome, f: &Fault, class: C) -> Reply {
    let id = &o.model.id;
    let provider = o.served.provider;
    let mut headers: Vec<(&'static str, String)> = Vec::new();
    let mut delay = Duration::ZERO;
    let msg = |default: String| f.message.clone().unwrap_or(default);
    let body = match class {
        C::ServerError => {
            delay = o.ttft;
            if let Some(ra) = f.retry_after {
                headers.push(("retry-after", ra.as_secs().max(1).to_string()));
            }
            let (title, default) = match f.status {
                502 => ("Bad Gateway", format!("Provider returned error: {provider} is unavailable")),
                503 => ("Service Unavailable", "No available model provider that meets your routing requirements".to_string()),
                524 => ("A timeout occurred", format!("Provider timed out: {provider} took too long to respond")),
                529 => ("Overloaded", format!("Provider returned error: {provider} is overloaded")),
                _ => ("Internal Server Error", "Internal Server Error".to_string()),
            };
            if f.variant == Variant::Html {
                return Reply::Fixed {
                    status: status(f.status),
                    headers,
                    content_type: HTML,
                    body: html_page(f.status, title),
                    delay,
                };
            }
            error_body(
                f.status,
                &msg(default),
                Some(json!({ "provider_name": provider, "raw": "upstream connect error or disconnect/reset before headers" })),
            )
        }
        C::RateLimited => {
            let ra = f.retry_after.unwrap_or(Duration::from_secs(10));
            let reset_ms = o.created.saturating_mul(1000).saturating_add(ra.as_millis() as i64);
            headers.push(("retry-after", ra.as_secs().max(1).to_string()));
            headers.push(("x-ratelimit-limit", "20".into()));
            headers.push(("x-ratelimit-remaining", "0".into()));
            headers.push(("x-ratelimit-reset", reset_ms.to_string()));
            error_body(
                429,
                &msg(format!("{id} is temporarily rate-limited upstream. Please retry shortly.")),
                Some(json!({
                    "provider_name": provider,
                    "headers": {
                        "X-RateLimit-Limit": "20",
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset": reset_ms.to_string(),
                    },
                })),
            )
        }
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
    Reply::Fixed {
        status: status(f.status),
        headers,
        content_type: JSON,
        body,
        delay,
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY)
}

fn partial<'a>(o: &'a Outcome, f: &Fault) -> impl Iterator<Item = &'a str> + Clone {
    o.tokens
        .iter()
        .take(f.after_tokens as usize)
        .map(String::as_str)
}

fn provider_error(o: &Outcome, f: &Fault, stream: bool, every: Duration) -> Reply {
    let err = upstream_error(o, f);
    if !stream {
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
        return json_after(
            o,
            Bytes::from(Value::Object(m).to_string()),
            o.total(),
            every,
        );
    }
    let mut steps = sse_start(o, every);
    sse_tokens(o, partial(o, f), o.per_token, &mut steps);
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
    steps.push(Step::Send(sse(&Value::Object(m))));
    stream_reply(SSE, steps)
}

fn truncated(o: &Outcome, f: &Fault, stream: bool, every: Duration) -> Reply {
    let cut = f.variant == Variant::Reset;
    if !stream {
        let content: String = partial(o, f).collect();
        let body = Bytes::from(completion(o, &content, None).to_string());
        if !cut {
            return json_after(o, body, o.total(), every);
        }
        let half = body.slice(..body.len() / 2);
        return stream_reply(
            JSON,
            vec![Step::Wait(o.total()), Step::Send(half), Step::Abort],
        );
    }
    let mut steps = sse_start(o, every);
    sse_tokens(o, partial(o, f), o.per_token, &mut steps);
    if cut {
        steps.push(Step::Abort);
    }
    stream_reply(SSE, steps)
}

fn malformed(o: &Outcome, f: &Fault, stream: bool, every: Duration) -> Reply {
    if f.variant == Variant::Html {
        return Reply::Fixed {
            status: StatusCode::OK,
            headers: Vec::new(),
            content_type: HTML,
            body: Bytes::from_static(
                b"<!DOCTYPE html>\n<html><head><title>Just a moment...</title></head>\n<body><h1>Checking your browser before accessing openrouter.ai</h1></body></html>\n",
            ),
            delay: o.ttft,
        };
    }
    if !stream {
        let body = Bytes::from(completion(o, &o.tokens.concat(), Some(o.finish)).to_string());
        return json_after(o, body.slice(..body.len() / 2), o.total(), every);
    }
    let mut steps = sse_start(o, every);
    sse_tokens(o, partial(o, f), o.per_token, &mut steps);
    steps.push(Step::Send(Bytes::from(format!(
        "data: {{\"id\":\"{}\",\"choices\":[{{\"delta\":{{\"content\":\"po\n\n",
        o.gen_id
    ))));
    steps.push(Step::Send(Bytes::from_static(DONE)));
    stream_reply(SSE, steps)
}

/// `f.size` bytes of content, generated from one shared 64 KiB filler.
fn huge(o: &Outcome, f: &Fault, stream: bool, every: Duration) -> Reply {
    let fill = filler();
    let times = f.size.div_ceil(fill.len() as u64);
    if stream {
        let text = String::from_utf8_lossy(&fill).into_owned();
        let mut steps = sse_start(o, every);
        steps.push(Step::Repeat {
            chunk: chunk(o, json!({ "role": "assistant", "content": text }), None),
            times,
        });
        sse_end(o, "stop", &mut steps);
        return stream_reply(SSE, steps);
    }
    const MARK: &str = "\u{1}FILL\u{1}";
    let whole = completion(o, MARK, Some("stop")).to_string();
    let marker = serde_json::to_string(MARK).unwrap_or_default();
    let marker = marker.trim_matches('"');
    let (prefix, suffix) = whole.split_once(marker).unwrap_or((&whole, ""));
    stream_reply(
        JSON,
        vec![
            Step::Wait(o.ttft),
            Step::Send(Bytes::from(prefix.to_string())),
            Step::Repeat { chunk: fill, times },
            Step::Send(Bytes::from(suffix.to_string())),
        ],
    )
}
