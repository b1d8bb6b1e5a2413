//! The detail view of one model: figures, drift, failures by class, the last
//! reply and error, and a latency chart over the window.

use crate::tui::view::{split_columns, split_rows};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, Paragraph, Wrap};
use ratatui::Frame;

use crate::fmt::{describe_failure, fmt_ago, fmt_percent, fmt_secs, fmt_usd, fmt_usd_about};
use crate::health::{ModelSnapshot, ReplyTiming, Status, TrendPoint};
use crate::pricing::ModelSpending;
use crate::tui::panels::frame::fmt_window;

use crate::tui::app::App;
use crate::tui::theme::Theme;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    let Some(m) = app.selected_model() else {
        frame.render_widget(Paragraph::new("no model selected"), area);
        return;
    };
    let theme = app.theme;
    let lines = info(m, app);
    // Side by side when wide, else the chart below the figures.
    let (text_area, chart_area) = if area.width >= 150 {
        split_columns(area, area.width / 2, 0)
    } else {
        let text_h =
            (lines.len() as u16 + 1).min(area.height.saturating_sub(5).max(area.height / 2));
        split_rows(area, text_h)
    };
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), text_area);
    if chart_area.height >= 4 {
        chart(frame, chart_area, m, theme);
    }
}

/// "first token 400ms, content 4.9s · reasoning 128 of 129 tokens", of the
/// last reply, for a model that thought before it answered (the table's
/// ttft is the content's); nothing for one that did not.
fn thinking_words(t: &ReplyTiming) -> Option<String> {
    let reasoned = t.reasoning_tokens.filter(|n| *n > 0);
    let waited = match (t.first_token, t.first_content) {
        (Some(a), Some(b)) => b.saturating_sub(a) >= std::time::Duration::from_millis(50),
        _ => false,
    };
    if reasoned.is_none() && !waited {
        return None;
    }
    let mut words = Vec::new();
    if let (Some(a), Some(b)) = (t.first_token, t.first_content) {
        words.push(format!(
            "first token {}, content {}",
            fmt_secs(a),
            fmt_secs(b)
        ));
    }
    if let Some(n) = reasoned {
        words.push(match t.completion_tokens {
            Some(of) => format!("reasoning {n} of {of} tokens"),
            None => format!("{n} reasoning tokens"),
        });
    }
    Some(words.join(" · "))
}

/// "today $0.0698 (54 probes) · ~$0.1170 a day at this pace".
fn spend_words(s: &ModelSpending) -> String {
    let mut words = format!(
        "today {} ({} probe{})",
        fmt_usd(s.today),
        s.probes_today,
        if s.probes_today == 1 { "" } else { "s" }
    );
    if s.gap.is_some() {
        words.push_str(&format!(
            " · ~{} a day at this pace",
            fmt_usd_about(s.per_day)
        ));
    }
    words
}

/// "paid probe every 16m (×16: stable; free uptime checks between)".
fn cadence_words(s: &ModelSpending) -> Option<String> {
    let gap = fmt_window(s.gap?);
    Some(if s.stretch > 1 {
        format!(
            "paid probe every {gap} (×{}: stable; free uptime checks between)",
            s.stretch
        )
    } else {
        format!("paid probe every {gap}")
    })
}

fn label(text: &'static str, theme: Theme) -> Span<'static> {
    Span::styled(format!("{text:<14}"), theme.dim())
}

fn info(m: &ModelSnapshot, app: &App) -> Vec<Line<'static>> {
    let theme = app.theme;
    let now = app.now;
    let local = |at: chrono::DateTime<chrono::Utc>| at.with_timezone(&app.tz).format("%H:%M");
    let mut headline = vec![
        Span::styled(m.name.clone(), theme.title()),
        Span::raw(format!("  {}  ", m.id)),
        Span::styled(m.status.label(), theme.status(m.status)),
    ];
    // "↻ recovering 3/3 ok since 12:04 · 31.3% in window": the samples the
    // verdict rests on, beside the window's figure that still holds the
    // outage.
    if let Some(r) = &m.recovery {
        headline.push(Span::styled(
            format!(
                " {}/{} ok since {} · {} in window",
                r.ok,
                r.counted,
                local(r.since),
                fmt_percent(m.ratio)
            ),
            theme.status(m.status),
        ));
    }
    let mut lines = vec![
        Line::from(headline),
        Line::from(vec![label("why", theme), Span::raw(m.reason.clone())]),
        Line::from(vec![
            label("chain", theme),
            Span::raw(match app.chain.position(&m.name) {
                Some(p) => format!("position {p} of {}", app.chain.order().len()),
                None => "not in the chain (space puts it in)".to_string(),
            }),
        ]),
    ];
    if let Some(r) = &m.recovery {
        let next = if m.status == Status::Recovering {
            format!(
                "healthy after {} ok since re-admission ({} to go); a failure makes it unhealthy again",
                r.needed,
                r.needed.saturating_sub(r.counted)
            )
        } else {
            format!(
                "healthy again: {} ok since re-admission ({} needed)",
                r.counted, r.needed
            )
        };
        let leaves = r
            .outage_leaves_at
            .map(|at| format!(" · the outage leaves the window at {}", local(at)))
            .unwrap_or_default();
        lines.push(Line::from(vec![
            label("recovery", theme),
            Span::styled(
                format!("re-admitted {} · {next}{leaves}", local(r.since)),
                theme.status(Status::Recovering),
            ),
        ]));
    }
    lines.extend([Line::from(vec![
        label("window", theme),
        Span::raw(format!(
            "{} ({}/{} ok, {} samples)   lifetime {} ({}/{})",
            fmt_percent(m.ratio),
            m.ok,
            m.counted,
            m.samples,
            fmt_percent(m.lifetime_ratio),
            m.lifetime_ok,
            m.lifetime_counted
        )),
    ])]);
    let mut speed = Vec::new();
    if let Some(l) = m.latency {
        speed.push(format!("p50 {}  p95 {}", fmt_secs(l.p50), fmt_secs(l.p95)));
    }
    if let Some(t) = m.ttft {
        speed.push(format!(
            "ttft p50 {}  p95 {}",
            fmt_secs(t.p50),
            fmt_secs(t.p95)
        ));
    }
    if let Some(tps) = m.tokens_per_s {
        speed.push(format!("{tps:.0} tok/s"));
    }
    lines.push(Line::from(vec![
        label("latency", theme),
        Span::raw(if speed.is_empty() {
            "—".to_string()
        } else {
            speed.join("   ")
        }),
    ]));
    if let Some(words) = m.last_timing.as_ref().and_then(thinking_words) {
        lines.push(Line::from(vec![label("thinking", theme), Span::raw(words)]));
    }
    let served = match (&m.served_model, &m.served_by) {
        (Some(s), Some(by)) => format!("{s} via {by}"),
        (Some(s), None) => s.clone(),
        (None, Some(by)) => format!("via {by}"),
        (None, None) => "—".to_string(),
    };
    lines.push(Line::from(vec![
        label("served", theme),
        Span::raw(format!("{served}   (provider {})", m.provider())),
    ]));
    if let Some(price) = app.prices.get(&m.name) {
        // Per million tokens, the unit people compare prices in.
        let words = if price.prompt == 0.0 && price.completion == 0.0 {
            "free".to_string()
        } else {
            format!(
                "${:.2} in · ${:.2} out per million tokens",
                price.prompt * 1e6,
                price.completion * 1e6
            )
        };
        lines.push(Line::from(vec![label("price", theme), Span::raw(words)]));
    }
    if let Some(s) = app.spending.models.get(&m.name) {
        lines.push(Line::from(vec![
            label("probe spend", theme),
            Span::raw(spend_words(s)),
        ]));
        if let Some(words) = cadence_words(s) {
            lines.push(Line::from(vec![label("cadence", theme), Span::raw(words)]));
        }
    }
    if let Some(d) = &m.drift {
        lines.push(Line::from(vec![
            label("drift", theme),
            Span::styled(
                format!("{} {} → {}", fmt_ago(d.at, now), d.from, d.to),
                theme.warn(),
            ),
        ]));
        lines.push(Line::from(vec![
            label("", theme),
            Span::styled("a", theme.key()),
            Span::raw(" acknowledges it (degraded until then)"),
        ]));
    }
    for d in m.served_history.iter().rev().take(3) {
        lines.push(Line::from(vec![
            label("served before", theme),
            Span::raw(format!("{} {} → {}", fmt_ago(d.at, now), d.from, d.to)),
        ]));
    }
    if let Some(until) = m.rate_limited_until {
        if until > now {
            let left = (until - now).num_seconds();
            lines.push(Line::from(vec![
                label("rate limited", theme),
                Span::styled(format!("for {left}s more"), theme.status(m.status)),
            ]));
        }
    }
    if !m.failures_by_class.is_empty() {
        let by: Vec<String> = m
            .failures_by_class
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        lines.push(Line::from(vec![
            label("failures", theme),
            Span::styled(by.join(" · "), theme.failure()),
        ]));
    }
    lines.push(Line::from(vec![
        label("last failure", theme),
        Span::raw(match &m.last_failure {
            Some(f) => format!(
                "{} {}",
                fmt_ago(f.at, now),
                describe_failure(f.class, f.http_status, Some(f.message.as_str()))
            ),
            None => "—".to_string(),
        }),
    ]));
    lines.push(Line::from(vec![
        label("last success", theme),
        Span::raw(
            m.last_success
                .map_or("—".to_string(), |at| fmt_ago(at, now)),
        ),
    ]));
    if let Some(reply) = &m.last_reply {
        let one_line: String = reply.split_whitespace().collect::<Vec<_>>().join(" ");
        let cut: String = one_line.chars().take(200).collect();
        lines.push(Line::from(vec![label("last reply", theme), Span::raw(cut)]));
    }
    lines
}

fn chart(frame: &mut Frame, area: Rect, m: &ModelSnapshot, theme: Theme) {
    let ok: Vec<(f64, f64)> = m
        .trend
        .iter()
        .enumerate()
        .filter_map(|(i, p)| match p {
            TrendPoint::Ok(ms) => Some((i as f64, f64::from(*ms) / 1000.0)),
            TrendPoint::Failed => None,
        })
        .collect();
    let failed: Vec<(f64, f64)> = m
        .trend
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p, TrendPoint::Failed))
        .map(|(i, _)| (i as f64, 0.0))
        .collect();
    let top = ok.iter().map(|(_, y)| *y).fold(0.0_f64, f64::max).max(0.1) * 1.1;
    let n = (m.trend.len().max(2) - 1) as f64;
    let datasets = vec![
        Dataset::default()
            .name("latency s")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(theme.ok())
            .data(&ok),
        Dataset::default()
            .name("failed")
            .marker(Marker::Dot)
            .graph_type(GraphType::Scatter)
            .style(theme.failure())
            .data(&failed),
    ];
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.border())
        .title(Line::from(format!(
            " latency of the last {} samples (• failed) ",
            m.trend.len()
        )));
    let chart = Chart::new(datasets)
        .block(block)
        .legend_position(None)
        .x_axis(Axis::default().bounds([0.0, n]).style(Style::new()))
        .y_axis(
            Axis::default()
                .bounds([0.0, top])
                .labels(vec![Line::from("0"), Line::from(format!("{top:.1}s"))]),
        );
    frame.render_widget(chart, area);
}
