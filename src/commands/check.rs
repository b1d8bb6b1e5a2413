//! `chainwatch check`: probe every model now, print a verdict per model.

use std::io::Write;
use std::process::ExitCode;

use chrono::{DateTime, SecondsFormat, Utc};
use clap::Args;
use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::config::Config;
use crate::fmt::{fmt_ago, fmt_ratio, fmt_secs};
use crate::health::ModelSnapshot;
use crate::route::Chain;
use crate::store::Store;
use crate::text::{sanitize, write_json, SafeWriter, Shape};
use crate::wiring;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Probe every model this many times.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rounds: u32,
}

/// Probes every model `rounds` times (models concurrently), records the
/// samples in the state file (so `ask` and the dashboard know what is down),
/// prints the table or JSON, and says whether every chain model is fine.
pub async fn run(
    args: CheckArgs,
    config: Config,
    store: Option<Store>,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    // The user's saved order decides what "the chain" is, as for `ask`.
    let (chain, _) = Chain::load(&config, store.as_ref());
    let engine = wiring::engine(config, store);
    for warning in engine.warnings() {
        eprintln!("chainwatch: {}", sanitize(warning, Shape::Line));
    }
    let config = engine.config();
    for _ in 0..args.rounds {
        join_all(config.models.iter().map(|m| engine.probe(&m.name))).await;
    }
    let now = Utc::now();
    engine.tick(now);
    let snapshots = engine.snapshots(now);
    // Saved before printing: a reader that stops early (`check | head -1`)
    // must not cost the samples.
    if let Err(err) = engine.save() {
        eprintln!("chainwatch: {}", sanitize(&format!("{err:#}"), Shape::Line));
    }
    // Provider text (messages, served names) is shown, never obeyed.
    let mut out = SafeWriter::lines(out);
    if args.json {
        write_json(&mut out, &report_json(config, &snapshots, now))?;
    } else {
        write_table(&mut out, chain.order(), &snapshots, now)?;
    }
    out.flush()?;
    let all_fine = chain.order().iter().all(|name| {
        snapshots
            .iter()
            .any(|s| &s.name == name && s.status.is_ok())
    });
    Ok(if all_fine {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn report_json(config: &Config, snapshots: &[ModelSnapshot], now: DateTime<Utc>) -> Value {
    let models: Vec<Value> = snapshots
        .iter()
        .map(|s| {
            let endpoint = config.model(&s.name).map(|m| m.endpoint.as_str());
            let pair = |p: Option<crate::health::Percentiles>| {
                p.map(|p| json!({"p50": p.p50.as_millis() as u64, "p95": p.p95.as_millis() as u64}))
            };
            json!({
                "name": s.name,
                "id": s.id,
                "endpoint": endpoint,
                "provider": crate::health::provider_of(&s.id),
                "status": s.status,
                "reason": s.reason,
                "ratio": s.ratio,
                "samples": s.samples,
                "last_failure": s.last_failure.as_ref().map(|f| json!({
                    "at": f.at.to_rfc3339_opts(SecondsFormat::Secs, true),
                    "class": f.class,
                    "http_status": f.http_status,
                    "message": f.message,
                })),
                "latency_ms": pair(s.latency),
                "ttft_ms": pair(s.ttft),
                "served_model": s.served_model,
                "served_by": s.served_by,
            })
        })
        .collect();
    json!({
        "generated_at": now.to_rfc3339_opts(SecondsFormat::Secs, true),
        "threshold": config.health.threshold,
        "window_s": config.health.window.as_secs(),
        "models": models,
    })
}

fn write_table(
    out: &mut impl Write,
    chain: &[String],
    snapshots: &[ModelSnapshot],
    now: DateTime<Utc>,
) -> std::io::Result<()> {
    let width = snapshots
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    writeln!(
        out,
        "{:>2}  {:<width$}  {:<10}  {:<15}  {:>5}  {:>3}  {:>6}  {:>6}  {:>6}  last failure / served",
        "#", "model", "provider", "status", "ok%", "n", "p50", "p95", "ttft"
    )?;
    for s in snapshots {
        let position = chain
            .iter()
            .position(|n| n == &s.name)
            .map_or("-".to_string(), |i| (i + 1).to_string());
        let ms = |p: Option<crate::health::Percentiles>,
                  pick: fn(&crate::health::Percentiles) -> std::time::Duration| {
            p.map_or("—".to_string(), |p| fmt_secs(pick(&p)))
        };
        let detail = match &s.last_failure {
            Some(f) => format!(
                "{} {}",
                fmt_ago(f.at, now),
                crate::fmt::describe_failure(f.class, f.http_status, Some(&f.message))
            ),
            None => match (&s.served_model, &s.served_by) {
                (Some(m), Some(by)) => format!("served {m} via {by}"),
                (Some(m), None) => format!("served {m}"),
                _ => "—".to_string(),
            },
        };
        writeln!(
            out,
            "{:>2}  {:<width$}  {:<10}  {} {:<13}  {:>5}  {:>3}  {:>6}  {:>6}  {:>6}  {}",
            position,
            s.name,
            crate::health::provider_of(&s.id),
            s.status.symbol(),
            s.status.as_str(),
            fmt_ratio(s.ratio),
            s.samples,
            ms(s.latency, |p| p.p50),
            ms(s.latency, |p| p.p95),
            ms(s.ttft, |p| p.p50),
            detail,
        )?;
        if !s.status.is_ok()
            && s.status != crate::health::Status::Unknown
            && s.last_failure.is_none()
        {
            writeln!(out, "    {}", s.reason)?;
        }
    }
    Ok(())
}
