//! What an alert says (pure): the [`Alert`] itself, its one line of text,
//! and the bodies it is sent as — chainwatch's own JSON document, Slack's
//! `{"text"}` and PagerDuty's Events API v2 — plus the `CHAINWATCH_*`
//! variables a command gets.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::api::mask_secrets;
use crate::config::PayloadFormat;
use crate::health::Status;
use crate::report::stamp::millis;
use crate::report::SCHEMA_VERSION;

/// One alert: a state change that a rule matched.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// The rule's name.
    pub rule: String,
    pub at: DateTime<Utc>,
    pub model: String,
    /// The provider's model id.
    pub model_id: String,
    pub from: Status,
    pub to: Status,
    /// Why, in words (masked: no key survives into a payload).
    pub reason: String,
    /// Whether the model was in the fallback chain at the time.
    pub in_chain: bool,
    /// Changes of this model held back by `min_interval` since the last alert.
    pub held_back: u32,
}

impl Alert {
    /// "✗ gpt-4o is unhealthy (was healthy): 9/15 ok; last: 502 …".
    pub fn text(&self) -> String {
        let mut text = format!(
            "{} {} is {} (was {})",
            self.to.symbol(),
            self.model,
            self.to,
            self.from
        );
        if !self.reason.is_empty() {
            text.push_str(": ");
            text.push_str(&mask_secrets(&self.reason));
        }
        match self.held_back {
            0 => {}
            1 => text.push_str(" [1 more change held back]"),
            n => text.push_str(&format!(" [{n} more changes held back]")),
        }
        text
    }

    /// `format = "json"`, a command's stdin and `CHAINWATCH_EVENT`.
    pub fn document(&self) -> Value {
        json!({
            "schema_version": SCHEMA_VERSION,
            "kind": "alert",
            "at": millis(self.at),
            "rule": self.rule,
            "model": self.model,
            "model_id": self.model_id,
            "from": self.from.as_str(),
            "to": self.to.as_str(),
            "reason": mask_secrets(&self.reason),
            "in_chain": self.in_chain,
            "held_back": self.held_back,
            "text": self.text(),
        })
    }

    /// The body posted to a webhook of `format`; PagerDuty's needs its
    /// routing key (the caller reads it from the environment).
    pub fn body(&self, format: PayloadFormat, routing_key: Option<&str>) -> Value {
        match format {
            PayloadFormat::Json => self.document(),
            PayloadFormat::Slack => json!({ "text": format!("chainwatch: {}", self.text()) }),
            PayloadFormat::Pagerduty => {
                let (action, severity) = pagerduty_action(self.to);
                json!({
                    "routing_key": routing_key.unwrap_or_default(),
                    "event_action": action,
                    // One incident per model: the way back up resolves it.
                    "dedup_key": format!("chainwatch/{}", self.model),
                    "payload": {
                        "summary": self.text(),
                        "source": "chainwatch",
                        "severity": severity,
                        "timestamp": millis(self.at),
                        "component": self.model,
                        "class": self.to.as_str(),
                        "custom_details": self.document(),
                    },
                })
            }
        }
    }

    /// The variables a command runs with, beside the JSON on its stdin.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("CHAINWATCH_RULE", self.rule.clone()),
            ("CHAINWATCH_AT", millis(self.at)),
            ("CHAINWATCH_MODEL", self.model.clone()),
            ("CHAINWATCH_MODEL_ID", self.model_id.clone()),
            ("CHAINWATCH_FROM", self.from.as_str().to_string()),
            ("CHAINWATCH_TO", self.to.as_str().to_string()),
            ("CHAINWATCH_REASON", mask_secrets(&self.reason)),
            ("CHAINWATCH_IN_CHAIN", self.in_chain.to_string()),
            ("CHAINWATCH_HELD_BACK", self.held_back.to_string()),
            ("CHAINWATCH_TEXT", self.text()),
            ("CHAINWATCH_EVENT", self.document().to_string()),
        ]
    }
}

/// PagerDuty's `event_action` and `severity` for a model now in `to`: the
/// way down triggers, the way back (healthy, degraded is still routable…)
/// resolves.
fn pagerduty_action(to: Status) -> (&'static str, &'static str) {
    match to {
        Status::Unhealthy | Status::Misconfigured => ("trigger", "error"),
        Status::RateLimited => ("trigger", "warning"),
        Status::Healthy | Status::Recovering | Status::Degraded | Status::Unknown => {
            ("resolve", "info")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn alert(to: Status) -> Alert {
        Alert {
            rule: "on-call".into(),
            at: Utc.with_ymd_and_hms(2025, 3, 1, 12, 1, 3).single().unwrap(),
            model: "gpt-4o".into(),
            model_id: "openai/gpt-4o".into(),
            from: Status::Healthy,
            to,
            reason: "9/15 ok; last: 401 bad key sk-or-v1-0123456789abcdef0123".into(),
            in_chain: true,
            held_back: 2,
        }
    }

    #[test]
    fn text_and_document_say_what_changed_without_keys() {
        let a = alert(Status::Unhealthy);
        let text = a.text();
        assert!(
            text.starts_with("✗ gpt-4o is unhealthy (was healthy): 9/15 ok"),
            "{text}"
        );
        assert!(text.ends_with("[2 more changes held back]"), "{text}");
        assert!(!text.contains("0123456789abcdef"), "masked: {text}");
        let doc = a.document();
        assert_eq!(doc["kind"], "alert");
        assert_eq!(doc["at"], "2025-03-01T12:01:03.000Z");
        assert_eq!(
            (&doc["from"], &doc["to"]),
            (&json!("healthy"), &json!("unhealthy"))
        );
        assert_eq!(doc["rule"], "on-call");
        assert!(crate::report::rule_breaks(&doc).is_empty());
        assert!(!doc.to_string().contains("0123456789abcdef"));
    }

    #[test]
    fn slack_and_pagerduty_bodies() {
        let slack = alert(Status::Unhealthy).body(PayloadFormat::Slack, None);
        assert!(slack["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("chainwatch: ✗ gpt-4o is unhealthy")));
        assert_eq!(slack.as_object().map(|o| o.len()), Some(1));

        let down = alert(Status::Unhealthy).body(PayloadFormat::Pagerduty, Some("R0UTE"));
        assert_eq!(down["routing_key"], "R0UTE");
        assert_eq!(down["event_action"], "trigger");
        assert_eq!(down["dedup_key"], "chainwatch/gpt-4o");
        assert_eq!(down["payload"]["severity"], "error");
        assert_eq!(down["payload"]["source"], "chainwatch");
        let up = alert(Status::Healthy).body(PayloadFormat::Pagerduty, Some("R0UTE"));
        assert_eq!(up["event_action"], "resolve");
        assert_eq!(up["dedup_key"], down["dedup_key"]);
        assert_eq!(
            alert(Status::RateLimited).body(PayloadFormat::Pagerduty, None)["payload"]["severity"],
            "warning"
        );
    }

    #[test]
    fn env_carries_every_field() {
        let env = alert(Status::Unhealthy).env();
        let get = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
        assert_eq!(get("CHAINWATCH_MODEL").as_deref(), Some("gpt-4o"));
        assert_eq!(get("CHAINWATCH_TO").as_deref(), Some("unhealthy"));
        assert_eq!(get("CHAINWATCH_IN_CHAIN").as_deref(), Some("true"));
        let event: Value = serde_json::from_str(&get("CHAINWATCH_EVENT").unwrap()).unwrap();
        assert_eq!(event["model_id"], "openai/gpt-4o");
    }
}
