//! Reading a scenario file: the raw TOML shapes, validation with file,
//! line and column, and the human forms of durations, sizes and prices.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::{
    default_provider, Change, Dist, Fault, FaultKind, KeyInfo, ModelScenario, Price,
    ReasoningField, Scenario, ServerOptions, Thinking, Uptime, Variant, Window,
};
use crate::api::FailureClass;

const DEMO_TOML: &str = include_str!("../../../assets/scenarios/demo.toml");

/// A scenario file that cannot be used. `Invalid` names the file, line and
/// column (1-based) of the offending value.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario file {}: {source} (check the path passed with --scenario)", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

impl<'de> Deserialize<'de> for FaultKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "huge" {
            return Ok(FaultKind::Huge);
        }
        FailureClass::ALL
            .iter()
            .find(|c| c.as_str() == s)
            .map(|c| FaultKind::Class(*c))
            .ok_or_else(|| {
                let names: Vec<&str> = FailureClass::ALL.iter().map(|c| c.as_str()).collect();
                serde::de::Error::custom(format!(
                    "unknown fault class `{s}`; expected one of: {}, huge",
                    names.join(", ")
                ))
            })
    }
}

impl Scenario {
    /// The built-in demo (`assets/scenarios/demo.toml`).
    pub fn demo() -> Scenario {
        // The file is compiled in and covered by a test, so this cannot fail
        // at run time; fall back to a plain scenario rather than panic.
        Scenario::parse(DEMO_TOML, Path::new("<demo>"))
            .unwrap_or_else(|_| Scenario::from_models(Vec::new()))
    }

    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Scenario::parse(&text, path)
    }

    pub fn parse(text: &str, origin: &Path) -> Result<Scenario, ScenarioError> {
        let invalid = |span: Option<std::ops::Range<usize>>, message: String| {
            let (line, column) = line_col(text, span.map_or(0, |s| s.start));
            ScenarioError::Invalid {
                path: origin.to_path_buf(),
                line,
                column,
                message,
            }
        };
        let raw: RawScenario =
            toml::from_str(text).map_err(|e| invalid(e.span(), e.message().trim().to_string()))?;
        let mut models: Vec<ModelScenario> = Vec::with_capacity(raw.model.len());
        for m in raw.model {
            let span = Some(m.span());
            let m = m.into_inner();
            if let Some(other) = models.iter().find(|o| o.id == m.id || o.name == m.name) {
                return Err(invalid(
                    span,
                    format!(
                        "model `{}` ({}) repeats the name or id of model `{}` ({}); each must be unique",
                        m.name, m.id, other.name, other.id
                    ),
                ));
            }
            models.push(m);
        }
        Ok(Scenario {
            origin: origin.to_path_buf(),
            server: raw.server,
            key: raw.key,
            models,
        })
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

// ---- the raw TOML shapes; validation turns them into the types above ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    #[serde(default)]
    server: ServerOptions,
    #[serde(default)]
    key: KeyInfo,
    #[serde(default)]
    model: Vec<toml::Spanned<ModelScenario>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    id: String,
    name: Option<String>,
    tier: Option<String>,
    provider: Option<String>,
    context_length: Option<u64>,
    #[serde(default)]
    price: RawPrice,
    ttft: Option<Dist>,
    latency: Option<Dist>,
    tokens_per_s: Option<f64>,
    #[serde(default)]
    keepalive: bool,
    served_model: Option<String>,
    fingerprint: Option<String>,
    key: Option<String>,
    thinking: Option<Thinking>,
    #[serde(default)]
    content_parts: bool,
    #[serde(default)]
    refuses_max_tokens: bool,
    answer: Option<String>,
    reply: Option<String>,
    end_marker: Option<bool>,
    #[serde(default)]
    rejects_prefill: bool,
    #[serde(default)]
    uptime: Uptime,
    dialect: Option<String>,
    #[serde(default)]
    fault: Vec<Fault>,
    #[serde(default)]
    change: Vec<Change>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThinking {
    tokens: Option<u32>,
    min_tokens: Option<u32>,
    time: Option<Dist>,
    field: Option<String>,
}

impl<'de> Deserialize<'de> for Thinking {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let r = RawThinking::deserialize(d)?;
        let tokens = r.tokens.unwrap_or(400);
        let min_tokens = r.min_tokens.unwrap_or(0);
        if min_tokens > tokens {
            return Err(D::Error::custom(format!(
                "thinking.min_tokens ({min_tokens}) is above thinking.tokens ({tokens})"
            )));
        }
        let field = match r.field.as_deref() {
            None | Some("reasoning") => ReasoningField::Reasoning,
            Some("reasoning_content") => ReasoningField::ReasoningContent,
            Some("hidden") => ReasoningField::Hidden,
            Some(other) => {
                return Err(D::Error::custom(format!(
                "unknown thinking.field `{other}`; expected reasoning, reasoning_content or hidden"
            )))
            }
        };
        let second = Duration::from_secs(1);
        Ok(Thinking {
            tokens,
            min_tokens,
            time: r.time.unwrap_or(Dist {
                p50: second,
                p95: second,
            }),
            field,
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPrice {
    #[serde(default, deserialize_with = "de_price")]
    prompt: f64,
    #[serde(default, deserialize_with = "de_price")]
    completion: f64,
    #[serde(default, deserialize_with = "de_price")]
    request: f64,
    #[serde(default, deserialize_with = "de_price")]
    image: f64,
}

impl<'de> Deserialize<'de> for ModelScenario {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let r = RawModel::deserialize(d)?;
        if r.id.trim().is_empty() || r.id.chars().any(char::is_whitespace) {
            return Err(D::Error::custom(format!(
                "model id `{}` must be non-empty and without spaces, e.g. \"openai/gpt-4o\"",
                r.id
            )));
        }
        if let Some(tps) = r.tokens_per_s {
            if !(tps.is_finite() && tps > 0.0) {
                return Err(D::Error::custom(
                    "tokens_per_s must be a positive number (leave it out for instant replies)",
                ));
            }
        }
        let name = r
            .name
            .unwrap_or_else(|| r.id.rsplit('/').next().unwrap_or(&r.id).to_string());
        for (name, v) in [
            ("last_5m", r.uptime.last_5m),
            ("last_30m", r.uptime.last_30m),
            ("last_1d", r.uptime.last_1d),
        ] {
            if v.is_some_and(|v| !(0.0..=100.0).contains(&v)) {
                return Err(D::Error::custom(format!(
                    "uptime.{name} is a percentage between 0 and 100"
                )));
            }
        }
        let mut changes = r.change;
        changes.sort_by_key(|c| c.at);
        let dialect = match r.dialect.as_deref() {
            None | Some("openai") => crate::api::Dialect::Openai,
            Some("anthropic") => crate::api::Dialect::Anthropic,
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "model {:?}: unknown dialect {other:?}; expected \"openai\" or \"anthropic\"",
                    r.id
                )))
            }
        };
        Ok(ModelScenario {
            provider: r.provider.unwrap_or_else(|| default_provider(&r.id)),
            name,
            id: r.id,
            tier: r.tier,
            context_length: r.context_length.unwrap_or(128_000),
            price: Price {
                prompt: r.price.prompt,
                completion: r.price.completion,
                request: r.price.request,
                image: r.price.image,
            },
            ttft: r.ttft,
            latency: r.latency,
            tokens_per_s: r.tokens_per_s,
            keepalive: r.keepalive,
            served_model: r.served_model,
            fingerprint: r.fingerprint,
            key: r.key,
            thinking: r.thinking,
            content_parts: r.content_parts,
            refuses_max_tokens: r.refuses_max_tokens,
            answer: r.answer.filter(|a| !a.trim().is_empty()),
            reply: r.reply.filter(|a| !a.trim().is_empty()),
            end_marker: r.end_marker.unwrap_or(true),
            rejects_prefill: r.rejects_prefill,
            uptime: r.uptime,
            dialect,
            faults: r.fault,
            changes,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDist {
    #[serde(deserialize_with = "de_duration")]
    p50: Duration,
    #[serde(default, deserialize_with = "de_opt_duration")]
    p95: Option<Duration>,
}

impl<'de> Deserialize<'de> for Dist {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let r = RawDist::deserialize(d)?;
        let p95 = r.p95.unwrap_or(r.p50);
        if p95 < r.p50 {
            return Err(D::Error::custom("p95 must not be below p50"));
        }
        Ok(Dist { p50: r.p50, p95 })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    class: FaultKind,
    p: Option<f64>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    start: Option<Duration>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    end: Option<Duration>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    every: Option<Duration>,
    first: Option<u64>,
    status: Option<u16>,
    variant: Option<String>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    retry_after: Option<Duration>,
    retry_after_date: Option<bool>,
    rate_headers: Option<bool>,
    after_tokens: Option<u32>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    drip: Option<Duration>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    hang_for: Option<Duration>,
    #[serde(default, deserialize_with = "de_opt_size")]
    size: Option<u64>,
    message: Option<String>,
    content: Option<String>,
}

impl<'de> Deserialize<'de> for Fault {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let r = RawFault::deserialize(d)?;
        let mut f = Fault::always(r.class);
        let kind = r.class;
        if let Some(p) = r.p {
            if !(0.0..=1.0).contains(&p) {
                return Err(D::Error::custom(format!(
                    "p = {p}: a probability must be between 0 and 1"
                )));
            }
            f.p = p;
        }
        if r.start.is_some() || r.end.is_some() || r.every.is_some() {
            let start = r.start.unwrap_or_default();
            if r.end.is_some_and(|e| e <= start) {
                return Err(D::Error::custom("`end` must come after `start`"));
            }
            if let Some(every) = r.every {
                let Some(end) = r.end else {
                    return Err(D::Error::custom("`every` repeats a window: give `end` too"));
                };
                if every < end - start {
                    return Err(D::Error::custom(
                        "`every` must be at least as long as the window (`end` - `start`)",
                    ));
                }
            }
            f.window = Some(Window {
                start,
                end: r.end,
                every: r.every,
            });
        }
        if let Some(first) = r.first {
            if first == 0 {
                return Err(D::Error::custom(
                    "first = 0 would never strike; leave it out for every request",
                ));
            }
            f.first = Some(first);
        }
        if let Some(status) = r.status {
            use FailureClass as C;
            let ok = match kind.class().unwrap_or(C::Empty) {
                C::ServerError => (500..=599).contains(&status),
                C::Auth => matches!(status, 401 | 403),
                C::Credits => matches!(status, 402 | 429),
                C::BadRequest => (400..=499).contains(&status),
                C::RateLimited => status == 429,
                C::NotFound => status == 404,
                C::Refused => matches!(status, 400 | 403),
                _ => false,
            };
            if !ok {
                return Err(D::Error::custom(format!(
                    "status {status} does not fit class {kind} (server_error: 5xx; auth: 401|403; credits: 402|429; bad_request: 4xx; refused: 400|403; others take no status)"
                )));
            }
            f.status = status;
        }
        if let Some(v) = r.variant {
            f.variant = parse_variant(kind, &v).map_err(D::Error::custom)?;
        }
        if r.retry_after.is_some() {
            f.retry_after = r.retry_after;
        }
        f.retry_after_date = r.retry_after_date.unwrap_or(false);
        f.rate_headers = r.rate_headers.unwrap_or(true);
        if let Some(n) = r.after_tokens {
            f.after_tokens = n;
        }
        if let Some(d) = r.drip {
            if d.is_zero() {
                return Err(D::Error::custom("drip must be longer than 0s"));
            }
            f.drip = d;
        }
        if let Some(h) = r.hang_for {
            f.hang_for = h;
        }
        if let Some(s) = r.size {
            f.size = s;
        }
        f.message = r.message;
        f.content = r.content;
        Ok(f)
    }
}

fn parse_variant(kind: FaultKind, v: &str) -> Result<Variant, String> {
    use FailureClass as C;
    let FaultKind::Class(class) = kind else {
        return Err("class huge has no variants (remove `variant`)".into());
    };
    let allowed: &[(&str, Variant)] = match class {
        C::Timeout => &[
            ("silent", Variant::Silent),
            ("headers", Variant::Headers),
            ("processing", Variant::Processing),
            ("drip", Variant::Drip),
            ("stall", Variant::Stall),
        ],
        C::Connect => &[("reset", Variant::Reset), ("close", Variant::Close)],
        C::ServerError => &[("json", Variant::Json), ("html", Variant::Html)],
        C::ProviderError => &[("body", Variant::Body), ("choice", Variant::Choice)],
        C::Truncated => &[("clean", Variant::Body), ("reset", Variant::Reset)],
        C::Malformed => &[
            ("html", Variant::Html),
            ("json", Variant::Json),
            ("event", Variant::Event),
        ],
        C::Refused => &[("status", Variant::Plain), ("filter", Variant::Filter)],
        _ => &[],
    };
    allowed
        .iter()
        .find(|(n, _)| *n == v)
        .map(|(_, var)| *var)
        .ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
            if names.is_empty() {
                format!("class {class} has no variants (remove `variant`)")
            } else {
                format!(
                    "unknown variant `{v}` for class {class}; expected one of: {}",
                    names.join(", ")
                )
            }
        })
}

pub(super) fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(s.trim()).map_err(|e| {
        serde::de::Error::custom(format!(
            "`{s}` is not a duration ({e}); write e.g. \"250ms\", \"30s\", \"2m\""
        ))
    })
}

/// A pace for repeated keep-alive output: at least 10 ms, so a typo cannot
/// make a hanging reply spin.
pub(super) fn de_interval<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let v = de_duration(d)?;
    if v < Duration::from_millis(10) {
        return Err(serde::de::Error::custom(
            "processing_every must be at least 10ms",
        ));
    }
    Ok(v)
}

fn de_opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    de_duration(d).map(Some)
}

/// A size as bytes (integer) or a string with a unit: "64MiB", "512KiB", "1MB".
fn de_opt_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(u64),
        S(String),
    }
    let s = match Raw::deserialize(d)? {
        Raw::N(n) => return Ok(Some(n)),
        Raw::S(s) => s,
    };
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => u64::MAX,
    };
    num.parse::<u64>()
        .ok()
        .filter(|_| mult != u64::MAX)
        .and_then(|n| n.checked_mul(mult))
        .map(Some)
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{s}` is not a size; write bytes or e.g. \"64MiB\", \"512KiB\""
            ))
        })
}

/// A price in USD per token: a decimal string as `/models` has it, or a number.
fn de_price<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        F(f64),
        S(String),
    }
    let v = match Raw::deserialize(d)? {
        Raw::F(f) => Some(f),
        Raw::S(s) => s.trim().parse::<f64>().ok(),
    };
    v.filter(|p| p.is_finite() && *p >= 0.0).ok_or_else(|| {
        serde::de::Error::custom(
            "a price is USD per token, a non-negative decimal such as \"0.000003\"",
        )
    })
}
