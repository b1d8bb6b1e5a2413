//! The dashboard's state and the one place it changes: [`App::update`].
//!
//! Input (keys, mouse, resize, ticks, engine news, route events) arrives as an
//! [`Action`]; `update` changes the state and returns the [`Command`]s the
//! event loop must carry out (probe, save, send, cancel). No I/O happens here
//! and the view changes nothing, so every rule below is tested by feeding
//! actions and reading the state.
//!
//! `update` hands keys and the mouse to `input`, the running prompt's route
//! events to `prompt_run`, chain edits and their undo to `chain_edit`, the
//! failure log to `failure_log`; `filter` is the `/` filter, `rows` the
//! table's rows. This file holds
//! the state, the queries the view asks of it, and the dispatch.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Offset, Utc};
use crossterm::event::{KeyEvent, MouseEvent};
use ratatui::layout::Rect;

use crate::config::Config;
use crate::health::{FailureRecord, HealthEvent, HealthEventKind, ModelSnapshot, Status};
use crate::pricing::{Price, Spending};
use crate::route::{
    self, Chain, ChainEdit, HealthView, Plan, RouteAnswer, RouteEvent, RouteFailure, RouteTarget,
};

use super::clipboard::ClipboardEnv;
use super::keys::{self, Context};
use super::theme::Theme;

mod chain_edit;
mod clean;
mod failure_log;
mod filter;
mod input;
mod prompt_run;
mod rows;

pub use chain_edit::{ChainHistory, Confirm, UNDO_DEPTH};
pub use failure_log::{FailureLog, LogEntry, LogWhat, LOG_CAP};
pub use filter::{Filter, FILTER_CAP};
pub use input::INPUT_CAP;
pub use prompt_run::{PromptRun, PromptState, Step, ANSWER_CAP};

/// Lines kept in the events panel.
pub const EVENTS_CAP: usize = 500;
/// How long a footer message stays.
pub const FLASH_SECS: i64 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Table,
    Prompt,
    Detail,
    Providers,
    /// The failure log, full screen.
    Log,
    Help,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// Chain order, then the models outside the chain.
    Chain,
    /// Worst first.
    Status,
    Name,
    /// Slowest first.
    P95,
}

impl Sort {
    pub fn next(self) -> Sort {
        match self {
            Sort::Chain => Sort::Status,
            Sort::Status => Sort::Name,
            Sort::Name => Sort::P95,
            Sort::P95 => Sort::Chain,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Sort::Chain => "chain",
            Sort::Status => "status",
            Sort::Name => "name",
            Sort::P95 => "p95",
        }
    }
}

/// The figures the header shows that do not change while running.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub probe_interval: Duration,
    pub window: Duration,
    pub threshold: f64,
    pub daily_budget: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    State(Status),
    Drift,
    Budget,
    Info,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventLine {
    pub at: DateTime<Utc>,
    pub kind: EventKind,
    pub text: String,
}

/// Everything the loop feeds into `update`.
#[derive(Debug, Clone)]
pub enum Action {
    Key(KeyEvent),
    /// Pasted text (bracketed paste): typed into the prompt, newlines kept,
    /// never sent by its own newlines.
    Paste(String),
    Mouse(MouseEvent),
    Resize(u16, u16),
    /// The slow tick: relative times ("3m ago") move on.
    Tick(DateTime<Utc>),
    /// Every model, fresh.
    Snapshots {
        models: Vec<ModelSnapshot>,
        spend_today: f64,
        now: DateTime<Utc>,
    },
    /// Some models, fresh (the rows on screen): they replace their
    /// namesakes, the rest stay as they were.
    Refresh {
        models: Vec<ModelSnapshot>,
        spend_today: f64,
        now: DateTime<Utc>,
    },
    /// The failures the engine keeps, by model, for the failure log.
    Failures(Vec<(String, FailureRecord)>),
    /// How a copy to the clipboard went.
    Copied(Result<(), String>),
    Health(HealthEvent),
    /// Price per token by model name, where known.
    Prices(HashMap<String, Price>),
    /// What probes spent today and will spend a day, per model.
    Spending(Spending),
    Budget(String),
    /// Something worth a line in the events panel (a failed save, say).
    Notice(String),
    Route {
        id: u64,
        event: RouteEvent,
    },
    RouteDone {
        id: u64,
        result: Result<RouteAnswer, RouteFailure>,
    },
    /// A chain edit of this dashboard was saved (or refused): `order` is
    /// the chain on disk after it, with every other process's edits in it.
    ChainSaved {
        edit: ChainEdit,
        order: Vec<String>,
        error: Option<String>,
    },
    /// Another process changed the chain; this is the order now.
    ChainOutside {
        order: Vec<String>,
    },
    /// The badge under the header (an attached dashboard says which
    /// server it shows, and whether it is reachable); `None` removes it.
    Badge(Option<String>),
}

/// What `update` asks the loop to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    ProbeNow(Option<String>),
    /// Save this edit, as an operation on the chain on disk.
    EditChain(ChainEdit),
    Send {
        id: u64,
        text: String,
        target: RouteTarget,
        chain: Vec<String>,
        /// Show the answer once complete; one that breaks off restarts
        /// cleanly on the next model.
        buffered: bool,
    },
    CancelPrompt,
    AckDrift(String),
    /// Put the text on the clipboard (OSC 52 through the terminal).
    Copy(String),
    Quit,
}

/// A message in the footer: what a key did ("copied", "undone: …").
#[derive(Debug, Clone, PartialEq)]
pub struct Flash {
    pub text: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct App {
    pub now: DateTime<Utc>,
    pub models: Vec<ModelSnapshot>,
    pub chain: Chain,
    /// The models and tiers, for the route preview (the router's own rule).
    pub config: Arc<Config>,
    pub settings: Settings,
    pub spend_today: f64,
    /// Probe spend per model today and per day at the current pace.
    pub spending: Spending,
    pub prices: HashMap<String, Price>,
    pub demo: Option<String>,
    pub theme: Theme,
    /// Event times are shown in this zone (the local one when running).
    pub tz: FixedOffset,
    pub size: (u16, u16),
    pub focus: Focus,
    /// Where Help returns to.
    pub prev_focus: Focus,
    pub sort: Sort,
    /// The selected model, by name, so it survives re-sorting and refreshes.
    pub selected: Option<String>,
    /// First table row shown.
    pub offset: usize,
    pub input: String,
    pub target: RouteTarget,
    /// The prompt panel's "buffer answers" (`b`): an answer shows once it
    /// is complete, and one that breaks off restarts cleanly on the next
    /// model. Off: answers stream, and a break is reported.
    pub buffer_answers: bool,
    pub prompt: Option<PromptRun>,
    next_prompt_id: u64,
    pub events: VecDeque<EventLine>,
    /// Lines scrolled down from the newest event.
    pub events_scroll: usize,
    /// Chain edits sent and not saved yet: until they are, the screen keeps
    /// its own order rather than show a saved one they are not in.
    pub chain_pending: usize,
    /// The models table's `/` filter.
    pub filter: Filter,
    /// Typing into the current view's filter (the table's or the log's).
    pub editing_filter: bool,
    pub log: FailureLog,
    /// Clock times instead of "3m ago" in the table.
    pub clock: bool,
    /// Chain edits that `u` undoes.
    pub history: ChainHistory,
    /// A question waiting for y or n.
    pub confirm: Option<Confirm>,
    pub flash: Option<Flash>,
    pub clipboard: ClipboardEnv,
    /// Lines the help overlay is scrolled by.
    pub help_scroll: usize,
    /// Some model served something other than its id: the table shows the
    /// served column from then on, so columns do not come and go.
    pub served_seen: bool,
    pub quit: bool,
}

/// Health as the latest snapshots tell it: what the preview plans over.
struct SnapshotHealth<'a>(HashMap<&'a str, &'a ModelSnapshot>);

impl<'a> SnapshotHealth<'a> {
    fn new(models: &'a [ModelSnapshot]) -> Self {
        SnapshotHealth(models.iter().map(|m| (m.name.as_str(), m)).collect())
    }
}

impl HealthView for SnapshotHealth<'_> {
    fn judge(&self, model: &str, _now: DateTime<Utc>) -> (Status, String) {
        self.0
            .get(model)
            .map_or((Status::Unknown, String::new()), |m| {
                (m.status, m.reason.clone())
            })
    }

    fn ttft_p95(&self, model: &str, _now: DateTime<Utc>) -> Option<Duration> {
        self.0.get(model)?.ttft.map(|p| p.p95)
    }

    fn record(&self, _model: &str, _attempt: &crate::api::Attempt, _now: DateTime<Utc>) {}

    /// The latest attempt the snapshot knows of: its last success or failure.
    fn last_attempt(&self, model: &str) -> Option<DateTime<Utc>> {
        let m = self.0.get(model)?;
        m.last_success.max(m.last_failure.as_ref().map(|f| f.at))
    }

    /// The preview only plans; it never runs a trial.
    fn adopt(&self, _trial: crate::route::Trial) {}
}

impl App {
    pub fn new(config: &Config, chain: Chain, now: DateTime<Utc>) -> App {
        App {
            now,
            models: Vec::new(),
            chain,
            config: Arc::new(config.clone()),
            settings: Settings {
                probe_interval: config.probe.interval,
                window: config.health.window,
                threshold: config.health.threshold,
                daily_budget: config.probe.daily_budget,
            },
            spend_today: 0.0,
            spending: Spending::default(),
            prices: HashMap::new(),
            demo: None,
            theme: Theme::default(),
            tz: FixedOffset::east_opt(0).unwrap_or(Utc.fix()),
            size: (80, 24),
            focus: Focus::Table,
            prev_focus: Focus::Table,
            sort: Sort::Chain,
            selected: None,
            offset: 0,
            input: String::new(),
            target: RouteTarget::Chain,
            buffer_answers: false,
            prompt: None,
            next_prompt_id: 1,
            events: VecDeque::new(),
            events_scroll: 0,
            chain_pending: 0,
            filter: Filter::default(),
            editing_filter: false,
            log: FailureLog::default(),
            clock: false,
            history: ChainHistory::default(),
            confirm: None,
            flash: None,
            clipboard: ClipboardEnv::default(),
            help_scroll: 0,
            served_seen: false,
            quit: false,
        }
    }

    /// The key contexts in force, first match first: what the key handler
    /// looks keys up in and what the footer lists.
    pub fn key_stack(&self) -> &'static [Context] {
        if self.confirm.is_some() {
            return keys::CONFIRM;
        }
        if self.editing_filter {
            return keys::FILTER;
        }
        match self.focus {
            Focus::Table => keys::TABLE,
            Focus::Detail => keys::DETAIL,
            Focus::Log => keys::LOG,
            Focus::Providers => keys::VIEW,
            Focus::Help => keys::HELP,
            Focus::Prompt => keys::PROMPT,
        }
    }

    /// The view under the help overlay (or the view itself).
    pub fn view_focus(&self) -> Focus {
        if self.focus == Focus::Help {
            self.prev_focus
        } else {
            self.focus
        }
    }

    /// The footer message, while it is fresh.
    pub fn flash_text(&self) -> Option<&str> {
        self.flash
            .as_ref()
            .filter(|f| (self.now - f.at).num_seconds() < FLASH_SECS)
            .map(|f| f.text.as_str())
    }

    fn flash(&mut self, text: String) {
        self.flash = Some(Flash { text, at: self.now });
    }

    pub fn prompt_running(&self) -> bool {
        self.prompt
            .as_ref()
            .is_some_and(|p| p.state == PromptState::Running)
    }

    /// Where the next prompt would go: the router's own plan over the
    /// latest snapshots.
    pub fn preview(&self) -> Plan {
        let health = SnapshotHealth::new(&self.models);
        route::plan(
            &self.config,
            &health,
            self.chain.order(),
            &self.target,
            self.now,
        )
    }

    pub fn target_label(&self) -> String {
        match &self.target {
            RouteTarget::Chain => "chain".to_string(),
            RouteTarget::Tier(t) => format!("{t} tier"),
            RouteTarget::Model(m) => format!("only {m}"),
        }
    }

    fn push_event(&mut self, at: DateTime<Utc>, kind: EventKind, text: String) {
        self.events.push_front(EventLine { at, kind, text });
        self.events.truncate(EVENTS_CAP);
        if self.events_scroll > 0 {
            // Keep the lines the user scrolled to in place.
            self.events_scroll = (self.events_scroll + 1).min(self.events.len() - 1);
        }
    }

    fn info(&mut self, text: String) {
        self.push_event(self.now, EventKind::Info, text);
    }

    fn on_chain_saved(&mut self, edit: &ChainEdit, order: &[String], error: Option<String>) {
        self.chain_pending = self.chain_pending.saturating_sub(1);
        match error {
            None => self.info(format!("chain: {edit}")),
            Some(e) => self.info(format!("chain: could not save \"{edit}\": {e}")),
        }
        if self.chain_pending == 0 {
            self.chain.set_order(order);
        }
    }

    fn on_chain_outside(&mut self, order: &[String]) {
        self.info(format!(
            "chain changed by another process: {}",
            order.join(" › ")
        ));
        // Edits still on their way are applied on top of this order on
        // disk; their result brings it in.
        if self.chain_pending == 0 {
            self.chain.set_order(order);
        }
    }

    /// The one place state changes. Outside text is made safe to show on
    /// the way in (`clean`).
    pub fn update(&mut self, action: Action) -> Vec<Command> {
        let commands = match clean::clean(action) {
            Action::Key(key) => self.on_key(key),
            Action::Paste(text) => {
                self.paste(&text);
                Vec::new()
            }
            Action::Mouse(mouse) => {
                self.on_mouse(mouse);
                Vec::new()
            }
            Action::Resize(w, h) => {
                self.size = (w, h);
                Vec::new()
            }
            Action::Tick(now) => {
                self.now = now;
                Vec::new()
            }
            Action::Snapshots {
                models,
                spend_today,
                now,
            } => {
                self.served_seen |= models.iter().any(|m| served_differs(m).is_some());
                self.models = models;
                self.spend_today = spend_today;
                self.now = now;
                Vec::new()
            }
            Action::Refresh {
                models,
                spend_today,
                now,
            } => {
                self.refresh(models);
                self.spend_today = spend_today;
                self.now = now;
                Vec::new()
            }
            Action::Failures(failures) => {
                self.log.set_failures(failures);
                self.log.rebuild(self.now - self.settings.window);
                Vec::new()
            }
            Action::Copied(result) => {
                let words = match result {
                    Ok(()) => self.clipboard.sent_words().to_string(),
                    Err(why) => format!("clipboard not available: {why}"),
                };
                self.flash(words);
                Vec::new()
            }
            Action::Health(event) => {
                let kind = match &event.kind {
                    HealthEventKind::State { to, reason, .. } => {
                        // The status of a model off screen is kept current
                        // here, between full refreshes.
                        if let Some(m) = self.models.iter_mut().find(|m| m.name == event.model) {
                            m.status = *to;
                            m.reason.clone_from(reason);
                        }
                        EventKind::State(*to)
                    }
                    HealthEventKind::Drift { .. } => EventKind::Drift,
                };
                self.log.note_change(&event);
                if self.view_focus() == Focus::Log {
                    self.log.rebuild(self.now - self.settings.window);
                }
                self.push_event(event.at, kind, event.to_string());
                Vec::new()
            }
            Action::Prices(prices) => {
                self.prices = prices;
                Vec::new()
            }
            Action::Spending(spending) => {
                self.spending = spending;
                Vec::new()
            }
            Action::Budget(message) => {
                self.push_event(self.now, EventKind::Budget, message);
                Vec::new()
            }
            Action::Notice(message) => {
                self.info(message);
                Vec::new()
            }
            Action::Route { id, event } => {
                self.on_route_event(id, event);
                Vec::new()
            }
            Action::RouteDone { id, result } => {
                self.on_route_done(id, result);
                Vec::new()
            }
            Action::ChainSaved { edit, order, error } => {
                self.on_chain_saved(&edit, &order, error);
                Vec::new()
            }
            Action::ChainOutside { order } => {
                self.on_chain_outside(&order);
                Vec::new()
            }
            Action::Badge(text) => {
                self.demo = text;
                Vec::new()
            }
        };
        self.keep_selection();
        self.ensure_visible();
        commands
    }

    /// Fresh snapshots of some models replace their namesakes.
    fn refresh(&mut self, fresh: Vec<ModelSnapshot>) {
        for m in fresh {
            self.served_seen |= served_differs(&m).is_some();
            if let Some(old) = self.models.iter_mut().find(|o| o.name == m.name) {
                *old = m;
            }
        }
    }

    pub fn area(&self) -> Rect {
        Rect::new(0, 0, self.size.0, self.size.1)
    }
}

/// The served model, when it is not the id asked for.
pub fn served_differs(m: &ModelSnapshot) -> Option<&str> {
    m.served_model.as_deref().filter(|s| *s != m.id)
}
