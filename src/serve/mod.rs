//! `chainwatch serve`: the engine without a screen, behind an
//! OpenAI-compatible endpoint that routes apps' requests through the same
//! healthy chain the dashboard shows, with Prometheus `/metrics` and a
//! versioned JSON API (`/api/v1/`) a remote dashboard can live on.
//!
//! | file | holds |
//! |---|---|
//! | `mod` | [`Options`], the shared state, the HTTP routes, start and drain |
//! | `chat` | `POST /v1/chat/completions`, `GET /v1/models`: limits, heads |
//! | `call` | a client's body read: target, stream, usage, the body carried through |
//! | `relay` | one request: the route, the held chunks, the commit, the error chunk |
//! | `translate` | OpenAI ↔ Anthropic for text chat; every reply as OpenAI chunks |
//! | `aggregate` | chunks folded into one `chat.completion` |
//! | `api` | `/api/v1/*` (health, snapshot, events, chain, probe, ack), `/metrics` |
//! | `auth` | the bearer token, compared in constant time; loopback without one |
//! | `errors` | errors in OpenAI's shape |
//!
//! Wire behaviour and measured figures: `docs/serve.md`.

mod aggregate;
mod api;
pub mod auth;
pub mod call;
mod chat;
mod errors;
mod relay;
pub mod translate;

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use tokio::sync::{broadcast, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::metrics::Metrics;
use crate::report::WatchLine;
use crate::route::Router;

pub use relay::HOLD_CAP;

/// Route lines buffered for `/api/v1/events` subscribers.
const ROUTE_EVENTS: usize = 1024;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: SocketAddr,
    /// `CHAINWATCH_SERVE_TOKEN`: every request needs it as a bearer token.
    pub token: Option<String>,
    /// The largest request body taken.
    pub max_body: usize,
    /// Chat requests served at once; the next one gets a 429.
    pub max_concurrent: usize,
    /// One request's whole deadline, failovers included (each attempt has
    /// the `[route]` deadlines of its own within it).
    pub request_timeout: Duration,
    /// How long a stop waits for requests in flight.
    pub drain: Duration,
}

impl Options {
    /// The defaults, with the request deadline from `[route]`: room for
    /// the total deadline twice over (a failover after a slow failure).
    pub fn new(listen: SocketAddr, route_timeout: Duration) -> Options {
        Options {
            listen,
            token: None,
            max_body: 4 * 1024 * 1024,
            max_concurrent: 256,
            request_timeout: route_timeout.saturating_mul(2),
            drain: Duration::from_secs(30),
        }
    }
}

/// What every handler shares.
pub struct Shared {
    pub engine: Engine,
    pub router: Router,
    pub metrics: Arc<Metrics>,
    pub options: Options,
    /// Chat requests in flight.
    pub slots: Arc<Semaphore>,
    /// One line per proxied request, for `/api/v1/events`.
    pub routes: broadcast::Sender<WatchLine>,
    /// Ends the event streams when the server stops.
    pub stopping: CancellationToken,
    /// A traffic sample was recorded since the last save.
    pub unsaved: Arc<AtomicBool>,
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    drain: Duration,
    shared: Arc<Shared>,
}

impl Server {
    /// Binds `options.listen` and serves until [`Server::stop`]. Refuses a
    /// non-loopback address without a token.
    pub async fn start(
        options: Options,
        engine: Engine,
        router: Router,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Server> {
        auth::check_listen(options.listen, options.token.as_deref())?;
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", options.listen))?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let (routes, _) = broadcast::channel(ROUTE_EVENTS);
        let drain = options.drain;
        let shared = Arc::new(Shared {
            engine,
            router,
            metrics,
            slots: Arc::new(Semaphore::new(options.max_concurrent.max(1))),
            options,
            routes,
            stopping: stop.clone(),
            unsaved: Arc::new(AtomicBool::new(false)),
        });
        let app = app(shared.clone());
        let shutdown = stop.clone();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::warn!("the server stopped: {e}");
            }
        });
        Ok(Server {
            addr,
            stop,
            task,
            drain,
            shared,
        })
    }

    /// Set when traffic was recorded: swap it to `false` and save, so a
    /// dashboard on the same state file sees the traffic.
    pub fn unsaved(&self) -> Arc<AtomicBool> {
        self.shared.unsaved.clone()
    }

    /// Stops taking requests and waits for those in flight, at most the
    /// drain time; what is still running then is cut. `true` when every
    /// request finished.
    pub async fn stop(self) -> bool {
        self.stop.cancel();
        let mut task = self.task;
        match tokio::time::timeout(self.drain, &mut task).await {
            Ok(_) => true,
            Err(_) => {
                task.abort();
                false
            }
        }
    }
}

/// Every route, behind the token check.
fn app(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new()
        .route("/v1/chat/completions", post(chat::completions))
        .route("/v1/models", get(chat::models))
        .route("/metrics", get(api::metrics))
        .route("/api/v1/health", get(api::health))
        .route("/api/v1/snapshot", get(api::snapshot))
        .route("/api/v1/events", get(api::events))
        .route("/api/v1/chain", get(api::chain).put(api::edit_chain))
        .route("/api/v1/probe", post(api::probe))
        .route("/api/v1/ack", post(api::ack))
        .fallback(chat::not_found)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            auth::require,
        ))
        .with_state(shared)
}
