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
//!
//! What paid probes cost is kept low by the [`Cadence`] (`cadence.rs`): a
//! stable model whose probes are worth saving, covered by a free signal
//! (`signal.rs`: OpenRouter's uptime, polled on its own cadence here),
//! stretches its gap; any trouble snaps it back. A real prompt (or proxied
//! traffic) that succeeded stands in for the paid probe: the next one is
//! not due before a full gap after it.

mod cadence;
mod signal;

pub use cadence::{
    is_slow, Cadence, CLEAN_STREAK, MAX_GAP, MAX_STRETCH, QUIET_DAY, SIGNAL_EVERY_MAX,
    SIGNAL_EVERY_MIN, SLOW_MARGIN, SLOW_SAMPLES,
};
pub use signal::{judge, Endpoints, ParseError as EndpointsParseError, ProviderUptime, Signal};

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::health::Status;
use crate::pace::{next_midnight, Pace};
use cadence::Stretch;

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
/// An endpoint without the free signal is asked again after this long.
pub const SIGNAL_ABSENT_FOR: Duration = Duration::from_secs(3600);

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
    /// How far its gap is stretched while it is stable.
    stretch: Stretch,
    /// When a real prompt (or proxied traffic) last succeeded while the
    /// model was in its normal condition: it stands in for a paid probe.
    stand_in: Option<DateTime<Utc>>,
    /// The gap its current cycle was scheduled with.
    gap: Duration,
    signal: SignalSlot,
}

/// When a model's free signal is next polled, and what it said last.
#[derive(Debug, Clone)]
struct SignalSlot {
    next: DateTime<Utc>,
    in_flight: bool,
    /// The endpoint has no such signal: not asked before then.
    absent_until: Option<DateTime<Utc>>,
    last: Option<Signal>,
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
    cadence: Cadence,
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
            cadence: Cadence::default(),
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
            stretch: Stretch::default(),
            stand_in: None,
            gap: interval,
            signal: SignalSlot {
                next: start,
                in_flight: false,
                absent_until: None,
                last: None,
            },
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

    /// The earliest time anything is due (a probe, or a free signal's
    /// poll): when the live loop should wake.
    pub fn next_wake(&self) -> Option<DateTime<Utc>> {
        let probes = self
            .slots
            .iter()
            .filter(|s| !s.in_flight)
            .map(|s| s.next_due);
        let signals = self.slots.iter().filter(|s| self.wants_signal(s)).map(|s| {
            s.signal
                .next
                .max(s.signal.absent_until.unwrap_or(s.signal.next))
        });
        probes.chain(signals).min()
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
            // A real prompt that succeeded within the gap stands in: the
            // paid probe waits until a whole gap has passed without one.
            if let Some(seen) = slot.stand_in.filter(|_| !slot.forced) {
                let after = seen + whole_ms(slot.gap);
                if after > now {
                    slot.anchor = after;
                    slot.next_due = after;
                    continue;
                }
            }
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
        slot.gap = period;
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
        // Nothing stands in for a model in trouble.
        slot.stand_in = None;
        slot.stretch.trouble();
        slot.anchor = next;
        slot.next_due = next;
        slot.gap = period;
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

    /// The cadence policy (chainwatch's by default).
    pub fn set_cadence(&mut self, cadence: Cadence) {
        self.cadence = cadence;
        if !cadence.adaptive {
            for slot in &mut self.slots {
                slot.stretch.trouble();
                slot.stand_in = None;
            }
        }
    }

    pub fn cadence(&self) -> Cadence {
        self.cadence
    }

    /// How far `name`'s cost makes stretching worth it
    /// ([`Cadence::cost_cap`]).
    pub fn set_cost_cap(&mut self, name: &str, cap: u32) {
        if let Some(slot) = self.slot_mut(name) {
            slot.stretch.set_cost_cap(cap);
        }
    }

    /// A paid probe of `name` was clean (answered, not slow, healthy): the
    /// streak grows. Call before [`Schedule::finish`].
    pub fn clean(&mut self, name: &str) {
        let cadence = self.cadence;
        if let Some(slot) = self.slot_mut(name) {
            let interval = slot.interval;
            slot.stretch.clean(&cadence, interval);
        }
    }

    /// A sign of trouble about `name` (a failure, a slow reply, a status
    /// other than healthy): back to the full rate. With `at_once` the paid
    /// probe is due now (a free-signal warning); else within an interval.
    pub fn trouble(&mut self, name: &str, now: DateTime<Utc>, at_once: bool) {
        let Some(slot) = self.slot_mut(name) else {
            return;
        };
        slot.stretch.trouble();
        slot.stand_in = None;
        if slot.in_flight {
            return; // `finish` schedules it at the full rate.
        }
        let soon = if at_once {
            now
        } else {
            now + whole_ms(slot.interval)
        };
        if soon < slot.next_due {
            slot.next_due = soon;
            slot.anchor = soon;
        }
        slot.gap = slot.gap.min(slot.interval);
    }

    /// A real prompt (or proxied traffic) to `name` succeeded at `now`
    /// while it was in its normal condition: it stands in for the paid
    /// probe of this gap.
    pub fn stand_in(&mut self, name: &str, now: DateTime<Utc>) {
        if !self.cadence.adaptive {
            return;
        }
        if let Some(slot) = self.slot_mut(name) {
            slot.stand_in = Some(slot.stand_in.map_or(now, |t| t.max(now)));
        }
    }

    /// The gap `name`'s current cycle was scheduled with: the interval,
    /// stretched, halved… as its condition and the budget say.
    pub fn gap(&self, name: &str) -> Option<Duration> {
        self.slot(name).map(|s| s.gap)
    }

    /// How far `name`'s paid probes are stretched now (1: the full rate).
    pub fn stretch(&self, name: &str) -> u32 {
        self.slot(name)
            .map_or(1, |s| s.stretch.factor(&self.cadence, s.interval))
    }

    /// Whether a free signal covers `name` now.
    pub fn covered(&self, name: &str) -> bool {
        self.slot(name).is_some_and(|s| s.stretch.covered())
    }

    /// What `name`'s free signal said last.
    pub fn last_signal(&self, name: &str) -> Option<&Signal> {
        self.slot(name).and_then(|s| s.signal.last.as_ref())
    }

    fn wants_signal(&self, slot: &Slot) -> bool {
        !slot.free
            && !slot.signal.in_flight
            && slot.stretch.worth_signal(&self.cadence, slot.interval)
    }

    /// The models whose free signal is due at `now`, marked in flight; the
    /// caller polls each and calls [`Schedule::signal_seen`].
    pub fn take_signals(&mut self, now: DateTime<Utc>) -> Vec<String> {
        let wanted: Vec<usize> = (0..self.slots.len())
            .filter(|&i| {
                self.slots.get(i).is_some_and(|s| {
                    self.wants_signal(s)
                        && s.signal.next <= now
                        && s.signal.absent_until.is_none_or(|t| t <= now)
                })
            })
            .collect();
        let mut out = Vec::with_capacity(wanted.len());
        for i in wanted {
            if let Some(slot) = self.slots.get_mut(i) {
                slot.signal.in_flight = true;
                out.push(slot.name.clone());
            }
        }
        out
    }

    /// `name`'s free signal said `signal` at `now`. A warning brings the
    /// paid probe back at once; a signal that cannot be read covers
    /// nothing. Returns whether this is news (the verdict's kind changed).
    pub fn signal_seen(&mut self, name: &str, now: DateTime<Utc>, signal: Signal) -> bool {
        let every = {
            let Some(slot) = self.slot(name) else {
                return false;
            };
            self.cadence.signal_every(slot.interval)
        };
        let kind = |s: &Signal| std::mem::discriminant(s);
        let cadence = self.cadence;
        let (news, stretched) = {
            let Some(slot) = self.slot_mut(name) else {
                return false;
            };
            let stretched = slot.stretch.factor(&cadence, slot.interval) > 1;
            slot.signal.in_flight = false;
            slot.signal.next = now + whole_ms(every);
            let news = slot.signal.last.as_ref().map(kind) != Some(kind(&signal));
            match &signal {
                Signal::Clear { .. } => slot.stretch.set_covered(true),
                Signal::Warning { .. } | Signal::Silent(_) => slot.stretch.set_covered(false),
                Signal::Absent(_) => {
                    slot.stretch.set_covered(false);
                    slot.signal.absent_until = Some(now + whole_ms(SIGNAL_ABSENT_FOR));
                }
            }
            (news, stretched)
        };
        match &signal {
            // At once when it is news or the paid probe was far off; a
            // warning that persists keeps the full rate, no more.
            Signal::Warning { .. } => self.trouble(name, now, news || stretched),
            Signal::Silent(_) | Signal::Absent(_) => self.trouble(name, now, false),
            Signal::Clear { .. } => {}
        }
        if let Some(slot) = self.slot_mut(name) {
            slot.signal.last = Some(signal);
        }
        news
    }

    /// The period of slot `i` in `cond`, with the budget and free limits.
    fn period(&self, i: usize, cond: Condition) -> Duration {
        let Some(slot) = self.slots.get(i) else {
            return MISCONFIGURED_EVERY;
        };
        let mut period = match cond {
            Condition::Normal => slot.interval * slot.stretch.factor(&self.cadence, slot.interval),
            Condition::CoolingUntil(_) => slot.interval,
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
mod tests;
