//! Load test of the prober (driven by `scripts/bench-prober.sh`).
//!
//! ```text
//! prober_load sim   --models N                 serve N healthy models; print the base URL
//! prober_load probe --base-url URL --models N [--interval 1s] [--duration 30s] [--concurrency 64]
//! ```
//!
//! `probe` runs the real engine loop (`Engine::spawn`) against the simulator
//! in another process, so the figures are the prober's alone: probes/s, how
//! well each model kept its interval, CPU time and peak RSS (from /proc).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chainwatch::api::Client;
use chainwatch::config::Config;
use chainwatch::engine::{Engine, EngineEvent};
use chainwatch::sim::{Scenario, SimServer};
use chrono::{DateTime, Utc};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn duration_arg(args: &[String], name: &str, default: &str) -> anyhow::Result<Duration> {
    let text = arg(args, name).unwrap_or_else(|| default.to_string());
    humantime::parse_duration(&text).with_context(|| format!("{name} {text}"))
}

fn names(n: usize) -> Vec<(String, String, Option<chainwatch::config::Tier>)> {
    (1..=n)
        .map(|i| (format!("model-{i:04}"), format!("sim/model-{i:04}"), None))
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let models: usize = arg(&args, "--models")
        .unwrap_or_else(|| "1000".into())
        .parse()
        .context("--models N")?;
    match args.get(1).map(String::as_str) {
        Some("sim") => sim(models).await,
        Some("probe") => {
            let base_url = arg(&args, "--base-url").context("--base-url URL")?;
            let interval = duration_arg(&args, "--interval", "1s")?;
            let duration = duration_arg(&args, "--duration", "30s")?;
            let concurrency: usize = arg(&args, "--concurrency")
                .unwrap_or_else(|| "64".into())
                .parse()
                .context("--concurrency N")?;
            probe(&base_url, models, interval, duration, concurrency).await
        }
        _ => bail!("usage: prober_load sim --models N | probe --base-url URL --models N [--interval 1s] [--duration 30s] [--concurrency 64]"),
    }
}

async fn sim(models: usize) -> anyhow::Result<()> {
    let server = SimServer::start(Scenario::many(models), "127.0.0.1:0".parse()?, 1).await?;
    println!("{}", server.base_url());
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}

/// utime + stime of this process, from /proc/self/stat (Linux).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start after ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some(Duration::from_millis((utime + stime) * 10))
}

/// VmHWM (peak RSS) and VmRSS in KiB, from /proc/self/status (Linux).
fn memory_kib() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

async fn probe(
    base_url: &str,
    models: usize,
    interval: Duration,
    duration: Duration,
    concurrency: usize,
) -> anyhow::Result<()> {
    let mut config = Config::demo(base_url, &names(models));
    config.probe.interval = interval;
    config.probe.concurrency = concurrency;
    let engine = Engine::new(config, Client::new(Duration::from_secs(5)), None);
    let mut events = engine.subscribe();
    let cancel = CancellationToken::new();
    let cpu0 = cpu_time();
    let wall0 = Instant::now();
    let handle = engine.spawn(cancel.clone());

    // Every probe's start time per model, to see whether the grid was kept.
    let mut starts: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
    let mut probes = 0u64;
    let mut failures = 0u64;
    let mut lagged = 0u64;
    let deadline = tokio::time::Instant::now() + duration;
    loop {
        let event = tokio::select! {
            () = tokio::time::sleep_until(deadline) => break,
            e = events.recv() => e,
        };
        match event {
            Ok(EngineEvent::Probe { model, attempt }) => {
                probes += 1;
                failures += u64::from(!attempt.is_ok());
                starts.entry(model).or_default().push(attempt.started_at);
            }
            Ok(_) => {}
            Err(RecvError::Lagged(n)) => lagged += n,
            Err(RecvError::Closed) => break,
        }
    }
    let wall = wall0.elapsed();
    let cpu = cpu_time().zip(cpu0).map(|(a, b)| a.saturating_sub(b));
    cancel.cancel();
    handle.await?;

    // Gaps between one model's probes after the first round.
    let mut gaps: Vec<f64> = starts
        .values()
        .flat_map(|s| {
            s.windows(2)
                .map(|w| (w[1] - w[0]).num_milliseconds() as f64 / 1000.0)
        })
        .collect();
    gaps.sort_by(f64::total_cmp);
    let pct = |p: f64| -> f64 {
        if gaps.is_empty() {
            return f64::NAN;
        }
        let i = ((p * gaps.len() as f64).ceil() as usize).clamp(1, gaps.len()) - 1;
        gaps[i]
    };
    let skipped = gaps
        .iter()
        .filter(|g| **g > interval.as_secs_f64() * 1.5)
        .count();
    let expected = models as f64 * wall.as_secs_f64() / interval.as_secs_f64();
    let (peak_kib, rss_kib) = memory_kib().unwrap_or((0, 0));
    println!("models           {models}");
    println!("interval         {}", humantime::format_duration(interval));
    println!("concurrency      {concurrency} per endpoint");
    println!("wall             {:.1} s", wall.as_secs_f64());
    println!(
        "probes           {probes} ({:.0}/s; schedule asks {:.0}/s; {:.1}% of slots; {failures} failed; {lagged} events lagged)",
        probes as f64 / wall.as_secs_f64(),
        expected / wall.as_secs_f64(),
        100.0 * probes as f64 / expected
    );
    println!(
        "per-model gap    p50 {:.3} s  p99 {:.3} s  max {:.3} s  ({skipped} gaps > 1.5 intervals)",
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    if let Some(cpu) = cpu {
        println!(
            "cpu              {:.2} s = {:.1}% of a core",
            cpu.as_secs_f64(),
            100.0 * cpu.as_secs_f64() / wall.as_secs_f64()
        );
    }
    println!(
        "memory           peak RSS {:.1} MiB, RSS at end {:.1} MiB",
        peak_kib as f64 / 1024.0,
        rss_kib as f64 / 1024.0
    );
    Ok(())
}
