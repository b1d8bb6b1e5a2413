//! Incremental Server-Sent Events framing (the WHATWG event-stream format),
//! tolerant of everything real servers do: `\r\n`, `\r` or `\n` line ends,
//! `data:` without the space, multi-line data, and reads that split the
//! stream anywhere — inside a line, inside a UTF-8 character, or between a
//! `\r` and its `\n`.
//!
//! The parser knows nothing about JSON or about `[DONE]`; the dialects do.
//! Comment lines are reported as [`SseItem::Comment`] so that a caller can
//! tell "the server is alive but has said nothing yet" from real events.

use thiserror::Error;

/// One dispatched event: the `event:` name (if any) and its `data:` lines
/// joined with `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

/// What the stream said, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    Event(SseEvent),
    /// A `:` line (keep-alive such as `: OPENROUTER PROCESSING`), without the colon.
    Comment(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SseError {
    #[error("a server-sent event exceeded {max} bytes; the stream is not a sane event stream (raise the reply cap if the replies are really this long)")]
    EventTooLarge { max: usize },
}

/// Feed it bytes as they arrive; it returns what became complete.
#[derive(Debug)]
pub struct SseParser {
    max_event_bytes: usize,
    /// The current, not yet terminated line.
    line: Vec<u8>,
    /// The previous byte ended a line with `\r`: a following `\n` belongs to it.
    after_cr: bool,
    data: String,
    has_data: bool,
    event: Option<String>,
    failed: bool,
}

impl SseParser {
    /// `max_event_bytes` bounds one event (its data plus the line being read),
    /// so a server that never sends a line end cannot grow memory without end.
    pub fn new(max_event_bytes: usize) -> Self {
        SseParser {
            max_event_bytes,
            line: Vec::new(),
            after_cr: false,
            data: String::new(),
            has_data: false,
            event: None,
            failed: false,
        }
    }

    /// Parses `bytes`, appending every completed item to `out`. After an
    /// error the parser stays failed: the stream cannot be trusted anymore.
    pub fn feed_into(&mut self, bytes: &[u8], out: &mut Vec<SseItem>) -> Result<(), SseError> {
        if self.failed {
            return Err(self.too_large());
        }
        let mut rest = bytes;
        while let Some((&first, tail)) = rest.split_first() {
            if self.after_cr {
                self.after_cr = false;
                if first == b'\n' {
                    rest = tail;
                    continue;
                }
            }
            // Take everything up to the next line end in one go.
            match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(end) => {
                    self.push_line_bytes(rest.get(..end).unwrap_or_default())?;
                    self.after_cr = rest.get(end) == Some(&b'\r');
                    self.end_line(out);
                    rest = rest.get(end + 1..).unwrap_or_default();
                }
                None => {
                    self.push_line_bytes(rest)?;
                    rest = &[];
                }
            }
        }
        Ok(())
    }

    /// Convenience form of [`SseParser::feed_into`].
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<SseItem>, SseError> {
        let mut out = Vec::new();
        self.feed_into(bytes, &mut out)?;
        Ok(out)
    }

    /// The stream ended. Strictly, an event not closed by a blank line is
    /// dropped; we are lenient and dispatch it (servers that close right
    /// after `data: [DONE]` exist). The caller must treat an event from
    /// here that does not parse as a cut-off stream, not a malformed one.
    pub fn finish(&mut self) -> Result<Vec<SseItem>, SseError> {
        if self.failed {
            return Err(self.too_large());
        }
        let mut out = Vec::new();
        if !self.line.is_empty() {
            self.end_line(&mut out);
        }
        self.dispatch(&mut out);
        Ok(out)
    }

    fn too_large(&self) -> SseError {
        SseError::EventTooLarge {
            max: self.max_event_bytes,
        }
    }

    fn push_line_bytes(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.data.len() + self.line.len() + bytes.len() > self.max_event_bytes {
            self.failed = true;
            self.line.clear();
            self.data.clear();
            return Err(self.too_large());
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn end_line(&mut self, out: &mut Vec<SseItem>) {
        let raw = std::mem::take(&mut self.line);
        if raw.is_empty() {
            self.dispatch(out);
            return;
        }
        // Line ends are ASCII, so a complete line never splits a UTF-8
        // character: converting here is exact for valid input.
        let line = String::from_utf8_lossy(&raw);
        if let Some(comment) = line.strip_prefix(':') {
            out.push(SseItem::Comment(comment.trim_start().to_string()));
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_string()),
            // `id` and `retry` matter for browser reconnection only; unknown
            // fields are ignored by the spec.
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseItem>) {
        let event = self.event.take();
        if self.has_data {
            self.has_data = false;
            out.push(SseItem::Event(SseEvent {
                event: event.filter(|e| !e.is_empty()),
                data: std::mem::take(&mut self.data),
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_all(input: &[u8]) -> Vec<SseItem> {
        let mut p = SseParser::new(1 << 20);
        let mut items = p.feed(input).unwrap();
        items.extend(p.finish().unwrap());
        items
    }

    fn ev(data: &str) -> SseItem {
        SseItem::Event(SseEvent {
            event: None,
            data: data.to_string(),
        })
    }

    #[test]
    fn lf_events() {
        assert_eq!(parse_all(b"data: a\n\ndata: b\n\n"), vec![ev("a"), ev("b")]);
    }

    #[test]
    fn crlf_events() {
        assert_eq!(
            parse_all(b"data: a\r\n\r\ndata: b\r\n\r\n"),
            vec![ev("a"), ev("b")]
        );
    }

    #[test]
    fn lone_cr_events() {
        assert_eq!(parse_all(b"data: a\r\rdata: b\r\r"), vec![ev("a"), ev("b")]);
    }

    #[test]
    fn data_without_space_and_with_two_spaces() {
        // Only one leading space is part of the syntax.
        assert_eq!(
            parse_all(b"data:a\n\ndata:  b\n\n"),
            vec![ev("a"), ev(" b")]
        );
    }

    #[test]
    fn multi_line_data_joined_with_newline() {
        assert_eq!(parse_all(b"data: a\ndata: b\n\n"), vec![ev("a\nb")]);
    }

    #[test]
    fn comments_are_reported_apart() {
        assert_eq!(
            parse_all(b": OPENROUTER PROCESSING\n\n:\n\ndata: x\n\n"),
            vec![
                SseItem::Comment("OPENROUTER PROCESSING".into()),
                SseItem::Comment(String::new()),
                ev("x")
            ]
        );
    }

    #[test]
    fn named_events() {
        assert_eq!(
            parse_all(b"event: ping\ndata: {}\n\nevent: message_stop\ndata: {\"a\":1}\n\n"),
            vec![
                SseItem::Event(SseEvent {
                    event: Some("ping".into()),
                    data: "{}".into()
                }),
                SseItem::Event(SseEvent {
                    event: Some("message_stop".into()),
                    data: "{\"a\":1}".into()
                }),
            ]
        );
    }

    #[test]
    fn an_empty_event_name_is_no_name() {
        // `event:` with nothing after it is the default event, as if absent.
        assert_eq!(parse_all(b"event:\ndata: x\n\n"), vec![ev("x")]);
        assert_eq!(parse_all(b"event: \ndata: x\n\n"), vec![ev("x")]);
    }

    #[test]
    fn event_without_data_is_not_dispatched_and_name_does_not_leak() {
        assert_eq!(parse_all(b"event: ping\n\ndata: x\n\n"), vec![ev("x")]);
    }

    #[test]
    fn id_retry_and_unknown_fields_ignored() {
        assert_eq!(
            parse_all(b"id: 7\nretry: 10\nfoo\ndata: x\n\n"),
            vec![ev("x")]
        );
    }

    #[test]
    fn split_between_cr_and_lf() {
        let mut p = SseParser::new(1024);
        let mut items = p.feed(b"data: a\r").unwrap();
        items.extend(p.feed(b"\n\r").unwrap());
        items.extend(p.feed(b"\ndata: b\r\n\r\n").unwrap());
        assert_eq!(items, vec![ev("a"), ev("b")]);
    }

    #[test]
    fn split_inside_utf8_char() {
        let text = "data: héllo ✓\n\n".as_bytes();
        let cut = text.iter().position(|&b| b == 0xC3).unwrap() + 1;
        let mut p = SseParser::new(1024);
        let mut items = p.feed(&text[..cut]).unwrap();
        assert!(items.is_empty());
        items.extend(p.feed(&text[cut..]).unwrap());
        assert_eq!(items, vec![ev("héllo ✓")]);
    }

    #[test]
    fn split_inside_field_name() {
        let mut p = SseParser::new(1024);
        let mut items = p.feed(b"da").unwrap();
        items.extend(p.feed(b"ta: x\n").unwrap());
        assert!(items.is_empty(), "no blank line yet");
        items.extend(p.feed(b"\n").unwrap());
        assert_eq!(items, vec![ev("x")]);
    }

    #[test]
    fn finish_dispatches_unterminated_event() {
        let mut p = SseParser::new(1024);
        assert!(p.feed(b"data: [DONE]").unwrap().is_empty());
        assert_eq!(p.finish().unwrap(), vec![ev("[DONE]")]);
    }

    #[test]
    fn finish_on_clean_end_is_empty() {
        let mut p = SseParser::new(1024);
        p.feed(b"data: x\n\n").unwrap();
        assert!(p.finish().unwrap().is_empty());
    }

    #[test]
    fn oversize_event_is_an_error_and_sticks() {
        let mut p = SseParser::new(16);
        assert!(p.feed(b"data: 0123456789").is_ok());
        assert_eq!(p.feed(b"abcdef"), Err(SseError::EventTooLarge { max: 16 }));
        assert!(p.feed(b"\n\n").is_err());
        assert!(p.finish().is_err());
    }

    #[test]
    fn the_cap_holds_however_the_bytes_arrive() {
        // Exactly the cap is fine, one byte more is not, a byte at a time
        // as in one read.
        let line = b"data: 0123456789x";
        let mut p = SseParser::new(16);
        for (i, b) in line.iter().enumerate() {
            let fed = p.feed(std::slice::from_ref(b));
            assert_eq!(fed.is_err(), i == 16, "byte {i}");
        }
        let mut p = SseParser::new(16);
        assert!(p.feed(&line[..16]).is_ok());
        assert!(p.feed(&line[16..]).is_err());
    }

    #[test]
    fn oversize_across_data_lines() {
        let mut p = SseParser::new(16);
        assert!(p.feed(b"data: 01234567\ndata: 89abcdef\n").is_err());
    }

    #[test]
    fn many_small_events_within_limit_are_fine() {
        let mut p = SseParser::new(16);
        let input = b"data: 0123456789\n\n".repeat(100);
        assert_eq!(p.feed(&input).unwrap().len(), 100);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        assert_eq!(parse_all(b"data: a\xffb\n\n"), vec![ev("a\u{fffd}b")]);
    }

    fn line_end() -> impl Strategy<Value = &'static str> {
        prop_oneof![Just("\n"), Just("\r\n"), Just("\r")]
    }

    fn stream() -> impl Strategy<Value = Vec<u8>> {
        let line = prop_oneof![
            "[a-zA-Z0-9 {}\":,éü✓]{0,12}".prop_map(|s| format!("data: {s}")),
            "[a-z0-9]{0,8}".prop_map(|s| format!("data:{s}")),
            "[a-z ]{0,10}".prop_map(|s| format!(":{s}")),
            "[a-z_]{1,8}".prop_map(|s| format!("event: {s}")),
            Just(String::new()),
        ];
        prop::collection::vec((line, line_end()), 0..30).prop_map(|lines| {
            let mut out = String::new();
            for (l, end) in lines {
                out.push_str(&l);
                out.push_str(end);
            }
            out.into_bytes()
        })
    }

    proptest! {
        #[test]
        fn splitting_anywhere_gives_the_same_items(
            input in stream(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let whole = parse_all(&input);
            let mut positions: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
            positions.sort_unstable();
            let mut p = SseParser::new(1 << 20);
            let mut items = Vec::new();
            let mut start = 0;
            for pos in positions {
                p.feed_into(&input[start..pos], &mut items).unwrap();
                start = pos;
            }
            p.feed_into(&input[start..], &mut items).unwrap();
            items.extend(p.finish().unwrap());
            prop_assert_eq!(items, whole);
        }

        #[test]
        fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..400), max in 1usize..64) {
            let mut p = SseParser::new(max);
            let _ = p.feed(&input);
            let _ = p.finish();
        }
    }
}
