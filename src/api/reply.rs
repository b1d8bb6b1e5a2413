//! Reply assembly: the pieces a dialect parsed out of a body or a stream
//! are folded into one reply here, checked the way every complete reply is
//! (a finish reason, some content, the `expect` pattern), and turned into
//! the [`Attempt`] with its timings. Nothing here touches the network.

use std::time::Duration;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

use super::classify::{classify_in_band, describe_html, looks_like_html, MESSAGE_KEEP_CHARS};
use super::dialect::Wire;
use super::mask::{scrub_key, short_message, KeyMask, KeyStream};
use super::piece::{Piece, UsageParts};
use super::request::{ChatRequest, TapEvent, Tapped, Target};
use super::{Attempt, Failure, FailureClass, Secret};

/// What the reply has said so far.
pub(super) struct Assembly<'a> {
    /// When the request started: timings are measured from here.
    t0: Instant,
    deltas: Option<&'a UnboundedSender<String>>,
    /// The key kept out of the deltas as they stream (see `KeyStream`).
    mask: Option<KeyStream>,
    /// A client's request carried through: every event goes here too.
    tap: Option<Tap>,
    expect: Option<&'a Regex>,
    /// The output limit asked for, for the `budget` message.
    max_tokens: u32,
    pub(super) text: String,
    /// The first token of any kind, reasoning included: proof of life.
    pub(super) first_token: Option<Instant>,
    /// The first content token: the answer itself began. A tool call is
    /// content too: it is what a client's request with tools asked for.
    pub(super) first_content: Option<Instant>,
    /// The reply called a tool: content, even without text.
    tool_call: bool,
    /// The latest token of any kind: the stall clock runs from here.
    pub(super) last_token: Option<Instant>,
    /// Reasoning text received (counted, not kept: it can be long).
    reasoning_chars: usize,
    finish_reason: Option<String>,
    /// When the finish reason came: a stream may still owe the usage chunk
    /// and its end marker after it.
    pub(super) finish_seen: Option<Instant>,
    model: Option<String>,
    provider: Option<String>,
    fingerprint: Option<String>,
    usage: UsageParts,
    /// `[DONE]` / `message_stop` seen.
    pub(super) done: bool,
    /// Stream comments and events seen: how far a silent reply got.
    pub(super) comments: usize,
    pub(super) events: usize,
}

impl<'a> Assembly<'a> {
    pub(super) fn new(
        t0: Instant,
        req: &'a ChatRequest,
        deltas: Option<&'a UnboundedSender<String>>,
    ) -> Self {
        Assembly {
            t0,
            deltas,
            mask: None,
            tap: None,
            expect: req.expect.as_ref(),
            max_tokens: req.max_tokens,
            text: String::new(),
            first_token: None,
            first_content: None,
            tool_call: false,
            last_token: None,
            reasoning_chars: 0,
            finish_reason: None,
            finish_seen: None,
            model: None,
            provider: None,
            fingerprint: None,
            usage: UsageParts::default(),
            done: false,
            comments: 0,
            events: 0,
        }
    }

    /// Masks `key` in the deltas as they are passed on.
    pub(super) fn with_key(mut self, key: Option<&Secret>) -> Self {
        self.mask = key
            .and_then(|k| KeyMask::new(k.expose()))
            .map(KeyStream::new);
        self
    }

    /// Taps every event for the client whose request this carries through.
    pub(super) fn with_tap(mut self, req: &ChatRequest, target: &Target) -> Self {
        self.tap = req
            .passthrough
            .as_ref()
            .and_then(|p| p.tap.clone())
            .map(|tx| Tap {
                tx,
                key: target.tap_key(),
                dialect: target.dialect,
                secret: target.api_key.clone(),
            });
        self
    }

    /// Passes what the provider sent on to the tap, the key masked.
    pub(super) fn tap(&self, event: TapEvent) {
        let Some(tap) = &self.tap else {
            return;
        };
        let key = tap.secret.as_ref().map(Secret::expose);
        let event = match event {
            TapEvent::Event { name, data } => TapEvent::Event {
                name,
                data: scrub_key(&data, key),
            },
            TapEvent::Whole(body) => TapEvent::Whole(scrub_key(&body, key)),
        };
        // Nobody relaying any more only means the client went away.
        let _ = tap.tx.send(Tapped {
            key: tap.key.clone(),
            dialect: tap.dialect,
            event,
        });
    }

    /// Folds a piece into the reply; an error in it ends the attempt, keeping
    /// the text received so far.
    pub(super) fn absorb(&mut self, piece: Piece) -> Result<(), Failure> {
        if piece.tool_call && !self.tool_call {
            self.tool_call = true;
            self.first_content.get_or_insert_with(Instant::now);
            // The first token of the answer for the race: a tool call wins
            // it as content does.
            if let Some(tx) = self.deltas.filter(|_| piece.text.is_empty()) {
                let _ = tx.send(String::new());
            }
        }
        if piece.has_token() {
            let now = Instant::now();
            self.first_token.get_or_insert(now);
            self.last_token = Some(now);
            self.reasoning_chars += piece.reasoning.chars().count();
        }
        if !piece.text.is_empty() {
            self.first_content.get_or_insert_with(Instant::now);
            // Only content goes to the caller: reasoning is proof of life,
            // not an answer (a race is won by the first content token).
            if let Some(tx) = self.deltas {
                // Sent even when the mask holds it all back for now: the
                // first delta is the router's first token.
                let shown = match &mut self.mask {
                    Some(mask) => mask.push(&piece.text),
                    None => piece.text.clone(),
                };
                // A receiver that went away only means nobody is watching.
                let _ = tx.send(shown);
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
            return Err(Failure::new(classify_in_band(&error), error.display()));
        }
        if self.finish_reason.as_deref() == Some("error") {
            return Err(Failure::new(
                FailureClass::ProviderError,
                "finish_reason \"error\" without an error message",
            ));
        }
        // OpenAI's content filter (`content_filter`) and Anthropic's
        // streaming classifier (`refusal`) end the reply on purpose: the
        // prompt was refused, whatever text came before.
        if let Some(reason @ ("content_filter" | "refusal")) = self.finish_reason.as_deref() {
            return Err(Failure::new(
                FailureClass::Refused,
                format!("the provider's content policy stopped the reply (finish_reason {reason})"),
            ));
        }
        Ok(())
    }

    /// A stream is over: it must have said it was done.
    pub(super) fn finish_stream(&self) -> Result<(), Failure> {
        if !self.done && self.finish_reason.is_none() {
            return Err(Failure::new(
                FailureClass::Truncated,
                format!(
                    "the stream ended without a finish reason or end marker ({})",
                    self.progress()
                ),
            ));
        }
        self.check_content()
    }

    /// A whole reply, parsed by [`parse_whole`], is the reply.
    pub(super) fn finish_whole(&mut self, piece: Piece) -> Result<(), Failure> {
        // The whole reply is one delta; an error reply is not content.
        if let Some(error) = &piece.error {
            self.model = piece.model;
            self.provider = piece.provider;
            return Err(Failure::new(classify_in_band(error), error.display()));
        }
        self.absorb(piece)?;
        // OpenRouter always names a finish reason; a whole reply without one
        // was cut upstream (its text may still look plausible).
        if self.finish_reason.is_none() {
            return Err(Failure::new(
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
        if self.tool_call && self.text.trim().is_empty() {
            return Ok(());
        }
        if self.text.trim().is_empty() && self.stopped_at_the_limit() {
            let spent = match (self.usage.reasoning_tokens, self.reasoning_chars) {
                (Some(n), _) => format!("{n} reasoning tokens"),
                (None, 1..) => "all of it reasoning".to_string(),
                (None, 0) => "none of it visible".to_string(),
            };
            return Err(Failure::new(
                FailureClass::Budget,
                format!(
                    "the reply stopped at max_tokens ({}) before any content ({spent})",
                    self.max_tokens
                ),
            ));
        }
        if self.text.trim().is_empty() {
            let why = self
                .finish_reason
                .as_deref()
                .map(|r| format!(" (finish_reason {r})"))
                .unwrap_or_default();
            return Err(Failure::new(
                FailureClass::Empty,
                format!("the reply has no content{why}"),
            ));
        }
        if let Some(expect) = self.expect {
            if !expect.is_match(&self.text) {
                return Err(Failure::new(
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

    /// The finish reason says the output limit ended the reply, in any
    /// dialect's words (Gemini's native reason is `MAX_TOKENS`).
    fn stopped_at_the_limit(&self) -> bool {
        self.finish_reason
            .as_deref()
            .is_some_and(|r| matches!(r.to_ascii_lowercase().as_str(), "length" | "max_tokens"))
    }

    /// How far the reply got, for timeout and truncation messages: "only
    /// keep-alive comments" tells a stalled upstream from a silent server.
    pub(super) fn progress(&self) -> String {
        if !self.text.is_empty() {
            format!("{} chars received", self.text.chars().count())
        } else if self.reasoning_chars > 0 || self.first_token.is_some() {
            format!(
                "only reasoning so far ({} chars), no content",
                self.reasoning_chars
            )
        } else if self.events > 0 {
            format!("{} events, none with content", self.events)
        } else if self.comments > 0 {
            let s = if self.comments == 1 { "" } else { "s" };
            format!("only {} keep-alive comment{s}", self.comments)
        } else {
            "nothing received after the headers".to_string()
        }
    }

    /// The attempt as it ended at `end`. Everything the provider sent back
    /// is scrubbed of `key`, and the failure message is cut short.
    pub(super) fn into_attempt(
        mut self,
        started_at: DateTime<Utc>,
        end: Instant,
        http_status: Option<u16>,
        failure: Option<Failure>,
        key: Option<&Secret>,
    ) -> Attempt {
        // What the stream mask still held goes out before the attempt ends.
        if let (Some(tx), Some(mask)) = (self.deltas, &mut self.mask) {
            let rest = mask.finish();
            if !rest.is_empty() {
                let _ = tx.send(rest);
            }
        }
        let key = key.map(Secret::expose);
        let latency = end.saturating_duration_since(self.t0);
        // A streamed reply's first token is when its first delta came; a
        // whole reply's is when it was complete.
        let since_start = |at: Option<Instant>| match (at, self.events) {
            (Some(at), 1..) => Some(at.saturating_duration_since(self.t0)),
            (Some(_), 0) => Some(latency),
            (None, _) => None,
        };
        let ttft = since_start(self.first_token);
        let ttfc = since_start(self.first_content);
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
                message: short_message(&scrub_key(&f.message, key), MESSAGE_KEEP_CHARS),
                ..f
            }),
            http_status,
            latency,
            ttft,
            ttfc,
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

/// Where a carried-through request's events go.
struct Tap {
    tx: UnboundedSender<Tapped>,
    key: String,
    dialect: super::Dialect,
    secret: Option<Secret>,
}

/// A whole body (not a stream) as the dialect's piece. `status` words the
/// messages of bodies that are not the JSON they should be.
pub(super) fn parse_whole(body: &[u8], status: u16, wire: &dyn Wire) -> Result<Piece, Failure> {
    let text = String::from_utf8_lossy(body);
    let json_text = strip_keepalive(&text);
    if json_text.is_empty() {
        return Err(Failure::new(
            FailureClass::Malformed,
            format!("HTTP {status} with an empty body where a reply was expected"),
        ));
    }
    let json: Value = match serde_json::from_str(json_text) {
        Ok(json) => json,
        Err(_) if looks_like_html(json_text) => {
            return Err(Failure::new(
                FailureClass::Malformed,
                describe_html(json_text, status).replacen(
                    "HTML error page",
                    "HTML page instead of JSON",
                    1,
                ),
            ))
        }
        Err(e) => {
            return Err(Failure::new(
                FailureClass::Malformed,
                format!("the reply is not JSON ({e}): {json_text}"),
            ))
        }
    };
    wire.parse_reply(&json)
        .map_err(|message| Failure::new(FailureClass::Malformed, message))
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
