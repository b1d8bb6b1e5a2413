//! The events panel: state changes, drift, budget and notices, newest first.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::tui::app::{App, EventKind};

pub fn title(app: &App) -> Line<'static> {
    let mut spans = vec![Span::styled("events", app.theme.title())];
    if app.events_scroll > 0 {
        spans.push(Span::styled(
            format!(" ({} newer above, [ to scroll back)", app.events_scroll),
            app.theme.dim(),
        ));
    }
    Line::from(spans)
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme;
    let lines: Vec<Line> = app
        .events
        .iter()
        .skip(app.events_scroll)
        .take(usize::from(area.height))
        .map(|e| {
            let style = match e.kind {
                EventKind::State(s) => theme.status(s),
                EventKind::Drift | EventKind::Budget => theme.warn(),
                EventKind::Info => ratatui::style::Style::new(),
            };
            let at = e.at.with_timezone(&app.tz).format("%H:%M:%S").to_string();
            Line::from(vec![
                Span::styled(at, theme.dim()),
                Span::raw("  "),
                Span::styled(e.text.clone(), style),
            ])
        })
        .collect();
    if lines.is_empty() {
        let none = Line::from(Span::styled(
            "no events yet: state changes, drift and budget news appear here",
            theme.dim(),
        ));
        frame.render_widget(Paragraph::new(none), area);
    } else {
        frame.render_widget(Paragraph::new(lines), area);
    }
}
