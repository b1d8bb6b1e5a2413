//! The article's comparison, measured live: the same model watched two ways
//! (through OpenRouter and directly, say) and what the way costs — the
//! difference in time to first token and in total latency (p50 and p95
//! over the window, with the samples behind each side) and in price per
//! million tokens.
//!
//! Pure: pairs come from the config, figures from snapshots and prices
//! passed in. Two models are one model when the config says so
//! (`same_as = "..."`), or when their ids agree once the provider prefix,
//! a version date and a `:variant` are dropped (`anthropic/claude-sonnet-4`
//! and `claude-sonnet-4-20250514`; `anthropic/claude-3.5-sonnet` and
//! `claude-3-5-sonnet-20241022`) and they are reached through different
//! endpoints.

use std::collections::HashMap;
use std::time::Duration;

use crate::config::{Config, ModelConfig};
use crate::health::{ModelSnapshot, Percentiles};
use crate::pricing::{is_openrouter, Price};

/// Two configured models that are one model reached two ways. `first` is
/// the one through a router (OpenRouter, or an id with a provider prefix)
/// when one of them is: differences are `first − second`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub first: String,
    pub second: String,
    /// `None`: set with `same_as`; else the id both normalise to.
    pub by_id: Option<String>,
}

/// `first − second` of one percentile pair, with the samples behind each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delta {
    /// Milliseconds; positive: the first is slower.
    pub p50_ms: i64,
    pub p95_ms: i64,
    pub first_samples: u32,
    pub second_samples: u32,
}

/// `first − second` in USD per million tokens; positive: the first costs more.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PriceDelta {
    pub prompt_per_m: f64,
    pub completion_per_m: f64,
}

/// One pair, measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub pair: Pair,
    /// The endpoints' names, as the config calls them.
    pub first_endpoint: String,
    pub second_endpoint: String,
    /// `None` until both sides have a success in the window.
    pub ttft: Option<Delta>,
    pub latency: Option<Delta>,
    /// `None` while either price is unknown.
    pub price: Option<PriceDelta>,
}

/// The model id with what does not name the model dropped: the provider
/// prefix, a `:variant`, a version date (`-20250514`, `-2024-07-18`,
/// `@20250514`) or `-latest`; dots read as dashes, case ignored.
pub fn normalise(id: &str) -> String {
    let id = id.trim().to_ascii_lowercase();
    let id = id.rsplit('/').next().unwrap_or_default();
    // OpenRouter's variants (`:free`, `:nitro`…); not a fine-tune's `ft:…:org`.
    let id = match id.split_once(':') {
        Some((model, variant))
            if !variant.is_empty() && variant.bytes().all(|b| b.is_ascii_alphabetic()) =>
        {
            model
        }
        _ => id,
    };
    let mut id = id.replace('.', "-");
    loop {
        let before = id.len();
        for suffix in ["-latest"] {
            if let Some(rest) = id.strip_suffix(suffix) {
                id = rest.to_string();
            }
        }
        if let Some((rest, tail)) = id.rsplit_once(['-', '@']) {
            if tail.len() == 8 && tail.bytes().all(|b| b.is_ascii_digit()) {
                id = rest.to_string();
            }
        }
        // "-2024-07-18": three pieces of 4, 2 and 2 digits.
        let pieces: Vec<&str> = id.rsplitn(4, '-').collect();
        if let [d, m, y, rest] = pieces.as_slice() {
            let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
            if digits(y, 4) && digits(m, 2) && digits(d, 2) {
                id = rest.to_string();
            }
        }
        if id.len() == before {
            return id;
        }
    }
}

/// Whether the model is reached through a router: OpenRouter's endpoint,
/// or an id that names its provider.
fn routed(config: &Config, m: &ModelConfig) -> bool {
    is_openrouter(&config.endpoint_of(m).base_url) || m.id.contains('/')
}

/// Every pair in the config: `same_as` first, then models whose ids agree
/// on different endpoints. A model is in at most one pair.
pub fn pairs(config: &Config) -> Vec<Pair> {
    let mut out: Vec<Pair> = Vec::new();
    let taken = |out: &[Pair], name: &str| out.iter().any(|p| p.first == name || p.second == name);
    let ordered = |a: &ModelConfig, b: &ModelConfig| {
        if routed(config, b) && !routed(config, a) {
            (b.name.clone(), a.name.clone())
        } else {
            (a.name.clone(), b.name.clone())
        }
    };
    for m in &config.models {
        let Some(other) = m.same_as.as_deref().and_then(|o| config.model(o)) else {
            continue;
        };
        if taken(&out, &m.name) || taken(&out, &other.name) {
            continue;
        }
        // The model named by `same_as` is the reference: it comes second
        // unless only this one is routed.
        let (first, second) = ordered(other, m);
        out.push(Pair {
            first,
            second,
            by_id: None,
        });
    }
    let keys: Vec<String> = config.models.iter().map(|m| normalise(&m.id)).collect();
    for (i, a) in config.models.iter().enumerate() {
        for (j, b) in config.models.iter().enumerate().skip(i + 1) {
            if keys[i].is_empty()
                || keys[i] != keys[j]
                || a.endpoint == b.endpoint
                || taken(&out, &a.name)
                || taken(&out, &b.name)
            {
                continue;
            }
            let (first, second) = ordered(a, b);
            out.push(Pair {
                first,
                second,
                by_id: Some(keys[j].clone()),
            });
        }
    }
    out
}

/// Every pair of `config`, measured over `snapshots` (by name) and `prices`
/// (USD per token, by name).
pub fn compare(
    config: &Config,
    snapshots: &[ModelSnapshot],
    prices: &HashMap<String, Price>,
) -> Vec<Comparison> {
    let snap: HashMap<&str, &ModelSnapshot> =
        snapshots.iter().map(|s| (s.name.as_str(), s)).collect();
    pairs(config)
        .into_iter()
        .map(|pair| {
            let endpoint = |name: &str| {
                config
                    .model(name)
                    .map(|m| m.endpoint.clone())
                    .unwrap_or_default()
            };
            let (a, b) = (
                snap.get(pair.first.as_str()),
                snap.get(pair.second.as_str()),
            );
            let figures = |pick: fn(&ModelSnapshot) -> Option<Percentiles>| {
                delta(a.and_then(|s| pick(s)), b.and_then(|s| pick(s)))
            };
            let price = match (prices.get(&pair.first), prices.get(&pair.second)) {
                (Some(x), Some(y)) => Some(PriceDelta {
                    prompt_per_m: (x.prompt - y.prompt) * 1e6,
                    completion_per_m: (x.completion - y.completion) * 1e6,
                }),
                _ => None,
            };
            Comparison {
                first_endpoint: endpoint(&pair.first),
                second_endpoint: endpoint(&pair.second),
                ttft: figures(|s| s.ttft),
                latency: figures(|s| s.latency),
                price,
                pair,
            }
        })
        .collect()
}

fn delta(a: Option<Percentiles>, b: Option<Percentiles>) -> Option<Delta> {
    let (a, b) = (a?, b?);
    Some(Delta {
        p50_ms: signed_ms(a.p50, b.p50),
        p95_ms: signed_ms(a.p95, b.p95),
        first_samples: a.samples,
        second_samples: b.samples,
    })
}

fn signed_ms(a: Duration, b: Duration) -> i64 {
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    ms(a).saturating_sub(ms(b))
}

/// "+38ms", "-1.2s", "0ms": a difference in time, signed.
pub fn fmt_signed_ms(ms: i64) -> String {
    let sign = match ms {
        0 => "",
        m if m > 0 => "+",
        _ => "-",
    };
    format!(
        "{sign}{}",
        crate::fmt::fmt_secs(Duration::from_millis(ms.unsigned_abs()))
    )
}

/// "+0.50", "-3.00", "0.00": a difference in USD per million tokens.
pub fn fmt_signed_usd(usd: f64) -> String {
    if usd.abs() < 0.005 {
        return "0.00".to_string();
    }
    format!("{usd:+.2}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn ids_normalise_to_the_model() {
        for (id, want) in [
            ("anthropic/claude-sonnet-4", "claude-sonnet-4"),
            ("claude-sonnet-4-20250514", "claude-sonnet-4"),
            ("claude-sonnet-4@20250514", "claude-sonnet-4"),
            ("anthropic/claude-3.5-sonnet", "claude-3-5-sonnet"),
            ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
            ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
            ("openai/gpt-4o-mini", "gpt-4o-mini"),
            ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
            ("openai/gpt-4o:nitro", "gpt-4o"),
            ("meta-llama/llama-3.1-8b-instruct", "llama-3-1-8b-instruct"),
            ("deepseek/deepseek-chat", "deepseek-chat"),
            ("ft:gpt-4o:acme", "ft:gpt-4o:acme"),
            // Numbers that are not dates stay.
            ("gpt-4-0613", "gpt-4-0613"),
            ("qwen-2-72b", "qwen-2-72b"),
            ("", ""),
        ] {
            assert_eq!(normalise(id), want, "{id}");
        }
    }

    fn config(text: &str) -> Config {
        Config::parse(text, Path::new("c.toml")).unwrap_or_else(|e| panic!("{e}"))
    }

    const ENDPOINTS: &str = r#"
[[endpoint]]
name = "openrouter"
base_url = "https://openrouter.ai/api/v1"
[[endpoint]]
name = "anthropic"
base_url = "https://api.anthropic.com/v1"
dialect = "anthropic"
[[endpoint]]
name = "openai"
base_url = "https://api.openai.com/v1"
"#;

    #[test]
    fn pairs_by_id_across_endpoints_and_by_same_as() {
        let c = config(&format!(
            r#"{ENDPOINTS}
[[model]]
name = "claude-direct"
id = "claude-sonnet-4-20250514"
endpoint = "anthropic"
[[model]]
name = "claude-sonnet"
id = "anthropic/claude-sonnet-4"
endpoint = "openrouter"
[[model]]
name = "gpt-4o"
id = "openai/gpt-4o"
endpoint = "openrouter"
[[model]]
name = "gpt-4o-pinned"
id = "openai/gpt-4o-2024-08-06"
endpoint = "openrouter"
[[model]]
name = "mine"
id = "ft:gpt-4o:acme"
endpoint = "openai"
same_as = "gpt-4o"
"#
        ));
        assert_eq!(
            pairs(&c),
            [
                Pair {
                    first: "gpt-4o".into(),
                    second: "mine".into(),
                    by_id: None
                },
                Pair {
                    first: "claude-sonnet".into(),
                    second: "claude-direct".into(),
                    by_id: Some("claude-sonnet-4".into())
                },
            ],
            "the pinned gpt-4o is on the same endpoint: not a pair"
        );
    }

    fn snap(name: &str, ttft: (u64, u64, u32), total: (u64, u64, u32)) -> ModelSnapshot {
        let p = |(p50, p95, samples): (u64, u64, u32)| Percentiles {
            p50: Duration::from_millis(p50),
            p95: Duration::from_millis(p95),
            samples,
        };
        let mut s = crate::health::ModelHealth::new("x").snapshot(
            name,
            &crate::health::HealthPolicy::default(),
            chrono::Utc::now(),
        );
        s.ttft = Some(p(ttft));
        s.latency = Some(p(total));
        s
    }

    #[test]
    fn differences_are_first_minus_second_with_their_samples() {
        let c = config(&format!(
            r#"{ENDPOINTS}
[[model]]
name = "via"
id = "anthropic/claude-sonnet-4"
endpoint = "openrouter"
[[model]]
name = "direct"
id = "claude-sonnet-4-20250514"
endpoint = "anthropic"
"#
        ));
        let snaps = [
            snap("via", (450, 900, 15), (950, 1800, 15)),
            snap("direct", (410, 1000, 12), (900, 1700, 13)),
        ];
        let price = |p: f64, c: f64| Price {
            prompt: p / 1e6,
            completion: c / 1e6,
            request: 0.0,
        };
        let mut prices = HashMap::new();
        prices.insert("via".to_string(), price(3.15, 15.75));
        let out = compare(&c, &snaps, &prices);
        assert_eq!(out.len(), 1);
        let cmp = &out[0];
        assert_eq!(
            (cmp.pair.first.as_str(), cmp.pair.second.as_str()),
            ("via", "direct")
        );
        assert_eq!(
            (cmp.first_endpoint.as_str(), cmp.second_endpoint.as_str()),
            ("openrouter", "anthropic")
        );
        assert_eq!(
            cmp.ttft,
            Some(Delta {
                p50_ms: 40,
                p95_ms: -100,
                first_samples: 15,
                second_samples: 12
            })
        );
        assert_eq!(
            cmp.latency.map(|d| (d.p50_ms, d.p95_ms, d.second_samples)),
            Some((50, 100, 13))
        );
        assert_eq!(cmp.price, None, "the direct price is unknown");
        prices.insert("direct".to_string(), price(3.0, 15.0));
        let priced = compare(&c, &snaps, &prices)[0].price.unwrap();
        assert!((priced.prompt_per_m - 0.15).abs() < 1e-9);
        assert!((priced.completion_per_m - 0.75).abs() < 1e-9);
        // No data on one side: no difference, not a made-up one.
        let out = compare(&c, &snaps[..1], &prices);
        assert_eq!((out[0].ttft, out[0].latency), (None, None));
    }

    #[test]
    fn signed_words() {
        assert_eq!(fmt_signed_ms(38), "+38ms");
        assert_eq!(fmt_signed_ms(-1200), "-1.2s");
        assert_eq!(fmt_signed_ms(0), "0ms");
        assert_eq!(fmt_signed_usd(0.75), "+0.75");
        assert_eq!(fmt_signed_usd(-3.0), "-3.00");
        assert_eq!(fmt_signed_usd(0.001), "0.00");
    }
}
