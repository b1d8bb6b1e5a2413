//! Every failure class, end to end: a simulator scenario on loopback, the
//! real client, the health core, and `check --json` reporting the class and
//! the status that class leads to.
//!
//! Convention of `assets/scenarios/<class>.toml`: every model named after the
//! class (or `<class>-<variant>`) always fails with that class; a model named
//! `healthy` always answers.

use std::path::Path;
use std::time::Duration;

use chainwatch::commands::check::{self, CheckArgs};
use chainwatch::config::Config;
use chainwatch::report::rule_breaks;
use chainwatch::sim::{Scenario, SimServer};
use serde_json::Value;

/// An obviously fake key, shaped like an OpenRouter one so masking must catch it.
const FAKE_KEY: &str = "sk-or-v1-0000fake0000fake0000fake0000fake0000fake";
const KEY_VAR: &str = "CHAINWATCH_TEST_CLASSES_KEY";

async fn check_json(scenario_file: &str, stream: bool) -> (Value, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/scenarios")
        .join(scenario_file);
    let scenario = Scenario::load(&path).expect("scenario loads");
    let models: Vec<_> = scenario
        .models()
        .iter()
        .map(|m| (m.name.clone(), m.id.clone(), None))
        .collect();
    let sim = SimServer::start(scenario, "127.0.0.1:0".parse().unwrap(), 1)
        .await
        .expect("simulator starts");
    let mut config = Config::demo(&sim.base_url(), &models);
    config.probe.ttft_timeout = Duration::from_millis(700);
    config.probe.timeout = Duration::from_secs(2);
    config.probe.stream = stream;
    // Set once, before any test reads it: only this file uses the variable.
    static SET_KEY: std::sync::Once = std::sync::Once::new();
    SET_KEY.call_once(|| std::env::set_var(KEY_VAR, FAKE_KEY));
    for endpoint in &mut config.endpoints {
        endpoint.api_key_env = Some(KEY_VAR.to_string());
    }
    let mut out = Vec::new();
    let args = CheckArgs {
        json: true,
        rounds: 1,
    };
    check::run(args, config, None, &mut out)
        .await
        .expect("check runs");
    sim.shutdown().await;
    let text = String::from_utf8(out).expect("utf-8");
    let report: Value = serde_json::from_str(&text).expect("check prints JSON");
    // Every document keeps the rules of docs/json.md: a version, times in ms.
    assert_eq!(rule_breaks(&report), Vec::<String>::new(), "{text}");
    assert_eq!(
        report["window_ms"],
        5 * 60 * 1000,
        "the demo window: {text}"
    );
    (report, text)
}

fn expected_status(class: &str) -> &'static str {
    match class {
        "rate_limited" => "rate_limited",
        "auth" | "credits" | "not_found" | "bad_request" | "budget" => "misconfigured",
        _ => "unhealthy",
    }
}

async fn assert_class(file_stem: &str, class: &str) {
    for stream in [true, false] {
        let (report, text) = check_json(&format!("{file_stem}.toml"), stream).await;
        assert!(
            !text.contains(FAKE_KEY),
            "the key leaked into the output:\n{text}"
        );
        let models = report["models"].as_array().expect("models array");
        assert!(models.len() >= 2, "{text}");
        for model in models {
            let name = model["name"].as_str().unwrap();
            let why = format!("{file_stem}.toml, model {name}, stream={stream}:\n{model:#}");
            if name == "healthy" {
                assert_eq!(model["status"], "healthy", "{why}");
                assert!(model["last_failure"].is_null(), "{why}");
                continue;
            }
            // A reply under the client's 4 MiB cap is read whole: it is just
            // not the expected "pong".
            let class = if name == "huge-1mib" {
                "wrong_answer"
            } else {
                class
            };
            assert_eq!(model["last_failure"]["class"], class, "{why}");
            assert_eq!(model["status"], expected_status(class), "{why}");
        }
    }
}

macro_rules! class_tests {
    ($($name:ident: $file:literal => $class:literal,)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            assert_class($file, $class).await;
        }
    )*};
}

class_tests! {
    timeout: "timeout" => "timeout",
    connect: "connect" => "connect",
    server_error: "server_error" => "server_error",
    provider_error: "provider_error" => "provider_error",
    truncated: "truncated" => "truncated",
    malformed: "malformed" => "malformed",
    empty: "empty" => "empty",
    wrong_answer: "wrong_answer" => "wrong_answer",
    rate_limited: "rate_limited" => "rate_limited",
    auth: "auth" => "auth",
    credits: "credits" => "credits",
    not_found: "not_found" => "not_found",
    bad_request: "bad_request" => "bad_request",
    budget: "budget" => "budget",
    huge_reply_is_cut_off: "huge" => "malformed",
}

#[tokio::test]
async fn demo_scenario_gives_a_mixed_verdict() {
    let scenario = Scenario::demo();
    let models: Vec<_> = scenario
        .models()
        .iter()
        .map(|m| (m.name.clone(), m.id.clone(), None))
        .collect();
    let sim = SimServer::start(scenario, "127.0.0.1:0".parse().unwrap(), 7)
        .await
        .unwrap();
    // Into gpt-4o's first outage (15 s to 40 s of scenario time).
    sim.advance(Duration::from_secs(20));
    let config = Config::demo(&sim.base_url(), &models);
    let mut out = Vec::new();
    let code = check::run(
        CheckArgs {
            json: false,
            rounds: 1,
        },
        config,
        None,
        &mut out,
    )
    .await
    .unwrap();
    let table = String::from_utf8(out).unwrap();
    for (name, _, _) in &models {
        assert!(
            table.contains(name.as_str()),
            "{name} missing from\n{table}"
        );
    }
    assert!(table.contains("✓ healthy"), "{table}");
    let gpt4o = table.lines().find(|l| l.contains(" gpt-4o ")).unwrap();
    assert!(
        gpt4o.contains("✗ unhealthy") && gpt4o.contains("server_error") || gpt4o.contains(" 50"),
        "{gpt4o}"
    );
    assert_eq!(code, std::process::ExitCode::from(1), "{table}");
}

#[tokio::test]
async fn a_64_mib_reply_is_cut_off_at_the_cap() {
    use chainwatch::api::{
        ChatRequest, Client, Deadlines, Dialect, Message, Target, DEFAULT_REPLY_CAP,
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenarios/huge.toml");
    let sim = SimServer::start(
        Scenario::load(&path).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        1,
    )
    .await
    .unwrap();
    let target = Target {
        base_url: sim.base_url(),
        dialect: Dialect::Openai,
        api_key: None,
        model_id: "sim/huge".into(),
        extra: Default::default(),
        fallback_models: Vec::new(),
    };
    for stream in [true, false] {
        let request = ChatRequest {
            messages: vec![Message {
                role: "user".into(),
                content: "Reply with the single word: pong".into(),
            }],
            max_tokens: 16,
            stream,
            expect: None,
            passthrough: None,
        };
        let attempt = Client::new(Duration::from_secs(2))
            .send(&target, &request, Deadlines::default(), None)
            .await;
        assert_eq!(
            attempt.class(),
            Some(chainwatch::api::FailureClass::Malformed),
            "{:?}",
            attempt.failure
        );
        assert!(
            attempt.reply.len() <= DEFAULT_REPLY_CAP,
            "reply of {} bytes",
            attempt.reply.len()
        );
    }
    // The client hung up instead of draining the rest.
    let sent = sim.stats("sim/huge").bytes_sent;
    assert!(
        sent < 64 << 20,
        "the server sent {sent} bytes for two 64 MiB replies"
    );
}
