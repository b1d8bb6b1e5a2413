//! The event loop: one `tokio::select!` over the terminal's events, news from
//! the engine, the running prompt's route events and a slow tick. State
//! changes only in `App::update`; the loop carries out the commands it
//! returns and redraws after something happened, never on a fast timer.
//!
//! What a frame costs is kept to what is on screen. A key press is drawn at
//! once; news (a probe ended, a state changed, a prompt's words) is drawn
//! at most once per [`FRAME`], so a burst of events is one frame, and a
//! probe of a model that is not on screen draws nothing. Before each frame
//! only the models on screen get fresh snapshots
//! ([`Services::snapshots_of`]); every model's come every [`FULL_REFRESH`]
//! (for the sort and the header; the status of the rest is kept current by
//! the health events in between), or each frame while the provider view,
//! which rolls up every model, is open.
//!
//! The loop is generic over ratatui's `Backend` and over [`Services`] (what
//! it needs of the engine, router and store), so tests drive it on
//! `TestBackend` with a fake.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use crossterm::event::{Event, KeyEventKind};
use futures_util::{Stream, StreamExt};
use ratatui::backend::Backend;
use ratatui::Terminal;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::health::{FailureRecord, ModelSnapshot};
use crate::pricing::{Price, Spending};
use crate::route::{ChainEdit, RouteAnswer, RouteEvent, RouteFailure, RouteTarget};

use super::app::{Action, App, Command, Focus};
use super::clipboard::{osc52, RawOutput};
use super::view;

/// Relative times ("3m ago") and figures that age without news move on at
/// this pace; nothing else redraws without a reason.
pub const TICK: Duration = Duration::from_secs(1);
/// News is drawn at most this often: a burst of events is one frame.
pub const FRAME: Duration = Duration::from_millis(100);
/// Every model's snapshot is taken this often; in between only the rows on
/// screen are.
pub const FULL_REFRESH: Duration = Duration::from_secs(5);

pub type RouteFuture = Pin<Box<dyn Future<Output = Result<RouteAnswer, RouteFailure>> + Send>>;

/// What the dashboard needs of the rest of chainwatch.
pub trait Services: Send + Sync + 'static {
    fn snapshots(&self, now: DateTime<Utc>) -> Vec<ModelSnapshot>;
    /// The snapshots of the named models only (the rows on screen).
    fn snapshots_of(&self, names: &[String], now: DateTime<Utc>) -> Vec<ModelSnapshot> {
        let mut all = self.snapshots(now);
        all.retain(|m| names.contains(&m.name));
        all
    }
    /// Every model's kept failures at or after `since`, with their whole
    /// messages (the failure log).
    fn failures_since(&self, _since: DateTime<Utc>) -> Vec<(String, FailureRecord)> {
        Vec::new()
    }
    fn spend_today(&self, now: DateTime<Utc>) -> f64;
    /// What probes spent today and will spend a day at the current pace,
    /// per model (only today's total when not known).
    fn spending(&self, now: DateTime<Utc>) -> Spending {
        Spending {
            today: self.spend_today(now),
            ..Spending::default()
        }
    }
    /// Price per token by model name, where known.
    fn prices(&self) -> HashMap<String, Price> {
        HashMap::new()
    }
    fn probe_now(&self, model: Option<&str>);
    fn acknowledge_drift(&self, model: &str, now: DateTime<Utc>);
    /// Applies a chain edit to the chain as saved, under the state file's
    /// lock (blocking I/O: called off the UI task, one edit at a time in
    /// the order they were made); returns the order after it.
    fn edit_chain(&self, edit: &ChainEdit) -> anyhow::Result<Vec<String>>;
    /// The chain's order as last saved or seen on disk.
    fn chain_order(&self) -> Vec<String>;
    /// Rings the terminal bell (an alert rule with `bell = true` fired).
    /// Called from the loop after the news is taken in and any frame is
    /// drawn, so it never lands inside one.
    fn bell(&self) {}
    /// Routes one prompt (`buffered`: see [`RouteRequest::buffered`]);
    /// dropping the future cancels it (connections close).
    ///
    /// [`RouteRequest::buffered`]: crate::route::RouteRequest::buffered
    fn route(
        &self,
        chain: Vec<String>,
        text: String,
        target: RouteTarget,
        buffered: bool,
        events: mpsc::UnboundedSender<RouteEvent>,
    ) -> RouteFuture;
}

/// News from the engine's side, already translated.
#[derive(Debug, Clone)]
pub enum News {
    Act(Box<Action>),
    /// A probe of this model ended: its row changes, if it is on screen.
    Probed(String),
    /// Anything may have changed (news was lost): take every snapshot.
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
    B: Backend + RawOutput,
    B::Error: Send + Sync + 'static,
    S: Services,
    E: Stream<Item = io::Result<Event>> + Unpin,
{
    let (internal_tx, mut internal_rx) = mpsc::unbounded_channel::<Action>();
    let mut executor = Executor {
        services: Arc::clone(&services),
        internal: internal_tx,
        prompt: None,
        edits: None,
    };
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut news_open = true;

    if let Ok(size) = terminal.size() {
        app.update(Action::Resize(size.width, size.height));
    }
    let mut frames = Frames::new();
    app.update(Action::Prices(services.prices()));
    frames.draw(terminal, app, services.as_ref(), true)?;

    loop {
        let mut actions: Vec<Action> = Vec::new();
        // Drawn at once (a key, the tick), or at the next frame (news).
        let mut now_please = false;
        let mut full = false;
        let next_frame = frames.next();
        let mut bell = false;
        tokio::select! {
            event = terminal_events.next() => match event {
                Some(Ok(event)) => match translate(event) {
                    Some(action) => {
                        actions.push(action);
                        now_please = true;
                    }
                    None => continue,
                },
                Some(Err(err)) => return Err(anyhow::Error::new(err).context("reading the terminal")),
                None => break,
            },
            item = news.recv(), if news_open => match item {
                Some(first) => {
                    // Take the whole burst: it is one frame.
                    let mut take = |n: News, actions: &mut Vec<Action>| match n {
                        News::Act(a) => {
                            actions.push(*a);
                            frames.pending = true;
                        }
                        News::Probed(model) => {
                            if frames.on_screen.contains(&model) {
                                frames.pending = true;
                            }
                        }
                        News::Changed => {
                            full = true;
                            frames.pending = true;
                        }
                        News::Bell => bell = true,
                    };
                    take(first, &mut actions);
                    while let Ok(n) = news.try_recv() {
                        take(n, &mut actions);
                    }
                }
                None => news_open = false,
            },
            Some(action) = internal_rx.recv() => {
                actions.push(action);
                while let Ok(more) = internal_rx.try_recv() {
                    actions.push(more);
                }
                frames.pending = true;
            }
            _ = tick.tick() => {
                actions.push(Action::Tick(Utc::now()));
                now_please = true;
            }
            _ = tokio::time::sleep_until(next_frame), if frames.pending => now_please = true,
            _ = stop.cancelled() => break,
        }
        for action in actions {
            for command in app.update(action) {
                if let Command::Copy(text) = &command {
                    // Through the backend: the escape goes where the frames go.
                    let bytes = osc52(text, app.clipboard.tmux);
                    let result = terminal
                        .backend_mut()
                        .write_raw(&bytes)
                        .map_err(|e| e.to_string());
                    app.update(Action::Copied(result));
                    continue;
                }
                executor.execute(command, app);
            }
        }
        if app.quit {
            break;
        }
        if full {
            frames.full_due = true;
        }
        if now_please || (frames.pending && Instant::now() >= frames.next()) {
            frames.draw(terminal, app, services.as_ref(), false)?;
        }
        if bell {
            services.bell();
        }
    }
    if let Some(task) = executor.prompt.take() {
        task.abort();
    }
    // Edits made just before quitting are still saved.
    if let Some((edits, worker)) = executor.edits.take() {
        drop(edits);
        let _ = tokio::time::timeout(EDITS_ON_EXIT, worker).await;
    }
    Ok(())
}

/// How long quitting waits for chain edits still being saved.
const EDITS_ON_EXIT: Duration = Duration::from_secs(5);

/// When to draw, and what to refresh before drawing.
struct Frames {
    last: Instant,
    last_full: Instant,
    /// Something changed that is not drawn yet.
    pending: bool,
    /// Every snapshot is wanted at the next frame.
    full_due: bool,
    /// The models the last frame showed: news about the others draws
    /// nothing.
    on_screen: HashSet<String>,
    /// When the failure log's lines were last fetched (while it is open).
    failures_at: Option<Instant>,
}

impl Frames {
    fn new() -> Frames {
        let now = Instant::now();
        Frames {
            last: now,
            last_full: now,
            pending: false,
            full_due: true,
            on_screen: HashSet::new(),
            failures_at: None,
        }
    }

    /// The earliest time a news-driven frame may be drawn.
    fn next(&self) -> Instant {
        self.last + FRAME
    }

    /// Fresh snapshots for what the screen shows, then the frame.
    fn draw<B, S>(
        &mut self,
        terminal: &mut Terminal<B>,
        app: &mut App,
        services: &S,
        first: bool,
    ) -> anyhow::Result<()>
    where
        B: Backend,
        B::Error: Send + Sync + 'static,
        S: Services,
    {
        let now = Utc::now();
        let full = first
            || self.full_due
            || self.last_full.elapsed() >= FULL_REFRESH
            || app.shows_every_model();
        if full {
            app.update(snapshot_action(services, now));
            // Spend moves slowly: with the full refresh is often enough.
            app.update(Action::Spending(services.spending(now)));
            self.last_full = Instant::now();
            self.full_due = false;
        } else {
            let names = app.on_screen();
            app.update(Action::Refresh {
                models: services.snapshots_of(&names, now),
                spend_today: services.spend_today(now),
                now,
            });
        }
        // The log's lines: when it opens, then once a tick while open.
        if app.view_focus() == Focus::Log {
            if self.failures_at.is_none_or(|at| at.elapsed() >= TICK) {
                let since = now - app.settings.window;
                app.update(Action::Failures(services.failures_since(since)));
                self.failures_at = Some(Instant::now());
            }
        } else {
            self.failures_at = None;
        }
        terminal.draw(|f| view::draw(f, app))?;
        self.on_screen = app.on_screen().into_iter().collect();
        self.last = Instant::now();
        self.pending = false;
        Ok(())
    }
}

fn snapshot_action(services: &impl Services, now: DateTime<Utc>) -> Action {
    Action::Snapshots {
        models: services.snapshots(now),
        spend_today: services.spend_today(now),
        now,
    }
}

fn refresh(app: &mut App, services: &impl Services) {
    let now = Utc::now();
    app.update(snapshot_action(services, now));
    app.update(Action::Spending(services.spending(now)));
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
/// commands: the running prompt and the chain edits being saved.
struct Executor<S> {
    services: Arc<S>,
    /// Results that arrive later (a prompt's events, a saved edit) come
    /// back into the loop through here.
    internal: mpsc::UnboundedSender<Action>,
    prompt: Option<JoinHandle<()>>,
    /// Chain edits go to one worker that saves them in the order they were
    /// made (started at the first edit).
    edits: Option<(mpsc::UnboundedSender<ChainEdit>, JoinHandle<()>)>,
}

/// Saves chain edits one after another on the blocking pool, and reports
/// each with the order on disk after it.
fn edit_worker<S: Services>(
    services: Arc<S>,
    internal: mpsc::UnboundedSender<Action>,
) -> (mpsc::UnboundedSender<ChainEdit>, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<ChainEdit>();
    let worker = tokio::spawn(async move {
        while let Some(edit) = rx.recv().await {
            let saver = Arc::clone(&services);
            let sent = edit.clone();
            let saved = tokio::task::spawn_blocking(move || saver.edit_chain(&sent)).await;
            let (order, error) = match saved {
                Ok(Ok(order)) => (order, None),
                Ok(Err(err)) => {
                    tracing::warn!("saving the chain edit \"{edit}\": {err:#}");
                    (services.chain_order(), Some(format!("{err:#}")))
                }
                Err(err) => (services.chain_order(), Some(err.to_string())),
            };
            let _ = internal.send(Action::ChainSaved { edit, order, error });
        }
    });
    (tx, worker)
}

impl<S: Services> Executor<S> {
    fn execute(&mut self, command: Command, app: &mut App) {
        match command {
            Command::ProbeNow(model) => self.services.probe_now(model.as_deref()),
            Command::AckDrift(model) => {
                self.services.acknowledge_drift(&model, Utc::now());
                refresh(app, self.services.as_ref());
            }
            Command::EditChain(edit) => {
                let (edits, _) = self.edits.get_or_insert_with(|| {
                    edit_worker(Arc::clone(&self.services), self.internal.clone())
                });
                let _ = edits.send(edit);
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
                buffered,
            } => {
                if let Some(task) = self.prompt.take() {
                    task.abort();
                }
                let out = self.internal.clone();
                let (tx, mut rx) = mpsc::unbounded_channel();
                let mut route = self.services.route(chain, text, target, buffered, tx);
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
            // Written by the loop, which holds the terminal.
            Command::Copy(_) | Command::Quit => {}
        }
    }
}
