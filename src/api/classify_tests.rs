//! The edges of reading a provider's error (`classify.rs`): how its message
//! is extracted and shown, which JSON counts as an error, what is HTML, and
//! the bounds of `Retry-After`. Each test here was written against a mutant
//! that the first mutation run (issue 10) found alive; see docs/testing.md.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::classify::{
    error_from_json, looks_like_html, parse_error_body, parse_go_duration, parse_retry_after_value,
    refused_limit, reply_error, retry_after, ErrorInfo, MESSAGE_CHARS,
};
use super::request::TokenParam;

fn info(body: &str, status: u16) -> ErrorInfo {
    parse_error_body(body.as_bytes(), status)
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn display_names_the_code_once() {
    // A message that already says its code is not prefixed with it again.
    let said = info(
        r#"{"error":{"code":429,"message":"429 Too Many Requests"}}"#,
        429,
    );
    assert_eq!(said.display(), "429 Too Many Requests");
    let unsaid = info(r#"{"error":{"code":429,"message":"slow down"}}"#, 429);
    assert_eq!(unsaid.display(), "429: slow down");
}

#[test]
fn display_adds_the_upstream_words_only_when_they_say_more() {
    // An empty `raw` adds nothing.
    let empty = info(
        r#"{"error":{"message":"Provider returned error","metadata":{"provider_name":"Groq","raw":""}}}"#,
        502,
    );
    assert_eq!(
        empty.display(),
        "Provider returned error (provider Groq)",
        "no dangling colon"
    );
    // A `raw` that the message already quotes is not repeated.
    let quoted = info(
        r#"{"error":{"message":"Provider returned error: model overloaded","metadata":{"raw":"model overloaded"}}}"#,
        502,
    );
    assert_eq!(
        quoted.display(),
        "Provider returned error: model overloaded"
    );
    let more = info(
        r#"{"error":{"message":"Provider returned error","metadata":{"raw":"model overloaded"}}}"#,
        502,
    );
    assert_eq!(more.display(), "Provider returned error: model overloaded");
}

#[test]
fn display_keeps_a_long_message_whole_for_the_failure_log() {
    // The generous first cut (before the exact key is scrubbed) keeps
    // thousands of characters; the final, shorter cut comes later.
    let long = "word ".repeat(600);
    let i = info(&json!({"error": {"message": long}}).to_string(), 500);
    let d = i.display();
    assert_eq!(d, long.trim_end(), "{} chars", d.chars().count());
    assert!(d.chars().count() > MESSAGE_CHARS * 10);
}

#[test]
fn a_code_beside_http_status_stays_the_code() {
    let i = info(
        r#"{"error":{"code":"server_error","http_status":503,"message":"x"}}"#,
        503,
    );
    assert_eq!(i.code.as_deref(), Some("server_error"));
    let i = info(r#"{"error":{"http_status":503,"message":"x"}}"#, 503);
    assert_eq!(i.code.as_deref(), Some("503"));
}

#[test]
fn either_moderation_field_marks_moderation() {
    for meta in [
        json!({"reasons": ["violence"]}),
        json!({"flagged_input": "..."}),
    ] {
        let body = json!({"error": {"code": 403, "message": "flagged", "metadata": meta}});
        let i = error_from_json(&body).unwrap();
        assert!(i.moderation, "{body}");
    }
    let other =
        json!({"error": {"code": 403, "message": "no", "metadata": {"provider_name": "X"}}});
    assert!(!error_from_json(&other).unwrap().moderation);
}

#[test]
fn an_error_with_only_a_code_says_the_code() {
    let i = error_from_json(&json!({"error": {"code": "model_not_available"}})).unwrap();
    assert_eq!(i.message, "model_not_available");
    // The type wins over the code when both are there.
    let i = error_from_json(&json!({"error": {"code": 500, "type": "api_error"}})).unwrap();
    assert_eq!(i.message, "api_error");
}

#[test]
fn odd_error_values_still_give_a_visible_message() {
    let blank = error_from_json(&json!({"error": "   "})).unwrap();
    assert!(
        !blank.message.trim().is_empty(),
        "a blank error string is shown as something: {:?}",
        blank.message
    );
    let number = error_from_json(&json!({"error": 42})).unwrap();
    assert_eq!(number.message, "42");
    let list = error_from_json(&json!({"error": ["a", "b"]})).unwrap();
    assert_eq!(list.message, r#"["a","b"]"#);
    // Anthropic's envelope without its `error` object.
    let bare = error_from_json(&json!({"type": "error"})).unwrap();
    assert_eq!(bare.message, "error without details");
    // A `message` that is not text is shown as JSON.
    let detail = error_from_json(&json!({"detail": [{"msg": "field required"}]})).unwrap();
    assert_eq!(detail.message, r#"[{"msg":"field required"}]"#);
}

#[test]
fn in_a_reply_only_a_real_error_key_is_an_error() {
    let reply = |v: Value| reply_error(&v).map(|i| i.message);
    assert_eq!(
        reply(json!({"error": "overloaded", "choices": []})).as_deref(),
        Some("overloaded")
    );
    assert_eq!(
        reply(json!({"error": {"message": "boom"}})).as_deref(),
        Some("boom")
    );
    // Blank, null, false or absent: a normal reply.
    for v in [
        json!({"error": "", "choices": []}),
        json!({"error": "  ", "choices": []}),
        json!({"error": null, "choices": []}),
        json!({"error": false}),
        json!({"message": "hello", "choices": []}),
    ] {
        assert_eq!(reply(v.clone()), None, "{v}");
    }
}

#[test]
fn html_is_recognised_by_each_of_its_openings() {
    for page in [
        "<!DOCTYPE html><p>x</p>",
        "  \n<!doctype HTML>",
        "<html lang=en>",
        "<HTML><BODY>",
        "<head><title>x</title></head>",
        "<body>Bad gateway</body>",
        "Error: <html><body>proxy</body></html>",
    ] {
        assert!(looks_like_html(page), "{page:?}");
    }
    for text in [
        "upstream connect error",
        r#"{"error":"<b>bold</b>"}"#,
        "<b>not a page</b>",
        "",
    ] {
        assert!(!looks_like_html(text), "{text:?}");
    }
    // Only the first 512 characters are looked at.
    let late = format!("{}<html>", "x".repeat(600));
    assert!(!looks_like_html(&late));
}

#[test]
fn an_html_page_with_a_blank_title_is_described_without_one() {
    assert_eq!(
        info("<html><title>  \n </title></html>", 503).message,
        "HTML error page (503)"
    );
}

#[test]
fn retry_after_is_bounded_by_a_week() {
    let now = at("2015-10-21T07:28:00Z");
    let week = 7 * 86_400;
    assert_eq!(
        parse_retry_after_value(&week.to_string(), now),
        Some(Duration::from_secs(week))
    );
    assert_eq!(parse_retry_after_value(&(week + 1).to_string(), now), None);
    assert_eq!(parse_go_duration("500ns"), Some(Duration::from_nanos(500)));
    assert_eq!(parse_go_duration("2h"), Some(Duration::from_secs(7200)));
}

#[test]
fn a_reset_timestamp_is_read_in_milliseconds_from_1e12_on() {
    use reqwest::header::{HeaderMap, HeaderValue};
    // 1e12 ms is 2001-09-09T01:46:40Z; seen from a day before, it is a day off.
    let now = at("2001-09-08T01:46:40Z");
    let mut h = HeaderMap::new();
    h.insert(
        "x-ratelimit-reset",
        HeaderValue::from_static("1000000000000"),
    );
    assert_eq!(retry_after(&h, now), Some(Duration::from_secs(86_400)));
    h.insert(
        "x-ratelimit-reset",
        HeaderValue::from_static("999999999999"),
    );
    assert_eq!(retry_after(&h, now), None, "seconds, not milliseconds");
}

#[test]
fn a_refused_field_is_not_a_longer_word_that_contains_it() {
    let refused = |message: &str| {
        refused_limit(
            400,
            &error_from_json(&json!({"error": {"message": message}})).unwrap(),
        )
    };
    assert_eq!(
        refused("Unsupported parameter: 'max_tokens_to_sample'"),
        None
    );
    assert_eq!(refused("Unsupported parameter: 'default_max_tokens'"), None);
    assert_eq!(
        refused("max_completion_tokens is not supported; use max_tokens"),
        Some(TokenParam::MaxCompletionTokens),
        "the field named first is the refused one"
    );
    assert_eq!(
        refused("Unsupported parameter: max_tokens"),
        Some(TokenParam::MaxTokens)
    );
    // Each of the phrasings that mean "unsupported", alone.
    for phrase in [
        "unsupported parameter: max_tokens",
        "max_tokens: not supported here",
        "Unrecognized request argument supplied: max_tokens",
        "max_tokens: Extra inputs are not permitted",
    ] {
        assert_eq!(refused(phrase), Some(TokenParam::MaxTokens), "{phrase}");
    }
    assert_eq!(refused("max_tokens is too large"), None);
}
