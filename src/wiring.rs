//! The one place that builds chainwatch's working parts from a [`Config`]:
//! the engine, which probes with `[probe] connect_timeout`, and the router,
//! which sends prompts with `[route] connect_timeout` and prices replies that
//! carry no `usage.cost` from the engine's `/models` prices. Every command and
//! the dashboard start here, so these choices are made once.

use std::sync::Arc;

use crate::api::Client;
use crate::config::Config;
use crate::engine::Engine;
use crate::route::{CostLookup, Router};
use crate::store::Store;

/// The engine and a router over it, for whatever sends prompts (`ask`, the
/// dashboard). Both are cheap to clone.
#[derive(Debug, Clone)]
pub struct Stack {
    pub engine: Engine,
    pub router: Router,
}

impl Stack {
    pub fn new(config: Config, store: Option<Store>) -> Stack {
        let probes = probe_client(&config);
        // reqwest fixes the connect timeout per client, so prompts get a
        // client of their own unless the two deadlines agree; then they share
        // one connection pool.
        let prompts = if config.route.connect_timeout == config.probe.connect_timeout {
            probes.clone()
        } else {
            Client::new(config.route.connect_timeout)
        };
        let engine = Engine::new(config.clone(), probes, store);
        share(&engine);
        let router = Router::new(config, prompts).with_cost_lookup(priced_by(&engine));
        Stack { engine, router }
    }
}

/// The engine alone, for the commands that only probe (`check`, `watch`).
pub fn engine(config: Config, store: Option<Store>) -> Engine {
    let client = probe_client(&config);
    let engine = Engine::new(config, client, store);
    share(&engine);
    engine
}

/// Joins the shared store the config names (`[store] redis_url` or
/// `CHAINWATCH_REDIS_URL`), for as long as the process runs.
#[cfg(feature = "redis")]
fn share(engine: &Engine) {
    if tokio::runtime::Handle::try_current().is_ok() {
        let _ = crate::shared::join(engine, tokio_util::sync::CancellationToken::new());
    }
}

/// Built without Redis: a configured store is said, not silently ignored.
#[cfg(not(feature = "redis"))]
fn share(engine: &Engine) {
    let url = engine
        .config()
        .store
        .redis_url_from(|var| std::env::var(var).ok());
    if url.is_some() {
        let message =
            "[store] redis_url is set but this chainwatch was built without the `redis` feature; working alone".to_string();
        tracing::warn!("{message}");
        engine.announce(crate::engine::EngineEvent::Warning {
            at: chrono::Utc::now(),
            message,
        });
    }
}

fn probe_client(config: &Config) -> Client {
    Client::new(config.probe.connect_timeout)
}

/// Tokens × the model's price, as the engine last fetched it from `/models`
/// (hourly in the live loop); `None` while the price is unknown.
fn priced_by(engine: &Engine) -> CostLookup {
    let engine = engine.clone();
    Arc::new(move |model, usage| engine.prices().get(model).map(|p| p.cost(usage)))
}
