//! The prompt panel: the route preview in its title, the input, the route as
//! it happens and the streamed answer.

use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::route::Plan;
use crate::tui::app::{App, Focus, PromptRun, PromptState};
use crate::tui::theme::Theme;
use crate::tui::view::INPUT_LINES_MAX;

/// "prompt [chain] → a › b › c (skipping d: unhealthy)", or with symbols
/// for the skipped ones ("skipping d ✗") when that does not fit in `width`.
pub fn title(app: &App, width: u16) -> Line<'static> {
    let width = usize::from(width);
    let mut preview = app.preview();
    // A half-open trial is tried first, beside the next model: say so.
    if let Some(trial) = preview.trial.clone() {
        for name in preview.order.iter_mut().filter(|n| **n == trial) {
            name.push_str(" (trial)");
        }
    }
    let full = title_at(app, &preview, false, usize::MAX);
    if full.width() <= width {
        return full;
    }
    // Then the order cut short ("a › b › +3"), the skips always in view:
    // find how many names fit from the widths, then build the line once.
    let names = &preview.order;
    // The title without any names: take off the " › +N" that keep = 0 adds.
    let all_hidden = if names.is_empty() {
        0
    } else {
        4 + names.len().to_string().len()
    };
    let bare = title_at(app, &preview, true, 0).width() - all_hidden;
    let mut used = bare;
    let mut keep = 0;
    for (i, name) in names.iter().enumerate() {
        let more = names.len() - (i + 1);
        let tail = if more > 0 {
            4 + more.to_string().len()
        } else {
            0
        };
        let sep = if i > 0 { 3 } else { 0 };
        if used + sep + name.chars().count() + tail > width && keep > 0 {
            break;
        }
        used += sep + name.chars().count();
        keep += 1;
    }
    title_at(app, &preview, true, keep.max(1))
}

fn title_at(app: &App, preview: &Plan, compact: bool, keep: usize) -> Line<'static> {
    let theme = app.theme;
    let buffered = if app.buffer_answers { ", buffered" } else { "" };
    let mut spans = vec![
        Span::styled("prompt", theme.title()),
        Span::raw(format!(" [{}{buffered}] → ", app.target_label())),
    ];
    if preview.last_resort {
        spans.push(Span::styled(
            "nothing healthy, will try all: ",
            theme.warn(),
        ));
        spans.push(Span::raw(preview.order.join(" › ")));
    } else if preview.order.is_empty() {
        spans.push(Span::styled(
            "no models (space adds one to the chain)",
            theme.warn(),
        ));
    } else {
        let shown: Vec<&str> = preview
            .order
            .iter()
            .take(keep)
            .map(String::as_str)
            .collect();
        spans.push(Span::raw(shown.join(" › ")));
        if preview.order.len() > shown.len() {
            spans.push(Span::styled(
                format!(" › +{}", preview.order.len() - shown.len()),
                theme.dim(),
            ));
        }
        if !preview.skipped.is_empty() {
            // Compact: symbols for the reasons, and at most two named.
            let named = if compact { 2 } else { usize::MAX };
            let mut skipped: Vec<String> = preview
                .skipped
                .iter()
                .take(named)
                .map(|skip| {
                    if compact {
                        format!("{} {}", skip.model, skip.status.symbol())
                    } else {
                        format!("{}: {}", skip.model, skip.status)
                    }
                })
                .collect();
            if preview.skipped.len() > skipped.len() {
                skipped.push(format!("+{}", preview.skipped.len() - skipped.len()));
            }
            spans.push(Span::styled(
                format!(" (skipping {})", skipped.join(", ")),
                theme.warn(),
            ));
        }
    }
    Line::from(spans)
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    if area.height == 0 || area.width < 3 {
        return;
    }
    let theme = app.theme;
    let focused = app.focus == Focus::Prompt;
    let width = usize::from(area.width);

    // The input: the last lines typed, "> " before the first.
    let input_rows = (app.input.split('\n').count() as u16).clamp(1, INPUT_LINES_MAX);
    let mut lines: Vec<Line> = Vec::new();
    if app.input.is_empty() {
        // Until something is typed: the prompt that was sent (it stays in
        // view above its route and answer), else a hint.
        let shown = match (&app.prompt, focused) {
            (Some(run), _) => run.text.replace('\n', " ⏎ "),
            (None, false) => "press i to type a prompt, t to change where it goes".to_string(),
            (None, true) => String::new(),
        };
        lines.push(Line::from(vec![
            Span::styled("> ", if focused { theme.key() } else { theme.dim() }),
            Span::styled(shown, theme.dim()),
        ]));
    } else {
        let all: Vec<&str> = app.input.split('\n').collect();
        let shown = &all[all.len().saturating_sub(usize::from(input_rows))..];
        for (i, text) in shown.iter().enumerate() {
            let lead = if i == 0 && shown.len() == all.len() {
                "> "
            } else {
                "  "
            };
            // Keep the end of a long line in view: that is where the cursor
            // is. Measured in columns: wide characters take two.
            let room = width.saturating_sub(3);
            let mut used = 0;
            let start = text
                .char_indices()
                .rev()
                .take_while(|(_, c)| {
                    used += c.width().unwrap_or(0);
                    used <= room
                })
                .last()
                .map_or(text.len(), |(i, _)| i);
            let tail = text[start..].to_string();
            lines.push(Line::from(vec![
                Span::styled(lead, theme.key()),
                Span::styled(tail, theme.input()),
            ]));
        }
    }
    let input_area = Rect {
        height: input_rows.min(area.height),
        ..area
    };
    if focused {
        if let Some(last) = lines.last() {
            // With nothing typed, the cursor sits after "> ", not after the
            // dimmed text.
            let typed = if app.input.is_empty() {
                2
            } else {
                last.width() as u16
            };
            let x = area.x + typed.min(area.width - 1);
            let y = input_area.y + input_area.height.saturating_sub(1);
            frame.set_cursor_position(Position::new(x, y));
        }
    }
    frame.render_widget(Paragraph::new(lines), input_area);

    let Some(run) = &app.prompt else {
        return;
    };
    let rest = Rect {
        y: area.y + input_area.height,
        height: area.height - input_area.height,
        ..area
    };
    if rest.height == 0 {
        return;
    }

    let route = flow(route_pieces(run, theme), width, theme);
    let route_rows = (route.len() as u16).min(ROUTE_ROWS_MAX).min(rest.height);
    let route_area = Rect {
        height: route_rows,
        ..rest
    };
    frame.render_widget(Paragraph::new(route), route_area);

    // The answer, wrapped by hand so the newest lines stay in view.
    let answer_area = Rect {
        y: rest.y + route_rows,
        height: rest.height - route_rows,
        ..rest
    };
    if answer_area.height == 0 {
        return;
    }
    let text = answer_text(run);
    let wrapped = wrap(&text, width);
    let shown = &wrapped[wrapped
        .len()
        .saturating_sub(usize::from(answer_area.height))..];
    let lines: Vec<Line> = shown.iter().map(|l| Line::from(l.clone())).collect();
    frame.render_widget(Paragraph::new(lines), answer_area);
}

/// Route lines shown at most.
const ROUTE_ROWS_MAX: u16 = 3;

/// The route's steps: they fill a line and move to the next whole, so a
/// step is never cut in two.
fn route_pieces(run: &PromptRun, theme: Theme) -> Vec<Span<'static>> {
    let mut pieces: Vec<Span> = run
        .steps
        .iter()
        .map(|step| {
            let style = if step.bad { theme.warn() } else { theme.ok() };
            Span::styled(step.text.clone(), style)
        })
        .collect();
    match &run.state {
        PromptState::Running if run.steps.is_empty() => {
            pieces.push(Span::styled("routing…", theme.dim()))
        }
        PromptState::Running => pieces.push(Span::styled("esc cancels", theme.dim())),
        PromptState::Answered => {}
        PromptState::Failed(_) => pieces.push(Span::styled("every model failed", theme.failure())),
        PromptState::Refused(_) => pieces.push(Span::styled("refused", theme.failure())),
        PromptState::BrokeOff(_) => pieces.push(Span::styled(
            "the answer broke off (nothing stitched) · r sends it again · b buffers answers",
            theme.failure(),
        )),
        PromptState::Cancelled => pieces.push(Span::styled("cancelled", theme.warn())),
    }
    pieces
}

fn answer_text(run: &PromptRun) -> String {
    match &run.state {
        PromptState::Failed(message) | PromptState::Refused(message) if run.answer.is_empty() => {
            message.clone()
        }
        _ => run.answer.clone(),
    }
}

/// Rows the route and the answer need below the input at `width`, at most
/// `cap`: the layout gives the prompt panel no more than it fills.
pub fn body_rows(app: &App, width: u16, cap: u16) -> u16 {
    let Some(run) = &app.prompt else {
        return 0;
    };
    let width = usize::from(width.max(1));
    let route = flow(route_pieces(run, app.theme), width, app.theme)
        .len()
        .min(usize::from(ROUTE_ROWS_MAX));
    // Counting the lines of a long answer's start is enough to know it
    // fills the cap.
    let text = answer_text(run);
    let start: String = text
        .chars()
        .take(usize::from(cap) * width * 2 + 1)
        .collect();
    let answer = wrap(&start, width).len();
    (route + answer).clamp(1, usize::from(cap.max(1))) as u16
}

/// Lays pieces out on lines of `width`, " · " between them, a piece that
/// does not fit on the current line starting the next.
fn flow(pieces: Vec<Span<'static>>, width: usize, theme: Theme) -> Vec<Line<'static>> {
    let mut lines: Vec<Line> = Vec::new();
    let mut current: Vec<Span> = Vec::new();
    let mut used = 0;
    for piece in pieces {
        let w = piece.width();
        if !current.is_empty() && used + 3 + w > width {
            lines.push(Line::from(std::mem::take(&mut current)));
            used = 0;
        }
        if !current.is_empty() {
            current.push(Span::styled(" · ", theme.dim()));
            used += 3;
        }
        used += w;
        current.push(piece);
    }
    if !current.is_empty() {
        lines.push(Line::from(current));
    }
    lines
}

/// Wraps at `width` characters, breaking after the last space that fits
/// (a word longer than the line is cut).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    for line in text.split('\n') {
        let mut current = String::new();
        let mut cols = 0;
        // Byte offset of the last space in `current`: where to break.
        let mut last_space: Option<usize> = None;
        for c in line.chars().filter(|c| *c != '\r') {
            // Columns, not chars: a CJK character or an emoji takes two.
            let w = c.width().unwrap_or(0);
            if cols + w > width && !current.is_empty() {
                if c == ' ' {
                    out.push(std::mem::take(&mut current));
                    cols = 0;
                    last_space = None;
                    continue;
                }
                match last_space.filter(|at| *at > 0) {
                    Some(at) => {
                        let rest = current.split_off(at + 1);
                        out.push(current.trim_end().to_string());
                        current = rest;
                    }
                    None => out.push(std::mem::take(&mut current)),
                }
                cols = current.width();
                last_space = None;
            }
            if c == ' ' {
                last_space = Some(current.len());
            }
            current.push(c);
            cols += w;
        }
        out.push(current);
    }
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wraps_at_spaces_and_cuts_long_words() {
        assert_eq!(
            wrap("the quick brown fox", 10),
            vec!["the quick", "brown fox"]
        );
        assert_eq!(wrap("abcdefghijkl", 5), vec!["abcde", "fghij", "kl"]);
        assert_eq!(wrap("a\n\nb\n\n", 5), vec!["a", "", "b"]);
        assert_eq!(wrap("exactly ten", 11), vec!["exactly ten"]);
        assert_eq!(wrap("abcd efgh", 4), vec!["abcd", "efgh"]);
        // Wide characters take two columns each.
        assert_eq!(wrap("日本語テキスト", 6), vec!["日本語", "テキス", "ト"]);
        assert_eq!(wrap("ok 日本語", 5), vec!["ok", "日本", "語"]);
        assert!(wrap("", 3).is_empty());
    }
}
