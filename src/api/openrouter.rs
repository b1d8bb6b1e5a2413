//! OpenRouter's extras beside the chat client: `GET /models` (prices),
//! `GET /key` (what the key may spend) and `GET /models/{author}/{slug}/endpoints`
//! (per-provider uptime: the free signal between paid probes). The HTTP
//! lives here: the key as Bearer, a timeout, a cap on the body, errors that
//! say what to check. Reading the bodies is pure and tested without a
//! network: `pricing` (`PriceTable::parse`, `KeyInfo::parse`) and `probe`
//! (`Endpoints::parse`).

use std::time::Duration;

use super::Secret;
use crate::pricing::{KeyInfo, PriceTable};
use crate::probe::Endpoints;

/// A `/models` reply larger than this is refused (OpenRouter's is ~1 MB).
const MODELS_BODY_MAX: usize = 16 * 1024 * 1024;
/// A `/key` reply larger than this is refused.
const KEY_BODY_MAX: usize = 64 * 1024;
/// An `/endpoints` reply larger than this is refused (a model has a few
/// providers; OpenRouter's reply is a few KB).
const ENDPOINTS_BODY_MAX: usize = 1024 * 1024;
/// How long a price or key request may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);
/// How long an `/endpoints` request may take: it is polled every minute.
const SIGNAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a `/models`, `/key` or `/endpoints` fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("could not reach {url}: {message}")]
    Http { url: String, message: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} sent more than {limit} bytes; is base_url an OpenRouter-compatible API?")]
    TooLarge { url: String, limit: usize },
    #[error("{url} did not send the JSON expected ({message}); is base_url an OpenRouter-compatible API?")]
    Json { url: String, message: String },
}

fn endpoint_url(base_url: &str, path: &str) -> String {
    format!("{}/{path}", base_url.trim_end_matches('/'))
}

/// `{base}/models/{author}/{slug}/endpoints`, each part of the id escaped
/// as a path segment; `None` for an id that is not `author/slug`.
fn endpoints_url(base_url: &str, model_id: &str) -> Option<String> {
    let (author, slug) = model_id.split_once('/')?;
    if author.is_empty() || slug.is_empty() || slug.contains('/') {
        return None;
    }
    let mut url = reqwest::Url::parse(&endpoint_url(base_url, "models")).ok()?;
    url.path_segments_mut()
        .ok()?
        .extend([author, slug, "endpoints"]);
    Some(url.to_string())
}

impl FetchError {
    /// The server has no such thing (404, 405, 410, or not the JSON
    /// expected): not worth asking again soon.
    pub fn is_absent(&self) -> bool {
        match self {
            FetchError::Status { status, .. } => matches!(status, 404 | 405 | 410 | 501),
            FetchError::Json { .. } | FetchError::TooLarge { .. } => true,
            FetchError::Http { .. } => false,
        }
    }
}

/// GET `url` with the key as Bearer (never logged), reading at most `limit`
/// bytes.
async fn get_capped(
    http: &reqwest::Client,
    url: &str,
    key: Option<&Secret>,
    limit: usize,
) -> Result<Vec<u8>, FetchError> {
    get_capped_within(http, url, key, limit, FETCH_TIMEOUT).await
}

async fn get_capped_within(
    http: &reqwest::Client,
    url: &str,
    key: Option<&Secret>,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, FetchError> {
    let mut req = http.get(url).timeout(timeout);
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

/// Fetches OpenRouter's per-provider uptime for one model (no tokens
/// spent). An id that is not `author/slug` has none: `Json` error.
pub async fn fetch_endpoints(
    http: &reqwest::Client,
    base_url: &str,
    key: Option<&Secret>,
    model_id: &str,
) -> Result<Endpoints, FetchError> {
    let Some(url) = endpoints_url(base_url, model_id) else {
        return Err(FetchError::Json {
            url: endpoint_url(base_url, "models/…/endpoints"),
            message: format!("`{model_id}` is not an author/slug id"),
        });
    };
    let body = get_capped_within(http, &url, key, ENDPOINTS_BODY_MAX, SIGNAL_TIMEOUT).await?;
    Endpoints::parse(&body).map_err(|e| FetchError::Json { url, message: e.0 })
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

    #[test]
    fn endpoints_urls_escape_the_id() {
        assert_eq!(
            endpoints_url("https://openrouter.ai/api/v1/", "google/gemini-2.5-pro").as_deref(),
            Some("https://openrouter.ai/api/v1/models/google/gemini-2.5-pro/endpoints")
        );
        assert_eq!(
            endpoints_url("http://127.0.0.1:9/v1", "a b/c?d#e").as_deref(),
            Some("http://127.0.0.1:9/v1/models/a%20b/c%3Fd%23e/endpoints")
        );
        assert_eq!(
            endpoints_url("http://h/v1", "meta/llama:free").as_deref(),
            Some("http://h/v1/models/meta/llama:free/endpoints")
        );
        for bad in ["gpt-4o", "/x", "x/", "a/b/c"] {
            assert_eq!(endpoints_url("http://h/v1", bad), None, "{bad}");
        }
    }
}
