//! Words and figures for people: durations, ages, ratios, dollars and
//! failures as the screen, the commands and the event reasons print them.
//! One room, so that "1.2s" or "502 provider unavailable" reads the same
//! everywhere (the screen's snapshots hold these bytes).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::api::classify::MESSAGE_CHARS;
use crate::api::FailureClass;

/// "502 provider unavailable", "timeout no first token within 10s". One
/// line: a message longer than [`MESSAGE_CHARS`] is cut (the dashboard's
/// failure log shows it whole).
pub fn describe_failure(class: FailureClass, status: Option<u16>, message: Option<&str>) -> String {
    let cut = message.map(|m| crate::api::short_message(m, MESSAGE_CHARS));
    let message = cut.as_deref().filter(|m| !m.is_empty());
    match (status.filter(|code| *code >= 400), message) {
        // Providers often start their message with the code already.
        (Some(code), Some(m)) if m.starts_with(&code.to_string()) => m.to_string(),
        (Some(code), Some(m)) => format!("{code} {m}"),
        (Some(code), None) => format!("{code} {class}"),
        (None, Some(m)) => format!("{class}: {m}"),
        (None, None) => class.to_string(),
    }
}

/// A failure's class with its message, when there is one:
/// "server_error (provider unavailable)", "timeout".
pub fn class_and_message(class: FailureClass, message: &str) -> String {
    if message.is_empty() {
        class.to_string()
    } else {
        format!("{class} ({message})")
    }
}

/// "served anthropic/claude-sonnet-4 via Anthropic": the model a provider
/// says it served, and through which upstream when it says so.
pub fn served(model: &str, by: Option<&str>) -> String {
    match by {
        Some(by) => format!("served {model} via {by}"),
        None => format!("served {model}"),
    }
}

/// A ratio as a percentage with one decimal ("95.0"), "—" without one.
pub fn fmt_ratio(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "—".to_string(), |r| format!("{:.1}", r * 100.0))
}

/// A ratio as a percentage with its sign ("95.0%"), "—" without one.
pub fn fmt_percent(ratio: Option<f64>) -> String {
    match ratio {
        Some(_) => format!("{}%", fmt_ratio(ratio)),
        None => fmt_ratio(None),
    }
}

/// "just now", "42s ago", "3m ago", "2h ago", "5d ago".
pub fn fmt_ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds();
    match secs {
        ..=1 => "just now".to_string(),
        2..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86_399 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

/// "0.8s", "12s", "250ms".
pub fn fmt_secs(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 10_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}s", d.as_secs())
    }
}

/// "$0.0004"; tiny amounts keep two significant digits.
pub fn fmt_usd(usd: f64) -> String {
    if usd > 0.0 && usd < 0.0001 {
        format!("${usd:.6}")
    } else {
        format!("${usd:.4}")
    }
}

/// An estimate in US dollars: cents once it is a dollar or more (a
/// projection has no fourth decimal worth reading), else as `fmt_usd`.
pub fn fmt_usd_about(usd: f64) -> String {
    if usd >= 1.0 {
        format!("${usd:.2}")
    } else {
        fmt_usd(usd)
    }
}

/// How many terminal columns `text` takes (wide CJK and emoji count two).
pub fn display_width(text: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(text)
}

/// `text` padded with spaces to `width` terminal columns (left-aligned;
/// `right` pads on the left instead). Longer text is left as it is.
pub fn pad(text: &str, width: usize, right: bool) -> String {
    let fill = " ".repeat(width.saturating_sub(display_width(text)));
    if right {
        format!("{fill}{text}")
    } else {
        format!("{text}{fill}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).single().unwrap()
    }

    #[test]
    fn estimates_show_cents_from_a_dollar() {
        assert_eq!(fmt_usd_about(24.70751), "$24.71");
        assert_eq!(fmt_usd_about(1.0), "$1.00");
        assert_eq!(fmt_usd_about(0.2491), "$0.2491");
        assert_eq!(fmt_usd_about(0.00002), "$0.000020");
    }

    #[test]
    fn describe_failure_words() {
        assert_eq!(
            describe_failure(
                FailureClass::ServerError,
                Some(502),
                Some("provider unavailable")
            ),
            "502 provider unavailable"
        );
        assert_eq!(
            describe_failure(FailureClass::Timeout, None, None),
            "timeout"
        );
        assert_eq!(
            describe_failure(FailureClass::Auth, Some(401), None),
            "401 auth"
        );
        assert_eq!(
            class_and_message(FailureClass::ServerError, "provider unavailable"),
            "server_error (provider unavailable)"
        );
        assert_eq!(class_and_message(FailureClass::Timeout, ""), "timeout");
        assert_eq!(served("a/b", Some("Up")), "served a/b via Up");
        assert_eq!(served("a/b", None), "served a/b");
        let long = "x".repeat(2000);
        let words = describe_failure(FailureClass::ServerError, Some(502), Some(&long));
        assert_eq!(
            words.chars().count(),
            4 + MESSAGE_CHARS,
            "cut to one short line"
        );
        assert_eq!(fmt_secs(Duration::from_millis(250)), "250ms");
        assert_eq!(fmt_secs(Duration::from_millis(1250)), "1.2s");
        assert_eq!(fmt_ago(t(0), t(0)), "just now");
        assert_eq!(fmt_ago(t(0), t(42)), "42s ago");
        assert_eq!(fmt_ago(t(0), t(200)), "3m ago");
        assert_eq!(fmt_ago(t(0), t(7300)), "2h ago");
    }

    #[test]
    fn ratios_and_dollars() {
        assert_eq!(fmt_ratio(Some(0.95)), "95.0");
        assert_eq!(fmt_percent(Some(0.95)), "95.0%");
        assert_eq!(fmt_ratio(None), "—");
        assert_eq!(fmt_percent(None), "—");
        assert_eq!(fmt_usd(0.0), "$0.0000");
        assert_eq!(fmt_usd(0.14), "$0.1400");
        assert_eq!(fmt_usd(0.000_05), "$0.000050");
    }

    #[test]
    fn padding_counts_columns_not_chars() {
        assert_eq!(pad("ab", 4, false), "ab  ");
        assert_eq!(pad("ab", 4, true), "  ab");
        // Two wide characters take four columns.
        assert_eq!(pad("模型", 6, false), "模型  ");
        assert_eq!(display_width("模型"), 4);
        assert_eq!(pad("toolong", 3, false), "toolong");
    }
}
