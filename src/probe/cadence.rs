//! The cadence policy: how often a *stable* model gets a paid probe, and
//! what brings it back to the full rate. Pure: the schedule holds one
//! [`Stretch`] per model and asks it for the model's gap.
//!
//! - A model is stretched only when three things hold: its probes are worth
//!   saving (at the full rate they would cost more than
//!   [`Cadence::quiet_day`] a day), a free signal covers it (OpenRouter's
//!   uptime for that model, polled every [`Cadence::signal_every`] at no
//!   cost in tokens), and its paid probes have been clean (answered, fast,
//!   healthy) [`Cadence::clean_streak`] times in a row at the current gap.
//!   Then the gap doubles, up to [`Cadence::max_stretch`] intervals and at
//!   most [`Cadence::max_gap`].
//! - Any failure, slow reply, status other than healthy, or free-signal
//!   warning puts it back to the full rate at once (the warning also makes
//!   the paid probe due now); so does losing the free signal.
//! - A model cheap to probe keeps the full rate: stretching it would save
//!   cents a month and cost detection time. One without a free signal (a
//!   direct API) keeps it too: its paid probe is the only detector.

use std::time::Duration;

/// Clean paid probes in a row, at one gap, before the gap doubles.
pub const CLEAN_STREAK: u32 = 5;
/// The longest gap between paid probes, in intervals.
pub const MAX_STRETCH: u32 = 16;
/// …and in time, whatever the interval.
pub const MAX_GAP: Duration = Duration::from_secs(16 * 60);
/// A model whose probes at the full rate cost less than this a day (USD)
/// is not stretched.
pub const QUIET_DAY: f64 = 0.10;
/// The free signal is polled every interval, but not more often than this…
pub const SIGNAL_EVERY_MIN: Duration = Duration::from_secs(30);
/// …nor less often than this: OpenRouter's shortest figure covers 5
/// minutes, and an outage must be seen within 6.
pub const SIGNAL_EVERY_MAX: Duration = Duration::from_secs(60);

/// How stable models are probed less often. [`Cadence::default`] is
/// chainwatch's policy; [`Cadence::fixed`] probes every model every
/// interval (what chainwatch did before, and what `check` does).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cadence {
    /// `false`: every interval, no stretch, no stand-ins, no free signals.
    pub adaptive: bool,
    pub clean_streak: u32,
    pub max_stretch: u32,
    pub max_gap: Duration,
    /// USD a day below which a model's probes are not worth stretching.
    pub quiet_day: f64,
}

impl Default for Cadence {
    fn default() -> Self {
        Cadence {
            adaptive: true,
            clean_streak: CLEAN_STREAK,
            max_stretch: MAX_STRETCH,
            max_gap: MAX_GAP,
            quiet_day: QUIET_DAY,
        }
    }
}

impl Cadence {
    /// Every model every interval; real prompts stand in for nothing.
    pub fn fixed() -> Cadence {
        Cadence {
            adaptive: false,
            ..Cadence::default()
        }
    }

    /// How far a model whose probe costs `per_probe` (USD) at `interval`
    /// is worth stretching: the smallest power of two that brings its day
    /// under [`Cadence::quiet_day`], within the limits. 1 when the cost is
    /// unknown or nothing (free models, local servers).
    pub fn cost_cap(&self, per_probe: Option<f64>, interval: Duration) -> u32 {
        let Some(per_probe) = per_probe.filter(|c| c.is_finite() && *c > 0.0) else {
            return 1;
        };
        if !self.adaptive || interval.is_zero() {
            return 1;
        }
        let day = per_probe * 86_400.0 / interval.as_secs_f64();
        let limit = self.limit(interval);
        let mut s = 1;
        while s < limit && day / f64::from(s) > self.quiet_day {
            s = s.saturating_mul(2);
        }
        s.min(limit)
    }

    /// The most a model at `interval` may stretch: a power of two within
    /// both [`Cadence::max_stretch`] and [`Cadence::max_gap`].
    pub fn limit(&self, interval: Duration) -> u32 {
        if interval.is_zero() {
            return 1;
        }
        let by_gap = (self.max_gap.as_secs_f64() / interval.as_secs_f64()).floor();
        let by_gap = if by_gap >= f64::from(u32::MAX) {
            u32::MAX
        } else {
            by_gap.max(1.0) as u32
        };
        floor_pow2(self.max_stretch.min(by_gap).max(1))
    }

    /// How often the free signal of a model at `interval` is polled.
    pub fn signal_every(&self, interval: Duration) -> Duration {
        interval.clamp(SIGNAL_EVERY_MIN, SIGNAL_EVERY_MAX)
    }
}

/// A reply is slow, for the cadence, when it took more than twice the
/// window's p95 and at least this much more than it…
pub const SLOW_MARGIN: Duration = Duration::from_secs(1);
/// …once the window's p95 rests on this many samples.
pub const SLOW_SAMPLES: u32 = 5;

/// Whether a probe that took `latency` is a slow reply: over `health.slow`
/// when that is set, or far over what the window (`p95` of `samples`
/// counted samples, before this one) says is usual for the model.
pub fn is_slow(
    latency: Duration,
    p95: Option<Duration>,
    samples: u32,
    setting: Option<Duration>,
) -> bool {
    setting.is_some_and(|s| latency > s)
        || (samples >= SLOW_SAMPLES
            && p95.is_some_and(|p95| latency > (p95 * 2).max(p95 + SLOW_MARGIN)))
}

fn floor_pow2(n: u32) -> u32 {
    if n == 0 {
        1
    } else {
        1 << (31 - n.leading_zeros())
    }
}

/// One model's stretch: the factor its interval is multiplied by while it
/// is stable, and what it takes to grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stretch {
    /// 1, 2, 4… (1: the full rate).
    factor: u32,
    /// Clean paid probes in a row at this factor.
    streak: u32,
    /// What the model's cost makes worth it ([`Cadence::cost_cap`]).
    cost_cap: u32,
    /// A free signal answered lately, without a warning.
    covered: bool,
}

impl Default for Stretch {
    fn default() -> Self {
        Stretch {
            factor: 1,
            streak: 0,
            cost_cap: 1,
            covered: false,
        }
    }
}

impl Stretch {
    /// The factor now, within what cost, cover and the policy allow.
    pub(super) fn factor(&self, cadence: &Cadence, interval: Duration) -> u32 {
        self.factor.min(self.cap(cadence, interval)).max(1)
    }

    fn cap(&self, cadence: &Cadence, interval: Duration) -> u32 {
        if !cadence.adaptive || !self.covered {
            return 1;
        }
        self.cost_cap.min(cadence.limit(interval)).max(1)
    }

    /// Whether the model is worth a free signal (its cost would let it
    /// stretch, were it covered).
    pub(super) fn worth_signal(&self, cadence: &Cadence, interval: Duration) -> bool {
        cadence.adaptive && self.cost_cap.min(cadence.limit(interval)) > 1
    }

    pub(super) fn covered(&self) -> bool {
        self.covered
    }

    /// A paid probe was clean: one more in the streak; a full streak
    /// doubles the gap (within the cap).
    pub(super) fn clean(&mut self, cadence: &Cadence, interval: Duration) {
        let cap = self.cap(cadence, interval);
        self.factor = self.factor.min(cap).max(1);
        if self.factor >= cap {
            self.streak = 0;
            return;
        }
        self.streak += 1;
        if self.streak >= cadence.clean_streak.max(1) {
            self.factor = self.factor.saturating_mul(2).min(cap);
            self.streak = 0;
        }
    }

    /// Any sign of trouble: back to the full rate, the streak starts over.
    pub(super) fn trouble(&mut self) {
        self.factor = 1;
        self.streak = 0;
    }

    pub(super) fn set_cost_cap(&mut self, cap: u32) {
        self.cost_cap = cap.max(1);
    }

    /// The free signal answered (`true`) or was lost (`false`: back to the
    /// full rate, for nothing stands in any more).
    pub(super) fn set_covered(&mut self, covered: bool) {
        if !covered {
            self.trouble();
        }
        self.covered = covered;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn cost_decides_how_far_a_model_may_stretch() {
        let c = Cadence::default();
        // (USD per probe at 60 s, cap): the day's cost at the full rate is
        // 1,440 probes.
        let table = [
            (None, 1),
            (Some(0.0), 1),
            (Some(f64::NAN), 1),
            // A cost no one could have spent (a bad `usage.cost`) is unknown,
            // not a reason to stretch to the limit.
            (Some(f64::INFINITY), 1),
            (Some(-1.0), 1),
            // claude-sonnet-4 on the simulator: $0.056 a day.
            (Some(0.000_039), 1),
            // Just over 10 cents a day: halved.
            (Some(0.000_08), 2),
            (Some(0.000_3), 8),
            // gemini-2.5-pro thinking 128 tokens: $1.86 a day, capped.
            (Some(0.001_292_5), 16),
            (Some(1.0), 16),
        ];
        for (per_probe, cap) in table {
            assert_eq!(c.cost_cap(per_probe, MIN), cap, "{per_probe:?}");
        }
        assert_eq!(Cadence::fixed().cost_cap(Some(1.0), MIN), 1);
        // A day exactly at the quiet line is not worth stretching; just over
        // it is (whole numbers, so the day is exact: 0.5 × 1,440 probes).
        let at_the_line = Cadence {
            quiet_day: 720.0,
            ..Cadence::default()
        };
        assert_eq!(at_the_line.cost_cap(Some(0.5), MIN), 1);
        assert_eq!(at_the_line.cost_cap(Some(0.5 + 1e-9), MIN), 2);
    }

    #[test]
    fn the_gap_never_passes_the_limits() {
        let c = Cadence::default();
        assert_eq!(c.limit(MIN), 16);
        // 5 min: 16 min is 3.2 intervals, so 2.
        assert_eq!(c.limit(Duration::from_secs(300)), 2);
        assert_eq!(c.limit(Duration::from_secs(3600)), 1);
        // A 5 s demo interval: 192 intervals in 16 min, max_stretch wins.
        assert_eq!(c.limit(Duration::from_secs(5)), 16);
        assert_eq!(c.limit(Duration::ZERO), 1);
        assert_eq!(c.cost_cap(Some(1.0), Duration::from_secs(300)), 2);
        assert_eq!(c.signal_every(Duration::from_secs(5)), SIGNAL_EVERY_MIN);
        assert_eq!(c.signal_every(MIN), MIN);
        assert_eq!(c.signal_every(Duration::from_secs(600)), SIGNAL_EVERY_MAX);
        assert_eq!(
            (floor_pow2(0), floor_pow2(1), floor_pow2(7), floor_pow2(16)),
            (1, 1, 4, 16)
        );
    }

    #[test]
    fn slow_replies() {
        let ms = Duration::from_millis;
        // (latency, p95, samples, health.slow, slow?)
        let table = [
            (ms(900), Some(ms(800)), 20, None, false),
            // Twice the p95 but within a second of it: jitter, not slow.
            (ms(40), Some(ms(10)), 20, None, false),
            (ms(1900), Some(ms(800)), 20, None, true),
            (ms(2_100), Some(ms(1_000)), 20, None, true),
            // A thinking model's 5 s is usual for it.
            (ms(5_500), Some(ms(5_000)), 20, None, false),
            (ms(11_000), Some(ms(5_000)), 20, None, true),
            // Past p95 + 1 s but within twice the p95; and exactly twice.
            (ms(8_000), Some(ms(5_000)), 20, None, false),
            (ms(10_000), Some(ms(5_000)), 20, None, false),
            // Too few samples to know what is usual.
            (ms(9_000), Some(ms(100)), 4, None, false),
            (ms(9_000), None, 20, None, false),
            // health.slow is the user's word.
            (ms(9_000), None, 0, Some(ms(8_000)), true),
            (ms(7_000), None, 0, Some(ms(8_000)), false),
            (ms(8_000), None, 0, Some(ms(8_000)), false),
        ];
        for (latency, p95, samples, setting, want) in table {
            assert_eq!(
                is_slow(latency, p95, samples, setting),
                want,
                "{latency:?} {p95:?} {samples} {setting:?}"
            );
        }
    }

    #[test]
    fn clean_streaks_double_the_gap_and_trouble_resets_it() {
        let c = Cadence::default();
        let mut s = Stretch::default();
        s.set_cost_cap(16);
        // Not covered: no stretch, however clean.
        for _ in 0..20 {
            s.clean(&c, MIN);
        }
        assert_eq!(s.factor(&c, MIN), 1);
        s.set_covered(true);
        let mut factors = Vec::new();
        for _ in 0..25 {
            s.clean(&c, MIN);
            factors.push(s.factor(&c, MIN));
        }
        let firsts: Vec<usize> = [2, 4, 8, 16]
            .iter()
            .map(|f| factors.iter().position(|x| x == f).unwrap())
            .collect();
        assert_eq!(firsts, vec![4, 9, 14, 19], "{factors:?}");
        assert_eq!(*factors.last().unwrap(), 16, "stays at the cap");
        s.trouble();
        assert_eq!(s.factor(&c, MIN), 1);
        // Losing the cover is trouble too.
        for _ in 0..5 {
            s.clean(&c, MIN);
        }
        assert_eq!(s.factor(&c, MIN), 2);
        s.set_covered(false);
        assert_eq!(s.factor(&c, MIN), 1);
        s.set_covered(true);
        assert_eq!(s.factor(&c, MIN), 1, "the streak starts over");
        // A lower cost cap takes effect at once.
        for _ in 0..20 {
            s.clean(&c, MIN);
        }
        assert_eq!(s.factor(&c, MIN), 16);
        s.set_cost_cap(2);
        assert_eq!(s.factor(&c, MIN), 2);
        assert!(s.worth_signal(&c, MIN));
        s.set_cost_cap(1);
        assert!(!s.worth_signal(&c, MIN));
        assert!(!Stretch::default().worth_signal(&Cadence::fixed(), MIN));
    }
}
