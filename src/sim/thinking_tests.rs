//! The simulator's thinking models and other shapes seen in the wild, over
//! real HTTP on loopback: reasoning before content in both dialects,
//! budget-eating thinking, reasoning tokens in usage, content as typed
//! parts, `Retry-After` as an HTTP date, `max_tokens` refused, and
//! OpenRouter's `/models/{id}/endpoints`.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::*;

const PROBE: &str = "Reply with the single word: pong";

const THINKERS: &str = r#"
[server]
require_auth = false

[[model]]
id = "sim/pro"
thinking = { tokens = 300, min_tokens = 128, time = { p50 = "300ms" } }

[[model]]
id = "sim/r1"
thinking = { tokens = 40, time = { p50 = "100ms" }, field = "reasoning_content" }

[[model]]
id = "sim/o3"
thinking = { tokens = 60, time = { p50 = "100ms" }, field = "hidden" }
refuses_max_tokens = true

[[model]]
id = "sim/parts"
content_parts = true

[[model]]
id = "sim/chatty"
answer = "Sure thing: pong"

[[model]]
id = "sim/limited"
[[model.fault]]
class = "rate_limited"
retry_after = "20s"
retry_after_date = true

[[model]]
id = "sim/down"
[[model.fault]]
class = "server_error"
start = "60s"

[[model]]
id = "sim/pinned"
uptime = { last_5m = 42.5, status = -2 }
ttft = { p50 = "400ms", p95 = "1s" }
tokens_per_s = 50
"#;

async fn start() -> SimServer {
    let s = Scenario::parse(THINKERS, Path::new("thinkers.toml")).expect("parses");
    SimServer::start(s, SocketAddr::from(([127, 0, 0, 1], 0)), 5)
        .await
        .expect("starts")
}

async fn post(sim: &SimServer, path: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}{path}", sim.base_url()))
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .expect("sent")
}

fn chat(model: &str, stream: bool, extra: Value) -> Value {
    let mut body = json!({
        "model": model,
        "messages": [{"role": "user", "content": PROBE}],
        "stream": stream,
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    body
}

/// The `data:` payloads of an OpenAI-dialect stream, parsed (not `[DONE]`).
async fn chunks(r: reqwest::Response) -> Vec<Value> {
    let text = r.text().await.expect("body");
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).expect("json chunk"))
        .collect()
}

fn delta<'a>(c: &'a Value, key: &str) -> Option<&'a str> {
    c.pointer(&format!("/choices/0/delta/{key}"))
        .and_then(Value::as_str)
}

#[tokio::test]
async fn a_thinking_model_streams_reasoning_before_its_answer() {
    let sim = start().await;
    let body = chat(
        "sim/pro",
        true,
        json!({"max_tokens": 400, "reasoning": {"max_tokens": 128}}),
    );
    let cs = chunks(post(&sim, "/chat/completions", body).await).await;
    let first_content = cs
        .iter()
        .position(|c| delta(c, "content").is_some_and(|t| !t.is_empty()))
        .expect("some content");
    let reasoning: Vec<&str> = cs.iter().filter_map(|c| delta(c, "reasoning")).collect();
    assert!(!reasoning.is_empty(), "{cs:#?}");
    assert!(
        cs.iter()
            .take(first_content)
            .all(|c| delta(c, "content").is_none_or(str::is_empty)),
        "reasoning first"
    );
    assert_eq!(cs[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(cs[0]["choices"][0]["delta"]["reasoning_details"][0]["text"].is_string());
    assert_eq!(delta(&cs[first_content], "content"), Some("pong"));
    let usage = cs.last().expect("usage chunk")["usage"].clone();
    // 128 reasoning tokens (its minimum, as asked) plus the answer.
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 128);
    assert_eq!(usage["completion_tokens"], 129);
    sim.shutdown().await;
}

#[tokio::test]
async fn reasoning_eats_a_small_limit() {
    let sim = start().await;
    for stream in [false, true] {
        // The model cannot think less than 128 tokens: 16 are all reasoning.
        let body = chat("sim/pro", stream, json!({"max_tokens": 16}));
        let r = post(&sim, "/chat/completions", body).await;
        if stream {
            let cs = chunks(r).await;
            assert!(cs
                .iter()
                .all(|c| delta(c, "content").is_none_or(str::is_empty)));
            let finish = cs.iter().find_map(|c| {
                c.pointer("/choices/0/finish_reason")
                    .and_then(Value::as_str)
            });
            assert_eq!(finish, Some("length"));
            let usage = &cs.last().unwrap()["usage"];
            assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 16);
        } else {
            let v: Value = r.json().await.unwrap();
            let choice = &v["choices"][0];
            assert_eq!(choice["finish_reason"], "length");
            assert!(choice["message"]["content"].is_null(), "{v}");
            assert!(choice["message"]["reasoning"].is_string());
            assert_eq!(v["usage"]["completion_tokens"], 16);
        }
    }
    // Effort "low" is a quarter of its 300 tokens, but never under its 128.
    let body = chat(
        "sim/pro",
        false,
        json!({"max_tokens": 100, "reasoning": {"effort": "low"}}),
    );
    let v: Value = post(&sim, "/chat/completions", body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["usage"]["completion_tokens_details"]["reasoning_tokens"],
        100
    );
    let body = chat(
        "sim/pro",
        false,
        json!({"max_tokens": 400, "reasoning": {"effort": "low"}}),
    );
    let v: Value = post(&sim, "/chat/completions", body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["usage"]["completion_tokens_details"]["reasoning_tokens"],
        128
    );
    assert_eq!(v["choices"][0]["message"]["content"], "pong");
    sim.shutdown().await;
}

#[tokio::test]
async fn reasoning_content_and_hidden_reasoning() {
    let sim = start().await;
    let cs = chunks(
        post(
            &sim,
            "/chat/completions",
            chat("sim/r1", true, json!({"max_tokens": 100})),
        )
        .await,
    )
    .await;
    assert!(delta(&cs[0], "reasoning_content").is_some(), "{:#}", cs[0]);
    assert!(cs[0]["choices"][0]["delta"]["content"].is_null());
    assert!(cs[0]["choices"][0]["delta"].get("reasoning").is_none());
    // Hidden: billed, never shown; and this one takes max_completion_tokens.
    let v: Value = post(
        &sim,
        "/chat/completions",
        chat("sim/o3", false, json!({"max_completion_tokens": 100})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "pong");
    assert!(v["choices"][0]["message"]["reasoning"].is_null());
    assert_eq!(
        v["usage"]["completion_tokens_details"]["reasoning_tokens"],
        60
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn max_tokens_refused_as_openai_does() {
    let sim = start().await;
    let r = post(
        &sim,
        "/chat/completions",
        chat("sim/o3", false, json!({"max_tokens": 100})),
    )
    .await;
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "unsupported_parameter");
    assert_eq!(v["error"]["param"], "max_tokens");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("max_completion_tokens"));
    // The refusal is a request to the model like any other.
    assert_eq!(sim.stats("sim/o3").requests, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn anthropic_thinking_blocks() {
    let sim = start().await;
    let body = json!({"model": "sim/pro", "max_tokens": 400, "stream": true,
        "thinking": {"type": "enabled", "budget_tokens": 200},
        "messages": [{"role": "user", "content": PROBE}]});
    let text = post(&sim, "/messages", body).await.text().await.unwrap();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .filter(|n| *n != "ping")
        .collect();
    let firsts: Vec<&str> = names.iter().copied().take(3).collect();
    assert_eq!(
        firsts,
        [
            "message_start",
            "content_block_start",
            "content_block_delta"
        ]
    );
    assert!(text.contains(r#""content_block":{"type":"thinking","thinking":""}"#));
    assert!(text.contains(r#""type":"thinking_delta""#));
    assert!(text.contains(r#""type":"signature_delta""#));
    let events: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).expect("json event"))
        .collect();
    let text_block = events
        .iter()
        .find(|e| e["type"] == "content_block_start" && e["content_block"]["type"] == "text")
        .expect("a text block");
    assert_eq!(text_block["index"], 1, "after the thinking block");
    let thinking_at = text.find("thinking_delta").unwrap();
    let text_at = text.find("text_delta").unwrap();
    assert!(thinking_at < text_at);
    assert!(text.contains(r#""output_tokens":201"#), "{text}");
    // Whole: the thinking block, then the text block.
    let body = json!({"model": "sim/pro", "max_tokens": 400,
        "thinking": {"type": "enabled", "budget_tokens": 200},
        "messages": [{"role": "user", "content": PROBE}]});
    let v: Value = post(&sim, "/messages", body).await.json().await.unwrap();
    assert_eq!(v["content"][0]["type"], "thinking");
    assert!(v["content"][0]["signature"].is_string());
    assert_eq!(v["content"][1], json!({"type": "text", "text": "pong"}));
    // Too small a limit: only thinking, stopped at max_tokens.
    let body = json!({"model": "sim/pro", "max_tokens": 50,
        "messages": [{"role": "user", "content": PROBE}]});
    let v: Value = post(&sim, "/messages", body).await.json().await.unwrap();
    assert_eq!(v["stop_reason"], "max_tokens");
    assert_eq!(v["content"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["usage"]["output_tokens"], 50);
    sim.shutdown().await;
}

#[tokio::test]
async fn content_as_parts_and_a_chatty_answer() {
    let sim = start().await;
    let v: Value = post(
        &sim,
        "/chat/completions",
        chat("sim/parts", false, json!({"max_tokens": 16})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        json!([{"type": "text", "text": "pong"}])
    );
    let cs = chunks(
        post(
            &sim,
            "/chat/completions",
            chat("sim/parts", true, json!({})),
        )
        .await,
    )
    .await;
    assert_eq!(
        cs[0]["choices"][0]["delta"]["content"],
        json!([{"type": "text", "text": "pong"}])
    );
    let v: Value = post(
        &sim,
        "/chat/completions",
        chat("sim/chatty", false, json!({})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "Sure thing: pong");
    sim.shutdown().await;
}

#[tokio::test]
async fn retry_after_as_an_http_date() {
    let sim = start().await;
    let r = post(
        &sim,
        "/chat/completions",
        chat("sim/limited", false, json!({})),
    )
    .await;
    assert_eq!(r.status().as_u16(), 429);
    let value = r.headers()["retry-after"].to_str().unwrap().to_string();
    assert!(value.ends_with(" GMT"), "{value}");
    let wait = crate::api::classify::parse_retry_after_value(&value, chrono::Utc::now())
        .expect("an HTTP date the client reads");
    assert!(
        (Duration::from_secs(19)..=Duration::from_secs(22)).contains(&wait),
        "{wait:?}"
    );
    sim.shutdown().await;
}

async fn endpoints(sim: &SimServer, id: &str, key: bool) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(format!("{}/models/{id}/endpoints", sim.base_url()));
    if key {
        req = req.bearer_auth("sk-or-v1-test");
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn endpoints_report_free_uptime_per_provider() {
    let sim = start().await;
    let (status, v) = endpoints(&sim, "sim/down", true).await;
    assert_eq!(status, 200);
    let e = &v["data"]["endpoints"][0];
    assert_eq!(v["data"]["id"], "sim/down");
    assert_eq!(e["provider_name"], "Sim");
    assert_eq!(e["status"], 0);
    for span in ["uptime_last_5m", "uptime_last_30m", "uptime_last_1d"] {
        assert_eq!(e[span], 100.0, "{span} before the outage");
    }
    // Down from 60 s on: five minutes later the 5-minute figure says so,
    // the longer spans less so.
    sim.advance(Duration::from_secs(60 + 300));
    let (_, v) = endpoints(&sim, "sim/down", true).await;
    let e = &v["data"]["endpoints"][0];
    assert_eq!(e["uptime_last_5m"], 0.0);
    let half_hour = e["uptime_last_30m"].as_f64().unwrap();
    assert!((75.0..95.0).contains(&half_hour), "{half_hour}");
    // Pinned figures, latency from the scenario, and none without a key.
    let (_, v) = endpoints(&sim, "sim/pinned", true).await;
    let e = &v["data"]["endpoints"][0];
    assert_eq!(
        (e["uptime_last_5m"].clone(), e["status"].clone()),
        (json!(42.5), json!(-2))
    );
    assert_eq!(e["latency_last_30m"]["p50"], 400);
    assert_eq!(e["throughput_last_30m"]["p50"], 50.0);
    let (_, v) = endpoints(&sim, "sim/pinned", false).await;
    assert!(v["data"]["endpoints"][0]["latency_last_30m"].is_null());
    let (status, _) = endpoints(&sim, "sim/nope", true).await;
    assert_eq!(status, 404);
    // `/models` says which models think.
    let models: Value = reqwest::get(format!("{}/models", sim.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let params = |id: &str| {
        models["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .map(|m| m["supported_parameters"].clone())
            .unwrap()
    };
    assert!(params("sim/pro")
        .as_array()
        .unwrap()
        .contains(&json!("reasoning")));
    assert!(!params("sim/parts")
        .as_array()
        .unwrap()
        .contains(&json!("reasoning")));
    sim.shutdown().await;
}

#[test]
fn thinking_needs_sense() {
    let bad = [
        (
            "thinking = { tokens = 10, min_tokens = 20 }",
            "min_tokens (20) is above",
        ),
        (
            "thinking = { field = \"thoughts\" }",
            "unknown thinking.field",
        ),
        ("uptime = { last_5m = 140.0 }", "between 0 and 100"),
    ];
    for (line, want) in bad {
        let text = format!("[[model]]\nid = \"a/b\"\n{line}\n");
        let err = Scenario::parse(&text, Path::new("t.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{line}: {err}");
        assert!(
            err.starts_with("t.toml:1:1") || err.starts_with("t.toml:"),
            "{err}"
        );
    }
}
