//! How fast paid probes go ([`Pace`]) and the UTC day it is judged over.
//!
//! The budget (`pricing::budget_pace`) sets the pace and the schedule
//! (`probe::Schedule`) follows it; both count days from 00:00 UTC, as
//! OpenRouter's free quota does. Living here, between the two, it lets
//! each of them depend on it without depending on the other.

use chrono::{DateTime, NaiveTime, Utc};

/// How fast paid models are probed under the daily budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    Normal,
    /// Every paid interval × this factor (> 1).
    Stretched(f64),
    /// The budget is spent: no paid probes until then (the next UTC day).
    PausedUntil(DateTime<Utc>),
}

impl Pace {
    /// Whether a change from `self` to `new` is worth an event: a pause or a
    /// resume, or a stretch that moved by more than a fifth.
    pub fn differs_notably(&self, new: &Pace) -> bool {
        match (self, new) {
            (Pace::Normal, Pace::Normal) => false,
            (Pace::Stretched(a), Pace::Stretched(b)) => (a / b - 1.0).abs() > 0.2,
            (Pace::PausedUntil(a), Pace::PausedUntil(b)) => a != b,
            _ => true,
        }
    }
}

/// The start of the next UTC day.
pub fn next_midnight(now: DateTime<Utc>) -> DateTime<Utc> {
    let tomorrow = now.date_naive().succ_opt().unwrap_or(now.date_naive());
    tomorrow.and_time(NaiveTime::MIN).and_utc()
}
