//! The schedule's rules, each driven by the times it is given.

use super::*;
use chrono::TimeZone;

/// A fixed start at 00:00:00 UTC so day boundaries are easy to reason about.
fn t(secs: f64) -> DateTime<Utc> {
    let base = Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).single().unwrap();
    base + TimeDelta::milliseconds((secs * 1000.0).round() as i64)
}

fn secs(d: DateTime<Utc>) -> f64 {
    (d - t(0.0)).num_milliseconds() as f64 / 1000.0
}

const S: fn(u64) -> Duration = Duration::from_secs;

/// Runs every probe that is due, in steps of `step`, finishing each with
/// `cond(name, now)`; returns the times each model was taken.
fn simulate(
    sched: &mut Schedule,
    until: f64,
    step: f64,
    mut cond: impl FnMut(&str, DateTime<Utc>) -> Condition,
) -> HashMap<String, Vec<f64>> {
    let mut taken: HashMap<String, Vec<f64>> = HashMap::new();
    let mut now = 0.0;
    while now <= until {
        for due in sched.take_due(t(now)) {
            taken.entry(due.model.clone()).or_default().push(now);
            let c = cond(&due.model, t(now));
            sched.finish(&due.model, t(now), c);
        }
        now += step;
    }
    taken
}

#[test]
fn first_probes_are_spread_and_deterministic() {
    let mut a = Schedule::new(7);
    let mut b = Schedule::new(7);
    for i in 0..100 {
        a.add(&format!("m{i}"), S(60), t(0.0));
        b.add(&format!("m{i}"), S(60), t(0.0));
    }
    let first: Vec<f64> = (0..100)
        .map(|i| secs(a.next_due(&format!("m{i}")).unwrap()))
        .collect();
    let again: Vec<f64> = (0..100)
        .map(|i| secs(b.next_due(&format!("m{i}")).unwrap()))
        .collect();
    assert_eq!(first, again, "same seed, same phases");
    assert!(first.iter().all(|s| (0.0..10.0).contains(s)), "{first:?}");
    // Spread: each of the ten 1-second buckets gets some, none gets half.
    let mut buckets = [0; 10];
    for s in &first {
        buckets[*s as usize] += 1;
    }
    assert!(buckets.iter().all(|&n| (2..50).contains(&n)), "{buckets:?}");
    let mut other = Schedule::new(8);
    other.add("m0", S(60), t(0.0));
    assert_ne!(other.next_due("m0"), a.next_due("m0"), "seed matters");
    // A short interval spreads over the interval itself.
    let mut fast = Schedule::new(1);
    fast.add("x", S(1), t(0.0));
    assert!(secs(fast.next_due("x").unwrap()) < 1.0);
}

#[test]
fn no_drift_when_probes_finish_late() {
    let mut s = Schedule::new(1);
    s.add("m", S(60), t(0.0));
    let first = secs(s.next_due("m").unwrap());
    // Each probe takes 7 s to finish: the next is still due on the grid.
    let mut dues = Vec::new();
    let mut now = first;
    for _ in 0..5 {
        let taken = s.take_due(t(now));
        assert_eq!(taken.len(), 1);
        dues.push(secs(taken[0].due));
        s.finish("m", t(now + 7.0), Condition::Normal);
        now = secs(s.next_due("m").unwrap());
    }
    let gaps: Vec<i64> = dues
        .windows(2)
        .map(|w| ((w[1] - w[0]) * 1000.0).round() as i64)
        .collect();
    assert_eq!(
        gaps,
        vec![60_000; 4],
        "due times stay on the grid: {dues:?}"
    );
}

#[test]
fn missed_slots_are_skipped_not_queued() {
    let mut s = Schedule::new(1);
    s.add("m", S(10), t(0.0));
    let first = secs(s.next_due("m").unwrap());
    assert_eq!(s.take_due(t(first)).len(), 1);
    // The probe hangs for 35 s: three slots passed; the next is the
    // first grid point after the end, not a burst of catch-up probes.
    s.finish("m", t(first + 35.0), Condition::Normal);
    assert_eq!(secs(s.next_due("m").unwrap()), first + 40.0);
    assert!(s.take_due(t(first + 36.0)).is_empty());
    assert_eq!(s.take_due(t(first + 40.0)).len(), 1);
}

#[test]
fn in_flight_slots_are_not_taken_twice() {
    let mut s = Schedule::new(1);
    s.add("m", S(1), t(0.0));
    assert_eq!(s.take_due(t(1.0)).len(), 1);
    assert!(s.take_due(t(5.0)).is_empty());
    assert_eq!(s.next_due("m"), None);
    assert_eq!(s.next_wake(), None);
    s.finish("m", t(5.0), Condition::Normal);
    assert!(s.next_due("m").unwrap() > t(5.0));
}

#[test]
fn periods_by_condition() {
    let until = t(3600.0);
    // (condition, expected gaps between probes after the first)
    let table: Vec<(&str, Condition, f64)> = vec![
        ("normal", Condition::Normal, 60.0),
        ("half-open probes at interval/4", Condition::HalfOpen, 15.0),
        (
            "misconfigured every 10 min",
            Condition::Misconfigured,
            600.0,
        ),
    ];
    for (name, cond, gap) in table {
        let mut s = Schedule::new(3);
        s.add("m", S(60), t(0.0));
        let taken = simulate(&mut s, 1800.0, 0.5, |_, _| cond);
        let times = &taken["m"];
        let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.len() >= 2, "{name}: {times:?}");
        assert!(
            gaps.iter().all(|g| (g - gap).abs() < 0.6),
            "{name}: {gaps:?}"
        );
    }
    let _ = until;
}

#[test]
fn misconfigured_retry_scales_with_a_short_interval() {
    // The demo probes every 5 s: a model gone for a spell is retried
    // within a minute, not after 10.
    let mut s = Schedule::new(3);
    s.add("m", S(5), t(0.0));
    let taken = simulate(&mut s, 300.0, 0.5, |_, _| Condition::Misconfigured);
    let gaps: Vec<f64> = taken["m"].windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.len() >= 3 && gaps.iter().all(|g| (g - 50.0).abs() < 0.6),
        "{gaps:?}"
    );
}

#[test]
fn cooling_down_is_never_probed_early() {
    let mut s = Schedule::new(3);
    s.add("m", S(10), t(0.0));
    let first = secs(s.next_due("m").unwrap());
    s.take_due(t(first));
    // 429 with Retry-After 45 s: nothing before first + 45.
    s.finish("m", t(first), Condition::CoolingUntil(t(first + 45.0)));
    let mut now = first;
    while now < first + 45.0 {
        assert!(s.take_due(t(now)).is_empty(), "probed at {now}");
        now += 0.5;
    }
    assert_eq!(s.take_due(t(first + 45.0)).len(), 1);
    s.finish("m", t(first + 45.5), Condition::Normal);
    assert_eq!(secs(s.next_due("m").unwrap()), first + 55.0);
    // A 429 seen by a real prompt between probes pushes the probe back too.
    s.condition_changed(
        "m",
        t(first + 50.0),
        Condition::CoolingUntil(t(first + 80.0)),
    );
    assert_eq!(secs(s.next_due("m").unwrap()), first + 80.0);
}

#[test]
fn real_prompt_failure_brings_the_half_open_probe_forward() {
    let mut s = Schedule::new(3);
    s.add("m", S(60), t(0.0));
    let first = secs(s.next_due("m").unwrap());
    s.take_due(t(first));
    s.finish("m", t(first), Condition::Normal);
    s.condition_changed("m", t(first + 5.0), Condition::HalfOpen);
    assert_eq!(secs(s.next_due("m").unwrap()), first + 20.0);
    // Normal news never delays the regular probe.
    s.condition_changed("m", t(first + 6.0), Condition::Normal);
    assert_eq!(secs(s.next_due("m").unwrap()), first + 20.0);
}

#[test]
fn probe_now_then_back_on_the_grid() {
    let mut s = Schedule::new(3);
    s.add("a", S(60), t(0.0));
    s.add("b", S(60), t(0.0));
    let a0 = secs(s.next_due("a").unwrap());
    let b0 = secs(s.next_due("b").unwrap());
    for d in s.take_due(t(a0.max(b0))) {
        s.finish(&d.model, t(a0.max(b0)), Condition::Normal);
    }
    let b_next = s.next_due("b").unwrap();
    assert_eq!(s.probe_now(Some("a"), t(a0 + 20.0)), 1);
    assert_eq!(s.next_due("b").unwrap(), b_next, "only a");
    let taken = s.take_due(t(a0 + 20.0));
    assert_eq!(taken.len(), 1);
    s.finish("a", t(a0 + 20.5), Condition::Normal);
    assert_eq!(secs(s.next_due("a").unwrap()), a0 + 60.0, "phase kept");
    assert_eq!(s.probe_now(None, t(a0 + 30.0)), 2);
    assert_eq!(s.take_due(t(a0 + 30.0)).len(), 2);
}

#[test]
fn free_models_respect_per_minute_and_daily_limits() {
    let mut s = Schedule::new(5);
    s.set_free_limits(FreeLimits {
        per_minute: 20,
        per_day: 50,
    });
    for i in 0..30 {
        let name = format!("f{i}");
        s.add(&name, S(10), t(0.0));
        s.set_free(&name, true);
    }
    // Two days in 1-second steps, all healthy.
    let taken = simulate(&mut s, 2.0 * 86_400.0, 1.0, |_, _| Condition::Normal);
    let mut all: Vec<f64> = taken.values().flatten().copied().collect();
    all.sort_by(f64::total_cmp);
    // Never more than 20 in any 60 s.
    for (i, start) in all.iter().enumerate() {
        let in_minute = all[i..].iter().take_while(|x| **x < start + 60.0).count();
        assert!(
            in_minute <= 20,
            "{in_minute} free probes in the minute from {start}"
        );
    }
    // Never more than 50 in a UTC day.
    let day1 = all.iter().filter(|x| **x < 86_400.0).count();
    let day2 = all.iter().filter(|x| **x >= 86_400.0).count();
    assert!(day1 <= 50 && day2 <= 50, "{day1} / {day2}");
    assert!(day1 >= 30, "every free model probed on day one: {day1}");
    // Paid models are not held back by the free quota.
    let mut s = Schedule::new(5);
    s.add("paid", S(10), t(0.0));
    let taken = simulate(&mut s, 600.0, 1.0, |_, _| Condition::Normal);
    assert!(taken["paid"].len() >= 59);
}

#[test]
fn free_models_are_spaced_by_the_minute_gap() {
    let mut s = Schedule::new(5);
    s.set_free_limits(FreeLimits {
        per_minute: 20,
        per_day: 1000,
    });
    for i in 0..3 {
        let name = format!("f{i}");
        s.add(&name, S(1), t(0.0));
        s.set_free(&name, true);
    }
    let taken = simulate(&mut s, 3600.0, 0.5, |_, _| Condition::Normal);
    let mut all: Vec<f64> = taken.values().flatten().copied().collect();
    all.sort_by(f64::total_cmp);
    assert!(all.windows(2).all(|w| w[1] - w[0] >= 3.0), "{all:?}");
    // 3 free models × 86.4 s per day gap: each every ~259 s.
    let f0 = &taken["f0"];
    let gaps: Vec<f64> = f0.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|g| *g >= 259.0), "{gaps:?}");
}

#[test]
fn budget_stretch_and_pause_apply_to_paid_models_only() {
    let mut s = Schedule::new(9);
    s.add("paid", S(60), t(0.0));
    s.add("free", S(60), t(0.0));
    s.set_free("free", true);
    s.set_free_limits(FreeLimits {
        per_minute: 20,
        per_day: 100_000,
    });
    s.set_pace(Pace::Stretched(2.5));
    let taken = simulate(&mut s, 1000.0, 0.5, |_, _| Condition::Normal);
    let gaps: Vec<f64> = taken["paid"].windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|g| (g - 150.0).abs() < 0.6), "{gaps:?}");
    let gaps: Vec<f64> = taken["free"].windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|g| (g - 60.0).abs() < 0.6), "{gaps:?}");

    // Paused until midnight: paid probes wait, "probe now" still works.
    let mut s = Schedule::new(9);
    s.add("paid", S(60), t(0.0));
    s.set_pace(Pace::PausedUntil(t(86_400.0)));
    let taken = simulate(&mut s, 3600.0, 1.0, |_, _| Condition::Normal);
    assert!(!taken.contains_key("paid"));
    assert!(s.next_due("paid").unwrap() >= t(86_400.0));
    s.probe_now(Some("paid"), t(3601.0));
    assert_eq!(s.take_due(t(3601.0)).len(), 1);
}

#[test]
fn a_thousand_models_at_one_second_spread_evenly() {
    let mut s = Schedule::new(42);
    for i in 0..1000 {
        s.add(&format!("m{i}"), S(1), t(0.0));
    }
    // In 100 ms steps, each step takes roughly a tenth of the models.
    let mut now = 0.0;
    let mut per_step = Vec::new();
    while now < 1.99 {
        let taken = s.take_due(t(now));
        per_step.push(taken.len());
        for d in taken {
            s.finish(&d.model, t(now + 0.05), Condition::Normal);
        }
        now += 0.1;
    }
    let total: usize = per_step.iter().sum();
    assert!((1900..=2100).contains(&total), "{total}: {per_step:?}");
    assert!(
        per_step.iter().skip(1).all(|n| (40..=170).contains(n)),
        "{per_step:?}"
    );
}

#[test]
fn condition_from_status() {
    assert_eq!(Condition::of(Status::Unhealthy, None), Condition::HalfOpen);
    assert_eq!(
        Condition::of(Status::Recovering, None),
        Condition::HalfOpen,
        "a recovering model keeps the half-open rate until it is healthy"
    );
    assert_eq!(
        Condition::of(Status::RateLimited, Some(t(5.0))),
        Condition::CoolingUntil(t(5.0))
    );
    assert_eq!(Condition::of(Status::Degraded, None), Condition::Normal);
    assert_eq!(
        Condition::of(Status::Misconfigured, None),
        Condition::Misconfigured
    );
    assert_eq!(next_midnight(t(100.0)), t(86_400.0));
    assert_eq!(next_midnight(t(86_400.0)), t(2.0 * 86_400.0));
}

/// Runs a model's probes until `until`, each clean, polling its free
/// signal (always clear) when due; returns the probe times.
fn stable_run(s: &mut Schedule, from: f64, until: f64) -> Vec<f64> {
    let mut taken = Vec::new();
    let mut now = from;
    while now <= until {
        for name in s.take_signals(t(now)) {
            s.signal_seen(&name, t(now), Signal::Clear { uptime: 100.0 });
        }
        for due in s.take_due(t(now)) {
            taken.push(now);
            s.clean(&due.model);
            s.finish(&due.model, t(now), Condition::Normal);
        }
        now += 1.0;
    }
    taken
}

fn gaps(times: &[f64]) -> Vec<f64> {
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

#[test]
fn stable_models_stretch_and_snap_back() {
    let mut s = Schedule::new(3);
    s.add("m", S(60), t(0.0));
    s.set_cost_cap("m", 16);
    let taken = stable_run(&mut s, 0.0, 4.0 * 3600.0);
    let g = gaps(&taken);
    // Five clean probes at each gap, then it doubles: 1, 2, 4, 8, 16 min.
    let first_at = |gap: f64| g.iter().position(|x| (x - gap).abs() < 0.6).unwrap();
    assert_eq!(
        [60.0, 120.0, 240.0, 480.0, 960.0].map(first_at),
        [0, 4, 9, 14, 19],
        "{g:?}"
    );
    assert!(g.iter().skip(19).all(|x| (x - 960.0).abs() < 0.6), "{g:?}");
    assert_eq!(s.stretch("m"), 16);
    assert_eq!(s.gap("m"), Some(S(960)));
    assert!(s.covered("m"));
    // A failure: back to the full rate, the next probe within an interval.
    let now = *taken.last().unwrap() + 30.0;
    s.trouble("m", t(now), false);
    assert_eq!(s.stretch("m"), 1);
    assert_eq!(secs(s.next_due("m").unwrap()), now + 60.0);
    let again = stable_run(&mut s, now, now + 1200.0);
    assert!(
        gaps(&again).iter().take(4).all(|x| (x - 60.0).abs() < 0.6),
        "the streak starts over: {again:?}"
    );
}

#[test]
fn cheap_or_uncovered_models_keep_the_full_rate() {
    // Cheap: not worth stretching, and its signal is never polled.
    let mut s = Schedule::new(3);
    s.add("cheap", S(60), t(0.0));
    s.set_cost_cap("cheap", 1);
    let taken = stable_run(&mut s, 0.0, 3600.0);
    assert!(gaps(&taken).iter().all(|x| (x - 60.0).abs() < 0.6));
    assert!(s.take_signals(t(4000.0)).is_empty());
    // Worth it, but nothing stands in (a direct API): full rate.
    let mut s = Schedule::new(3);
    s.add("direct", S(60), t(0.0));
    s.set_cost_cap("direct", 16);
    let mut now = 0.0;
    let mut taken = Vec::new();
    while now <= 3500.0 {
        for name in s.take_signals(t(now)) {
            s.signal_seen(&name, t(now), Signal::Absent("404".into()));
        }
        for due in s.take_due(t(now)) {
            taken.push(now);
            s.clean(&due.model);
            s.finish(&due.model, t(now), Condition::Normal);
        }
        now += 1.0;
    }
    assert!(gaps(&taken).iter().all(|x| (x - 60.0).abs() < 0.6));
    // An absent signal is asked again after an hour, not every minute.
    assert!(s.take_signals(t(1800.0)).is_empty());
    assert_eq!(s.take_signals(t(3601.0)), vec!["direct".to_string()]);
    // The fixed cadence never stretches.
    let mut s = Schedule::new(3);
    s.set_cadence(Cadence::fixed());
    s.add("m", S(60), t(0.0));
    s.set_cost_cap("m", 16);
    let taken = stable_run(&mut s, 0.0, 3600.0);
    assert!(gaps(&taken).iter().all(|x| (x - 60.0).abs() < 0.6));
}

#[test]
fn a_free_signal_warning_brings_the_paid_probe_back_at_once() {
    let mut s = Schedule::new(3);
    s.add("m", S(60), t(0.0));
    s.set_cost_cap("m", 16);
    let taken = stable_run(&mut s, 0.0, 3.0 * 3600.0);
    let last = *taken.last().unwrap();
    assert_eq!(s.stretch("m"), 16);
    // On the grid (the phase is a fraction of a second after `last`).
    let next = secs(s.next_due("m").unwrap());
    assert!((next - (last + 960.0)).abs() < 1.0, "{next} vs {last}");
    // The signal is polled every interval (60 s), whatever the paid gap.
    let end = 3.0 * 3600.0;
    let mut poll_times = Vec::new();
    let mut now = end + 1.0;
    while now < end + 300.0 {
        for name in s.take_signals(t(now)) {
            poll_times.push(now);
            s.signal_seen(&name, t(now), Signal::Clear { uptime: 100.0 });
        }
        now += 1.0;
    }
    assert!(poll_times.len() >= 4, "{poll_times:?}");
    assert!(
        gaps(&poll_times).iter().all(|x| (x - 60.0).abs() < 0.6),
        "{poll_times:?}"
    );
    assert_eq!(s.stretch("m"), 16, "clear skies keep the stretch");
    // The signal warns: the paid probe is due at once, at the full rate.
    let warned = now + 60.0;
    let mut news = false;
    for name in s.take_signals(t(warned)) {
        news = s.signal_seen(
            &name,
            t(warned),
            Signal::Warning {
                uptime: Some(40.0),
                why: "down".into(),
            },
        );
    }
    assert!(news, "a warning after clear skies is news");
    assert_eq!(s.next_due("m"), Some(t(warned)));
    assert_eq!(s.stretch("m"), 1);
    assert!(!s.covered("m"));
    assert_eq!(s.take_due(t(warned)).len(), 1);
    s.finish("m", t(warned), Condition::Normal);
    assert_eq!(secs(s.next_due("m").unwrap()), warned + 60.0);
    // The same warning again is no news, and adds no probe between the
    // regular ones.
    for name in s.take_signals(t(warned + 60.0)) {
        let again = s.signal_seen(
            &name,
            t(warned + 30.0),
            Signal::Warning {
                uptime: Some(40.0),
                why: "down".into(),
            },
        );
        assert!(!again);
    }
    assert_eq!(secs(s.next_due("m").unwrap()), warned + 60.0);
}

#[test]
fn a_real_prompt_stands_in_for_the_paid_probe() {
    let mut s = Schedule::new(3);
    s.add("m", S(60), t(0.0));
    let first = secs(s.next_due("m").unwrap());
    s.take_due(t(first));
    s.finish("m", t(first), Condition::Normal);
    // A prompt succeeded 20 s before the next slot: the slot is skipped
    // and the paid probe waits a whole interval after the prompt.
    s.stand_in("m", t(first + 40.0));
    assert!(s.take_due(t(first + 60.0)).is_empty());
    assert_eq!(secs(s.next_due("m").unwrap()), first + 100.0);
    // Steady traffic: no paid probe at all.
    let mut probes = 0;
    let mut now = first + 60.0;
    let mut tick = 0;
    while now < first + 3600.0 {
        if tick % 30 == 0 {
            s.stand_in("m", t(now));
        }
        tick += 1;
        for d in s.take_due(t(now)) {
            probes += 1;
            s.finish(&d.model, t(now), Condition::Normal);
        }
        now += 1.0;
    }
    assert_eq!(probes, 0);
    // Traffic stops: the paid probe is back one interval after the last.
    let last = first + 3570.0;
    let taken = simulate_from(&mut s, first + 3600.0, first + 3800.0);
    assert_eq!(taken.first().copied(), Some(last + 60.0));
    // Trouble: nothing stands in for a model that just failed.
    s.stand_in("m", t(first + 3800.0));
    s.trouble("m", t(first + 3801.0), false);
    assert!(s.next_due("m").unwrap() <= t(first + 3861.0));
    // "Probe now" is never skipped, and the fixed cadence takes no stand-in.
    s.stand_in("m", t(first + 3900.0));
    s.probe_now(Some("m"), t(first + 3901.0));
    assert_eq!(s.take_due(t(first + 3901.0)).len(), 1);
    let mut fixed = Schedule::new(3);
    fixed.set_cadence(Cadence::fixed());
    fixed.add("m", S(60), t(0.0));
    let first = secs(fixed.next_due("m").unwrap());
    fixed.take_due(t(first));
    fixed.finish("m", t(first), Condition::Normal);
    fixed.stand_in("m", t(first + 40.0));
    assert_eq!(fixed.take_due(t(first + 60.0)).len(), 1);
}

fn simulate_from(s: &mut Schedule, from: f64, until: f64) -> Vec<f64> {
    let mut taken = Vec::new();
    let mut now = from;
    while now <= until {
        for d in s.take_due(t(now)) {
            taken.push(now);
            s.finish(&d.model, t(now), Condition::Normal);
        }
        now += 1.0;
    }
    taken
}
