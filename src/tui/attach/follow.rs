//! Following the server: `GET /api/v1/events` read as server-sent events
//! (the client's own SSE parser), each turned into the news the screen
//! takes (a state change, a drift, a chain another screen edited, the
//! budget, an alert); and the snapshot taken again after news and every
//! [`REFRESH`] (probe outcomes are not events, yet they move the figures).
//! A connection that fails or ends is tried again with back-off, from
//! [`BACKOFF_MIN`] doubling to [`BACKOFF_MAX`]; meanwhile the badge says
//! "disconnected since HH:MM" and the screen keeps what it last had.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use crate::api::sse::{SseItem, SseParser};
use crate::health::{HealthEvent, HealthEventKind, Status};
use crate::tui::app::Action;
use crate::tui::event_loop::News;

use super::Attached;

/// The snapshot is taken at least this often.
pub const REFRESH: Duration = Duration::from_secs(2);
/// News is followed by a fresh snapshot at most this often.
const REFRESH_AFTER_NEWS: Duration = Duration::from_millis(200);
/// The first retry after a lost connection; doubled each time up to
/// [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_millis(250);
pub const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// A stream silent this long is taken as dead (the server sends a
/// keep-alive every 15 s).
const SILENCE: Duration = Duration::from_secs(45);
/// One event's largest size.
const EVENT_MAX: usize = 1024 * 1024;

/// Runs until `stop` or until the screen stops listening.
pub async fn follow(
    attached: Arc<Attached>,
    news: mpsc::UnboundedSender<News>,
    stop: CancellationToken,
) {
    let dirty = Arc::new(Notify::new());
    let events = events(attached.clone(), news.clone(), dirty.clone());
    let refresh = refresh(attached, news, dirty);
    tokio::select! {
        () = stop.cancelled() => {}
        () = events => {}
        () = refresh => {}
    }
}

async fn refresh(attached: Arc<Attached>, news: mpsc::UnboundedSender<News>, dirty: Arc<Notify>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(REFRESH) => {}
            () = dirty.notified() => tokio::time::sleep(REFRESH_AFTER_NEWS).await,
        }
        if !refresh_once(&attached, &news).await {
            return;
        }
    }
}

/// One snapshot taken in; `false` when the screen is gone.
async fn refresh_once(attached: &Attached, news: &mpsc::UnboundedSender<News>) -> bool {
    let mut out = Vec::new();
    match attached.refresh().await {
        Ok(chain) => {
            if attached.set_link(None) {
                out.push(News::Act(Box::new(Action::Badge(Some(attached.badge())))));
            }
            if let Some(order) = chain {
                out.push(News::Act(Box::new(Action::ChainOutside { order })));
            }
            out.push(News::Changed);
        }
        Err(e) => {
            if attached.set_link(Some(format!("{e:#}"))) {
                out.push(News::Act(Box::new(Action::Badge(Some(attached.badge())))));
            }
        }
    }
    out.into_iter().all(|n| news.send(n).is_ok())
}

async fn events(attached: Arc<Attached>, news: mpsc::UnboundedSender<News>, dirty: Arc<Notify>) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let why = match attached.events_request().send().await {
            Ok(resp) if resp.status().is_success() => {
                backoff = BACKOFF_MIN;
                // Connected (again): what happened meanwhile is in the
                // snapshot.
                if !refresh_once(&attached, &news).await {
                    return;
                }
                match read(&attached, resp, &news, &dirty).await {
                    Ok(()) => "the server closed the event stream".to_string(),
                    Err(why) => why,
                }
            }
            Ok(resp) => format!("GET /api/v1/events answered {}", resp.status()),
            Err(e) => format!("the server could not be reached: {e}"),
        };
        if news.is_closed() {
            return;
        }
        if attached.set_link(Some(why)) {
            let badge = News::Act(Box::new(Action::Badge(Some(attached.badge()))));
            if news.send(badge).is_err() {
                return;
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Reads the stream until it ends; `Err` says why it broke.
async fn read(
    attached: &Attached,
    mut resp: reqwest::Response,
    news: &mpsc::UnboundedSender<News>,
    dirty: &Notify,
) -> Result<(), String> {
    let mut parser = SseParser::new(EVENT_MAX);
    loop {
        let chunk = match tokio::time::timeout(SILENCE, resp.chunk()).await {
            Err(_) => {
                return Err(format!(
                    "no word from the server for {}s",
                    SILENCE.as_secs()
                ))
            }
            Ok(Err(e)) => return Err(format!("the event stream broke: {e}")),
            Ok(Ok(None)) => return Ok(()),
            Ok(Ok(Some(chunk))) => chunk,
        };
        let items = parser.feed(&chunk).map_err(|e| e.to_string())?;
        for item in items {
            let SseItem::Event(event) = item else {
                continue;
            };
            let Ok(doc) = serde_json::from_str::<Value>(&event.data) else {
                continue;
            };
            for n in translate(attached, &doc) {
                if news.send(n).is_err() {
                    return Ok(());
                }
            }
            dirty.notify_one();
        }
    }
}

fn text(doc: &Value, key: &str) -> String {
    doc.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn at(doc: &Value) -> DateTime<Utc> {
    doc.get("at")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or_else(Utc::now, |t| t.with_timezone(&Utc))
}

fn status(doc: &Value, key: &str) -> Option<Status> {
    serde_json::from_value(doc.get(key)?.clone()).ok()
}

/// One `watch --json` line from the server, as the screen's news.
fn translate(attached: &Attached, doc: &Value) -> Vec<News> {
    let act = |a: Action| vec![News::Act(Box::new(a))];
    match doc.get("kind").and_then(Value::as_str).unwrap_or_default() {
        "state" => {
            let (Some(from), Some(to)) = (status(doc, "from"), status(doc, "to")) else {
                return Vec::new();
            };
            act(Action::Health(HealthEvent {
                at: at(doc),
                model: text(doc, "model"),
                kind: HealthEventKind::State {
                    from,
                    to,
                    reason: text(doc, "reason"),
                },
            }))
        }
        "drift" => act(Action::Health(HealthEvent {
            at: at(doc),
            model: text(doc, "model"),
            kind: HealthEventKind::Drift {
                from: text(doc, "from"),
                to: text(doc, "to"),
            },
        })),
        "chain" => {
            let Ok(order) = serde_json::from_value::<Vec<String>>(
                doc.get("order").cloned().unwrap_or(Value::Null),
            ) else {
                return Vec::new();
            };
            match attached.chain_announced(order) {
                Some(order) => act(Action::ChainOutside { order }),
                None => Vec::new(),
            }
        }
        "budget" => act(Action::Budget(text(doc, "reason"))),
        "prices" | "alert" => act(Action::Notice(format!("server: {}", text(doc, "reason")))),
        _ => Vec::new(),
    }
}
