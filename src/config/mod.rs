//! The configuration: the TOML schema, its defaults and validation, where the
//! file is found, the built-in presets, and API-key lookup.
//!
//! The file is read in two steps: serde fills a raw schema whose values keep
//! their byte spans (`raw`), then validation checks every value and builds
//! the typed [`Config`] (`values` for single values, `validate` for the
//! sections and the names they share). Every error names the file, line and
//! column of the offending value and what was expected; nothing here panics
//! on input.
//!
//! | file | holds |
//! |---|---|
//! | `schema` | the typed [`Config`], every setting's default, the lookups |
//! | `raw` | the file as written, with spans |
//! | `values` | one value checked: durations, deadlines, patterns, URLs |
//! | `validate` | the sections put together and cross-checked ([`Config::parse`]) |
//! | `error` | [`ConfigError`]: file, line, column, what was expected |
//! | `paths` | which file, or the built-in chain, or demo mode ([`resolve`]) |
//! | `alerts` | `[[alert]]`: [`AlertRule`], typed and checked |
//! | `presets` | [`Config::builtin`] (the article's chain) and [`Config::demo`] |
//!
//! Adding one setting, say `[probe] foo`, touches:
//! 1. `schema`: the field on [`ProbeSettings`] and its value in `Default`;
//! 2. `raw`: the field on `RawProbe`, as `Option<S<…>>`;
//! 3. `validate`: one line in `Cx::probe`, using a check from `values`;
//! 4. `assets/config.example.toml` and the `full_file_reads_every_setting`
//!    test in `tests`.
//!
//! The presets take the default unless they need another value.

mod alerts;
mod error;
mod paths;
mod presets;
mod raw;
mod schema;
mod validate;
mod values;

pub use alerts::{
    status_named, AlertRule, Delivery, PayloadFormat, WebhookUrl, ALERT_MIN_INTERVAL,
    ALERT_TIMEOUT, PAGERDUTY_URL,
};
pub use error::ConfigError;
pub use paths::{default_path_from, resolve, resolve_with, Resolved, CONFIG_FILE_MAX};
pub use presets::OPENROUTER_KEY_VAR;
pub use schema::{
    Config, ConfigSource, Endpoint, HealthSettings, Hedge, MissingKey, ModelConfig, ProbeOverrides,
    ProbeSettings, RouteSettings, StoreSettings, Tier, Tiers, UnknownTier, DEFAULT_RETRY_AFTER_MAX,
    REDIS_URL_VAR,
};

#[cfg(test)]
mod tests;
