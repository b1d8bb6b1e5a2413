//! Cheap watching without slower detection (docs/cost.md): the article's
//! chain at list prices on the simulator, a simulated day driven with
//! `run_due(now)` and the simulator's clock (`chainwatch::costday`), no
//! sleeping. The dollars are the ledger's, from the simulator's
//! `usage.cost`: deterministic for a seed.

use std::time::Duration;

use chainwatch::api::{ChatRequest, Client, Deadlines, Message};
use chainwatch::costday::{run_day, scenario, Day, DayOptions, Outage, Policy, CHAIN};
use chainwatch::health::{HealthEventKind, SampleKind, Status};
use chrono::{DateTime, Utc};

const MIN: Duration = Duration::from_secs(60);

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn gaps(times: &[DateTime<Utc>]) -> Vec<f64> {
    times
        .windows(2)
        .map(|w| (w[1] - w[0]).num_milliseconds() as f64 / 1000.0)
        .collect()
}

#[tokio::test]
async fn a_day_of_the_articles_chain_costs_under_30_cents_with_every_model_healthy() {
    let day = run_day(&DayOptions::day(Policy::Chainwatch)).await.unwrap();
    let usd = day.usd();
    assert!(usd < 0.30, "${usd:.4} a day");
    for name in CHAIN {
        let m = &day.models[name];
        assert_eq!(m.status, Some(Status::Healthy), "{name}: {m:?}");
        assert_eq!(m.failures, 0, "{name}: {m:?}");
        assert_eq!(m.answered, m.probes, "{name}: every probe proved an answer");
    }
    // The cheap models keep the full rate (an outage seen within a
    // minute); gemini-2.5-pro, whose reasoning costs $1.87 a day at that
    // rate, stretches to 16 minutes with OpenRouter's uptime between.
    let probes: Vec<u64> = CHAIN.iter().map(|n| day.models[*n].probes).collect();
    assert_eq!(probes, vec![1440, 1440, 105, 1440]);
    assert_eq!(day.models["gemini-pro"].gap_at_end, Some(16 * MIN));
    assert_eq!(day.models["claude-sonnet"].gap_at_end, Some(MIN));
    // What the header shows: a steady day at the pace of the day's end,
    // under the day's own figure (which paid for the stretch's ramp).
    let per_day: f64 = day.models.values().map(|m| m.per_day_at_end).sum();
    assert!((0.20..usd).contains(&per_day), "~${per_day:.4} a day");
    let gemini = &day.models["gemini-pro"];
    assert!((gemini.per_day_at_end - 90.0 * gemini.usd / gemini.probes as f64).abs() < 1e-9);
    // Deterministic: the ledger holds what the simulator billed, tokens ×
    // the pinned prices (9 prompt tokens; 1 answer token, plus 128 of
    // reasoning for gemini-2.5-pro).
    let per_probe = |prompt: f64, completion: f64, out: f64| 9.0 * prompt + out * completion;
    let expected = 1440.0 * per_probe(3e-6, 15e-6, 1.0)
        + 1440.0 * per_probe(2.5e-6, 10e-6, 1.0)
        + 105.0 * per_probe(1.25e-6, 10e-6, 129.0)
        + 1440.0 * per_probe(0.27e-6, 1.1e-6, 1.0);
    assert!((usd - expected).abs() < 1e-9, "${usd} vs ${expected}");
}

#[tokio::test]
async fn a_hard_outage_of_a_model_on_paid_probes_is_seen_within_one_interval() {
    for offset in [1, 29, 59] {
        let after = Duration::from_secs(2 * 3600 + offset);
        let day = run_day(&DayOptions {
            outage: Some(Outage::from("claude-sonnet", after)),
            length: after + 5 * MIN,
            ..DayOptions::day(Policy::Chainwatch)
        })
        .await
        .unwrap();
        let m = &day.models["claude-sonnet"];
        let seen = m.unhealthy_after.expect("seen");
        assert!(seen <= MIN, "outage at +{offset}s seen after {seen:?}");
        assert_eq!(m.status, Some(Status::Unhealthy));
    }
}

#[tokio::test]
async fn a_hard_outage_behind_the_free_signal_is_seen_within_six_minutes() {
    for offset in [1, 29, 59] {
        let after = Duration::from_secs(2 * 3600 + offset);
        let outage = Outage::from("gemini-pro", after);
        let mut day = Day::start(scenario(Some(&outage)), Policy::Chainwatch, MIN, 7)
            .await
            .unwrap();
        day.run_until(after).await;
        // Stretched when the outage starts: paid probes 16 minutes apart.
        let times = day.probe_times("gemini-pro");
        assert_eq!(gaps(&times).last().copied(), Some(960.0), "{times:?}");
        assert_eq!(day.engine.stretch("gemini-pro"), 16);
        day.run_until(after + 10 * MIN).await;
        let start = day.at(after);
        let unhealthy = day
            .health
            .iter()
            .find(|e| {
                e.model == "gemini-pro"
                    && matches!(
                        e.kind,
                        HealthEventKind::State {
                            to: Status::Unhealthy,
                            ..
                        }
                    )
            })
            .expect("unhealthy");
        let seen = (unhealthy.at - start).to_std().unwrap();
        assert!(seen <= 6 * MIN, "outage at +{offset}s seen after {seen:?}");
        // The free signal saw it first and brought the paid probe back.
        let warned = day
            .warnings
            .iter()
            .find(|(at, m)| m.starts_with("gemini-pro:") && m.contains("uptime") && *at >= start)
            .expect("a free-signal warning");
        assert_eq!(warned.0, unhealthy.at, "the paid probe came at once");
        // In trouble: the half-open rate, nothing stretched.
        assert_eq!(day.engine.stretch("gemini-pro"), 1);
        let spending = day.engine.spending(day.now());
        assert_eq!(spending.models["gemini-pro"].gap, Some(MIN / 4));
        day.sim.shutdown().await;
    }
}

#[tokio::test]
async fn the_cadence_stretches_snaps_back_on_a_free_signal_warning_and_stretches_again() {
    // First the undisturbed schedule, to find a quiet spell between two of
    // gemini-pro's paid probes after the stretch has reached its cap.
    let mut calm = Day::start(scenario(None), Policy::Chainwatch, MIN, 7)
        .await
        .unwrap();
    calm.run_until(3 * 3600 * Duration::from_secs(1)).await;
    let times = calm.probe_times("gemini-pro");
    let g = gaps(&times);
    let first_at = |gap: f64| g.iter().position(|x| (x - gap).abs() < 0.01);
    assert_eq!(
        [60.0, 120.0, 240.0, 480.0, 960.0].map(first_at),
        [Some(0), Some(4), Some(9), Some(14), Some(19)],
        "five clean probes at each gap, then it doubles: {g:?}"
    );
    let claude = gaps(&calm.probe_times("claude-sonnet"));
    assert!(
        claude.iter().all(|x| (x - 60.0).abs() < 0.01),
        "cheap: full rate"
    );
    let last = *times.last().unwrap();
    calm.sim.shutdown().await;

    // A 20 s outage that starts just after a free-signal poll (they run on
    // the minute from the start) and ends before the next: no paid probe
    // falls in it, but the next poll's 5-minute uptime is under 95%.
    let poll_after_last = ((last - calm.start).num_seconds() / 60 + 1) * 60;
    let after = Duration::from_secs(poll_after_last as u64 + 1);
    let outage = Outage {
        model: "gemini-pro".into(),
        after,
        lasting: Some(Duration::from_secs(20)),
    };
    let mut day = Day::start(scenario(Some(&outage)), Policy::Chainwatch, MIN, 7)
        .await
        .unwrap();
    day.run_until(after).await;
    assert_eq!(day.engine.stretch("gemini-pro"), 16);
    let next_paid = day.engine.next_due("gemini-pro").unwrap();
    let warned_at = day.at(after + Duration::from_secs(59));
    assert!(
        next_paid > warned_at + chrono::TimeDelta::seconds(300),
        "{next_paid}"
    );
    day.run_until(after + 10 * MIN).await;
    let (at, message) = day
        .warnings
        .iter()
        .find(|(_, m)| m.starts_with("gemini-pro:"))
        .cloned()
        .expect("a free-signal warning");
    assert_eq!(at, warned_at);
    assert!(message.contains("5-minute uptime"), "{message}");
    // The paid probe came at once, found the model answering, and the
    // model stayed healthy: the signal only brings the probe back.
    let after_times: Vec<_> = day
        .probe_times("gemini-pro")
        .into_iter()
        .filter(|t| *t >= day.at(after))
        .collect();
    assert_eq!(after_times.first(), Some(&warned_at));
    assert!(day
        .probes
        .iter()
        .filter(|p| p.model == "gemini-pro")
        .all(|p| p.ok));
    assert!(day
        .health
        .iter()
        .all(|e| e.model != "gemini-pro" || e.at < day.at(after)));
    // The full rate while the 5-minute figure remembers the outage…
    let g = gaps(&after_times);
    assert!(g.iter().take(4).all(|x| (x - 60.0).abs() < 0.01), "{g:?}");
    // …then the streaks start over and it stretches again.
    day.run_until(after + 3 * 3600 * Duration::from_secs(1))
        .await;
    assert_eq!(day.engine.stretch("gemini-pro"), 16);
    assert_eq!(day.engine.status("gemini-pro", day.now()), Status::Healthy);
    day.sim.shutdown().await;
}

#[tokio::test]
async fn a_real_prompt_stands_in_for_the_paid_probe() {
    let mut day = Day::start(scenario(None), Policy::Chainwatch, MIN, 7)
        .await
        .unwrap();
    day.run_until(10 * MIN).await;
    let client = Client::new(Duration::from_secs(5));
    let config = day.engine.config().clone();
    for name in ["claude-sonnet", "gemini-pro"] {
        day.run_until(if name == "gemini-pro" {
            3 * 3600 * Duration::from_secs(1)
        } else {
            10 * MIN
        })
        .await;
        let due = day.engine.next_due(name).unwrap();
        let gap = day.engine.spending(day.now()).models[name].gap.unwrap();
        // A real prompt, over HTTP, answered 20 s before the paid probe.
        let prompt_at = due - chrono::TimeDelta::seconds(20);
        day.run_until((prompt_at - day.start).to_std().unwrap())
            .await;
        let model = config.model(name).unwrap();
        let attempt = client
            .send(
                &config.target(model, None),
                &ChatRequest {
                    messages: vec![Message::user("Say something about fallback chains.")],
                    max_tokens: 1024,
                    stream: true,
                    expect: None,
                    passthrough: None,
                },
                Deadlines::default(),
                None,
            )
            .await;
        assert!(attempt.failure.is_none(), "{attempt:?}");
        let requests = day.sim.stats(&model.id).requests;
        day.engine
            .record(name, &attempt, SampleKind::Prompt, prompt_at);
        // The slot passes without a paid probe; the next is a whole gap
        // after the prompt.
        day.run_until((due - day.start).to_std().unwrap() + Duration::from_secs(30))
            .await;
        assert_eq!(
            day.sim.stats(&model.id).requests,
            requests,
            "{name}: no paid probe"
        );
        let next = day.engine.next_due(name).unwrap();
        assert_eq!(
            next,
            prompt_at + chrono::TimeDelta::from_std(gap).unwrap(),
            "{name}: {gap:?}"
        );
        day.run_until((next - day.start).to_std().unwrap() + Duration::from_secs(1))
            .await;
        assert_eq!(
            day.sim.stats(&model.id).requests,
            requests + 1,
            "{name}: probed again"
        );
        assert_eq!(secs(gap), if name == "gemini-pro" { 960.0 } else { 60.0 });
    }
    day.sim.shutdown().await;
}

#[tokio::test]
async fn the_free_signal_is_fetched_from_the_simulators_endpoints() {
    let sim = chainwatch::sim::SimServer::start(
        chainwatch::sim::Scenario::demo(),
        "127.0.0.1:0".parse().unwrap(),
        7,
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let key = chainwatch::api::Secret::new("sk-or-v1-test");
    let e = chainwatch::api::fetch_endpoints(
        &http,
        &sim.base_url(),
        Some(&key),
        "google/gemini-2.5-pro",
    )
    .await
    .unwrap();
    assert_eq!(e.providers.len(), 1);
    assert_eq!(e.providers[0].provider, "Google Vertex");
    assert_eq!(e.providers[0].last_5m, Some(100.0));
    assert_eq!(
        chainwatch::probe::judge(&e, Some("Google Vertex"), 0.95),
        chainwatch::probe::Signal::Clear { uptime: 100.0 }
    );
    // gpt-4o's demo outage (502s from 15 s to 40 s, every 90 s) shows in
    // its 5-minute uptime once the scenario is a few minutes in.
    sim.advance(Duration::from_secs(600));
    let e = chainwatch::api::fetch_endpoints(&http, &sim.base_url(), None, "openai/gpt-4o")
        .await
        .unwrap();
    let uptime = e.providers[0].last_5m.unwrap();
    assert!(uptime < 95.0, "{uptime}");
    assert!(matches!(
        chainwatch::probe::judge(&e, None, 0.95),
        chainwatch::probe::Signal::Warning { .. }
    ));
    // A model the server does not know, and an id that is no author/slug:
    // no such signal, not worth asking every minute.
    for id in ["nobody/nothing", "gpt-4o"] {
        let err = chainwatch::api::fetch_endpoints(&http, &sim.base_url(), None, id)
            .await
            .unwrap_err();
        assert!(err.is_absent(), "{id}: {err}");
    }
    // A server that is not there: for now, not absent.
    let err = chainwatch::api::fetch_endpoints(&http, "http://127.0.0.1:9/v1", None, "a/b")
        .await
        .unwrap_err();
    assert!(!err.is_absent(), "{err}");
    sim.shutdown().await;
}
