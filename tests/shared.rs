//! Shared state on a real `redis-server` started here on a free loopback
//! port (Debian's `redis-server`; `.ci/run` installs it), with engines
//! watching the simulator over loopback. Each test starts its own server
//! and stops it. Without `redis-server` on this machine the tests say so
//! and pass without running (`.ci/run` installs it, so CI runs them).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chainwatch::api::Client;
use chainwatch::config::Config;
use chainwatch::engine::{Engine, EngineEvent, EngineOptions, Fleet};
use chainwatch::route::{ChainEdit, RouteRequest, RouteTarget, Router};
use chainwatch::shared::Shared;
use chainwatch::sim::{Scenario, SimServer};
use chainwatch::store::Store;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

const SCENARIO: &str = r#"
[server]
require_auth = false

[[model]]
name = "alpha"
id = "sim/alpha"

[[model]]
name = "beta"
id = "sim/beta"

[[model]]
name = "gamma"
id = "sim/gamma"
"#;

const MODELS: [&str; 3] = ["alpha", "beta", "gamma"];

/// A `redis-server` of this test's own.
struct Redis {
    child: Option<Child>,
    port: u16,
    bin: PathBuf,
    _dir: tempfile::TempDir,
}

fn redis_bin() -> Option<PathBuf> {
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")]);
    for dir in candidates {
        for name in ["redis-server", "valkey-server"] {
            let bin = dir.join(name);
            if bin.is_file() {
                return Some(bin);
            }
        }
    }
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Redis {
    /// `None` (said on stderr) when no `redis-server` can be found.
    fn start() -> Option<Redis> {
        let Some(bin) = redis_bin() else {
            eprintln!(
                "SKIPPED: no redis-server on this machine (apt-get install -y redis-server; .ci/run does)"
            );
            return None;
        };
        let mut redis = Redis {
            child: None,
            port: free_port(),
            bin,
            _dir: tempfile::tempdir().unwrap(),
        };
        redis.spawn();
        Some(redis)
    }

    fn spawn(&mut self) {
        let child = Command::new(&self.bin)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self._dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

struct Member {
    engine: Engine,
    shared: Arc<Shared>,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

async fn sim() -> SimServer {
    SimServer::start(
        Scenario::parse(SCENARIO, Path::new("<shared>")).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        7,
    )
    .await
    .unwrap()
}

fn config(sim: &SimServer, redis: &Redis, interval: Duration) -> Config {
    let mut config = sim.config();
    config.chain = MODELS.iter().map(|s| s.to_string()).collect();
    config.probe.interval = interval;
    config.store.redis_url = Some(redis.url());
    config
}

/// One process of the fleet: an engine with its own state file, joined
/// to Redis; with `run`, its sync loop runs in the background.
async fn member(config: &Config, start: DateTime<Utc>, run: bool) -> Member {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path().join("state.json"));
    let engine = Engine::with_options(
        config.clone(),
        Client::new(Duration::from_secs(5)),
        Some(store),
        EngineOptions {
            start,
            ..EngineOptions::default()
        },
    );
    let shared = Shared::new(config.store.redis_url.as_deref().unwrap(), config).unwrap();
    engine.join_fleet(shared.clone());
    shared.sync_now(&engine).await.unwrap();
    let stop = CancellationToken::new();
    if run {
        shared.clone().spawn(engine.clone(), stop.clone());
    }
    Member {
        engine,
        shared,
        stop,
        _dir: dir,
    }
}

fn probes(sim: &SimServer) -> Vec<u64> {
    MODELS
        .iter()
        .map(|m| sim.stats(&format!("sim/{m}")).requests)
        .collect()
}

/// Waits (a bounded while, in real time: Redis keeps real time) until
/// `done` holds; the time it took.
async fn until(bound: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < bound {
        if done() {
            return Some(t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_engines_probe_each_model_once_per_interval_and_judge_alike() {
    let Some(redis) = Redis::start() else { return };
    let sim = sim().await;
    let interval = Duration::from_secs(30);
    let config = config(&sim, &redis, interval);
    let t0 = Utc::now();
    let fleet = [
        member(&config, t0, false).await,
        member(&config, t0, false).await,
        member(&config, t0, false).await,
    ];
    let rounds = 4;
    for k in 1..=rounds {
        let now = t0 + chrono::Duration::from_std(interval * k).unwrap();
        for m in &fleet {
            m.engine.run_due(now).await;
        }
        let per_model = probes(&sim);
        assert!(
            per_model.iter().all(|&n| n == u64::from(k)),
            "after {k} intervals each model is probed {k} times by the fleet, not {}: {per_model:?}",
            3 * k
        );
    }
    // Every engine's window holds the fleet's samples, not only its own.
    for m in &fleet {
        m.shared.sync_now(&m.engine).await.unwrap();
    }
    let now = Utc::now() + chrono::Duration::from_std(interval * rounds).unwrap();
    for model in MODELS {
        let seen: Vec<(u32, String)> = fleet
            .iter()
            .map(|m| {
                let s = m.engine.snapshot(model, now).unwrap();
                (s.samples, s.status.to_string())
            })
            .collect();
        assert!(
            seen.iter().all(|s| *s == (rounds, "healthy".to_string())),
            "{model}: every engine judges on all {rounds} samples: {seen:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_edit_in_one_engine_reaches_the_others() {
    let Some(redis) = Redis::start() else { return };
    let sim = sim().await;
    let config = config(&sim, &redis, Duration::from_secs(30));
    let t0 = Utc::now();
    let a = member(&config, t0, true).await;
    let b = member(&config, t0, true).await;
    let c = member(&config, t0, true).await;
    let mut events = b.engine.subscribe();
    let edit = ChainEdit::Move {
        model: "gamma".into(),
        to: 1,
    };
    let engine = a.engine.clone();
    let order = tokio::task::spawn_blocking(move || engine.edit_chain(&edit))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order, ["gamma", "alpha", "beta"]);
    let took = until(Duration::from_secs(5), || {
        b.engine.chain_order() == order && c.engine.chain_order() == order
    })
    .await
    .expect("every engine follows the shared chain");
    eprintln!("chain edit reached the other engines in {took:?}");
    // Said as a chain change from elsewhere.
    let outside = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(EngineEvent::Chain { order, .. }) = events.recv().await {
                if order[0] == "gamma" {
                    return;
                }
            }
        }
    })
    .await;
    assert!(outside.is_ok(), "the follower announces the new order");
    // An edit that does not fit the shared chain is refused, not lost.
    let engine = b.engine.clone();
    let bad = tokio::task::spawn_blocking(move || {
        engine.edit_chain(&ChainEdit::Move {
            model: "nope".into(),
            to: 1,
        })
    })
    .await
    .unwrap();
    assert!(bad.is_err());
    for m in [&a, &b, &c] {
        m.stop.cancel();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_engines_leases_move_to_the_others() {
    let Some(redis) = Redis::start() else { return };
    let sim = sim().await;
    // A short interval: leases lapse in real time (1.5 s here).
    let interval = Duration::from_secs(1);
    let config = config(&sim, &redis, interval);
    let t0 = Utc::now();
    let a = member(&config, t0, false).await;
    let b = member(&config, t0, false).await;
    let c = member(&config, t0, false).await;
    // The first round: `a` runs first and takes every lease.
    let first = t0 + chrono::Duration::from_std(interval).unwrap();
    for m in [&a, &b, &c] {
        m.engine.run_due(first).await;
    }
    assert_eq!(probes(&sim), [1, 1, 1]);
    // `a` dies: it never probes again and never lets go.
    drop(a);
    let killed = Instant::now();
    let before = probes(&sim);
    let mut round = 1;
    let moved = loop {
        round += 1;
        let now = Utc::now().max(t0 + chrono::Duration::from_std(interval * round).unwrap());
        for m in [&b, &c] {
            m.engine.run_due(now).await;
        }
        let after = probes(&sim);
        if after.iter().zip(&before).all(|(a, b)| a > b) {
            break killed.elapsed();
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "the leases never moved: {before:?} → {after:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("leases moved {moved:?} after their holder died");
    // And still once per interval between the two left.
    let n0 = probes(&sim);
    let next = Utc::now() + chrono::Duration::from_std(interval * 3).unwrap();
    for m in [&b, &c] {
        m.engine.run_due(next).await;
    }
    let n1 = probes(&sim);
    assert!(
        n1.iter().zip(&n0).all(|(x, y)| x - y <= 1),
        "{n0:?} → {n1:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_engines_keep_routing_and_resync() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let sim = sim().await;
    let interval = Duration::from_secs(30);
    let config = config(&sim, &redis, interval);
    let t0 = Utc::now();
    let a = member(&config, t0, false).await;
    let b = member(&config, t0, false).await;
    let router = Router::new(config.clone(), Client::new(Duration::from_secs(5)));
    let chain: Vec<String> = MODELS.iter().map(|s| s.to_string()).collect();

    redis.kill();
    let mut events = a.engine.subscribe();
    // The loss is noticed and said.
    let why = a.shared.sync_now(&a.engine).await.unwrap_err();
    assert!(!why.is_empty());
    assert!(a.shared.unreachable().is_some());
    let mut said = false;
    while let Ok(e) = events.try_recv() {
        said |= matches!(e, EngineEvent::Warning { ref message, .. } if message.contains("shared store unreachable"));
    }
    assert!(said, "the engine says the shared store is unreachable");
    assert!(a.engine.fleet_link().unwrap().is_some());

    // Probing and routing go on, on local state, without waiting. (Probes
    // first: a prompt answered would stand in for its model's next probe.)
    let t = Instant::now();
    let probed = a
        .engine
        .run_due(t0 + chrono::Duration::from_std(interval).unwrap())
        .await;
    assert_eq!(
        probed, 3,
        "probes go on (each process alone) while Redis is away"
    );
    let answer = router
        .route(
            &a.engine,
            &chain,
            RouteRequest::new("hello", RouteTarget::Chain),
            None,
        )
        .await
        .unwrap();
    assert_eq!(answer.model, "alpha");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // An edit made meanwhile is kept locally and queued for Redis.
    let engine = a.engine.clone();
    let order = tokio::task::spawn_blocking(move || {
        engine.edit_chain(&ChainEdit::Move {
            model: "beta".into(),
            to: 1,
        })
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(order, ["beta", "alpha", "gamma"]);

    // Redis comes back (empty: it saved nothing): both resync, the
    // edit is not lost, and `b` follows it.
    redis.spawn();
    let mut back = false;
    for _ in 0..50 {
        if a.shared.sync_now(&a.engine).await.is_ok() {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "a resyncs");
    assert!(a.engine.fleet_link().unwrap().is_none());
    for _ in 0..50 {
        if b.shared.sync_now(&b.engine).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(b.engine.chain_order(), ["beta", "alpha", "gamma"]);
    assert_eq!(a.engine.chain_order(), ["beta", "alpha", "gamma"]);
    // The samples `a` took while Redis was away reach `b`.
    let now = Utc::now() + chrono::Duration::from_std(interval).unwrap();
    let seen = b.engine.snapshot("alpha", now).unwrap().samples;
    assert!(seen >= 2, "a's probe and prompt reach b: {seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_outage_pages_once_for_the_fleet() {
    use chainwatch::alert::{Alerter, EnvLookup, Report};
    use chainwatch::health::{HealthEvent, HealthEventKind, Status};

    let Some(redis) = Redis::start() else { return };
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("pages.txt");
    let mut config = config(&sim, &redis, Duration::from_secs(30));
    let rules = format!(
        "[[endpoint]]\nname = \"sim\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\
         [[model]]\nname = \"alpha\"\nid = \"sim/alpha\"\n\
         [[alert]]\nname = \"on-call\"\nto = [\"unhealthy\"]\ncommand = \"echo paged >> '{}'\"\n",
        pages.display()
    );
    config.alerts = Config::parse(&rules, Path::new("alerts.toml"))
        .unwrap()
        .alerts;
    let t0 = Utc::now();
    let mut alerters = Vec::new();
    let mut members = Vec::new();
    for _ in 0..3 {
        let m = member(&config, t0, false).await;
        let report: Report = Arc::new(|_| {});
        let env: EnvLookup = Arc::new(|_| None);
        let alerter = Alerter::start(&config, Arc::new(|_: &str| true), report, env).unwrap();
        alerter.share(m.shared.clone());
        alerters.push(alerter);
        members.push(m);
    }
    // Every replica sees alpha go down (each at its own moment).
    for (i, alerter) in alerters.iter().enumerate() {
        let event = EngineEvent::Health(HealthEvent {
            at: t0 + chrono::Duration::milliseconds(40 * i as i64),
            model: "alpha".into(),
            kind: HealthEventKind::State {
                from: Status::Healthy,
                to: Status::Unhealthy,
                reason: "3/5 ok".into(),
            },
        });
        assert_eq!(alerter.offer(&event), 1, "each replica's rule matches");
    }
    for alerter in &alerters {
        alerter.settled().await;
    }
    let paged = std::fs::read_to_string(&pages).unwrap_or_default();
    assert_eq!(
        paged.lines().count(),
        1,
        "one page for the fleet: {paged:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_budget_is_the_fleets() {
    let Some(redis) = Redis::start() else { return };
    let sim = sim().await;
    let config = config(&sim, &redis, Duration::from_secs(30));
    let t0 = Utc::now();
    let a = member(&config, t0, false).await;
    let b = member(&config, t0, false).await;
    let now = Utc::now();
    // What `a`'s probes spent (as its engine records them) …
    a.shared.spend(0.25, now);
    a.shared.spend(0.5, now);
    a.shared.sync_now(&a.engine).await.unwrap();
    b.shared.sync_now(&b.engine).await.unwrap();
    // … is `b`'s spend today too: one ledger, one budget.
    assert!((b.engine.spend_today(now) - 0.75).abs() < 1e-9);
    assert!((a.engine.spend_today(now) - 0.75).abs() < 1e-9);
}
