//! The plan: which models a prompt would try now, in what order, and which
//! it would pass over and why. Pure: no I/O, nothing recorded, so the prompt
//! panel can preview the route on every redraw.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::trial::{due, half_open_period};
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
    /// The first model of `order`, when it is an unhealthy model tried as a
    /// half-open trial (its period has passed): it is raced with the model
    /// after it, and runs to its end whoever wins.
    pub trial: Option<String>,
    /// Where each of `order` and `skipped` stood among the candidates
    /// (chain or tier order), to tell which skips came before a model.
    pub(crate) order_at: Vec<usize>,
    pub(crate) skipped_at: Vec<usize>,
}

impl Plan {
    /// The skips that came before `model` in the chain (or tier) order:
    /// what a route that ended at `model` passed over. A model not in the
    /// plan: every skip.
    pub fn skipped_before(&self, model: &str) -> Vec<Skip> {
        let Some(limit) = self
            .order
            .iter()
            .position(|n| n == model)
            .and_then(|i| self.order_at.get(i))
        else {
            return self.skipped.clone();
        };
        self.skipped
            .iter()
            .zip(&self.skipped_at)
            .filter(|(_, at)| *at < limit)
            .map(|(s, _)| s.clone())
            .collect()
    }
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
                plan.order_at.push(0);
            } else {
                plan.skipped.push(not_configured(name));
                plan.skipped_at.push(0);
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
    // (name, tier, position among the candidates)
    let mut eligible: Vec<(&str, Option<Tier>, usize)> = Vec::with_capacity(candidates.len());
    let mut known: Vec<(&str, Option<Tier>, usize)> = Vec::with_capacity(candidates.len());
    // An unhealthy model before the first eligible one whose half-open
    // period has passed: tried beside the next, with its skip set aside.
    let mut trial: Option<(Skip, usize)> = None;
    for (at, &(name, tier)) in candidates.iter().enumerate() {
        let Some(model) = config.model(name) else {
            plan.skipped.push(not_configured(name));
            plan.skipped_at.push(at);
            continue;
        };
        known.push((name, tier, at));
        let (status, reason) = health.judge(name, now);
        if status.is_routable() {
            eligible.push((name, tier, at));
            continue;
        }
        let skip = Skip {
            model: name.to_string(),
            status,
            reason,
        };
        let half_open = status == Status::Unhealthy
            && eligible.is_empty()
            && trial.is_none()
            && due(
                half_open_period(config, model),
                health.last_attempt(name),
                now,
            );
        if half_open {
            trial = Some((skip, at));
            eligible.push((name, tier, at));
        } else {
            plan.skipped.push(skip);
            plan.skipped_at.push(at);
        }
    }
    let others = eligible.len() - usize::from(trial.is_some());
    match trial {
        // A trial needs a model to race: alone, it is the last resort's.
        Some((skip, at)) if others == 0 => {
            eligible.clear();
            let i = plan.skipped_at.partition_point(|s| *s < at);
            plan.skipped.insert(i, skip);
            plan.skipped_at.insert(i, at);
        }
        Some((skip, _)) => plan.trial = Some(skip.model),
        None => {}
    }
    if eligible.is_empty() && !known.is_empty() {
        plan.last_resort = true;
        eligible = known;
    }
    for (name, tier, at) in eligible {
        plan.order.push(name.to_string());
        plan.order_at.push(at);
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

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
