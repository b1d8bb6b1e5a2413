//! `chainwatch sim`: the simulator alone, for trying a client against it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8399")]
    pub listen: SocketAddr,
    /// Scenario file [default: the built-in demo scenario].
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
}

pub async fn run(args: SimArgs, seed: u64) -> anyhow::Result<()> {
    crate::sim::run(args.listen, args.scenario.as_deref(), seed).await
}
