//! The event loop: one `tokio::select!` over the terminal's events, news from
//! the engine, the running prompt's route events and a slow tick. State
//! changes only in `App::update`; the loop carries out the commands it
//! returns and redraws after something happened, never on a fast timer.
//!
//! The loop is generic over ratatui's `Backend` and over [`Services`] (what
//! it needs of the engine, router and store), so tests drive it on
//! `TestBackend` with a fake.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use crossterm::event::{Event, KeyEventKind};
use futures_util::{Stream, StreamExt};
use ratatui::backend::Backend;
use ratatui::Terminal;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::health::ModelSnapshot;
use crate::pricing::Price;
use crate::route::{RouteAnswer, RouteEvent, RouteFailure, RouteTarget};

use super::app::{Action, App, Command};
use super::view;

/// Relative times ("3m ago") and figures that age without news move on at
/// this pace; nothing else redraws without a reason.
pub const TICK: Duration = Duration::from_secs(1);

pub type RouteFuture = Pin<Box<dyn Future<Output = Result<RouteAnswer, RouteFailure>> + Send>>;

/// What the dashboard needs of the rest of chainwatch.
pub trait Services: Send + Sync + 'static {
    fn snapshots(&self, now: DateTime<Utc>) -> Vec<ModelSnapshot>;
    fn spend_today(&self, now: DateTime<Utc>) -> f64;
    /// Price per token by model name, where known.
    fn prices(&self) -> HashMap<String, Price> {
        HashMap::new()
    }
    fn probe_now(&self, model: Option<&str>);
    fn acknowledge_drift(&self, model: &str, now: DateTime<Utc>);
    /// Saves the chain order (blocking I/O: called off the UI task), unless
    /// `superseded()` says a newer order was issued meanwhile (it is asked
    /// at the moment of writing, so the newest order always wins).
    fn save_chain(&self, order: &[String], superseded: &dyn Fn() -> bool) -> anyhow::Result<()>;
    /// Rings the terminal bell (an alert rule with `bell = true` fired).
    /// Called from the loop after a frame is drawn, so it never lands
    /// inside one.
    fn bell(&self) {}
    /// Routes one prompt; dropping the future cancels it (connections close).
    fn route(
        &self,
        chain: Vec<String>,
        text: String,
        target: RouteTarget,
        events: mpsc::UnboundedSender<RouteEvent>,
    ) -> RouteFuture;
}

/// News from the engine's side, already translated.
#[derive(Debug, Clone)]
pub enum News {
    Act(Box<Action>),
    /// Figures changed (a probe ended): take fresh snapshots.
    Changed,
    /// An alert asks for the terminal bell.
    Bell,
}

/// Runs the dashboard on `terminal` over `services` until the user quits,
/// the terminal's event stream ends, or `stop` is cancelled (SIGTERM,
/// Ctrl-C from outside).
pub async fn run_dashboard<B, S, E>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    services: Arc<S>,
    mut terminal_events: E,
    mut news: mpsc::UnboundedReceiver<News>,
    stop: CancellationToken,
) -> anyhow::Result<()>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
    S: Services,
    E: Stream<Item = io::Result<Event>> + Unpin,
{
    let (internal_tx, mut internal_rx) = mpsc::unbounded_channel::<Action>();
    let mut executor = Executor {
        services: Arc::clone(&services),
        internal: internal_tx,
        prompt: None,
        chain_saves: Arc::new(AtomicU64::new(0)),
    };
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut news_open = true;

    if let Ok(size) = terminal.size() {
        app.update(Action::Resize(size.width, size.height));
    }
    refresh(app, services.as_ref());
    terminal.draw(|f| view::draw(f, app))?;

    loop {
        let mut actions: Vec<Action> = Vec::new();
        let mut bell = false;
        tokio::select! {
            event = terminal_events.next() => match event {
                Some(Ok(event)) => match translate(event) {
                    Some(action) => actions.push(action),
                    None => continue,
                },
                Some(Err(err)) => return Err(anyhow::Error::new(err).context("reading the terminal")),
                None => break,
            },
            item = news.recv(), if news_open => match item {
                Some(first) => {
                    // Take the whole burst, then refresh once.
                    let mut changed = false;
                    let mut take = |n: News, actions: &mut Vec<Action>| match n {
                        News::Act(a) => actions.push(*a),
                        News::Changed => changed = true,
                        News::Bell => bell = true,
                    };
                    take(first, &mut actions);
                    while let Ok(n) = news.try_recv() {
                        take(n, &mut actions);
                    }
                    if changed {
                        actions.push(snapshot_action(services.as_ref()));
                    }
                }
                None => news_open = false,
            },
            Some(action) = internal_rx.recv() => actions.push(action),
            _ = tick.tick() => actions.push(snapshot_action(services.as_ref())),
            _ = stop.cancelled() => break,
        }
        for action in actions {
            for command in app.update(action) {
                executor.execute(command, app);
            }
        }
        if app.quit {
            break;
        }
        terminal.draw(|f| view::draw(f, app))?;
        if bell {
            services.bell();
        }
    }
    if let Some(task) = executor.prompt.take() {
        task.abort();
    }
    Ok(())
}

fn snapshot_action(services: &impl Services) -> Action {
    let now = Utc::now();
    Action::Snapshots {
        models: services.snapshots(now),
        spend_today: services.spend_today(now),
        now,
    }
}

fn refresh(app: &mut App, services: &impl Services) {
    app.update(snapshot_action(services));
    app.update(Action::Prices(services.prices()));
}

/// Terminal events the app cares about.
pub fn translate(event: Event) -> Option<Action> {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => Some(Action::Key(key)),
        Event::Paste(text) => Some(Action::Paste(text)),
        Event::Mouse(mouse) => Some(Action::Mouse(mouse)),
        Event::Resize(w, h) => Some(Action::Resize(w, h)),
        _ => None,
    }
}

/// Carries out what `update` asks for, and keeps what that needs between
/// commands: the running prompt and this loop's count of chain saves.
struct Executor<S> {
    services: Arc<S>,
    /// Results that arrive later (a prompt's events, a failed save) come
    /// back into the loop through here.
    internal: mpsc::UnboundedSender<Action>,
    prompt: Option<JoinHandle<()>>,
    /// Chain saves this loop issued so far: a save that is no longer the
    /// newest skips. Per loop, so two dashboards in one process (tests)
    /// never supersede each other's saves.
    chain_saves: Arc<AtomicU64>,
}

impl<S: Services> Executor<S> {
    fn execute(&mut self, command: Command, app: &mut App) {
        match command {
            Command::ProbeNow(model) => self.services.probe_now(model.as_deref()),
            Command::AckDrift(model) => {
                self.services.acknowledge_drift(&model, Utc::now());
                refresh(app, self.services.as_ref());
            }
            Command::SaveChain(order) => {
                let services = Arc::clone(&self.services);
                let internal = self.internal.clone();
                let saves = Arc::clone(&self.chain_saves);
                // Saves run on the blocking pool and may finish in any order.
                let seq = saves.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::task::spawn_blocking(move || {
                    let superseded = || saves.load(Ordering::SeqCst) != seq;
                    if let Err(err) = services.save_chain(&order, &superseded) {
                        tracing::warn!("saving the chain order: {err:#}");
                        let _ = internal.send(Action::Notice(format!(
                            "could not save the chain order: {err:#}"
                        )));
                    }
                });
            }
            Command::CancelPrompt => {
                if let Some(task) = self.prompt.take() {
                    // Dropping the route future closes its connections.
                    task.abort();
                }
            }
            Command::Send {
                id,
                text,
                target,
                chain,
            } => {
                if let Some(task) = self.prompt.take() {
                    task.abort();
                }
                let out = self.internal.clone();
                let (tx, mut rx) = mpsc::unbounded_channel();
                let mut route = self.services.route(chain, text, target, tx);
                self.prompt = Some(tokio::spawn(async move {
                    // One task forwards events and the result, so the result
                    // never overtakes the events before it.
                    let result = loop {
                        tokio::select! {
                            biased;
                            Some(event) = rx.recv() => {
                                let _ = out.send(Action::Route { id, event });
                            }
                            result = &mut route => break result,
                        }
                    };
                    while let Ok(event) = rx.try_recv() {
                        let _ = out.send(Action::Route { id, event });
                    }
                    let _ = out.send(Action::RouteDone { id, result });
                }));
            }
            Command::Quit => {}
        }
    }
}
