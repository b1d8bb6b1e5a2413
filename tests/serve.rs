//! `chainwatch serve` over real HTTP on loopback: an OpenAI-style client
//! (reqwest speaking the wire format) against serve, with the simulator
//! (or a small recording server) as the upstream.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chainwatch::config::{Config, Hedge};
use chainwatch::metrics::Metrics;
use chainwatch::serve::{Options, Server};
use chainwatch::sim::{Scenario, SimServer};
use chainwatch::store::Store;
use chainwatch::wiring::Stack;
use serde_json::{json, Value};

const SCENARIO: &str = r#"
[server]
require_auth = false
processing_every = "100ms"

[[model]]
name = "fast-a"
id = "sim/fast-a"
provider = "Sim A"
tier = "premium"

[[model]]
name = "fast-b"
id = "sim/fast-b"
provider = "Sim B"
tier = "standard"

[[model]]
name = "down"
id = "sim/down"
tier = "budget"
[[model.fault]]
class = "server_error"
status = 502

[[model]]
name = "down2"
id = "sim/down2"
tier = "budget"
[[model.fault]]
class = "server_error"
status = 503

[[model]]
name = "broken"
id = "sim/broken"
[[model.fault]]
class = "truncated"
variant = "clean"
after_tokens = 1

[[model]]
name = "claude-x"
id = "sim/claude-x"
dialect = "anthropic"
"#;

struct Rig {
    _sim: SimServer,
    server: Option<Server>,
    base: String,
    engine: chainwatch::engine::Engine,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Rig {
    async fn new(chain: &[&str], token: Option<&str>) -> Rig {
        let sim = SimServer::start(
            Scenario::parse(SCENARIO, Path::new("<serve>")).unwrap(),
            "127.0.0.1:0".parse().unwrap(),
            7,
        )
        .await
        .unwrap();
        let mut config = sim.config();
        config.chain = chain.iter().map(|s| s.to_string()).collect();
        Rig::with_config(sim, config, token).await
    }

    async fn with_config(sim: SimServer, config: Config, token: Option<&str>) -> Rig {
        Rig::with_hedge(sim, config, token, Hedge::Off).await
    }

    async fn with_hedge(
        sim: SimServer,
        mut config: Config,
        token: Option<&str>,
        hedge: Hedge,
    ) -> Rig {
        config.route.hedge = hedge;
        config.route.ttft_timeout = Duration::from_secs(10);
        config.route.timeout = Duration::from_secs(15);
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("state.json"));
        let Stack { engine, router } = Stack::new(config.clone(), Some(store));
        let mut options = Options::new("127.0.0.1:0".parse().unwrap(), config.route.timeout);
        options.token = token.map(str::to_string);
        options.max_body = 64 * 1024;
        let server = Server::start(options, engine.clone(), router, Arc::new(Metrics::new()))
            .await
            .unwrap();
        let base = format!("http://{}", server.addr);
        Rig {
            _sim: sim,
            server: Some(server),
            base,
            engine,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    fn post(&self, path: &str, body: Value) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.base)).json(&body)
    }

    async fn chat(&self, body: Value) -> reqwest::Response {
        self.post("/v1/chat/completions", body)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            drop(tokio::spawn(server.stop()));
        }
    }
}

fn ask(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "Tell me about fallback chains"}],
        "stream": stream,
    })
}

/// A stream's `data:` payloads, in order (`[DONE]` as the string).
async fn sse(resp: reqwest::Response) -> Vec<String> {
    let text = resp.text().await.unwrap();
    text.split("\n\n")
        .filter_map(|frame| frame.strip_prefix("data: "))
        .map(str::to_string)
        .collect()
}

fn content_of(frames: &[String]) -> String {
    frames
        .iter()
        .filter_map(|f| serde_json::from_str::<Value>(f).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

#[tokio::test]
async fn a_plain_answer_through_the_chain_with_a_down_primary() {
    let rig = Rig::new(&["down", "fast-a", "fast-b"], None).await;
    let resp = rig.chat(ask("chain", false)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-chainwatch-model"], "fast-a");
    // down's 502, its one quick retry (raced with fast-a), fast-a's answer.
    assert_eq!(resp.headers()["x-chainwatch-attempts"], "3");
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["object"], "chat.completion");
    assert_eq!(doc["model"], "fast-a");
    assert!(doc["id"].as_str().unwrap().starts_with("chatcmpl-"));
    let text = doc["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(!text.is_empty(), "{doc}");
    assert_eq!(doc["choices"][0]["finish_reason"], "stop");
    assert!(
        doc["usage"]["completion_tokens"].as_u64().unwrap() > 0,
        "{doc}"
    );
    // Both attempts are traffic samples: the primary's failure is known
    // now, and the next request skips it.
    let failures = rig
        .engine
        .failures_since(chrono::Utc::now() - chrono::Duration::minutes(1));
    assert!(
        failures
            .iter()
            .any(|(m, f)| m == "down" && f.kind == chainwatch::health::SampleKind::Traffic),
        "{failures:?}"
    );
    let resp = rig.chat(ask("chain", false)).await;
    assert_eq!(resp.headers()["x-chainwatch-attempts"], "1");
}

#[tokio::test]
async fn a_streamed_answer_is_relayed_chunk_by_chunk_after_the_failover() {
    let rig = Rig::new(&["down", "fast-b"], None).await;
    let resp = rig.chat(ask("chain", true)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    assert_eq!(resp.headers()["x-chainwatch-model"], "fast-b");
    let frames = sse(resp).await;
    assert_eq!(frames.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = frames
        .iter()
        .filter(|f| *f != "[DONE]")
        .map(|f| serde_json::from_str(f).unwrap())
        .collect();
    assert!(chunks.len() > 2, "{frames:?}");
    let id = &chunks[0]["id"];
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["model"], "fast-b");
        assert_eq!(&c["id"], id);
        assert!(
            c.get("usage").is_none_or(Value::is_null),
            "usage not asked for: {c}"
        );
    }
    assert!(!content_of(&frames).is_empty());
    assert!(chunks
        .iter()
        .any(|c| c["choices"][0]["finish_reason"] == "stop"));

    // Asked for: the usage chunk is relayed.
    let mut body = ask("chain", true);
    body["stream_options"] = json!({"include_usage": true});
    let frames = sse(rig.chat(body).await).await;
    let usage: Vec<Value> = frames
        .iter()
        .filter_map(|f| serde_json::from_str::<Value>(f).ok())
        .filter(|c| c["usage"].is_object())
        .collect();
    assert_eq!(usage.len(), 1, "{frames:?}");
    assert!(usage[0]["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn a_tier_escalates_and_a_model_name_pins_one_model() {
    let rig = Rig::new(&["fast-a"], None).await;
    let resp = rig.chat(ask("budget", false)).await;
    assert_eq!(resp.status(), 200);
    // budget (down, down2, each with its one quick retry) failed: standard's
    // fast-b answered.
    assert_eq!(resp.headers()["x-chainwatch-model"], "fast-b");
    assert_eq!(resp.headers()["x-chainwatch-attempts"], "5");
    let resp = rig.chat(ask("down", false)).await;
    assert_eq!(resp.status(), 502);
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["error"]["type"], "upstream_error");
    assert_eq!(doc["error"]["attempts"][0]["model"], "down");
    assert_eq!(doc["error"]["attempts"][0]["http_status"], 502);
    // OpenRouter's `models` list: tried in its order.
    let mut body = ask("down2", false);
    body["models"] = json!(["fast-b", "fast-a"]);
    let resp = rig.chat(body).await;
    assert_eq!(resp.headers()["x-chainwatch-model"], "fast-b");
}

#[tokio::test]
async fn an_unknown_model_is_a_404_that_lists_the_valid_ones() {
    let rig = Rig::new(&["fast-a", "fast-b"], None).await;
    let resp = rig.chat(ask("gpt-5-turbo-max", false)).await;
    assert_eq!(resp.status(), 404);
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["error"]["code"], "model_not_found");
    assert_eq!(doc["error"]["param"], "model");
    let valid: Vec<&str> = doc["error"]["valid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(&valid[..4], ["chain", "premium", "standard", "budget"]);
    assert!(valid.contains(&"claude-x"));
    assert!(doc["error"]["message"].as_str().unwrap().contains("fast-b"));
    // /v1/models lists the same, in OpenAI's format.
    let list: Value = rig.get("/v1/models").await.json().await.unwrap();
    assert_eq!(list["object"], "list");
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, valid);
    // Bad bodies are 400s in the same shape.
    let resp = rig
        .post("/v1/chat/completions", json!({"model": "chain"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["error"]["param"], "messages");
    // And a body over the cap is a 413.
    let mut big = ask("chain", false);
    big["messages"][1]["content"] = json!("x".repeat(100 * 1024));
    assert_eq!(rig.chat(big).await.status(), 413);
}

#[tokio::test]
async fn with_a_token_every_request_needs_it() {
    let rig = Rig::new(&["fast-a"], Some("s3cret-token")).await;
    let resp = rig.chat(ask("chain", false)).await;
    assert_eq!(resp.status(), 401);
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["error"]["code"], "missing_api_key");
    let resp = rig
        .post("/v1/chat/completions", ask("chain", false))
        .bearer_auth("s3cret-tokeX")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(rig.get("/metrics").await.status(), 401);
    assert_eq!(rig.get("/api/v1/health").await.status(), 401);
    let resp = rig
        .post("/v1/chat/completions", ask("chain", false))
        .bearer_auth("s3cret-token")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Without a token, no header is needed.
    let open = Rig::new(&["fast-a"], None).await;
    assert_eq!(open.chat(ask("chain", false)).await.status(), 200);
    // And a public address without one is refused at start.
    let config = open.engine.config().clone();
    let Stack { engine, router } = Stack::new(config, None);
    let refused = Server::start(
        Options::new("0.0.0.0:0".parse().unwrap(), Duration::from_secs(5)),
        engine,
        router,
        Arc::new(Metrics::new()),
    )
    .await;
    assert!(refused
        .err()
        .unwrap()
        .to_string()
        .contains("CHAINWATCH_SERVE_TOKEN"));
}

#[tokio::test]
async fn a_break_after_the_first_token_ends_in_an_error_chunk() {
    let rig = Rig::new(&["broken", "fast-a"], None).await;
    let resp = rig.chat(ask("chain", true)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-chainwatch-model"], "broken");
    let frames = sse(resp).await;
    assert!(!frames.iter().any(|f| f == "[DONE]"), "{frames:?}");
    let last: Value = serde_json::from_str(frames.last().unwrap()).unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "error");
    assert_eq!(last["error"]["code"], "all_models_failed");
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("broke off"),
        "{last}"
    );
    assert!(
        !content_of(&frames).is_empty(),
        "the part that came was relayed"
    );
    // Not streamed, the same break is an HTTP error: nothing was shown.
    let resp = rig.chat(ask("broken", false)).await;
    assert_eq!(resp.status(), 502);
}

#[tokio::test]
async fn a_buffered_stream_restarts_cleanly_on_the_next_model() {
    let rig = Rig::new(&["broken", "fast-a"], None).await;
    let mut body = ask("chain", true);
    body["stream_options"] = json!({"include_usage": true});
    let resp = rig
        .post("/v1/chat/completions", body)
        .header("x-chainwatch-buffer", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    assert_eq!(resp.headers()["x-chainwatch-model"], "fast-a");
    assert_eq!(resp.headers()["x-chainwatch-attempts"], "2");
    let frames = sse(resp).await;
    assert_eq!(
        frames.last().map(String::as_str),
        Some("[DONE]"),
        "{frames:?}"
    );
    let chunks: Vec<Value> = frames
        .iter()
        .filter_map(|f| serde_json::from_str(f).ok())
        .collect();
    assert!(chunks.iter().all(|c| c["error"].is_null()), "{chunks:?}");
    assert!(chunks.iter().all(|c| c["model"] == "fast-a"), "{chunks:?}");
    assert_eq!(chunks[0]["choices"][0]["finish_reason"], "stop");
    assert!(chunks.last().unwrap()["usage"]["total_tokens"].as_u64() > Some(0));
    // One piece: the whole answer in one chunk, then usage; the broken
    // model's first words are not in it.
    assert_eq!(chunks.len(), 2, "{chunks:?}");
    let text = content_of(&frames);
    assert!(text.ends_with('.'), "{text}");
    let log = rig._sim.requests();
    let served: Vec<(&str, &str)> = log
        .iter()
        .map(|r| (r.model.as_str(), r.action.as_str()))
        .collect();
    assert_eq!(served.len(), 2, "{served:?}");
    assert!(
        served[0].0.ends_with("broken") && served[0].1.contains("truncated"),
        "{served:?}"
    );
    assert!(
        served[1].0.ends_with("fast-a") && served[1].1.starts_with("200"),
        "{served:?}"
    );
    // Without the header the same break ends in an error chunk (above).
}

#[tokio::test]
async fn a_buffered_stream_restarts_on_the_model_it_hedged_with() {
    // slow-break wins the race against its hedge (slow-ok, started after
    // 100 ms), then breaks off after its first word: the hedge it beat is
    // the next model, and the answer restarts there.
    const HEDGED: &str = r#"
[server]
require_auth = false

[[model]]
name = "slow-break"
id = "sim/slow-break"
ttft = { p50 = "400ms", p95 = "400ms" }
[[model.fault]]
class = "truncated"
variant = "clean"
after_tokens = 1

[[model]]
name = "slow-ok"
id = "sim/slow-ok"
ttft = { p50 = "1500ms", p95 = "1500ms" }
"#;
    let sim = SimServer::start(
        Scenario::parse(HEDGED, Path::new("<hedged>")).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        7,
    )
    .await
    .unwrap();
    let mut config = sim.config();
    config.chain = vec!["slow-break".into(), "slow-ok".into()];
    let rig = Rig::with_hedge(sim, config, None, Hedge::After(Duration::from_millis(100))).await;
    let resp = rig
        .post("/v1/chat/completions", ask("chain", true))
        .header("x-chainwatch-buffer", "1")
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let frames = sse(resp).await;
    let log: Vec<(String, String)> = rig
        ._sim
        .requests()
        .iter()
        .map(|r| (r.model.clone(), r.action.clone()))
        .collect();
    assert_eq!(status, 200, "{frames:?} {log:?}");
    assert_eq!(frames.last().map(String::as_str), Some("[DONE]"));
    assert!(content_of(&frames).ends_with('.'), "{frames:?}");
    assert!(
        log.iter()
            .any(|(m, a)| m.ends_with("slow-break") && a.contains("truncated")),
        "{log:?}"
    );
}

#[tokio::test]
async fn the_buffer_header_takes_any_case_and_refuses_what_it_cannot_read() {
    let rig = Rig::new(&["fast-a"], None).await;
    // What is sent decides the shape: one chunk (and `[DONE]`) when buffered.
    for (value, buffered) in [
        ("True", true),
        ("YES", true),
        (" 1 ", true),
        ("on", true),
        ("0", false),
        ("False", false),
        ("no", false),
    ] {
        let resp = rig
            .post("/v1/chat/completions", ask("chain", true))
            .header("x-chainwatch-buffer", value)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{value:?}");
        let frames = sse(resp).await.len();
        assert_eq!(frames == 2, buffered, "{value:?}: {frames} frames");
    }
    // Anything else is a 400 that names the header, not a silent stream.
    let resp = rig
        .post("/v1/chat/completions", ask("chain", true))
        .header("x-chainwatch-buffer", "please")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["error"]["param"], "x-chainwatch-buffer", "{doc}");
    assert!(
        doc["error"]["message"].as_str().unwrap().contains("please"),
        "{doc}"
    );
}

#[tokio::test]
async fn anthropic_models_answer_in_openais_shape_and_refuse_tools() {
    let rig = Rig::new(&["claude-x"], None).await;
    let frames = sse(rig.chat(ask("claude-x", true)).await).await;
    assert_eq!(frames.last().map(String::as_str), Some("[DONE]"));
    assert!(!content_of(&frames).is_empty(), "{frames:?}");
    let first: Value = serde_json::from_str(&frames[0]).unwrap();
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    let doc: Value = rig.chat(ask("claude-x", false)).await.json().await.unwrap();
    assert!(
        !doc["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .is_empty(),
        "{doc}"
    );
    assert!(doc["usage"]["prompt_tokens"].as_u64().unwrap() > 0, "{doc}");
    let mut tools = ask("claude-x", false);
    tools["tools"] = json!([{"type": "function", "function": {"name": "f", "parameters": {}}}]);
    let resp = rig.chat(tools).await;
    assert_eq!(resp.status(), 400);
    let doc: Value = resp.json().await.unwrap();
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tools cannot be translated"),
        "{doc}"
    );
}

#[tokio::test]
async fn metrics_parse_and_agree_with_the_verdicts() {
    let rig = Rig::new(&["down", "fast-a"], None).await;
    assert_eq!(rig.chat(ask("chain", false)).await.status(), 200);
    let resp = rig.get("/metrics").await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = resp.text().await.unwrap();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("the exposition parses");
    let value = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
    };
    // One status series per state, 1 for the verdict the engine gives.
    let now = chrono::Utc::now();
    for model in ["down", "fast-a"] {
        let status = rig.engine.status(model, now);
        assert_eq!(
            value(
                "chainwatch_model_status",
                &[("model", model), ("status", status.as_str())]
            ),
            Some(1.0),
            "{model} {status}"
        );
        let ones = scrape
            .samples
            .iter()
            .filter(|s| {
                s.metric == "chainwatch_model_status" && s.labels.get("model") == Some(model)
            })
            .filter(|s| matches!(s.value, prometheus_parse::Value::Gauge(v) if v == 1.0))
            .count();
        assert_eq!(ones, 1);
    }
    assert_eq!(
        value("chainwatch_model_window_ratio", &[("model", "down")]),
        Some(0.0)
    );
    assert_eq!(
        value("chainwatch_model_window_ratio", &[("model", "fast-a")]),
        Some(1.0)
    );
    assert_eq!(
        value("chainwatch_model_chain_position", &[("model", "fast-a")]),
        Some(2.0)
    );
    assert_eq!(
        value(
            "chainwatch_attempts_total",
            &[
                ("model", "down"),
                ("class", "server_error"),
                ("kind", "traffic")
            ]
        ),
        Some(2.0),
        "the 502 and its one retry"
    );
    assert_eq!(
        value(
            "chainwatch_attempts_total",
            &[("model", "fast-a"), ("class", "ok"), ("kind", "traffic")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            "chainwatch_proxied_requests_total",
            &[("target", "chain"), ("outcome", "ok")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value("chainwatch_failovers_total", &[("model", "down")]),
        Some(1.0)
    );
    assert_eq!(value("chainwatch_requests_in_flight", &[]), Some(0.0));
    let latency = scrape
        .samples
        .iter()
        .find(|s| s.metric == "chainwatch_attempt_latency_seconds")
        .expect("a latency histogram");
    assert!(matches!(
        latency.value,
        prometheus_parse::Value::Histogram(_)
    ));
}

#[tokio::test]
async fn a_chain_edit_over_the_api_steers_the_next_request() {
    let rig = Rig::new(&["fast-a", "fast-b"], None).await;
    let resp = rig.chat(ask("chain", false)).await;
    assert_eq!(resp.headers()["x-chainwatch-model"], "fast-a");
    let resp = rig
        .http
        .put(format!("{}/api/v1/chain", rig.base))
        .json(&json!({"edit": "move", "model": "fast-b", "to": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["order"], json!(["fast-b", "fast-a"]));
    let resp = rig.chat(ask("chain", false)).await;
    assert_eq!(resp.headers()["x-chainwatch-model"], "fast-b");
    let chain: Value = rig.get("/api/v1/chain").await.json().await.unwrap();
    assert_eq!(chain["order"], json!(["fast-b", "fast-a"]));
    // A bad edit says what is wrong.
    let resp = rig
        .http
        .put(format!("{}/api/v1/chain", rig.base))
        .json(&json!({"edit": "move", "model": "nope", "to": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let resp = rig
        .http
        .put(format!("{}/api/v1/chain", rig.base))
        .json(&json!({"order": ["fast-a"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn the_api_documents_follow_the_rules() {
    let rig = Rig::new(&["down", "fast-a"], None).await;
    let mut events = rig.get("/api/v1/events").await;
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    assert_eq!(rig.chat(ask("chain", false)).await.status(), 200);
    // The request's route line arrives on the event stream.
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains("event: route") {
        let chunk = tokio::time::timeout_at(deadline, events.chunk())
            .await
            .expect("a route event in time")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let data = seen
        .split("event: route\ndata: ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap();
    let route: Value = serde_json::from_str(data).unwrap();
    assert_eq!(route["kind"], "route");
    assert_eq!(route["model"], "fast-a");
    assert_eq!(route["failover"], true);
    assert!(
        chainwatch::report::rule_breaks(&route).is_empty(),
        "{route}"
    );

    let health: Value = rig.get("/api/v1/health").await.json().await.unwrap();
    assert!(chainwatch::report::rule_breaks(&health).is_empty());
    assert_eq!(health["models"][0]["name"], "fast-a");
    let snap: Value = rig.get("/api/v1/snapshot").await.json().await.unwrap();
    assert!(
        chainwatch::report::rule_breaks(&snap).is_empty(),
        "{:?}",
        chainwatch::report::rule_breaks(&snap)
    );
    assert_eq!(snap["chain"], json!(["down", "fast-a"]));
    let down = snap["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "down")
        .unwrap();
    assert_eq!(down["status"], "unhealthy");
    assert_eq!(down["spend_today"]["traffic"], 2, "the 502 and its retry");
    assert_eq!(snap["failures"][0]["kind"], "traffic");
    let probe = rig
        .post("/api/v1/probe", json!({"model": "fast-a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 202);
    let unknown = rig
        .post("/api/v1/ack", json!({"model": "zzz"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let ack: Value = rig
        .post("/api/v1/ack", json!({"model": "fast-a"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ack["acknowledged"], false);
    assert_eq!(rig.get("/v2/nothing").await.status(), 404);
}

/// An upstream that records what it was sent and answers with a tool call.
async fn recording_upstream() -> (SocketAddr, Arc<Mutex<Vec<Value>>>) {
    use axum::routing::post;
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(move |axum::Json(body): axum::Json<Value>| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(body);
                let chunks = [
                    json!({"id": "u1", "object": "chat.completion.chunk", "model": "up/tooly", "choices": [{"index": 0, "delta": {"role": "assistant", "content": null, "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}}]}),
                    json!({"id": "u1", "object": "chat.completion.chunk", "model": "up/tooly", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":\"Oslo\"}"}}]}}]}),
                    json!({"id": "u1", "object": "chat.completion.chunk", "model": "up/tooly", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
                    // LiteLLM's proxy puts its usage in a chunk with an
                    // empty delta rather than no choices.
                    json!({"id": "u1", "object": "chat.completion.chunk", "model": "up/tooly", "choices": [{"index": 0, "delta": {}}], "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}}),
                ];
                let mut body: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
                body.push_str("data: [DONE]\n\n");
                ([("content-type", "text/event-stream")], body)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, seen)
}

#[tokio::test]
async fn the_clients_body_goes_through_with_only_model_replaced() {
    let (addr, seen) = recording_upstream().await;
    let sim = SimServer::start(
        Scenario::parse(SCENARIO, Path::new("<serve>")).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        7,
    )
    .await
    .unwrap();
    let config = Config::parse(
        &format!(
            r#"
chain = ["tooly"]
[[endpoint]]
name = "up"
base_url = "http://{addr}/v1"
[[model]]
name = "tooly"
id = "up/tooly"
endpoint = "up"
extra = {{ temperature = 0.9, top_p = 0.5 }}
"#
        ),
        Path::new("<up>"),
    )
    .unwrap();
    let rig = Rig::with_config(sim, config, None).await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]);
    let body = json!({
        "model": "chain",
        "messages": [{"role": "user", "content": "weather in Oslo?"}],
        "tools": tools,
        "tool_choice": "auto",
        "temperature": 0.1,
        "max_tokens": 77,
    });
    let resp = rig.chat(body).await;
    assert_eq!(resp.status(), 200);
    let doc: Value = resp.json().await.unwrap();
    // A reply that only calls a tool is an answer, not `empty`.
    let call = &doc["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["id"], "call_1");
    assert_eq!(call["function"]["arguments"], "{\"city\":\"Oslo\"}");
    assert_eq!(doc["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(doc["usage"]["total_tokens"], 13);
    let sent = seen.lock().unwrap()[0].clone();
    assert_eq!(sent["model"], "up/tooly");
    assert_eq!(sent["tools"], tools);
    assert_eq!(sent["tool_choice"], "auto");
    assert_eq!(sent["temperature"], 0.1, "the client's field wins");
    assert_eq!(sent["top_p"], 0.5, "extra fills what the client left out");
    assert_eq!(sent["max_tokens"], 77);
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"]["include_usage"], true);
    assert!(sent.get("max_completion_tokens").is_none());
    let status = rig.engine.status("tooly", chrono::Utc::now());
    assert_eq!(status, chainwatch::health::Status::Healthy);
    // Streamed without asking for usage: the usage chunk is not relayed as
    // an empty one.
    let mut streamed = json!({"model": "chain", "stream": true, "tools": tools,
        "messages": [{"role": "user", "content": "weather in Oslo?"}]});
    let frames = sse(rig.chat(streamed.take()).await).await;
    assert_eq!(frames.last().map(String::as_str), Some("[DONE]"));
    for f in frames.iter().filter(|f| *f != "[DONE]") {
        let c: Value = serde_json::from_str(f).unwrap();
        let choice = &c["choices"][0];
        assert!(c.get("usage").is_none(), "{c}");
        assert!(
            choice["delta"].as_object().is_some_and(|d| !d.is_empty())
                || choice["finish_reason"].is_string(),
            "a chunk that says nothing: {c}"
        );
    }
}
