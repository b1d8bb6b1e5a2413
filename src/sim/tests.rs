//! Real HTTP against a real `SimServer` on 127.0.0.1:0.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use super::scenario::FaultKind;
use super::*;
use crate::api::FailureClass;

const PROBE: &str = "Reply with the single word: pong";

fn asset(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/scenarios")
        .join(name)
}

fn local() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn start_file(name: &str) -> SimServer {
    let s = Scenario::load(&asset(name)).expect("shipped scenario loads");
    SimServer::start(s, local(), 42)
        .await
        .expect("server starts")
}

async fn start_text(text: &str, seed: u64) -> SimServer {
    let s = Scenario::parse(text, Path::new("inline.toml")).expect("inline scenario parses");
    SimServer::start(s, local(), seed)
        .await
        .expect("server starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

fn req(model: &str, prompt: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "messages": [{ "role": "user", "content": prompt }],
        "stream": stream,
        "max_tokens": 64,
    })
}

async fn post(sim: &SimServer, body: &Value) -> reqwest::Response {
    client()
        .post(format!("{}/chat/completions", sim.base_url()))
        .bearer_auth("sk-or-v1-test")
        .json(body)
        .send()
        .await
        .expect("request sent")
}

async fn post_json(sim: &SimServer, body: &Value) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = post(sim, body).await;
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.expect("body");
    let v = serde_json::from_str(text.trim()).unwrap_or(Value::String(text));
    (status, headers, v)
}

/// The SSE events of a whole stream: comments as `: ...`, data as parsed
/// JSON (or the raw text when it is not JSON).
async fn sse_events(r: reqwest::Response) -> Vec<Result<Value, String>> {
    let text = r.text().await.expect("stream body");
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| match e.strip_prefix("data: ") {
            Some(d) => serde_json::from_str(d).map_err(|_| d.to_string()),
            None => Err(e.to_string()),
        })
        .collect()
}

fn content(v: &Value) -> &str {
    v.pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .unwrap_or("<none>")
}

const FAST: &str = r#"
[server]
require_auth = false
processing_every = "10ms"

[[model]]
id = "sim/slowish"
ttft = { p50 = "40ms" }
fingerprint = "fp_one"
price = { prompt = "0.000003", completion = "0.000015" }
[[model.change]]
at = "30s"
served_model = "sim/slowish-v2"
fingerprint = "fp_two"

[[model]]
id = "sim/mixed"
[[model.fault]]
class = "server_error"
p = 0.3
[[model.fault]]
class = "empty"
p = 0.2
[[model.fault]]
class = "wrong_answer"
p = 0.2

[[model]]
id = "sim/drip"
[[model.fault]]
class = "timeout"
variant = "drip"
drip = "20ms"

[[model]]
id = "sim/keepalive"
keepalive = true
ttft = { p50 = "35ms" }
"#;

// ------------------------------------------------------------ scenarios

#[test]
fn demo_has_the_articles_models() {
    let demo = Scenario::demo();
    let names: Vec<&str> = demo.models().iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "claude-sonnet",
            "gpt-4o",
            "gemini-pro",
            "deepseek",
            "gemini-flash",
            "gpt-4o-mini",
            "gemini-flash-lite",
            "claude-direct"
        ]
    );
    // Claude "directly" is reached in Anthropic's dialect, beside the rest.
    let direct = &demo.models()[7];
    assert_eq!(direct.dialect, crate::api::Dialect::Anthropic);
    assert_eq!(demo.models()[0].dialect, crate::api::Dialect::Openai);
    let sonnet = &demo.models()[0];
    assert_eq!(sonnet.id, "anthropic/claude-sonnet-4");
    assert_eq!(sonnet.tier.as_deref(), Some("premium"));
    assert_eq!(sonnet.provider, "Anthropic");
    assert!((sonnet.price.prompt - 0.000003).abs() < 1e-12);
}

#[test]
fn every_shipped_scenario_loads_and_class_files_fail_as_named() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenarios");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("scenario dir") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(!s.models().is_empty(), "{}", path.display());
        seen += 1;
    }
    assert!(seen >= 16, "only {seen} scenario files");
    for class in FailureClass::ALL {
        let s = Scenario::load(&asset(&format!("{class}.toml"))).expect("one file per class");
        let id = format!("sim/{class}");
        let m = s
            .models()
            .iter()
            .find(|m| m.id == id)
            .unwrap_or_else(|| panic!("{class}.toml has no model {id}"));
        assert_eq!(m.faults[0].kind, FaultKind::Class(class), "{id}");
        assert_eq!(m.faults[0].p, 1.0);
        assert!(s.models().iter().any(|m| m.id == "sim/healthy"));
    }
    let huge = Scenario::load(&asset("huge.toml")).expect("huge.toml");
    assert_eq!(huge.models()[0].faults[0].kind, FaultKind::Huge);
    assert_eq!(huge.models()[0].faults[0].size, 64 << 20);
}

#[test]
fn bad_scenarios_name_file_line_and_column() {
    let cases = [
        (
            "[[model]]\nid = \"a/b\"\n[[model.fault]]\nclass = \"explode\"\n",
            4,
            "unknown fault class `explode`",
        ),
        (
            "[[model]]\nid = \"a/b\"\n[[model.fault]]\nclass = \"empty\"\np = 1.5\n",
            3,
            "between 0 and 1",
        ),
        (
            "[[model]]\nid = \"a/b\"\nttft = { p50 = \"soon\" }\n",
            3,
            "not a duration",
        ),
        ("[[model]]\nid = \"a/b\"\ncolour = \"red\"\n", 3, "colour"),
        (
            "[[model]]\nid = \"a/b\"\n[[model]]\nid = \"a/b\"\n",
            3,
            "unique",
        ),
        (
            "[[model]]\nid = \"a/b\"\n[[model.fault]]\nclass = \"auth\"\nstatus = 500\n",
            3,
            "does not fit",
        ),
        ("[[model]\nid = 1\n", 1, ""),
    ];
    for (text, line, words) in cases {
        let err = Scenario::parse(text, Path::new("bad.toml")).expect_err(text);
        let msg = err.to_string();
        assert!(msg.starts_with(&format!("bad.toml:{line}:")), "{msg}");
        assert!(msg.contains(words), "{msg}");
        match err {
            ScenarioError::Invalid {
                line: l, column, ..
            } => {
                assert_eq!(l, line);
                assert!(column >= 1);
            }
            other => panic!("{other}"),
        }
    }
    let missing = Scenario::load(Path::new("/nonexistent/x.toml")).expect_err("missing file");
    assert!(missing.to_string().contains("/nonexistent/x.toml"));
}

#[test]
fn windows_repeat() {
    let w = scenario::Window {
        start: Duration::from_secs(10),
        end: Some(Duration::from_secs(20)),
        every: Some(Duration::from_secs(60)),
    };
    let at = |s| w.contains(Duration::from_secs(s));
    assert!(!at(5) && at(10) && at(19) && !at(20) && !at(69) && at(70) && at(79) && !at(80));
}

#[test]
fn many_makes_fast_healthy_models() {
    let s = Scenario::many(1000);
    assert_eq!(s.models().len(), 1000);
    assert_eq!(s.models()[0].id, "sim/model-0001");
    assert_eq!(s.models()[999].name, "model-1000");
    assert!(s.models().iter().all(|m| m.faults.is_empty()));
}

// ------------------------------------------------------------ wire shape

#[tokio::test]
async fn json_reply_has_openrouter_shape() {
    let sim = start_text(FAST, 1).await;
    let (status, headers, v) = post_json(&sim, &req("sim/slowish", PROBE, false)).await;
    assert_eq!(status, 200);
    assert_eq!(content(&v), "pong");
    let id = v["id"].as_str().expect("id");
    assert!(id.starts_with("gen-"), "{id}");
    assert_eq!(headers["x-generation-id"], id);
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "sim/slowish");
    assert_eq!(v["provider"], "Sim");
    assert_eq!(v["system_fingerprint"], "fp_one");
    assert!(v["created"].as_i64().is_some());
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let u = &v["usage"];
    assert_eq!(u["completion_tokens"], 1);
    assert_eq!(
        u["total_tokens"].as_u64(),
        Some(u["prompt_tokens"].as_u64().unwrap_or(0) + 1)
    );
    assert!(u["cost"].as_f64().unwrap_or(0.0) > 0.0);
    assert_eq!(sim.stats("sim/slowish").requests, 1);
    assert!(sim.stats("sim/slowish").bytes_sent > 100);
    sim.shutdown().await;
}

#[tokio::test]
async fn sse_has_comments_chunks_usage_and_done() {
    let sim = start_text(FAST, 1).await;
    let r = post(&sim, &req("sim/slowish", "Tell me something", true)).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .starts_with("text/event-stream"));
    let events = sse_events(r).await;
    assert_eq!(events[0], Err(": OPENROUTER PROCESSING".to_string()));
    assert_eq!(events.last(), Some(&Err("[DONE]".to_string())));
    let data: Vec<&Value> = events.iter().filter_map(|e| e.as_ref().ok()).collect();
    let first_data = events.iter().position(|e| e.is_ok()).expect("a data event");
    assert!(events[..first_data]
        .iter()
        .all(|e| e.as_ref().is_err_and(|c| c.starts_with(':'))));
    let usage_chunk = data.last().expect("usage chunk");
    assert_eq!(usage_chunk["choices"], json!([]));
    assert!(
        usage_chunk["usage"]["completion_tokens"]
            .as_u64()
            .unwrap_or(0)
            > 5
    );
    assert!(usage_chunk["usage"]["cost"].as_f64().is_some());
    let finish = data[data.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let text: String = data
        .iter()
        .filter_map(|c| {
            c.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .collect();
    assert!(text.len() > 40 && !text.contains("pong"), "{text}");
    for c in &data {
        assert!(c["id"].as_str().is_some_and(|i| i.starts_with("gen-")));
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["model"], "sim/slowish");
        assert_eq!(c["provider"], "Sim");
        assert!(c["created"].is_i64());
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn max_tokens_cuts_with_length() {
    let sim = start_text(FAST, 1).await;
    let mut body = req("sim/keepalive", "Tell me a story", false);
    body["max_tokens"] = json!(3);
    let (status, _, v) = post_json(&sim, &body).await;
    assert_eq!(status, 200);
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["completion_tokens"], 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn keepalive_whitespace_precedes_json() {
    let sim = start_text(FAST, 1).await;
    let r = post(&sim, &req("sim/keepalive", PROBE, false)).await;
    let text = r.text().await.expect("body");
    assert!(text.starts_with('\n'), "{text:?}");
    let v: Value = serde_json::from_str(text.trim()).expect("json after whitespace");
    assert_eq!(content(&v), "pong");
    sim.shutdown().await;
}

#[tokio::test]
async fn models_and_key_endpoints() {
    let sim = start_file("demo.toml").await;
    let c = client();
    let models: Value = c
        .get(format!("{}/models", sim.base_url()))
        .send()
        .await
        .expect("models")
        .json()
        .await
        .expect("json");
    let data = models["data"].as_array().expect("data");
    assert_eq!(data.len(), 8);
    assert_eq!(data[0]["id"], "anthropic/claude-sonnet-4");
    assert_eq!(data[0]["pricing"]["prompt"], "0.000003");
    assert_eq!(data[0]["pricing"]["completion"], "0.000015");
    assert_eq!(data[0]["pricing"]["request"], "0");
    assert_eq!(data[0]["context_length"], 200000);
    let key: Value = c
        .get(format!("{}/key", sim.base_url()))
        .send()
        .await
        .expect("key")
        .json()
        .await
        .expect("json");
    assert_eq!(key["data"]["limit"], 10.0);
    assert!((key["data"]["limit_remaining"].as_f64().unwrap_or(0.0) - 9.58).abs() < 1e-9);
    assert_eq!(key["data"]["is_free_tier"], false);
    sim.shutdown().await;
}

// ------------------------------------------------------------ behaviour

#[tokio::test]
async fn same_seed_same_replies() {
    async fn run(seed: u64) -> Vec<(u16, String)> {
        let sim = start_text(FAST, seed).await;
        let mut out = Vec::new();
        for _ in 0..30 {
            let (status, headers, v) =
                post_json(&sim, &req("sim/mixed", "Say something", false)).await;
            let gen = headers
                .get("x-generation-id")
                .and_then(|h| h.to_str().ok())
                .and_then(|g| g.rsplit('-').next())
                .unwrap_or("")
                .to_string();
            out.push((status, format!("{gen} {}", content(&v))));
        }
        sim.shutdown().await;
        out
    }
    let a = run(7).await;
    let b = run(7).await;
    assert_eq!(a, b);
    let statuses: Vec<u16> = a.iter().map(|x| x.0).collect();
    assert!(
        statuses.contains(&502) && statuses.contains(&200),
        "{statuses:?}"
    );
    assert!(
        a.iter().any(|x| x.1.ends_with(' ')),
        "an empty reply in {a:?}"
    );
    assert_ne!(a, run(8).await);
}

#[tokio::test]
async fn advance_moves_into_and_out_of_an_outage() {
    let sim = start_file("outage.toml").await;
    let probe = req("sim/outage", PROBE, false);
    assert_eq!(post_json(&sim, &probe).await.0, 200);
    sim.advance(Duration::from_secs(60));
    let (status, _, v) = post_json(&sim, &probe).await;
    assert_eq!(status, 502);
    assert_eq!(v["error"]["code"], 502);
    assert!(v["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    sim.advance(Duration::from_secs(60));
    assert!(sim.elapsed() >= Duration::from_secs(120));
    assert_eq!(post_json(&sim, &probe).await.0, 200);
    assert_eq!(sim.stats("sim/outage").requests, 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn served_model_drifts_at_time_t() {
    let sim = start_text(FAST, 1).await;
    let probe = req("sim/slowish", PROBE, false);
    let before = post_json(&sim, &probe).await.2;
    assert_eq!(
        (
            before["model"].as_str(),
            before["system_fingerprint"].as_str()
        ),
        (Some("sim/slowish"), Some("fp_one"))
    );
    sim.advance(Duration::from_secs(30));
    let after = post_json(&sim, &probe).await.2;
    assert_eq!(
        (
            after["model"].as_str(),
            after["system_fingerprint"].as_str()
        ),
        (Some("sim/slowish-v2"), Some("fp_two"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn models_array_falls_back_to_the_first_that_answers() {
    let sim = start_file("server_error.toml").await;
    let mut body = req("sim/server_error", PROBE, false);
    body["models"] = json!([
        "sim/unknown",
        "sim/server_error-503",
        "sim/healthy",
        "sim/server_error-529"
    ]);
    let (status, _, v) = post_json(&sim, &body).await;
    assert_eq!(status, 200);
    assert_eq!(v["model"], "sim/healthy");
    assert_eq!(content(&v), "pong");
    assert_eq!(sim.stats("sim/server_error").requests, 1);
    assert_eq!(sim.stats("sim/server_error-503").requests, 1);
    assert_eq!(sim.stats("sim/healthy").requests, 1);
    assert_eq!(sim.stats("sim/server_error-529").requests, 0);
    // When every one fails, the last error is the answer.
    let mut body = req("sim/server_error", PROBE, false);
    body["models"] = json!(["sim/server_error-529"]);
    assert_eq!(post_json(&sim, &body).await.0, 529);
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_model_is_404() {
    let sim = start_file("outage.toml").await;
    let (status, _, v) = post_json(&sim, &req("nobody/nothing", PROBE, false)).await;
    assert_eq!(status, 404);
    assert_eq!(v["error"]["code"], 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_limit_has_retry_after_and_ratelimit_headers() {
    let sim = start_file("rate_limited.toml").await;
    let (status, h, v) = post_json(&sim, &req("sim/rate_limited", PROBE, false)).await;
    assert_eq!(status, 429);
    assert_eq!(h["retry-after"], "7");
    assert_eq!(h["x-ratelimit-limit"], "20");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    assert!(h["x-ratelimit-reset"]
        .to_str()
        .is_ok_and(|r| r.parse::<i64>().is_ok()));
    assert_eq!(v["error"]["code"], 429);
    sim.shutdown().await;
}

#[tokio::test]
async fn dropped_stream_counts_as_cancelled() {
    let sim = start_text(FAST, 1).await;
    let mut r = post(&sim, &req("sim/drip", PROBE, true)).await;
    assert_eq!(r.status(), 200);
    let mut got = String::new();
    while !got.contains("\"content\"") {
        let chunk = r.chunk().await.expect("chunk").expect("more body");
        got.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(r);
    // The server notices at its next write, a drip (20 ms) later.
    assert_eq!(wait_cancelled(&sim, "sim/drip").await, 1);
    assert_eq!(sim.stats("sim/drip").requests, 1);
    sim.shutdown().await;
}

/// Waits (bounded, 2 s) until the server has seen a client hang up.
async fn wait_cancelled(sim: &SimServer, id: &str) -> u64 {
    for _ in 0..200 {
        let n = sim.stats(id).cancelled;
        if n > 0 {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    0
}

// ------------------------------------------------------------ faults

#[tokio::test]
async fn connect_fault_drops_the_connection_without_a_response() {
    let sim = start_file("connect.toml").await;
    for id in ["sim/connect", "sim/connect-close"] {
        let err = client()
            .post(format!("{}/chat/completions", sim.base_url()))
            .json(&req(id, PROBE, false))
            .send()
            .await
            .expect_err("no response");
        assert!(err.status().is_none() && !err.is_timeout(), "{id}: {err:?}");
    }
    assert_eq!(
        post_json(&sim, &req("sim/healthy", PROBE, false)).await.0,
        200
    );
    assert_eq!(sim.stats("sim/connect").cancelled, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn silent_timeout_sends_nothing_and_shutdown_ends_it() {
    let sim = start_file("timeout.toml").await;
    let err = client()
        .post(format!("{}/chat/completions", sim.base_url()))
        .timeout(Duration::from_millis(300))
        .json(&req("sim/timeout", PROBE, false))
        .send()
        .await
        .expect_err("hangs");
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(
        wait_cancelled(&sim, "sim/timeout").await,
        1,
        "hyper drops a hung handler when the client leaves"
    );
    // Processing comments arrive, but no token ever does.
    let mut r = post(&sim, &req("sim/timeout-processing", PROBE, true)).await;
    let first = r.chunk().await.expect("chunk").expect("bytes");
    assert!(first.starts_with(b": OPENROUTER PROCESSING"));
    drop(r);
    sim.shutdown().await;
}

#[tokio::test]
async fn auth_errors_echo_the_key() {
    let sim = start_file("auth.toml").await;
    let url = format!("{}/chat/completions", sim.base_url());
    let send = |key: Option<&'static str>, model: &'static str| {
        let mut rb = client().post(&url).json(&req(model, PROBE, false));
        if let Some(k) = key {
            rb = rb.bearer_auth(k);
        }
        async move {
            let r = rb.send().await.expect("sent");
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (s, v) = send(None, "sim/healthy").await;
    assert_eq!(
        (s, v["error"]["message"].as_str()),
        (401, Some("No auth credentials found"))
    );
    let (s, v) = send(Some("sk-secret-123"), "sim/auth").await;
    assert_eq!(s, 401);
    assert!(v["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("sk-secret-123")));
    assert_eq!(send(Some("sk-secret-123"), "sim/auth-403").await.0, 403);
    assert_eq!(send(Some("sk-wrong"), "sim/auth-key").await.0, 401);
    assert_eq!(send(Some("sk-sim-good-key"), "sim/auth-key").await.0, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn credits_402_and_insufficient_quota() {
    let sim = start_file("credits.toml").await;
    assert_eq!(
        post_json(&sim, &req("sim/credits", PROBE, false)).await.0,
        402
    );
    let (s, _, v) = post_json(&sim, &req("sim/credits-quota", PROBE, false)).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (429, Some("insufficient_quota"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn provider_error_in_body_and_mid_stream() {
    let sim = start_file("provider_error.toml").await;
    let (s, _, v) = post_json(&sim, &req("sim/provider_error", PROBE, false)).await;
    assert_eq!(s, 200);
    assert!(v["error"]["message"].is_string());
    let (_, _, v) = post_json(&sim, &req("sim/provider_error-choice", PROBE, false)).await;
    assert_eq!(v["choices"][0]["finish_reason"], "error");
    assert!(v["choices"][0]["error"].is_object());
    let events = sse_events(post(&sim, &req("sim/provider_error", PROBE, true)).await).await;
    let last = events
        .last()
        .and_then(|e| e.as_ref().ok())
        .expect("last chunk is JSON");
    assert!(last["error"].is_object());
    assert_eq!(last["choices"][0]["finish_reason"], "error");
    assert!(events.iter().any(|e| e
        .as_ref()
        .is_ok_and(|c| c["choices"][0]["delta"]["content"] == "pong")));
    sim.shutdown().await;
}

#[tokio::test]
async fn truncated_and_malformed_streams() {
    let sim = start_file("truncated.toml").await;
    let events = sse_events(post(&sim, &req("sim/truncated", PROBE, true)).await).await;
    assert!(events.iter().all(|e| e
        .as_ref()
        .is_ok_and(|c| c["choices"][0]["finish_reason"].is_null())
        || e.is_err()));
    assert!(!events.iter().any(|e| e == &Err("[DONE]".to_string())));
    sim.shutdown().await;

    let sim = start_file("malformed.toml").await;
    let r = post(&sim, &req("sim/malformed", PROBE, false)).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .starts_with("text/html"));
    let events = sse_events(post(&sim, &req("sim/malformed-json", PROBE, true)).await).await;
    assert!(events
        .iter()
        .any(|e| e.as_ref().is_err_and(|t| t.starts_with("{\"id\""))));
    sim.shutdown().await;
}

#[tokio::test]
async fn huge_reply_is_streamed() {
    let sim = start_file("huge.toml").await;
    let r = post(&sim, &req("sim/huge-1mib", PROBE, false)).await;
    let text = r.text().await.expect("body");
    assert!(text.len() > 1 << 20);
    let v: Value = serde_json::from_str(&text).expect("still valid JSON");
    assert!(content(&v).len() >= 1 << 20);
    assert!(sim.stats("sim/huge-1mib").bytes_sent >= 1 << 20);
    sim.shutdown().await;
}

// ------------------------------------------------------------ anthropic

#[tokio::test]
async fn anthropic_messages_json_sse_and_errors() {
    let sim = start_text(FAST, 1).await;
    let url = format!("{}/messages", sim.base_url());
    let body = json!({ "model": "slowish", "max_tokens": 16, "messages": [{ "role": "user", "content": PROBE }] });
    let r = client()
        .post(&url)
        .header("x-api-key", "sk-ant-test")
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["type"], "message");
    assert_eq!(v["content"][0]["text"], "pong");
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["usage"]["output_tokens"], 1);

    let mut sbody = body.clone();
    sbody["stream"] = json!(true);
    let text = client()
        .post(&url)
        .header("x-api-key", "sk-ant-test")
        .header("anthropic-version", "2023-06-01")
        .json(&sbody)
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("text");
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert!(names.contains(&"ping"));
    assert!(names.contains(&"content_block_delta"));
    assert_eq!(&names[names.len() - 2..], ["message_delta", "message_stop"]);

    let r = client()
        .post(&url)
        .header("x-api-key", "k")
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    sim.shutdown().await;
}
