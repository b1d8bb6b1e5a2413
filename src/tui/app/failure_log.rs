//! The failure log's state: every failure the engine kept (the last fifty
//! per model, from this process and any other that shares the state file)
//! and every state change and drift this dashboard saw, inside the window,
//! newest first; the `/` filter over them, the selected line, and the copy
//! key's text.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};

use crate::api::FailureClass;
use crate::health::{FailureRecord, HealthEvent, HealthEventKind, SampleKind, Status};
use crate::tui::text::{clock_full, shown};

use super::filter::Filter;
use super::{App, Command, Focus, EVENTS_CAP};

/// Lines the log holds at most (a thousand models can keep fifty thousand
/// failures; nobody reads past the newest few thousand).
pub const LOG_CAP: usize = 5000;

#[derive(Debug, Clone, PartialEq)]
pub enum LogWhat {
    Failure {
        class: FailureClass,
        http_status: Option<u16>,
        kind: SampleKind,
        message: String,
    },
    State {
        from: Status,
        to: Status,
        reason: String,
    },
    Drift {
        from: String,
        to: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub at: DateTime<Utc>,
    pub model: String,
    pub what: LogWhat,
    /// The whole message made safe to show and copy, once.
    message: String,
}

impl LogEntry {
    /// The class, or what kind of change: "server_error", "→ unhealthy",
    /// "drift".
    pub fn class_word(&self) -> String {
        match &self.what {
            LogWhat::Failure { class, kind, .. } => match kind {
                SampleKind::Probe => class.to_string(),
                SampleKind::Prompt | SampleKind::Traffic => format!("{class} ({})", kind.as_str()),
            },
            LogWhat::State { to, .. } => format!("{} {}", to.symbol(), to.as_str()),
            LogWhat::Drift { .. } => "drift".to_string(),
        }
    }

    /// The HTTP status, "—" without one.
    pub fn status_word(&self) -> String {
        match &self.what {
            LogWhat::Failure {
                http_status: Some(code),
                ..
            } => code.to_string(),
            _ => "—".to_string(),
        }
    }

    fn new(at: DateTime<Utc>, model: String, what: LogWhat) -> LogEntry {
        let message = match &what {
            LogWhat::Failure { message, .. } => shown(message),
            LogWhat::State { from, to, reason } => shown(&format!("{from} → {to}: {reason}")),
            LogWhat::Drift { from, to } => shown(&format!("served model changed: {from} → {to}")),
        };
        LogEntry {
            at,
            model,
            what,
            message,
        }
    }

    /// The whole message, made safe to show and copy.
    pub fn message(&self) -> &str {
        &self.message
    }

    fn is_failure(&self) -> bool {
        matches!(self.what, LogWhat::Failure { .. })
    }

    /// Identity across refreshes, to keep the selection on its line.
    fn key(&self) -> (DateTime<Utc>, &str, String) {
        (self.at, self.model.as_str(), self.class_word())
    }

    /// The line the copy key puts on the clipboard: the time with its
    /// date and zone, the model, the class, the status, the whole message.
    pub fn copy_text(&self, tz: chrono::FixedOffset) -> String {
        format!(
            "{}  {}  {}  {}  {}",
            clock_full(self.at, tz),
            self.model,
            self.class_word(),
            self.status_word(),
            self.message()
        )
    }
}

impl From<&HealthEvent> for LogEntry {
    fn from(e: &HealthEvent) -> Self {
        let what = match &e.kind {
            HealthEventKind::State { from, to, reason } => LogWhat::State {
                from: *from,
                to: *to,
                reason: reason.clone(),
            },
            HealthEventKind::Drift { from, to } => LogWhat::Drift {
                from: from.clone(),
                to: to.clone(),
            },
        };
        LogEntry::new(e.at, e.model.clone(), what)
    }
}

/// The log's state.
#[derive(Debug, Clone, Default)]
pub struct FailureLog {
    /// Newest first.
    pub entries: Vec<LogEntry>,
    pub filter: Filter,
    /// The selected line, by identity; `None` follows the newest.
    selected: Option<(DateTime<Utc>, String, String)>,
    /// First line shown.
    pub offset: usize,
    /// State changes and drift this dashboard saw (the engine keeps no
    /// history of them), newest last.
    changes: VecDeque<LogEntry>,
    /// The failures last fetched.
    failures: Vec<LogEntry>,
}

impl FailureLog {
    pub(super) fn note_change(&mut self, event: &HealthEvent) {
        if self.changes.len() == EVENTS_CAP {
            self.changes.pop_front();
        }
        self.changes.push_back(LogEntry::from(event));
    }

    /// Takes freshly fetched failures; the ones already known keep their
    /// sanitized words (sanitizing is the costly part).
    pub(super) fn set_failures(&mut self, failures: Vec<(String, FailureRecord)>) {
        let mut known: HashMap<(DateTime<Utc>, String, FailureClass), LogEntry> =
            std::mem::take(&mut self.failures)
                .into_iter()
                .filter_map(|e| match e.what {
                    LogWhat::Failure { class, .. } => Some(((e.at, e.model.clone(), class), e)),
                    _ => None,
                })
                .collect();
        self.failures = failures
            .into_iter()
            .map(|(model, r)| {
                known
                    .remove(&(r.at, model.clone(), r.class))
                    .unwrap_or_else(|| {
                        let what = LogWhat::Failure {
                            class: r.class,
                            http_status: r.http_status,
                            kind: r.kind,
                            message: r.message,
                        };
                        LogEntry::new(r.at, model, what)
                    })
            })
            .collect();
    }

    /// Rebuilds the lines from what is known, keeping those at or after
    /// `since` (the window's start).
    pub(super) fn rebuild(&mut self, since: DateTime<Utc>) {
        let mut all: Vec<LogEntry> = self
            .failures
            .iter()
            .chain(self.changes.iter())
            .filter(|e| e.at >= since)
            .cloned()
            .collect();
        all.sort_by_key(|e| std::cmp::Reverse(e.at));
        all.truncate(LOG_CAP);
        self.entries = all;
    }

    /// Indices of the lines the filter lets through, newest first.
    pub fn rows(&self) -> Vec<usize> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                if !self.filter.is_active() {
                    return true;
                }
                let status = e.status_word();
                let class = e.class_word();
                self.filter.matches([
                    e.model.as_str(),
                    class.as_str(),
                    status.as_str(),
                    e.message(),
                ])
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// The selected line's position in `rows`.
    pub fn selected_row(&self, rows: &[usize]) -> usize {
        self.selected
            .as_ref()
            .and_then(|key| {
                rows.iter().position(|i| {
                    let k = self.entries[*i].key();
                    (k.0, k.1, k.2) == (key.0, key.1.as_str(), key.2.clone())
                })
            })
            .unwrap_or(0)
    }

    pub fn selected_entry(&self) -> Option<&LogEntry> {
        let rows = self.rows();
        rows.get(self.selected_row(&rows))
            .map(|i| &self.entries[*i])
    }

    /// Counts for the title: (failures, state changes and drifts).
    pub fn counts(&self) -> (usize, usize) {
        let failures = self.entries.iter().filter(|e| e.is_failure()).count();
        (failures, self.entries.len() - failures)
    }

    /// Moves the selection by `by` lines (clamped), or with `wrap` around
    /// the ends (`n`/`N`).
    pub(super) fn select_by(&mut self, by: isize, wrap: bool) {
        let rows = self.rows();
        if rows.is_empty() {
            return;
        }
        let at = self.selected_row(&rows);
        let to = if wrap {
            (at as isize + by).rem_euclid(rows.len() as isize) as usize
        } else {
            at.saturating_add_signed(by).min(rows.len() - 1)
        };
        self.selected = if to == 0 {
            None
        } else {
            let (a, m, c) = self.entries[rows[to]].key();
            Some((a, m.to_string(), c))
        };
    }

    /// Click on the `row`-th line shown.
    pub(super) fn select_shown(&mut self, row: usize) {
        let rows = self.rows();
        if let Some(i) = rows.get(self.offset + row) {
            let (a, m, c) = self.entries[*i].key();
            self.selected = Some((a, m.to_string(), c));
        }
    }

    /// Scrolls just enough to show the selected line in `height` lines.
    pub(super) fn ensure_visible(&mut self, height: usize) {
        let rows = self.rows();
        let at = self.selected_row(&rows);
        let height = height.max(1);
        if at < self.offset {
            self.offset = at;
        } else if at >= self.offset + height {
            self.offset = at + 1 - height;
        }
        self.offset = self.offset.min(rows.len().saturating_sub(height));
    }
}

impl App {
    /// Opens the log (or closes it, from the log).
    pub(super) fn toggle_log(&mut self) {
        if self.focus == Focus::Log {
            self.focus = Focus::Table;
        } else {
            self.focus = Focus::Log;
            self.log.rebuild(self.now - self.settings.window);
        }
    }

    /// `y`: the selected line, whole, to the clipboard.
    pub(super) fn copy_selected(&mut self) -> Vec<Command> {
        let Some(entry) = self.log.selected_entry() else {
            self.flash("nothing to copy: the log is empty".to_string());
            return Vec::new();
        };
        if let Some(why) = &self.clipboard.unavailable {
            self.flash(format!("clipboard not available: {why}"));
            return Vec::new();
        }
        vec![Command::Copy(entry.copy_text(self.tz))]
    }
}
