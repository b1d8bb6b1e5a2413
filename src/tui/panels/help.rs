//! The help overlay, drawn from the same key table as the footer: every
//! binding and the mouse, grouped by where they apply, in as many columns
//! as fit; ↑↓ scroll it when it does not fit, any other key closes it.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use crate::tui::app::App;
use crate::tui::keys;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme;
    let groups = keys::help();
    let label_w = groups
        .iter()
        .flat_map(|(_, items)| items.iter().map(|(l, _)| l.width()))
        .max()
        .unwrap_or(4);
    let help_w = groups
        .iter()
        .flat_map(|(_, items)| items.iter().map(|(_, h)| h.width()))
        .max()
        .unwrap_or(10);
    // (line, is a title): a title never ends a column.
    let mut lines: Vec<(Line, bool)> = Vec::new();
    for (ctx, items) in groups {
        lines.push((Line::from(Span::styled(ctx.title(), theme.title())), true));
        for (label, help) in items {
            let line = Line::from(vec![
                Span::styled(format!(" {label:<label_w$}"), theme.key()),
                Span::raw(format!("  {help}")),
            ]);
            lines.push((line, false));
        }
    }
    let col_w = (label_w + help_w + 4) as u16;
    let inner_w = area.width.saturating_sub(4).max(1);
    let rows_room = usize::from(area.height.saturating_sub(2)).max(1);
    let columns = usize::from((inner_w / col_w.max(1)).max(1));
    // As few rows as the columns allow (a title moved to the next column
    // costs a row); scrolled, in one flow, when even that is too tall.
    let mut per_col = lines.len().div_ceil(columns).clamp(1, rows_room);
    let mut flowed = flow(&lines, per_col);
    while flowed.len() > columns && per_col < rows_room {
        per_col += 1;
        flowed = flow(&lines, per_col);
    }
    let fits = flowed.len() <= columns;
    let total = flowed.len() * per_col;
    let most = total.saturating_sub(per_col * columns);
    let scroll = if fits { 0 } else { app.help_scroll.min(most) };
    // Scrolling moves the whole flow, column by column.
    let cells: Vec<Option<Line>> = flowed
        .into_iter()
        .flat_map(|col| {
            let pad = per_col - col.len();
            col.into_iter()
                .map(Some)
                .chain(std::iter::repeat_n(None, pad))
        })
        .skip(scroll)
        .take(per_col * columns)
        .collect();
    let used_cols = cells.len().div_ceil(per_col).clamp(1, columns);
    let width = (col_w * used_cols as u16 + 4).min(area.width);
    let height = (per_col as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, popup);
    let closing = if fits {
        " any key closes ".to_string()
    } else {
        format!(" ↑↓ scroll ({}/{}) · any other key closes ", scroll, most)
    };
    let block = Block::bordered()
        .border_style(theme.border())
        .title(Line::from(Span::styled(" keys ", theme.title())))
        .title_bottom(Line::from(closing).right_aligned());
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    for (i, column) in cells.chunks(per_col).enumerate() {
        let x = inner.x + 1 + col_w * i as u16;
        if x >= inner.right() {
            break;
        }
        let r = Rect {
            x,
            width: col_w.min(inner.right() - x),
            ..inner
        };
        let lines: Vec<Line> = column
            .iter()
            .map(|l| l.clone().unwrap_or_default())
            .collect();
        frame.render_widget(Paragraph::new(lines), r);
    }
}

/// The lines cut into columns of `rows`, a title that would end a column
/// moved to the top of the next.
fn flow<'a>(lines: &[(Line<'a>, bool)], rows: usize) -> Vec<Vec<Line<'a>>> {
    let mut columns: Vec<Vec<Line>> = vec![Vec::new()];
    for (i, (line, title)) in lines.iter().enumerate() {
        let col = columns.last().map_or(0, Vec::len);
        let last_row = col + 1 == rows;
        let orphan = *title && last_row && i + 1 < lines.len();
        if col == rows || (orphan && col > 0) {
            columns.push(Vec::new());
        }
        if let Some(c) = columns.last_mut() {
            c.push(line.clone());
        }
    }
    columns
}
