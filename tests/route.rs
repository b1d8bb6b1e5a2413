//! The router against simulated models on loopback, with a plain
//! `HealthBook` standing in for the engine.

use std::sync::Mutex;
use std::time::Duration;

use chainwatch::api::{Attempt, Client, Dialect, Failure, FailureClass};
use chainwatch::config::{Config, Endpoint, Hedge, Tier, Tiers};
use chainwatch::health::{HealthBook, HealthPolicy, SampleKind, Status};
use chainwatch::route::{
    AttemptRole, HealthView, Plan, RouteAnswer, RouteEvent, RouteFailure, RouteRequest,
    RouteTarget, Router,
};
use chainwatch::sim::{Scenario, SimServer};
use chainwatch::wiring::Stack;
use chrono::{DateTime, Utc};
use tokio::sync::mpsc::unbounded_channel;

/// The engine's part, over a plain book; remembers what was recorded.
struct Book {
    book: Mutex<HealthBook>,
    recorded: Mutex<Vec<(String, Attempt)>>,
}

impl Book {
    fn new(config: &Config) -> Book {
        let mut book = HealthBook::new(HealthPolicy::from(&config.health));
        for m in &config.models {
            book.add_model(&m.name, &m.id);
        }
        Book {
            book: Mutex::new(book),
            recorded: Mutex::new(Vec::new()),
        }
    }

    /// One failed probe: with no other sample the model is unhealthy.
    fn fail(&self, model: &str, class: FailureClass) {
        let attempt = Attempt {
            failure: Some(Failure {
                class,
                message: "provider unavailable".into(),
                retry_after: None,
            }),
            http_status: Some(502),
            ..ok_attempt()
        };
        self.book
            .lock()
            .unwrap()
            .record_attempt(model, &attempt, SampleKind::Probe, Utc::now());
    }

    fn recorded(&self) -> Vec<(String, Option<FailureClass>)> {
        self.recorded
            .lock()
            .unwrap()
            .iter()
            .map(|(m, a)| (m.clone(), a.class()))
            .collect()
    }
}

impl HealthView for Book {
    fn judge(&self, model: &str, now: DateTime<Utc>) -> (Status, String) {
        let book = self.book.lock().unwrap();
        match book.model(model) {
            Some(m) => m.status(book.policy(), now),
            None => (Status::Unknown, "not configured".into()),
        }
    }

    fn ttft_p95(&self, model: &str, now: DateTime<Utc>) -> Option<Duration> {
        let book = self.book.lock().unwrap();
        book.snapshot(model, now)
            .and_then(|s| s.ttft)
            .map(|p| p.p95)
    }

    fn record(&self, model: &str, attempt: &Attempt, now: DateTime<Utc>) {
        self.book
            .lock()
            .unwrap()
            .record_attempt(model, attempt, SampleKind::Prompt, now);
        self.recorded
            .lock()
            .unwrap()
            .push((model.to_string(), attempt.clone()));
    }

    fn last_attempt(&self, model: &str) -> Option<DateTime<Utc>> {
        self.book.lock().unwrap().model(model)?.last_attempt()
    }

    // A trial that lost the race is dropped here: nothing measures it.
    fn adopt(&self, _trial: chainwatch::route::Trial) {}
}

fn ok_attempt() -> Attempt {
    Attempt {
        started_at: Utc::now(),
        failure: None,
        http_status: Some(200),
        latency: Duration::from_millis(300),
        ttft: Some(Duration::from_millis(100)),
        ttfc: None,
        tokens_per_s: None,
        served_model: None,
        served_by: None,
        fingerprint: None,
        usage: None,
        reply: "pong".into(),
        finish_reason: Some("stop".into()),
    }
}

async fn sim() -> SimServer {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/scenarios/route-basic.toml"
    );
    let scenario = Scenario::load(path.as_ref()).expect("scenario");
    SimServer::start(scenario, "127.0.0.1:0".parse().unwrap(), 7)
        .await
        .expect("sim")
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Every sim model; no hedging unless a test asks; tiers for escalation.
fn config(sim: &SimServer) -> Config {
    let mut config = sim.config();
    config.route.hedge = Hedge::Off;
    config.route.ttft_timeout = Duration::from_secs(20);
    config.route.timeout = Duration::from_secs(25);
    config.tiers = Tiers {
        budget: names(&["down", "down2"]),
        standard: names(&["fast-b"]),
        premium: names(&["fast-a"]),
    };
    config
}

fn router(config: &Config) -> Router {
    Router::new(config.clone(), Client::new(config.route.connect_timeout))
}

/// Routes "hello" and collects the events.
async fn ask(
    router: &Router,
    book: &Book,
    chain: &[&str],
    target: RouteTarget,
    hedge: Option<Hedge>,
) -> (Result<RouteAnswer, RouteFailure>, Vec<RouteEvent>) {
    let (tx, mut rx) = unbounded_channel();
    let mut request = RouteRequest::new("hello", target);
    request.hedge = hedge;
    let result = router.route(book, &names(chain), request, Some(tx)).await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (result, events)
}

fn tried(events: &[RouteEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            RouteEvent::Trying { model, .. } => Some(model.clone()),
            _ => None,
        })
        .collect()
}

fn attempts(a: &[chainwatch::route::AttemptRecord]) -> Vec<(String, Option<FailureClass>, bool)> {
    a.iter()
        .map(|r| (r.model.clone(), r.attempt.class(), r.cancelled))
        .collect()
}

#[tokio::test]
async fn skips_what_is_down_and_says_why() {
    let sim = sim().await;
    let config = config(&sim);
    let router = router(&config);
    let book = Book::new(&config);
    book.fail("down", FailureClass::ServerError);
    book.fail("hang", FailureClass::Timeout);

    let (result, events) = ask(
        &router,
        &book,
        &["down", "hang", "fast-b", "fast-a"],
        RouteTarget::Chain,
        None,
    )
    .await;
    let answer = result.expect("answered");
    assert_eq!(
        answer.model, "fast-b",
        "first eligible in the chain's order"
    );
    assert_eq!(answer.model_id, "sim/fast-b");
    assert_eq!(answer.served_model.as_deref(), Some("sim/fast-b"));
    assert_eq!(answer.served_by.as_deref(), Some("Sim B"));
    assert!(!answer.text.is_empty());
    assert!(!answer.last_resort);
    let skipped: Vec<(&str, Status)> = answer
        .skipped
        .iter()
        .map(|s| (s.model.as_str(), s.status))
        .collect();
    assert_eq!(
        skipped,
        [("down", Status::Unhealthy), ("hang", Status::Unhealthy)]
    );
    assert!(
        answer.skipped[0].reason.contains("0/1 ok") && answer.skipped[0].reason.contains("502"),
        "{}",
        answer.skipped[0].reason
    );
    assert_eq!(tried(&events), ["fast-b"]);
    assert!(
        matches!(&events[0], RouteEvent::Plan { order, .. } if order == &names(&["fast-b", "fast-a"]))
    );
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            RouteEvent::Delta { model, text } if model == "fast-b" => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, answer.text, "the deltas are the answer");
    assert_eq!(
        sim.stats("sim/down").requests,
        0,
        "a known-down model is not contacted"
    );
    assert_eq!(book.recorded(), [("fast-b".to_string(), None)]);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_failing_primary_is_recorded_and_skipped_on_the_next_prompt() {
    let sim = sim().await;
    let config = config(&sim);
    let router = router(&config);
    let book = Book::new(&config);

    let (first, events) = ask(
        &router,
        &book,
        &["down", "fast-a"],
        RouteTarget::Chain,
        None,
    )
    .await;
    let first = first.expect("answered by the fallback");
    assert_eq!(first.model, "fast-a");
    // The 502 is retried once, raced with the fallback: the retry fails
    // again (a sample) or loses the race to fast-a (closed, no sample).
    let made = attempts(&first.attempts);
    assert_eq!(
        made.first(),
        Some(&("down".to_string(), Some(FailureClass::ServerError), false))
    );
    assert!(
        made.contains(&("fast-a".to_string(), None, false)),
        "{made:?}"
    );
    let roles: Vec<(&str, AttemptRole)> = first
        .attempts
        .iter()
        .map(|r| (r.model.as_str(), r.role))
        .collect();
    assert!(roles.contains(&("down", AttemptRole::Retry)), "{roles:?}");
    assert_eq!(made.len(), 3, "{made:?}");
    assert!(events.iter().any(|e| matches!(e,
        RouteEvent::Failed { model, class: FailureClass::ServerError, after_first_token: false, .. } if model == "down")));
    assert!(events.iter().any(|e| matches!(e,
        RouteEvent::Retrying { model, wait, .. } if model == "down" && wait.is_zero())));
    let recorded = book.recorded();
    assert_eq!(
        recorded.first(),
        Some(&("down".to_string(), Some(FailureClass::ServerError)))
    );
    assert!(
        recorded.contains(&("fast-a".to_string(), None)),
        "every attempt that ended is a health sample: {recorded:?}"
    );

    let (second, events) = ask(
        &router,
        &book,
        &["down", "fast-a"],
        RouteTarget::Chain,
        None,
    )
    .await;
    let second = second.expect("answered");
    assert_eq!(
        tried(&events),
        ["fast-a"],
        "the failed primary is skipped at once"
    );
    assert_eq!(second.skipped.len(), 1);
    assert_eq!(second.skipped[0].model, "down");
    let asked = sim.stats("sim/down").requests;
    assert!((1..=2).contains(&asked), "the first prompt only: {asked}");
    // The usage the provider reported, and its cost.
    let usage = second.usage.expect("usage");
    assert!(usage.completion_tokens > 0);
    assert!(second.cost.is_some_and(|c| c > 0.0), "{:?}", second.cost);
    assert!(second.ttft.is_some_and(|t| t <= second.total));
    sim.shutdown().await;
}

#[tokio::test]
async fn nothing_eligible_tries_every_model_as_a_last_resort() {
    let sim = sim().await;
    let config = config(&sim);
    let router = router(&config);
    let book = Book::new(&config);
    for m in ["down", "fast-a"] {
        book.fail(m, FailureClass::ServerError);
    }
    let (result, events) = ask(
        &router,
        &book,
        &["down", "fast-a"],
        RouteTarget::Chain,
        None,
    )
    .await;
    let answer = result.expect("fast-a recovered");
    assert!(answer.last_resort);
    assert_eq!(answer.model, "fast-a");
    // The skip before the answer still says why; fast-a's own is gone:
    // it answered, it was not passed over.
    assert_eq!(answer.skipped.len(), 1, "{:?}", answer.skipped);
    assert_eq!(answer.skipped[0].model, "down");
    let tried = tried(&events);
    assert_eq!(tried.first().map(String::as_str), Some("down"));
    assert!(tried.contains(&"fast-a".to_string()), "{tried:?}");
    assert!(matches!(
        &events[0],
        RouteEvent::Plan {
            last_resort: true,
            ..
        }
    ));
    sim.shutdown().await;
}

#[tokio::test]
async fn all_failed_is_one_error_listing_every_attempt() {
    let sim = sim().await;
    let config = config(&sim);
    let router = router(&config);
    let book = Book::new(&config);
    let (result, _) = ask(&router, &book, &["down", "down2"], RouteTarget::Chain, None).await;
    let failure = result.expect_err("all down");
    // Each 5xx once more (raced with the next model), then nothing is left.
    let mut made = attempts(&failure.attempts);
    made.sort();
    assert_eq!(
        made,
        [
            ("down".to_string(), Some(FailureClass::ServerError), false),
            ("down".to_string(), Some(FailureClass::ServerError), false),
            ("down2".to_string(), Some(FailureClass::ServerError), false),
            ("down2".to_string(), Some(FailureClass::ServerError), false)
        ]
    );
    assert!(failure.skipped.is_empty() && failure.refusal().is_none());
    let message = failure.to_string();
    assert!(
        message.starts_with("every model failed")
            && message.contains("down: server_error")
            && message.contains("down2: server_error"),
        "{message}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_tier_escalates_when_it_fails_whole() {
    let sim = sim().await;
    let config = config(&sim);
    let router = router(&config);
    let book = Book::new(&config);
    let (result, events) = ask(&router, &book, &[], RouteTarget::Tier(Tier::Budget), None).await;
    let answer = result.expect("standard answers");
    assert_eq!(answer.model, "fast-b");
    // The budget tier first (each 5xx retried once), then standard.
    let mut tried = tried(&events);
    assert_eq!(tried.first().map(String::as_str), Some("down"));
    tried.sort();
    assert_eq!(tried, ["down", "down", "down2", "down2", "fast-b"]);
    let escalations: Vec<(Tier, Tier)> = events
        .iter()
        .filter_map(|e| match e {
            RouteEvent::Escalate { from, to } => Some((*from, *to)),
            _ => None,
        })
        .collect();
    assert_eq!(escalations, [(Tier::Budget, Tier::Standard)]);
    assert_eq!(sim.stats("sim/fast-a").requests, 0, "premium not needed");

    // Now the whole budget tier is known down: the plan starts at standard.
    let plan = router.plan(&book, &[], &RouteTarget::Tier(Tier::Budget), Utc::now());
    assert_eq!(plan.order, names(&["fast-b", "fast-a"]));
    assert_eq!(
        plan.tiers,
        [
            (Tier::Standard, names(&["fast-b"])),
            (Tier::Premium, names(&["fast-a"]))
        ]
    );
    let (_, events) = ask(&router, &book, &[], RouteTarget::Tier(Tier::Budget), None).await;
    assert!(events.iter().any(|e| matches!(
        e,
        RouteEvent::Escalate {
            from: Tier::Budget,
            to: Tier::Standard
        }
    )));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_failure_after_the_first_token_is_reported_not_replaced() {
    let sim = sim().await;
    let config = config(&sim);
    let router = router(&config);
    let book = Book::new(&config);
    let (result, events) = ask(
        &router,
        &book,
        &["broken", "fast-a"],
        RouteTarget::Chain,
        None,
    )
    .await;
    let failure = result.expect_err("a broken answer is a failure");
    assert_eq!(
        attempts(&failure.attempts),
        [("broken".to_string(), Some(FailureClass::Truncated), false)]
    );
    assert!(
        !failure.attempts[0].attempt.reply.is_empty(),
        "the partial text is kept"
    );
    assert!(events.iter().any(|e| matches!(e,
        RouteEvent::Failed { model, after_first_token: true, .. } if model == "broken")));
    assert!(failure.to_string().contains("broke off"), "{failure}");
    assert_eq!(sim.stats("sim/fast-a").requests, 0, "not silently replaced");
    assert_eq!(book.recorded().len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn one_model_is_tried_whatever_its_health() {
    let sim = sim().await;
    let config = config(&sim);
    let router = router(&config);
    let book = Book::new(&config);
    book.fail("fast-a", FailureClass::ServerError);
    let (result, _) = ask(
        &router,
        &book,
        &[],
        RouteTarget::Model("fast-a".into()),
        None,
    )
    .await;
    assert_eq!(result.expect("answered").model, "fast-a");

    let (result, _) = ask(&router, &book, &[], RouteTarget::Model("nope".into()), None).await;
    let failure = result.expect_err("unknown model");
    assert!(failure.attempts.is_empty());
    assert!(
        failure.to_string().contains("not in the config"),
        "{failure}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_hung_primary_is_hedged_and_its_connection_closed() {
    let sim = sim().await;
    let config = config(&sim);
    let router = router(&config);
    let book = Book::new(&config);
    let started = std::time::Instant::now();
    let (result, events) = ask(
        &router,
        &book,
        &["hang", "fast-a"],
        RouteTarget::Chain,
        Some(Hedge::After(Duration::from_millis(300))),
    )
    .await;
    let answer = result.expect("the hedge answers");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "far under the 20 s first-token deadline"
    );
    assert_eq!(answer.model, "fast-a");
    assert_eq!(
        attempts(&answer.attempts),
        [
            ("hang".to_string(), None, true),
            ("fast-a".to_string(), None, false)
        ]
    );
    assert!(answer.attempts[1].hedged && !answer.attempts[0].hedged);
    assert!(events
        .iter()
        .any(|e| matches!(e, RouteEvent::Trying { model, hedge: true } if model == "fast-a")));
    assert!(events
        .iter()
        .any(|e| matches!(e, RouteEvent::Cancelled { model, .. } if model == "hang")));
    assert_eq!(
        book.recorded(),
        [("fast-a".to_string(), None)],
        "the hedge loser is not a failure sample"
    );
    assert_eq!(
        wait_cancelled(&sim, "sim/hang").await,
        1,
        "the hung connection is closed"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_failed_hedge_is_replaced_at_once_while_the_slow_model_runs_on() {
    let sim = sim().await;
    let config = config(&sim);
    let router = router(&config);
    let book = Book::new(&config);
    let (result, events) = ask(
        &router,
        &book,
        &["hang", "down", "fast-a"],
        RouteTarget::Chain,
        Some(Hedge::After(Duration::from_millis(200))),
    )
    .await;
    let answer = result.expect("answered");
    assert_eq!(answer.model, "fast-a");
    let trying: Vec<(String, bool)> = events
        .iter()
        .filter_map(|e| match e {
            RouteEvent::Trying { model, hedge } => Some((model.clone(), *hedge)),
            _ => None,
        })
        .collect();
    assert_eq!(
        trying,
        [
            ("hang".to_string(), false),
            ("down".to_string(), true),
            ("down".to_string(), false),
            ("fast-a".to_string(), false)
        ],
        "the hedge failed: its one retry, then the next model, without a second wait"
    );
    assert_eq!(
        attempts(&answer.attempts),
        [
            ("down".to_string(), Some(FailureClass::ServerError), false),
            ("down".to_string(), Some(FailureClass::ServerError), false),
            ("hang".to_string(), None, true),
            ("fast-a".to_string(), None, false)
        ]
    );
    assert_eq!(
        book.recorded(),
        [
            ("down".to_string(), Some(FailureClass::ServerError)),
            ("down".to_string(), Some(FailureClass::ServerError)),
            ("fast-a".to_string(), None)
        ]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_slow_failure_moves_on_rather_than_retrying_beside_a_silent_hedge() {
    let sim = sim().await;
    let config = config(&sim);
    let router = router(&config);
    let book = Book::new(&config);
    let (result, events) = ask(
        &router,
        &book,
        &["slow-down", "hang", "fast-a"],
        RouteTarget::Chain,
        Some(Hedge::After(Duration::from_millis(200))),
    )
    .await;
    let answer = result.expect("answered");
    assert_eq!(answer.model, "fast-a");
    assert_eq!(
        tried(&events),
        ["slow-down", "hang", "fast-a"],
        "a 502 that took 600 ms (past its hedge delay) is no quick blip: the \
         next model gets the room, not a retry that would take as long"
    );
    let slow = sim
        .requests()
        .iter()
        .filter(|r| r.model.ends_with("slow-down"))
        .count();
    assert_eq!(slow, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn dropping_the_route_closes_every_connection() {
    let sim = sim().await;
    let config = config(&sim);
    let router = router(&config);
    let book = Book::new(&config);
    let (tx, mut rx) = unbounded_channel();
    let request = RouteRequest::new("hello", RouteTarget::Chain);
    let chain = names(&["hang"]);
    let routed = tokio::time::timeout(
        Duration::from_millis(300),
        router.route(&book, &chain, request, Some(tx)),
    )
    .await;
    assert!(routed.is_err(), "still waiting on the hung model");
    let mut cancelled = false;
    while let Ok(e) = rx.try_recv() {
        cancelled |= matches!(e, RouteEvent::Cancelled { model, .. } if model == "hang");
    }
    assert!(cancelled, "the cancel is reported");
    assert_eq!(wait_cancelled(&sim, "sim/hang").await, 1);
    assert!(book.recorded().is_empty(), "a cancel is not a sample");
    sim.shutdown().await;
}

#[tokio::test]
async fn native_fallback_sends_the_rest_of_the_endpoint_in_one_request() {
    let sim = sim().await;
    let mut config = config(&sim);
    config.endpoints[0].native_fallback = true;
    let router = router(&config);
    let book = Book::new(&config);
    let (result, events) = ask(
        &router,
        &book,
        &["down", "mini", "fast-a"],
        RouteTarget::Chain,
        None,
    )
    .await;
    let answer = result.expect("answered");
    assert_eq!(tried(&events), ["down"], "one request");
    assert_eq!(answer.model, "mini", "the served model names who answered");
    assert_eq!(answer.served_model.as_deref(), Some("sim/fast-a-mini"));
    assert_eq!(
        attempts(&answer.attempts),
        [("mini".to_string(), None, false)]
    );
    assert_eq!(sim.stats("sim/down").requests, 1);
    assert_eq!(sim.stats("sim/fast-a").requests, 0);
    assert_eq!(book.recorded(), [("mini".to_string(), None)]);
    sim.shutdown().await;
}

#[test]
fn automatic_hedge_delay_follows_the_models_first_token_p95() {
    let config = Config::demo(
        "http://127.0.0.1:9",
        &[
            ("a".into(), "x/a".into(), None),
            ("b".into(), "x/b".into(), None),
            ("c".into(), "x/c".into(), None),
        ],
    );
    let router = router(&config);
    let book = Book::new(&config);
    let now = Utc::now();
    for (model, ttft) in [("b", 200), ("c", 30_000)] {
        let attempt = Attempt {
            ttft: Some(Duration::from_millis(ttft)),
            ..ok_attempt()
        };
        book.book
            .lock()
            .unwrap()
            .record_attempt(model, &attempt, SampleKind::Probe, now);
    }
    let delay = |model| router.hedge_delay(Hedge::Auto, &book, model, now);
    assert_eq!(delay("a"), Some(Duration::from_millis(1500)), "no history");
    assert_eq!(delay("b"), Some(Duration::from_secs(1)), "at least 1 s");
    assert_eq!(delay("c"), Some(Duration::from_secs(10)), "at most 10 s");
    assert_eq!(router.hedge_delay(Hedge::Off, &book, "a", now), None);
    assert_eq!(
        router.hedge_delay(Hedge::After(Duration::from_millis(5)), &book, "a", now),
        Some(Duration::from_millis(5))
    );
}

#[test]
fn the_plan_names_unknown_chain_entries() {
    let config = Config::demo("http://127.0.0.1:9", &[("a".into(), "x/a".into(), None)]);
    let router = router(&config);
    let book = Book::new(&config);
    let plan: Plan = router.plan(
        &book,
        &names(&["ghost", "a"]),
        &RouteTarget::Chain,
        Utc::now(),
    );
    assert_eq!(plan.order, names(&["a"]));
    assert_eq!(plan.skipped.len(), 1);
    assert_eq!(plan.skipped[0].status, Status::Misconfigured);
    assert!(plan.tiers.is_empty());
}

#[test]
fn a_recovering_model_is_routed_to_and_an_unhealthy_one_skipped() {
    let mut config = Config::demo(
        "http://127.0.0.1:9",
        &[
            ("back".into(), "x/back".into(), None),
            ("down".into(), "x/down".into(), None),
        ],
    );
    // Half-open period: 60 s / 4 = 15 s.
    config.probe.interval = Duration::from_secs(60);
    let router = router(&config);
    let book = Book::new(&config);
    let now = Utc::now();
    let at = |secs: i64| now - chrono::TimeDelta::seconds(secs);
    let failed = |secs| Attempt {
        started_at: at(secs),
        failure: Some(Failure {
            class: FailureClass::ServerError,
            message: "provider unavailable".into(),
            retry_after: None,
        }),
        http_status: Some(502),
        ..ok_attempt()
    };
    let ok = |secs| Attempt {
        started_at: at(secs),
        ..ok_attempt()
    };
    {
        let mut b = book.book.lock().unwrap();
        for (model, attempt) in [
            ("back", failed(40)),
            ("back", ok(30)),
            ("back", ok(20)),
            ("back", ok(10)),
            // Within its half-open period (interval / 4 = 15 s): no trial.
            ("down", failed(5)),
        ] {
            let when = attempt.started_at;
            b.record_attempt(model, &attempt, SampleKind::Probe, when);
        }
    }
    assert_eq!(book.judge("back", now).0, Status::Recovering);
    let plan: Plan = router.plan(&book, &names(&["down", "back"]), &RouteTarget::Chain, now);
    assert_eq!(plan.order, names(&["back"]), "re-admitted: routable");
    assert!(!plan.last_resort);
    assert_eq!(plan.skipped.len(), 1);
    assert_eq!(
        (plan.skipped[0].model.as_str(), plan.skipped[0].status),
        ("down", Status::Unhealthy)
    );
    assert_eq!(plan.trial, None);

    // 20 s later its half-open period has passed: a trial, raced with "back".
    let later = now + chrono::TimeDelta::seconds(20);
    let plan: Plan = router.plan(&book, &names(&["down", "back"]), &RouteTarget::Chain, later);
    assert_eq!(plan.order, names(&["down", "back"]));
    assert_eq!(plan.trial.as_deref(), Some("down"));
    assert!(
        plan.skipped.is_empty(),
        "a model on trial is not passed over"
    );
    // Behind a routable model it would not be reached: no trial.
    let plan: Plan = router.plan(&book, &names(&["back", "down"]), &RouteTarget::Chain, later);
    assert_eq!((plan.order, plan.trial), (names(&["back"]), None));
    // Alone it has nothing to race: the last resort's, as before.
    let plan: Plan = router.plan(&book, &names(&["down"]), &RouteTarget::Chain, later);
    assert!(plan.last_resort && plan.trial.is_none());
    assert_eq!(plan.skipped.len(), 1);
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

// ---------------------------------------------------------------------------
// The wiring: the engine and router the dashboard and `ask` are given.

#[tokio::test]
async fn a_reply_without_a_cost_is_priced_from_the_models_list() {
    let sim = sim().await;
    let mut config = config(&sim);
    // The Anthropic dialect reports tokens but no `usage.cost`; the prices
    // come from `/models` on the OpenAI-dialect endpoint of the same server.
    let sim_endpoint = config.endpoints[0].clone();
    config.endpoints.push(Endpoint {
        name: "direct".into(),
        dialect: Dialect::Anthropic,
        ..sim_endpoint
    });
    let mut direct = config.model("fast-a").cloned().expect("fast-a");
    direct.name = "fast-a-direct".into();
    direct.endpoint = "direct".into();
    config.models.push(direct);
    let stack = Stack::new(config, None);
    let prompt = || {
        let request = RouteRequest::new("hello", RouteTarget::Model("fast-a-direct".into()));
        stack.router.route(&stack.engine, &[], request, None)
    };

    let unpriced = prompt().await.expect("answered");
    let usage = unpriced.usage.clone().expect("usage");
    assert_eq!(usage.cost, None, "the Anthropic dialect reports no cost");
    assert!(usage.completion_tokens > 0, "{usage:?}");
    assert_eq!(unpriced.cost, None, "no price known yet");

    stack.engine.refresh_prices(Utc::now()).await;
    let priced = prompt().await.expect("answered");
    let usage = priced.usage.clone().expect("usage");
    assert_eq!(usage.cost, None);
    // fast-a: $0.000001 per prompt token, $0.000002 per completion token.
    let expected =
        0.000001 * usage.prompt_tokens as f64 + 0.000002 * usage.completion_tokens as f64;
    let cost = priced.cost.expect("priced from /models");
    assert!((cost - expected).abs() < 1e-12, "{cost} vs {expected}");
    sim.shutdown().await;
}

#[tokio::test]
async fn prompts_connect_within_the_route_deadline_not_the_probes() {
    // A listener whose accept queue is full: the kernel drops further SYNs,
    // so a connect neither succeeds nor fails until the client gives up.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind("127.0.0.1:0".parse().unwrap()).expect("bind");
    let listener = socket.listen(0).expect("listen");
    let addr = listener.local_addr().expect("addr");
    let mut queued = Vec::new();
    for _ in 0..8 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(stream) => queued.push(stream),
            Err(_) => break,
        }
    }

    let mut config = Config::demo(
        &format!("http://{addr}/v1"),
        &[("m".into(), "x/m".into(), None)],
    );
    config.probe.connect_timeout = Duration::from_secs(20);
    config.route.connect_timeout = Duration::from_millis(300);
    config.route.ttft_timeout = Duration::from_secs(20);
    config.route.timeout = Duration::from_secs(20);
    let stack = Stack::new(config, None);
    let started = std::time::Instant::now();
    let request = RouteRequest::new("hello", RouteTarget::Model("m".into()));
    let failure = stack
        .router
        .route(&stack.engine, &[], request, None)
        .await
        .expect_err("nothing answers");
    let elapsed = started.elapsed();
    let failed = failure.attempts[0].attempt.failure.clone().expect("failed");
    assert_eq!(failed.class, FailureClass::Timeout, "{failed:?}");
    assert!(
        failed.message.contains("could not connect within 300ms"),
        "{}",
        failed.message
    );
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    drop(queued);
}
