//! Thinking models end to end: a simulator scenario on loopback, the real
//! client and engine, and `check --json`, in both stream modes. A model that
//! reasons past the first-token deadline for content is healthy; one whose
//! reasoning eats the probe is adapted, and when it cannot be, is `budget`
//! with the fix; Anthropic thinking is healthy and an Anthropic `error`
//! event mid-stream is a failure; a `max_tokens` refused with a 400 is sent
//! again as `max_completion_tokens`.

use std::path::Path;
use std::time::Duration;

use chainwatch::api::Dialect;
use chainwatch::commands::check::{self, CheckArgs};
use chainwatch::config::Config;
use chainwatch::sim::{Scenario, SimServer};
use serde_json::Value;

const SCENARIO: &str = r#"
[server]
require_auth = false

# Reasons for 1.5 s before "pong": past the 700 ms first-token deadline
# for content alone.
[[model]]
name = "slow-thinker"
id = "sim/slow-thinker"
ttft = { p50 = "100ms" }
thinking = { tokens = 200, time = { p50 = "1.5s" } }

# Thinks at least 300 tokens, whatever it is asked: more than a thinking
# probe's first room (16 + 256), less than its raised room (16 + 1024).
[[model]]
name = "hungry"
id = "sim/hungry"
thinking = { tokens = 300, min_tokens = 300, time = { p50 = "100ms" } }

# Thinks until the limit, however high.
[[model]]
name = "bottomless"
id = "sim/bottomless"
thinking = { tokens = 400, time = { p50 = "100ms" } }
[[model.fault]]
class = "budget"

# OpenAI's reasoning models: max_tokens refused, reasoning hidden.
[[model]]
name = "o-series"
id = "sim/o-series"
refuses_max_tokens = true
thinking = { tokens = 60, time = { p50 = "100ms" }, field = "hidden" }

[[model]]
name = "claude-thinking"
id = "sim/claude-thinking"
ttft = { p50 = "100ms" }
thinking = { tokens = 200, time = { p50 = "1.5s" } }

# Overloaded after it started thinking: an `error` event mid-stream.
[[model]]
name = "claude-overloaded"
id = "sim/claude-overloaded"
thinking = { tokens = 200, time = { p50 = "300ms" } }
[[model.fault]]
class = "provider_error"
after_tokens = 0
"#;

/// `check --json --rounds N` over the models named, each on an endpoint of
/// `dialect`, with a 700 ms first-token deadline.
async fn check_json(
    names: &[&str],
    dialect: Dialect,
    stream: bool,
    rounds: u32,
    reasoning: Option<bool>,
) -> (Value, SimServer) {
    let scenario = Scenario::parse(SCENARIO, Path::new("thinking.toml")).expect("parses");
    let models: Vec<_> = scenario
        .models()
        .iter()
        .filter(|m| names.contains(&m.name.as_str()))
        .map(|m| (m.name.clone(), m.id.clone(), None))
        .collect();
    let sim = SimServer::start(scenario, "127.0.0.1:0".parse().unwrap(), 3)
        .await
        .expect("simulator starts");
    let mut config = Config::demo(&sim.base_url(), &models);
    config.probe.ttft_timeout = Duration::from_millis(700);
    config.probe.timeout = Duration::from_secs(5);
    config.probe.stream = stream;
    for endpoint in &mut config.endpoints {
        endpoint.dialect = dialect;
    }
    for model in &mut config.models {
        model.reasoning = reasoning;
    }
    let mut out = Vec::new();
    let args = CheckArgs { json: true, rounds };
    check::run(args, config, None, &mut out)
        .await
        .expect("check runs");
    let text = String::from_utf8(out).expect("utf-8");
    (serde_json::from_str(&text).expect("JSON"), sim)
}

fn model<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["models"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["name"] == name))
        .unwrap_or_else(|| panic!("{name} not in {report:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_thinks_past_the_first_token_deadline_is_healthy() {
    for stream in [true, false] {
        let (report, sim) = check_json(&["slow-thinker"], Dialect::Openai, stream, 1, None).await;
        let m = model(&report, "slow-thinker");
        let why = format!("stream={stream}: {m:#}");
        assert_eq!(m["status"], "healthy", "{why}");
        assert!(m["last_failure"].is_null(), "{why}");
        // The answer came well after the 700 ms deadline for a first token.
        let content_at = m["ttft_ms"]["p50"].as_u64().expect("ttft");
        assert!(content_at >= 1400, "{why}");
        sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_too_small_for_the_reasoning_is_raised_once() {
    for stream in [true, false] {
        let (report, sim) = check_json(&["hungry"], Dialect::Openai, stream, 1, None).await;
        let m = model(&report, "hungry");
        let why = format!("stream={stream}: {m:#}");
        assert_eq!(m["status"], "healthy", "{why}");
        // The first reply (all reasoning) was no health sample.
        assert!(m["last_failure"].is_null(), "{why}");
        assert_eq!(m["samples"], 1, "{why}");
        assert_eq!(sim.stats("sim/hungry").requests, 2, "{why}");
        sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_that_eats_any_probe_is_budget_with_the_fix() {
    for stream in [true, false] {
        let (report, sim) = check_json(&["bottomless"], Dialect::Openai, stream, 1, None).await;
        let m = model(&report, "bottomless");
        let why = format!("stream={stream}: {m:#}");
        assert_eq!(m["status"], "misconfigured", "{why}");
        assert_eq!(m["last_failure"]["class"], "budget", "{why}");
        let reason = m["reason"].as_str().unwrap();
        assert!(
            reason.contains("reasoning ate all 1040 probe tokens")
                && reason.contains("raise probe.max_tokens for bottomless"),
            "{why}"
        );
        // Not an outage: nothing counted against the ratio.
        assert!(m["ratio"].is_null(), "{why}");
        // Once at 16 + 256, once raised to 16 + 1024; no more.
        assert_eq!(sim.stats("sim/bottomless").requests, 2, "{why}");
        sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_max_tokens_is_retried_and_the_model_stays_healthy() {
    for stream in [true, false] {
        let (report, sim) = check_json(&["o-series"], Dialect::Openai, stream, 2, None).await;
        let m = model(&report, "o-series");
        let why = format!("stream={stream}: {m:#}");
        assert_eq!(m["status"], "healthy", "{why}");
        assert!(m["last_failure"].is_null(), "{why}");
        assert_eq!(m["samples"], 2, "{why}");
        // Refused once, then max_completion_tokens from there on: two
        // probes, three requests.
        assert_eq!(sim.stats("sim/o-series").requests, 3, "{why}");
        sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_thinking_is_healthy() {
    for stream in [true, false] {
        let (report, sim) = check_json(
            &["claude-thinking"],
            Dialect::Anthropic,
            stream,
            1,
            Some(true),
        )
        .await;
        let m = model(&report, "claude-thinking");
        let why = format!("stream={stream}: {m:#}");
        assert_eq!(m["status"], "healthy", "{why}");
        assert!(m["ttft_ms"]["p50"].as_u64().expect("ttft") >= 1400, "{why}");
        sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anthropic_error_event_mid_stream_is_a_failure() {
    for stream in [true, false] {
        let (report, sim) = check_json(
            &["claude-overloaded"],
            Dialect::Anthropic,
            stream,
            1,
            Some(true),
        )
        .await;
        let m = model(&report, "claude-overloaded");
        let why = format!("stream={stream}: {m:#}");
        assert_eq!(m["last_failure"]["class"], "provider_error", "{why}");
        assert_eq!(m["last_failure"]["message"], "Overloaded", "{why}");
        assert_eq!(m["status"], "unhealthy", "{why}");
        sim.shutdown().await;
    }
}

/// A race is won by the first content token: a model that streams reasoning
/// from the start but answers late does not stop the hedge, and the fast
/// model started beside it answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_does_not_win_a_hedge_race() {
    use chainwatch::config::Hedge;
    use chainwatch::route::{RouteEvent, RouteRequest, RouteTarget};
    use chainwatch::wiring::Stack;

    let text = r#"
[server]
require_auth = false
[[model]]
name = "thinker"
id = "sim/thinker"
ttft = { p50 = "50ms" }
thinking = { tokens = 400, time = { p50 = "2s" } }
[[model]]
name = "fast"
id = "sim/fast"
"#;
    let scenario = Scenario::parse(text, Path::new("race.toml")).unwrap();
    let sim = SimServer::start(scenario, "127.0.0.1:0".parse().unwrap(), 1)
        .await
        .unwrap();
    let stack = Stack::new(sim.config(), None);
    let chain = vec!["thinker".to_string(), "fast".to_string()];
    let route = |hedge| {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut request = RouteRequest::new("Review this code", RouteTarget::Chain);
        request.hedge = Some(hedge);
        let stack = stack.clone();
        let chain = chain.clone();
        async move {
            let answer = stack
                .router
                .route(&stack.engine, &chain, request, Some(tx))
                .await;
            let mut events = Vec::new();
            while let Ok(e) = rx.try_recv() {
                events.push(e);
            }
            (answer, events)
        }
    };
    let first_token = |events: &[RouteEvent]| {
        events
            .iter()
            .find_map(|e| match e {
                RouteEvent::FirstToken { model, ttft } => Some((model.clone(), *ttft)),
                _ => None,
            })
            .expect("a first token")
    };

    let (answer, events) = route(Hedge::After(Duration::from_millis(300))).await;
    let answer = answer.expect("answered");
    assert_eq!(answer.model, "fast", "{events:?}");
    assert_eq!(first_token(&events).0, "fast");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, RouteEvent::Cancelled { model, .. } if model == "thinker")),
        "{events:?}"
    );
    // Its reasoning streamed the whole time, yet it was hedged and closed.
    assert!(
        answer.total < Duration::from_millis(1500),
        "{:?}",
        answer.total
    );

    // Without a hedge it answers, and its first token is its content's.
    let (answer, events) = route(Hedge::Off).await;
    let answer = answer.expect("answered");
    assert_eq!(answer.model, "thinker");
    let (model, ttft) = first_token(&events);
    assert_eq!(model, "thinker");
    assert!(ttft >= Duration::from_millis(1900), "{ttft:?}");
    sim.shutdown().await;
}

/// What the detail view shows comes from the engine's snapshot: the last
/// reply's first token, first content and reasoning tokens; and the probe a
/// thinking model gets is known from `/models`, with room for reasoning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_knows_who_thinks_and_how_the_last_reply_came() {
    use chainwatch::engine::{RAISED_ROOM, REASONING_ROOM};
    use chainwatch::wiring;

    let scenario = Scenario::parse(SCENARIO, Path::new("thinking.toml")).unwrap();
    let sim = SimServer::start(scenario, "127.0.0.1:0".parse().unwrap(), 3)
        .await
        .unwrap();
    let mut config = sim.config();
    config.probe.ttft_timeout = Duration::from_millis(700);
    config.probe.timeout = Duration::from_secs(5);
    let engine = wiring::engine(config, None);
    let a = engine.probe("slow-thinker").await.expect("probed");
    assert!(a.is_ok(), "{:?}", a.failure);
    assert!(engine.thinks("slow-thinker"), "known from /models");
    assert_eq!(
        engine.probe_max_tokens("slow-thinker"),
        Some(16 + REASONING_ROOM)
    );
    let t = engine
        .snapshot("slow-thinker", chrono::Utc::now())
        .and_then(|s| s.last_timing)
        .expect("timing of the last reply");
    let (first, content) = (t.first_token.unwrap(), t.first_content.unwrap());
    assert!(first < Duration::from_millis(700), "{t:?}");
    assert!(content >= Duration::from_millis(1400), "{t:?}");
    // Asked for a low effort, it thought a quarter of its 200 tokens.
    assert_eq!(t.reasoning_tokens, Some(50));
    assert_eq!(t.completion_tokens, Some(51));
    // The raise is remembered: the next probe of `hungry` is sent raised.
    engine.probe("hungry").await.expect("probed");
    assert_eq!(engine.probe_max_tokens("hungry"), Some(16 + RAISED_ROOM));
    assert!(!engine.thinks("fast-or-not-configured"));
    sim.shutdown().await;
}

/// The demo's gemini-pro thinks for seconds, past the demo's first-token
/// deadline for content alone, and is healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demos_thinking_model_is_healthy() {
    let sim = SimServer::start(Scenario::demo(), "127.0.0.1:0".parse().unwrap(), 7)
        .await
        .unwrap();
    let demo = sim.config();
    let deadline = demo.probe.ttft_timeout;
    let mut config = demo.clone();
    config.models.retain(|m| m.name == "gemini-pro");
    config.chain = vec!["gemini-pro".into()];
    config.tiers = Default::default();
    let mut out = Vec::new();
    let args = CheckArgs {
        json: true,
        rounds: 1,
    };
    check::run(args, config, None, &mut out).await.unwrap();
    let report: Value = serde_json::from_slice(&out).unwrap();
    let m = model(&report, "gemini-pro");
    assert_eq!(m["status"], "healthy", "{m:#}");
    let content_at = Duration::from_millis(m["ttft_ms"]["p50"].as_u64().unwrap());
    assert!(content_at > deadline, "{content_at:?} vs {deadline:?}");
    sim.shutdown().await;
}
