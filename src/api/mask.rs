//! Keeping keys out of everything we show: the pattern mask for anything
//! that looks like a key, and the exact-key scrub for the key we sent,
//! whatever it looks like. Every message, reply and served name passes
//! through here before it reaches a screen, a log or the state file.

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

/// Replaces every occurrence of the exact key, whatever it looks like:
/// defence for keys the patterns would not recognise.
pub fn scrub_key(text: &str, key: Option<&str>) -> String {
    match key {
        Some(k) if k.len() >= 4 && text.contains(k) => text.replace(k, "***"),
        _ => text.to_string(),
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
}
