//! Keys and the mouse: what each input means in the current state. Keys
//! are looked up in the shared key table (`tui/keys.rs`) under the stack
//! [`App::key_stack`] gives, and given their meaning here: typing a prompt
//! or a filter, answering a question, moving in the table, the detail view
//! or the failure log, editing the chain.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Position;

use crate::config::Tier;
use crate::route::{ChainEdit, RouteTarget};
use crate::tui::keys::{lookup, KeyAction};
use crate::tui::panels::failures;
use crate::tui::view;

use super::{App, Command, Focus, PromptRun, PromptState};

/// Characters the prompt input accepts.
pub const INPUT_CAP: usize = 8 * 1024;

impl App {
    /// Pasted text goes into the prompt, newlines kept, never sent by them
    /// (or into the filter, while one is typed: on one line).
    pub(super) fn paste(&mut self, text: &str) {
        if self.editing_filter {
            for c in text.chars().filter(|c| !c.is_control()) {
                self.current_filter().push(c);
            }
            return;
        }
        self.focus = Focus::Prompt;
        for c in text.replace("\r\n", "\n").chars().filter(|c| *c != '\r') {
            self.type_char(c);
        }
    }

    pub(super) fn on_key(&mut self, key: KeyEvent) -> Vec<Command> {
        let action = lookup(&key, self.key_stack());
        if self.confirm.is_some() {
            return match action {
                Some(KeyAction::Quit) => self.do_quit(),
                Some(KeyAction::Yes) => self.answer(true),
                // Anything but yes keeps things as they are.
                _ => self.answer(false),
            };
        }
        if self.editing_filter {
            return self.on_filter_key(key, action);
        }
        if self.focus == Focus::Prompt {
            return self.on_prompt_key(key, action);
        }
        if self.focus == Focus::Help {
            match action {
                Some(KeyAction::Quit) => return self.do_quit(),
                Some(KeyAction::Up) => self.help_scroll = self.help_scroll.saturating_sub(1),
                Some(KeyAction::Down) => self.help_scroll += 1,
                // Any other key closes help (q too: it says so).
                _ => {
                    self.focus = self.prev_focus;
                    self.help_scroll = 0;
                }
            }
            return Vec::new();
        }
        let Some(action) = action else {
            return Vec::new();
        };
        if self.focus == Focus::Log {
            if let Some(done) = self.on_log_key(action) {
                return done;
            }
        }
        match action {
            KeyAction::Quit => return self.do_quit(),
            KeyAction::Help => {
                self.prev_focus = self.focus;
                self.focus = Focus::Help;
                self.help_scroll = 0;
            }
            KeyAction::Up => self.select_by(-1),
            KeyAction::Down => self.select_by(1),
            KeyAction::PageUp => self.select_by(-(self.page() as isize)),
            KeyAction::PageDown => self.select_by(self.page() as isize),
            KeyAction::Top => self.select_by(isize::MIN / 2),
            KeyAction::Bottom => self.select_by(isize::MAX / 2),
            KeyAction::Filter => self.editing_filter = true,
            KeyAction::NextMatch => self.step_match(1),
            KeyAction::PrevMatch => self.step_match(-1),
            KeyAction::MoveUp => return self.shift_selected(-1),
            KeyAction::MoveDown => return self.shift_selected(1),
            KeyAction::MoveTop => {
                if let Some(model) = self.chain_member() {
                    return self.edit_chain(ChainEdit::Top { model });
                }
            }
            KeyAction::ToggleChain => {
                if let Some(model) = self.selected.clone() {
                    let edit = if self.chain.contains(&model) {
                        ChainEdit::Remove { model }
                    } else {
                        ChainEdit::Add { model, at: None }
                    };
                    return self.edit_chain(edit);
                }
            }
            KeyAction::ResetChain => self.ask_reset(),
            KeyAction::Undo => return self.undo(),
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
            KeyAction::FailureLog => self.toggle_log(),
            KeyAction::ClockTimes => {
                self.clock = !self.clock;
                self.flash(if self.clock {
                    "clock times (c: relative)".to_string()
                } else {
                    "relative times (c: clock)".to_string()
                });
            }
            KeyAction::CycleSort => self.sort = self.sort.next(),
            KeyAction::CycleTarget => self.cycle_target(),
            KeyAction::ToggleBuffer => {
                self.buffer_answers = !self.buffer_answers;
                self.flash(if self.buffer_answers {
                    "buffer answers: on (shown once complete; a break restarts on the next model)"
                        .to_string()
                } else {
                    "buffer answers: off (answers stream)".to_string()
                });
            }
            KeyAction::Resend => {
                if let Some(text) = self.prompt.as_ref().map(|p| p.text.clone()) {
                    return self.send_text(text);
                }
            }
            KeyAction::Back => {
                // From the detail or provider view, Esc only goes back: the
                // prompt it would cancel is not even on screen.
                if self.focus == Focus::Table {
                    if self.prompt_running() {
                        return self.cancel_prompt();
                    }
                    self.filter.clear();
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
            KeyAction::Copy
            | KeyAction::Send
            | KeyAction::Newline
            | KeyAction::ClearInput
            | KeyAction::DeleteChar
            | KeyAction::KeepFilter
            | KeyAction::ClearFilter
            | KeyAction::Yes
            | KeyAction::No => {}
        }
        Vec::new()
    }

    /// The log's own meaning of a key; `None` hands it to the views'.
    fn on_log_key(&mut self, action: KeyAction) -> Option<Vec<Command>> {
        let page = self.log_page() as isize;
        match action {
            KeyAction::Up => self.log.select_by(-1, false),
            KeyAction::Down => self.log.select_by(1, false),
            KeyAction::PageUp => self.log.select_by(-page, false),
            KeyAction::PageDown => self.log.select_by(page, false),
            KeyAction::Top => self.log.select_by(isize::MIN / 2, false),
            KeyAction::Bottom => self.log.select_by(isize::MAX / 2, false),
            KeyAction::NextMatch => self.step_match(1),
            KeyAction::PrevMatch => self.step_match(-1),
            KeyAction::Copy => return Some(self.copy_selected()),
            KeyAction::Back if self.log.filter.is_active() => self.log.filter.clear(),
            _ => return None,
        }
        Some(Vec::new())
    }

    /// The filter of the view in front: the log's or the table's.
    fn current_filter(&mut self) -> &mut super::Filter {
        if self.view_focus() == Focus::Log {
            &mut self.log.filter
        } else {
            &mut self.filter
        }
    }

    fn on_filter_key(&mut self, key: KeyEvent, action: Option<KeyAction>) -> Vec<Command> {
        match action {
            Some(KeyAction::Quit) => return self.do_quit(),
            Some(KeyAction::KeepFilter) => self.editing_filter = false,
            Some(KeyAction::ClearFilter) => {
                self.current_filter().clear();
                self.editing_filter = false;
            }
            Some(KeyAction::ClearInput) => self.current_filter().clear(),
            Some(KeyAction::DeleteChar) => self.current_filter().pop(),
            _ => {
                let plain = !key
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
                if let (KeyCode::Char(c), true) = (key.code, plain) {
                    self.current_filter().push(c);
                }
            }
        }
        Vec::new()
    }

    /// `n`/`N`: the next or previous match, around the ends; the matches
    /// are the rows the filter lets through.
    fn step_match(&mut self, by: isize) {
        let active = if self.view_focus() == Focus::Log {
            self.log.filter.is_active()
        } else {
            self.filter.is_active()
        };
        if !active {
            self.flash("n/N step through a filter's matches: / sets one".to_string());
            return;
        }
        if self.view_focus() == Focus::Log {
            self.log.select_by(by, true);
            return;
        }
        let rows = self.rows();
        if rows.is_empty() {
            return;
        }
        let at = self.selected_row(&rows) as isize;
        let to = (at + by).rem_euclid(rows.len() as isize) as usize;
        self.selected = Some(self.models[rows[to]].name.clone());
    }

    fn on_prompt_key(&mut self, key: KeyEvent, action: Option<KeyAction>) -> Vec<Command> {
        match action {
            Some(KeyAction::Quit) => return self.do_quit(),
            Some(KeyAction::Send) => return self.send(),
            Some(KeyAction::Newline) => self.type_char('\n'),
            Some(KeyAction::ClearInput) => self.input.clear(),
            Some(KeyAction::DeleteChar) => {
                self.input.pop();
            }
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
                if let (KeyCode::Char(c), true) = (key.code, plain) {
                    self.type_char(c);
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
        self.input.clear();
        self.send_text(text)
    }

    /// Sends `text` (typed, or the last prompt again) through the target.
    fn send_text(&mut self, text: String) -> Vec<Command> {
        let mut out = Vec::new();
        if self.prompt_running() {
            out.push(Command::CancelPrompt);
        }
        let id = self.next_prompt_id;
        self.next_prompt_id += 1;
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
            buffered: self.buffer_answers,
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

    /// The selected model when it is in the chain; else says how to put
    /// it in.
    fn chain_member(&mut self) -> Option<String> {
        let name = self.selected.clone()?;
        if self.chain.contains(&name) {
            Some(name)
        } else {
            self.flash(format!("{name} is not in the chain; space puts it in"));
            None
        }
    }

    fn shift_selected(&mut self, by: isize) -> Vec<Command> {
        match self.chain_member() {
            Some(model) => self.edit_chain(ChainEdit::Shift { model, by }),
            None => Vec::new(),
        }
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

    pub(super) fn on_mouse(&mut self, mouse: MouseEvent) {
        let layout = view::layout(self.area(), self);
        let at = Position::new(mouse.column, mouse.row);
        if self.focus == Focus::Log {
            let list = failures::list_area(layout.main, self);
            if !list.contains(at) {
                return;
            }
            match mouse.kind {
                MouseEventKind::Down(MouseButton::Left) => {
                    self.log.select_shown(usize::from(mouse.row - list.y));
                }
                MouseEventKind::ScrollDown => self.log.select_by(1, false),
                MouseEventKind::ScrollUp => self.log.select_by(-1, false),
                _ => {}
            }
            return;
        }
        if !matches!(self.focus, Focus::Table | Focus::Prompt) || self.editing_filter {
            return;
        }
        let body = layout.table_body;
        if !body.contains(at) {
            return;
        }
        match mouse.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                let rows = self.rows();
                let row = self.offset + usize::from(mouse.row - body.y);
                if let Some(i) = rows.get(row) {
                    self.selected = Some(self.models[*i].name.clone());
                    self.focus = Focus::Table;
                }
            }
            MouseEventKind::ScrollDown => self.select_by(1),
            MouseEventKind::ScrollUp => self.select_by(-1),
            _ => {}
        }
    }
}
