//! The aggregator's rules, tested through the book with chosen times.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::model::{backoff, RATE_LIMIT_BACKOFF_MAX};
use super::*;
use crate::api::FailureClass;

pub(super) fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).single().unwrap()
}

pub(super) fn ok_at(secs: i64) -> (Sample, Observation) {
    (
        Sample::ok(t(secs), Duration::from_millis(800)),
        Observation::default(),
    )
}

pub(super) fn fail_at(
    secs: i64,
    class: FailureClass,
    status: Option<u16>,
) -> (Sample, Observation) {
    (
        Sample::failed(t(secs), class, Duration::from_millis(100)),
        Observation {
            http_status: status,
            message: Some("provider unavailable".into()),
            ..Observation::default()
        },
    )
}

pub(super) fn book() -> HealthBook {
    let mut b = HealthBook::new(HealthPolicy::default());
    b.add_model("m", "openai/gpt-4o");
    b
}

pub(super) fn feed(b: &mut HealthBook, items: Vec<(Sample, Observation)>) -> Vec<HealthEvent> {
    items
        .into_iter()
        .flat_map(|(s, o)| {
            let now = s.at;
            b.record("m", s, o, now)
        })
        .collect()
}

#[test]
fn statuses_from_sample_sequences() {
    use FailureClass::{Auth, BadRequest, Credits, Empty, NotFound, ServerError, Timeout};
    use Status::{Healthy, Misconfigured, Unhealthy, Unknown};
    const LIMITED: Status = Status::RateLimited;
    type Case = (&'static str, Vec<(Sample, Observation)>, Status);
    let table: Vec<Case> = vec![
        ("no samples", vec![], Unknown),
        ("one success", vec![ok_at(0)], Healthy),
        (
            "first failure with few samples",
            vec![ok_at(0), fail_at(60, ServerError, Some(502))],
            Unhealthy,
        ),
        ("only a failure", vec![fail_at(0, Timeout, None)], Unhealthy),
        (
            "19 of 20 is exactly 95%: not above the threshold",
            (0..19)
                .map(|i| ok_at(i * 10))
                .chain([fail_at(190, Empty, None)])
                .collect(),
            Unhealthy,
        ),
        (
            "429 is not counted but cools down",
            vec![ok_at(0), fail_at(10, FailureClass::RateLimited, Some(429))],
            LIMITED,
        ),
        (
            "auth is misconfigured",
            vec![ok_at(0), fail_at(10, Auth, Some(401))],
            Misconfigured,
        ),
        (
            "credits is misconfigured",
            vec![fail_at(10, Credits, Some(402))],
            Misconfigured,
        ),
        (
            "not_found is misconfigured",
            vec![fail_at(10, NotFound, Some(404))],
            Misconfigured,
        ),
        (
            "a success after auth clears it",
            vec![fail_at(0, Auth, Some(401)), ok_at(10)],
            Healthy,
        ),
        (
            "only uncounted samples",
            vec![
                fail_at(0, BadRequest, Some(400)),
                fail_at(5, FailureClass::RateLimited, Some(429)),
            ],
            LIMITED,
        ),
    ];
    for (name, samples, want) in table {
        let mut b = book();
        let now = samples.last().map_or(t(0), |(s, _)| s.at);
        feed(&mut b, samples);
        assert_eq!(b.status("m", now), Some(want), "{name}");
    }
}

#[test]
fn rate_limit_cooldown_honours_retry_after_then_backs_off() {
    let mut b = book();
    let (s, mut o) = fail_at(0, FailureClass::RateLimited, Some(429));
    o.retry_after = Some(Duration::from_secs(45));
    b.record("m", s, o, t(0));
    assert_eq!(b.status("m", t(44)), Some(Status::RateLimited));
    assert_eq!(
        b.status("m", t(46)),
        Some(Status::Unknown),
        "cool-down over, no counted data"
    );
    // Without Retry-After: 30s, then 60s, then 120s…
    let mut b = book();
    feed(
        &mut b,
        vec![fail_at(0, FailureClass::RateLimited, Some(429))],
    );
    assert_eq!(b.status("m", t(29)), Some(Status::RateLimited));
    assert_eq!(b.status("m", t(31)), Some(Status::Unknown));
    feed(
        &mut b,
        vec![fail_at(100, FailureClass::RateLimited, Some(429))],
    );
    assert_eq!(b.status("m", t(159)), Some(Status::RateLimited));
    assert_eq!(b.status("m", t(161)), Some(Status::Unknown));
    assert_eq!(backoff(20), RATE_LIMIT_BACKOFF_MAX);
}

#[test]
fn recover_after_consecutive_successes_readmits() {
    let mut b = book();
    let mut items: Vec<_> = (0..10).map(|i| ok_at(i * 10)).collect();
    items.push(fail_at(100, FailureClass::ServerError, Some(502)));
    items.push(ok_at(110));
    items.push(ok_at(120));
    feed(&mut b, items);
    assert_eq!(
        b.status("m", t(120)),
        Some(Status::Unhealthy),
        "two of three"
    );
    let events = feed(&mut b, vec![ok_at(130)]);
    assert_eq!(
        b.status("m", t(130)),
        Some(Status::Recovering),
        "re-admitted, not yet healthy"
    );
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        HealthEventKind::State { from: Status::Unhealthy, to: Status::Recovering, reason } if reason.contains("re-admitted")
    )));
    let snap = b.snapshot("m", t(130)).unwrap();
    assert_eq!(
        (snap.ok, snap.counted),
        (13, 14),
        "the window still shows the failure"
    );
    // A new failure after re-admission counts against the streak only.
    feed(&mut b, vec![fail_at(140, FailureClass::Timeout, None)]);
    assert_eq!(b.status("m", t(140)), Some(Status::Unhealthy));
}

#[test]
fn failures_leave_the_window() {
    let mut b = book();
    feed(
        &mut b,
        vec![fail_at(0, FailureClass::ServerError, Some(502)), ok_at(10)],
    );
    assert_eq!(b.status("m", t(10)), Some(Status::Unhealthy));
    let after = 15 * 60 + 1;
    let events = b.tick(t(after));
    assert_eq!(b.status("m", t(after)), Some(Status::Healthy));
    assert_eq!(events.len(), 1);
}

#[test]
fn events_on_state_change_with_reason() {
    let mut b = book();
    let events = feed(
        &mut b,
        vec![
            ok_at(0),
            ok_at(10),
            fail_at(20, FailureClass::ServerError, Some(502)),
        ],
    );
    let states: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            HealthEventKind::State { from, to, reason } => Some((*from, *to, reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(states.len(), 2, "{states:?}");
    assert_eq!(
        (states[0].0, states[0].1),
        (Status::Unknown, Status::Healthy)
    );
    assert_eq!(
        (states[1].0, states[1].1),
        (Status::Healthy, Status::Unhealthy)
    );
    assert_eq!(states[1].2, "2/3 ok; last: 502 provider unavailable");
}

#[test]
fn drift_degrades_until_acknowledged() {
    let mut b = book();
    let served = |secs, model: &str| {
        (
            Sample::ok(t(secs), Duration::from_millis(500)),
            Observation {
                served_model: Some(model.into()),
                ..Observation::default()
            },
        )
    };
    let events = feed(
        &mut b,
        vec![
            served(0, "openai/gpt-4o-2024-08-06"),
            served(10, "openai/gpt-4o-2024-08-06"),
        ],
    );
    assert!(!events
        .iter()
        .any(|e| matches!(e.kind, HealthEventKind::Drift { .. })));
    let events = feed(&mut b, vec![served(20, "openai/gpt-4o-2024-11-20")]);
    assert!(events.iter().any(|e| e.kind
        == HealthEventKind::Drift {
            from: "openai/gpt-4o-2024-08-06".into(),
            to: "openai/gpt-4o-2024-11-20".into()
        }));
    assert_eq!(b.status("m", t(20)), Some(Status::Degraded));
    assert_eq!(b.snapshot("m", t(20)).unwrap().served_history.len(), 1);
    b.acknowledge_drift("m", t(30));
    assert_eq!(b.status("m", t(30)), Some(Status::Healthy));
}

#[test]
fn fingerprint_change_is_drift() {
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
    feed(&mut b, vec![fp(0, "fp_a"), fp(10, "fp_a")]);
    assert_eq!(b.status("m", t(10)), Some(Status::Healthy));
    feed(&mut b, vec![fp(20, "fp_b")]);
    assert_eq!(b.status("m", t(20)), Some(Status::Degraded));
}

#[test]
fn slow_p95_degrades() {
    let mut b = HealthBook::new(HealthPolicy {
        slow: Some(Duration::from_secs(2)),
        ..HealthPolicy::default()
    });
    b.add_model("m", "x/y");
    for i in 0..10 {
        let latency = if i == 9 { 5_000 } else { 500 };
        b.record(
            "m",
            Sample::ok(t(i), Duration::from_millis(latency)),
            Observation::default(),
            t(i),
        );
    }
    assert_eq!(b.status("m", t(9)), Some(Status::Degraded));
    let (_, why) = b.model("m").unwrap().status(b.policy(), t(9));
    assert!(why.contains("slow: p95 5.0s > 2.0s"), "{why}");
}

#[test]
fn a_prompt_rejected_as_a_bad_request_does_not_misconfigure_the_model() {
    let mut b = book();
    feed(&mut b, vec![ok_at(0)]);
    let (mut s, o) = fail_at(10, FailureClass::BadRequest, Some(400));
    s.kind = SampleKind::Prompt;
    b.record("m", s, o, t(10));
    assert_eq!(b.status("m", t(10)), Some(Status::Healthy));
    // The same from a probe means the probe itself is misconfigured.
    feed(
        &mut b,
        vec![fail_at(20, FailureClass::BadRequest, Some(400))],
    );
    assert_eq!(b.status("m", t(20)), Some(Status::Misconfigured));
}

#[test]
fn missing_key_is_misconfigured_with_the_fix() {
    let mut b = book();
    let events = b.set_missing_key("m", Some("OPENROUTER_API_KEY is not set".into()), t(0));
    assert_eq!(events.len(), 1);
    let snap = b.snapshot("m", t(0)).unwrap();
    assert_eq!(snap.status, Status::Misconfigured);
    assert_eq!(snap.reason, "OPENROUTER_API_KEY is not set");
}

#[test]
fn settle_silences_restored_state_until_it_changes() {
    let mut b = book();
    feed(&mut b, vec![ok_at(0), ok_at(10)]);
    let saved = serde_json::to_string(b.model("m").unwrap()).unwrap();
    let mut restored = HealthBook::new(HealthPolicy::default());
    restored.restore("m", "openai/gpt-4o", serde_json::from_str(&saved).unwrap());
    restored.settle(t(20));
    assert!(restored.tick(t(20)).is_empty(), "no event for known state");
    let events = feed(
        &mut restored,
        vec![fail_at(30, FailureClass::ServerError, Some(502))],
    );
    assert_eq!(events.len(), 1);
    assert!(matches!(
        events[0].kind,
        HealthEventKind::State {
            from: Status::Healthy,
            to: Status::Unhealthy,
            ..
        }
    ));
}

#[test]
fn snapshot_figures() {
    let mut b = book();
    for i in 0..20u32 {
        let mut s = Sample::ok(t(i.into()), Duration::from_millis(100 * u64::from(i + 1)));
        s.ttft_ms = Some(50);
        s.tokens_per_s = Some(40.0);
        b.record("m", s, Observation::default(), t(i.into()));
    }
    feed(
        &mut b,
        vec![
            fail_at(30, FailureClass::Timeout, None),
            fail_at(31, FailureClass::RateLimited, Some(429)),
        ],
    );
    let snap = b.snapshot("m", t(31)).unwrap();
    assert_eq!((snap.ok, snap.counted, snap.samples), (20, 21, 22));
    assert_eq!(snap.latency.unwrap().p50, Duration::from_millis(1000));
    assert_eq!(snap.latency.unwrap().p95, Duration::from_millis(1900));
    assert_eq!(snap.ttft.unwrap().p50, Duration::from_millis(50));
    assert_eq!(snap.tokens_per_s, Some(40.0));
    assert_eq!(
        snap.failures_by_class,
        vec![(FailureClass::Timeout, 1), (FailureClass::RateLimited, 1)]
    );
    assert_eq!(snap.trend.len(), 22);
    assert_eq!(snap.trend.last(), Some(&TrendPoint::Failed));
    assert_eq!(snap.lifetime_counted, 21);
}

#[test]
fn ring_is_bounded() {
    let mut b = HealthBook::new(HealthPolicy {
        window: Duration::from_secs(10 * 24 * 3600),
        ..HealthPolicy::default()
    });
    b.add_model("m", "x/y");
    for i in 0..(RING_CAP as i64 * 3) {
        b.record(
            "m",
            Sample::ok(t(i), Duration::from_millis(10)),
            Observation::default(),
            t(i),
        );
    }
    let snap = b.snapshot("m", t(RING_CAP as i64 * 3)).unwrap();
    assert_eq!(snap.samples as usize, RING_CAP);
    assert_eq!(snap.lifetime_ok, RING_CAP as u64 * 3);
    assert_eq!(snap.trend.len(), TREND_LEN);
}

#[test]
fn rollup_by_prefix_and_serving_provider() {
    let mut b = HealthBook::new(HealthPolicy::default());
    b.add_model("a", "openai/gpt-4o");
    b.add_model("b", "openai/gpt-4o-mini");
    b.add_model("c", "anthropic/claude-sonnet-4");
    let obs = |by: &str| Observation {
        served_by: Some(by.into()),
        ..Observation::default()
    };
    b.record("a", Sample::ok(t(0), Duration::ZERO), obs("OpenAI"), t(0));
    b.record(
        "b",
        Sample::failed(t(0), FailureClass::ServerError, Duration::ZERO),
        obs("Azure"),
        t(0),
    );
    b.record(
        "c",
        Sample::ok(t(0), Duration::ZERO),
        obs("Anthropic"),
        t(0),
    );
    let snaps = b.snapshots(t(1));
    let by_prefix = rollup(&snaps, ProviderKey::IdPrefix);
    assert_eq!(by_prefix.len(), 2);
    assert_eq!(by_prefix[0].provider, "openai");
    assert_eq!((by_prefix[0].ok, by_prefix[0].counted), (1, 2));
    // One model up and one down: partly down, and the words say so.
    assert_eq!(by_prefix[0].status, Status::Degraded);
    assert_eq!(by_prefix[0].models_words(), "1/2 ok · 1 down");
    assert_eq!(by_prefix[1].status, Status::Healthy);
    let by_served = rollup(&snaps, ProviderKey::ServedBy);
    // `b` failed before naming a provider, so only a and c are grouped.
    let names: Vec<_> = by_served.iter().map(|p| p.provider.as_str()).collect();
    assert_eq!(names, ["OpenAI", "Anthropic"]);
}

#[test]
fn failure_log_keeps_whole_messages_survives_a_restart_and_merges() {
    let long = format!("upstream said: {}", "details ".repeat(200));
    let mut b = book();
    b.record(
        "m",
        Sample::failed(t(0), FailureClass::ServerError, Duration::ZERO),
        Observation {
            http_status: Some(502),
            message: Some(long.clone()),
            ..Observation::default()
        },
        t(0),
    );
    feed(
        &mut b,
        vec![ok_at(10), fail_at(20, FailureClass::Timeout, None)],
    );
    let log = b.failures_since(t(-1));
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].0, "m");
    assert_eq!(log[0].1.message, long, "whole, not cut to 200");
    assert_eq!(log[0].1.http_status, Some(502));
    assert_eq!(log[1].1.class, FailureClass::Timeout);
    // The snapshot's reason stays one short line.
    let reason = b.snapshot("m", t(21)).unwrap().reason;
    assert!(reason.chars().count() < 300, "{reason}");

    // Through the state file and back.
    let saved = serde_json::to_string(b.model("m").unwrap()).unwrap();
    let restored: ModelHealth = serde_json::from_str(&saved).unwrap();
    let mut fresh = HealthBook::new(HealthPolicy::default());
    fresh.restore("m", "openai/gpt-4o", restored);
    assert_eq!(fresh.failures_since(t(-1)), log);

    // Another process recorded a failure meanwhile: absorbed with its sample.
    let mut other = book();
    other.record(
        "m",
        Sample::failed(t(30), FailureClass::Empty, Duration::ZERO),
        Observation::default(),
        t(30),
    );
    b.absorb("m", other.model("m").unwrap(), t(31));
    let classes: Vec<FailureClass> = b
        .failures_since(t(-1))
        .into_iter()
        .map(|(_, r)| r.class)
        .collect();
    assert_eq!(
        classes,
        [
            FailureClass::ServerError,
            FailureClass::Timeout,
            FailureClass::Empty
        ]
    );
}
