//! Text from outside made safe to show: the one function every printer and
//! the screen pass provider-derived text through before it reaches a
//! terminal.
//!
//! A provider's error message, served model or provider name, or reply can
//! carry terminal control sequences (`ESC ]0;…BEL` retitles the terminal,
//! `ESC [2J` clears it, a C1 `CSI` does the same in one character) or
//! bidirectional overrides that make text read differently from what it
//! is. [`sanitize`] turns every such character into visible, harmless
//! text: C0 controls and DEL into their Unicode control pictures (`␛`,
//! `␇`, `␡`), C1 controls and invisible format characters into `<U+009B>`.
//! What is left of an escape sequence after its ESC is plain text
//! (`␛[2J`), so the user sees that something odd arrived instead of having
//! it act on their terminal.
//!
//! Pure and allocation-free when there is nothing to change (the usual case).

use std::borrow::Cow;
use std::fmt::Write as _;

/// What the caller can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One line: newlines and tabs become spaces, `\r` is shown as `␍`.
    Line,
    /// Lines of text (a reply): `\n` is kept, `\r\n` becomes `\n`, tabs
    /// become spaces.
    Block,
    /// Inside JSON that `serde_json` wrote (it escapes C0 itself): C1
    /// controls, DEL and invisible format characters become `\uXXXX`
    /// escapes, so the JSON means the same and a terminal shows it inertly.
    Json,
}

/// The text as it is safe to show in `shape`; borrowed when nothing changed.
pub fn sanitize(text: &str, shape: Shape) -> Cow<'_, str> {
    let Some(first) = first_unsafe(text, shape) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(&text[..first]);
    let mut chars = text[first..].chars().peekable();
    while let Some(c) = chars.next() {
        match (c, shape) {
            ('\n', Shape::Block) => out.push('\n'),
            ('\n' | '\t', Shape::Line) | ('\t', Shape::Block) => out.push(' '),
            // A line end in the `\r\n` style is a line end; a `\r` at the
            // very end is most likely the first half of one split across
            // two pieces of a stream.
            ('\r', Shape::Block) if matches!(chars.peek(), Some('\n') | None) => {}
            (c, Shape::Json) if needs_escape(c, shape) => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            (c, _) if needs_escape(c, shape) => push_visible(&mut out, c),
            (c, _) => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Whether `c` cannot be shown as it is in `shape`.
fn needs_escape(c: char, shape: Shape) -> bool {
    match shape {
        // serde_json already escapes C0 (including ESC, tab and newline).
        Shape::Json => c == '\u{7f}' || is_c1(c) || is_invisible_format(c),
        Shape::Line | Shape::Block => c.is_control() || is_invisible_format(c),
    }
}

fn is_c1(c: char) -> bool {
    ('\u{80}'..='\u{9f}').contains(&c)
}

/// Characters that change how the text around them reads without being
/// seen: bidirectional embeddings, overrides, isolates and marks, and the
/// line and paragraph separators some terminals act on.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{061c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// A control character as text anyone can see.
fn push_visible(out: &mut String, c: char) {
    let code = c as u32;
    match code {
        // U+2400..U+241F: the control pictures for NUL..US.
        0x00..=0x1f => out.push(char::from_u32(0x2400 + code).unwrap_or('�')),
        0x7f => out.push('\u{2421}'),
        _ => {
            let _ = write!(out, "<U+{code:04X}>");
        }
    }
}

/// The byte offset of the first character that needs changing.
fn first_unsafe(text: &str, shape: Shape) -> Option<usize> {
    text.char_indices()
        .find(|(_, c)| match (c, shape) {
            ('\n', Shape::Block) => false,
            ('\t' | '\n' | '\r', Shape::Line | Shape::Block) => true,
            _ => needs_escape(*c, shape),
        })
        .map(|(i, _)| i)
}

/// Serializes `value` as pretty JSON made safe by [`Shape::Json`], with a
/// line end: what every `--json` printer writes.
pub fn write_json(
    out: &mut impl std::io::Write,
    value: &impl serde::Serialize,
) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    out.write_all(sanitize(&text, Shape::Json).as_bytes())?;
    out.write_all(b"\n")
}

/// [`write_json`] on one line (JSON Lines, as `watch --json` prints).
pub fn json_line(value: &impl serde::Serialize) -> String {
    let text = serde_json::to_string(value).unwrap_or_default();
    sanitize(&text, Shape::Json).into_owned()
}

/// A writer that passes everything through [`sanitize`] on its way to
/// `inner`: what the commands wrap stdout and stderr in, so that no line
/// they print (today's or tomorrow's) can carry a control sequence.
///
/// [`Shape::Line`] holds a line until its `\n` and sanitizes it whole;
/// [`Shape::Block`] passes text on at once (a streamed answer), holding
/// back only a UTF-8 character split across two writes.
#[derive(Debug)]
pub struct SafeWriter<W: std::io::Write> {
    inner: W,
    shape: Shape,
    pending: Vec<u8>,
}

impl<W: std::io::Write> SafeWriter<W> {
    pub fn new(inner: W, shape: Shape) -> Self {
        SafeWriter {
            inner,
            shape,
            pending: Vec::new(),
        }
    }

    /// Lines of text: each sanitized as one line.
    pub fn lines(inner: W) -> Self {
        SafeWriter::new(inner, Shape::Line)
    }

    fn emit(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let text = String::from_utf8_lossy(bytes);
        self.inner.write_all(sanitize(&text, self.shape).as_bytes())
    }

    /// Writes out whatever is complete in `pending`.
    fn drain(&mut self, all: bool) -> std::io::Result<()> {
        let upto = match self.shape {
            Shape::Line => match self.pending.iter().rposition(|b| *b == b'\n') {
                Some(i) => i + 1,
                None if all => self.pending.len(),
                None => return Ok(()),
            },
            _ if all => self.pending.len(),
            _ => complete_utf8_prefix(&self.pending),
        };
        if upto == 0 {
            return Ok(());
        }
        let ready: Vec<u8> = self.pending.drain(..upto).collect();
        match self.shape {
            Shape::Line => {
                for line in ready.split_inclusive(|b| *b == b'\n') {
                    let (body, end) = match line.strip_suffix(b"\n") {
                        Some(body) => (body, true),
                        None => (line, false),
                    };
                    self.emit(body)?;
                    if end {
                        self.inner.write_all(b"\n")?;
                    }
                }
                Ok(())
            }
            _ => self.emit(&ready),
        }
    }
}

/// How much of `bytes` ends on a whole UTF-8 character (at most three
/// bytes of a started one are held back).
fn complete_utf8_prefix(bytes: &[u8]) -> usize {
    let len = bytes.len();
    for back in 1..=len.min(3) {
        let b = bytes[len - back];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: look further back
        }
        let need = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        return if need > back { len - back } else { len };
    }
    len
}

impl<W: std::io::Write> std::io::Write for SafeWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        self.drain(false)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.shape != Shape::Line {
            self.drain(false)?;
        }
        self.inner.flush()
    }
}

impl<W: std::io::Write> Drop for SafeWriter<W> {
    fn drop(&mut self) {
        let _ = self.drain(true);
        let _ = self.inner.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What no sanitized output may contain: ESC, any C0 but `\n`, DEL, C1,
    /// and the invisible format characters.
    fn dangerous(c: char, shape: Shape) -> bool {
        match shape {
            Shape::Block => c != '\n' && (c.is_control() || is_invisible_format(c)),
            Shape::Line => c.is_control() || is_invisible_format(c),
            Shape::Json => c == '\u{7f}' || is_c1(c) || is_invisible_format(c),
        }
    }

    #[test]
    fn escape_sequences_become_visible_text() {
        let hostile = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31mred\u{7f}";
        assert_eq!(
            sanitize(hostile, Shape::Line),
            "␛]0;pwned␇␛[2J<U+009B>31mred␡"
        );
        assert_eq!(sanitize("a\u{202e}cba", Shape::Line), "a<U+202E>cba");
        assert_eq!(sanitize("nul\0", Shape::Line), "nul␀");
    }

    #[test]
    fn lines_and_blocks() {
        assert_eq!(sanitize("a\nb\tc", Shape::Line), "a b c");
        assert_eq!(sanitize("a\r\nb\tc\r", Shape::Block), "a\nb c");
        assert_eq!(sanitize("over\rwrite", Shape::Block), "over␍write");
        assert_eq!(sanitize("over\rwrite", Shape::Line), "over␍write");
        assert_eq!(sanitize("a\r\nb", Shape::Line), "a␍ b");
    }

    #[test]
    fn clean_text_is_borrowed() {
        for s in ["plain", "héllo wörld — ✓", "multi\nline", ""] {
            if s.contains('\n') {
                assert!(matches!(sanitize(s, Shape::Block), Cow::Borrowed(_)));
            } else {
                assert!(matches!(sanitize(s, Shape::Line), Cow::Borrowed(_)));
            }
        }
    }

    #[test]
    fn safe_writer_lines_and_blocks() {
        use std::io::Write;
        let mut out = Vec::new();
        {
            let mut w = SafeWriter::lines(&mut out);
            write!(w, "a\u{1b}[2J").unwrap();
            writeln!(w, "b\tc").unwrap();
            writeln!(w, "d\u{9b}").unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), "a␛[2Jb c\nd<U+009B>\n");

        // A block passes text on at once, even a character split in two.
        let mut out = Vec::new();
        {
            let mut w = SafeWriter::new(&mut out, Shape::Block);
            let bytes = "é\u{1b}x\r".as_bytes();
            w.write_all(&bytes[..1]).unwrap();
            w.flush().unwrap();
            w.write_all(&bytes[1..]).unwrap();
            w.write_all(b"\nnext").unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), "é␛x\nnext");
    }

    #[test]
    fn json_keeps_its_meaning() {
        let value = serde_json::json!({"m": "\u{1b}[2J\u{9b}x\u{202e}y\u{7f}"});
        let line = json_line(&value);
        assert!(
            !line.contains('\u{1b}') && !line.contains('\u{9b}'),
            "{line}"
        );
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back, value, "the escapes decode to the same text");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn nothing_dangerous_survives(s in any::<String>()) {
            for shape in [Shape::Line, Shape::Block] {
                let out = sanitize(&s, shape);
                prop_assert!(!out.chars().any(|c| dangerous(c, shape)), "{:?} → {:?}", s, out);
            }
            let json = json_line(&serde_json::json!({ "s": s }));
            let esc = '\u{1b}';
            prop_assert!(!json.chars().any(|c| dangerous(c, Shape::Json) || c == esc), "{}", json);
            let back: serde_json::Value = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back["s"].as_str(), Some(s.as_str()));
        }

        #[test]
        fn safe_text_is_unchanged(s in "[a-zA-Z0-9 .,:;/é✓→-]{0,40}") {
            prop_assert_eq!(sanitize(&s, Shape::Line), s.as_str());
        }
    }
}
