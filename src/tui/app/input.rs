//! Keys and the mouse: what each input means in the current focus. Keys
//! are looked up in the shared key table (`tui/keys.rs`) and given
//! their meaning here; typing into the prompt, sending it, cancelling it,
//! moving a model in the chain and selecting rows all start here.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Position;

use crate::config::Tier;
use crate::route::{ChainEdit, RouteTarget};
use crate::tui::keys::{lookup, Context, KeyAction};
use crate::tui::view;

use super::{App, Command, Focus, PromptRun, PromptState};

/// Characters the prompt input accepts.
pub const INPUT_CAP: usize = 8 * 1024;

impl App {
    /// Pasted text goes into the prompt, newlines kept, never sent by them.
    pub(super) fn paste(&mut self, text: &str) {
        self.focus = Focus::Prompt;
        for c in text.replace("\r\n", "\n").chars().filter(|c| *c != '\r') {
            self.type_char(c);
        }
    }

    fn contexts(&self) -> &'static [Context] {
        match self.focus {
            Focus::Table => &[Context::Global, Context::Table, Context::Screen],
            Focus::Detail => &[Context::Global, Context::Detail, Context::Screen],
            Focus::Providers | Focus::Help => &[Context::Global, Context::Screen],
            Focus::Prompt => &[Context::Global, Context::Prompt],
        }
    }

    pub(super) fn on_key(&mut self, key: KeyEvent) -> Vec<Command> {
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
                if let Some(model) = self.selected.clone() {
                    let edit = if self.chain.contains(&model) {
                        ChainEdit::Remove { model }
                    } else {
                        ChainEdit::Add { model, at: None }
                    };
                    return self.edit_chain(edit);
                }
            }
            KeyAction::ResetChain => return self.edit_chain(ChainEdit::Reset),
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
        let before = self.chain.position(&name);
        let moved = before.is_some_and(|at| {
            let to = at
                .saturating_add_signed(by)
                .clamp(1, self.chain.order().len());
            to != at
        });
        if !moved {
            return Vec::new();
        }
        self.edit_chain(ChainEdit::Shift { model: name, by })
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
}
