//! The OpenAI-compatible face: `POST /v1/chat/completions` (the body cap,
//! the concurrency cap, then the relay) and `GET /v1/models` (chain, tiers
//! and models in OpenAI's list format).

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::json;

use super::call::{self, valid_models, CHAIN};
use super::errors::ApiError;
use super::relay::{self, Head};
use super::Shared;

pub async fn completions(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let Ok(slot) = shared.slots.clone().try_acquire_owned() else {
        shared.metrics.request("other", "refused");
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "too_many_requests",
            format!(
                "this server is already serving {} requests; try again shortly",
                shared.options.max_concurrent
            ),
        );
        e.retry_after = Some(1);
        return e.into_response();
    };
    let buffer = match call::buffer_wanted(request.headers().get(call::BUFFER_HEADER)) {
        Ok(buffer) => buffer,
        Err(e) => {
            shared.metrics.request("other", "refused");
            return e.into_response();
        }
    };
    let cap = shared.options.max_body;
    let body = match to_bytes(request.into_body(), cap).await {
        Ok(body) => body,
        Err(e) => {
            shared.metrics.request("other", "refused");
            // http_body_util's LengthLimitError (not a dependency of ours),
            // known by its message; tests/serve.rs checks the 413.
            let too_big = std::error::Error::source(&e)
                .is_some_and(|s| s.to_string().contains("length limit"))
                || e.to_string().contains("length limit");
            return if too_big {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "invalid_request_error",
                    "request_too_large",
                    format!("the request body is over {} bytes", cap),
                )
                .into_response()
            } else {
                ApiError::invalid(format!("the request body could not be read: {e}"))
                    .into_response()
            };
        }
    };
    let call = match call::read(&body, shared.router.config()) {
        Ok(call) => call::Call { buffer, ..call },
        Err(e) => {
            shared.metrics.request("other", "refused");
            return e.into_response();
        }
    };
    // The slot is held until the head is sent; a stream keeps its own
    // (moved into the body below).
    match relay::start(shared.clone(), call).await {
        Head::Stream {
            model,
            attempts,
            frames,
        } => {
            let stream = tokio_stream_of(frames).map(move |frame| {
                let _held = &slot;
                frame
            });
            let mut response = Response::new(Body::from_stream(stream));
            let h = response.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            with_route_headers(&mut response, &model, attempts);
            response
        }
        Head::Whole {
            model,
            attempts,
            doc,
        } => {
            let mut response = axum::Json(doc).into_response();
            with_route_headers(&mut response, &model, attempts);
            response
        }
        Head::Fail(e) => e.into_response(),
    }
}

/// The frames a relay sends, as a stream for the body.
fn tokio_stream_of<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

fn with_route_headers(response: &mut Response, model: &str, attempts: usize) {
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(model) {
        h.insert("x-chainwatch-model", v);
    }
    h.insert("x-chainwatch-attempts", HeaderValue::from(attempts));
}

/// `GET /v1/models`: what a client may ask for, in OpenAI's list format.
pub async fn models(State(shared): State<Arc<Shared>>) -> Response {
    let config = shared.router.config();
    let data: Vec<_> = valid_models(config)
        .into_iter()
        .map(|name| {
            let owned_by = match config.model(&name) {
                Some(m) => crate::health::provider_name(&m.id, &m.endpoint).to_string(),
                None => "chainwatch".to_string(),
            };
            let description = if name == CHAIN {
                format!("the fallback chain: {}", shared.engine.chain_order().join(" › "))
            } else if let Some(m) = config.model(&name) {
                format!("{} only", m.id)
            } else {
                format!("the {name} tier, escalating to the tiers above")
            };
            json!({"id": name, "object": "model", "created": 0, "owned_by": owned_by, "description": description})
        })
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

/// Anything else: 404 in OpenAI's shape, saying what is here.
pub async fn not_found(request: Request) -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        "not_found",
        format!(
            "no {} {} here; the endpoints are POST /v1/chat/completions, GET /v1/models, GET /metrics and /api/v1/ (health, snapshot, events, chain, probe, ack)",
            request.method(),
            request.uri().path()
        ),
    )
    .into_response()
}
