//! The prober's schedule: when to probe what. Pure: every call takes `now`.
//!
//! Each model has a slot with an *anchor*, the time its current cycle is due.
//! When a probe finishes, the next anchor is the previous anchor plus the
//! model's period (never completion + period), so a slow probe does not push
//! the schedule back; slots missed under load are skipped, not queued.
//!
//! The period depends on what the health engine says about the model:
//!
//! | condition      | period                                             |
//! |----------------|----------------------------------------------------|
//! | normal         | the interval (×budget stretch for paid models)     |
//! | half-open      | interval / 4 while unhealthy or recovering         |
//! | cooling        | not before the 429 cool-down ends                  |
//! | misconfigured  | every 10 min (at least the interval)               |
//!
//! A recovering model (re-admitted, its window still holding the outage)
//! keeps the half-open rate until it is healthy again: a relapse is seen
//! within interval / 4, and the `recover_after` × 2 samples that confirm
//! the recovery come in minutes, not a quarter of an hour. It is a short
//! phase, so the extra probes cost little.
//!
//! Free models (`:free` or priced at zero) share OpenRouter's account limits
//! (20 requests a minute, 50 or 1,000 a day), so their probes are spaced: at
//! most one per `60s / per_minute` across all free models, a period of at
//! least `free models × 1 day / per_day`, and none once the day's quota is
//! spent.
//!
//! Probes do not fire together: each model's first probe lands at a seeded,
//! deterministic offset (a phase) inside its first interval, capped at
//! [`FIRST_SPREAD_MAX`] so the screen fills quickly; the no-drift rule then
//! keeps the phases apart for good.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::health::Status;
use crate::pace::{next_midnight, Pace};

/// Misconfigured models (bad key, no credits, unknown model) are retried this
/// many intervals apart, and at most this rarely: the fix is the user's, not
/// the provider's (with the default 60 s interval: every 10 min).
pub const MISCONFIGURED_INTERVALS: u32 = 10;
pub const MISCONFIGURED_EVERY: Duration = Duration::from_secs(10 * 60);
/// Unhealthy models are probed this many times more often (half-open).
pub const HALF_OPEN_DIVISOR: u32 = 4;
/// The first probes of all models spread over at most this long.
pub const FIRST_SPREAD_MAX: Duration = Duration::from_secs(10);
/// No period is shorter than this, whatever the config says.
pub const MIN_PERIOD: Duration = Duration::from_millis(100);

/// What the health engine says about a model, as far as scheduling goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Condition {
    Normal,
    /// Unhealthy or recovering: probe more often so a recovery is noticed
    /// (and confirmed, or a relapse seen) quickly.
    HalfOpen,
    /// Rate limited: not before this time.
    CoolingUntil(DateTime<Utc>),
    Misconfigured,
}

impl Condition {
    pub fn of(status: Status, rate_limited_until: Option<DateTime<Utc>>) -> Condition {
        match status {
            Status::Unhealthy | Status::Recovering => Condition::HalfOpen,
            Status::Misconfigured => Condition::Misconfigured,
            Status::RateLimited => {
                rate_limited_until.map_or(Condition::Normal, Condition::CoolingUntil)
            }
            Status::Unknown | Status::Healthy | Status::Degraded => Condition::Normal,
        }
    }
}

/// OpenRouter's limits on free model variants, per account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreeLimits {
    pub per_minute: u32,
    /// 50 a day, or 1,000 once $10 of credits were ever bought.
    pub per_day: u32,
}

impl Default for FreeLimits {
    fn default() -> Self {
        FreeLimits {
            per_minute: 20,
            per_day: 50,
        }
    }
}

impl FreeLimits {
    /// The smallest gap between two free probes (any models).
    fn minute_gap(&self) -> Duration {
        Duration::from_secs(60) / self.per_minute.max(1)
    }
    /// The average gap that spends the daily quota evenly.
    fn day_gap(&self) -> Duration {
        Duration::from_secs(86_400) / self.per_day.max(1)
    }
}

/// A probe the caller should run now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub model: String,
    /// When it was due (the caller records it at `now`).
    pub due: DateTime<Utc>,
    /// Asked for ("probe now"), not the regular schedule: a fleet's probe
    /// lease does not hold it back.
    pub forced: bool,
}

#[derive(Debug, Clone)]
struct Slot {
    name: String,
    interval: Duration,
    free: bool,
    /// In [0, 1): where in its interval this model's probes land.
    phase: f64,
    /// When the current cycle is due by the regular schedule.
    anchor: DateTime<Utc>,
    /// When the slot is next taken: the anchor, earlier after "probe now",
    /// later while deferred by a free quota or a paused budget.
    next_due: DateTime<Utc>,
    /// "Probe now": taken at once, even with the budget paused.
    forced: bool,
    in_flight: bool,
}

/// When each model is next probed.
#[derive(Debug, Clone)]
pub struct Schedule {
    seed: u64,
    slots: Vec<Slot>,
    index: HashMap<String, usize>,
    pace: Pace,
    free: FreeLimits,
    /// Free probes started on `free_day` (UTC).
    free_day: Option<chrono::NaiveDate>,
    free_used: u32,
    /// No free probe before this (the per-minute limit).
    free_not_before: Option<DateTime<Utc>>,
}

impl Schedule {
    pub fn new(seed: u64) -> Schedule {
        Schedule {
            seed,
            slots: Vec::new(),
            index: HashMap::new(),
            pace: Pace::Normal,
            free: FreeLimits::default(),
            free_day: None,
            free_used: 0,
            free_not_before: None,
        }
    }

    /// Registers a model (idempotent: a second call updates the interval).
    /// Its first probe is due within `min(interval, FIRST_SPREAD_MAX)` of
    /// `start`, at its seeded phase.
    pub fn add(&mut self, name: &str, interval: Duration, start: DateTime<Utc>) {
        let interval = interval.max(MIN_PERIOD);
        if let Some(&i) = self.index.get(name) {
            if let Some(slot) = self.slots.get_mut(i) {
                slot.interval = interval;
            }
            return;
        }
        let phase = unit_hash(self.seed, name);
        let first = start + whole_ms(scale(interval.min(FIRST_SPREAD_MAX), phase));
        self.index.insert(name.to_string(), self.slots.len());
        self.slots.push(Slot {
            name: name.to_string(),
            interval,
            free: false,
            phase,
            anchor: first,
            next_due: first,
            forced: false,
            in_flight: false,
        });
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Marks a model free (OpenRouter's free-variant limits apply) or paid.
    pub fn set_free(&mut self, name: &str, free: bool) {
        if let Some(slot) = self.slot_mut(name) {
            slot.free = free;
        }
    }

    pub fn is_free(&self, name: &str) -> bool {
        self.slot(name).is_some_and(|s| s.free)
    }

    pub fn set_free_limits(&mut self, limits: FreeLimits) {
        self.free = limits;
    }

    pub fn free_limits(&self) -> FreeLimits {
        self.free
    }

    /// The budget's pace for paid models. A pause defers paid slots that are
    /// due until it ends; a stretch applies from each model's next cycle.
    pub fn set_pace(&mut self, pace: Pace) {
        self.pace = pace;
    }

    pub fn pace(&self) -> Pace {
        self.pace
    }

    /// When the model is next taken (`None` while in flight or unknown).
    pub fn next_due(&self, name: &str) -> Option<DateTime<Utc>> {
        self.slot(name).filter(|s| !s.in_flight).map(|s| s.next_due)
    }

    /// The earliest time anything is due: when the live loop should wake.
    pub fn next_wake(&self) -> Option<DateTime<Utc>> {
        self.slots
            .iter()
            .filter(|s| !s.in_flight)
            .map(|s| s.next_due)
            .min()
    }

    /// Names due at `now`, earliest first, without taking them.
    pub fn due(&self, now: DateTime<Utc>) -> Vec<&str> {
        let mut due: Vec<&Slot> = self
            .slots
            .iter()
            .filter(|s| !s.in_flight && s.next_due <= now)
            .collect();
        due.sort_by_key(|s| s.next_due);
        due.into_iter().map(|s| s.name.as_str()).collect()
    }

    /// Takes every slot due at `now` and marks it in flight; the caller
    /// probes each and calls [`Schedule::finish`]. Slots held back by a free
    /// quota or a paused budget are deferred instead of taken.
    pub fn take_due(&mut self, now: DateTime<Utc>) -> Vec<Due> {
        let mut order: Vec<usize> = (0..self.slots.len())
            .filter(|&i| {
                self.slots
                    .get(i)
                    .is_some_and(|s| !s.in_flight && s.next_due <= now)
            })
            .collect();
        order.sort_by_key(|&i| self.slots.get(i).map(|s| s.next_due));
        if self.free_day != Some(now.date_naive()) {
            self.free_day = Some(now.date_naive());
            self.free_used = 0;
        }
        let mut out = Vec::with_capacity(order.len());
        for i in order {
            let free = self.free;
            let pace = self.pace;
            let Some(slot) = self.slots.get_mut(i) else {
                continue;
            };
            if slot.free {
                if self.free_used >= free.per_day {
                    // Spread tomorrow's first probes by phase, as at start.
                    slot.next_due =
                        next_midnight(now) + whole_ms(scale(free.minute_gap(), slot.phase));
                    slot.forced = false;
                    continue;
                }
                if let Some(not_before) = self.free_not_before.filter(|t| now < *t) {
                    slot.next_due = not_before;
                    continue;
                }
                self.free_used += 1;
                self.free_not_before = Some(now + free.minute_gap());
            } else if let Pace::PausedUntil(until) = pace {
                if !slot.forced && now < until {
                    slot.next_due =
                        until + whole_ms(scale(slot.interval.min(FIRST_SPREAD_MAX), slot.phase));
                    continue;
                }
            }
            slot.in_flight = true;
            let forced = std::mem::take(&mut slot.forced);
            out.push(Due {
                model: slot.name.clone(),
                due: slot.next_due,
                forced,
            });
        }
        out
    }

    /// A probe of `name` ended at `now`, and the model is now in `cond`:
    /// schedule its next cycle from the previous anchor (no drift), skipping
    /// slots that have already passed.
    pub fn finish(&mut self, name: &str, now: DateTime<Utc>, cond: Condition) {
        let Some(&i) = self.index.get(name) else {
            return;
        };
        let period = self.period(i, cond);
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        // After "probe now" the regular anchor is still ahead: keep it (the
        // phase stays), unless the new condition wants the model sooner.
        let mut next = if slot.anchor > now {
            slot.anchor.min(now + period)
        } else {
            advance_past(slot.anchor, period, now)
        };
        if let Condition::CoolingUntil(until) = cond {
            next = next.max(until);
        }
        slot.anchor = next;
        slot.next_due = next;
        slot.in_flight = false;
    }

    /// The model's condition changed between probes (a real prompt failed,
    /// or a 429 arrived): probe sooner when it turned unhealthy, later when
    /// it must cool down.
    pub fn condition_changed(&mut self, name: &str, now: DateTime<Utc>, cond: Condition) {
        let Some(&i) = self.index.get(name) else {
            return;
        };
        let period = self.period(i, cond);
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        if slot.in_flight {
            return; // `finish` will see the new condition.
        }
        let next = match cond {
            Condition::HalfOpen => slot.next_due.min(now + period),
            Condition::CoolingUntil(until) => slot.next_due.max(until),
            Condition::Normal | Condition::Misconfigured => return,
        };
        slot.anchor = next;
        slot.next_due = next;
    }

    /// "Probe now": one model, or all of them (`None`), at once. The regular
    /// anchor is kept, so the phases stay apart afterwards.
    pub fn probe_now(&mut self, name: Option<&str>, now: DateTime<Utc>) -> usize {
        let mut n = 0;
        for slot in &mut self.slots {
            if slot.in_flight || name.is_some_and(|want| want != slot.name) {
                continue;
            }
            slot.next_due = now;
            slot.forced = true;
            n += 1;
        }
        n
    }

    /// The period of slot `i` in `cond`, with the budget and free limits.
    fn period(&self, i: usize, cond: Condition) -> Duration {
        let Some(slot) = self.slots.get(i) else {
            return MISCONFIGURED_EVERY;
        };
        let mut period = match cond {
            Condition::Normal | Condition::CoolingUntil(_) => slot.interval,
            Condition::HalfOpen => slot.interval / HALF_OPEN_DIVISOR,
            Condition::Misconfigured => (slot.interval * MISCONFIGURED_INTERVALS)
                .min(MISCONFIGURED_EVERY)
                .max(slot.interval),
        };
        if slot.free {
            let n_free = self.slots.iter().filter(|s| s.free).count() as u32;
            period = period.max(self.free.day_gap() * n_free.max(1));
        } else if let Pace::Stretched(factor) = self.pace {
            period = scale(period, factor.clamp(1.0, 1e6));
        }
        period.max(MIN_PERIOD)
    }

    fn slot(&self, name: &str) -> Option<&Slot> {
        self.index.get(name).and_then(|&i| self.slots.get(i))
    }

    fn slot_mut(&mut self, name: &str) -> Option<&mut Slot> {
        let i = *self.index.get(name)?;
        self.slots.get_mut(i)
    }
}

/// The first `anchor + k·period` (k ≥ 1) strictly after `now`.
fn advance_past(anchor: DateTime<Utc>, period: Duration, now: DateTime<Utc>) -> DateTime<Utc> {
    let period_ns = i64::try_from(period.as_nanos()).unwrap_or(i64::MAX).max(1);
    let next = anchor + TimeDelta::nanoseconds(period_ns);
    if next > now {
        return next;
    }
    let behind = (now - anchor).num_nanoseconds().unwrap_or(i64::MAX);
    let k = behind / period_ns + 1;
    anchor + TimeDelta::nanoseconds(period_ns.saturating_mul(k))
}

/// Truncated to whole milliseconds: due times stay readable in logs and tests.
fn whole_ms(d: Duration) -> TimeDelta {
    TimeDelta::milliseconds(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `d × f` (f ≥ 0), saturating.
fn scale(d: Duration, f: f64) -> Duration {
    let secs = d.as_secs_f64() * f;
    if secs.is_finite() && secs >= 0.0 {
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
    } else {
        Duration::ZERO
    }
}

/// A deterministic number in [0, 1) from a seed and a name (FNV-1a, then a
/// splitmix64 finaliser): the same model lands at the same phase every run.
fn unit_hash(seed: u64, name: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
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
}
