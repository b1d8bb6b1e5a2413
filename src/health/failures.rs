//! The failure log of one model ([`FailureRing`]): its last
//! [`FAILURES_KEPT`] failures, each with its time, class, HTTP status and
//! the provider's message up to [`FAILURE_MESSAGE_MAX`] characters. Kept in
//! the state file beside the samples and merged across processes the same
//! way (matched by time and class), so `check` and `ask` failures show in
//! the dashboard's log too.
//!
//! Separate from the sample ring on purpose: samples are compact and leave
//! with the window; a failure's words are what an on-call engineer pastes
//! into the incident channel, so the last fifty stay whatever their age.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::FailureClass;

use super::SampleKind;

/// Failures kept per model.
pub const FAILURES_KEPT: usize = 50;
/// Characters of a provider's message kept per failure.
pub const FAILURE_MESSAGE_MAX: usize = 2000;

/// One failure as the log shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureRecord {
    pub at: DateTime<Utc>,
    pub class: FailureClass,
    #[serde(default)]
    pub http_status: Option<u16>,
    /// A probe's failure, or a real prompt's.
    #[serde(default)]
    pub kind: SampleKind,
    /// The provider's message, masked when it was captured.
    #[serde(default)]
    pub message: String,
}

/// The last [`FAILURES_KEPT`] failures of one model, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FailureRing(VecDeque<FailureRecord>);

impl FailureRing {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &FailureRecord> + ExactSizeIterator {
        self.0.iter()
    }

    /// Adds a failure, its message cut to [`FAILURE_MESSAGE_MAX`]; the
    /// oldest leaves when the ring is full. Failures arrive in about time
    /// order (a prompt's is recorded when it ends), so it is placed by time.
    pub fn push(&mut self, mut record: FailureRecord) {
        cut(&mut record.message);
        let at = self
            .0
            .iter()
            .rposition(|r| r.at <= record.at)
            .map_or(0, |i| i + 1);
        self.0.insert(at, record);
        let excess = self.0.len().saturating_sub(FAILURES_KEPT);
        self.0.drain(..excess);
    }

    /// Takes in the failures another writer saved that this ring lacks
    /// (matched by time and class), keeping the newest [`FAILURES_KEPT`].
    /// Returns how many were new.
    pub fn merge(&mut self, other: &FailureRing) -> usize {
        let foreign: Vec<FailureRecord> = other
            .0
            .iter()
            .filter(|o| !self.0.iter().any(|r| r.at == o.at && r.class == o.class))
            .cloned()
            .collect();
        if foreign.is_empty() {
            return 0;
        }
        // Marked, so that what is too old to stay is not counted as taken.
        let mut all: Vec<(bool, FailureRecord)> = self
            .0
            .drain(..)
            .map(|r| (false, r))
            .chain(foreign.into_iter().map(|r| (true, r)))
            .collect();
        all.sort_by_key(|(_, r)| r.at);
        let keep_from = all.len().saturating_sub(FAILURES_KEPT);
        let mut taken = 0;
        self.0 = all
            .into_iter()
            .skip(keep_from)
            .map(|(theirs, r)| {
                taken += usize::from(theirs);
                r
            })
            .collect();
        self.bound();
        taken
    }

    /// Holds a ring read from a file to the bounds a recorded one keeps.
    pub fn bound(&mut self) {
        let excess = self.0.len().saturating_sub(FAILURES_KEPT);
        self.0.drain(..excess);
        for r in &mut self.0 {
            cut(&mut r.message);
        }
    }

    /// The failures at or after `since`, oldest first.
    pub fn since(&self, since: DateTime<Utc>) -> impl Iterator<Item = &FailureRecord> {
        self.0.iter().filter(move |r| r.at >= since)
    }
}

fn cut(message: &mut String) {
    if let Some((at, _)) = message.char_indices().nth(FAILURE_MESSAGE_MAX) {
        message.truncate(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).single().unwrap()
    }

    fn rec(secs: i64, message: &str) -> FailureRecord {
        FailureRecord {
            at: t(secs),
            class: FailureClass::ServerError,
            http_status: Some(502),
            kind: SampleKind::Probe,
            message: message.to_string(),
        }
    }

    #[test]
    fn keeps_the_last_fifty_with_long_messages_cut() {
        let mut ring = FailureRing::default();
        for i in 0..(FAILURES_KEPT as i64 + 7) {
            ring.push(rec(i, &format!("failure {i}")));
        }
        assert_eq!(ring.len(), FAILURES_KEPT);
        assert_eq!(ring.iter().next().unwrap().message, "failure 7");
        assert_eq!(ring.iter().last().unwrap().message, "failure 56");
        ring.push(rec(100, &"é".repeat(FAILURE_MESSAGE_MAX + 10)));
        let long = &ring.iter().last().unwrap().message;
        assert_eq!(long.chars().count(), FAILURE_MESSAGE_MAX);
        // A late prompt failure lands in time order.
        ring.push(rec(50, "late"));
        let times: Vec<_> = ring.iter().map(|r| r.at).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    }

    #[test]
    fn merge_takes_the_missing_and_keeps_the_newest() {
        let mut mine = FailureRing::default();
        let mut theirs = FailureRing::default();
        for i in 0..30 {
            mine.push(rec(i * 2, "mine"));
            theirs.push(rec(i * 2 + 1, "theirs"));
        }
        // One both have: not taken twice.
        theirs.push(rec(0, "mine"));
        assert_eq!(
            mine.merge(&theirs),
            25,
            "five of theirs were too old to stay"
        );
        assert_eq!(mine.len(), FAILURES_KEPT);
        let times: Vec<_> = mine.iter().map(|r| r.at).collect();
        assert_eq!(times.first(), Some(&t(10)), "the oldest ten left");
        assert_eq!(times.last(), Some(&t(59)));
        assert!(times.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(mine.merge(&theirs), 0, "nothing new the second time");
    }

    #[test]
    fn a_ring_read_from_a_file_is_bounded() {
        let big: Vec<FailureRecord> = (0..80)
            .map(|i| rec(i, &"x".repeat(FAILURE_MESSAGE_MAX * 2)))
            .collect();
        let json = serde_json::to_string(&big).unwrap();
        let mut ring: FailureRing = serde_json::from_str(&json).unwrap();
        ring.bound();
        assert_eq!(ring.len(), FAILURES_KEPT);
        assert!(ring
            .iter()
            .all(|r| r.message.chars().count() == FAILURE_MESSAGE_MAX));
        assert_eq!(ring.since(t(75)).count(), 5);
    }
}
