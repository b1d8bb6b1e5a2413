//! The command line (clap). Each subcommand's own flags live beside its code
//! in `commands/`; this file only lists them.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands::ask::AskArgs;
use crate::commands::chain::ChainArgs;
use crate::commands::check::CheckArgs;
use crate::commands::completions::CompletionsArgs;
use crate::commands::init::InitArgs;
#[cfg(feature = "serve")]
use crate::commands::serve::ServeArgs;
#[cfg(feature = "sim")]
use crate::commands::sim::SimArgs;
use crate::commands::watch::WatchArgs;

/// A terminal dashboard that keeps LLM providers honest: live health of every
/// model in your fallback chain, test prompts through the healthy part of it.
///
/// With no config file and no OPENROUTER_API_KEY, chainwatch runs on its
/// built-in simulator (demo mode); `chainwatch init` writes a config for
/// the keys in your environment.
///
/// HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY are honoured as curl
/// does.
///
/// The dashboard logs to $XDG_STATE_HOME/chainwatch/chainwatch.log (level from
/// CHAINWATCH_LOG, e.g. "debug"), never to the screen.
#[derive(Debug, Parser)]
#[command(name = "chainwatch", version, about, long_about)]
pub struct Cli {
    /// Config file [default: $XDG_CONFIG_HOME/chainwatch/config.toml].
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Watch the built-in simulator instead of real models (not with --config).
    #[arg(long, global = true, conflicts_with = "config")]
    pub demo: bool,

    /// State file: chain order, drift acknowledgements, recent history
    /// [default: NAME.state.json beside --config NAME.toml, else
    /// $XDG_STATE_HOME/chainwatch/state.json;
    /// demo mode keeps its own demo-state.json].
    #[arg(long, global = true, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// The dashboard also serves Prometheus metrics at http://ADDR/metrics
    /// (`watch --metrics ADDR` for the headless engine; `serve` has them).
    #[cfg(feature = "serve")]
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,

    /// Show a running `chainwatch serve` instead of probing: its health,
    /// chain and events; edits, probe-now and prompts go to it. The token
    /// comes from CHAINWATCH_SERVE_TOKEN. No prober runs here.
    #[arg(long, value_name = "URL", conflicts_with = "demo")]
    pub attach: Option<String>,

    /// Seed for the demo simulator, for a reproducible run.
    #[arg(long, global = true, default_value_t = 7, hide = true)]
    pub seed: u64,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe every model now, print the table (or JSON); exit 0 when every
    /// chain model can serve (healthy, degraded or recovering), 1 when any
    /// cannot, 2 on a usage or config error.
    Check(CheckArgs),
    /// Route one prompt through the healthy part of the chain and stream the
    /// answer; what was skipped and tried goes to stderr. Exit 0 answered,
    /// 1 every model failed, 2 on a usage or config error.
    Ask(AskArgs),
    /// Show or edit the saved order of the fallback chain.
    Chain(ChainArgs),
    /// Run the engine without the screen, printing one line (or JSON
    /// object) per event until Ctrl-C: for scripts, loggers and services.
    Watch(WatchArgs),
    /// Run the engine without the screen behind an OpenAI-compatible
    /// endpoint (POST /v1/chat/completions with model `chain`, a tier or a
    /// model name) that routes your apps' requests through the healthy
    /// chain; Prometheus /metrics and the JSON API under /api/v1/. Every
    /// proxied attempt is a health sample. Set CHAINWATCH_SERVE_TOKEN to
    /// require `Authorization: Bearer <token>`.
    #[cfg(feature = "serve")]
    Serve(ServeArgs),
    /// Run the simulated OpenRouter-dialect server on its own.
    #[cfg(feature = "sim")]
    Sim(SimArgs),
    /// Write a commented config (to --config FILE, else
    /// $XDG_CONFIG_HOME/chainwatch/config.toml) with the article's chain
    /// through OpenRouter and an endpoint for each of OPENROUTER_API_KEY,
    /// ANTHROPIC_API_KEY and OPENAI_API_KEY that is set. Keys are never
    /// written. An existing file is kept unless --force.
    Init(InitArgs),
    /// Print a completion script for a shell (bash, zsh, fish, elvish,
    /// powershell), e.g. `chainwatch completions bash >
    /// ~/.local/share/bash-completion/completions/chainwatch`.
    Completions(CompletionsArgs),
    /// Print the man page (roff), e.g. `chainwatch man >
    /// ~/.local/share/man/man1/chainwatch.1`.
    Man,
}
