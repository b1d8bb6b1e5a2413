//! Alerts against real receivers on 127.0.0.1: a webhook receiver the test
//! starts, and a command that writes to a temp file. The engine is driven
//! with `run_due(now)` at chosen times over the simulator, its events are
//! offered to the alerter, and `settled()` waits for the deliveries — no
//! sleeping to make time pass.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use chainwatch::alert::{AlertNews, AlertOutcome, Alerter, ChainLookup, EnvLookup, Report};
use chainwatch::api::Client;
use chainwatch::config::{AlertRule, Config};
use chainwatch::engine::{Engine, EngineEvent, EngineOptions};
use chainwatch::health::{HealthEvent, HealthEventKind, Status};
use chainwatch::sim::{Scenario, SimServer};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::Value;
use tokio::sync::broadcast;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).single().unwrap()
}

fn at(secs: f64) -> DateTime<Utc> {
    t0() + TimeDelta::milliseconds((secs * 1000.0).round() as i64)
}

async fn outage_sim() -> SimServer {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenarios/outage.toml");
    SimServer::start(
        Scenario::load(&path).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        7,
    )
    .await
    .unwrap()
}

/// The `[[alert]]` sections of `alerts`, read by the real loader next to
/// the simulator's models.
fn alerts_from(alerts: &str) -> Vec<AlertRule> {
    let text = format!(
        "[[endpoint]]\nname = \"sim\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\
         [[model]]\nname = \"outage\"\nid = \"sim/outage\"\n\
         [[model]]\nname = \"healthy\"\nid = \"sim/healthy\"\n{alerts}"
    );
    Config::parse(&text, Path::new("alerts.toml"))
        .unwrap_or_else(|e| panic!("{e}"))
        .alerts
}

fn engine(sim: &SimServer, alerts: Vec<AlertRule>) -> Engine {
    let mut config = sim.config();
    config.probe.interval = Duration::from_secs(10);
    config.health.window = Duration::from_secs(15 * 60);
    config.alerts = alerts;
    let client = Client::new(config.probe.connect_timeout);
    Engine::with_options(
        config,
        client,
        None,
        EngineOptions {
            start: t0(),
            seed: 1,
        },
    )
}

/// What the alerter reported, in order.
#[derive(Clone, Default)]
struct Heard(Arc<Mutex<Vec<AlertNews>>>);

impl Heard {
    fn report(&self) -> Report {
        let me = self.clone();
        Arc::new(move |news| me.0.lock().unwrap().push(news))
    }
    fn all(&self) -> Vec<AlertNews> {
        self.0.lock().unwrap().clone()
    }
}

fn env_with(pairs: &[(&str, &str)]) -> EnvLookup {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Arc::new(move |var: &str| pairs.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone()))
}

fn everything_in_chain() -> ChainLookup {
    Arc::new(|_: &str| true)
}

/// Runs the engine from `from` to `to` seconds in 1 s steps, moving the
/// simulator's clock along, offering every event to `alerter` and letting
/// it release held alerts at each step.
async fn drive(
    engine: &Engine,
    sim: &SimServer,
    alerter: &Alerter,
    events: &mut broadcast::Receiver<EngineEvent>,
    from: u32,
    to: u32,
) {
    for now in from..=to {
        engine.run_due(at(f64::from(now))).await;
        while let Ok(event) = events.try_recv() {
            alerter.offer(&event);
        }
        alerter.tick(at(f64::from(now)));
        sim.advance(Duration::from_secs(1));
    }
}

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Got {
    path: String,
    content_type: String,
    body: Value,
}

/// A webhook receiver on 127.0.0.1: `/ok/...` answers 204, `/fail/...`
/// 500 with a body, `/hang/...` never answers.
struct Receiver {
    base: String,
    got: Arc<Mutex<Vec<Got>>>,
    arrived: Arc<tokio::sync::Notify>,
}

impl Receiver {
    async fn start() -> Receiver {
        type Shared = (Arc<Mutex<Vec<Got>>>, Arc<tokio::sync::Notify>);
        async fn take(
            State((got, arrived)): State<Shared>,
            uri: axum::http::Uri,
            headers: HeaderMap,
            body: Bytes,
        ) -> (StatusCode, String) {
            let path = uri.path().to_string();
            got.lock().unwrap().push(Got {
                path: path.clone(),
                content_type: headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string(),
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            });
            arrived.notify_one();
            if path.starts_with("/hang") {
                std::future::pending::<()>().await;
            }
            if path.starts_with("/fail") {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("no hook at {path}"),
                );
            }
            (StatusCode::NO_CONTENT, String::new())
        }
        let got = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(tokio::sync::Notify::new());
        let app = Router::new()
            .fallback(post(take))
            .with_state((got.clone(), arrived.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { base, got, arrived }
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn a_model_going_down_posts_one_slack_message() {
    let hook = Receiver::start().await;
    let sim = outage_sim().await;
    let rules = alerts_from(&format!(
        "[[alert]]\nname = \"on-call\"\nto = [\"unhealthy\", \"misconfigured\"]\n\
         url = \"{}/ok/slack\"\nformat = \"slack\"\n",
        hook.base
    ));
    let engine = engine(&sim, rules);
    let heard = Heard::default();
    let alerter = Alerter::start(
        engine.config(),
        everything_in_chain(),
        heard.report(),
        env_with(&[]),
    )
    .unwrap();
    let mut events = engine.subscribe();

    drive(&engine, &sim, &alerter, &mut events, 0, 59).await;
    alerter.settled().await;
    assert!(hook.got().is_empty(), "healthy so far: {:?}", hook.got());

    // The outage (502s from 60 s) is seen at the first probe after it.
    drive(&engine, &sim, &alerter, &mut events, 60, 140).await;
    alerter.settled().await;
    let got = hook.got();
    assert_eq!(got.len(), 1, "one message, not one per probe: {got:?}");
    assert_eq!(got[0].path, "/ok/slack");
    assert!(got[0].content_type.starts_with("application/json"));
    let text = got[0].body["text"].as_str().unwrap_or_default();
    assert!(
        text.starts_with("chainwatch: ✗ outage is unhealthy (was healthy)"),
        "{text}"
    );
    assert!(text.contains("502"), "the reason rides along: {text}");

    let news = heard.all();
    assert_eq!(news.len(), 1, "{news:?}");
    assert_eq!(
        (news[0].model.as_str(), news[0].to),
        ("outage", Status::Unhealthy)
    );
    assert_eq!(
        news[0].outcome,
        AlertOutcome::Sent {
            via: "slack webhook to 127.0.0.1".into()
        }
    );
    let at = news[0].at;
    assert!(at >= self::at(60.0) && at <= self::at(71.0), "{at}");
}

#[tokio::test]
async fn pagerduty_triggers_then_resolves_after_the_held_interval() {
    let hook = Receiver::start().await;
    let sim = outage_sim().await;
    let rules = alerts_from(
        "[[alert]]\nname = \"pd\"\nmodels = [\"outage\"]\nurl_env = \"CW_TEST_PD_URL\"\n\
         format = \"pagerduty\"\nrouting_key_env = \"CW_TEST_PD_KEY\"\nmin_interval = \"5m\"\n",
    );
    let engine = engine(&sim, rules);
    let heard = Heard::default();
    let url = format!("{}/ok/pd/secret-token-123", hook.base);
    let alerter = Alerter::start(
        engine.config(),
        everything_in_chain(),
        heard.report(),
        env_with(&[("CW_TEST_PD_URL", &url), ("CW_TEST_PD_KEY", "R0UTE")]),
    )
    .unwrap();
    let mut events = engine.subscribe();

    // Down at ~60 s, back at ~125 s: the way back is held (5 min since the
    // page) …
    drive(&engine, &sim, &alerter, &mut events, 0, 300).await;
    alerter.settled().await;
    let got = hook.got();
    assert_eq!(got.len(), 1, "{got:?}");
    let trigger = &got[0].body;
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["routing_key"], "R0UTE");
    assert_eq!(trigger["dedup_key"], "chainwatch/outage");
    assert_eq!(trigger["payload"]["severity"], "error");
    assert_eq!(
        trigger["payload"]["custom_details"]["model_id"],
        "sim/outage"
    );

    // … and goes out when the interval is over, resolving the incident.
    drive(&engine, &sim, &alerter, &mut events, 301, 380).await;
    alerter.settled().await;
    let got = hook.got();
    assert_eq!(got.len(), 2, "{got:?}");
    let resolve = &got[1].body;
    assert_eq!(resolve["event_action"], "resolve");
    assert_eq!(resolve["dedup_key"], "chainwatch/outage");
    // Back: recovering at first, healthy by the end of the held interval;
    // "was" is what the last page said.
    let summary = resolve["payload"]["summary"].as_str().unwrap_or_default();
    assert!(
        summary.starts_with("✓ outage is healthy (was unhealthy)"),
        "{summary}"
    );
    // The URL from the environment is never shown.
    for news in heard.all() {
        assert!(!news.to_string().contains("secret-token"), "{news}");
        assert_eq!(
            news.outcome,
            AlertOutcome::Sent {
                via: "pagerduty webhook ($CW_TEST_PD_URL)".into()
            }
        );
    }
}

#[tokio::test]
async fn a_command_gets_the_event_on_stdin_and_in_its_environment() {
    let dir = tempfile::tempdir().unwrap();
    let out: PathBuf = dir.path().join("alerts.jsonl");
    let env_out: PathBuf = dir.path().join("env.txt");
    let sim = outage_sim().await;
    let rules = alerts_from(&format!(
        "[[alert]]\nname = \"log\"\nchain_only = true\n\
         command = \"cat >> '{}'; printf '%s %s %s\\\\n' \\\"$CHAINWATCH_MODEL\\\" \\\"$CHAINWATCH_TO\\\" \\\"$CHAINWATCH_RULE\\\" >> '{}'\"\n",
        out.display(),
        env_out.display()
    ));
    let engine = engine(&sim, rules);
    let heard = Heard::default();
    // Only `outage` is in the chain: `healthy` would not alert anyway.
    let alerter = Alerter::start(
        engine.config(),
        Arc::new(|m: &str| m == "outage"),
        heard.report(),
        env_with(&[]),
    )
    .unwrap();
    let mut events = engine.subscribe();
    drive(&engine, &sim, &alerter, &mut events, 0, 140).await;
    alerter.settled().await;

    let lines: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Unknown → healthy at start is no alert; down, then (5 min later at
    // the earliest) back up.
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["model"], "outage");
    assert_eq!(lines[0]["to"], "unhealthy");
    assert_eq!(lines[0]["in_chain"], true);
    assert_eq!(lines[0]["kind"], "alert");
    let env = std::fs::read_to_string(&env_out).unwrap();
    assert_eq!(env, "outage unhealthy log\n");
    assert!(matches!(
        heard.all().as_slice(),
        [AlertNews {
            outcome: AlertOutcome::Sent { .. },
            ..
        }]
    ));
}

fn state_event(model: &str, from: Status, to: Status, secs: f64) -> EngineEvent {
    EngineEvent::Health(HealthEvent {
        at: at(secs),
        model: model.into(),
        kind: HealthEventKind::State {
            from,
            to,
            reason: "1/3 ok; last: 502 bad gateway".into(),
        },
    })
}

fn rule(name: &str, delivery_toml: &str) -> AlertRule {
    let mut rules = alerts_from(&format!("[[alert]]\nname = \"{name}\"\n{delivery_toml}\n"));
    rules.remove(0)
}

fn alerter_for(rules: Vec<AlertRule>, heard: &Heard, env: EnvLookup) -> Alerter {
    let mut config = Config::demo(
        "http://127.0.0.1:9/v1",
        &[("outage".into(), "sim/outage".into(), None)],
    );
    config.alerts = rules;
    Alerter::start(&config, everything_in_chain(), heard.report(), env).unwrap()
}

#[tokio::test]
async fn failed_deliveries_are_news_that_never_show_the_url() {
    let hook = Receiver::start().await;
    let dead = {
        // A port nobody listens on: bound, then closed.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let rules = vec![
        rule("fails", "url_env = \"CW_TEST_FAIL_URL\""),
        rule("refused", &format!("url = \"http://{dead}/hook\"")),
        rule("unset", "url_env = \"CW_TEST_NOT_SET\""),
        rule("exits", "command = [\"sh\", \"-c\", \"echo 'no route sk-or-v1-abcdef0123456789abcd' >&2; exit 3\"]"),
        rule("missing", "command = [\"/nonexistent/notify\"]"),
    ];
    let heard = Heard::default();
    let url = format!("{}/fail/T0KEN-in-path", hook.base);
    let alerter = alerter_for(rules, &heard, env_with(&[("CW_TEST_FAIL_URL", &url)]));
    assert_eq!(
        alerter.offer(&state_event(
            "outage",
            Status::Healthy,
            Status::Unhealthy,
            1.0
        )),
        5
    );
    alerter.settled().await;
    let news = heard.all();
    let failed = |rule: &str| {
        news.iter()
            .find(|n| n.rule == rule)
            .and_then(|n| match &n.outcome {
                AlertOutcome::Failed { error, .. } => Some(error.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no failure for {rule}: {news:?}"))
    };
    let fails = failed("fails");
    assert!(fails.starts_with("the webhook answered 500"), "{fails}");
    assert!(!fails.contains("T0KEN"), "the URL never shows: {fails}");
    assert!(failed("refused").starts_with("could not connect to the webhook"));
    assert!(!failed("refused").contains(&dead.to_string()));
    assert_eq!(failed("unset"), "CW_TEST_NOT_SET is not set");
    let exits = failed("exits");
    assert!(
        exits.starts_with("sh exit status: 3: no route sk-or-v1-…***"),
        "{exits}"
    );
    assert!(failed("missing").starts_with("could not start /nonexistent/notify"));
    for n in &news {
        assert!(!n.to_string().contains("T0KEN"), "{n}");
    }
}

#[tokio::test]
async fn a_hanging_receiver_never_blocks_and_a_full_queue_drops_with_news() {
    let hook = Receiver::start().await;
    let mut hang = rule(
        "hang",
        &format!("url = \"{}/hang/x\"\ntimeout = \"300ms\"", hook.base),
    );
    hang.min_interval = Duration::ZERO;
    let heard = Heard::default();
    let alerter = alerter_for(vec![hang], &heard, env_with(&[]));
    let started = std::time::Instant::now();
    let mut queued = 0;
    // One in the worker, QUEUE waiting, and the rest dropped: offering
    // never waits for the receiver.
    let offered = chainwatch::alert::QUEUE + 5;
    for i in 0..offered {
        let (from, to) = if i % 2 == 0 {
            (Status::Healthy, Status::Unhealthy)
        } else {
            (Status::Unhealthy, Status::Healthy)
        };
        queued += alerter.offer(&state_event("outage", from, to, i as f64));
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "offer waited: {:?}",
        started.elapsed()
    );
    assert!(
        (chainwatch::alert::QUEUE..offered).contains(&queued),
        "{queued}"
    );
    let dropped: Vec<_> = heard
        .all()
        .into_iter()
        .filter(|n| matches!(&n.outcome, AlertOutcome::Failed { error, .. } if error.starts_with("dropped")))
        .collect();
    assert_eq!(dropped.len(), offered - queued);
    // The first delivery reaches the receiver and is abandoned at its timeout.
    tokio::time::timeout(Duration::from_secs(10), hook.arrived.notified())
        .await
        .expect("the receiver heard nothing");
    let first_done = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if heard.all().iter().any(|n| {
                matches!(&n.outcome, AlertOutcome::Failed { error, .. } if error.contains("took longer than 300ms") || error.contains("did not answer in time"))
            }) {
                break;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(first_done.is_ok(), "{:?}", heard.all());
}

#[tokio::test]
async fn following_the_engine_delivers_without_being_fed() {
    let hook = Receiver::start().await;
    let sim = outage_sim().await;
    let rules = alerts_from(&format!(
        "[[alert]]\nto = [\"unhealthy\"]\nbell = true\nurl = \"{}/ok/json\"\n",
        hook.base
    ));
    let engine = engine(&sim, rules);
    let alerter = Alerter::for_engine(&engine, None).unwrap();
    assert_eq!(alerter.rules()[0].name, "alert 1");
    let mut bus = engine.subscribe();
    let cancel = tokio_util::sync::CancellationToken::new();
    let following = alerter.follow(&engine, cancel.clone());
    for now in 0..=75 {
        engine.run_due(at(f64::from(now))).await;
        sim.advance(Duration::from_secs(1));
    }
    tokio::time::timeout(Duration::from_secs(10), hook.arrived.notified())
        .await
        .expect("no webhook call");
    alerter.settled().await;
    let got = hook.got();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].body["kind"], "alert");
    assert_eq!(got[0].body["model"], "outage");
    assert_eq!(got[0].body["rule"], "alert 1");
    assert_eq!(got[0].body["schema_version"], 1);
    // The bell and the delivery come back on the engine's own bus.
    let mut outcomes = Vec::new();
    let wait = tokio::time::timeout(Duration::from_secs(10), async {
        while outcomes.len() < 2 {
            if let Ok(EngineEvent::Alert(news)) = bus.recv().await {
                outcomes.push(news.outcome);
            }
        }
    })
    .await;
    assert!(wait.is_ok(), "{outcomes:?}");
    assert_eq!(outcomes[0], AlertOutcome::Bell);
    assert!(matches!(outcomes[1], AlertOutcome::Sent { .. }));
    cancel.cancel();
    following.await.unwrap();
}
