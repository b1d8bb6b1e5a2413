//! The provider view: the rollup by the model id's prefix (the article's rule)
//! and by the serving provider that responses name, and below them the same
//! model reached two ways, compared (`crate::compare`).

use crate::tui::view::{split_columns, split_rows};
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Cell, Row, Table};
use ratatui::Frame;

use crate::compare::{compare, fmt_signed_ms, fmt_signed_usd, Comparison, Delta};
use crate::fmt::fmt_ratio;
use crate::health::{
    provider_of, rollup, HealthPolicy, ModelSnapshot, ProviderKey, ProviderSnapshot,
};

use crate::tui::app::App;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    if area.height == 0 {
        return;
    }
    let policy = HealthPolicy::from(&app.config.health);
    let models = with_endpoint_prefix(app);
    let by_id = rollup(&models, ProviderKey::IdPrefix, &policy);
    let by_served = rollup(&models, ProviderKey::ServedBy, &policy);
    // The same model reached two ways, below the rollups: a heading, a
    // header row and two lines per pair, never more than half the room.
    let comparisons = compare(&app.config, &app.models, &app.prices);
    let pairs_h = if comparisons.is_empty() {
        0
    } else {
        (2 + 2 * comparisons.len() as u16).min(area.height / 2)
    };
    let wide = area.width >= 140;
    // Side by side when wide (as tall as the longer list), else one above
    // the other (filling the room).
    let rollups_h = if wide && pairs_h > 0 {
        let rows = by_id.len().max(by_served.len()) as u16 + 2;
        rows.min(area.height - pairs_h - 1)
    } else {
        area.height - pairs_h
    };
    let (rollups, rest) = split_rows(area, rollups_h);
    let (a, b) = if wide {
        split_columns(rollups, rollups.width / 2 - 1, 2)
    } else {
        let top = (by_id.len() as u16 + 2)
            .min(rollups.height / 2)
            .max(rollups.height.min(3));
        split_rows(rollups, top)
    };
    table(frame, a, app, "by provider (model id prefix)", &by_id);
    table(
        frame,
        b,
        app,
        "by serving provider (as responses report it)",
        &by_served,
    );
    if pairs_h > 0 {
        let at = rest.height.saturating_sub(pairs_h).min(u16::from(wide));
        let (_, below) = split_rows(rest, at);
        pairs(
            frame,
            Rect {
                height: pairs_h.min(below.height),
                ..below
            },
            app,
            &comparisons,
        );
    }
}

/// The snapshots with ids that name no provider (no `provider/` part and
/// no known family, as a local `my-finetune`) put under their endpoint's
/// name, so the id-prefix rollup names a provider, not a model.
fn with_endpoint_prefix(app: &App) -> Vec<ModelSnapshot> {
    app.models
        .iter()
        .map(|m| {
            let mut m = m.clone();
            if provider_of(&m.id) == m.id {
                if let Some(config) = app.config.model(&m.name) {
                    m.id = format!("{}/{}", config.endpoint, m.id);
                }
            }
            m
        })
        .collect()
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

/// The pairs: `first − second` in time to first token and total latency
/// (p50, p95, and the samples behind each side) and in price per million
/// tokens.
fn pairs(frame: &mut Frame, area: Rect, app: &App, list: &[Comparison]) {
    if area.height == 0 {
        return;
    }
    let theme = app.theme;
    let title = "same model, two ways: first − second · p50/p95 in the window · n = samples";
    let heading = Line::from(Span::styled(title, theme.title()));
    frame.render_widget(heading, Rect { height: 1, ..area });
    let body = Rect {
        y: area.y + 1,
        height: area.height - 1,
        ..area
    };
    let wide = area.width >= 110;
    let right = |s: String| Cell::from(Line::from(s).right_aligned());
    let figures = |d: Option<Delta>| match d {
        Some(d) => [
            right(fmt_signed_ms(d.p50_ms)),
            right(fmt_signed_ms(d.p95_ms)),
            right(format!("{}/{}", d.first_samples, d.second_samples)),
        ],
        None => ["—", "—", "—"].map(|s| right(s.to_string())),
    };
    let rows: Vec<Row> = list
        .iter()
        .map(|c| {
            let side = |name: &str, endpoint: &str| {
                if wide {
                    format!("{name} ({endpoint})")
                } else {
                    name.to_string()
                }
            };
            let names = Text::from(vec![
                Line::from(side(&c.pair.first, &c.first_endpoint)),
                Line::from(format!("− {}", side(&c.pair.second, &c.second_endpoint))),
            ]);
            let price = match c.price {
                Some(p) => [
                    right(fmt_signed_usd(p.prompt_per_m)),
                    right(fmt_signed_usd(p.completion_per_m)),
                ],
                None => ["—", "—"].map(|s| right(s.to_string())),
            };
            let mut cells = vec![Cell::from(names)];
            cells.extend(figures(c.ttft));
            cells.extend(figures(c.latency));
            cells.extend(price);
            Row::new(cells).height(2)
        })
        .collect();
    let head = |s: &str| Cell::from(Line::from(s.to_string()).right_aligned());
    let header = Row::new(vec![
        Cell::from("pair"),
        head("ttft p50"),
        head("p95"),
        head("n"),
        head("total p50"),
        head("p95"),
        head("n"),
        head("$/M in"),
        head("out"),
    ])
    .style(theme.header_row());
    let n = if wide { 7 } else { 5 };
    // As wide as the longest name, so the figures sit beside it.
    let label = |name: &str, endpoint: &str| {
        let extra = if wide {
            endpoint.chars().count() + 3
        } else {
            0
        };
        name.chars().count() + 2 + extra
    };
    let pair_w = list
        .iter()
        .flat_map(|c| {
            [
                label(&c.pair.first, &c.first_endpoint),
                label(&c.pair.second, &c.second_endpoint),
            ]
        })
        .max()
        .unwrap_or(4);
    let widths = [
        Constraint::Length(u16::try_from(pair_w).unwrap_or(u16::MAX).clamp(4, 40)),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(n),
        Constraint::Length(9),
        Constraint::Length(7),
        Constraint::Length(n),
        Constraint::Length(6),
        Constraint::Length(6),
    ];
    frame.render_widget(Table::new(rows, widths).header(header), body);
}
