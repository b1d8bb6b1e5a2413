//! The configurations chainwatch brings along: the article's chain and tiers
//! through OpenRouter (no file, a key set), and the demo over the built-in
//! simulator (no file, no key).

use std::time::Duration;

use super::{
    Config, ConfigSource, Endpoint, HealthSettings, ModelConfig, ProbeOverrides, ProbeSettings,
    RouteSettings, Tier, Tiers,
};
use crate::api::Dialect;

/// The variable the built-in configuration reads its key from.
pub const OPENROUTER_KEY_VAR: &str = "OPENROUTER_API_KEY";

impl Config {
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
        .map(|(name, id, tier)| {
            let mut m = plain_model(name, id, "openrouter", tier);
            // gemini-2.5-pro cannot stop thinking: probed as a thinking
            // model from the first probe, /models or not.
            m.reasoning = id.contains("gemini-2.5-pro").then_some(true);
            m
        })
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
            alerts: Vec::new(),
            store: Default::default(),
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
            // The demo's thinking model answers after this, reasoning from
            // the first half second: the deadline it meets is the first
            // token's, not the first content token's.
            ttft_timeout: Duration::from_secs(4),
            timeout: Duration::from_secs(15),
            ..ProbeSettings::default()
        };
        Config {
            chain: models.iter().map(|m| m.name.clone()).collect(),
            health: HealthSettings {
                window: Duration::from_secs(5 * 60),
                // The simulator's slow model should show as degraded, not
                // down; the thinking model (about 5 s) is not slow.
                slow: Some(Duration::from_secs(8)),
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
            alerts: Vec::new(),
            store: Default::default(),
            source: ConfigSource::Demo,
        }
    }
}

impl Config {
    /// Puts the demo models `names` on a second simulator endpoint,
    /// `sim-anthropic`, at the same address but speaking Anthropic's
    /// dialect: the demo's "directly" beside its "through OpenRouter".
    pub fn demo_direct(&mut self, names: &[String]) {
        let Some(sim) = self.endpoints.first().cloned() else {
            return;
        };
        if names.is_empty() {
            return;
        }
        let direct = Endpoint {
            name: format!("{}-anthropic", sim.name),
            dialect: Dialect::Anthropic,
            ..sim
        };
        for m in &mut self.models {
            if names.contains(&m.name) {
                m.endpoint.clone_from(&direct.name);
            }
        }
        self.endpoints.push(direct);
    }
}

fn plain_model(name: &str, id: &str, endpoint: &str, tier: Option<Tier>) -> ModelConfig {
    ModelConfig {
        name: name.to_string(),
        id: id.to_string(),
        endpoint: endpoint.to_string(),
        tier,
        probe: ProbeOverrides::default(),
        extra: serde_json::Map::new(),
        // Known from `/models` (thinking models list `reasoning`).
        reasoning: None,
        same_as: None,
    }
}
