//! The load generator and the fast upstream for `scripts/bench-serve.sh`.
//!
//! ```text
//! serve_load upstream ADDR            a fixed OpenAI-compatible responder on ADDR:
//!                                     model "fast" answers at once (JSON or SSE),
//!                                     model "slow" streams 50 chunks 100 ms apart
//! serve_load latency URL N C MODEL    N requests, C at a time, to URL (…/v1);
//!                                     prints p50 and p99 in microseconds
//! serve_load streams URL N MODEL      N streamed requests at once, held open;
//!                                     prints how many completed
//! ```
//!
//! Requests are non-streamed chat completions with a short prompt; the
//! latency is from sending to the whole body read. Bounded: every request
//! has a 60 s timeout and the counts come from the command line.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("upstream") => upstream(arg(&args, 1)?).await,
        Some("latency") => {
            let n: usize = arg(&args, 2)?.parse()?;
            let c: usize = arg(&args, 3)?.parse()?;
            latency(arg(&args, 1)?, n, c, arg(&args, 4)?).await
        }
        Some("streams") => {
            let n: usize = arg(&args, 2)?.parse()?;
            streams(arg(&args, 1)?, n, arg(&args, 3)?).await
        }
        _ => anyhow::bail!(
            "usage: serve_load upstream ADDR | latency URL N C MODEL | streams URL N MODEL"
        ),
    }
}

fn arg(args: &[String], i: usize) -> anyhow::Result<&str> {
    args.get(i)
        .map(String::as_str)
        .ok_or_else(|| anyhow::anyhow!("missing argument {i}"))
}

fn reply(model: &str) -> Value {
    json!({
        "id": "chatcmpl-up", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "pong"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
    })
}

fn chunk(model: &str, delta: Value, finish: Option<&str>) -> String {
    let c = json!({"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 0, "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    format!("data: {c}\n\n")
}

/// The fixed responder: no latency of its own for "fast".
async fn upstream(addr: &str) -> anyhow::Result<()> {
    use axum::body::Body;
    use axum::routing::{get, post};
    let app = axum::Router::new()
        .route(
            "/v1/chat/completions",
            post(|axum::Json(body): axum::Json<Value>| async move {
                let model = body["model"].as_str().unwrap_or("fast").to_string();
                let stream = body["stream"].as_bool().unwrap_or(false);
                if !stream {
                    return axum::Json(reply(&model)).into_response_parts();
                }
                let slow = model == "slow";
                let frames = futures_util::stream::unfold(0u32, move |i| {
                    let model = model.clone();
                    async move {
                        let n = if slow { 50 } else { 1 };
                        let frame = match i {
                            0 => chunk(&model, json!({"role": "assistant", "content": ""}), None),
                            i if i <= n => {
                                if slow {
                                    tokio::time::sleep(Duration::from_millis(100)).await;
                                }
                                chunk(&model, json!({"content": "pong "}), None)
                            }
                            i if i == n + 1 => chunk(&model, json!({}), Some("stop")),
                            i if i == n + 2 => format!(
                                "data: {}\n\n",
                                json!({"id": "chatcmpl-up", "object": "chat.completion.chunk", "model": model, "choices": [],
                                    "usage": {"prompt_tokens": 5, "completion_tokens": n, "total_tokens": 5 + n}})
                            ),
                            i if i == n + 3 => "data: [DONE]\n\n".to_string(),
                            _ => return None,
                        };
                        Some((Ok::<_, std::convert::Infallible>(frame), i + 1))
                    }
                });
                axum::response::Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(Body::from_stream(frames))
                    .unwrap_or_default()
            }),
        )
        .route("/v1/models", get(|| async { axum::Json(json!({"data": []})) }));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("upstream on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

/// Lets the JSON arm and the stream arm of the handler share a type.
trait IntoParts {
    fn into_response_parts(self) -> axum::response::Response;
}

impl<T: axum::response::IntoResponse> IntoParts for T {
    fn into_response_parts(self) -> axum::response::Response {
        self.into_response()
    }
}

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(1024)
        .build()?)
}

async fn one(
    http: &reqwest::Client,
    url: &str,
    model: &str,
    stream: bool,
) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    let resp = http
        .post(format!("{url}/chat/completions"))
        .json(&json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "ping"}]}))
        .send()
        .await?;
    let status = resp.status();
    let body = resp.bytes().await?;
    if !status.is_success() {
        anyhow::bail!("HTTP {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(t0.elapsed())
}

async fn latency(url: &str, n: usize, c: usize, model: &str) -> anyhow::Result<()> {
    let http = client()?;
    // Warm the pools and both processes.
    for _ in 0..20 {
        one(&http, url, model, false).await?;
    }
    let c = c.max(1);
    let per = n.div_ceil(c);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..c {
        let http = http.clone();
        let url = url.to_string();
        let model = model.to_string();
        tasks.spawn(async move {
            let mut times = Vec::with_capacity(per);
            for _ in 0..per {
                times.push(one(&http, &url, &model, false).await?);
            }
            anyhow::Ok(times)
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(done) = tasks.join_next().await {
        all.extend(done??);
    }
    all.sort();
    let pick = |q: f64| {
        let i = ((all.len() as f64 * q).ceil() as usize).clamp(1, all.len()) - 1;
        all.get(i).map_or(0, |d| d.as_micros())
    };
    println!(
        "n={} c={} p50_us={} p99_us={}",
        all.len(),
        c,
        pick(0.50),
        pick(0.99)
    );
    Ok(())
}

async fn streams(url: &str, n: usize, model: &str) -> anyhow::Result<()> {
    let http = client()?;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let http = http.clone();
        let url = url.to_string();
        let model = model.to_string();
        tasks.spawn(async move { one(&http, &url, &model, true).await });
    }
    let (mut ok, mut failed) = (0, 0);
    let mut first_error = None;
    while let Some(done) = tasks.join_next().await {
        match done? {
            Ok(_) => ok += 1,
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    println!("streams={n} ok={ok} failed={failed}");
    if let Some(e) = first_error {
        println!("first error: {e}");
    }
    Ok(())
}
