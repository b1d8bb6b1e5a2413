//! One proxied request from start to end: the route runs, every attempt's
//! events are tapped and held, and nothing reaches the client until the
//! race commits on a first content token (or tool call). Then the winner's
//! chunks go out as they come (streamed), or are folded into one reply
//! (not streamed, or a stream the client asked to have buffered: then sent
//! in one piece at the end). Before the commit, a failure is an HTTP
//! error; after it, a stream ends in an error chunk (`finish_reason:
//! "error"`), never in a truncated answer that looks complete.
//!
//! What the winner said before its first content token (role, reasoning)
//! is held back and sent at the commit, up to [`HOLD_CAP`] per attempt;
//! beyond that it is dropped. The losers' held chunks are dropped.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::sync::mpsc::{self, unbounded_channel};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::aggregate::{as_chunks, Aggregate};
use super::call::Call;
use super::errors::ApiError;
use super::translate::Translator;
use super::Shared;
use crate::api::{Attempt, FailureClass, Tapped};
use crate::health::{SampleKind, Status};
use crate::metrics::provider_of_model;
use crate::report::WatchLine;
use crate::route::{HealthView, RouteAnswer, RouteEvent, RouteFailure, Trial};

/// What an attempt may say before its first content token and still be
/// relayed at the commit (the rest of a long reasoning is dropped).
pub const HOLD_CAP: usize = 256 * 1024;
/// Frames waiting for a slow client before the relay waits for it.
const OUT_BUFFER: usize = 64;

/// How the answer begins, for the handler to send.
pub enum Head {
    /// The race committed: 200, and the stream's frames from here.
    Stream {
        model: String,
        attempts: usize,
        frames: mpsc::Receiver<Result<Bytes, Infallible>>,
    },
    /// A whole reply.
    Whole {
        model: String,
        attempts: usize,
        doc: Value,
    },
    Fail(ApiError),
}

/// The router's view of health for proxied requests: the engine's
/// verdicts, and every attempt recorded as a traffic sample and counted.
pub struct TrafficView {
    pub shared: Arc<Shared>,
}

impl HealthView for TrafficView {
    fn judge(&self, model: &str, now: DateTime<Utc>) -> (Status, String) {
        self.shared.engine.judge(model, now)
    }

    fn ttft_p95(&self, model: &str, now: DateTime<Utc>) -> Option<Duration> {
        self.shared.engine.ttft_p95(model, now)
    }

    fn record(&self, model: &str, attempt: &Attempt, now: DateTime<Utc>) {
        self.shared
            .engine
            .record(model, attempt, SampleKind::Traffic, now);
        self.shared
            .unsaved
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let provider = provider_of_model(&self.shared.engine, model);
        self.shared
            .metrics
            .attempt(model, &provider, SampleKind::Traffic, attempt);
    }

    fn last_attempt(&self, model: &str) -> Option<DateTime<Utc>> {
        HealthView::last_attempt(&self.shared.engine, model)
    }

    /// A half-open trial that lost the race runs on in the engine, which
    /// records it.
    fn adopt(&self, trial: Trial) {
        self.shared.engine.adopt(trial);
    }
}

/// Starts routing `call`; resolves when the answer's head is known (the
/// commit, the whole reply, or the failure). A stream goes on in a task of
/// its own, which ends when the client goes away.
pub async fn start(shared: Arc<Shared>, call: Call) -> Head {
    let (head_tx, head_rx) = oneshot::channel();
    tokio::spawn(drive(shared, call, head_tx));
    head_rx.await.unwrap_or_else(|_| {
        Head::Fail(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal",
            "the request ended without an answer",
        ))
    })
}

/// Where the answer stands.
struct Relay {
    id: String,
    created: i64,
    stream: bool,
    /// A streamed answer collected whole before its first byte is sent.
    buffer: bool,
    include_usage: bool,
    /// The winner's config name and tap key, once the race committed.
    winner: Option<(String, String)>,
    /// Chunks held per attempt until the commit, and their size.
    held: HashMap<String, (Vec<Value>, usize)>,
    translators: HashMap<String, Translator>,
    head: Option<oneshot::Sender<Head>>,
    out: Option<mpsc::Sender<Result<Bytes, Infallible>>>,
    whole: Aggregate,
    /// Attempts started so far.
    tried: usize,
    router: crate::route::Router,
}

async fn drive(shared: Arc<Shared>, mut call: Call, head: oneshot::Sender<Head>) {
    let began = Instant::now();
    shared.metrics.in_flight(1);
    let (events_tx, mut events) = unbounded_channel();
    let (tap_tx, mut taps) = unbounded_channel();
    let request = call.route_request(shared.router.config(), tap_tx);
    let chain = call
        .order
        .clone()
        .unwrap_or_else(|| shared.engine.chain_order());
    let router = shared.router.clone();
    let mut relay = Relay {
        id: format!("chatcmpl-cw{:016x}", fastrand::u64(..)),
        created: Utc::now().timestamp(),
        stream: call.stream,
        buffer: call.buffer,
        include_usage: call.include_usage,
        winner: None,
        held: HashMap::new(),
        translators: HashMap::new(),
        head: Some(head),
        out: None,
        whole: Aggregate::default(),
        tried: 0,
        router,
    };
    let view = TrafficView {
        shared: shared.clone(),
    };
    let route = shared.router.route(&view, &chain, request, Some(events_tx));
    tokio::pin!(route);
    let deadline = tokio::time::sleep(shared.options.request_timeout);
    tokio::pin!(deadline);
    let mut gone = false;
    let ended: Option<Result<RouteAnswer, RouteFailure>> = loop {
        tokio::select! {
            biased;
            Some(tapped) = taps.recv() => {
                if !relay.on_tap(tapped).await {
                    gone = true;
                    break None;
                }
            }
            Some(event) = events.recv() => {
                if !relay.on_event(event).await {
                    gone = true;
                    break None;
                }
            }
            result = &mut route => break Some(result),
            () = &mut deadline => break None,
            () = relay.client_gone() => {
                gone = true;
                break None;
            }
        }
    };
    // Everything the attempts said before the route ended is relayed.
    if ended.is_some() {
        while let Ok(event) = events.try_recv() {
            relay.on_event(event).await;
        }
        while let Ok(tapped) = taps.try_recv() {
            relay.on_tap(tapped).await;
        }
    }
    let total = began.elapsed();
    let outcome = match &ended {
        _ if gone => "cancelled",
        Some(Ok(_)) => "ok",
        Some(Err(_)) if relay.winner.is_some() => "broken",
        Some(Err(_)) => "failed",
        None => "timeout",
    };
    shared.metrics.request(&call.label, outcome);
    if let Some(Ok(answer)) = &ended {
        // Once per model the answer moved away from (its retry is not a
        // second failover).
        let mut failed: Vec<&str> = answer
            .attempts
            .iter()
            .filter(|r| !r.cancelled && !r.attempt.is_ok())
            .map(|r| r.model.as_str())
            .collect();
        failed.sort_unstable();
        failed.dedup();
        for model in failed {
            shared.metrics.failover(model);
        }
    }
    if let Some(result) = &ended {
        let _ = shared
            .routes
            .send(WatchLine::route(Utc::now(), &call.label, result, total));
    }
    match ended {
        Some(Ok(answer)) => relay.finish(answer).await,
        Some(Err(failure)) => relay.fail(failure_error(&failure)).await,
        None if gone => {}
        None => {
            let secs = shared.options.request_timeout.as_secs();
            let mut e = ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_error",
                "timeout",
                format!("no complete answer within the request deadline ({secs}s)"),
            );
            e.attempts = Some(relay.tried);
            relay.fail(e).await;
        }
    }
    shared.metrics.in_flight(-1);
}

impl Relay {
    /// The answer is collected whole (not streamed, or a buffered stream)
    /// rather than relayed as it comes.
    fn collects(&self) -> bool {
        !self.stream || self.buffer
    }

    /// The tap key of a configured model's attempts.
    fn key_of(&self, model: &str) -> Option<String> {
        let config = self.router.config();
        config
            .model(model)
            .map(|m| config.target(m, None).tap_key())
    }

    /// Resolves when the client no longer waits: its head receiver or its
    /// stream was dropped.
    async fn client_gone(&mut self) {
        match (&mut self.head, &self.out) {
            (Some(head), _) => head.closed().await,
            (None, Some(out)) => out.closed().await,
            (None, None) => std::future::pending().await,
        }
    }

    /// `false` when the client went away.
    async fn on_event(&mut self, event: RouteEvent) -> bool {
        match event {
            RouteEvent::Trying { .. } => self.tried += 1,
            RouteEvent::FirstToken { model, .. } if self.winner.is_none() => {
                let key = self.key_of(&model).unwrap_or_default();
                self.winner = Some((model.clone(), key.clone()));
                let held = self.held.remove(&key).map(|(h, _)| h).unwrap_or_default();
                self.held.clear();
                if !self.collects() {
                    let (tx, rx) = mpsc::channel(OUT_BUFFER);
                    self.out = Some(tx);
                    if let Some(head) = self.head.take() {
                        let sent = head.send(Head::Stream {
                            model,
                            attempts: self.tried,
                            frames: rx,
                        });
                        if sent.is_err() {
                            return false;
                        }
                    }
                }
                for chunk in held {
                    if !self.deliver(chunk).await {
                        return false;
                    }
                }
            }
            RouteEvent::Restarting { .. } if self.collects() => {
                // The whole reply in the making broke off; nothing was sent:
                // the next model's answer starts from scratch.
                self.winner = None;
                self.whole = Aggregate::default();
            }
            RouteEvent::Failed { model, .. }
                if self.winner.as_ref().is_none_or(|(m, _)| *m != model) =>
            {
                // A failed attempt's held words are no one's answer (a retry
                // of the same model must not begin with them).
                if let Some(key) = self.key_of(&model) {
                    self.held.remove(&key);
                }
            }
            _ => {}
        }
        true
    }

    /// `false` when the client went away.
    async fn on_tap(&mut self, tapped: Tapped) -> bool {
        let chunks = self
            .translators
            .entry(tapped.key.clone())
            .or_default()
            .chunks(tapped.dialect, &tapped.event);
        match &self.winner {
            Some((_, key)) if *key == tapped.key => {
                for chunk in chunks {
                    if !self.deliver(chunk).await {
                        return false;
                    }
                }
            }
            Some(_) => {} // a loser's last words
            None => {
                let (held, size) = self.held.entry(tapped.key).or_default();
                for chunk in chunks {
                    let len = chunk.to_string().len();
                    if *size + len <= HOLD_CAP {
                        *size += len;
                        held.push(chunk);
                    }
                }
            }
        }
        true
    }

    /// One of the winner's chunks to the client. `false` when it went away.
    async fn deliver(&mut self, chunk: Value) -> bool {
        if self.collects() {
            self.whole.add(&chunk);
            return true;
        }
        let Some(chunk) = self.outgoing(chunk) else {
            return true;
        };
        self.send(frame(&chunk)).await
    }

    async fn send(&mut self, bytes: Bytes) -> bool {
        match &self.out {
            Some(out) => out.send(Ok(bytes)).await.is_ok(),
            None => true,
        }
    }

    /// A chunk as the client sees it: our id, the serving model's name,
    /// usage only when asked for; `None` for what is not sent at all (the
    /// provider's own error chunk: ours follows; a usage chunk nobody asked
    /// for).
    fn outgoing(&self, mut chunk: Value) -> Option<Value> {
        let obj = chunk.as_object_mut()?;
        if obj.get("error").is_some_and(|e| !e.is_null()) {
            return None;
        }
        if !self.include_usage {
            let had_usage = obj.remove("usage").is_some();
            // Without it the chunk says nothing: no choices (OpenAI's usage
            // chunk), or a usage chunk with an empty delta and no finish
            // (LiteLLM's proxy).
            let says_nothing = |c: &Value| {
                had_usage
                    && c["delta"].as_object().is_none_or(|d| d.is_empty())
                    && c["finish_reason"].is_null()
            };
            if obj
                .get("choices")
                .and_then(Value::as_array)
                .is_none_or(|choices| choices.iter().all(says_nothing))
            {
                return None;
            }
        }
        obj.insert("id".into(), json!(self.id));
        obj.insert("object".into(), json!("chat.completion.chunk"));
        obj.insert("created".into(), json!(self.created));
        let model = self.winner.as_ref().map(|(m, _)| m.as_str()).unwrap_or("");
        obj.insert("model".into(), json!(model));
        Some(chunk)
    }

    /// The route answered.
    async fn finish(mut self, answer: RouteAnswer) {
        if !self.collects() {
            if self.head.is_some() {
                // Answered without a first-token event (a whole reply in one
                // poll): commit now.
                let winner = answer.model.clone();
                self.on_event(RouteEvent::FirstToken {
                    model: winner,
                    ttft: Duration::ZERO,
                })
                .await;
            }
            self.send(Bytes::from_static(b"data: [DONE]\n\n")).await;
            return;
        }
        if let Some((_, key)) = &self.winner {
            // A whole reply whose chunks were still held (no first-token
            // event came for it).
            let key = key.clone();
            for chunk in self.held.remove(&key).map(|(h, _)| h).unwrap_or_default() {
                self.whole.add(&chunk);
            }
        } else if let Some(key) = self.key_of(&answer.model) {
            for chunk in self.held.remove(&key).map(|(h, _)| h).unwrap_or_default() {
                self.whole.add(&chunk);
            }
        }
        let whole = std::mem::take(&mut self.whole);
        let doc = whole.finish(&self.id, self.created, &answer.model);
        let attempts = answer.attempts.len();
        let model = answer.model;
        let head = if self.stream {
            // A buffered stream: the whole answer, then `[DONE]`.
            let chunks = as_chunks(&doc, self.include_usage);
            let (tx, frames) = mpsc::channel(chunks.len() + 1);
            for chunk in &chunks {
                let _ = tx.try_send(Ok(frame(chunk)));
            }
            let _ = tx.try_send(Ok(Bytes::from_static(b"data: [DONE]\n\n")));
            Head::Stream {
                model,
                attempts,
                frames,
            }
        } else {
            Head::Whole {
                model,
                attempts,
                doc,
            }
        };
        if let Some(tx) = self.head.take() {
            let _ = tx.send(head);
        }
    }

    /// The route failed: an HTTP error before the commit, an error chunk
    /// after it.
    async fn fail(mut self, error: ApiError) {
        if let Some(head) = self.head.take() {
            let _ = head.send(Head::Fail(error));
            return;
        }
        let model = self
            .winner
            .as_ref()
            .map(|(m, _)| m.clone())
            .unwrap_or_default();
        let chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "error"}],
            "error": error.body()["error"],
        });
        // No `[DONE]`: the stream did not end well.
        self.send(frame(&chunk)).await;
    }
}

fn frame(chunk: &Value) -> Bytes {
    Bytes::from(format!("data: {chunk}\n\n"))
}

/// Every model failed (or none could be tried): the status that says the
/// most, and every attempt in the body.
pub fn failure_error(failure: &RouteFailure) -> ApiError {
    let failed: Vec<FailureClass> = failure
        .attempts
        .iter()
        .filter(|r| !r.cancelled)
        .filter_map(|r| r.attempt.class())
        .collect();
    let all =
        |pred: fn(FailureClass) -> bool| !failed.is_empty() && failed.iter().all(|c| pred(*c));
    let (status, code) = if failure.attempts.is_empty() {
        (StatusCode::SERVICE_UNAVAILABLE, "no_model_available")
    } else if all(FailureClass::blames_the_request) {
        (StatusCode::BAD_REQUEST, "rejected_by_every_model")
    } else if all(|c| c == FailureClass::RateLimited) {
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    } else if all(|c| c == FailureClass::Timeout) {
        (StatusCode::GATEWAY_TIMEOUT, "timeout")
    } else {
        (StatusCode::BAD_GATEWAY, "all_models_failed")
    };
    let kind = if status == StatusCode::BAD_REQUEST {
        "invalid_request_error"
    } else if status == StatusCode::TOO_MANY_REQUESTS {
        "rate_limit_error"
    } else {
        "upstream_error"
    };
    let retry = failure
        .attempts
        .iter()
        .filter_map(|r| r.attempt.failure.as_ref()?.retry_after)
        .min();
    let report = crate::report::AskReport::new(&Err(failure.clone()));
    let mut error = ApiError::new(status, kind, code, failure.to_string());
    error.extra = serde_json::to_value(&report)
        .ok()
        .map(|v| Box::new(json!({"attempts": v["attempts"], "skipped": v["skipped"]})));
    error.retry_after = retry
        .filter(|_| status == StatusCode::TOO_MANY_REQUESTS)
        .map(|d| d.as_secs().max(1));
    error.attempts = Some(failure.attempts.iter().filter(|r| !r.cancelled).count());
    error
}
