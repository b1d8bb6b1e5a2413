//! The provider view: one line per configured endpoint (so a dead endpoint
//! is one line, not a red row per model), then the rollup by provider (the
//! model id's prefix, the article's rule, else the endpoint's name) and by
//! the serving provider that responses name, and below them the same model
//! reached two ways, compared (`crate::compare`). Every verdict here is made
//! from the models' verdicts, and the "n/m ok" beside it counts the same.

use crate::tui::view::{split_columns, split_rows};
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Cell, Row, Table};
use ratatui::Frame;

use crate::compare::{compare, fmt_signed_ms, fmt_signed_usd, Comparison, Delta};
use crate::health::{by_endpoint, rollup, EndpointSummary, ProviderKey, ProviderSnapshot};

use crate::tui::app::App;
use crate::tui::panels::models::ratio_text;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    if area.height == 0 {
        return;
    }
    let endpoints = by_endpoint(&app.models);
    let area = endpoint_lines(frame, area, app, &endpoints);
    if area.height == 0 {
        return;
    }
    let by_id = rollup(&app.models, ProviderKey::IdPrefix);
    let by_served = rollup(&app.models, ProviderKey::ServedBy);
    // The same model reached two ways, below the rollups: a heading, a
    // header row and two lines per pair, never more than half the room.
    let comparisons = compare(&app.config, &app.models, &app.prices);
    let pairs_h = if comparisons.is_empty() {
        0
    } else {
        (2 + 2 * comparisons.len() as u16).min(area.height / 2)
    };
    let (rollups, below) = split_rows(area, area.height - pairs_h);
    // Side by side when very wide (each table needs ~100 columns to show
    // its model names whole), else one above the other.
    let (a, b) = if rollups.width >= 200 {
        split_columns(rollups, rollups.width / 2 - 1, 2)
    } else {
        // Its heading, header and rows, and a blank line.
        let top = (by_id.len() as u16 + 3)
            .min(rollups.height / 2)
            .max(rollups.height.min(3));
        split_rows(rollups, top)
    };
    table(
        frame,
        a,
        app,
        "by provider (model id prefix, else endpoint)",
        &by_id,
    );
    table(
        frame,
        b,
        app,
        "by serving provider (as responses report it)",
        &by_served,
    );
    if pairs_h > 0 {
        pairs(frame, below, app, &comparisons);
    }
}

/// "by endpoint" and one line per endpoint, at the top of `area`; returns
/// what is left below them (a blank line apart).
fn endpoint_lines(frame: &mut Frame, area: Rect, app: &App, list: &[EndpointSummary]) -> Rect {
    if list.is_empty() {
        return area;
    }
    let theme = app.theme;
    // Leave the tables at least half the room.
    let shown = list
        .len()
        .min(usize::from(area.height / 2).saturating_sub(1));
    if shown == 0 {
        return area;
    }
    let heading = Line::from(Span::styled("by endpoint", theme.title()));
    frame.render_widget(heading, Rect { height: 1, ..area });
    for (i, e) in list.iter().take(shown).enumerate() {
        let y = area.y + 1 + i as u16;
        let label = e.status.label();
        let room = usize::from(area.width).saturating_sub(label.chars().count() + 2);
        let mut words = e.to_string();
        if words.chars().count() > room {
            words = e.compact();
        }
        let line = Line::from(vec![
            Span::styled(label, theme.status(e.status)),
            Span::raw(format!("  {words}")),
        ]);
        frame.render_widget(
            line,
            Rect {
                y,
                height: 1,
                ..area
            },
        );
    }
    let used = (shown as u16 + 2).min(area.height);
    Rect {
        y: area.y + used,
        height: area.height - used,
        ..area
    }
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
    let words: Vec<String> = list.iter().map(ProviderSnapshot::models_words).collect();
    let rows: Vec<Row> = list
        .iter()
        .zip(&words)
        .map(|(p, words)| {
            Row::new(vec![
                Cell::from(p.provider.clone()),
                Cell::from(Span::styled(p.status.label(), theme.status(p.status))),
                Cell::from(words.clone()),
                Cell::from(Line::from(ratio_text(p.ratio, p.holds_outage)).right_aligned()),
                Cell::from(p.models.join(", ")),
            ])
        })
        .collect();
    let header = Row::new(vec![
        Cell::from("provider"),
        Cell::from("status"),
        Cell::from("models"),
        Cell::from(Line::from("ok%").right_aligned()),
        Cell::from(""),
    ])
    .style(theme.header_row());
    let words_width = words
        .iter()
        .map(|w| w.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(8, 40) as u16;
    let status_width = crate::health::Status::ALL
        .iter()
        .map(|s| s.label().chars().count())
        .max()
        .unwrap_or(15) as u16;
    let provider_width = list
        .iter()
        .map(|p| p.provider.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(8, 20) as u16;
    let widths = [
        Constraint::Length(provider_width),
        Constraint::Length(status_width),
        Constraint::Length(words_width),
        Constraint::Length(6),
        Constraint::Fill(1),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .flex(ratatui::layout::Flex::Start);
    frame.render_widget(table, body);
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
