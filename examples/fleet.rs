//! The figures of `docs/scale.md`: N engines on one Redis watching the
//! simulator over loopback.
//!
//! ```sh
//! cargo run --example fleet --features redis            # starts its own redis-server
//! REDIS_URL=redis://127.0.0.1:6379/ cargo run --example fleet --features redis
//! ```
//!
//! 1. probes per model per interval with 1, 3 and 10 engines, with and
//!    without the shared store (driven by `run_due(now)`, so intervals
//!    pass without waiting);
//! 2. the time a chain edit takes to reach every other engine (10 engines,
//!    their sync loops and pub/sub running; 30 edits);
//! 3. the time a dead holder's probe leases take to move (3 engines,
//!    interval 1 s, so a lease lapses after 1.5 s; 5 trials).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chainwatch::api::Client;
use chainwatch::config::Config;
use chainwatch::engine::{Engine, EngineOptions};
use chainwatch::route::ChainEdit;
use chainwatch::shared::Shared;
use chainwatch::sim::{Scenario, SimServer};
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

const MODELS: usize = 5;

fn scenario() -> String {
    let mut s = String::from("[server]\nrequire_auth = false\n");
    for i in 0..MODELS {
        s.push_str(&format!(
            "\n[[model]]\nname = \"m{i}\"\nid = \"sim/m{i}\"\n"
        ));
    }
    s
}

struct Redis(Option<Child>, String);

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn redis() -> Redis {
    if let Ok(url) = std::env::var("REDIS_URL") {
        return Redis(None, url);
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server (apt-get install redis-server), or set REDIS_URL");
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "redis-server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Redis(Some(child), format!("redis://127.0.0.1:{port}/"))
}

async fn flush(url: &str) {
    let client = redis::Client::open(url).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("FLUSHALL").query_async(&mut c).await.unwrap();
}

async fn engines(
    config: &Config,
    n: usize,
    start: DateTime<Utc>,
    shared: bool,
    run: bool,
) -> Vec<(Engine, Option<Arc<Shared>>, CancellationToken)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let engine = Engine::with_options(
            config.clone(),
            Client::new(Duration::from_secs(5)),
            None,
            EngineOptions {
                start,
                ..EngineOptions::default()
            },
        );
        let stop = CancellationToken::new();
        let fleet = if shared {
            let s = Shared::new(config.store.redis_url.as_deref().unwrap(), config).unwrap();
            engine.join_fleet(s.clone());
            s.sync_now(&engine).await.unwrap();
            if run {
                s.clone().spawn(engine.clone(), stop.clone());
            }
            Some(s)
        } else {
            None
        };
        out.push((engine, fleet, stop));
    }
    out
}

fn total(sim: &SimServer) -> u64 {
    (0..MODELS)
        .map(|i| sim.stats(&format!("sim/m{i}")).requests)
        .sum()
}

fn spread(mut v: Vec<Duration>) -> String {
    v.sort();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    format!(
        "median {:.1} ms, p95 {:.1} ms, max {:.1} ms (n = {})",
        at(0.5).as_secs_f64() * 1e3,
        at(0.95).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3,
        v.len()
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let redis = redis();
    let url = redis.1.clone();
    let sim = SimServer::start(
        Scenario::parse(&scenario(), Path::new("<fleet>")).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        7,
    )
    .await
    .unwrap();
    let mut config = sim.config();
    config.store.redis_url = Some(url.clone());

    // 1. Probes per model per interval.
    let interval = Duration::from_secs(30);
    config.probe.interval = interval;
    let rounds = 5u32;
    println!("| engines | without Redis | with Redis |\n|---|---|---|");
    for n in [1usize, 3, 10] {
        let mut row = Vec::new();
        for shared in [false, true] {
            flush(&url).await;
            let t0 = Utc::now();
            let fleet = engines(&config, n, t0, shared, false).await;
            let before = total(&sim);
            for k in 1..=rounds {
                let now = t0 + chrono::Duration::from_std(interval * k).unwrap();
                for (e, _, _) in &fleet {
                    e.run_due(now).await;
                }
            }
            let per = (total(&sim) - before) as f64 / (MODELS as f64 * f64::from(rounds));
            row.push(format!("{per:.2}"));
        }
        println!("| {n} | {} | {} |", row[0], row[1]);
    }

    // 2. A chain edit reaching every other engine.
    flush(&url).await;
    let fleet = engines(&config, 10, Utc::now(), true, true).await;
    let mut took = Vec::new();
    for i in 0..30usize {
        let (editor, _, _) = &fleet[i % fleet.len()];
        let edit = ChainEdit::Move {
            model: format!("m{}", i % MODELS),
            to: 1 + (i * 7) % MODELS,
        };
        let engine = editor.clone();
        let t = Instant::now();
        let Ok(Ok(order)) = tokio::task::spawn_blocking(move || engine.edit_chain(&edit)).await
        else {
            continue;
        };
        loop {
            if fleet.iter().all(|(e, _, _)| e.chain_order() == order) {
                took.push(t.elapsed());
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "an edit never arrived"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    println!("\nchain edit to all 10 engines: {}", spread(took));
    for (_, _, stop) in &fleet {
        stop.cancel();
    }

    // 3. Lease failover.
    let interval = Duration::from_secs(1);
    config.probe.interval = interval;
    let mut moved = Vec::new();
    for _ in 0..5 {
        flush(&url).await;
        let t0 = Utc::now();
        let mut fleet = engines(&config, 3, t0, true, false).await;
        let first = t0 + chrono::Duration::from_std(interval).unwrap();
        for (e, _, _) in &fleet {
            e.run_due(first).await;
        }
        let holder_probed = Instant::now();
        fleet.remove(0);
        let before = total(&sim);
        let mut round = 1u32;
        loop {
            round += 1;
            let now = Utc::now().max(t0 + chrono::Duration::from_std(interval * round).unwrap());
            for (e, _, _) in &fleet {
                e.run_due(now).await;
            }
            if total(&sim) >= before + MODELS as u64 {
                moved.push(holder_probed.elapsed());
                break;
            }
            assert!(holder_probed.elapsed() < Duration::from_secs(10));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    println!(
        "\nleases moved after the holder's last probe (interval 1 s, lease 1.5 s): {}",
        spread(moved)
    );
}
