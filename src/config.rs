//! The TOML schema, defaults, validation and API-key lookup.
//!
//! The file is read in two steps: serde fills a raw schema whose values keep
//! their byte spans (`toml::Spanned`), then [`Config::parse`] checks every
//! value and builds the typed [`Config`]. Every error names the file, line
//! and column of the offending value and what was expected; nothing here
//! panics on input.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use toml::Spanned;

use crate::api::{Dialect, Secret};

/// The variable the built-in configuration reads its key from.
pub const OPENROUTER_KEY_VAR: &str = "OPENROUTER_API_KEY";

const DEFAULT_EXPECT: &str = r"(?i)\bpong\b";
const DURATION_HINT: &str = "expected a duration like \"30s\" or \"15m\"";

/// Everything chainwatch watches and how.
#[derive(Debug, Clone)]
pub struct Config {
    /// Model names, in fallback order.
    pub chain: Vec<String>,
    pub health: HealthSettings,
    pub probe: ProbeSettings,
    pub route: RouteSettings,
    pub endpoints: Vec<Endpoint>,
    pub models: Vec<ModelConfig>,
    pub tiers: Tiers,
    pub source: ConfigSource,
}

/// Where a [`Config`] came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    /// The article's chain and tiers through OpenRouter.
    Builtin,
    /// The built-in simulator.
    Demo,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HealthSettings {
    /// Sliding window for the success ratio.
    pub window: Duration,
    /// Healthy when the ratio is above this.
    pub threshold: f64,
    /// Consecutive successes that re-admit an unhealthy model.
    pub recover_after: u32,
    /// p95 latency above this makes a model `degraded`; `None`: no bound.
    pub slow: Option<Duration>,
}

impl Default for HealthSettings {
    fn default() -> Self {
        HealthSettings {
            window: Duration::from_secs(15 * 60),
            threshold: 0.95,
            recover_after: 3,
            slow: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ProbeSettings {
    pub interval: Duration,
    pub prompt: String,
    /// Content check; a miss is a `wrong_answer`. `None`: no check.
    pub expect: Option<Regex>,
    pub max_tokens: u32,
    /// Total per attempt.
    pub timeout: Duration,
    /// Time to first token.
    pub ttft_timeout: Duration,
    pub connect_timeout: Duration,
    /// Most probes in flight at once per endpoint.
    pub concurrency: usize,
    /// USD per day spent on probes; `None`: no limit.
    pub daily_budget: Option<f64>,
    pub stream: bool,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings {
            interval: Duration::from_secs(60),
            prompt: "Reply with the single word: pong".to_string(),
            expect: Regex::new(DEFAULT_EXPECT).ok(),
            max_tokens: 16,
            timeout: Duration::from_secs(30),
            ttft_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            concurrency: 4,
            daily_budget: None,
            stream: true,
        }
    }
}

/// Deadlines for real prompts; each defaults to the `[probe]` value.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteSettings {
    pub timeout: Duration,
    pub ttft_timeout: Duration,
    pub connect_timeout: Duration,
    pub hedge: Hedge,
}

impl Default for RouteSettings {
    fn default() -> Self {
        RouteSettings::from_probe(&ProbeSettings::default())
    }
}

impl RouteSettings {
    fn from_probe(p: &ProbeSettings) -> Self {
        RouteSettings {
            timeout: p.timeout,
            ttft_timeout: p.ttft_timeout,
            connect_timeout: p.connect_timeout,
            hedge: Hedge::Auto,
        }
    }
}

/// Whether the router starts the next model while a slow one is still pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Hedge {
    /// The router picks the delay from the model's observed latency.
    #[default]
    Auto,
    Off,
    After(Duration),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub name: String,
    /// `http(s)://…`, without a trailing `/`.
    pub base_url: String,
    /// The variable holding the key; `None`: send no key (local servers).
    pub api_key_env: Option<String>,
    pub dialect: Dialect,
    pub native_fallback: bool,
}

impl Endpoint {
    /// The key from the environment, read now. `Ok(None)` when this endpoint
    /// needs no key; an unset or empty variable is [`MissingKey`].
    pub fn api_key(&self) -> Result<Option<Secret>, MissingKey> {
        self.api_key_from(|var| std::env::var(var).ok())
    }

    /// [`Endpoint::api_key`] with the environment lookup passed in (tests).
    pub fn api_key_from(
        &self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Secret>, MissingKey> {
        let Some(var) = &self.api_key_env else {
            return Ok(None);
        };
        match lookup(var) {
            // A trailing newline from `$(cat keyfile)` would break the header.
            Some(key) if !key.trim().is_empty() => Ok(Some(Secret::new(key.trim()))),
            _ => Err(MissingKey { var: var.clone() }),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ModelConfig {
    /// What the chain and the screen call it.
    pub name: String,
    /// The id sent to the endpoint, e.g. `anthropic/claude-sonnet-4`.
    pub id: String,
    /// Name of an [`Endpoint`].
    pub endpoint: String,
    pub tier: Option<Tier>,
    pub probe: ProbeOverrides,
    /// Merged into the request body.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Per-model changes to `[probe]`; `None` keeps the global value.
#[derive(Debug, Clone, Default)]
pub struct ProbeOverrides {
    pub interval: Option<Duration>,
    pub max_tokens: Option<u32>,
    /// `Some` of the empty pattern means "no content check" for this model.
    pub expect: Option<Regex>,
    pub prompt: Option<String>,
}

/// Cost tiers; the router escalates budget → standard → premium.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    Budget,
    Standard,
    Premium,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Budget, Tier::Standard, Tier::Premium];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Budget => "budget",
            Tier::Standard => "standard",
            Tier::Premium => "premium",
        }
    }

    /// The tier to escalate to when this one is exhausted.
    pub fn next(self) -> Option<Tier> {
        match self {
            Tier::Budget => Some(Tier::Standard),
            Tier::Standard => Some(Tier::Premium),
            Tier::Premium => None,
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tier {0:?}; expected \"budget\", \"standard\" or \"premium\"")]
pub struct UnknownTier(pub String);

impl FromStr for Tier {
    type Err = UnknownTier;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tier::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownTier(s.to_string()))
    }
}

/// Model names per tier, each list in routing order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tiers {
    pub budget: Vec<String>,
    pub standard: Vec<String>,
    pub premium: Vec<String>,
}

impl Tiers {
    pub fn get(&self, tier: Tier) -> &[String] {
        match tier {
            Tier::Budget => &self.budget,
            Tier::Standard => &self.standard,
            Tier::Premium => &self.premium,
        }
    }

    fn get_mut(&mut self, tier: Tier) -> &mut Vec<String> {
        match tier {
            Tier::Budget => &mut self.budget,
            Tier::Standard => &mut self.standard,
            Tier::Premium => &mut self.premium,
        }
    }

    /// Each model under its own `tier`, in model order.
    pub fn from_models(models: &[ModelConfig]) -> Tiers {
        let mut tiers = Tiers::default();
        for m in models {
            if let Some(t) = m.tier {
                tiers.get_mut(t).push(m.name.clone());
            }
        }
        tiers
    }
}

/// An endpoint's key variable is unset or empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var} is not set")]
pub struct MissingKey {
    pub var: String,
}

/// A configuration file that cannot be used, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl ConfigError {
    fn render(&self) -> String {
        let path = self.path.display();
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{path}:{l}:{c}: {}", self.message),
            (Some(l), None) => format!("{path}:{l}: {}", self.message),
            _ => format!("{path}: {}", self.message),
        }
    }
}

/// What `main` should run on.
// Built once at start-up, so the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Resolved {
    Config(Config),
    /// Nothing real to watch: start the simulator and use [`Config::demo`].
    Demo,
}

/// `--config FILE` if given (a missing file is an error); else the default
/// path if it exists; else the built-in chain when `OPENROUTER_API_KEY` is
/// set; else demo mode.
pub fn resolve(explicit: Option<&Path>) -> Result<Resolved, ConfigError> {
    let key_present = std::env::var_os(OPENROUTER_KEY_VAR).is_some_and(|v| !v.is_empty());
    resolve_with(explicit, Config::default_path().as_deref(), key_present)
}

/// [`resolve`] with the environment passed in.
pub fn resolve_with(
    explicit: Option<&Path>,
    default_path: Option<&Path>,
    key_present: bool,
) -> Result<Resolved, ConfigError> {
    if let Some(path) = explicit {
        return Config::load(path).map(Resolved::Config);
    }
    if let Some(path) = default_path {
        // A path we cannot even stat is loaded anyway, so the error says why.
        if !matches!(path.try_exists(), Ok(false)) {
            return Config::load(path).map(Resolved::Config);
        }
    }
    if key_present {
        return Ok(Resolved::Config(Config::builtin()));
    }
    Ok(Resolved::Demo)
}

/// Returned by [`Config::endpoint_of`] for a model whose endpoint is gone
/// (only possible if someone edited a validated `Config`): requests to it
/// fail instead of the program panicking.
static NO_ENDPOINT: LazyLock<Endpoint> = LazyLock::new(|| Endpoint {
    name: "(missing endpoint)".to_string(),
    base_url: String::new(),
    api_key_env: None,
    dialect: Dialect::Openai,
    native_fallback: false,
});

impl Config {
    /// Read and parse a file; an unreadable file is an error naming the path.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            line: None,
            column: None,
            message: format!("cannot read the config file: {e}; check the path given to --config"),
        })?;
        Config::parse(&text, path)
    }

    /// Parse and validate `text`; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let cx = Cx { text, path: origin };
        let raw: RawConfig = toml::from_str(text).map_err(|e| cx.toml_error(&e))?;
        cx.build(raw)
    }

    /// `$XDG_CONFIG_HOME/chainwatch/config.toml`, else
    /// `$HOME/.config/chainwatch/config.toml`.
    pub fn default_path() -> Option<PathBuf> {
        default_path_from(
            std::env::var_os("XDG_CONFIG_HOME").as_deref(),
            std::env::var_os("HOME").as_deref(),
        )
    }

    /// The article's chain and tiers, all through OpenRouter.
    pub fn builtin() -> Config {
        let models: Vec<ModelConfig> = [
            (
                "claude-sonnet",
                "anthropic/claude-sonnet-4",
                Some(Tier::Premium),
            ),
            ("gpt-4o", "openai/gpt-4o", Some(Tier::Premium)),
            ("gemini-pro", "google/gemini-2.5-pro", None),
            ("deepseek", "deepseek/deepseek-chat", Some(Tier::Standard)),
            (
                "gemini-flash",
                "google/gemini-2.5-flash",
                Some(Tier::Standard),
            ),
            ("gpt-4o-mini", "openai/gpt-4o-mini", Some(Tier::Budget)),
            (
                "gemini-flash-lite",
                "google/gemini-2.5-flash-lite",
                Some(Tier::Budget),
            ),
        ]
        .into_iter()
        .map(|(name, id, tier)| plain_model(name, id, "openrouter", tier))
        .collect();
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let probe = ProbeSettings::default();
        Config {
            chain: names(&["claude-sonnet", "gpt-4o", "gemini-pro", "deepseek"]),
            health: HealthSettings::default(),
            route: RouteSettings::from_probe(&probe),
            probe,
            endpoints: vec![Endpoint {
                name: "openrouter".to_string(),
                base_url: "https://openrouter.ai/api/v1".to_string(),
                api_key_env: Some(OPENROUTER_KEY_VAR.to_string()),
                dialect: Dialect::Openai,
                native_fallback: false,
            }],
            models,
            // The article's order within each tier.
            tiers: Tiers {
                premium: names(&["claude-sonnet", "gpt-4o"]),
                standard: names(&["gemini-flash", "deepseek"]),
                budget: names(&["gpt-4o-mini", "gemini-flash-lite"]),
            },
            source: ConfigSource::Builtin,
        }
    }

    /// Every model on the simulator at `base_url`, with fast probes so the
    /// demo shows movement within a minute.
    pub fn demo(base_url: &str, models: &[(String, String, Option<Tier>)]) -> Config {
        let models: Vec<ModelConfig> = models
            .iter()
            .map(|(name, id, tier)| plain_model(name, id, "sim", *tier))
            .collect();
        let probe = ProbeSettings {
            interval: Duration::from_secs(5),
            ttft_timeout: Duration::from_secs(8),
            timeout: Duration::from_secs(15),
            ..ProbeSettings::default()
        };
        Config {
            chain: models.iter().map(|m| m.name.clone()).collect(),
            health: HealthSettings {
                window: Duration::from_secs(5 * 60),
                // The simulator's slow model should show as degraded, not down.
                slow: Some(Duration::from_secs(3)),
                ..HealthSettings::default()
            },
            route: RouteSettings::from_probe(&probe),
            probe,
            endpoints: vec![Endpoint {
                name: "sim".to_string(),
                base_url: base_url.trim_end_matches('/').to_string(),
                api_key_env: None,
                dialect: Dialect::Openai,
                native_fallback: false,
            }],
            tiers: Tiers::from_models(&models),
            models,
            source: ConfigSource::Demo,
        }
    }

    /// Where and how to send a request to `model`, with the key given.
    pub fn target(&self, model: &ModelConfig, api_key: Option<Secret>) -> crate::api::Target {
        let endpoint = self.endpoint_of(model);
        crate::api::Target {
            base_url: endpoint.base_url.clone(),
            dialect: endpoint.dialect,
            api_key,
            model_id: model.id.clone(),
            extra: model.extra.clone(),
            fallback_models: Vec::new(),
        }
    }

    pub fn model(&self, name: &str) -> Option<&ModelConfig> {
        self.models.iter().find(|m| m.name == name)
    }

    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.name == name)
    }

    /// The model's endpoint. Validation guarantees it exists; should the
    /// `Config` have been edited since, an endpoint with an empty base URL
    /// comes back (its requests fail) rather than a panic. Use
    /// [`Config::endpoint`] to ask whether it exists.
    pub fn endpoint_of(&self, model: &ModelConfig) -> &Endpoint {
        self.endpoint(&model.endpoint).unwrap_or(&NO_ENDPOINT)
    }

    /// `[probe]` with the model's overrides applied.
    pub fn probe_for(&self, model: &ModelConfig) -> ProbeSettings {
        let mut p = self.probe.clone();
        let o = &model.probe;
        if let Some(v) = o.interval {
            p.interval = v;
        }
        if let Some(v) = o.max_tokens {
            p.max_tokens = v;
        }
        if let Some(v) = &o.prompt {
            p.prompt = v.clone();
        }
        if let Some(re) = &o.expect {
            p.expect = (!re.as_str().is_empty()).then(|| re.clone());
        }
        p
    }

    /// The provider in a model id: the part before `/`, else the whole id.
    pub fn provider_of(model_id: &str) -> &str {
        model_id.split_once('/').map_or(model_id, |(p, _)| p)
    }
}

/// [`Config::default_path`] with the environment passed in. A relative
/// `XDG_CONFIG_HOME` is ignored, as the XDG spec asks.
pub fn default_path_from(xdg_config_home: Option<&OsStr>, home: Option<&OsStr>) -> Option<PathBuf> {
    let base = match xdg_config_home.map(Path::new) {
        Some(x) if x.is_absolute() => x.to_path_buf(),
        _ => {
            let home = home.filter(|h| !h.is_empty())?;
            Path::new(home).join(".config")
        }
    };
    Some(base.join("chainwatch").join("config.toml"))
}

fn plain_model(name: &str, id: &str, endpoint: &str, tier: Option<Tier>) -> ModelConfig {
    ModelConfig {
        name: name.to_string(),
        id: id.to_string(),
        endpoint: endpoint.to_string(),
        tier,
        probe: ProbeOverrides::default(),
        extra: serde_json::Map::new(),
    }
}

// ---------------------------------------------------------------------------
// The file as written: every value keeps its span for error messages.

type S<T> = Spanned<T>;
type Names = S<Vec<S<String>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    chain: Option<Names>,
    #[serde(default)]
    health: RawHealth,
    #[serde(default)]
    probe: RawProbe,
    #[serde(default)]
    route: RawRoute,
    #[serde(default)]
    endpoint: Vec<RawEndpoint>,
    #[serde(default)]
    model: Vec<RawModel>,
    tiers: Option<RawTiers>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    window: Option<S<String>>,
    threshold: Option<S<f64>>,
    recover_after: Option<S<u32>>,
    slow: Option<S<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawProbe {
    interval: Option<S<String>>,
    prompt: Option<S<String>>,
    expect: Option<S<String>>,
    max_tokens: Option<S<u32>>,
    timeout: Option<S<String>>,
    ttft_timeout: Option<S<String>>,
    connect_timeout: Option<S<String>>,
    concurrency: Option<S<usize>>,
    daily_budget: Option<S<f64>>,
    stream: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    timeout: Option<S<String>>,
    ttft_timeout: Option<S<String>>,
    connect_timeout: Option<S<String>>,
    hedge: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoint {
    name: S<String>,
    base_url: S<String>,
    api_key_env: Option<S<String>>,
    dialect: Option<S<String>>,
    native_fallback: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    name: S<String>,
    id: S<String>,
    endpoint: Option<S<String>>,
    tier: Option<S<String>>,
    probe: Option<RawOverrides>,
    extra: Option<S<serde_json::Map<String, serde_json::Value>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverrides {
    interval: Option<S<String>>,
    max_tokens: Option<S<u32>>,
    expect: Option<S<String>>,
    prompt: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTiers {
    budget: Option<Names>,
    standard: Option<Names>,
    premium: Option<Names>,
}

impl RawTiers {
    fn get(&self, tier: Tier) -> Option<&Names> {
        match tier {
            Tier::Budget => self.budget.as_ref(),
            Tier::Standard => self.standard.as_ref(),
            Tier::Premium => self.premium.as_ref(),
        }
    }
}

/// Request-body keys chainwatch sets itself; `extra` may not replace them.
const RESERVED_EXTRA: [&str; 2] = ["model", "messages"];

/// The text being parsed, for turning spans into line and column.
struct Cx<'a> {
    text: &'a str,
    path: &'a Path,
}

type R<T> = Result<T, ConfigError>;

impl Cx<'_> {
    fn error(&self, span: Option<Range<usize>>, message: impl Into<String>) -> ConfigError {
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

    fn at<T>(&self, v: &S<T>, message: impl Into<String>) -> ConfigError {
        self.error(Some(v.span()), message)
    }

    fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let mut message = e.message().trim().replace('\n', "; ");
        if message.contains("unknown field `api_key`") {
            message.push_str(
                "; keys are never written in the file: put the key in an environment \
                 variable and name it with `api_key_env`",
            );
        }
        self.error(e.span(), message)
    }

    fn duration(&self, v: &S<String>, key: &str) -> R<Duration> {
        let text = v.get_ref().trim();
        let d = humantime::parse_duration(text)
            .map_err(|_| self.at(v, format!("`{key}` = {text:?}: {DURATION_HINT}")))?;
        if d.is_zero() {
            return Err(self.at(
                v,
                format!("`{key}` must be more than zero; {DURATION_HINT}"),
            ));
        }
        Ok(d)
    }

    fn opt_duration(&self, v: Option<&S<String>>, key: &str, default: Duration) -> R<Duration> {
        v.map_or(Ok(default), |v| self.duration(v, key))
    }

    /// A deadline that must fit inside `timeout`. Left unset, the default is
    /// shortened to fit rather than refused.
    fn deadline_within(
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

    fn positive<T: PartialOrd + Default + Copy>(&self, v: &S<T>, key: &str) -> R<T> {
        if *v.get_ref() <= T::default() {
            return Err(self.at(v, format!("`{key}` must be at least 1")));
        }
        Ok(*v.get_ref())
    }

    fn regex(&self, v: &S<String>, key: &str) -> R<Regex> {
        Regex::new(v.get_ref()).map_err(|e| {
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

    fn non_empty(&self, v: &S<String>, what: &str) -> R<String> {
        let s = v.get_ref().trim();
        if s.is_empty() {
            return Err(self.at(v, format!("{what} is empty; expected a non-empty string")));
        }
        Ok(s.to_string())
    }

    fn build(&self, raw: RawConfig) -> R<Config> {
        let health = self.health(&raw.health)?;
        let probe = self.probe(&raw.probe)?;
        let route = self.route(&raw.route, &probe)?;
        let endpoints = self.endpoints(&raw.endpoint)?;
        let mut models = self.models(&raw.model, &endpoints)?;
        let chain = self.chain(raw.chain.as_ref(), &models)?;
        let tiers = match &raw.tiers {
            Some(t) => self.tiers(t, &mut models, &raw.model)?,
            None => Tiers::from_models(&models),
        };
        Ok(Config {
            chain,
            health,
            probe,
            route,
            endpoints,
            models,
            tiers,
            source: ConfigSource::File(self.path.to_path_buf()),
        })
    }

    fn health(&self, h: &RawHealth) -> R<HealthSettings> {
        let d = HealthSettings::default();
        let threshold = match &h.threshold {
            Some(t) => {
                let v = *t.get_ref();
                if !(0.0..1.0).contains(&v) {
                    return Err(self.at(
                        t,
                        format!("`health.threshold` = {v}: expected a ratio from 0 up to (not including) 1, like 0.95"),
                    ));
                }
                v
            }
            None => d.threshold,
        };
        Ok(HealthSettings {
            window: self.opt_duration(h.window.as_ref(), "health.window", d.window)?,
            threshold,
            recover_after: match &h.recover_after {
                Some(v) => self.positive(v, "health.recover_after")?,
                None => d.recover_after,
            },
            slow: h
                .slow
                .as_ref()
                .map(|v| self.duration(v, "health.slow"))
                .transpose()?,
        })
    }

    fn probe(&self, p: &RawProbe) -> R<ProbeSettings> {
        let d = ProbeSettings::default();
        let timeout = self.opt_duration(p.timeout.as_ref(), "probe.timeout", d.timeout)?;
        let prompt = match &p.prompt {
            Some(v) => self.non_empty(v, "`probe.prompt`")?,
            None => d.prompt,
        };
        let expect = match &p.expect {
            Some(v) if v.get_ref().is_empty() => None,
            Some(v) => Some(self.regex(v, "probe.expect")?),
            None => d.expect,
        };
        let daily_budget = match &p.daily_budget {
            Some(v) => {
                let b = *v.get_ref();
                if !(b.is_finite() && b >= 0.0) {
                    return Err(self.at(
                        v,
                        format!("`probe.daily_budget` = {b}: expected US dollars per day, 0 or more (omit it for no limit)"),
                    ));
                }
                Some(b)
            }
            None => None,
        };
        Ok(ProbeSettings {
            interval: self.opt_duration(p.interval.as_ref(), "probe.interval", d.interval)?,
            prompt,
            expect,
            max_tokens: match &p.max_tokens {
                Some(v) => self.positive(v, "probe.max_tokens")?,
                None => d.max_tokens,
            },
            ttft_timeout: self.deadline_within(
                p.ttft_timeout.as_ref(),
                "probe.ttft_timeout",
                d.ttft_timeout,
                timeout,
            )?,
            connect_timeout: self.deadline_within(
                p.connect_timeout.as_ref(),
                "probe.connect_timeout",
                d.connect_timeout,
                timeout,
            )?,
            timeout,
            concurrency: match &p.concurrency {
                Some(v) => self.positive(v, "probe.concurrency")?,
                None => d.concurrency,
            },
            daily_budget,
            stream: p.stream.unwrap_or(d.stream),
        })
    }

    fn route(&self, r: &RawRoute, probe: &ProbeSettings) -> R<RouteSettings> {
        let timeout = self.opt_duration(r.timeout.as_ref(), "route.timeout", probe.timeout)?;
        let hedge = match &r.hedge {
            None => Hedge::Auto,
            Some(v) => match v.get_ref().trim() {
                "auto" => Hedge::Auto,
                "off" => Hedge::Off,
                text => match humantime::parse_duration(text) {
                    Ok(d) if !d.is_zero() => Hedge::After(d),
                    _ => {
                        return Err(self.at(
                            v,
                            format!("`route.hedge` = {text:?}: expected \"auto\", \"off\" or a delay like \"2s\""),
                        ))
                    }
                },
            },
        };
        Ok(RouteSettings {
            ttft_timeout: self.deadline_within(
                r.ttft_timeout.as_ref(),
                "route.ttft_timeout",
                probe.ttft_timeout,
                timeout,
            )?,
            connect_timeout: self.deadline_within(
                r.connect_timeout.as_ref(),
                "route.connect_timeout",
                probe.connect_timeout,
                timeout,
            )?,
            timeout,
            hedge,
        })
    }

    fn endpoints(&self, raw: &[RawEndpoint]) -> R<Vec<Endpoint>> {
        let mut out: Vec<Endpoint> = Vec::with_capacity(raw.len());
        for e in raw {
            let name = self.non_empty(&e.name, "endpoint `name`")?;
            if out.iter().any(|o| o.name == name) {
                return Err(self.at(
                    &e.name,
                    format!(
                        "duplicate endpoint name {name:?}; each [[endpoint]] needs its own name"
                    ),
                ));
            }
            let base_url = self.base_url(&e.base_url)?;
            let api_key_env = match &e.api_key_env {
                Some(v) => Some(self.env_var_name(v)?),
                None => None,
            };
            let dialect = match &e.dialect {
                None => Dialect::default(),
                Some(v) => match v.get_ref().as_str() {
                    "openai" => Dialect::Openai,
                    "anthropic" => Dialect::Anthropic,
                    other => {
                        return Err(self.at(
                            v,
                            format!(
                                "unknown dialect {other:?}; expected \"openai\" or \"anthropic\""
                            ),
                        ))
                    }
                },
            };
            out.push(Endpoint {
                name,
                base_url,
                api_key_env,
                dialect,
                native_fallback: e.native_fallback.unwrap_or(false),
            });
        }
        Ok(out)
    }

    fn base_url(&self, v: &S<String>) -> R<String> {
        let text = v.get_ref().trim();
        let ok = reqwest::Url::parse(text).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
        });
        if !ok {
            return Err(self.at(
                v,
                format!("`base_url` = {text:?}: expected an http(s) URL like \"https://openrouter.ai/api/v1\""),
            ));
        }
        // Paths are appended as `{base_url}/chat/completions`.
        Ok(text.trim_end_matches('/').to_string())
    }

    /// The value may be a key pasted in by mistake, so it is never echoed.
    fn env_var_name(&self, v: &S<String>) -> R<String> {
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

    fn models(&self, raw: &[RawModel], endpoints: &[Endpoint]) -> R<Vec<ModelConfig>> {
        if raw.is_empty() {
            return Err(self.error(
                None,
                "the file defines no [[model]]; add at least one (see assets/config.example.toml)",
            ));
        }
        let known_endpoints = || join(endpoints.iter().map(|e| e.name.as_str()));
        let mut out: Vec<ModelConfig> = Vec::with_capacity(raw.len());
        for m in raw {
            let name = self.non_empty(&m.name, "model `name`")?;
            if out.iter().any(|o| o.name == name) {
                return Err(self.at(
                    &m.name,
                    format!("duplicate model name {name:?}; each [[model]] needs its own name"),
                ));
            }
            let id = self.non_empty(&m.id, "model `id`")?;
            let endpoint = match (&m.endpoint, endpoints) {
                (Some(v), _) => {
                    if !endpoints.iter().any(|e| &e.name == v.get_ref()) {
                        return Err(self.at(
                            v,
                            format!(
                                "unknown endpoint {:?} in model {name:?}; known endpoints: {}",
                                v.get_ref(),
                                known_endpoints()
                            ),
                        ));
                    }
                    v.get_ref().clone()
                }
                // One endpoint: naming it on every model would be noise.
                (None, [only]) => only.name.clone(),
                (None, []) => {
                    return Err(self.at(
                        &m.name,
                        format!("model {name:?} has no endpoint and the file defines no [[endpoint]]; add one"),
                    ))
                }
                (None, _) => {
                    return Err(self.at(
                        &m.name,
                        format!(
                            "model {name:?} needs `endpoint = ...`; expected one of: {}",
                            known_endpoints()
                        ),
                    ))
                }
            };
            let tier = match &m.tier {
                Some(v) => Some(
                    v.get_ref()
                        .parse::<Tier>()
                        .map_err(|e| self.at(v, e.to_string()))?,
                ),
                None => None,
            };
            let probe = match &m.probe {
                Some(o) => self.overrides(o)?,
                None => ProbeOverrides::default(),
            };
            let extra = match &m.extra {
                Some(v) => {
                    if let Some(k) = RESERVED_EXTRA
                        .iter()
                        .find(|k| v.get_ref().contains_key(**k))
                    {
                        return Err(self.at(
                            v,
                            format!("`extra` may not set {k:?}: chainwatch sets it itself (the model from `id`)"),
                        ));
                    }
                    v.get_ref().clone()
                }
                None => serde_json::Map::new(),
            };
            out.push(ModelConfig {
                name,
                id,
                endpoint,
                tier,
                probe,
                extra,
            });
        }
        Ok(out)
    }

    fn overrides(&self, o: &RawOverrides) -> R<ProbeOverrides> {
        Ok(ProbeOverrides {
            interval: o
                .interval
                .as_ref()
                .map(|v| self.duration(v, "probe.interval"))
                .transpose()?,
            max_tokens: o
                .max_tokens
                .as_ref()
                .map(|v| self.positive(v, "probe.max_tokens"))
                .transpose()?,
            // "" compiles to a pattern that matches anything: no check.
            expect: o
                .expect
                .as_ref()
                .map(|v| self.regex(v, "probe.expect"))
                .transpose()?,
            prompt: o
                .prompt
                .as_ref()
                .map(|v| self.non_empty(v, "`probe.prompt`"))
                .transpose()?,
        })
    }

    /// Names that must each be a known model, at most once.
    fn model_names(&self, list: &Names, key: &str, models: &[ModelConfig]) -> R<Vec<String>> {
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(list.get_ref().len());
        for v in list.get_ref() {
            let name = v.get_ref();
            if !models.iter().any(|m| &m.name == name) {
                return Err(self.at(
                    v,
                    format!(
                        "unknown model {name:?} in `{key}`; known models: {}",
                        join(models.iter().map(|m| m.name.as_str()))
                    ),
                ));
            }
            if !seen.insert(name.as_str()) {
                return Err(self.at(
                    v,
                    format!("{name:?} appears twice in `{key}`; list each model once"),
                ));
            }
            out.push(name.clone());
        }
        Ok(out)
    }

    fn chain(&self, chain: Option<&Names>, models: &[ModelConfig]) -> R<Vec<String>> {
        let Some(list) = chain else {
            return Ok(models.iter().map(|m| m.name.clone()).collect());
        };
        if list.get_ref().is_empty() {
            return Err(self.at(
                list,
                "`chain` is empty; list at least one model, or leave `chain` out to use every model in file order",
            ));
        }
        self.model_names(list, "chain", models)
    }

    /// `[tiers]` decides routing. A model's own `tier` must agree with it;
    /// a model without one takes the lowest tier that lists it.
    fn tiers(
        &self,
        raw: &RawTiers,
        models: &mut [ModelConfig],
        raw_models: &[RawModel],
    ) -> R<Tiers> {
        let mut tiers = Tiers::default();
        for t in Tier::ALL {
            if let Some(list) = raw.get(t) {
                *tiers.get_mut(t) = self.model_names(list, &format!("tiers.{t}"), models)?;
            }
        }
        for (m, rm) in models.iter_mut().zip(raw_models) {
            match (m.tier, &rm.tier) {
                (Some(t), Some(span)) if !tiers.get(t).contains(&m.name) => {
                    return Err(self.at(
                        span,
                        format!(
                            "model {:?} has tier = \"{t}\" but [tiers] does not list it under {t}; \
                             add it there or change its tier",
                            m.name
                        ),
                    ));
                }
                (None, _) => {
                    m.tier = Tier::ALL
                        .into_iter()
                        .find(|t| tiers.get(*t).contains(&m.name));
                }
                _ => {}
            }
        }
        Ok(tiers)
    }
}

fn join<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = names.collect();
    if v.is_empty() {
        "(none)".to_string()
    } else {
        v.join(", ")
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let bytes = text.as_bytes();
    let before = bytes.get(..offset.min(bytes.len())).unwrap_or_default();
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let column = before
        .get(line_start..)
        .unwrap_or_default()
        .iter()
        .filter(|b| (**b & 0xC0) != 0x80) // count UTF-8 lead bytes only
        .count()
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One line each, so case texts keep their line numbers.
    const E: &str =
        r#"endpoint = [{ name = "or", base_url = "https://or.test/v1", api_key_env = "OR_KEY" }]"#;
    const M: &str =
        r#"model = [{ name = "a", id = "x/a" }, { name = "b", id = "y/b", tier = "budget" }]"#;

    fn text(case: &str) -> String {
        case.replace("$E", E).replace("$M", M)
    }

    fn parse(case: &str) -> Result<Config, ConfigError> {
        Config::parse(&text(case), Path::new("config.toml"))
    }

    /// What every valid config promises the rest of the program.
    fn assert_consistent(c: &Config) {
        assert!(!c.chain.is_empty());
        for name in c
            .chain
            .iter()
            .chain(Tier::ALL.iter().flat_map(|t| c.tiers.get(*t)))
        {
            assert!(c.model(name).is_some(), "{name} is not a model");
        }
        for m in &c.models {
            assert!(
                c.endpoint(&m.endpoint).is_some(),
                "{} has no endpoint",
                m.name
            );
            assert_eq!(c.endpoint_of(m).name, m.endpoint);
        }
        assert!(c.probe.ttft_timeout <= c.probe.timeout);
        assert!(c.route.ttft_timeout <= c.route.timeout);
    }

    #[test]
    fn bad_files_say_where_and_what() {
        // (case, message fragment, line, column)
        let cases: &[(&str, &str, usize, Option<usize>)] = &[
            ("$E\n$M\n[health\n", "unclosed table, expected `]`", 3, Some(8)),
            ("$E\n$M\nfoo = 1", "unknown field `foo`, expected one of `chain`", 3, Some(1)),
            ("$E\n$M\n[probe]\nintervall = \"5s\"", "unknown field `intervall`", 4, Some(1)),
            ("$E\n$M\nchain = [\"a\", \"gpt-5\"]", "unknown model \"gpt-5\" in `chain`; known models: a, b", 3, Some(15)),
            ("$E\n$M\nchain = [\"a\", \"a\"]", "\"a\" appears twice in `chain`", 3, Some(15)),
            ("$E\n$M\nchain = []", "`chain` is empty", 3, Some(9)),
            ("$E\n$M\n[tiers]\npremium = [\"zz\"]", "unknown model \"zz\" in `tiers.premium`", 4, Some(12)),
            ("$E\n$M\n[tiers]\nbudget = [\"b\", \"b\"]", "appears twice in `tiers.budget`", 4, Some(16)),
            ("$E\nmodel = [{ name = \"a\", id = \"x/a\", endpoint = \"nope\" }]", "unknown endpoint \"nope\" in model \"a\"; known endpoints: or", 2, Some(47)),
            ("$E\n$M\n[health]\nwindow = \"abc\"", "expected a duration like \"30s\" or \"15m\"", 4, Some(10)),
            ("$E\n$M\n[health]\nslow = \"fast\"", "`health.slow`", 4, Some(8)),
            ("$E\n$M\n[probe]\ninterval = \"0s\"", "`probe.interval` must be more than zero", 4, Some(12)),
            ("$E\n$M\n[probe]\ntimeout = \"0ms\"", "`probe.timeout` must be more than zero", 4, Some(11)),
            ("$E\n$M\n[health]\nthreshold = 1.0", "expected a ratio from 0 up to (not including) 1", 4, Some(13)),
            ("$E\n$M\n[health]\nthreshold = -0.1", "`health.threshold` = -0.1", 4, Some(13)),
            ("$E\n$M\n[health]\nthreshold = \"high\"", "invalid type: string \"high\", expected f64", 4, Some(13)),
            ("$E\n$M\n[health]\nrecover_after = -1", "expected u32", 4, Some(17)),
            ("$E\n$M\n[health]\nrecover_after = 0", "`health.recover_after` must be at least 1", 4, Some(17)),
            ("$E\nmodel = [{ name = \"a\", id = \"x/a\" }, { name = \"a\", id = \"y/a\" }]", "duplicate model name \"a\"", 2, Some(47)),
            ("endpoint = [{ name = \"or\", base_url = \"https://x.test\" }, { name = \"or\", base_url = \"https://y.test\" }]\n$M", "duplicate endpoint name \"or\"", 1, Some(68)),
            ("$E\n$M\n[probe]\nexpect = \"(pong\"", "`probe.expect` is not a valid regular expression", 4, Some(10)),
            ("endpoint = [{ name = \"or\", base_url = \"https://x.test\", dialect = \"gemini\" }]\n$M", "unknown dialect \"gemini\"; expected \"openai\" or \"anthropic\"", 1, Some(67)),
            ("$E\nmodel = [{ name = \"a\", id = \"x/a\", tier = \"gold\" }]", "unknown tier \"gold\"; expected \"budget\", \"standard\" or \"premium\"", 2, Some(43)),
            ("endpoint = [{ name = \"or\", base_url = \"ftp://x.test\" }]\n$M", "expected an http(s) URL", 1, Some(39)),
            ("endpoint = [{ name = \"or\", base_url = \"openrouter.ai/api/v1\" }]\n$M", "expected an http(s) URL", 1, Some(39)),
            ("$E\n$M\n[probe]\ntimeout = \"5s\"\nttft_timeout = \"10s\"", "`probe.ttft_timeout` (10s) is longer than the total timeout (5s)", 5, Some(16)),
            ("$E\n$M\n[route]\nconnect_timeout = \"1m\"", "`route.connect_timeout` (1m) is longer", 4, Some(19)),
            ("$E\n$M\n[route]\nhedge = \"sometimes\"", "expected \"auto\", \"off\" or a delay like \"2s\"", 4, Some(9)),
            ("$E\n$M\n[route]\nhedge = \"0s\"", "`route.hedge`", 4, Some(9)),
            ("$E\n$M\n[probe]\nmax_tokens = 0", "`probe.max_tokens` must be at least 1", 4, Some(14)),
            ("$E\n$M\n[probe]\nconcurrency = 0", "`probe.concurrency` must be at least 1", 4, Some(15)),
            ("$E\n$M\n[probe]\ndaily_budget = -1.0", "expected US dollars per day", 4, Some(16)),
            ("$E\n$M\n[probe]\nprompt = \"  \"", "`probe.prompt` is empty", 4, Some(10)),
            ("endpoint = [{ name = \"a\", base_url = \"http://a.test\" }, { name = \"b\", base_url = \"http://b.test\" }]\nmodel = [{ name = \"m\", id = \"x/m\" }]", "model \"m\" needs `endpoint = ...`; expected one of: a, b", 2, Some(19)),
            ("model = [{ name = \"m\", id = \"x/m\" }]", "defines no [[endpoint]]", 1, Some(19)),
            ("$E\n$M\n[tiers]\npremium = [\"a\"]", "model \"b\" has tier = \"budget\" but [tiers] does not list it under budget", 2, Some(71)),
            ("$E\nmodel = [{ name = \"a\", id = \"x/a\", extra = { model = \"other\" } }]", "`extra` may not set \"model\"", 2, Some(44)),
            ("$E\nmodel = [{ name = \"a\" }]", "missing field `id`", 2, Some(10)),
            ("$E\nmodel = [{ name = \"\", id = \"x/a\" }]", "model `name` is empty", 2, Some(19)),
            ("$E\nmodel = [{ name = \"a\", id = \"x/a\", probe = { interval = \"soon\" } }]", "`probe.interval` = \"soon\"", 2, Some(57)),
            ("$E\nmodel = [{ name = \"a\", id = \"x/a\", probe = { expect = \"[\" } }]", "not a valid regular expression", 2, Some(55)),
            ("$E\nmodel = [{ name = \"a\", id = \"x/a\", probe = { timeout = \"1s\" } }]", "unknown field `timeout`", 2, None),
        ];
        let mut wrong = Vec::new();
        for (case, fragment, line, column) in cases {
            let err = match parse(case) {
                Ok(_) => {
                    wrong.push(format!("accepted: {case}"));
                    continue;
                }
                Err(e) => e,
            };
            let shown = err.to_string();
            let placed = err.line == Some(*line) && (column.is_none() || err.column == *column);
            if !shown.contains(fragment) || !shown.starts_with("config.toml:") || !placed {
                wrong.push(format!(
                    "{case}\n  got:  {shown}\n  want: {line}:{column:?}: {fragment}"
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn a_key_in_the_file_is_refused_without_echoing_it() {
        let cases = [
            r#"endpoint = [{ name = "or", base_url = "https://x.test", api_key = "sk-or-v1-secret" }]"#,
            r#"endpoint = [{ name = "or", base_url = "https://x.test", api_key_env = "sk-or-v1-secret" }]"#,
            r#"endpoint = [{ name = "or", base_url = "https://x.test", api_key_env = "" }]"#,
        ];
        for case in cases {
            let err = parse(&format!("{case}\n$M")).err().map(|e| e.to_string());
            let err = err.unwrap_or_default();
            assert!(err.contains("api_key_env"), "{err}");
            assert!(err.contains("config.toml:1:"), "{err}");
            assert!(!err.contains("secret"), "the key leaked: {err}");
        }
    }

    #[test]
    fn no_models_is_an_error_without_a_position() {
        for case in ["", "$E", "$E\n[probe]\ninterval = \"5s\""] {
            let err = parse(case).err();
            let err = err.as_ref();
            assert!(err.is_some_and(|e| e.line.is_none()), "{case}: {err:?}");
            let shown = err.map(|e| e.to_string()).unwrap_or_default();
            assert!(
                shown.starts_with("config.toml: the file defines no [[model]]"),
                "{shown}"
            );
        }
    }

    #[test]
    fn minimal_file_takes_every_default() {
        let c = parse("[[endpoint]]\nname = \"local\"\nbase_url = \"http://127.0.0.1:8080/v1/\"\n\n[[model]]\nname = \"m\"\nid = \"llama\"\n");
        let c = c.unwrap_or_else(|e| panic!("{e}"));
        assert_consistent(&c);
        assert_eq!(c.chain, ["m"]);
        assert_eq!(c.health, HealthSettings::default());
        assert_eq!(c.route, RouteSettings::default());
        assert_eq!(c.route.hedge, Hedge::Auto);
        assert_eq!(c.probe.interval, Duration::from_secs(60));
        assert_eq!(
            c.probe.expect.as_ref().map(Regex::as_str),
            Some(DEFAULT_EXPECT)
        );
        assert_eq!(
            (c.probe.max_tokens, c.probe.concurrency, c.probe.stream),
            (16, 4, true)
        );
        assert_eq!(c.tiers, Tiers::default());
        let m = &c.models[0];
        assert_eq!((m.endpoint.as_str(), m.tier), ("local", None));
        let ep = c.endpoint_of(m);
        assert_eq!(
            ep.base_url, "http://127.0.0.1:8080/v1",
            "trailing / trimmed"
        );
        assert_eq!(
            (ep.api_key_env.as_deref(), ep.dialect),
            (None, Dialect::Openai)
        );
        assert!(matches!(ep.api_key(), Ok(None)));
        assert_eq!(c.source, ConfigSource::File(PathBuf::from("config.toml")));
    }

    #[test]
    fn full_file_reads_every_setting() {
        let full = r#"
chain = ["b", "a"]
[health]
window = "5m"
threshold = 0
recover_after = 5
slow = "2500ms"
[probe]
interval = "30s"
prompt = "ping?"
expect = ""
max_tokens = 8
timeout = "20s"
connect_timeout = "2s"
concurrency = 2
daily_budget = 0.25
stream = false
[route]
timeout = "4s"
hedge = "1500ms"
[[endpoint]]
name = "anthropic"
base_url = "https://api.anthropic.com/v1"
api_key_env = "ANTHROPIC_API_KEY"
dialect = "anthropic"
native_fallback = true
[[model]]
name = "a"
id = "claude-sonnet-4-20250514"
tier = "premium"
extra = { thinking = { type = "enabled", budget_tokens = 1024 }, top_k = 5 }
[[model]]
name = "b"
id = "claude-haiku"
probe = { interval = "2m", max_tokens = 4, expect = "(?i)ok", prompt = "Say ok" }
[tiers]
premium = ["a"]
budget = ["b"]
"#;
        let c = parse(full).unwrap_or_else(|e| panic!("{e}"));
        assert_consistent(&c);
        assert_eq!(c.chain, ["b", "a"]);
        let secs = Duration::from_secs;
        assert_eq!(
            c.health,
            HealthSettings {
                window: secs(300),
                threshold: 0.0,
                recover_after: 5,
                slow: Some(Duration::from_millis(2500))
            }
        );
        let p = &c.probe;
        assert_eq!(
            (p.interval, p.timeout, p.connect_timeout),
            (secs(30), secs(20), secs(2))
        );
        assert_eq!(p.ttft_timeout, secs(10), "default kept: it fits in 20s");
        assert!(p.expect.is_none(), "\"\" means no content check");
        assert_eq!(
            (p.prompt.as_str(), p.max_tokens, p.concurrency),
            ("ping?", 8, 2)
        );
        assert_eq!((p.daily_budget, p.stream), (Some(0.25), false));
        // Route deadlines default to [probe]'s, shortened to fit its own timeout.
        assert_eq!(
            c.route,
            RouteSettings {
                timeout: secs(4),
                ttft_timeout: secs(4),
                connect_timeout: secs(2),
                hedge: Hedge::After(Duration::from_millis(1500))
            }
        );
        let ep = &c.endpoints[0];
        assert_eq!((ep.dialect, ep.native_fallback), (Dialect::Anthropic, true));
        let a = c
            .model("a")
            .map(|m| serde_json::Value::Object(m.extra.clone()));
        assert_eq!(
            a,
            Some(
                serde_json::json!({"thinking": {"type": "enabled", "budget_tokens": 1024}, "top_k": 5})
            )
        );
        // b has no `tier`; [tiers] lists it under budget.
        assert_eq!(c.model("b").and_then(|m| m.tier), Some(Tier::Budget));
        assert_eq!(c.tiers.get(Tier::Standard), &[] as &[String]);
    }

    #[test]
    fn hedge_and_tiers_from_models() {
        for (hedge, want) in [
            ("auto", Hedge::Auto),
            ("off", Hedge::Off),
            ("2s", Hedge::After(Duration::from_secs(2))),
        ] {
            let c = parse(&format!("$E\n$M\n[route]\nhedge = \"{hedge}\""));
            assert_eq!(c.map(|c| c.route.hedge).ok(), Some(want), "{hedge}");
        }
        let c = parse("$E\nmodel = [{ name = \"p\", id = \"x/p\", tier = \"premium\" }, { name = \"q\", id = \"x/q\" }, { name = \"r\", id = \"x/r\", tier = \"premium\" }]");
        let c = c.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.tiers.premium, ["p", "r"]);
        assert!(c.tiers.budget.is_empty() && c.tiers.standard.is_empty());
        assert_eq!(
            c.chain,
            ["p", "q", "r"],
            "no `chain`: every model in file order"
        );
    }

    #[test]
    fn example_file_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/config.example.toml");
        let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_consistent(&c);
        assert_eq!(c.source, ConfigSource::File(path));
        assert_eq!(c.endpoints.len(), 3);
        let local = c.endpoint("local").map(|e| e.api_key_env.clone());
        assert_eq!(local, Some(None), "the local server needs no key");
        assert_eq!(
            c.endpoint("anthropic").map(|e| e.dialect),
            Some(Dialect::Anthropic)
        );
        let extra = c
            .model("gemini-pro")
            .and_then(|m| m.extra.get("reasoning").cloned());
        assert_eq!(extra, Some(serde_json::json!({"effort": "low"})));
        let direct = c.model("claude-direct").map(|m| c.probe_for(m).interval);
        assert_eq!(direct, Some(Duration::from_secs(300)));
        assert_eq!(c.tiers.get(Tier::Premium), ["claude-sonnet", "gpt-4o"]);
    }

    #[test]
    fn builtin_is_the_articles_chain() {
        let c = Config::builtin();
        assert_consistent(&c);
        assert_eq!(c.source, ConfigSource::Builtin);
        assert_eq!(
            c.chain,
            ["claude-sonnet", "gpt-4o", "gemini-pro", "deepseek"]
        );
        let ids: Vec<&str> = c
            .chain
            .iter()
            .filter_map(|n| c.model(n))
            .map(|m| m.id.as_str())
            .collect();
        assert_eq!(
            ids,
            [
                "anthropic/claude-sonnet-4",
                "openai/gpt-4o",
                "google/gemini-2.5-pro",
                "deepseek/deepseek-chat"
            ]
        );
        assert_eq!(c.tiers.get(Tier::Standard), ["gemini-flash", "deepseek"]);
        assert_eq!(
            c.tiers.get(Tier::Budget),
            ["gpt-4o-mini", "gemini-flash-lite"]
        );
        for t in Tier::ALL {
            for name in c.tiers.get(t) {
                assert_eq!(c.model(name).and_then(|m| m.tier), Some(t), "{name}");
            }
        }
        let or = &c.endpoints[0];
        assert_eq!(
            (or.name.as_str(), or.base_url.as_str()),
            ("openrouter", "https://openrouter.ai/api/v1")
        );
        assert_eq!(or.api_key_env.as_deref(), Some(OPENROUTER_KEY_VAR));
        assert_eq!(
            c.probe.timeout,
            Duration::from_secs(30),
            "the article's 30 s per attempt"
        );
    }

    #[test]
    fn demo_uses_the_simulator() {
        let models = [
            (
                "fast".to_string(),
                "sim/fast".to_string(),
                Some(Tier::Budget),
            ),
            ("flaky".to_string(), "sim/flaky".to_string(), None),
            (
                "big".to_string(),
                "sim/big".to_string(),
                Some(Tier::Premium),
            ),
        ];
        let c = Config::demo("http://127.0.0.1:4000/v1/", &models);
        assert_consistent(&c);
        assert_eq!(c.source, ConfigSource::Demo);
        assert_eq!(c.chain, ["fast", "flaky", "big"]);
        assert_eq!(
            (c.tiers.budget.clone(), c.tiers.premium.clone()),
            (vec!["fast".to_string()], vec!["big".to_string()])
        );
        let ep = &c.endpoints[0];
        assert_eq!(
            (
                ep.name.as_str(),
                ep.base_url.as_str(),
                ep.api_key_env.clone()
            ),
            ("sim", "http://127.0.0.1:4000/v1", None)
        );
        let secs = Duration::from_secs;
        assert_eq!(
            (c.probe.interval, c.probe.ttft_timeout, c.probe.timeout),
            (secs(5), secs(8), secs(15))
        );
        assert_eq!((c.health.window, c.route.timeout), (secs(300), secs(15)));
    }

    #[test]
    fn probe_for_applies_overrides() {
        let c = parse("$E\nmodel = [{ name = \"a\", id = \"x/a\" }, { name = \"b\", id = \"x/b\", probe = { interval = \"5m\", max_tokens = 64 } }, { name = \"c\", id = \"x/c\", probe = { expect = \"\", prompt = \"hi\" } }, { name = \"d\", id = \"x/d\", probe = { expect = \"^ok$\" } }]");
        let c = c.unwrap_or_else(|e| panic!("{e}"));
        let get = |n: &str| c.model(n).map(|m| c.probe_for(m));
        let summary = |p: Option<ProbeSettings>| {
            p.map(|p| {
                (
                    p.interval.as_secs(),
                    p.max_tokens,
                    p.prompt,
                    p.expect.map(|r| r.as_str().to_string()),
                    p.timeout.as_secs(),
                )
            })
        };
        let pong = Some(DEFAULT_EXPECT.to_string());
        let prompt = "Reply with the single word: pong".to_string();
        assert_eq!(
            summary(get("a")),
            Some((60, 16, prompt.clone(), pong.clone(), 30))
        );
        assert_eq!(summary(get("b")), Some((300, 64, prompt.clone(), pong, 30)));
        assert_eq!(
            summary(get("c")),
            Some((60, 16, "hi".to_string(), None, 30))
        );
        assert_eq!(
            summary(get("d")),
            Some((60, 16, prompt, Some("^ok$".to_string()), 30))
        );
    }

    #[test]
    fn api_key_reads_the_environment_at_call_time() {
        let ep = |var: Option<&str>| Endpoint {
            name: "e".into(),
            base_url: "https://e.test".into(),
            api_key_env: var.map(String::from),
            dialect: Dialect::Openai,
            native_fallback: false,
        };
        let unset = ep(Some("CHAINWATCH_TEST_UNSET_KEY_9f2")).api_key();
        assert_eq!(
            unset.map_err(|e| e.to_string()),
            Err("CHAINWATCH_TEST_UNSET_KEY_9f2 is not set".to_string())
        );
        let with = |value: Option<&str>| {
            let value = value.map(String::from);
            ep(Some("K")).api_key_from(move |v| (v == "K").then(|| value.clone()).flatten())
        };
        assert_eq!(with(Some(" sk-abc\n")), Ok(Some(Secret::new("sk-abc"))));
        assert_eq!(
            with(Some("")),
            Err(MissingKey { var: "K".into() }),
            "empty counts as unset"
        );
        assert_eq!(with(None), Err(MissingKey { var: "K".into() }));
        assert_eq!(ep(None).api_key_from(|_| Some("unused".into())), Ok(None));
    }

    #[test]
    fn resolution_order() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let good = dir.path().join("good.toml");
        let bad = dir.path().join("bad.toml");
        let absent = dir.path().join("absent.toml");
        std::fs::write(&good, text("$E\n$M")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&bad, "chain = [").unwrap_or_else(|e| panic!("{e}"));
        let kind = |r: Result<Resolved, ConfigError>| match r {
            Ok(Resolved::Config(c)) => format!("{:?}", c.source),
            Ok(Resolved::Demo) => "Demo".to_string(),
            Err(e) => format!("error at {}", e.path.display()),
        };
        let file = |p: &Path| format!("{:?}", ConfigSource::File(p.to_path_buf()));
        let err = |p: &Path| format!("error at {}", p.display());
        let cases: [(Option<&Path>, Option<&Path>, bool, String); 8] = [
            (Some(&good), Some(&bad), false, file(&good)),
            (Some(&absent), Some(&good), true, err(&absent)),
            (Some(&bad), None, true, err(&bad)),
            (None, Some(&good), true, file(&good)),
            (None, Some(&bad), true, err(&bad)),
            (None, Some(&absent), true, "Builtin".into()),
            (None, Some(&absent), false, "Demo".into()),
            (None, None, false, "Demo".into()),
        ];
        for (explicit, default, key, want) in cases {
            assert_eq!(
                kind(resolve_with(explicit, default, key)),
                want,
                "{explicit:?} {default:?} {key}"
            );
        }
        let missing = Config::load(&absent).err().map(|e| (e.line, e.to_string()));
        let missing = missing.unwrap_or_default();
        assert_eq!(missing.0, None);
        assert!(
            missing
                .1
                .starts_with(&format!("{}: cannot read", absent.display())),
            "{}",
            missing.1
        );
    }

    #[test]
    fn default_path_follows_xdg() {
        let os = |s: &'static str| Some(OsStr::new(s));
        let cases = [
            (
                os("/x/cfg"),
                os("/home/u"),
                Some("/x/cfg/chainwatch/config.toml"),
            ),
            (
                os("relative"),
                os("/home/u"),
                Some("/home/u/.config/chainwatch/config.toml"),
            ),
            (
                os(""),
                os("/home/u"),
                Some("/home/u/.config/chainwatch/config.toml"),
            ),
            (
                None,
                os("/home/u"),
                Some("/home/u/.config/chainwatch/config.toml"),
            ),
            (None, None, None),
            (None, os(""), None),
        ];
        for (xdg, home, want) in cases {
            assert_eq!(
                default_path_from(xdg, home),
                want.map(PathBuf::from),
                "{xdg:?} {home:?}"
            );
        }
    }

    #[test]
    fn small_pieces() {
        assert_eq!(
            Config::provider_of("anthropic/claude-sonnet-4"),
            "anthropic"
        );
        assert_eq!(Config::provider_of("meta/llama/3"), "meta");
        assert_eq!(Config::provider_of("llama3"), "llama3");
        assert!(Tier::Budget < Tier::Standard && Tier::Standard < Tier::Premium);
        for t in Tier::ALL {
            assert_eq!(t.as_str().parse::<Tier>(), Ok(t));
        }
        assert_eq!(
            "Premium".parse::<Tier>(),
            Err(UnknownTier("Premium".into()))
        );
        assert_eq!(Tier::Budget.next(), Some(Tier::Standard));
        assert_eq!(Tier::Premium.next(), None);
        assert_eq!(line_col("ab\ncé✓x", 9), (2, 4), "columns count characters");
        assert_eq!(
            line_col("ab", 99),
            (1, 3),
            "offsets past the end are clamped"
        );
        let e = |line, column| ConfigError {
            path: "c.toml".into(),
            line,
            column,
            message: "m".into(),
        };
        assert_eq!(e(Some(12), Some(9)).to_string(), "c.toml:12:9: m");
        assert_eq!(e(None, None).to_string(), "c.toml: m");
        // An endpoint removed after validation: no panic, an unusable endpoint.
        let mut c = Config::builtin();
        c.endpoints.clear();
        let m = c.models[0].clone();
        assert_eq!(c.endpoint_of(&m).base_url, "");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        #[test]
        fn never_panics_on_any_text(s in "\\PC{0,200}") {
            let _ = Config::parse(&s, Path::new("x.toml"));
        }

        #[test]
        fn never_panics_on_a_cut_or_patched_example(cut in 0usize..4000, at in 0usize..4000, junk in "[\\[\\]\"={}, a-z0-9\n]{0,6}") {
            let example = include_str!("../assets/config.example.toml");
            let cut = example.char_indices().map(|(i, _)| i).find(|i| *i >= cut).unwrap_or(example.len());
            let _ = Config::parse(example.get(..cut).unwrap_or_default(), Path::new("x.toml"));
            let at = example.char_indices().map(|(i, _)| i).find(|i| *i >= at).unwrap_or(example.len());
            let (head, tail) = example.split_at(at);
            let _ = Config::parse(&format!("{head}{junk}{tail}"), Path::new("x.toml"));
        }
    }
}
