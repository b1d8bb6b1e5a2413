//! failoverbench's sixteen faults (assets/scenarios/failoverbench.toml)
//! through the real client and router, against the simulator on loopback,
//! asserting what the benchmark's checks assert: attempts per model (from
//! the simulator's request log), the gap between the first two, the final
//! text complete or a clean error. Timings are scaled down (a 1 s
//! Retry-After, a 3 s stall, hedging after 300 ms) so the suite stays fast;
//! `examples/failoverbench.rs` plays the full timings through `ask --json`.
//! The last tests run `ask --json` through the binary.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chainwatch::api::{Attempt, Client, FailureClass};
use chainwatch::config::{Config, Hedge};
use chainwatch::health::{HealthBook, HealthPolicy, SampleKind, Status};
use chainwatch::route::{
    AttemptRole, HealthView, RouteAnswer, RouteEvent, RouteFailure, RouteRequest, RouteTarget,
    Router, Trial,
};
use chainwatch::sim::{Scenario, SimRequest, SimServer};
use chrono::{DateTime, Utc};
use tokio::sync::mpsc::unbounded_channel;

const PROMPT: &str =
    "Explain in exactly sixty words why a gateway earns trust only when the provider behind it misbehaves.";

/// The engine's part over a plain book, on a clock that can be moved on
/// (`skew`) so a sequence of prompts spans minutes without waiting; keeps
/// the half-open trials it was handed.
struct Book {
    book: Mutex<HealthBook>,
    skew: Mutex<chrono::Duration>,
    trials: Mutex<Vec<Trial>>,
}

impl Book {
    fn new(config: &Config) -> Book {
        let mut book = HealthBook::new(HealthPolicy::from(&config.health));
        for m in &config.models {
            book.add_model(&m.name, &m.id);
        }
        Book {
            book: Mutex::new(book),
            skew: Mutex::new(chrono::Duration::zero()),
            trials: Mutex::new(Vec::new()),
        }
    }

    fn skew(&self) -> chrono::Duration {
        *self.skew.lock().unwrap()
    }

    fn pass(&self, by: Duration) {
        *self.skew.lock().unwrap() += chrono::Duration::from_std(by).unwrap();
    }

    /// Runs the trials handed over to their end and records them, as `ask`
    /// does before it exits.
    async fn finish_trials(&self) -> usize {
        let trials: Vec<Trial> = std::mem::take(&mut *self.trials.lock().unwrap());
        let n = trials.len();
        for t in trials {
            let model = t.model.clone();
            let attempt = t.run().await;
            self.record(&model, &attempt, Utc::now());
        }
        n
    }
}

impl HealthView for Book {
    fn judge(&self, model: &str, now: DateTime<Utc>) -> (Status, String) {
        let book = self.book.lock().unwrap();
        match book.model(model) {
            Some(m) => m.status(book.policy(), now + self.skew()),
            None => (Status::Unknown, "not configured".into()),
        }
    }

    fn ttft_p95(&self, _model: &str, _now: DateTime<Utc>) -> Option<Duration> {
        None
    }

    fn record(&self, model: &str, attempt: &Attempt, now: DateTime<Utc>) {
        // A sample is dated by its start: on the moved clock too.
        let mut attempt = attempt.clone();
        attempt.started_at += self.skew();
        self.book.lock().unwrap().record_attempt(
            model,
            &attempt,
            SampleKind::Prompt,
            now + self.skew(),
        );
    }

    fn last_attempt(&self, model: &str) -> Option<DateTime<Utc>> {
        let last = self.book.lock().unwrap().model(model)?.last_attempt()?;
        Some(last - self.skew())
    }

    fn adopt(&self, trial: Trial) {
        self.trials.lock().unwrap().push(trial);
    }
}

/// The benchmark's scenario file, scaled down: replies at 1000 tokens/s,
/// a 1 s Retry-After, a 3 s stall, a 60 s outage the tests skip over with
/// `SimServer::advance`.
fn scenario() -> Scenario {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/scenarios/failoverbench.toml"
    );
    let full = Scenario::load(path.as_ref()).expect("the failoverbench scenario loads");
    let models = full
        .models()
        .iter()
        .cloned()
        .map(|mut m| {
            m.tokens_per_s = Some(1000.0);
            for f in &mut m.faults {
                if f.retry_after.is_some() {
                    f.retry_after = Some(Duration::from_secs(1));
                }
                if f.hang_for == Duration::from_secs(30) {
                    f.hang_for = Duration::from_secs(3);
                }
            }
            m
        })
        .collect();
    let mut s = Scenario::from_models(models);
    s.server.require_auth = false;
    s
}

fn canonical() -> String {
    let s = scenario();
    let reply = s.models()[0]
        .reply
        .clone()
        .expect("fb-ok has a fixed reply");
    norm(&reply)
}

fn norm(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

struct Wall {
    sim: SimServer,
    config: Config,
    router: Router,
    book: Book,
}

/// A fresh wall (the benchmark's reset) and a router with scaled-down
/// deadlines: hedge after 300 ms, 2 s to the first token, 500 ms between
/// tokens.
async fn wall() -> Wall {
    let sim = SimServer::start(scenario(), "127.0.0.1:0".parse().unwrap(), 7)
        .await
        .expect("sim");
    let mut config = sim.config();
    config.route.hedge = Hedge::After(Duration::from_millis(300));
    config.route.ttft_timeout = Duration::from_secs(2);
    config.route.stall_timeout = Duration::from_millis(500);
    config.route.timeout = Duration::from_secs(15);
    let router = Router::new(config.clone(), Client::new(config.route.connect_timeout));
    let book = Book::new(&config);
    Wall {
        sim,
        config,
        router,
        book,
    }
}

impl Wall {
    fn with_config(mut self, edit: impl FnOnce(&mut Config)) -> Wall {
        edit(&mut self.config);
        self.router = Router::new(
            self.config.clone(),
            Client::new(self.config.route.connect_timeout),
        );
        self
    }

    /// Routes the benchmark's prompt through `[primary, fallback]`,
    /// buffered (as `ask --json` does) unless `stream`.
    async fn ask(
        &self,
        primary: &str,
        fallback: &str,
        stream: bool,
    ) -> (Result<RouteAnswer, RouteFailure>, Vec<RouteEvent>, Duration) {
        let (tx, mut rx) = unbounded_channel();
        let request = RouteRequest::new(PROMPT, RouteTarget::Chain).buffered(!stream);
        let chain = [primary.to_string(), fallback.to_string()];
        let start = Instant::now();
        let result = self
            .router
            .route(&self.book, &chain, request, Some(tx))
            .await;
        let took = start.elapsed();
        let mut events = Vec::new();
        while let Ok(e) = rx.try_recv() {
            events.push(e);
        }
        (result, events, took)
    }

    fn log(&self, model: &str) -> Vec<SimRequest> {
        self.sim
            .requests()
            .into_iter()
            .filter(|r| r.model == model)
            .collect()
    }
}

/// The answer, complete and from `model`.
fn complete(result: &Result<RouteAnswer, RouteFailure>, model: Option<&str>) -> String {
    let answer = match result {
        Ok(a) => a,
        Err(f) => panic!("expected an answer, got: {f}"),
    };
    assert_eq!(norm(&answer.text), canonical(), "the whole answer");
    if let Some(model) = model {
        assert_eq!(answer.model, model, "{:?}", answer.attempts);
    }
    answer.model.clone()
}

fn gap(log: &[SimRequest]) -> Option<Duration> {
    Some(log.get(1)?.at.saturating_sub(log.first()?.at))
}

#[tokio::test]
async fn s01_a_short_retry_after_is_waited_out_on_the_same_model() {
    let w = wall().await;
    let (result, events, _) = w.ask("fb-s01-429-retry-after", "fb-ok", false).await;
    complete(&result, Some("fb-s01-429-retry-after"));
    let primary = w.log("fb-s01-429-retry-after");
    assert_eq!(primary.len(), 2, "{primary:?}");
    assert!(primary[0].action.starts_with("429"), "{primary:?}");
    let gap = gap(&primary).unwrap();
    assert!(
        gap >= Duration::from_millis(900),
        "Retry-After: 1 honoured: {gap:?}"
    );
    assert!(w.log("fb-ok").is_empty(), "no need for the fallback");
    assert!(events.iter().any(|e| matches!(e,
        RouteEvent::Retrying { model, wait, .. } if model == "fb-s01-429-retry-after" && !wait.is_zero())));
}

#[tokio::test]
async fn s02_a_bare_429_is_not_hammered() {
    let w = wall().await;
    let (result, _, _) = w.ask("fb-s02-429-persistent", "fb-ok", false).await;
    complete(&result, Some("fb-ok"));
    let primary = w.log("fb-s02-429-persistent");
    assert!((1..=6).contains(&primary.len()), "{primary:?}");
    let first = primary[0].at;
    let early = primary
        .iter()
        .filter(|r| r.at - first < Duration::from_secs(3))
        .count();
    assert!(early <= 4, "{primary:?}");
}

#[tokio::test]
async fn s03_a_single_500_is_retried_once_raced_with_the_fallback() {
    let w = wall().await;
    let (result, _, took) = w.ask("fb-s03-500-then-200", "fb-ok", false).await;
    complete(&result, None);
    let primary = w.log("fb-s03-500-then-200");
    assert_eq!(primary.len(), 2, "one retry: {primary:?}");
    assert!(primary[0].action.starts_with("500"), "{primary:?}");
    assert_eq!(primary[1].action, "200", "{primary:?}");
    let answer = result.unwrap();
    assert!(answer
        .attempts
        .iter()
        .any(|r| r.model == "fb-s03-500-then-200" && r.role == AttemptRole::Retry));
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[tokio::test]
async fn s04_a_persistent_503_fails_over_within_the_retry_budget() {
    let w = wall().await;
    let (result, _, _) = w.ask("fb-s04-503-persistent", "fb-ok", false).await;
    complete(&result, Some("fb-ok"));
    let primary = w.log("fb-s04-503-persistent");
    assert!((1..=2).contains(&primary.len()), "{primary:?}");
    // The next prompt skips it: the 503s made it unhealthy.
    let (result, _, _) = w.ask("fb-s04-503-persistent", "fb-ok", false).await;
    let answer = result.expect("the fallback again");
    assert_eq!(answer.skipped.len(), 1);
    assert_eq!(w.log("fb-s04-503-persistent").len(), primary.len());
}

#[tokio::test]
async fn s05_a_reset_before_headers_is_retried() {
    let w = wall().await;
    let (result, _, _) = w.ask("fb-s05-reset", "fb-ok", false).await;
    complete(&result, None);
    let primary = w.log("fb-s05-reset");
    assert!(primary[0].action.contains("reset"), "{primary:?}");
    assert!(primary.len() <= 2, "{primary:?}");
}

#[tokio::test]
async fn s06_a_silent_provider_is_hedged_not_retried() {
    let w = wall().await;
    let (result, _, took) = w.ask("fb-s06-no-response", "fb-ok", false).await;
    complete(&result, Some("fb-ok"));
    assert_eq!(w.log("fb-s06-no-response").len(), 1, "not retried");
    assert!(
        took < Duration::from_secs(10),
        "the hedge, not 120 s: {took:?}"
    );
    let answer = result.unwrap();
    assert!(answer
        .attempts
        .iter()
        .any(|r| r.model == "fb-s06-no-response" && r.cancelled));
}

#[tokio::test]
async fn s07_a_slow_first_token_loses_the_hedge() {
    let w = wall().await;
    let (result, events, took) = w.ask("fb-s07-slow-ttft", "fb-ok", false).await;
    complete(&result, Some("fb-ok"));
    assert_eq!(w.log("fb-s07-slow-ttft").len(), 1);
    assert!(took < Duration::from_secs(10), "not 20 s: {took:?}");
    assert!(events.iter().any(|e| matches!(e,
        RouteEvent::Trying { model, hedge: true } if model == "fb-ok")));
}

/// What the fallback was sent: never the broken half as a prefill.
fn no_prefill(w: &Wall, fallback: &str) {
    for r in w.log(fallback) {
        assert_eq!(r.last_role.as_deref(), Some("user"), "{r:?}");
    }
    assert!(!w
        .sim
        .requests()
        .iter()
        .any(|r| r.action.starts_with("400 prefill")));
}

#[tokio::test]
async fn s08_a_stream_cut_restarts_cleanly_when_nothing_was_shown() {
    let w = wall().await;
    let (result, events, _) = w.ask("fb-s08-stream-cut", "fb-ok", false).await;
    complete(&result, Some("fb-ok"));
    assert_eq!(w.log("fb-s08-stream-cut").len(), 1);
    no_prefill(&w, "fb-ok");
    let answer = result.unwrap();
    let cut = answer
        .attempts
        .iter()
        .find(|r| r.model == "fb-s08-stream-cut")
        .expect("the cut attempt is listed");
    assert!(cut.broke_off(), "{cut:?}");
    assert!(answer
        .attempts
        .iter()
        .any(|r| r.model == "fb-ok" && r.role == AttemptRole::Restart));
    assert!(events.iter().any(|e| matches!(e,
        RouteEvent::Restarting { model, .. } if model == "fb-s08-stream-cut")));
    assert!(
        !events.iter().any(|e| matches!(e, RouteEvent::Delta { .. })),
        "buffered: nothing streamed"
    );
}

#[tokio::test]
async fn s08_streaming_a_cut_is_reported_never_stitched() {
    let w = wall().await;
    let (result, events, _) = w.ask("fb-s08-stream-cut", "fb-ok", true).await;
    let failure = result.expect_err("the answer broke off after it was shown");
    assert!(failure.attempts.iter().any(|r| r.broke_off()), "{failure}");
    assert!(
        w.log("fb-ok").is_empty(),
        "nothing stitched onto a half answer"
    );
    let shown: String = events
        .iter()
        .filter_map(|e| match e {
            RouteEvent::Delta { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert!(!shown.is_empty() && norm(&shown) != canonical(), "{shown}");
}

#[tokio::test]
async fn s09_a_stall_is_a_timeout_and_fails_over() {
    let w = wall().await;
    let (result, _, took) = w.ask("fb-s09-stream-stall", "fb-ok", false).await;
    complete(&result, Some("fb-ok"));
    assert!(
        took < Duration::from_secs(3),
        "the stall deadline, not the 3 s stall: {took:?}"
    );
    let answer = result.unwrap();
    let stalled = answer
        .attempts
        .iter()
        .find(|r| r.model == "fb-s09-stream-stall")
        .expect("listed");
    assert_eq!(stalled.attempt.class(), Some(FailureClass::Timeout));
    let message = &stalled.attempt.failure.as_ref().unwrap().message;
    assert!(
        message.contains("stall") || message.contains("between tokens"),
        "{message}"
    );
    // Alive afterwards.
    let (after, _, _) = w.ask("fb-ok", "fb-ok", false).await;
    complete(&after, Some("fb-ok"));
}

#[tokio::test]
async fn s10_a_malformed_event_leaks_nothing_partial() {
    let w = wall().await;
    let (result, _, _) = w.ask("fb-s10-malformed-chunk", "fb-ok", false).await;
    // Either skipped in place or restarted on the fallback: whole either way.
    complete(&result, None);
    no_prefill(&w, "fb-ok");
    let (after, _, _) = w.ask("fb-ok", "fb-ok", false).await;
    complete(&after, Some("fb-ok"));
}

#[tokio::test]
async fn s11_a_stream_without_done_is_finalised_with_its_usage() {
    let w = wall().await;
    let (result, _, took) = w.ask("fb-s11-no-done", "fb-ok", false).await;
    complete(&result, Some("fb-s11-no-done"));
    assert!(took < Duration::from_secs(5), "{took:?}");
    let usage = result.unwrap().usage.expect("usage reported");
    assert!(usage.completion_tokens > 0);
    assert!(w.log("fb-ok").is_empty());
}

#[tokio::test]
async fn s12_context_length_is_not_retried_on_the_same_model() {
    let w = wall().await;
    let (result, _, _) = w.ask("fb-s12-context-length", "fb-ok", false).await;
    complete(&result, Some("fb-ok"));
    assert_eq!(w.log("fb-s12-context-length").len(), 1);
}

#[tokio::test]
async fn s13_a_refusal_is_the_outcome_not_routed_around() {
    let w = wall().await;
    let (result, _, _) = w.ask("fb-s13-content-filter", "fb-ok", false).await;
    let failure = result.expect_err("refused");
    let refusal = failure.refusal().expect("the refusal is the outcome");
    assert_eq!(refusal.model, "fb-s13-content-filter");
    assert_eq!(refusal.attempt.class(), Some(FailureClass::Refused));
    assert_eq!(w.log("fb-s13-content-filter").len(), 1);
    assert!(w.log("fb-ok").is_empty(), "not routed around");

    // reroute_refusals: the next model is tried with the same prompt.
    let w = wall()
        .await
        .with_config(|c| c.route.reroute_refusals = true);
    let (result, _, _) = w.ask("fb-s13-content-filter", "fb-ok", false).await;
    complete(&result, Some("fb-ok"));
    assert_eq!(w.log("fb-s13-content-filter").len(), 1);
}

#[tokio::test]
async fn s14_the_fallback_is_never_sent_the_broken_half_as_a_prefill() {
    let w = wall().await;
    let (result, _, _) = w.ask("fb-s14-stream-cut", "fb-ok-noprefill", false).await;
    complete(&result, Some("fb-ok-noprefill"));
    no_prefill(&w, "fb-ok-noprefill");
    assert_eq!(w.log("fb-ok-noprefill").len(), 1);
}

#[tokio::test]
async fn s15_a_primary_back_from_an_outage_is_used_again() {
    // The default probe interval (60 s): a half-open period of 15 s.
    let w = wall()
        .await
        .with_config(|c| c.probe.interval = Duration::from_secs(60));
    let primary = "fb-s15-flap";
    let step = Duration::from_secs(4);
    let mut served = Vec::new();
    for _ in 0..20 {
        let sent = w.sim.elapsed();
        let (result, _, _) = w.ask(primary, "fb-ok", false).await;
        served.push((sent, complete(&result, None)));
        w.book.finish_trials().await;
        w.sim.advance(step);
        w.book.pass(step);
    }
    let outage = Duration::from_secs(60);
    // Served during the outage: every prompt, by the fallback.
    let during: Vec<&(Duration, String)> = served.iter().filter(|(t, _)| *t < outage).collect();
    assert!(during.len() >= 14, "{served:?}");
    assert!(during.iter().all(|(_, m)| m == "fb-ok"), "{served:?}");
    let log = w.log(primary);
    let during: Vec<&SimRequest> = log.iter().filter(|r| r.at < outage).collect();
    // Trials every 15 s (a first failure and its retry, then one trial per
    // period), never one per prompt.
    assert!(during.len() <= 8, "{log:?}");
    assert!(
        during.len() >= 3,
        "half-open trials during the outage: {log:?}"
    );
    // Back on the primary within 30 s of its recovery.
    let back = log
        .iter()
        .find(|r| r.action == "200")
        .expect("the primary is tried again once healthy");
    assert!(back.at <= Duration::from_secs(90), "{log:?}");
}

#[tokio::test]
async fn s16_the_fallback_is_reported_with_its_usage() {
    let w = wall().await;
    let (result, _, _) = w.ask("fb-s16-503-persistent", "fb-ok", false).await;
    complete(&result, Some("fb-ok"));
    let answer = result.unwrap();
    assert_eq!(answer.model_id, "fb-ok");
    assert!(answer.usage.is_some());
    assert!(w.log("fb-s16-503-persistent").len() <= 6);
    // Only the primary was passed over; it failed, it was not skipped.
    assert!(answer.skipped.is_empty(), "{:?}", answer.skipped);
}

// ---- `ask --json` through the binary, full timings where they are short.

fn write_config(dir: &std::path::Path, base: &str, models: &[&str]) -> std::path::PathBuf {
    let chain: Vec<String> = models.iter().map(|m| format!("{m:?}")).collect();
    let mut text = format!(
        "chain = [{}]\n\n[[endpoint]]\nname = \"wall\"\nbase_url = {base:?}\ndialect = \"openai\"\n\n",
        chain.join(", ")
    );
    for m in models {
        text.push_str(&format!(
            "[[model]]\nname = {m:?}\nid = {m:?}\nendpoint = \"wall\"\n\n"
        ));
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `ask --json` with `[primary, fallback]` and a fresh state: exit code
/// and the JSON.
async fn ask_json(sim: &SimServer, primary: &str, fallback: &str) -> (i32, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sim.base_url(), &[primary, fallback]);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_chainwatch"))
        .arg("--config")
        .arg(&config)
        .arg("--state")
        .arg(dir.path().join("state.json"))
        .args(["ask", "--json", PROMPT])
        .output()
        .await
        .expect("the binary runs");
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "JSON on stdout ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

async fn full_sim() -> SimServer {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/scenarios/failoverbench.toml"
    );
    let s = Scenario::load(path.as_ref()).unwrap();
    SimServer::start(s, "127.0.0.1:0".parse().unwrap(), 7)
        .await
        .unwrap()
}

#[tokio::test]
async fn ask_json_restarts_a_cut_stream_on_the_fallback() {
    let sim = full_sim().await;
    let (code, json) = ask_json(&sim, "fb-s14-stream-cut", "fb-ok-noprefill").await;
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["model"], "fb-ok-noprefill");
    assert_eq!(norm(json["text"].as_str().unwrap()), canonical());
    let attempts = json["attempts"].as_array().unwrap();
    assert!(
        attempts
            .iter()
            .any(|a| a["model"] == "fb-s14-stream-cut" && a["broke_off"] == true),
        "{json}"
    );
    assert!(
        attempts
            .iter()
            .any(|a| a["model"] == "fb-ok-noprefill" && a["role"] == "restart"),
        "{json}"
    );
    assert!(!sim
        .requests()
        .iter()
        .any(|r| r.action.starts_with("400 prefill")));
}

#[tokio::test]
async fn ask_json_says_refused_and_exits_1() {
    let sim = full_sim().await;
    let (code, json) = ask_json(&sim, "fb-s13-content-filter", "fb-ok").await;
    assert_eq!(code, 1, "{json}");
    assert_eq!(json["ok"], false);
    assert_eq!(json["outcome"], "refused");
    assert_eq!(json["refusal"]["model"], "fb-s13-content-filter");
    assert!(
        !json["refusal"]["reason"].as_str().unwrap().is_empty(),
        "{json}"
    );
    assert_eq!(sim.stats("fb-ok").requests, 0);
    assert_eq!(sim.stats("fb-s13-content-filter").requests, 1);
}

#[tokio::test]
async fn ask_json_names_the_fallback_and_its_usage() {
    let sim = full_sim().await;
    let (code, json) = ask_json(&sim, "fb-s16-503-persistent", "fb-ok").await;
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["model"], "fb-ok");
    assert!(json["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    assert!(sim.stats("fb-s16-503-persistent").requests <= 6);
    assert_eq!(json["skipped"].as_array().unwrap().len(), 0, "{json}");
}
