//! The fault dispatch both dialects share: what each failure class does on
//! the wire (when to hang, cut, drip, trickle or answer with a status), in
//! one place. What the bytes look like is the dialect's, through [`Wire`].

use std::time::Duration;

use axum::http::StatusCode;
use bytes::Bytes;

use super::body::Step;
use super::decide::Outcome;
use super::reply::{filler, html_page, Reply, HTML, JSON, SSE};
use super::scenario::{Fault, FaultKind, Variant};
use crate::api::FailureClass as C;

/// What one dialect's replies, streams and errors look like. Finish
/// reasons are given in OpenAI's words (`stop`, `length`); a dialect with
/// its own words translates them.
pub(super) trait Wire: Sync {
    /// Whether a non-streamed reply of a `keepalive` model is preceded by
    /// whitespace while the model thinks (OpenRouter does this).
    fn pads_json(&self) -> bool;
    /// What a stream sends while the model thinks.
    fn keepalive(&self) -> Bytes;
    /// A whole reply saying `text`.
    fn whole(&self, o: &Outcome, text: &str, finish: Option<&str>) -> Bytes;
    /// A stream up to its first token, thinking for `o.ttft`.
    fn opening(&self, o: &Outcome, every: Duration) -> Vec<Step>;
    /// One piece of reasoning streamed; `first` opens the reasoning.
    fn reasoning(&self, o: &Outcome, text: &str, first: bool) -> Bytes;
    /// What closes the reasoning before the content starts.
    fn reasoning_end(&self, o: &Outcome, steps: &mut Vec<Step>);
    /// What opens the content after the opening and any reasoning.
    fn content_start(&self, o: &Outcome, steps: &mut Vec<Step>);
    /// One content delta, or `None` when this one would say nothing.
    fn delta(&self, o: &Outcome, text: &str, first: bool) -> Option<Bytes>;
    /// The end of a stream that finished for `finish`.
    fn closing(&self, o: &Outcome, finish: &str, steps: &mut Vec<Step>);
    /// The status and body of an error response for `class`.
    fn status_error(&self, o: &Outcome, f: &Fault, class: C) -> (u16, Bytes);
    /// Rate-limit headers besides `retry-after`, for a wait of `wait`.
    fn rate_limit_headers(&self, o: &Outcome, wait: Duration) -> Vec<(&'static str, String)>;
    /// The title of an HTML error page with `status`.
    fn html_title(&self, status: u16) -> &'static str;
    /// `provider_error`: a whole reply that carries the error.
    fn provider_error_body(&self, o: &Outcome, f: &Fault) -> Bytes;
    /// `provider_error`: the stream event that carries the error.
    fn provider_error_event(&self, o: &Outcome, f: &Fault) -> Bytes;
    /// `malformed`: an HTML page with status 200 where JSON was due.
    fn challenge_page(&self) -> Bytes;
    /// `malformed`: one stream event cut inside its JSON.
    fn broken_event(&self, o: &Outcome) -> Bytes;
    /// `malformed`: the broken end of a stream.
    fn broken_tail(&self, o: &Outcome, steps: &mut Vec<Step>);
}

/// The reply to `o` in dialect `w`: the answer, or its fault.
pub(super) fn render(w: &dyn Wire, o: &Outcome, stream: bool, every: Duration) -> Reply {
    let Some(f) = o.fault else {
        return answer(w, o, stream, every);
    };
    let class = match f.kind {
        FaultKind::Huge => return huge(w, o, f, stream, every),
        FaultKind::Class(c) => c,
    };
    match class {
        C::Timeout => timeout(w, o, f, stream, every),
        C::Connect => Reply::Kill {
            reset: f.variant == Variant::Reset,
            delay: Duration::ZERO,
        },
        C::Refused if f.variant == Variant::Filter => filtered(w, o, f, stream, every),
        C::ServerError
        | C::RateLimited
        | C::Auth
        | C::Credits
        | C::NotFound
        | C::BadRequest
        | C::Refused => status_error(w, o, f, class),
        C::ProviderError => provider_error(w, o, f, stream, every),
        C::Truncated => truncated(w, o, f, stream, every),
        C::Malformed => malformed(w, o, f, stream, every),
        // The decision already emptied or replaced the text (or, for a
        // budget, thought until the limit).
        C::Empty | C::WrongAnswer | C::Budget => answer(w, o, stream, every),
    }
}

/// How long a rate-limited client is told to wait.
pub(super) fn rate_limit_wait(f: &Fault) -> Duration {
    f.retry_after.unwrap_or(Duration::from_secs(10))
}

/// A stream up to its first content token: the opening, then the
/// reasoning of a thinking model, a piece every so often (or, when it is
/// hidden, keep-alives while it thinks), then what opens the content.
fn lead_in(w: &dyn Wire, o: &Outcome, every: Duration) -> Vec<Step> {
    let mut steps = w.opening(o, every);
    if o.thinks_aloud() {
        let gap = o.reasoning_gap();
        for (i, piece) in o.reasoning.iter().enumerate() {
            if i > 0 && !gap.is_zero() {
                steps.push(Step::Wait(gap));
            }
            steps.push(Step::Send(w.reasoning(o, piece, i == 0)));
        }
        if !gap.is_zero() {
            steps.push(Step::Wait(gap));
        }
        w.reasoning_end(o, &mut steps);
    } else if !o.think.is_zero() {
        steps.push(Step::Tick {
            chunk: w.keepalive(),
            every,
            left: o.think,
        });
    }
    w.content_start(o, &mut steps);
    steps
}

fn answer(w: &dyn Wire, o: &Outcome, stream: bool, every: Duration) -> Reply {
    if !stream {
        let body = w.whole(o, &o.tokens.concat(), Some(o.finish));
        return json_after(w, o, body, o.total(), every);
    }
    let mut steps = lead_in(w, o, every);
    if o.tokens.is_empty() {
        // Where a first delta says more than its text (OpenAI's role), an
        // empty answer still sends it.
        deltas(w, o, std::iter::once(""), Duration::ZERO, &mut steps);
    } else {
        let tokens = o.tokens.iter().map(String::as_str);
        deltas(w, o, tokens, o.per_token, &mut steps);
    }
    w.closing(o, o.finish, &mut steps);
    stream_reply(SSE, steps)
}

fn timeout(w: &dyn Wire, o: &Outcome, f: &Fault, stream: bool, every: Duration) -> Reply {
    let content_type = if stream { SSE } else { JSON };
    match f.variant {
        Variant::Stall if stream => {
            let mut steps = lead_in(w, o, every);
            deltas(w, o, partial(o, f), o.per_token, &mut steps);
            steps.push(Step::Wait(f.hang_for));
            steps.push(Step::Abort);
            stream_reply(SSE, steps)
        }
        // A stall of a whole body: headers, then nothing.
        Variant::Headers | Variant::Stall => {
            stream_reply(content_type, vec![Step::Wait(f.hang_for), Step::Abort])
        }
        Variant::Processing => {
            let chunk = if stream {
                w.keepalive()
            } else {
                Bytes::from_static(b"\n")
            };
            stream_reply(
                content_type,
                vec![
                    Step::Tick {
                        chunk,
                        every,
                        left: f.hang_for,
                    },
                    Step::Abort,
                ],
            )
        }
        Variant::Drip if stream => {
            let count =
                (f.hang_for.as_millis() / f.drip.as_millis().max(1) + 1).min(10_000) as usize;
            let tokens: Vec<String> = if o.tokens.is_empty() {
                vec![".".into()]
            } else {
                o.tokens.clone()
            };
            let dripped = tokens
                .iter()
                .cycle()
                .take(count)
                .enumerate()
                .map(|(i, t)| {
                    if i == 0 {
                        t.clone()
                    } else {
                        format!(" {}", t.trim())
                    }
                })
                .collect::<Vec<_>>();
            let mut steps = lead_in(w, o, every);
            deltas(w, o, dripped.iter().map(String::as_str), f.drip, &mut steps);
            w.closing(o, "stop", &mut steps);
            stream_reply(SSE, steps)
        }
        Variant::Drip => {
            // The body itself trickles out, eight bytes at a time.
            let body = w.whole(o, &o.tokens.concat(), Some(o.finish));
            let mut steps = Vec::new();
            let mut at = 0;
            while at < body.len() {
                let end = (at + 8).min(body.len());
                steps.push(Step::Send(body.slice(at..end)));
                steps.push(Step::Wait(f.drip));
                at = end;
            }
            stream_reply(JSON, steps)
        }
        // Silent (and anything else): no response at all until the hang ends.
        _ => Reply::Kill {
            reset: false,
            delay: f.hang_for,
        },
    }
}

fn status_error(w: &dyn Wire, o: &Outcome, f: &Fault, class: C) -> Reply {
    let mut headers: Vec<(&'static str, String)> = Vec::new();
    let mut delay = Duration::ZERO;
    match class {
        C::ServerError => {
            // An upstream failure takes as long as the upstream did.
            delay = o.ttft;
            if let Some(wait) = f.retry_after {
                headers.push(("retry-after", retry_after_value(f, wait)));
            }
            if f.variant == Variant::Html {
                return Reply::Fixed {
                    status: status(f.status),
                    headers,
                    content_type: HTML,
                    body: html_page(f.status, w.html_title(f.status)),
                    delay,
                };
            }
        }
        C::RateLimited if f.rate_headers => {
            let wait = rate_limit_wait(f);
            headers.push(("retry-after", retry_after_value(f, wait)));
            headers.extend(w.rate_limit_headers(o, wait));
        }
        _ => {}
    }
    let (code, body) = w.status_error(o, f, class);
    Reply::Fixed {
        status: status(code),
        headers,
        content_type: JSON,
        body,
        delay,
    }
}

fn provider_error(w: &dyn Wire, o: &Outcome, f: &Fault, stream: bool, every: Duration) -> Reply {
    if !stream {
        return json_after(w, o, w.provider_error_body(o, f), o.total(), every);
    }
    let mut steps = lead_in(w, o, every);
    deltas(w, o, partial(o, f), o.per_token, &mut steps);
    steps.push(Step::Send(w.provider_error_event(o, f)));
    stream_reply(SSE, steps)
}

fn truncated(w: &dyn Wire, o: &Outcome, f: &Fault, stream: bool, every: Duration) -> Reply {
    let cut = f.variant == Variant::Reset;
    if !stream {
        let text: String = partial(o, f).collect();
        let body = w.whole(o, &text, None);
        if !cut {
            return json_after(w, o, body, o.total(), every);
        }
        let half = body.slice(..body.len() / 2);
        return stream_reply(
            JSON,
            vec![Step::Wait(o.total()), Step::Send(half), Step::Abort],
        );
    }
    let mut steps = lead_in(w, o, every);
    deltas(w, o, partial(o, f), o.per_token, &mut steps);
    if cut {
        steps.push(Step::Abort);
    }
    stream_reply(SSE, steps)
}

fn malformed(w: &dyn Wire, o: &Outcome, f: &Fault, stream: bool, every: Duration) -> Reply {
    if f.variant == Variant::Html {
        return Reply::Fixed {
            status: StatusCode::OK,
            headers: Vec::new(),
            content_type: HTML,
            body: w.challenge_page(),
            delay: o.ttft,
        };
    }
    if !stream {
        let body = w.whole(o, &o.tokens.concat(), Some(o.finish));
        return json_after(w, o, body.slice(..body.len() / 2), o.total(), every);
    }
    let mut steps = lead_in(w, o, every);
    deltas(w, o, partial(o, f), o.per_token, &mut steps);
    if f.variant == Variant::Event {
        // One broken event, then the rest of the answer as if nothing happened.
        steps.push(Step::Send(w.broken_event(o)));
        for t in o.tokens.iter().skip(f.after_tokens as usize) {
            if !o.per_token.is_zero() {
                steps.push(Step::Wait(o.per_token));
            }
            if let Some(delta) = w.delta(o, t, false) {
                steps.push(Step::Send(delta));
            }
        }
        w.closing(o, o.finish, &mut steps);
    } else {
        w.broken_tail(o, &mut steps);
    }
    stream_reply(SSE, steps)
}

/// `refused` (filter): the answer up to `after_tokens` tokens, then the
/// content filter ends it.
fn filtered(w: &dyn Wire, o: &Outcome, f: &Fault, stream: bool, every: Duration) -> Reply {
    const FILTER: &str = "content_filter";
    if !stream {
        let text: String = partial(o, f).collect();
        let body = w.whole(o, &text, Some(FILTER));
        return json_after(w, o, body, o.ttft, every);
    }
    let mut steps = lead_in(w, o, every);
    deltas(w, o, partial(o, f), o.per_token, &mut steps);
    w.closing(o, FILTER, &mut steps);
    stream_reply(SSE, steps)
}

/// `f.size` bytes of content, generated from one shared 64 KiB filler.
fn huge(w: &dyn Wire, o: &Outcome, f: &Fault, stream: bool, every: Duration) -> Reply {
    let fill = filler();
    let times = f.size.div_ceil(fill.len() as u64);
    if stream {
        let text = String::from_utf8_lossy(&fill).into_owned();
        let mut steps = lead_in(w, o, every);
        if let Some(chunk) = w.delta(o, &text, true) {
            steps.push(Step::Repeat { chunk, times });
        }
        w.closing(o, "stop", &mut steps);
        return stream_reply(SSE, steps);
    }
    // The whole reply around a marker, the filler repeated in its place.
    const MARK: &str = "\u{1}FILL\u{1}";
    let whole = String::from_utf8_lossy(&w.whole(o, MARK, Some("stop"))).into_owned();
    let marker = serde_json::to_string(MARK).unwrap_or_default();
    let marker = marker.trim_matches('"');
    let (prefix, suffix) = whole.split_once(marker).unwrap_or((&whole, ""));
    stream_reply(
        JSON,
        vec![
            Step::Wait(o.ttft),
            Step::Send(Bytes::from(prefix.to_string())),
            Step::Repeat { chunk: fill, times },
            Step::Send(Bytes::from(suffix.to_string())),
        ],
    )
}

/// The tokens, `gap` apart.
fn deltas<'t>(
    w: &dyn Wire,
    o: &Outcome,
    tokens: impl Iterator<Item = &'t str>,
    gap: Duration,
    steps: &mut Vec<Step>,
) {
    for (i, t) in tokens.enumerate() {
        if i > 0 && !gap.is_zero() {
            steps.push(Step::Wait(gap));
        }
        if let Some(delta) = w.delta(o, t, i == 0) {
            steps.push(Step::Send(delta));
        }
    }
}

/// The tokens sent before a fault that strikes mid-reply.
pub(super) fn partial<'a>(o: &'a Outcome, f: &Fault) -> impl Iterator<Item = &'a str> {
    o.tokens
        .iter()
        .take(f.after_tokens as usize)
        .map(String::as_str)
}

/// A JSON body after `wait`; where the dialect pads, headers go at once and
/// whitespace fills the wait, as OpenRouter does.
fn json_after(w: &dyn Wire, o: &Outcome, body: Bytes, wait: Duration, every: Duration) -> Reply {
    if w.pads_json() && o.model.keepalive {
        stream_reply(
            JSON,
            vec![
                Step::Tick {
                    chunk: Bytes::from_static(b"\n"),
                    every,
                    left: wait,
                },
                Step::Send(body),
            ],
        )
    } else {
        Reply::Fixed {
            status: StatusCode::OK,
            headers: Vec::new(),
            content_type: JSON,
            body,
            delay: wait,
        }
    }
}

fn stream_reply(content_type: &'static str, steps: Vec<Step>) -> Reply {
    Reply::Stream {
        headers: Vec::new(),
        content_type,
        steps,
    }
}

/// `Retry-After` in seconds, or as an HTTP date (RFC 9110) when the fault
/// says so. A date has whole seconds: it is rounded up, so that a client
/// that honours it never comes back early.
fn retry_after_value(f: &Fault, wait: Duration) -> String {
    if f.retry_after_date {
        let until = chrono::Utc::now()
            + chrono::TimeDelta::from_std(wait).unwrap_or_default()
            + chrono::TimeDelta::milliseconds(999);
        until.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
    } else {
        wait.as_secs().max(1).to_string()
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY)
}
