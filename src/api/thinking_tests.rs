//! Thinking models against the canned loopback server of `tests.rs`:
//! reasoning as proof of life (first-token and stall deadlines), the two
//! first-token times, reasoning tokens, a reply whose reasoning ate the
//! whole limit (`budget`), Anthropic thinking blocks, and the 400 that
//! refuses `max_tokens`.

use std::time::Duration;

use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::time::timeout;

use super::tests::{
    class, data, deadlines, delta, exchange_with, finish, json_response, message, read_request,
    request, response, sse_head, target, w, Step,
};
use super::*;

const MS: fn(u64) -> Duration = Duration::from_millis;

fn reasoning(text: &str) -> String {
    data(
        json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": "", "reasoning": text}}]}),
    )
}

fn usage(completion: u64, reasoning: u64) -> String {
    data(
        json!({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": completion,
        "completion_tokens_details": {"reasoning_tokens": reasoning}}}),
    )
}

/// Reasoning every `gap` for `n` steps, then "pong".
fn thinking_stream(n: usize, gap: Duration) -> Vec<Step> {
    let mut steps = vec![sse_head()];
    for i in 0..n {
        steps.push(w(reasoning(&format!("thought {i}. "))));
        steps.push(Step::Sleep(gap));
    }
    steps.push(w(delta("pong")));
    steps.push(w(finish("stop")));
    steps.push(w(usage(40, 39)));
    steps.push(w("data: [DONE]\n\n"));
    steps
}

async fn openai(dl: Deadlines, steps: Vec<Step>) -> super::tests::Outcome {
    exchange_with(
        Client::new(MS(2000)),
        Dialect::Openai,
        request(true),
        dl,
        steps,
    )
    .await
}

#[tokio::test]
async fn reasoning_satisfies_the_first_token_deadline() {
    // Content comes 600 ms in, past a 300 ms first-token deadline; the
    // reasoning before it is proof of life.
    let o = openai(
        Deadlines {
            stall: Some(MS(300)),
            ..deadlines(300, 5000)
        },
        thinking_stream(6, MS(100)),
    )
    .await;
    assert!(o.attempt.is_ok(), "{:?}", o.attempt.failure);
    let (ttft, ttfc) = (o.attempt.ttft.unwrap(), o.attempt.ttfc.unwrap());
    assert!(ttft < MS(300), "first token {ttft:?}");
    assert!(ttfc >= MS(500), "first content {ttfc:?}");
    assert_eq!(o.attempt.usage.as_ref().unwrap().reasoning_tokens, Some(39));
    assert_eq!(o.attempt.usage.as_ref().unwrap().completion_tokens, 40);
    // Only content reaches the caller: reasoning is not an answer.
    assert_eq!(o.deltas, ["pong"]);
    assert_eq!(o.attempt.reply, "pong");
}

#[tokio::test]
async fn reasoning_keeps_the_stall_clock_from_running_out() {
    // 700 ms of reasoning, a token every 100 ms, under a 250 ms stall limit.
    let o = openai(
        Deadlines {
            stall: Some(MS(250)),
            ..deadlines(250, 5000)
        },
        thinking_stream(7, MS(100)),
    )
    .await;
    assert!(o.attempt.is_ok(), "{:?}", o.attempt.failure);
}

#[tokio::test]
async fn a_stream_that_goes_quiet_while_thinking_has_stalled() {
    let o = openai(
        Deadlines {
            stall: Some(MS(200)),
            ..deadlines(1000, 5000)
        },
        vec![
            sse_head(),
            w(reasoning("Let me think.")),
            Step::Sleep(MS(1500)),
            w(delta("pong")),
        ],
    )
    .await;
    assert_eq!(class(&o), Some(FailureClass::Timeout));
    let m = message(&o);
    assert!(m.contains("stalled: no token for 200ms"), "{m}");
    assert!(m.contains("only reasoning so far (13 chars)"), "{m}");
    assert!(o.attempt.ttft.is_some() && o.attempt.ttfc.is_none());
}

#[tokio::test]
async fn without_reasoning_a_late_first_token_is_still_a_timeout() {
    let o = openai(
        deadlines(300, 5000),
        vec![
            sse_head(),
            w(": OPENROUTER PROCESSING\n\n"),
            Step::Sleep(MS(800)),
            w(delta("pong")),
        ],
    )
    .await;
    assert_eq!(class(&o), Some(FailureClass::Timeout));
    assert!(message(&o).contains("no first token within 300ms"));
}

#[tokio::test]
async fn reasoning_that_eats_the_limit_is_budget() {
    for stream in [true, false] {
        let steps = if stream {
            vec![
                sse_head(),
                w(reasoning("The user wants a single word.")),
                w(finish("length")),
                w(usage(16, 16)),
                w("data: [DONE]\n\n"),
            ]
        } else {
            vec![json_response(
                &json!({"choices": [{"message": {"role": "assistant", "content": null, "reasoning": "The user wants"},
                    "finish_reason": "length", "native_finish_reason": "MAX_TOKENS"}],
                    "usage": {"prompt_tokens": 9, "completion_tokens": 16, "completion_tokens_details": {"reasoning_tokens": 16}}})
                .to_string(),
            )]
        };
        let o = exchange_with(
            Client::new(MS(2000)),
            Dialect::Openai,
            request(stream),
            deadlines(2000, 5000),
            steps,
        )
        .await;
        assert_eq!(class(&o), Some(FailureClass::Budget), "stream={stream}");
        assert_eq!(
            message(&o),
            "the reply stopped at max_tokens (16) before any content (16 reasoning tokens)"
        );
        assert_eq!(o.attempt.usage.as_ref().unwrap().reasoning_tokens, Some(16));
    }
    // Without reasoning tokens reported, the message still says where they went.
    let o = openai(
        deadlines(2000, 5000),
        vec![sse_head(), w(finish("length")), w("data: [DONE]\n\n")],
    )
    .await;
    assert_eq!(class(&o), Some(FailureClass::Budget));
    assert!(
        message(&o).ends_with("(none of it visible)"),
        "{}",
        message(&o)
    );
}

fn event(name: &str, v: serde_json::Value) -> String {
    format!("event: {name}\ndata: {v}\n\n")
}

fn anthropic_thinking(then: Vec<Step>) -> Vec<Step> {
    let mut steps = vec![
        sse_head(),
        w(event(
            "message_start",
            json!({"type": "message_start", "message": {"model": "claude-x", "usage": {"input_tokens": 9, "output_tokens": 1}}}),
        )),
        w(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
        )),
    ];
    for i in 0..4 {
        steps.push(Step::Sleep(MS(100)));
        steps.push(w(event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": format!("step {i}. ")}}),
        )));
    }
    steps.push(w(event(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQB"}}),
    )));
    steps.push(w(event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    )));
    steps.extend(then);
    steps
}

async fn anthropic(steps: Vec<Step>) -> super::tests::Outcome {
    exchange_with(
        Client::new(MS(2000)),
        Dialect::Anthropic,
        request(true),
        Deadlines {
            stall: Some(MS(300)),
            ..deadlines(300, 5000)
        },
        steps,
    )
    .await
}

#[tokio::test]
async fn anthropic_thinking_blocks_are_proof_of_life() {
    let o = anthropic(anthropic_thinking(vec![
        Step::Sleep(MS(100)),
        w(event("content_block_start", json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}))),
        w(event("content_block_delta", json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "pong"}}))),
        w(event("content_block_stop", json!({"type": "content_block_stop", "index": 1}))),
        w(event("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 61}}))),
        w(event("message_stop", json!({"type": "message_stop"}))),
    ]))
    .await;
    assert!(o.attempt.is_ok(), "{:?}", o.attempt.failure);
    assert_eq!(o.deltas, ["pong"]);
    assert!(o.attempt.ttfc.unwrap() >= MS(400), "{:?}", o.attempt.ttfc);
    assert!(o.attempt.ttft.unwrap() < MS(300), "{:?}", o.attempt.ttft);
    assert_eq!(o.attempt.usage.as_ref().unwrap().completion_tokens, 61);
}

#[tokio::test]
async fn an_anthropic_error_event_after_thinking_is_a_failure() {
    let o = anthropic(anthropic_thinking(vec![w(event(
        "error",
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ))]))
    .await;
    assert_eq!(class(&o), Some(FailureClass::ProviderError));
    assert_eq!(message(&o), "Overloaded");
    assert!(o.attempt.ttft.is_some() && o.attempt.ttfc.is_none());
}

/// Serves one connection per entry of `each`, in order, and hands back the
/// request bodies it read.
async fn serve_each(each: Vec<Vec<Step>>) -> (String, tokio::task::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = tokio::spawn(async move {
        let mut bodies = Vec::new();
        for steps in each {
            let accepted = timeout(Duration::from_secs(5), listener.accept()).await;
            let Ok(Ok((mut sock, _))) = accepted else {
                break;
            };
            let (_, body) = read_request(&mut sock).await;
            bodies.push(body);
            for step in steps {
                match step {
                    Step::Write(bytes) => {
                        let _ = sock.write_all(&bytes).await;
                    }
                    Step::Sleep(d) => tokio::time::sleep(d).await,
                    _ => {}
                }
            }
            let _ = sock.shutdown().await;
        }
        bodies
    });
    (format!("http://{addr}/v1"), handle)
}

const REFUSED: &str = r#"{"error":{"message":"Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.","type":"invalid_request_error","param":"max_tokens","code":"unsupported_parameter"}}"#;
const PONG: &str = r#"{"choices":[{"message":{"role":"assistant","content":"pong"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":80,"completion_tokens_details":{"reasoning_tokens":79}}}"#;

fn limit_fields(body: &str) -> (bool, bool) {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    (
        v.get("max_tokens").is_some(),
        v.get("max_completion_tokens").is_some(),
    )
}

#[tokio::test]
async fn a_refused_max_tokens_is_sent_again_as_max_completion_tokens_and_remembered() {
    let headers = [
        ("Content-Type", "application/json"),
        ("Connection", "close"),
    ];
    let (base, server) = serve_each(vec![
        vec![response("400 Bad Request", &headers, REFUSED)],
        vec![response("200 OK", &headers, PONG)],
        vec![response("200 OK", &headers, PONG)],
    ])
    .await;
    let client = Client::new(MS(2000));
    let t = target(base, Dialect::Openai);
    let first = client
        .send(&t, &request(false), deadlines(2000, 5000), None)
        .await;
    assert!(first.is_ok(), "{:?}", first.failure);
    assert_eq!(first.http_status, Some(200));
    assert_eq!(client.limit_param(&t), TokenParam::MaxCompletionTokens);
    // A clone (the router's client) knows it too: the next request goes
    // straight out with the field the endpoint takes.
    let second = client
        .clone()
        .send(&t, &request(false), deadlines(2000, 5000), None)
        .await;
    assert!(second.is_ok(), "{:?}", second.failure);
    let bodies = server.await.unwrap();
    assert_eq!(bodies.len(), 3);
    assert_eq!(limit_fields(&bodies[0]), (true, false));
    assert_eq!(limit_fields(&bodies[1]), (false, true));
    assert_eq!(limit_fields(&bodies[2]), (false, true));
}

#[tokio::test]
async fn the_retry_happens_once() {
    let headers = [
        ("Content-Type", "application/json"),
        ("Connection", "close"),
    ];
    let refuses_both = r#"{"error":{"message":"Unsupported parameter: 'max_completion_tokens' is not supported with this model.","param":"max_completion_tokens","code":"unsupported_parameter"}}"#;
    let (base, server) = serve_each(vec![
        vec![response("400 Bad Request", &headers, REFUSED)],
        // A third request would find no server: a `connect` failure.
        vec![response("400 Bad Request", &headers, refuses_both)],
    ])
    .await;
    let client = Client::new(MS(2000));
    let t = target(base, Dialect::Openai);
    let a = client
        .send(&t, &request(false), deadlines(2000, 5000), None)
        .await;
    // Both refused: a bad request, said as the endpoint said it; nothing learned.
    assert_eq!(a.class(), Some(FailureClass::BadRequest));
    assert!(a.failure.unwrap().message.contains("max_completion_tokens"));
    assert_eq!(client.limit_param(&t), TokenParam::MaxTokens);
    drop(client);
    let bodies = server.await.unwrap();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
}

#[tokio::test]
async fn other_bad_requests_are_not_retried() {
    let headers = [
        ("Content-Type", "application/json"),
        ("Connection", "close"),
    ];
    let (base, server) = serve_each(vec![vec![response(
        "400 Bad Request",
        &headers,
        r#"{"error":{"code":400,"message":"context length exceeded"}}"#,
    )]])
    .await;
    let client = Client::new(MS(2000));
    let a = client
        .send(
            &target(base, Dialect::Openai),
            &request(false),
            deadlines(2000, 5000),
            None,
        )
        .await;
    assert_eq!(a.class(), Some(FailureClass::BadRequest));
    drop(client);
    assert_eq!(server.await.unwrap().len(), 1);
}
