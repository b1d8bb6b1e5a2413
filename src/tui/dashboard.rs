//! The entry point: the engine, router and store behind [`Services`], the
//! terminal set up and always given back (quit, Ctrl-C, SIGTERM, panic).

use std::io::stdout;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Local, Utc};
use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    EventStream,
};
use crossterm::execute;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::alert::{AlertOutcome, Alerter};
use crate::engine::{ChainChange, Engine, EngineEvent, StopSignals};
use crate::health::{FailureRecord, ModelSnapshot};
use crate::route::{Chain, ChainEdit, RouteEvent, RouteRequest, RouteTarget, Router};
use crate::store::Store;

use super::app::{Action, App};
use super::clipboard::ClipboardEnv;
use super::event_loop::{run_dashboard, News, RouteFuture, Services};
use super::logging::init_file_logging;
use super::theme::Theme;

/// How the dashboard was started.
#[derive(Debug, Clone, Default)]
pub struct DashboardOptions {
    /// The demo badge's text, when watching simulated models.
    pub demo: Option<String>,
}

struct Live {
    engine: Engine,
    router: Router,
}

impl Services for Live {
    fn snapshots(&self, now: DateTime<Utc>) -> Vec<ModelSnapshot> {
        self.engine.snapshots(now)
    }

    fn snapshots_of(&self, names: &[String], now: DateTime<Utc>) -> Vec<ModelSnapshot> {
        names
            .iter()
            .filter_map(|n| self.engine.snapshot(n, now))
            .collect()
    }

    fn failures_since(&self, since: DateTime<Utc>) -> Vec<(String, FailureRecord)> {
        self.engine.failures_since(since)
    }

    fn spend_today(&self, now: DateTime<Utc>) -> f64 {
        self.engine.spend_today(now)
    }

    fn spending(&self, now: DateTime<Utc>) -> crate::pricing::Spending {
        self.engine.spending(now)
    }

    fn prices(&self) -> std::collections::HashMap<String, crate::pricing::Price> {
        self.engine.prices()
    }

    fn probe_now(&self, model: Option<&str>) {
        self.engine.probe_now(model);
    }

    fn acknowledge_drift(&self, model: &str, now: DateTime<Utc>) {
        self.engine.acknowledge_drift(model, now);
    }

    fn edit_chain(&self, edit: &ChainEdit) -> anyhow::Result<Vec<String>> {
        Ok(self.engine.edit_chain(edit)?)
    }

    fn chain_order(&self) -> Vec<String> {
        self.engine.chain_order()
    }

    fn bell(&self) {
        use std::io::Write as _;
        let mut out = stdout().lock();
        let _ = out.write_all(b"\x07");
        let _ = out.flush();
    }

    fn route(
        &self,
        chain: Vec<String>,
        text: String,
        target: RouteTarget,
        buffered: bool,
        events: mpsc::UnboundedSender<RouteEvent>,
    ) -> RouteFuture {
        let engine = self.engine.clone();
        let router = self.router.clone();
        Box::pin(async move {
            // A half-open trial that outlives the answer runs on in the
            // engine (`HealthView::adopt`).
            let request = RouteRequest::new(text, target).buffered(buffered);
            router.route(&engine, &chain, request, Some(events)).await
        })
    }
}

/// Runs the dashboard until the user quits. The engine's live loop runs
/// alongside and its state is saved on the way out.
pub async fn run(
    engine: Engine,
    router: Router,
    store: Option<Store>,
    options: DashboardOptions,
) -> anyhow::Result<()> {
    // Listening before the screen is taken: a signal from then on ends
    // the dashboard the way `q` does.
    let signals = StopSignals::listen();
    let log = init_file_logging().ok();
    let config = engine.config().clone();
    // The engine has reported the state file's warnings already.
    let (chain, _) = Chain::load(&config, store.as_ref());
    let mut app = App::new(&config, chain, Utc::now());
    app.demo = options.demo;
    app.theme = Theme::from_env();
    app.tz = *Local::now().offset();
    app.clipboard = ClipboardEnv::from_env();
    for warning in engine.warnings() {
        app.update(Action::Notice(warning.clone()));
    }
    if let Some(path) = &log {
        tracing::info!("dashboard started; logging to {}", path.display());
    }

    // The terminal first: without one, nothing should be probed (or paid for).
    let mut terminal =
        take_terminal("the dashboard needs a terminal; for scripts use `chainwatch check`")?;

    let stop = CancellationToken::new();
    let (news_tx, news_rx) = mpsc::unbounded_channel();
    let forwarder = tokio::spawn(forward(engine.clone(), engine.subscribe(), news_tx));
    // Alerts follow the engine's events from here on (the bell comes back
    // through `forward`).
    let alerts = Alerter::for_engine(&engine, store.clone());
    let following = alerts
        .as_ref()
        .map(|a| a.follow(&engine, stop.child_token()));
    let engine_task = engine.spawn(stop.child_token());
    let signals = tokio::spawn(on_signal(signals, stop.clone()));

    let services = Arc::new(Live {
        engine: engine.clone(),
        router,
    });
    let result = run_dashboard(
        &mut terminal,
        &mut app,
        services,
        EventStream::new(),
        news_rx,
        stop.clone(),
    )
    .await;

    give_back_terminal(&mut terminal);

    stop.cancel();
    signals.abort();
    forwarder.abort();
    let _ = engine_task.await;
    if let Some(following) = following {
        let _ = following.await;
    }
    if let Some(alerts) = &alerts {
        // An alert fired just before quitting still goes out (within its
        // rule's timeout); the screen is already given back.
        let longest = alerts.rules().iter().map(|r| r.timeout).max();
        let grace = longest.unwrap_or_default() + std::time::Duration::from_secs(1);
        let _ = tokio::time::timeout(grace, alerts.settled()).await;
    }
    if let Err(err) = engine.save() {
        eprintln!("chainwatch: {err:#}");
    }
    result
}

/// Engine news, translated for the loop. A lagging receiver only means
/// "things changed": fresh snapshots cover it.
async fn forward(
    engine: Engine,
    mut rx: broadcast::Receiver<EngineEvent>,
    tx: mpsc::UnboundedSender<News>,
) {
    loop {
        let news: Vec<News> = match rx.recv().await {
            // A state change carries the new status: the row follows
            // without a snapshot of every model.
            Ok(EngineEvent::Health(event)) => vec![News::Act(Box::new(Action::Health(event)))],
            Ok(EngineEvent::Probe { model, .. }) => vec![News::Probed(model)],
            Ok(EngineEvent::Budget { message, .. }) => {
                vec![News::Act(Box::new(Action::Budget(message)))]
            }
            Ok(EngineEvent::Prices { models, .. }) => vec![
                News::Act(Box::new(Action::Notice(format!(
                    "prices known for {models} models"
                )))),
                News::Act(Box::new(Action::Prices(engine.prices()))),
            ],
            Ok(EngineEvent::Warning { message, .. }) => {
                vec![News::Act(Box::new(Action::Notice(message)))]
            }
            Ok(EngineEvent::Chain {
                order,
                change: ChainChange::Outside,
                ..
            }) => vec![News::Act(Box::new(Action::ChainOutside { order }))],
            // This dashboard's own edits come back through the event loop.
            Ok(EngineEvent::Saved { .. } | EngineEvent::Chain { .. }) => Vec::new(),
            Ok(EngineEvent::Alert(news)) => match news.outcome {
                AlertOutcome::Bell => vec![News::Bell],
                _ => vec![News::Act(Box::new(Action::Notice(news.to_string())))],
            },
            Err(broadcast::error::RecvError::Lagged(_)) => vec![News::Changed],
            Err(broadcast::error::RecvError::Closed) => break,
        };
        for n in news {
            if tx.send(n).is_err() {
                return;
            }
        }
    }
}

/// SIGTERM, SIGINT, SIGHUP (the terminal closed) and SIGQUIT end the loop
/// the same way `q` does, so the terminal is restored and the state saved.
async fn on_signal(signals: StopSignals, stop: CancellationToken) {
    signals.recv().await;
    stop.cancel();
}

/// The terminal taken for the screen (the dashboard's and an attached
/// one's): raw mode and the alternate screen, mouse and bracketed paste,
/// and a panic hook that gives it all back. `no_terminal` says what to use
/// instead when there is no terminal.
pub(crate) fn take_terminal(no_terminal: &'static str) -> anyhow::Result<ratatui::DefaultTerminal> {
    let terminal = ratatui::try_init().context(no_terminal)?;
    // Bracketed paste: a pasted newline must not send the prompt.
    let _ = execute!(stdout(), EnableMouseCapture, EnableBracketedPaste);
    // ratatui's hook restores the screen on panic. Only a panic of the UI
    // (this thread: `main` drives the loop) ends the dashboard; a background
    // task's panic is survived and reported by the engine, so it must not
    // hand the terminal back under a screen that keeps running.
    let ui_thread = std::thread::current().id();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() == ui_thread {
            let _ = execute!(stdout(), DisableMouseCapture, DisableBracketedPaste);
            previous(info);
        } else {
            tracing::error!("a background task panicked: {info}");
        }
    }));
    Ok(terminal)
}

/// The terminal as it was before [`take_terminal`].
pub(crate) fn give_back_terminal(terminal: &mut ratatui::DefaultTerminal) {
    let _ = execute!(stdout(), DisableMouseCapture, DisableBracketedPaste);
    let _ = terminal.show_cursor();
    ratatui::restore();
}
