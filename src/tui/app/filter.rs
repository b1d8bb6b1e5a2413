//! The `/` filter of the models table and of the failure log: what was
//! typed and how it matches.
//!
//! Case-insensitive. Plain text matches as a substring; text with a regex
//! metacharacter (`. * + ? ( ) [ ] { } | ^ $ \`) that compiles as a regex
//! matches as one (`^gpt`, `flash|mini`, `5\d\d`), and when it does not
//! compile (`gpt-4o(`) it falls back to a substring, so typing never shows
//! an error, only fewer rows.

use regex::{Regex, RegexBuilder};

#[derive(Debug, Clone, Default)]
pub struct Filter {
    text: String,
    matcher: Matcher,
}

#[derive(Debug, Clone, Default)]
enum Matcher {
    #[default]
    All,
    /// Lower-cased.
    Substring(String),
    Regex(Regex),
}

const METACHARACTERS: &[char] = &[
    '.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '^', '$', '\\',
];

/// Typed filters stay short; a longer one is not a filter.
pub const FILTER_CAP: usize = 256;

impl Filter {
    pub fn new(text: &str) -> Filter {
        let mut f = Filter::default();
        f.set(text);
        f
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether anything is filtered out.
    pub fn is_active(&self) -> bool {
        !matches!(self.matcher, Matcher::All)
    }

    /// Whether the text is matched as a regex.
    pub fn is_regex(&self) -> bool {
        matches!(self.matcher, Matcher::Regex(_))
    }

    pub fn push(&mut self, c: char) {
        if self.text.len() + c.len_utf8() <= FILTER_CAP && !c.is_control() {
            let mut text = std::mem::take(&mut self.text);
            text.push(c);
            self.set(&text);
        }
    }

    pub fn pop(&mut self) {
        let mut text = std::mem::take(&mut self.text);
        text.pop();
        self.set(&text);
    }

    pub fn clear(&mut self) {
        self.set("");
    }

    fn set(&mut self, text: &str) {
        self.text = text.to_string();
        self.matcher = if text.is_empty() {
            Matcher::All
        } else if text.contains(METACHARACTERS) {
            RegexBuilder::new(text)
                .case_insensitive(true)
                .size_limit(1 << 20)
                .build()
                .map_or_else(|_| Matcher::Substring(text.to_lowercase()), Matcher::Regex)
        } else {
            Matcher::Substring(text.to_lowercase())
        };
    }

    /// Whether any of `fields` matches.
    pub fn matches<'a>(&self, fields: impl IntoIterator<Item = &'a str>) -> bool {
        match &self.matcher {
            Matcher::All => true,
            Matcher::Substring(needle) => fields.into_iter().any(|f| contains_folded(f, needle)),
            Matcher::Regex(re) => fields.into_iter().any(|f| re.is_match(f)),
        }
    }
}

/// `haystack` contains the lower-cased `needle`, ignoring case, without
/// allocating for ASCII (model names and ids are).
fn contains_folded(haystack: &str, needle: &str) -> bool {
    if haystack.is_ascii() && needle.is_ascii() {
        let (h, n) = (haystack.as_bytes(), needle.as_bytes());
        return n.len() <= h.len() && h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    haystack.to_lowercase().contains(needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substring_regex_and_fallback() {
        let fields = ["gpt-4o-mini", "openai/gpt-4o-mini", "openai", "healthy"];
        let cases = [
            ("", true, false),
            ("GPT", true, false),
            ("claude", false, false),
            ("^gpt-4o$", false, true),
            ("^gpt-4o-mini$", true, true),
            ("mini|claude", true, true),
            ("gpt-4o(", false, false),
            ("4o-mini(", false, false),
            ("4O-MINI", true, false),
            ("ok$", false, true),
            ("healthy", true, false),
        ];
        for (text, want, regex) in cases {
            let f = Filter::new(text);
            assert_eq!(f.matches(fields), want, "{text:?}");
            assert_eq!(f.is_regex(), regex, "{text:?}");
        }
        assert!(Filter::new("héLLo").matches(["oh hÉllo"]));
    }

    #[test]
    fn typing_and_deleting() {
        let mut f = Filter::default();
        assert!(!f.is_active());
        for c in "gp\u{1b}t".chars() {
            f.push(c);
        }
        assert_eq!(f.text(), "gpt", "control characters are not typed");
        assert!(f.matches(["gpt-4o"]));
        f.pop();
        f.pop();
        assert_eq!(f.text(), "g");
        f.clear();
        assert!(!f.is_active());
        for _ in 0..(FILTER_CAP + 10) {
            f.push('x');
        }
        assert_eq!(f.text().len(), FILTER_CAP);
    }
}
