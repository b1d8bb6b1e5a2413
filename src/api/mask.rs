//! Keeping keys out of everything we show: the pattern mask for anything
//! that looks like a key, and the key mask for the key we sent, whatever it
//! looks like: any run of [`FRAGMENT`] or more of its characters (a 401
//! that echoes a slice of the key is masked as surely as one that echoes
//! all of it). Every message, reply and served name passes through here
//! before it reaches a screen, a log or the state file; a streamed reply
//! passes through [`KeyStream`], which holds back only the few characters
//! that could still turn out to begin a fragment.

use std::collections::HashSet;
use std::sync::OnceLock;

use regex::Regex;

fn secret_patterns() -> &'static [(Regex, &'static str)] {
    static PATTERNS: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        // Hard-coded patterns: a failure to compile is a bug caught by the
        // unit tests, so skipping a broken one (rather than panicking) is safe.
        [
            // Authorization header values, whatever the token looks like.
            (r"(?i)\b(bearer)\s+[^\s,;]+", "$1 ***"),
            // Prefixed keys: keep the prefix that says which service it is.
            (r"\b(sk-or-v1-|sk-or-|sk-ant-|sk-proj-|sk-svcacct-|sk-)[A-Za-z0-9_\-]{8,}", "$1…***"),
            (r"\b(gsk_|xai-|pk-|rk-|AIza)[A-Za-z0-9_\-]{16,}", "$1…***"),
            // `x-api-key: value` / `api_key=value` echoed back.
            (r#"(?i)\b(x-api-key|api[_-]?key|access[_-]?token)(["']?\s*[:=]\s*["']?)[^\s"',;&]{6,}"#, "$1$2***"),
            // Long hex or base64-ish runs mixing letters and digits.
            (r"\b[A-Za-z0-9+_]{32,}={0,2}", "\u{0}"),
        ]
        .into_iter()
        .filter_map(|(re, rep)| Regex::new(re).ok().map(|r| (r, rep)))
        .collect()
    })
}

/// Masks anything key-like: `sk-…` keys keep their prefix (`sk-or-v1-…***`),
/// `Bearer` tokens become `Bearer ***`, long runs of letters and digits
/// (hex, base64) become `***`. Model ids and URLs survive.
pub fn mask_secrets(text: &str) -> String {
    let mut out = text.to_string();
    for (re, rep) in secret_patterns() {
        if *rep == "\u{0}" {
            out = re
                .replace_all(&out, |caps: &regex::Captures<'_>| {
                    let run = caps.get(0).map(|m| m.as_str()).unwrap_or_default();
                    let has_digit = run.chars().any(|c| c.is_ascii_digit());
                    let has_alpha = run.chars().any(|c| c.is_ascii_alphabetic());
                    if has_digit && has_alpha {
                        "***".to_string()
                    } else {
                        run.to_string()
                    }
                })
                .into_owned();
        } else {
            out = re.replace_all(&out, *rep).into_owned();
        }
    }
    out
}

/// One line, whitespace collapsed, masked, at most `max_chars` characters
/// (the last one `…` when cut).
pub fn short_message(text: &str, max_chars: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let masked = mask_secrets(&one_line);
    if masked.chars().count() <= max_chars {
        return masked;
    }
    let mut cut: String = masked.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A run of this many characters of a key is masked wherever it appears.
pub const FRAGMENT: usize = 12;
/// Keys shorter than this are not masked at all (they would mask words).
const KEY_MIN: usize = 4;

/// Masks every run of [`FRAGMENT`] or more characters of `key` in `text`
/// (the whole key when it is shorter), whatever the key looks like:
/// defence for keys the patterns would not recognise, and for slices of
/// them. Each run becomes one `***`.
pub fn scrub_key(text: &str, key: Option<&str>) -> String {
    match key.and_then(KeyMask::new) {
        Some(mask) => mask.apply(text),
        None => text.to_string(),
    }
}

/// The windows of one key: every run of `n` bytes of it (`n` is
/// [`FRAGMENT`], or the key's length when shorter), in a set, so a text is
/// checked in one pass of `n`-byte windows: O(text × n), whatever the
/// key's length.
#[derive(Clone)]
pub struct KeyMask {
    key: Vec<u8>,
    n: usize,
    grams: HashSet<Vec<u8>>,
}

impl std::fmt::Debug for KeyMask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyMask(***)")
    }
}

impl KeyMask {
    /// `None` for a key too short to mask, or one that is not ASCII (no
    /// HTTP header carries such a key; the exact match still applies).
    pub fn new(key: &str) -> Option<KeyMask> {
        if key.len() < KEY_MIN || !key.is_ascii() {
            return None;
        }
        let n = FRAGMENT.min(key.len());
        let grams = key.as_bytes().windows(n).map(<[u8]>::to_vec).collect();
        Some(KeyMask {
            key: key.as_bytes().to_vec(),
            n,
            grams,
        })
    }

    /// Which bytes of `buf` lie in a window that is a piece of the key.
    fn covered(&self, buf: &[u8]) -> Vec<bool> {
        let mut covered = vec![false; buf.len()];
        let mut until = 0; // covered up to here (exclusive) by the last match
        for (i, w) in buf.windows(self.n).enumerate() {
            if self.grams.contains(w) {
                let from = i.max(until);
                covered[from..i + self.n].iter_mut().for_each(|c| *c = true);
                until = i + self.n;
            }
        }
        covered
    }

    /// `text` with every run of the key masked as `***`.
    pub fn apply(&self, text: &str) -> String {
        let bytes = text.as_bytes();
        let covered = self.covered(bytes);
        if !covered.contains(&true) {
            return text.to_string();
        }
        let mut out = Vec::with_capacity(bytes.len());
        push_masked(&mut out, bytes, &covered, false);
        // Runs are of the key's ASCII bytes, so cutting them out leaves
        // whole UTF-8 characters around them.
        String::from_utf8(out).unwrap_or_default()
    }

    /// The length of the longest end of `buf` (shorter than a window)
    /// that is a piece of the key: what a later piece of text could still
    /// complete into a window.
    fn open_tail(&self, buf: &[u8]) -> usize {
        (1..self.n.min(buf.len() + 1))
            .rev()
            .find(|&len| {
                let tail = &buf[buf.len() - len..];
                self.key.windows(len).any(|w| w == tail)
            })
            .unwrap_or(0)
    }
}

/// Appends `bytes` to `out`, each maximal covered run as one `***`, except
/// that a run at the very start which continues one already written
/// (`continues`) writes nothing more.
fn push_masked(out: &mut Vec<u8>, bytes: &[u8], covered: &[bool], continues: bool) {
    let mut in_run = continues;
    for (b, c) in bytes.iter().zip(covered) {
        match (*c, in_run) {
            (true, true) => {}
            (true, false) => {
                out.extend_from_slice(b"***");
                in_run = true;
            }
            (false, _) => {
                out.push(*b);
                in_run = false;
            }
        }
    }
}

/// [`KeyMask`] over a stream of pieces: what it returns, concatenated, is
/// exactly `mask.apply` of the whole text. Only an end that could still
/// become a run of the key is held back until the next piece (or
/// [`KeyStream::finish`]): a reply that does not look like the key streams
/// through at once.
#[derive(Debug, Clone)]
pub struct KeyStream {
    mask: KeyMask,
    /// Text not yet passed on.
    held: Vec<u8>,
    /// The last bytes passed on (fewer than a window), as sent: a window
    /// may start in them.
    context: Vec<u8>,
    /// Whether the last byte passed on was masked.
    in_run: bool,
}

impl KeyStream {
    pub fn new(mask: KeyMask) -> KeyStream {
        KeyStream {
            mask,
            held: Vec::new(),
            context: Vec::new(),
            in_run: false,
        }
    }

    /// Takes the next piece; returns what can be shown now (maybe nothing).
    pub fn push(&mut self, piece: &str) -> String {
        self.held.extend_from_slice(piece.as_bytes());
        self.release(false)
    }

    /// The end of the stream: everything still held.
    pub fn finish(&mut self) -> String {
        self.release(true)
    }

    fn release(&mut self, all: bool) -> String {
        let buf: Vec<u8> = self.context.iter().chain(&self.held).copied().collect();
        let start = self.context.len();
        let hold = if all {
            0
        } else {
            self.mask.open_tail(&buf).min(self.held.len())
        };
        // The held-back tail is the key's ASCII, so this is a character
        // boundary; windows ending past it are not all known yet.
        let end = buf.len() - hold;
        if end == start {
            return String::new();
        }
        let covered = self.mask.covered(&buf);
        let mut out = Vec::with_capacity(end - start);
        push_masked(
            &mut out,
            &buf[start..end],
            &covered[start..end],
            self.in_run,
        );
        self.in_run = covered[end - 1];
        self.held.drain(..end - start);
        let keep = (self.mask.n - 1).min(end);
        self.context = buf[end - keep..end].to_vec();
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking() {
        let cases = [
            ("key sk-or-v1-abcdef0123456789abcdef", "key sk-or-v1-…***"),
            ("sk-ant-api03-AAAAbbbbCCCC1234-x_y", "sk-ant-…***"),
            ("sk-proj-abcdefgh12345678", "sk-proj-…***"),
            ("sk-abcdefgh1234", "sk-…***"),
            (
                "Authorization: Bearer abc.def-ghi",
                "Authorization: Bearer ***",
            ),
            ("bearer xyz", "bearer ***"),
            ("x-api-key: my-secret-key-value", "x-api-key: ***"),
            (r#"{"api_key":"hunter22hunter"}"#, r#"{"api_key":"***"}"#),
            (
                "hash 0123456789abcdef0123456789abcdef01 end",
                "hash *** end",
            ),
            ("AIzaSyA1234567890abcdefghijklmnopqrs", "AIza…***"),
            ("gsk_abcdefghijklmnop1234", "gsk_…***"),
        ];
        for (input, want) in cases {
            assert_eq!(mask_secrets(input), want, "input {input}");
        }
    }

    #[test]
    fn masking_spares_ordinary_text() {
        for text in [
            "anthropic/claude-3-5-sonnet-20241022",
            "https://openrouter.ai/api/v1/chat/completions",
            "gen-1234567890-abcdefghijklmnopqrst",
            "No endpoints found for meta-llama/llama-3.1-405b-instruct:free.",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "task-list is short",
            "/api/v1/models/openai/gpt4o/endpoints/extra/path",
            "550e8400-e29b-41d4-a716-446655440000",
        ] {
            assert_eq!(mask_secrets(text), text);
        }
    }

    #[test]
    fn short_message_one_line_and_cut() {
        assert_eq!(short_message("a\n b\t\tc", 10), "a b c");
        assert_eq!(short_message("abcdefghij", 5), "abcd…");
        assert_eq!(short_message("héllo wörld", 6), "héllo…");
        assert_eq!(short_message("abc", 0), "…");
        // Masked before cutting, so a cut never leaves half a key behind.
        let m = short_message("sk-or-v1-0123456789abcdef0123456789", 12);
        assert!(!m.contains("0123"), "{m}");
    }

    #[test]
    fn scrub_exact_key() {
        assert_eq!(
            scrub_key("echo: weird key!", Some("weird key!")),
            "echo: ***"
        );
        assert_eq!(scrub_key("text", None), "text");
        assert_eq!(scrub_key("a", Some("")), "a");
    }

    const KEY: &str = "sk-or-v1-0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f";

    #[test]
    fn key_fragments_are_masked() {
        // A 21-character slice from the middle of the key, as a 401 echoed it.
        let slice = &KEY[20..41];
        let text = format!("Invalid key {slice} (check your dashboard)");
        assert_eq!(
            scrub_key(&text, Some(KEY)),
            "Invalid key *** (check your dashboard)"
        );
        // Exactly 12 is a fragment; 11 is not.
        let twelve = &KEY[30..42];
        assert_eq!(scrub_key(&format!("<{twelve}>"), Some(KEY)), "<***>");
        let eleven = &KEY[30..41];
        let kept = format!("<{eleven}>");
        assert_eq!(scrub_key(&kept, Some(KEY)), kept);
        // Two fragments, and text between them that is not the key.
        let two = format!("{} and {}", &KEY[..15], &KEY[40..60]);
        assert_eq!(scrub_key(&two, Some(KEY)), "*** and ***");
        // Non-ASCII text around a fragment survives whole.
        let around = format!("é{}ü", &KEY[5..25]);
        assert_eq!(scrub_key(&around, Some(KEY)), "é***ü");
        // A short key is masked whole.
        assert_eq!(scrub_key("the key abcdef!", Some("abcdef")), "the key ***!");
    }

    #[test]
    fn a_stream_passes_ordinary_text_at_once() {
        let mut s = KeyStream::new(KeyMask::new(KEY).unwrap());
        // "zq" ends in nothing the key contains: nothing is held back.
        assert_eq!(s.push("pong zq"), "pong zq");
        let fragment = &KEY[10..30];
        let mut shown = s.push(&fragment[..7]);
        shown.push_str(&s.push(&fragment[7..]));
        shown.push_str(&s.push(" done"));
        shown.push_str(&s.finish());
        assert_eq!(shown, "*** done");
    }

    fn masked_whole(text: &str) -> String {
        KeyMask::new(KEY).unwrap().apply(text)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Streamed in any pieces, the text comes out exactly as masked whole.
        #[test]
        fn a_stream_masks_as_the_whole(
            parts in proptest::collection::vec((0usize..70, 0usize..30, "[a-z é]{0,6}"), 0..6),
            cuts in proptest::collection::vec(0usize..200, 0..8),
        ) {
            let mut text = String::new();
            for (at, len, noise) in &parts {
                let from = (*at).min(KEY.len());
                let to = (from + len).min(KEY.len());
                text.push_str(&KEY[from..to]);
                text.push_str(noise);
            }
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(text.len())).filter(|c| text.is_char_boundary(*c)).collect();
            cuts.sort_unstable();
            let mut s = KeyStream::new(KeyMask::new(KEY).unwrap());
            let mut out = String::new();
            let mut last = 0;
            for c in cuts.into_iter().chain([text.len()]) {
                out.push_str(&s.push(&text[last..c]));
                last = c;
            }
            out.push_str(&s.finish());
            proptest::prop_assert_eq!(&out, &masked_whole(&text));
            // And no run of 12 characters of the key survives.
            for w in KEY.as_bytes().windows(FRAGMENT) {
                let w = std::str::from_utf8(w).unwrap();
                proptest::prop_assert!(!out.contains(w), "{} in {}", w, out);
            }
        }
    }
}
