//! The provider view: the rollup by the model id's prefix (the article's rule)
//! and by the serving provider that responses name.

use crate::tui::view::{split_columns, split_rows};
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table};
use ratatui::Frame;

use crate::fmt::fmt_ratio;
use crate::health::{rollup, HealthPolicy, ProviderKey, ProviderSnapshot};

use crate::tui::app::App;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    if area.height == 0 {
        return;
    }
    let policy = HealthPolicy::from(&app.config.health);
    let by_id = rollup(&app.models, ProviderKey::IdPrefix, &policy);
    let by_served = rollup(&app.models, ProviderKey::ServedBy, &policy);
    // Side by side when wide, else one above the other.
    let (a, b) = if area.width >= 140 {
        split_columns(area, area.width / 2 - 1, 2)
    } else {
        let top = (by_id.len() as u16 + 2)
            .min(area.height / 2)
            .max(area.height.min(3));
        split_rows(area, top)
    };
    table(frame, a, app, "by provider (model id prefix)", &by_id);
    table(
        frame,
        b,
        app,
        "by serving provider (as responses report it)",
        &by_served,
    );
}

fn table(frame: &mut Frame, area: Rect, app: &App, title: &str, list: &[ProviderSnapshot]) {
    if area.height == 0 {
        return;
    }
    let theme = app.theme;
    let heading = Line::from(Span::styled(title.to_string(), theme.title()));
    frame.render_widget(heading, Rect { height: 1, ..area });
    let body = Rect {
        y: area.y + 1,
        height: area.height - 1,
        ..area
    };
    if list.is_empty() {
        let none = Line::from(Span::styled("no data yet", theme.dim()));
        frame.render_widget(none, body);
        return;
    }
    let rows: Vec<Row> = list
        .iter()
        .map(|p| {
            Row::new(vec![
                Cell::from(p.provider.clone()),
                Cell::from(Span::styled(
                    format!("{} {}", p.status.symbol(), p.status.as_str()),
                    theme.status(p.status),
                )),
                Cell::from(Line::from(fmt_ratio(p.ratio)).right_aligned()),
                Cell::from(Line::from(format!("{}/{}", p.ok, p.counted)).right_aligned()),
                Cell::from(format!("{}/{} ok", p.healthy_models, p.models.len())),
                Cell::from(p.models.join(", ")),
            ])
        })
        .collect();
    let header = Row::new(vec![
        Cell::from("provider"),
        Cell::from("status"),
        Cell::from(Line::from("ok%").right_aligned()),
        Cell::from(Line::from("ok/n").right_aligned()),
        Cell::from("healthy"),
        Cell::from("models"),
    ])
    .style(theme.header_row());
    let widths = [
        Constraint::Length(14),
        Constraint::Length(15),
        Constraint::Length(5),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Min(10),
    ];
    frame.render_widget(Table::new(rows, widths).header(header), body);
}
