//! Half-open trials the router handed over: a trial of an unhealthy model
//! still running when the model raced with it answered. Each runs on in a
//! task of its own, within its attempt's deadlines, and is recorded as a
//! prompt's sample when it ends (its success counts toward
//! `recover_after`). `ask` waits for them before it saves and exits.

use chrono::Utc;

use crate::api::Attempt;
use crate::health::SampleKind;
use crate::route::Trial;

use super::{lock, Engine};

impl Engine {
    /// Runs `trial` to its end in a task of its own and records it. Outside
    /// a tokio runtime it is dropped (its connection closes, nothing is
    /// recorded).
    pub(super) fn adopt_trial(&self, trial: Trial) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let engine = self.clone();
        let handle = runtime.spawn(async move {
            let model = trial.model.clone();
            let attempt = trial.run().await;
            engine.record(&model, &attempt, SampleKind::Prompt, Utc::now());
            (model, attempt)
        });
        let mut trials = lock(&self.inner.trials);
        // Bounded: what ended and was not waited for is forgotten.
        trials.retain(|t| !t.is_finished());
        trials.push(handle);
    }

    /// Waits for every adopted trial still running (each within its own
    /// deadlines) and returns how each ended, oldest first; trials already
    /// over are included until they are collected here.
    pub async fn finish_trials(&self) -> Vec<(String, Attempt)> {
        let handles = std::mem::take(&mut *lock(&self.inner.trials));
        let mut done = Vec::with_capacity(handles.len());
        for handle in handles {
            if let Ok(ended) = handle.await {
                done.push(ended);
            }
        }
        done
    }
}
