//! Drawing: a pure function of [`App`]. The screen is one frame whose top
//! border carries the header and whose bottom border carries the footer, cut
//! by separator lines into the table (or detail / provider view), the prompt
//! panel and the events panel.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use crate::fmt::{fmt_secs, fmt_usd};

use super::app::{App, Focus};
use super::keys::{self, Context};
use super::{detail, events, help, models, prompt, providers};

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

    let block = Block::bordered()
        .border_style(theme.border())
        .title_bottom(footer(app, area.width.saturating_sub(16)))
        .title_bottom(Line::from(format!(" sort: {} ", app.sort.label())).right_aligned());
    frame.render_widget(block, area);
    if area.width > 2 && area.height > 0 {
        let line = header(app, area.width - 2);
        frame
            .buffer_mut()
            .set_line(area.x + 1, area.y, &line, area.width - 2);
    }

    if let Some(badge) = l.badge {
        if let Some(text) = &app.demo {
            let line = Line::from(Span::styled(format!(" {text} "), theme.badge()));
            let wrap = ratatui::widgets::Wrap { trim: true };
            frame.render_widget(Paragraph::new(line).wrap(wrap), badge);
        }
    }

    match app.focus {
        Focus::Detail => detail::render(frame, l.main, app),
        Focus::Providers => providers::render(frame, l.main, app),
        Focus::Help if app.prev_focus == Focus::Detail => detail::render(frame, l.main, app),
        Focus::Help if app.prev_focus == Focus::Providers => providers::render(frame, l.main, app),
        _ => models::render(frame, l.main, app),
    }
    if let Some(y) = l.prompt_sep {
        separator(
            frame.buffer_mut(),
            area,
            y,
            prompt::title(app, area.width.saturating_sub(4)),
            theme.border(),
        );
        prompt::render(frame, l.prompt, app);
    }
    if let Some(y) = l.events_sep {
        separator(
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

/// A "├ title ─────┤" line across the frame.
fn separator(buf: &mut Buffer, frame: Rect, y: u16, title: Line, border: Style) {
    if frame.width < 2 || y >= frame.bottom() {
        return;
    }
    let right = frame.right() - 1;
    for x in frame.x..=right {
        let symbol = match x {
            x if x == frame.x => "├",
            x if x == right => "┤",
            _ => "─",
        };
        buf[(x, y)].set_symbol(symbol).set_style(border);
    }
    let room = Rect::new(frame.x + 1, y, frame.width.saturating_sub(2), 1);
    let mut title = title;
    title.spans.insert(0, Span::raw(" "));
    title.spans.push(Span::raw(" "));
    let width = (title.width() as u16).min(room.width);
    buf.set_line(room.x, y, &title, width);
}

/// The header line, as full as the width allows: the words shrink to symbols
/// and numbers on a narrow terminal rather than being cut off.
pub fn header(app: &App, width: u16) -> Line<'static> {
    let width = usize::from(width);
    let mut last = Line::default();
    for level in 0..3 {
        let left = header_left(app, level > 1);
        let right = header_right(app, level > 0);
        let used = left.width() + right.width();
        last = join(left, right, width, app);
        if used + 3 <= width {
            break;
        }
    }
    last
}

fn join(left: Line<'static>, right: Line<'static>, width: usize, app: &App) -> Line<'static> {
    let fill = width.saturating_sub(left.width() + right.width()).max(1);
    let mut spans = left.spans;
    spans.push(Span::styled("─".repeat(fill), app.theme.border()));
    spans.extend(right.spans);
    Line::from(spans)
}

fn header_left(app: &App, short: bool) -> Line<'static> {
    let s = &app.settings;
    let text = if short {
        format!(
            "{} models · probe {} · {} · >{:.0}% ",
            app.models.len(),
            fmt_window(s.probe_interval),
            fmt_window(s.window),
            s.threshold * 100.0
        )
    } else {
        format!(
            "· {} models · probe {} · window {} · >{:.0}% ",
            app.models.len(),
            fmt_window(s.probe_interval),
            fmt_window(s.window),
            s.threshold * 100.0
        )
    };
    Line::from(vec![
        Span::styled(" chainwatch ", app.theme.title()),
        Span::raw(text),
    ])
}

fn header_right(app: &App, compact: bool) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    for (i, (status, n)) in app.counts().into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(if compact { " " } else { " · " }));
        }
        let word = match status {
            crate::health::Status::Healthy => "ok",
            crate::health::Status::Unhealthy => "down",
            crate::health::Status::RateLimited => "limited",
            other => other.as_str(),
        };
        let text = if compact {
            format!("{}{n}", status.symbol())
        } else {
            format!("{} {n} {word}", status.symbol())
        };
        spans.push(Span::styled(text, app.theme.status(status)));
    }
    if compact {
        spans.push(Span::raw(format!(" · {}", fmt_usd(app.spend_today))));
    } else {
        spans.push(Span::raw(format!(
            " ── probes today {}",
            fmt_usd(app.spend_today)
        )));
    }
    if let Some(budget) = app.settings.daily_budget {
        spans.push(Span::raw(format!(" of {}", fmt_usd(budget))));
    }
    spans.push(Span::raw(" "));
    Line::from(spans)
}

/// "15m", "1h", "90s", "5s": reads better than "900s" or "5.0s".
pub fn fmt_window(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    if d.subsec_nanos() == 0 && secs > 0 && secs < 120 {
        format!("{secs}s")
    } else if secs >= 3600 && secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else if secs >= 60 && secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        fmt_secs(d)
    }
}

fn footer_contexts(app: &App) -> &'static [Context] {
    match app.focus {
        Focus::Table => &[Context::Table, Context::Screen],
        Focus::Detail => &[Context::Detail, Context::Screen],
        Focus::Providers | Focus::Help => &[Context::Screen],
        Focus::Prompt => &[Context::Prompt, Context::Global],
    }
}

/// The footer: as many bindings as fit, in table order, except that how to
/// leave (quit, and back out of a view) and how to get help come first, so
/// a narrow terminal never hides them.
fn footer(app: &App, room: u16) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    let mut used = 1usize;
    let in_a_view = matches!(app.focus, Focus::Detail | Focus::Providers | Focus::Help);
    let rank = |label: &str| match label {
        "q" | "^C" => 0,
        "esc" if in_a_view => 1,
        "?" => 2,
        _ => 3,
    };
    let mut items = keys::footer(footer_contexts(app));
    items.sort_by_key(|(label, _)| rank(label));
    for (label, help) in items {
        let width = label.chars().count() + help.chars().count() + 3;
        if used + width > usize::from(room) {
            break;
        }
        used += width;
        spans.push(Span::styled(label, app.theme.key()));
        spans.push(Span::raw(format!(" {help}  ")));
    }
    Line::from(spans)
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
