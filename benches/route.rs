//! The router's cost: one routing decision (`plan`, criterion), and failover
//! on the simulator, each case as a ratio to a direct request to the model
//! that finally answers.
//!
//! `cargo bench --bench route` (release). Failover cases are wall-clock
//! timings over loopback HTTP, median of `ROUNDS`; the simulated fallback
//! answers in a constant 300 ms to first token and 600 ms in all, so the
//! ratios are not blurred by the sim's own randomness. Figures go into
//! docs/routing.md.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chainwatch::api::{
    Attempt, ChatRequest, Client, Deadlines, Failure, FailureClass, Message, Target,
};
use chainwatch::config::{Config, Hedge, Tier};
use chainwatch::engine::Engine;
use chainwatch::health::{HealthBook, HealthPolicy, SampleKind, Status};
use chainwatch::route::{HealthView, RouteRequest, RouteTarget, Router};
use chainwatch::sim::{Scenario, SimServer};
use chrono::{DateTime, Utc};
use criterion::Criterion;

const ROUNDS: usize = 7;
/// The article's loop waits 30 s per attempt; scaled down 10× here.
const ARTICLE_TIMEOUT: Duration = Duration::from_secs(3);

const SCENARIO: &str = r#"
[server]
require_auth = false

[[model]]
name = "fallback"
id = "bench/fallback"
provider = "Bench"
ttft = { p50 = "300ms", p95 = "300ms" }
latency = { p50 = "600ms", p95 = "600ms" }

[[model]]
name = "down"
id = "bench/down"
provider = "Bench"
[[model.fault]]
class = "server_error"
status = 502

[[model]]
name = "hang"
id = "bench/hang"
provider = "Bench"
[[model.fault]]
class = "timeout"
variant = "silent"
"#;

struct Book(Mutex<HealthBook>);

impl Book {
    fn new(config: &Config) -> Book {
        let mut book = HealthBook::new(HealthPolicy::from(&config.health));
        for m in &config.models {
            book.add_model(&m.name, &m.id);
        }
        Book(Mutex::new(book))
    }

    fn add(&self, model: &str, class: Option<FailureClass>, now: DateTime<Utc>) {
        if let Ok(mut book) = self.0.lock() {
            book.record_attempt(model, &attempt(class, now), SampleKind::Probe, now);
        }
    }
}

fn attempt(class: Option<FailureClass>, now: DateTime<Utc>) -> Attempt {
    Attempt {
        failure: class.map(|class| Failure {
            class,
            message: "bad gateway".into(),
            retry_after: None,
        }),
        http_status: Some(if class.is_some() { 502 } else { 200 }),
        ttft: Some(Duration::from_millis(300)),
        ..Attempt::blank(now, Duration::from_millis(800))
    }
}

impl HealthView for Book {
    fn judge(&self, model: &str, now: DateTime<Utc>) -> (Status, String) {
        let Ok(book) = self.0.lock() else {
            return (Status::Unknown, String::new());
        };
        match book.model(model) {
            Some(m) => m.status(book.policy(), now),
            None => (Status::Unknown, String::new()),
        }
    }
    fn ttft_p95(&self, model: &str, now: DateTime<Utc>) -> Option<Duration> {
        let book = self.0.lock().ok()?;
        book.snapshot(model, now)?.ttft.map(|p| p.p95)
    }
    fn record(&self, model: &str, attempt: &Attempt, now: DateTime<Utc>) {
        if let Ok(mut book) = self.0.lock() {
            book.record_attempt(model, attempt, SampleKind::Prompt, now);
        }
    }
    // Without it every unhealthy model would be due a half-open trial.
    fn last_attempt(&self, model: &str) -> Option<DateTime<Utc>> {
        self.0.lock().ok()?.model(model)?.last_attempt()
    }

    // A trial that lost the race is dropped here: nothing measures it.
    fn adopt(&self, _trial: chainwatch::route::Trial) {}
}

fn bench_plan(c: &mut Criterion) {
    // The article's seven models, each with a full window of history, two
    // of them down.
    let mut config = Config::builtin();
    // No key needed: otherwise every model is misconfigured, a shortcut.
    config.endpoints[0].api_key_env = None;
    let router = Router::new(config.clone(), Client::new(Duration::from_secs(5)));
    let book = Book::new(&config);
    let now = Utc::now();
    for m in &config.models {
        for i in 0..100 {
            let at = now - chrono::Duration::seconds(600 - i * 5);
            let down = matches!(m.name.as_str(), "gpt-4o" | "gemini-flash") && i > 80;
            book.add(&m.name, down.then_some(FailureClass::ServerError), at);
        }
    }
    let chain = config.chain.clone();
    // The same history in the engine, as the dashboard and `ask` use it.
    let engine = Engine::new(config.clone(), Client::new(Duration::from_secs(5)), None);
    for m in &config.models {
        for i in 0..100 {
            let at = now - chrono::Duration::seconds(600 - i * 5);
            let down = matches!(m.name.as_str(), "gpt-4o" | "gemini-flash") && i > 80;
            engine.record(
                &m.name,
                &attempt(down.then_some(FailureClass::ServerError), at),
                SampleKind::Probe,
                at,
            );
        }
    }
    c.bench_function("plan: chain of 4 through the engine", |b| {
        b.iter(|| router.plan(&engine, &chain, &RouteTarget::Chain, now))
    });
    c.bench_function("plan: chain of 4, 100 samples each", |b| {
        b.iter(|| router.plan(&book, &chain, &RouteTarget::Chain, now))
    });
    c.bench_function("plan: budget tier escalating over 6", |b| {
        b.iter(|| router.plan(&book, &chain, &RouteTarget::Tier(Tier::Budget), now))
    });
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

async fn time<F, Fut>(mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut times = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let ok = f().await;
        assert!(ok, "every failover case must end in an answer");
        times.push(t.elapsed());
    }
    median(times)
}

async fn failover() {
    let scenario = Scenario::parse(SCENARIO, "bench.toml".as_ref()).expect("scenario");
    let sim = SimServer::start(scenario, "127.0.0.1:0".parse().expect("addr"), 1)
        .await
        .expect("sim");
    let mut config = sim.config();
    config.route.ttft_timeout = Duration::from_secs(30);
    config.route.timeout = Duration::from_secs(30);
    let client = Client::new(config.route.connect_timeout);
    let router = Router::new(config.clone(), client.clone());
    let prompt = || {
        vec![Message::user(
            "Summarise the plot of Hamlet in two sentences.",
        )]
    };
    let request = |hedge| RouteRequest {
        messages: prompt(),
        target: RouteTarget::Chain,
        max_tokens: 64,
        hedge: Some(hedge),
        passthrough: None,
        buffered: false,
    };
    let chain = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let target = |id: &str| Target {
        base_url: sim.base_url(),
        dialect: Default::default(),
        api_key: None,
        model_id: id.to_string(),
        extra: Default::default(),
        fallback_models: Vec::new(),
    };
    let chat = ChatRequest {
        messages: prompt(),
        max_tokens: 64,
        stream: true,
        expect: None,
        passthrough: None,
    };

    // Warm the connection pool so no case pays for the first connect.
    let _ = client
        .send(&target("bench/fallback"), &chat, Deadlines::default(), None)
        .await;

    let direct = time(|| async {
        client
            .send(&target("bench/fallback"), &chat, Deadlines::default(), None)
            .await
            .is_ok()
    })
    .await;

    let known_down = time(|| async {
        let book = Book::new(&config);
        book.add("down", Some(FailureClass::ServerError), Utc::now());
        let r = router
            .route(
                &book,
                &chain(&["down", "fallback"]),
                request(Hedge::Auto),
                None,
            )
            .await;
        r.is_ok_and(|a| a.model == "fallback" && a.attempts.len() == 1)
    })
    .await;

    let down_unknown = time(|| async {
        let book = Book::new(&config);
        let r = router
            .route(
                &book,
                &chain(&["down", "fallback"]),
                request(Hedge::Auto),
                None,
            )
            .await;
        r.is_ok_and(|a| a.model == "fallback")
    })
    .await;

    let mut hung = Vec::new();
    for hedge in [Hedge::Auto, Hedge::After(Duration::from_millis(300))] {
        hung.push(
            time(|| async {
                let book = Book::new(&config);
                let r = router
                    .route(&book, &chain(&["hang", "fallback"]), request(hedge), None)
                    .await;
                r.is_ok_and(|a| a.model == "fallback")
            })
            .await,
        );
    }

    // The article's loop: each model in turn, one timeout per attempt.
    let article = time(|| async {
        let deadlines = Deadlines {
            connect: Duration::from_secs(5),
            first_token: ARTICLE_TIMEOUT,
            stall: None,
            total: ARTICLE_TIMEOUT,
        };
        for id in ["bench/hang", "bench/fallback"] {
            if client
                .send(&target(id), &chat, deadlines, None)
                .await
                .is_ok()
            {
                return true;
            }
        }
        false
    })
    .await;

    let ratio = |d: Duration| d.as_secs_f64() / direct.as_secs_f64();
    let ms = |d: Duration| format!("{:>6.0} ms", d.as_secs_f64() * 1000.0);
    println!();
    println!("failover on the simulator (median of {ROUNDS}; fallback: 300 ms to first token, 600 ms total)");
    println!("  case                                          time       × direct");
    println!(
        "  direct request to the fallback              {}     1.00",
        ms(direct)
    );
    let rows = [
        ("(a) primary known down (skipped)", known_down),
        ("    primary down, not yet known (502)", down_unknown),
        ("(b) primary hangs, unknown, hedge auto (1.5 s)", hung[0]),
        ("    primary hangs, unknown, hedge 300 ms", hung[1]),
        ("(c) article's loop, timeout 3 s (scaled 1/10)", article),
    ];
    for (name, d) in rows {
        println!("  {name:<44}{}   {:>6.2}", ms(d), ratio(d));
    }
    let bound = |hedge: Duration| (hedge + direct).as_secs_f64() / direct.as_secs_f64();
    println!(
        "  targets: (a) ≤ 1.02; (b) ≤ (hedge + fallback) / fallback = {:.2} (auto), {:.2} (300 ms)",
        bound(Duration::from_secs(2)),
        bound(Duration::from_millis(300))
    );
    println!(
        "  (c) at the article's real 30 s timeout: ≈ {:.1} s, × {:.1}",
        30.0 + direct.as_secs_f64(),
        (30.0 + direct.as_secs_f64()) / direct.as_secs_f64()
    );
    sim.shutdown().await;
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_plan(&mut c);
    c.final_summary();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(failover());
}
