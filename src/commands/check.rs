//! `chainwatch check`: probe every model now, print a verdict per model.

use std::io::Write;
use std::process::ExitCode;

use chrono::{DateTime, SecondsFormat, Utc};
use clap::Args;
use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::config::Config;
use crate::fmt::{display_width, fmt_ago, fmt_ratio, fmt_secs, pad};
use crate::health::{ModelSnapshot, Percentiles, Status};
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
/// prints the table or JSON, and says whether every chain model is fine
/// (healthy, degraded or recovering: routable and answering). An empty
/// chain is an error: there is nothing to vouch for.
pub async fn run(
    args: CheckArgs,
    config: Config,
    store: Option<Store>,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    // The user's saved order decides what "the chain" is, as for `ask`.
    let (chain, _) = Chain::load(&config, store.as_ref());
    if chain.order().is_empty() {
        anyhow::bail!(
            "the chain is empty, so there is nothing to check; put models back with \
             `chainwatch chain add NAME` or `chainwatch chain reset`"
        );
    }
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
        serde_json::to_writer_pretty(&mut *out, &report_json(config, &chain, &snapshots, now))?;
        writeln!(out)?;
    } else {
        write_table(out, &chain, &snapshots, now)?;
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

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn report_json(
    config: &Config,
    chain: &Chain,
    snapshots: &[ModelSnapshot],
    now: DateTime<Utc>,
) -> Value {
    let models: Vec<Value> = snapshots
        .iter()
        .map(|s| {
            let endpoint = config.model(&s.name).map(|m| m.endpoint.as_str());
            let pair = |p: Option<Percentiles>| {
                p.map(|p| json!({"p50": p.p50.as_millis() as u64, "p95": p.p95.as_millis() as u64}))
            };
            json!({
                "name": s.name,
                "id": s.id,
                "endpoint": endpoint,
                "provider": s.provider(),
                "chain_position": chain.position(&s.name),
                "in_chain": chain.contains(&s.name),
                "status": s.status,
                "reason": s.reason,
                "ratio": s.ratio,
                "samples": s.samples,
                "recovery": s.recovery.map(|r| json!({
                    "since": stamp(r.since),
                    "ok": r.ok,
                    "counted": r.counted,
                    "needed": r.needed,
                    "outage_leaves_at": r.outage_leaves_at.map(stamp),
                })),
                "last_failure": s.last_failure.as_ref().map(|f| json!({
                    "at": stamp(f.at),
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
        "generated_at": stamp(now),
        "threshold": config.health.threshold,
        "window_s": config.health.window.as_secs(),
        "models": models,
    })
}

/// One row of the table, as text, before padding.
struct TextRow {
    cells: [String; 9],
    detail: String,
    why: Option<String>,
}

/// Columns: `#`, model, provider, status, ok%, n, p50, p95, ttft; then the
/// last failure (or what served it) and, for every model that is not
/// plainly healthy, a line saying why.
const HEADINGS: [&str; 9] = [
    "#", "model", "provider", "status", "ok%", "n", "p50", "p95", "ttft",
];
/// Which columns keep to the right.
const RIGHT: [bool; 9] = [true, false, false, false, true, true, true, true, true];

fn write_table(
    out: &mut impl Write,
    chain: &Chain,
    snapshots: &[ModelSnapshot],
    now: DateTime<Utc>,
) -> std::io::Result<()> {
    let rows: Vec<TextRow> = snapshots.iter().map(|s| text_row(s, chain, now)).collect();
    // Widths in terminal columns, so wide (CJK, emoji) ids keep the table
    // straight; the status column fits every status, not just those shown.
    let mut widths: Vec<usize> = HEADINGS.iter().map(|h| display_width(h)).collect();
    widths[0] = 2;
    widths[3] = Status::ALL
        .iter()
        .map(|s| display_width(s.label()))
        .max()
        .unwrap_or(0);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(&row.cells) {
            *w = (*w).max(display_width(cell));
        }
    }
    let line = |cells: &[String]| -> String {
        cells
            .iter()
            .zip(&widths)
            .zip(RIGHT)
            .map(|((c, w), right)| pad(c, *w, right))
            .collect::<Vec<_>>()
            .join("  ")
    };
    let headings = HEADINGS.map(str::to_string);
    writeln!(out, "{}  last failure / served", line(&headings))?;
    for row in rows {
        writeln!(out, "{}  {}", line(&row.cells), row.detail)?;
        if let Some(why) = row.why {
            writeln!(out, "    why: {why}")?;
        }
    }
    Ok(())
}

fn text_row(s: &ModelSnapshot, chain: &Chain, now: DateTime<Utc>) -> TextRow {
    let ms = |p: Option<Percentiles>, pick: fn(&Percentiles) -> std::time::Duration| {
        p.map_or("—".to_string(), |p| fmt_secs(pick(&p)))
    };
    let ratio = fmt_ratio(s.ratio);
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
    // The reason is the verdict's own words: the missing key, the recovery,
    // the drift. An older failure in the last column never stands in for it.
    let plainly_healthy = s.status == Status::Healthy && s.recovery.is_none();
    TextRow {
        cells: [
            chain
                .position(&s.name)
                .map_or("-".to_string(), |p| p.to_string()),
            s.name.clone(),
            s.provider().to_string(),
            s.status.label().to_string(),
            // "↻" when the verdict rests on the samples since a re-admission
            // and the window's figure still holds the outage.
            if s.recovery.is_some() && s.ratio.is_some() {
                format!("↻{ratio}")
            } else {
                ratio
            },
            s.samples.to_string(),
            ms(s.latency, |p| p.p50),
            ms(s.latency, |p| p.p95),
            ms(s.ttft, |p| p.p50),
        ],
        detail,
        why: (!plainly_healthy && !s.reason.is_empty()).then(|| s.reason.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{HealthBook, HealthPolicy, LastFailure, Observation, Sample};
    use chrono::TimeZone;
    use std::time::Duration;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).single().unwrap()
    }

    fn table(snapshots: &[ModelSnapshot], chain: &[&str]) -> String {
        let names: Vec<String> = snapshots.iter().map(|s| s.name.clone()).collect();
        let order: Vec<String> = chain.iter().map(|s| s.to_string()).collect();
        let chain = Chain::new(&order, &names, None);
        let mut out = Vec::new();
        write_table(&mut out, &chain, snapshots, t(100)).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn healthy(name: &str, id: &str, endpoint: &str) -> ModelSnapshot {
        let mut book = HealthBook::new(HealthPolicy::default());
        book.add_model(name, id);
        book.set_endpoint(name, endpoint);
        book.record(
            name,
            Sample::ok(t(0), Duration::from_millis(800)),
            Observation::default(),
            t(0),
        );
        book.snapshot(name, t(1)).unwrap()
    }

    #[test]
    fn columns_stay_aligned_for_wide_and_long_ids() {
        let snaps = vec![
            healthy("a", "openai/gpt-4o", "openrouter"),
            healthy("模型-中文", "qwen/通义千问-max", "openrouter"),
            healthy("🚀rocket", "rocket-local", "a-very-long-endpoint-name"),
        ];
        let text = table(&snaps, &["a", "模型-中文"]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        // In terminal columns: where the ok% column ends (right-aligned)
        // and where the last column starts are the same on every line.
        let col = |l: &str, at: usize| display_width(&l[..at]);
        let ratio_ends: Vec<usize> = lines
            .iter()
            .map(|l| match l.find("ok%") {
                Some(at) => col(l, at) + 3,
                None => col(l, l.find("100.0").unwrap()) + 5,
            })
            .collect();
        let last_starts: Vec<usize> = lines
            .iter()
            .map(|l| col(l, l.find("last failure").or_else(|| l.rfind('—')).unwrap()))
            .collect();
        assert!(
            ratio_ends.iter().all(|e| *e == ratio_ends[0]),
            "{ratio_ends:?}\n{text}"
        );
        assert!(
            last_starts.iter().all(|e| *e == last_starts[0]),
            "{last_starts:?}\n{text}"
        );
        // An id without `/` is named by its endpoint.
        assert!(lines[3].contains("a-very-long-endpoint-name"), "{text}");
        assert!(lines[3].starts_with(" -"), "not in the chain: {text}");
    }

    #[test]
    fn the_reason_is_printed_even_with_an_older_failure() {
        let mut s = healthy("m", "openai/gpt-4o", "openrouter");
        s.status = Status::Misconfigured;
        s.reason = "OPENROUTER_API_KEY is not set".into();
        s.last_failure = Some(LastFailure {
            at: t(50),
            class: crate::api::FailureClass::ServerError,
            http_status: Some(502),
            message: "provider unavailable".into(),
        });
        let text = table(&[s], &["m"]);
        assert!(text.contains("502 provider unavailable"), "{text}");
        assert!(
            text.contains("    why: OPENROUTER_API_KEY is not set"),
            "{text}"
        );
    }

    #[test]
    fn every_verdict_but_plain_healthy_says_why() {
        let plain = healthy("ok", "openai/gpt-4o", "openrouter");
        let mut degraded = healthy("slow", "openai/gpt-4o", "openrouter");
        degraded.status = Status::Degraded;
        degraded.reason = "1/1 ok; slow: p95 5.0s > 2.0s".into();
        let text = table(&[plain, degraded], &["ok", "slow"]);
        assert_eq!(text.matches("why:").count(), 1, "{text}");
        assert!(
            text.contains("why: 1/1 ok; slow: p95 5.0s > 2.0s"),
            "{text}"
        );
    }
}
