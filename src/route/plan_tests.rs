//! The plan, pure: each rule of `plan` and `Plan::skipped_before` at the
//! case that tells it apart. Health comes from a table (the `HealthView` is
//! the planner's whole input about health), so each case states the status
//! and the last attempt it needs.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use super::*;
use crate::api::Attempt;
use crate::route::Trial;

fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000, 0).single().unwrap()
}

/// Each model's status and when it was last tried; a model not in the
/// table is `Unknown` (routable) and never tried.
#[derive(Default)]
struct Table(HashMap<String, (Status, Option<DateTime<Utc>>)>);

impl Table {
    fn with(mut self, model: &str, status: Status, last: Option<DateTime<Utc>>) -> Table {
        self.0.insert(model.to_string(), (status, last));
        self
    }
}

impl HealthView for Table {
    fn judge(&self, model: &str, _now: DateTime<Utc>) -> (Status, String) {
        let status = self.0.get(model).map_or(Status::Unknown, |(s, _)| *s);
        (status, format!("what the book says of {model}"))
    }
    fn ttft_p95(&self, _model: &str, _now: DateTime<Utc>) -> Option<Duration> {
        None
    }
    fn record(&self, _model: &str, _attempt: &Attempt, _now: DateTime<Utc>) {}
    fn last_attempt(&self, model: &str) -> Option<DateTime<Utc>> {
        self.0.get(model).and_then(|(_, last)| *last)
    }
    fn adopt(&self, _trial: Trial) {}
}

/// Models `names`, none in a tier; probe interval 60 s, so the half-open
/// period is 15 s.
fn config(names: &[&str]) -> Config {
    let models: Vec<(String, String, Option<Tier>)> = names
        .iter()
        .map(|n| (n.to_string(), format!("x/{n}"), None))
        .collect();
    let mut config = Config::demo("http://127.0.0.1:9", &models);
    config.probe.interval = Duration::from_secs(60);
    config
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn skipped(plan: &Plan) -> Vec<(&str, Status)> {
    plan.skipped
        .iter()
        .map(|s| (s.model.as_str(), s.status))
        .collect()
}

fn chain(config: &Config, health: &Table, order: &[&str]) -> Plan {
    plan(config, health, &names(order), &RouteTarget::Chain, now())
}

/// Tried 5 s ago: within its half-open period, no trial.
fn recently() -> Option<DateTime<Utc>> {
    Some(now() - TimeDelta::seconds(5))
}

/// Tried a minute ago: its half-open period has passed, a trial is due.
fn long_ago() -> Option<DateTime<Utc>> {
    Some(now() - TimeDelta::seconds(60))
}

#[test]
fn the_chain_in_order_passing_over_what_is_down_or_unknown_to_the_config() {
    let config = config(&["a", "down", "b"]);
    let health = Table::default()
        .with("a", Status::Healthy, recently())
        .with("down", Status::Unhealthy, recently());
    let plan = chain(&config, &health, &["ghost", "a", "down", "b"]);
    assert_eq!(plan.order, names(&["a", "b"]));
    assert_eq!(
        skipped(&plan),
        [
            ("ghost", Status::Misconfigured),
            ("down", Status::Unhealthy)
        ]
    );
    assert!(plan.skipped[0].reason.contains("not in the config"));
    assert_eq!(plan.skipped[1].reason, "what the book says of down");
    assert!(!plan.last_resort, "a and b are routable");
    assert_eq!(plan.trial, None);
    assert!(plan.tiers.is_empty(), "a chain has no tiers");
}

#[test]
fn the_skips_before_a_model_are_those_earlier_in_the_chain() {
    let config = config(&["a", "down", "b"]);
    let health = Table::default().with("down", Status::Unhealthy, recently());
    let plan = chain(&config, &health, &["ghost", "a", "down", "b"]);
    let before = |model| {
        plan.skipped_before(model)
            .into_iter()
            .map(|s| s.model)
            .collect::<Vec<_>>()
    };
    assert_eq!(before("a"), names(&["ghost"]));
    assert_eq!(before("b"), names(&["ghost", "down"]));
    // Not in the plan: every skip.
    assert_eq!(before("elsewhere"), names(&["ghost", "down"]));
}

#[test]
fn the_last_resort_tries_everything_configured_and_skips_stay_apart() {
    let config = config(&["down", "limited"]);
    let health = Table::default()
        .with("down", Status::Unhealthy, recently())
        .with("limited", Status::RateLimited, recently());
    let plan = chain(&config, &health, &["down", "ghost", "limited"]);
    assert!(plan.last_resort);
    assert_eq!(
        plan.order,
        names(&["down", "limited"]),
        "ghost cannot be tried"
    );
    assert_eq!(
        skipped(&plan),
        [
            ("down", Status::Unhealthy),
            ("ghost", Status::Misconfigured),
            ("limited", Status::RateLimited)
        ]
    );
    // A model's own skip is not one it passed over on its way.
    let before: Vec<String> = plan
        .skipped_before("limited")
        .into_iter()
        .map(|s| s.model)
        .collect();
    assert_eq!(before, names(&["down", "ghost"]));
}

#[test]
fn nothing_configured_is_no_last_resort() {
    let config = config(&["a"]);
    let plan = chain(&config, &Table::default(), &["ghost", "phantom"]);
    assert!(plan.order.is_empty());
    assert!(!plan.last_resort, "nothing it could try anyway");
    assert_eq!(plan.skipped.len(), 2);
}

#[test]
fn an_unhealthy_model_first_whose_period_passed_is_raced_as_a_trial() {
    let config = config(&["down", "a"]);
    let health = Table::default().with("down", Status::Unhealthy, long_ago());
    let plan = chain(&config, &health, &["down", "a"]);
    assert_eq!(plan.order, names(&["down", "a"]));
    assert_eq!(plan.trial.as_deref(), Some("down"));
    assert!(
        plan.skipped.is_empty(),
        "a model on trial is not passed over"
    );
    assert!(!plan.last_resort);
    // Never tried in memory: due as well.
    let health = Table::default().with("down", Status::Unhealthy, None);
    assert_eq!(
        chain(&config, &health, &["down", "a"]).trial.as_deref(),
        Some("down")
    );
}

#[test]
fn only_the_first_unhealthy_model_before_any_routable_one_is_a_trial() {
    let config = config(&["down", "down2", "a"]);
    let health = Table::default()
        .with("down", Status::Unhealthy, long_ago())
        .with("down2", Status::Unhealthy, long_ago());
    let plan = chain(&config, &health, &["down", "down2", "a"]);
    assert_eq!(plan.trial.as_deref(), Some("down"));
    assert_eq!(plan.order, names(&["down", "a"]));
    assert_eq!(skipped(&plan), [("down2", Status::Unhealthy)]);

    // Behind a routable model it would not be reached: no trial.
    let plan = chain(&config, &health, &["a", "down"]);
    assert_eq!(
        (plan.order.clone(), plan.trial.clone()),
        (names(&["a"]), None)
    );
    assert_eq!(skipped(&plan), [("down", Status::Unhealthy)]);

    // Within its period: skipped, no trial.
    let health = Table::default().with("down", Status::Unhealthy, recently());
    let plan = chain(&config, &health, &["down", "a"]);
    assert_eq!((plan.order.clone(), plan.trial), (names(&["a"]), None));
}

#[test]
fn only_an_unhealthy_model_gets_a_trial() {
    let config = config(&["limited", "wrong", "a"]);
    // Never tried, so a trial would be due: the status alone says no.
    let health = Table::default()
        .with("limited", Status::RateLimited, None)
        .with("wrong", Status::Misconfigured, None);
    let plan = chain(&config, &health, &["limited", "wrong", "a"]);
    assert_eq!(plan.trial, None);
    assert_eq!(plan.order, names(&["a"]));
    assert_eq!(
        skipped(&plan),
        [
            ("limited", Status::RateLimited),
            ("wrong", Status::Misconfigured)
        ]
    );
}

#[test]
fn a_trial_with_nothing_to_race_is_the_last_resort_and_its_skip_keeps_its_place() {
    let config = config(&["down"]);
    let health = Table::default().with("down", Status::Unhealthy, long_ago());
    let plan = chain(&config, &health, &["ghost", "down", "phantom"]);
    assert_eq!(plan.trial, None, "alone, nothing to race");
    assert!(plan.last_resort);
    assert_eq!(plan.order, names(&["down"]));
    assert_eq!(
        skipped(&plan),
        [
            ("ghost", Status::Misconfigured),
            ("down", Status::Unhealthy),
            ("phantom", Status::Misconfigured)
        ],
        "in chain order"
    );
    let before: Vec<String> = plan
        .skipped_before("down")
        .into_iter()
        .map(|s| s.model)
        .collect();
    assert_eq!(before, names(&["ghost"]));
}

#[test]
fn a_tier_target_escalates_cheapest_first_and_groups_by_tier() {
    let mut config = config(&["a", "b", "c", "d", "down"]);
    config.tiers = crate::config::Tiers {
        budget: names(&["a", "down", "b"]),
        // "a" is in two tiers: tried once, in the cheaper.
        standard: names(&["a", "c"]),
        premium: names(&["d"]),
    };
    let health = Table::default().with("down", Status::Unhealthy, recently());
    let at = |first| plan(&config, &health, &[], &RouteTarget::Tier(first), now());

    let budget = at(Tier::Budget);
    assert_eq!(budget.order, names(&["a", "b", "c", "d"]));
    assert_eq!(
        budget.tiers,
        [
            (Tier::Budget, names(&["a", "b"])),
            (Tier::Standard, names(&["c"])),
            (Tier::Premium, names(&["d"]))
        ]
    );
    assert_eq!(skipped(&budget), [("down", Status::Unhealthy)]);

    let standard = at(Tier::Standard);
    assert_eq!(standard.order, names(&["a", "c", "d"]));
    assert_eq!(
        standard.tiers,
        [
            (Tier::Standard, names(&["a", "c"])),
            (Tier::Premium, names(&["d"]))
        ]
    );
    assert!(standard.skipped.is_empty());
}

#[test]
fn one_model_is_tried_whatever_its_health_if_configured() {
    let config = config(&["down"]);
    let health = Table::default().with("down", Status::Unhealthy, recently());
    let one = |name: &str| {
        plan(
            &config,
            &health,
            &names(&["ignored"]),
            &RouteTarget::Model(name.to_string()),
            now(),
        )
    };
    let plan = one("down");
    assert_eq!(plan.order, names(&["down"]));
    assert!(plan.skipped.is_empty() && !plan.last_resort && plan.trial.is_none());
    let plan = one("ghost");
    assert!(plan.order.is_empty());
    assert_eq!(skipped(&plan), [("ghost", Status::Misconfigured)]);
}
