//! What every request of one server shares: the scenario, its clock, the
//! per-model counters, the model lookups and the money spent so far.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::body::ModelStats;
use super::scenario::{Fault, FaultKind};
use super::Scenario;
use crate::api::FailureClass;

/// Requests kept in the log at most (the oldest go first).
pub const LOG_CAP: usize = 4096;

/// One request as the provider saw it: the simulator's side of a failover
/// scorecard (attempts per model, the gaps between them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRequest {
    /// Scenario time when the request arrived.
    pub at: Duration,
    /// The model id asked for.
    pub model: String,
    /// 1-based: this is the model's `attempt`-th request since the start.
    pub attempt: u64,
    /// The role of the request's last message (`assistant`: a prefill).
    pub last_role: Option<String>,
    /// What the model did with it: "200", "503 server_error",
    /// "429 retry-after 2s (rate_limited)", "400 prefill_rejected".
    pub action: String,
}

/// Scenario time: real time since start plus everything advanced by hand.
pub(super) struct Clock {
    start: Instant,
    /// Nanoseconds.
    advanced: AtomicU64,
}

impl Clock {
    pub(super) fn elapsed(&self) -> Duration {
        self.start.elapsed() + Duration::from_nanos(self.advanced.load(Ordering::Relaxed))
    }

    pub(super) fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .advanced
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |a| {
                Some(a.saturating_add(nanos))
            });
    }
}

pub(super) struct Shared {
    pub(super) scenario: Scenario,
    pub(super) seed: u64,
    pub(super) clock: Clock,
    /// Unix seconds at start, for `created`.
    pub(super) wall_start: i64,
    pub(super) stats: Vec<Arc<ModelStats>>,
    pub(super) index: HashMap<String, usize>,
    /// Anthropic clients name models without the `author/` prefix.
    pub(super) slug_index: HashMap<String, usize>,
    /// USD served so far, as f64 bits (for `GET /key`).
    spent: AtomicU64,
    /// What a request with the wrong key for its model gets.
    pub(super) key_fault: Fault,
    /// Every request decided, newest last, at most [`LOG_CAP`].
    log: Mutex<VecDeque<SimRequest>>,
}

impl Shared {
    pub(super) fn new(scenario: Scenario, seed: u64) -> Shared {
        let models = scenario.models();
        let index = models
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id.clone(), i))
            .collect();
        let mut slug_index = HashMap::new();
        for (i, m) in models.iter().enumerate() {
            if let Some((_, slug)) = m.id.split_once('/') {
                slug_index.entry(slug.to_string()).or_insert(i);
            }
        }
        Shared {
            stats: models.iter().map(|_| Arc::default()).collect(),
            index,
            slug_index,
            seed,
            clock: Clock {
                start: Instant::now(),
                advanced: AtomicU64::new(0),
            },
            wall_start: chrono::Utc::now().timestamp(),
            spent: AtomicU64::new(scenario.key.usage.to_bits()),
            key_fault: Fault::always(FaultKind::Class(FailureClass::Auth)),
            log: Mutex::new(VecDeque::new()),
            scenario,
        }
    }

    pub(super) fn add_spent(&self, usd: f64) {
        if usd > 0.0 {
            let _ = self
                .spent
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                    Some((f64::from_bits(b) + usd).to_bits())
                });
        }
    }

    /// Whether model `idx` refuses `max_tokens`; a refusal is a request
    /// to that model like any other (it counts in its stats).
    pub(super) fn refuses_max_tokens(&self, idx: usize) -> bool {
        let refuses = self
            .scenario
            .models()
            .get(idx)
            .is_some_and(|m| m.refuses_max_tokens);
        if let (true, Some(stats)) = (refuses, self.stats.get(idx)) {
            stats.requests.fetch_add(1, Ordering::Relaxed);
        }
        refuses
    }

    /// Notes a request in the log.
    pub(super) fn log_request(&self, entry: SimRequest) {
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        if log.len() == LOG_CAP {
            log.pop_front();
        }
        log.push_back(entry);
    }

    /// The request log, oldest first.
    pub(super) fn requests(&self) -> Vec<SimRequest> {
        let log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        log.iter().cloned().collect()
    }

    /// USD served so far, the scenario's starting `usage` included.
    pub(super) fn spent(&self) -> f64 {
        f64::from_bits(self.spent.load(Ordering::Relaxed))
    }
}
