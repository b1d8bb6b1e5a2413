//! The `[[alert]]` section: who is told when a model's state changes, and
//! how. Its typed form ([`AlertRule`]) and its checks; what an alert does
//! with an event is `crate::alert`'s business.
//!
//! ```toml
//! [[alert]]
//! name = "on-call"                 # shown in events; default "alert N"
//! to = ["unhealthy", "misconfigured"]
//! chain_only = true
//! url_env = "SLACK_WEBHOOK_URL"    # the URL carries a token: from the environment
//! format = "slack"                 # or "pagerduty", "json" (default)
//! min_interval = "10m"
//! ```

use std::time::Duration;

use super::raw::{Names, RawAlert, S};
use super::values::{join, Cx, R};
use super::ModelConfig;
use crate::health::Status;

/// A delivery's deadline when the rule sets none.
pub const ALERT_TIMEOUT: Duration = Duration::from_secs(10);
/// The least time between two alerts of one rule about one model, when the
/// rule sets none.
pub const ALERT_MIN_INTERVAL: Duration = Duration::from_secs(300);
/// PagerDuty's Events API v2, where `format = "pagerduty"` posts without a URL.
pub const PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// One `[[alert]]`: which state changes it matches and what it does.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    /// Names the rule in events and in the payload.
    pub name: String,
    /// Model names it applies to; empty: every model.
    pub models: Vec<String>,
    /// Statuses the change comes from; empty: any.
    pub from: Vec<Status>,
    /// Statuses the change goes to; empty: any.
    pub to: Vec<Status>,
    /// Only models in the fallback chain at the time of the change.
    pub chain_only: bool,
    /// Where the event goes, if anywhere beyond the bell.
    pub delivery: Option<Delivery>,
    /// Ring the terminal bell in the dashboard.
    pub bell: bool,
    /// Least time between two alerts of this rule about one model.
    pub min_interval: Duration,
    /// A delivery that takes longer is abandoned (a command is killed).
    pub timeout: Duration,
}

/// How an alert leaves the process.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// Run a program: the event as JSON on stdin and in `CHAINWATCH_*`
    /// variables. A string runs through `sh -c`; an array is the argv.
    Command(Vec<String>),
    /// POST the event to a URL in the given payload shape.
    Webhook {
        url: WebhookUrl,
        format: PayloadFormat,
        /// PagerDuty's integration key, from this variable.
        routing_key_env: Option<String>,
    },
}

/// Where a webhook's URL comes from. Never printed: it may carry a token.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookUrl {
    /// Written in the file (a URL without a secret in it).
    Literal(String),
    /// Read from this environment variable at each delivery.
    Env(String),
}

/// The shape of a webhook's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormat {
    /// The event as chainwatch's own JSON document.
    Json,
    /// Slack's incoming webhooks (and Mattermost's): `{"text": ...}`.
    Slack,
    /// PagerDuty Events API v2: trigger on the way down, resolve on the way up.
    Pagerduty,
}

impl PayloadFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadFormat::Json => "json",
            PayloadFormat::Slack => "slack",
            PayloadFormat::Pagerduty => "pagerduty",
        }
    }
}

/// A status by its word, as the config, `watch --json` and the screen write it.
pub fn status_named(word: &str) -> Option<Status> {
    Status::ALL.into_iter().find(|s| s.as_str() == word)
}

impl Cx<'_> {
    pub(super) fn alerts(&self, raw: &[RawAlert], models: &[ModelConfig]) -> R<Vec<AlertRule>> {
        let mut out: Vec<AlertRule> = Vec::with_capacity(raw.len());
        for (i, a) in raw.iter().enumerate() {
            let name = match &a.name {
                Some(v) => self.non_empty(v, "alert `name`")?,
                None => format!("alert {}", i + 1),
            };
            if let Some(v) = a
                .name
                .as_ref()
                .filter(|_| out.iter().any(|o| o.name == name))
            {
                return Err(self.at(
                    v,
                    format!("duplicate alert name {name:?}; each [[alert]] needs its own name"),
                ));
            }
            let models = match &a.models {
                Some(list) => self.alert_models(list, models)?,
                None => Vec::new(),
            };
            let delivery = self.delivery(a)?;
            let bell = a.bell.unwrap_or(false);
            if delivery.is_none() && !bell {
                let message = format!(
                    "alert {name:?} does nothing: give it `url`, `url_env` or `command` (or `bell = true`)"
                );
                return Err(match &a.name {
                    Some(v) => self.at(v, message),
                    None => self.error(None, message),
                });
            }
            out.push(AlertRule {
                name,
                models,
                from: self.statuses(a.from.as_ref(), "alert `from`")?,
                to: self.statuses(a.to.as_ref(), "alert `to`")?,
                chain_only: a.chain_only.unwrap_or(false),
                delivery,
                bell,
                min_interval: match &a.min_interval {
                    Some(v) => self.duration(v, "alert.min_interval")?,
                    None => ALERT_MIN_INTERVAL,
                },
                timeout: match &a.timeout {
                    Some(v) => self.duration(v, "alert.timeout")?,
                    None => ALERT_TIMEOUT,
                },
            });
        }
        Ok(out)
    }

    fn alert_models(&self, list: &Names, models: &[ModelConfig]) -> R<Vec<String>> {
        let mut out = Vec::new();
        for v in list.get_ref() {
            let name = v.get_ref();
            if !models.iter().any(|m| &m.name == name) {
                return Err(self.at(
                    v,
                    format!(
                        "unknown model {name:?} in alert `models`; known models: {}",
                        join(models.iter().map(|m| m.name.as_str()))
                    ),
                ));
            }
            if !out.contains(name) {
                out.push(name.clone());
            }
        }
        Ok(out)
    }

    fn statuses(&self, list: Option<&Names>, key: &str) -> R<Vec<Status>> {
        let Some(list) = list else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for v in list.get_ref() {
            let status = status_named(v.get_ref()).ok_or_else(|| {
                self.at(
                    v,
                    format!(
                        "unknown status {:?} in {key}; expected one of: {}",
                        v.get_ref(),
                        join(Status::ALL.iter().map(|s| s.as_str()))
                    ),
                )
            })?;
            if !out.contains(&status) {
                out.push(status);
            }
        }
        Ok(out)
    }

    fn delivery(&self, a: &RawAlert) -> R<Option<Delivery>> {
        let format = match &a.format {
            None => None,
            Some(v) => Some(match v.get_ref().as_str() {
                "json" => PayloadFormat::Json,
                "slack" => PayloadFormat::Slack,
                "pagerduty" => PayloadFormat::Pagerduty,
                other => {
                    return Err(self.at(
                        v,
                        format!("unknown alert format {other:?}; expected \"json\", \"slack\" or \"pagerduty\""),
                    ))
                }
            }),
        };
        let routing_key_env = match &a.routing_key_env {
            Some(v) => Some(self.env_var_name(v)?),
            None => None,
        };
        let url = match (&a.url, &a.url_env) {
            (Some(_), Some(v)) => {
                return Err(self.at(
                    v,
                    "give an alert either `url` or `url_env`, not both (`url_env` names the variable that holds the URL)",
                ))
            }
            (Some(v), None) => Some(WebhookUrl::Literal(self.webhook_url(v)?)),
            (None, Some(v)) => Some(WebhookUrl::Env(self.env_var_name(v)?)),
            (None, None) if format == Some(PayloadFormat::Pagerduty) => {
                Some(WebhookUrl::Literal(PAGERDUTY_URL.to_string()))
            }
            (None, None) => None,
        };
        let command = match &a.command {
            Some(v) => Some(self.command(v)?),
            None => None,
        };
        match (url, command) {
            (Some(_), Some(_)) => {
                let at = a.command.as_ref().map(|c| c.span());
                Err(self.error(
                    at,
                    "an alert either posts to a URL or runs a `command`, not both; write two [[alert]] sections",
                ))
            }
            (Some(url), None) => {
                let format = format.unwrap_or(PayloadFormat::Json);
                if format == PayloadFormat::Pagerduty && routing_key_env.is_none() {
                    let at = a.format.as_ref().map(|f| f.span());
                    return Err(self.error(
                        at,
                        "`format = \"pagerduty\"` needs `routing_key_env`: the variable that holds the integration key",
                    ));
                }
                Ok(Some(Delivery::Webhook {
                    url,
                    format,
                    routing_key_env,
                }))
            }
            (None, Some(argv)) => {
                if let Some(v) = &a.format {
                    return Err(self.at(
                        v,
                        "`format` is for webhooks; a `command` gets the event as JSON on stdin",
                    ));
                }
                Ok(Some(Delivery::Command(argv)))
            }
            (None, None) => {
                if let Some(v) = &a.format {
                    return Err(self.at(v, "`format` needs `url` or `url_env` to post to"));
                }
                Ok(None)
            }
        }
    }

    fn webhook_url(&self, v: &S<String>) -> R<String> {
        let text = v.get_ref().trim();
        let ok = reqwest::Url::parse(text).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
        });
        if !ok {
            // Not echoed: it may be a token.
            return Err(self.at(
                v,
                "alert `url` is not an http(s) URL; a URL with a token in it belongs in an \
                 environment variable named by `url_env`",
            ));
        }
        Ok(text.to_string())
    }

    fn command(&self, v: &S<toml::Value>) -> R<Vec<String>> {
        let bad = || {
            self.at(
                v,
                "alert `command` must be a non-empty string (run by `sh -c`) or an array of \
                 strings like [\"notify-send\", \"chainwatch\"]",
            )
        };
        match v.get_ref() {
            toml::Value::String(line) if !line.trim().is_empty() => {
                Ok(vec!["sh".to_string(), "-c".to_string(), line.clone()])
            }
            toml::Value::Array(items) if !items.is_empty() => items
                .iter()
                .map(|item| item.as_str().map(str::to_string).ok_or_else(bad))
                .collect::<R<Vec<String>>>()
                .and_then(|argv| match argv.first() {
                    Some(program) if !program.trim().is_empty() => Ok(argv),
                    _ => Err(bad()),
                }),
            _ => Err(bad()),
        }
    }
}
