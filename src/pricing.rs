//! Model prices and cost accounting, including what probes spend.
//!
//! Pure: no I/O. Prices are read from an OpenRouter-dialect `/models` body
//! (decimal strings in USD per token, `"0"` for free) that
//! `api::fetch_prices` fetched, and `/key` likewise. The cost of an attempt is the provider's
//! own `usage.cost` when it reports one, else tokens × price. A [`Ledger`]
//! keeps what probes (and prompts) spent per model per UTC day, for a few
//! days; [`budget_pace`] turns `probe.daily_budget` into a stretch of the
//! probe intervals so the day ends within budget.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::{Attempt, Usage};
use crate::fmt::fmt_usd;
use crate::health::SampleKind;
use crate::pace::{next_midnight, Pace};

/// Days of spend the ledger keeps.
pub const LEDGER_DAYS: usize = 7;

/// A `/models` or `/key` body that is not the JSON expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// USD per token (and per request), as `/models` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Price {
    pub prompt: f64,
    pub completion: f64,
    #[serde(default)]
    pub request: f64,
}

impl Price {
    pub const FREE: Price = Price {
        prompt: 0.0,
        completion: 0.0,
        request: 0.0,
    };

    pub fn is_free(&self) -> bool {
        self.prompt == 0.0 && self.completion == 0.0 && self.request == 0.0
    }

    /// What `usage` costs at this price.
    pub fn cost(&self, usage: &Usage) -> f64 {
        self.prompt * usage.prompt_tokens as f64
            + self.completion * usage.completion_tokens as f64
            + self.request
    }

    /// A guess at one probe's cost before any probe reported usage.
    pub fn estimate(&self, prompt_tokens: u64, max_tokens: u64) -> f64 {
        self.cost(&Usage {
            prompt_tokens,
            completion_tokens: max_tokens,
            cost: None,
            reasoning_tokens: None,
        })
    }
}

/// OpenRouter's free variants carry a `:free` suffix.
pub fn is_free_id(id: &str) -> bool {
    id.ends_with(":free")
}

/// Whether `base_url` is OpenRouter's, whose account limits on free models
/// apply (to `:free` ids everywhere, and to zero-priced models there).
pub fn is_openrouter(base_url: &str) -> bool {
    let rest = base_url
        .split_once("://")
        .map_or(base_url, |(_, rest)| rest);
    let host = rest.split(['/', ':', '?']).next().unwrap_or("");
    host == "openrouter.ai" || host.ends_with(".openrouter.ai")
}

/// Prices by model id, and which models think: the same `/models` entries
/// list `reasoning` among their `supported_parameters` for those.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTable {
    prices: HashMap<String, Price>,
    thinking: HashSet<String>,
}

impl PriceTable {
    /// Parses a `/models` body leniently: `{"data": [...]}` or a bare array;
    /// entries without an id or a readable price are skipped; prices may be
    /// strings or numbers; negative prices ("varies", as for routers) are
    /// treated as unknown.
    pub fn parse(body: &[u8]) -> Result<PriceTable, ParseError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| ParseError(e.to_string()))?;
        let list = match &value {
            Value::Array(items) => items,
            Value::Object(map) => match map.get("data") {
                Some(Value::Array(items)) => items,
                _ => return Err(ParseError("no `data` array".into())),
            },
            _ => return Err(ParseError("neither an object nor an array".into())),
        };
        let mut prices = HashMap::new();
        let mut thinking = HashSet::new();
        for item in list {
            let Some(id) = item.get("id").and_then(Value::as_str) else {
                continue;
            };
            let takes_reasoning = item
                .get("supported_parameters")
                .and_then(Value::as_array)
                .is_some_and(|ps| ps.iter().any(|p| p.as_str() == Some("reasoning")));
            if takes_reasoning {
                thinking.insert(id.to_string());
            }
            let pricing = item.get("pricing");
            let field = |name: &str| pricing.and_then(|p| p.get(name)).and_then(decimal);
            let price = match (field("prompt"), field("completion")) {
                (Some(prompt), Some(completion)) => Price {
                    prompt,
                    completion,
                    request: field("request").unwrap_or(0.0),
                },
                _ if is_free_id(id) => Price::FREE,
                _ => continue,
            };
            prices.insert(id.to_string(), price);
        }
        Ok(PriceTable { prices, thinking })
    }

    /// Whether `/models` lists `reasoning` among the model's supported
    /// parameters: a thinking model, which takes OpenRouter's `reasoning`.
    /// Variants (`:free`, `:nitro`…) think as their base model does.
    pub fn thinks(&self, id: &str) -> bool {
        self.thinking.contains(id)
            || id
                .rsplit_once(':')
                .is_some_and(|(base, _)| self.thinking.contains(base))
    }

    pub fn len(&self) -> usize {
        self.prices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prices.is_empty()
    }

    pub fn insert(&mut self, id: &str, price: Price) {
        self.prices.insert(id.to_string(), price);
    }

    /// Adds (and overrides with) another endpoint's prices.
    pub fn merge(&mut self, other: PriceTable) {
        self.prices.extend(other.prices);
        self.thinking.extend(other.thinking);
    }

    /// The price of a model id: listed as is, else free for `:free`, else
    /// the base model's price for other variants (`:nitro`, `:floor`…).
    pub fn get(&self, id: &str) -> Option<Price> {
        if let Some(p) = self.prices.get(id) {
            return Some(*p);
        }
        if is_free_id(id) {
            return Some(Price::FREE);
        }
        let (base, _variant) = id.rsplit_once(':')?;
        self.prices.get(base).copied()
    }
}

/// A price as a decimal string or a number; negative or non-finite is unknown.
fn decimal(v: &Value) -> Option<f64> {
    let x = match v {
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        Value::Number(n) => n.as_f64()?,
        _ => return None,
    };
    (x.is_finite() && x >= 0.0).then_some(x)
}

/// The cost of an attempt: the provider's `usage.cost` when reported, else
/// tokens × price; nothing known, nothing counted.
pub fn attempt_cost(attempt: &Attempt, price: Option<Price>) -> f64 {
    attempt_cost_checked(attempt, price).0
}

/// A reported cost above this many times the price-derived one is not
/// believed…
pub const COST_OVER_PRICE: f64 = 100.0;
/// …nor one above this (USD) for a single request when no price is known.
pub const COST_CEILING: f64 = 10.0;

/// The most one request with `usage` is believed to cost: 100× what the
/// price says (when a price is known and not zero), else $10.
pub fn cost_bound(usage: &Usage, price: Option<Price>) -> f64 {
    match price.map(|p| p.cost(usage)) {
        Some(derived) if derived > 0.0 => derived * COST_OVER_PRICE,
        _ => COST_CEILING,
    }
}

/// [`attempt_cost`], and when the provider's `usage.cost` was beyond belief
/// for one request (see [`cost_bound`]) and so ignored, the warning that
/// says so. A cost of `1e300` must not spend a day's budget in one reply.
pub fn attempt_cost_checked(attempt: &Attempt, price: Option<Price>) -> (f64, Option<String>) {
    let Some(usage) = &attempt.usage else {
        return (0.0, None);
    };
    let derived = price.map(|p| p.cost(usage)).unwrap_or(0.0);
    match usage.cost {
        Some(cost) if cost.is_finite() && cost >= 0.0 => {
            let bound = cost_bound(usage, price);
            if cost <= bound {
                (cost, None)
            } else {
                let why = format!(
                    "a reported cost of {} for one request is over the {} believable; ignored{}",
                    fmt_usd_any(cost),
                    fmt_usd_any(bound),
                    if price.is_some() {
                        format!(", counted at the price instead ({})", fmt_usd(derived))
                    } else {
                        String::new()
                    }
                );
                (derived, Some(why))
            }
        }
        _ => (derived, None),
    }
}

/// Dollars, in scientific notation when absurdly large.
fn fmt_usd_any(usd: f64) -> String {
    if usd >= 1e6 {
        format!("${usd:.2e}")
    } else {
        fmt_usd(usd)
    }
}

/// What an OpenRouter key may spend (`GET /key`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyInfo {
    pub label: Option<String>,
    /// USD; `None` is unlimited.
    pub limit: Option<f64>,
    pub limit_remaining: Option<f64>,
    pub usage: Option<f64>,
    pub usage_daily: Option<f64>,
    /// True until $10 of credits were ever bought: 50 free requests a day
    /// instead of 1,000.
    pub is_free_tier: Option<bool>,
}

impl KeyInfo {
    /// Parses `{"data": {...}}` (or the object itself) leniently.
    pub fn parse(body: &[u8]) -> Result<KeyInfo, ParseError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| ParseError(e.to_string()))?;
        let data = value.get("data").unwrap_or(&value);
        if !data.is_object() {
            return Err(ParseError("no `data` object".into()));
        }
        let num = |k: &str| data.get(k).and_then(decimal);
        Ok(KeyInfo {
            label: data
                .get("label")
                .and_then(Value::as_str)
                .map(str::to_string),
            limit: num("limit"),
            limit_remaining: num("limit_remaining"),
            usage: num("usage"),
            usage_daily: num("usage_daily"),
            is_free_tier: data.get("is_free_tier").and_then(Value::as_bool),
        })
    }

    /// Free-model requests a day this account gets.
    pub fn free_per_day(&self) -> u32 {
        match self.is_free_tier {
            Some(false) => 1000,
            _ => 50,
        }
    }
}

/// What one model spent on one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Spend {
    pub probes: u64,
    pub probe_usd: f64,
    pub prompts: u64,
    pub prompt_usd: f64,
    /// Apps' requests proxied by `chainwatch serve` (their spend, not ours).
    #[serde(default)]
    pub traffic: u64,
    #[serde(default)]
    pub traffic_usd: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DayLedger {
    pub day: NaiveDate,
    pub models: BTreeMap<String, Spend>,
}

/// Spend per model per UTC day, for the last [`LEDGER_DAYS`] days.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    days: VecDeque<DayLedger>,
}

impl Ledger {
    pub fn add(&mut self, model: &str, kind: SampleKind, usd: f64, at: DateTime<Utc>) {
        let usd = if usd.is_finite() && usd > 0.0 {
            usd
        } else {
            0.0
        };
        let day = at.date_naive();
        let entry = match self.days.iter().position(|d| d.day == day) {
            Some(i) => self.days.get_mut(i),
            None => {
                self.days.push_back(DayLedger {
                    day,
                    models: BTreeMap::new(),
                });
                self.days.make_contiguous().sort_by_key(|d| d.day);
                while self.days.len() > LEDGER_DAYS {
                    self.days.pop_front();
                }
                self.days.iter_mut().find(|d| d.day == day)
            }
        };
        let Some(entry) = entry else {
            return; // older than every day kept
        };
        let spend = entry.models.entry(model.to_string()).or_default();
        match kind {
            SampleKind::Probe => {
                spend.probes += 1;
                spend.probe_usd += usd;
            }
            SampleKind::Prompt => {
                spend.prompts += 1;
                spend.prompt_usd += usd;
            }
            SampleKind::Traffic => {
                spend.traffic += 1;
                spend.traffic_usd += usd;
            }
        }
    }

    fn day(&self, day: NaiveDate) -> Option<&DayLedger> {
        self.days.iter().find(|d| d.day == day)
    }

    /// USD all probes spent on the UTC day of `at`.
    pub fn probe_spend(&self, at: DateTime<Utc>) -> f64 {
        self.day(at.date_naive())
            .map_or(0.0, |d| d.models.values().map(|s| s.probe_usd).sum())
    }

    /// What `model` spent on the UTC day of `at`.
    pub fn spend(&self, model: &str, at: DateTime<Utc>) -> Spend {
        self.day(at.date_naive())
            .and_then(|d| d.models.get(model))
            .copied()
            .unwrap_or_default()
    }

    /// The average cost of one probe of `model` over the days kept.
    pub fn average_probe_cost(&self, model: &str) -> Option<f64> {
        let (n, usd) = self
            .days
            .iter()
            .filter_map(|d| d.models.get(model))
            .fold((0u64, 0.0), |(n, usd), s| (n + s.probes, usd + s.probe_usd));
        (n > 0).then(|| usd / n as f64)
    }

    pub fn days(&self) -> impl Iterator<Item = &DayLedger> {
        self.days.iter()
    }

    /// Drops what a restored file kept beyond the bound, and spend no
    /// request could have made (not a number, negative, or probes at more
    /// than [`COST_CEILING`] each: an absurd `usage.cost` saved by an older
    /// chainwatch must not hold the budget down after a restart).
    pub fn trim(&mut self) {
        self.days.make_contiguous().sort_by_key(|d| d.day);
        while self.days.len() > LEDGER_DAYS {
            self.days.pop_front();
        }
        let sane = |usd: f64, limit: f64| usd.is_finite() && (0.0..=limit).contains(&usd);
        for spend in self.days.iter_mut().flat_map(|d| d.models.values_mut()) {
            if !sane(spend.probe_usd, COST_CEILING * spend.probes.max(1) as f64) {
                spend.probe_usd = 0.0;
            }
            if !sane(spend.prompt_usd, f64::MAX) {
                spend.prompt_usd = 0.0;
            }
            if !sane(spend.traffic_usd, f64::MAX) {
                spend.traffic_usd = 0.0;
            }
        }
    }
}

/// What one model's probes spent today and will spend a day at the pace
/// they go now.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ModelSpending {
    /// USD spent by probes on the UTC day.
    pub today: f64,
    pub probes_today: u64,
    /// USD per probe: the observed average, else estimated from the price.
    pub per_probe: Option<f64>,
    /// USD a day at the current gap.
    pub per_day: f64,
    /// The gap between paid probes now.
    pub gap: Option<Duration>,
    /// How far the gap is stretched (1: every interval).
    pub stretch: u32,
    /// A free signal stands in between paid probes.
    pub covered: bool,
}

/// What probes spent today and will spend a day, in all and per model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spending {
    pub today: f64,
    pub per_day: f64,
    pub models: BTreeMap<String, ModelSpending>,
}

impl Spending {
    /// The totals of `models`.
    pub fn of(models: BTreeMap<String, ModelSpending>) -> Spending {
        Spending {
            today: models.values().map(|m| m.today).sum(),
            per_day: models.values().map(|m| m.per_day).sum(),
            models,
        }
    }
}

/// One paid model's expected probing cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeCost {
    /// USD per probe (observed average, or estimated from the price).
    pub per_probe: f64,
    pub interval: Duration,
}

/// The pace that ends the UTC day within `budget`, given what probes spent
/// today and what each paid model costs per probe at its interval.
pub fn budget_pace(
    budget: f64,
    spent_today: f64,
    models: &[ProbeCost],
    now: DateTime<Utc>,
) -> Pace {
    let midnight = next_midnight(now);
    let remaining = budget - spent_today;
    if remaining.is_nan() || remaining <= 0.0 {
        return Pace::PausedUntil(midnight);
    }
    let rest = (midnight - now).num_milliseconds().max(0) as f64 / 1000.0;
    let projected: f64 = models
        .iter()
        .filter(|m| m.per_probe > 0.0 && !m.interval.is_zero())
        .map(|m| m.per_probe * rest / m.interval.as_secs_f64())
        .sum();
    if projected <= remaining {
        Pace::Normal
    } else {
        Pace::Stretched(projected / remaining)
    }
}

/// Words for a budget event.
pub fn describe_pace(pace: &Pace, budget: f64, spent_today: f64) -> String {
    let head = format!(
        "probe spend {} of {} today",
        fmt_usd(spent_today),
        fmt_usd(budget)
    );
    match pace {
        Pace::Normal => format!("{head}; probing at the configured intervals"),
        Pace::Stretched(f) => {
            format!("{head}; paid probe intervals stretched ×{f:.1} so the day ends within budget")
        }
        Pace::PausedUntil(until) => format!(
            "{head}; budget spent, paid probes paused until {}",
            until.format("%Y-%m-%d %H:%M UTC")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).single().unwrap() + TimeDelta::seconds(secs)
    }

    #[test]
    fn thinking_models_are_those_that_take_reasoning() {
        let body = br#"{"data": [
            {"id": "google/gemini-2.5-pro", "pricing": {"prompt": "0.00000125", "completion": "0.00001"},
             "supported_parameters": ["max_tokens", "reasoning", "include_reasoning"]},
            {"id": "openai/gpt-4o", "pricing": {"prompt": "0.0000025", "completion": "0.00001"},
             "supported_parameters": ["max_tokens", "temperature"]},
            {"id": "x/odd", "supported_parameters": "reasoning"},
            {"id": "x/unpriced", "supported_parameters": ["reasoning"]}
        ]}"#;
        let mut table = PriceTable::parse(body).unwrap();
        assert!(table.thinks("google/gemini-2.5-pro"));
        assert!(table.thinks("google/gemini-2.5-pro:nitro"));
        assert!(!table.thinks("openai/gpt-4o"));
        assert!(!table.thinks("x/odd"));
        // A model without a price still says whether it thinks.
        assert!(table.thinks("x/unpriced"));
        assert!(!table.thinks("deepseek/deepseek-r1"));
        table.merge(
            PriceTable::parse(
                br#"[{"id": "deepseek/deepseek-r1", "supported_parameters": ["reasoning"]}]"#,
            )
            .unwrap(),
        );
        assert!(table.thinks("deepseek/deepseek-r1") && table.thinks("google/gemini-2.5-pro"));
    }

    #[test]
    fn parses_models_leniently() {
        let body = br#"{"data": [
            {"id": "openai/gpt-4o", "pricing": {"prompt": "0.0000025", "completion": "0.00001", "request": "0"}},
            {"id": "meta/llama:free", "pricing": {"prompt": "0", "completion": "0"}},
            {"id": "x/free-by-price", "pricing": {"prompt": 0, "completion": 0}},
            {"id": "openrouter/auto", "pricing": {"prompt": "-1", "completion": "-1"}},
            {"id": "no/pricing"},
            {"id": "other/free:free"},
            {"name": "no id", "pricing": {"prompt": "1", "completion": "1"}},
            {"id": "bad/price", "pricing": {"prompt": "abc", "completion": "1"}}
        ]}"#;
        let table = PriceTable::parse(body).unwrap();
        assert_eq!(table.len(), 4, "{table:?}");
        let gpt = table.get("openai/gpt-4o").unwrap();
        assert_eq!(gpt.prompt, 0.0000025);
        assert!(!gpt.is_free());
        assert!(table.get("meta/llama:free").unwrap().is_free());
        assert!(table.get("x/free-by-price").unwrap().is_free());
        assert!(table.get("other/free:free").unwrap().is_free());
        assert_eq!(table.get("openrouter/auto"), None, "negative = unknown");
        assert_eq!(table.get("no/pricing"), None);
        assert_eq!(
            table.get("openai/gpt-4o:nitro"),
            Some(gpt),
            "variant falls back"
        );
        assert!(table.get("unlisted/x:free").unwrap().is_free());
        assert_eq!(table.get("unlisted/y"), None);
        // A bare array is accepted; junk is an error, not a panic.
        assert_eq!(
            PriceTable::parse(br#"[{"id":"a","pricing":{"prompt":"1","completion":"2"}}]"#)
                .unwrap()
                .len(),
            1
        );
        assert!(PriceTable::parse(b"<html>").is_err());
        assert!(PriceTable::parse(br#"{"error": "nope"}"#).is_err());
        assert!(PriceTable::parse(b"42").is_err());
    }

    fn attempt(usage: Option<Usage>) -> Attempt {
        Attempt {
            started_at: t(0),
            failure: None,
            http_status: Some(200),
            latency: Duration::from_millis(100),
            ttft: None,
            ttfc: None,
            tokens_per_s: None,
            served_model: None,
            served_by: None,
            fingerprint: None,
            usage,
            reply: String::new(),
            finish_reason: None,
        }
    }

    #[test]
    fn a_restored_ledger_forgets_impossible_spend() {
        let mut ledger = Ledger::default();
        ledger.add("m", SampleKind::Probe, 0.5, t(0));
        let mut json = serde_json::to_value(&ledger).unwrap();
        json["days"][0]["models"]["m"]["probe_usd"] = serde_json::json!(1e300);
        let mut restored: Ledger = serde_json::from_value(json).unwrap();
        restored.trim();
        assert_eq!(restored.probe_spend(t(0)), 0.0);
        ledger.trim();
        assert_eq!(ledger.probe_spend(t(0)), 0.5, "real spend stays");
    }

    #[test]
    fn absurd_reported_costs_are_ignored() {
        let price = Price {
            prompt: 0.000001,
            completion: 0.000002,
            request: 0.0,
        };
        let usage = |cost: f64| Usage {
            prompt_tokens: 100,
            completion_tokens: 10,
            cost: Some(cost),
            reasoning_tokens: None,
        };
        // Priced: 100× the $0.00012 the tokens cost is the bound.
        let (cost, why) = attempt_cost_checked(&attempt(Some(usage(0.0119))), Some(price));
        assert_eq!((cost, why), (0.0119, None));
        let (cost, why) = attempt_cost_checked(&attempt(Some(usage(0.0121))), Some(price));
        assert!((cost - 0.00012).abs() < 1e-12, "{cost}");
        assert!(why.unwrap().contains("counted at the price instead"));
        // Unpriced: $10.
        let (cost, why) = attempt_cost_checked(&attempt(Some(usage(1e300))), None);
        assert_eq!(cost, 0.0);
        let why = why.unwrap();
        assert!(
            why.contains("$1.00e300") && why.contains("$10.0000"),
            "{why}"
        );
        assert_eq!(attempt_cost(&attempt(Some(usage(9.5))), None), 9.5);
    }

    #[test]
    fn attempt_cost_prefers_reported_cost() {
        let price = Price {
            prompt: 0.000001,
            completion: 0.000002,
            request: 0.0,
        };
        let usage = Usage {
            prompt_tokens: 100,
            completion_tokens: 10,
            cost: None,
            reasoning_tokens: None,
        };
        let by_tokens = attempt_cost(&attempt(Some(usage.clone())), Some(price));
        assert!((by_tokens - 0.00012).abs() < 1e-12, "{by_tokens}");
        let reported = Usage {
            cost: Some(0.005),
            ..usage.clone()
        };
        assert_eq!(attempt_cost(&attempt(Some(reported)), Some(price)), 0.005);
        assert_eq!(attempt_cost(&attempt(Some(usage)), None), 0.0);
        assert_eq!(attempt_cost(&attempt(None), Some(price)), 0.0);
        let nan = Usage {
            cost: Some(f64::NAN),
            reasoning_tokens: None,
            prompt_tokens: 1,
            completion_tokens: 0,
        };
        assert!((attempt_cost(&attempt(Some(nan)), Some(price)) - 0.000001).abs() < 1e-15);
    }

    #[test]
    fn openrouter_hosts() {
        assert!(is_openrouter("https://openrouter.ai/api/v1"));
        assert!(is_openrouter("https://eu.openrouter.ai/api/v1"));
        assert!(!is_openrouter("http://127.0.0.1:8080/v1"));
        assert!(!is_openrouter("https://notopenrouter.ai/v1"));
        assert!(!is_openrouter("https://evil.example/openrouter.ai"));
    }

    #[test]
    fn key_info_parses_openrouter_shape() {
        let body =
            br#"{"data": {"label": "sk-or-v1-abc...", "limit": null, "limit_remaining": "12.5",
            "usage": 3.25, "usage_daily": 0.01, "is_free_tier": false}}"#;
        let k = KeyInfo::parse(body).unwrap();
        assert_eq!(k.limit, None);
        assert_eq!(k.limit_remaining, Some(12.5));
        assert_eq!(k.usage, Some(3.25));
        assert_eq!(k.free_per_day(), 1000);
        assert_eq!(
            KeyInfo::parse(br#"{"data":{}}"#).unwrap().free_per_day(),
            50
        );
        assert!(KeyInfo::parse(b"[]").is_err());
    }

    #[test]
    fn ledger_counts_per_model_per_day_and_stays_bounded() {
        let mut l = Ledger::default();
        l.add("a", SampleKind::Probe, 0.01, t(10));
        l.add("a", SampleKind::Probe, 0.03, t(20));
        l.add("b", SampleKind::Probe, 0.5, t(30));
        l.add("a", SampleKind::Prompt, 1.0, t(40));
        l.add("a", SampleKind::Probe, f64::NAN, t(50));
        assert!((l.probe_spend(t(60)) - 0.54).abs() < 1e-12);
        let a = l.spend("a", t(0));
        assert_eq!((a.probes, a.prompts), (3, 1));
        assert!((l.average_probe_cost("a").unwrap() - 0.04 / 3.0).abs() < 1e-12);
        assert_eq!(l.probe_spend(t(86_400)), 0.0, "a new day starts at zero");
        for day in 1..20 {
            l.add("a", SampleKind::Probe, 0.01, t(day * 86_400));
        }
        assert_eq!(l.days().count(), LEDGER_DAYS);
        assert_eq!(l.probe_spend(t(0)), 0.0, "old days dropped");
        // A sample older than every day kept is ignored, not re-added.
        l.add("a", SampleKind::Probe, 9.0, t(0));
        assert_eq!(l.days().count(), LEDGER_DAYS);
        assert_eq!(l.probe_spend(t(0)), 0.0);
        let json = serde_json::to_string(&l).unwrap();
        let back: Ledger = serde_json::from_str(&json).unwrap();
        assert_eq!(back, l);
    }

    #[test]
    fn budget_pace_table() {
        let noon = t(12 * 3600);
        let m = |per_probe, secs| ProbeCost {
            per_probe,
            interval: Duration::from_secs(secs),
        };
        // (budget, spent, models, expected)
        let table: Vec<(&str, f64, f64, Vec<ProbeCost>, Pace)> = vec![
            ("cheap enough", 1.0, 0.0, vec![m(0.0001, 60)], Pace::Normal),
            ("free only", 0.01, 0.0, vec![m(0.0, 1)], Pace::Normal),
            // Half a day left = 720 probes at 60 s × $0.001 = $0.72 vs $0.36 left.
            (
                "twice too fast",
                0.5,
                0.14,
                vec![m(0.001, 60)],
                Pace::Stretched(2.0),
            ),
            (
                "spent",
                0.5,
                0.5,
                vec![m(0.001, 60)],
                Pace::PausedUntil(t(86_400)),
            ),
            ("over", 0.5, 0.7, vec![], Pace::PausedUntil(t(86_400))),
        ];
        for (name, budget, spent, models, want) in table {
            let got = budget_pace(budget, spent, &models, noon);
            match (got, want) {
                (Pace::Stretched(a), Pace::Stretched(b)) => {
                    assert!((a - b).abs() < 1e-9, "{name}: {a} vs {b}")
                }
                _ => assert_eq!(got, want, "{name}"),
            }
        }
        assert!(Pace::Normal.differs_notably(&Pace::Stretched(1.5)));
        assert!(!Pace::Stretched(2.0).differs_notably(&Pace::Stretched(2.2)));
        assert!(Pace::Stretched(2.0).differs_notably(&Pace::Stretched(3.0)));
        let words = describe_pace(&Pace::Stretched(2.0), 0.5, 0.14);
        assert!(
            words.contains("×2.0") && words.contains("$0.1400 of $0.5000"),
            "{words}"
        );
    }
}
