//! `chainwatch check`: probe every model now, print a verdict per model.

use std::io::Write;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Args;
use futures_util::future::join_all;

use crate::config::Config;
use crate::fmt::{describe_failure, fmt_ago, fmt_ratio, fmt_secs, served};
use crate::health::{ModelSnapshot, Percentiles, Status};
use crate::report::text::{Column, Table};
use crate::report::CheckReport;
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
        write_json(&mut out, &CheckReport::new(config, &chain, &snapshots, now))?;
    } else {
        write_table(&mut out, &chain, &snapshots, now)?;
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

fn write_table(
    out: &mut impl Write,
    chain: &Chain,
    snapshots: &[ModelSnapshot],
    now: DateTime<Utc>,
) -> std::io::Result<()> {
    let status_width = Status::ALL
        .iter()
        .map(|s| s.label())
        .map(crate::fmt::display_width)
        .max();
    let mut table = Table::new(vec![
        Column::right("#").min(2),
        Column::left("model").min(5),
        Column::left("provider").min(10),
        Column::left("status").min(status_width.unwrap_or(15)),
        Column::right("ok%").min(5),
        Column::right("n").min(3),
        Column::right("p50").min(6),
        Column::right("p95").min(6),
        Column::right("ttft").min(6),
        Column::left("last failure / served"),
    ]);
    for s in snapshots {
        let (cells, why) = text_row(s, chain, now);
        table.row(cells);
        if let Some(why) = why {
            table.note(format!("    why: {why}"));
        }
    }
    table.write_to(out)
}

/// One row's cells (the last is the failure or what served it) and, for a
/// model that is not plainly healthy, the reason in the verdict's own words.
fn text_row(s: &ModelSnapshot, chain: &Chain, now: DateTime<Utc>) -> (Vec<String>, Option<String>) {
    let ms = |p: Option<Percentiles>, pick: fn(&Percentiles) -> std::time::Duration| {
        p.map_or("—".to_string(), |p| fmt_secs(pick(&p)))
    };
    let ratio = fmt_ratio(s.ratio);
    let detail = match (&s.last_failure, &s.served_model) {
        (Some(f), _) => format!(
            "{} {}",
            fmt_ago(f.at, now),
            describe_failure(f.class, f.http_status, Some(&f.message))
        ),
        (None, Some(m)) => served(m, s.served_by.as_deref()),
        (None, None) => "—".to_string(),
    };
    // The reason is the verdict's own words: the missing key, the recovery,
    // the drift. An older failure in the last column never stands in for it.
    let plainly_healthy = s.status == Status::Healthy && s.recovery.is_none();
    let cells = vec![
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
        detail,
    ];
    let why = (!plainly_healthy && !s.reason.is_empty()).then(|| s.reason.clone());
    (cells, why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fmt::display_width;
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
