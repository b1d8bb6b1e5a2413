//! The models table: one row per model, columns dropped by priority as the
//! terminal narrows, and flexible columns that take the spare width.
//!
//! Widths do not move when a state changes: they come from what does not
//! change while running (names, ids, the list of every status), numbers
//! have fixed formats right-aligned, the last failure's time a fixed
//! width; a name longer than its column is cut in the middle.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use crate::fmt::{describe_failure, fmt_ago, fmt_ratio, fmt_secs};
use crate::health::{ModelSnapshot, Status, TrendPoint};

use crate::tui::app::{served_differs, App};
use crate::tui::text::{clock_short, ellipsize_middle, CLOCK_SHORT_WIDTH};
use crate::tui::theme::Theme;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Pos,
    Name,
    Provider,
    Status,
    Ratio,
    Samples,
    P50,
    P95,
    Ttft,
    Tps,
    LastFailure,
    Served,
    Trend,
}

struct Spec {
    col: Col,
    title: &'static str,
    width: u16,
    /// Extra width it may take from the spare room.
    grow: u16,
}

const SPACING: u16 = 1;

/// Columns in the order they are dropped last-first: the first ones stay at
/// any width.
const PRIORITY: [Col; 13] = [
    Col::Name,
    Col::Status,
    Col::Pos,
    Col::Ratio,
    Col::LastFailure,
    Col::P95,
    Col::Trend,
    Col::Samples,
    Col::Provider,
    Col::Ttft,
    Col::P50,
    Col::Tps,
    Col::Served,
];

/// Screen order.
const ORDER: [Col; 13] = [
    Col::Pos,
    Col::Name,
    Col::Provider,
    Col::Status,
    Col::Ratio,
    Col::Samples,
    Col::P50,
    Col::P95,
    Col::Ttft,
    Col::Tps,
    Col::LastFailure,
    Col::Served,
    Col::Trend,
];

fn max_len<'a>(items: impl Iterator<Item = &'a str>) -> u16 {
    items.map(|s| s.chars().count()).max().unwrap_or(0) as u16
}

/// The widest "✓ healthy" of every status.
fn status_width() -> u16 {
    2 + max_len(Status::ALL.iter().map(|s| s.as_str()))
}

/// Columns of "3m ago" / "11:57:03" before a failure's words.
fn when_width(app: &App) -> usize {
    if app.clock {
        CLOCK_SHORT_WIDTH
    } else {
        "just now".len()
    }
}

fn spec(col: Col, app: &App) -> Spec {
    let models = &app.models;
    let (title, width, grow) = match col {
        Col::Pos => ("#", 3, 0),
        Col::Name => (
            "model",
            max_len(models.iter().map(|m| m.name.as_str())).clamp(5, 24),
            0,
        ),
        Col::Provider => (
            "provider",
            max_len(models.iter().map(ModelSnapshot::provider)).clamp(8, 14),
            0,
        ),
        Col::Status => ("status", status_width(), 0),
        Col::Ratio => ("ok%", 5, 0),
        Col::Samples => ("n", 4, 0),
        Col::P50 => ("p50", 5, 0),
        Col::P95 => ("p95", 5, 0),
        Col::Ttft => ("ttft", 5, 0),
        Col::Tps => ("tok/s", 5, 0),
        Col::LastFailure => ("last failure", 18, 40),
        // From the ids, which do not change: served names look like them.
        Col::Served => (
            "served",
            max_len(models.iter().map(|m| m.id.as_str())).clamp(6, 40),
            0,
        ),
        Col::Trend => ("trend", 8, 52),
    };
    Spec {
        col,
        title,
        width,
        grow,
    }
}

/// The columns that fit in `width`, in screen order, with their widths.
pub fn columns(app: &App, width: u16) -> Vec<(Col, &'static str, u16)> {
    let any_served = app.served_seen;
    let mut chosen: Vec<Spec> = Vec::new();
    let mut used: u16 = 0;
    for col in PRIORITY {
        if col == Col::Served && !any_served {
            continue;
        }
        let s = spec(col, app);
        let need = s.width + if chosen.is_empty() { 0 } else { SPACING };
        if used + need <= width {
            used += need;
            chosen.push(s);
        }
    }
    // Hand the spare width to the columns that can use it: some to the last
    // failure's message, then the trend, then the rest to the message.
    let mut spare = width.saturating_sub(used);
    for (col, cap) in [(Col::LastFailure, 14), (Col::Trend, 52)] {
        if let Some(s) = chosen.iter_mut().find(|s| s.col == col) {
            let extra = cap.min(s.grow).min(spare);
            s.width += extra;
            spare -= extra;
        }
    }
    if let Some(s) = chosen.iter_mut().find(|s| s.col == Col::LastFailure) {
        s.width += spare;
    }
    let mut out: Vec<(Col, &'static str, u16)> = Vec::new();
    for col in ORDER {
        if let Some(s) = chosen.iter().find(|s| s.col == col) {
            out.push((s.col, s.title, s.width));
        }
    }
    out
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    let theme = app.theme;
    let cols = columns(app, area.width);
    let rows = app.rows();
    let selected = app.selected_row(&rows);
    let body = usize::from(area.height.saturating_sub(1));
    let buf = frame.buffer_mut();

    // Widths are known exactly, so cells are placed directly: the Table
    // widget's constraint solver cost more than everything else per frame.
    let header: Vec<Cell> = cols
        .iter()
        .map(|(col, title, _)| {
            if is_numeric(*col) {
                Cell::Right(Line::from(*title))
            } else {
                Cell::Left(Line::from(*title))
            }
        })
        .collect();
    put_row(buf, area.x, area.y, &cols, header, theme.header_row());

    let visible = rows.iter().enumerate().skip(app.offset).take(body);
    for (n, (row, i)) in visible.enumerate() {
        let Some(m) = app.models.get(*i) else {
            continue;
        };
        let y = area.y + 1 + n as u16;
        let style = if row == selected && app.focus != crate::tui::app::Focus::Prompt {
            theme.selected()
        } else {
            Style::new()
        };
        let cells: Vec<Cell> = cols
            .iter()
            .map(|(col, _, width)| cell(*col, m, app, *width, theme))
            .collect();
        put_row(buf, area.x, y, &cols, cells, style);
    }

    if rows.is_empty() && area.height > 1 {
        let words = if app.models.is_empty() {
            "waiting for the first probes…".to_string()
        } else {
            format!(
                "no model matches /{} (esc clears the filter)",
                app.filter.text()
            )
        };
        let msg = Line::from(Span::styled(words, theme.dim()));
        buf.set_line(area.x, area.y + 1, &msg, area.width);
    }
}

fn is_numeric(col: Col) -> bool {
    matches!(
        col,
        Col::Pos | Col::Ratio | Col::Samples | Col::P50 | Col::P95 | Col::Ttft | Col::Tps
    )
}

/// A cell's text and which side of its column it keeps to.
enum Cell {
    Left(Line<'static>),
    Right(Line<'static>),
}

fn put_row(
    buf: &mut Buffer,
    x0: u16,
    y: u16,
    cols: &[(Col, &'static str, u16)],
    cells: Vec<Cell>,
    style: Style,
) {
    let total: u16 = cols
        .iter()
        .map(|(_, _, w)| w + SPACING)
        .sum::<u16>()
        .saturating_sub(SPACING);
    buf.set_style(Rect::new(x0, y, total, 1), style);
    let mut x = x0;
    for ((_, _, width), cell) in cols.iter().zip(cells) {
        match cell {
            Cell::Left(line) => {
                buf.set_line(x, y, &line, *width);
            }
            Cell::Right(line) => {
                let w = (line.width() as u16).min(*width);
                buf.set_line(x + width - w, y, &line, w);
            }
        }
        x = x.saturating_add(width + SPACING);
    }
}

fn right(text: String) -> Cell {
    Cell::Right(Line::from(text))
}

fn left(line: impl Into<Line<'static>>) -> Cell {
    Cell::Left(line.into())
}

fn dash() -> String {
    "—".to_string()
}

fn cell(col: Col, m: &ModelSnapshot, app: &App, width: u16, theme: Theme) -> Cell {
    match col {
        Col::Pos => match app.chain.position(&m.name) {
            Some(p) => right(p.to_string()),
            None => right("·".to_string()),
        },
        Col::Name => left(ellipsize_middle(&m.name, usize::from(width))),
        Col::Provider => left(m.provider().to_string()),
        Col::Status => left(Span::styled(m.status.label(), theme.status(m.status))),
        Col::Ratio => right(ratio_text(m.ratio, m.recovery.is_some())),
        Col::Samples => right(m.counted.to_string()),
        Col::P50 => right(m.latency.map_or_else(dash, |l| fmt_secs(l.p50))),
        Col::P95 => right(m.latency.map_or_else(dash, |l| fmt_secs(l.p95))),
        Col::Ttft => right(m.ttft.map_or_else(dash, |t| fmt_secs(t.p50))),
        Col::Tps => right(m.tokens_per_s.map_or_else(dash, |t| format!("{t:.0}"))),
        Col::LastFailure => {
            let mut spans = recovery_spans(m, app, theme);
            // Times line up in a fixed width, except after a recovery's
            // words, where the padding would only cut the failure short.
            let w = if spans.is_empty() { when_width(app) } else { 0 };
            match &m.last_failure {
                Some(f) => spans.extend([
                    Span::styled(format!("{:<w$}", when(f.at, app)), theme.dim()),
                    Span::raw(" "),
                    Span::raw(describe_failure(
                        f.class,
                        f.http_status,
                        Some(f.message.as_str()),
                    )),
                ]),
                None => spans.push(Span::styled(dash(), theme.dim())),
            }
            left(Line::from(spans))
        }
        Col::Served => left(ellipsize_middle(
            served_differs(m).unwrap_or_default(),
            usize::from(width),
        )),
        Col::Trend => left(sparkline(&m.trend, usize::from(width), theme)),
    }
}

/// The window's ratio; marked "↻" when the verdict rests on the samples
/// since a re-admission instead, because the window still holds an outage
/// (so a low figure beside a routable status is explained, not a lie).
pub fn ratio_text(ratio: Option<f64>, holds_outage: bool) -> String {
    let figure = fmt_ratio(ratio);
    if holds_outage && ratio.is_some() {
        format!("↻{figure}")
    } else {
        figure
    }
}

/// "3/6 ok since 12:04 · " before the last failure of a recovering model
/// ("6 ok since 12:04 · " once it has recovered): the samples its verdict
/// rests on.
fn recovery_spans(m: &ModelSnapshot, app: &App, theme: Theme) -> Vec<Span<'static>> {
    let Some(r) = m.recovery else {
        return Vec::new();
    };
    let since = r.since.with_timezone(&app.tz).format("%H:%M");
    let text = if m.status == Status::Recovering {
        format!("{}/{} ok since {since}", r.ok, r.needed)
    } else {
        format!("{} ok since {since}", r.ok)
    };
    vec![
        Span::styled(text, theme.status(Status::Recovering)),
        Span::styled(" · ", theme.dim()),
    ]
}

/// "3m ago", or with clock times on, "11:57:03".
fn when(at: chrono::DateTime<chrono::Utc>, app: &App) -> String {
    if app.clock {
        clock_short(at, app.now, app.tz)
    } else {
        fmt_ago(at, app.now)
    }
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The last `width` trend points as bars scaled to their own range; a
/// failure is a red cross, so a run of outages shows at a glance.
pub fn sparkline(trend: &[TrendPoint], width: usize, theme: Theme) -> Line<'static> {
    let points = &trend[trend.len().saturating_sub(width)..];
    let (lo, hi) = points
        .iter()
        .filter_map(|p| match p {
            TrendPoint::Ok(ms) => Some(*ms),
            TrendPoint::Failed => None,
        })
        .fold((u32::MAX, 0), |(lo, hi), ms| (lo.min(ms), hi.max(ms)));
    let mut spans: Vec<Span> = Vec::new();
    let mut run = String::new();
    for p in points {
        match p {
            TrendPoint::Ok(ms) => {
                let level = if hi > lo {
                    ((u64::from(ms - lo) * 7) / u64::from(hi - lo)) as usize
                } else {
                    1
                };
                run.push(BARS[level.min(7)]);
            }
            TrendPoint::Failed => {
                if !run.is_empty() {
                    spans.push(Span::raw(std::mem::take(&mut run)));
                }
                spans.push(Span::styled("×", theme.failure()));
            }
        }
    }
    if !run.is_empty() {
        spans.push(Span::raw(run));
    }
    Line::from(spans)
}
