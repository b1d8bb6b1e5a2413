//! Errors in OpenAI's shape, `{"error": {"message", "type", "param",
//! "code"}}`, so an OpenAI SDK raises them as it raises OpenAI's own.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::text::{sanitize, Shape};

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// OpenAI's `type`: `invalid_request_error`, `authentication_error`,
    /// `rate_limit_error`, `upstream_error`, `server_error`.
    pub kind: &'static str,
    pub code: &'static str,
    pub param: Option<&'static str>,
    pub message: String,
    /// More fields inside `error` (the attempts of a failed route); boxed
    /// to keep the error small on the `Result`s that carry it.
    pub extra: Option<Box<Value>>,
    /// `Retry-After` in seconds.
    pub retry_after: Option<u64>,
    /// `x-chainwatch-attempts`.
    pub attempts: Option<usize>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            kind,
            code,
            param: None,
            message: message.into(),
            extra: None,
            retry_after: None,
            attempts: None,
        }
    }

    /// 400: the request is not what it should be.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_request",
            message,
        )
    }

    pub fn param(mut self, param: &'static str) -> ApiError {
        self.param = Some(param);
        self
    }

    /// The `error` object.
    pub fn body(&self) -> Value {
        // Provider text may be in the message: one line, no controls.
        let mut error = json!({
            "message": sanitize(&self.message, Shape::Line),
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        });
        if let (Some(Value::Object(extra)), Some(obj)) =
            (self.extra.as_deref(), error.as_object_mut())
        {
            for (k, v) in extra {
                obj.insert(k.clone(), v.clone());
            }
        }
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(n) = self.attempts {
            headers.insert("x-chainwatch-attempts", HeaderValue::from(n));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shape_is_openais() {
        let e = ApiError::invalid("`messages` is missing").param("messages");
        assert_eq!(
            e.body(),
            json!({"error": {"message": "`messages` is missing", "type": "invalid_request_error", "param": "messages", "code": "invalid_request"}})
        );
        let mut e = ApiError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            "all_models_failed",
            "down: \u{1b}[2Jx",
        );
        e.extra = Some(Box::new(json!({"attempts": []})));
        let b = e.body();
        assert_eq!(b["error"]["attempts"], json!([]));
        assert!(!b["error"]["message"].as_str().unwrap().contains('\u{1b}'));
    }
}
