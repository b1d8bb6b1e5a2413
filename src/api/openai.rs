//! The OpenAI-compatible dialect (OpenRouter, OpenAI, vLLM, …): request
//! bodies, replies and stream chunks.

use serde_json::{json, Map, Value};

use super::classify::reply_error;
use super::dialect::Wire;
use super::piece::{count, money, text, Piece, UsageParts};
use super::request::{ChatRequest, Target};

/// The OpenAI-compatible dialect: `POST /chat/completions`, the key as a
/// bearer token, `data:` chunks ending in `[DONE]`.
pub struct Openai;

impl Wire for Openai {
    fn path(&self) -> &'static str {
        "/chat/completions"
    }
    fn auth_header(&self, key: &str) -> (&'static str, String) {
        ("authorization", format!("Bearer {key}"))
    }
    fn fixed_headers(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }
    fn body(&self, target: &Target, req: &ChatRequest) -> Value {
        body(target, req)
    }
    fn parse_reply(&self, json: &Value) -> Result<Piece, String> {
        parse_reply(json)
    }
    /// Chunks are unnamed: only the data counts.
    fn parse_event(&self, _event: Option<&str>, data: &str) -> Result<Piece, String> {
        parse_chunk(data)
    }
}

/// `{model, messages, max_tokens, stream, (models), (stream_options), ..extra}`.
///
/// `stream_options.include_usage` makes OpenAI itself send usage in streams
/// (OpenRouter always does). We do not send OpenRouter's `usage: {include}`:
/// it is a no-op there and OpenAI rejects unknown fields; put it in `extra`
/// if a server wants it. `extra` may override anything except the fields the
/// parser depends on (`model`, `models`, `messages`, `stream`).
fn body(target: &Target, req: &ChatRequest) -> Value {
    let mut body = Map::new();
    for (k, v) in &target.extra {
        if !matches!(k.as_str(), "model" | "models" | "messages" | "stream") {
            body.insert(k.clone(), v.clone());
        }
    }
    body.insert("model".into(), json!(target.model_id));
    body.insert("messages".into(), json!(req.messages));
    body.entry("max_tokens").or_insert(json!(req.max_tokens));
    body.insert("stream".into(), json!(req.stream));
    if req.stream {
        body.entry("stream_options")
            .or_insert(json!({"include_usage": true}));
    }
    if !target.fallback_models.is_empty() {
        let mut models = vec![target.model_id.clone()];
        models.extend(target.fallback_models.iter().cloned());
        body.insert("models".into(), json!(models));
    }
    Value::Object(body)
}

/// A whole (non-streamed) reply.
fn parse_reply(json: &Value) -> Result<Piece, String> {
    parse(json, "message")
}

/// One `data:` payload of a stream.
fn parse_chunk(data: &str) -> Result<Piece, String> {
    if data.trim() == "[DONE]" {
        return Ok(Piece {
            done: true,
            ..Piece::default()
        });
    }
    let json: Value = serde_json::from_str(data)
        .map_err(|e| format!("a stream event is not JSON ({e}): {data}"))?;
    parse(&json, "delta")
}

fn parse(json: &Value, content_key: &str) -> Result<Piece, String> {
    let obj = json
        .as_object()
        .ok_or_else(|| format!("the reply is JSON but not an object: {json}"))?;
    let mut piece = Piece {
        model: text(obj.get("model")),
        provider: text(obj.get("provider")),
        fingerprint: text(obj.get("system_fingerprint")),
        usage: obj.get("usage").map(usage).unwrap_or_default(),
        error: reply_error(json),
        ..Piece::default()
    };
    let choices = match obj.get("choices") {
        Some(Value::Array(choices)) => choices.as_slice(),
        Some(Value::Null) | None => {
            if piece.error.is_some() || (content_key == "delta" && !piece.usage.is_empty()) {
                &[]
            } else {
                return Err(format!("the reply has no `choices`: {json}"));
            }
        }
        Some(other) => return Err(format!("`choices` is not a list: {other}")),
    };
    // A choice can carry its own error object (OpenRouter).
    if piece.error.is_none() {
        piece.error = choices.iter().find_map(reply_error);
    }
    if let Some(first) = choices.first() {
        let content = first
            .get(content_key)
            .or_else(|| first.get("message"))
            .and_then(|m| m.get("content"));
        piece.text = content_text(content);
        piece.finish_reason = text(first.get("finish_reason"));
    }
    Ok(piece)
}

/// `content` as a string, or as a list of `{type: "text", text}` parts.
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.as_str().or_else(|| p.get("text").and_then(Value::as_str)))
            .collect(),
        _ => String::new(),
    }
}

fn usage(u: &Value) -> UsageParts {
    UsageParts {
        prompt_tokens: count(u.get("prompt_tokens")),
        completion_tokens: count(u.get("completion_tokens")),
        cost: money(u.get("cost")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::request::Message;
    use crate::api::Dialect;

    fn target() -> Target {
        Target {
            base_url: "http://x/v1".into(),
            dialect: Dialect::Openai,
            api_key: None,
            model_id: "anthropic/claude-sonnet-4".into(),
            extra: Map::new(),
            fallback_models: vec![],
        }
    }

    fn req(stream: bool) -> ChatRequest {
        ChatRequest {
            messages: vec![Message::user("hi")],
            max_tokens: 16,
            stream,
            expect: None,
        }
    }

    #[test]
    fn body_plain() {
        assert_eq!(
            body(&target(), &req(false)),
            json!({"model": "anthropic/claude-sonnet-4", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16, "stream": false})
        );
    }

    #[test]
    fn body_streaming_with_fallbacks_and_extra() {
        let mut t = target();
        t.fallback_models = vec!["openai/gpt-4o".into()];
        t.extra.insert("reasoning".into(), json!({"effort": "low"}));
        t.extra.insert("model".into(), json!("hijack"));
        t.extra.insert("max_tokens".into(), json!(64));
        let b = body(&t, &req(true));
        assert_eq!(b["model"], "anthropic/claude-sonnet-4");
        assert_eq!(
            b["models"],
            json!(["anthropic/claude-sonnet-4", "openai/gpt-4o"])
        );
        assert_eq!(b["stream_options"], json!({"include_usage": true}));
        assert_eq!(b["reasoning"], json!({"effort": "low"}));
        assert_eq!(b["max_tokens"], 64);
        assert_eq!(b["stream"], true);
    }

    #[test]
    fn reply_fields() {
        let p = parse_reply(&json!({
            "id": "gen-1", "model": "anthropic/claude-4-sonnet-20250522", "provider": "Google",
            "system_fingerprint": "fp_1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "pong"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12, "cost": 0.00012}
        }))
        .unwrap();
        assert_eq!(p.text, "pong");
        assert_eq!(p.finish_reason.as_deref(), Some("stop"));
        assert_eq!(
            p.model.as_deref(),
            Some("anthropic/claude-4-sonnet-20250522")
        );
        assert_eq!(p.provider.as_deref(), Some("Google"));
        assert_eq!(p.fingerprint.as_deref(), Some("fp_1"));
        assert_eq!(p.usage.completion_tokens, Some(2));
        assert_eq!(p.usage.cost, Some(0.00012));
        assert!(p.error.is_none());
    }

    #[test]
    fn reply_errors_top_level_and_in_choice() {
        let p = parse_reply(&json!({"error": {"code": 502, "message": "upstream"}})).unwrap();
        assert_eq!(p.error.unwrap().message, "upstream");
        let p = parse_reply(&json!({"choices": [{"message": {"content": ""}, "finish_reason": "error", "error": {"code": "x", "message": "in choice"}}]})).unwrap();
        assert_eq!(p.error.unwrap().message, "in choice");
        let p = parse_reply(&json!({"error": null, "choices": [{"message": {"content": "ok"}}]}))
            .unwrap();
        assert!(p.error.is_none());
    }

    #[test]
    fn reply_shapes_that_are_not_replies() {
        assert!(parse_reply(&json!([1])).is_err());
        assert!(parse_reply(&json!({"id": "x"})).is_err());
        assert!(parse_reply(&json!({"choices": "x"})).is_err());
        assert_eq!(parse_reply(&json!({"choices": []})).unwrap().text, "");
        assert_eq!(
            parse_reply(&json!({"choices": [{"message": {"content": null}}]}))
                .unwrap()
                .text,
            ""
        );
    }

    #[test]
    fn content_parts() {
        let p = parse_reply(&json!({"choices": [{"message": {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}}]})).unwrap();
        assert_eq!(p.text, "ab");
    }

    #[test]
    fn chunks() {
        assert!(parse_chunk("[DONE]").unwrap().done);
        let role_only = parse_chunk(r#"{"choices":[{"delta":{"role":"assistant"}}]}"#).unwrap();
        assert_eq!(role_only.text, "");
        let c = parse_chunk(
            r#"{"model":"m","choices":[{"delta":{"content":"po"},"finish_reason":null}]}"#,
        )
        .unwrap();
        assert_eq!(
            (c.text.as_str(), c.finish_reason, c.model.as_deref()),
            ("po", None, Some("m"))
        );
        let u = parse_chunk(
            r#"{"choices":[],"usage":{"prompt_tokens":"3","completion_tokens":2.0,"cost":"0.5"}}"#,
        )
        .unwrap();
        assert_eq!(
            u.usage,
            UsageParts {
                prompt_tokens: Some(3),
                completion_tokens: Some(2),
                cost: Some(0.5)
            }
        );
        let u = parse_chunk(r#"{"usage":{"prompt_tokens":3}}"#).unwrap();
        assert_eq!(u.usage.prompt_tokens, Some(3));
        let e = parse_chunk(r#"{"error":{"code":502,"message":"cut"},"choices":[{"delta":{"content":""},"finish_reason":"error"}]}"#).unwrap();
        assert_eq!(e.error.unwrap().message, "cut");
        assert!(parse_chunk("{not json").is_err());
        assert!(parse_chunk(r#"{"id":"x"}"#).is_err());
    }
}
