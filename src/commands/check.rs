//! `chainwatch check`: probe every model now, print a verdict per model.

use std::io::Write;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Args;
use futures_util::future::join_all;

use crate::config::Config;
use crate::fmt::{describe_failure, fmt_ago, fmt_ratio, fmt_secs, served};
use crate::health::{provider_of, ModelSnapshot, Percentiles, Status};
use crate::report::text::{Column, Table};
use crate::report::CheckReport;
use crate::route::Chain;
use crate::store::Store;
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
        eprintln!("chainwatch: {warning}");
    }
    let config = engine.config();
    for _ in 0..args.rounds {
        join_all(config.models.iter().map(|m| engine.probe(&m.name))).await;
    }
    let now = Utc::now();
    engine.tick(now);
    let snapshots = engine.snapshots(now);
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &CheckReport::new(config, &snapshots, now))?;
        writeln!(out)?;
    } else {
        write_table(out, chain.order(), &snapshots, now)?;
    }
    if let Err(err) = engine.save() {
        eprintln!("chainwatch: {err:#}");
    }
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

fn write_table(
    out: &mut impl Write,
    chain: &[String],
    snapshots: &[ModelSnapshot],
    now: DateTime<Utc>,
) -> std::io::Result<()> {
    let mut table = Table::new(vec![
        Column::right("#").min(2),
        Column::left("model").min(5),
        Column::left("provider").min(10),
        Column::left("status").min(15),
        Column::right("ok%").min(5),
        Column::right("n").min(3),
        Column::right("p50").min(6),
        Column::right("p95").min(6),
        Column::right("ttft").min(6),
        Column::left("last failure / served"),
    ]);
    for s in snapshots {
        let position = chain
            .iter()
            .position(|n| n == &s.name)
            .map_or("-".to_string(), |i| (i + 1).to_string());
        let ms = |p: Option<Percentiles>, pick: fn(&Percentiles) -> std::time::Duration| {
            p.map_or("—".to_string(), |p| fmt_secs(pick(&p)))
        };
        let detail = match (&s.last_failure, &s.served_model) {
            (Some(f), _) => format!(
                "{} {}",
                fmt_ago(f.at, now),
                describe_failure(f.class, f.http_status, Some(&f.message))
            ),
            (None, Some(m)) => served(m, s.served_by.as_deref()),
            (None, None) => "—".to_string(),
        };
        table.row(vec![
            position,
            s.name.clone(),
            provider_of(&s.id).to_string(),
            format!("{} {}", s.status.symbol(), s.status.as_str()),
            fmt_ratio(s.ratio),
            s.samples.to_string(),
            ms(s.latency, |p| p.p50),
            ms(s.latency, |p| p.p95),
            ms(s.ttft, |p| p.p50),
            detail,
        ]);
        if !s.status.is_ok() && s.status != Status::Unknown && s.last_failure.is_none() {
            table.note(format!("    {}", s.reason));
        }
    }
    table.write_to(out)
}
