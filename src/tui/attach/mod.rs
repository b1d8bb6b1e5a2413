//! `chainwatch --attach URL`: the dashboard as a client of a running
//! `chainwatch serve`. The same screen, keys and views, fed over HTTP
//! instead of by an engine of its own: no prober runs here.
//!
//! | file | holds |
//! |---|---|
//! | `mod` | [`Attached`]: the [`Services`] the event loop drives, over the server's API |
//! | `doc` | `GET /api/v1/snapshot` read back into snapshots and a config |
//! | `follow` | `GET /api/v1/events` followed, reconnecting with back-off; the snapshot refreshed |
//! | `run` | the entry point: first snapshot, terminal, loop |
//!
//! What each key does here: a chain edit is `PUT /api/v1/chain` (the
//! server saves it under its state file's lock, and every other screen
//! follows); `p` is `POST /api/v1/probe`; acknowledging a drift is
//! `POST /api/v1/ack`; a prompt goes to the server's
//! `/v1/chat/completions`, streamed, with `model` the target (`chain`, a
//! model's name), through the same client code that probes providers.
//! `CHAINWATCH_SERVE_TOKEN` is the bearer token, when set; it is never
//! shown. `docs/scale.md` says when to attach and when to share on Redis.

pub mod doc;
mod follow;
mod run;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::api::{Attempt, ChatRequest, Client, Deadlines, Dialect, Message, Secret, Target};
use crate::health::{FailureRecord, ModelSnapshot};
use crate::route::{
    AttemptRecord, AttemptRole, ChainEdit, RouteAnswer, RouteEvent, RouteFailure, RouteTarget,
};

use super::event_loop::{RouteFuture, Services};

pub use follow::{follow, BACKOFF_MAX, REFRESH};
pub use run::{app_for, run};

/// One request to the server's API (not a prompt) gives up after this.
pub const API_TIMEOUT: Duration = Duration::from_secs(10);

/// The server an attached dashboard shows, and what it last said.
pub struct Attached {
    /// `http://host:port`, without a trailing `/`.
    base: String,
    token: Option<Secret>,
    http: reqwest::Client,
    /// Prompts go through the same client code as probes.
    prompts: Client,
    view: Mutex<doc::Remote>,
    /// Chain edits sent and not answered yet: a chain event meanwhile is
    /// (or may be) this screen's own.
    edits_in_flight: AtomicUsize,
    link: Mutex<Link>,
    tz: FixedOffset,
}

/// Whether the server is reachable, and since when it is not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Link {
    pub down_since: Option<DateTime<Utc>>,
    /// Why, in words.
    pub why: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Attached {
    /// Reads the server's first snapshot; an unreachable server, a refused
    /// token or a document that is not a snapshot is an error that says so.
    pub async fn connect(url: &str, token: Option<String>) -> anyhow::Result<Attached> {
        let base = url.trim().trim_end_matches('/').to_string();
        let base = base.strip_suffix("/v1").map(str::to_string).unwrap_or(base);
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(anyhow!(
                "--attach wants the URL of a `chainwatch serve`, like http://127.0.0.1:4141 (got {url:?})"
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .context("building the HTTP client")?;
        let mut attached = Attached {
            base,
            token: token
                .filter(|t| !t.trim().is_empty())
                .map(|t| Secret::new(t.trim())),
            http,
            prompts: Client::new(Duration::from_secs(5)),
            view: Mutex::new(doc::Remote {
                models: Vec::new(),
                failures: Vec::new(),
                chain: Vec::new(),
                spend_today: 0.0,
                threshold: 0.0,
                window: Duration::ZERO,
                probe_interval: None,
            }),
            edits_in_flight: AtomicUsize::new(0),
            link: Mutex::new(Link::default()),
            tz: *chrono::Local::now().offset(),
        };
        let first = attached
            .fetch()
            .await
            .with_context(|| format!("cannot attach to {}", attached.base))?;
        attached.view = Mutex::new(first);
        Ok(attached)
    }

    /// The clock offset "disconnected since HH:MM" is written in.
    pub fn with_tz(mut self, tz: FixedOffset) -> Attached {
        self.tz = tz;
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// What the server said last.
    pub fn remote(&self) -> doc::Remote {
        lock(&self.view).clone()
    }

    pub fn link(&self) -> Link {
        lock(&self.link).clone()
    }

    /// The badge under the header: which engine this screen shows, and
    /// whether it is reachable.
    pub fn badge(&self) -> String {
        let link = self.link();
        match link.down_since {
            None => format!(
                "attached to {} — its engine probes; this screen runs none",
                self.base
            ),
            Some(since) => format!(
                "attached to {} — disconnected since {} ({}); reconnecting",
                self.base,
                since.with_timezone(&self.tz).format("%H:%M"),
                link.why.unwrap_or_default()
            ),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .timeout(API_TIMEOUT);
        match &self.token {
            Some(t) => req.bearer_auth(t.expose()),
            None => req,
        }
    }

    /// `GET /api/v1/events`: no overall timeout (the stream lasts); the
    /// follower bounds the silence between chunks.
    fn events_request(&self) -> reqwest::RequestBuilder {
        let req = self
            .http
            .get(format!("{}/api/v1/events", self.base))
            .header(reqwest::header::ACCEPT, "text/event-stream");
        match &self.token {
            Some(t) => req.bearer_auth(t.expose()),
            None => req,
        }
    }

    /// `GET /api/v1/snapshot`, read.
    async fn fetch(&self) -> anyhow::Result<doc::Remote> {
        let resp = self
            .request(reqwest::Method::GET, "/api/v1/snapshot")
            .send()
            .await
            .map_err(|e| anyhow!("the server could not be reached: {e}"))?;
        let status = resp.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(anyhow!(
                "the server wants a token: set CHAINWATCH_SERVE_TOKEN to the one it was started with"
            ));
        }
        if !status.is_success() {
            return Err(anyhow!("GET /api/v1/snapshot answered {status}"));
        }
        let doc: Value = resp
            .json()
            .await
            .map_err(|e| anyhow!("GET /api/v1/snapshot did not answer a JSON document: {e}"))?;
        doc::read(&doc).context("GET /api/v1/snapshot")
    }

    /// Takes a fresh snapshot in; `Some(order)` when the chain changed
    /// and no edit of this screen is on its way.
    async fn refresh(&self) -> anyhow::Result<Option<Vec<String>>> {
        let fresh = self.fetch().await?;
        let mut view = lock(&self.view);
        let changed = fresh.chain != view.chain;
        let mine = self.edits_in_flight.load(Ordering::SeqCst) > 0;
        *view = fresh;
        Ok((changed && !mine).then(|| view.chain.clone()))
    }

    /// A chain the server announced; `Some(order)` for the screen when it
    /// is news (not this screen's own edit on its way back).
    fn chain_announced(&self, order: Vec<String>) -> Option<Vec<String>> {
        let mut view = lock(&self.view);
        if view.chain == order || self.edits_in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        view.chain.clone_from(&order);
        Some(order)
    }

    fn set_link(&self, down: Option<String>) -> bool {
        let mut link = lock(&self.link);
        let was = link.down_since.is_some();
        match down {
            None => *link = Link::default(),
            Some(why) => {
                link.down_since.get_or_insert_with(Utc::now);
                link.why = Some(why);
            }
        }
        was != link.down_since.is_some()
    }

    fn post_later(&self, path: &'static str, body: Value) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let req = self.request(reqwest::Method::POST, path).json(&body);
        handle.spawn(async move {
            match req.send().await {
                Ok(resp) if resp.status().is_success() => {}
                Ok(resp) => tracing::warn!("POST {path} answered {}", resp.status()),
                Err(e) => tracing::warn!("POST {path}: {e}"),
            }
        });
    }

    async fn put_edit(&self, edit: &ChainEdit) -> anyhow::Result<Vec<String>> {
        let resp = self
            .request(reqwest::Method::PUT, "/api/v1/chain")
            .json(edit)
            .send()
            .await
            .map_err(|e| anyhow!("the server could not be reached: {e}"))?;
        let status = resp.status();
        let doc: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let message = doc["error"]["message"]
                .as_str()
                .unwrap_or("no message")
                .to_string();
            return Err(anyhow!("the server refused the edit ({status}): {message}"));
        }
        serde_json::from_value::<Vec<String>>(doc["order"].clone())
            .map_err(|e| anyhow!("the server's answer has no order: {e}"))
    }
}

impl Services for Attached {
    fn snapshots(&self, _now: DateTime<Utc>) -> Vec<ModelSnapshot> {
        lock(&self.view).models.clone()
    }

    fn snapshots_of(&self, names: &[String], _now: DateTime<Utc>) -> Vec<ModelSnapshot> {
        lock(&self.view)
            .models
            .iter()
            .filter(|m| names.contains(&m.name))
            .cloned()
            .collect()
    }

    fn failures_since(&self, since: DateTime<Utc>) -> Vec<(String, FailureRecord)> {
        lock(&self.view)
            .failures
            .iter()
            .filter(|(_, f)| f.at >= since)
            .cloned()
            .collect()
    }

    fn spend_today(&self, _now: DateTime<Utc>) -> f64 {
        lock(&self.view).spend_today
    }

    fn prices(&self) -> HashMap<String, crate::pricing::Price> {
        HashMap::new()
    }

    fn probe_now(&self, model: Option<&str>) {
        let body = match model {
            Some(m) => json!({"model": m}),
            None => json!({}),
        };
        self.post_later("/api/v1/probe", body);
    }

    fn acknowledge_drift(&self, model: &str, _now: DateTime<Utc>) {
        self.post_later("/api/v1/ack", json!({"model": model}));
    }

    /// `PUT /api/v1/chain`. Called on a blocking thread by the event loop,
    /// one edit at a time.
    fn edit_chain(&self, edit: &ChainEdit) -> anyhow::Result<Vec<String>> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| anyhow!("no runtime to send the edit on"))?;
        self.edits_in_flight.fetch_add(1, Ordering::SeqCst);
        let result = handle.block_on(self.put_edit(edit));
        if let Ok(order) = &result {
            lock(&self.view).chain.clone_from(order);
        }
        self.edits_in_flight.fetch_sub(1, Ordering::SeqCst);
        result
    }

    fn chain_order(&self) -> Vec<String> {
        lock(&self.view).chain.clone()
    }

    fn bell(&self) {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(b"\x07");
        let _ = out.flush();
    }

    fn route(
        &self,
        _chain: Vec<String>,
        text: String,
        target: RouteTarget,
        buffered: bool,
        events: mpsc::UnboundedSender<RouteEvent>,
    ) -> RouteFuture {
        let name = match &target {
            RouteTarget::Chain => "chain".to_string(),
            RouteTarget::Tier(t) => t.to_string(),
            RouteTarget::Model(m) => m.clone(),
        };
        let target = Target {
            base_url: format!("{}/v1", self.base),
            dialect: Dialect::Openai,
            api_key: self.token.clone(),
            model_id: name.clone(),
            extra: serde_json::Map::new(),
            fallback_models: Vec::new(),
        };
        let client = self.prompts.clone();
        Box::pin(async move {
            let request = ChatRequest {
                messages: vec![Message::user(text)],
                max_tokens: 1024,
                // Buffered: the server's whole reply, which restarts cleanly
                // on the next model when an answer breaks off.
                stream: !buffered,
                expect: None,
                passthrough: None,
            };
            // The server keeps its own deadlines (failovers included);
            // these only bound a server that stopped answering.
            let deadlines = Deadlines {
                connect: Duration::from_secs(5),
                first_token: Duration::from_secs(120),
                stall: Some(Duration::from_secs(120)),
                total: Duration::from_secs(600),
            };
            let _ = events.send(RouteEvent::Trying {
                model: name.clone(),
                hedge: false,
            });
            let (tx, mut rx) = mpsc::unbounded_channel::<String>();
            let relay = {
                let events = events.clone();
                let name = name.clone();
                tokio::spawn(async move {
                    while let Some(text) = rx.recv().await {
                        if buffered {
                            continue;
                        }
                        let _ = events.send(RouteEvent::Delta {
                            model: name.clone(),
                            text,
                        });
                    }
                })
            };
            let attempt = client.send(&target, &request, deadlines, Some(&tx)).await;
            drop(tx);
            let _ = relay.await;
            answer(&name, attempt, &events)
        })
    }
}

/// The attempt at the server as the router's answer: the model that
/// served is the one the server names in each chunk's `model`.
fn answer(
    target: &str,
    attempt: Attempt,
    events: &mpsc::UnboundedSender<RouteEvent>,
) -> Result<RouteAnswer, RouteFailure> {
    let model = attempt
        .served_model
        .clone()
        .unwrap_or_else(|| target.to_string());
    let record = AttemptRecord::new(model.clone(), AttemptRole::Planned, attempt.clone());
    match &attempt.failure {
        None => {
            if let Some(ttft) = attempt.ttft {
                let _ = events.send(RouteEvent::FirstToken {
                    model: model.clone(),
                    ttft,
                });
            }
            Ok(RouteAnswer {
                model_id: model.clone(),
                model,
                served_model: attempt.served_model.clone(),
                served_by: attempt.served_by.clone(),
                ttft: attempt.ttfc.or(attempt.ttft),
                total: attempt.latency,
                cost: attempt.usage.as_ref().and_then(|u| u.cost),
                usage: attempt.usage.clone(),
                text: attempt.reply.clone(),
                attempts: vec![record],
                skipped: Vec::new(),
                last_resort: false,
            })
        }
        Some(f) => {
            let _ = events.send(RouteEvent::Failed {
                model: model.clone(),
                class: f.class,
                message: f.message.clone(),
                after_first_token: attempt.ttft.is_some(),
            });
            Err(RouteFailure {
                attempts: vec![record],
                skipped: Vec::new(),
                last_resort: false,
            })
        }
    }
}
