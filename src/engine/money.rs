//! The money: prices from `/models`, what the key may spend from `/key`,
//! the spend ledger, and the daily budget's pace for paid probes. Prices
//! are fetched at start and hourly (by the live loop); the pace is worked
//! out again after every batch of probes.

use chrono::{DateTime, Utc};

use crate::api::{self, Dialect};
use crate::pace::Pace;
use crate::pricing::{
    self, budget_pace, describe_pace, is_free_id, KeyInfo, Ledger, PriceTable, ProbeCost,
};
use crate::probe::FreeLimits;

use super::cadence::PROBE_PROMPT_TOKENS;
use super::{lock, Engine, EngineEvent};

/// Prices, spend and the budget's pace.
#[derive(Default)]
pub(super) struct Money {
    pub(super) prices: PriceTable,
    pub(super) ledger: Ledger,
    pub(super) pace: Option<Pace>,
    pub(super) key: Option<KeyInfo>,
}

impl Engine {
    /// Every model's price per token, by model name, as far as known.
    pub fn prices(&self) -> std::collections::HashMap<String, crate::pricing::Price> {
        let money = lock(&self.inner.money);
        self.inner
            .plans
            .iter()
            .filter_map(|(name, plan)| {
                Some((name.clone(), money.prices.get(&plan.target.model_id)?))
            })
            .collect()
    }

    /// The budget's current pace for paid probes.
    pub fn pace(&self) -> Pace {
        lock(&self.inner.schedule).pace()
    }

    /// What the key's `/key` said, when an endpoint answered it.
    pub fn key_info(&self) -> Option<KeyInfo> {
        lock(&self.inner.money).key.clone()
    }

    /// USD spent by probes on the UTC day of `now`: by the whole fleet
    /// when this engine shares a store (its ledger as last read, never
    /// less than this process's own), else by this process.
    pub fn spend_today(&self, now: DateTime<Utc>) -> f64 {
        let local = lock(&self.inner.money).ledger.probe_spend(now);
        let fleet = self.fleet().and_then(|f| f.spend_today(now));
        fleet.map_or(local, |f| f.max(local))
    }

    /// Recomputes the budget's pace after probes spent money.
    pub(super) fn after_probes(&self, now: DateTime<Utc>) {
        let Some(budget) = self.inner.config.probe.daily_budget else {
            return;
        };
        // Each paid model at the gap the cadence gives it now (the budget's
        // own stretch taken out: it is what is being worked out).
        let (free, gaps): (Vec<bool>, Vec<Option<std::time::Duration>>) = {
            let schedule = lock(&self.inner.schedule);
            self.inner
                .config
                .models
                .iter()
                .map(|m| {
                    let interval = self.inner.plans.get(&m.name).map(|p| p.settings.interval);
                    let stretch = schedule.stretch(&m.name);
                    (schedule.is_free(&m.name), interval.map(|i| i * stretch))
                })
                .unzip()
        };
        // Before the money is locked: one lock at a time. A thinking model's
        // probe may spend its reasoning room too.
        let max_tokens: Vec<Option<u32>> = self
            .inner
            .config
            .models
            .iter()
            .map(|m| self.probe_max_tokens(&m.name))
            .collect();
        // One fleet, one budget: what every process spent today.
        let fleet_spent = self.fleet().and_then(|f| f.spend_today(now));
        let (pace, old, spent) = {
            let mut money = lock(&self.inner.money);
            let costs: Vec<ProbeCost> = self
                .inner
                .config
                .models
                .iter()
                .zip(free.iter().zip(&max_tokens).zip(&gaps))
                .filter(|(_, ((free, _), _))| !**free)
                .filter_map(|(m, ((_, max_tokens), gap))| {
                    let plan = self.inner.plans.get(&m.name)?;
                    let max_tokens = max_tokens.unwrap_or(plan.settings.max_tokens);
                    let per_probe = money.ledger.average_probe_cost(&m.name).or_else(|| {
                        money
                            .prices
                            .get(&m.id)
                            .map(|p| p.estimate(PROBE_PROMPT_TOKENS, u64::from(max_tokens)))
                    })?;
                    Some(ProbeCost {
                        per_probe,
                        interval: gap.unwrap_or(plan.settings.interval),
                    })
                })
                .collect();
            let local = money.ledger.probe_spend(now);
            let spent = fleet_spent.map_or(local, |f| f.max(local));
            let pace = budget_pace(budget, spent, &costs, now);
            let old = money.pace.replace(pace);
            (pace, old, spent)
        };
        lock(&self.inner.schedule).set_pace(pace);
        let notable = match old {
            None => pace != Pace::Normal,
            Some(old) => old.differs_notably(&pace),
        };
        if notable {
            self.emit(EngineEvent::Budget {
                at: now,
                message: describe_pace(&pace, budget, spent),
            });
        }
    }

    /// The first fetch of prices (and of which models think), once: every
    /// caller waits for the same one.
    pub(super) async fn first_prices(&self, now: DateTime<Utc>) {
        self.inner
            .first_prices
            .get_or_init(|| self.refresh_prices(now))
            .await;
    }

    /// Fetches prices from every OpenAI-dialect endpoint, and `/key` where a
    /// key is set; marks free models so their probes respect the free limits
    /// and thinking models so their probes leave room for reasoning.
    pub async fn refresh_prices(&self, now: DateTime<Utc>) {
        let Some(http) = &self.inner.http else {
            return;
        };
        let mut table = PriceTable::default();
        let mut key_info = None;
        let mut any_ok = false;
        for endpoint in &self.inner.config.endpoints {
            if endpoint.dialect != Dialect::Openai {
                continue;
            }
            let key = endpoint.api_key().ok().flatten();
            match api::fetch_prices(http, &endpoint.base_url, key.as_ref()).await {
                Ok(t) => {
                    any_ok = true;
                    table.merge(t);
                }
                Err(e) => self.emit(EngineEvent::Warning {
                    at: now,
                    message: format!(
                        "prices from {}: {e}; prices stay as they were and are retried within the hour",
                        endpoint.name
                    ),
                }),
            }
            if let (Some(key), None) = (&key, &key_info) {
                // Not every OpenAI-compatible API has `/key`; silence is fine.
                match api::fetch_key(http, &endpoint.base_url, key).await {
                    Ok(info) => key_info = Some(info),
                    Err(e) => tracing::debug!("no /key at {}: {e}", endpoint.name),
                }
            }
        }
        if !any_ok {
            return;
        }
        let priced = self
            .inner
            .config
            .models
            .iter()
            .filter(|m| table.get(&m.id).is_some())
            .count();
        {
            let mut schedule = lock(&self.inner.schedule);
            for m in &self.inner.config.models {
                // The free limits are OpenRouter's: a zero price elsewhere (a
                // local server, the simulator) limits nothing.
                let on_openrouter =
                    pricing::is_openrouter(&self.inner.config.endpoint_of(m).base_url);
                let free = is_free_id(&m.id)
                    || (on_openrouter && table.get(&m.id).is_some_and(|p| p.is_free()));
                schedule.set_free(&m.name, free);
            }
            if let Some(info) = &key_info {
                schedule.set_free_limits(FreeLimits {
                    per_day: info.free_per_day(),
                    ..FreeLimits::default()
                });
            }
        }
        {
            let mut thinkers = lock(&self.inner.thinkers);
            for m in &self.inner.config.models {
                thinkers.set_listed(&m.name, table.thinks(&m.id));
            }
        }
        {
            let mut money = lock(&self.inner.money);
            money.prices = table;
            if key_info.is_some() {
                money.key = key_info;
            }
        }
        // What each model's probes cost decides how far they may stretch.
        for m in &self.inner.config.models {
            self.update_cost_cap(&m.name);
        }
        self.emit(EngineEvent::Prices {
            at: now,
            models: priced,
        });
    }
}
