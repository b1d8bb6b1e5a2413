//! A non-streamed answer: the winner's chunks folded into one
//! `chat.completion`, as the model would have sent it whole. The router
//! always streams (it hedges and fails over on the first token), so a
//! client that asked for one JSON body gets the stream assembled here.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

/// What the chunks said so far, per choice.
#[derive(Debug, Default)]
pub struct Aggregate {
    choices: BTreeMap<u64, Choice>,
    usage: Option<Value>,
    fingerprint: Option<Value>,
}

#[derive(Debug, Default)]
struct Choice {
    role: Option<String>,
    content: String,
    has_content: bool,
    reasoning: String,
    refusal: Option<String>,
    /// By the index each call's deltas carry.
    tool_calls: BTreeMap<u64, ToolCall>,
    finish_reason: Option<Value>,
    logprobs: Vec<Value>,
}

#[derive(Debug, Default)]
struct ToolCall {
    id: Option<Value>,
    kind: Option<Value>,
    name: String,
    arguments: String,
}

impl Aggregate {
    /// Folds one chunk in.
    pub fn add(&mut self, chunk: &Value) {
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(usage.clone());
        }
        if let Some(fp) = chunk.get("system_fingerprint").filter(|f| !f.is_null()) {
            self.fingerprint = Some(fp.clone());
        }
        let Some(choices) = chunk.get("choices").and_then(Value::as_array) else {
            return;
        };
        for c in choices {
            let index = c.get("index").and_then(Value::as_u64).unwrap_or(0);
            let choice = self.choices.entry(index).or_default();
            if let Some(reason) = c.get("finish_reason").filter(|r| !r.is_null()) {
                choice.finish_reason = Some(reason.clone());
            }
            if let Some(lp) = c
                .get("logprobs")
                .and_then(|l| l.get("content"))
                .and_then(Value::as_array)
            {
                choice.logprobs.extend(lp.iter().cloned());
            }
            let Some(delta) = c.get("delta") else {
                continue;
            };
            if let Some(role) = delta.get("role").and_then(Value::as_str) {
                choice.role = Some(role.to_string());
            }
            if let Some(text) = delta.get("content").and_then(Value::as_str) {
                choice.has_content = true;
                choice.content.push_str(text);
            }
            for key in ["reasoning", "reasoning_content"] {
                if let Some(text) = delta.get(key).and_then(Value::as_str) {
                    choice.reasoning.push_str(text);
                }
            }
            if let Some(text) = delta.get("refusal").and_then(Value::as_str) {
                choice
                    .refusal
                    .get_or_insert_with(String::new)
                    .push_str(text);
            }
            for (i, call) in delta
                .get("tool_calls")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                let at = call
                    .get("index")
                    .and_then(Value::as_u64)
                    .unwrap_or(i as u64);
                let entry = choice.tool_calls.entry(at).or_default();
                if let Some(id) = call.get("id").filter(|v| !v.is_null()) {
                    entry.id = Some(id.clone());
                }
                if let Some(kind) = call.get("type").filter(|v| !v.is_null()) {
                    entry.kind = Some(kind.clone());
                }
                if let Some(f) = call.get("function") {
                    if let Some(name) = f.get("name").and_then(Value::as_str) {
                        entry.name.push_str(name);
                    }
                    if let Some(args) = f.get("arguments").and_then(Value::as_str) {
                        entry.arguments.push_str(args);
                    }
                }
            }
        }
    }

    /// The `chat.completion` document. `usage` is always there (OpenAI's
    /// non-streamed replies always carry it); null when the model said none.
    pub fn finish(self, id: &str, created: i64, model: &str) -> Value {
        let choices: Vec<Value> = self
            .choices
            .into_iter()
            .map(|(index, c)| {
                let mut message = Map::new();
                message.insert(
                    "role".into(),
                    json!(c.role.unwrap_or_else(|| "assistant".into())),
                );
                let content = if c.has_content || c.tool_calls.is_empty() {
                    json!(c.content)
                } else {
                    Value::Null
                };
                message.insert("content".into(), content);
                if !c.reasoning.is_empty() {
                    message.insert("reasoning".into(), json!(c.reasoning));
                }
                if let Some(refusal) = c.refusal {
                    message.insert("refusal".into(), json!(refusal));
                }
                if !c.tool_calls.is_empty() {
                    let calls: Vec<Value> = c
                        .tool_calls
                        .into_values()
                        .map(|t| {
                            json!({
                                "id": t.id.unwrap_or(Value::Null),
                                "type": t.kind.unwrap_or_else(|| json!("function")),
                                "function": {"name": t.name, "arguments": t.arguments},
                            })
                        })
                        .collect();
                    message.insert("tool_calls".into(), Value::Array(calls));
                }
                let logprobs = if c.logprobs.is_empty() {
                    Value::Null
                } else {
                    json!({"content": c.logprobs})
                };
                json!({
                    "index": index,
                    "message": message,
                    "finish_reason": c.finish_reason.unwrap_or(Value::Null),
                    "logprobs": logprobs,
                })
            })
            .collect();
        let mut doc = json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": choices,
            "usage": self.usage.unwrap_or(Value::Null),
        });
        if let (Some(fp), Some(obj)) = (self.fingerprint, doc.as_object_mut()) {
            obj.insert("system_fingerprint".into(), fp);
        }
        doc
    }
}

/// A finished reply (`Aggregate::finish`'s document) as the chunks of a
/// stream that carries it in one piece: per choice, the whole message as
/// its delta with its finish reason; then the usage chunk when asked for.
pub fn as_chunks(doc: &Value, include_usage: bool) -> Vec<Value> {
    let chunk = |choices: Value| {
        json!({"id": doc["id"], "object": "chat.completion.chunk", "created": doc["created"],
            "model": doc["model"], "choices": choices})
    };
    let mut chunks: Vec<Value> = doc["choices"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|choice| {
            let mut delta = choice["message"].clone();
            // A delta's tool calls say which call they extend.
            if let Some(calls) = delta.get_mut("tool_calls").and_then(Value::as_array_mut) {
                for (i, call) in calls.iter_mut().enumerate() {
                    if let Some(call) = call.as_object_mut() {
                        call.insert("index".into(), json!(i));
                    }
                }
            }
            chunk(json!([{"index": choice["index"], "delta": delta,
                "logprobs": choice["logprobs"], "finish_reason": choice["finish_reason"]}]))
        })
        .collect();
    if include_usage && !doc["usage"].is_null() {
        let mut usage = chunk(json!([]));
        usage["usage"] = doc["usage"].clone();
        chunks.push(usage);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_usage_fold_into_one_reply() {
        let mut a = Aggregate::default();
        for c in [
            json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}),
            json!({"choices": [{"index": 0, "delta": {"reasoning": "think"}}]}),
            json!({"choices": [{"index": 0, "delta": {"content": "Hel"}}], "system_fingerprint": "fp"}),
            json!({"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]}),
            json!({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}),
        ] {
            a.add(&c);
        }
        let doc = a.finish("chatcmpl-1", 7, "gpt-4o");
        assert_eq!(doc["object"], "chat.completion");
        assert_eq!(doc["model"], "gpt-4o");
        assert_eq!(doc["choices"][0]["message"]["content"], "Hello");
        assert_eq!(doc["choices"][0]["message"]["reasoning"], "think");
        assert_eq!(doc["choices"][0]["finish_reason"], "stop");
        assert_eq!(doc["usage"]["total_tokens"], 5);
        assert_eq!(doc["system_fingerprint"], "fp");
    }

    #[test]
    fn tool_calls_are_stitched_by_index() {
        let mut a = Aggregate::default();
        for c in [
            json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": null, "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "\"Oslo\"}"}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
        ] {
            a.add(&c);
        }
        let doc = a.finish("id", 0, "m");
        let msg = &doc["choices"][0]["message"];
        assert_eq!(msg["content"], Value::Null);
        assert_eq!(msg["tool_calls"][0]["id"], "call_1");
        assert_eq!(msg["tool_calls"][0]["function"]["name"], "get_weather");
        assert_eq!(
            msg["tool_calls"][0]["function"]["arguments"],
            "{\"city\":\"Oslo\"}"
        );
        assert_eq!(doc["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(doc["usage"], Value::Null);
    }

    #[test]
    fn a_whole_reply_as_chunks_folds_back_into_itself() {
        let mut a = Aggregate::default();
        for c in [
            json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Let me look.", "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 1, "id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{\"tz\":1}"}}]}, "finish_reason": "tool_calls"}]}),
            json!({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 9, "total_tokens": 12}}),
        ] {
            a.add(&c);
        }
        let doc = a.finish("chatcmpl-1", 7, "m");
        let chunks = as_chunks(&doc, true);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0]["object"], "chat.completion.chunk");
        assert_eq!(
            chunks[0]["choices"][0]["delta"]["tool_calls"][1]["index"],
            1
        );
        assert_eq!(chunks[1]["choices"], json!([]));
        let mut again = Aggregate::default();
        for c in &chunks {
            again.add(c);
        }
        assert_eq!(again.finish("chatcmpl-1", 7, "m"), doc);
        // Usage only when asked for.
        assert_eq!(as_chunks(&doc, false).len(), 1);
    }
}
