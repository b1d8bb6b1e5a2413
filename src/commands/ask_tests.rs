//! `chainwatch ask` against the simulator.

use super::*;
use crate::sim::{Scenario, SimServer};
use serde_json::Value;
use std::time::Duration;

struct Run {
    code: u8,
    out: String,
    err: String,
}

async fn sim() -> SimServer {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/scenarios/route-basic.toml"
    );
    let scenario = Scenario::load(path.as_ref()).expect("scenario");
    SimServer::start(scenario, "127.0.0.1:0".parse().expect("addr"), 3)
        .await
        .expect("sim")
}

fn config(sim: &SimServer, chain: &[&str]) -> Config {
    let mut config = sim.config();
    config.chain = chain.iter().map(|s| s.to_string()).collect();
    config.route.hedge = Hedge::After(Duration::from_millis(200));
    config.tiers.budget = vec!["down".into()];
    config.tiers.standard = vec!["fast-b".into()];
    config
}

fn args(prompt: &str) -> AskArgs {
    AskArgs {
        tier: None,
        model: None,
        json: false,
        buffer: false,
        stream: false,
        no_hedge: false,
        max_tokens: 64,
        prompt: prompt.to_string(),
    }
}

async fn ask(args: AskArgs, config: &Config, store: Option<Store>, stdin: &str) -> Run {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = run_with_input(
        args,
        config,
        store,
        false,
        &mut stdin.as_bytes(),
        &mut out,
        &mut err,
    )
    .await
    .expect("runs");
    let code = [0u8, 1, 2]
        .into_iter()
        .find(|c| ExitCode::from(*c) == code)
        .unwrap_or(255);
    Run {
        code,
        out: String::from_utf8(out).expect("utf-8"),
        err: String::from_utf8(err).expect("utf-8"),
    }
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::at(dir.path().join("state.json"));
    (dir, store)
}

#[tokio::test]
async fn answers_through_the_chain_and_remembers_what_failed() {
    let sim = sim().await;
    let mut config = config(&sim, &["down", "fast-a"]);
    // The second ask must fall inside `down`'s half-open period however
    // slow the machine is (the period is a quarter of the probe interval,
    // up to 15 s); otherwise it would rightly give `down` a trial.
    config.probe.interval = Duration::from_secs(3600);
    let (_dir, store) = store();

    let first = ask(args("hello"), &config, Some(store.clone()), "").await;
    assert_eq!(first.code, 0, "{}", first.err);
    assert!(
        first.out.len() > 1 && first.out.ends_with('\n'),
        "{:?}",
        first.out
    );
    assert!(
        first.err.contains("down failed: server_error"),
        "{}",
        first.err
    );
    // A single 502 is retried once, beside the next model.
    assert!(
        first
            .err
            .contains("down: trying once more, beside the next model"),
        "{}",
        first.err
    );
    assert!(
        first.err.contains("fast-a answered in")
            && first.err.contains("served sim/fast-a via Sim A"),
        "{}",
        first.err
    );

    // The failure was saved: the next `ask` skips `down` without asking it.
    let second = ask(args("hello"), &config, Some(store.clone()), "").await;
    assert_eq!(second.code, 0, "{}", second.err);
    assert!(
        second.err.contains("down skipped: unhealthy (0/") && second.err.contains("ok; last: 502"),
        "{}",
        second.err
    );
    // The first ask asked it, and once more at most; the second not at all.
    let asked = sim.stats("sim/down").requests;
    assert!((1..=2).contains(&asked), "{asked}");
    sim.shutdown().await;
}

#[tokio::test]
async fn json_has_the_answer_and_every_attempt() {
    let sim = sim().await;
    let config = config(&sim, &["hang", "fast-b"]);
    let run = ask(
        AskArgs {
            json: true,
            ..args("hello")
        },
        &config,
        None,
        "",
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.err);
    let v: Value = serde_json::from_str(&run.out).expect("one JSON object");
    assert_eq!(
        crate::report::rule_breaks(&v),
        Vec::<String>::new(),
        "{v:#}"
    );
    assert!(v["total_ms"].as_u64().is_some_and(|ms| ms >= 200), "{v:#}");
    assert_eq!(v["ok"], true);
    assert_eq!(v["model"], "fast-b");
    assert!(v["text"].as_str().is_some_and(|t| !t.is_empty()));
    let attempts = v["attempts"].as_array().expect("attempts");
    let outcomes: Vec<(&str, &str, bool)> = attempts
        .iter()
        .map(|a| {
            (
                a["model"].as_str().unwrap_or(""),
                a["outcome"].as_str().unwrap_or(""),
                a["hedged"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [("hang", "cancelled", false), ("fast-b", "ok", true)]
    );
    assert!(
        run.err.is_empty(),
        "JSON mode keeps stderr quiet: {}",
        run.err
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn all_failed_exits_1_with_every_attempt() {
    let sim = sim().await;
    let config = config(&sim, &["down", "down2"]);
    let run = ask(args("hello"), &config, None, "").await;
    assert_eq!(run.code, 1);
    assert!(run.out.is_empty());
    assert!(
        run.err
            .contains("error: every model failed — down: server_error")
            && run.err.contains("down2: server_error"),
        "{}",
        run.err
    );
    let run = ask(
        AskArgs {
            json: true,
            ..args("hello")
        },
        &config,
        None,
        "",
    )
    .await;
    assert_eq!(run.code, 1);
    let v: Value = serde_json::from_str(&run.out).expect("JSON");
    assert_eq!(
        crate::report::rule_breaks(&v),
        Vec::<String>::new(),
        "{v:#}"
    );
    assert_eq!(v["ok"], false);
    assert_eq!(v["outcome"], "failed");
    // Each 5xx is retried once: down, down (retry) beside down2, down2 (retry).
    let attempts: Vec<(&str, &str)> = v["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| {
            (
                a["model"].as_str().unwrap_or(""),
                a["role"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(attempts.len(), 4, "{v:#}");
    for model in ["down", "down2"] {
        let roles: Vec<&str> = attempts
            .iter()
            .filter(|(m, _)| *m == model)
            .map(|(_, r)| *r)
            .collect();
        assert_eq!(roles, ["planned", "retry"], "{model}: {v:#}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn tier_model_and_stdin() {
    let sim = sim().await;
    let config = config(&sim, &["fast-a"]);
    let run = ask(
        AskArgs {
            tier: Some(Tier::Budget),
            ..args("hello")
        },
        &config,
        None,
        "",
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.err);
    assert!(
        run.err
            .contains("no budget model answered: escalating to standard"),
        "{}",
        run.err
    );
    assert!(run.err.contains("fast-b answered"), "{}", run.err);

    let run = ask(
        AskArgs {
            model: Some("fast-b".into()),
            ..args("-")
        },
        &config,
        None,
        "hello from stdin\n",
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.err);
    assert!(run.err.contains("fast-b answered"), "{}", run.err);
    sim.shutdown().await;
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let config = Config::demo("http://127.0.0.1:9", &[("a".into(), "x/a".into(), None)]);
    let cases = [
        (args("   "), "", "the prompt is empty"),
        (args("-"), "", "the prompt is empty"),
        (
            AskArgs {
                model: Some("zz".into()),
                ..args("hi")
            },
            "",
            "unknown model \"zz\"; known models: a",
        ),
        (
            AskArgs {
                tier: Some(Tier::Premium),
                ..args("hi")
            },
            "",
            "no models in the premium tier or above",
        ),
    ];
    for (a, stdin, expected) in cases {
        let run = ask(a, &config, None, stdin).await;
        assert_eq!(run.code, 2, "{expected}");
        assert!(run.err.contains(expected), "{}", run.err);
    }
}
