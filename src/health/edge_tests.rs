//! The edges of the verdict, each at its exact boundary: the end of a 429
//! cool-down, p95 equal to `slow`, a sample exactly one window old, a ratio
//! exactly at the threshold when a streak re-admits, what another process
//! saved (`absorb`), drift and missing-key reporting, and the running
//! figures when they cannot be trusted (a state read without `restore`, a
//! full ring merged). Each test was written against a mutant that the first
//! mutation run (issue 10) found alive; see docs/testing.md.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::model::backoff;
use super::tests::{book, fail_at, feed, ok_at, t};
use super::*;
use crate::api::FailureClass;

fn ok_in(secs: i64, latency_ms: u64) -> (Sample, Observation) {
    (
        Sample::ok(t(secs), Duration::from_millis(latency_ms)),
        Observation::default(),
    )
}

fn health_of(items: Vec<(Sample, Observation)>) -> ModelHealth {
    let mut m = ModelHealth::new("openai/gpt-4o");
    let policy = HealthPolicy::default();
    for (s, o) in items {
        m.record(&policy, s, o);
    }
    m
}

#[test]
fn a_cool_down_ends_exactly_at_its_end() {
    let mut b = book();
    let (s, mut o) = fail_at(0, FailureClass::RateLimited, Some(429));
    o.retry_after = Some(Duration::from_secs(45));
    b.record("m", s, o, t(0));
    let snap = b.snapshot("m", t(0)).unwrap();
    assert_eq!(snap.reason, "429; cooling down for 45s more");
    assert_eq!(snap.rate_limited_until, Some(t(45)));
    let almost = t(44) + chrono::Duration::milliseconds(500);
    let snap = b.snapshot("m", almost).unwrap();
    assert_eq!(snap.status, Status::RateLimited);
    assert_eq!(
        snap.reason, "429; cooling down for 1s more",
        "never \"0s more\""
    );
    // At the instant it ends, it has ended.
    let snap = b.snapshot("m", t(45)).unwrap();
    assert_eq!(snap.status, Status::Unknown);
    assert_eq!(snap.rate_limited_until, None);
    assert_eq!(
        b.model("m").unwrap().rate_limited_until(),
        Some(t(45)),
        "the end is still known"
    );
}

#[test]
fn rate_limit_backoff_doubles_up_to_five_minutes() {
    let secs: Vec<u64> = (1..=6).map(|n| backoff(n).as_secs()).collect();
    assert_eq!(secs, [30, 60, 120, 240, 300, 300]);
    assert_eq!(backoff(0).as_secs(), 30);
    // A success ends the series: the next 429 starts from 30 s again.
    let mut b = book();
    feed(
        &mut b,
        vec![
            fail_at(0, FailureClass::RateLimited, Some(429)),
            fail_at(40, FailureClass::RateLimited, Some(429)),
            ok_at(200),
            fail_at(210, FailureClass::RateLimited, Some(429)),
        ],
    );
    assert_eq!(
        b.snapshot("m", t(210)).unwrap().rate_limited_until,
        Some(t(240))
    );
}

#[test]
fn p95_equal_to_slow_is_not_slow() {
    let slow_book = |latency_ms: u64| {
        let mut b = HealthBook::new(HealthPolicy {
            slow: Some(Duration::from_secs(2)),
            ..HealthPolicy::default()
        });
        b.add_model("m", "x/y");
        for i in 0..20 {
            let (s, o) = ok_in(i, latency_ms);
            b.record("m", s, o, t(i));
        }
        b.snapshot("m", t(19)).unwrap()
    };
    let at_bound = slow_book(2_000);
    assert_eq!(at_bound.latency.unwrap().p95, Duration::from_secs(2));
    assert_eq!(at_bound.status, Status::Healthy, "{}", at_bound.reason);
    let over = slow_book(2_001);
    assert_eq!(over.status, Status::Degraded);
    assert!(
        over.reason.ends_with("slow: p95 2.0s > 2.0s"),
        "{}",
        over.reason
    );
}

#[test]
fn a_sample_exactly_one_window_old_still_counts() {
    let window = HealthPolicy::default().window.as_secs() as i64;
    let mut b = book();
    feed(
        &mut b,
        vec![fail_at(0, FailureClass::ServerError, Some(502)), ok_at(10)],
    );
    // Recorded at the very edge: the failure is exactly one window old.
    feed(&mut b, vec![ok_at(window)]);
    let snap = b.snapshot("m", t(window)).unwrap();
    assert_eq!((snap.ok, snap.counted, snap.samples), (2, 3, 3));
    assert_eq!(snap.status, Status::Unhealthy);
    // A second later it has left.
    b.tick(t(window + 1));
    let snap = b.snapshot("m", t(window + 1)).unwrap();
    assert_eq!((snap.ok, snap.counted), (2, 2));
    assert_eq!(snap.status, Status::Healthy);
}

#[test]
fn a_streak_re_admits_when_the_ratio_is_exactly_the_threshold() {
    // 16 ok, a failure, 3 ok: 19/20 = 95%, not above the threshold, and
    // the third success of the streak re-admits the model.
    let mut b = book();
    let mut items: Vec<_> = (0..16).map(|i| ok_at(i * 10)).collect();
    items.push(fail_at(160, FailureClass::ServerError, Some(502)));
    items.extend([ok_at(170), ok_at(180)]);
    feed(&mut b, items);
    assert_eq!(b.status("m", t(180)), Some(Status::Unhealthy));
    feed(&mut b, vec![ok_at(190)]);
    let snap = b.snapshot("m", t(190)).unwrap();
    assert_eq!((snap.ok, snap.counted), (19, 20));
    assert_eq!(snap.status, Status::Recovering, "{}", snap.reason);
    let recovery = snap.recovery.unwrap();
    assert_eq!(
        (recovery.since, recovery.ok, recovery.needed),
        (t(170), 3, 6)
    );
    assert_eq!(recovery.outage_leaves_at, Some(t(160 + 15 * 60)));
}

#[test]
fn absorb_counts_what_another_process_saw_once() {
    let policy = HealthPolicy::default();
    let mut mine = health_of(vec![ok_at(100), ok_at(110)]);
    // The other process kept a longer window.
    let mut theirs = ModelHealth::new("openai/gpt-4o");
    let long = HealthPolicy {
        window: Duration::from_secs(86_400),
        ..HealthPolicy::default()
    };
    for (s, o) in [
        // Older than this window at t(200): left out.
        ok_at(-1000),
        // Seen by both: not counted twice.
        ok_at(110),
        ok_at(120),
        fail_at(130, FailureClass::ServerError, Some(502)),
        ok_at(140),
    ] {
        theirs.record(&long, s, o);
    }
    let n = mine.absorb(&policy, &theirs, t(200));
    assert_eq!(n, 3, "120, 130 and 140 are new");
    let snap = mine.snapshot("m", &policy, t(200));
    assert_eq!((snap.ok, snap.counted, snap.samples), (4, 5, 5));
    assert_eq!((snap.lifetime_ok, snap.lifetime_counted), (4, 5));
    assert_eq!(snap.last_failure.as_ref().map(|f| f.at), Some(t(130)));
    assert_eq!(snap.last_success, Some(t(140)));
    assert_eq!(snap.status, Status::Unhealthy);
    // Absorbing the same again changes nothing.
    assert_eq!(mine.absorb(&policy, &theirs, t(200)), 0);
    let again = mine.snapshot("m", &policy, t(200));
    assert_eq!((again.lifetime_ok, again.lifetime_counted), (4, 5));
}

#[test]
fn absorb_keeps_the_newer_of_the_two_last_failures() {
    let policy = HealthPolicy::default();
    let mut mine = health_of(vec![fail_at(150, FailureClass::Timeout, None)]);
    let theirs = health_of(vec![
        fail_at(100, FailureClass::ServerError, Some(502)),
        ok_at(160),
    ]);
    mine.absorb(&policy, &theirs, t(170));
    let snap = mine.snapshot("m", &policy, t(170));
    let last = snap.last_failure.unwrap();
    assert_eq!((last.at, last.class), (t(150), FailureClass::Timeout));
    assert_eq!(snap.last_success, Some(t(160)));
    // And the other way round.
    let mut mine = health_of(vec![fail_at(100, FailureClass::ServerError, Some(502))]);
    let theirs = health_of(vec![fail_at(150, FailureClass::Timeout, None)]);
    mine.absorb(&policy, &theirs, t(170));
    let last = mine.snapshot("m", &policy, t(170)).last_failure.unwrap();
    assert_eq!(last.class, FailureClass::Timeout);
}

#[test]
fn the_book_reports_a_change_that_absorbed_samples_make() {
    let mut b = book();
    feed(&mut b, vec![ok_at(0), ok_at(10)]);
    let mut other = book();
    feed(
        &mut other,
        vec![fail_at(20, FailureClass::ServerError, Some(502))],
    );
    let events = b.absorb("m", other.model("m").unwrap(), t(21));
    assert!(matches!(
        events.as_slice(),
        [HealthEvent {
            kind: HealthEventKind::State {
                from: Status::Healthy,
                to: Status::Unhealthy,
                ..
            },
            ..
        }]
    ));
    // History saved under another id (the name now means another model)
    // is not taken.
    let mut renamed = HealthBook::new(HealthPolicy::default());
    renamed.add_model("m", "anthropic/claude-sonnet-4");
    feed(&mut renamed, vec![ok_at(0)]);
    assert!(renamed
        .absorb("m", other.model("m").unwrap(), t(21))
        .is_empty());
    assert_eq!(renamed.snapshot("m", t(21)).unwrap().counted, 1);
}

#[test]
fn merging_into_a_full_ring_keeps_the_figures_true() {
    // A ring at its cap, merged with newer failures: the running figures
    // must describe the merged ring, not the one before.
    let policy = HealthPolicy {
        window: Duration::from_secs(7 * 86_400),
        ..HealthPolicy::default()
    };
    let mut mine = ModelHealth::new("x/y");
    for i in 0..RING_CAP as i64 {
        let (s, o) = ok_at(i);
        mine.record(&policy, s, o);
    }
    let mut theirs = ModelHealth::new("x/y");
    for i in 0..3 {
        let (s, o) = fail_at(10_000 + i, FailureClass::ServerError, Some(502));
        theirs.record(&policy, s, o);
    }
    assert_eq!(mine.absorb(&policy, &theirs, t(10_003)), 3);
    let snap = mine.snapshot("m", &policy, t(10_003));
    assert_eq!(snap.samples as usize, RING_CAP);
    assert_eq!(
        (snap.ok as usize, snap.counted as usize),
        (RING_CAP - 3, RING_CAP)
    );
    assert_eq!(snap.failures_by_class, [(FailureClass::ServerError, 3)]);
}

#[test]
fn a_state_read_without_restore_is_judged_from_its_samples() {
    let saved = health_of(vec![
        ok_at(0),
        ok_at(10),
        fail_at(20, FailureClass::ServerError, Some(502)),
    ]);
    let text = serde_json::to_string(&saved).unwrap();
    let mut read: ModelHealth = serde_json::from_str(&text).unwrap();
    let policy = HealthPolicy::default();
    let snap = read.snapshot("m", &policy, t(30));
    assert_eq!((snap.ok, snap.counted, snap.samples), (2, 3, 3));
    assert_eq!(snap.status, Status::Unhealthy);
    assert_eq!(read.status(&policy, t(30)).0, Status::Unhealthy);
    // Recording on it keeps the figures whole too.
    let (s, o) = ok_at(40);
    read.record(&policy, s, o);
    let snap = read.snapshot("m", &policy, t(40));
    assert_eq!((snap.ok, snap.counted, snap.samples), (3, 4, 4));
    assert_eq!(snap.latency.unwrap().samples, 3);
}

fn served(secs: i64, model: &str, by: Option<&str>) -> (Sample, Observation) {
    (
        Sample::ok(t(secs), Duration::from_millis(500)),
        Observation {
            served_model: Some(model.into()),
            served_by: by.map(Into::into),
            ..Observation::default()
        },
    )
}

#[test]
fn served_model_history_keeps_the_last_eight_changes() {
    let mut b = book();
    let items: Vec<_> = (0..12)
        .map(|i| served(i * 10, &format!("v{i}"), None))
        .collect();
    let events = feed(&mut b, items);
    let drifts = events
        .iter()
        .filter(|e| matches!(e.kind, HealthEventKind::Drift { .. }))
        .count();
    assert_eq!(drifts, 11);
    let snap = b.snapshot("m", t(110)).unwrap();
    assert_eq!(snap.served_history.len(), 8);
    assert_eq!(
        snap.served_history.first().map(|d| d.to.as_str()),
        Some("v4")
    );
    assert_eq!(
        snap.served_history
            .last()
            .map(|d| (d.from.as_str(), d.to.as_str())),
        Some(("v10", "v11"))
    );
    let mut b = book();
    feed(
        &mut b,
        vec![
            served(0, "a", None),
            served(10, "b", None),
            served(20, "c", None),
        ],
    );
    assert_eq!(b.snapshot("m", t(20)).unwrap().served_history.len(), 2);
}

#[test]
fn a_fingerprint_drift_names_the_model_and_both_prints() {
    let mut b = book();
    let fp = |secs, print: &str| {
        (
            Sample::ok(t(secs), Duration::from_millis(500)),
            Observation {
                served_model: Some("gpt-4o".into()),
                fingerprint: Some(print.into()),
                ..Observation::default()
            },
        )
    };
    // A reply without a fingerprint neither drifts nor forgets the last one.
    let no_print = (
        Sample::ok(t(5), Duration::from_millis(500)),
        Observation {
            served_model: Some("gpt-4o".into()),
            ..Observation::default()
        },
    );
    let events = feed(&mut b, vec![fp(0, "fp_a"), no_print, fp(10, "fp_b")]);
    let drift: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            HealthEventKind::Drift { from, to } => Some((from.clone(), to.clone())),
            HealthEventKind::State { .. } => None,
        })
        .collect();
    assert_eq!(
        drift,
        [("gpt-4o (fp_a)".to_string(), "gpt-4o (fp_b)".to_string())]
    );
    let snap = b.snapshot("m", t(10)).unwrap();
    assert_eq!(snap.drift.as_ref().map(|d| d.at), Some(t(10)));
    assert!(b.model("m").unwrap().drift().is_some());
    // Acknowledged: gone, and a second acknowledgement says nothing.
    assert_eq!(b.acknowledge_drift("m", t(11)).len(), 1);
    assert!(b.model("m").unwrap().drift().is_none());
    assert!(b.acknowledge_drift("m", t(12)).is_empty());
}

#[test]
fn the_serving_provider_is_kept_until_a_reply_names_another() {
    let mut b = book();
    feed(
        &mut b,
        vec![served(0, "x", Some("Together")), served(10, "x", None)],
    );
    assert_eq!(
        b.snapshot("m", t(10)).unwrap().served_by.as_deref(),
        Some("Together")
    );
    feed(&mut b, vec![served(20, "x", Some("Fireworks"))]);
    assert_eq!(
        b.snapshot("m", t(20)).unwrap().served_by.as_deref(),
        Some("Fireworks")
    );
}

#[test]
fn a_missing_key_is_reported_and_cleared_with_events() {
    let mut b = book();
    feed(&mut b, vec![ok_at(0)]);
    let events = b.set_missing_key("m", Some("OPENROUTER_API_KEY is not set".into()), t(1));
    assert!(matches!(
        events.as_slice(),
        [HealthEvent {
            kind: HealthEventKind::State {
                from: Status::Healthy,
                to: Status::Misconfigured,
                ..
            },
            ..
        }]
    ));
    assert_eq!(
        b.model("m").unwrap().missing_key(),
        Some("OPENROUTER_API_KEY is not set")
    );
    // Said again: no new event.
    assert!(b
        .set_missing_key("m", Some("OPENROUTER_API_KEY is not set".into()), t(2))
        .is_empty());
    // The key is back: healthy again, with an event.
    let events = b.set_missing_key("m", None, t(3));
    assert_eq!(events.len(), 1);
    assert_eq!(b.model("m").unwrap().missing_key(), None);
    assert_eq!(b.status("m", t(3)), Some(Status::Healthy));
    // A model the book does not know: nothing.
    assert!(b.set_missing_key("gone", Some("x".into()), t(4)).is_empty());
}

#[test]
fn an_empty_model_has_no_ratios() {
    let b = book();
    let snap = b.snapshot("m", t(0)).unwrap();
    assert_eq!(snap.ratio, None);
    assert_eq!(snap.lifetime_ratio, None);
    assert_eq!(snap.latency, None);
    assert_eq!(snap.tokens_per_s, None);
    assert!(snap.trend.is_empty());
    assert_eq!(snap.status, Status::Unknown);
}

#[test]
fn failures_by_class_most_first() {
    let mut b = book();
    feed(
        &mut b,
        vec![
            fail_at(0, FailureClass::Timeout, None),
            fail_at(1, FailureClass::ServerError, Some(502)),
            fail_at(2, FailureClass::ServerError, Some(502)),
            fail_at(3, FailureClass::ServerError, Some(502)),
            fail_at(4, FailureClass::Empty, None),
            fail_at(5, FailureClass::Empty, None),
        ],
    );
    let snap = b.snapshot("m", t(5)).unwrap();
    assert_eq!(
        snap.failures_by_class,
        [
            (FailureClass::ServerError, 3),
            (FailureClass::Empty, 2),
            (FailureClass::Timeout, 1)
        ]
    );
    assert_eq!(snap.lifetime_ratio, Some(0.0));
}

#[test]
fn restore_registers_a_name_once_in_order() {
    let mut b = HealthBook::new(HealthPolicy::default());
    b.add_model("a", "x/a");
    b.restore("b", "x/b", ModelHealth::default());
    b.restore("a", "x/a", ModelHealth::default());
    assert_eq!(b.names(), ["a", "b"]);
    assert_eq!(b.snapshots(t(0)).len(), 2);
    assert_eq!(b.model("b").unwrap().id, "x/b");
}

/// Statuses at `now` of every model, for a compact assertion.
fn statuses(b: &HealthBook, now: DateTime<Utc>) -> Vec<Status> {
    b.snapshots(now).into_iter().map(|s| s.status).collect()
}

#[test]
fn tick_reports_only_what_changed() {
    let mut b = HealthBook::new(HealthPolicy::default());
    b.add_model("a", "x/a");
    b.add_model("b", "x/b");
    b.record("a", ok_at(0).0, Observation::default(), t(0));
    let (s, mut o) = fail_at(0, FailureClass::RateLimited, Some(429));
    o.retry_after = Some(Duration::from_secs(30));
    b.record("b", s, o, t(0));
    assert_eq!(statuses(&b, t(1)), [Status::Healthy, Status::RateLimited]);
    assert!(b.tick(t(1)).is_empty());
    let events = b.tick(t(31));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].model, "b");
}
