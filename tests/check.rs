//! `chainwatch check` against the simulator on loopback, with a state file
//! between runs as a user has one: an outage that ends is `recovering`
//! (routable: exit 0, and the JSON says so) before it is `healthy`; the
//! reason is always there; an unset key is shown even beside older
//! failures; an empty chain is an error (exit 2).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use chainwatch::commands::check::{self, CheckArgs};
use chainwatch::config::Config;
use chainwatch::sim::{Scenario, SimServer};
use chainwatch::store::Store;
use serde_json::Value;

async fn outage_sim() -> SimServer {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenarios/outage.toml");
    let scenario = Scenario::load(&path).expect("scenario loads");
    SimServer::start(scenario, "127.0.0.1:0".parse().unwrap(), 3)
        .await
        .expect("simulator starts")
}

fn config_for(sim: &SimServer, stream: bool) -> Config {
    let mut config = sim.config();
    config.probe.stream = stream;
    config.probe.ttft_timeout = Duration::from_secs(2);
    config.probe.timeout = Duration::from_secs(4);
    config
}

async fn check(config: Config, store: &Store, json: bool, rounds: u32) -> (ExitCode, String) {
    let mut out = Vec::new();
    let code = check::run(
        CheckArgs { json, rounds },
        config,
        Some(store.clone()),
        &mut out,
    )
    .await
    .expect("check runs");
    (code, String::from_utf8(out).expect("utf-8"))
}

fn model<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["models"]
        .as_array()
        .expect("models")
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_that_ends_is_recovering_with_exit_0_then_healthy() {
    for stream in [true, false] {
        let sim = outage_sim().await;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("state.json"));
        let why = format!("stream={stream}");

        // In the outage (60–120 s of scenario time).
        sim.advance(Duration::from_secs(70));
        let (code, text) = check(config_for(&sim, stream), &store, true, 2).await;
        let report: Value = serde_json::from_str(&text).unwrap();
        let outage = model(&report, "outage");
        assert_eq!(outage["status"], "unhealthy", "{why}: {outage:#}");
        assert_eq!(code, ExitCode::from(1), "{why}");
        assert_eq!(outage["chain_position"], 1, "{why}: {outage:#}");
        assert_eq!(outage["in_chain"], true, "{why}");
        assert!(outage["recovery"].is_null(), "{why}: {outage:#}");
        assert!(
            outage["reason"].as_str().unwrap().contains("502"),
            "{why}: {outage:#}"
        );

        // The outage is over: three successes re-admit it as recovering.
        sim.advance(Duration::from_secs(60));
        let (code, text) = check(config_for(&sim, stream), &store, true, 3).await;
        let report: Value = serde_json::from_str(&text).unwrap();
        let outage = model(&report, "outage");
        assert_eq!(outage["status"], "recovering", "{why}: {outage:#}");
        assert_eq!(code, ExitCode::SUCCESS, "recovering is routable: {why}");
        let reason = outage["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("re-admitted after an outage: 3/3 ok since, healthy at 6;"),
            "{why}: {reason}"
        );
        let recovery = &outage["recovery"];
        assert_eq!(
            (&recovery["ok"], &recovery["counted"], &recovery["needed"]),
            (&Value::from(3), &Value::from(3), &Value::from(6)),
            "{why}: {outage:#}"
        );
        assert!(outage["ratio"].as_f64().unwrap() < 0.95, "{why}");

        // The table says the same, with the reason under the row.
        let (code, table) = check(config_for(&sim, stream), &store, false, 1).await;
        assert_eq!(code, ExitCode::SUCCESS, "{why}");
        let row = table
            .lines()
            .find(|l| l.contains(" outage "))
            .unwrap_or_else(|| panic!("{table}"));
        assert!(row.contains("↻ recovering"), "{why}:\n{table}");
        assert!(row.contains('↻'), "{why}:\n{table}");
        assert!(
            table.contains("    why: re-admitted after an outage: 4/4 ok since, healthy at 6;"),
            "{why}:\n{table}"
        );

        // Two more: six since re-admission, healthy, while the window still
        // holds the 502s (and the report says so).
        let (code, text) = check(config_for(&sim, stream), &store, true, 2).await;
        let report: Value = serde_json::from_str(&text).unwrap();
        let outage = model(&report, "outage");
        assert_eq!(outage["status"], "healthy", "{why}: {outage:#}");
        assert_eq!(code, ExitCode::SUCCESS, "{why}");
        assert_eq!(outage["recovery"]["counted"], 6, "{why}: {outage:#}");
        assert!(
            outage["reason"]
                .as_str()
                .unwrap()
                .starts_with("recovered: 6/6 ok since re-admission"),
            "{why}: {outage:#}"
        );
        assert_eq!(model(&report, "healthy")["status"], "healthy", "{why}");
        sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unset_key_is_shown_even_beside_older_failures() {
    let sim = outage_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path().join("state.json"));
    sim.advance(Duration::from_secs(70));
    let (code, _) = check(config_for(&sim, true), &store, false, 1).await;
    assert_eq!(code, ExitCode::from(1));

    // The same models, now behind a key variable nobody set.
    let mut config = config_for(&sim, true);
    let var = "CHAINWATCH_TEST_CHECK_KEY_NEVER_SET";
    for endpoint in &mut config.endpoints {
        endpoint.api_key_env = Some(var.to_string());
    }
    let (code, table) = check(config.clone(), &store, false, 1).await;
    assert_eq!(code, ExitCode::from(1));
    let row = table.lines().find(|l| l.contains(" outage ")).unwrap();
    assert!(row.contains("! misconfigured"), "{table}");
    assert!(
        row.contains("502"),
        "the old failure is still listed:\n{table}"
    );
    assert!(
        table.contains(&format!("    why: {var} is not set")),
        "the fix is shown:\n{table}"
    );
    let (_, text) = check(config, &store, true, 1).await;
    let report: Value = serde_json::from_str(&text).unwrap();
    let outage = model(&report, "outage");
    assert_eq!(outage["reason"], format!("{var} is not set"));
    assert_eq!(outage["last_failure"]["http_status"], 502);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_model_out_of_the_chain_says_so() {
    let sim = outage_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path().join("state.json"));
    store
        .update(|state| state.chain = Some(vec!["healthy".to_string()]))
        .unwrap();
    let (code, text) = check(config_for(&sim, false), &store, true, 1).await;
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(model(&report, "outage")["in_chain"], false);
    assert!(model(&report, "outage")["chain_position"].is_null());
    assert_eq!(model(&report, "healthy")["chain_position"], 1);
    assert_eq!(code, ExitCode::SUCCESS);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_empty_chain_is_an_error_not_all_fine() {
    let sim = outage_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path().join("state.json"));
    store
        .update(|state| state.chain = Some(Vec::new()))
        .unwrap();
    let mut out = Vec::new();
    let err = check::run(
        CheckArgs {
            json: true,
            rounds: 1,
        },
        config_for(&sim, false),
        Some(store),
        &mut out,
    )
    .await
    .expect_err("an empty chain is not all fine");
    assert!(err.to_string().contains("the chain is empty"), "{err:#}");
    assert!(out.is_empty(), "nothing printed as if it were a report");
    assert_eq!(sim.stats("sim/outage").requests, 0, "nothing probed");
    sim.shutdown().await;
}

/// The binary turns that error into exit code 2, with the fix on stderr.
#[test]
fn an_empty_chain_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    Store::at(&state)
        .update(|s| s.chain = Some(Vec::new()))
        .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chainwatch"))
        .args(["--demo", "--state"])
        .arg(&state)
        .args(["check", "--json"])
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the chain is empty"), "{stderr}");
    assert!(stderr.contains("chainwatch chain reset"), "{stderr}");
    assert!(out.stdout.is_empty());
}
