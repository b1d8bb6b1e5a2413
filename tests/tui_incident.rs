//! The dashboard in an incident: the `/` filter, the failure log and its
//! copy key, the layout that gives the events the rows the table does not
//! need, and the event loop that draws a burst of news as one frame and
//! refreshes only the rows on screen. Keys → actions → state, snapshots of
//! the screen, and the loop on a recording backend with a fake engine.

mod support;

use std::time::Duration;

use chainwatch::api::FailureClass;
use chainwatch::health::{FailureRecord, HealthEvent, HealthEventKind, SampleKind, Status};
use chainwatch::tui::app::{Action, Command, Focus};
use chainwatch::tui::clipboard::ClipboardEnv;
use chainwatch::tui::{view, App};
use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
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

fn ago(secs: i64) -> DateTime<Utc> {
    now() - chrono::Duration::seconds(secs)
}

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

/// The names of the rows the table shows, in order.
fn shown(app: &App) -> Vec<String> {
    app.rows()
        .iter()
        .map(|i| app.models[*i].name.clone())
        .collect()
}

/// A provider's long message, as OpenRouter relays an upstream's.
const LONG: &str = "Provider returned error: upstream connect error or disconnect/reset before \
headers. reset reason: connection termination. The upstream (OpenAI) answered 502 Bad Gateway \
three times in a row; OpenRouter tried the next provider for openai/gpt-4o and got the same. \
Request id req_7f3a9c. Retry later, or route to another model. (provider OpenAI) \
raw: {\"error\":{\"message\":\"The server had an error while processing your request. Sorry \
about that!\",\"type\":\"server_error\"}}";

fn failure(
    model: &str,
    at: DateTime<Utc>,
    class: FailureClass,
    status: Option<u16>,
    message: &str,
) -> (String, FailureRecord) {
    (
        model.to_string(),
        FailureRecord {
            at,
            class,
            http_status: status,
            kind: SampleKind::Probe,
            message: message.to_string(),
        },
    )
}

/// What the engine kept: failures inside the 15-minute window, one older.
fn failures() -> Vec<(String, FailureRecord)> {
    vec![
        failure(
            "gpt-4o",
            ago(200),
            FailureClass::ServerError,
            Some(502),
            "provider unavailable",
        ),
        failure("gpt-4o", ago(180), FailureClass::ServerError, Some(502), LONG),
        failure(
            "gpt-4o-mini",
            ago(30),
            FailureClass::NotFound,
            Some(404),
            "No endpoints found for openai/gpt-4o-mini.",
        ),
        failure(
            "deepseek",
            ago(15),
            FailureClass::RateLimited,
            Some(429),
            "Rate limit exceeded: free-models-per-min; key sk-or-v1-0123456789abcdef0123456789ab\x1b[31m",
        ),
        failure(
            "gemini-pro",
            ago(20 * 60),
            FailureClass::Timeout,
            None,
            "no first token within 10s (older than the window)",
        ),
    ]
}

fn state_change(app: &mut App) {
    app.update(Action::Health(HealthEvent {
        at: ago(170),
        model: "gpt-4o".into(),
        kind: HealthEventKind::State {
            from: Status::Healthy,
            to: Status::Unhealthy,
            reason: "9/15 ok; last: 502 provider unavailable".into(),
        },
    }));
}

fn with_log(app: &mut App) {
    state_change(app);
    app.update(Action::Failures(failures()));
}

// ---------------------------------------------------------------- filter

#[test]
fn slash_filters_the_table_and_esc_clears() {
    let mut app = fixture::app(120, 32);
    assert!(ch(&mut app, '/').is_empty(), "a filter, never a prompt");
    assert!(app.editing_filter);
    assert_eq!(app.focus, Focus::Table);
    typed(&mut app, "gpt");
    assert_eq!(
        shown(&app),
        ["gpt-4o", "gpt-4o-mini"],
        "filters as it is typed"
    );
    assert_eq!(app.selected.as_deref(), Some("gpt-4o"), "selection follows");
    let text = screen(&app);
    assert!(text.contains("2 of 7 models match /gpt"), "{text}");
    // Keys that mean something in the table are text while typing.
    typed(&mut app, "q");
    assert!(!app.quit);
    key(&mut app, KeyCode::Backspace);
    assert_eq!(app.filter.text(), "gpt");
    // Enter keeps it and gives the keys back to the table.
    key(&mut app, KeyCode::Enter);
    assert!(!app.editing_filter);
    assert!(app.filter.is_active());
    ch(&mut app, 'j');
    assert_eq!(app.selected.as_deref(), Some("gpt-4o-mini"));
    ch(&mut app, 'j');
    assert_eq!(
        app.selected.as_deref(),
        Some("gpt-4o-mini"),
        "j stops at the end"
    );
    ch(&mut app, 'n');
    assert_eq!(app.selected.as_deref(), Some("gpt-4o"), "n wraps around");
    ch(&mut app, 'N');
    assert_eq!(app.selected.as_deref(), Some("gpt-4o-mini"));
    // Chain keys act on the match: J moves gpt-4o-mini? It is not in the
    // chain, so the footer says how to put it in.
    assert!(ch(&mut app, 'J').is_empty());
    assert!(app.flash_text().unwrap().contains("not in the chain"));
    // Esc in the table clears the filter.
    key(&mut app, KeyCode::Esc);
    assert!(!app.filter.is_active());
    assert_eq!(shown(&app).len(), 7);
    assert_eq!(
        app.selected.as_deref(),
        Some("gpt-4o-mini"),
        "selection kept"
    );
    // Esc while typing clears too.
    ch(&mut app, '/');
    typed(&mut app, "flash");
    key(&mut app, KeyCode::Esc);
    assert!(!app.editing_filter && !app.filter.is_active());
    // n without a filter says what it is for.
    ch(&mut app, 'n');
    assert!(app.flash_text().unwrap().contains("/ sets one"));
}

#[test]
fn filter_matches_id_provider_status_and_regex() {
    let mut app = fixture::app(120, 32);
    fn filter(app: &mut App, text: &str) -> Vec<String> {
        ch(app, '/');
        app.update(Action::Key(KeyEvent::new(
            KeyCode::Char('u'),
            KeyModifiers::CONTROL,
        )));
        typed(app, text);
        key(app, KeyCode::Enter);
        shown(app)
    }
    let app = &mut app;
    assert_eq!(
        filter(app, "anthropic"),
        ["claude-sonnet"],
        "the id's provider"
    );
    assert_eq!(filter(app, "OpenAI"), ["gpt-4o", "gpt-4o-mini"], "any case");
    assert_eq!(filter(app, "unhealthy"), ["gpt-4o"], "the status");
    assert_eq!(
        filter(app, "2.5-flash"),
        ["gemini-flash", "gemini-flash-lite"],
        "the id"
    );
    assert_eq!(
        filter(app, "^gemini-(pro|flash)$"),
        ["gemini-pro", "gemini-flash"]
    );
    assert!(app.filter.is_regex());
    assert!(screen(app).contains("match regex /^gemini-(pro|flash)$"));
    assert_eq!(
        filter(app, "gpt-4o("),
        Vec::<String>::new(),
        "a bad regex is text"
    );
    assert!(screen(app).contains("no model matches /gpt-4o( (esc clears the filter)"));
}

#[test]
fn a_state_change_off_screen_updates_counts_and_the_filter() {
    let mut app = fixture::app(120, 32);
    ch(&mut app, '/');
    typed(&mut app, "unhealthy");
    key(&mut app, KeyCode::Enter);
    assert_eq!(shown(&app), ["gpt-4o"]);
    app.update(Action::Health(HealthEvent {
        at: now(),
        model: "gemini-flash".into(),
        kind: HealthEventKind::State {
            from: Status::Healthy,
            to: Status::Unhealthy,
            reason: "3/6 ok".into(),
        },
    }));
    assert_eq!(shown(&app), ["gpt-4o", "gemini-flash"]);
    let unhealthy = app
        .counts()
        .into_iter()
        .find(|(s, _)| *s == Status::Unhealthy);
    assert_eq!(unhealthy, Some((Status::Unhealthy, 2)));
}

// ---------------------------------------------------------------- layout

#[test]
fn the_table_takes_the_rows_it_needs_and_the_events_the_rest() {
    let app = fixture::app(120, 32);
    let l = view::layout(app.area(), &app);
    assert_eq!(l.main.height, 8, "a header and seven rows, no empty rows");
    assert!(
        l.events.height >= 15,
        "events get the rest: {}",
        l.events.height
    );
    // With many models the table takes all but a few event lines.
    let many = fixture::many(300, 120, 32);
    let l = view::layout(many.area(), &many);
    assert_eq!(l.events.height, view::EVENTS_MIN);
    // A filter shrinks the table and the events grow.
    let mut filtered = fixture::many(300, 120, 32);
    ch(&mut filtered, '/');
    typed(&mut filtered, "model-00");
    let l = view::layout(filtered.area(), &filtered);
    assert_eq!(l.main.height, 11);
}

#[test]
fn columns_do_not_move_when_a_status_changes() {
    let mut app = fixture::app(120, 32);
    let before = chainwatch::tui::panels::models::columns(&app, 118);
    let mut models = fixture::models();
    for m in &mut models {
        m.status = Status::Healthy;
    }
    app.update(Action::Snapshots {
        models,
        spend_today: 0.0,
        now: now(),
    });
    let after = chainwatch::tui::panels::models::columns(&app, 118);
    assert_eq!(before, after);
    // Long names are cut in the middle and keep their end.
    let mut long = fixture::models();
    long[0].name = "anthropic-claude-sonnet-4-thinking-preview".into();
    app.update(Action::Snapshots {
        models: long,
        spend_today: 0.0,
        now: now(),
    });
    let text = screen(&app);
    assert!(text.contains("anthropic-cl…ing-preview"), "{text}");
}

#[test]
fn clock_times_in_the_table() {
    let mut app = fixture::app(120, 32);
    assert!(screen(&app).contains("3m ago"));
    ch(&mut app, 'c');
    let text = screen(&app);
    assert!(text.contains("11:57:00"), "{text}");
    assert!(!text.contains("3m ago"));
    ch(&mut app, 'c');
    assert!(screen(&app).contains("3m ago"));
}

// ---------------------------------------------------------------- failure log

#[test]
fn the_failure_log_lists_failures_and_changes_in_the_window() {
    let mut app = fixture::app(120, 32);
    with_log(&mut app);
    ch(&mut app, 'l');
    assert_eq!(app.focus, Focus::Log);
    let entries: Vec<(String, String)> = app
        .log
        .entries
        .iter()
        .map(|e| (e.model.clone(), e.class_word()))
        .collect();
    assert_eq!(
        entries,
        [
            ("deepseek".to_string(), "rate_limited".to_string()),
            ("gpt-4o-mini".into(), "not_found".into()),
            ("gpt-4o".into(), "✗ unhealthy".into()),
            ("gpt-4o".into(), "server_error".into()),
            ("gpt-4o".into(), "server_error".into()),
        ],
        "newest first; the failure older than the window is left out"
    );
    let deepseek = &app.log.entries[0];
    assert!(
        !deepseek.message().contains("0123456789abcdef"),
        "key masked"
    );
    assert!(!deepseek.message().contains('\x1b'), "escapes dropped");
    let text = screen(&app);
    assert!(text.contains("11:59:45  deepseek"), "{text}");
    // Down to the long one: its whole message is below the list.
    ch(&mut app, 'j');
    ch(&mut app, 'j');
    ch(&mut app, 'j');
    let selected = app.log.selected_entry().unwrap();
    assert_eq!(selected.message(), LONG);
    let text = screen(&app);
    assert!(
        text.contains("Sorry"),
        "the end of the long message shows: {text}"
    );
    // G to the oldest, g to the newest.
    ch(&mut app, 'G');
    assert_eq!(app.log.selected_entry().unwrap().at, ago(200));
    ch(&mut app, 'g');
    assert_eq!(app.log.selected_entry().unwrap().model, "deepseek");
    // l again (or esc) goes back.
    ch(&mut app, 'l');
    assert_eq!(app.focus, Focus::Table);
}

#[test]
fn the_failure_log_filters_and_dates_what_is_not_today() {
    let mut app = fixture::app(120, 32);
    app.settings.window = Duration::from_secs(24 * 3600);
    with_log(&mut app);
    app.update(Action::Failures({
        let mut f = failures();
        f.push(failure(
            "gemini-pro",
            ago(13 * 3600),
            FailureClass::Timeout,
            None,
            "no first token within 10s",
        ));
        f
    }));
    ch(&mut app, 'l');
    let text = screen(&app);
    assert!(text.contains("2025-01-14 23:00:00  gemini-pro"), "{text}");
    assert!(
        text.contains("           11:57:00  gpt-4o"),
        "today: clock only, aligned: {text}"
    );
    ch(&mut app, '/');
    typed(&mut app, "timeout");
    key(&mut app, KeyCode::Enter);
    let rows = app.log.rows();
    assert_eq!(rows.len(), 2, "the two timeouts");
    assert!(screen(&app).contains("filter /timeout (2 of 7)"));
    // By HTTP status, and esc clears.
    ch(&mut app, '/');
    app.update(Action::Key(KeyEvent::new(
        KeyCode::Char('u'),
        KeyModifiers::CONTROL,
    )));
    typed(&mut app, "^429$");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.log.rows().len(), 1);
    key(&mut app, KeyCode::Esc);
    assert!(!app.log.filter.is_active());
    assert_eq!(app.focus, Focus::Log, "the first esc clears the filter");
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.focus, Focus::Table);
}

#[test]
fn y_copies_the_whole_line_or_says_why_not() {
    let mut app = fixture::app(120, 32);
    with_log(&mut app);
    ch(&mut app, 'l');
    for _ in 0..3 {
        ch(&mut app, 'j');
    }
    let cmds = ch(&mut app, 'y');
    let expected = format!("2025-01-15 11:57:00 +00:00  gpt-4o  server_error  502  {LONG}");
    assert_eq!(cmds, vec![Command::Copy(expected)]);
    app.update(Action::Copied(Ok(())));
    assert_eq!(app.flash_text(), Some("copied"));
    assert!(screen(&app).contains("» copied"));
    app.update(Action::Copied(Err("broken pipe".into())));
    assert_eq!(
        app.flash_text(),
        Some("clipboard not available: broken pipe")
    );
    // A console known to have no OSC 52: nothing is sent.
    app.clipboard = ClipboardEnv {
        tmux: false,
        unavailable: Some("TERM=linux has no OSC 52 clipboard".into()),
    };
    assert!(ch(&mut app, 'y').is_empty());
    assert!(app
        .flash_text()
        .unwrap()
        .starts_with("clipboard not available: TERM=linux"));
    // The message goes away after a while.
    app.update(Action::Tick(now() + chrono::Duration::seconds(10)));
    assert_eq!(app.flash_text(), None);
}

// ---------------------------------------------------------------- screens

fn both_sizes(name: &str, setup: impl Fn(&mut App)) {
    for (w, h) in [(80, 24), (160, 48)] {
        let mut app = fixture::app(w, h);
        setup(&mut app);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), screen(&app));
    }
}

#[test]
fn screen_filtered_table() {
    both_sizes("filtered", |app| {
        ch(app, '/');
        typed(app, "gemini");
        key(app, KeyCode::Enter);
    });
}

#[test]
fn screen_filter_being_typed() {
    both_sizes("filter_typing", |app| {
        ch(app, '/');
        typed(app, "gpt");
    });
}

#[test]
fn screen_failure_log() {
    both_sizes("failure_log", |app| {
        with_log(app);
        ch(app, 'l');
        for _ in 0..3 {
            ch(app, 'j');
        }
    });
}

#[test]
fn screen_confirm_reset() {
    both_sizes("confirm_reset", |app| {
        ch(app, 'J');
        ch(app, 'R');
    });
}

#[test]
fn screen_many_models() {
    for (w, h) in [(80, 24), (160, 48)] {
        let app = fixture::many(60, w, h);
        insta::assert_snapshot!(format!("many_{w}x{h}"), screen(&app));
    }
}

// ---------------------------------------------------------------- event loop

mod event_loop {
    use super::*;
    use base64::Engine as _;
    use chainwatch::health::ModelSnapshot;
    use chainwatch::route::{RouteEvent, RouteTarget};
    use chainwatch::tui::event_loop::{run_dashboard, News, RouteFuture, Services};
    use crossterm::event::Event;
    use futures_util::StreamExt;
    use std::sync::{Arc, Mutex};
    use support::recorder::Recorder;
    use tokio::sync::mpsc;
    use tokio_util::sync::CancellationToken;

    struct Fake {
        models: Vec<ModelSnapshot>,
        /// How many snapshots each call asked for: (all?, how many).
        asked: Mutex<Vec<(bool, usize)>>,
    }

    impl Fake {
        fn new(models: Vec<ModelSnapshot>) -> Arc<Fake> {
            Arc::new(Fake {
                models,
                asked: Mutex::new(Vec::new()),
            })
        }
    }

    impl Services for Fake {
        fn snapshots(&self, _now: DateTime<Utc>) -> Vec<ModelSnapshot> {
            self.asked.lock().unwrap().push((true, self.models.len()));
            self.models.clone()
        }
        fn snapshots_of(&self, names: &[String], _now: DateTime<Utc>) -> Vec<ModelSnapshot> {
            self.asked.lock().unwrap().push((false, names.len()));
            self.models
                .iter()
                .filter(|m| names.contains(&m.name))
                .cloned()
                .collect()
        }
        /// The fixture's failures, moved to the wall clock the loop runs on.
        fn failures_since(&self, since: DateTime<Utc>) -> Vec<(String, FailureRecord)> {
            let shift = Utc::now() - now();
            failures()
                .into_iter()
                .map(|(m, mut r)| {
                    r.at += shift;
                    (m, r)
                })
                .filter(|(_, r)| r.at >= since)
                .collect()
        }
        fn spend_today(&self, _now: DateTime<Utc>) -> f64 {
            0.0
        }
        fn probe_now(&self, _model: Option<&str>) {}
        fn acknowledge_drift(&self, _model: &str, _now: DateTime<Utc>) {}
        fn edit_chain(&self, _edit: &chainwatch::route::ChainEdit) -> anyhow::Result<Vec<String>> {
            Ok(Vec::new())
        }
        fn chain_order(&self) -> Vec<String> {
            Vec::new()
        }
        fn route(
            &self,
            _chain: Vec<String>,
            _text: String,
            _target: RouteTarget,
            _buffered: bool,
            _events: mpsc::UnboundedSender<RouteEvent>,
        ) -> RouteFuture {
            Box::pin(std::future::pending())
        }
    }

    fn press(c: char) -> std::io::Result<Event> {
        Ok(Event::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::NONE,
        )))
    }

    /// `l`, `j` ×2, `y`, `q`: the OSC 52 bytes reach the terminal through
    /// the backend, carrying the selected line whole.
    #[tokio::test]
    async fn y_writes_osc52_through_the_backend() {
        let fake = Fake::new(fixture::models());
        let keys = vec![press('l'), press('j'), press('j'), press('y'), press('q')];
        let stream = futures_util::stream::iter(keys).chain(futures_util::stream::pending());
        let (_tx, rx) = mpsc::unbounded_channel::<News>();
        let mut terminal = Terminal::new(Recorder::new(120, 32)).unwrap();
        let mut app = fixture::app(120, 32);
        state_change(&mut app);
        let run = run_dashboard(
            &mut terminal,
            &mut app,
            fake,
            Box::pin(stream),
            rx,
            CancellationToken::new(),
        );
        tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .expect("q ends the loop")
            .unwrap();
        let raw = String::from_utf8(terminal.backend().raw.clone()).unwrap();
        let payload = raw
            .strip_prefix("\x1b]52;c;")
            .and_then(|r| r.strip_suffix('\x07'))
            .unwrap_or_else(|| panic!("not one OSC 52 sequence: {raw:?}"));
        let text = base64::engine::general_purpose::STANDARD
            .decode(payload)
            .unwrap();
        // The time is the wall clock's here (the loop runs on it).
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains(" +00:00  gpt-4o  server_error  502  "),
            "{text}"
        );
        assert!(text.ends_with(LONG), "{text}");
        assert_eq!(app.flash_text(), Some("copied"));
    }

    /// Inside tmux the sequence is sent plain and wrapped for passthrough.
    #[tokio::test]
    async fn inside_tmux_both_forms_are_sent() {
        let fake = Fake::new(fixture::models());
        let keys = vec![press('l'), press('y'), press('q')];
        let stream = futures_util::stream::iter(keys).chain(futures_util::stream::pending());
        let (_tx, rx) = mpsc::unbounded_channel::<News>();
        let mut terminal = Terminal::new(Recorder::new(100, 30)).unwrap();
        let mut app = fixture::app(100, 30);
        app.clipboard = ClipboardEnv {
            tmux: true,
            unavailable: None,
        };
        run_dashboard(
            &mut terminal,
            &mut app,
            fake,
            Box::pin(stream),
            rx,
            CancellationToken::new(),
        )
        .await
        .unwrap();
        let raw = String::from_utf8(terminal.backend().raw.clone()).unwrap();
        assert!(raw.starts_with("\x1b]52;c;"), "{raw:?}");
        assert!(raw.contains("\x1bPtmux;\x1b\x1b]52;c;"), "{raw:?}");
        assert!(raw.ends_with("\x07\x1b\\"), "{raw:?}");
        assert!(app.flash_text().unwrap().contains("set-clipboard on"));
    }

    /// News arriving one by one, 5 ms apart for a second, is drawn at most
    /// once per frame interval; probes of models off screen draw nothing;
    /// and a frame asks only for the rows on screen.
    #[tokio::test(start_paused = true)]
    async fn news_is_coalesced_and_only_rows_on_screen_are_refreshed() {
        let models = fixture::many(300, 120, 32).models.clone();
        let fake = Fake::new(models);
        let (tx, rx) = mpsc::unbounded_channel::<News>();
        let stop = CancellationToken::new();
        let mut terminal = Terminal::new(Recorder::new(120, 32)).unwrap();
        let mut app = fixture::many(300, 120, 32);
        let stopper = stop.clone();
        let feeder = async move {
            // Off screen: model-250 is far below the rows in view.
            for _ in 0..100 {
                tx.send(News::Probed("model-250".into())).unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let off_screen_done = tokio::time::Instant::now();
            for i in 0..200 {
                tx.send(News::Act(Box::new(Action::Health(HealthEvent {
                    at: now(),
                    model: format!("model-{:03}", i % 300),
                    kind: HealthEventKind::State {
                        from: Status::Healthy,
                        to: Status::Degraded,
                        reason: "slow".into(),
                    },
                }))))
                .unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            stopper.cancel();
            off_screen_done
        };
        let run = run_dashboard(
            &mut terminal,
            &mut app,
            Arc::clone(&fake),
            Box::pin(futures_util::stream::pending()),
            rx,
            stop,
        );
        let (result, _) = tokio::join!(run, feeder);
        result.unwrap();
        assert_eq!(app.events.len(), 200, "every event was taken in");
        // 1.5 s of news: the first frame, at most one per 100 ms of the
        // second of health news, and the 1 s ticks.
        let frames = terminal.backend().frames;
        assert!(
            (3..=16).contains(&frames),
            "{frames} frames for 300 news items"
        );
        let asked = fake.asked.lock().unwrap().clone();
        let full: Vec<_> = asked.iter().filter(|(all, _)| *all).collect();
        assert!(full.len() <= 2, "every model only at start: {asked:?}");
        let body = view::layout(app.area(), &app).table_body.height as usize;
        assert!(
            asked.iter().all(|(all, n)| *all || *n <= body + 1),
            "a frame asks for the rows on screen ({body}): {asked:?}"
        );
    }
}

// ---------------------------------------------------------------- docs

/// README.md and docs/dashboard.md carry the key table as
/// `keys::markdown()` writes it, between these markers; with
/// `UPDATE_DOCS=1` the test rewrites them instead of failing.
#[test]
fn docs_key_tables_are_the_key_table() {
    const BEGIN: &str = "<!-- keys: from src/tui/keys.rs; `UPDATE_DOCS=1 cargo test --test tui_incident docs` rewrites it -->\n";
    const END: &str = "<!-- /keys -->";
    let table = chainwatch::tui::keys::markdown();
    for doc in ["README.md", "docs/dashboard.md"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(doc);
        let text = std::fs::read_to_string(&path).unwrap();
        let (Some(start), Some(end)) = (text.find(BEGIN), text.find(END)) else {
            panic!("{doc} has no key table between the markers");
        };
        let current = &text[start + BEGIN.len()..end];
        if current == table {
            continue;
        }
        if std::env::var_os("UPDATE_DOCS").is_some() {
            let updated = format!("{}{BEGIN}{table}{}", &text[..start], &text[end..]);
            std::fs::write(&path, updated).unwrap();
            continue;
        }
        panic!(
            "{doc}'s key table is not the key table's; run UPDATE_DOCS=1 cargo test --test tui_incident docs\n--- in {doc}:\n{current}\n--- from keys.rs:\n{table}"
        );
    }
}

#[test]
fn tiny_and_huge_terminals_do_not_panic_in_the_new_states() {
    for (w, h) in [(1, 1), (10, 5), (20, 8), (40, 12), (300, 100)] {
        let mut app = fixture::app(w, h);
        with_log(&mut app);
        ch(&mut app, '/');
        typed(&mut app, "g(");
        screen(&app);
        key(&mut app, KeyCode::Enter);
        ch(&mut app, 'J');
        ch(&mut app, 'R');
        screen(&app);
        ch(&mut app, 'n');
        ch(&mut app, 'l');
        screen(&app);
        for c in ['j', 'G', 'y', '/', 'x', '\n'] {
            if c == '\n' {
                key(&mut app, KeyCode::Enter);
            } else {
                ch(&mut app, c);
            }
            screen(&app);
        }
        ch(&mut app, '?');
        for _ in 0..50 {
            ch(&mut app, 'j');
        }
        screen(&app);
    }
}
