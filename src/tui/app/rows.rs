//! The table's rows as the screen asks for them: the filter's matches in
//! the sort's order, the selected one, the counts by status, the models on
//! screen (the ones the event loop refreshes before a frame), and keeping
//! the selection on a row that is shown and in view.

use std::collections::HashMap;

use crate::health::{ModelSnapshot, Status};
use crate::tui::view;

use super::{App, Focus, Sort};

impl App {
    /// Whether the table's filter lets `m` through: name, id, provider
    /// (the id's prefix and the serving one), status.
    pub fn matches(&self, m: &ModelSnapshot) -> bool {
        self.filter.matches([
            m.name.as_str(),
            m.id.as_str(),
            m.provider(),
            m.served_by.as_deref().unwrap_or(""),
            m.status.as_str(),
        ])
    }

    /// How many rows the table shows (the filter's matches).
    pub fn row_count(&self) -> usize {
        if !self.filter.is_active() {
            return self.models.len();
        }
        self.models.iter().filter(|m| self.matches(m)).count()
    }

    /// The models whose snapshots the screen shows now: the rows in view
    /// and the selected one (the detail view shows only that). The rest
    /// are refreshed less often (the event loop's full refresh); their
    /// status is kept current by the health events.
    pub fn on_screen(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        if matches!(self.view_focus(), Focus::Table | Focus::Prompt) {
            let rows = self.rows();
            let height = self.page();
            names.extend(
                rows.iter()
                    .skip(self.offset)
                    .take(height)
                    .map(|i| self.models[*i].name.clone()),
            );
        }
        if matches!(
            self.view_focus(),
            Focus::Table | Focus::Prompt | Focus::Detail
        ) {
            if let Some(name) = &self.selected {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
        names
    }

    /// Whether every model's figures are on screen (the provider view).
    pub fn shows_every_model(&self) -> bool {
        self.view_focus() == Focus::Providers
    }

    /// Model indices in display order, the filter's matches only.
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
        let mut rows: Vec<usize> = if self.filter.is_active() {
            (0..self.models.len())
                .filter(|i| self.matches(&self.models[*i]))
                .collect()
        } else {
            (0..self.models.len()).collect()
        };
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

    /// Counts by status, for the header.
    pub fn counts(&self) -> Vec<(Status, usize)> {
        Status::ALL
            .iter()
            .map(|s| (*s, self.models.iter().filter(|m| m.status == *s).count()))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// The selection stays on a row the table shows: the first one when
    /// the selected model left (filtered out, or no longer watched).
    pub(super) fn keep_selection(&mut self) {
        let shown = self
            .selected
            .as_deref()
            .and_then(|name| self.model(name))
            .is_some_and(|m| self.matches(m));
        if !shown {
            let rows = self.rows();
            self.selected = rows.first().map(|i| self.models[*i].name.clone());
        }
    }

    pub(super) fn page(&self) -> usize {
        let layout = view::layout(self.area(), self);
        usize::from(layout.table_body.height).max(1)
    }

    /// Lines of the failure log in view.
    pub(super) fn log_page(&self) -> usize {
        let layout = view::layout(self.area(), self);
        usize::from(crate::tui::panels::failures::list_area(layout.main, self).height).max(1)
    }

    /// Scrolls the table (and the log) just enough to show the selected
    /// row.
    pub(super) fn ensure_visible(&mut self) {
        if self.view_focus() == Focus::Log {
            let height = self.log_page();
            self.log.ensure_visible(height);
            return;
        }
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
}

/// Worst first, for the status sort.
fn severity(s: Status) -> u8 {
    match s {
        Status::Unhealthy => 0,
        Status::Misconfigured => 1,
        Status::RateLimited => 2,
        Status::Recovering => 3,
        Status::Degraded => 4,
        Status::Unknown => 5,
        Status::Healthy => 6,
    }
}
