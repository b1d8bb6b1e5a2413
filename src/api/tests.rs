//! The client against a raw HTTP/1.1 server on loopback that writes canned
//! bytes: byte-level control over split chunks, keep-alive whitespace,
//! streams that stop, and connections closed without a response.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;

use super::*;

/// Bounds every wait in the test server so that a broken client fails the
/// test instead of hanging it.
const BOUND: Duration = Duration::from_secs(5);
const KEY: &str = "sk-or-v1-0123456789abcdef0123456789abcdef";

pub(super) enum Step {
    Write(Vec<u8>),
    /// Pause before the next step: a model thinking, or a stream stalling.
    Sleep(Duration),
    /// Tell the test the server got this far.
    Notify(oneshot::Sender<()>),
    /// Read until the client closes the connection.
    AwaitEof,
}

/// What the server saw.
#[derive(Debug, Default)]
pub(super) struct Served {
    pub(super) head: String,
    pub(super) body: String,
    /// The client closed the connection while the server was still there.
    pub(super) eof: bool,
}

impl Served {
    pub(super) fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
    pub(super) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

pub(super) async fn read_request(sock: &mut TcpStream) -> (String, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string();
                return (head, body);
            }
        }
        assert!(buf.len() < 1 << 20, "request too large");
        let n = timeout(BOUND, sock.read(&mut chunk))
            .await
            .expect("request within bound")
            .unwrap();
        if n == 0 {
            return (String::from_utf8_lossy(&buf).to_string(), String::new());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Serves one connection with `steps`, then closes it.
pub(super) async fn serve(steps: Vec<Step>) -> (String, tokio::task::JoinHandle<Served>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = tokio::spawn(async move {
        let (mut sock, _) = timeout(BOUND, listener.accept()).await.unwrap().unwrap();
        let (head, body) = read_request(&mut sock).await;
        let mut served = Served {
            head,
            body,
            eof: false,
        };
        for step in steps {
            match step {
                Step::Write(bytes) => {
                    if sock.write_all(&bytes).await.is_err() || sock.flush().await.is_err() {
                        served.eof = true;
                        break;
                    }
                }
                Step::Notify(tx) => {
                    let _ = tx.send(());
                }
                Step::Sleep(d) => tokio::time::sleep(d).await,
                Step::AwaitEof => {
                    let mut scratch = [0u8; 1024];
                    let eof = async {
                        loop {
                            match sock.read(&mut scratch).await {
                                Ok(0) | Err(_) => return,
                                Ok(_) => {}
                            }
                        }
                    };
                    served.eof = timeout(BOUND, eof).await.is_ok();
                }
            }
        }
        served
    });
    (format!("http://{addr}/v1"), handle)
}

pub(super) fn w(bytes: impl AsRef<[u8]>) -> Step {
    Step::Write(bytes.as_ref().to_vec())
}

/// A complete response with a Content-Length.
pub(super) fn response(status: &str, headers: &[(&str, &str)], body: &str) -> Step {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    w(out)
}

pub(super) fn json_response(body: &str) -> Step {
    response("200 OK", &[("Content-Type", "application/json")], body)
}

/// Headers of an event stream whose body ends when the connection closes.
pub(super) fn sse_head() -> Step {
    w("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
}

fn chunked_head(content_type: &str) -> Step {
    w(format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ))
}

fn chunk(data: &str) -> Step {
    w(format!("{:x}\r\n{data}\r\n", data.len()))
}

pub(super) fn data(v: Value) -> String {
    format!("data: {v}\n\n")
}

pub(super) fn delta(text: &str) -> String {
    data(
        json!({"model": "test/served", "provider": "Prov", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]}),
    )
}

pub(super) fn finish(reason: &str) -> String {
    data(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}))
}

const PONG_REPLY: &str = r#"{"id":"gen-1","model":"test/served-v2","provider":"Prov","system_fingerprint":"fp_9","choices":[{"index":0,"message":{"role":"assistant","content":"pong"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"cost":0.0001}}"#;

pub(super) fn target(base_url: String, dialect: Dialect) -> Target {
    Target {
        base_url,
        dialect,
        api_key: Some(Secret::new(KEY)),
        model_id: "test/model".into(),
        extra: serde_json::Map::new(),
        fallback_models: vec![],
    }
}

pub(super) fn request(stream: bool) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::system("be brief"), Message::user("ping?")],
        max_tokens: 16,
        stream,
        expect: Some(regex::Regex::new(r"(?i)\bpong\b").unwrap()),
        passthrough: None,
    }
}

pub(super) fn deadlines(first_token_ms: u64, total_ms: u64) -> Deadlines {
    Deadlines {
        connect: Duration::from_secs(2),
        first_token: Duration::from_millis(first_token_ms),
        stall: None,
        total: Duration::from_millis(total_ms),
    }
}

pub(super) struct Outcome {
    pub(super) attempt: Attempt,
    pub(super) served: Served,
    pub(super) deltas: Vec<String>,
}

pub(super) async fn exchange_with(
    client: Client,
    dialect: Dialect,
    req: ChatRequest,
    dl: Deadlines,
    steps: Vec<Step>,
) -> Outcome {
    let (base, server) = serve(steps).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let attempt = client
        .send(&target(base, dialect), &req, dl, Some(&tx))
        .await;
    drop(client);
    let served = server.await.unwrap();
    let mut deltas = Vec::new();
    while let Ok(d) = rx.try_recv() {
        deltas.push(d);
    }
    Outcome {
        attempt,
        served,
        deltas,
    }
}

pub(super) async fn exchange(stream: bool, steps: Vec<Step>) -> Outcome {
    exchange_with(
        Client::new(Duration::from_secs(2)),
        Dialect::Openai,
        request(stream),
        deadlines(5000, 5000),
        steps,
    )
    .await
}

pub(super) fn class(o: &Outcome) -> Option<FailureClass> {
    o.attempt.class()
}

pub(super) fn message(o: &Outcome) -> String {
    o.attempt
        .failure
        .as_ref()
        .map(|f| f.message.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn json_success_with_keepalive_whitespace() {
    let o = exchange(
        false,
        vec![json_response(&format!("\n\n   \n{PONG_REPLY}"))],
    )
    .await;
    let a = &o.attempt;
    assert!(a.is_ok(), "{a:?}");
    assert_eq!(a.http_status, Some(200));
    assert_eq!(a.reply, "pong");
    assert_eq!(a.served_model.as_deref(), Some("test/served-v2"));
    assert_eq!(a.served_by.as_deref(), Some("Prov"));
    assert_eq!(a.fingerprint.as_deref(), Some("fp_9"));
    assert_eq!(a.finish_reason.as_deref(), Some("stop"));
    assert_eq!(
        a.usage,
        Some(Usage {
            prompt_tokens: 9,
            completion_tokens: 2,
            cost: Some(0.0001),
            reasoning_tokens: None,
        })
    );
    assert_eq!(
        a.ttft,
        Some(a.latency),
        "a whole reply's first token is its end"
    );
    assert_eq!(o.deltas, vec!["pong"]);

    let s = &o.served;
    assert!(
        s.head.starts_with("POST /v1/chat/completions HTTP/1.1"),
        "{}",
        s.head
    );
    assert_eq!(s.header("authorization"), Some(format!("Bearer {KEY}")));
    assert!(s.header("user-agent").unwrap().starts_with("chainwatch/"));
    assert_eq!(s.header("x-title").as_deref(), Some("chainwatch"));
    assert!(s.header("http-referer").is_some());
    let body = s.json();
    assert_eq!(body["model"], "test/model");
    assert_eq!(body["max_tokens"], 16);
    assert_eq!(body["stream"], false);
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "be brief"})
    );
    assert!(body.get("models").is_none());
}

#[tokio::test]
async fn sse_success_with_comments_split_chunks_and_usage_chunk() {
    let o = exchange(
        true,
        vec![
            chunked_head("text/event-stream"),
            chunk(": OPENROUTER PROCESSING\r\n\r\n"),
            chunk(&data(json!({"choices": [{"delta": {"role": "assistant"}}]}))),
            chunk(&delta("po")[..9]),
            chunk(&delta("po")[9..]),
            chunk(&delta("ng").replace('\n', "\r\n")),
            chunk(&finish("stop")),
            chunk(&data(json!({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2, "cost": 0.0002}}))),
            chunk("data: [DONE]\n\n"),
            w("0\r\n\r\n"),
        ],
    )
    .await;
    let a = &o.attempt;
    assert!(a.is_ok(), "{a:?}");
    assert_eq!(a.reply, "pong");
    // Streamed in pieces; the key mask may hold back a character that could
    // begin a run of the key until the next piece shows it does not.
    assert_eq!(o.deltas.concat(), "pong");
    assert!(o.deltas.len() >= 2, "{:?}", o.deltas);
    assert_eq!(a.finish_reason.as_deref(), Some("stop"));
    assert_eq!(a.served_model.as_deref(), Some("test/served"));
    assert_eq!(a.served_by.as_deref(), Some("Prov"));
    assert_eq!(a.usage.as_ref().map(|u| u.cost), Some(Some(0.0002)));
    assert!(a.ttft.is_some_and(|t| t <= a.latency));
    let body = o.served.json();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(
        o.served.header("accept").as_deref(),
        Some("text/event-stream")
    );
}

#[tokio::test]
async fn sse_with_finish_reason_but_no_done_marker_is_ok() {
    let o = exchange(
        true,
        vec![sse_head(), w(delta("pong")), w(finish("length"))],
    )
    .await;
    assert!(o.attempt.is_ok(), "{:?}", o.attempt);
}

#[tokio::test]
async fn a_stream_that_hangs_after_its_finish_reason_is_complete() {
    let o = exchange_with(
        Client::new(Duration::from_secs(2)),
        Dialect::Openai,
        request(true),
        deadlines(5000, 300),
        vec![
            sse_head(),
            w(delta("pong")),
            w(finish("stop")),
            Step::AwaitEof,
        ],
    )
    .await;
    assert!(o.attempt.is_ok(), "{:?}", o.attempt);
    assert!(o.attempt.ttft.is_some_and(|t| t <= o.attempt.latency));
    assert!(o.served.eof);
}

#[tokio::test]
async fn fallback_models_and_extra_reach_the_body() {
    let (base, server) = serve(vec![json_response(PONG_REPLY)]).await;
    let mut t = target(base, Dialect::Openai);
    t.fallback_models = vec!["other/model".into()];
    t.extra
        .insert("provider".into(), json!({"sort": "latency"}));
    let a = Client::new(Duration::from_secs(2))
        .send(&t, &request(false), deadlines(5000, 5000), None)
        .await;
    assert!(a.is_ok(), "{a:?}");
    let body = server.await.unwrap().json();
    assert_eq!(body["models"], json!(["test/model", "other/model"]));
    assert_eq!(body["provider"], json!({"sort": "latency"}));
}

/// Status line, headers, body → class, words in the message, retry-after.
type StatusCase = (
    &'static str,
    Vec<(&'static str, &'static str)>,
    &'static str,
    FailureClass,
    &'static str,
    Option<Duration>,
);

#[tokio::test]
async fn error_statuses_are_classified() {
    use FailureClass::*;
    let cases: Vec<StatusCase> = vec![
        (
            "400 Bad Request",
            vec![],
            r#"{"error":{"code":400,"message":"context length exceeded"}}"#,
            BadRequest,
            "context length exceeded",
            None,
        ),
        (
            "401 Unauthorized",
            vec![],
            r#"{"error":{"code":401,"message":"No auth credentials found"}}"#,
            Auth,
            "No auth credentials found",
            None,
        ),
        (
            "402 Payment Required",
            vec![],
            r#"{"error":{"code":402,"message":"Insufficient credits"}}"#,
            Credits,
            "Insufficient credits",
            None,
        ),
        (
            "403 Forbidden",
            vec![],
            r#"{"error":{"message":"Key disabled","type":"permission_error"}}"#,
            Auth,
            "Key disabled",
            None,
        ),
        (
            "404 Not Found",
            vec![],
            r#"{"error":{"code":404,"message":"No endpoints found for test/model"}}"#,
            NotFound,
            "No endpoints found",
            None,
        ),
        (
            "408 Request Timeout",
            vec![],
            "timeout",
            Timeout,
            "timeout",
            None,
        ),
        (
            "422 Unprocessable Entity",
            vec![],
            r#"{"detail":"bad field"}"#,
            BadRequest,
            "bad field",
            None,
        ),
        (
            "429 Too Many Requests",
            vec![("Retry-After", "7")],
            r#"{"error":{"code":429,"message":"Rate limit exceeded"}}"#,
            RateLimited,
            "Rate limit exceeded",
            Some(Duration::from_secs(7)),
        ),
        (
            "429 Too Many Requests",
            vec![("x-ratelimit-reset-requests", "1m30s")],
            r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#,
            Credits,
            "exceeded your current quota",
            Some(Duration::from_secs(90)),
        ),
        (
            "500 Internal Server Error",
            vec![],
            "",
            ServerError,
            "HTTP 500 with an empty body",
            None,
        ),
        (
            "502 Bad Gateway",
            vec![("Content-Type", "text/html")],
            "<html><head><title>502 Bad Gateway</title></head><body>cloudflare</body></html>",
            ServerError,
            "HTML error page (502): 502 Bad Gateway",
            None,
        ),
        (
            "503 Service Unavailable",
            vec![("retry-after-ms", "250")],
            r#"{"error":{"message":"No instances available","error_type":"no_available_provider","http_status":503,"metadata":{"provider_name":"Lambda"}}}"#,
            ServerError,
            "No instances available (provider Lambda)",
            Some(Duration::from_millis(250)),
        ),
        (
            "524 Origin Timeout",
            vec![],
            "<!DOCTYPE html><html><title>openrouter.ai | 524: A timeout occurred</title></html>",
            ServerError,
            "524: A timeout occurred",
            None,
        ),
        (
            "529 Overloaded",
            vec![],
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            ServerError,
            "Overloaded",
            None,
        ),
        (
            "301 Moved Permanently",
            vec![("Location", "https://elsewhere/v1")],
            "",
            BadRequest,
            "redirected (301) to https://elsewhere/v1; check base_url",
            None,
        ),
    ];
    let mut runs = Vec::new();
    for (status, headers, body, want, text, retry) in cases {
        let step = response(status, &headers, body);
        runs.push(async move {
            let o = exchange(true, vec![step]).await;
            (status, want, text, retry, o)
        });
    }
    for (status, want, text, retry, o) in futures_util::future::join_all(runs).await {
        let f = o
            .attempt
            .failure
            .as_ref()
            .unwrap_or_else(|| panic!("{status}: no failure"));
        assert_eq!(f.class, want, "{status}: {f:?}");
        assert!(
            f.message.contains(text),
            "{status}: {:?} lacks {text:?}",
            f.message
        );
        assert_eq!(f.retry_after, retry, "{status}");
        assert_eq!(
            o.attempt.http_status,
            status.split(' ').next().unwrap().parse().ok()
        );
        assert!(o.deltas.is_empty());
    }
}

#[tokio::test]
async fn ok_status_with_error_object_is_provider_error() {
    let top = exchange(false, vec![json_response(r#"{"error":{"code":502,"message":"Upstream error","metadata":{"provider_name":"Foo"}}}"#)]).await;
    assert_eq!(class(&top), Some(FailureClass::ProviderError));
    assert!(
        message(&top).contains("Upstream error (provider Foo)"),
        "{}",
        message(&top)
    );

    let in_choice = exchange(false, vec![json_response(r#"{"choices":[{"message":{"content":""},"finish_reason":"error","error":{"code":"x","message":"choice failed"}}]}"#)]).await;
    assert_eq!(class(&in_choice), Some(FailureClass::ProviderError));
    assert!(message(&in_choice).contains("choice failed"));

    // A stream was asked for but the server answered with a JSON error.
    let as_json = exchange(true, vec![json_response(r#"{"error":{"message":"nope"}}"#)]).await;
    assert_eq!(class(&as_json), Some(FailureClass::ProviderError));

    // No content type at all: sniffed as JSON rather than read as an empty stream.
    let sniffed = exchange(
        true,
        vec![response(
            "200 OK",
            &[],
            r#"  {"error":{"message":"sniffed"}}"#,
        )],
    )
    .await;
    assert_eq!(class(&sniffed), Some(FailureClass::ProviderError));
    assert!(message(&sniffed).contains("sniffed"));
}

#[tokio::test]
async fn mid_stream_error_keeps_partial_text() {
    let o = exchange(
        true,
        vec![
            sse_head(),
            w(delta("Hel")),
            w(delta("lo")),
            w(data(json!({"error": {"code": 502, "message": "Provider disconnected"}, "choices": [{"delta": {"content": ""}, "finish_reason": "error"}]}))),
        ],
    )
    .await;
    assert_eq!(class(&o), Some(FailureClass::ProviderError));
    assert!(message(&o).contains("Provider disconnected"));
    assert_eq!(o.attempt.reply, "Hello");
    assert_eq!(o.deltas.concat(), "Hello");
    assert_eq!(o.deltas.first().map(String::as_str), Some("Hel"));
    assert!(o.attempt.ttft.is_some());
    assert_eq!(o.attempt.finish_reason.as_deref(), Some("error"));

    // An error that names a 4xx status keeps that status's meaning.
    let limited = exchange(
        true,
        vec![
            sse_head(),
            w(": OPENROUTER PROCESSING\n\n"),
            w(data(
                json!({"error": {"code": 429, "message": "Rate limit exceeded upstream"}}),
            )),
        ],
    )
    .await;
    assert_eq!(
        class(&limited),
        Some(FailureClass::RateLimited),
        "{:?}",
        limited.attempt
    );

    let named = exchange(
        true,
        vec![
            sse_head(),
            w(delta("x")),
            w("event: error\ndata: {\"message\":\"worker died\"}\n\n"),
        ],
    )
    .await;
    assert_eq!(class(&named), Some(FailureClass::ProviderError));
    assert!(message(&named).contains("worker died"));

    let bare = exchange(true, vec![sse_head(), w(delta("x")), w(finish("error"))]).await;
    assert_eq!(class(&bare), Some(FailureClass::ProviderError));
}

#[tokio::test]
async fn streams_that_stop_are_truncated() {
    // Connection-delimited body, closed cleanly after some content.
    let clean = exchange(true, vec![sse_head(), w(delta("po"))]).await;
    assert_eq!(class(&clean), Some(FailureClass::Truncated));
    assert_eq!(clean.attempt.reply, "po");

    // Chunked body cut without its terminating chunk.
    let cut = exchange(
        true,
        vec![chunked_head("text/event-stream"), chunk(&delta("po"))],
    )
    .await;
    assert_eq!(
        class(&cut),
        Some(FailureClass::Truncated),
        "{:?}",
        cut.attempt
    );
    assert_eq!(cut.attempt.reply, "po");

    // Cut in the middle of an event's JSON.
    let mid = exchange(
        true,
        vec![sse_head(), w(delta("po")), w("data: {\"choices\":[{\"del")],
    )
    .await;
    assert_eq!(
        class(&mid),
        Some(FailureClass::Truncated),
        "{:?}",
        mid.attempt
    );

    // Only keep-alive comments, then the end.
    let comments = exchange(true, vec![sse_head(), w(": OPENROUTER PROCESSING\n\n")]).await;
    assert_eq!(class(&comments), Some(FailureClass::Truncated));
    assert!(
        message(&comments).contains("only 1 keep-alive comment)"),
        "{}",
        message(&comments)
    );
}

#[tokio::test]
async fn bodies_that_are_not_the_json_they_should_be_are_malformed() {
    let html = exchange(
        false,
        vec![response(
            "200 OK",
            &[("Content-Type", "text/html")],
            "<html><title>Login</title></html>",
        )],
    )
    .await;
    assert_eq!(class(&html), Some(FailureClass::Malformed));
    assert!(
        message(&html).contains("HTML page instead of JSON (200): Login"),
        "{}",
        message(&html)
    );

    let broken = exchange(false, vec![json_response(r#"{"choices": [ oops"#)]).await;
    assert_eq!(class(&broken), Some(FailureClass::Malformed));

    let no_choices = exchange(false, vec![json_response(r#"{"id":"x"}"#)]).await;
    assert_eq!(class(&no_choices), Some(FailureClass::Malformed));

    let empty_body = exchange(false, vec![json_response("\n\n")]).await;
    assert_eq!(class(&empty_body), Some(FailureClass::Malformed));

    let bad_event = exchange(
        true,
        vec![
            sse_head(),
            w(delta("po")),
            w("data: <b>oops</b>\n\n"),
            w("data: [DONE]\n\n"),
        ],
    )
    .await;
    assert_eq!(class(&bad_event), Some(FailureClass::Malformed));
    assert_eq!(bad_event.attempt.reply, "po");
}

#[tokio::test]
async fn no_content_is_empty_and_a_miss_is_wrong_answer() {
    let json_empty = exchange(
        false,
        vec![json_response(
            r#"{"choices":[{"message":{"content":""},"finish_reason":"stop"}]}"#,
        )],
    )
    .await;
    assert_eq!(class(&json_empty), Some(FailureClass::Empty));
    assert!(message(&json_empty).contains("finish_reason stop"));

    let sse_empty = exchange(
        true,
        vec![
            sse_head(),
            w(data(
                json!({"choices": [{"delta": {"role": "assistant", "content": ""}}]}),
            )),
            w(finish("stop")),
            w("data: [DONE]\n\n"),
        ],
    )
    .await;
    assert_eq!(class(&sse_empty), Some(FailureClass::Empty));
    assert_eq!(sse_empty.attempt.ttft, None);

    let wrong = exchange(
        true,
        vec![
            sse_head(),
            w(delta("ping")),
            w(finish("stop")),
            w("data: [DONE]\n\n"),
        ],
    )
    .await;
    assert_eq!(class(&wrong), Some(FailureClass::WrongAnswer));
    assert_eq!(wrong.attempt.reply, "ping");
    assert!(message(&wrong).contains("ping"));
}

#[tokio::test]
async fn transport_failures_before_a_response_are_connect() {
    let closed = exchange(false, vec![]).await;
    assert_eq!(
        class(&closed),
        Some(FailureClass::Connect),
        "{:?}",
        closed.attempt
    );
    assert_eq!(closed.attempt.http_status, None);

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let a = Client::new(Duration::from_secs(2))
        .send(
            &target(format!("http://{addr}/v1"), Dialect::Openai),
            &request(false),
            deadlines(5000, 5000),
            None,
        )
        .await;
    assert_eq!(a.class(), Some(FailureClass::Connect), "{a:?}");
    assert!(a
        .failure
        .unwrap()
        .message
        .to_lowercase()
        .contains("refused"));

    // TLS spoken to something that is not TLS.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let garbage = tokio::spawn(async move {
        let (mut sock, _) = timeout(BOUND, listener.accept()).await.unwrap().unwrap();
        let _ = sock
            .write_all(b"HTTP/1.1 200 OK\r\n\r\nnot tls at all")
            .await;
    });
    let tls = Client::new(Duration::from_secs(2))
        .send(
            &target(format!("https://{addr}/v1"), Dialect::Openai),
            &request(false),
            deadlines(5000, 5000),
            None,
        )
        .await;
    garbage.await.unwrap();
    assert_eq!(tls.class(), Some(FailureClass::Connect), "{tls:?}");

    let bad_url = Client::new(Duration::from_secs(2))
        .send(
            &target("not a url".into(), Dialect::Openai),
            &request(false),
            deadlines(5000, 5000),
            None,
        )
        .await;
    assert_eq!(
        bad_url.class(),
        Some(FailureClass::BadRequest),
        "{bad_url:?}"
    );
}

#[tokio::test]
async fn only_comments_miss_the_first_token_deadline() {
    let o = exchange_with(
        Client::new(Duration::from_secs(2)),
        Dialect::Openai,
        request(true),
        deadlines(200, 5000),
        vec![
            sse_head(),
            w(": OPENROUTER PROCESSING\n\n"),
            w(data(json!({"choices": [{"delta": {"role": "assistant"}}]}))),
            Step::AwaitEof,
        ],
    )
    .await;
    assert_eq!(class(&o), Some(FailureClass::Timeout));
    assert!(
        message(&o).starts_with("no first token within 200ms"),
        "{}",
        message(&o)
    );
    assert_eq!(o.attempt.ttft, None);
    assert!(o.served.eof, "the connection must be closed on timeout");
}

#[tokio::test]
async fn no_response_headers_miss_the_first_token_deadline() {
    let o = exchange_with(
        Client::new(Duration::from_secs(2)),
        Dialect::Openai,
        request(false),
        deadlines(200, 5000),
        vec![Step::AwaitEof],
    )
    .await;
    assert_eq!(class(&o), Some(FailureClass::Timeout));
    assert!(
        message(&o).contains("no first token within 200ms (no response yet)"),
        "{}",
        message(&o)
    );
    assert!(o.served.eof);
}

#[tokio::test]
async fn a_stalled_stream_misses_the_total_deadline_and_keeps_text() {
    let o = exchange_with(
        Client::new(Duration::from_secs(2)),
        Dialect::Openai,
        request(true),
        deadlines(5000, 300),
        vec![sse_head(), w(delta("po")), Step::AwaitEof],
    )
    .await;
    assert_eq!(class(&o), Some(FailureClass::Timeout));
    assert!(
        message(&o).starts_with("not done within 300ms"),
        "{}",
        message(&o)
    );
    assert_eq!(o.attempt.reply, "po");
    assert!(o.served.eof);
}

#[tokio::test]
async fn a_reply_over_the_cap_is_malformed_and_dropped() {
    let big = delta(&"x".repeat(200)).repeat(20);
    let o = exchange_with(
        Client::new(Duration::from_secs(2)).with_reply_cap(1024),
        Dialect::Openai,
        request(true),
        deadlines(5000, 5000),
        vec![sse_head(), w(&big), Step::AwaitEof],
    )
    .await;
    assert_eq!(class(&o), Some(FailureClass::Malformed));
    assert_eq!(message(&o), "reply exceeded the 1 KiB cap");
    assert!(o.served.eof, "the connection must be dropped");
    assert!(o.attempt.reply.len() <= 1024);

    // Declared too long up front: not even read.
    let declared = exchange_with(
        Client::new(Duration::from_secs(2)).with_reply_cap(1024),
        Dialect::Openai,
        request(false),
        deadlines(5000, 5000),
        vec![
            json_response(&format!("{{\"pad\":\"{}\"}}", "x".repeat(2000))),
            Step::AwaitEof,
        ],
    )
    .await;
    assert_eq!(class(&declared), Some(FailureClass::Malformed));

    // No length given, body just keeps coming.
    let endless = exchange_with(
        Client::new(Duration::from_secs(2)).with_reply_cap(1024),
        Dialect::Openai,
        request(false),
        deadlines(5000, 5000),
        vec![
            w("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"),
            w(" ".repeat(4096)),
            Step::AwaitEof,
        ],
    )
    .await;
    assert_eq!(message(&endless), "reply exceeded the 1 KiB cap");
    assert!(endless.served.eof);
}

#[tokio::test]
async fn the_key_never_appears_in_the_attempt() {
    let echo = format!(
        r#"{{"error":{{"code":401,"message":"Invalid key {KEY} (Authorization: Bearer {KEY})","metadata":{{"raw":"{KEY}"}}}}}}"#
    );
    let o = exchange(false, vec![response("401 Unauthorized", &[], &echo)]).await;
    assert_eq!(class(&o), Some(FailureClass::Auth));
    let debug = format!("{:?}", o.attempt);
    assert!(!debug.contains(KEY), "{debug}");
    assert!(!debug.contains("0123456789abcdef"), "{debug}");
    assert!(
        message(&o).contains("Invalid key sk-or-v1-…***"),
        "{}",
        message(&o)
    );

    // A key no pattern recognises is still scrubbed, by value.
    let odd_key = "hunter2-is-my-odd-key";
    let (base, server) = serve(vec![response(
        "403 Forbidden",
        &[],
        &format!("forbidden for {odd_key}"),
    )])
    .await;
    let mut t = target(base, Dialect::Openai);
    t.api_key = Some(Secret::new(odd_key));
    let a = Client::new(Duration::from_secs(2))
        .send(&t, &request(false), deadlines(5000, 5000), None)
        .await;
    server.await.unwrap();
    assert_eq!(a.class(), Some(FailureClass::Auth));
    assert!(!format!("{a:?}").contains(odd_key));
    assert!(!format!("{t:?}").contains(odd_key));

    // Nor when the message is long enough that the key straddles the cut.
    let padding = "x".repeat(180);
    let (base, server) = serve(vec![response(
        "401 Unauthorized",
        &[],
        &format!(r#"{{"error":{{"code":401,"message":"{padding} bad key {odd_key}"}}}}"#),
    )])
    .await;
    let mut t = target(base, Dialect::Openai);
    t.api_key = Some(Secret::new(odd_key));
    let a = Client::new(Duration::from_secs(2))
        .send(&t, &request(false), deadlines(5000, 5000), None)
        .await;
    server.await.unwrap();
    let shown = a.failure.map(|f| f.message).unwrap_or_default();
    assert!(!shown.contains(&odd_key[..8]), "{shown}");
}

#[tokio::test]
async fn a_slice_of_the_key_is_masked_in_messages_and_streams() {
    // A 21-character slice, too short for the pattern mask.
    let slice = &KEY[12..33];
    let echo = format!(r#"{{"error":{{"code":401,"message":"Invalid key ending {slice}"}}}}"#);
    let o = exchange(false, vec![response("401 Unauthorized", &[], &echo)]).await;
    assert_eq!(message(&o), "401: Invalid key ending ***");

    // Streamed, the slice split across two pieces of the stream.
    let o = exchange(
        true,
        vec![
            sse_head(),
            w(delta(&format!("echo {}", &slice[..9]))),
            w(delta(&format!("{} done", &slice[9..]))),
            w(finish("stop")),
            w("data: [DONE]\n\n"),
        ],
    )
    .await;
    assert_eq!(o.attempt.reply, "echo *** done");
    assert!(!message(&o).contains(&slice[..12]), "{}", message(&o));
    assert_eq!(o.deltas.concat(), "echo *** done", "{:?}", o.deltas);
}

#[tokio::test]
async fn dropping_send_closes_the_connection() {
    let (reached, reached_rx) = oneshot::channel();
    let (base, server) = serve(vec![
        sse_head(),
        w(delta("po")),
        Step::Notify(reached),
        Step::AwaitEof,
    ])
    .await;
    let client = Client::new(Duration::from_secs(2));
    let t = target(base, Dialect::Openai);
    let req = request(true);
    tokio::select! {
        a = client.send(&t, &req, deadlines(30_000, 30_000), None) => panic!("finished early: {a:?}"),
        _ = reached_rx => {}
    }
    // The send future is gone; the client (and its pool) is still alive.
    let served = server.await.unwrap();
    assert!(served.eof, "the server must see the connection close");
    drop(client);
}

#[tokio::test]
async fn dropping_send_before_headers_closes_the_connection() {
    let (reached, reached_rx) = oneshot::channel();
    let (base, server) = serve(vec![Step::Notify(reached), Step::AwaitEof]).await;
    let client = Client::new(Duration::from_secs(2));
    let t = target(base, Dialect::Openai);
    let req = request(false);
    tokio::select! {
        a = client.send(&t, &req, deadlines(30_000, 30_000), None) => panic!("finished early: {a:?}"),
        _ = reached_rx => {}
    }
    assert!(server.await.unwrap().eof);
    drop(client);
}

#[tokio::test]
async fn anthropic_json_success() {
    let reply = r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[{"type":"text","text":"pong"}],"stop_reason":"end_turn","usage":{"input_tokens":12,"output_tokens":3}}"#;
    let o = exchange_with(
        Client::new(Duration::from_secs(2)),
        Dialect::Anthropic,
        request(false),
        deadlines(5000, 5000),
        vec![json_response(reply)],
    )
    .await;
    let a = &o.attempt;
    assert!(a.is_ok(), "{a:?}");
    assert_eq!(a.reply, "pong");
    assert_eq!(a.served_model.as_deref(), Some("claude-sonnet-4-20250514"));
    assert_eq!(a.finish_reason.as_deref(), Some("end_turn"));
    assert_eq!(
        a.usage
            .as_ref()
            .map(|u| (u.prompt_tokens, u.completion_tokens)),
        Some((12, 3))
    );

    let s = &o.served;
    assert!(
        s.head.starts_with("POST /v1/messages HTTP/1.1"),
        "{}",
        s.head
    );
    assert_eq!(s.header("x-api-key").as_deref(), Some(KEY));
    assert_eq!(s.header("anthropic-version").as_deref(), Some("2023-06-01"));
    assert_eq!(s.header("authorization"), None);
    let body = s.json();
    assert_eq!(body["system"], "be brief");
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": "ping?"}])
    );
    assert_eq!(body["max_tokens"], 16);
}

fn anthropic_event(name: &str, v: Value) -> String {
    format!("event: {name}\r\ndata: {v}\r\n\r\n")
}

#[tokio::test]
async fn anthropic_sse_success() {
    let o = exchange_with(
        Client::new(Duration::from_secs(2)),
        Dialect::Anthropic,
        request(true),
        deadlines(5000, 5000),
        vec![
            sse_head(),
            w(anthropic_event("message_start", json!({"type": "message_start", "message": {"model": "claude-x", "usage": {"input_tokens": 12, "output_tokens": 1}}}))),
            w(anthropic_event("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}))),
            w(anthropic_event("ping", json!({"type": "ping"}))),
            w(anthropic_event("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "po"}}))),
            w(anthropic_event("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ng"}}))),
            w(anthropic_event("content_block_stop", json!({"type": "content_block_stop", "index": 0}))),
            w(anthropic_event("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}}))),
            w(anthropic_event("message_stop", json!({"type": "message_stop"}))),
            Step::AwaitEof,
        ],
    )
    .await;
    let a = &o.attempt;
    assert!(a.is_ok(), "{a:?}");
    assert_eq!(a.reply, "pong");
    // Streamed in pieces; the key mask may hold back a character that could
    // begin a run of the key until the next piece shows it does not.
    assert_eq!(o.deltas.concat(), "pong");
    assert!(o.deltas.len() >= 2, "{:?}", o.deltas);
    assert_eq!(a.served_model.as_deref(), Some("claude-x"));
    assert_eq!(a.finish_reason.as_deref(), Some("end_turn"));
    assert_eq!(
        a.usage
            .as_ref()
            .map(|u| (u.prompt_tokens, u.completion_tokens)),
        Some((12, 3))
    );
    assert!(
        o.served.eof,
        "message_stop ends the reading; the connection is let go"
    );
}

#[tokio::test]
async fn anthropic_stream_error_and_truncation() {
    let err = exchange_with(
        Client::new(Duration::from_secs(2)),
        Dialect::Anthropic,
        request(true),
        deadlines(5000, 5000),
        vec![
            sse_head(),
            w(anthropic_event("content_block_delta", json!({"type": "content_block_delta", "delta": {"type": "text_delta", "text": "po"}}))),
            w(anthropic_event("error", json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))),
        ],
    )
    .await;
    assert_eq!(class(&err), Some(FailureClass::ProviderError));
    assert_eq!(err.attempt.reply, "po");

    let cut = exchange_with(
        Client::new(Duration::from_secs(2)),
        Dialect::Anthropic,
        request(true),
        deadlines(5000, 5000),
        vec![sse_head(), w(anthropic_event("content_block_delta", json!({"type": "content_block_delta", "delta": {"type": "text_delta", "text": "pong"}})))],
    )
    .await;
    assert_eq!(class(&cut), Some(FailureClass::Truncated));
}

#[tokio::test]
async fn absurd_deadlines_do_not_panic() {
    let o = exchange_with(
        Client::new(Duration::MAX),
        Dialect::Openai,
        request(false),
        Deadlines {
            connect: Duration::MAX,
            first_token: Duration::MAX,
            stall: None,
            total: Duration::MAX,
        },
        vec![json_response(PONG_REPLY)],
    )
    .await;
    assert!(o.attempt.is_ok(), "{:?}", o.attempt);
}

#[tokio::test]
async fn no_key_sends_no_auth_header() {
    let (base, server) = serve(vec![json_response(PONG_REPLY)]).await;
    let mut t = target(base, Dialect::Openai);
    t.api_key = None;
    t.base_url.push('/');
    let a = Client::new(Duration::from_secs(2))
        .send(&t, &request(false), deadlines(5000, 5000), None)
        .await;
    assert!(a.is_ok(), "{a:?}");
    let s = server.await.unwrap();
    assert_eq!(s.header("authorization"), None);
    assert!(
        s.head.starts_with("POST /v1/chat/completions "),
        "trailing slash in base_url is tolerated"
    );
}
