//! failoverbench's sixteen scenarios through `chainwatch ask --json` (or,
//! with `--serve`, through `chainwatch serve` as an OpenAI-compatible
//! endpoint, streamed as the catalogue says), against the simulator playing
//! the benchmark's wall, scored with the catalogue's checks (driven by
//! `scripts/failoverbench/score.sh`).
//!
//! ```text
//! failoverbench [--bin PATH] [--serve [--buffer]] [--only S01,S15]   (FB_LOG=1: the request log too)
//! ```
//!
//! In `--serve` mode each scenario starts one `serve` (its config and state
//! as in `ask` mode, the probe interval an hour so that the wall sees the
//! requests' attempts and at most one first probe per model), every call is
//! a streamed `model: "chain"` request with usage asked for, and the
//! alive-after call goes through the same server (`model: "fb-ok"`).
//! `--buffer` adds `x-chainwatch-buffer: 1` to every call: the stream is
//! collected whole before its first byte, so a break restarts cleanly.
//!
//! Each scenario gets a fresh simulator (the wall's reset) loaded with
//! `assets/scenarios/failoverbench.toml` (the benchmark's `full` timings),
//! a config naming the scenario's primary and fallback on one
//! OpenAI-dialect endpoint, chain `[primary, fallback]`, everything else at
//! its default, and a fresh state file (S15's twenty requests share one).
//! What the caller saw comes from the JSON; what the provider saw from the
//! simulator's request log. The verdicts follow failoverbench's
//! METHODOLOGY.md: pass (rescued, every check clean), partial (rescued, an
//! advisory check failed), safe (not rescued, a bounded clean error),
//! fail (a required check failed, a hang, or a truncated success).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chainwatch::sim::{Scenario, SimRequest, SimServer};
use serde_json::Value;

const PROMPT: &str =
    "Explain in exactly sixty words why a gateway earns trust only when the provider behind it misbehaves.";

/// One check of the catalogue: what it measures, and whether failing it is
/// advisory (partial) rather than required (fail).
#[derive(Clone, Copy)]
enum Check {
    NoHang,
    Complete,
    NoTruncatedSuccess,
    PrimaryMin(usize),
    PrimaryMax(usize),
    PrimaryEq(usize),
    FirstGapMin(f64),
    MaxWithin { window_s: f64, most: usize },
    WallMax(f64),
    AliveAfter,
    FallbackUsed,
    ReportedFallback,
    UsagePresent,
    NoPrefillMasking,
    SeqNoHang,
    SeqServedDuringOutage,
    SeqRecoveredWithin(f64),
    SeqProbeDiscipline,
}

struct Bench {
    id: &'static str,
    title: &'static str,
    model: &'static str,
    fallback: &'static str,
    /// The error is the ideal outcome (S13).
    ideal_error: bool,
    max_wall_s: f64,
    /// (check, advisory, informational)
    checks: &'static [(Check, bool, bool)],
}

use Check::*;

const R: bool = false;
const A: bool = true;

const BENCH: &[Bench] = &[
    Bench {
        id: "S01",
        title: "429 with Retry-After",
        model: "fb-s01-429-retry-after",
        fallback: "fb-ok",
        ideal_error: false,
        max_wall_s: 20.0,
        checks: &[
            (PrimaryMin(2), A, false),
            (FirstGapMin(1.8), A, false),
            (
                MaxWithin {
                    window_s: 1.5,
                    most: 2,
                },
                R,
                false,
            ),
        ],
    },
    Bench {
        id: "S02",
        title: "429 without Retry-After, persistent",
        model: "fb-s02-429-persistent",
        fallback: "fb-ok",
        ideal_error: false,
        max_wall_s: 40.0,
        checks: &[
            (
                MaxWithin {
                    window_s: 3.0,
                    most: 4,
                },
                R,
                false,
            ),
            (PrimaryMax(6), R, false),
            (NoHang, R, false),
        ],
    },
    Bench {
        id: "S03",
        title: "500 once, then healthy",
        model: "fb-s03-500-then-200",
        fallback: "fb-ok",
        ideal_error: false,
        max_wall_s: 20.0,
        checks: &[(NoHang, R, false), (PrimaryMin(2), A, false)],
    },
    Bench {
        id: "S04",
        title: "503 persistent",
        model: "fb-s04-503-persistent",
        fallback: "fb-ok",
        ideal_error: false,
        max_wall_s: 40.0,
        checks: &[(PrimaryMax(6), R, false), (NoHang, R, false)],
    },
    Bench {
        id: "S05",
        title: "TCP reset before headers",
        model: "fb-s05-reset",
        fallback: "fb-ok",
        ideal_error: false,
        max_wall_s: 20.0,
        checks: &[(NoHang, R, false)],
    },
    Bench {
        id: "S06",
        title: "No response at all",
        model: "fb-s06-no-response",
        fallback: "fb-ok",
        ideal_error: false,
        max_wall_s: 130.0,
        checks: &[
            (WallMax(100.0), R, false),
            (NoHang, R, false),
            (PrimaryMax(1), A, false),
        ],
    },
    Bench {
        id: "S07",
        title: "Slow first token",
        model: "fb-s07-slow-ttft",
        fallback: "fb-ok",
        ideal_error: false,
        max_wall_s: 60.0,
        checks: &[(NoHang, R, false), (WallMax(15.0), A, false)],
    },
    Bench {
        id: "S08",
        title: "Stream cut mid-answer",
        model: "fb-s08-stream-cut",
        fallback: "fb-ok",
        ideal_error: false,
        max_wall_s: 40.0,
        checks: &[(NoTruncatedSuccess, R, false), (NoHang, R, false)],
    },
    Bench {
        id: "S09",
        title: "Stream stalls",
        model: "fb-s09-stream-stall",
        fallback: "fb-ok",
        ideal_error: false,
        max_wall_s: 70.0,
        checks: &[
            (WallMax(45.0), R, false),
            (NoTruncatedSuccess, R, false),
            (AliveAfter, R, false),
            (NoHang, R, false),
        ],
    },
    Bench {
        id: "S10",
        title: "Malformed chunk in the stream",
        model: "fb-s10-malformed-chunk",
        fallback: "fb-ok",
        ideal_error: false,
        max_wall_s: 30.0,
        checks: &[
            (AliveAfter, R, false),
            (NoTruncatedSuccess, R, false),
            (NoHang, R, false),
            (Complete, A, false),
        ],
    },
    Bench {
        id: "S11",
        title: "Stream ends without [DONE]",
        model: "fb-s11-no-done",
        fallback: "fb-ok",
        ideal_error: false,
        max_wall_s: 30.0,
        checks: &[(WallMax(8.0), R, false), (UsagePresent, A, false)],
    },
    Bench {
        id: "S12",
        title: "Context length exceeded",
        model: "fb-s12-context-length",
        fallback: "fb-ok",
        ideal_error: false,
        max_wall_s: 20.0,
        checks: &[(PrimaryEq(1), R, false), (NoHang, R, false)],
    },
    Bench {
        id: "S13",
        title: "Content-filter rejection",
        model: "fb-s13-content-filter",
        fallback: "fb-ok",
        ideal_error: true,
        max_wall_s: 20.0,
        checks: &[
            (PrimaryEq(1), R, false),
            (NoHang, R, false),
            (FallbackUsed, A, true),
        ],
    },
    Bench {
        id: "S14",
        title: "Fallback target rejects prefill",
        model: "fb-s14-stream-cut",
        fallback: "fb-ok-noprefill",
        ideal_error: false,
        max_wall_s: 40.0,
        checks: &[(NoPrefillMasking, R, false), (NoTruncatedSuccess, R, false)],
    },
    Bench {
        id: "S15",
        title: "Primary flaps: down, then healthy",
        model: "fb-s15-flap",
        fallback: "fb-ok",
        ideal_error: false,
        max_wall_s: 200.0,
        checks: &[
            (SeqNoHang, R, false),
            (SeqServedDuringOutage, R, false),
            (SeqRecoveredWithin(30.0), R, false),
            (SeqProbeDiscipline, A, true),
        ],
    },
    Bench {
        id: "S16",
        title: "Fail-over accounting",
        model: "fb-s16-503-persistent",
        fallback: "fb-ok",
        ideal_error: false,
        max_wall_s: 40.0,
        checks: &[
            (ReportedFallback, R, false),
            (UsagePresent, A, false),
            (PrimaryMax(6), R, false),
        ],
    },
];

/// S15: twenty requests, one every 4 s, each given 30 s; the outage lasts
/// the first 60 s.
const SEQ_COUNT: u32 = 20;
/// The wall's healthy model, which the alive-after call asks for.
const ALIVE_MODEL: &str = "fb-ok";
const SEQ_INTERVAL: Duration = Duration::from_secs(4);
const SEQ_MAX_WALL_S: f64 = 30.0;
const FLAP_DOWN_S: f64 = 60.0;

/// What the caller saw of one `ask --json`.
#[derive(Debug, Default, Clone)]
struct Call {
    hang: bool,
    ok: bool,
    text: String,
    model: Option<String>,
    usage: bool,
    error: Option<String>,
    elapsed_s: f64,
    /// What chainwatch says the route took (`total_ms`).
    total_ms: Option<u64>,
}

#[derive(Default)]
struct Measured {
    call: Call,
    complete: bool,
    primary: Vec<f64>,
    fallback: usize,
    prefill_rejections: usize,
    alive_after: bool,
    log: Vec<SimRequest>,
    // S15
    seq_hangs: usize,
    seq_during: usize,
    seq_served_during: usize,
    seq_primary_during: usize,
    seq_recovered_after: Option<f64>,
}

fn norm(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

struct Ctx {
    bin: PathBuf,
    /// Calls go through `chainwatch serve` instead of `ask --json`.
    serve: bool,
    /// Through `serve`, as buffered streams.
    buffer: bool,
    scenario: Scenario,
    canonical: String,
    dir: tempfile::TempDir,
}

impl Ctx {
    /// A config for `models` (chain in that order) on the wall at `base`.
    fn config(&self, base: &str, name: &str, models: &[&str]) -> anyhow::Result<PathBuf> {
        let mut text = String::new();
        let chain: Vec<String> = models.iter().map(|m| format!("{m:?}")).collect();
        text.push_str(&format!("chain = [{}]\n\n", chain.join(", ")));
        if self.serve {
            text.push_str("[probe]\ninterval = \"1h\"\n\n");
        }
        text.push_str(&format!(
            "[[endpoint]]\nname = \"wall\"\nbase_url = {base:?}\ndialect = \"openai\"\n\n"
        ));
        let mut models = models.to_vec();
        if self.serve && !models.contains(&ALIVE_MODEL) {
            // The alive-after call names it on the same server.
            models.push(ALIVE_MODEL);
        }
        for m in models {
            text.push_str(&format!(
                "[[model]]\nname = {m:?}\nid = {m:?}\nendpoint = \"wall\"\n\n"
            ));
        }
        let path = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, text)?;
        Ok(path)
    }

    /// `chainwatch ask --json` with `config` and `state`, cut at `max_wall_s`
    /// (a hang is a result).
    async fn ask(&self, config: &Path, state: &Path, max_wall_s: f64) -> anyhow::Result<Call> {
        let start = Instant::now();
        let mut child = tokio::process::Command::new(&self.bin)
            .arg("--config")
            .arg(config)
            .arg("--state")
            .arg(state)
            .args(["ask", "--json", PROMPT])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("running {}", self.bin.display()))?;
        let mut stdout = child.stdout.take().context("no stdout")?;
        let read = async {
            use tokio::io::AsyncReadExt;
            let mut out = Vec::new();
            let _ = stdout.read_to_end(&mut out).await;
            let _ = child.wait().await;
            out
        };
        let limit = Duration::from_secs_f64(max_wall_s + 1.0);
        let Ok(out) = tokio::time::timeout(limit, read).await else {
            return Ok(Call {
                hang: true,
                error: Some(format!("hang: no result within {max_wall_s}s")),
                elapsed_s: start.elapsed().as_secs_f64(),
                ..Call::default()
            });
        };
        let elapsed_s = start.elapsed().as_secs_f64();
        let v: Value = match serde_json::from_slice(&out) {
            Ok(v) => v,
            Err(e) => {
                return Ok(Call {
                    error: Some(format!("no JSON on stdout: {e}")),
                    elapsed_s,
                    ..Call::default()
                })
            }
        };
        let ok = v["ok"].as_bool().unwrap_or(false);
        Ok(Call {
            hang: false,
            ok,
            text: v["text"].as_str().unwrap_or_default().to_string(),
            model: v["model"].as_str().map(str::to_string),
            usage: v["usage"].is_object(),
            error: (!ok).then(|| {
                let outcome = v["outcome"].as_str().unwrap_or("failed");
                let e = v["error"].as_str().unwrap_or_default();
                format!("{outcome}: {e}")
            }),
            elapsed_s,
            total_ms: v["total_ms"].as_u64(),
        })
    }

    /// One call of the scenario, the way the mode says.
    async fn call(
        &self,
        server: Option<&Server>,
        config: &Path,
        state: &Path,
        max_wall_s: f64,
    ) -> anyhow::Result<Call> {
        match server {
            Some(server) => Ok(server.call("chain", max_wall_s).await),
            None => self.ask(config, state, max_wall_s).await,
        }
    }

    async fn run(&self, b: &Bench) -> anyhow::Result<Measured> {
        let sim = SimServer::start(self.scenario.clone(), "127.0.0.1:0".parse()?, 7).await?;
        let base = sim.base_url();
        let config = self.config(&base, b.id, &[b.model, b.fallback])?;
        let state = self.dir.path().join(format!("{}-state.json", b.id));
        let server = if self.serve {
            Some(Server::start(&self.bin, &config, &state, self.buffer).await?)
        } else {
            None
        };
        let mut m = Measured::default();
        if b.id == "S15" {
            let t0 = Instant::now();
            let mut last = Call::default();
            for i in 0..SEQ_COUNT {
                let target = SEQ_INTERVAL * i;
                if let Some(wait) = target.checked_sub(t0.elapsed()) {
                    tokio::time::sleep(wait).await;
                }
                let sent = t0.elapsed().as_secs_f64();
                let call = self
                    .call(server.as_ref(), &config, &state, SEQ_MAX_WALL_S)
                    .await?;
                let served = call.ok && norm(&call.text) == self.canonical;
                if call.hang {
                    m.seq_hangs += 1;
                }
                if sent < FLAP_DOWN_S {
                    m.seq_during += 1;
                    m.seq_served_during += usize::from(served);
                }
                eprintln!(
                    "  S15 #{i:<2} t={sent:5.1}s {:<16} {:.1}s",
                    call.model.as_deref().unwrap_or("(error)"),
                    call.elapsed_s
                );
                m.complete = if i == 0 { served } else { m.complete && served };
                last = call;
            }
            m.call = last;
            m.call.elapsed_s = t0.elapsed().as_secs_f64();
        } else {
            m.call = self
                .call(server.as_ref(), &config, &state, b.max_wall_s)
                .await?;
            m.complete = m.call.ok && norm(&m.call.text) == self.canonical;
        }
        m.log = sim.requests();
        let primary: Vec<&SimRequest> = m.log.iter().filter(|r| r.model == b.model).collect();
        m.primary = primary.iter().map(|r| r.at.as_secs_f64()).collect();
        m.fallback = m.log.iter().filter(|r| r.model == b.fallback).count();
        m.prefill_rejections = m
            .log
            .iter()
            .filter(|r| r.action.starts_with("400 prefill"))
            .count();
        m.seq_primary_during = m.primary.iter().filter(|&&t| t < FLAP_DOWN_S).count();
        m.seq_recovered_after = primary
            .iter()
            .filter(|r| r.action.starts_with("200"))
            .map(|r| r.at.as_secs_f64() - FLAP_DOWN_S)
            .reduce(f64::min);
        // Is the system still alive: a healthy call through the same state
        // (the same server).
        let call = match &server {
            Some(server) => server.call(ALIVE_MODEL, 10.0).await,
            None => {
                let alive = self.config(&base, &format!("{}-alive", b.id), &[ALIVE_MODEL])?;
                self.ask(&alive, &state, 10.0).await?
            }
        };
        drop(server);
        m.alive_after = call.ok && norm(&call.text) == self.canonical;
        sim.shutdown().await;
        Ok(m)
    }
}

/// One `chainwatch serve` for a scenario; killed when dropped.
struct Server {
    _child: tokio::process::Child,
    base: String,
    http: reqwest::Client,
    buffer: bool,
}

impl Server {
    async fn start(
        bin: &Path,
        config: &Path,
        state: &Path,
        buffer: bool,
    ) -> anyhow::Result<Server> {
        // A free port, released for serve to take (another process could
        // take it in between: then the error below says so).
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let errors = state.with_extension("serve.err");
        let child = tokio::process::Command::new(bin)
            .arg("--config")
            .arg(config)
            .arg("--state")
            .arg(state)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&errors)?)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("running {} serve", bin.display()))?;
        let server = Server {
            _child: child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            buffer,
        };
        for _ in 0..100 {
            let up = server
                .http
                .get(format!("{}/v1/models", server.base))
                .timeout(Duration::from_millis(500))
                .send()
                .await;
            if up.is_ok_and(|r| r.status().is_success()) {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let said = std::fs::read_to_string(&errors).unwrap_or_default();
        bail!(
            "chainwatch serve did not answer on port {port} within 10 s: {}",
            said.trim()
        )
    }

    /// A streamed chat completion for `model`, read as an OpenAI SDK would;
    /// cut at `max_wall_s` (a hang is a result).
    async fn call(&self, model: &str, max_wall_s: f64) -> Call {
        let start = Instant::now();
        let limit = Duration::from_secs_f64(max_wall_s + 1.0);
        let mut call = match tokio::time::timeout(limit, self.stream(model)).await {
            Ok(call) => call,
            Err(_) => Call {
                hang: true,
                error: Some(format!("hang: no result within {max_wall_s}s")),
                ..Call::default()
            },
        };
        call.elapsed_s = start.elapsed().as_secs_f64();
        call
    }

    async fn stream(&self, model: &str) -> Call {
        use futures_util::StreamExt;
        let body = serde_json::json!({
            "model": model,
            "messages": [{"role": "user", "content": PROMPT}],
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        let resp = match self
            .http
            .post(format!("{}/v1/chat/completions", self.base))
            .header("x-chainwatch-buffer", if self.buffer { "1" } else { "0" })
            .json(&body)
            .send()
            .await
        {
            Ok(resp) => resp,
            Err(e) => return Call::failed(format!("request: {e}")),
        };
        if !resp.status().is_success() {
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            let v: Value = serde_json::from_str(&text).unwrap_or_default();
            let msg = v["error"]["message"].as_str().unwrap_or(&text).to_string();
            return Call::failed(format!("HTTP {status}: {msg}"));
        }
        let mut call = Call::default();
        let mut finished = false;
        let mut pending = Vec::new();
        let mut bytes = resp.bytes_stream();
        'read: while let Some(piece) = bytes.next().await {
            let piece = match piece {
                Ok(piece) => piece,
                Err(e) => {
                    call.error = Some(format!("stream broke: {e}"));
                    break;
                }
            };
            pending.extend_from_slice(&piece);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                let Some(data) = line.trim().strip_prefix("data:") else {
                    continue;
                };
                let data = data.trim();
                if data == "[DONE]" {
                    break 'read;
                }
                let Ok(event) = serde_json::from_str::<Value>(data) else {
                    continue;
                };
                if !event["error"].is_null() {
                    call.error = Some(format!("error chunk: {}", event["error"]["message"]));
                    break 'read;
                }
                if let Some(m) = event["model"].as_str() {
                    call.model = Some(m.to_string());
                }
                call.usage |= event["usage"].is_object();
                for choice in event["choices"].as_array().into_iter().flatten() {
                    call.text
                        .push_str(choice["delta"]["content"].as_str().unwrap_or_default());
                    finished |= choice["finish_reason"].is_string();
                }
            }
        }
        call.ok = call.error.is_none() && finished;
        if !call.ok && call.error.is_none() {
            call.error = Some("the stream ended without a finish reason".into());
        }
        call
    }
}

impl Call {
    fn failed(error: String) -> Call {
        Call {
            error: Some(error),
            ..Call::default()
        }
    }
}

/// (passed: None = n/a, detail)
fn check(c: Check, m: &Measured, fallback: &str) -> (Option<bool>, String) {
    let call = &m.call;
    let success = call.ok && !call.hang;
    let n = m.primary.len();
    match c {
        NoHang => (Some(!call.hang), format!("ended in {:.1}s", call.elapsed_s)),
        Complete => (Some(m.complete), "complete answer".into()),
        NoTruncatedSuccess => (
            Some(!success || m.complete),
            if success && !m.complete {
                format!("success with {} words", norm(&call.text).split(' ').count())
            } else {
                "no truncated success".into()
            },
        ),
        PrimaryMin(v) => (Some(n >= v), format!("{n} primary attempt(s)")),
        PrimaryMax(v) => (Some(n <= v), format!("{n} primary attempt(s)")),
        PrimaryEq(v) => (Some(n == v), format!("{n} primary attempt(s)")),
        FirstGapMin(v) => match m.primary.get(1).zip(m.primary.first()) {
            Some((b, a)) => (Some(b - a >= v), format!("gap {:.2}s", b - a)),
            None => (Some(false), "no second attempt".into()),
        },
        MaxWithin { window_s, most } => {
            let first = m.primary.first().copied().unwrap_or(0.0);
            let k = m.primary.iter().filter(|&&t| t - first < window_s).count();
            (
                Some(k <= most),
                format!("{k} attempt(s) in first {window_s}s"),
            )
        }
        WallMax(v) => (
            Some(!call.hang && call.elapsed_s <= v),
            format!("{:.1}s", call.elapsed_s),
        ),
        AliveAfter => (Some(m.alive_after), "healthy call afterwards".into()),
        FallbackUsed => (
            Some(m.fallback >= 1),
            format!("{} fallback attempt(s)", m.fallback),
        ),
        ReportedFallback if m.fallback == 0 => (None, "the fallback was never used".into()),
        ReportedFallback => (
            Some(call.model.as_deref() == Some(fallback)),
            format!("model = {:?}", call.model),
        ),
        UsagePresent => (Some(call.usage), "usage".into()),
        NoPrefillMasking => (
            Some(success || m.prefill_rejections == 0),
            format!("{} prefill rejection(s)", m.prefill_rejections),
        ),
        SeqNoHang => (Some(m.seq_hangs == 0), format!("{} hung", m.seq_hangs)),
        SeqServedDuringOutage => (
            Some(m.seq_during > 0 && m.seq_served_during == m.seq_during),
            format!("{}/{} served in outage", m.seq_served_during, m.seq_during),
        ),
        SeqRecoveredWithin(v) => match m.seq_recovered_after {
            Some(r) => (Some(r <= v), format!("back on primary {r:+.1}s")),
            None => (Some(false), "primary never used again".into()),
        },
        SeqProbeDiscipline => (
            Some(m.seq_primary_during <= m.seq_during),
            format!(
                "{} primary attempt(s) for {} request(s) in the outage",
                m.seq_primary_during, m.seq_during
            ),
        ),
    }
}

/// The verdict and its reason, as METHODOLOGY.md defines them.
fn verdict(b: &Bench, m: &Measured) -> (&'static str, String) {
    let call = &m.call;
    if call.hang {
        return ("fail", "hang".into());
    }
    let success = call.ok;
    if success && !m.complete && !b.ideal_error {
        return ("fail", "truncated answer presented as success".into());
    }
    let mut required = Vec::new();
    let mut advisory = Vec::new();
    for &(c, adv, info) in b.checks {
        let (passed, detail) = check(c, m, b.fallback);
        if passed == Some(false) && !info {
            if adv {
                advisory.push(detail);
            } else {
                required.push(detail);
            }
        }
    }
    if !required.is_empty() {
        return ("fail", format!("failed: {}", required.join("; ")));
    }
    if b.ideal_error && success {
        return ("partial", "answered by routing around the rejection".into());
    }
    let rescued = if b.ideal_error {
        !success
    } else {
        success && m.complete
    };
    match (rescued, advisory.is_empty()) {
        (true, true) => ("pass", "rescued".into()),
        (true, false) => ("partial", format!("advisory: {}", advisory.join("; "))),
        (false, _) => (
            "safe",
            format!("clean error: {}", call.error.as_deref().unwrap_or("")),
        ),
    }
}

fn detail(b: &Bench, m: &Measured) -> String {
    if b.id == "S15" {
        return format!(
            "{}/{} served in outage · back on primary {}",
            m.seq_served_during,
            m.seq_during,
            m.seq_recovered_after
                .map_or("never".to_string(), |r| format!("{r:+.0}s"))
        );
    }
    let gap = match (m.primary.first(), m.primary.get(1)) {
        (Some(a), Some(b)) => format!(" · gap {:.1}s", b - a),
        _ => String::new(),
    };
    format!(
        "{}p/{}f{gap} · {:.1}s",
        m.primary.len(),
        m.fallback,
        m.call.elapsed_s
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = arg("--bin").map_or_else(|| root.join("target/release/chainwatch"), PathBuf::from);
    if !bin.exists() {
        bail!(
            "{} not found: build it (cargo build --release) or pass --bin PATH",
            bin.display()
        );
    }
    let only: Option<Vec<String>> =
        arg("--only").map(|s| s.split(',').map(str::to_string).collect());
    let scenario = Scenario::load(&root.join("assets/scenarios/failoverbench.toml"))?;
    let canonical = scenario
        .models()
        .iter()
        .find(|m| m.name == "fb-ok")
        .and_then(|m| m.reply.clone())
        .map(|r| norm(&r))
        .context("the scenario has no fb-ok reply")?;
    let ctx = Ctx {
        bin,
        serve: args.iter().any(|a| a == "--serve"),
        buffer: args.iter().any(|a| a == "--buffer"),
        scenario,
        canonical,
        dir: tempfile::tempdir()?,
    };
    println!("| Scenario | chainwatch | attempts · time | why |");
    println!("|---|---|---|---|");
    let mut counts = [0usize; 4];
    let started = Instant::now();
    for b in BENCH {
        if only
            .as_ref()
            .is_some_and(|o| !o.iter().any(|id| id == b.id))
        {
            continue;
        }
        let m = ctx.run(b).await?;
        let (v, reason) = verdict(b, &m);
        let i = ["pass", "partial", "safe", "fail"]
            .iter()
            .position(|x| *x == v)
            .unwrap_or(3);
        counts[i] += 1;
        println!(
            "| **{}** {} | {v} | {} | {reason} |",
            b.id,
            b.title,
            detail(b, &m)
        );
        if std::env::var_os("FB_LOG").is_some() {
            eprintln!(
                "    caller: {:.3}s, route total_ms {:?}",
                m.call.elapsed_s, m.call.total_ms
            );
            for r in &m.log {
                eprintln!(
                    "    {:6.2}s {} #{} -> {}",
                    r.at.as_secs_f64(),
                    r.model,
                    r.attempt,
                    r.action
                );
            }
        }
    }
    println!();
    println!(
        "pass {} · partial {} · safe {} · fail {} · run time {:.0}s",
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
