//! The plan: which models a prompt would try now, in what order, and which
//! it would pass over and why. Pure: no I/O, nothing recorded, so the prompt
//! panel can preview the route on every redraw.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::HealthView;
use crate::config::{Config, Tier};
use crate::health::Status;

/// What to route a prompt through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    /// The user's chain, in its current order.
    Chain,
    /// A cost tier, escalating budget → standard → premium when a whole tier fails.
    Tier(Tier),
    /// One model, whatever its health.
    Model(String),
}

/// A model the router passed over, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skip {
    pub model: String,
    pub status: Status,
    pub reason: String,
}

/// The order a prompt would try now and what it would skip.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// The models to try, first choice first.
    pub order: Vec<String>,
    pub skipped: Vec<Skip>,
    /// Nothing was eligible, so `order` is every model, tried anyway.
    pub last_resort: bool,
    /// For a tier target: `order` cut by tier, cheapest first (a tier whose
    /// models were all skipped is left out). Empty for the chain or one model.
    pub tiers: Vec<(Tier, Vec<String>)>,
}

/// The order a prompt would try now and what it would skip, by `config`'s
/// models and tiers. Pure: no I/O, nothing recorded (the prompt panel's
/// preview uses it too).
pub fn plan(
    config: &Config,
    health: &dyn HealthView,
    chain: &[String],
    target: &RouteTarget,
    now: DateTime<Utc>,
) -> Plan {
    let mut plan = Plan::default();
    // (name, tier) in the order they would be tried.
    let mut candidates: Vec<(&str, Option<Tier>)> = Vec::new();
    match target {
        RouteTarget::Model(name) => {
            if config.model(name).is_some() {
                plan.order.push(name.clone());
            } else {
                plan.skipped.push(not_configured(name));
            }
            return plan;
        }
        RouteTarget::Chain => candidates.extend(chain.iter().map(|n| (n.as_str(), None))),
        RouteTarget::Tier(first) => {
            let mut tier = Some(*first);
            while let Some(t) = tier {
                for name in config.tiers.get(t) {
                    if !candidates.iter().any(|(n, _)| n == name) {
                        candidates.push((name, Some(t)));
                    }
                }
                tier = t.next();
            }
        }
    }
    let mut eligible: Vec<(&str, Option<Tier>)> = Vec::with_capacity(candidates.len());
    let mut known: Vec<(&str, Option<Tier>)> = Vec::with_capacity(candidates.len());
    for &(name, tier) in &candidates {
        if config.model(name).is_none() {
            plan.skipped.push(not_configured(name));
            continue;
        }
        known.push((name, tier));
        let (status, reason) = health.judge(name, now);
        if status.is_routable() {
            eligible.push((name, tier));
        } else {
            plan.skipped.push(Skip {
                model: name.to_string(),
                status,
                reason,
            });
        }
    }
    if eligible.is_empty() && !known.is_empty() {
        plan.last_resort = true;
        eligible = known;
    }
    for (name, tier) in eligible {
        plan.order.push(name.to_string());
        if let Some(t) = tier {
            match plan.tiers.last_mut() {
                Some((last, models)) if *last == t => models.push(name.to_string()),
                _ => plan.tiers.push((t, vec![name.to_string()])),
            }
        }
    }
    plan
}

fn not_configured(name: &str) -> Skip {
    Skip {
        model: name.to_string(),
        status: Status::Misconfigured,
        reason: "not in the config; add a [[model]] with this name or take it out of the chain"
            .to_string(),
    }
}
