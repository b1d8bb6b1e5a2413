//! From an HTTP status and an error body to one [`FailureClass`] and a short,
//! masked message (masking itself is in `mask.rs`); `Retry-After` in all its
//! forms.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::mask::short_message;
use super::request::TokenParam;
use super::FailureClass;

/// Longest message in a one-line description (an HTML page's title, a
/// failure described in an event or a table cell).
pub const MESSAGE_CHARS: usize = 200;
/// Longest message kept in a [`super::Failure`]: the dashboard's failure
/// log shows it whole.
pub const MESSAGE_KEEP_CHARS: usize = 2000;

/// What an error body said, parsed leniently from any of the shapes in
/// api-facts.md (OpenRouter, OpenAI, Anthropic, plain text, HTML).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorInfo {
    /// The provider's message (not yet masked or shortened).
    pub message: String,
    /// `error.code`, number or string, as text.
    pub code: Option<String>,
    /// `error.type` / `error.error_type`.
    pub kind: Option<String>,
    /// OpenAI's `error.param`: the request field the error is about.
    pub param: Option<String>,
    /// OpenRouter's `metadata.provider_name`.
    pub provider: Option<String>,
    /// OpenRouter's `metadata.raw`: the upstream's own words.
    pub raw: Option<String>,
    /// OpenRouter moderation metadata (`reasons`/`flagged_input`) was present.
    pub moderation: bool,
}

impl ErrorInfo {
    /// The message to show: the provider's words plus where it came from,
    /// masked and cut to [`MESSAGE_CHARS`].
    pub fn display(&self) -> String {
        let mut text = self.message.clone();
        if let Some(code) = &self.code {
            if !text.contains(code.as_str()) {
                text = format!("{code}: {text}");
            }
        }
        if let Some(provider) = &self.provider {
            text.push_str(&format!(" (provider {provider})"));
        }
        if let Some(raw) = &self.raw {
            if !raw.is_empty() && !self.message.contains(raw.as_str()) {
                text.push_str(&format!(": {raw}"));
            }
        }
        // Cut generously here: the attempt scrubs the exact key out before
        // the final cut, and a key straddling an early cut would escape it.
        short_message(&text, MESSAGE_CHARS * 20)
    }

    /// The provider's content policy refused the prompt: OpenRouter's
    /// moderation metadata (`reasons`, `flagged_input`), OpenAI's
    /// `content_policy_violation`, Azure's `content_filter`.
    pub fn is_refusal(&self) -> bool {
        self.moderation
            || self.mentions("content_policy_violation")
            || self.mentions("content_filter")
            || self.mentions("moderation")
    }

    fn mentions(&self, needle: &str) -> bool {
        [self.code.as_deref(), self.kind.as_deref()]
            .into_iter()
            .flatten()
            .any(|s| s.eq_ignore_ascii_case(needle))
    }
}

/// Status first, then the body for the few cases where it changes the class.
/// Only called for non-2xx statuses.
pub fn classify_status(status: u16, info: &ErrorInfo) -> FailureClass {
    match status {
        // OpenAI's out-of-money error rides on a 429 but needs a human, not a wait.
        429 if info.mentions("insufficient_quota") => FailureClass::Credits,
        429 => FailureClass::RateLimited,
        // OpenRouter uses 403 for moderation, OpenAI and Azure a 400: the
        // prompt is refused, which is the answer to it, not a key problem.
        400 | 403 | 422 if info.is_refusal() => FailureClass::Refused,
        401 | 403 => FailureClass::Auth,
        402 => FailureClass::Credits,
        404 => FailureClass::NotFound,
        408 => FailureClass::Timeout,
        400..=499 => FailureClass::BadRequest,
        500..=599 => FailureClass::ServerError,
        // 3xx (redirects are not followed: an API that redirects means a
        // wrong base_url) and anything stranger: the caller must look.
        _ => FailureClass::BadRequest,
    }
}

/// The output-limit field a 400 refuses, when that is what it says: OpenAI
/// and Azure answer `max_tokens` for a reasoning model with
/// `{"code": "unsupported_parameter", "param": "max_tokens"}` and a message
/// naming `max_completion_tokens`; an older server may refuse the newer
/// field the same way. Gateways that pass only the message on are read by
/// the message.
pub fn refused_limit(status: u16, info: &ErrorInfo) -> Option<TokenParam> {
    if status != 400 {
        return None;
    }
    let unsupported = info.mentions("unsupported_parameter") || {
        let m = info.message.to_ascii_lowercase();
        m.contains("unsupported parameter")
            || m.contains("not supported")
            || m.contains("unrecognized request argument")
            || m.contains("extra inputs are not permitted")
    };
    if !unsupported {
        return None;
    }
    if let Some(param) = info.param.as_deref().and_then(TokenParam::from_field) {
        return Some(param);
    }
    // No `param`: the message names the refused field first ("Unsupported
    // parameter: 'max_tokens' ... Use 'max_completion_tokens' instead").
    let m = info.message.as_str();
    let at = |p: TokenParam| {
        let field = p.field();
        m.match_indices(field).map(|(i, _)| i).find(|&i| {
            // `max_tokens` is not the tail of a longer word here.
            let before = m.get(..i).and_then(|b| b.chars().next_back());
            let after = m.get(i + field.len()..).and_then(|a| a.chars().next());
            !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    };
    match (
        at(TokenParam::MaxTokens),
        at(TokenParam::MaxCompletionTokens),
    ) {
        (Some(a), Some(b)) => Some(if a < b {
            TokenParam::MaxTokens
        } else {
            TokenParam::MaxCompletionTokens
        }),
        (Some(_), None) => Some(TokenParam::MaxTokens),
        (None, Some(_)) => Some(TokenParam::MaxCompletionTokens),
        (None, None) => None,
    }
}

/// The class of an error carried *inside* a 200 reply or stream. Normally
/// `provider_error`; but an error that names a 4xx status (OpenRouter puts
/// the HTTP code in `code`/`http_status`) is classified as that status would
/// be: an in-band 429 is a rate limit to wait out, an in-band 402 is out of
/// credits — counting them as outages would mark a healthy model down.
pub fn classify_in_band(info: &ErrorInfo) -> FailureClass {
    let status = info
        .code
        .as_deref()
        .and_then(|c| c.trim().parse::<u16>().ok());
    match status {
        Some(s @ 400..=499) => classify_status(s, info),
        _ if info.mentions("insufficient_quota") => FailureClass::Credits,
        _ if info.is_refusal() => FailureClass::Refused,
        _ => FailureClass::ProviderError,
    }
}

/// Parses any error body. `status` is used only to describe HTML pages and
/// empty bodies.
pub fn parse_error_body(body: &[u8], status: u16) -> ErrorInfo {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return ErrorInfo {
            message: format!("HTTP {status} with an empty body"),
            ..ErrorInfo::default()
        };
    }
    if let Ok(json) = serde_json::from_str::<Value>(trimmed) {
        if let Some(info) = error_from_json(&json) {
            return info;
        }
    }
    if looks_like_html(trimmed) {
        return ErrorInfo {
            message: describe_html(trimmed, status),
            ..ErrorInfo::default()
        };
    }
    ErrorInfo {
        message: trimmed.to_string(),
        ..ErrorInfo::default()
    }
}

/// The error carried by a JSON value, if it carries one: a top-level
/// `error` (object or string), Anthropic's `{"type":"error"}`, or a bare
/// `{"message": ...}`. `"error": null` is not an error.
pub fn error_from_json(json: &Value) -> Option<ErrorInfo> {
    let obj = json.as_object()?;
    match obj.get("error") {
        Some(Value::Object(err)) => {
            let mut info = ErrorInfo {
                message: err.get("message").and_then(value_text).unwrap_or_default(),
                code: err.get("code").and_then(value_text),
                kind: err
                    .get("type")
                    .or_else(|| err.get("error_type"))
                    .and_then(value_text),
                ..ErrorInfo::default()
            };
            if info.code.is_none() {
                info.code = err.get("http_status").and_then(value_text);
            }
            info.param = err.get("param").and_then(value_text);
            if let Some(meta) = err.get("metadata").and_then(Value::as_object) {
                info.provider = meta.get("provider_name").and_then(value_text);
                info.raw = meta.get("raw").and_then(value_text);
                info.moderation =
                    meta.contains_key("reasons") || meta.contains_key("flagged_input");
            }
            if info.message.is_empty() {
                info.message = info
                    .kind
                    .clone()
                    .or_else(|| info.code.clone())
                    .unwrap_or_else(|| "error object without a message".to_string());
            }
            Some(info)
        }
        Some(Value::String(s)) if !s.trim().is_empty() => Some(ErrorInfo {
            message: s.clone(),
            ..ErrorInfo::default()
        }),
        Some(Value::Null) | None => {
            // Some servers send {"message": "..."} or {"detail": "..."} (FastAPI).
            if obj.get("type").and_then(Value::as_str) == Some("error") {
                return Some(ErrorInfo {
                    message: "error without details".to_string(),
                    ..ErrorInfo::default()
                });
            }
            let message = obj
                .get("message")
                .or_else(|| obj.get("detail"))
                .and_then(value_text)?;
            Some(ErrorInfo {
                message,
                ..ErrorInfo::default()
            })
        }
        Some(other) => Some(ErrorInfo {
            message: other.to_string(),
            ..ErrorInfo::default()
        }),
    }
}

/// The error embedded in an otherwise normal reply, choice or stream event:
/// only an `error` key counts there (a `message` key is content, not an error).
pub fn reply_error(json: &Value) -> Option<ErrorInfo> {
    match json.get("error")? {
        Value::Object(_) => error_from_json(json),
        Value::String(s) if !s.trim().is_empty() => error_from_json(json),
        _ => None,
    }
}

/// A string as itself, a number or bool as text, anything else as JSON.
fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        other => Some(other.to_string()),
    }
}

pub fn looks_like_html(text: &str) -> bool {
    let head: String = text
        .trim_start()
        .chars()
        .take(512)
        .collect::<String>()
        .to_ascii_lowercase();
    head.starts_with("<!doctype")
        || head.starts_with("<html")
        || head.contains("<html")
        || head.starts_with("<head")
        || head.starts_with("<body")
}

/// "HTML error page (502): 502 Bad Gateway" — the `<title>` says enough.
pub fn describe_html(text: &str, status: u16) -> String {
    let title = html_title(text)
        .map(|t| format!(": {t}"))
        .unwrap_or_default();
    short_message(&format!("HTML error page ({status}){title}"), MESSAGE_CHARS)
}

fn html_title(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let start = open + lower.get(open..)?.find('>')? + 1;
    let len = lower.get(start..)?.find("</title")?;
    let title = text
        .get(start..start + len)?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    (!title.is_empty()).then_some(title)
}

/// How long the provider asked us to wait. In order: `retry-after-ms`,
/// `retry-after` (seconds or an HTTP date), OpenAI's
/// `x-ratelimit-reset-requests` (Go durations such as `6m0s`), OpenRouter's
/// `x-ratelimit-reset` (a Unix timestamp in ms). Dates in the past and
/// nonsense give `None`, leaving the back-off to the health engine.
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        if let Some(d) = secs(ms / 1000.0) {
            return Some(d);
        }
    }
    if let Some(v) = header("retry-after") {
        if let Some(d) = parse_retry_after_value(v, now) {
            return Some(d);
        }
    }
    if let Some(d) = header("x-ratelimit-reset-requests").and_then(parse_go_duration) {
        return Some(d);
    }
    header("x-ratelimit-reset").and_then(|v| parse_reset_timestamp(v, now))
}

/// `Retry-After`: delta-seconds (fractions tolerated) or an HTTP date.
pub fn parse_retry_after_value(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(s) = value.parse::<f64>() {
        return secs(s);
    }
    let when = DateTime::parse_from_rfc2822(value).ok()?;
    let delta = when.with_timezone(&Utc) - now;
    delta.to_std().ok()
}

/// Go's `time.Duration` text: `6m0s`, `1.5s`, `20ms`, `1h2m3.5s`, `100us`.
pub fn parse_go_duration(value: &str) -> Option<Duration> {
    let mut rest = value.trim();
    if rest.is_empty() {
        return None;
    }
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0.0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest.get(..num_len)?.parse().ok()?;
        rest = rest.get(num_len..)?;
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match rest.get(..unit_len)? {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" | "μs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = rest.get(unit_len..)?;
        total += number * scale;
    }
    secs(total)
}

fn parse_reset_timestamp(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let n: i64 = value.parse().ok()?;
    // Milliseconds since the epoch (OpenRouter); anything smaller is not a
    // timestamp we understand.
    if n < 1_000_000_000_000 {
        return None;
    }
    let when = DateTime::<Utc>::from_timestamp_millis(n)?;
    (when - now).to_std().ok()
}

/// Seconds to a Duration, refusing negative, NaN and absurd (> 1 week) values.
fn secs(s: f64) -> Option<Duration> {
    if !(s.is_finite() && (0.0..=7.0 * 86_400.0).contains(&s)) {
        return None;
    }
    Duration::try_from_secs_f64(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn info(body: &str, status: u16) -> ErrorInfo {
        parse_error_body(body.as_bytes(), status)
    }

    fn class(status: u16, body: &str) -> FailureClass {
        classify_status(status, &info(body, status))
    }

    #[test]
    fn status_table() {
        use FailureClass::*;
        let cases: &[(u16, &str, FailureClass)] = &[
            (
                400,
                r#"{"error":{"code":400,"message":"context too long"}}"#,
                BadRequest,
            ),
            (
                401,
                r#"{"error":{"code":401,"message":"No auth credentials found"}}"#,
                Auth,
            ),
            (
                402,
                r#"{"error":{"code":402,"message":"Insufficient credits"}}"#,
                Credits,
            ),
            (
                403,
                r#"{"error":{"code":403,"message":"Key disabled"}}"#,
                Auth,
            ),
            (
                403,
                r#"{"error":{"code":403,"message":"flagged","metadata":{"reasons":["x"],"flagged_input":"..."}}}"#,
                Refused,
            ),
            (
                400,
                r#"{"error":{"message":"Your request was rejected as a result of our safety system.","type":"invalid_request_error","param":null,"code":"content_policy_violation"}}"#,
                Refused,
            ),
            (
                400,
                r#"{"error":{"message":"The response was filtered","type":null,"param":"prompt","code":"content_filter","status":400}}"#,
                Refused,
            ),
            (
                400,
                r#"{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","code":"context_length_exceeded"}}"#,
                BadRequest,
            ),
            (
                404,
                r#"{"error":{"code":404,"message":"No endpoints found"}}"#,
                NotFound,
            ),
            (
                408,
                r#"{"error":{"code":408,"message":"timeout"}}"#,
                Timeout,
            ),
            (409, "conflict", BadRequest),
            (413, "", BadRequest),
            (422, r#"{"detail":"bad"}"#, BadRequest),
            (
                429,
                r#"{"error":{"code":429,"message":"Rate limit exceeded"}}"#,
                RateLimited,
            ),
            (
                429,
                r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
                Credits,
            ),
            (
                429,
                r#"{"error":{"message":"quota","type":"insufficient_quota"}}"#,
                Credits,
            ),
            (429, "Too Many Requests", RateLimited),
            (
                500,
                r#"{"error":{"code":500,"message":"Internal"}}"#,
                ServerError,
            ),
            (
                502,
                "<html><head><title>502 Bad Gateway</title></head></html>",
                ServerError,
            ),
            (
                503,
                r#"{"error":{"message":"No instances available","error_type":"no_available_provider","http_status":503}}"#,
                ServerError,
            ),
            (
                524,
                "<!DOCTYPE html><html><title>openrouter.ai | 524: A timeout occurred</title>",
                ServerError,
            ),
            (
                529,
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
                ServerError,
            ),
            (301, "", BadRequest),
        ];
        for (status, body, want) in cases {
            assert_eq!(class(*status, body), *want, "status {status} body {body}");
        }
    }

    #[test]
    fn in_band_errors() {
        use FailureClass::*;
        let cases = [
            (
                r#"{"error":{"code":502,"message":"Provider disconnected"}}"#,
                ProviderError,
            ),
            (
                r#"{"error":{"code":"server_error","message":"x"}}"#,
                ProviderError,
            ),
            (r#"{"error":{"message":"no code"}}"#, ProviderError),
            (
                r#"{"error":{"code":429,"message":"Rate limit exceeded"}}"#,
                RateLimited,
            ),
            (
                r#"{"error":{"code":"402","message":"Insufficient credits"}}"#,
                Credits,
            ),
            (
                r#"{"error":{"message":"x","error_type":"rate_limit","http_status":429}}"#,
                RateLimited,
            ),
            (
                r#"{"error":{"code":"insufficient_quota","message":"quota"}}"#,
                Credits,
            ),
            (
                r#"{"error":{"code":400,"message":"context length"}}"#,
                BadRequest,
            ),
            (
                r#"{"error":{"code":"content_policy_violation","message":"flagged"}}"#,
                Refused,
            ),
            (
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
                ProviderError,
            ),
        ];
        for (body, want) in cases {
            let json: Value = serde_json::from_str(body).unwrap();
            assert_eq!(
                classify_in_band(&reply_error(&json).unwrap()),
                want,
                "{body}"
            );
        }
    }

    #[test]
    fn openrouter_error_with_numeric_code_and_metadata() {
        let i = info(
            r#"{"error":{"code":502,"message":"Provider returned error","metadata":{"provider_name":"Together","raw":"upstream exploded"}}}"#,
            502,
        );
        assert_eq!(i.code.as_deref(), Some("502"));
        assert_eq!(i.provider.as_deref(), Some("Together"));
        assert_eq!(
            i.display(),
            "502: Provider returned error (provider Together): upstream exploded"
        );
    }

    #[test]
    fn openrouter_raw_may_be_json() {
        let i = info(
            r#"{"error":{"code":"server_error","message":"x","metadata":{"raw":{"detail":"boom"}}}}"#,
            500,
        );
        assert_eq!(i.code.as_deref(), Some("server_error"));
        assert_eq!(i.raw.as_deref(), Some(r#"{"detail":"boom"}"#));
    }

    #[test]
    fn error_type_and_http_status_variant() {
        let i = info(
            r#"{"error":{"message":"No instances","error_type":"no_available_provider","http_status":503}}"#,
            503,
        );
        assert_eq!(i.kind.as_deref(), Some("no_available_provider"));
        assert_eq!(i.code.as_deref(), Some("503"));
    }

    #[test]
    fn openai_error_shape() {
        let i = info(
            r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
            401,
        );
        assert_eq!(i.message, "Incorrect API key provided");
        assert_eq!(i.kind.as_deref(), Some("invalid_request_error"));
        assert_eq!(i.code.as_deref(), Some("invalid_api_key"));
    }

    #[test]
    fn anthropic_error_shape() {
        let i = info(
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            529,
        );
        assert_eq!(i.message, "Overloaded");
        assert_eq!(i.kind.as_deref(), Some("overloaded_error"));
    }

    #[test]
    fn error_without_message_uses_type() {
        assert_eq!(info(r#"{"error":{"type":"boom"}}"#, 500).message, "boom");
        assert_eq!(
            info(r#"{"error":{}}"#, 500).message,
            "error object without a message"
        );
    }

    #[test]
    fn plain_text_empty_and_html_bodies() {
        assert_eq!(
            info("  upstream connect error \n", 503).message,
            "upstream connect error"
        );
        assert_eq!(info("", 502).message, "HTTP 502 with an empty body");
        assert_eq!(
            info(
                "<html><head><title>\n 502 Bad Gateway </title></head><body>nginx</body></html>",
                502
            )
            .message,
            "HTML error page (502): 502 Bad Gateway"
        );
        assert_eq!(
            info("<!DOCTYPE html><p>x</p>", 500).message,
            "HTML error page (500)"
        );
        assert_eq!(info("<html><title>", 500).message, "HTML error page (500)");
    }

    #[test]
    fn non_object_json_is_text() {
        assert_eq!(info("[1,2]", 500).message, "[1,2]");
        assert_eq!(info(r#"{"error":"bad key"}"#, 401).message, "bad key");
        assert_eq!(info(r#"{"error":null,"detail":"x"}"#, 400).message, "x");
    }

    #[test]
    fn error_from_json_ignores_null_error() {
        assert!(error_from_json(&serde_json::json!({"error": null, "choices": []})).is_none());
        assert!(error_from_json(&serde_json::json!({"id": "x"})).is_none());
    }

    #[test]
    fn display_is_masked_and_bounded() {
        let long = "x ".repeat(5000);
        let i = info(
            &format!(r#"{{"error":{{"message":"bad key sk-or-v1-0123456789abcdef0123 {long}"}}}}"#),
            401,
        );
        let d = i.display();
        // The final cut to MESSAGE_CHARS comes after the exact key is scrubbed.
        assert!(d.chars().count() <= MESSAGE_CHARS * 20);
        assert!(d.starts_with("bad key sk-or-v1-…***"), "{d}");
        assert!(d.ends_with('…'));
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn retry_after_forms() {
        let s = Duration::from_secs;
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<Duration>);
        let cases: &[Case] = &[
            (&[("retry-after", "30")], Some(s(30))),
            (
                &[("Retry-After", " 2.5 ")],
                Some(Duration::from_millis(2500)),
            ),
            (
                &[("retry-after", "Wed, 21 Oct 2015 07:29:00 GMT")],
                Some(s(60)),
            ),
            (&[("retry-after", "Wed, 21 Oct 2015 07:27:00 GMT")], None),
            (&[("retry-after", "soon")], None),
            (&[("retry-after", "-5")], None),
            (&[("retry-after", "1e300")], None),
            (
                &[("retry-after-ms", "1500"), ("retry-after", "30")],
                Some(Duration::from_millis(1500)),
            ),
            (
                &[("retry-after-ms", "x"), ("retry-after", "30")],
                Some(s(30)),
            ),
            (&[("x-ratelimit-reset-requests", "6m0s")], Some(s(360))),
            (
                &[("x-ratelimit-reset-requests", "1.5s")],
                Some(Duration::from_millis(1500)),
            ),
            (
                &[("x-ratelimit-reset-requests", "6m0s"), ("retry-after", "7")],
                Some(s(7)),
            ),
            (&[("x-ratelimit-reset", "1445412540000")], Some(s(60))),
            (&[("x-ratelimit-reset", "60")], None),
            (&[], None),
        ];
        for (h, want) in cases {
            assert_eq!(retry_after(&headers(h), now()), *want, "headers {h:?}");
        }
    }

    #[test]
    fn go_durations() {
        let ms = Duration::from_millis;
        assert_eq!(parse_go_duration("6m0s"), Some(ms(360_000)));
        assert_eq!(parse_go_duration("1h2m3.5s"), Some(ms(3_723_500)));
        assert_eq!(parse_go_duration("20ms"), Some(ms(20)));
        assert_eq!(parse_go_duration("100us"), Some(Duration::from_micros(100)));
        assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
        for bad in ["", "5", "5x", "m", "1..2s", "-1s", "9999999h"] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn refused_limit_fields() {
        let openai = r#"{"error":{"message":"Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.","type":"invalid_request_error","param":"max_tokens","code":"unsupported_parameter"}}"#;
        assert_eq!(
            refused_limit(400, &info(openai, 400)),
            Some(TokenParam::MaxTokens)
        );
        // The same through a gateway that kept only the message.
        let bare = r#"{"error":{"message":"Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead."}}"#;
        assert_eq!(
            refused_limit(400, &info(bare, 400)),
            Some(TokenParam::MaxTokens)
        );
        // An older server refusing the newer field.
        let old = r#"{"error":{"message":"Unrecognized request argument supplied: max_completion_tokens","type":"invalid_request_error","param":null,"code":null}}"#;
        assert_eq!(
            refused_limit(400, &info(old, 400)),
            Some(TokenParam::MaxCompletionTokens)
        );
        let vllm = r#"{"object":"error","message":"[{'type': 'extra_forbidden', 'loc': ('body', 'max_completion_tokens'), 'msg': 'Extra inputs are not permitted'}]"}"#;
        assert_eq!(
            refused_limit(400, &info(vllm, 400)),
            Some(TokenParam::MaxCompletionTokens)
        );
        // Other 400s, other statuses and other parameters are not this.
        let context = r#"{"error":{"code":400,"message":"max_tokens is too large: 100000. This model supports at most 16384 completion tokens"}}"#;
        assert_eq!(refused_limit(400, &info(context, 400)), None);
        let effort = r#"{"error":{"message":"Unsupported parameter: 'reasoning_effort' is not supported with this model.","param":"reasoning_effort","code":"unsupported_parameter"}}"#;
        assert_eq!(refused_limit(400, &info(effort, 400)), None);
        assert_eq!(refused_limit(422, &info(openai, 422)), None);
    }
}
