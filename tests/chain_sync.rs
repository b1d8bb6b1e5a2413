//! One chain across processes: edits from several processes at once all
//! survive, a running engine (and the dashboard it feeds) follows an edit
//! made elsewhere within two seconds of its `now`, and saving history never
//! undoes a chain edit. The processes are the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use chainwatch::api::Client;
use chainwatch::config::Config;
use chainwatch::engine::{ChainChange, Engine, EngineEvent, EngineOptions};
use chainwatch::route::{Chain, ChainEdit};
use chainwatch::store::Store;
use chainwatch::tui::app::Action;
use chainwatch::tui::App;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};

const BIN: &str = env!("CARGO_BIN_EXE_chainwatch");

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).single().unwrap()
}

/// Nine models in the chain, on an endpoint nothing here ever calls.
fn write_config(dir: &Path) -> PathBuf {
    let names: Vec<String> = (1..=9).map(|i| format!("m{i}")).collect();
    let mut text = format!(
        "chain = [{}]\n\n[[endpoint]]\nname = \"local\"\nbase_url = \"http://127.0.0.1:9/v1\"\n",
        names
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for n in &names {
        text.push_str(&format!("\n[[model]]\nname = \"{n}\"\nid = \"x/{n}\"\n"));
    }
    let path = dir.join("team.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn chainwatch(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("HOME", dir)
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env_remove("OPENROUTER_API_KEY");
    cmd
}

fn ok(output: &Output) -> bool {
    output.status.success()
}

#[test]
fn twenty_pairs_of_simultaneous_moves_lose_no_edit() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = write_config(dir.path());
    let config = Config::load(&config_path).unwrap();
    let store = Store::default_for(Some(&config_path)).unwrap();
    assert_eq!(store.path(), dir.path().join("team.state.json"));
    let config_arg = config_path.to_str().unwrap();
    for pair in 0..20 {
        let before = Chain::load(&config, Some(&store)).0.order().to_vec();
        // The last two models both go to the top, from two processes at once.
        let (x, y) = (before[8].clone(), before[7].clone());
        let spawn = |name: &str| {
            chainwatch(
                dir.path(),
                &["--config", config_arg, "chain", "move", name, "1"],
            )
            .output()
        };
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| spawn(&x));
            let b = s.spawn(|| spawn(&y));
            (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
        });
        assert!(ok(&a) && ok(&b), "pair {pair}: {a:?} {b:?}");
        let after = Chain::load(&config, Some(&store)).0.order().to_vec();
        let mut top = [after[0].clone(), after[1].clone()];
        top.sort();
        let mut want = [x.clone(), y.clone()];
        want.sort();
        assert_eq!(
            top, want,
            "pair {pair}: an edit was lost: {before:?} → {after:?}"
        );
        assert_eq!(after.len(), 9, "pair {pair}: {after:?}");
    }
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains(".tmp-")), "{names:?}");
}

fn engine(config: Config, store: Store) -> Engine {
    let client = Client::new(Duration::from_secs(1));
    Engine::with_options(
        config,
        client,
        Some(store),
        EngineOptions {
            start: t0(),
            seed: 1,
        },
    )
}

/// Chain events received so far.
fn chain_events(
    rx: &mut tokio::sync::broadcast::Receiver<EngineEvent>,
) -> Vec<(Vec<String>, ChainChange)> {
    let mut out = Vec::new();
    while let Ok(event) = rx.try_recv() {
        if let EngineEvent::Chain { order, change, .. } = event {
            out.push((order, change));
        }
    }
    out
}

#[test]
fn a_dashboard_follows_an_outside_move_within_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = write_config(dir.path());
    let config = Config::load(&config_path).unwrap();
    let store = Store::default_for(Some(&config_path)).unwrap();
    let engine = engine(config.clone(), store.clone());
    let mut events = engine.subscribe();
    let (chain, _) = Chain::load(&config, Some(&store));
    let mut app = App::new(&config, chain, t0());
    engine.tick(t0());

    // Another terminal: `chainwatch chain move m7 1`.
    let moved = chainwatch(
        dir.path(),
        &[
            "--config",
            config_path.to_str().unwrap(),
            "chain",
            "move",
            "m7",
            "1",
        ],
    )
    .output()
    .unwrap();
    assert!(ok(&moved), "{moved:?}");

    // The engine's tick, every half second of its `now`, as the live loop
    // runs it; the dashboard is fed what the engine reports.
    let mut followed_at = None;
    for step in 1..=4 {
        let now = t0() + TimeDelta::milliseconds(500 * step);
        engine.tick(now);
        for (order, change) in chain_events(&mut events) {
            assert_eq!(change, ChainChange::Outside);
            app.update(Action::ChainOutside { order });
            followed_at.get_or_insert(now);
        }
    }
    let followed_at = followed_at.expect("the outside move was noticed");
    assert!(followed_at - t0() <= TimeDelta::seconds(2), "{followed_at}");
    assert_eq!(app.chain.order()[0], "m7");
    assert_eq!(engine.chain_order()[0], "m7");
    assert!(
        app.events[0]
            .text
            .starts_with("chain changed by another process: m7 › m1 › m2"),
        "{}",
        app.events[0].text
    );

    // This process's own edit is an event of its own, never "another
    // process", and it keeps the outside move.
    let order = engine
        .edit_chain(&ChainEdit::Top { model: "m9".into() })
        .unwrap();
    assert_eq!(&order[..2], ["m9", "m7"]);
    engine.tick(t0() + TimeDelta::seconds(5));
    let seen = chain_events(&mut events);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(matches!(seen[0].1, ChainChange::Edited(_)), "{seen:?}");
}

#[test]
fn saving_history_never_undoes_a_chain_edit_made_meanwhile() {
    // `watch` (or a dashboard) loaded the chain, then someone moved a model,
    // then it saves at exit.
    let dir = tempfile::tempdir().unwrap();
    let config_path = write_config(dir.path());
    let config = Config::load(&config_path).unwrap();
    let store = Store::default_for(Some(&config_path)).unwrap();
    let watching = engine(config.clone(), store.clone());
    let moved = chainwatch(
        dir.path(),
        &[
            "--config",
            config_path.to_str().unwrap(),
            "chain",
            "move",
            "m5",
            "1",
        ],
    )
    .output()
    .unwrap();
    assert!(ok(&moved), "{moved:?}");
    watching.save().unwrap();
    let (chain, _) = Chain::load(&config, Some(&store));
    assert_eq!(chain.order()[0], "m5");
}
