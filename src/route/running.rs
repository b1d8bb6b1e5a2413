//! One attempt in flight ([`Running`]), and what wakes the race up: a
//! content delta, an attempt's end, the hedge timer, the end of a wait
//! for a short `Retry-After`, or the end of a trial that lost the race.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::{Instant, Sleep};

use super::outcome::AttemptRole;
use super::trial::Trial;
use crate::api::Attempt;
use crate::config::Config;

/// One attempt in flight.
pub(super) struct Running {
    /// The model asked for.
    pub(super) model: String,
    /// Models of the same endpoint sent along as OpenRouter's `models`
    /// array (native fallback); whichever served is the one that answered.
    pub(super) folded: Vec<String>,
    pub(super) role: AttemptRole,
    pub(super) started_at: DateTime<Utc>,
    pub(super) t0: Instant,
    pub(super) deltas: UnboundedReceiver<String>,
    pub(super) send: Pin<Box<dyn Future<Output = Attempt> + Send>>,
}

impl Running {
    /// The config name of the model that served: the one asked for, or one
    /// of the folded models when the provider says so.
    pub(super) fn served_name(&self, config: &Config, served: Option<&str>) -> String {
        let Some(served) = served else {
            return self.model.clone();
        };
        let candidates = std::iter::once(&self.model).chain(&self.folded);
        let mut best: Option<(&String, usize)> = None;
        for name in candidates {
            let Some(id) = config.model(name).map(|m| m.id.as_str()) else {
                continue;
            };
            // "openai/gpt-4o-2024-11-20" is "openai/gpt-4o"; the longest id
            // wins so that it is not also "openai/gpt-4o-mini"'s.
            let matches = served == id
                || served
                    .strip_prefix(id)
                    .is_some_and(|rest| rest.starts_with(['-', ':', '@']));
            if matches && best.is_none_or(|(_, len)| id.len() > len) {
                best = Some((name, id.len()));
            }
        }
        best.map_or_else(|| self.model.clone(), |(name, _)| name.clone())
    }

    /// The trial this attempt is, handed over to run on by itself.
    pub(super) fn into_trial(self) -> Trial {
        Trial::new(self.model, self.started_at, self.send)
    }
}

/// What woke the race up.
pub(super) enum Happening {
    /// Content from `running[i]`.
    Delta(usize, String),
    /// `running[i]` ended.
    Done(usize, Box<Attempt>),
    /// A trial that lost the race (`trailing[i]`) ended.
    TrailDone(usize, Box<Attempt>),
    /// The hedge delay of the newest attempt passed.
    Hedge,
    /// A short `Retry-After` has been waited out.
    Waited,
}

/// Waits for the next delta, finished attempt, finished trailing trial,
/// hedge timer or end of a wait.
pub(super) async fn next_happening(
    running: &mut [Running],
    trailing: &mut [Running],
    mut hedge: Option<&mut Pin<Box<Sleep>>>,
    mut wait: Option<&mut Pin<Box<Sleep>>>,
) -> Happening {
    poll_fn(|cx| {
        for (i, r) in running.iter_mut().enumerate() {
            // Deltas first: an attempt's text is read before its end.
            if let Poll::Ready(Some(delta)) = r.deltas.poll_recv(cx) {
                return Poll::Ready(Happening::Delta(i, delta));
            }
            if let Poll::Ready(attempt) = r.send.as_mut().poll(cx) {
                return Poll::Ready(Happening::Done(i, Box::new(attempt)));
            }
        }
        for (i, r) in trailing.iter_mut().enumerate() {
            // A lost trial's text is nobody's answer: read and dropped.
            while let Poll::Ready(Some(_)) = r.deltas.poll_recv(cx) {}
            if let Poll::Ready(attempt) = r.send.as_mut().poll(cx) {
                return Poll::Ready(Happening::TrailDone(i, Box::new(attempt)));
            }
        }
        if let Some(timer) = hedge.as_mut() {
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Happening::Hedge);
            }
        }
        if let Some(timer) = wait.as_mut() {
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Happening::Waited);
            }
        }
        Poll::Pending
    })
    .await
}
