//! Drawing: a pure function of [`App`]. The screen is one frame whose top
//! border carries the header and whose bottom border carries the footer, cut
//! by separator lines into the table (or detail / provider view), the prompt
//! panel and the events panel. This file decides where each panel goes
//! ([`layout`]) and draws them there ([`draw`]); the panels live in
//! `panels/`.

use ratatui::layout::Rect;
use ratatui::Frame;

use super::app::{App, Focus};
use super::panels::{self, detail, events, help, models, prompt, providers};

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

    // The detail and provider views take the prompt panel's room too.
    let wants_prompt = matches!(app.focus, Focus::Table | Focus::Prompt)
        || (app.focus == Focus::Help && matches!(app.prev_focus, Focus::Table | Focus::Prompt));
    let input_lines = (app.input.split('\n').count() as u16).clamp(1, INPUT_LINES_MAX);
    let mut answer_lines = if app.prompt.is_some() {
        (h / 5).clamp(1, 10)
    } else {
        0
    };
    let route_line = u16::from(app.prompt.is_some());
    let mut events_lines = (h / 6).clamp(2, 8);

    // Give the table at least a few rows on a small terminal.
    let fixed = |answer: u16, events: u16| {
        let prompt = if wants_prompt {
            1 + input_lines + route_line + answer
        } else {
            0
        };
        badge_h + prompt + 1 + events
    };
    while h.saturating_sub(fixed(answer_lines, events_lines)) < 4 && answer_lines > 1 {
        answer_lines -= 1;
    }
    while h.saturating_sub(fixed(answer_lines, events_lines)) < 4 && events_lines > 1 {
        events_lines -= 1;
    }
    let prompt_h = if wants_prompt {
        1 + input_lines + route_line + answer_lines
    } else {
        0
    };
    let events_h = 1 + events_lines;
    let main_h = h.saturating_sub(badge_h + prompt_h + events_h);

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

    match app.focus {
        Focus::Detail => detail::render(frame, l.main, app),
        Focus::Providers => providers::render(frame, l.main, app),
        Focus::Help if app.prev_focus == Focus::Detail => detail::render(frame, l.main, app),
        Focus::Help if app.prev_focus == Focus::Providers => providers::render(frame, l.main, app),
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
