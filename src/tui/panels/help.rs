//! The help overlay, drawn from the same key table as the footer.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use crate::tui::app::App;
use crate::tui::keys;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme;
    let groups = keys::help();
    let label_w = groups
        .iter()
        .flat_map(|(_, items)| items.iter().map(|(l, _)| l.chars().count()))
        .max()
        .unwrap_or(4);
    let mut blocks: Vec<Vec<Line>> = Vec::new();
    for (ctx, items) in groups {
        let mut lines = vec![Line::from(Span::styled(ctx.title(), theme.title()))];
        for (label, help) in items {
            lines.push(Line::from(vec![
                Span::styled(format!("  {label:<label_w$}"), theme.key()),
                Span::raw(format!("  {help}")),
            ]));
        }
        lines.push(Line::from(""));
        blocks.push(lines);
    }
    let total: usize = blocks.iter().map(Vec::len).sum();
    let room = usize::from(area.height.saturating_sub(4));
    // One column when it fits, else two (the first group on the left).
    let columns: Vec<Vec<Line>> = if total <= room {
        vec![blocks.concat()]
    } else {
        let mut left = Vec::new();
        let mut right = Vec::new();
        let mut left_len = 0;
        for b in blocks {
            if left_len == 0 || left_len + b.len() <= total.div_ceil(2) {
                left_len += b.len();
                left.extend(b);
            } else {
                right.extend(b);
            }
        }
        vec![left, right]
    };
    let col_w = (label_w + 26) as u16;
    let width = (col_w * columns.len() as u16 + 4).min(area.width);
    let height = (columns.iter().map(Vec::len).max().unwrap_or(0) as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, popup);
    let block = Block::bordered()
        .border_style(theme.border())
        .title(Line::from(Span::styled(" keys ", theme.title())))
        .title_bottom(Line::from(" any key closes ").right_aligned());
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    for (i, lines) in columns.into_iter().enumerate() {
        let x = inner.x + 1 + col_w * i as u16;
        if x >= inner.right() {
            break;
        }
        let r = Rect {
            x,
            width: col_w.min(inner.right() - x),
            ..inner
        };
        frame.render_widget(Paragraph::new(lines), r);
    }
}
