//! Fuzz-style property tests of the response and error parsers: any bytes
//! as a whole reply (both dialects), as an error body, and any JSON as an
//! error object or a stream event. Never a panic, memory in proportion to
//! the input (measured by the counting allocator in `testing`).

use proptest::prelude::*;
use serde_json::Value;

use super::classify::{error_from_json, parse_error_body, reply_error};
use super::reply::parse_whole;
use super::Dialect;
use crate::testing::peak_during;

const BODIES: &[&str] = &[
    r#"{"id":"gen-1","model":"x/m","provider":"P","choices":[{"index":0,"message":{"role":"assistant","content":"pong"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"cost":0.1}}"#,
    r#"{"error":{"code":502,"message":"Provider returned error","metadata":{"raw":"x"}}}"#,
    r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    r#"{"id":"msg_1","type":"message","model":"claude","content":[{"type":"thinking","thinking":"hm"},{"type":"text","text":"pong"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}"#,
    "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
    ": OPENROUTER PROCESSING\n\n{\"choices\":[]}",
];

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2048),
        (
            proptest::sample::select(BODIES),
            proptest::collection::vec((any::<usize>(), any::<u8>()), 0..12),
            any::<usize>(),
        )
            .prop_map(|(sample, flips, cut)| {
                let mut b = sample.as_bytes().to_vec();
                for (at, byte) in flips {
                    let i = at % b.len();
                    b[i] = byte;
                }
                b.truncate(cut % (b.len() + 1));
                b
            }),
    ]
}

/// Arbitrary JSON, nested a few levels.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,24}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = proptest::sample::select(
            &[
                "error",
                "code",
                "message",
                "type",
                "choices",
                "delta",
                "content",
                "text",
                "model",
                "provider",
                "usage",
                "cost",
                "finish_reason",
                "metadata",
                "raw",
                "reasoning",
                "thinking",
                "stop_reason",
                "index",
                "x",
            ][..],
        );
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((keys, inner), 0..6).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

/// Compiles the masking patterns and fills this thread's regex caches, once
/// per thread: lasting set-up, not memory a reply makes the parser hold.
fn warm_up() {
    for body in BODIES {
        for dialect in [Dialect::Openai, Dialect::Anthropic] {
            let _ = parse_whole(body.as_bytes(), 500, dialect.wire());
        }
        let _ = parse_error_body(body.as_bytes(), 500).display();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn whole_replies_and_error_bodies_take_any_bytes(bytes in body(), status in 100u16..600) {
        warm_up();
        let (_, peak) = peak_during(|| {
            for dialect in [Dialect::Openai, Dialect::Anthropic] {
                let _ = parse_whole(&bytes, status, dialect.wire());
            }
            parse_error_body(&bytes, status).display()
        });
        let limit = 32 * bytes.len() + 64 * 1024;
        prop_assert!(peak <= limit, "peak {} > {}", peak, limit);
    }

    #[test]
    fn any_json_as_an_error_a_reply_or_an_event(value in json()) {
        let text = value.to_string();
        warm_up();
        let (_, peak) = peak_during(|| {
            let _ = error_from_json(&value).map(|e| e.display());
            let _ = reply_error(&value).map(|e| e.display());
            for dialect in [Dialect::Openai, Dialect::Anthropic] {
                let wire = dialect.wire();
                let _ = wire.parse_reply(&value);
                let _ = wire.parse_event(None, &text);
                let _ = wire.parse_event(Some("content_block_delta"), &text);
            }
        });
        let limit = 32 * text.len() + 64 * 1024;
        prop_assert!(peak <= limit, "peak {} > {}", peak, limit);
    }
}
