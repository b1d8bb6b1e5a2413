//! `chainwatch watch [--json] [-v] [--metrics ADDR]`: the engine without the
//! screen, for scripts, loggers and systemd units. One line per event (state
//! changes, drift, budget, prices, chain changes, alerts; every probe with
//! `-v`), or one JSON object per line with `--json`. Fires the configured
//! alerts. Runs until Ctrl-C (or SIGTERM, SIGHUP, SIGQUIT), then saves the
//! state.

use std::io::Write;
use std::process::ExitCode;

use chrono::Utc;
use serde_json::Value;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use crate::alert::{AlertOutcome, Alerter};
use crate::config::Config;
use crate::engine::{Engine, EngineEvent, StopSignals};
use crate::fmt::{describe_failure, fmt_secs, served};
use crate::report::stamp::millis as stamp;
use crate::report::text::{fields, line};
use crate::report::watch::chain_reason;
use crate::report::WatchLine;
use crate::store::Store;
use crate::text::{sanitize, SafeWriter, Shape};
use crate::wiring;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct WatchArgs {
    /// One JSON object per line: {"at","kind","model","from","to","reason",...}
    /// with kind one of state, drift, probe, budget, prices, chain, alert.
    #[arg(long)]
    pub json: bool,
    /// Print every probe, not only changes.
    #[arg(short, long)]
    pub verbose: bool,
    /// Also serve Prometheus metrics at http://ADDR/metrics.
    #[cfg(feature = "serve")]
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
}

/// Runs the engine until Ctrl-C or SIGTERM, printing events to stdout
/// (warnings to stderr), then saves the state.
pub async fn run(
    args: WatchArgs,
    config: Config,
    store: Option<Store>,
) -> anyhow::Result<ExitCode> {
    let signals = StopSignals::listen();
    let engine = wiring::engine(config, store.clone());
    let cancel = CancellationToken::new();
    tokio::spawn(stop_on_signal(signals, cancel.clone()));
    // Subscribe before the loop starts, so the first events are not missed.
    let events = engine.subscribe();
    let alerts = Alerter::for_engine(&engine, store);
    let following = alerts.as_ref().map(|a| a.follow(&engine, cancel.clone()));
    #[cfg(feature = "serve")]
    if let Some(addr) = args.metrics {
        let metrics = std::sync::Arc::new(crate::metrics::Metrics::new());
        let bound = crate::metrics::listen(addr, metrics, engine.clone(), cancel.clone()).await?;
        eprintln!("chainwatch: Prometheus metrics at http://{bound}/metrics");
    }
    let live = engine.spawn(cancel.clone());
    let printed = print_events(&engine, events, &args, cancel.clone(), std::io::stdout()).await;
    cancel.cancel();
    let _ = live.await;
    if let (Some(alerts), Some(following)) = (&alerts, following) {
        let _ = following.await;
        // An alert fired just before the stop still goes out, within its
        // rule's timeout.
        let longest = alerts.rules().iter().map(|r| r.timeout).max();
        let grace = longest.unwrap_or_default() + std::time::Duration::from_secs(1);
        let _ = tokio::time::timeout(grace, alerts.settled()).await;
    }
    let saved = engine.save();
    printed?;
    let spending = engine.spending(Utc::now());
    eprintln!(
        "chainwatch: probes spent {} today (UTC); ~{} a day at the pace they went last",
        crate::fmt::fmt_usd(spending.today),
        crate::fmt::fmt_usd_about(spending.per_day)
    );
    if let Err(e) = saved {
        warn(&format!("{e:#}"));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM, SIGINT, SIGHUP and SIGQUIT stop `watch` the same way: the
/// loop ends and the state is saved.
async fn stop_on_signal(signals: StopSignals, cancel: CancellationToken) {
    signals.recv().await;
    cancel.cancel();
}

/// Prints `events` (from `engine.subscribe()`) to `out` until `cancel`.
/// Start-up warnings and dropped events go to stderr. Separate from [`run`]
/// so a test can drive the engine with chosen times and read what `watch`
/// would print.
pub async fn print_events(
    engine: &Engine,
    mut events: broadcast::Receiver<EngineEvent>,
    args: &WatchArgs,
    cancel: CancellationToken,
    out: impl Write,
) -> anyhow::Result<()> {
    let render = |event: &EngineEvent| {
        if args.json {
            WatchLine::new(event, args.verbose).map(|doc| crate::text::json_line(&doc))
        } else {
            human_line(event, args.verbose)
        }
    };
    // Provider text (reasons, served names) is shown, never obeyed.
    let mut out = SafeWriter::lines(out);
    for warning in engine.warnings() {
        warn(warning);
    }
    if !args.json {
        let config = engine.config();
        eprintln!(
            "chainwatch: watching {} models, probing every {}; Ctrl-C to stop",
            config.models.len(),
            humantime::format_duration(config.probe.interval)
        );
        for snap in engine.snapshots(Utc::now()) {
            if snap.status == crate::health::Status::Misconfigured {
                warn(&format!("{}  misconfigured  ({})", snap.name, snap.reason));
            }
        }
    }
    loop {
        let event = tokio::select! {
            () = cancel.cancelled() => break,
            event = events.recv() => event,
        };
        let event = match event {
            Ok(event) => event,
            Err(RecvError::Lagged(n)) => {
                eprintln!("chainwatch: {n} events dropped: the output is too slow to keep up");
                continue;
            }
            Err(RecvError::Closed) => break,
        };
        if let Some(text) = render(&event) {
            line(&mut out, &text)?;
        } else if let EngineEvent::Warning { message, .. } = &event {
            warn(message);
        }
    }
    // Whatever arrived before the cancel is still worth printing.
    while let Ok(event) = events.try_recv() {
        if let Some(text) = render(&event) {
            line(&mut out, &text)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// One line on stderr, made safe: warnings can quote a provider.
fn warn(message: &str) {
    eprintln!("chainwatch: {}", sanitize(message, Shape::Line));
}

/// One JSON document for an event (a [`WatchLine`]), or `None` for events
/// `watch` does not print on stdout (warnings, saves, probes without `-v`).
pub fn json_line(event: &EngineEvent, verbose: bool) -> Option<Value> {
    // A WatchLine is plain data (string keys, no fallible Serialize): turning
    // it into a Value does not fail.
    serde_json::to_value(WatchLine::new(event, verbose)?).ok()
}

/// One line of text for an event, or `None` (as for [`json_line`]).
pub fn human_line(event: &EngineEvent, verbose: bool) -> Option<String> {
    Some(match event {
        EngineEvent::Health(e) => fields(&[&stamp(e.at), &e.to_string()]),
        EngineEvent::Probe { model, attempt } if verbose => {
            let what = match &attempt.failure {
                None => {
                    let mut s = format!("ok in {}", fmt_secs(attempt.latency));
                    if let Some(ttft) = attempt.ttft {
                        s.push_str(&format!(", first token {}", fmt_secs(ttft)));
                    }
                    match (&attempt.served_model, &attempt.served_by) {
                        (Some(model), by) => {
                            s.push_str(&format!("; {}", served(model, by.as_deref())));
                        }
                        (None, Some(by)) => s.push_str(&format!(" via {by}")),
                        (None, None) => {}
                    }
                    s
                }
                Some(f) => format!(
                    "{} ({}) after {}",
                    describe_failure(f.class, attempt.http_status, Some(&f.message)),
                    f.class,
                    fmt_secs(attempt.latency)
                ),
            };
            fields(&[&stamp(attempt.started_at), model, &format!("probe {what}")])
        }
        EngineEvent::Budget { at, message } => fields(&[&stamp(*at), "budget", message]),
        EngineEvent::Prices { at, models } => fields(&[
            &stamp(*at),
            "prices",
            &format!("refreshed: {models} models priced"),
        ]),
        EngineEvent::Chain { at, order, change } => {
            fields(&[&stamp(*at), "chain", &chain_reason(order, change)])
        }
        EngineEvent::Alert(news) => match news.outcome {
            AlertOutcome::Bell => return None,
            _ => fields(&[&stamp(news.at), &news.to_string()]),
        },
        EngineEvent::Probe { .. } | EngineEvent::Warning { .. } | EngineEvent::Saved { .. } => {
            return None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Attempt, Failure, FailureClass};
    use crate::health::{HealthEvent, HealthEventKind, Status};
    use chrono::DateTime;
    use chrono::TimeZone;
    use serde_json::json;
    use std::time::Duration;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 1, 12, 1, 3).single().unwrap()
    }

    fn state_event() -> EngineEvent {
        EngineEvent::Health(HealthEvent {
            at: at(),
            model: "gpt-4o".into(),
            kind: HealthEventKind::State {
                from: Status::Healthy,
                to: Status::Unhealthy,
                reason: "9/15 ok; last: 502 provider unavailable".into(),
            },
        })
    }

    fn failed_probe() -> EngineEvent {
        EngineEvent::Probe {
            model: "gpt-4o".into(),
            attempt: Attempt {
                failure: Some(Failure {
                    class: FailureClass::ServerError,
                    message: "provider unavailable".into(),
                    retry_after: None,
                }),
                http_status: Some(502),
                ..Attempt::blank(at(), Duration::from_millis(120))
            },
        }
    }

    #[test]
    fn json_lines_have_the_documented_fields() {
        let v = json_line(&state_event(), false).unwrap();
        assert_eq!(v["at"], "2025-03-01T12:01:03.000Z");
        assert_eq!(v["kind"], "state");
        assert_eq!(v["model"], "gpt-4o");
        assert_eq!(v["from"], "healthy");
        assert_eq!(v["to"], "unhealthy");
        assert_eq!(v["reason"], "9/15 ok; last: 502 provider unavailable");
        assert!(
            json_line(&failed_probe(), false).is_none(),
            "probes need -v"
        );
        let p = json_line(&failed_probe(), true).unwrap();
        assert_eq!(
            (&p["kind"], &p["ok"], &p["class"], &p["http_status"]),
            (
                &json!("probe"),
                &json!(false),
                &json!("server_error"),
                &json!(502)
            )
        );
        let b = EngineEvent::Budget {
            at: at(),
            message: "m".into(),
        };
        assert_eq!(json_line(&b, false).unwrap()["kind"], "budget");
        let w = EngineEvent::Warning {
            at: at(),
            message: "m".into(),
        };
        assert!(json_line(&w, true).is_none(), "warnings go to stderr");
    }

    #[test]
    fn human_lines_read_like_the_event_log() {
        assert_eq!(
            human_line(&state_event(), false).unwrap(),
            "2025-03-01T12:01:03.000Z  gpt-4o  healthy → unhealthy  (9/15 ok; last: 502 provider unavailable)"
        );
        assert_eq!(
            human_line(&failed_probe(), true).unwrap(),
            "2025-03-01T12:01:03.000Z  gpt-4o  probe 502 provider unavailable (server_error) after 120ms"
        );
        let prices = EngineEvent::Prices {
            at: at(),
            models: 7,
        };
        assert!(human_line(&prices, false)
            .unwrap()
            .ends_with("7 models priced"));
    }
}
