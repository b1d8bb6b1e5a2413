//! Parse the command line, settle what to watch, hand over to a subcommand.

use std::process::ExitCode;

use clap::Parser;

use chainwatch::cli::{Cli, Command};
use chainwatch::commands;
use chainwatch::config::{self, Config, Resolved};
use chainwatch::sim::{Scenario, SimServer};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("chainwatch: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("chainwatch: {err:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(Command::Sim(args)) = cli.command {
        commands::sim::run(args, cli.seed).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let (config, _sim) = match settle(&cli).await {
        Ok(found) => found,
        Err(err) => {
            eprintln!("chainwatch: {err}");
            return Ok(ExitCode::from(2));
        }
    };
    let mut stdout = std::io::stdout().lock();
    match cli.command {
        Some(Command::Check(args)) => commands::check::run(args, &config, &mut stdout).await,
        Some(Command::Sim(_)) => unreachable!("handled above"),
        None => {
            // Until the dashboard lands: what `check` prints.
            let args = commands::check::CheckArgs {
                json: false,
                rounds: 1,
            };
            commands::check::run(args, &config, &mut stdout).await
        }
    }
}

/// The config to use and, in demo mode, the simulator it points at (kept
/// alive for as long as the command runs).
async fn settle(cli: &Cli) -> anyhow::Result<(Config, Option<SimServer>)> {
    if !cli.demo {
        if let Resolved::Config(config) = config::resolve(cli.config.as_deref())? {
            return Ok((config, None));
        }
    }
    let scenario = Scenario::demo();
    let models: Vec<_> = scenario
        .models()
        .iter()
        .map(|m| {
            (
                m.name.clone(),
                m.id.clone(),
                m.tier.as_deref().and_then(|t| t.parse().ok()),
            )
        })
        .collect();
    let sim = SimServer::start(scenario, ([127, 0, 0, 1], 0).into(), cli.seed).await?;
    Ok((Config::demo(&sim.base_url(), &models), Some(sim)))
}
