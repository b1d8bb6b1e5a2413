//! The load generator and the fast upstream for `scripts/bench-serve.sh`.
//!
//! ```text
//! serve_load upstream ADDR            a fixed OpenAI-compatible responder on ADDR:
//!                                     model "fast" answers at once (JSON or SSE),
//!                                     model "slow" streams 50 chunks 100 ms apart,
//!                                     model "paced" answers after 200 ms (a
//!                                     first token as quick as the quickest LLMs)
//! serve_load latency URL N C MODEL    N requests, C at a time, to URL (…/v1);
//!                                     prints p50 and p99 in microseconds
//!                                     and how many failed
//! serve_load streams URL N MODEL      N streamed requests at once, held open;
//!                                     prints how many completed
//! serve_load passthrough ADDR URL     the floor: a bare proxy from the same
//!                                     crates (axum in, reqwest out) that
//!                                     forwards each body to URL (…/v1) and
//!                                     relays the reply's bytes, parsing nothing
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
        Some("passthrough") => passthrough(arg(&args, 1)?, arg(&args, 2)?).await,
        _ => anyhow::bail!(
            "usage: serve_load upstream ADDR | latency URL N C MODEL | streams URL N MODEL \
             | passthrough ADDR URL"
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

/// How long model "paced" thinks before it answers.
const PACED: Duration = Duration::from_millis(200);

/// The fixed responder: no latency of its own for "fast".
async fn upstream(addr: &str) -> anyhow::Result<()> {
    use axum::body::Body;
    use axum::response::IntoResponse;
    use axum::routing::{get, post};
    let app = axum::Router::new()
        .route(
            "/v1/chat/completions",
            post(|axum::Json(body): axum::Json<Value>| async move {
                let model = body["model"].as_str().unwrap_or("fast").to_string();
                let stream = body["stream"].as_bool().unwrap_or(false);
                if model == "paced" {
                    tokio::time::sleep(PACED).await;
                }
                if !stream {
                    return axum::Json(reply(&model)).into_response();
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

/// What any HTTP-in, HTTP-out proxy on these crates costs at the least:
/// the bench's yardstick for serve's own work (routing, parsing, records).
async fn passthrough(addr: &str, upstream: &str) -> anyhow::Result<()> {
    use axum::body::{Body, Bytes};
    use axum::extract::State;
    use axum::response::IntoResponse;
    let target = format!("{upstream}/chat/completions");
    let app = axum::Router::new()
        .route(
            "/v1/chat/completions",
            axum::routing::post(
                |State((http, target)): State<(reqwest::Client, String)>, body: Bytes| async move {
                    let sent = http
                        .post(&target)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await;
                    match sent {
                        Ok(resp) => axum::response::Response::builder()
                            .status(resp.status().as_u16())
                            .header("content-type", "application/json")
                            .body(Body::from_stream(resp.bytes_stream()))
                            .unwrap_or_default(),
                        Err(e) => {
                            (axum::http::StatusCode::BAD_GATEWAY, e.to_string()).into_response()
                        }
                    }
                },
            ),
        )
        .with_state((client()?, target));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("passthrough on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
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

/// Requests sent one at a time before a run.
const WARM: usize = 20;

async fn latency(url: &str, n: usize, c: usize, model: &str) -> anyhow::Result<()> {
    let http = client()?;
    let c = c.max(1);
    // Warm both processes, and open the connections the run will use (a
    // burst of fresh connections would otherwise land in the percentiles).
    for _ in 0..WARM {
        one(&http, url, model, false).await?;
    }
    let burst: Vec<_> = (1..c).map(|_| one(&http, url, model, false)).collect();
    for done in futures_util::future::join_all(burst).await {
        done?;
    }
    let per = n.div_ceil(c);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..c {
        let http = http.clone();
        let url = url.to_string();
        let model = model.to_string();
        tasks.spawn(async move {
            let mut times = Vec::with_capacity(per);
            let mut failed = Vec::new();
            for _ in 0..per {
                match one(&http, &url, &model, false).await {
                    Ok(t) => times.push(t),
                    Err(e) => failed.push(e.to_string()),
                }
            }
            (times, failed)
        });
    }
    // A request that failed (the 60 s timeout included) is counted apart,
    // not in the percentiles: a slow proxy shows as failures, not as a
    // crash of the bench.
    let mut all = Vec::with_capacity(n);
    let mut failed = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (times, errors) = done?;
        all.extend(times);
        failed.extend(errors);
    }
    if all.is_empty() {
        anyhow::bail!(
            "every request failed; the first: {}",
            failed.first().map_or("", String::as_str)
        );
    }
    all.sort();
    let pick = |q: f64| {
        let i = ((all.len() as f64 * q).ceil() as usize).clamp(1, all.len()) - 1;
        all.get(i).map_or(0, |d| d.as_micros())
    };
    println!(
        "n={} c={} p50_us={} p99_us={} failed={} warm={}",
        all.len(),
        c,
        pick(0.50),
        pick(0.99),
        failed.len(),
        WARM + c - 1
    );
    if let Some(first) = failed.first() {
        eprintln!("first failure: {first}");
    }
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
