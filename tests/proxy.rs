//! `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY` are honoured as curl does, for
//! probes, prompts, price fetches and alerts: a forward proxy on 127.0.0.1
//! that the test starts sees every request, and `NO_PROXY` sends them
//! past it. (The upstream is the simulator, over http://, so `HTTP_PROXY`
//! is the variable in play; `HTTPS_PROXY` is read the same way for
//! https:// upstreams.)
//!
//! One test in its own binary: it sets the process's environment, which
//! every client built after it reads.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chainwatch::alert::{AlertOutcome, Alerter};
use chainwatch::config::Config;
use chainwatch::engine::EngineEvent;
use chainwatch::health::{HealthEvent, HealthEventKind, Status};
use chainwatch::route::{RouteRequest, RouteTarget};
use chainwatch::sim::{Scenario, SimServer};
use chainwatch::wiring::Stack;
use chrono::Utc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A plain HTTP forward proxy: it reads each request's head, notes its
/// request line, asks the upstream to close after one reply (so every
/// request opens a new connection and is seen), rewrites the target to
/// origin form, and pipes the rest both ways.
struct Proxy {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(forward(client, log.clone()));
            }
        });
        Proxy { url, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

async fn forward(mut client: TcpStream, seen: Arc<Mutex<Vec<String>>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        let Ok(n) = client.read(&mut buf).await else {
            return;
        };
        if n == 0 {
            return;
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let (head, rest) = head.split_at(end);
    let text = String::from_utf8_lossy(head).to_string();
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    seen.lock().unwrap().push(request_line.clone());
    // "GET http://127.0.0.1:PORT/v1/models HTTP/1.1" → host and path.
    let mut parts = request_line.splitn(3, ' ');
    let (method, target, version) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let Some(after) = target.strip_prefix("http://") else {
        let _ = client
            .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    };
    let (authority, path) = after.split_at(after.find('/').unwrap_or(after.len()));
    let path = if path.is_empty() { "/" } else { path };
    let Ok(mut upstream) = TcpStream::connect(authority).await else {
        let _ = client
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    };
    let mut out = format!("{method} {path} {version}\r\n");
    for line in lines.filter(|l| !l.is_empty()) {
        let name = line
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if name != "connection" && name != "proxy-connection" {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("connection: close\r\n\r\n");
    if upstream.write_all(out.as_bytes()).await.is_err() || upstream.write_all(rest).await.is_err()
    {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

fn count(seen: &[String], method: &str, path_end: &str) -> usize {
    seen.iter()
        .filter(|l| {
            l.starts_with(&format!("{method} http://127.0.0.1:"))
                && l.split(' ').nth(1).is_some_and(|t| t.ends_with(path_end))
        })
        .count()
}

#[tokio::test]
async fn probes_prompts_prices_and_alerts_go_through_the_proxy_unless_no_proxy() {
    let proxy = Proxy::start().await;
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenarios/outage.toml");
    let sim = SimServer::start(
        Scenario::load(&scenario).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        7,
    )
    .await
    .unwrap();
    let mut config: Config = sim.config();
    config.alerts = Config::parse(
        &format!(
            "[[endpoint]]\nname = \"sim\"\nbase_url = \"{}\"\n\
             [[model]]\nname = \"healthy\"\nid = \"sim/healthy\"\n\
             [[alert]]\nurl = \"{}/hook\"\n",
            sim.base_url(),
            sim.base_url()
        ),
        Path::new("proxy.toml"),
    )
    .unwrap()
    .alerts;

    // SAFETY of the test: this binary has this one test, and every client
    // below is built after the environment is set.
    for var in [
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
        "http_proxy",
    ] {
        std::env::remove_var(var);
    }
    std::env::set_var("HTTP_PROXY", &proxy.url);

    let Stack { engine, router } = Stack::new(config.clone(), None);
    engine.refresh_prices(Utc::now()).await;
    let probe = engine.probe("healthy").await.unwrap();
    assert!(probe.is_ok(), "through the proxy: {probe:?}");
    let chain = vec!["healthy".to_string()];
    let answer = router
        .route(
            &engine,
            &chain,
            RouteRequest::new("hello", RouteTarget::Chain),
            None,
        )
        .await;
    assert!(answer.is_ok(), "{answer:?}");
    let heard = Arc::new(Mutex::new(Vec::new()));
    let log = heard.clone();
    let alerter = Alerter::start(
        &config,
        Arc::new(|_: &str| true),
        Arc::new(move |news| log.lock().unwrap().push(news)),
        Arc::new(|var: &str| std::env::var(var).ok()),
    )
    .unwrap();
    let down = EngineEvent::Health(HealthEvent {
        at: Utc::now(),
        model: "healthy".into(),
        kind: HealthEventKind::State {
            from: Status::Healthy,
            to: Status::Unhealthy,
            reason: "test".into(),
        },
    });
    assert_eq!(alerter.offer(&down), 1);
    tokio::time::timeout(Duration::from_secs(10), alerter.settled())
        .await
        .unwrap();

    let seen = proxy.seen();
    assert!(count(&seen, "GET", "/v1/models") >= 1, "prices: {seen:?}");
    assert_eq!(
        count(&seen, "POST", "/v1/chat/completions"),
        2,
        "the probe and the prompt: {seen:?}"
    );
    assert_eq!(count(&seen, "POST", "/hook"), 1, "the alert: {seen:?}");
    // The simulator has no /hook: the proxy carried the 404 back.
    let outcome = heard.lock().unwrap()[0].outcome.clone();
    assert!(
        matches!(&outcome, AlertOutcome::Failed { error, .. } if error.contains("404")),
        "{outcome:?}"
    );

    // NO_PROXY, as curl reads it: the same requests go straight to the
    // simulator.
    std::env::set_var("NO_PROXY", "127.0.0.1");
    let before = proxy.seen().len();
    let Stack { engine, router } = Stack::new(config.clone(), None);
    engine.refresh_prices(Utc::now()).await;
    assert!(engine.probe("healthy").await.unwrap().is_ok());
    let answer = router
        .route(
            &engine,
            &chain,
            RouteRequest::new("hello", RouteTarget::Chain),
            None,
        )
        .await;
    assert!(answer.is_ok(), "{answer:?}");
    assert_eq!(proxy.seen().len(), before, "{:?}", proxy.seen());
    sim.shutdown().await;
}
