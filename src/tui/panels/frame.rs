//! The dashboard's frame: the border whose top line carries the header and
//! whose bottom line carries the footer, the demo badge under the header,
//! and the "├ title ──┤" separators that cut the frame into panels. The
//! header shows the table's filter; the footer shows a filter being typed,
//! a key's message ("copied") and the keys of the current state.

use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use crate::fmt::{fmt_secs, fmt_usd, fmt_usd_about};
use crate::tui::app::{App, Focus};
use crate::tui::keys;

/// The border with the header and the footer, and the demo badge in `badge`.
pub fn render(frame: &mut Frame, area: Rect, badge: Option<Rect>, app: &App) {
    let theme = app.theme;
    let footer = footer(app, area.width.saturating_sub(16));
    let block = Block::bordered()
        .border_style(theme.border())
        .title_bottom(footer)
        .title_bottom(Line::from(format!(" sort: {} ", app.sort.label())).right_aligned());
    frame.render_widget(block, area);
    if app.editing_filter && area.width > 2 && area.height > 1 {
        // The cursor after the filter being typed (" /gpt▏").
        let x = (area.x + 1 + filter_prompt(app).width() as u16).min(area.right() - 2);
        frame.set_cursor_position(Position::new(x, area.bottom() - 1));
    }
    if area.width > 2 && area.height > 0 {
        let line = header(app, area.width - 2);
        frame
            .buffer_mut()
            .set_line(area.x + 1, area.y, &line, area.width - 2);
    }

    if let Some(badge) = badge {
        if let Some(text) = &app.demo {
            let line = Line::from(Span::styled(format!(" {text} "), theme.badge()));
            let wrap = ratatui::widgets::Wrap { trim: true };
            frame.render_widget(Paragraph::new(line).wrap(wrap), badge);
        }
    }
}

/// A "├ title ─────┤" line across the frame.
pub fn separator(buf: &mut Buffer, frame: Rect, y: u16, title: Line, border: Style) {
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
    for level in 0..4 {
        let left = header_left(app, level > 1);
        let right = header_right(app, level > 0, level < 3);
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
    let models = if app.filter.is_active() {
        let kind = if app.filter.is_regex() { "regex " } else { "" };
        format!(
            "{} of {} models match {kind}/{}",
            app.row_count(),
            app.models.len(),
            app.filter.text()
        )
    } else {
        format!("{} models", app.models.len())
    };
    let text = if short {
        format!(
            "{models} · probe {} · {} · >{:.0}% ",
            fmt_window(s.probe_interval),
            fmt_window(s.window),
            s.threshold * 100.0
        )
    } else {
        format!(
            "· {models} · probe {} · window {} · >{:.0}% ",
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

/// The counts by status and what probes spent; with `projection`, what
/// they will spend a day at the current pace (the first thing to go when
/// the line is too narrow).
fn header_right(app: &App, compact: bool, projection: bool) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    for (i, (status, n)) in app.counts().into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(if compact { " " } else { " · " }));
        }
        let word = status.count_word();
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
    // What the day will cost at the pace probes go now (docs/cost.md).
    if projection && app.spending.per_day > 0.0 {
        spans.push(Span::raw(if compact {
            format!(" ~{}/d", fmt_usd_about(app.spending.per_day))
        } else {
            format!(" · ~{} a day", fmt_usd_about(app.spending.per_day))
        }));
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

/// " /gpt" while a filter is typed.
fn filter_prompt(app: &App) -> Line<'static> {
    let text = if app.view_focus() == Focus::Log {
        app.log.filter.text()
    } else {
        app.filter.text()
    };
    Line::from(vec![
        Span::raw(" "),
        Span::styled("/", app.theme.key()),
        Span::styled(text.to_string(), app.theme.input()),
    ])
}

/// The footer: a filter being typed, then a key's message, then as many
/// bindings as fit, in table order, except that how to leave (quit, and
/// back out of a view) and how to get help come first, so a narrow
/// terminal never hides them.
fn footer(app: &App, room: u16) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    let mut used = 1usize;
    if app.editing_filter {
        spans = filter_prompt(app).spans;
        spans.push(Span::raw("  "));
        used = spans.iter().map(|s| s.width()).sum();
    }
    if let Some(text) = app.flash_text() {
        let cut: String = text
            .chars()
            .take(usize::from(room).saturating_sub(used + 4))
            .collect();
        used += cut.chars().count() + 4;
        spans.push(Span::styled(format!("» {cut}"), app.theme.warn()));
        spans.push(Span::raw("  "));
    }
    let in_a_view = matches!(
        app.focus,
        Focus::Detail | Focus::Providers | Focus::Help | Focus::Log
    );
    let rank = |label: &str| match label {
        "q" | "^C" => 0,
        "esc" if in_a_view => 1,
        "?" => 2,
        _ => 3,
    };
    let mut items = keys::footer(app.key_stack());
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
