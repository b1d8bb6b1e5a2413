//! One request to one model → one [`Attempt`]. Never an `Err`, never a
//! panic: every way a request can go wrong ends in a [`FailureClass`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use regex::Regex;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, LOCATION};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::{timeout_at, Instant};

use super::classify::{
    classify_in_band, classify_status, describe_html, looks_like_html, parse_error_body,
    retry_after, scrub_key, short_message, MESSAGE_CHARS,
};
use super::piece::{Piece, UsageParts};
use super::sse::{SseItem, SseParser};
use super::{anthropic, openai, Attempt, Dialect, Failure, FailureClass, Secret};

/// Default cap on one reply's body.
pub const DEFAULT_REPLY_CAP: usize = 4 * 1024 * 1024;
/// Error bodies are read only this far: the message is all we want of them.
const ERROR_BODY_CAP: usize = 64 * 1024;
/// ... and waited for only this long: the status has already decided the class.
const ERROR_BODY_WAIT: Duration = Duration::from_secs(2);
/// How long a stream may stay open after its finish reason, waiting for
/// the usage chunk and `[DONE]`, before we take the answer as complete.
const AFTER_FINISH_GRACE: Duration = Duration::from_secs(2);
/// Sent to OpenRouter for its app attribution.
const REFERER: &str = "https://github.com/chainwatch/chainwatch";
const TITLE: &str = "chainwatch";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            role: role.into(),
            content: content.into(),
        }
    }
    pub fn system(content: impl Into<String>) -> Self {
        Message::new("system", content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Message::new("user", content)
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Message::new("assistant", content)
    }
}

#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    pub max_tokens: u32,
    pub stream: bool,
    /// Content check: a reply that does not match is `wrong_answer`.
    pub expect: Option<Regex>,
}

/// Where and how to send a request.
#[derive(Debug, Clone)]
pub struct Target {
    /// e.g. `https://openrouter.ai/api/v1`; the dialect's path is appended.
    pub base_url: String,
    pub dialect: Dialect,
    /// `None`: no auth header.
    pub api_key: Option<Secret>,
    pub model_id: String,
    /// Merged into the request body (per-model config `extra`).
    pub extra: serde_json::Map<String, Value>,
    /// Non-empty: OpenRouter's server-side fallback, sent as
    /// `models: [model_id, ..fallback_models]` (OpenAI dialect only).
    pub fallback_models: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// Informational here: the connect timeout is fixed when the [`Client`]
    /// is built (`Client::new`), since reqwest sets it per client.
    pub connect: Duration,
    /// From the start to the first content token (streams), or to the
    /// response headers (non-streamed requests, whose first token is
    /// invisible). Comments and role-only deltas do not count.
    pub first_token: Duration,
    /// From the start to the end of the reply.
    pub total: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            connect: Duration::from_secs(10),
            first_token: Duration::from_secs(10),
            total: Duration::from_secs(30),
        }
    }
}

/// Cheap to clone: wraps one `reqwest::Client` (one connection pool).
#[derive(Clone)]
pub struct Client {
    /// A client that could not be built fails every attempt with the reason,
    /// rather than panicking at start-up.
    http: Result<reqwest::Client, Arc<str>>,
    connect_timeout: Duration,
    reply_cap: usize,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("connect_timeout", &self.connect_timeout)
            .field("reply_cap", &self.reply_cap)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// HTTP/1.1 over rustls. Redirects are not followed: an API that
    /// redirects means a wrong `base_url`, and following would re-send the
    /// request elsewhere. HTTP/1.1 matters too: dropping a request closes
    /// its connection, which is what stops OpenRouter's billing.
    pub fn new(connect_timeout: Duration) -> Client {
        let mut headers = HeaderMap::new();
        headers.insert("HTTP-Referer", HeaderValue::from_static(REFERER));
        headers.insert("X-Title", HeaderValue::from_static(TITLE));
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(connect_timeout)
            .user_agent(concat!("chainwatch/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Arc::from(format!("the HTTP client could not be built: {e}")));
        Client {
            http,
            connect_timeout,
            reply_cap: DEFAULT_REPLY_CAP,
        }
    }

    /// The underlying HTTP client, for the small GETs (`/models`, `/key`)
    /// that are not completions; `None` if it could not be built.
    pub fn http(&self) -> Option<&reqwest::Client> {
        self.http.as_ref().ok()
    }

    /// Bodies longer than `bytes` are cut off and the attempt is `malformed`.
    pub fn with_reply_cap(mut self, bytes: usize) -> Client {
        self.reply_cap = bytes.max(1);
        self
    }

    /// One request → one Attempt; never returns Err, never panics: every way
    /// it can fail is a FailureClass. Content deltas are sent to `deltas` as
    /// they arrive. Dropping the future closes the connection.
    pub async fn send(
        &self,
        target: &Target,
        req: &ChatRequest,
        deadlines: Deadlines,
        deltas: Option<&UnboundedSender<String>>,
    ) -> Attempt {
        let started_at = Utc::now();
        let t0 = Instant::now();
        let mut run = Run {
            t0,
            first_token_at: deadline_after(t0, deadlines.first_token),
            total_at: deadline_after(t0, deadlines.total),
            deadlines,
            reply_cap: self.reply_cap,
            deltas,
            req,
            dialect: target.dialect,
            status: None,
            text: String::new(),
            first_token: None,
            finish_reason: None,
            finished_at: None,
            finish_seen: None,
            model: None,
            provider: None,
            fingerprint: None,
            usage: UsageParts::default(),
            done: false,
            comments: 0,
            events: 0,
        };
        let failure = run.execute(self, target).await.err();
        let end = run.finished_at.unwrap_or_else(Instant::now);
        run.into_attempt(started_at, end, failure, target.api_key.as_ref())
    }
}

/// The state of one attempt while it runs.
struct Run<'a> {
    t0: Instant,
    first_token_at: Instant,
    total_at: Instant,
    deadlines: Deadlines,
    reply_cap: usize,
    deltas: Option<&'a UnboundedSender<String>>,
    req: &'a ChatRequest,
    dialect: Dialect,
    status: Option<u16>,
    text: String,
    first_token: Option<Instant>,
    finish_reason: Option<String>,
    /// A stream that gave its finish reason but then neither `[DONE]` nor
    /// EOF within [`AFTER_FINISH_GRACE`] is complete as of the finish reason.
    finished_at: Option<Instant>,
    finish_seen: Option<Instant>,
    model: Option<String>,
    provider: Option<String>,
    fingerprint: Option<String>,
    usage: UsageParts,
    /// `[DONE]` / `message_stop` seen.
    done: bool,
    comments: usize,
    events: usize,
}

/// Why reading the body stopped early.
enum ReadError {
    Deadline,
    Cap,
    Transport(reqwest::Error),
}

fn fail(class: FailureClass, message: impl Into<String>) -> Failure {
    Failure {
        class,
        message: message.into(),
        retry_after: None,
    }
}

impl Run<'_> {
    async fn execute(&mut self, client: &Client, target: &Target) -> Result<(), Failure> {
        let http = client
            .http
            .as_ref()
            .map_err(|e| fail(FailureClass::Connect, e.to_string()))?;
        let base = target.base_url.trim_end_matches('/');
        let (url, body) = match target.dialect {
            Dialect::Openai => (
                format!("{base}{}", openai::PATH),
                openai::body(target, self.req),
            ),
            Dialect::Anthropic => (
                format!("{base}{}", anthropic::PATH),
                anthropic::body(target, self.req),
            ),
        };
        let mut request = http.post(url).json(&body);
        if let Some(key) = &target.api_key {
            let (name, value) = match target.dialect {
                Dialect::Openai => ("authorization", format!("Bearer {}", key.expose())),
                Dialect::Anthropic => ("x-api-key", key.expose().to_string()),
            };
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                fail(
                    FailureClass::Auth,
                    "the API key contains characters not allowed in an HTTP header; check the key variable",
                )
            })?;
            value.set_sensitive(true);
            request = request.header(name, value);
        }
        if target.dialect == Dialect::Anthropic {
            request = request.header("anthropic-version", anthropic::VERSION);
        }
        if self.req.stream {
            request = request.header("accept", "text/event-stream");
        }

        let head_deadline = self.first_token_at.min(self.total_at);
        let mut resp = match timeout_at(head_deadline, request.send()).await {
            Err(_) => return Err(self.deadline_failure(head_deadline, "no response yet")),
            Ok(Err(e)) => return Err(self.transport_failure(client, &e)),
            Ok(Ok(resp)) => resp,
        };
        let status = resp.status().as_u16();
        self.status = Some(status);
        if !resp.status().is_success() {
            return Err(self.error_response(resp).await);
        }
        if let Some(len) = resp.content_length() {
            if len > self.reply_cap as u64 {
                return Err(self.cap_failure());
            }
        }
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let sse = if content_type.contains("event-stream") {
            true
        } else if content_type.contains("json") || content_type.contains("html") {
            false
        } else {
            self.req.stream
        };
        if sse {
            self.read_stream(&mut resp).await
        } else {
            let body = self.read_all(&mut resp, Vec::new()).await?;
            self.finish_json(&body)
        }
    }

    async fn next_chunk(
        &self,
        resp: &mut reqwest::Response,
        deadline: Instant,
        read: &mut usize,
    ) -> Result<Option<Bytes>, ReadError> {
        match timeout_at(deadline, resp.chunk()).await {
            Err(_) => Err(ReadError::Deadline),
            Ok(Err(e)) => Err(ReadError::Transport(e)),
            Ok(Ok(None)) => Ok(None),
            Ok(Ok(Some(bytes))) => {
                *read += bytes.len();
                if *read > self.reply_cap {
                    Err(ReadError::Cap)
                } else {
                    Ok(Some(bytes))
                }
            }
        }
    }

    /// The whole body (after `prefix`, already read), within the total deadline and the cap.
    async fn read_all(
        &mut self,
        resp: &mut reqwest::Response,
        prefix: Vec<u8>,
    ) -> Result<Vec<u8>, Failure> {
        let mut read = prefix.len();
        let mut body = prefix;
        loop {
            match self.next_chunk(resp, self.total_at, &mut read).await {
                Ok(Some(bytes)) => body.extend_from_slice(&bytes),
                Ok(None) => return Ok(body),
                Err(e) => return Err(self.read_failure(e, self.total_at)),
            }
        }
    }

    async fn read_stream(&mut self, resp: &mut reqwest::Response) -> Result<(), Failure> {
        let mut parser = SseParser::new(self.reply_cap);
        let mut items = Vec::new();
        let mut read = 0;
        // Until the first non-blank byte: a JSON or HTML body where a stream
        // was expected is parsed as a body, not as an (empty) event stream.
        let mut sniffing = true;
        loop {
            let deadline = if let Some(finish) = self.finish_seen {
                self.total_at.min(finish + AFTER_FINISH_GRACE)
            } else if self.first_token.is_some() {
                self.total_at
            } else {
                self.first_token_at.min(self.total_at)
            };
            let bytes = match self.next_chunk(resp, deadline, &mut read).await {
                Ok(Some(bytes)) => bytes,
                Ok(None) => break,
                Err(ReadError::Deadline) if self.finish_seen.is_some() => {
                    // The answer is complete; only the usage chunk or the
                    // end marker is missing. Not a timeout.
                    self.finished_at = self.finish_seen;
                    return self.finish_stream();
                }
                Err(e) => return Err(self.read_failure(e, deadline)),
            };
            if sniffing {
                match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
                    Some(b'{' | b'[' | b'<') => {
                        let body = self.read_all(resp, bytes.to_vec()).await?;
                        return self.finish_json(&body);
                    }
                    Some(_) => sniffing = false,
                    None => {}
                }
            }
            items.clear();
            parser
                .feed_into(&bytes, &mut items)
                .map_err(|_| self.cap_failure())?;
            for item in items.drain(..) {
                if self.on_item(item, false)? {
                    return self.finish_stream();
                }
            }
        }
        // A last event without its blank line is cut off if it does not parse.
        for item in parser.finish().map_err(|_| self.cap_failure())? {
            if self.on_item(item, true)? {
                break;
            }
        }
        self.finish_stream()
    }

    /// Handles one stream item; `Ok(true)` when the stream is complete.
    fn on_item(&mut self, item: SseItem, at_eof: bool) -> Result<bool, Failure> {
        let event = match item {
            SseItem::Comment(_) => {
                self.comments += 1;
                return Ok(false);
            }
            SseItem::Event(event) => event,
        };
        self.events += 1;
        // A named `error` event is an error whatever its payload looks like
        // (some OpenAI-compatible servers send `{"message": ...}` or plain text).
        if event.event.as_deref() == Some("error") {
            let info = parse_error_body(event.data.as_bytes(), self.status.unwrap_or(200));
            return Err(fail(classify_in_band(&info), info.display()));
        }
        let parsed = match self.dialect {
            Dialect::Openai => openai::parse_chunk(&event.data),
            Dialect::Anthropic => anthropic::parse_event(event.event.as_deref(), &event.data),
        };
        let piece = match parsed {
            Ok(piece) => piece,
            Err(_) if at_eof => return Ok(false),
            Err(message) => return Err(fail(FailureClass::Malformed, message)),
        };
        let done = piece.done;
        self.absorb(piece)?;
        Ok(done)
    }

    /// Folds a piece into the run; an error in it ends the attempt, keeping
    /// the text received so far.
    fn absorb(&mut self, piece: Piece) -> Result<(), Failure> {
        if !piece.text.is_empty() {
            if self.first_token.is_none() {
                self.first_token = Some(Instant::now());
            }
            if let Some(tx) = self.deltas {
                // A receiver that went away only means nobody is watching.
                let _ = tx.send(piece.text.clone());
            }
            self.text.push_str(&piece.text);
        }
        self.model = self.model.take().or(piece.model);
        self.provider = self.provider.take().or(piece.provider);
        self.fingerprint = self.fingerprint.take().or(piece.fingerprint);
        self.usage.merge(piece.usage);
        if piece.finish_reason.is_some() {
            self.finish_reason = piece.finish_reason;
            self.finish_seen.get_or_insert_with(Instant::now);
        }
        self.done |= piece.done;
        if let Some(error) = piece.error {
            return Err(fail(classify_in_band(&error), error.display()));
        }
        if self.finish_reason.as_deref() == Some("error") {
            return Err(fail(
                FailureClass::ProviderError,
                "finish_reason \"error\" without an error message",
            ));
        }
        Ok(())
    }

    fn finish_stream(&mut self) -> Result<(), Failure> {
        if !self.done && self.finish_reason.is_none() {
            return Err(fail(
                FailureClass::Truncated,
                format!(
                    "the stream ended without a finish reason or end marker ({})",
                    self.progress()
                ),
            ));
        }
        self.check_content()
    }

    fn finish_json(&mut self, body: &[u8]) -> Result<(), Failure> {
        let status = self.status.unwrap_or(200);
        let text = String::from_utf8_lossy(body);
        let json_text = strip_keepalive(&text);
        if json_text.is_empty() {
            return Err(fail(
                FailureClass::Malformed,
                format!("HTTP {status} with an empty body where a reply was expected"),
            ));
        }
        let json: Value = match serde_json::from_str(json_text) {
            Ok(json) => json,
            Err(_) if looks_like_html(json_text) => {
                return Err(fail(
                    FailureClass::Malformed,
                    describe_html(json_text, status).replacen(
                        "HTML error page",
                        "HTML page instead of JSON",
                        1,
                    ),
                ))
            }
            Err(e) => {
                return Err(fail(
                    FailureClass::Malformed,
                    format!("the reply is not JSON ({e}): {json_text}"),
                ))
            }
        };
        let parsed = match self.dialect {
            Dialect::Openai => openai::parse_reply(&json),
            Dialect::Anthropic => anthropic::parse_reply(&json),
        };
        let piece = parsed.map_err(|message| fail(FailureClass::Malformed, message))?;
        // The whole reply is one delta; an error reply is not content.
        if let Some(error) = &piece.error {
            self.model = piece.model;
            self.provider = piece.provider;
            return Err(fail(classify_in_band(error), error.display()));
        }
        self.absorb(piece)?;
        // OpenRouter always names a finish reason; a whole reply without one
        // was cut upstream (its text may still look plausible).
        if self.finish_reason.is_none() {
            return Err(fail(
                FailureClass::Truncated,
                format!(
                    "the reply has no finish reason ({} chars)",
                    self.text.chars().count()
                ),
            ));
        }
        self.check_content()
    }

    fn check_content(&self) -> Result<(), Failure> {
        if self.text.trim().is_empty() {
            let why = self
                .finish_reason
                .as_deref()
                .map(|r| format!(" (finish_reason {r})"))
                .unwrap_or_default();
            return Err(fail(
                FailureClass::Empty,
                format!("the reply has no content{why}"),
            ));
        }
        if let Some(expect) = &self.req.expect {
            if !expect.is_match(&self.text) {
                return Err(fail(
                    FailureClass::WrongAnswer,
                    format!(
                        "the reply does not match /{}/: {:?}",
                        expect.as_str(),
                        short_message(&self.text, 80)
                    ),
                ));
            }
        }
        Ok(())
    }

    async fn error_response(&mut self, mut resp: reqwest::Response) -> Failure {
        let status = resp.status().as_u16();
        let retry = retry_after(resp.headers(), Utc::now());
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = Vec::new();
        let mut read = 0;
        // Status decides the class; the body only words the message, so a
        // body that stalls or breaks leaves us with what arrived.
        let deadline = self.total_at.min(Instant::now() + ERROR_BODY_WAIT);
        while let Ok(Some(bytes)) = self.next_chunk(&mut resp, deadline, &mut read).await {
            let room = ERROR_BODY_CAP.saturating_sub(body.len());
            body.extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
            if body.len() >= ERROR_BODY_CAP {
                break;
            }
        }
        let info = parse_error_body(&body, status);
        let class = classify_status(status, &info);
        let message = match (status, location) {
            (300..=399, Some(to)) => format!("redirected ({status}) to {to}; check base_url"),
            (300..=399, None) => format!("unexpected redirect ({status}); check base_url"),
            _ => info.display(),
        };
        Failure {
            class,
            message,
            retry_after: retry,
        }
    }

    fn deadline_failure(&self, deadline: Instant, detail: &str) -> Failure {
        let first_token_deadline = self.first_token.is_none()
            && deadline == self.first_token_at
            && self.first_token_at <= self.total_at;
        let message = if first_token_deadline {
            format!(
                "no first token within {} ({detail})",
                humantime::format_duration(self.deadlines.first_token)
            )
        } else {
            format!(
                "not done within {} ({detail})",
                humantime::format_duration(self.deadlines.total)
            )
        };
        fail(FailureClass::Timeout, message)
    }

    fn read_failure(&self, error: ReadError, deadline: Instant) -> Failure {
        match error {
            ReadError::Deadline => self.deadline_failure(deadline, &self.progress()),
            ReadError::Cap => self.cap_failure(),
            ReadError::Transport(e) => fail(
                FailureClass::Truncated,
                format!("the connection broke mid-reply: {}", innermost(&e)),
            ),
        }
    }

    /// How far the reply got, for timeout and truncation messages: "only
    /// keep-alive comments" tells a stalled upstream from a silent server.
    fn progress(&self) -> String {
        if !self.text.is_empty() {
            format!("{} chars received", self.text.chars().count())
        } else if self.events > 0 {
            format!("{} events, none with content", self.events)
        } else if self.comments > 0 {
            let s = if self.comments == 1 { "" } else { "s" };
            format!("only {} keep-alive comment{s}", self.comments)
        } else {
            "nothing received after the headers".to_string()
        }
    }

    fn cap_failure(&self) -> Failure {
        fail(
            FailureClass::Malformed,
            format!("reply exceeded the {} cap", human_bytes(self.reply_cap)),
        )
    }

    fn transport_failure(&self, client: &Client, e: &reqwest::Error) -> Failure {
        let cause = innermost(e);
        if e.is_timeout() {
            let within = humantime::format_duration(client.connect_timeout);
            return fail(
                FailureClass::Timeout,
                format!("could not connect within {within}: {cause}"),
            );
        }
        if e.is_builder() {
            return fail(
                FailureClass::BadRequest,
                format!("the request could not be built ({cause}); check base_url"),
            );
        }
        fail(FailureClass::Connect, cause)
    }

    fn into_attempt(
        self,
        started_at: chrono::DateTime<Utc>,
        end: Instant,
        failure: Option<Failure>,
        key: Option<&Secret>,
    ) -> Attempt {
        let key = key.map(Secret::expose);
        let latency = end.saturating_duration_since(self.t0);
        let streamed_ttft = self
            .first_token
            .map(|t| t.saturating_duration_since(self.t0));
        // A streamed reply's first token is when its first delta came; a
        // whole reply's is when it was complete.
        let ttft = match (streamed_ttft, self.events) {
            (Some(ttft), 1..) => Some(ttft),
            (Some(_), 0) => Some(latency),
            (None, _) => None,
        };
        let tokens_per_s = if failure.is_none() {
            tokens_per_s(
                &self.text,
                self.usage.completion_tokens,
                latency,
                ttft,
                self.events > 0,
            )
        } else {
            None
        };
        let scrub = |s: Option<String>| s.map(|s| scrub_key(&s, key));
        Attempt {
            started_at,
            failure: failure.map(|f| Failure {
                message: short_message(&scrub_key(&f.message, key), MESSAGE_CHARS),
                ..f
            }),
            http_status: self.status,
            latency,
            ttft,
            tokens_per_s,
            served_model: scrub(self.model),
            served_by: scrub(self.provider),
            fingerprint: scrub(self.fingerprint),
            usage: self.usage.to_usage(),
            reply: scrub_key(&self.text, key),
            finish_reason: scrub(self.finish_reason),
        }
    }
}

/// `start + d`, where an absurdly long `d` (a config saying "100 years")
/// means "no deadline" instead of an overflow panic.
fn deadline_after(start: Instant, d: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(365 * 86_400);
    start.checked_add(d.min(FAR)).unwrap_or(start)
}

/// Decode speed. Streamed: completion tokens over the time after the first
/// token (needs ≥ 2 tokens and ≥ 10 ms to mean anything). Whole replies
/// have no such split, so it is tokens over the whole latency (a lower
/// bound). Without a reported `completion_tokens`, tokens are estimated as
/// one per 4 characters.
fn tokens_per_s(
    text: &str,
    completion_tokens: Option<u64>,
    latency: Duration,
    ttft: Option<Duration>,
    streamed: bool,
) -> Option<f64> {
    let tokens = completion_tokens
        .filter(|&t| t > 0)
        .unwrap_or_else(|| (text.chars().count() as u64).div_ceil(4));
    let span = if streamed {
        latency.checked_sub(ttft?)?
    } else {
        latency
    };
    (tokens >= 2 && span >= Duration::from_millis(10)).then(|| tokens as f64 / span.as_secs_f64())
}

/// A JSON body may be preceded by keep-alive whitespace, and OpenRouter has
/// been seen sending `: OPENROUTER PROCESSING` lines there too.
fn strip_keepalive(text: &str) -> &str {
    let mut rest = text.trim_start();
    while rest.starts_with(':') {
        rest = rest
            .split_once('\n')
            .map(|(_, r)| r)
            .unwrap_or("")
            .trim_start();
    }
    rest.trim_end()
}

/// The most specific cause in an error chain ("Connection refused (os error 111)").
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn human_bytes(n: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= KIB && n.is_multiple_of(KIB) {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_prefix_is_stripped() {
        assert_eq!(strip_keepalive("\n\n  {\"a\":1}\n"), "{\"a\":1}");
        assert_eq!(strip_keepalive(": OPENROUTER PROCESSING\n\n{}"), "{}");
        assert_eq!(strip_keepalive(": x"), "");
        assert_eq!(strip_keepalive("   "), "");
    }

    #[test]
    fn bytes_in_words() {
        assert_eq!(human_bytes(4 * 1024 * 1024), "4 MiB");
        assert_eq!(human_bytes(2048), "2 KiB");
        assert_eq!(human_bytes(1000), "1000 bytes");
    }

    #[test]
    fn throughput() {
        let ms = Duration::from_millis;
        // 20 tokens over the 2 s after a 1 s first token.
        assert_eq!(
            tokens_per_s("", Some(20), ms(3000), Some(ms(1000)), true),
            Some(10.0)
        );
        // Estimated from 40 chars = 10 tokens, whole reply over 2 s.
        assert_eq!(
            tokens_per_s(&"x".repeat(40), None, ms(2000), Some(ms(2000)), false),
            Some(5.0)
        );
        // One token or no time after the first one: meaningless.
        assert_eq!(
            tokens_per_s("pong", Some(1), ms(3000), Some(ms(1000)), true),
            None
        );
        assert_eq!(
            tokens_per_s("", Some(5), ms(1000), Some(ms(1000)), true),
            None
        );
        assert_eq!(tokens_per_s("", Some(5), ms(1000), None, true), None);
    }
}
