//! Reading a streamed reply: SSE framing, the deadline that applies at
//! each moment (first token, total, the grace after the finish reason),
//! a JSON or HTML body where a stream was expected, and each event handed
//! to the dialect's parser.

use std::time::Duration;

use tokio::time::Instant;

use super::classify::{classify_in_band, parse_error_body};
use super::request::TapEvent;
use super::send::{ReadError, Run};
use super::sse::{SseItem, SseParser};
use super::{Failure, FailureClass};

/// How long a stream may stay open after its finish reason, waiting for
/// the usage chunk and `[DONE]`, before we take the answer as complete.
const AFTER_FINISH_GRACE: Duration = Duration::from_secs(2);

impl Run<'_> {
    pub(super) async fn read_stream(
        &mut self,
        resp: &mut reqwest::Response,
    ) -> Result<(), Failure> {
        let mut parser = SseParser::new(self.reply_cap);
        let mut items = Vec::new();
        let mut read = 0;
        // Until the first non-blank byte: a JSON or HTML body where a stream
        // was expected is parsed as a body, not as an (empty) event stream.
        let mut sniffing = true;
        loop {
            let deadline = self.stream_deadline();
            let bytes = match self.next_chunk(resp, deadline, &mut read).await {
                Ok(Some(bytes)) => bytes,
                Ok(None) => break,
                Err(ReadError::Deadline) if self.reply.finish_seen.is_some() => {
                    // The answer is complete; only the usage chunk or the
                    // end marker is missing. Not a timeout.
                    self.finished_at = self.reply.finish_seen;
                    return self.reply.finish_stream();
                }
                Err(e) => return Err(self.read_failure(e, deadline)),
            };
            if sniffing {
                match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
                    Some(b'{' | b'[' | b'<') => {
                        let body = self.read_all(resp, bytes.to_vec()).await?;
                        return self.finish_whole(&body);
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
                    return self.reply.finish_stream();
                }
            }
        }
        // A last event without its blank line is cut off if it does not parse.
        for item in parser.finish().map_err(|_| self.cap_failure())? {
            if self.on_item(item, true)? {
                break;
            }
        }
        self.reply.finish_stream()
    }

    /// Before the first token (of any kind: reasoning counts) its deadline
    /// holds; after it, the stall deadline from the latest token; after the
    /// finish reason, only a short grace for the usage chunk and the end
    /// marker. The total deadline always.
    fn stream_deadline(&self) -> Instant {
        if let Some(finish) = self.reply.finish_seen {
            self.total_at.min(finish + AFTER_FINISH_GRACE)
        } else if let Some(last) = self.reply.last_token {
            match self.stall_at(last) {
                Some(stall) => self.total_at.min(stall),
                None => self.total_at,
            }
        } else {
            self.first_token_at.min(self.total_at)
        }
    }

    /// Handles one stream item; `Ok(true)` when the stream is complete.
    fn on_item(&mut self, item: SseItem, at_eof: bool) -> Result<bool, Failure> {
        let event = match item {
            SseItem::Comment(_) => {
                self.reply.comments += 1;
                return Ok(false);
            }
            SseItem::Event(event) => event,
        };
        self.reply.events += 1;
        // A named `error` event is an error whatever its payload looks like
        // (some OpenAI-compatible servers send `{"message": ...}` or plain text).
        if event.event.as_deref() == Some("error") {
            let info = parse_error_body(event.data.as_bytes(), self.status.unwrap_or(200));
            return Err(Failure::new(classify_in_band(&info), info.display()));
        }
        let piece = match self.wire.parse_event(event.event.as_deref(), &event.data) {
            Ok(piece) => piece,
            Err(_) if at_eof => return Ok(false),
            Err(message) => return Err(Failure::new(FailureClass::Malformed, message)),
        };
        let done = piece.done;
        // Tapped before it is absorbed: the tap holds it when the router
        // hears of its first token.
        self.reply.tap(TapEvent::Event {
            name: event.event,
            data: event.data,
        });
        self.reply.absorb(piece)?;
        Ok(done)
    }
}
