//! `recovering`, edge by edge, with chosen times: re-admission, promotion at
//! `recover_after` × 2, the outage leaving the window, a failure while
//! recovering, a restart from a saved state mid-recovery, and what another
//! process saved.
//!
//! The story in every test (default policy: window 15 min, > 95%,
//! `recover_after` = 3): ten successes, a 502 at 100 s, then successes
//! every 10 s from 110 s. The third of them (130 s) re-admits the model;
//! the sixth (160 s) makes it healthy although the window (16/17 ok) still
//! holds the outage; at 200 s the window alone is above 95% again.

use std::time::Duration;

use super::tests::{book, fail_at, feed, ok_at, t};
use super::*;
use crate::api::FailureClass;

/// Ten successes, the 502 at 100 s, then successes at 110, 120, … `until`.
fn outage_then_ok_until(until: i64) -> (HealthBook, Vec<HealthEvent>) {
    let mut b = book();
    let mut items: Vec<_> = (0..10).map(|i| ok_at(i * 10)).collect();
    items.push(fail_at(100, FailureClass::ServerError, Some(502)));
    items.extend((110..=until).step_by(10).map(ok_at));
    let events = feed(&mut b, items);
    (b, events)
}

fn transitions(events: &[HealthEvent]) -> Vec<(Status, Status)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            HealthEventKind::State { from, to, .. } => Some((*from, *to)),
            HealthEventKind::Drift { .. } => None,
        })
        .collect()
}

fn reason_of(events: &[HealthEvent], to_status: Status) -> String {
    events
        .iter()
        .find_map(|e| match &e.kind {
            HealthEventKind::State { to, reason, .. } if *to == to_status => Some(reason.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no event to {to_status}: {events:?}"))
}

#[test]
fn re_admission_is_recovering_not_healthy() {
    let (b, events) = outage_then_ok_until(120);
    assert_eq!(b.status("m", t(120)), Some(Status::Unhealthy), "2 of 3");
    assert!(b.snapshot("m", t(120)).unwrap().recovery.is_none());

    let (b, events_after) = outage_then_ok_until(130);
    let new: Vec<_> = events_after[events.len()..].to_vec();
    assert_eq!(transitions(&new), [(Status::Unhealthy, Status::Recovering)]);
    let snap = b.snapshot("m", t(130)).unwrap();
    assert_eq!(snap.status, Status::Recovering);
    assert!(
        snap.status.is_routable(),
        "re-admitted: the router may use it"
    );
    assert_eq!(
        (snap.ok, snap.counted),
        (13, 14),
        "the window holds the 502"
    );
    let r = snap
        .recovery
        .expect("judged on the samples since re-admission");
    assert_eq!(r.since, t(110), "the streak that re-admitted it");
    assert_eq!((r.ok, r.counted, r.needed), (3, 3, 6));
    assert!(!r.is_complete());
    assert_eq!(r.outage_leaves_at, Some(t(100 + 900)));
    assert_eq!(
        snap.reason,
        "re-admitted after an outage: 3/3 ok since, healthy at 6; 92.9% in the window (13/14 ok)"
    );
    assert_eq!(reason_of(&new, Status::Recovering), snap.reason);
}

#[test]
fn promoted_at_twice_recover_after_while_the_window_still_holds_the_outage() {
    let (b, _) = outage_then_ok_until(150);
    let snap = b.snapshot("m", t(150)).unwrap();
    assert_eq!(snap.status, Status::Recovering, "5 of the 6 needed");
    assert_eq!(snap.recovery.map(|r| r.counted), Some(5));

    let (b, events) = outage_then_ok_until(160);
    assert_eq!(b.status("m", t(160)), Some(Status::Healthy));
    assert_eq!(
        transitions(&events),
        [
            (Status::Unknown, Status::Healthy),
            (Status::Healthy, Status::Unhealthy),
            (Status::Unhealthy, Status::Recovering),
            (Status::Recovering, Status::Healthy),
        ]
    );
    let snap = b.snapshot("m", t(160)).unwrap();
    // Healthy beside 94.1%: the snapshot says why, so no screen has to
    // show a plain "healthy" beside a low ratio.
    assert_eq!((snap.ok, snap.counted), (16, 17));
    let r = snap.recovery.expect("the window still holds the outage");
    assert!(r.is_complete());
    assert_eq!(
        snap.reason,
        "recovered: 6/6 ok since re-admission; the window (16/17 ok, 94.1%) still holds the outage"
    );
    // 20/21 ok is above 95% by the window alone: the recovery is history.
    let (b, _) = outage_then_ok_until(200);
    let snap = b.snapshot("m", t(200)).unwrap();
    assert_eq!((snap.status, snap.recovery), (Status::Healthy, None));
    assert_eq!(snap.reason, "20/21 ok");
}

#[test]
fn the_outage_leaving_the_window_ends_the_recovery_early() {
    let (mut b, _) = outage_then_ok_until(130);
    assert_eq!(b.status("m", t(130)), Some(Status::Recovering));
    // Just before the 502 leaves the window: still recovering.
    assert!(b.tick(t(1000)).is_empty());
    assert_eq!(b.status("m", t(1000)), Some(Status::Recovering));
    let events = b.tick(t(1001));
    assert_eq!(
        transitions(&events),
        [(Status::Recovering, Status::Healthy)]
    );
    let snap = b.snapshot("m", t(1001)).unwrap();
    assert_eq!(snap.recovery, None);
    assert_eq!((snap.ok, snap.counted), (3, 3));
}

#[test]
fn a_failure_while_recovering_is_unhealthy_again_and_re_admission_starts_over() {
    let (mut b, _) = outage_then_ok_until(140);
    assert_eq!(b.status("m", t(140)), Some(Status::Recovering));
    let events = feed(&mut b, vec![fail_at(150, FailureClass::Timeout, None)]);
    assert_eq!(
        transitions(&events),
        [(Status::Recovering, Status::Unhealthy)]
    );
    let snap = b.snapshot("m", t(150)).unwrap();
    assert_eq!(snap.recovery, None);
    assert!(
        snap.reason.starts_with("14/16 ok; last: timeout"),
        "{}",
        snap.reason
    );
    // A 429 is not counted: it neither ends a streak nor re-admits.
    feed(
        &mut b,
        vec![
            ok_at(160),
            ok_at(170),
            fail_at(175, FailureClass::RateLimited, Some(429)),
        ],
    );
    assert_eq!(b.status("m", t(175)), Some(Status::RateLimited));
    assert_eq!(b.snapshot("m", t(175)).unwrap().recovery, None);
    let events = feed(&mut b, vec![ok_at(210)]);
    assert_eq!(
        transitions(&events),
        [(Status::RateLimited, Status::Recovering)],
        "three in a row since the timeout"
    );
    let r = b.snapshot("m", t(210)).unwrap().recovery.unwrap();
    assert_eq!((r.since, r.ok, r.counted), (t(160), 3, 3));
    assert_eq!(r.outage_leaves_at, Some(t(150 + 900)));
}

#[test]
fn a_cool_down_while_recovering_shows_the_cool_down_then_the_recovery() {
    let (mut b, _) = outage_then_ok_until(130);
    let (s, mut o) = fail_at(135, FailureClass::RateLimited, Some(429));
    o.retry_after = Some(Duration::from_secs(20));
    let events = b.record("m", s, o, t(135));
    assert_eq!(
        transitions(&events),
        [(Status::Recovering, Status::RateLimited)]
    );
    assert_eq!(b.snapshot("m", t(140)).unwrap().recovery, None);
    let events = b.tick(t(156));
    assert_eq!(
        transitions(&events),
        [(Status::RateLimited, Status::Recovering)]
    );
}

#[test]
fn drift_while_recovering_is_noted_but_recovering_wins() {
    let (mut b, _) = outage_then_ok_until(120);
    let served = |secs, model: &str| {
        (
            Sample::ok(t(secs), Duration::from_millis(500)),
            Observation {
                served_model: Some(model.into()),
                ..Observation::default()
            },
        )
    };
    feed(&mut b, vec![served(125, "a"), served(130, "b")]);
    let snap = b.snapshot("m", t(130)).unwrap();
    assert_eq!(snap.status, Status::Recovering);
    assert!(
        snap.reason.ends_with("; served model changed: a → b"),
        "{}",
        snap.reason
    );
    // Once recovered, the drift makes it degraded until acknowledged.
    feed(&mut b, (140..=160).step_by(10).map(ok_at).collect());
    assert_eq!(b.status("m", t(160)), Some(Status::Degraded));
    b.acknowledge_drift("m", t(161));
    assert_eq!(b.status("m", t(161)), Some(Status::Healthy));
}

#[test]
fn a_restart_mid_recovery_stays_recovering_and_finishes_it() {
    let (b, _) = outage_then_ok_until(140);
    let saved = serde_json::to_string(b.model("m").unwrap()).unwrap();

    let mut restored = HealthBook::new(HealthPolicy::default());
    restored.restore("m", "openai/gpt-4o", serde_json::from_str(&saved).unwrap());
    restored.settle(t(145));
    assert!(restored.tick(t(145)).is_empty(), "no event for known state");
    let snap = restored.snapshot("m", t(145)).unwrap();
    assert_eq!(snap.status, Status::Recovering);
    let r = snap.recovery.unwrap();
    assert_eq!((r.since, r.counted), (t(110), 4));

    let events = feed(&mut restored, vec![ok_at(150)]);
    assert!(transitions(&events).is_empty(), "5 of 6: {events:?}");
    let events = feed(&mut restored, vec![ok_at(160)]);
    assert_eq!(
        transitions(&events),
        [(Status::Recovering, Status::Healthy)]
    );
    // And a failure after the restart still ends a recovery.
    let (b, _) = outage_then_ok_until(130);
    let saved = serde_json::to_string(b.model("m").unwrap()).unwrap();
    let mut restored = HealthBook::new(HealthPolicy::default());
    restored.restore("m", "openai/gpt-4o", serde_json::from_str(&saved).unwrap());
    restored.settle(t(131));
    let events = feed(
        &mut restored,
        vec![fail_at(140, FailureClass::ServerError, Some(503))],
    );
    assert_eq!(
        transitions(&events),
        [(Status::Recovering, Status::Unhealthy)]
    );
}

#[test]
fn a_failure_another_process_saw_ends_the_recovery() {
    let (mut here, _) = outage_then_ok_until(130);
    assert_eq!(here.status("m", t(130)), Some(Status::Recovering));
    // `check` in another process saw it fail at 135 and saved that.
    let mut there = here.clone();
    feed(
        &mut there,
        vec![fail_at(135, FailureClass::ServerError, Some(502))],
    );
    let theirs = there.model("m").unwrap().clone();
    let events = here.absorb("m", &theirs, t(136));
    assert_eq!(
        transitions(&events),
        [(Status::Recovering, Status::Unhealthy)]
    );
    // The streak starts again after that failure: three more re-admit it.
    feed(&mut here, vec![ok_at(140), ok_at(150)]);
    assert_eq!(here.status("m", t(150)), Some(Status::Unhealthy));
    feed(&mut here, vec![ok_at(160)]);
    assert_eq!(here.status("m", t(160)), Some(Status::Recovering));
    let r = here.snapshot("m", t(160)).unwrap().recovery.unwrap();
    assert_eq!((r.since, r.counted), (t(140), 3));
}

#[test]
fn recover_after_sets_the_bar() {
    let mut b = HealthBook::new(HealthPolicy {
        recover_after: 1,
        ..HealthPolicy::default()
    });
    b.add_model("m", "x/y");
    let mut events = Vec::new();
    for (s, o) in [
        fail_at(0, FailureClass::ServerError, Some(502)),
        ok_at(10),
        ok_at(20),
    ] {
        let now = s.at;
        events.extend(b.record("m", s, o, now));
    }
    assert_eq!(
        transitions(&events),
        [
            (Status::Unknown, Status::Unhealthy),
            (Status::Unhealthy, Status::Recovering),
            (Status::Recovering, Status::Healthy),
        ],
        "one ok re-admits, two make it healthy"
    );
}
