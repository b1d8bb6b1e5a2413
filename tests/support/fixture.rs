//! Fixed dashboard state for screen tests and the render benchmark: a fixed
//! `now` and hand-made snapshots, so nothing depends on the wall clock.
#![allow(dead_code)]

use std::time::Duration;

use chainwatch::api::FailureClass;
use chainwatch::config::Config;
use chainwatch::health::{
    Drift, LastFailure, ModelSnapshot, Percentiles, Recovery, Status, TrendPoint,
};
use chainwatch::route::Chain;
use chainwatch::tui::app::Action;
use chainwatch::tui::App;
use chrono::{DateTime, TimeZone, Utc};

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 15, 12, 0, 0)
        .single()
        .unwrap()
}

fn ago(secs: i64) -> DateTime<Utc> {
    now() - chrono::Duration::seconds(secs)
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn trend(seed: u32, len: usize, fail_every: usize) -> Vec<TrendPoint> {
    (0..len)
        .map(|i| {
            if fail_every > 0 && i % fail_every == fail_every - 1 {
                TrendPoint::Failed
            } else {
                let wobble = (i as u32 * 37 + seed * 11) % 9;
                TrendPoint::Ok(600 + wobble * 90)
            }
        })
        .collect()
}

pub fn snapshot(name: &str, id: &str, status: Status) -> ModelSnapshot {
    ModelSnapshot {
        name: name.to_string(),
        id: id.to_string(),
        endpoint: "openrouter".to_string(),
        status,
        reason: "15/15 ok".to_string(),
        ratio: Some(1.0),
        ok: 15,
        counted: 15,
        samples: 15,
        recovery: None,
        lifetime_ratio: Some(0.99),
        lifetime_ok: 297,
        lifetime_counted: 300,
        last_failure: None,
        last_success: Some(ago(12)),
        latency: Some(Percentiles {
            p50: ms(800),
            p95: ms(1200),
            samples: 15,
        }),
        ttft: Some(Percentiles {
            p50: ms(400),
            p95: ms(600),
            samples: 15,
        }),
        tokens_per_s: Some(62.0),
        served_model: Some(id.to_string()),
        served_by: None,
        drift: None,
        served_history: Vec::new(),
        rate_limited_until: None,
        failures_by_class: Vec::new(),
        trend: trend(name.len() as u32, 24, 0),
        last_reply: Some("pong".to_string()),
        last_timing: None,
    }
}

/// The article's seven models in every state the screen must show.
pub fn models() -> Vec<ModelSnapshot> {
    let mut claude = snapshot(
        "claude-sonnet",
        "anthropic/claude-sonnet-4",
        Status::Healthy,
    );
    claude.served_by = Some("Anthropic".into());

    let mut gpt = snapshot("gpt-4o", "openai/gpt-4o", Status::Unhealthy);
    gpt.reason = "9/15 ok; last: 502 provider unavailable".into();
    gpt.ratio = Some(0.6);
    gpt.ok = 9;
    gpt.lifetime_ratio = Some(0.8);
    gpt.latency = Some(Percentiles {
        p50: ms(900),
        p95: ms(2100),
        samples: 9,
    });
    gpt.last_failure = Some(LastFailure {
        at: ago(180),
        class: FailureClass::ServerError,
        http_status: Some(502),
        message: "provider unavailable".into(),
    });
    gpt.failures_by_class = vec![(FailureClass::ServerError, 5), (FailureClass::Timeout, 1)];
    gpt.served_model = Some("openai/gpt-4o-2024-08-06".into());
    gpt.served_by = Some("OpenAI".into());
    gpt.trend = trend(3, 24, 3);

    let mut gemini = snapshot("gemini-pro", "google/gemini-2.5-pro", Status::Degraded);
    gemini.reason = "15/15 ok; served model changed".into();
    gemini.drift = Some(Drift {
        at: ago(240),
        from: "google/gemini-2.5-pro-preview".into(),
        to: "google/gemini-2.5-pro".into(),
    });
    gemini.served_by = Some("Google".into());
    // A thinking model: reasoning from 150 ms, the answer (the table's
    // ttft) at 410 ms.
    gemini.last_timing = Some(chainwatch::health::ReplyTiming {
        first_token: Some(ms(150)),
        first_content: Some(ms(410)),
        reasoning_tokens: Some(128),
        completion_tokens: Some(129),
    });

    let mut deepseek = snapshot("deepseek", "deepseek/deepseek-chat", Status::RateLimited);
    deepseek.reason = "429: cooling down for 45s".into();
    deepseek.rate_limited_until = Some(now() + chrono::Duration::seconds(45));
    deepseek.last_failure = Some(LastFailure {
        at: ago(15),
        class: FailureClass::RateLimited,
        http_status: Some(429),
        message: "rate limit exceeded".into(),
    });
    deepseek.failures_by_class = vec![(FailureClass::RateLimited, 2)];

    let mut flash = snapshot("gemini-flash", "google/gemini-2.5-flash", Status::Healthy);
    flash.served_by = Some("Google".into());
    flash.latency = Some(Percentiles {
        p50: ms(450),
        p95: ms(700),
        samples: 15,
    });

    let mut mini = snapshot("gpt-4o-mini", "openai/gpt-4o-mini", Status::Misconfigured);
    mini.reason = "404 model not found: check the id".into();
    mini.ratio = None;
    mini.ok = 0;
    mini.counted = 0;
    mini.latency = None;
    mini.ttft = None;
    mini.tokens_per_s = None;
    mini.last_failure = Some(LastFailure {
        at: ago(30),
        class: FailureClass::NotFound,
        http_status: Some(404),
        message: "No endpoints found for openai/gpt-4o-mini".into(),
    });
    mini.trend = vec![TrendPoint::Failed; 3];
    mini.served_model = None;

    let mut lite = snapshot(
        "gemini-flash-lite",
        "google/gemini-2.5-flash-lite",
        Status::Unknown,
    );
    lite.reason = "no samples yet".into();
    lite.ratio = None;
    lite.ok = 0;
    lite.counted = 0;
    lite.samples = 0;
    lite.latency = None;
    lite.ttft = None;
    lite.tokens_per_s = None;
    lite.trend = Vec::new();
    lite.last_reply = None;
    lite.last_success = None;
    lite.served_model = None;

    vec![claude, gpt, gemini, deepseek, flash, mini, lite]
}

/// The fixture models with gpt-4o re-admitted after its outage: recovering,
/// 3 of the 6 samples it needs since 11:59:15, its window still at 60%.
pub fn models_with_a_recovery() -> Vec<ModelSnapshot> {
    let mut models = models();
    if let Some(gpt) = models.iter_mut().find(|m| m.name == "gpt-4o") {
        gpt.status = Status::Recovering;
        gpt.reason = "re-admitted after an outage: 3/3 ok since, healthy at 6; 60.0% in the window (9/15 ok)".into();
        gpt.recovery = Some(Recovery {
            since: ago(45),
            ok: 3,
            counted: 3,
            needed: 6,
            outage_leaves_at: Some(now() + chrono::Duration::seconds(12 * 60)),
        });
    }
    models
}

/// An app over the built-in config with the fixture models, sized w×h.
pub fn app(w: u16, h: u16) -> App {
    let config = Config::builtin();
    let known: Vec<String> = config.models.iter().map(|m| m.name.clone()).collect();
    let chain = Chain::new(&config.chain, &known, None);
    let mut app = App::new(&config, chain, now());
    app.update(Action::Resize(w, h));
    app.update(Action::Snapshots {
        models: models(),
        spend_today: 0.0021,
        now: now(),
    });
    app
}

/// `n` models (for scrolling and the benchmark), cycling through states.
pub fn many(n: usize, w: u16, h: u16) -> App {
    let statuses = [
        Status::Healthy,
        Status::Healthy,
        Status::Degraded,
        Status::Unhealthy,
        Status::RateLimited,
        Status::Healthy,
        Status::Unknown,
    ];
    let models: Vec<ModelSnapshot> = (0..n)
        .map(|i| {
            let mut m = snapshot(
                &format!("model-{i:03}"),
                &format!("provider{}/model-{i:03}", i % 9),
                statuses[i % statuses.len()],
            );
            m.trend = trend(i as u32, 60, if i % 4 == 0 { 5 } else { 0 });
            if i % 3 == 0 {
                m.last_failure = Some(LastFailure {
                    at: ago(60 * (i as i64 % 50)),
                    class: FailureClass::Timeout,
                    http_status: None,
                    message: "no first token within 10s".into(),
                });
            }
            m
        })
        .collect();
    let listed: Vec<_> = models
        .iter()
        .map(|m| (m.name.clone(), m.id.clone(), None))
        .collect();
    let mut config = Config::demo("http://127.0.0.1:9/v1", &listed);
    config.chain = models.iter().take(n / 2).map(|m| m.name.clone()).collect();
    let known: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
    let chain = Chain::new(&config.chain, &known, None);
    let mut app = App::new(&config, chain, now());
    app.update(Action::Resize(w, h));
    app.update(Action::Snapshots {
        models,
        spend_today: 0.0,
        now: now(),
    });
    app
}
