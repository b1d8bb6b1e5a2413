//! The question that waits for y or n (resetting the chain), in a box over
//! the screen.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::tui::app::{App, Confirm};

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let Some(question) = app.confirm else {
        return;
    };
    let theme = app.theme;
    let (ask, detail) = match question {
        Confirm::ResetChain => (
            "Reset the chain to the config's order?",
            format!(
                "now:   {}\nafter: {}",
                app.chain.order().join(" › "),
                app.config.chain.join(" › ")
            ),
        ),
    };
    let mut lines = vec![Line::from(Span::styled(ask, theme.title())), Line::from("")];
    lines.extend(detail.lines().map(|l| Line::from(l.to_string())));
    lines.push(Line::from(""));
    lines.push(Line::from(vec![
        Span::styled("y", theme.key()),
        Span::raw(" / "),
        Span::styled("enter", theme.key()),
        Span::raw(" yes   "),
        Span::styled("n", theme.key()),
        Span::raw(" / "),
        Span::styled("esc", theme.key()),
        Span::raw(" no   (u undoes it afterwards)"),
    ]));
    let width = area.width.min(72).max(area.width.min(20));
    let inner_w = usize::from(width.saturating_sub(2).max(1));
    let rows: usize = lines
        .iter()
        .map(|l| l.width().div_ceil(inner_w).max(1))
        .sum();
    let height = (rows as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, popup);
    let block = Block::bordered().border_style(theme.border());
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        popup,
    );
}
