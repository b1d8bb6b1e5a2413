//! Sending one alert: POST it to a webhook or run a command, each within
//! the rule's timeout. Failures come back as words that never hold the
//! webhook's URL (it may carry a token) nor a key.

use std::process::Stdio;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::payload::Alert;
use crate::api::{mask_secrets, short_message};
use crate::config::{AlertRule, Delivery, WebhookUrl};
use crate::fmt::fmt_secs;

/// Bytes of a command's stderr or a webhook's reply kept for the message.
const KEPT: usize = 4096;
/// Characters of that shown in an event.
const SHOWN: usize = 200;

/// How a rule delivers, in words safe to show: "slack webhook
/// ($SLACK_WEBHOOK_URL)", "json webhook to hooks.example.com", "command
/// notify-send". `None` for a rule that only rings the bell.
pub fn via(rule: &AlertRule) -> Option<String> {
    Some(match rule.delivery.as_ref()? {
        Delivery::Command(argv) => match argv.as_slice() {
            [sh, c, _] if sh == "sh" && c == "-c" => "command (sh -c)".to_string(),
            [program, ..] => format!("command {program}"),
            [] => "command".to_string(),
        },
        Delivery::Webhook { url, format, .. } => match url {
            WebhookUrl::Env(var) => format!("{} webhook (${var})", format.as_str()),
            WebhookUrl::Literal(u) => {
                let host = reqwest::Url::parse(u)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string))
                    .unwrap_or_else(|| "?".into());
                format!("{} webhook to {host}", format.as_str())
            }
        },
    })
}

/// Sends `alert` as `rule` says; the environment is read through `env`
/// (the URL and PagerDuty's key are read at each delivery, like API keys).
pub async fn deliver(
    http: Option<&reqwest::Client>,
    rule: &AlertRule,
    alert: &Alert,
    env: &(dyn Fn(&str) -> Option<String> + Send + Sync),
) -> Result<(), String> {
    let deadline = rule.timeout;
    let work = async {
        match &rule.delivery {
            None => Ok(()),
            Some(Delivery::Command(argv)) => command(argv, alert).await,
            Some(Delivery::Webhook {
                url,
                format,
                routing_key_env,
            }) => {
                let url = match url {
                    WebhookUrl::Literal(u) => u.clone(),
                    WebhookUrl::Env(var) => set(env, var)?,
                };
                let key = match routing_key_env {
                    Some(var) => Some(set(env, var)?),
                    None => None,
                };
                let http = http.ok_or("the HTTP client could not be built")?;
                let body = alert.body(*format, key.as_deref());
                webhook(http, &url, &body, deadline)
                    .await
                    .map_err(|e| scrub(&e, &url, key.as_deref()))
            }
        }
    };
    match tokio::time::timeout(deadline, work).await {
        Ok(done) => done,
        Err(_) => Err(format!(
            "took longer than {}: abandoned",
            fmt_secs(deadline)
        )),
    }
}

fn set(env: &(dyn Fn(&str) -> Option<String> + Send + Sync), var: &str) -> Result<String, String> {
    env(var)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("{var} is not set"))
}

/// The URL and the key never reach a message, whatever the error (or a
/// receiver that echoes its path) says: the URL, its path, and each longer
/// piece of its path and query, where a token would sit.
fn scrub(message: &str, url: &str, key: Option<&str>) -> String {
    let mut out = message.replace(url, "<url>");
    if let Ok(parsed) = reqwest::Url::parse(url) {
        let path = parsed.path();
        if path.len() > 1 {
            out = out.replace(path, "/<path>");
        }
        let pieces = path
            .split('/')
            .chain(parsed.query().into_iter().flat_map(|q| q.split(['&', '='])));
        for piece in pieces.filter(|p| p.len() >= 6) {
            out = out.replace(piece, "***");
        }
    }
    if let Some(key) = key.filter(|k| k.len() >= 4) {
        out = out.replace(key, "***");
    }
    short_message(&out, SHOWN)
}

async fn webhook(
    http: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
    deadline: std::time::Duration,
) -> Result<(), String> {
    let reply = http
        .post(url)
        .json(body)
        .timeout(deadline)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let status = reply.status();
    if status.is_success() {
        return Ok(());
    }
    let mut text = Vec::new();
    let mut reply = reply;
    while let Ok(Some(chunk)) = reply.chunk().await {
        let room = KEPT.saturating_sub(text.len());
        text.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
        if text.len() >= KEPT {
            break;
        }
    }
    let text = String::from_utf8_lossy(&text);
    let text = text.trim();
    Err(if text.is_empty() {
        format!("the webhook answered {status}")
    } else {
        format!("the webhook answered {status}: {text}")
    })
}

/// A transport error in words, without the URL reqwest would put in.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "the webhook did not answer in time".to_string();
    }
    let what = if e.is_connect() {
        "could not connect to the webhook"
    } else {
        "the webhook request failed"
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    match causes.last() {
        Some(root) => format!("{what}: {root}"),
        None => what.to_string(),
    }
}

/// Runs `argv` with the event on stdin and in the environment; stdout is
/// thrown away, stderr kept (a little) for the message when it fails.
async fn command(argv: &[String], alert: &Alert) -> Result<(), String> {
    let Some((program, args)) = argv.split_first() else {
        return Err("the command is empty".to_string());
    };
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .envs(alert.env())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // Abandoned at the timeout: the future is dropped, the child killed.
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("could not start {program}: {e}"))?;
    let mut stdin = child.stdin.take();
    let stderr = child.stderr.take();
    let input = format!("{}\n", alert.document());
    let feed = async {
        if let Some(stdin) = stdin.as_mut() {
            // A command that does not read its stdin is fine.
            let _ = stdin.write_all(input.as_bytes()).await;
            let _ = stdin.shutdown().await;
        }
        drop(stdin);
    };
    let (_, err, status) = tokio::join!(feed, drain(stderr), child.wait());
    let status = status.map_err(|e| format!("{program}: {e}"))?;
    if status.success() {
        return Ok(());
    }
    let err = mask_secrets(String::from_utf8_lossy(&err).trim());
    let said = match err.lines().find(|l| !l.trim().is_empty()) {
        Some(line) => format!(": {}", short_message(line, SHOWN)),
        None => String::new(),
    };
    Err(format!("{program} {status}{said}"))
}

/// Reads `r` to its end, keeping the first [`KEPT`] bytes.
async fn drain(r: Option<impl AsyncRead + Unpin>) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(mut r) = r else {
        return kept;
    };
    let mut buf = [0u8; 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = KEPT.saturating_sub(kept.len());
                kept.extend_from_slice(buf.get(..n.min(room)).unwrap_or_default());
            }
        }
    }
    kept
}
