//! Recording one sample and computing one model's snapshot with a full
//! window (the ring at its cap): what every probe and every redraw costs.
//! Target: under 5 µs together.

use std::hint::black_box;
use std::time::Duration;

use chainwatch::api::FailureClass;
use chainwatch::health::{HealthBook, HealthPolicy, Observation, Sample, RING_CAP};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};

fn t0() -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000, 0)
        .single()
        .unwrap_or_default()
}

/// A sample like a probe's: mostly fast successes, some failures.
fn sample(i: i64) -> (Sample, Observation) {
    let at = t0() + TimeDelta::seconds(i);
    let mut s = if i % 17 == 0 {
        Sample::failed(at, FailureClass::ServerError, Duration::from_millis(120))
    } else {
        Sample::ok(at, Duration::from_millis(400 + (i * 37 % 900) as u64))
    };
    s.ttft_ms = Some(150 + (i * 13 % 300) as u32);
    s.tokens_per_s = Some(40.0 + (i % 20) as f32);
    let obs = Observation {
        http_status: Some(if s.class.is_some() { 502 } else { 200 }),
        message: s.class.map(|_| "provider unavailable".to_string()),
        served_model: Some("openai/gpt-4o-2024-11-20".into()),
        served_by: Some("OpenAI".into()),
        ..Observation::default()
    };
    (s, obs)
}

fn full_book() -> (HealthBook, i64) {
    let mut book = HealthBook::new(HealthPolicy {
        // One sample a second: the window holds more than the ring.
        window: Duration::from_secs(15 * 60),
        ..HealthPolicy::default()
    });
    book.add_model("gpt-4o", "openai/gpt-4o");
    let n = RING_CAP as i64 * 2;
    for i in 0..n {
        let (s, o) = sample(i);
        book.record("gpt-4o", s, o, t0() + TimeDelta::seconds(i));
    }
    (book, n)
}

fn bench(c: &mut Criterion) {
    let (mut book, mut i) = full_book();
    assert_eq!(
        book.snapshot("gpt-4o", t0() + TimeDelta::seconds(i))
            .map(|s| s.samples as usize),
        Some(RING_CAP)
    );
    c.bench_function("record + snapshot (full window)", |b| {
        b.iter(|| {
            let (s, o) = sample(i);
            let now = s.at;
            let events = book.record("gpt-4o", s, o, now);
            let snap = book.snapshot("gpt-4o", now);
            i += 1;
            black_box((events, snap))
        })
    });
    let (mut book, mut i) = full_book();
    c.bench_function("record only (full window)", |b| {
        b.iter(|| {
            let (s, o) = sample(i);
            let now = s.at;
            i += 1;
            black_box(book.record("gpt-4o", s, o, now))
        })
    });
    let (book, i) = full_book();
    let now = t0() + TimeDelta::seconds(i);
    c.bench_function("snapshot only (full window)", |b| {
        b.iter(|| black_box(book.snapshot("gpt-4o", now)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
