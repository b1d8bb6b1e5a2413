//! The free signal between paid probes: OpenRouter's per-provider uptime
//! for one model (`GET /models/{author}/{slug}/endpoints`), which costs no
//! tokens. Pure: [`Endpoints::parse`] reads the body that
//! `api::fetch_endpoints` fetched, [`judge`] says whether it warns.
//!
//! The figure judged is `uptime_last_5m` (successes / (successes +
//! errors) over five minutes, 429s left out, in per cent) of the provider
//! that served the model's last reply, when it is listed with a figure;
//! else the best listed one, since OpenRouter falls back from one provider
//! to the next and the model answers while any of them does. A figure at
//! or under the health threshold, or a negative `status`, is a warning.

use serde_json::Value;

/// One serving provider's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderUptime {
    pub provider: String,
    /// OpenRouter's endpoint status: 0 is normal, negative is trouble.
    pub status: Option<i64>,
    /// Per cent over the last 5 minutes; `None` when not reported.
    pub last_5m: Option<f64>,
}

/// What `/endpoints` said about one model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoints {
    pub providers: Vec<ProviderUptime>,
}

/// An `/endpoints` body that is not the JSON expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl Endpoints {
    /// Reads `{"data": {"endpoints": [...]}}` leniently: entries without a
    /// provider name are skipped, figures may be numbers or strings, and a
    /// figure outside 0–100 is no figure.
    pub fn parse(body: &[u8]) -> Result<Endpoints, ParseError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| ParseError(e.to_string()))?;
        let list = value
            .get("data")
            .and_then(|d| d.get("endpoints"))
            .and_then(Value::as_array)
            .ok_or_else(|| ParseError("no `data.endpoints` array".into()))?;
        let providers = list
            .iter()
            .filter_map(|e| {
                let provider = e
                    .get("provider_name")
                    .or_else(|| e.get("name"))
                    .and_then(Value::as_str)?
                    .to_string();
                let last_5m = e
                    .get("uptime_last_5m")
                    .and_then(number)
                    .filter(|x| (0.0..=100.0).contains(x));
                let status = e.get("status").and_then(Value::as_i64);
                Some(ProviderUptime {
                    provider,
                    status,
                    last_5m,
                })
            })
            .collect();
        Ok(Endpoints { providers })
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|x: &f64| x.is_finite())
}

/// What one poll of the free signal told the prober.
#[derive(Debug, Clone, PartialEq)]
pub enum Signal {
    /// The model is up by OpenRouter's count: it may stand in.
    Clear { uptime: f64 },
    /// Down by OpenRouter's count: the paid probe comes back at once.
    Warning { uptime: Option<f64>, why: String },
    /// Nothing to judge (no figures yet, or the fetch failed for now):
    /// nothing stands in until it answers again.
    Silent(String),
    /// This endpoint has no such signal (no route, not the JSON expected):
    /// not asked again for a while.
    Absent(String),
}

impl Signal {
    /// Whether it lets a stable model's paid probes stay stretched.
    pub fn covers(&self) -> bool {
        matches!(self, Signal::Clear { .. })
    }
}

/// Judges `endpoints` for a model last served by `served_by`, against the
/// health `threshold` (a ratio, 0.95).
pub fn judge(endpoints: &Endpoints, served_by: Option<&str>, threshold: f64) -> Signal {
    let figured = || endpoints.providers.iter().filter(|p| p.last_5m.is_some());
    let served = served_by
        .and_then(|s| figured().find(|p| p.provider.trim().eq_ignore_ascii_case(s.trim())));
    let best = || {
        figured().max_by(|a, b| {
            a.last_5m
                .partial_cmp(&b.last_5m)
                .unwrap_or(std::cmp::Ordering::Equal)
        })
    };
    let Some(chosen) = served.or_else(best) else {
        return if endpoints
            .providers
            .iter()
            .any(|p| p.status.is_some_and(|s| s < 0))
        {
            Signal::Warning {
                uptime: None,
                why: "every provider of this model reports trouble".into(),
            }
        } else {
            Signal::Silent("no uptime figures yet".into())
        };
    };
    let uptime = chosen.last_5m.unwrap_or(0.0);
    if uptime <= threshold * 100.0 {
        return Signal::Warning {
            uptime: Some(uptime),
            why: format!("OpenRouter's 5-minute uptime is {uptime:.1}%"),
        };
    }
    if chosen.status.is_some_and(|s| s < 0) {
        return Signal::Warning {
            uptime: Some(uptime),
            why: format!(
                "OpenRouter reports status {} for its provider",
                chosen.status.unwrap_or_default()
            ),
        };
    }
    Signal::Clear { uptime }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(endpoints: &str) -> Endpoints {
        Endpoints::parse(
            format!(r#"{{"data": {{"id": "x/y", "endpoints": {endpoints}}}}}"#).as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn parses_openrouters_shape_leniently() {
        let e = body(
            r#"[
            {"name": "Google | google/gemini-2.5-pro", "provider_name": "Google Vertex", "status": 0,
             "uptime_last_5m": 99.5, "uptime_last_30m": 99.9, "uptime_last_1d": 99.97},
            {"provider_name": "Google AI Studio", "status": -2, "uptime_last_5m": "97.25"},
            {"provider_name": "Fresh", "uptime_last_5m": null},
            {"provider_name": "Odd", "uptime_last_5m": 250},
            {"status": 0, "uptime_last_5m": 100}
        ]"#,
        );
        assert_eq!(e.providers.len(), 4, "{e:?}");
        assert_eq!(e.providers[0].last_5m, Some(99.5));
        assert_eq!(e.providers[1].last_5m, Some(97.25));
        assert_eq!(e.providers[1].status, Some(-2));
        assert_eq!(e.providers[2].last_5m, None);
        assert_eq!(e.providers[3].last_5m, None, "over 100 is no figure");
        for junk in [
            &b"<html>"[..],
            b"[]",
            br#"{"data": {}}"#,
            br#"{"error": {"code": 404}}"#,
        ] {
            assert!(Endpoints::parse(junk).is_err());
        }
    }

    #[test]
    fn judges_the_serving_provider_else_the_best() {
        let e = body(
            r#"[
            {"provider_name": "A", "status": 0, "uptime_last_5m": 60.0},
            {"provider_name": "B", "status": 0, "uptime_last_5m": 99.0}
        ]"#,
        );
        // Served by A, which is failing: a warning.
        assert!(matches!(
            judge(&e, Some("a"), 0.95),
            Signal::Warning { uptime: Some(u), .. } if u == 60.0
        ));
        // Served by B, or unknown: OpenRouter falls back, B carries it.
        assert_eq!(judge(&e, Some("B"), 0.95), Signal::Clear { uptime: 99.0 });
        assert!(judge(&e, Some("B"), 0.95).covers(), "a clear signal covers");
        assert_eq!(judge(&e, None, 0.95), Signal::Clear { uptime: 99.0 });
        assert_eq!(
            judge(&e, Some("gone"), 0.95),
            Signal::Clear { uptime: 99.0 }
        );
        // At the threshold is not above it: the health rule's own edge.
        let edge = body(r#"[{"provider_name": "A", "uptime_last_5m": 95.0}]"#);
        assert!(matches!(judge(&edge, None, 0.95), Signal::Warning { .. }));
        let trouble = body(r#"[{"provider_name": "A", "status": -1, "uptime_last_5m": 100}]"#);
        assert!(matches!(
            judge(&trouble, None, 0.95),
            Signal::Warning { .. }
        ));
        let quiet = body(r#"[{"provider_name": "A", "uptime_last_5m": null}]"#);
        assert!(matches!(judge(&quiet, None, 0.95), Signal::Silent(_)));
        assert!(!judge(&quiet, None, 0.95).covers());
        let down = body(r#"[{"provider_name": "A", "status": -3}]"#);
        assert!(matches!(
            judge(&down, None, 0.95),
            Signal::Warning { uptime: None, .. }
        ));
        assert!(matches!(judge(&body("[]"), None, 0.95), Signal::Silent(_)));
        // Status 0 is normal: without figures that is silence, not trouble.
        let normal = body(r#"[{"provider_name": "A", "status": 0}]"#);
        assert!(matches!(judge(&normal, None, 0.95), Signal::Silent(_)));
    }
}
