//! OpenAI's chat format ↔ Anthropic's Messages API, for text chat: a
//! client's request becomes a Messages body, and what an Anthropic model
//! sends back becomes OpenAI chunks. A feature that has no faithful
//! translation (tools, images, several choices, JSON mode) is refused with
//! the reason, never dropped silently; sampling knobs that Anthropic lacks
//! (penalties, seed, logit bias) and OpenRouter's own fields are left out.
//!
//! Every upstream reply, whatever its dialect, becomes OpenAI
//! `chat.completion.chunk` objects here ([`Translator`]): the relay and
//! the aggregator only ever see those.

use serde_json::{json, Map, Value};

use crate::api::{Dialect, TapEvent};

/// Fields a Messages request cannot carry: refused.
const REFUSED: [(&str, &str); 10] = [
    ("tools", "tools"),
    ("functions", "functions"),
    ("function_call", "function calling"),
    ("audio", "audio output"),
    ("prediction", "predicted outputs"),
    ("web_search_options", "web search"),
    ("top_logprobs", "log probabilities"),
    ("response_format", "response_format (JSON mode)"),
    ("tool_choice", "tool_choice"),
    ("logprobs", "log probabilities"),
];

/// A client's OpenAI-shaped body as a Messages body (without `model` and
/// `stream`), or why it cannot be one.
pub fn to_anthropic(client: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    for (field, what) in REFUSED {
        let Some(v) = client.get(field) else {
            continue;
        };
        let harmless = match field {
            "response_format" => v.get("type").and_then(Value::as_str) == Some("text"),
            "tool_choice" => v.as_str() == Some("none"),
            "logprobs" => v == &Value::Bool(false),
            _ => v.is_null(),
        };
        if !harmless {
            return Err(format!("{what} cannot be translated"));
        }
    }
    if client
        .get("n")
        .and_then(Value::as_u64)
        .is_some_and(|n| n > 1)
    {
        return Err("several choices (n > 1) cannot be translated".into());
    }
    if let Some(modalities) = client.get("modalities").and_then(Value::as_array) {
        if modalities.iter().any(|m| m.as_str() != Some("text")) {
            return Err("modalities other than text cannot be translated".into());
        }
    }
    let mut system = Vec::new();
    let mut messages = Vec::new();
    for (i, m) in client
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        if m.get("tool_calls").is_some_and(|t| !t.is_null())
            || m.get("function_call").is_some_and(|t| !t.is_null())
        {
            return Err(format!("messages[{i}]: tool calls cannot be translated"));
        }
        let text = text_of(m.get("content")).map_err(|why| format!("messages[{i}]: {why}"))?;
        match role {
            "system" | "developer" => system.push(text),
            "user" | "assistant" => messages.push(json!({"role": role, "content": text})),
            other => {
                return Err(format!(
                    "messages[{i}]: the {other:?} role cannot be translated"
                ))
            }
        }
    }
    let mut body = Map::new();
    body.insert("messages".into(), Value::Array(messages));
    if !system.is_empty() {
        body.insert("system".into(), json!(system.join("\n\n")));
    }
    let limit = client
        .get("max_completion_tokens")
        .or_else(|| client.get("max_tokens"))
        .filter(|v| v.is_u64());
    if let Some(limit) = limit {
        body.insert("max_tokens".into(), limit.clone());
    }
    for key in ["temperature", "top_p", "top_k"] {
        if let Some(v) = client.get(key).filter(|v| v.is_number()) {
            body.insert(key.into(), v.clone());
        }
    }
    match client.get("stop") {
        Some(Value::String(s)) => {
            body.insert("stop_sequences".into(), json!([s]));
        }
        Some(Value::Array(list)) if !list.is_empty() => {
            body.insert("stop_sequences".into(), Value::Array(list.clone()));
        }
        _ => {}
    }
    if let Some(user) = client.get("user").and_then(Value::as_str) {
        body.insert("metadata".into(), json!({"user_id": user}));
    }
    Ok(body)
}

/// A message's content as text: a string, or text parts only.
fn text_of(content: Option<&Value>) -> Result<String, String> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for part in parts {
                match part.get("type").and_then(Value::as_str) {
                    Some("text") | None => {
                        text.push_str(part.get("text").and_then(Value::as_str).unwrap_or_default());
                    }
                    Some(other) => return Err(format!("{other} content cannot be translated")),
                }
            }
            Ok(text)
        }
        Some(_) => Err("content is neither text nor a list of parts".into()),
    }
}

/// Turns one attempt's events into OpenAI chunks. One per attempt: an
/// Anthropic stream spreads its usage over two events.
#[derive(Debug, Default)]
pub struct Translator {
    prompt_tokens: Option<u64>,
}

impl Translator {
    /// The OpenAI chunks an event (or a whole reply) stands for; nothing
    /// for keep-alives, end markers and what does not parse.
    pub fn chunks(&mut self, dialect: Dialect, event: &TapEvent) -> Vec<Value> {
        match (dialect, event) {
            (Dialect::Openai, TapEvent::Event { data, .. }) => {
                match serde_json::from_str::<Value>(data) {
                    Ok(v) if v.is_object() => vec![v],
                    _ => Vec::new(), // `[DONE]`: the relay ends the stream itself
                }
            }
            (Dialect::Openai, TapEvent::Whole(body)) => serde_json::from_str::<Value>(body.trim())
                .map(|v| vec![whole_openai(v)])
                .unwrap_or_default(),
            (Dialect::Anthropic, TapEvent::Event { name, data }) => {
                let Ok(v) = serde_json::from_str::<Value>(data) else {
                    return Vec::new();
                };
                self.anthropic_event(name.as_deref(), &v)
            }
            (Dialect::Anthropic, TapEvent::Whole(body)) => {
                serde_json::from_str::<Value>(body.trim())
                    .map(|v| whole_anthropic(&v))
                    .unwrap_or_default()
            }
        }
    }

    fn anthropic_event(&mut self, name: Option<&str>, v: &Value) -> Vec<Value> {
        let kind = v.get("type").and_then(Value::as_str).or(name);
        match kind {
            Some("message_start") => {
                let message = v.get("message");
                self.prompt_tokens = message
                    .and_then(|m| m.get("usage"))
                    .and_then(|u| u.get("input_tokens"))
                    .and_then(Value::as_u64);
                vec![chunk(json!({"role": "assistant", "content": ""}), None)]
            }
            Some("content_block_start") => {
                let block = v.get("content_block");
                match block.and_then(|b| b.get("type")).and_then(Value::as_str) {
                    Some("text") => non_empty(block.and_then(|b| b.get("text")))
                        .map(|t| vec![chunk(json!({"content": t}), None)])
                        .unwrap_or_default(),
                    _ => Vec::new(),
                }
            }
            Some("content_block_delta") => {
                let delta = v.get("delta");
                match delta.and_then(|d| d.get("type")).and_then(Value::as_str) {
                    Some("text_delta") => non_empty(delta.and_then(|d| d.get("text")))
                        .map(|t| vec![chunk(json!({"content": t}), None)])
                        .unwrap_or_default(),
                    // OpenRouter's name for reasoning in a delta.
                    Some("thinking_delta") => non_empty(delta.and_then(|d| d.get("thinking")))
                        .map(|t| vec![chunk(json!({"reasoning": t}), None)])
                        .unwrap_or_default(),
                    _ => Vec::new(),
                }
            }
            Some("message_delta") => {
                let stop = v
                    .get("delta")
                    .and_then(|d| d.get("stop_reason"))
                    .and_then(Value::as_str);
                let completion = v
                    .get("usage")
                    .and_then(|u| u.get("output_tokens"))
                    .and_then(Value::as_u64);
                let mut out = vec![chunk(json!({}), Some(finish_reason(stop)))];
                if let Some(completion) = completion {
                    out.push(usage_chunk(self.prompt_tokens.unwrap_or(0), completion));
                }
                out
            }
            _ => Vec::new(),
        }
    }
}

fn non_empty(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Anthropic's stop reason in OpenAI's words.
fn finish_reason(stop: Option<&str>) -> &'static str {
    match stop {
        Some("max_tokens") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        _ => "stop",
    }
}

/// A chunk with one choice: `delta` and, at the end, its finish reason.
/// The relay sets `id`, `created` and `model`.
fn chunk(delta: Value, finish: Option<&str>) -> Value {
    json!({
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    })
}

fn usage_chunk(prompt: u64, completion: u64) -> Value {
    json!({
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    })
}

/// A whole OpenAI reply (sent where a stream was asked for) as one chunk.
fn whole_openai(mut reply: Value) -> Value {
    if let Some(choices) = reply.get_mut("choices").and_then(Value::as_array_mut) {
        for choice in choices {
            if let Some(obj) = choice.as_object_mut() {
                let mut message = obj.remove("message").unwrap_or_else(|| json!({}));
                if let Some(calls) = message.get_mut("tool_calls").and_then(Value::as_array_mut) {
                    for (i, call) in calls.iter_mut().enumerate() {
                        if let Some(call) = call.as_object_mut() {
                            call.entry("index").or_insert(json!(i));
                        }
                    }
                }
                obj.insert("delta".into(), message);
            }
        }
    }
    if let Some(obj) = reply.as_object_mut() {
        obj.insert("object".into(), json!("chat.completion.chunk"));
    }
    reply
}

/// A whole Anthropic reply as chunks: its text, its end, its usage.
fn whole_anthropic(reply: &Value) -> Vec<Value> {
    let text: String = reply
        .get("content")
        .and_then(Value::as_array)
        .map(|blocks| {
            blocks
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    let stop = reply.get("stop_reason").and_then(Value::as_str);
    let mut out = vec![chunk(
        json!({"role": "assistant", "content": text}),
        Some(finish_reason(stop)),
    )];
    if let Some(usage) = reply.get("usage") {
        let n = |k: &str| usage.get(k).and_then(Value::as_u64).unwrap_or(0);
        out.push(usage_chunk(n("input_tokens"), n("output_tokens")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn text_chat_translates() {
        let body = to_anthropic(&map(json!({
            "model": "x",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "developer", "content": [{"type": "text", "text": "be kind"}]},
                {"role": "user", "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}]},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": "again"}
            ],
            "max_tokens": 50, "temperature": 0.2, "stop": "END", "user": "u-1",
            "seed": 3, "frequency_penalty": 0.5, "provider": {"order": ["x"]}
        })))
        .unwrap();
        assert_eq!(
            Value::Object(body),
            json!({
                "system": "be brief\n\nbe kind",
                "messages": [
                    {"role": "user", "content": "hi there"},
                    {"role": "assistant", "content": "hello"},
                    {"role": "user", "content": "again"}
                ],
                "max_tokens": 50, "temperature": 0.2, "stop_sequences": ["END"],
                "metadata": {"user_id": "u-1"}
            })
        );
    }

    #[test]
    fn what_cannot_be_translated_is_refused_with_the_reason() {
        let msgs = json!([{"role": "user", "content": "hi"}]);
        for (extra, says) in [
            (json!({"tools": [{"type": "function"}]}), "tools"),
            (
                json!({"response_format": {"type": "json_object"}}),
                "response_format",
            ),
            (json!({"n": 2}), "n > 1"),
            (json!({"tool_choice": "auto"}), "tool_choice"),
            (json!({"logprobs": true}), "log probabilities"),
        ] {
            let mut body = map(extra);
            body.insert("messages".into(), msgs.clone());
            let err = to_anthropic(&body).unwrap_err();
            assert!(err.contains(says), "{err}");
        }
        let image = map(json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "data:..."}}
        ]}]}));
        assert!(to_anthropic(&image).unwrap_err().contains("image_url"));
        let tool =
            map(json!({"messages": [{"role": "tool", "content": "42", "tool_call_id": "c"}]}));
        assert!(to_anthropic(&tool).unwrap_err().contains("\"tool\" role"));
        // Harmless values of those fields pass.
        let fine = map(
            json!({"messages": msgs, "response_format": {"type": "text"}, "tool_choice": "none", "logprobs": false, "n": 1}),
        );
        assert!(to_anthropic(&fine).is_ok());
    }

    #[test]
    fn an_anthropic_stream_becomes_openai_chunks() {
        let mut t = Translator::default();
        let ev = |name: &str, data: Value| TapEvent::Event {
            name: Some(name.into()),
            data: data.to_string(),
        };
        let mut out = Vec::new();
        for e in [
            ev(
                "message_start",
                json!({"type": "message_start", "message": {"model": "claude", "usage": {"input_tokens": 7, "output_tokens": 1}}}),
            ),
            ev(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
            ),
            ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "delta": {"type": "thinking_delta", "thinking": "hm"}}),
            ),
            ev("ping", json!({"type": "ping"})),
            ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "delta": {"type": "text_delta", "text": "po"}}),
            ),
            ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "delta": {"type": "text_delta", "text": "ng"}}),
            ),
            ev(
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}}),
            ),
            ev("message_stop", json!({"type": "message_stop"})),
        ] {
            out.extend(t.chunks(Dialect::Anthropic, &e));
        }
        let deltas: Vec<&Value> = out
            .iter()
            .filter_map(|c| c["choices"].get(0).map(|c| &c["delta"]))
            .collect();
        assert_eq!(deltas[0], &json!({"role": "assistant", "content": ""}));
        assert_eq!(deltas[1], &json!({"reasoning": "hm"}));
        assert_eq!(deltas[2], &json!({"content": "po"}));
        assert_eq!(deltas[3], &json!({"content": "ng"}));
        assert_eq!(out[4]["choices"][0]["finish_reason"], "stop");
        assert_eq!(
            out[5]["usage"],
            json!({"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10})
        );
        assert_eq!(out.len(), 6);
    }

    #[test]
    fn whole_replies_become_one_chunk() {
        let mut t = Translator::default();
        let a = t.chunks(
            Dialect::Anthropic,
            &TapEvent::Whole(
                json!({"content": [{"type": "text", "text": "pong"}], "stop_reason": "max_tokens", "usage": {"input_tokens": 2, "output_tokens": 5}})
                    .to_string(),
            ),
        );
        assert_eq!(a[0]["choices"][0]["delta"]["content"], "pong");
        assert_eq!(a[0]["choices"][0]["finish_reason"], "length");
        assert_eq!(a[1]["usage"]["total_tokens"], 7);
        let o = t.chunks(
            Dialect::Openai,
            &TapEvent::Whole(
                json!({"id": "x", "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}, "finish_reason": "tool_calls"}]})
                    .to_string(),
            ),
        );
        assert_eq!(o[0]["object"], "chat.completion.chunk");
        assert_eq!(o[0]["choices"][0]["delta"]["tool_calls"][0]["index"], 0);
        assert!(t
            .chunks(
                Dialect::Openai,
                &TapEvent::Event {
                    name: None,
                    data: "[DONE]".into()
                }
            )
            .is_empty());
    }
}
