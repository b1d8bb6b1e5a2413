use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};

use super::text::{fields, Column, Table};
use super::*;
use crate::api::{Attempt, Failure, FailureClass, Usage};
use crate::engine::EngineEvent;
use crate::health::{HealthEvent, HealthEventKind, Status};
use crate::route::{AttemptRecord, RouteAnswer, RouteFailure, Skip};

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 1, 3).single().unwrap()
}

fn failed(latency_ms: u64) -> Attempt {
    Attempt {
        failure: Some(Failure {
            class: FailureClass::ServerError,
            message: "provider unavailable".into(),
            retry_after: Some(Duration::from_secs(3)),
        }),
        http_status: Some(502),
        ..Attempt::blank(at(), Duration::from_millis(latency_ms))
    }
}

fn answered() -> Attempt {
    Attempt {
        ttft: Some(Duration::from_millis(412)),
        served_model: Some("sim/fast-b".into()),
        served_by: Some("Sim B".into()),
        usage: Some(Usage {
            prompt_tokens: 3,
            completion_tokens: 35,
            cost: Some(0.0005),
            reasoning_tokens: None,
        }),
        ..Attempt::blank(at(), Duration::from_millis(1_337))
    }
}

fn skip() -> Skip {
    Skip {
        model: "down".into(),
        status: Status::Unhealthy,
        reason: "0/1 ok; last: 502".into(),
    }
}

fn record(model: &str, attempt: Attempt, hedged: bool, cancelled: bool) -> AttemptRecord {
    AttemptRecord {
        role: if hedged {
            crate::route::AttemptRole::Hedge
        } else {
            crate::route::AttemptRole::Planned
        },
        running: false,
        model: model.into(),
        hedged,
        cancelled,
        attempt,
    }
}

fn answer() -> RouteAnswer {
    RouteAnswer {
        model: "fast-b".into(),
        model_id: "sim/fast-b".into(),
        served_model: Some("sim/fast-b".into()),
        served_by: Some("Sim B".into()),
        ttft: Some(Duration::from_millis(412)),
        total: Duration::from_millis(1_337),
        usage: answered().usage,
        cost: Some(0.0005),
        text: "pong".into(),
        attempts: vec![
            record("hang", failed(2_500), false, true),
            record("fast-b", answered(), true, false),
        ],
        skipped: vec![skip()],
        last_resort: false,
    }
}

fn every_watch_event() -> Vec<EngineEvent> {
    vec![
        EngineEvent::Health(HealthEvent {
            at: at(),
            model: "gpt-4o".into(),
            kind: HealthEventKind::State {
                from: Status::Healthy,
                to: Status::Unhealthy,
                reason: "9/15 ok".into(),
            },
        }),
        EngineEvent::Health(HealthEvent {
            at: at(),
            model: "mini".into(),
            kind: HealthEventKind::Drift {
                from: "a-2024".into(),
                to: "a-2025".into(),
            },
        }),
        EngineEvent::Probe {
            model: "gpt-4o".into(),
            attempt: failed(120),
        },
        EngineEvent::Probe {
            model: "fast-b".into(),
            attempt: answered(),
        },
        EngineEvent::Budget {
            at: at(),
            message: "probe spend $0.0100 of $0.0100 today".into(),
        },
        EngineEvent::Prices {
            at: at(),
            models: 7,
        },
    ]
}

fn doc(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap()
}

#[test]
fn every_ask_document_keeps_the_rules() {
    let failure = RouteFailure {
        attempts: vec![
            record("down", failed(40), false, false),
            record("down2", failed(35), false, false),
        ],
        skipped: vec![skip()],
        last_resort: true,
    };
    for result in [Ok(answer()), Err(failure)] {
        let v = doc(AskReport::new(&result));
        assert_eq!(rule_breaks(&v), Vec::<String>::new(), "{v:#}");
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["ok"], result.is_ok());
    }
}

#[test]
fn ask_durations_are_whole_milliseconds() {
    let v = doc(AskReport::new(&Ok(answer())));
    assert_eq!((&v["ttft_ms"], &v["total_ms"]), (&json!(412), &json!(1337)));
    let attempts = &v["attempts"];
    assert_eq!(attempts[0]["outcome"], "cancelled");
    assert_eq!(attempts[0]["latency_ms"], 2500);
    assert_eq!(attempts[0]["ttft_ms"], Value::Null);
    assert_eq!(attempts[0]["class"], "server_error");
    assert_eq!(attempts[1]["outcome"], "ok");
    assert_eq!(attempts[1]["hedged"], true);
    assert_eq!(attempts[1]["latency_ms"], 1337);
    assert_eq!(attempts[1]["ttft_ms"], 412);
    assert_eq!(v["skipped"][0]["status"], "unhealthy");
    assert_eq!(v["usage"]["completion_tokens"], 35);
}

#[test]
fn every_watch_line_keeps_the_rules() {
    for event in every_watch_event() {
        let line = WatchLine::new(&event, true).expect("printed with -v");
        let v = doc(&line);
        assert_eq!(rule_breaks(&v), Vec::<String>::new(), "{v:#}");
        assert_eq!(v["at"], "2025-03-01T12:01:03.000Z");
        assert!(v["kind"].is_string(), "{v}");
    }
    let probe = doc(WatchLine::new(&every_watch_event()[2], true));
    assert_eq!(
        (&probe["latency_ms"], &probe["ttft_ms"]),
        (&json!(120), &Value::Null)
    );
    assert_eq!(probe["reason"], "502 provider unavailable");
    let drift = doc(WatchLine::new(&every_watch_event()[1], false));
    assert_eq!(drift["reason"], "served model changed: a-2024 → a-2025");
}

#[test]
fn a_watch_line_starts_with_its_version_time_and_kind() {
    let text = serde_json::to_string(&WatchLine::new(&every_watch_event()[0], false)).unwrap();
    assert!(
        text.starts_with(
            r#"{"schema_version":1,"at":"2025-03-01T12:01:03.000Z","kind":"state","model":"gpt-4o""#
        ),
        "{text}"
    );
}

#[test]
fn the_rules_catch_seconds_floats_and_a_missing_version() {
    let v = json!({
        "latency_s": 1.2,
        "nested": [{"ttft_ms": 0.4}],
        "spread_ms": {"p50": 3, "p95": -1},
        "fine_ms": {"p50": 3, "p95": 4},
        "none_ms": null,
    });
    assert_eq!(
        rule_breaks(&v),
        [
            "schema_version is not 1",
            "/latency_s: seconds; the documents say latency_ms",
            "/nested/0/ttft_ms: not an integer of milliseconds: 0.4",
            "/spread_ms: not an integer of milliseconds: {\"p50\":3,\"p95\":-1}",
        ]
    );
}

#[test]
fn ms_truncates_to_whole_milliseconds() {
    assert_eq!(ms(Duration::from_micros(1_999)), 1);
    assert_eq!(ms(Duration::from_secs(15 * 60)), 900_000);
}

#[test]
fn a_table_aligns_its_columns_and_leaves_the_last_unpadded() {
    let mut table = Table::new(vec![
        Column::right("#").min(2),
        Column::left("model").min(5),
        Column::right("p50"),
        Column::left("detail"),
    ]);
    table.row(vec![
        "1".into(),
        "gpt-4o".into(),
        "250ms".into(),
        "—".into(),
    ]);
    table.note("    why it is down".into());
    table.row(vec!["-".into(), "a".into(), "1.2s".into()]);
    let mut out = Vec::new();
    table.write_to(&mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        " #  model     p50  detail\n \
          1  gpt-4o  250ms  —\n    \
         why it is down\n \
          -  a        1.2s  \n"
    );
}

#[test]
fn a_table_without_headers_prints_rows_only_indented() {
    let mut table = Table::new(vec![Column::right("").min(2), Column::left("")]).indent(2);
    table.row(vec!["1".into(), "claude".into()]);
    table.row(vec!["10".into(), "gpt".into()]);
    let mut out = Vec::new();
    table.write_to(&mut out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "   1  claude\n  10  gpt\n");
}

#[test]
fn a_cell_wider_than_its_minimum_widens_the_column() {
    let mut table = Table::new(vec![Column::left("provider").min(10), Column::left("x")]);
    table.row(vec!["cognitivecomputations".into(), "a".into()]);
    table.row(vec!["openai".into(), "b".into()]);
    let mut out = Vec::new();
    table.write_to(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let starts: Vec<usize> = text
        .lines()
        .map(|l| l.rfind(['x', 'a', 'b']).unwrap())
        .collect();
    assert_eq!(starts, [23, 23, 23], "{text}");
}

#[test]
fn fields_are_set_apart_by_the_gap() {
    assert_eq!(
        fields(&["12:00", "gpt-4o", "probe ok"]),
        "12:00  gpt-4o  probe ok"
    );
}
