//! The dashboard's state and the one place it changes: [`App::update`].
//!
//! Input (keys, mouse, resize, ticks, engine news, route events) arrives as an
//! [`Action`]; `update` changes the state and returns the [`Command`]s the
//! event loop must carry out (probe, save, send, cancel). No I/O happens here
//! and the view changes nothing, so every rule below is tested by feeding
//! actions and reading the state.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Offset, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use crate::api::FailureClass;
use crate::config::{Config, Tier};
use crate::fmt::{fmt_secs, fmt_usd};
use crate::health::{HealthEvent, HealthEventKind, ModelSnapshot, Status};
use crate::pricing::Price;
use crate::route::{
    self, Chain, HealthView, Plan, RouteAnswer, RouteEvent, RouteFailure, RouteTarget,
};

use super::keys::{lookup, Context, KeyAction};
use super::theme::Theme;
use super::view;

/// Lines kept in the events panel.
pub const EVENTS_CAP: usize = 500;
/// Characters of a streamed answer kept on screen.
pub const ANSWER_CAP: usize = 64 * 1024;
/// Characters the prompt input accepts.
pub const INPUT_CAP: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Table,
    Prompt,
    Detail,
    Providers,
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

#[derive(Debug, Clone, PartialEq)]
pub enum PromptState {
    Running,
    Answered,
    Failed(String),
    Cancelled,
}

/// One piece of the route line: "gpt-4o skipped: unhealthy".
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The model the step is about, so a later event can replace it.
    pub model: Option<String>,
    pub text: String,
    pub bad: bool,
}

/// The prompt that is running or ran last.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptRun {
    pub id: u64,
    pub text: String,
    pub target: RouteTarget,
    pub steps: Vec<Step>,
    pub answer: String,
    pub answer_model: Option<String>,
    pub state: PromptState,
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
    Snapshots {
        models: Vec<ModelSnapshot>,
        spend_today: f64,
        now: DateTime<Utc>,
    },
    Health(HealthEvent),
    /// Price per token by model name, where known.
    Prices(HashMap<String, Price>),
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
}

/// What `update` asks the loop to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    ProbeNow(Option<String>),
    SaveChain(Vec<String>),
    Send {
        id: u64,
        text: String,
        target: RouteTarget,
        chain: Vec<String>,
    },
    CancelPrompt,
    AckDrift(String),
    Quit,
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
    pub prompt: Option<PromptRun>,
    next_prompt_id: u64,
    pub events: VecDeque<EventLine>,
    /// Lines scrolled down from the newest event.
    pub events_scroll: usize,
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
            prompt: None,
            next_prompt_id: 1,
            events: VecDeque::new(),
            events_scroll: 0,
            quit: false,
        }
    }

    /// Model indices in display order.
    pub fn rows(&self) -> Vec<usize> {
        // Chain positions looked up once, not inside the comparator: with
        // hundreds of models that is the difference between 0.1 and 2 ms.
        let position: HashMap<&str, usize> = self
            .chain
            .order()
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let chain_key = |i: usize| {
            let at = position.get(self.models[i].name.as_str());
            (at.copied().unwrap_or(usize::MAX), i)
        };
        let mut rows: Vec<usize> = (0..self.models.len()).collect();
        match self.sort {
            Sort::Chain => rows.sort_by_cached_key(|i| chain_key(*i)),
            Sort::Status => {
                rows.sort_by_cached_key(|i| (severity(self.models[*i].status), chain_key(*i)))
            }
            Sort::Name => rows.sort_by(|a, b| self.models[*a].name.cmp(&self.models[*b].name)),
            Sort::P95 => rows.sort_by_cached_key(|i| {
                let p95 = self.models[*i].latency.map(|l| l.p95);
                (std::cmp::Reverse(p95), chain_key(*i))
            }),
        }
        rows
    }

    /// The selected row's position in [`App::rows`].
    pub fn selected_row(&self, rows: &[usize]) -> usize {
        self.selected
            .as_deref()
            .and_then(|name| rows.iter().position(|i| self.models[*i].name == name))
            .unwrap_or(0)
    }

    pub fn selected_model(&self) -> Option<&ModelSnapshot> {
        let rows = self.rows();
        rows.get(self.selected_row(&rows))
            .and_then(|i| self.models.get(*i))
    }

    pub fn model(&self, name: &str) -> Option<&ModelSnapshot> {
        self.models.iter().find(|m| m.name == name)
    }

    pub fn prompt_running(&self) -> bool {
        self.prompt
            .as_ref()
            .is_some_and(|p| p.state == PromptState::Running)
    }

    /// Counts by status, for the header.
    pub fn counts(&self) -> Vec<(Status, usize)> {
        let order = [
            Status::Healthy,
            Status::Degraded,
            Status::Unhealthy,
            Status::RateLimited,
            Status::Misconfigured,
            Status::Unknown,
        ];
        order
            .iter()
            .map(|s| (*s, self.models.iter().filter(|m| m.status == *s).count()))
            .filter(|(_, n)| *n > 0)
            .collect()
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

    /// The one place state changes.
    pub fn update(&mut self, action: Action) -> Vec<Command> {
        let commands = match action {
            Action::Key(key) => self.on_key(key),
            Action::Paste(text) => {
                self.focus = Focus::Prompt;
                for c in text.replace("\r\n", "\n").chars().filter(|c| *c != '\r') {
                    self.type_char(c);
                }
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
                self.models = models;
                self.spend_today = spend_today;
                self.now = now;
                if let Some(name) = &self.selected {
                    if self.model(name).is_none() {
                        self.selected = None;
                    }
                }
                Vec::new()
            }
            Action::Health(event) => {
                let kind = match &event.kind {
                    HealthEventKind::State { to, .. } => EventKind::State(*to),
                    HealthEventKind::Drift { .. } => EventKind::Drift,
                };
                self.push_event(event.at, kind, event.to_string());
                Vec::new()
            }
            Action::Prices(prices) => {
                self.prices = prices;
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
        };
        if self.selected.is_none() {
            let rows = self.rows();
            self.selected = rows.first().map(|i| self.models[*i].name.clone());
        }
        self.ensure_visible();
        commands
    }

    fn contexts(&self) -> &'static [Context] {
        match self.focus {
            Focus::Table => &[Context::Global, Context::Table, Context::Screen],
            Focus::Detail => &[Context::Global, Context::Detail, Context::Screen],
            Focus::Providers | Focus::Help => &[Context::Global, Context::Screen],
            Focus::Prompt => &[Context::Global, Context::Prompt],
        }
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<Command> {
        let action = lookup(&key, self.contexts());
        if self.focus == Focus::Prompt {
            return self.on_prompt_key(key, action);
        }
        if self.focus == Focus::Help {
            return match action {
                Some(KeyAction::Quit) => self.do_quit(),
                // Any other key closes help.
                _ => {
                    self.focus = self.prev_focus;
                    Vec::new()
                }
            };
        }
        let Some(action) = action else {
            return Vec::new();
        };
        match action {
            KeyAction::Quit => return self.do_quit(),
            KeyAction::Help => {
                self.prev_focus = self.focus;
                self.focus = Focus::Help;
            }
            KeyAction::Up => self.select_by(-1),
            KeyAction::Down => self.select_by(1),
            KeyAction::PageUp => self.select_by(-(self.page() as isize)),
            KeyAction::PageDown => self.select_by(self.page() as isize),
            KeyAction::Top => self.select_by(isize::MIN / 2),
            KeyAction::Bottom => self.select_by(isize::MAX / 2),
            KeyAction::MoveUp => return self.shift_selected(-1),
            KeyAction::MoveDown => return self.shift_selected(1),
            KeyAction::ToggleChain => {
                if let Some(name) = self.selected.clone() {
                    if self.chain.toggle(&name).is_ok() {
                        return vec![Command::SaveChain(self.chain.order().to_vec())];
                    }
                }
            }
            KeyAction::ResetChain => {
                self.chain.reset();
                self.info("chain reset to the config's order".to_string());
                return vec![Command::SaveChain(self.chain.order().to_vec())];
            }
            KeyAction::Probe => {
                if let Some(name) = self.selected.clone() {
                    self.info(format!("probing {name} now"));
                    return vec![Command::ProbeNow(Some(name))];
                }
            }
            KeyAction::ProbeAll => {
                self.info("probing every model now".to_string());
                return vec![Command::ProbeNow(None)];
            }
            KeyAction::FocusPrompt => self.focus = Focus::Prompt,
            KeyAction::Detail => {
                if self.selected.is_some() {
                    self.focus = Focus::Detail;
                }
            }
            KeyAction::Providers => {
                self.focus = if self.focus == Focus::Providers {
                    Focus::Table
                } else {
                    Focus::Providers
                };
            }
            KeyAction::CycleSort => self.sort = self.sort.next(),
            KeyAction::CycleTarget => self.cycle_target(),
            KeyAction::Back => {
                // From the detail or provider view, Esc only goes back: the
                // prompt it would cancel is not even on screen.
                if self.focus == Focus::Table && self.prompt_running() {
                    return self.cancel_prompt();
                }
                self.focus = Focus::Table;
            }
            KeyAction::Acknowledge => {
                if let Some(m) = self.selected_model() {
                    if m.drift.is_some() {
                        return vec![Command::AckDrift(m.name.clone())];
                    }
                }
            }
            KeyAction::EventsUp => self.events_scroll = self.events_scroll.saturating_sub(1),
            KeyAction::EventsDown => {
                self.events_scroll =
                    (self.events_scroll + 1).min(self.events.len().saturating_sub(1));
            }
            KeyAction::Send | KeyAction::Newline => {}
        }
        Vec::new()
    }

    fn on_prompt_key(&mut self, key: KeyEvent, action: Option<KeyAction>) -> Vec<Command> {
        match action {
            Some(KeyAction::Quit) => return self.do_quit(),
            Some(KeyAction::Send) => return self.send(),
            Some(KeyAction::Newline) => self.type_char('\n'),
            Some(KeyAction::Back) => {
                if self.prompt_running() {
                    return self.cancel_prompt();
                }
                self.focus = Focus::Table;
            }
            _ => {
                let plain = !key
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
                match key.code {
                    KeyCode::Char(c) if plain => self.type_char(c),
                    KeyCode::Char('u') if key.modifiers == KeyModifiers::CONTROL => {
                        self.input.clear()
                    }
                    KeyCode::Backspace => {
                        self.input.pop();
                    }
                    _ => {}
                }
            }
        }
        Vec::new()
    }

    fn type_char(&mut self, c: char) {
        if self.input.len() + c.len_utf8() <= INPUT_CAP {
            self.input.push(c);
        }
    }

    fn do_quit(&mut self) -> Vec<Command> {
        self.quit = true;
        let mut out = Vec::new();
        if self.prompt_running() {
            out.push(Command::CancelPrompt);
        }
        out.push(Command::Quit);
        out
    }

    fn send(&mut self) -> Vec<Command> {
        let text = self.input.trim().to_string();
        if text.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        if self.prompt_running() {
            out.push(Command::CancelPrompt);
        }
        let id = self.next_prompt_id;
        self.next_prompt_id += 1;
        self.input.clear();
        self.prompt = Some(PromptRun {
            id,
            text: text.clone(),
            target: self.target.clone(),
            steps: Vec::new(),
            answer: String::new(),
            answer_model: None,
            state: PromptState::Running,
        });
        out.push(Command::Send {
            id,
            text,
            target: self.target.clone(),
            chain: self.chain.order().to_vec(),
        });
        out
    }

    fn cancel_prompt(&mut self) -> Vec<Command> {
        if let Some(p) = &mut self.prompt {
            p.state = PromptState::Cancelled;
        }
        vec![Command::CancelPrompt]
    }

    fn cycle_target(&mut self) {
        let tiers = [Tier::Premium, Tier::Standard, Tier::Budget];
        let has = |t: Tier| !self.config.tiers.get(t).is_empty();
        let selected = self.selected.clone();
        // chain → premium → standard → budget → the selected model → chain,
        // leaving out empty tiers.
        let mut order: Vec<RouteTarget> = vec![RouteTarget::Chain];
        order.extend(tiers.into_iter().filter(|t| has(*t)).map(RouteTarget::Tier));
        if let Some(name) = selected {
            order.push(RouteTarget::Model(name));
        }
        let at = match &self.target {
            RouteTarget::Model(_) => order.len() - 1,
            t => order.iter().position(|o| o == t).unwrap_or(0),
        };
        self.target = order.get(at + 1).cloned().unwrap_or(RouteTarget::Chain);
    }

    fn shift_selected(&mut self, by: isize) -> Vec<Command> {
        let Some(name) = self.selected.clone() else {
            return Vec::new();
        };
        if !self.chain.contains(&name) {
            self.info(format!("{name} is not in the chain; space puts it in"));
            return Vec::new();
        }
        let before = self.chain.order().to_vec();
        if self.chain.shift(&name, by).is_err() || self.chain.order() == before {
            return Vec::new();
        }
        vec![Command::SaveChain(self.chain.order().to_vec())]
    }

    fn select_by(&mut self, by: isize) {
        let rows = self.rows();
        if rows.is_empty() {
            return;
        }
        let at = self.selected_row(&rows);
        let to = at.saturating_add_signed(by).min(rows.len() - 1);
        self.selected = Some(self.models[rows[to]].name.clone());
    }

    fn page(&self) -> usize {
        let layout = view::layout(self.area(), self);
        usize::from(layout.table_body.height).max(1)
    }

    pub fn area(&self) -> Rect {
        Rect::new(0, 0, self.size.0, self.size.1)
    }

    /// Scrolls the table just enough to show the selected row.
    fn ensure_visible(&mut self) {
        let height = self.page();
        let rows = self.rows();
        let at = self.selected_row(&rows);
        if at < self.offset {
            self.offset = at;
        } else if at >= self.offset + height {
            self.offset = at + 1 - height;
        }
        self.offset = self.offset.min(rows.len().saturating_sub(height));
    }

    fn on_mouse(&mut self, mouse: MouseEvent) {
        if !matches!(self.focus, Focus::Table | Focus::Prompt) {
            return;
        }
        let body = view::layout(self.area(), self).table_body;
        let inside = body.contains(Position::new(mouse.column, mouse.row));
        match mouse.kind {
            MouseEventKind::Down(MouseButton::Left) if inside => {
                let rows = self.rows();
                let row = self.offset + usize::from(mouse.row - body.y);
                if let Some(i) = rows.get(row) {
                    self.selected = Some(self.models[*i].name.clone());
                    self.focus = Focus::Table;
                }
            }
            MouseEventKind::ScrollDown if inside => self.select_by(1),
            MouseEventKind::ScrollUp if inside => self.select_by(-1),
            _ => {}
        }
    }

    fn current_prompt(&mut self, id: u64) -> Option<&mut PromptRun> {
        self.prompt
            .as_mut()
            .filter(|p| p.id == id && p.state == PromptState::Running)
    }

    fn on_route_event(&mut self, id: u64, event: RouteEvent) {
        let Some(p) = self.current_prompt(id) else {
            // A cancelled or superseded prompt: its late events mean nothing.
            return;
        };
        match event {
            RouteEvent::Plan {
                skipped,
                last_resort,
                ..
            } => {
                for s in skipped {
                    p.steps.push(Step {
                        text: format!("{} skipped: {}", s.model, s.status),
                        model: Some(s.model),
                        bad: true,
                    });
                }
                if last_resort {
                    p.steps.push(Step {
                        model: None,
                        text: "nothing healthy: trying every model".to_string(),
                        bad: true,
                    });
                }
            }
            RouteEvent::Escalate { from, to } => p.steps.push(Step {
                model: None,
                text: format!("{from} tier exhausted → {to}"),
                bad: true,
            }),
            RouteEvent::Trying { model, hedge } => {
                let text = if hedge {
                    format!("{model} (hedge)…")
                } else {
                    format!("{model}…")
                };
                set_step(p, &model, text, false);
            }
            RouteEvent::FirstToken { model, ttft } => {
                let text = format!("{model}: first token {}", fmt_secs(ttft));
                set_step(p, &model, text, false);
            }
            RouteEvent::Delta { model, text } => {
                if p.answer_model.as_deref() != Some(model.as_str()) {
                    p.answer.clear();
                    p.answer_model = Some(model);
                }
                if p.answer.len() + text.len() <= ANSWER_CAP {
                    p.answer.push_str(&text);
                }
            }
            RouteEvent::Failed {
                model,
                class,
                message,
                after_first_token,
            } => {
                let text = if after_first_token {
                    format!(
                        "{model}: failed mid-answer, {}",
                        short_failure(class, &message)
                    )
                } else {
                    format!("{model}: {}", short_failure(class, &message))
                };
                set_step(p, &model, text, true);
            }
            RouteEvent::Cancelled { model, reason } => {
                set_step(p, &model, format!("{model}: closed ({reason})"), false);
            }
        }
    }

    fn on_route_done(&mut self, id: u64, result: Result<RouteAnswer, RouteFailure>) {
        let now = self.now;
        let Some(p) = self.current_prompt(id) else {
            return;
        };
        let line = match result {
            Ok(answer) => {
                if p.steps.is_empty() {
                    rebuild_steps(p, &answer.skipped, &answer.attempts);
                }
                let about_answerer = p
                    .steps
                    .last()
                    .is_some_and(|s| s.model.as_deref() == Some(answer.model.as_str()));
                let mut text = if about_answerer {
                    format!("answered in {}", fmt_secs(answer.total))
                } else {
                    format!("{} answered in {}", answer.model, fmt_secs(answer.total))
                };
                let served = answer.served_model.as_deref().unwrap_or(&answer.model_id);
                text.push_str(&format!(", served {served}"));
                if let Some(by) = &answer.served_by {
                    text.push_str(&format!(" via {by}"));
                }
                if let Some(cost) = answer.cost {
                    text.push_str(&format!(", {}", fmt_usd(cost)));
                }
                p.steps.push(Step {
                    model: None,
                    text,
                    bad: false,
                });
                p.answer = answer.text.chars().take(ANSWER_CAP).collect();
                p.answer_model = Some(answer.model.clone());
                p.state = PromptState::Answered;
                format!(
                    "prompt answered by {} in {}",
                    answer.model,
                    fmt_secs(answer.total)
                )
            }
            Err(failure) => {
                if p.steps.is_empty() {
                    rebuild_steps(p, &failure.skipped, &failure.attempts);
                }
                let message = failure.to_string();
                p.state = PromptState::Failed(message.clone());
                format!("prompt failed: {message}")
            }
        };
        self.push_event(now, EventKind::Info, line);
    }
}

fn set_step(p: &mut PromptRun, model: &str, text: String, bad: bool) {
    // Replace the model's latest step unless it was a skip (a skipped model
    // tried later as a last resort keeps both).
    match p
        .steps
        .iter_mut()
        .rev()
        .find(|s| s.model.as_deref() == Some(model) && !s.text.contains(" skipped: "))
    {
        Some(step) => {
            step.text = text;
            step.bad = bad;
        }
        None => p.steps.push(Step {
            model: Some(model.to_string()),
            text,
            bad,
        }),
    }
}

/// The route line from a finished route's record, when no events came.
fn rebuild_steps(
    p: &mut PromptRun,
    skipped: &[crate::route::Skip],
    attempts: &[crate::route::AttemptRecord],
) {
    for s in skipped {
        p.steps.push(Step {
            model: Some(s.model.clone()),
            text: format!("{} skipped: {}", s.model, s.status),
            bad: true,
        });
    }
    for a in attempts {
        let (text, bad) = match (&a.attempt.failure, a.cancelled) {
            (_, true) => (format!("{}: closed", a.model), false),
            (Some(f), false) => (
                format!("{}: {}", a.model, short_failure(f.class, &f.message)),
                true,
            ),
            (None, false) => match a.attempt.ttft {
                Some(t) => (format!("{}: first token {}", a.model, fmt_secs(t)), false),
                None => (a.model.clone(), false),
            },
        };
        p.steps.push(Step {
            model: Some(a.model.clone()),
            text,
            bad,
        });
    }
}

fn short_failure(class: FailureClass, message: &str) -> String {
    match crate::api::short_message(message.trim(), 40) {
        m if m.is_empty() => class.to_string(),
        m => format!("{class} ({m})"),
    }
}

/// Worst first, for the status sort.
fn severity(s: Status) -> u8 {
    match s {
        Status::Unhealthy => 0,
        Status::Misconfigured => 1,
        Status::RateLimited => 2,
        Status::Degraded => 3,
        Status::Unknown => 4,
        Status::Healthy => 5,
    }
}
