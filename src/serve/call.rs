//! A client's `POST /v1/chat/completions` body read into what the router
//! needs: where it goes (`model`: `chain`, a tier, a configured model; or
//! OpenRouter's `models` list), whether it streams, whether it asked for
//! usage, and the body itself to carry through.

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode};
use serde_json::{Map, Value};

use super::errors::ApiError;
use super::translate::to_anthropic;
use crate::api::Passthrough;
use crate::config::{Config, Tier};
use crate::route::{RouteRequest, RouteTarget};

/// The request header that asks for a buffered stream (`1`, `true`, `yes`
/// or `on`, in any case; `0`, `false`, `no`, `off` or empty say no).
pub const BUFFER_HEADER: &str = "x-chainwatch-buffer";

/// What [`BUFFER_HEADER`] asks for; a value it cannot read is a 400 (a
/// client that meant yes must not get a stream that can break silently).
pub fn buffer_wanted(value: Option<&HeaderValue>) -> Result<bool, ApiError> {
    let Some(value) = value else {
        return Ok(false);
    };
    let text = value
        .to_str()
        .unwrap_or("\u{fffd}")
        .trim()
        .to_ascii_lowercase();
    match text.as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(ApiError::invalid(format!(
            "{BUFFER_HEADER}: {:?} is neither yes (1, true, yes, on) nor no (0, false, no, off)",
            text.chars().take(40).collect::<String>()
        ))
        .param(BUFFER_HEADER)),
    }
}

/// What `model: "chain"` means.
pub const CHAIN: &str = "chain";
/// `max_tokens` sent to Anthropic (which requires one) when the client set
/// none: OpenAI's own default is "as long as the model likes".
pub const ANTHROPIC_DEFAULT_MAX_TOKENS: u32 = 4096;

/// One client request, ready to route.
#[derive(Debug, Clone)]
pub struct Call {
    pub target: RouteTarget,
    /// An explicit order (OpenRouter's `models`), else the saved chain.
    pub order: Option<Vec<String>>,
    /// The metrics label: `chain`, the tier, the model, or `models`.
    pub label: String,
    pub stream: bool,
    /// The client asked for `stream_options.include_usage`.
    pub include_usage: bool,
    /// The client asked (header [`BUFFER_HEADER`]) for a streamed answer
    /// to be collected whole before its first byte is sent, so that a
    /// break restarts cleanly on the next model.
    pub buffer: bool,
    pub body: Map<String, Value>,
    pub max_tokens: u32,
}

/// Every `model` a client may ask for: `chain`, the tiers that have
/// models, then every configured model.
pub fn valid_models(config: &Config) -> Vec<String> {
    let mut names = vec![CHAIN.to_string()];
    for tier in Tier::ALL.iter().rev() {
        if !config.tiers.get(*tier).is_empty() {
            names.push(tier.as_str().to_string());
        }
    }
    names.extend(config.models.iter().map(|m| m.name.clone()));
    names
}

fn tier_named(name: &str) -> Option<Tier> {
    Tier::ALL.into_iter().find(|t| t.as_str() == name)
}

fn not_found(config: &Config, asked: &str) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        "model_not_found",
        format!(
            "the model {asked:?} does not exist here; use one of: {}",
            valid_models(config).join(", ")
        ),
    )
    .param("model");
    e.extra = Some(Box::new(
        serde_json::json!({ "valid": valid_models(config) }),
    ));
    e
}

/// Reads a client's body. Errors are the 400 or 404 to send back.
pub fn read(body: &[u8], config: &Config) -> Result<Call, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("the body is not JSON: {e}")))?;
    let Value::Object(mut body) = value else {
        return Err(ApiError::invalid("the body is not a JSON object"));
    };
    match body.get("messages") {
        Some(Value::Array(list)) if !list.is_empty() => {}
        Some(Value::Array(_)) => {
            return Err(ApiError::invalid("`messages` is empty").param("messages"))
        }
        _ => {
            return Err(ApiError::invalid("`messages` must be a list of messages").param("messages"))
        }
    }
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::invalid("`stream` must be true or false").param("stream")),
    };
    let include_usage = stream
        && body
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
    let model = match body.remove("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(ApiError::invalid("`model` must be a string").param("model")),
    };
    let models = match body.remove("models") {
        None | Some(Value::Null) => None,
        Some(Value::Array(list)) => {
            let mut names = Vec::with_capacity(list.len());
            for v in list {
                match v {
                    Value::String(s) => names.push(s),
                    _ => {
                        return Err(ApiError::invalid("`models` must be a list of model names")
                            .param("models"))
                    }
                }
            }
            Some(names)
        }
        Some(_) => {
            return Err(ApiError::invalid("`models` must be a list of model names").param("models"))
        }
    };
    let max_tokens = ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_u64))
        .map_or(ANTHROPIC_DEFAULT_MAX_TOKENS, |n| {
            u32::try_from(n).unwrap_or(u32::MAX)
        });
    let (target, order, label) = resolve(config, model.as_deref(), models)?;
    Ok(Call {
        target,
        order,
        label,
        stream,
        include_usage,
        buffer: false,
        body,
        max_tokens,
    })
}

/// Where the request goes: `(target, explicit order, metrics label)`.
fn resolve(
    config: &Config,
    model: Option<&str>,
    models: Option<Vec<String>>,
) -> Result<(RouteTarget, Option<Vec<String>>, String), ApiError> {
    if let Some(list) = models.filter(|l| !l.is_empty()) {
        // OpenRouter's per-request fallback list, after `model` when that
        // names a model too.
        let mut order: Vec<String> = Vec::new();
        let first = model.filter(|m| *m != CHAIN && tier_named(m).is_none());
        for name in first.into_iter().map(str::to_string).chain(list) {
            if config.model(&name).is_none() {
                return Err(not_found(config, &name).param("models"));
            }
            if !order.contains(&name) {
                order.push(name);
            }
        }
        return Ok((RouteTarget::Chain, Some(order), "models".into()));
    }
    let Some(model) = model else {
        return Err(ApiError::invalid(format!(
            "`model` is missing; use one of: {}",
            valid_models(config).join(", ")
        ))
        .param("model"));
    };
    if model == CHAIN {
        return Ok((RouteTarget::Chain, None, CHAIN.into()));
    }
    if let Some(tier) = tier_named(model).filter(|t| !config.tiers.get(*t).is_empty()) {
        return Ok((RouteTarget::Tier(tier), None, tier.as_str().into()));
    }
    if config.model(model).is_some() {
        return Ok((
            RouteTarget::Model(model.to_string()),
            None,
            model.to_string(),
        ));
    }
    Err(not_found(config, model))
}

impl Call {
    /// The router's request, taking the body: carried through to the
    /// models, translated for Anthropic's when the config has any, every
    /// event tapped to `tap`. The plain `messages` stay empty: with a body
    /// carried through, the dialects build the request from it.
    pub fn route_request(
        &mut self,
        config: &Config,
        tap: tokio::sync::mpsc::UnboundedSender<crate::api::Tapped>,
    ) -> RouteRequest {
        let mut openai = std::mem::take(&mut self.body);
        let anthropic = if config
            .endpoints
            .iter()
            .any(|e| e.dialect == crate::api::Dialect::Anthropic)
        {
            to_anthropic(&openai)
        } else {
            Err("no Anthropic endpoint is configured".to_string())
        };
        openai.remove("stream");
        RouteRequest {
            messages: Vec::new(),
            target: self.target.clone(),
            max_tokens: self.max_tokens,
            hedge: None,
            // A whole reply is sent only once complete: an answer that breaks
            // off restarts cleanly on the next model (see relay.rs).
            buffered: !self.stream || self.buffer,
            passthrough: Some(Arc::new(Passthrough {
                anthropic,
                openai,
                tap: Some(tap),
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn config() -> Config {
        Config::parse(
            r#"
chain = ["a", "b"]
[[endpoint]]
name = "e"
base_url = "http://127.0.0.1:1/v1"
api_key_env = "NO_SUCH_KEY_VAR"
[[model]]
name = "a"
id = "x/a"
endpoint = "e"
[[model]]
name = "b"
id = "x/b"
endpoint = "e"
[tiers]
budget = ["b"]
"#,
            std::path::Path::new("<test>"),
        )
        .unwrap()
    }

    fn body(v: Value) -> Vec<u8> {
        v.to_string().into_bytes()
    }

    #[test]
    fn targets() {
        let c = config();
        let msgs = serde_json::json!([{"role": "user", "content": "hi"}]);
        let call = read(
            &body(serde_json::json!({"model": "chain", "messages": msgs})),
            &c,
        )
        .unwrap();
        assert_eq!((call.target, call.stream), (RouteTarget::Chain, false));
        let call = read(&body(serde_json::json!({"model": "budget", "messages": msgs, "stream": true, "stream_options": {"include_usage": true}})), &c).unwrap();
        assert_eq!(call.target, RouteTarget::Tier(Tier::Budget));
        assert!(call.stream && call.include_usage);
        let call = read(
            &body(serde_json::json!({"model": "a", "messages": msgs})),
            &c,
        )
        .unwrap();
        assert_eq!(call.target, RouteTarget::Model("a".into()));
        assert!(!call.body.contains_key("model"));
        let call = read(
            &body(serde_json::json!({"model": "b", "models": ["a", "b"], "messages": msgs})),
            &c,
        )
        .unwrap();
        assert_eq!(call.order, Some(vec!["b".to_string(), "a".to_string()]));
        // A tier without models is not a target.
        let e = read(
            &body(serde_json::json!({"model": "premium", "messages": msgs})),
            &c,
        )
        .unwrap_err();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert_eq!(
            e.body()["error"]["valid"],
            serde_json::json!(["chain", "budget", "a", "b"])
        );
        let e = read(
            &body(serde_json::json!({"models": ["a", "zzz"], "messages": msgs})),
            &c,
        )
        .unwrap_err();
        assert!(e.message.contains("\"zzz\""), "{}", e.message);
    }

    #[test]
    fn bad_bodies_are_400s_that_say_what() {
        let c = config();
        for (b, says) in [
            (b"not json".to_vec(), "not JSON"),
            (body(serde_json::json!([1])), "not a JSON object"),
            (body(serde_json::json!({"model": "chain"})), "`messages`"),
            (
                body(serde_json::json!({"model": "chain", "messages": []})),
                "empty",
            ),
            (
                body(
                    serde_json::json!({"model": 3, "messages": [{"role": "user", "content": "x"}]}),
                ),
                "`model` must be",
            ),
            (
                body(serde_json::json!({"messages": [{"role": "user", "content": "x"}]})),
                "`model` is missing",
            ),
            (
                body(
                    serde_json::json!({"model": "chain", "stream": "yes", "messages": [{"role": "user", "content": "x"}]}),
                ),
                "`stream`",
            ),
        ] {
            let e = read(&b, &c).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert!(e.message.contains(says), "{} / {says}", e.message);
        }
    }
}
