//! How a reply goes on the wire: the [`Reply`] a dialect's rendering
//! produces, and playing it on the connection, metered.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::body::{Meter, PlanBody, Step};
use super::server::ConnHandle;
use super::state::Shared;

/// How a reply goes on the wire.
pub(super) enum Reply {
    /// A complete body after `delay` (sent with a Content-Length).
    Fixed {
        status: StatusCode,
        headers: Vec<(&'static str, String)>,
        content_type: &'static str,
        body: Bytes,
        delay: Duration,
    },
    /// Status 200 and headers at once, then the body plays `steps`.
    Stream {
        headers: Vec<(&'static str, String)>,
        content_type: &'static str,
        steps: Vec<Step>,
    },
    /// After `delay`, drop the connection without a response.
    Kill { reset: bool, delay: Duration },
}

pub(super) const JSON: &str = "application/json";
pub(super) const SSE: &str = "text/event-stream";
pub(super) const HTML: &str = "text/html; charset=utf-8";

/// A Cloudflare-style error page.
pub(super) fn html_page(status: u16, title: &str) -> Bytes {
    Bytes::from(format!(
        "<!DOCTYPE html>\n<html>\n<head><title>{status} {title}</title></head>\n<body>\n<center><h1>{status} {title}</h1></center>\n<hr><center>cloudflare</center>\n</body>\n</html>\n"
    ))
}

/// A filler of 64 KiB of text, shared by every huge reply.
pub(super) fn filler() -> Bytes {
    static FILLER: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    FILLER
        .get_or_init(|| Bytes::from("lorem ipsum ".repeat(65536 / 12 + 1)[..65536].to_string()))
        .clone()
}

/// Plays a reply; `meter` counts the request as cancelled if the client
/// leaves before it is done.
pub(super) async fn respond(
    shared: &Shared,
    idx: usize,
    conn: &ConnHandle,
    reply: Reply,
    gen_id: &str,
) -> Response {
    let Some(stats) = shared.stats.get(idx) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut meter = Meter::new(stats.clone());
    let (status, headers, content_type, body) = match reply {
        Reply::Fixed {
            status,
            headers,
            content_type,
            body,
            delay,
        } => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            meter.sent(body.len());
            meter.finish();
            (status, headers, content_type, Body::from(body))
        }
        Reply::Stream {
            headers,
            content_type,
            steps,
        } => (
            StatusCode::OK,
            headers,
            content_type,
            Body::from_stream(PlanBody::new(steps, meter)),
        ),
        Reply::Kill { reset, delay } => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            meter.finish();
            conn.kill(reset);
            // Never answer: the connection task drops the socket, and this
            // future with it, before a byte of response is written.
            return std::future::pending().await;
        }
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static(content_type));
    if content_type == SSE {
        h.insert("cache-control", HeaderValue::from_static("no-cache"));
    }
    if let Ok(v) = HeaderValue::from_str(gen_id) {
        h.insert("x-generation-id", v);
    }
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    resp
}
