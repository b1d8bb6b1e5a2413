//! The typed schema: what a validated configuration holds, with the
//! defaults of every setting and the lookups the rest of the program asks of
//! it. Everything here is already checked; nothing here reads a file.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;

use super::AlertRule;
use crate::api::{Dialect, Secret};

/// The probe's content check when the file sets none.
pub(super) const DEFAULT_EXPECT: &str = r"(?i)\bpong\b";

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
    /// `[[alert]]`: who is told when a model's state changes.
    pub alerts: Vec<AlertRule>,
    /// `[store]`: state shared beyond the state file.
    pub store: StoreSettings,
    pub source: ConfigSource,
}

/// `[store]`: with `redis_url` (or `CHAINWATCH_REDIS_URL`, which wins),
/// every process of a team shares the chain, health samples, probe
/// leases, the spend ledger and alert leases on Redis (or Valkey);
/// without it, the state file alone, as before. `docs/scale.md`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreSettings {
    /// `redis://[:password@]host:port[/db]`; may hold a password: never
    /// shown (see [`StoreSettings::redis_shown`]).
    pub redis_url: Option<String>,
}

/// The variable that sets (and overrides) `[store] redis_url`.
pub const REDIS_URL_VAR: &str = "CHAINWATCH_REDIS_URL";

impl StoreSettings {
    /// The URL from `CHAINWATCH_REDIS_URL` (as `lookup` reads it), else
    /// from the config; an empty variable is unset.
    pub fn redis_url_from(&self, lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
        lookup(REDIS_URL_VAR)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .or_else(|| self.redis_url.clone())
    }

    /// The URL as it may be shown: the password replaced by `***`.
    pub fn redis_shown(url: &str) -> String {
        match (url.find("://"), url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                format!("{}***{}", &url[..scheme + 3], &url[at..])
            }
            _ => url.to_string(),
        }
    }
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
    /// The longest gap between two tokens once the first came (reasoning
    /// counts as a token): a longer silence is a stalled stream, `timeout`.
    pub stall_timeout: Duration,
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
            stall_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            concurrency: 4,
            daily_budget: None,
            stream: true,
        }
    }
}

/// Deadlines for real prompts, each defaulting to the `[probe]` value,
/// and how the router treats what goes wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteSettings {
    pub timeout: Duration,
    pub ttft_timeout: Duration,
    pub stall_timeout: Duration,
    pub connect_timeout: Duration,
    pub hedge: Hedge,
    /// A 429 whose `Retry-After` is at most this is waited out and the same
    /// model asked again; a longer one cools the model down and the next
    /// model is tried. Zero: never wait.
    pub retry_after_max: Duration,
    /// Try the next model with a prompt the provider's content policy
    /// refused (off: the refusal is the answer's outcome).
    pub reroute_refusals: bool,
}

/// `route.retry_after_max` when the file says nothing.
pub const DEFAULT_RETRY_AFTER_MAX: Duration = Duration::from_secs(2);

impl Default for RouteSettings {
    fn default() -> Self {
        RouteSettings::from_probe(&ProbeSettings::default())
    }
}

impl RouteSettings {
    pub(super) fn from_probe(p: &ProbeSettings) -> Self {
        RouteSettings {
            timeout: p.timeout,
            ttft_timeout: p.ttft_timeout,
            stall_timeout: p.stall_timeout,
            connect_timeout: p.connect_timeout,
            hedge: Hedge::Auto,
            retry_after_max: DEFAULT_RETRY_AFTER_MAX,
            reroute_refusals: false,
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
    /// A thinking model (`true`), or not (`false`) whatever `/models`
    /// says; `None`: as `/models` lists it (`reasoning` among its
    /// `supported_parameters`). Its probe asks for the least reasoning the
    /// model allows and leaves room for it.
    pub reasoning: Option<bool>,
    /// The model (by name) this one is the same model as, reached another
    /// way: the provider view compares the two. `None`: paired by id.
    pub same_as: Option<String>,
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

    pub(super) fn get_mut(&mut self, tier: Tier) -> &mut Vec<String> {
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
}
