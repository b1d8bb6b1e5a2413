//! Which state changes a rule is about (pure): its models, the statuses
//! the change comes from and goes to, and whether the model must be in the
//! chain.

use crate::config::AlertRule;
use crate::health::Status;

/// A state change, as a rule sees it.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    pub model: &'a str,
    pub from: Status,
    pub to: Status,
}

/// Whether `rule` is about `change`; `in_chain` is asked only when the rule
/// cares (it may read the state file). A model's first verdict when it is
/// good news (`unknown` → `healthy` or `degraded`, as every model does
/// when chainwatch starts) is no alert, unless `from` names `unknown`.
pub fn matches(rule: &AlertRule, change: Change<'_>, in_chain: impl FnOnce() -> bool) -> bool {
    let listed = |list: &[Status], s: Status| list.is_empty() || list.contains(&s);
    let first_good_news = change.from == Status::Unknown
        && change.to.is_ok()
        && !rule.from.contains(&Status::Unknown);
    !first_good_news
        && (rule.models.is_empty() || rule.models.iter().any(|m| m == change.model))
        && listed(&rule.from, change.from)
        && listed(&rule.to, change.to)
        && (!rule.chain_only || in_chain())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ALERT_MIN_INTERVAL, ALERT_TIMEOUT};

    fn rule() -> AlertRule {
        AlertRule {
            name: "r".into(),
            models: Vec::new(),
            from: Vec::new(),
            to: Vec::new(),
            chain_only: false,
            delivery: None,
            bell: true,
            min_interval: ALERT_MIN_INTERVAL,
            timeout: ALERT_TIMEOUT,
        }
    }

    fn change(model: &str, from: Status, to: Status) -> Change<'_> {
        Change { model, from, to }
    }

    #[test]
    fn filters_by_model_status_and_chain() {
        use Status::*;
        let any = rule();
        assert!(matches(&any, change("a", Healthy, Unhealthy), || false));
        assert!(matches(&any, change("a", Unknown, Unhealthy), || false));
        // Every model's first verdict at start is not worth a page…
        assert!(!matches(&any, change("a", Unknown, Healthy), || false));
        // …unless asked for.
        let first = AlertRule {
            from: vec![Unknown],
            ..rule()
        };
        assert!(matches(&first, change("a", Unknown, Healthy), || false));

        let down = AlertRule {
            to: vec![Unhealthy, Misconfigured],
            ..rule()
        };
        assert!(matches(&down, change("a", Healthy, Unhealthy), || true));
        assert!(!matches(&down, change("a", Unhealthy, Healthy), || true));

        let from_ok = AlertRule {
            from: vec![Healthy],
            ..rule()
        };
        assert!(!matches(&from_ok, change("a", Unknown, Unhealthy), || true));

        let some = AlertRule {
            models: vec!["gpt-4o".into()],
            ..rule()
        };
        assert!(matches(&some, change("gpt-4o", Healthy, Degraded), || true));
        assert!(!matches(
            &some,
            change("deepseek", Healthy, Degraded),
            || true
        ));

        let chain = AlertRule {
            chain_only: true,
            ..rule()
        };
        assert!(!matches(&chain, change("a", Healthy, Unhealthy), || false));
        assert!(matches(&chain, change("a", Healthy, Unhealthy), || true));

        // The chain is not read when the rest already says no.
        let mut asked = false;
        let _ = matches(
            &AlertRule {
                chain_only: true,
                ..down
            },
            change("a", Unhealthy, Healthy),
            || {
                asked = true;
                true
            },
        );
        assert!(!asked);
    }
}
