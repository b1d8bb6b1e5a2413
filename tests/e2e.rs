//! The real binary in a pseudo-terminal: `chainwatch --demo` against its
//! in-process simulator. Waits for the table, moves a model with `J` and
//! undoes it with `u`, sends a prompt with `i`, reads the answer, filters
//! the table with `/gpt⏎`, opens the failure log with `l` and copies a line
//! with `y` (the OSC 52 bytes reach the terminal), quits with `q`, and
//! checks that the terminal was given back (alternate screen left, cursor
//! shown) and the exit code was 0.
//!
//! Every wait polls the parsed screen with a deadline; nothing sleeps to make
//! time pass.

use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, CommandBuilder, PtySize};

const ROWS: u16 = 32;
const COLS: u16 = 120;
const WAIT: Duration = Duration::from_secs(20);

struct Screen {
    parser: vt100::Parser,
    bytes: mpsc::Receiver<Vec<u8>>,
    /// Everything the program wrote, for what the screen does not show
    /// (the clipboard's escape).
    raw: Vec<u8>,
}

impl Screen {
    /// Takes what the program wrote so far, waiting up to `for_at_most` for
    /// the first chunk.
    fn pump(&mut self, for_at_most: Duration) -> bool {
        match self.bytes.recv_timeout(for_at_most) {
            Ok(chunk) => {
                self.parser.process(&chunk);
                self.raw.extend_from_slice(&chunk);
                while let Ok(more) = self.bytes.try_recv() {
                    self.parser.process(&more);
                    self.raw.extend_from_slice(&more);
                }
                true
            }
            Err(_) => false,
        }
    }

    fn text(&self) -> String {
        self.parser.screen().contents()
    }

    /// Polls until `ready` holds for the screen, or fails with the screen.
    fn wait_for(&mut self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.text();
            if ready(&text) {
                return text;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; the screen:\n{text}");
            }
            self.pump(Duration::from_millis(200));
        }
    }
}

/// The model at a chain position in the table ("│  2 gpt-4o  …").
fn at_position(screen: &str, pos: usize) -> Option<String> {
    screen.lines().find_map(|line| {
        let inner = line.trim_start_matches('│').trim_start();
        let (num, rest) = inner.split_once(' ')?;
        (num == pos.to_string()).then(|| rest.split_whitespace().next().map(str::to_string))?
    })
}

#[test]
fn demo_dashboard_in_a_pty() {
    let home = tempfile::tempdir().unwrap();
    let pty = native_pty_system()
        .openpty(PtySize {
            rows: ROWS,
            cols: COLS,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_chainwatch"));
    cmd.arg("--demo");
    cmd.env("TERM", "xterm-256color");
    cmd.env("HOME", home.path());
    cmd.env("XDG_CONFIG_HOME", home.path().join("config"));
    cmd.env("XDG_STATE_HOME", home.path().join("state"));
    cmd.env_remove("OPENROUTER_API_KEY");
    let mut child = pty.slave.spawn_command(cmd).unwrap();
    drop(pty.slave);

    let mut reader = pty.master.try_clone_reader().unwrap();
    let mut keys = pty.master.take_writer().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut screen = Screen {
        parser: vt100::Parser::new(ROWS, COLS, 0),
        bytes: rx,
        raw: Vec::new(),
    };
    let mut press = |bytes: &[u8]| {
        keys.write_all(bytes).unwrap();
        keys.flush().unwrap();
    };

    // The table, with the demo's chain.
    let text = screen.wait_for("the models table", |s| {
        s.contains("model") && s.contains("status") && at_position(s, 2).is_some()
    });
    assert!(text.contains("demo"), "the demo badge is shown:\n{text}");
    assert!(screen.parser.screen().alternate_screen());
    let first = at_position(&text, 1).unwrap();
    let second = at_position(&text, 2).unwrap();

    // J moves the selected (first) model down one place.
    press(b"J");
    let text = screen.wait_for("the model to move", |s| {
        at_position(s, 2).as_deref() == Some(first.as_str())
    });
    assert_eq!(at_position(&text, 1).as_deref(), Some(second.as_str()));
    // u undoes it.
    press(b"u");
    let text = screen.wait_for("the move to be undone", |s| {
        at_position(s, 1).as_deref() == Some(first.as_str())
    });
    assert!(text.contains("undone"), "the footer says so:\n{text}");

    // A prompt through the healthy chain; the simulator answers "pong".
    press(b"i");
    screen.wait_for("the prompt input", |s| s.contains("enter send"));
    press(b"say pong please");
    press(b"\r");
    let text = screen.wait_for("the answer", |s| s.contains("answered in"));
    let answer = text
        .lines()
        .skip_while(|l| !l.contains("answered in"))
        .skip(1)
        .find(|l| !l.trim_matches(|c| c == '│' || c == ' ').is_empty())
        .unwrap_or_default()
        .to_string();
    eprintln!("answer line: {answer}");
    assert!(
        answer.contains("pong"),
        "the answer line: {answer:?}\n{text}"
    );

    // Leave the input; filter the table to "gpt".
    press(b"\x1b");
    screen.wait_for("the table keys again", |s| s.contains("move in chain"));
    press(b"/gpt\r");
    let text = screen.wait_for("the filter", |s| s.contains("models match /gpt"));
    assert!(at_position(&text, 1).is_none(), "only gpt rows:\n{text}");

    // The failure log: wait for a failure (the demo has some within
    // seconds), then copy the selected line.
    press(b"l");
    screen.wait_for("a failure in the log", |s| {
        s.contains("failure log ·") && !s.contains("· 0 failures")
    });
    press(b"y");
    screen.wait_for("the copy", |s| s.contains("copied"));
    let raw = String::from_utf8_lossy(&screen.raw);
    assert!(raw.contains("\x1b]52;c;"), "an OSC 52 sequence was written");
    press(b"\x1b");
    screen.wait_for("the table again", |s| s.contains("move in chain"));
    press(b"q");
    let deadline = Instant::now() + WAIT;
    let status = loop {
        screen.pump(Duration::from_millis(100));
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "chainwatch did not exit after q; the screen:\n{}",
                screen.text()
            );
        }
    };
    // Take the last bytes (leaving the alternate screen, showing the cursor).
    while screen.pump(Duration::from_millis(300)) {}
    assert!(status.success(), "exit status {status:?}");
    let s = screen.parser.screen();
    assert!(!s.alternate_screen(), "the alternate screen was left");
    assert!(!s.hide_cursor(), "the cursor is shown again");
}
