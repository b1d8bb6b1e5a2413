//! Anthropic's native Messages dialect: request bodies, replies and the
//! named stream events.

use serde_json::{json, Map, Value};

use super::classify::reply_error;
use super::dialect::Wire;
use super::piece::{count, text, Piece, UsageParts};
use super::request::{ChatRequest, Target, TokenParam};

/// Anthropic's Messages dialect: `POST /messages`, the key in `x-api-key`,
/// a pinned `anthropic-version`, named stream events.
pub struct Anthropic;

impl Wire for Anthropic {
    fn path(&self) -> &'static str {
        "/messages"
    }
    fn auth_header(&self, key: &str) -> (&'static str, String) {
        ("x-api-key", key.to_string())
    }
    fn fixed_headers(&self) -> &'static [(&'static str, &'static str)] {
        &[("anthropic-version", "2023-06-01")]
    }
    /// Anthropic has one limit field, `max_tokens`, whatever `limit` says.
    fn body(
        &self,
        target: &Target,
        req: &ChatRequest,
        _limit: TokenParam,
    ) -> Result<Value, String> {
        match &req.passthrough {
            Some(through) => {
                let translated = through.anthropic.as_ref().map_err(|why| {
                    format!("{why}: {} speaks Anthropic's Messages API", target.model_id)
                })?;
                Ok(passthrough_body(target, translated, req))
            }
            None => Ok(body(target, req)),
        }
    }
    fn parse_reply(&self, json: &Value) -> Result<Piece, String> {
        parse_reply(json)
    }
    fn parse_event(&self, event: Option<&str>, data: &str) -> Result<Piece, String> {
        parse_event(event, data)
    }
}

/// `{model, max_tokens, messages, (system), stream, ..extra}`. System
/// messages go top-level (joined by a blank line), as the API requires.
/// There is no server-side fallback list in this dialect, so
/// `fallback_models` is not sent.
fn body(target: &Target, req: &ChatRequest) -> Value {
    let mut body = Map::new();
    for (k, v) in &target.extra {
        if !matches!(k.as_str(), "model" | "messages" | "system" | "stream") {
            body.insert(k.clone(), v.clone());
        }
    }
    let system: Vec<&str> = req
        .messages
        .iter()
        .filter(|m| m.role == "system")
        .map(|m| m.content.as_str())
        .collect();
    let messages: Vec<_> = req.messages.iter().filter(|m| m.role != "system").collect();
    body.insert("model".into(), json!(target.model_id));
    body.entry("max_tokens").or_insert(json!(req.max_tokens));
    body.insert("messages".into(), json!(messages));
    if !system.is_empty() {
        body.insert("system".into(), json!(system.join("\n\n")));
    }
    body.insert("stream".into(), json!(req.stream));
    Value::Object(body)
}

/// A client's request already translated to the Messages API (by `serve`):
/// `model` and `stream` set here, the model's `extra` filling what the
/// translation left out, `max_tokens` (which Anthropic requires) from the
/// request when the client gave none.
fn passthrough_body(target: &Target, translated: &Map<String, Value>, req: &ChatRequest) -> Value {
    let mut body = translated.clone();
    for (k, v) in &target.extra {
        if !matches!(k.as_str(), "model" | "messages" | "system" | "stream") {
            body.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    body.insert("model".into(), json!(target.model_id));
    body.entry("max_tokens").or_insert(json!(req.max_tokens));
    body.insert("stream".into(), json!(req.stream));
    Value::Object(body)
}

/// A whole (non-streamed) reply.
fn parse_reply(json: &Value) -> Result<Piece, String> {
    let obj = json
        .as_object()
        .ok_or_else(|| format!("the reply is JSON but not an object: {json}"))?;
    let mut piece = Piece {
        model: text(obj.get("model")),
        usage: obj.get("usage").map(usage).unwrap_or_default(),
        error: reply_error(json),
        finish_reason: text(obj.get("stop_reason")),
        ..Piece::default()
    };
    match obj.get("content") {
        Some(Value::Array(blocks)) => {
            piece.text = blocks.iter().filter_map(block_text).collect();
            for block in blocks {
                block_thinking(block, &mut piece);
            }
        }
        Some(Value::String(s)) => piece.text = s.clone(),
        _ if piece.error.is_some() => {}
        _ => return Err(format!("the reply has no `content`: {json}")),
    }
    Ok(piece)
}

/// One stream event. The kind comes from the payload's `type`, falling back
/// to the SSE `event:` name.
fn parse_event(event: Option<&str>, data: &str) -> Result<Piece, String> {
    let json: Value = serde_json::from_str(data)
        .map_err(|e| format!("a stream event is not JSON ({e}): {data}"))?;
    let kind = json
        .get("type")
        .and_then(Value::as_str)
        .or(event)
        .unwrap_or_default();
    let mut piece = Piece {
        error: reply_error(&json),
        ..Piece::default()
    };
    match kind {
        "message_start" => {
            let message = json.get("message");
            piece.model = text(message.and_then(|m| m.get("model")));
            piece.usage = message
                .and_then(|m| m.get("usage"))
                .map(usage)
                .unwrap_or_default();
        }
        "content_block_start" => {
            if let Some(block) = json.get("content_block") {
                piece.text = block_text(block).unwrap_or_default();
                block_thinking(block, &mut piece);
            }
        }
        "content_block_delta" => {
            let delta = json.get("delta");
            let field = |k: &str| text(delta.and_then(|d| d.get(k))).unwrap_or_default();
            match delta.and_then(|d| d.get("type")).and_then(Value::as_str) {
                Some("thinking_delta") => {
                    piece.reasoning = field("thinking");
                    piece.thinking = true;
                }
                // The thinking block's signature: still the model at work.
                Some("signature_delta") => piece.thinking = true,
                // Tool-call arguments are not content.
                Some("input_json_delta") => {}
                _ => piece.text = field("text"),
            }
        }
        "message_delta" => {
            piece.finish_reason = text(json.get("delta").and_then(|d| d.get("stop_reason")));
            piece.usage = json.get("usage").map(usage).unwrap_or_default();
        }
        "message_stop" => piece.done = true,
        "error" if piece.error.is_none() => {
            return Err(format!("an `error` event without an error object: {data}"));
        }
        // ping, content_block_stop, and event kinds added after this was written.
        _ => {}
    }
    Ok(piece)
}

fn block_text(block: &Value) -> Option<String> {
    match block.get("type").and_then(Value::as_str) {
        Some("text") | None => text(block.get("text")),
        _ => None,
    }
}

/// A `thinking` block carries its text; a `redacted_thinking` block only
/// says that the model thought.
fn block_thinking(block: &Value, piece: &mut Piece) {
    match block.get("type").and_then(Value::as_str) {
        Some("thinking") => {
            piece.thinking = true;
            piece
                .reasoning
                .push_str(&text(block.get("thinking")).unwrap_or_default());
        }
        Some("redacted_thinking") => piece.thinking = true,
        _ => {}
    }
}

fn usage(u: &Value) -> UsageParts {
    UsageParts {
        prompt_tokens: count(u.get("input_tokens")),
        completion_tokens: count(u.get("output_tokens")),
        cost: None,
        // Thinking is inside `output_tokens`; Anthropic does not split it out.
        reasoning_tokens: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::request::Message;
    use crate::api::Dialect;

    #[test]
    fn body_moves_system_top_level() {
        let mut extra = Map::new();
        extra.insert("temperature".into(), json!(0));
        extra.insert("system".into(), json!("hijack"));
        let t = Target {
            base_url: "http://x/v1".into(),
            dialect: Dialect::Anthropic,
            api_key: None,
            model_id: "claude-sonnet-4-20250514".into(),
            extra,
            fallback_models: vec!["ignored".into()],
        };
        let r = ChatRequest {
            messages: vec![
                Message::system("be brief"),
                Message::system("be kind"),
                Message::user("hi"),
            ],
            max_tokens: 16,
            stream: true,
            expect: None,
            passthrough: None,
        };
        assert_eq!(
            body(&t, &r),
            json!({"model": "claude-sonnet-4-20250514", "max_tokens": 16, "system": "be brief\n\nbe kind",
                   "messages": [{"role": "user", "content": "hi"}], "stream": true, "temperature": 0})
        );
    }

    #[test]
    fn reply() {
        let p = parse_reply(
            &json!({"id": "msg_1", "type": "message", "model": "claude-sonnet-4-20250514",
            "content": [{"type": "thinking", "thinking": "hm"}, {"type": "text", "text": "pong"}],
            "stop_reason": "end_turn", "usage": {"input_tokens": 12, "output_tokens": 3}}),
        )
        .unwrap();
        assert_eq!(p.text, "pong");
        assert_eq!(p.reasoning, "hm");
        assert!(p.thinking);
        assert_eq!(p.finish_reason.as_deref(), Some("end_turn"));
        assert_eq!(p.usage.prompt_tokens, Some(12));
        assert_eq!(p.usage.completion_tokens, Some(3));
        assert!(parse_reply(&json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))
            .unwrap()
            .error
            .is_some());
        assert!(parse_reply(&json!({"type": "message"})).is_err());
    }

    #[test]
    fn events() {
        let start = parse_event(Some("message_start"), r#"{"type":"message_start","message":{"model":"claude-x","usage":{"input_tokens":5,"output_tokens":1}}}"#).unwrap();
        assert_eq!(start.model.as_deref(), Some("claude-x"));
        assert_eq!(start.usage.prompt_tokens, Some(5));
        let d = parse_event(
            None,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"po"}}"#,
        )
        .unwrap();
        assert_eq!(d.text, "po");
        let t = parse_event(None, r#"{"type":"content_block_delta","delta":{"type":"thinking_delta","thinking":"x","text":"no"}}"#).unwrap();
        assert_eq!((t.text.as_str(), t.reasoning.as_str()), ("", "x"));
        assert!(t.has_token());
        let md = parse_event(None, r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":7}}"#).unwrap();
        assert_eq!(md.finish_reason.as_deref(), Some("end_turn"));
        assert_eq!(md.usage.completion_tokens, Some(7));
        assert!(parse_event(Some("message_stop"), "{}").unwrap().done);
        assert_eq!(
            parse_event(Some("ping"), r#"{"type":"ping"}"#).unwrap(),
            Piece::default()
        );
        let e = parse_event(
            Some("error"),
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        )
        .unwrap();
        assert_eq!(e.error.unwrap().message, "Overloaded");
        assert!(parse_event(Some("error"), r#"{"type":"error"}"#).is_err());
        assert!(parse_event(None, "nope").is_err());
    }

    #[test]
    fn a_thinking_stream() {
        let block = parse_event(
            Some("content_block_start"),
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
        )
        .unwrap();
        assert!(block.thinking && block.text.is_empty());
        let sig = parse_event(
            None,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQB"}}"#,
        )
        .unwrap();
        assert!(sig.thinking && sig.reasoning.is_empty() && sig.has_token());
        let text = parse_event(
            None,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
        )
        .unwrap();
        assert!(!text.has_token());
        let redacted = parse_event(
            None,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"redacted_thinking","data":"xx"}}"#,
        )
        .unwrap();
        assert!(redacted.thinking);
        let tool = parse_event(
            None,
            r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"a\""}}"#,
        )
        .unwrap();
        assert!(!tool.has_token());
    }

    #[test]
    fn a_reply_that_only_thought() {
        let p = parse_reply(&json!({"type": "message", "content": [{"type": "thinking", "thinking": "so", "signature": "x"}],
            "stop_reason": "max_tokens", "usage": {"input_tokens": 10, "output_tokens": 16}}))
        .unwrap();
        assert_eq!((p.text.as_str(), p.reasoning.as_str()), ("", "so"));
        assert_eq!(p.finish_reason.as_deref(), Some("max_tokens"));
    }
}
