//! The engine against the real simulator on 127.0.0.1: time is a parameter
//! (`run_due(now)` with chosen times, the simulator's clock moved with
//! `advance`), so nothing here sleeps to make time pass.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chainwatch::api::Client;
use chainwatch::commands::watch::{print_events, WatchArgs};
use chainwatch::config::Config;
use chainwatch::engine::{Engine, EngineEvent, EngineOptions};
use chainwatch::health::{HealthEventKind, Status};
use chainwatch::pace::Pace;
use chainwatch::report::rule_breaks;
use chainwatch::sim::{Scenario, SimServer};
use chainwatch::store::Store;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::Value;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Noon UTC: far from a day boundary, so budgets behave the same every run.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).single().unwrap()
}

fn at(secs: f64) -> DateTime<Utc> {
    t0() + TimeDelta::milliseconds((secs * 1000.0).round() as i64)
}

fn secs_of(s: &str) -> f64 {
    let when = DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    (when - t0()).num_milliseconds() as f64 / 1000.0
}

fn scenario_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/scenarios")
        .join(name)
}

async fn start_sim(scenario: Scenario) -> SimServer {
    SimServer::start(scenario, "127.0.0.1:0".parse().unwrap(), 7)
        .await
        .unwrap()
}

/// Every model of the simulator, probed every `interval`.
fn config_for(sim: &SimServer, interval: Duration) -> Config {
    let mut config = sim.config();
    config.probe.interval = interval;
    config.health.window = Duration::from_secs(15 * 60);
    config
}

fn engine(config: Config, store: Option<Store>) -> Engine {
    let client = Client::new(config.probe.connect_timeout);
    Engine::with_options(
        config,
        client,
        store,
        EngineOptions {
            start: t0(),
            seed: 1,
        },
    )
}

/// A `Write` the test can read back while `watch` writes to it.
#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What `watch --json [-v]` prints while the test drives the engine.
struct Watch {
    buf: Buf,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Watch {
    fn start(engine: &Engine, verbose: bool) -> Watch {
        let buf = Buf::default();
        let cancel = CancellationToken::new();
        let events = engine.subscribe();
        let (e, b, c) = (engine.clone(), buf.clone(), cancel.clone());
        let args = WatchArgs {
            json: true,
            verbose,
            ..WatchArgs::default()
        };
        let task = tokio::spawn(async move {
            print_events(&e, events, &args, c, b).await.unwrap();
        });
        Watch { buf, cancel, task }
    }

    async fn lines(self) -> Vec<Value> {
        self.cancel.cancel();
        self.task.await.unwrap();
        let text = String::from_utf8(self.buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        // Every line is a document that keeps the rules of docs/json.md.
        for line in &lines {
            assert_eq!(rule_breaks(line), Vec::<String>::new(), "{line}");
        }
        lines
    }
}

fn of<'a>(lines: &'a [Value], kind: &str, model: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l["kind"] == kind && l["model"] == model)
        .collect()
}

/// Runs the engine from `from` to `to` seconds in steps, moving the
/// simulator's clock along.
async fn drive(engine: &Engine, sim: &SimServer, from: f64, to: f64, step: f64) -> usize {
    let mut probes = 0;
    let mut now = from;
    while now <= to + 1e-9 {
        probes += engine.run_due(at(now)).await;
        sim.advance(Duration::from_secs_f64(step));
        now += step;
    }
    probes
}

#[tokio::test]
async fn outage_goes_unhealthy_recovers_and_comes_back_on_the_probe_grid() {
    let sim = start_sim(Scenario::load(&scenario_file("outage.toml")).unwrap()).await;
    let engine = engine(config_for(&sim, Duration::from_secs(10)), None);
    let watch = Watch::start(&engine, true);
    drive(&engine, &sim, 0.0, 180.0, 1.0).await;
    let lines = watch.lines().await;

    let states: Vec<(f64, String, String)> = of(&lines, "state", "outage")
        .iter()
        .map(|l| {
            (
                secs_of(l["at"].as_str().unwrap()),
                l["from"].as_str().unwrap().to_string(),
                l["to"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let kinds: Vec<(&str, &str)> = states
        .iter()
        .map(|(_, f, t)| (f.as_str(), t.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("unknown", "healthy"),
            ("healthy", "unhealthy"),
            ("unhealthy", "recovering"),
            ("recovering", "healthy")
        ],
        "{states:?}"
    );
    // The first probe lands within the first interval (its phase).
    assert!(states[0].0 < 10.0, "{states:?}");
    // The outage starts at 60 s: seen at the first probe after it, one
    // interval later at most (plus a step of slack for the sim's clock).
    assert!((59.0..=71.0).contains(&states[1].0), "{states:?}");
    // It ends at 120 s; half-open probes (every 2.5 s) need 3 successes to
    // re-admit it as recovering, and 3 more (recover_after × 2 in all) at
    // the same rate to call it healthy, long before the outage leaves the
    // 15-minute window.
    assert!((120.0..=131.0).contains(&states[2].0), "{states:?}");
    assert!(
        (states[2].0 + 6.0..=states[2].0 + 9.01).contains(&states[3].0),
        "{states:?}"
    );
    let recovering = &of(&lines, "state", "outage")[2];
    assert!(
        recovering["reason"]
            .as_str()
            .unwrap()
            .starts_with("re-admitted after an outage: 3/3 ok since, healthy at 6;"),
        "{recovering}"
    );
    let reason = of(&lines, "state", "outage")[1]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("502"), "{reason}");

    // Probe times: on the 10 s grid while healthy, every 2.5 s (taken on
    // 1 s steps: 2 or 3 s apart) while unhealthy.
    let probes: Vec<f64> = of(&lines, "probe", "outage")
        .iter()
        .map(|l| secs_of(l["at"].as_str().unwrap()))
        .collect();
    let before: Vec<f64> = probes
        .iter()
        .copied()
        .filter(|t| *t < states[1].0)
        .collect();
    assert!(
        before.windows(2).all(|w| (w[1] - w[0] - 10.0).abs() < 1.01),
        "{before:?}"
    );
    // Half-open while unhealthy and while recovering: a relapse is seen
    // within 2.5 s, and the recovery is confirmed in seconds.
    let down: Vec<f64> = probes
        .iter()
        .copied()
        .filter(|t| *t >= states[1].0 && *t <= states[3].0)
        .collect();
    assert!(down.len() >= 23, "half-open probes often: {down:?}");
    assert!(
        down.windows(2)
            .all(|w| (2.0..=3.01).contains(&(w[1] - w[0]))),
        "{down:?}"
    );
    // Healthy again: back on the 10 s grid.
    let after: Vec<f64> = probes
        .iter()
        .copied()
        .filter(|t| *t >= states[3].0)
        .collect();
    assert!(after.len() >= 4, "{after:?}");
    assert!(
        after.windows(2).all(|w| (w[1] - w[0] - 10.0).abs() < 1.01),
        "{after:?}"
    );
    assert_eq!(sim.stats("sim/outage").requests as usize, probes.len());

    // The other model never went down.
    let healthy: Vec<_> = of(&lines, "state", "healthy");
    assert_eq!(healthy.len(), 1, "{healthy:?}");
    assert_eq!(engine.status("healthy", at(180.0)), Status::Healthy);
    let snap = engine.snapshots(at(180.0));
    assert_eq!(snap[0].name, "outage");
    assert!(snap[0].last_failure.is_some());
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_limited_model_is_not_probed_before_retry_after() {
    let sim = start_sim(Scenario::load(&scenario_file("rate_limited.toml")).unwrap()).await;
    let engine = engine(config_for(&sim, Duration::from_secs(2)), None);
    let watch = Watch::start(&engine, true);
    drive(&engine, &sim, 0.0, 60.0, 0.5).await;
    let lines = watch.lines().await;
    let probes: Vec<f64> = of(&lines, "probe", "rate_limited")
        .iter()
        .map(|l| secs_of(l["at"].as_str().unwrap()))
        .collect();
    assert!(probes.len() >= 5, "{probes:?}");
    // Retry-After is 7 s: never sooner, and not much later either.
    assert!(
        probes
            .windows(2)
            .all(|w| (7.0..=8.01).contains(&(w[1] - w[0]))),
        "{probes:?}"
    );
    assert!(of(&lines, "probe", "rate_limited")
        .iter()
        .all(|l| l["class"] == "rate_limited"));
    assert_eq!(
        sim.stats("sim/rate_limited").requests as usize,
        probes.len()
    );
    let last = *probes.last().unwrap();
    assert_eq!(
        engine.status("rate_limited", at(last + 1.0)),
        Status::RateLimited
    );
    // The healthy neighbour kept its 2 s grid.
    let healthy = of(&lines, "probe", "healthy").len();
    assert!((29..=31).contains(&healthy), "{healthy}");
    sim.shutdown().await;
}

const DRIFT_SCENARIO: &str = r#"
[server]
require_auth = false

[[model]]
name = "drifty"
id = "sim/drifty"
provider = "Sim"
served_model = "sim/drifty-2025-01"
price = { prompt = "0.000002", completion = "0.00001" }
[[model.change]]
at = "30s"
served_model = "sim/drifty-2025-06"

[[model]]
name = "steady"
id = "sim/steady"
provider = "Sim"
price = { prompt = "0.000001", completion = "0.000002" }
"#;

#[tokio::test]
async fn drift_is_flagged_acknowledged_and_remembered_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state_path = dir.path().join("state.json");
    let sim = start_sim(Scenario::parse(DRIFT_SCENARIO, Path::new("<drift>")).unwrap()).await;
    let config = config_for(&sim, Duration::from_secs(5));
    let first = engine(config.clone(), Some(Store::at(&state_path)));
    let watch = Watch::start(&first, false);
    drive(&first, &sim, 0.0, 45.0, 1.0).await;
    let lines = watch.lines().await;

    let drift = of(&lines, "drift", "drifty");
    assert_eq!(drift.len(), 1, "{lines:?}");
    assert_eq!(drift[0]["from"], "sim/drifty-2025-01");
    assert_eq!(drift[0]["to"], "sim/drifty-2025-06");
    assert!((30.0..=36.0).contains(&secs_of(drift[0]["at"].as_str().unwrap())));
    assert_eq!(first.status("drifty", at(45.0)), Status::Degraded);
    let states = of(&lines, "state", "drifty");
    assert_eq!(states.last().unwrap()["to"], "degraded");

    first.acknowledge_drift("drifty", at(46.0));
    assert_eq!(first.status("drifty", at(46.0)), Status::Healthy);
    let before = first.snapshot("drifty", at(46.0)).unwrap();
    let spent = first.spend_today(at(46.0));
    first.save().unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        names
            .iter()
            .filter(|n| !n.ends_with(".lock"))
            .collect::<Vec<_>>(),
        ["state.json"],
        "the atomic write leaves no temp file"
    );

    // A restart keeps the history, the acknowledgement and the spend.
    let second = engine(config, Some(Store::at(&state_path)));
    assert!(second.warnings().is_empty(), "{:?}", second.warnings());
    let after = second.snapshot("drifty", at(46.0)).unwrap();
    assert_eq!((after.ok, after.counted), (before.ok, before.counted));
    assert_eq!(after.trend, before.trend);
    assert_eq!(
        after.status,
        Status::Healthy,
        "acknowledged drift stays acknowledged"
    );
    assert_eq!(after.served_model.as_deref(), Some("sim/drifty-2025-06"));
    assert!((second.spend_today(at(46.0)) - spent).abs() < 1e-12);
    sim.shutdown().await;
}

#[tokio::test]
async fn probe_spend_is_counted_with_prices_from_models() {
    let sim = start_sim(Scenario::parse(DRIFT_SCENARIO, Path::new("<prices>")).unwrap()).await;
    let engine = engine(config_for(&sim, Duration::from_secs(5)), None);
    let mut events = engine.subscribe();
    let probes = drive(&engine, &sim, 0.0, 20.0, 1.0).await;
    assert!(probes >= 8, "{probes}");
    let mut priced = None;
    let mut cost_reported = 0.0;
    let mut usage_seen = 0;
    while let Ok(event) = events.try_recv() {
        match event {
            EngineEvent::Prices { models, .. } => priced = Some(models),
            EngineEvent::Probe { attempt, .. } => {
                if let Some(u) = &attempt.usage {
                    usage_seen += 1;
                    cost_reported += u.cost.unwrap_or(0.0);
                }
            }
            _ => {}
        }
    }
    assert_eq!(priced, Some(2), "both models priced from /v1/models");
    let prices = engine.prices();
    assert_eq!(prices.len(), 2, "{prices:?}");
    assert!(prices.values().all(|p| p.completion > 0.0), "{prices:?}");
    assert_eq!(usage_seen, probes);
    let spent = engine.spend_today(at(20.0));
    assert!(spent > 0.0);
    assert!(
        (spent - cost_reported).abs() < 1e-12,
        "{spent} vs {cost_reported}"
    );
    assert_eq!(engine.spend_today(at(20.0 + 86_400.0)), 0.0, "per UTC day");
    sim.shutdown().await;
}

#[tokio::test]
async fn daily_budget_stretches_paid_probe_intervals() {
    let sim = start_sim(Scenario::parse(DRIFT_SCENARIO, Path::new("<budget>")).unwrap()).await;
    let mut config = config_for(&sim, Duration::from_secs(5));
    // A probe costs ~$0.0001 here: at 5 s, half a day would cost ~$0.9.
    config.probe.daily_budget = Some(0.01);
    let engine = engine(config, None);
    let watch = Watch::start(&engine, true);
    drive(&engine, &sim, 0.0, 120.0, 1.0).await;
    let lines = watch.lines().await;
    let budget: Vec<_> = lines.iter().filter(|l| l["kind"] == "budget").collect();
    assert!(!budget.is_empty(), "a budget event says so");
    let reason = budget[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("stretched") && reason.contains("of $0.0100"),
        "{reason}"
    );
    match engine.pace() {
        Pace::Stretched(f) => assert!(f > 10.0, "{f}"),
        other => panic!("{other:?}"),
    }
    // One probe each at the start, then nothing for a long while.
    let drifty = of(&lines, "probe", "drifty").len();
    assert!(drifty <= 2, "{drifty} probes in 2 min despite the budget");
    let next = engine.next_due("drifty").unwrap();
    assert!(next > at(120.0 + 60.0), "next probe at {next}");
    assert!(engine.spend_today(at(120.0)) < 0.01);
    sim.shutdown().await;
}

#[tokio::test]
async fn missing_key_is_misconfigured_and_sends_nothing() {
    let sim = start_sim(Scenario::load(&scenario_file("outage.toml")).unwrap()).await;
    let mut config = config_for(&sim, Duration::from_secs(10));
    let var = "CHAINWATCH_TEST_KEY_THAT_IS_NEVER_SET_7f3a";
    for e in &mut config.endpoints {
        e.api_key_env = Some(var.to_string());
    }
    let engine = engine(config, None);
    let (status, reason) = engine.judge("outage", at(0.0));
    assert_eq!(status, Status::Misconfigured);
    assert!(reason.contains(var), "{reason}");
    drive(&engine, &sim, 0.0, 30.0, 1.0).await;
    assert_eq!(sim.stats("sim/outage").requests, 0);
    assert_eq!(engine.probe("outage").await, None);
    // Looked at again in 10 minutes, not every interval.
    let next = engine.next_due("outage").unwrap();
    assert!(next >= at(590.0), "{next}");
    sim.shutdown().await;
}

#[tokio::test]
async fn corrupt_state_is_moved_aside_and_the_engine_starts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    // Ours (the marker says so), cut short.
    std::fs::write(
        &path,
        r#"{"format":"chainwatch-state","version":1,"models":{"#,
    )
    .unwrap();
    let sim = start_sim(Scenario::load(&scenario_file("outage.toml")).unwrap()).await;
    let ours = engine_for(&sim, Some(Store::at(&path)));
    assert_eq!(ours.warnings().len(), 1);
    assert!(
        ours.warnings()[0].contains("next save moves it aside"),
        "{:?}",
        ours.warnings()
    );
    assert_eq!(ours.run_due(at(10.0)).await, 2);
    ours.save().unwrap();
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(names[0], "state.json");
    assert!(names[1].starts_with("state.json.corrupt-"), "{names:?}");
    assert_eq!(names[2], "state.json.lock");

    // A file that is not ours (here: not even JSON) is left alone; the
    // engine runs, and saving says why it cannot.
    let foreign = dir.path().join("notes.txt");
    std::fs::write(&foreign, "{ not json").unwrap();
    let other = engine_for(&sim, Some(Store::at(&foreign)));
    assert!(other.warnings()[0].contains("not a chainwatch state file"));
    assert_eq!(other.run_due(at(10.0)).await, 2);
    let err = other.save().unwrap_err().to_string();
    assert!(err.contains("will not overwrite it"), "{err}");
    assert_eq!(std::fs::read_to_string(&foreign).unwrap(), "{ not json");
    sim.shutdown().await;

    fn engine_for(sim: &SimServer, store: Option<Store>) -> Engine {
        engine(config_for(sim, Duration::from_secs(10)), store)
    }
}

#[tokio::test]
async fn concurrency_is_capped_per_endpoint() {
    let models: String = (0..6)
        .map(|i| {
            format!(
                "[[model]]\nname = \"m{i}\"\nid = \"sim/m{i}\"\nlatency = {{ p50 = \"200ms\", p95 = \"201ms\" }}\n"
            )
        })
        .collect();
    let text = format!("[server]\nrequire_auth = false\n{models}");
    let sim = start_sim(Scenario::parse(&text, Path::new("<slow>")).unwrap()).await;
    let mut config = config_for(&sim, Duration::from_secs(10));
    config.probe.concurrency = 2;
    let engine = engine(config, None);
    let started = std::time::Instant::now();
    assert_eq!(engine.run_due(at(10.0)).await, 6);
    // Six 200 ms probes two at a time cannot take less than 600 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(550),
        "{:?}",
        started.elapsed()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn live_loop_probes_now_on_command_and_stops_cleanly() {
    let sim = start_sim(Scenario::many(5)).await;
    let mut config = sim.config();
    config.probe.interval = Duration::from_secs(3600);
    let engine = Engine::new(config, Client::new(Duration::from_secs(2)), None);
    let mut events = engine.subscribe();
    let cancel = CancellationToken::new();
    let handle = engine.spawn(cancel.clone());
    engine.probe_now(None);
    let mut probed = std::collections::HashSet::new();
    let wait = tokio::time::timeout(Duration::from_secs(20), async {
        while probed.len() < 5 {
            match events.recv().await {
                Ok(EngineEvent::Probe { model, attempt }) => {
                    assert!(attempt.is_ok(), "{attempt:?}");
                    probed.insert(model);
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    })
    .await;
    assert!(wait.is_ok(), "only {probed:?} probed");
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .expect("the loop ends on cancel")
        .unwrap();
    let snaps = engine.snapshots(Utc::now());
    assert!(
        snaps.iter().all(|s| s.status == Status::Healthy),
        "{snaps:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn real_prompts_are_samples_too() {
    let sim = start_sim(Scenario::load(&scenario_file("outage.toml")).unwrap()).await;
    let engine = engine(config_for(&sim, Duration::from_secs(60)), None);
    let mut events = engine.subscribe();
    let attempt = chainwatch::api::Attempt {
        failure: Some(chainwatch::api::Failure {
            class: chainwatch::api::FailureClass::ServerError,
            message: "upstream down".into(),
            retry_after: None,
        }),
        http_status: Some(502),
        ..chainwatch::api::Attempt::blank(at(1.0), Duration::from_millis(80))
    };
    let before = engine.next_due("outage").unwrap();
    engine.record(
        "outage",
        &attempt,
        chainwatch::health::SampleKind::Prompt,
        at(1.0),
    );
    assert_eq!(engine.status("outage", at(1.0)), Status::Unhealthy);
    match events.try_recv().unwrap() {
        EngineEvent::Health(e) => assert!(matches!(
            e.kind,
            HealthEventKind::State {
                to: Status::Unhealthy,
                ..
            }
        )),
        other => panic!("{other:?}"),
    }
    // The half-open probe comes no later than interval/4 from now.
    let next = engine.next_due("outage").unwrap();
    assert!(next <= before && next <= at(16.0), "{next}");
    sim.shutdown().await;
}

#[tokio::test]
async fn key_and_price_fetches_against_the_simulator() {
    let sim = start_sim(Scenario::demo()).await;
    let http = reqwest::Client::new();
    let key = chainwatch::api::Secret::new("sk-or-v1-test");
    let info = chainwatch::api::fetch_key(&http, &sim.base_url(), &key)
        .await
        .unwrap();
    // demo.toml: limit 10.0, usage 0.42 so far.
    assert_eq!(info.limit, Some(10.0));
    assert!(info.usage.unwrap() >= 0.42);
    let prices = chainwatch::api::fetch_prices(&http, &sim.base_url(), None)
        .await
        .unwrap();
    let gpt = prices.get("openai/gpt-4o").unwrap();
    assert_eq!((gpt.prompt, gpt.completion), (0.0000025, 0.00001));
    // A wrong base URL is an error that says what to check, not a panic.
    let wrong = format!("{}/nope", sim.base_url());
    let err = chainwatch::api::fetch_prices(&http, &wrong, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("HTTP 404"), "{err}");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_running_engine_keeps_what_another_process_saved() {
    // The dashboard (`running`) and an `ask` (`other`) share one state file.
    let dir = tempfile::tempdir().unwrap();
    let state_path = dir.path().join("state.json");
    let sim = start_sim(Scenario::load(&scenario_file("outage.toml")).unwrap()).await;
    let config = config_for(&sim, Duration::from_secs(60));
    let client = Client::new(config.probe.connect_timeout);
    let running = Engine::new(config.clone(), client.clone(), Some(Store::at(&state_path)));
    let other = Engine::new(config, client, Some(Store::at(&state_path)));
    let now = Utc::now();
    let failed = chainwatch::api::Attempt {
        failure: Some(chainwatch::api::Failure {
            class: chainwatch::api::FailureClass::ServerError,
            message: "upstream down".into(),
            retry_after: None,
        }),
        http_status: Some(502),
        ..chainwatch::api::Attempt::blank(now, Duration::from_millis(80))
    };
    other.record(
        "outage",
        &failed,
        chainwatch::health::SampleKind::Prompt,
        now,
    );
    other.save().unwrap();
    let ok =
        chainwatch::api::Attempt::blank(now + TimeDelta::seconds(1), Duration::from_millis(90));
    running.record("healthy", &ok, chainwatch::health::SampleKind::Probe, now);
    running.save().unwrap();

    assert_eq!(
        running.status("outage", Utc::now()),
        Status::Unhealthy,
        "absorbed on save"
    );
    let (state, warning) = Store::at(&state_path).load();
    assert!(warning.is_none(), "{warning:?}");
    let saved = counts_in(state);
    assert_eq!(
        saved.0, 1,
        "the other process's failure survived: {saved:?}"
    );
    assert_eq!(saved.1, 1, "and this one's success too: {saved:?}");
    sim.shutdown().await;

    /// (outage failures, healthy successes) in a saved state.
    fn counts_in(state: chainwatch::store::State) -> (usize, usize) {
        let json = serde_json::to_value(&state.models).unwrap();
        let count = |model: &str, failed: bool| {
            json[model]["samples"].as_array().map_or(0, |s| {
                s.iter().filter(|x| x["class"].is_null() != failed).count()
            })
        };
        (count("outage", true), count("healthy", false))
    }
}

#[tokio::test]
async fn the_demo_compares_claude_through_the_router_and_directly() {
    let sim = start_sim(Scenario::demo()).await;
    let mut config = sim.config();
    // Only the pair: the other demo models take their time.
    config
        .models
        .retain(|m| m.name == "claude-sonnet" || m.name == "claude-direct");
    config.chain = vec!["claude-sonnet".into(), "claude-direct".into()];
    config.tiers = Default::default();
    let direct = config.model("claude-direct").unwrap();
    assert_eq!(
        config.endpoint_of(direct).dialect,
        chainwatch::api::Dialect::Anthropic
    );
    let engine = engine(config.clone(), None);
    engine.refresh_prices(at(0.0)).await;
    for _ in 0..2 {
        let (a, b) = tokio::join!(engine.probe("claude-sonnet"), engine.probe("claude-direct"));
        // The 1% server error of the demo's Claude may strike: it is a sample too.
        assert!(a.is_some() && b.is_some());
    }
    let snapshots = engine.snapshots(Utc::now());
    let compared = chainwatch::compare::compare(&config, &snapshots, &engine.prices());
    assert_eq!(compared.len(), 1, "{compared:?}");
    let c = &compared[0];
    assert_eq!(
        (c.pair.first.as_str(), c.pair.second.as_str()),
        ("claude-sonnet", "claude-direct")
    );
    assert_eq!(c.pair.by_id.as_deref(), Some("claude-sonnet-4"));
    assert_eq!(
        (c.first_endpoint.as_str(), c.second_endpoint.as_str()),
        ("sim", "sim-anthropic")
    );
    // Both ways answered (Anthropic's dialect too), and the samples say so.
    let direct = snapshots
        .iter()
        .find(|s| s.name == "claude-direct")
        .unwrap();
    assert!(direct.ok >= 1, "{direct:?}");
    if let Some(latency) = c.latency {
        assert!(latency.first_samples >= 1 && latency.second_samples >= 1);
    }
    // The same list price both ways.
    let price = c.price.expect("both prices are on the simulator's /models");
    assert!(price.prompt_per_m.abs() < 1e-9 && price.completion_per_m.abs() < 1e-9);
    sim.shutdown().await;
}
