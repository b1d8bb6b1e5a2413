//! The rollup by provider: models grouped by the part of their id before
//! `/` (the article's rule) or by the provider that served them, with the
//! sum of their counted samples judged by the same threshold.

use super::window::ratio;
use super::{HealthPolicy, ModelSnapshot, Status};

/// A provider's rollup: the sum of its models' counted samples.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSnapshot {
    pub provider: String,
    pub models: Vec<String>,
    pub ok: u32,
    pub counted: u32,
    pub ratio: Option<f64>,
    pub status: Status,
    /// Models in each status, for "2 ok · 1 down".
    pub healthy_models: usize,
}

/// How to group models into providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKey {
    /// The part of the model id before `/` (the article's rule).
    IdPrefix,
    /// The serving provider that responses name (OpenRouter's `provider`).
    ServedBy,
}

/// Rolls model snapshots up by provider, in first-seen order.
pub fn rollup(
    snapshots: &[ModelSnapshot],
    key: ProviderKey,
    policy: &HealthPolicy,
) -> Vec<ProviderSnapshot> {
    let mut out: Vec<ProviderSnapshot> = Vec::new();
    for snap in snapshots {
        let provider = match key {
            ProviderKey::IdPrefix => provider_of(&snap.id).to_string(),
            ProviderKey::ServedBy => match &snap.served_by {
                Some(p) => p.clone(),
                None => continue,
            },
        };
        let at = match out.iter().position(|p| p.provider == provider) {
            Some(i) => i,
            None => {
                out.push(ProviderSnapshot {
                    provider,
                    models: Vec::new(),
                    ok: 0,
                    counted: 0,
                    ratio: None,
                    status: Status::Unknown,
                    healthy_models: 0,
                });
                out.len() - 1
            }
        };
        let entry = &mut out[at];
        entry.models.push(snap.name.clone());
        entry.ok += snap.ok;
        entry.counted += snap.counted;
        entry.healthy_models += usize::from(snap.status.is_ok());
    }
    for p in &mut out {
        p.ratio = (p.counted > 0).then(|| ratio(p.ok, p.counted));
        p.status = match p.ratio {
            None => Status::Unknown,
            Some(r) if r > policy.threshold => Status::Healthy,
            Some(_) => Status::Unhealthy,
        };
    }
    out
}

/// Model families whose vendor is known from the name alone, for ids
/// without a `provider/` part (a direct API's `claude-sonnet-4-20250514`),
/// named as OpenRouter names the vendor.
const FAMILIES: [(&str, &str); 14] = [
    ("claude", "anthropic"),
    ("gpt-", "openai"),
    ("chatgpt", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("gemini", "google"),
    ("gemma", "google"),
    ("deepseek", "deepseek"),
    ("llama", "meta-llama"),
    ("mistral", "mistralai"),
    ("codestral", "mistralai"),
    ("grok", "x-ai"),
    ("qwen", "qwen"),
];

/// The provider part of a model id: what comes before `/` (the article's
/// rule); for an id without one, the vendor of a known model family
/// (`claude…` → `anthropic`); else the whole id.
pub fn provider_of(id: &str) -> &str {
    if let Some((provider, _)) = id.split_once('/') {
        return provider;
    }
    let lower = id.to_ascii_lowercase();
    FAMILIES
        .iter()
        .find(|(family, _)| lower.starts_with(family))
        .map_or(id, |(_, vendor)| vendor)
}

#[cfg(test)]
mod tests {
    use super::provider_of;

    #[test]
    fn provider_from_the_prefix_or_the_family() {
        for (id, want) in [
            ("anthropic/claude-sonnet-4", "anthropic"),
            ("openai/gpt-4o", "openai"),
            ("claude-sonnet-4-20250514", "anthropic"),
            ("gpt-4o-2024-08-06", "openai"),
            ("o3-mini", "openai"),
            ("Llama-3.1-8B-Instruct", "meta-llama"),
            ("gemini-2.5-pro", "google"),
            ("my-finetune", "my-finetune"),
            ("", ""),
        ] {
            assert_eq!(provider_of(id), want, "{id}");
        }
    }
}
