//! What a day of probing the article's chain costs, per policy (driven by
//! `scripts/bench-cost.sh`; see `chainwatch::costday` and docs/cost.md).
//!
//! ```text
//! cost_day [--interval 60s] [--length 24h] [--seed 7] [--policy all|chainwatch|fixed|naive-16|naive-1024]
//! ```
//!
//! For each policy it runs a clean simulated day on the simulator (no
//! sleeping: `run_due(now)` from due time to due time) for the spend, then
//! hard outages (every request failing) of claude-sonnet (probed at the
//! full rate) and of gemini-pro (stretched, the free signal between its
//! paid probes), from 2 h in at six phases of the minute. It prints the
//! spend and probes per model and the range of detection delays.

use std::time::Duration;

use anyhow::Context;
use chainwatch::costday::{run_day, DayOptions, DayReport, Outage, Policy, CHAIN};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn policies(which: &str) -> anyhow::Result<Vec<Policy>> {
    Ok(match which {
        "all" => vec![
            Policy::Naive { max_tokens: 16 },
            Policy::Naive { max_tokens: 1024 },
            Policy::Fixed,
            Policy::Chainwatch,
        ],
        "chainwatch" => vec![Policy::Chainwatch],
        "fixed" => vec![Policy::Fixed],
        other => match other.strip_prefix("naive-").map(str::parse) {
            Some(Ok(max_tokens)) => vec![Policy::Naive { max_tokens }],
            _ => anyhow::bail!("--policy {other}: expected all, chainwatch, fixed or naive-N"),
        },
    })
}

fn print_day(day: &DayReport) {
    println!(
        "{:<11} {:>14} {:>7} {:>10} {:>9} {:>8} {:>10} {:>13}  ({:.1} s of wall time)",
        day.policy,
        "model",
        "probes",
        "USD/day",
        "answered",
        "failed",
        "gap at end",
        "~USD/day then",
        day.wall.as_secs_f64()
    );
    for name in CHAIN {
        let Some(m) = day.models.get(name) else {
            continue;
        };
        println!(
            "{:<11} {:>14} {:>7} {:>10.4} {:>9} {:>8} {:>10} {:>13}  {}",
            "",
            name,
            m.probes,
            m.usd,
            m.answered,
            m.failures,
            m.gap_at_end
                .map_or("—".to_string(), |g| format!("{:.0} s", g.as_secs_f64())),
            per_day(m.gap_at_end.map(|_| m.per_day_at_end)),
            m.status.map_or(String::new(), |s| s.to_string())
        );
    }
    let projected = day
        .models
        .values()
        .any(|m| m.gap_at_end.is_some())
        .then(|| day.models.values().map(|m| m.per_day_at_end).sum());
    println!(
        "{:<11} {:>14} {:>7} {:>10.4} {:>9} {:>8} {:>10} {:>13}",
        "",
        "total",
        day.probes(),
        day.usd(),
        "",
        "",
        "",
        per_day(projected)
    );
}

/// What the engine projects a day costs at the pace probes go at the
/// day's end (what the header shows), "—" for the naive prober.
fn per_day(usd: Option<f64>) -> String {
    usd.map_or("—".to_string(), |d| format!("{d:.4}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let interval = humantime::parse_duration(&arg(&args, "--interval").unwrap_or("60s".into()))
        .context("--interval")?;
    let length = humantime::parse_duration(&arg(&args, "--length").unwrap_or("24h".into()))
        .context("--length")?;
    let seed: u64 = arg(&args, "--seed")
        .unwrap_or("7".into())
        .parse()
        .context("--seed N")?;
    let which = arg(&args, "--policy").unwrap_or("all".into());
    println!(
        "the article's chain on the simulator at list prices, probe interval {}, {} simulated, seed {seed}\n",
        humantime::format_duration(interval),
        humantime::format_duration(length)
    );
    let mut detections = Vec::new();
    for policy in policies(&which)? {
        let base = DayOptions {
            policy,
            length,
            interval,
            outage: None,
            seed,
        };
        let day = run_day(&base).await?;
        print_day(&day);
        println!();
        // A hard outage from 2 h in (past the stretch's ramp), at several
        // phases of the minute: detection is measured from its start.
        for model in ["claude-sonnet", "gemini-pro"] {
            let mut seen = Vec::new();
            let mut unrouted = Vec::new();
            for offset in OFFSETS {
                let after = Duration::from_secs(2 * 3600 + offset);
                let opts = DayOptions {
                    outage: Some(Outage::from(model, after)),
                    length: after + Duration::from_secs(1800),
                    ..base.clone()
                };
                let day = run_day(&opts).await?;
                let m = day.models.get(model).cloned().unwrap_or_default();
                seen.extend(m.seen_after);
                unrouted.extend(m.unhealthy_after);
            }
            detections.push(format!(
                "{:<11} {model:<14} first failed probe after {:>12}   not routable after {:>12}   ({} outages)",
                policy.to_string(),
                range(&seen),
                range(&unrouted),
                OFFSETS.len()
            ));
        }
    }
    println!("detection of a hard outage (every request failing, 502), from its start:");
    for line in detections {
        println!("{line}");
    }
    Ok(())
}

/// Seconds into the minute the outages start at (after 2 h).
const OFFSETS: [u64; 6] = [1, 13, 29, 37, 48, 59];

fn range(ds: &[Duration]) -> String {
    let secs: Vec<f64> = ds.iter().map(Duration::as_secs_f64).collect();
    match (
        secs.iter().copied().reduce(f64::min),
        secs.iter().copied().reduce(f64::max),
    ) {
        (Some(lo), Some(hi)) => format!("{lo:.0}–{hi:.0} s"),
        _ => "—".to_string(),
    }
}
