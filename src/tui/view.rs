//! Drawing: a pure function of [`App`]. The screen is one frame whose top
//! border carries the header and whose bottom border carries the footer, cut
//! by separator lines into the table (or detail / provider view), the prompt
//! panel and the events panel. This file decides where each panel goes
//! ([`layout`]) and draws them there ([`draw`]); the panels live in
//! `panels/`.

use ratatui::layout::Rect;
use ratatui::Frame;

use super::app::{App, Focus};
use super::panels::{self, confirm, detail, events, failures, help, models, prompt, providers};

/// Where everything goes, computed from the terminal size and the state.
/// `update` uses it too (mouse clicks, paging), so both agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScreenLayout {
    pub frame: Rect,
    /// The demo badge line, when there is one.
    pub badge: Option<Rect>,
    /// The table, detail or provider view.
    pub main: Rect,
    /// The table's rows (below its header row).
    pub table_body: Rect,
    /// The prompt panel's separator row and body.
    pub prompt_sep: Option<u16>,
    pub prompt: Rect,
    pub events_sep: Option<u16>,
    pub events: Rect,
}

/// Lines of the prompt input shown at most.
pub const INPUT_LINES_MAX: u16 = 4;
/// Lines the events panel keeps however many models the table has.
pub const EVENTS_MIN: u16 = 3;
/// Table rows kept (header included) however small the terminal.
const TABLE_MIN: u16 = 4;

/// The table takes the rows it needs and the events panel grows into the
/// rest; the detail and provider views take the prompt panel's room too,
/// and the failure log takes the whole screen.
pub fn layout(area: Rect, app: &App) -> ScreenLayout {
    let inner = Rect {
        x: area.x.saturating_add(1),
        y: area.y.saturating_add(1),
        width: area.width.saturating_sub(2),
        height: area.height.saturating_sub(2),
    };
    let h = inner.height;
    // The demo badge says how to leave demo mode: it wraps rather than be cut.
    let badge_h = match &app.demo {
        Some(text) if h >= 12 => {
            let room = usize::from(inner.width.max(1));
            let rows = (text.chars().count() + 2).div_ceil(room) as u16;
            rows.clamp(1, if h >= 20 { 2 } else { 1 })
        }
        _ => 0,
    };

    let view = app.view_focus();
    let full_screen = view == Focus::Log;
    let wants_prompt = matches!(view, Focus::Table | Focus::Prompt);
    let input_lines = (app.input.split('\n').count() as u16).clamp(1, INPUT_LINES_MAX);
    // The route and the answer below the input: the rows they fill, up
    // to a fifth of the screen.
    let body_need = if wants_prompt {
        prompt::body_rows(app, inner.width, 1 + (h / 5).clamp(1, 10))
    } else {
        0
    };
    let mut answer_lines = body_need;
    let prompt_h = |body: u16| {
        if wants_prompt {
            1 + input_lines + body
        } else {
            0
        }
    };
    let mut events_min = if full_screen { 0 } else { 1 + EVENTS_MIN };
    // The table's own need: its header and a row per model (one for the
    // "waiting" or "no match" line); the detail and provider views take
    // what there is.
    let table_need = if wants_prompt {
        1 + (app.row_count() as u16).max(1)
    } else {
        u16::MAX
    };
    // On a small terminal the answer, then the events, give up lines
    // before the table goes below a few rows.
    let room = |answer: u16, events: u16| h.saturating_sub(badge_h + prompt_h(answer) + events);
    while room(answer_lines, events_min) < TABLE_MIN && answer_lines > 2 {
        answer_lines -= 1;
    }
    while room(answer_lines, events_min) < TABLE_MIN && events_min > 2 {
        events_min -= 1;
    }
    let (main_h, events_h) = if full_screen {
        (h.saturating_sub(badge_h), 0)
    } else if wants_prompt {
        let main = table_need.min(room(answer_lines, events_min));
        (
            main,
            h.saturating_sub(badge_h + prompt_h(answer_lines) + main),
        )
    } else {
        // Detail and providers: the events panel as it was, small.
        let events = (1 + (h / 6).clamp(2, 8)).min(h.saturating_sub(badge_h + TABLE_MIN).max(2));
        (h.saturating_sub(badge_h + events), events)
    };
    let prompt_h = prompt_h(answer_lines);

    let mut y = inner.y;
    let mut take = |rows: u16| {
        let r = Rect {
            x: inner.x,
            y,
            width: inner.width,
            height: rows.min(inner.bottom().saturating_sub(y)),
        };
        y = y.saturating_add(r.height);
        r
    };
    let badge = (badge_h > 0).then(|| take(badge_h));
    let main = take(main_h);
    let prompt_all = take(prompt_h);
    let events_all = take(events_h);
    let split = |r: Rect| {
        if r.height == 0 {
            (None, r)
        } else {
            (
                Some(r.y),
                Rect {
                    y: r.y + 1,
                    height: r.height - 1,
                    ..r
                },
            )
        }
    };
    let (prompt_sep, prompt) = split(prompt_all);
    let (events_sep, events) = split(events_all);
    let table_body = Rect {
        y: main.y.saturating_add(1),
        height: main.height.saturating_sub(1),
        ..main
    };
    ScreenLayout {
        frame: area,
        badge,
        main,
        table_body,
        prompt_sep,
        prompt,
        events_sep,
        events,
    }
}

pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let l = layout(area, app);
    let theme = app.theme;
    panels::frame::render(frame, area, l.badge, app);

    match app.view_focus() {
        Focus::Detail => detail::render(frame, l.main, app),
        Focus::Providers => providers::render(frame, l.main, app),
        Focus::Log => failures::render(frame, l.main, app),
        _ => models::render(frame, l.main, app),
    }
    if let Some(y) = l.prompt_sep {
        panels::frame::separator(
            frame.buffer_mut(),
            area,
            y,
            prompt::title(app, area.width.saturating_sub(4)),
            theme.border(),
        );
        prompt::render(frame, l.prompt, app);
    }
    if let Some(y) = l.events_sep {
        panels::frame::separator(
            frame.buffer_mut(),
            area,
            y,
            events::title(app),
            theme.border(),
        );
        events::render(frame, l.events, app);
    }
    if app.focus == Focus::Help {
        help::render(frame, area, app);
    }
    if app.confirm.is_some() {
        confirm::render(frame, area, app);
    }
}

/// `area` cut into a left part `left` columns wide and the rest, `gap`
/// columns apart.
pub fn split_columns(area: Rect, left: u16, gap: u16) -> (Rect, Rect) {
    let left = left.min(area.width);
    let right = left.saturating_add(gap).min(area.width);
    (
        Rect {
            width: left,
            ..area
        },
        Rect {
            x: area.x + right,
            width: area.width - right,
            ..area
        },
    )
}

/// `area` cut into its top `top` rows and the rest.
pub fn split_rows(area: Rect, top: u16) -> (Rect, Rect) {
    let top = top.min(area.height);
    (
        Rect {
            height: top,
            ..area
        },
        Rect {
            y: area.y + top,
            height: area.height - top,
            ..area
        },
    )
}
