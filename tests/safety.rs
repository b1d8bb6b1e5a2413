//! Nothing injected, nothing lost, as the real binary shows it: a hostile
//! upstream (a tiny server on loopback whose error messages, served model
//! and provider names and replies carry `ESC ]0;…BEL`, `ESC [2J`, a C1 CSI,
//! a bidi override and a slice of the caller's key) goes through every
//! printer — `check`, `watch`, `ask`, `chain` — and no ESC or C1 byte of it
//! reaches stdout or stderr, and no run of the key reaches them or the
//! state file. Then: a closed stdout ends quietly, `--demo --config` is a
//! usage error, and SIGHUP, SIGQUIT and SIGTERM stop `watch` and the
//! dashboard as `q` does (terminal restored, state saved).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use portable_pty::{native_pty_system, CommandBuilder, PtySize};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_chainwatch");
const KEY: &str = "sk-test-0123456789abcdefghijklmnopqrstuvwxyzABCDEF";
/// Everything a provider should never be able to do to a terminal.
const HOSTILE: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{202e}";
const WAIT: Duration = Duration::from_secs(20);

fn slice() -> &'static str {
    // 21 characters from the middle of the key: too short for the pattern
    // mask, long enough for the fragment mask.
    &KEY[12..33]
}

async fn chat(Json(body): Json<Value>) -> Response {
    let model = body["model"].as_str().unwrap_or_default().to_string();
    let stream = body["stream"].as_bool().unwrap_or(false);
    match model.as_str() {
        "x/evil-401" => (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"code": 401, "message": format!("Invalid key {} {HOSTILE}", slice())}})),
        )
            .into_response(),
        "x/evil-500" => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("upstream said {HOSTILE} {}", slice()),
        )
            .into_response(),
        _ => {
            let served = format!("served{HOSTILE}");
            let provider = format!("Prov{HOSTILE}");
            let text = format!("pong {HOSTILE} key {} done", slice());
            if !stream {
                return Json(json!({
                    "model": served, "provider": provider,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 5, "cost": 1e300}
                }))
                .into_response();
            }
            let chunk = |v: Value| format!("data: {v}\n\n");
            let (a, b) = text.split_at(text.find("key").unwrap_or(0) + 10);
            let sse = [
                chunk(json!({"model": served, "provider": provider, "choices": [{"index": 0, "delta": {"content": a}}]})),
                chunk(json!({"choices": [{"index": 0, "delta": {"content": b}}]})),
                chunk(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})),
                chunk(json!({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 5, "cost": 1e300}})),
                "data: [DONE]\n\n".to_string(),
            ]
            .concat();
            Response::builder()
                .header("content-type", "text/event-stream")
                .body(Body::from(sse))
                .unwrap_or_default()
        }
    }
}

/// The hostile provider on a loopback port, on its own runtime thread.
fn start_hostile() -> SocketAddr {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let app = Router::new()
                .route("/v1/chat/completions", post(chat))
                .route("/v1/models", get(|| async { Json(json!({"data": []})) }));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv_timeout(WAIT).unwrap()
}

fn write_config(dir: &Path, addr: SocketAddr) -> PathBuf {
    let text = format!(
        r#"chain = ["evil-401", "evil-500", "evil-ok"]

[probe]
interval = "1s"

[route]
hedge = "off"

[[endpoint]]
name = "hostile"
base_url = "http://{addr}/v1"
api_key_env = "HOSTILE_KEY"

[[model]]
name = "evil-401"
id = "x/evil-401"

[[model]]
name = "evil-500"
id = "x/evil-500"

[[model]]
name = "evil-ok"
id = "x/evil-ok"

# A config shared by someone else can be hostile too.
[[model]]
name = "odd\u001b[2Jname"
id = "x/evil-ok"
"#
    );
    let path = dir.join("hostile.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn chainwatch(dir: &Path, config: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env("HOME", dir)
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("HOSTILE_KEY", KEY)
        .env_remove("OPENROUTER_API_KEY")
        .stdin(Stdio::null());
    cmd
}

/// No ESC, C1 or bidi override, and no run of the key, in `bytes`.
fn assert_inert(what: &str, bytes: &[u8]) {
    assert!(!bytes.contains(&0x1b), "{what}: an ESC byte got through");
    let text = String::from_utf8_lossy(bytes);
    let bad: Vec<char> = text
        .chars()
        .filter(|c| ('\u{80}'..='\u{9f}').contains(c) || *c == '\u{202e}')
        .collect();
    assert!(bad.is_empty(), "{what}: {bad:?} got through:\n{text}");
    for w in KEY.as_bytes().windows(12) {
        let w = std::str::from_utf8(w).unwrap();
        assert!(
            !text.contains(w),
            "{what}: a run of the key ({w}) got through:\n{text}"
        );
    }
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert_inert("stdout", &out.stdout);
    assert_inert("stderr", &out.stderr);
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every string anywhere in a JSON value.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

#[test]
fn no_escape_from_a_hostile_provider_reaches_the_terminal() {
    let addr = start_hostile();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), addr);

    // check, as text: the hostile bits are shown, as visible text.
    let out = run(&mut chainwatch(dir.path(), &config, &["check"]));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("␛]0;pwned␇␛[2J<U+009B>31m<U+202E>"),
        "{shown}"
    );
    assert!(shown.contains("odd␛[2Jname"), "{shown}");
    assert!(shown.contains("401: Invalid key *** ␛"), "{shown}");

    // check --json: the JSON still says exactly what the provider sent
    // (minus the key), escaped so a terminal shows it inertly.
    let out = run(&mut chainwatch(dir.path(), &config, &["check", "--json"]));
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let mut all = Vec::new();
    strings(&json, &mut all);
    assert!(all.iter().any(|s| s.contains(HOSTILE)), "{all:?}");

    // ask, streamed, and as JSON.
    let out = run(&mut chainwatch(dir.path(), &config, &["ask", "say pong"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let answer = text(&out.stdout);
    assert!(
        answer.contains("pong ␛]0;pwned␇") && answer.contains("key *** done"),
        "{answer}"
    );
    let err = text(&out.stderr);
    // What `check` learnt was saved and shared: the broken ones are skipped.
    assert!(
        err.contains("evil-401 skipped: misconfigured (401: Invalid key *** ␛"),
        "{err}"
    );
    assert!(err.contains("served served␛"), "{err}");
    assert!(!err.contains("e300"), "an absurd cost is not shown: {err}");
    let out = run(&mut chainwatch(
        dir.path(),
        &config,
        &["ask", "--json", "say pong"],
    ));
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(json["text"].as_str().unwrap_or_default().contains(HOSTILE));
    assert!(json["cost"].is_null(), "{}", json["cost"]);

    // chain show, and an edit.
    let out = run(&mut chainwatch(
        dir.path(),
        &config,
        &["chain", "add", "odd\u{1b}[2Jname"],
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("odd␛[2Jname"));

    // watch, as text and as JSON lines, stopped with SIGTERM.
    for json in [false, true] {
        let mut args = vec!["watch", "-v"];
        if json {
            args.push("--json");
        }
        let mut child = chainwatch(dir.path(), &config, &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = read_until(&mut child, |out| out.matches("probe").count() >= 4);
        signal(&child, "TERM");
        let out = child.wait_with_output().unwrap();
        let mut stdout = lines.into_bytes();
        stdout.extend_from_slice(&out.stdout);
        assert_inert("watch stdout", &stdout);
        assert_inert("watch stderr", &out.stderr);
        assert!(out.status.success(), "{:?}", out.status);
        let err = text(&out.stderr);
        assert!(
            err.contains("is over the $10.0000 believable; ignored"),
            "{err}"
        );
    }

    // What was saved keeps no run of the key either.
    let state = std::fs::read(dir.path().join("hostile.state.json")).unwrap();
    assert!(state.starts_with(br#"{"format":"chainwatch-state""#));
    assert_inert("the state file", &state);
}

/// Reads the child's stdout until `done` holds for it (or the deadline).
fn read_until(child: &mut Child, done: impl Fn(&str) -> bool) -> String {
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(100)) {
            seen.extend(chunk);
        }
        if done(&String::from_utf8_lossy(&seen)) {
            break;
        }
    }
    // Whatever else it prints until it exits.
    std::thread::spawn(move || while rx.recv().is_ok() {});
    String::from_utf8_lossy(&seen).into_owned()
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let addr = start_hostile();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), addr);
    for args in [&["chain", "show"][..], &["check"][..]] {
        let mut child = chainwatch(dir.path(), &config, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader is gone before anything was written (`| head -0`).
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = text(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {err}", out.status);
        assert!(
            !err.contains("Broken pipe") && !err.contains("error"),
            "{args:?}: {err}"
        );
    }
    // `check` saved what it learnt before it printed.
    assert!(dir.path().join("hostile.state.json").exists());
}

#[test]
fn demo_with_config_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "127.0.0.1:9".parse().unwrap());
    let out = chainwatch(dir.path(), &config, &["--demo", "chain", "show"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("cannot be used with '--demo'"), "{err}");
}

#[test]
fn hup_quit_and_term_stop_watch_and_save() {
    let addr = start_hostile();
    for sig in ["HUP", "QUIT", "TERM"] {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), addr);
        let mut child = chainwatch(dir.path(), &config, &["watch", "-v"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        read_until(&mut child, |out| out.contains("probe"));
        signal(&child, sig);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "SIG{sig}: {:?}", out.status);
        let state = dir.path().join("hostile.state.json");
        let saved = std::fs::read_to_string(&state).unwrap_or_default();
        assert!(saved.contains("evil-ok"), "SIG{sig}: state saved");
    }
}

/// The dashboard in a pseudo-terminal, stopped by a signal: the terminal is
/// given back (alternate screen left, cursor shown) and the state saved.
#[test]
fn hup_quit_and_term_restore_the_dashboard_terminal() {
    for sig in ["HUP", "QUIT", "TERM"] {
        let home = tempfile::tempdir().unwrap();
        let pty = native_pty_system()
            .openpty(PtySize {
                rows: 32,
                cols: 120,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut cmd = CommandBuilder::new(BIN);
        cmd.arg("--demo");
        cmd.env("TERM", "xterm-256color");
        cmd.env("HOME", home.path());
        cmd.env("XDG_CONFIG_HOME", home.path().join("config"));
        cmd.env("XDG_STATE_HOME", home.path().join("state"));
        cmd.env_remove("OPENROUTER_API_KEY");
        let mut child = pty.slave.spawn_command(cmd).unwrap();
        drop(pty.slave);
        let mut reader = pty.master.try_clone_reader().unwrap();
        let _keys = pty.master.take_writer().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let mut parser = vt100::Parser::new(32, 120, 0);
        let deadline = Instant::now() + WAIT;
        while !parser.screen().contents().contains("status") {
            assert!(
                Instant::now() < deadline,
                "no table:\n{}",
                parser.screen().contents()
            );
            if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(200)) {
                parser.process(&chunk);
            }
        }
        assert!(parser.screen().alternate_screen());
        let pid = child.process_id().expect("a pid");
        let sent = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(100)) {
                parser.process(&chunk);
            }
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "SIG{sig}: still running");
        };
        while let Ok(chunk) = rx.recv_timeout(Duration::from_millis(300)) {
            parser.process(&chunk);
        }
        assert!(status.success(), "SIG{sig}: {status:?}");
        let screen = parser.screen();
        assert!(
            !screen.alternate_screen(),
            "SIG{sig}: alternate screen left"
        );
        assert!(!screen.hide_cursor(), "SIG{sig}: cursor shown");
        let state = home.path().join("state/chainwatch/demo-state.json");
        let saved = std::fs::read(&state).unwrap_or_default();
        assert!(
            saved.starts_with(br#"{"format":"chainwatch-state""#),
            "SIG{sig}: the state was saved"
        );
        let _ = std::io::stdout().flush();
    }
}
