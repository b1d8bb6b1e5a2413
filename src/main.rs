//! Parse the command line, settle what to watch, hand over to a subcommand.

// The no-panic rule: outside tests nothing unwraps, expects or panics; a
// failure is a handled error. The few deliberate ones carry an
// `#[allow(..., reason = "...")]` that says why. `.ci/run` checks it
// (clippy with `-D warnings`).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

use std::process::ExitCode;

use clap::Parser;

use chainwatch::cli::{Cli, Command};
use chainwatch::commands;
use chainwatch::config::{self, Config, ConfigSource, Resolved};
use chainwatch::sim::{Scenario, SimServer};
use chainwatch::store::Store;
use chainwatch::text::{sanitize, Shape};
use chainwatch::wiring::Stack;

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
        // The reader went away (`chainwatch chain show | head -1`): what it
        // wanted it has; nothing to say, nothing went wrong.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("chainwatch: {}", sanitize(&format!("{err:#}"), Shape::Line));
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // The simulator alone needs no config, and a bad config file must not
    // stop it: it starts before the config is settled.
    if let Some(Command::Sim(args)) = cli.command {
        return simulate(args, cli.seed).await;
    }
    // Neither do these: they write or print what needs no config.
    match &cli.command {
        Some(Command::Init(args)) => {
            let env = |var: &str| std::env::var(var).ok();
            return commands::init::run(args, cli.config.as_deref(), env, &mut std::io::stdout());
        }
        Some(Command::Completions(args)) => {
            commands::completions::completions(args, &mut std::io::stdout().lock())?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Man) => {
            commands::completions::man(&mut std::io::stdout().lock())?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    if let (Some(url), None) = (&cli.attach, &cli.command) {
        let token = std::env::var("CHAINWATCH_SERVE_TOKEN").ok();
        chainwatch::tui::attach::run(url, token).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let (config, _sim) = match settle(&cli).await {
        Ok(found) => found,
        Err(err) => {
            // A config error quotes the file, which may not be the user's own.
            eprintln!("chainwatch: {}", sanitize(&err.to_string(), Shape::Line));
            return Ok(ExitCode::from(2));
        }
    };
    let store = store_for(&cli, &config);
    let mut stdout = std::io::stdout().lock();
    match cli.command {
        Some(Command::Check(args)) => commands::check::run(args, config, store, &mut stdout).await,
        Some(Command::Watch(args)) => commands::watch::run(args, config, store).await,
        #[cfg(feature = "serve")]
        Some(Command::Serve(args)) => commands::serve::run(args, config, store).await,
        Some(Command::Ask(args)) => {
            commands::ask::run(args, &config, store, &mut stdout, &mut std::io::stderr()).await
        }
        Some(Command::Chain(args)) => {
            commands::chain::run(args, &config, store, &mut stdout, &mut std::io::stderr()).await
        }
        // Taken above; were it not, running them here would be as right.
        Some(Command::Sim(args)) => simulate(args, cli.seed).await,
        Some(Command::Init(args)) => {
            let env = |var: &str| std::env::var(var).ok();
            commands::init::run(&args, cli.config.as_deref(), env, &mut stdout)
        }
        Some(Command::Completions(args)) => {
            commands::completions::completions(&args, &mut stdout)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Man) => {
            commands::completions::man(&mut stdout)?;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            drop(stdout);
            #[cfg(feature = "serve")]
            let metrics = cli.metrics;
            #[cfg(not(feature = "serve"))]
            let metrics = None;
            dashboard(config, store, metrics).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `chainwatch sim`: the simulator alone, until Ctrl-C.
async fn simulate(args: commands::sim::SimArgs, seed: u64) -> anyhow::Result<ExitCode> {
    commands::sim::run(args, seed).await?;
    Ok(ExitCode::SUCCESS)
}

/// The live dashboard over the engine and the router.
async fn dashboard(
    config: Config,
    store: Option<Store>,
    metrics: Option<std::net::SocketAddr>,
) -> anyhow::Result<()> {
    let demo = (config.source == ConfigSource::Demo).then(|| {
        "demo: simulated models — `chainwatch init` (or OPENROUTER_API_KEY) to watch real ones"
            .to_string()
    });
    let Stack { engine, router } = Stack::new(config, store.clone());
    let stop_metrics = tokio_util::sync::CancellationToken::new();
    #[cfg(not(feature = "serve"))]
    let _ = metrics;
    #[cfg(feature = "serve")]
    if let Some(addr) = metrics {
        // Said before the screen takes the terminal (and logged).
        let bound = chainwatch::metrics::listen(
            addr,
            std::sync::Arc::new(chainwatch::metrics::Metrics::new()),
            engine.clone(),
            stop_metrics.clone(),
        )
        .await?;
        tracing::info!("Prometheus metrics at http://{bound}/metrics");
    }
    let ran = chainwatch::tui::run(
        engine,
        router,
        store,
        chainwatch::tui::DashboardOptions { demo },
    )
    .await;
    stop_metrics.cancel();
    ran
}

/// The config to use and, in demo mode, the simulator it points at (kept
/// alive for as long as the command runs).
async fn settle(cli: &Cli) -> anyhow::Result<(Config, Option<SimServer>)> {
    if !cli.demo {
        if let Resolved::Config(config) = config::resolve(cli.config.as_deref())? {
            return Ok((config, None));
        }
    }
    let sim = SimServer::start(Scenario::demo(), ([127, 0, 0, 1], 0).into(), cli.seed).await?;
    Ok((sim.config(), Some(sim)))
}

/// Where state lives: `--state`, else beside `--config`, else the XDG state
/// directory. The demo keeps its own file, so simulated history never mixes
/// with real history of models that share a name.
fn store_for(cli: &Cli, config: &Config) -> Option<Store> {
    if let Some(path) = &cli.state {
        return Some(Store::at(path));
    }
    let store = Store::default_for(cli.config.as_deref())?;
    Some(match config.source {
        ConfigSource::Demo => store.with_file_name("demo-state.json"),
        _ => store,
    })
}
