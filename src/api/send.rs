//! Sending one request and reading its response within the deadlines and
//! the size cap: the HTTP request as the dialect writes it, the response
//! head, whole bodies, error responses, and the failure for each way the
//! transport can break. Streams are read in `stream.rs`; what the reply
//! says is assembled in `reply.rs`.

use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use reqwest::header::{HeaderValue, CONTENT_TYPE, LOCATION};
use tokio::time::{timeout_at, Instant};

use super::classify::{classify_status, parse_error_body, refused_limit, retry_after};
use super::dialect::Wire;
use super::reply::{parse_whole, Assembly};
use super::request::{ChatRequest, Deadlines, TapEvent, Target, TokenParam};
use super::{Dialect, Failure, FailureClass};

/// Error bodies are read only this far: the message is all we want of them.
const ERROR_BODY_CAP: usize = 64 * 1024;
/// ... and waited for only this long: the status has already decided the class.
const ERROR_BODY_WAIT: Duration = Duration::from_secs(2);

/// One attempt while it runs: its deadlines, what the transport has seen,
/// and the reply assembled so far.
pub(super) struct Run<'a> {
    pub(super) first_token_at: Instant,
    pub(super) total_at: Instant,
    deadlines: Deadlines,
    pub(super) reply_cap: usize,
    /// Bounds the wait for a connection, for the message when it runs out.
    connect_timeout: Duration,
    pub(super) wire: &'static dyn Wire,
    pub(super) status: Option<u16>,
    /// A stream that gave its finish reason but then neither its end marker
    /// nor EOF within the grace is complete as of the finish reason.
    pub(super) finished_at: Option<Instant>,
    pub(super) reply: Assembly<'a>,
    /// The field the output limit is sent in.
    pub(super) limit: TokenParam,
    /// A 400 refused the output-limit field sent: the client retries once
    /// with the other.
    pub(super) refused: Option<TokenParam>,
}

/// Why reading the body stopped early.
pub(super) enum ReadError {
    Deadline,
    Cap,
    Transport(reqwest::Error),
}

impl<'a> Run<'a> {
    pub(super) fn new(
        t0: Instant,
        deadlines: Deadlines,
        reply_cap: usize,
        connect_timeout: Duration,
        dialect: Dialect,
        limit: TokenParam,
        reply: Assembly<'a>,
    ) -> Self {
        Run {
            first_token_at: deadline_after(t0, deadlines.first_token),
            total_at: deadline_after(t0, deadlines.total),
            deadlines,
            reply_cap,
            connect_timeout,
            wire: dialect.wire(),
            status: None,
            finished_at: None,
            reply,
            limit,
            refused: None,
        }
    }

    /// Sends the request and reads the reply to its end: `Ok` is a success.
    pub(super) async fn execute(
        &mut self,
        http: &reqwest::Client,
        target: &Target,
        req: &ChatRequest,
    ) -> Result<(), Failure> {
        let base = target.base_url.trim_end_matches('/');
        let url = format!("{base}{}", self.wire.path());
        let body = self
            .wire
            .body(target, req, self.limit)
            .map_err(|why| Failure::new(FailureClass::BadRequest, why))?;
        let mut request = http.post(url).json(&body);
        if let Some(key) = &target.api_key {
            let (name, value) = self.wire.auth_header(key.expose());
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                Failure::new(
                    FailureClass::Auth,
                    "the API key contains characters not allowed in an HTTP header; check the key variable",
                )
            })?;
            value.set_sensitive(true);
            request = request.header(name, value);
        }
        for (name, value) in self.wire.fixed_headers() {
            request = request.header(*name, *value);
        }
        if req.stream {
            request = request.header("accept", "text/event-stream");
        }

        let head_deadline = self.first_token_at.min(self.total_at);
        let mut resp = match timeout_at(head_deadline, request.send()).await {
            Err(_) => return Err(self.deadline_failure(head_deadline, "no response yet")),
            Ok(Err(e)) => return Err(self.transport_failure(&e)),
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
            req.stream
        };
        if sse {
            self.read_stream(&mut resp).await
        } else {
            let body = self.read_all(&mut resp, Vec::new()).await?;
            self.finish_whole(&body)
        }
    }

    /// The next chunk of the body before `deadline`, counting `read` bytes
    /// against the cap.
    pub(super) async fn next_chunk(
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
    pub(super) async fn read_all(
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

    /// A whole body is the reply.
    pub(super) fn finish_whole(&mut self, body: &[u8]) -> Result<(), Failure> {
        let piece = parse_whole(body, self.status.unwrap_or(200), self.wire)?;
        if piece.error.is_none() {
            self.reply
                .tap(TapEvent::Whole(String::from_utf8_lossy(body).into_owned()));
        }
        self.reply.finish_whole(piece)
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
        self.refused = refused_limit(status, &info);
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

    /// When a stream that last produced a token at `last` has stalled.
    pub(super) fn stall_at(&self, last: Instant) -> Option<Instant> {
        self.deadlines.stall.and_then(|d| last.checked_add(d))
    }

    fn deadline_failure(&self, deadline: Instant, detail: &str) -> Failure {
        let first_token_deadline = self.reply.first_token.is_none()
            && deadline == self.first_token_at
            && self.first_token_at <= self.total_at;
        let stalled = self
            .reply
            .last_token
            .and_then(|last| self.stall_at(last))
            .is_some_and(|stall| stall == deadline && stall < self.total_at);
        let message = if first_token_deadline {
            format!(
                "no first token within {} ({detail})",
                humantime::format_duration(self.deadlines.first_token)
            )
        } else if stalled {
            format!(
                "stalled: no token for {} ({detail})",
                humantime::format_duration(self.deadlines.stall.unwrap_or_default())
            )
        } else {
            format!(
                "not done within {} ({detail})",
                humantime::format_duration(self.deadlines.total)
            )
        };
        Failure::new(FailureClass::Timeout, message)
    }

    pub(super) fn read_failure(&self, error: ReadError, deadline: Instant) -> Failure {
        match error {
            ReadError::Deadline => self.deadline_failure(deadline, &self.reply.progress()),
            ReadError::Cap => self.cap_failure(),
            ReadError::Transport(e) => Failure::new(
                FailureClass::Truncated,
                format!("the connection broke mid-reply: {}", innermost(&e)),
            ),
        }
    }

    pub(super) fn cap_failure(&self) -> Failure {
        Failure::new(
            FailureClass::Malformed,
            format!("reply exceeded the {} cap", human_bytes(self.reply_cap)),
        )
    }

    fn transport_failure(&self, e: &reqwest::Error) -> Failure {
        let cause = innermost(e);
        if e.is_timeout() {
            let within = humantime::format_duration(self.connect_timeout);
            return Failure::new(
                FailureClass::Timeout,
                format!("could not connect within {within}: {cause}"),
            );
        }
        if e.is_builder() {
            return Failure::new(
                FailureClass::BadRequest,
                format!("the request could not be built ({cause}); check base_url"),
            );
        }
        Failure::new(FailureClass::Connect, cause)
    }
}

/// `start + d`, where an absurdly long `d` (a config saying "100 years")
/// means "no deadline" instead of an overflow panic.
fn deadline_after(start: Instant, d: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(365 * 86_400);
    start.checked_add(d.min(FAR)).unwrap_or(start)
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
    fn bytes_in_words() {
        assert_eq!(human_bytes(4 * 1024 * 1024), "4 MiB");
        assert_eq!(human_bytes(2048), "2 KiB");
        assert_eq!(human_bytes(1000), "1000 bytes");
    }
}
