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

/// The provider part of a model id: what comes before `/`, else the whole id.
pub fn provider_of(id: &str) -> &str {
    id.split_once('/').map_or(id, |(p, _)| p)
}
