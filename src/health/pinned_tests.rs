//! What the second mutation run (issue 10, item 8) found the health tests
//! did not pin down: the events `record_attempt` returns, how an event
//! reads, what another process shares (`from_samples`), when a streak
//! re-admits, and the failure log's emptiness (what the state file skips).
//! Each test asserts the behaviour a surviving mutant changed; see
//! docs/testing.md.

use std::time::Duration;

use super::tests::{book, fail_at, feed, ok_at, t};
use super::*;
use crate::api::{Attempt, Failure, FailureClass};

#[test]
fn record_attempt_reports_the_change_it_makes() {
    let mut b = book();
    let mut attempt = Attempt::blank(t(0), Duration::from_millis(300));
    attempt.failure = Some(Failure {
        class: FailureClass::ServerError,
        message: "provider unavailable".into(),
        retry_after: None,
    });
    attempt.http_status = Some(502);
    let events = b.record_attempt("m", &attempt, SampleKind::Prompt, t(0));
    assert!(
        matches!(
            events.as_slice(),
            [HealthEvent {
                kind: HealthEventKind::State {
                    from: Status::Unknown,
                    to: Status::Unhealthy,
                    ..
                },
                ..
            }]
        ),
        "{events:?}"
    );
    assert_eq!(events[0].model, "m");
    let failures = b.failures_since(t(0));
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].1.kind, SampleKind::Prompt, "the kind is kept");
    // The same again changes nothing: no event.
    assert!(b
        .record_attempt("m", &attempt, SampleKind::Prompt, t(1))
        .is_empty());
}

#[test]
fn an_event_reads_as_one_line() {
    let state = HealthEvent {
        at: t(0),
        model: "fast".into(),
        kind: HealthEventKind::State {
            from: Status::Healthy,
            to: Status::Unhealthy,
            reason: "3/5 ok".into(),
        },
    };
    assert_eq!(state.to_string(), "fast  healthy → unhealthy  (3/5 ok)");
    let drift = HealthEvent {
        at: t(0),
        model: "fast".into(),
        kind: HealthEventKind::Drift {
            from: "gpt-4o-2024-08-06".into(),
            to: "gpt-4o-2024-11-20".into(),
        },
    };
    assert_eq!(
        drift.to_string(),
        "fast  served model changed: gpt-4o-2024-08-06 → gpt-4o-2024-11-20"
    );
}

#[test]
fn an_empty_failure_log_is_left_out_of_the_state_file() {
    let mut m = ModelHealth::new("openai/gpt-4o");
    assert!(m.failures().is_empty());
    let json = serde_json::to_value(&m).unwrap();
    assert!(json.get("failures").is_none(), "{json}");
    let policy = HealthPolicy::default();
    let (s, o) = fail_at(0, FailureClass::Timeout, None);
    m.record(&policy, s, o);
    assert!(!m.failures().is_empty());
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(json["failures"].as_array().map(Vec::len), Some(1));
}

#[test]
fn what_another_process_shared_is_a_model_of_its_own() {
    let failure = |secs, class| FailureRecord {
        at: t(secs),
        class,
        http_status: Some(502),
        kind: SampleKind::Prompt,
        message: format!("failed at {secs}"),
    };
    // Out of order, and more than the ring holds.
    let mut samples: Vec<Sample> = (0..RING_CAP as i64 + 10)
        .rev()
        .map(|i| Sample::ok(t(i), Duration::from_millis(100)))
        .collect();
    samples.push(Sample::failed(
        t(5),
        FailureClass::ServerError,
        Duration::from_millis(50),
    ));
    let shared = ModelHealth::from_samples(
        "openai/gpt-4o",
        samples,
        vec![
            failure(700, FailureClass::Timeout),
            failure(5, FailureClass::ServerError),
        ],
    );
    assert_eq!(shared.id, "openai/gpt-4o");
    assert_eq!(shared.failures().len(), 2);
    let times: Vec<_> = shared.failures().iter().map(|f| f.at).collect();
    assert_eq!(times, [t(5), t(700)], "oldest first");
    // The newest of the failures is the last one, even given first.
    let policy = HealthPolicy {
        window: Duration::from_secs(86_400),
        ..HealthPolicy::default()
    };
    let snap = shared.snapshot("m", &policy, t(600));
    let last = snap.last_failure.unwrap();
    assert_eq!((last.at, last.class), (t(700), FailureClass::Timeout));
    assert_eq!(last.message, "failed at 700");
    assert_eq!(snap.last_success, Some(t(RING_CAP as i64 + 9)));
    // Only the newest RING_CAP samples are kept, the oldest dropped.
    assert_eq!(shared.last_attempt(), Some(t(RING_CAP as i64 + 9)));
    let mut mine = ModelHealth::new("openai/gpt-4o");
    assert_eq!(mine.absorb(&policy, &shared, t(600)), RING_CAP);
    let snap = mine.snapshot("m", &policy, t(600));
    assert_eq!(snap.samples as usize, RING_CAP);
    assert_eq!((snap.ok, snap.counted), (RING_CAP as u32, RING_CAP as u32));
}

#[test]
fn a_streak_on_a_healthy_model_re_admits_nothing() {
    // Twenty successes, a failure, three successes: 23/24 is above the
    // threshold when the streak reaches `recover_after`, so the model was
    // never down and nothing re-admitted it. Once the first twenty leave
    // the window, 3/4 is unhealthy, not "recovering".
    let policy = HealthPolicy {
        window: Duration::from_secs(100),
        ..HealthPolicy::default()
    };
    let mut b = HealthBook::new(policy);
    b.add_model("m", "openai/gpt-4o");
    let mut items: Vec<_> = (0..20).map(ok_at).collect();
    items.push(fail_at(50, FailureClass::ServerError, Some(502)));
    items.extend([ok_at(51), ok_at(52), ok_at(53)]);
    feed(&mut b, items);
    assert_eq!(b.status("m", t(53)), Some(Status::Healthy));
    let snap = b.snapshot("m", t(125)).unwrap();
    assert_eq!((snap.ok, snap.counted), (3, 4));
    assert_eq!(snap.status, Status::Unhealthy, "{}", snap.reason);
    assert_eq!(snap.recovery, None);
}

#[test]
fn a_streak_another_process_saw_counts_toward_re_admission() {
    // Down here at 10; another process saw two successes since. With the
    // third, here, the streak that began at 20 re-admits the model.
    let policy = HealthPolicy::default();
    let mut mine = ModelHealth::new("openai/gpt-4o");
    let (s, o) = fail_at(10, FailureClass::ServerError, Some(502));
    mine.record(&policy, s, o);
    let mut theirs = ModelHealth::new("openai/gpt-4o");
    for (s, o) in [ok_at(20), ok_at(30)] {
        theirs.record(&policy, s, o);
    }
    assert_eq!(mine.absorb(&policy, &theirs, t(35)), 2);
    assert_eq!(
        mine.status(&policy, t(35)).0,
        Status::Unhealthy,
        "2 in a row"
    );
    let (s, o) = ok_at(40);
    mine.record(&policy, s, o);
    let snap = mine.snapshot("m", &policy, t(40));
    assert_eq!(snap.status, Status::Recovering, "{}", snap.reason);
    let recovery = snap.recovery.unwrap();
    assert_eq!((recovery.since, recovery.ok), (t(20), 3));
}

#[test]
fn a_recovery_counts_only_the_samples_since_re_admission() {
    // Re-admitted at 30 (three successes after the failure at 10); another
    // process saw a success at 20 that this one had not: it belongs to the
    // window, not to the recovery.
    let policy = HealthPolicy::default();
    let mut mine = ModelHealth::new("openai/gpt-4o");
    for (s, o) in [
        fail_at(10, FailureClass::ServerError, Some(502)),
        ok_at(30),
        ok_at(40),
        ok_at(50),
    ] {
        mine.record(&policy, s, o);
    }
    let mut theirs = ModelHealth::new("openai/gpt-4o");
    let (s, o) = ok_at(20);
    theirs.record(&policy, s, o);
    assert_eq!(mine.absorb(&policy, &theirs, t(55)), 1);
    let snap = mine.snapshot("m", &policy, t(55));
    assert_eq!((snap.ok, snap.counted), (4, 5));
    assert_eq!(snap.status, Status::Recovering, "{}", snap.reason);
    let recovery = snap.recovery.unwrap();
    assert_eq!(
        (recovery.since, recovery.ok, recovery.counted),
        (t(30), 3, 3)
    );
}

#[test]
fn a_saved_recovery_that_a_later_failure_undid_is_over() {
    // A state file (an older writer's, or edited by hand) that still says
    // "re-admitted at 30" although its samples hold a counted failure
    // after that: the samples win, the model is down.
    let policy = HealthPolicy::default();
    let mut saved = ModelHealth::new("openai/gpt-4o");
    for (s, o) in [
        fail_at(10, FailureClass::ServerError, Some(502)),
        ok_at(30),
        ok_at(40),
        ok_at(50),
    ] {
        saved.record(&policy, s, o);
    }
    assert_eq!(saved.status(&policy, t(50)).0, Status::Recovering);
    let mut json = serde_json::to_value(&saved).unwrap();
    let late = serde_json::to_value(Sample::failed(
        t(60),
        FailureClass::Timeout,
        Duration::from_millis(100),
    ))
    .unwrap();
    json["samples"].as_array_mut().unwrap().push(late);
    let read: ModelHealth = serde_json::from_value(json).unwrap();
    let snap = read.snapshot("m", &policy, t(70));
    assert_eq!((snap.ok, snap.counted), (3, 5));
    assert_eq!(snap.status, Status::Unhealthy, "{}", snap.reason);
    assert_eq!(snap.recovery, None);
}

#[test]
fn ratios_and_speed_are_reported() {
    let policy = HealthPolicy::default();
    let mut m = ModelHealth::new("openai/gpt-4o");
    let empty = m.snapshot("m", &policy, t(0));
    assert_eq!((empty.ratio, empty.lifetime_ratio), (None, None));
    for (i, speed) in [40.0_f32, 42.5, 90.0].into_iter().enumerate() {
        let (mut s, o) = ok_at(i as i64);
        s.tokens_per_s = Some(speed);
        m.record(&policy, s, o);
    }
    let (s, o) = fail_at(5, FailureClass::ServerError, Some(502));
    m.record(&policy, s, o);
    let snap = m.snapshot("m", &policy, t(6));
    assert_eq!(snap.ratio, Some(0.75), "the window's");
    assert_eq!(snap.lifetime_ratio, Some(0.75));
    // The median of 40, 42.5 and 90 tokens/s.
    assert_eq!(snap.tokens_per_s, Some(42.5));
}

#[test]
fn a_reply_is_kept_only_when_there_is_one() {
    let mut attempt = Attempt::blank(t(0), Duration::from_millis(300));
    attempt.reply = "pong".into();
    let (_, obs) = Observation::from_attempt(&attempt);
    assert_eq!(obs.reply.as_deref(), Some("pong"));
    let mut b = book();
    b.record_attempt("m", &attempt, SampleKind::Probe, t(0));
    // An empty reply (a stream that ended at once) does not erase it.
    let empty = Attempt::blank(t(1), Duration::from_millis(300));
    let (_, obs) = Observation::from_attempt(&empty);
    assert_eq!(obs.reply, None);
    let mut failed = empty.clone();
    failed.failure = Some(Failure {
        class: FailureClass::Timeout,
        message: "no first token".into(),
        retry_after: None,
    });
    b.record_attempt("m", &failed, SampleKind::Probe, t(1));
    let snap = b.snapshot("m", t(1)).unwrap();
    assert_eq!(snap.last_reply.as_deref(), Some("pong"));
}

#[test]
fn sample_kinds_and_providers_in_words() {
    for kind in [SampleKind::Probe, SampleKind::Prompt, SampleKind::Traffic] {
        // The word is the one the state file and the JSON output use.
        let json = serde_json::to_string(&kind).unwrap();
        assert_eq!(json, format!("\"{}\"", kind.as_str()));
    }
    assert_eq!(SampleKind::Prompt.as_str(), "prompt");
    assert_eq!(provider_of("openai/gpt-4o"), "openai");
    assert_eq!(provider_of("gpt-4o"), "gpt-4o");
}

#[test]
fn a_speed_that_is_no_speed_is_left_out() {
    let policy = HealthPolicy::default();
    let speeds_of = |speeds: &[f32]| {
        let mut m = ModelHealth::new("openai/gpt-4o");
        for (i, speed) in speeds.iter().enumerate() {
            let (mut s, o) = ok_at(i as i64);
            s.tokens_per_s = Some(*speed);
            m.record(&policy, s, o);
        }
        m.snapshot("m", &policy, t(10)).tokens_per_s
    };
    assert_eq!(speeds_of(&[-5.0, 40.0]), Some(40.0), "negative");
    assert_eq!(
        speeds_of(&[f32::INFINITY, f32::INFINITY, 40.0]),
        Some(40.0),
        "infinite"
    );
    assert_eq!(speeds_of(&[f32::NAN]), None);
}
