//! At most one alert per rule and model per `min_interval` (pure: time is
//! passed in). A change that comes sooner is held back, the latest one
//! replacing the one before; when the interval is over, the held change is
//! sent if it leaves the model in another state than the last alert said,
//! and forgotten if not. A model that flaps down and up ten times in five
//! minutes pages once, and the last page tells where it ended.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::payload::Alert;
use crate::health::Status;

#[derive(Debug, Clone)]
struct Slot {
    last_sent: DateTime<Utc>,
    last_to: Status,
    held: Option<Alert>,
    /// Changes held back since the last alert.
    held_count: u32,
}

/// The last alert per (rule, model), and what waits behind it. One slot per
/// pair the config can name: bounded by rules × models.
#[derive(Debug, Clone, Default)]
pub struct Throttle {
    slots: HashMap<(usize, String), Slot>,
}

impl Throttle {
    /// `alert` (of rule number `rule`) at `now`: back to be sent now, with
    /// `held_back` set to the changes held since the last one, or `None`
    /// when it is held.
    pub fn offer(
        &mut self,
        rule: usize,
        min_interval: Duration,
        mut alert: Alert,
        now: DateTime<Utc>,
    ) -> Option<Alert> {
        let key = (rule, alert.model.clone());
        match self.slots.get_mut(&key) {
            Some(slot) if !passed(slot.last_sent, min_interval, now) => {
                slot.held_count += 1;
                slot.held = Some(alert);
                None
            }
            Some(slot) => {
                alert.held_back = slot.held_count;
                *slot = Slot {
                    last_sent: now,
                    last_to: alert.to,
                    held: None,
                    held_count: 0,
                };
                Some(alert)
            }
            None => {
                self.slots.insert(
                    key,
                    Slot {
                        last_sent: now,
                        last_to: alert.to,
                        held: None,
                        held_count: 0,
                    },
                );
                Some(alert)
            }
        }
    }

    /// Held alerts whose interval is over at `now` and whose state differs
    /// from the last one sent, with their rule numbers; held alerts that
    /// would repeat the last one are dropped.
    pub fn due(
        &mut self,
        now: DateTime<Utc>,
        min_interval: impl Fn(usize) -> Duration,
    ) -> Vec<(usize, Alert)> {
        let mut out = Vec::new();
        for ((rule, _), slot) in &mut self.slots {
            if slot.held.is_none() || !passed(slot.last_sent, min_interval(*rule), now) {
                continue;
            }
            let Some(mut alert) = slot.held.take() else {
                continue;
            };
            let count = std::mem::take(&mut slot.held_count);
            if alert.to == slot.last_to {
                continue;
            }
            alert.held_back = count.saturating_sub(1);
            // "was" is what the last alert said, not the held change's own
            // start: the states in between were never announced.
            alert.from = slot.last_to;
            slot.last_sent = now;
            slot.last_to = alert.to;
            out.push((*rule, alert));
        }
        out.sort_by_key(|(rule, alert)| (alert.at, *rule));
        out
    }

    /// Whether anything is held back (the follower ticks only then).
    pub fn holds_any(&self) -> bool {
        self.slots.values().any(|s| s.held.is_some())
    }
}

fn passed(since: DateTime<Utc>, interval: Duration, now: DateTime<Utc>) -> bool {
    chrono::TimeDelta::from_std(interval).is_ok_and(|d| now >= since + d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).single().unwrap() + TimeDelta::seconds(secs)
    }

    fn alert(model: &str, from: Status, to: Status, at: i64) -> Alert {
        Alert {
            rule: "r".into(),
            at: t(at),
            model: model.into(),
            model_id: format!("x/{model}"),
            from,
            to,
            reason: String::new(),
            in_chain: true,
            held_back: 0,
        }
    }

    const MIN: Duration = Duration::from_secs(300);

    #[test]
    fn a_flapping_model_pages_once_and_then_where_it_ended() {
        use Status::*;
        let mut th = Throttle::default();
        let first = th.offer(0, MIN, alert("a", Healthy, Unhealthy, 0), t(0));
        assert_eq!(first.map(|a| a.to), Some(Unhealthy));
        // Up and down again within the interval: held.
        assert!(th
            .offer(0, MIN, alert("a", Unhealthy, Healthy, 30), t(30))
            .is_none());
        assert!(th
            .offer(0, MIN, alert("a", Healthy, Unhealthy, 60), t(60))
            .is_none());
        assert!(th.holds_any());
        assert!(
            th.due(t(299), |_| MIN).is_empty(),
            "not before the interval"
        );
        // It ended where the last alert said: nothing to send, nothing held.
        assert!(th.due(t(300), |_| MIN).is_empty());
        assert!(!th.holds_any());

        // The interval since the last alert is over: the next change goes at once.
        let up = th.offer(0, MIN, alert("a", Unhealthy, Healthy, 310), t(310));
        assert_eq!(up.map(|a| (a.to, a.held_back)), Some((Healthy, 0)));
    }

    #[test]
    fn held_changes_go_out_when_the_state_moved() {
        use Status::*;
        let mut th = Throttle::default();
        assert!(th
            .offer(0, MIN, alert("a", Healthy, Unhealthy, 0), t(0))
            .is_some());
        assert!(th
            .offer(0, MIN, alert("a", Unhealthy, Healthy, 10), t(10))
            .is_none());
        assert!(th
            .offer(0, MIN, alert("a", Healthy, Unhealthy, 20), t(20))
            .is_none());
        assert!(th
            .offer(0, MIN, alert("a", Unhealthy, Healthy, 30), t(30))
            .is_none());
        let out = th.due(t(300), |_| MIN);
        assert_eq!(out.len(), 1);
        let (rule, a) = &out[0];
        assert_eq!((*rule, a.to, a.held_back), (0, Healthy, 2));
        // The release counts as the last alert: the next change waits again.
        assert!(th
            .offer(0, MIN, alert("a", Healthy, Unhealthy, 310), t(310))
            .is_none());
    }

    #[test]
    fn after_the_interval_a_change_goes_at_once_with_the_count() {
        use Status::*;
        let mut th = Throttle::default();
        assert!(th
            .offer(0, MIN, alert("a", Healthy, Unhealthy, 0), t(0))
            .is_some());
        assert!(th
            .offer(0, MIN, alert("a", Unhealthy, Healthy, 10), t(10))
            .is_none());
        let late = th.offer(0, MIN, alert("a", Healthy, Degraded, 400), t(400));
        assert_eq!(late.map(|a| (a.to, a.held_back)), Some((Degraded, 1)));
        assert!(!th.holds_any(), "the newer change replaces the held one");
    }

    #[test]
    fn rules_and_models_are_throttled_apart() {
        use Status::*;
        let mut th = Throttle::default();
        assert!(th
            .offer(0, MIN, alert("a", Healthy, Unhealthy, 0), t(0))
            .is_some());
        assert!(th
            .offer(0, MIN, alert("b", Healthy, Unhealthy, 1), t(1))
            .is_some());
        assert!(th
            .offer(1, MIN, alert("a", Healthy, Unhealthy, 2), t(2))
            .is_some());
        assert!(th
            .offer(0, MIN, alert("a", Unhealthy, Healthy, 3), t(3))
            .is_none());
    }
}
