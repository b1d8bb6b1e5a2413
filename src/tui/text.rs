//! Text for the screen: provider words made safe to show ([`shown`]), clock
//! times, and names cut in the middle to fit a column.

use chrono::{DateTime, FixedOffset, Utc};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Provider text (a failure's message, a reason) as the screen and the
/// clipboard get it: anything key-like masked, and control characters and
/// escape sequences made visible and harmless ([`crate::text::sanitize`],
/// the one function every output path uses), line breaks and tabs as
/// spaces. What reaches the app is cleaned already; this is the second
/// guard for what leaves it through the clipboard.
pub fn shown(text: &str) -> String {
    crate::text::sanitize(&crate::api::mask_secrets(text), crate::text::Shape::Line).into_owned()
}

/// A clock time in `tz`: "11:57:03" on the day of `now`, with the date
/// otherwise ("2025-01-14 23:59:01").
pub fn clock(at: DateTime<Utc>, now: DateTime<Utc>, tz: FixedOffset) -> String {
    let (local, today) = (at.with_timezone(&tz), now.with_timezone(&tz));
    if local.date_naive() == today.date_naive() {
        local.format("%H:%M:%S").to_string()
    } else {
        local.format("%Y-%m-%d %H:%M:%S").to_string()
    }
}

/// A short clock time for a table cell: "11:57:03" today, "01-14 23:59"
/// on another day. At most [`CLOCK_SHORT_WIDTH`] columns.
pub fn clock_short(at: DateTime<Utc>, now: DateTime<Utc>, tz: FixedOffset) -> String {
    let (local, today) = (at.with_timezone(&tz), now.with_timezone(&tz));
    if local.date_naive() == today.date_naive() {
        local.format("%H:%M:%S").to_string()
    } else {
        local.format("%m-%d %H:%M").to_string()
    }
}

pub const CLOCK_SHORT_WIDTH: usize = 11;

/// A time that leaves no doubt, for the clipboard: "2025-01-15 11:57:03
/// +01:00".
pub fn clock_full(at: DateTime<Utc>, tz: FixedOffset) -> String {
    at.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S %:z")
        .to_string()
}

/// `text` in at most `width` columns, cut in the middle with "…" so both
/// the start and the end of a long name stay ("gemini-2.5-…-lite-preview").
pub fn ellipsize_middle(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let room = width - 1;
    let (head_room, tail_room) = (room - room / 2, room / 2);
    let mut head = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > head_room {
            break;
        }
        used += w;
        head.push(c);
    }
    let mut tail: Vec<char> = Vec::new();
    let mut used = 0;
    for c in text.chars().rev() {
        let w = c.width().unwrap_or(0);
        if used + w > tail_room {
            break;
        }
        used += w;
        tail.push(c);
    }
    tail.reverse();
    format!("{head}…{}", tail.into_iter().collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn shown_masks_and_drops_control_characters() {
        let raw = "bad key sk-or-v1-0123456789abcdef0123\x1b]52;c;AAAA\x07 line\nnext\ttab";
        let out = shown(raw);
        assert!(!out.contains("0123456789abcdef"), "{out}");
        assert!(!out.chars().any(char::is_control), "{out:?}");
        assert!(out.starts_with("bad key sk-or-v1-…***"), "{out}");
        assert!(out.ends_with(" line next tab"), "{out}");
        let colours = shown("\x1b[1;31mred\x1b[0m and \x1bPtmux;x\x1b\\ok\x07");
        assert!(
            !colours.contains('\x1b') && colours.contains("red"),
            "{colours:?}"
        );
    }

    #[test]
    fn clock_times_carry_the_date_when_not_today() {
        let tz = FixedOffset::east_opt(3600).unwrap();
        let now = Utc.with_ymd_and_hms(2025, 1, 15, 12, 0, 0).unwrap();
        let earlier = Utc.with_ymd_and_hms(2025, 1, 15, 10, 57, 3).unwrap();
        let yesterday = Utc.with_ymd_and_hms(2025, 1, 14, 22, 59, 1).unwrap();
        assert_eq!(clock(earlier, now, tz), "11:57:03");
        assert_eq!(clock(yesterday, now, tz), "2025-01-14 23:59:01");
        assert_eq!(clock_short(yesterday, now, tz), "01-14 23:59");
        assert_eq!(clock_full(earlier, tz), "2025-01-15 11:57:03 +01:00");
        // Local midnight decides "today", not UTC's.
        let late = Utc.with_ymd_and_hms(2025, 1, 14, 23, 30, 0).unwrap();
        assert_eq!(clock(late, now, tz), "00:30:00");
    }

    #[test]
    fn names_are_cut_in_the_middle() {
        assert_eq!(ellipsize_middle("gemini-flash", 12), "gemini-flash");
        assert_eq!(
            ellipsize_middle("google/gemini-2.5-flash-lite-preview", 20),
            "google/gem…e-preview"
        );
        assert_eq!(ellipsize_middle("abcdef", 5), "ab…ef");
        assert_eq!(ellipsize_middle("abcdef", 1), "…");
        assert_eq!(ellipsize_middle("abcdef", 0), "");
        assert!(ellipsize_middle("日本語テキスト", 7).width() <= 7);
    }
}
