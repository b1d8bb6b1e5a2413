//! Screen tests: keys → actions → state, and insta snapshots of the screen
//! drawn on `TestBackend` from fixed state (fixed `now`, fixed snapshots).

mod support;

use std::time::Duration;

use chainwatch::api::{Attempt, Failure, FailureClass, Usage};
use chainwatch::config::Tier;
use chainwatch::health::{HealthEvent, HealthEventKind, Status};
use chainwatch::route::{
    AttemptRecord, AttemptRole, ChainEdit, RouteAnswer, RouteEvent, RouteFailure, RouteTarget, Skip,
};
use chainwatch::tui::app::{Action, Command, Focus, PromptState, Sort, EVENTS_CAP};
use chainwatch::tui::{view, App};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use support::fixture::{self, now};

fn key(app: &mut App, code: KeyCode) -> Vec<Command> {
    app.update(Action::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn ch(app: &mut App, c: char) -> Vec<Command> {
    let mods = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    app.update(Action::Key(KeyEvent::new(KeyCode::Char(c), mods)))
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        ch(app, c);
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The screen as plain text, one line per row, trailing blanks trimmed.
fn screen(app: &App) -> String {
    let (w, h) = app.size;
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| view::draw(f, app)).unwrap();
    let buf = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..h {
        let line: String = (0..w).map(|x| buf[(x, y)].symbol()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn attempt(ok: bool, ttft_ms: u64, total_ms: u64) -> Attempt {
    Attempt {
        failure: (!ok).then(|| Failure {
            class: FailureClass::ServerError,
            message: "provider unavailable".into(),
            retry_after: None,
        }),
        http_status: Some(if ok { 200 } else { 502 }),
        ttft: ok.then(|| Duration::from_millis(ttft_ms)),
        ..Attempt::blank(now(), Duration::from_millis(total_ms))
    }
}

fn answer() -> RouteAnswer {
    RouteAnswer {
        model: "claude-sonnet".into(),
        model_id: "anthropic/claude-sonnet-4".into(),
        served_model: Some("anthropic/claude-sonnet-4".into()),
        served_by: Some("Anthropic".into()),
        ttft: Some(Duration::from_millis(400)),
        total: Duration::from_millis(1300),
        usage: Some(Usage {
            prompt_tokens: 12,
            completion_tokens: 40,
            cost: Some(0.0004),
            reasoning_tokens: None,
        }),
        cost: Some(0.0004),
        text: "Two issues: the SQL query concatenates user input (use bound parameters), \
               and the session cookie lacks the Secure flag."
            .into(),
        attempts: vec![AttemptRecord {
            model: "claude-sonnet".into(),
            hedged: false,
            cancelled: false,
            attempt: attempt(true, 400, 1300),
            role: AttemptRole::Planned,
            running: false,
        }],
        skipped: vec![Skip {
            model: "gpt-4o".into(),
            status: Status::Unhealthy,
            reason: "9/15 ok".into(),
        }],
        last_resort: false,
    }
}

/// Sends a prompt and feeds the route events up to the first words.
fn prompt_in_flight(app: &mut App) -> u64 {
    ch(app, 'i');
    typed(app, "Review this code for security issues");
    let cmds = key(app, KeyCode::Enter);
    let id = match cmds.as_slice() {
        [Command::Send { id, .. }] => *id,
        other => panic!("expected one Send, got {other:?}"),
    };
    let events = vec![
        RouteEvent::Plan {
            order: names(&["claude-sonnet", "gemini-pro"]),
            skipped: vec![
                Skip {
                    model: "gpt-4o".into(),
                    status: Status::Unhealthy,
                    reason: "9/15 ok".into(),
                },
                Skip {
                    model: "deepseek".into(),
                    status: Status::RateLimited,
                    reason: "429".into(),
                },
            ],
            last_resort: false,
        },
        RouteEvent::Trying {
            model: "claude-sonnet".into(),
            hedge: false,
        },
        RouteEvent::FirstToken {
            model: "claude-sonnet".into(),
            ttft: Duration::from_millis(400),
        },
        RouteEvent::Delta {
            model: "claude-sonnet".into(),
            text: "Two issues: the SQL query".into(),
        },
    ];
    for event in events {
        app.update(Action::Route { id, event });
    }
    id
}

// ---------------------------------------------------------------- update

#[test]
fn reorder_with_j_and_k_saves_the_chain() {
    let mut app = fixture::app(120, 32);
    assert_eq!(app.selected.as_deref(), Some("claude-sonnet"));
    let cmds = ch(&mut app, 'J');
    let order = names(&["gpt-4o", "claude-sonnet", "gemini-pro", "deepseek"]);
    assert_eq!(
        cmds,
        vec![Command::EditChain(ChainEdit::Shift {
            model: "claude-sonnet".into(),
            by: 1
        })]
    );
    assert_eq!(app.chain.order(), order, "shown at once");
    assert_eq!(
        app.selected.as_deref(),
        Some("claude-sonnet"),
        "selection follows"
    );
    // In chain order the row moved too.
    let rows = app.rows();
    assert_eq!(app.selected_row(&rows), 1);
    // Shift+↑ moves it back; K at the top does nothing and saves nothing.
    let cmds = app.update(Action::Key(KeyEvent::new(KeyCode::Up, KeyModifiers::SHIFT)));
    assert_eq!(cmds.len(), 1);
    assert_eq!(app.chain.position("claude-sonnet"), Some(1));
    assert!(ch(&mut app, 'K').is_empty());
}

#[test]
fn toggle_reset_and_models_outside_the_chain() {
    let mut app = fixture::app(120, 32);
    // Row 5 is gemini-flash: not in the chain.
    for _ in 0..4 {
        ch(&mut app, 'j');
    }
    assert_eq!(app.selected.as_deref(), Some("gemini-flash"));
    assert!(
        ch(&mut app, 'J').is_empty(),
        "not in the chain: nothing to move"
    );
    assert!(app.flash_text().unwrap().contains("not in the chain"));
    let cmds = ch(&mut app, ' ');
    assert_eq!(
        cmds,
        vec![Command::EditChain(ChainEdit::Add {
            model: "gemini-flash".into(),
            at: None
        })]
    );
    assert_eq!(
        app.chain.order(),
        names(&[
            "claude-sonnet",
            "gpt-4o",
            "gemini-pro",
            "deepseek",
            "gemini-flash"
        ])
    );
    ch(&mut app, ' ');
    assert!(!app.chain.contains("gemini-flash"));
    ch(&mut app, 'K');
    ch(&mut app, 'k');
    ch(&mut app, 'K');
    assert!(ch(&mut app, 'R').is_empty(), "R asks first");
    let cmds = ch(&mut app, 'y');
    assert_eq!(cmds, vec![Command::EditChain(ChainEdit::Reset)]);
    assert_eq!(
        app.chain.order(),
        names(&["claude-sonnet", "gpt-4o", "gemini-pro", "deepseek"])
    );
}

#[test]
fn saved_edits_and_outside_changes_set_the_order_and_are_events() {
    let mut app = fixture::app(120, 32);
    ch(&mut app, 'J');
    ch(&mut app, 'J');
    assert_eq!(app.chain_pending, 2);
    let edit = ChainEdit::Shift {
        model: "claude-sonnet".into(),
        by: 1,
    };
    // Another process had moved deepseek to the top: the saved results
    // carry it. The first result does not undo the second edit on screen.
    let first = names(&["deepseek", "gpt-4o", "claude-sonnet", "gemini-pro"]);
    app.update(Action::ChainSaved {
        edit: edit.clone(),
        order: first,
        error: None,
    });
    assert_eq!(
        app.chain.order(),
        names(&["gpt-4o", "gemini-pro", "claude-sonnet", "deepseek"]),
        "still this dashboard's own order while an edit is on its way"
    );
    let second = names(&["deepseek", "gpt-4o", "gemini-pro", "claude-sonnet"]);
    app.update(Action::ChainSaved {
        edit,
        order: second.clone(),
        error: None,
    });
    assert_eq!(app.chain.order(), second);
    assert_eq!(app.events[0].text, "chain: moved claude-sonnet down");

    let outside = names(&["gemini-pro", "deepseek"]);
    app.update(Action::ChainOutside {
        order: outside.clone(),
    });
    assert_eq!(app.chain.order(), outside);
    assert_eq!(
        app.events[0].text,
        "chain changed by another process: gemini-pro › deepseek"
    );

    // A refused edit says why and shows the order on disk.
    ch(&mut app, 'R');
    ch(&mut app, 'y');
    app.update(Action::ChainSaved {
        edit: ChainEdit::Reset,
        order: outside.clone(),
        error: Some("disk full".into()),
    });
    assert_eq!(app.chain.order(), outside);
    assert!(app.events[0]
        .text
        .contains("could not save \"reset to the config's order\": disk full"));
}

#[test]
fn reset_asks_and_every_chain_edit_can_be_undone() {
    let mut app = fixture::app(120, 32);
    let config_order = names(&["claude-sonnet", "gpt-4o", "gemini-pro", "deepseek"]);
    // Nothing to reset yet: no question.
    assert!(ch(&mut app, 'R').is_empty());
    assert!(app.confirm.is_none());
    assert!(app.flash_text().unwrap().contains("already"));

    // T moves gemini-pro to the top.
    ch(&mut app, 'j');
    ch(&mut app, 'j');
    assert_eq!(app.selected.as_deref(), Some("gemini-pro"));
    let top = names(&["gemini-pro", "claude-sonnet", "gpt-4o", "deepseek"]);
    let gemini = || "gemini-pro".to_string();
    assert_eq!(
        ch(&mut app, 'T'),
        vec![Command::EditChain(ChainEdit::Top { model: gemini() })]
    );
    assert_eq!(app.chain.order(), top);
    // Out of the chain.
    let out = names(&["claude-sonnet", "gpt-4o", "deepseek"]);
    assert_eq!(
        ch(&mut app, ' '),
        vec![Command::EditChain(ChainEdit::Remove { model: gemini() })]
    );
    assert_eq!(app.chain.order(), out);

    // R asks; n (or esc, or any other key) keeps the chain as it is.
    assert!(ch(&mut app, 'R').is_empty());
    assert!(app.confirm.is_some());
    assert!(screen(&app).contains("Reset the chain to the config's order?"));
    assert!(ch(&mut app, 'n').is_empty());
    assert!(app.confirm.is_none());
    assert_eq!(app.chain.order(), out);
    ch(&mut app, 'R');
    assert!(key(&mut app, KeyCode::Esc).is_empty());
    assert_eq!(app.chain.order(), out);
    // Enter says yes.
    ch(&mut app, 'R');
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Command::EditChain(ChainEdit::Reset)]
    );
    assert_eq!(app.chain.order(), config_order);

    // u walks back through the edits, each undo sent like an edit.
    assert_eq!(
        ch(&mut app, 'u'),
        vec![Command::EditChain(ChainEdit::Restore {
            order: out.clone()
        })]
    );
    assert_eq!(app.chain.order(), out);
    assert!(app.flash_text().unwrap().contains("undone: reset"));
    assert_eq!(
        ch(&mut app, 'u'),
        vec![Command::EditChain(ChainEdit::Add {
            model: gemini(),
            at: Some(1)
        })]
    );
    assert_eq!(app.chain.order(), top);
    assert_eq!(
        ch(&mut app, 'u'),
        vec![Command::EditChain(ChainEdit::Move {
            model: gemini(),
            to: 3
        })]
    );
    assert_eq!(app.chain.order(), config_order);
    assert!(ch(&mut app, 'u').is_empty());
    assert_eq!(app.flash_text(), Some("nothing to undo"));
    assert!(app.history.is_empty());
}

#[test]
fn undo_history_is_bounded() {
    let mut app = fixture::app(120, 32);
    for _ in 0..(chainwatch::tui::app::UNDO_DEPTH + 5) {
        ch(&mut app, 'J');
        ch(&mut app, 'K');
    }
    assert_eq!(app.history.len(), chainwatch::tui::app::UNDO_DEPTH);
}

#[test]
fn preview_follows_chain_edits_at_once() {
    let mut app = fixture::app(120, 32);
    let p = app.preview();
    assert_eq!(p.order, names(&["claude-sonnet", "gemini-pro"]));
    let skipped: Vec<(&str, Status)> = p
        .skipped
        .iter()
        .map(|s| (s.model.as_str(), s.status))
        .collect();
    assert_eq!(
        skipped,
        vec![
            ("gpt-4o", Status::Unhealthy),
            ("deepseek", Status::RateLimited)
        ]
    );
    ch(&mut app, 'j');
    ch(&mut app, 'j'); // gemini-pro
    ch(&mut app, 'K');
    ch(&mut app, 'K');
    assert_eq!(app.preview().order, names(&["gemini-pro", "claude-sonnet"]));
    assert!(screen(&app).contains("prompt [chain] → gemini-pro › claude-sonnet (skipping"));
}

#[test]
fn selection_stays_in_bounds_and_scrolls() {
    let mut app = fixture::many(150, 80, 24);
    ch(&mut app, 'k');
    assert_eq!(app.selected.as_deref(), Some("model-000"));
    key(&mut app, KeyCode::End);
    assert_eq!(app.selected.as_deref(), Some("model-149"));
    ch(&mut app, 'j');
    assert_eq!(app.selected.as_deref(), Some("model-149"));
    let body = view::layout(app.area(), &app).table_body.height as usize;
    assert_eq!(app.offset, 150 - body, "the last row is in view");
    assert!(screen(&app).contains("model-149"));
    key(&mut app, KeyCode::PageUp);
    let rows = app.rows();
    assert_eq!(app.selected_row(&rows), 149 - body);
    key(&mut app, KeyCode::Home);
    assert_eq!(app.offset, 0);
}

#[test]
fn mouse_click_selects_a_row() {
    let mut app = fixture::app(120, 32);
    let body = view::layout(app.area(), &app).table_body;
    app.update(Action::Mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: body.x + 3,
        row: body.y + 2,
        modifiers: KeyModifiers::NONE,
    }));
    assert_eq!(app.selected.as_deref(), Some("gemini-pro"));
    // A click below the last row changes nothing.
    app.update(Action::Mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: body.x + 3,
        row: body.y + 20,
        modifiers: KeyModifiers::NONE,
    }));
    assert_eq!(app.selected.as_deref(), Some("gemini-pro"));
}

#[test]
fn sort_cycles_and_status_sort_puts_the_worst_first() {
    let mut app = fixture::app(120, 32);
    ch(&mut app, 's');
    assert_eq!(app.sort, Sort::Status);
    let first = app.rows()[0];
    assert_eq!(app.models[first].name, "gpt-4o");
    ch(&mut app, 's');
    assert_eq!(app.sort, Sort::Name);
    assert_eq!(app.models[app.rows()[0]].name, "claude-sonnet");
    ch(&mut app, 's');
    assert_eq!(app.sort, Sort::P95);
    assert_eq!(app.models[app.rows()[0]].name, "gpt-4o", "slowest first");
    ch(&mut app, 's');
    assert_eq!(app.sort, Sort::Chain);
}

#[test]
fn target_cycles_chain_tiers_then_the_selected_model() {
    let mut app = fixture::app(120, 32);
    let mut seen = vec![app.target.clone()];
    for _ in 0..5 {
        ch(&mut app, 't');
        seen.push(app.target.clone());
    }
    assert_eq!(
        seen,
        vec![
            RouteTarget::Chain,
            RouteTarget::Tier(Tier::Premium),
            RouteTarget::Tier(Tier::Standard),
            RouteTarget::Tier(Tier::Budget),
            RouteTarget::Model("claude-sonnet".into()),
            RouteTarget::Chain,
        ]
    );
}

#[test]
fn focus_typing_and_leaving_the_prompt() {
    let mut app = fixture::app(120, 32);
    ch(&mut app, 'i');
    assert_eq!(app.focus, Focus::Prompt);
    // Keys that mean something in the table are text here.
    typed(&mut app, "q Jk");
    assert_eq!(app.focus, Focus::Prompt);
    assert!(!app.quit);
    app.update(Action::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::ALT,
    )));
    typed(&mut app, "x");
    key(&mut app, KeyCode::Backspace);
    assert_eq!(app.input, "q Jk\n");
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.focus, Focus::Table);
    assert_eq!(app.input, "q Jk\n", "leaving keeps the draft");
    // An empty prompt is not sent (`:` types a prompt too).
    ch(&mut app, ':');
    assert_eq!(app.focus, Focus::Prompt);
    app.update(Action::Key(KeyEvent::new(
        KeyCode::Char('u'),
        KeyModifiers::CONTROL,
    )));
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    // Ctrl-C quits from anywhere.
    let cmds = app.update(Action::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
    )));
    assert_eq!(cmds, vec![Command::Quit]);
    assert!(app.quit);
}

#[test]
fn views_help_and_probe_commands() {
    let mut app = fixture::app(120, 32);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.focus, Focus::Detail);
    assert_eq!(ch(&mut app, 'a'), vec![], "claude-sonnet has no drift");
    ch(&mut app, 'j');
    ch(&mut app, 'j');
    assert_eq!(
        ch(&mut app, 'a'),
        vec![Command::AckDrift("gemini-pro".into())]
    );
    assert_eq!(
        ch(&mut app, 'p'),
        vec![Command::ProbeNow(Some("gemini-pro".into()))]
    );
    ch(&mut app, '?');
    assert_eq!(app.focus, Focus::Help);
    ch(&mut app, 'x');
    assert_eq!(app.focus, Focus::Detail, "help returns where it came from");
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.focus, Focus::Table);
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, Focus::Providers);
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, Focus::Table);
    assert_eq!(ch(&mut app, 'P'), vec![Command::ProbeNow(None)]);
    assert_eq!(ch(&mut app, 'q'), vec![Command::Quit]);
}

#[test]
fn send_stream_answer_and_ignore_stale_events() {
    let mut app = fixture::app(120, 32);
    let id = prompt_in_flight(&mut app);
    let p = app.prompt.as_ref().unwrap();
    assert_eq!(p.state, PromptState::Running);
    assert_eq!(p.answer, "Two issues: the SQL query");
    let steps: Vec<&str> = p.steps.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(
        steps,
        vec![
            "gpt-4o skipped: unhealthy",
            "deepseek skipped: rate_limited",
            "claude-sonnet: first token 400ms"
        ]
    );
    app.update(Action::RouteDone {
        id,
        result: Ok(answer()),
    });
    let p = app.prompt.as_ref().unwrap();
    assert_eq!(p.state, PromptState::Answered);
    assert_eq!(
        p.steps.last().unwrap().text,
        "answered in 1.3s, served anthropic/claude-sonnet-4 via Anthropic, $0.0004"
    );
    assert!(app.events[0].text.contains("answered by claude-sonnet"));
    // Events of an older prompt change nothing.
    app.update(Action::Route {
        id: id + 7,
        event: RouteEvent::Delta {
            model: "x".into(),
            text: "stale".into(),
        },
    });
    assert!(!app.prompt.as_ref().unwrap().answer.contains("stale"));
}

#[test]
fn esc_cancels_a_running_prompt_then_leaves() {
    let mut app = fixture::app(120, 32);
    let id = prompt_in_flight(&mut app);
    assert_eq!(app.focus, Focus::Prompt);
    assert_eq!(key(&mut app, KeyCode::Esc), vec![Command::CancelPrompt]);
    assert_eq!(app.prompt.as_ref().unwrap().state, PromptState::Cancelled);
    assert_eq!(app.focus, Focus::Prompt, "the first Esc only cancels");
    // The aborted task's late result is ignored.
    app.update(Action::RouteDone {
        id,
        result: Ok(answer()),
    });
    assert_eq!(app.prompt.as_ref().unwrap().state, PromptState::Cancelled);
    assert!(key(&mut app, KeyCode::Esc).is_empty());
    assert_eq!(app.focus, Focus::Table);
}

#[test]
fn esc_in_the_detail_view_goes_back_without_cancelling_the_prompt() {
    let mut app = fixture::app(120, 32);
    prompt_in_flight(&mut app);
    key(&mut app, KeyCode::Esc); // cancels: the prompt panel is in view
    prompt_in_flight(&mut app);
    app.focus = Focus::Detail;
    assert!(
        key(&mut app, KeyCode::Esc).is_empty(),
        "nothing to cancel from here"
    );
    assert_eq!(app.focus, Focus::Table);
    assert_eq!(app.prompt.as_ref().unwrap().state, PromptState::Running);
}

#[test]
fn a_paste_is_typed_into_the_prompt_and_never_sent_by_its_newlines() {
    let mut app = fixture::app(120, 32);
    let cmds = app.update(Action::Paste("fn main() {\r\n    todo!()\r\n}".into()));
    assert!(cmds.is_empty(), "{cmds:?}");
    assert_eq!(app.focus, Focus::Prompt);
    assert_eq!(app.input, "fn main() {\n    todo!()\n}");
    assert!(app.prompt.is_none());
}

#[test]
fn sending_while_running_cancels_the_first() {
    let mut app = fixture::app(120, 32);
    prompt_in_flight(&mut app);
    typed(&mut app, "again");
    let cmds = key(&mut app, KeyCode::Enter);
    assert_eq!(cmds.first(), Some(&Command::CancelPrompt));
    assert!(matches!(cmds.get(1), Some(Command::Send { text, .. }) if text == "again"));
}

#[test]
fn a_failed_route_lists_every_attempt() {
    let mut app = fixture::app(120, 32);
    ch(&mut app, 'i');
    typed(&mut app, "hi");
    let id = match key(&mut app, KeyCode::Enter).as_slice() {
        [Command::Send { id, .. }] => *id,
        other => panic!("{other:?}"),
    };
    let failure = RouteFailure {
        attempts: vec![AttemptRecord {
            model: "claude-sonnet".into(),
            hedged: false,
            cancelled: false,
            attempt: attempt(false, 0, 300),
            role: AttemptRole::Planned,
            running: false,
        }],
        skipped: vec![],
        last_resort: false,
    };
    app.update(Action::RouteDone {
        id,
        result: Err(failure),
    });
    let p = app.prompt.as_ref().unwrap();
    assert!(
        matches!(&p.state, PromptState::Failed(m) if m.contains("claude-sonnet: server_error"))
    );
    assert_eq!(
        p.steps[0].text, "claude-sonnet: server_error (provider unavailable)",
        "rebuilt from the failure when no events came"
    );
}

#[test]
fn events_ring_is_bounded() {
    let mut app = fixture::app(120, 32);
    for i in 0..(EVENTS_CAP + 20) {
        app.update(Action::Health(HealthEvent {
            at: now(),
            model: format!("m{i}"),
            kind: HealthEventKind::State {
                from: Status::Healthy,
                to: Status::Unhealthy,
                reason: "x".into(),
            },
        }));
    }
    assert_eq!(app.events.len(), EVENTS_CAP);
    assert!(app.events[0]
        .text
        .starts_with(&format!("m{}", EVENTS_CAP + 19)));
    ch(&mut app, ']');
    assert_eq!(app.events_scroll, 1);
}

#[test]
fn tiny_and_huge_terminals_do_not_panic() {
    for (w, h) in [(1, 1), (10, 5), (20, 8), (80, 24), (300, 100)] {
        let mut app = fixture::app(w, h);
        screen(&app);
        prompt_in_flight(&mut app);
        screen(&app);
        key(&mut app, KeyCode::Esc);
        key(&mut app, KeyCode::Esc);
        for focus in ['?', '\t'] {
            if focus == '\t' {
                key(&mut app, KeyCode::Tab);
            } else {
                ch(&mut app, focus);
            }
            screen(&app);
        }
    }
}

#[test]
fn a_long_chain_is_cut_short_in_the_prompt_title() {
    let app = fixture::many(60, 100, 30);
    let text = screen(&app);
    let title = text.lines().find(|l| l.contains("prompt [chain]")).unwrap();
    assert!(title.contains("model-000 › model-001"), "{title}");
    assert!(title.contains(" › +"), "the rest is counted: {title}");
    assert!(title.contains("(skipping"), "skips stay in view: {title}");
    assert!(title.ends_with('┤'), "it fits: {title}");
}

#[test]
fn no_color_still_shows_status_in_words() {
    let mut app = fixture::app(120, 32);
    app.theme.color = false;
    let text = screen(&app);
    assert!(text.contains("✗ unhealthy") && text.contains("⧗ rate_limited"));
}

// ---------------------------------------------------------------- screens

fn both_sizes(name: &str, setup: impl Fn(&mut App)) {
    for (w, h) in [(80, 24), (160, 48)] {
        let mut app = fixture::app(w, h);
        setup(&mut app);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), screen(&app));
    }
}

fn with_events(app: &mut App) {
    app.update(Action::Health(HealthEvent {
        at: now() - chrono::Duration::seconds(180),
        model: "gpt-4o".into(),
        kind: HealthEventKind::State {
            from: Status::Healthy,
            to: Status::Unhealthy,
            reason: "9/15 ok; 502 provider unavailable".into(),
        },
    }));
    app.update(Action::Health(HealthEvent {
        at: now() - chrono::Duration::seconds(120),
        model: "gemini-pro".into(),
        kind: HealthEventKind::Drift {
            from: "google/gemini-2.5-pro-preview".into(),
            to: "google/gemini-2.5-pro".into(),
        },
    }));
}

#[test]
fn screen_main() {
    both_sizes("main", with_events);
}

#[test]
fn screen_demo_badge() {
    both_sizes("demo", |app| {
        app.demo = Some(
            "demo: simulated models — set OPENROUTER_API_KEY or write a config to watch real ones"
                .into(),
        );
    });
}

#[test]
fn screen_detail() {
    both_sizes("detail", |app| {
        // gemini-pro's price as OpenRouter's /models lists it, per token.
        let price = chainwatch::pricing::Price {
            prompt: 0.00000125,
            completion: 0.00001,
            request: 0.0,
        };
        app.update(Action::Prices([("gemini-pro".to_string(), price)].into()));
        ch(app, 'j');
        ch(app, 'j');
        key(app, KeyCode::Enter);
    });
}

/// What probes spent: gemini-pro stretched to one probe every 16 minutes,
/// the cheap models at the full rate (docs/cost.md).
fn with_spending(app: &mut App) {
    use chainwatch::pricing::{ModelSpending, Spending};
    let model = |today, probes, per_probe: f64, gap_s, stretch| ModelSpending {
        today,
        probes_today: probes,
        per_probe: Some(per_probe),
        per_day: per_probe * 86_400.0 / gap_s,
        gap: Some(std::time::Duration::from_secs_f64(gap_s)),
        stretch,
        covered: stretch > 1,
    };
    let spending = Spending::of(
        [
            (
                "claude-sonnet".to_string(),
                model(0.0303, 720, 0.000042, 60.0, 1),
            ),
            ("gpt-4o".to_string(), model(0.0234, 720, 0.0000325, 60.0, 1)),
            (
                "gemini-pro".to_string(),
                model(0.0702, 54, 0.0013, 960.0, 16),
            ),
            (
                "deepseek".to_string(),
                model(0.0025, 720, 0.0000035, 60.0, 1),
            ),
        ]
        .into(),
    );
    // The header's total is the same ledger's (the engine's spend_today).
    app.spend_today = spending.today;
    app.update(Action::Spending(spending));
}

#[test]
fn screen_spending() {
    both_sizes("spending", |app| {
        with_spending(app);
        ch(app, 'j');
        ch(app, 'j');
        key(app, KeyCode::Enter);
    });
}

#[test]
fn screen_help() {
    both_sizes("help", |app| {
        ch(app, '?');
    });
}

fn with_a_recovery(app: &mut App) {
    app.update(Action::Snapshots {
        models: fixture::models_with_a_recovery(),
        spend_today: 0.0021,
        now: now(),
    });
    app.update(Action::Health(HealthEvent {
        at: now() - chrono::Duration::seconds(15),
        model: "gpt-4o".into(),
        kind: HealthEventKind::State {
            from: Status::Unhealthy,
            to: Status::Recovering,
            reason: "re-admitted after an outage: 3/3 ok since, healthy at 6; 60.0% in the window (9/15 ok)".into(),
        },
    }));
}

#[test]
fn a_recovering_model_is_shown_as_what_it_is() {
    let mut app = fixture::app(120, 32);
    with_a_recovery(&mut app);
    let text = screen(&app);
    let row = text.lines().find(|l| l.contains(" gpt-4o ")).unwrap();
    assert!(row.contains("↻ recovering"), "{text}");
    assert!(!row.contains("healthy"), "never a plain healthy: {row}");
    assert!(
        row.contains("↻60.0"),
        "the ratio says it holds the outage: {row}"
    );
    assert!(row.contains("3/6 ok since 11:59"), "{row}");
    assert!(text.contains("✓2 ↻1 ◐1"), "the header counts it: {text}");
    assert!(text.contains("gpt-4o  unhealthy → recovering"), "{text}");
    // Routable: the prompt's route goes through it.
    let title = text.lines().find(|l| l.contains("prompt [chain]")).unwrap();
    assert!(title.contains("claude-sonnet › gpt-4o"), "{title}");
}

#[test]
fn a_recovered_model_explains_its_low_window_ratio() {
    let mut app = fixture::app(120, 40);
    let mut models = fixture::models_with_a_recovery();
    let gpt = models.iter_mut().find(|m| m.name == "gpt-4o").unwrap();
    gpt.status = Status::Healthy;
    if let Some(r) = gpt.recovery.as_mut() {
        (r.ok, r.counted) = (7, 7);
    }
    app.update(Action::Snapshots {
        models,
        spend_today: 0.0,
        now: now(),
    });
    let text = screen(&app);
    let row = text.lines().find(|l| l.contains(" gpt-4o ")).unwrap();
    assert!(row.contains("✓ healthy") && row.contains("↻60.0"), "{row}");
    assert!(row.contains("7 ok since 11:59"), "{row}");
    ch(&mut app, 'j');
    key(&mut app, KeyCode::Enter);
    let text = screen(&app);
    assert!(
        text.contains("✓ healthy 7/7 ok since 11:59 · 60.0% in window"),
        "{text}"
    );
    assert!(
        text.contains("healthy again: 7 ok since re-admission (6 needed)"),
        "{text}"
    );
}

#[test]
fn screen_recovering() {
    both_sizes("recovering", with_a_recovery);
}

#[test]
fn screen_recovering_detail() {
    both_sizes("recovering_detail", |app| {
        with_a_recovery(app);
        ch(app, 'j');
        key(app, KeyCode::Enter);
    });
}

#[test]
fn screen_providers() {
    both_sizes("providers", |app| {
        key(app, KeyCode::Tab);
    });
}

/// The providers view with the same Claude watched through OpenRouter and
/// directly: the pair's differences below the rollups.
#[test]
fn screen_providers_with_a_pair() {
    use chainwatch::api::Dialect;
    use chainwatch::config::Endpoint;
    use chainwatch::health::Percentiles;
    use chainwatch::pricing::Price;
    both_sizes("providers_pair", |app| {
        let mut config = (*app.config).clone();
        config.endpoints.push(Endpoint {
            name: "anthropic".into(),
            base_url: "https://api.anthropic.com/v1".into(),
            api_key_env: Some("ANTHROPIC_API_KEY".into()),
            dialect: Dialect::Anthropic,
            native_fallback: false,
        });
        let mut direct = config.models[0].clone();
        direct.name = "claude-direct".into();
        direct.id = "claude-sonnet-4-20250514".into();
        direct.endpoint = "anthropic".into();
        config.models.push(direct);
        app.config = std::sync::Arc::new(config);
        let mut snap =
            fixture::snapshot("claude-direct", "claude-sonnet-4-20250514", Status::Healthy);
        snap.endpoint = "anthropic".into();
        let p = |p50, p95, samples| Percentiles {
            p50: Duration::from_millis(p50),
            p95: Duration::from_millis(p95),
            samples,
        };
        snap.ttft = Some(p(360, 500, 12));
        snap.latency = Some(p(700, 1300, 12));
        let mut models = fixture::models();
        models.push(snap);
        app.update(Action::Snapshots {
            models,
            spend_today: 0.0021,
            now: now(),
        });
        let per_m = |prompt: f64, completion: f64| Price {
            prompt: prompt / 1e6,
            completion: completion / 1e6,
            request: 0.0,
        };
        app.update(Action::Prices(
            [
                ("claude-sonnet".to_string(), per_m(3.0, 15.0)),
                ("claude-direct".to_string(), per_m(3.0, 15.0)),
            ]
            .into(),
        ));
        key(app, KeyCode::Tab);
    });
}

#[test]
fn screen_prompt_in_flight() {
    both_sizes("prompt_in_flight", |app| {
        prompt_in_flight(app);
    });
}

#[test]
fn screen_prompt_answered() {
    both_sizes("prompt_answered", |app| {
        with_events(app);
        let id = prompt_in_flight(app);
        app.update(Action::RouteDone {
            id,
            result: Ok(answer()),
        });
        key(app, KeyCode::Esc);
    });
}

// ---------------------------------------------------------------- event loop

mod event_loop {
    use super::*;
    use chainwatch::tui::event_loop::{run_dashboard, News, RouteFuture, Services};
    use crossterm::event::Event;
    use futures_util::StreamExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};
    use tokio::sync::mpsc;
    use tokio_util::sync::CancellationToken;

    struct Fake {
        calls: Mutex<Vec<String>>,
        /// When set, a save waits until this many saves (of every fake
        /// sharing the counter) have started: all of them are issued by then.
        rendezvous: Option<(Arc<AtomicUsize>, usize)>,
        /// The chain "on disk".
        chain: Mutex<chainwatch::route::Chain>,
    }

    impl Default for Fake {
        fn default() -> Self {
            Fake {
                calls: Mutex::default(),
                rendezvous: None,
                chain: Mutex::new(fixture::app(100, 30).chain),
            }
        }
    }

    impl Services for Fake {
        fn snapshots(
            &self,
            _now: chrono::DateTime<chrono::Utc>,
        ) -> Vec<chainwatch::health::ModelSnapshot> {
            fixture::models()
        }
        fn spend_today(&self, _now: chrono::DateTime<chrono::Utc>) -> f64 {
            0.5
        }
        fn probe_now(&self, model: Option<&str>) {
            self.calls.lock().unwrap().push(format!("probe {model:?}"));
        }
        fn acknowledge_drift(&self, model: &str, _now: chrono::DateTime<chrono::Utc>) {
            self.calls.lock().unwrap().push(format!("ack {model}"));
        }
        fn bell(&self) {
            self.calls.lock().unwrap().push("bell".into());
        }
        fn edit_chain(&self, edit: &ChainEdit) -> anyhow::Result<Vec<String>> {
            if let Some((started, all)) = &self.rendezvous {
                started.fetch_add(1, Ordering::SeqCst);
                let deadline = Instant::now() + Duration::from_secs(5);
                while started.load(Ordering::SeqCst) < *all && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            let mut chain = self.chain.lock().unwrap();
            chain.apply(edit)?;
            self.calls
                .lock()
                .unwrap()
                .push(format!("save {}", chain.order().join(",")));
            Ok(chain.order().to_vec())
        }
        fn chain_order(&self) -> Vec<String> {
            self.chain.lock().unwrap().order().to_vec()
        }
        fn route(
            &self,
            chain: Vec<String>,
            text: String,
            _target: RouteTarget,
            _buffered: bool,
            events: mpsc::UnboundedSender<RouteEvent>,
        ) -> RouteFuture {
            self.calls
                .lock()
                .unwrap()
                .push(format!("route {text:?} via {}", chain.join(",")));
            Box::pin(async move {
                let _ = events.send(RouteEvent::Delta {
                    model: "claude-sonnet".into(),
                    text: "hi".into(),
                });
                Ok(answer())
            })
        }
    }

    fn press(c: char) -> std::io::Result<Event> {
        let mods = if c.is_ascii_uppercase() {
            KeyModifiers::SHIFT
        } else {
            KeyModifiers::NONE
        };
        Ok(Event::Key(KeyEvent::new(KeyCode::Char(c), mods)))
    }

    #[tokio::test]
    async fn keys_drive_commands_and_q_quits() {
        let fake = Arc::new(Fake::default());
        let mut keys: Vec<std::io::Result<Event>> = vec![press('J'), press('p'), press('i')];
        keys.extend("hello".chars().map(press));
        keys.push(Ok(Event::Key(KeyEvent::new(
            KeyCode::Enter,
            KeyModifiers::NONE,
        ))));
        keys.push(Ok(Event::Key(KeyEvent::new(
            KeyCode::Esc,
            KeyModifiers::NONE,
        ))));
        keys.push(Ok(Event::Key(KeyEvent::new(
            KeyCode::Esc,
            KeyModifiers::NONE,
        ))));
        keys.push(press('q'));
        // After 'q' the stream stays open: the loop must end by itself.
        let stream = futures_util::stream::iter(keys).chain(futures_util::stream::pending());
        let (_news_tx, news_rx) = mpsc::unbounded_channel::<News>();
        let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
        let mut app = fixture::app(100, 30);
        let run = run_dashboard(
            &mut terminal,
            &mut app,
            Arc::clone(&fake),
            Box::pin(stream),
            news_rx,
            CancellationToken::new(),
        );
        tokio::time::timeout(std::time::Duration::from_secs(10), run)
            .await
            .expect("the loop ends on q")
            .unwrap();
        assert!(app.quit);
        // The blocking save runs on its own thread: give it a bounded wait.
        let mut calls = Vec::new();
        for _ in 0..200 {
            calls = fake.calls.lock().unwrap().clone();
            if calls.iter().any(|c| c.starts_with("save")) {
                break;
            }
            tokio::task::yield_now().await;
            std::thread::yield_now();
        }
        assert!(
            calls.contains(&"probe Some(\"claude-sonnet\")".to_string()),
            "{calls:?}"
        );
        assert!(
            calls.contains(
                &"route \"hello\" via gpt-4o,claude-sonnet,gemini-pro,deepseek".to_string()
            ),
            "the prompt follows the new order: {calls:?}"
        );
        assert!(
            calls.contains(&"save gpt-4o,claude-sonnet,gemini-pro,deepseek".to_string()),
            "{calls:?}"
        );
        let buf = terminal.backend().buffer();
        let top: String = (0..100).map(|x| buf[(x, 0u16)].symbol()).collect();
        assert!(
            top.contains("$0.5000"),
            "spend comes from the services: {top}"
        );
    }

    #[tokio::test]
    async fn stop_token_and_news_end_and_feed_the_loop() {
        let fake = Arc::new(Fake::default());
        let (news_tx, news_rx) = mpsc::unbounded_channel::<News>();
        news_tx
            .send(News::Act(Box::new(Action::Budget(
                "probes paused: budget spent".into(),
            ))))
            .unwrap();
        news_tx.send(News::Changed).unwrap();
        news_tx.send(News::Bell).unwrap();
        let stop = CancellationToken::new();
        let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
        let mut app = fixture::app(100, 30);
        let stopper = stop.clone();
        let run = run_dashboard(
            &mut terminal,
            &mut app,
            Arc::clone(&fake),
            Box::pin(futures_util::stream::pending()),
            news_rx,
            stop,
        );
        let ended = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            tokio::join!(run, async {
                tokio::task::yield_now().await;
                stopper.cancel();
            })
        })
        .await
        .expect("cancelling stops the loop");
        ended.0.unwrap();
        assert!(app.events.iter().any(|e| e.text.contains("budget spent")));
        assert!(!app.quit);
        // An alert's bell rings once, after the frame.
        let calls = fake.calls.lock().unwrap().clone();
        assert_eq!(calls, ["bell"], "{calls:?}");
    }

    /// Moves the first model down and quits; returns once the loop ended.
    async fn move_and_quit(fake: Arc<Fake>) {
        let keys = vec![press('J'), press('q')];
        let stream = futures_util::stream::iter(keys).chain(futures_util::stream::pending());
        let (_news_tx, news_rx) = mpsc::unbounded_channel::<News>();
        let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
        let mut app = fixture::app(100, 30);
        run_dashboard(
            &mut terminal,
            &mut app,
            fake,
            Box::pin(stream),
            news_rx,
            CancellationToken::new(),
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn two_dashboards_each_save_their_own_edits() {
        let started = Arc::new(AtomicUsize::new(0));
        let fakes = [(); 2].map(|_| {
            Arc::new(Fake {
                rendezvous: Some((Arc::clone(&started), 2)),
                ..Fake::default()
            })
        });
        let both = futures_util::future::join(
            move_and_quit(Arc::clone(&fakes[0])),
            move_and_quit(Arc::clone(&fakes[1])),
        );
        tokio::time::timeout(Duration::from_secs(10), both)
            .await
            .expect("both loops end on q");
        // The saves run on blocking threads: give them a bounded wait.
        let deadline = Instant::now() + Duration::from_secs(10);
        let done = |f: &Fake| {
            f.calls
                .lock()
                .unwrap()
                .iter()
                .any(|c| !c.starts_with("probe"))
        };
        while !fakes.iter().all(|f| done(f)) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for fake in &fakes {
            let calls = fake.calls.lock().unwrap().clone();
            assert_eq!(
                calls,
                vec!["save gpt-4o,claude-sonnet,gemini-pro,deepseek".to_string()],
                "each dashboard's edit reaches its own store"
            );
        }
    }
}

// ---------------------------------------------------------------- attach

/// `chainwatch --attach`: the screen as a client of a `serve` on loopback
/// (real HTTP, the simulator behind it).
#[cfg(all(feature = "sim", feature = "serve"))]
mod attach {
    use std::collections::HashMap;
    use std::path::Path;
    use std::sync::Arc;

    use chainwatch::metrics::Metrics;
    use chainwatch::serve::{Options, Server};
    use chainwatch::sim::{Scenario, SimServer};
    use chainwatch::store::Store;
    use chainwatch::tui::attach::{app_for, follow, Attached};
    use chainwatch::tui::event_loop::{run_dashboard, News, Services};
    use chainwatch::wiring::Stack;
    use crossterm::event::Event;
    use futures_util::StreamExt;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;
    use serde_json::Value;
    use tokio::sync::mpsc;
    use tokio_util::sync::CancellationToken;

    use super::*;

    const SCENARIO: &str = r#"
[server]
require_auth = false

[[model]]
name = "fast-a"
id = "sim/fast-a"

[[model]]
name = "fast-b"
id = "sim/fast-b"

[[model]]
name = "down"
id = "sim/down"
[[model.fault]]
class = "server_error"
status = 502
"#;

    struct Rig {
        _sim: SimServer,
        server: Option<Server>,
        base: String,
        engine: chainwatch::engine::Engine,
        _dir: tempfile::TempDir,
    }

    async fn rig(token: Option<&str>) -> Rig {
        let sim = SimServer::start(
            Scenario::parse(SCENARIO, Path::new("<attach>")).unwrap(),
            "127.0.0.1:0".parse().unwrap(),
            7,
        )
        .await
        .unwrap();
        let mut config = sim.config();
        config.chain = vec!["fast-a".into(), "fast-b".into(), "down".into()];
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("state.json"));
        let Stack { engine, router } = Stack::new(config.clone(), Some(store));
        // Evidence for every model: the down one turns unhealthy.
        for _ in 0..4 {
            for m in ["fast-a", "fast-b", "down"] {
                engine.probe(m).await.unwrap();
            }
        }
        let mut options = Options::new("127.0.0.1:0".parse().unwrap(), config.route.timeout);
        options.token = token.map(str::to_string);
        let server = Server::start(options, engine.clone(), router, Arc::new(Metrics::new()))
            .await
            .unwrap();
        Rig {
            base: format!("http://{}", server.addr),
            server: Some(server),
            _sim: sim,
            engine,
            _dir: dir,
        }
    }

    async fn get(base: &str, path: &str) -> Value {
        reqwest::get(format!("{base}{path}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    fn press(c: char) -> std::io::Result<Event> {
        let mods = if c.is_ascii_uppercase() {
            KeyModifiers::SHIFT
        } else {
            KeyModifiers::NONE
        };
        Ok(Event::Key(KeyEvent::new(KeyCode::Char(c), mods)))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_attached_screen_shows_the_servers_statuses_and_its_j_moves_the_servers_chain() {
        let rig = rig(None).await;
        let health = get(&rig.base, "/api/v1/health").await;
        let want: HashMap<String, String> = health["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["name"].as_str().unwrap().to_string(),
                    m["status"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(want["down"], "unhealthy", "{health}");
        assert_eq!(want["fast-a"], "healthy", "{health}");

        let attached = Arc::new(Attached::connect(&rig.base, None).await.unwrap());
        let mut app = app_for(&attached);
        let (keys_tx, keys_rx) = mpsc::unbounded_channel::<std::io::Result<Event>>();
        let keys = futures_util::stream::unfold(keys_rx, |mut rx| async move {
            rx.recv().await.map(|k| (k, rx))
        })
        .boxed();
        let (news_tx, news_rx) = mpsc::unbounded_channel::<News>();
        let stop = CancellationToken::new();
        let follower = tokio::spawn(follow(attached.clone(), news_tx, stop.child_token()));
        let mut terminal = Terminal::new(TestBackend::new(120, 32)).unwrap();
        let base = rig.base.clone();
        let driver = async move {
            keys_tx.send(press('J')).unwrap();
            // The server saved the edit: its chain says so.
            let mut order = Value::Null;
            for _ in 0..100 {
                order = get(&base, "/api/v1/chain").await["order"].clone();
                if order[0] == "fast-b" {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            keys_tx.send(press('q')).unwrap();
            order
        };
        let (ran, order) = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            tokio::join!(
                run_dashboard(
                    &mut terminal,
                    &mut app,
                    attached.clone(),
                    keys,
                    news_rx,
                    stop.clone()
                ),
                driver
            )
        })
        .await
        .expect("the attached screen ends on q");
        ran.unwrap();
        stop.cancel();
        let _ = follower.await;

        assert_eq!(order, serde_json::json!(["fast-b", "fast-a", "down"]));
        assert_eq!(
            rig.engine.chain_order(),
            vec!["fast-b", "fast-a", "down"],
            "the server's engine follows the edit"
        );
        assert_eq!(app.chain.order(), ["fast-b", "fast-a", "down"]);
        // Every row shows the status the server's /api/v1/health gives.
        let buf = terminal.backend().buffer();
        let lines: Vec<String> = (0..32u16)
            .map(|y| (0..120u16).map(|x| buf[(x, y)].symbol()).collect())
            .collect();
        for (name, status) in &want {
            let row = lines
                .iter()
                .find(|l| {
                    let cells: Vec<&str> = l.trim_matches('│').split_whitespace().collect();
                    cells.len() > 2 && cells[0].parse::<u32>().is_ok() && cells[1] == name
                })
                .unwrap_or_else(|| panic!("no row for {name}:\n{}", lines.join("\n")));
            assert!(
                row.contains(status.as_str()),
                "{name} should be {status}: {row}"
            );
        }
        for m in &app.models {
            assert_eq!(m.status.to_string(), want[&m.name], "{}", m.name);
        }
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("attached to {}", rig.base))),
            "the screen says which engine it shows:\n{}",
            lines.join("\n")
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn prompts_and_probe_now_go_to_the_server_and_a_lost_server_is_shown() {
        let mut rig = rig(Some("s3cret-token")).await;
        // A wrong token says what to do.
        let err = Attached::connect(&rig.base, Some("wrong".into()))
            .await
            .err()
            .unwrap();
        assert!(
            format!("{err:#}").contains("CHAINWATCH_SERVE_TOKEN"),
            "{err:#}"
        );
        assert!(!format!("{err:#}").contains("s3cret"), "{err:#}");
        let attached = Arc::new(
            Attached::connect(&rig.base, Some("s3cret-token".into()))
                .await
                .unwrap(),
        );
        // A prompt goes through the server's router: the down model is
        // skipped there, and the answer names the model that served.
        let (events_tx, mut events_rx) = mpsc::unbounded_channel();
        let answer = attached
            .route(
                Vec::new(),
                "hello there".into(),
                chainwatch::route::RouteTarget::Chain,
                false,
                events_tx,
            )
            .await
            .unwrap();
        assert_eq!(answer.model, "fast-a");
        assert!(!answer.text.is_empty());
        let mut deltas = String::new();
        while let Ok(e) = events_rx.try_recv() {
            if let chainwatch::route::RouteEvent::Delta { text, .. } = e {
                deltas.push_str(&text);
            }
        }
        assert_eq!(deltas, answer.text);
        // `p`: the server's schedule takes the model at once.
        let before = rig.engine.next_due("fast-b").unwrap();
        attached.probe_now(Some("fast-b"));
        let mut due = before;
        for _ in 0..100 {
            due = rig.engine.next_due("fast-b").unwrap();
            if due < before {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(
            due <= chrono::Utc::now(),
            "probe now reached the server: {due} {before}"
        );

        // The server is lost: the badge says since when, and the screen
        // comes back when it does.
        let (news_tx, mut news_rx) = mpsc::unbounded_channel::<News>();
        let stop = CancellationToken::new();
        let follower = tokio::spawn(follow(attached.clone(), news_tx, stop.child_token()));
        let server = rig.server.take().unwrap();
        let addr = server.addr;
        assert!(server.stop().await);
        let badge = tokio::time::timeout(std::time::Duration::from_secs(20), async {
            loop {
                match news_rx.recv().await {
                    Some(News::Act(a)) => {
                        if let Action::Badge(Some(text)) = *a {
                            if text.contains("disconnected since") {
                                return text;
                            }
                        }
                    }
                    Some(_) => {}
                    None => panic!("the follower ended"),
                }
            }
        })
        .await
        .expect("a lost server is shown");
        assert!(badge.contains(&rig.base), "{badge}");
        assert!(!badge.contains("s3cret"), "{badge}");
        let mut options = Options::new(addr, std::time::Duration::from_secs(30));
        options.token = Some("s3cret-token".into());
        let (engine, router) = (
            rig.engine.clone(),
            chainwatch::route::Router::new(
                rig.engine.config().clone(),
                chainwatch::api::Client::new(std::time::Duration::from_secs(5)),
            ),
        );
        let again = Server::start(options, engine, router, Arc::new(Metrics::new()))
            .await
            .unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(20), async {
            loop {
                if let Some(News::Act(a)) = news_rx.recv().await {
                    if let Action::Badge(Some(text)) = *a {
                        if !text.contains("disconnected") {
                            return;
                        }
                    }
                }
            }
        })
        .await
        .expect("the screen reconnects");
        assert!(attached.link().down_since.is_none());
        stop.cancel();
        let _ = follower.await;
        again.stop().await;
    }
}
