//! OpenRouter's extras beside the chat client: `GET /models` (prices) and
//! `GET /key` (what the key may spend). The HTTP lives here: the key as
//! Bearer, a timeout, a cap on the body, errors that say what to check.
//! Reading the bodies is `pricing`'s (`PriceTable::parse`, `KeyInfo::parse`),
//! which stays pure and is tested without a network.

use std::time::Duration;

use super::Secret;
use crate::pricing::{KeyInfo, PriceTable};

/// A `/models` reply larger than this is refused (OpenRouter's is ~1 MB).
const MODELS_BODY_MAX: usize = 16 * 1024 * 1024;
/// A `/key` reply larger than this is refused.
const KEY_BODY_MAX: usize = 64 * 1024;
/// How long a price or key request may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a `/models` or `/key` fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("could not reach {url}: {message}; prices stay as they were and are retried within the hour")]
    Http { url: String, message: String },
    #[error(
        "{url} answered HTTP {status}; prices stay as they were and are retried within the hour"
    )]
    Status { url: String, status: u16 },
    #[error("{url} sent more than {limit} bytes; is base_url an OpenRouter-compatible API?")]
    TooLarge { url: String, limit: usize },
    #[error("{url} did not send the JSON expected ({message}); is base_url an OpenRouter-compatible API?")]
    Json { url: String, message: String },
}

fn endpoint_url(base_url: &str, path: &str) -> String {
    format!("{}/{path}", base_url.trim_end_matches('/'))
}

/// GET `url` with the key as Bearer (never logged), reading at most `limit`
/// bytes.
async fn get_capped(
    http: &reqwest::Client,
    url: &str,
    key: Option<&Secret>,
    limit: usize,
) -> Result<Vec<u8>, FetchError> {
    let mut req = http.get(url).timeout(FETCH_TIMEOUT);
    if let Some(key) = key {
        req = req.bearer_auth(key.expose());
    }
    // reqwest's error text names the URL, never the headers.
    let http_err = |e: reqwest::Error| FetchError::Http {
        url: url.to_string(),
        message: e.without_url().to_string(),
    };
    let mut resp = req.send().await.map_err(http_err)?;
    let status = resp.status();
    if !status.is_success() {
        return Err(FetchError::Status {
            url: url.to_string(),
            status: status.as_u16(),
        });
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(http_err)? {
        if body.len() + chunk.len() > limit {
            return Err(FetchError::TooLarge {
                url: url.to_string(),
                limit,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Fetches an OpenRouter-dialect endpoint's prices.
pub async fn fetch_prices(
    http: &reqwest::Client,
    base_url: &str,
    key: Option<&Secret>,
) -> Result<PriceTable, FetchError> {
    let url = endpoint_url(base_url, "models");
    let body = get_capped(http, &url, key, MODELS_BODY_MAX).await?;
    PriceTable::parse(&body).map_err(|e| FetchError::Json { url, message: e.0 })
}

/// Fetches the key's limits and remaining credit.
pub async fn fetch_key(
    http: &reqwest::Client,
    base_url: &str,
    key: &Secret,
) -> Result<KeyInfo, FetchError> {
    let url = endpoint_url(base_url, "key");
    let body = get_capped(http, &url, Some(key), KEY_BODY_MAX).await?;
    KeyInfo::parse(&body).map_err(|e| FetchError::Json { url, message: e.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_base_and_path() {
        assert_eq!(
            endpoint_url("https://openrouter.ai/api/v1/", "models"),
            "https://openrouter.ai/api/v1/models"
        );
        assert_eq!(
            endpoint_url("http://127.0.0.1:8080/v1", "key"),
            "http://127.0.0.1:8080/v1/key"
        );
    }
}
