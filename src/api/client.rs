//! One request to one model → one [`Attempt`]. Never an `Err`, never a
//! panic: every way a request can go wrong ends in a [`FailureClass`].
//! The client holds the connection pool; sending is in `send.rs` and
//! `stream.rs`, reply assembly in `reply.rs`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use reqwest::header::{HeaderMap, HeaderValue};
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

use super::reply::Assembly;
use super::request::{ChatRequest, Deadlines, Target, TokenParam};
use super::send::Run;
use super::{Attempt, Dialect, Failure, FailureClass};

/// Default cap on one reply's body.
pub const DEFAULT_REPLY_CAP: usize = 4 * 1024 * 1024;
/// Sent to OpenRouter for its app attribution.
const REFERER: &str = "https://github.com/chainwatch/chainwatch";
const TITLE: &str = "chainwatch";

/// Cheap to clone: wraps one `reqwest::Client` (one connection pool).
#[derive(Clone)]
pub struct Client {
    /// A client that could not be built fails every attempt with the reason,
    /// rather than panicking at start-up.
    http: Result<reqwest::Client, Arc<str>>,
    connect_timeout: Duration,
    reply_cap: usize,
    /// The output-limit field each (endpoint, model) turned out to take,
    /// learned from the 400 that refused the other one. Shared by clones
    /// (and by [`Client::sharing_limits_with`]), so probes and prompts learn
    /// it once; at most one entry per configured model and endpoint.
    limits: Arc<Mutex<HashMap<String, TokenParam>>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("connect_timeout", &self.connect_timeout)
            .field("reply_cap", &self.reply_cap)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// HTTP/1.1 over rustls. Redirects are not followed: an API that
    /// redirects means a wrong `base_url`, and following would re-send the
    /// request elsewhere. HTTP/1.1 matters too: dropping a request closes
    /// its connection, which is what stops OpenRouter's billing.
    pub fn new(connect_timeout: Duration) -> Client {
        let mut headers = HeaderMap::new();
        headers.insert("HTTP-Referer", HeaderValue::from_static(REFERER));
        headers.insert("X-Title", HeaderValue::from_static(TITLE));
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(connect_timeout)
            .user_agent(concat!("chainwatch/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Arc::from(format!("the HTTP client could not be built: {e}")));
        Client {
            http,
            connect_timeout,
            reply_cap: DEFAULT_REPLY_CAP,
            limits: Arc::default(),
        }
    }

    /// This client learns output-limit fields together with `other` (two
    /// clients with different connect timeouts, one for probes and one for
    /// prompts, still learn once).
    pub fn sharing_limits_with(mut self, other: &Client) -> Client {
        self.limits = other.limits.clone();
        self
    }

    /// The field `target`'s output limit goes in: what it was learned to
    /// take, else what its endpoint takes by default.
    pub fn limit_param(&self, target: &Target) -> TokenParam {
        let learned = self
            .limits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&limit_key(target))
            .copied();
        learned.unwrap_or_else(|| TokenParam::for_endpoint(&target.base_url))
    }

    fn learn_limit(&self, target: &Target, param: TokenParam) {
        self.limits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(limit_key(target), param);
    }

    /// The underlying HTTP client, for the small GETs (`/models`, `/key`)
    /// that are not completions; `None` if it could not be built.
    pub fn http(&self) -> Option<&reqwest::Client> {
        self.http.as_ref().ok()
    }

    /// Bodies longer than `bytes` are cut off and the attempt is `malformed`.
    pub fn with_reply_cap(mut self, bytes: usize) -> Client {
        self.reply_cap = bytes.max(1);
        self
    }

    /// One request → one Attempt; never returns Err, never panics: every way
    /// it can fail is a FailureClass. Content deltas are sent to `deltas` as
    /// they arrive. Dropping the future closes the connection.
    ///
    /// A 400 that refuses the output-limit field sent (`max_tokens` to an
    /// OpenAI reasoning model) is not the model's fault: the request is sent
    /// once more with the field the error names, and the endpoint's choice
    /// is remembered for every later request to that model.
    pub async fn send(
        &self,
        target: &Target,
        req: &ChatRequest,
        deadlines: Deadlines,
        deltas: Option<&UnboundedSender<String>>,
    ) -> Attempt {
        let limit = self.limit_param(target);
        let (attempt, refused) = self.send_once(target, req, deadlines, deltas, limit).await;
        if target.dialect != Dialect::Openai || refused != Some(limit) {
            return attempt;
        }
        let other = limit.other();
        tracing::info!(
            "{} refused `{}`; sending `{}` instead from now on",
            target.model_id,
            limit.field(),
            other.field()
        );
        let (retry, refused_again) = self.send_once(target, req, deadlines, deltas, other).await;
        if refused_again != Some(other) {
            self.learn_limit(target, other);
        }
        retry
    }

    async fn send_once(
        &self,
        target: &Target,
        req: &ChatRequest,
        deadlines: Deadlines,
        deltas: Option<&UnboundedSender<String>>,
        limit: TokenParam,
    ) -> (Attempt, Option<TokenParam>) {
        let started_at = Utc::now();
        let t0 = Instant::now();
        let mut run = Run::new(
            t0,
            deadlines,
            self.reply_cap,
            self.connect_timeout,
            target.dialect,
            limit,
            Assembly::new(t0, req, deltas)
                .with_key(target.api_key.as_ref())
                .with_tap(req, target),
        );
        let failure = match &self.http {
            Ok(http) => run.execute(http, target, req).await.err(),
            Err(e) => Some(Failure::new(FailureClass::Connect, e.to_string())),
        };
        let end = run.finished_at.unwrap_or_else(Instant::now);
        let attempt = run.reply.into_attempt(
            started_at,
            end,
            run.status,
            failure,
            target.api_key.as_ref(),
        );
        (attempt, run.refused)
    }
}

/// Where a learned output-limit field applies: one model at one endpoint.
fn limit_key(target: &Target) -> String {
    format!(
        "{}\n{}",
        target.base_url.trim_end_matches('/'),
        target.model_id
    )
}
