//! The sections of the file checked and put together: defaults filled in,
//! deadlines fitted inside their timeouts, endpoints, models, the chain and
//! the tiers cross-checked by name. The single values come from `values`.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use super::raw::{
    Names, RawConfig, RawEndpoint, RawHealth, RawModel, RawOverrides, RawProbe, RawRoute, RawStore,
    RawTiers,
};
use super::values::{join, ranges, Cx, R};
use super::{
    Config, ConfigError, ConfigSource, Endpoint, HealthSettings, Hedge, ModelConfig,
    ProbeOverrides, ProbeSettings, RouteSettings, StoreSettings, Tier, Tiers,
    DEFAULT_RETRY_AFTER_MAX,
};
use crate::api::Dialect;

/// Request-body keys chainwatch sets itself; `extra` may not replace them.
const RESERVED_EXTRA: [&str; 2] = ["model", "messages"];

impl Config {
    /// Parse and validate `text`; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let cx = Cx {
            text,
            path: origin,
            patterns: Default::default(),
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| cx.toml_error(&e))?;
        cx.build(raw)
    }
}

impl Cx<'_> {
    fn build(&self, raw: RawConfig) -> R<Config> {
        let health = self.health(&raw.health)?;
        let probe = self.probe(&raw.probe)?;
        let route = self.route(&raw.route, &probe)?;
        let endpoints = self.endpoints(&raw.endpoint)?;
        let mut models = self.models(&raw.model, &endpoints)?;
        let chain = self.chain(raw.chain.as_ref(), &models)?;
        let tiers = match &raw.tiers {
            Some(t) => self.tiers(t, &mut models, &raw.model)?,
            None => Tiers::from_models(&models),
        };
        self.same_as(&mut models, &raw.model)?;
        let alerts = self.alerts(&raw.alert, &models)?;
        let store = self.store(&raw.store)?;
        Ok(Config {
            chain,
            health,
            probe,
            route,
            endpoints,
            models,
            tiers,
            alerts,
            store,
            source: ConfigSource::File(self.path.to_path_buf()),
        })
    }

    fn store(&self, s: &RawStore) -> R<StoreSettings> {
        let redis_url = match &s.redis_url {
            Some(url) => {
                let v = url.get_ref().trim();
                if !(v.starts_with("redis://") || v.starts_with("valkey://")) {
                    return Err(self.at(
                        url,
                        "`store.redis_url`: expected redis://[:password@]host:port[/db] (TLS is not built in)".to_string(),
                    ));
                }
                Some(v.to_string())
            }
            None => None,
        };
        Ok(StoreSettings { redis_url })
    }

    fn health(&self, h: &RawHealth) -> R<HealthSettings> {
        let d = HealthSettings::default();
        let threshold = match &h.threshold {
            Some(t) => {
                let v = *t.get_ref();
                if !(0.0..1.0).contains(&v) {
                    return Err(self.at(
                        t,
                        format!("`health.threshold` = {v}: expected a ratio from 0 up to (not including) 1, like 0.95"),
                    ));
                }
                v
            }
            None => d.threshold,
        };
        Ok(HealthSettings {
            window: self.opt_duration_in(
                h.window.as_ref(),
                "health.window",
                d.window,
                ranges::WINDOW,
            )?,
            threshold,
            recover_after: match &h.recover_after {
                Some(v) => self.number_in(v, "health.recover_after", ranges::RECOVER_AFTER)?,
                None => d.recover_after,
            },
            slow: h
                .slow
                .as_ref()
                .map(|v| self.duration_in(v, "health.slow", ranges::SLOW))
                .transpose()?,
        })
    }

    fn probe(&self, p: &RawProbe) -> R<ProbeSettings> {
        let d = ProbeSettings::default();
        let timeout = self.opt_duration_in(
            p.timeout.as_ref(),
            "probe.timeout",
            d.timeout,
            ranges::TIMEOUT,
        )?;
        let prompt = match &p.prompt {
            Some(v) => self.non_empty(v, "`probe.prompt`")?,
            None => d.prompt,
        };
        let expect = match &p.expect {
            Some(v) if v.get_ref().is_empty() => None,
            Some(v) => Some(self.regex(v, "probe.expect")?),
            None => d.expect,
        };
        let daily_budget = match &p.daily_budget {
            Some(v) => {
                let b = *v.get_ref();
                if !(b.is_finite() && ranges::DAILY_BUDGET.contains(&b)) {
                    return Err(self.at(
                        v,
                        format!(
                            "`probe.daily_budget` = {b}: expected US dollars per day, {} to {} \
                             (omit it for no limit)",
                            ranges::DAILY_BUDGET.start(),
                            ranges::DAILY_BUDGET.end()
                        ),
                    ));
                }
                Some(b)
            }
            None => None,
        };
        Ok(ProbeSettings {
            interval: self.opt_duration_in(
                p.interval.as_ref(),
                "probe.interval",
                d.interval,
                ranges::INTERVAL,
            )?,
            prompt,
            expect,
            max_tokens: match &p.max_tokens {
                Some(v) => self.number_in(v, "probe.max_tokens", ranges::MAX_TOKENS)?,
                None => d.max_tokens,
            },
            ttft_timeout: self.deadline_within(
                p.ttft_timeout.as_ref(),
                "probe.ttft_timeout",
                d.ttft_timeout,
                timeout,
            )?,
            stall_timeout: self.deadline_within(
                p.stall_timeout.as_ref(),
                "probe.stall_timeout",
                d.stall_timeout,
                timeout,
            )?,
            connect_timeout: self.deadline_within(
                p.connect_timeout.as_ref(),
                "probe.connect_timeout",
                d.connect_timeout,
                timeout,
            )?,
            timeout,
            concurrency: match &p.concurrency {
                Some(v) => self.number_in(v, "probe.concurrency", ranges::CONCURRENCY)?,
                None => d.concurrency,
            },
            daily_budget,
            stream: p.stream.unwrap_or(d.stream),
        })
    }

    fn route(&self, r: &RawRoute, probe: &ProbeSettings) -> R<RouteSettings> {
        let timeout = self.opt_duration_in(
            r.timeout.as_ref(),
            "route.timeout",
            probe.timeout,
            ranges::TIMEOUT,
        )?;
        let hedge = match &r.hedge {
            None => Hedge::Auto,
            Some(v) => match v.get_ref().trim() {
                "auto" => Hedge::Auto,
                "off" => Hedge::Off,
                text => match humantime::parse_duration(text) {
                    Ok(d) if !d.is_zero() => Hedge::After(self.duration_in(
                        v,
                        "route.hedge",
                        ranges::HEDGE_MIN..=timeout.max(ranges::HEDGE_MIN),
                    )?),
                    _ => {
                        return Err(self.at(
                            v,
                            format!("`route.hedge` = {text:?}: expected \"auto\", \"off\" or a delay like \"2s\""),
                        ))
                    }
                },
            },
        };
        Ok(RouteSettings {
            ttft_timeout: self.deadline_within(
                r.ttft_timeout.as_ref(),
                "route.ttft_timeout",
                probe.ttft_timeout,
                timeout,
            )?,
            stall_timeout: self.deadline_within(
                r.stall_timeout.as_ref(),
                "route.stall_timeout",
                probe.stall_timeout,
                timeout,
            )?,
            connect_timeout: self.deadline_within(
                r.connect_timeout.as_ref(),
                "route.connect_timeout",
                probe.connect_timeout,
                timeout,
            )?,
            timeout,
            hedge,
            retry_after_max: match &r.retry_after_max {
                // "0s" turns the wait off; humantime parses it, `duration` refuses zero.
                Some(v)
                    if humantime::parse_duration(v.get_ref().trim()).is_ok_and(|d| d.is_zero()) =>
                {
                    Duration::ZERO
                }
                Some(v) => self.duration_in(v, "route.retry_after_max", ranges::RETRY_AFTER_MAX)?,
                None => DEFAULT_RETRY_AFTER_MAX,
            },
            reroute_refusals: r.reroute_refusals.unwrap_or(false),
        })
    }

    fn endpoints(&self, raw: &[RawEndpoint]) -> R<Vec<Endpoint>> {
        let mut out: Vec<Endpoint> = Vec::with_capacity(raw.len());
        let mut names = HashSet::with_capacity(raw.len());
        for e in raw {
            let name = self.non_empty(&e.name, "endpoint `name`")?;
            if !names.insert(name.clone()) {
                return Err(self.at(
                    &e.name,
                    format!(
                        "duplicate endpoint name {name:?}; each [[endpoint]] needs its own name"
                    ),
                ));
            }
            let base_url = self.base_url(&e.base_url)?;
            let api_key_env = match &e.api_key_env {
                Some(v) => Some(self.env_var_name(v)?),
                None => None,
            };
            let dialect = match &e.dialect {
                None => Dialect::default(),
                Some(v) => match v.get_ref().as_str() {
                    "openai" => Dialect::Openai,
                    "anthropic" => Dialect::Anthropic,
                    other => {
                        return Err(self.at(
                            v,
                            format!(
                                "unknown dialect {other:?}; expected \"openai\" or \"anthropic\""
                            ),
                        ))
                    }
                },
            };
            out.push(Endpoint {
                name,
                base_url,
                api_key_env,
                dialect,
                native_fallback: e.native_fallback.unwrap_or(false),
            });
        }
        Ok(out)
    }

    fn models(&self, raw: &[RawModel], endpoints: &[Endpoint]) -> R<Vec<ModelConfig>> {
        if raw.is_empty() {
            return Err(self.error(
                None,
                "the file defines no [[model]]; add at least one (see assets/config.example.toml)",
            ));
        }
        let known_endpoints = || join(endpoints.iter().map(|e| e.name.as_str()));
        let endpoint_names: HashSet<&str> = endpoints.iter().map(|e| e.name.as_str()).collect();
        let mut out: Vec<ModelConfig> = Vec::with_capacity(raw.len());
        let mut names = HashSet::with_capacity(raw.len());
        for m in raw {
            let name = self.non_empty(&m.name, "model `name`")?;
            if !names.insert(name.clone()) {
                return Err(self.at(
                    &m.name,
                    format!("duplicate model name {name:?}; each [[model]] needs its own name"),
                ));
            }
            let id = self.non_empty(&m.id, "model `id`")?;
            let endpoint = match (&m.endpoint, endpoints) {
                (Some(v), _) => {
                    if !endpoint_names.contains(v.get_ref().as_str()) {
                        return Err(self.at(
                            v,
                            format!(
                                "unknown endpoint {:?} in model {name:?}; known endpoints: {}",
                                v.get_ref(),
                                known_endpoints()
                            ),
                        ));
                    }
                    v.get_ref().clone()
                }
                // One endpoint: naming it on every model would be noise.
                (None, [only]) => only.name.clone(),
                (None, []) => {
                    return Err(self.at(
                        &m.name,
                        format!("model {name:?} has no endpoint and the file defines no [[endpoint]]; add one"),
                    ))
                }
                (None, _) => {
                    return Err(self.at(
                        &m.name,
                        format!(
                            "model {name:?} needs `endpoint = ...`; expected one of: {}",
                            known_endpoints()
                        ),
                    ))
                }
            };
            let tier = match &m.tier {
                Some(v) => Some(
                    v.get_ref()
                        .parse::<Tier>()
                        .map_err(|e| self.at(v, e.to_string()))?,
                ),
                None => None,
            };
            let probe = match &m.probe {
                Some(o) => self.overrides(o)?,
                None => ProbeOverrides::default(),
            };
            let extra = match &m.extra {
                Some(v) => {
                    if let Some(k) = RESERVED_EXTRA
                        .iter()
                        .find(|k| v.get_ref().contains_key(**k))
                    {
                        return Err(self.at(
                            v,
                            format!("`extra` may not set {k:?}: chainwatch sets it itself (the model from `id`)"),
                        ));
                    }
                    v.get_ref().clone()
                }
                None => serde_json::Map::new(),
            };
            out.push(ModelConfig {
                name,
                id,
                endpoint,
                tier,
                probe,
                extra,
                reasoning: m.reasoning,
                same_as: None,
            });
        }
        Ok(out)
    }

    fn overrides(&self, o: &RawOverrides) -> R<ProbeOverrides> {
        Ok(ProbeOverrides {
            interval: o
                .interval
                .as_ref()
                .map(|v| self.duration_in(v, "probe.interval", ranges::INTERVAL))
                .transpose()?,
            max_tokens: o
                .max_tokens
                .as_ref()
                .map(|v| self.number_in(v, "probe.max_tokens", ranges::MAX_TOKENS))
                .transpose()?,
            // "" compiles to a pattern that matches anything: no check.
            expect: o
                .expect
                .as_ref()
                .map(|v| self.regex(v, "probe.expect"))
                .transpose()?,
            prompt: o
                .prompt
                .as_ref()
                .map(|v| self.non_empty(v, "`probe.prompt`"))
                .transpose()?,
        })
    }

    /// `same_as` names another model: the same model reached another way.
    fn same_as(&self, models: &mut [ModelConfig], raw: &[RawModel]) -> R<()> {
        let names: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
        for (m, rm) in models.iter_mut().zip(raw) {
            let Some(v) = &rm.same_as else {
                continue;
            };
            let other = v.get_ref().trim();
            if other == m.name {
                return Err(self.at(
                    v,
                    format!(
                        "model {:?} has `same_as` itself; name the other model it is the same as",
                        m.name
                    ),
                ));
            }
            if !names.iter().any(|n| n == other) {
                return Err(self.at(
                    v,
                    format!(
                        "unknown model {other:?} in `same_as` of model {:?}; known models: {}",
                        m.name,
                        join(names.iter().map(String::as_str))
                    ),
                ));
            }
            m.same_as = Some(other.to_string());
        }
        Ok(())
    }

    /// Names that must each be a known model, at most once.
    fn model_names(&self, list: &Names, key: &str, models: &[ModelConfig]) -> R<Vec<String>> {
        let known: HashSet<&str> = models.iter().map(|m| m.name.as_str()).collect();
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(list.get_ref().len());
        for v in list.get_ref() {
            let name = v.get_ref();
            if !known.contains(name.as_str()) {
                return Err(self.at(
                    v,
                    format!(
                        "unknown model {name:?} in `{key}`; known models: {}",
                        join(models.iter().map(|m| m.name.as_str()))
                    ),
                ));
            }
            if !seen.insert(name.as_str()) {
                return Err(self.at(
                    v,
                    format!("{name:?} appears twice in `{key}`; list each model once"),
                ));
            }
            out.push(name.clone());
        }
        Ok(out)
    }

    fn chain(&self, chain: Option<&Names>, models: &[ModelConfig]) -> R<Vec<String>> {
        let Some(list) = chain else {
            return Ok(models.iter().map(|m| m.name.clone()).collect());
        };
        if list.get_ref().is_empty() {
            return Err(self.at(
                list,
                "`chain` is empty; list at least one model, or leave `chain` out to use every model in file order",
            ));
        }
        self.model_names(list, "chain", models)
    }

    /// `[tiers]` decides routing. A model's own `tier` must agree with it;
    /// a model without one takes the lowest tier that lists it.
    fn tiers(
        &self,
        raw: &RawTiers,
        models: &mut [ModelConfig],
        raw_models: &[RawModel],
    ) -> R<Tiers> {
        let mut tiers = Tiers::default();
        for t in Tier::ALL {
            if let Some(list) = raw.get(t) {
                *tiers.get_mut(t) = self.model_names(list, &format!("tiers.{t}"), models)?;
            }
        }
        let listed: Vec<HashSet<String>> = Tier::ALL
            .iter()
            .map(|t| tiers.get(*t).iter().cloned().collect())
            .collect();
        let lists = |t: Tier, name: &str| {
            Tier::ALL
                .iter()
                .position(|x| *x == t)
                .is_some_and(|i| listed[i].contains(name))
        };
        for (m, rm) in models.iter_mut().zip(raw_models) {
            match (m.tier, &rm.tier) {
                (Some(t), Some(span)) if !lists(t, &m.name) => {
                    return Err(self.at(
                        span,
                        format!(
                            "model {:?} has tier = \"{t}\" but [tiers] does not list it under {t}; \
                             add it there or change its tier",
                            m.name
                        ),
                    ));
                }
                (None, _) => {
                    m.tier = Tier::ALL.into_iter().find(|t| lists(*t, &m.name));
                }
                _ => {}
            }
        }
        Ok(tiers)
    }
}
