//! The OpenAI-compatible dialect (OpenRouter, OpenAI, vLLM, …): request
//! bodies, replies and stream chunks.

use serde_json::{json, Map, Value};

use super::classify::reply_error;
use super::dialect::Wire;
use super::piece::{count, money, text, Piece, UsageParts};
use super::request::{ChatRequest, Target, TokenParam};

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
    fn body(&self, target: &Target, req: &ChatRequest, limit: TokenParam) -> Result<Value, String> {
        Ok(match &req.passthrough {
            Some(through) => passthrough_body(target, &through.openai, req.stream),
            None => body(target, req, limit),
        })
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
/// The output limit goes in the field `limit` names: `max_tokens`, or
/// `max_completion_tokens` for the endpoints that refuse the former for
/// reasoning models (OpenAI's own API, Azure). An `extra` that sets either
/// field itself is left alone and the other is not added.
///
/// `stream_options.include_usage` makes OpenAI itself send usage in streams
/// (OpenRouter always does). We do not send OpenRouter's `usage: {include}`:
/// it is a no-op there and OpenAI rejects unknown fields; put it in `extra`
/// if a server wants it. `extra` may override anything except the fields the
/// parser depends on (`model`, `models`, `messages`, `stream`).
fn body(target: &Target, req: &ChatRequest, limit: TokenParam) -> Value {
    let mut body = Map::new();
    for (k, v) in &target.extra {
        if !matches!(k.as_str(), "model" | "models" | "messages" | "stream") {
            body.insert(k.clone(), v.clone());
        }
    }
    body.insert("model".into(), json!(target.model_id));
    body.insert("messages".into(), json!(req.messages));
    let limit_set = [TokenParam::MaxTokens, TokenParam::MaxCompletionTokens]
        .iter()
        .any(|p| body.contains_key(p.field()));
    if !limit_set {
        body.insert(limit.field().into(), json!(req.max_tokens));
    }
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

/// A client's own request (`chainwatch serve`): its body as it came, with
/// `model` (and `models`, for native fallback) set to this target, the
/// model's `extra` filling only what the client left out, `stream` as the
/// router wants it, and usage always asked for in a stream
/// (`stream_options.include_usage`; the relay strips it again when the
/// client did not ask). No output limit is added: the client's, if any,
/// stands in the field it chose.
fn passthrough_body(target: &Target, client: &Map<String, Value>, stream: bool) -> Value {
    let mut body = client.clone();
    for (k, v) in &target.extra {
        if !matches!(k.as_str(), "model" | "models" | "messages" | "stream") {
            body.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    body.insert("model".into(), json!(target.model_id));
    body.remove("models");
    body.insert("stream".into(), json!(stream));
    if stream {
        let options = body.entry("stream_options").or_insert_with(|| json!({}));
        match options.as_object_mut() {
            Some(options) => {
                options.insert("include_usage".into(), json!(true));
            }
            None => *options = json!({"include_usage": true}),
        }
    } else {
        body.remove("stream_options");
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
        let message = first.get(content_key).or_else(|| first.get("message"));
        let content = message.and_then(|m| m.get("content"));
        piece.text = content_text(content);
        if let Some(message) = message {
            reasoning(message, &mut piece);
            piece.tool_call = ["tool_calls", "function_call"].iter().any(|k| {
                message
                    .get(*k)
                    .is_some_and(|v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
            });
        }
        if let Some(Value::Array(parts)) = content {
            // Some servers put the thinking among the content parts.
            for part in parts.iter().filter(|p| is_reasoning_part(p)) {
                piece.thinking = true;
                piece.reasoning.push_str(&part_reasoning(part));
            }
        }
        piece.finish_reason = text(first.get("finish_reason"));
    }
    Ok(piece)
}

/// The reasoning of a message or delta, in any of the shapes seen:
/// OpenRouter's `reasoning` (with `reasoning_details` beside it, the same
/// text again), `reasoning_content` (DeepSeek, vLLM and most other
/// OpenAI-compatible servers), or `reasoning_details` alone (whose parts may
/// be text, a summary, or encrypted: thinking without text).
fn reasoning(message: &Value, piece: &mut Piece) {
    let said = ["reasoning", "reasoning_content"]
        .iter()
        .filter_map(|k| message.get(*k).and_then(Value::as_str))
        .find(|s| !s.is_empty());
    if let Some(said) = said {
        piece.reasoning = said.to_string();
        piece.thinking = true;
        return;
    }
    if let Some(Value::Array(details)) = message.get("reasoning_details") {
        for d in details {
            piece.thinking = true;
            let text = d
                .get("text")
                .or_else(|| d.get("summary"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            piece.reasoning.push_str(text);
        }
    }
}

/// A content part of type `text` (or untyped, or a bare string) is content;
/// `thinking` and `reasoning` parts are the model thinking aloud.
fn is_reasoning_part(part: &Value) -> bool {
    matches!(
        part.get("type").and_then(Value::as_str),
        Some("thinking" | "reasoning")
    )
}

fn part_reasoning(part: &Value) -> String {
    match part.get("thinking").or_else(|| part.get("text")) {
        Some(Value::String(s)) => s.clone(),
        // Mistral nests text parts inside its thinking part.
        Some(Value::Array(inner)) => content_text(Some(&Value::Array(inner.clone()))),
        _ => String::new(),
    }
}

/// `content` as a string, or as a list of `{type: "text", text}` parts.
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter(|p| !is_reasoning_part(p))
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
        reasoning_tokens: count(
            u.get("completion_tokens_details")
                .and_then(|d| d.get("reasoning_tokens")),
        ),
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
            passthrough: None,
        }
    }

    #[test]
    fn body_plain() {
        assert_eq!(
            body(&target(), &req(false), TokenParam::MaxTokens),
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
        let b = body(&t, &req(true), TokenParam::MaxTokens);
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
                cost: Some(0.5),
                reasoning_tokens: None,
            }
        );
        let u = parse_chunk(r#"{"usage":{"prompt_tokens":3}}"#).unwrap();
        assert_eq!(u.usage.prompt_tokens, Some(3));
        let e = parse_chunk(r#"{"error":{"code":502,"message":"cut"},"choices":[{"delta":{"content":""},"finish_reason":"error"}]}"#).unwrap();
        assert_eq!(e.error.unwrap().message, "cut");
        assert!(parse_chunk("{not json").is_err());
        assert!(parse_chunk(r#"{"id":"x"}"#).is_err());
    }
    #[test]
    fn body_names_the_limit_the_endpoint_takes() {
        let b = body(&target(), &req(false), TokenParam::MaxCompletionTokens);
        assert_eq!(b["max_completion_tokens"], 16);
        assert!(b.get("max_tokens").is_none(), "{b}");
        // The user's own limit in `extra` wins, and no second one is added.
        let mut t = target();
        t.extra.insert("max_tokens".into(), json!(300));
        let b = body(&t, &req(false), TokenParam::MaxCompletionTokens);
        assert_eq!(b["max_tokens"], 300);
        assert!(b.get("max_completion_tokens").is_none(), "{b}");
    }

    #[test]
    fn reasoning_in_every_shape() {
        // OpenRouter: `reasoning` and the same text again in `reasoning_details`.
        let c = parse_chunk(r#"{"choices":[{"delta":{"role":"assistant","content":"","reasoning":"Let me think","reasoning_details":[{"type":"reasoning.text","text":"Let me think","index":0}]}}]}"#).unwrap();
        assert_eq!(
            (c.text.as_str(), c.reasoning.as_str()),
            ("", "Let me think")
        );
        assert!(c.thinking && c.has_token());
        // DeepSeek, vLLM: `reasoning_content`, content null.
        let c =
            parse_chunk(r#"{"choices":[{"delta":{"content":null,"reasoning_content":"hmm"}}]}"#)
                .unwrap();
        assert_eq!((c.text.as_str(), c.reasoning.as_str()), ("", "hmm"));
        // `reasoning_details` alone: a summary, and an encrypted part with no text.
        let c = parse_chunk(r#"{"choices":[{"delta":{"reasoning_details":[{"type":"reasoning.summary","summary":"plan"},{"type":"reasoning.encrypted","data":"xyz"}]}}]}"#).unwrap();
        assert_eq!(c.reasoning, "plan");
        let c = parse_chunk(
            r#"{"choices":[{"delta":{"reasoning_details":[{"type":"reasoning.encrypted","data":"xyz"}]}}]}"#,
        )
        .unwrap();
        assert!(c.reasoning.is_empty() && c.thinking && c.has_token());
        // Null and empty reasoning fields are not a token.
        let c = parse_chunk(r#"{"choices":[{"delta":{"role":"assistant","content":"","reasoning":null,"reasoning_content":""}}]}"#).unwrap();
        assert!(!c.has_token(), "{c:?}");
        // A whole reply: content after its reasoning, and the tokens it cost.
        let p = parse_reply(&json!({
            "choices": [{"message": {"role": "assistant", "content": "pong", "reasoning": "The user wants pong."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 140, "completion_tokens_details": {"reasoning_tokens": 139}}
        }))
        .unwrap();
        assert_eq!(
            (p.text.as_str(), p.reasoning.as_str()),
            ("pong", "The user wants pong.")
        );
        assert_eq!(p.usage.reasoning_tokens, Some(139));
        assert_eq!(p.usage.completion_tokens, Some(140));
        assert_eq!(p.usage.to_usage().unwrap().reasoning_tokens, Some(139));
    }

    #[test]
    fn thinking_parts_among_the_content() {
        let p = parse_reply(&json!({"choices": [{"message": {"content": [
            {"type": "thinking", "thinking": [{"type": "text", "text": "mull"}]},
            {"type": "text", "text": "po"},
            "ng"
        ]}, "finish_reason": "stop"}]}))
        .unwrap();
        assert_eq!((p.text.as_str(), p.reasoning.as_str()), ("pong", "mull"));
        let c = parse_chunk(r#"{"choices":[{"delta":{"content":[{"type":"text","text":"po"}]}}]}"#)
            .unwrap();
        assert_eq!(c.text, "po");
    }

    #[test]
    fn a_budget_eaten_reply_parses_as_no_content() {
        let p = parse_reply(&json!({"choices": [{"message": {"role": "assistant", "content": null, "reasoning": "thinking and thinking"}, "finish_reason": "length", "native_finish_reason": "MAX_TOKENS"}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 16, "completion_tokens_details": {"reasoning_tokens": 16}}}))
        .unwrap();
        assert_eq!(p.text, "");
        assert_eq!(p.finish_reason.as_deref(), Some("length"));
        assert_eq!(p.usage.reasoning_tokens, Some(16));
    }
}
