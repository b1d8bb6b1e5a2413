//! `chainwatch serve [--listen ADDR]`: the engine without a screen, plus an
//! OpenAI-compatible endpoint that routes apps' requests through the same
//! healthy chain, Prometheus `/metrics` and the JSON API (`crate::serve`).
//! Fires the configured alerts like `watch`; saves the state often while
//! traffic flows (a dashboard on the same state file shows it) and at the
//! end; stops on SIGTERM, SIGINT, SIGHUP or SIGQUIT, draining the requests
//! in flight for at most `--drain`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::alert::Alerter;
use crate::config::Config;
use crate::engine::StopSignals;
use crate::metrics::Metrics;
use crate::serve::auth::TOKEN_ENV;
use crate::serve::{Options, Server};
use crate::store::Store;
use crate::text::{sanitize, Shape};
use crate::wiring::Stack;

/// While traffic flows, the state is saved this often.
const TRAFFIC_SAVE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Where to listen. Anything but a loopback address needs
    /// CHAINWATCH_SERVE_TOKEN set (then every request needs
    /// `Authorization: Bearer <token>`).
    #[arg(long, default_value = "127.0.0.1:4141", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// The largest request body taken, in bytes.
    #[arg(long, default_value_t = 4 * 1024 * 1024, value_name = "BYTES",
          value_parser = clap::value_parser!(usize))]
    pub max_body: usize,
    /// Chat requests served at once; more get a 429.
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub max_concurrent: usize,
    /// One request's whole deadline, failovers included [default: twice
    /// [route] timeout].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub request_timeout: Option<Duration>,
    /// How long a stop waits for requests in flight.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub drain: Duration,
}

/// Serves until a stop signal, then drains, saves and reports.
pub async fn run(
    args: ServeArgs,
    config: Config,
    store: Option<Store>,
) -> anyhow::Result<ExitCode> {
    let signals = StopSignals::listen();
    let token = std::env::var(TOKEN_ENV)
        .ok()
        .filter(|t| !t.trim().is_empty());
    let mut options = Options::new(args.listen, config.route.timeout);
    options.token = token.map(|t| t.trim().to_string());
    options.max_body = args.max_body.max(1024);
    options.max_concurrent = args.max_concurrent.max(1);
    if let Some(t) = args.request_timeout {
        options.request_timeout = t;
    }
    options.drain = args.drain;
    let Stack { engine, router } = Stack::new(config, store.clone());
    for warning in engine.warnings() {
        warn(warning);
    }
    let cancel = CancellationToken::new();
    let metrics = Arc::new(Metrics::new());
    let server = Server::start(options.clone(), engine.clone(), router, metrics.clone()).await?;
    metrics.follow(&engine, cancel.clone());
    let alerts = Alerter::for_engine(&engine, store);
    let following = alerts.as_ref().map(|a| a.follow(&engine, cancel.clone()));
    let live = engine.spawn(cancel.clone());
    let config = engine.config();
    eprintln!(
        "chainwatch: serving {} models on http://{}/v1 (model: chain, a tier or a model name){}; /metrics, /api/v1/; Ctrl-C to stop",
        config.models.len(),
        server.addr,
        if options.token.is_some() { ", bearer token required" } else { "" },
    );
    let saving = {
        let engine = engine.clone();
        let cancel = cancel.clone();
        let unsaved = server.unsaved();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TRAFFIC_SAVE);
            loop {
                tokio::select! {
                    () = cancel.cancelled() => break,
                    _ = tick.tick() => {}
                }
                if unsaved.swap(false, Ordering::Relaxed) {
                    let engine = engine.clone();
                    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || engine.save()).await {
                        warn(&format!("{e:#}"));
                    }
                }
            }
        })
    };
    signals.recv().await;
    eprintln!(
        "chainwatch: stopping; waiting at most {} for requests in flight",
        humantime::format_duration(options.drain)
    );
    let drained = server.stop().await;
    cancel.cancel();
    let _ = saving.await;
    if !drained {
        warn("requests still running after the drain time were cut");
    }
    let _ = live.await;
    if let (Some(alerts), Some(following)) = (&alerts, following) {
        let _ = following.await;
        let longest = alerts.rules().iter().map(|r| r.timeout).max();
        let grace = longest.unwrap_or_default() + Duration::from_secs(1);
        let _ = tokio::time::timeout(grace, alerts.settled()).await;
    }
    let saved = engine.save();
    eprintln!(
        "chainwatch: probes spent {} today (UTC)",
        crate::fmt::fmt_usd(engine.spend_today(Utc::now()))
    );
    if let Err(e) = saved {
        warn(&format!("{e:#}"));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn warn(message: &str) {
    eprintln!("chainwatch: {}", sanitize(message, Shape::Line));
}
