//! A simulated OpenRouter-dialect server for the demo, the tests and the benchmarks.
//!
//! A real HTTP/1.1 server on loopback. Each model follows a [`Scenario`]:
//! latency, an error mix by failure class, outage windows, drift. Every
//! random choice comes from a generator seeded by (seed, model, request
//! number), so the same seed and the same requests give the same replies.
//!
//! Connections are served one by one with hyper (not `axum::serve`) so that a
//! `connect` fault can drop the socket without sending a byte, with a TCP
//! reset, and so that `shutdown` can end hanging connections.

pub mod scenario;

mod anthropic;
mod body;
mod openai;
#[cfg(test)]
mod tests;
mod text;

pub use scenario::{ModelScenario, Scenario, ScenarioError};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::FailureClass;
use body::{Meter, ModelStats, PlanBody, Step};
use scenario::{Fault, FaultKind, Served};

/// What the server saw for one model id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Requests that reached this model (each model tried by a `models`
    /// fallback array counts once).
    pub requests: u64,
    /// Responses whose client hung up before the end.
    pub cancelled: u64,
    /// Body bytes handed to the connection (headers not counted).
    pub bytes_sent: u64,
}

/// A running simulator. Dropping it stops it too (without waiting).
pub struct SimServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl SimServer {
    /// Binds `listen` (use 127.0.0.1:0 for a free port) and serves in a spawned tokio task.
    pub async fn start(
        scenario: Scenario,
        listen: SocketAddr,
        seed: u64,
    ) -> std::io::Result<SimServer> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(scenario, seed));
        let router = router(shared.clone());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(accept_loop(listener, router, shutdown.clone()));
        Ok(SimServer {
            addr,
            shared,
            shutdown,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// A config that watches every model of this server, in scenario order,
    /// with the scenario's tiers (the demo's config).
    pub fn config(&self) -> crate::config::Config {
        let models: Vec<_> = self
            .scenario()
            .models()
            .iter()
            .map(|m| {
                let tier = m.tier.as_deref().and_then(|t| t.parse().ok());
                (m.name.clone(), m.id.clone(), tier)
            })
            .collect();
        crate::config::Config::demo(&self.base_url(), &models)
    }

    /// Moves the scenario clock forward without waiting, so tests reach an
    /// outage window at once.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ =
            self.shared
                .clock
                .advanced
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |a| {
                    Some(a.saturating_add(nanos))
                });
    }

    /// Scenario time: real time since start plus everything advanced.
    pub fn elapsed(&self) -> Duration {
        self.shared.clock.elapsed()
    }

    pub fn stats(&self, model_id: &str) -> SimStats {
        self.shared
            .index
            .get(model_id)
            .and_then(|&i| self.shared.stats.get(i))
            .map(|s| SimStats {
                requests: s.requests.load(Ordering::Relaxed),
                cancelled: s.cancelled.load(Ordering::Relaxed),
                bytes_sent: s.bytes_sent.load(Ordering::Relaxed),
            })
            .unwrap_or_default()
    }

    pub fn scenario(&self) -> &Scenario {
        &self.shared.scenario
    }

    /// Stops accepting and ends every open connection, hanging ones included.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        let _ = (&mut self.task).await;
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// `chainwatch sim`: serve until Ctrl-C, printing the base URL and the models to stdout.
pub async fn run(listen: SocketAddr, scenario: Option<&Path>, seed: u64) -> anyhow::Result<()> {
    let scenario = match scenario {
        Some(path) => Scenario::load(path)?,
        None => Scenario::demo(),
    };
    let server = SimServer::start(scenario, listen, seed)
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot listen on {listen}: {e} (try another --listen address)")
        })?;
    println!("chainwatch sim: {}", server.base_url());
    println!(
        "scenario {} · seed {seed} · Ctrl-C to stop",
        server.scenario().origin.display()
    );
    for m in server.scenario().models() {
        println!(
            "  {:<20} {:<36} {:<10} {}",
            m.name,
            m.id,
            m.tier.as_deref().unwrap_or("-"),
            m.provider
        );
    }
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}

// ---------------------------------------------------------------- state

struct Clock {
    start: Instant,
    advanced: AtomicU64,
}

impl Clock {
    fn elapsed(&self) -> Duration {
        self.start.elapsed() + Duration::from_nanos(self.advanced.load(Ordering::Relaxed))
    }
}

pub(crate) struct Shared {
    scenario: Scenario,
    seed: u64,
    clock: Clock,
    /// Unix seconds at start, for `created`.
    wall_start: i64,
    stats: Vec<Arc<ModelStats>>,
    index: HashMap<String, usize>,
    /// Anthropic clients name models without the `author/` prefix.
    slug_index: HashMap<String, usize>,
    /// USD served so far, as f64 bits (for `GET /key`).
    spent: AtomicU64,
    key_fault: Fault,
}

impl Shared {
    fn new(scenario: Scenario, seed: u64) -> Shared {
        let models = scenario.models();
        let index = models
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id.clone(), i))
            .collect();
        let mut slug_index = HashMap::new();
        for (i, m) in models.iter().enumerate() {
            if let Some((_, slug)) = m.id.split_once('/') {
                slug_index.entry(slug.to_string()).or_insert(i);
            }
        }
        Shared {
            stats: models.iter().map(|_| Arc::default()).collect(),
            index,
            slug_index,
            seed,
            clock: Clock {
                start: Instant::now(),
                advanced: AtomicU64::new(0),
            },
            wall_start: chrono::Utc::now().timestamp(),
            spent: AtomicU64::new(scenario.key.usage.to_bits()),
            key_fault: Fault::always(FaultKind::Class(FailureClass::Auth)),
            scenario,
        }
    }

    fn add_spent(&self, usd: f64) {
        if usd > 0.0 {
            let _ = self
                .spent
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                    Some((f64::from_bits(b) + usd).to_bits())
                });
        }
    }

    /// Decides everything about one request to model `idx` at scenario time
    /// `now`: the fault (if any), timing, text.
    fn decide<'a>(&'a self, idx: usize, req: &RequestInfo, now: Duration) -> Option<Outcome<'a>> {
        let model = self.scenario.models().get(idx)?;
        let stats = self.stats.get(idx)?;
        let n = stats.requests.fetch_add(1, Ordering::Relaxed);
        let mut rng = text::request_rng(self.seed, idx, n);
        // Fixed draw order, whatever the scenario uses, for determinism.
        let u = rng.f64();
        let ttft = text::draw(&mut rng, model.ttft);
        let total = text::draw(&mut rng, model.latency);
        let created = self.wall_start + now.as_secs() as i64;
        let gen_id = text::generation_id(&mut rng, created);
        let mut tokens = text::answer(&mut rng, &req.prompt);

        let key_ok = model
            .key
            .as_ref()
            .is_none_or(|k| req.key.as_deref() == Some(k.as_str()));
        let fault = if key_ok {
            let mut acc = 0.0;
            model.faults.iter().filter(|f| f.active_at(now)).find(|f| {
                acc += f.p;
                u < acc
            })
        } else {
            Some(&self.key_fault)
        };
        match fault.and_then(|f| f.kind.class()) {
            Some(FailureClass::Empty) => tokens.clear(),
            Some(FailureClass::WrongAnswer) => {
                let content = fault
                    .and_then(|f| f.content.as_deref())
                    .unwrap_or("I'm sorry, I can't help with that request.");
                tokens = text::tokens(content);
            }
            _ => {}
        }
        let mut finish = "stop";
        if let Some(max) = req.max_tokens {
            let max = usize::try_from(max.max(1)).unwrap_or(usize::MAX);
            if tokens.len() > max {
                tokens.truncate(max);
                finish = "length";
            }
        }
        // With a total latency the last token lands at `total`: the first
        // after `ttft` (its share of the total when no ttft is given), the
        // rest evenly spread.
        let n = u32::try_from(tokens.len().max(1)).unwrap_or(u32::MAX);
        let (ttft, per_token) = match model.latency {
            // One token (a probe's "pong") is done at its first token.
            Some(_) if n == 1 && model.ttft.is_some() => (ttft.min(total), Duration::ZERO),
            Some(_) if n == 1 => (total, Duration::ZERO),
            Some(_) => {
                let first = if model.ttft.is_some() {
                    ttft.min(total)
                } else {
                    total / n
                };
                (first, total.saturating_sub(first) / (n - 1))
            }
            None => (
                ttft,
                model
                    .tokens_per_s
                    .and_then(|tps| Duration::try_from_secs_f64(1.0 / tps).ok())
                    .unwrap_or_default(),
            ),
        };
        Some(Outcome {
            idx,
            model,
            fault,
            ttft,
            per_token,
            tokens,
            finish,
            served: model.served_at(now),
            gen_id,
            created,
            prompt_tokens: text::count_tokens(&req.prompt),
            key: req.key.clone(),
        })
    }
}

/// What a handler extracted from the request, dialect-neutral.
pub(crate) struct RequestInfo {
    pub key: Option<String>,
    pub prompt: String,
    pub max_tokens: Option<u64>,
}

/// Everything decided about one reply, before it is put into a dialect.
pub(crate) struct Outcome<'a> {
    pub idx: usize,
    pub model: &'a ModelScenario,
    pub fault: Option<&'a Fault>,
    pub ttft: Duration,
    /// Delay before each token after the first.
    pub per_token: Duration,
    pub tokens: Vec<String>,
    /// "stop" or "length".
    pub finish: &'static str,
    pub served: Served<'a>,
    pub gen_id: String,
    pub created: i64,
    pub prompt_tokens: u64,
    /// The key the client sent, which auth errors echo (the client must mask it).
    pub key: Option<String>,
}

impl Outcome<'_> {
    pub fn class(&self) -> Option<FailureClass> {
        self.fault.and_then(|f| f.kind.class())
    }

    pub fn completion_tokens(&self) -> u64 {
        self.tokens.len() as u64
    }

    pub fn cost(&self) -> f64 {
        let p = self.model.price;
        p.request
            + p.prompt * self.prompt_tokens as f64
            + p.completion * self.completion_tokens() as f64
    }

    /// Time from the request to the last token.
    pub fn total(&self) -> Duration {
        let gaps = u32::try_from(self.tokens.len().saturating_sub(1)).unwrap_or(u32::MAX);
        let rest = self.per_token.checked_mul(gaps).unwrap_or(Duration::MAX);
        self.ttft.saturating_add(rest)
    }

    /// OpenRouter moves on to the next model of a `models` array when this
    /// one fails with an error status before answering; account-level
    /// errors (credits) and failures after the headers are not retried.
    fn falls_through(&self) -> bool {
        matches!(
            self.class(),
            Some(
                FailureClass::ServerError
                    | FailureClass::RateLimited
                    | FailureClass::NotFound
                    | FailureClass::BadRequest
                    | FailureClass::Auth
            )
        )
    }

    /// The key as received, or a placeholder when none came.
    pub fn key_text(&self) -> &str {
        self.key.as_deref().unwrap_or("(none)")
    }
}

/// How a reply goes on the wire.
pub(crate) enum Reply {
    /// A complete body after `delay` (sent with a Content-Length).
    Fixed {
        status: StatusCode,
        headers: Vec<(&'static str, String)>,
        content_type: &'static str,
        body: Bytes,
        delay: Duration,
    },
    /// Status 200 and headers at once, then the body plays `steps`.
    Stream {
        headers: Vec<(&'static str, String)>,
        content_type: &'static str,
        steps: Vec<Step>,
    },
    /// After `delay`, drop the connection without a response.
    Kill { reset: bool, delay: Duration },
}

pub(crate) const JSON: &str = "application/json";
pub(crate) const SSE: &str = "text/event-stream";
pub(crate) const HTML: &str = "text/html; charset=utf-8";

/// A Cloudflare-style error page.
pub(crate) fn html_page(status: u16, title: &str) -> Bytes {
    Bytes::from(format!(
        "<!DOCTYPE html>\n<html>\n<head><title>{status} {title}</title></head>\n<body>\n<center><h1>{status} {title}</h1></center>\n<hr><center>cloudflare</center>\n</body>\n</html>\n"
    ))
}

/// A filler of 64 KiB of text, shared by every huge reply.
pub(crate) fn filler() -> Bytes {
    static FILLER: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    FILLER
        .get_or_init(|| Bytes::from("lorem ipsum ".repeat(65536 / 12 + 1)[..65536].to_string()))
        .clone()
}

// ---------------------------------------------------------------- serving

/// Lets a handler kill its own connection (a `connect` fault).
#[derive(Clone)]
struct ConnHandle {
    kill: CancellationToken,
    reset: Arc<AtomicBool>,
}

async fn accept_loop(listener: TcpListener, router: Router, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, _)) => {
                tokio::spawn(serve_conn(stream, router.clone(), shutdown.clone()));
            }
            Err(e) => {
                // Out of file descriptors and the like: back off briefly
                // rather than spin on a listener that keeps failing.
                tracing::warn!("sim: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve_conn(stream: TcpStream, router: Router, shutdown: CancellationToken) {
    use hyper::service::Service as _;
    let _ = stream.set_nodelay(true);
    let handle = ConnHandle {
        kill: CancellationToken::new(),
        reset: Arc::new(AtomicBool::new(false)),
    };
    let svc = hyper_util::service::TowerToHyperService::new(router);
    let h = handle.clone();
    let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(h.clone());
        svc.call(req)
    });
    let mut conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    tokio::select! {
        _ = &mut conn => {}
        _ = handle.kill.cancelled() => {
            if handle.reset.load(Ordering::Relaxed) {
                // Zero linger turns the close into a TCP reset.
                let _ = conn.into_parts().io.inner().set_zero_linger();
            }
        }
        _ = shutdown.cancelled() => {}
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/messages", post(messages))
        .route("/v1/models", get(models))
        .route("/v1/key", get(key))
        .fallback(no_route)
        .with_state(shared)
}

/// Plays a reply; `meter` counts the request as cancelled if the client
/// leaves before it is done.
async fn respond(
    shared: &Shared,
    idx: usize,
    conn: &ConnHandle,
    reply: Reply,
    gen_id: &str,
) -> Response {
    let Some(stats) = shared.stats.get(idx) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut meter = Meter::new(stats.clone());
    let (status, headers, content_type, body) = match reply {
        Reply::Fixed {
            status,
            headers,
            content_type,
            body,
            delay,
        } => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            meter.sent(body.len());
            meter.finish();
            (status, headers, content_type, Body::from(body))
        }
        Reply::Stream {
            headers,
            content_type,
            steps,
        } => (
            StatusCode::OK,
            headers,
            content_type,
            Body::from_stream(PlanBody::new(steps, meter)),
        ),
        Reply::Kill { reset, delay } => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            meter.finish();
            conn.reset.store(reset, Ordering::Relaxed);
            conn.kill.cancel();
            // Never answer: the connection task drops the socket, and this
            // future with it, before a byte of response is written.
            return std::future::pending().await;
        }
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static(content_type));
    if content_type == SSE {
        h.insert("cache-control", HeaderValue::from_static("no-cache"));
    }
    if let Ok(v) = HeaderValue::from_str(gen_id) {
        h.insert("x-generation-id", v);
    }
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    resp
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("authorization")?.to_str().ok()?.trim();
    let key = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
        .unwrap_or(v)
        .trim();
    (!key.is_empty()).then(|| key.to_string())
}

/// The prompt as plain text: every message's content, strings or text parts.
fn prompt_text(req: &Value) -> String {
    let mut out = String::new();
    let mut push = |c: &Value| match c {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(parts) => {
            for p in parts {
                if let Some(t) = p.get("text").and_then(Value::as_str) {
                    out.push_str(t);
                    out.push('\n');
                }
            }
        }
        _ => {}
    };
    if let Some(sys) = req.get("system") {
        push(sys);
    }
    if let Some(msgs) = req.get("messages").and_then(Value::as_array) {
        for m in msgs {
            if let Some(c) = m.get("content") {
                push(c);
            }
        }
    }
    if let Some(p) = req.get("prompt") {
        push(p);
    }
    out
}

fn max_tokens(req: &Value) -> Option<u64> {
    req.get("max_tokens")
        .or_else(|| req.get("max_completion_tokens"))
        .and_then(Value::as_u64)
}

async fn chat(
    State(shared): State<Arc<Shared>>,
    Extension(conn): Extension<ConnHandle>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = shared.clock.elapsed();
    let key = bearer(&headers);
    if let Some(resp) = openai::check_key(&shared.scenario.server, key.as_deref()) {
        return resp;
    }
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) | Err(_) => {
            return openai::error_response(
                400,
                "Invalid JSON body: expected an object with `model` and `messages`",
            );
        }
    };
    // `model` first, then the `models` fallback array, without repeats.
    let mut ids: Vec<&str> = Vec::new();
    if let Some(m) = req.get("model").and_then(Value::as_str) {
        ids.push(m);
    }
    for m in req
        .get("models")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !ids.contains(&m) {
            ids.push(m);
        }
    }
    let Some(first) = ids.first() else {
        return openai::error_response(400, "No model provided: set `model` or `models`");
    };
    let known: Vec<usize> = ids
        .iter()
        .filter_map(|id| shared.index.get(*id).copied())
        .collect();
    if known.is_empty() {
        return openai::error_response(
            404,
            &format!("Model {first} not found: it is not a valid model ID"),
        );
    }
    let info = RequestInfo {
        key,
        prompt: prompt_text(&req),
        max_tokens: max_tokens(&req),
    };
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let mut chosen = None;
    for (n, &idx) in known.iter().enumerate() {
        let Some(o) = shared.decide(idx, &info, now) else {
            continue;
        };
        let last = n + 1 == known.len();
        chosen = Some(o);
        if last || !chosen.as_ref().is_some_and(Outcome::falls_through) {
            break;
        }
    }
    let Some(o) = chosen else {
        return openai::error_response(500, "simulator: no model could be decided");
    };
    if o.fault.is_none_or(|f| f.status == 200) {
        shared.add_spent(o.cost());
    }
    let reply = openai::render(&o, stream, shared.scenario.server.processing_every);
    respond(&shared, o.idx, &conn, reply, &o.gen_id).await
}

async fn messages(
    State(shared): State<Arc<Shared>>,
    Extension(conn): Extension<ConnHandle>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = shared.clock.elapsed();
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| bearer(&headers));
    if let Some(resp) = anthropic::check_request(&shared.scenario.server, key.as_deref(), &headers)
    {
        return resp;
    }
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) | Err(_) => {
            return anthropic::error_response(
                400,
                "invalid_request_error",
                "Request body is not a valid JSON object",
            );
        }
    };
    let Some(model) = req.get("model").and_then(Value::as_str) else {
        return anthropic::error_response(400, "invalid_request_error", "model: Field required");
    };
    let Some(max) = max_tokens(&req) else {
        return anthropic::error_response(
            400,
            "invalid_request_error",
            "max_tokens: Field required",
        );
    };
    let Some(&idx) = shared
        .index
        .get(model)
        .or_else(|| shared.slug_index.get(model))
    else {
        return anthropic::error_response(404, "not_found_error", &format!("model: {model}"));
    };
    let info = RequestInfo {
        key,
        prompt: prompt_text(&req),
        max_tokens: Some(max),
    };
    let Some(o) = shared.decide(idx, &info, now) else {
        return anthropic::error_response(500, "api_error", "simulator: model vanished");
    };
    if o.fault.is_none_or(|f| f.status == 200) {
        shared.add_spent(o.cost());
    }
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let reply = anthropic::render(&o, stream, shared.scenario.server.processing_every);
    respond(&shared, o.idx, &conn, reply, &o.gen_id).await
}

fn price(p: f64) -> String {
    // f64's Display never uses exponent notation: 3e-6 prints as 0.000003.
    format!("{p}")
}

async fn models(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let data: Vec<Value> = shared
        .scenario
        .models()
        .iter()
        .map(|m| {
            json!({
                "id": m.id,
                "canonical_slug": m.id,
                "name": format!("{}: {}", m.provider, m.name),
                "created": shared.wall_start,
                "description": format!("Simulated model {} (tier {}).", m.id, m.tier.as_deref().unwrap_or("none")),
                "context_length": m.context_length,
                "architecture": {"modality": "text->text", "input_modalities": ["text"], "output_modalities": ["text"], "tokenizer": "Other"},
                "pricing": {
                    "prompt": price(m.price.prompt),
                    "completion": price(m.price.completion),
                    "request": price(m.price.request),
                    "image": price(m.price.image),
                },
                "top_provider": {"context_length": m.context_length, "max_completion_tokens": 16384, "is_moderated": false},
                "supported_parameters": ["max_tokens", "temperature", "stop", "stream"],
            })
        })
        .collect();
    Json(json!({ "data": data }))
}

async fn key(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let k = &shared.scenario.key;
    let server = &shared.scenario.server;
    if let Some(resp) = openai::check_key(server, bearer(&headers).as_deref()) {
        return resp;
    }
    let usage = f64::from_bits(shared.spent.load(Ordering::Relaxed));
    let body = json!({
        "data": {
            "label": k.label,
            "limit": k.limit,
            "limit_remaining": k.limit.map(|l| (l - usage).max(0.0)),
            "usage": usage,
            "usage_daily": usage,
            "usage_weekly": usage,
            "usage_monthly": usage,
            "is_free_tier": k.is_free_tier,
            "is_provisioning_key": false,
        }
    });
    Json(body).into_response()
}

async fn no_route() -> Response {
    openai::error_response(404, "Not Found: the simulator serves /v1/chat/completions, /v1/messages, /v1/models and /v1/key")
}
