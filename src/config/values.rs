//! One value at a time: durations, deadlines, counts, patterns, URLs and
//! variable names, each checked with its span so a refusal names the line
//! and column. The sections built from these values are in `validate`.

use std::fmt::Display;
use std::ops::{Range, RangeInclusive};
use std::path::Path;
use std::time::Duration;

use regex::Regex;

use super::error::line_col;
use super::raw::S;
use super::ConfigError;

const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);
const DURATION_HINT: &str = "expected a duration like \"30s\" or \"15m\"";

/// The range of every numeric setting, checked at load with the line and
/// column of a value outside it (`assets/config.example.toml` lists them).
pub(super) mod ranges {
    use std::ops::RangeInclusive;
    use std::time::Duration;

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }
    const fn ms(m: u64) -> Duration {
        Duration::from_millis(m)
    }

    /// `health.window`.
    pub const WINDOW: RangeInclusive<Duration> = secs(10)..=secs(7 * 86_400);
    /// `health.recover_after`.
    pub const RECOVER_AFTER: RangeInclusive<u32> = 1..=100;
    /// `health.slow`.
    pub const SLOW: RangeInclusive<Duration> = ms(1)..=secs(3600);
    /// `probe.interval`, also per model.
    pub const INTERVAL: RangeInclusive<Duration> = secs(1)..=secs(86_400);
    /// `probe.max_tokens`, also per model.
    pub const MAX_TOKENS: RangeInclusive<u32> = 1..=200_000;
    /// `probe.timeout` and `route.timeout`.
    pub const TIMEOUT: RangeInclusive<Duration> = ms(100)..=secs(3600);
    /// The shortest first-token or connect deadline (the longest is the
    /// timeout it belongs to).
    pub const DEADLINE_MIN: Duration = ms(100);
    /// `probe.concurrency`, per endpoint.
    pub const CONCURRENCY: RangeInclusive<usize> = 1..=1024;
    /// `probe.daily_budget`, US dollars per day.
    pub const DAILY_BUDGET: RangeInclusive<f64> = 0.0..=10_000.0;
    /// `route.hedge` as a delay (the longest is `route.timeout`).
    pub const HEDGE_MIN: Duration = ms(10);
    /// `route.retry_after_max` ("0s" is allowed too: never wait).
    pub const RETRY_AFTER_MAX: RangeInclusive<Duration> = ms(1)..=secs(60);
}

/// The text being parsed, for turning spans into line and column.
pub(super) struct Cx<'a> {
    pub(super) text: &'a str,
    pub(super) path: &'a Path,
    /// Patterns compiled so far: a pattern repeated on every model is
    /// compiled once (a `Regex` clone shares it).
    pub(super) patterns: std::cell::RefCell<std::collections::HashMap<String, Regex>>,
}

/// The most memory one compiled `expect` pattern may take.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

pub(super) type R<T> = Result<T, ConfigError>;

impl Cx<'_> {
    pub(super) fn error(
        &self,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> ConfigError {
        let (line, column) = match span {
            Some(s) => {
                let (l, c) = line_col(self.text, s.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        ConfigError {
            path: self.path.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }

    pub(super) fn at<T>(&self, v: &S<T>, message: impl Into<String>) -> ConfigError {
        self.error(Some(v.span()), message)
    }

    pub(super) fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let mut message = e.message().trim().replace('\n', "; ");
        if message.contains("unknown field `api_key`") {
            message.push_str(
                "; keys are never written in the file: put the key in an environment \
                 variable and name it with `api_key_env`",
            );
        }
        self.error(e.span(), message)
    }

    pub(super) fn duration(&self, v: &S<String>, key: &str) -> R<Duration> {
        let text = v.get_ref().trim();
        let d = humantime::parse_duration(text)
            .map_err(|_| self.at(v, format!("`{key}` = {text:?}: {DURATION_HINT}")))?;
        if d.is_zero() {
            return Err(self.at(
                v,
                format!("`{key}` must be more than zero; {DURATION_HINT}"),
            ));
        }
        // Every duration ends up added to a timestamp; beyond this it would
        // overflow, and no window, interval or timeout needs more.
        if d > MAX_DURATION {
            return Err(self.at(
                v,
                format!("`{key}` = {text:?} is too long: at most 366 days"),
            ));
        }
        Ok(d)
    }

    /// A duration within `range`.
    pub(super) fn duration_in(
        &self,
        v: &S<String>,
        key: &str,
        range: RangeInclusive<Duration>,
    ) -> R<Duration> {
        let d = self.duration(v, key)?;
        if !range.contains(&d) {
            return Err(self.at(
                v,
                format!(
                    "`{key}` = {:?} is out of range: expected {} to {}",
                    v.get_ref().trim(),
                    humantime::format_duration(*range.start()),
                    humantime::format_duration(*range.end())
                ),
            ));
        }
        Ok(d)
    }

    pub(super) fn opt_duration_in(
        &self,
        v: Option<&S<String>>,
        key: &str,
        default: Duration,
        range: RangeInclusive<Duration>,
    ) -> R<Duration> {
        v.map_or(Ok(default), |v| self.duration_in(v, key, range))
    }

    /// A number within `range`.
    pub(super) fn number_in<T: PartialOrd + Copy + Display>(
        &self,
        v: &S<T>,
        key: &str,
        range: RangeInclusive<T>,
    ) -> R<T> {
        let n = *v.get_ref();
        if !range.contains(&n) {
            return Err(self.at(
                v,
                format!(
                    "`{key}` = {n} is out of range: expected {} to {}",
                    range.start(),
                    range.end()
                ),
            ));
        }
        Ok(n)
    }

    /// A deadline that must fit inside `timeout`. Left unset, the default is
    /// shortened to fit rather than refused.
    pub(super) fn deadline_within(
        &self,
        v: Option<&S<String>>,
        key: &str,
        default: Duration,
        timeout: Duration,
    ) -> R<Duration> {
        let Some(v) = v else {
            return Ok(default.min(timeout));
        };
        let d = self.duration(v, key)?;
        if d < ranges::DEADLINE_MIN {
            return Err(self.at(
                v,
                format!(
                    "`{key}` = {:?} is out of range: expected at least {}",
                    v.get_ref().trim(),
                    humantime::format_duration(ranges::DEADLINE_MIN)
                ),
            ));
        }
        if d > timeout {
            return Err(self.at(
                v,
                format!(
                    "`{key}` ({}) is longer than the total timeout ({}); expected at most the timeout",
                    humantime::format_duration(d),
                    humantime::format_duration(timeout)
                ),
            ));
        }
        Ok(d)
    }

    pub(super) fn regex(&self, v: &S<String>, key: &str) -> R<Regex> {
        if let Some(re) = self.patterns.borrow().get(v.get_ref()) {
            return Ok(re.clone());
        }
        let compiled = regex::RegexBuilder::new(v.get_ref())
            .size_limit(PATTERN_SIZE_LIMIT)
            .build();
        if let Ok(re) = &compiled {
            self.patterns
                .borrow_mut()
                .insert(v.get_ref().clone(), re.clone());
        }
        compiled.map_err(|e| {
            let why = e.to_string();
            let why = why.lines().last().unwrap_or_default().trim().to_string();
            self.at(
                v,
                format!(
                    "`{key}` is not a valid regular expression ({why}); expected a pattern \
                     like \"(?i)\\\\bpong\\\\b\", or \"\" for no content check"
                ),
            )
        })
    }

    pub(super) fn non_empty(&self, v: &S<String>, what: &str) -> R<String> {
        let s = v.get_ref().trim();
        if s.is_empty() {
            return Err(self.at(v, format!("{what} is empty; expected a non-empty string")));
        }
        Ok(s.to_string())
    }

    /// Credentials in the URL are refused without being echoed: the
    /// message names the line, never the value.
    pub(super) fn base_url(&self, v: &S<String>) -> R<String> {
        let text = v.get_ref().trim();
        let parsed = reqwest::Url::parse(text);
        if parsed
            .as_ref()
            .is_ok_and(|u| !u.username().is_empty() || u.password().is_some())
        {
            return Err(self.at(
                v,
                "`base_url` carries credentials (user:password@); remove them: chainwatch never \
                 keeps secrets in the file, put the key in an environment variable and name it \
                 with `api_key_env`",
            ));
        }
        let ok = parsed.is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
        });
        if !ok {
            // A malformed URL may still hold a secret before an `@`.
            let shown = if text.contains('@') {
                "(not shown: it contains @)".to_string()
            } else {
                format!("{text:?}")
            };
            return Err(self.at(
                v,
                format!("`base_url` = {shown}: expected an http(s) URL like \"https://openrouter.ai/api/v1\""),
            ));
        }
        // Paths are appended as `{base_url}/chat/completions`.
        Ok(text.trim_end_matches('/').to_string())
    }

    /// The value may be a key pasted in by mistake, so it is never echoed.
    pub(super) fn env_var_name(&self, v: &S<String>) -> R<String> {
        let name = v.get_ref();
        let mut chars = name.chars();
        let ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(self.at(
                v,
                "`api_key_env` must name an environment variable (letters, digits and _), like \
                 \"OPENROUTER_API_KEY\", not hold the key itself; omit it for servers that need no key",
            ));
        }
        Ok(name.clone())
    }
}

pub(super) fn join<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = names.collect();
    if v.is_empty() {
        "(none)".to_string()
    } else {
        v.join(", ")
    }
}
