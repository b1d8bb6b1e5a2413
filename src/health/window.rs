//! The running figures over a model's window ([`WindowStats`]) and the
//! percentile arithmetic on them: counts and failures by class, plus the
//! window's latencies, TTFTs and speeds kept sorted as samples come and go,
//! so a snapshot is a lookup rather than a pass over the ring.

use std::time::Duration;

use crate::api::FailureClass;

use super::{Percentiles, Sample};

/// ok / counted, for `counted > 0`.
pub(super) fn ratio(ok: u32, counted: u32) -> f64 {
    f64::from(ok) / f64::from(counted)
}

/// Running figures over a model's ring: counts, failures by class, and the
/// window's values kept sorted (insert and remove by binary search), so
/// percentiles are a lookup.
#[derive(Debug, Clone, Default)]
pub(super) struct WindowStats {
    pub(super) samples: u32,
    pub(super) ok: u32,
    pub(super) counted: u32,
    pub(super) by_class: [u32; FailureClass::ALL.len()],
    /// Successes' total latency, ms.
    pub(super) latencies: Vec<u32>,
    /// Successes' time to first token, ms.
    pub(super) ttfts: Vec<u32>,
    /// Successes' tokens/s × 10.
    pub(super) speeds: Vec<u32>,
}

impl WindowStats {
    pub(super) fn build<'a>(samples: impl Iterator<Item = &'a Sample>) -> WindowStats {
        let mut stats = WindowStats::default();
        for s in samples {
            stats.add(s);
        }
        stats
    }

    pub(super) fn add(&mut self, s: &Sample) {
        self.samples += 1;
        self.counted += u32::from(s.counts());
        match s.class {
            None => {
                self.ok += 1;
                sorted_insert(&mut self.latencies, s.latency_ms);
                if let Some(ttft) = s.ttft_ms {
                    sorted_insert(&mut self.ttfts, ttft);
                }
                if let Some(speed) = speed_key(s) {
                    sorted_insert(&mut self.speeds, speed);
                }
            }
            Some(class) => {
                if let Some(n) = self.by_class.get_mut(class as usize) {
                    *n += 1;
                }
            }
        }
    }

    /// Undoes [`WindowStats::add`] for a sample that was added.
    pub(super) fn remove(&mut self, s: &Sample) {
        self.samples = self.samples.saturating_sub(1);
        self.counted = self.counted.saturating_sub(u32::from(s.counts()));
        match s.class {
            None => {
                self.ok = self.ok.saturating_sub(1);
                sorted_remove(&mut self.latencies, s.latency_ms);
                if let Some(ttft) = s.ttft_ms {
                    sorted_remove(&mut self.ttfts, ttft);
                }
                if let Some(speed) = speed_key(s) {
                    sorted_remove(&mut self.speeds, speed);
                }
            }
            Some(class) => {
                if let Some(n) = self.by_class.get_mut(class as usize) {
                    *n = n.saturating_sub(1);
                }
            }
        }
    }
}

fn speed_key(s: &Sample) -> Option<u32> {
    s.tokens_per_s
        .filter(|t| t.is_finite() && *t >= 0.0)
        .map(|t| (t * 10.0) as u32)
}

fn sorted_insert(v: &mut Vec<u32>, x: u32) {
    let i = v.partition_point(|y| *y < x);
    v.insert(i, x);
}

fn sorted_remove(v: &mut Vec<u32>, x: u32) {
    if let Ok(i) = v.binary_search(&x) {
        v.remove(i);
    }
}

/// Nearest-rank percentile `p` of sorted values.
pub(super) fn sorted_rank(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted.get(rank).copied()
}

pub(super) fn percentiles_sorted(sorted: &[u32]) -> Option<Percentiles> {
    let ms = |v: u32| Duration::from_millis(v.into());
    Some(Percentiles {
        p50: ms(sorted_rank(sorted, 0.50)?),
        p95: ms(sorted_rank(sorted, 0.95)?),
        samples: u32::try_from(sorted.len()).unwrap_or(u32::MAX),
    })
}

/// Nearest-rank p50 and p95 by selection: the reference the running
/// figures are checked against.
#[cfg(test)]
pub(super) fn percentiles_raw(values: &mut [u32]) -> Option<(u32, u32)> {
    if values.is_empty() {
        return None;
    }
    let rank = |p: f64| ((p * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
    let (i50, i95) = (rank(0.50), rank(0.95));
    let p95 = *values.select_nth_unstable(i95).1;
    let p50 = *values[..=i95].select_nth_unstable(i50).1;
    Some((p50, p95))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_nearest_rank() {
        assert_eq!(percentiles_raw(&mut []), None);
        assert_eq!(percentiles_raw(&mut [7]), Some((7, 7)));
        let mut v: Vec<u32> = (1..=100).rev().collect();
        assert_eq!(percentiles_raw(&mut v), Some((50, 95)));
        let mut v = vec![1, 2, 3, 4];
        assert_eq!(percentiles_raw(&mut v), Some((2, 4)));
    }
}
