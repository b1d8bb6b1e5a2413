//! The file as written: serde fills these from the TOML, and every value
//! keeps its byte span (`toml::Spanned`) so that validation can name the line
//! and column of a bad one. Unknown keys are refused here.

use serde::Deserialize;
use toml::Spanned;

use super::Tier;

pub(super) type S<T> = Spanned<T>;
pub(super) type Names = S<Vec<S<String>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) chain: Option<Names>,
    #[serde(default)]
    pub(super) health: RawHealth,
    #[serde(default)]
    pub(super) probe: RawProbe,
    #[serde(default)]
    pub(super) route: RawRoute,
    #[serde(default)]
    pub(super) endpoint: Vec<RawEndpoint>,
    #[serde(default)]
    pub(super) model: Vec<RawModel>,
    pub(super) tiers: Option<RawTiers>,
    #[serde(default)]
    pub(super) alert: Vec<RawAlert>,
    #[serde(default)]
    pub(super) store: RawStore,
}

/// `[store]`: where state is shared beyond the state file.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    pub(super) redis_url: Option<S<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHealth {
    pub(super) window: Option<S<String>>,
    pub(super) threshold: Option<S<f64>>,
    pub(super) recover_after: Option<S<u32>>,
    pub(super) slow: Option<S<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProbe {
    pub(super) interval: Option<S<String>>,
    pub(super) prompt: Option<S<String>>,
    pub(super) expect: Option<S<String>>,
    pub(super) max_tokens: Option<S<u32>>,
    pub(super) timeout: Option<S<String>>,
    pub(super) ttft_timeout: Option<S<String>>,
    pub(super) stall_timeout: Option<S<String>>,
    pub(super) connect_timeout: Option<S<String>>,
    pub(super) concurrency: Option<S<usize>>,
    pub(super) daily_budget: Option<S<f64>>,
    pub(super) stream: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    pub(super) timeout: Option<S<String>>,
    pub(super) ttft_timeout: Option<S<String>>,
    pub(super) stall_timeout: Option<S<String>>,
    pub(super) connect_timeout: Option<S<String>>,
    pub(super) hedge: Option<S<String>>,
    pub(super) retry_after_max: Option<S<String>>,
    pub(super) reroute_refusals: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEndpoint {
    pub(super) name: S<String>,
    pub(super) base_url: S<String>,
    pub(super) api_key_env: Option<S<String>>,
    pub(super) dialect: Option<S<String>>,
    pub(super) native_fallback: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawModel {
    pub(super) name: S<String>,
    pub(super) id: S<String>,
    pub(super) endpoint: Option<S<String>>,
    pub(super) tier: Option<S<String>>,
    pub(super) probe: Option<RawOverrides>,
    pub(super) extra: Option<S<serde_json::Map<String, serde_json::Value>>>,
    pub(super) reasoning: Option<bool>,
    pub(super) same_as: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOverrides {
    pub(super) interval: Option<S<String>>,
    pub(super) max_tokens: Option<S<u32>>,
    pub(super) expect: Option<S<String>>,
    pub(super) prompt: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTiers {
    pub(super) budget: Option<Names>,
    pub(super) standard: Option<Names>,
    pub(super) premium: Option<Names>,
}

impl RawTiers {
    pub(super) fn get(&self, tier: Tier) -> Option<&Names> {
        match tier {
            Tier::Budget => self.budget.as_ref(),
            Tier::Standard => self.standard.as_ref(),
            Tier::Premium => self.premium.as_ref(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlert {
    pub(super) name: Option<S<String>>,
    pub(super) models: Option<Names>,
    pub(super) from: Option<Names>,
    pub(super) to: Option<Names>,
    pub(super) chain_only: Option<bool>,
    /// A string (run by `sh -c`) or an array (the argv): checked by hand.
    pub(super) command: Option<S<toml::Value>>,
    pub(super) url: Option<S<String>>,
    pub(super) url_env: Option<S<String>>,
    pub(super) format: Option<S<String>>,
    pub(super) routing_key_env: Option<S<String>>,
    pub(super) bell: Option<bool>,
    pub(super) min_interval: Option<S<String>>,
    pub(super) timeout: Option<S<String>>,
}
