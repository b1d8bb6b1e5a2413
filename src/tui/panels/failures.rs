//! The failure log, full screen: every failure and state change in the
//! window, newest first, one line each (clock time, model, class or new
//! state, HTTP status, message), and below the list the selected line's
//! whole message, wrapped.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use crate::tui::app::{App, LogEntry, LogWhat};
use crate::tui::panels::frame::fmt_window;
use crate::tui::panels::prompt::wrap;
use crate::tui::text::{clock, ellipsize_middle};

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// Lines above the list: the title and the column heads.
const HEAD: u16 = 2;

/// Where the list's lines go in `area` (the mouse and paging use it too):
/// below the title and heads, above the selected line's message.
pub fn list_area(area: Rect, app: &App) -> Rect {
    let detail = detail_height(area, app);
    Rect {
        y: area.y + HEAD.min(area.height),
        height: area.height.saturating_sub(HEAD + detail),
        ..area
    }
}

/// The selected message's panel: a rule that says which line it is, and
/// the message wrapped; at most half the area.
fn detail_height(area: Rect, app: &App) -> u16 {
    if area.height < 10 {
        return 0;
    }
    let lines = app.log.selected_entry().map_or(1, |e| {
        wrap(e.message(), usize::from(area.width.max(1)))
            .len()
            .max(1)
    }) as u16;
    (1 + lines).min(area.height / 2)
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    let theme = app.theme;
    let log = &app.log;
    let rows = log.rows();
    let (failures, changes) = log.counts();

    // The title: what is here, over which window, and the filter.
    let mut title = vec![
        Span::styled("failure log", theme.title()),
        Span::raw(format!(
            " · {failures} {} · {changes} {} · last {}",
            plural(failures, "failure", "failures"),
            plural(changes, "state change", "state changes"),
            fmt_window(app.settings.window)
        )),
    ];
    if log.filter.is_active() || (app.editing_filter && !log.filter.text().is_empty()) {
        title.push(Span::styled(
            format!(
                " · filter /{} ({} of {})",
                log.filter.text(),
                rows.len(),
                log.entries.len()
            ),
            theme.warn(),
        ));
    }
    title.push(Span::styled(
        "  y copies the selected line · c clock/relative in the table",
        theme.dim(),
    ));
    frame
        .buffer_mut()
        .set_line(area.x, area.y, &Line::from(title), area.width);

    let list = list_area(area, app);
    let shown: Vec<&LogEntry> = rows
        .iter()
        .skip(log.offset)
        .take(usize::from(list.height))
        .map(|i| &log.entries[*i])
        .collect();

    // Column widths from what is shown, so a line never moves sideways
    // while its neighbours stay.
    let times: Vec<String> = shown.iter().map(|e| clock(e.at, app.now, app.tz)).collect();
    let time_w = times.iter().map(|t| t.width()).max().unwrap_or(8).max(4);
    let model_w = shown
        .iter()
        .map(|e| e.model.width())
        .max()
        .unwrap_or(5)
        .clamp(5, 24);
    let what_w = shown
        .iter()
        .map(|e| e.class_word().width())
        .max()
        .unwrap_or(4)
        .clamp(4, 24);
    let head = format!(
        "{:<time_w$}  {:<model_w$}  {:<what_w$}  {:>4}  message",
        "time", "model", "what", "http"
    );
    if area.height > 1 {
        frame.buffer_mut().set_line(
            area.x,
            area.y + 1,
            &Line::from(Span::styled(head, theme.header_row())),
            area.width,
        );
    }

    if shown.is_empty() && list.height > 0 {
        let words = if log.entries.is_empty() {
            format!(
                "no failures or state changes in the last {}",
                fmt_window(app.settings.window)
            )
        } else {
            "no line matches the filter (esc clears it)".to_string()
        };
        frame.render_widget(
            Paragraph::new(Line::from(Span::styled(words, theme.dim()))),
            list,
        );
    }
    let selected = log.selected_row(&rows).checked_sub(log.offset);
    for (n, (entry, time)) in shown.iter().zip(&times).enumerate() {
        let y = list.y + n as u16;
        let what_style = match &entry.what {
            LogWhat::Failure { .. } => theme.failure(),
            LogWhat::State { to, .. } => theme.status(*to),
            LogWhat::Drift { .. } => theme.warn(),
        };
        let line = Line::from(vec![
            Span::styled(format!("{time:>time_w$}  "), theme.dim()),
            Span::raw(format!(
                "{:<model_w$}  ",
                ellipsize_middle(&entry.model, model_w)
            )),
            Span::styled(
                format!(
                    "{:<what_w$}  ",
                    ellipsize_middle(&entry.class_word(), what_w)
                ),
                what_style,
            ),
            Span::raw(format!("{:>4}  ", entry.status_word())),
            Span::raw(entry.message().to_string()),
        ]);
        let style = if selected == Some(n) {
            theme.selected()
        } else {
            Style::new()
        };
        let buf = frame.buffer_mut();
        buf.set_style(Rect::new(area.x, y, area.width, 1), style);
        buf.set_line(area.x, y, &line, area.width);
    }

    // The selected line's whole message.
    let detail_h = detail_height(area, app);
    let Some(entry) = log.selected_entry().filter(|_| detail_h > 0) else {
        return;
    };
    let top = area.y + area.height - detail_h;
    let about = format!(
        "─ {} · {} · {} · {} ",
        crate::tui::text::clock_full(entry.at, app.tz),
        entry.model,
        entry.class_word(),
        entry.status_word()
    );
    let mut rule = about;
    let fill = usize::from(area.width).saturating_sub(rule.width());
    rule.push_str(&"─".repeat(fill));
    frame.buffer_mut().set_line(
        area.x,
        top,
        &Line::from(Span::styled(rule, theme.border())),
        area.width,
    );
    let lines: Vec<Line> = wrap(entry.message(), usize::from(area.width.max(1)))
        .into_iter()
        .map(Line::from)
        .collect();
    let body = Rect {
        y: top + 1,
        height: detail_h - 1,
        ..area
    };
    frame.render_widget(Paragraph::new(lines), body);
}
