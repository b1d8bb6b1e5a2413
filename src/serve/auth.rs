//! Who may talk to `serve`: with `CHAINWATCH_SERVE_TOKEN` set, every
//! request carries `Authorization: Bearer <token>`, compared in constant
//! time; without a token, only a loopback listener is allowed.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::errors::ApiError;
use super::Shared;

/// The variable that holds the token.
pub const TOKEN_ENV: &str = "CHAINWATCH_SERVE_TOKEN";

/// Refuses a listener that anyone on the network could reach without a
/// token.
pub fn check_listen(addr: SocketAddr, token: Option<&str>) -> anyhow::Result<()> {
    if token.is_none() && !addr.ip().is_loopback() {
        anyhow::bail!(
            "refusing to listen on {addr} without a token: anyone who can reach it could spend your keys; set {TOKEN_ENV} (every request then needs `Authorization: Bearer <token>`) or listen on 127.0.0.1"
        );
    }
    Ok(())
}

/// Equal in time that depends only on the lengths, not on where the
/// first difference is.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // Keeps the optimiser from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

/// The middleware: passes a request with the right token (or any request
/// when there is no token), else 401 in OpenAI's shape.
pub async fn require(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let Some(token) = shared.options.token.as_deref() else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match given {
        Some(given) if same(given.as_bytes(), token.as_bytes()) => next.run(request).await,
        Some(_) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid_api_key",
            "the bearer token is not this server's",
        )
        .into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "missing_api_key",
            format!("this server needs `Authorization: Bearer <token>` (the value of {TOKEN_ENV} where it runs)"),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare() {
        assert!(same(b"secret-token", b"secret-token"));
        assert!(!same(b"secret-token", b"secret-tokeN"));
        assert!(!same(b"secret", b"secret-token"));
        assert!(same(b"", b""));
    }

    #[test]
    fn only_loopback_goes_without_a_token() {
        assert!(check_listen("127.0.0.1:4141".parse().unwrap(), None).is_ok());
        assert!(check_listen("[::1]:4141".parse().unwrap(), None).is_ok());
        let e = check_listen("0.0.0.0:4141".parse().unwrap(), None).unwrap_err();
        assert!(e.to_string().contains(TOKEN_ENV), "{e}");
        assert!(check_listen("0.0.0.0:4141".parse().unwrap(), Some("t")).is_ok());
    }
}
