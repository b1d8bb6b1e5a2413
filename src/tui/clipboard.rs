//! Copying to the clipboard with OSC 52: the text, base64-encoded, in an
//! escape sequence that the terminal turns into a clipboard write. It needs
//! no clipboard library and no display server, and it works over ssh,
//! because the terminal on the user's desk does the work.
//!
//! Inside tmux the sequence is sent twice: plain (tmux takes it when
//! `set-clipboard` is `on` and passes it on to the outer terminal) and
//! wrapped in tmux's passthrough (taken when `allow-passthrough` is on).
//! A terminal never answers an OSC 52, so "copied" means "sent"; the footer
//! says what tmux needs.

use std::io;

use base64::Engine as _;
use ratatui::backend::{CrosstermBackend, TestBackend};

/// What the environment says about the clipboard, read once at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClipboardEnv {
    /// Inside tmux (`$TMUX` set).
    pub tmux: bool,
    /// Why OSC 52 cannot work here, when that is known (the Linux console).
    pub unavailable: Option<String>,
}

impl ClipboardEnv {
    pub fn from_env() -> ClipboardEnv {
        let term = std::env::var("TERM").unwrap_or_default();
        let unavailable = match term.as_str() {
            "linux" | "dumb" => Some(format!(
                "TERM={term} has no OSC 52 clipboard; select the text with the mouse"
            )),
            _ => None,
        };
        ClipboardEnv {
            tmux: std::env::var_os("TMUX").is_some_and(|v| !v.is_empty()),
            unavailable,
        }
    }

    /// The footer's word after a copy was sent.
    pub fn sent_words(&self) -> &'static str {
        if self.tmux {
            "copied (OSC 52; tmux passes it on with `set -g set-clipboard on`)"
        } else {
            "copied"
        }
    }
}

/// The bytes that put `text` on the clipboard.
pub fn osc52(text: &str, tmux: bool) -> Vec<u8> {
    let payload = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    let plain = format!("\x1b]52;c;{payload}\x07");
    if !tmux {
        return plain.into_bytes();
    }
    // tmux passthrough: ESC P tmux; <the sequence, every ESC doubled> ESC \
    let wrapped = format!("\x1bPtmux;\x1b{plain}\x1b\\");
    format!("{plain}{wrapped}").into_bytes()
}

/// A backend that can take bytes besides frames: the clipboard's escape
/// goes to the terminal through the same writer the frames do.
pub trait RawOutput {
    fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()>;
}

impl<W: io::Write> RawOutput for CrosstermBackend<W> {
    fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        io::Write::write_all(self, bytes)?;
        io::Write::flush(self)
    }
}

impl RawOutput for TestBackend {
    fn write_raw(&mut self, _bytes: &[u8]) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the test backend has no terminal",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc52_bytes() {
        assert_eq!(osc52("hi", false), b"\x1b]52;c;aGk=\x07");
        let both = String::from_utf8(osc52("hi", true)).unwrap();
        assert_eq!(
            both,
            "\x1b]52;c;aGk=\x07\x1bPtmux;\x1b\x1b]52;c;aGk=\x07\x1b\\"
        );
        // Any text, escapes included, travels inside the base64.
        let nasty = osc52("a\x1b]0;title\x07é", false);
        assert_eq!(nasty.iter().filter(|b| **b == 0x1b).count(), 1);
    }

    #[test]
    fn crossterm_backend_writes_the_bytes() {
        let mut out: Vec<u8> = Vec::new();
        {
            let mut backend = CrosstermBackend::new(&mut out);
            backend.write_raw(&osc52("x", false)).unwrap();
        }
        assert_eq!(out, b"\x1b]52;c;eA==\x07");
    }
}
