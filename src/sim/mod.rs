//! A simulated OpenRouter-dialect server for the demo, the tests and the benchmarks.
//!
//! A real HTTP/1.1 server on loopback. Each model follows a [`Scenario`]:
//! latency, an error mix by failure class, outage windows, drift. Every
//! random choice comes from a generator seeded by (seed, model, request
//! number), so the same seed and the same requests give the same replies.
//!
//! The rooms: `server` (the [`SimServer`] handle and its connections),
//! `state` (what requests share), `routes` (the HTTP handlers),
//! `endpoints` (OpenRouter's free per-provider uptime), `decide`
//! (the fault decision), `faults` (what each fault does on the wire, for
//! both dialects), `openai` and `anthropic` (what the bytes look like),
//! `reply` and `body` (playing a reply, metered), `text` (seeded draws and
//! reply text), `scenario` (the schema and its file).

pub mod scenario;

mod anthropic;
mod body;
mod decide;
mod endpoints;
mod faults;
mod openai;
mod reply;
mod routes;
mod server;
mod state;
#[cfg(test)]
mod tests;
mod text;
#[cfg(test)]
mod thinking_tests;

pub use scenario::{ModelScenario, Scenario, ScenarioError};
pub use server::{SimServer, SimStats};
pub use state::{SimRequest, LOG_CAP};

use std::net::SocketAddr;
use std::path::Path;

/// `chainwatch sim`: serve until Ctrl-C, printing the base URL and the models to stdout.
pub async fn run(listen: SocketAddr, scenario: Option<&Path>, seed: u64) -> anyhow::Result<()> {
    let scenario = match scenario {
        Some(path) => Scenario::load(path)?,
        None => Scenario::demo(),
    };
    let server = SimServer::start(scenario, listen, seed)
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot listen on {listen}: {e} (try another --listen address)")
        })?;
    println!("chainwatch sim: {}", server.base_url());
    println!(
        "scenario {} · seed {seed} · Ctrl-C to stop",
        server.scenario().origin.display()
    );
    for m in server.scenario().models() {
        println!(
            "  {:<20} {:<36} {:<10} {}",
            m.name,
            m.id,
            m.tier.as_deref().unwrap_or("-"),
            m.provider
        );
    }
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}
