//! The race: one prompt's attempts in flight, the hedge timer, the first
//! token that decides the winner, and the losers closed and recorded as
//! cancelled. Driven by [`Router::route`](super::Router::route).

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::time::{sleep_until, Instant, Sleep};

use super::{AttemptRecord, HealthView, Plan, RouteEvent, RouteRequest, RouteTarget, Router};
use crate::api::{Attempt, ChatRequest, Dialect};
use crate::config::{Config, Hedge, Tier};

/// Attempts in flight at once: the one being waited on and one hedge. A
/// third would spend on yet another model for little gain.
const MAX_IN_FLIGHT: usize = 2;

/// One attempt in flight.
struct Running {
    /// The model asked for.
    model: String,
    /// Models of the same endpoint sent along as OpenRouter's `models`
    /// array (native fallback); whichever served is the one that answered.
    folded: Vec<String>,
    hedged: bool,
    started_at: DateTime<Utc>,
    t0: Instant,
    deltas: UnboundedReceiver<String>,
    send: Pin<Box<dyn Future<Output = Attempt> + Send>>,
}

impl Running {
    /// The config name of the model that served: the one asked for, or one
    /// of the folded models when the provider says so.
    fn served_name(&self, config: &Config, served: Option<&str>) -> String {
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
}

/// What woke the race up.
enum Happening {
    Delta(usize, String),
    Done(usize, Box<Attempt>),
    Hedge,
}

/// The state of one routed prompt. Dropping it (the caller dropped the
/// `route` future) drops every attempt in flight and says so.
pub(super) struct Race<'a> {
    router: &'a Router,
    health: &'a dyn HealthView,
    events: Option<UnboundedSender<RouteEvent>>,
    chat: Arc<ChatRequest>,
    hedge: Hedge,
    queue: VecDeque<String>,
    running: Vec<Running>,
    records: Vec<AttemptRecord>,
    /// The tier of the last model started, to announce escalations.
    tier: Option<Tier>,
    /// The plan's models by tier.
    tiers: Vec<(Tier, Vec<String>)>,
    start: Instant,
}

impl Drop for Race<'_> {
    fn drop(&mut self) {
        for r in std::mem::take(&mut self.running) {
            self.emit(RouteEvent::Cancelled {
                model: r.model,
                reason: "cancelled".to_string(),
            });
        }
    }
}

impl<'a> Race<'a> {
    /// A race over the plan's order; nothing starts until [`Race::run`].
    /// `start` is when the route began: times to first token count from it.
    pub(super) fn new(
        router: &'a Router,
        health: &'a dyn HealthView,
        events: Option<UnboundedSender<RouteEvent>>,
        request: RouteRequest,
        plan: &Plan,
        start: Instant,
    ) -> Race<'a> {
        Race {
            router,
            health,
            events,
            chat: Arc::new(ChatRequest {
                messages: request.messages,
                max_tokens: request.max_tokens,
                stream: true,
                expect: None,
                passthrough: request.passthrough,
            }),
            hedge: request.hedge.unwrap_or(router.config.route.hedge),
            queue: plan.order.iter().cloned().collect(),
            running: Vec::new(),
            records: Vec::new(),
            tier: match &request.target {
                RouteTarget::Tier(t) => Some(*t),
                _ => None,
            },
            tiers: plan.tiers.clone(),
            start,
        }
    }

    /// Every attempt that ended, in the order they ended.
    pub(super) fn take_records(&mut self) -> Vec<AttemptRecord> {
        std::mem::take(&mut self.records)
    }

    pub(super) fn emit(&self, event: RouteEvent) {
        if let Some(tx) = &self.events {
            // Nobody listening is fine.
            let _ = tx.send(event);
        }
    }

    /// Runs the race to the end: the winner's name, its attempt and the
    /// time from the start to its first token; `None` when all failed.
    pub(super) async fn run(&mut self) -> Option<(String, Attempt, Duration)> {
        self.start_next(false);
        let mut hedge_timer = self.hedge_timer();
        // Set once a model has produced a first token: it has won.
        let mut first_token_at: Option<Duration> = None;
        let mut text = String::new();
        while !self.running.is_empty() {
            match next_happening(&mut self.running, hedge_timer.as_mut()).await {
                Happening::Hedge => {
                    self.start_next(true);
                    hedge_timer = self.hedge_timer();
                }
                // Deltas are content only (the client keeps reasoning to
                // itself), so a model thinking aloud does not win here.
                Happening::Delta(i, delta) => {
                    if first_token_at.is_none() {
                        first_token_at = Some(self.start.elapsed());
                        hedge_timer = None;
                        let Some(winner) = self.take(i) else {
                            continue;
                        };
                        self.emit(RouteEvent::FirstToken {
                            model: winner.model.clone(),
                            ttft: winner.t0.elapsed(),
                        });
                        self.cancel_all(&winner.model);
                        self.running.push(winner);
                    }
                    // Once won, the winner is the only attempt left.
                    let model = self.running.first().map(|r| r.model.clone());
                    text.push_str(&delta);
                    self.emit(RouteEvent::Delta {
                        model: model.unwrap_or_default(),
                        text: delta,
                    });
                }
                Happening::Done(i, attempt) => {
                    let attempt = *attempt;
                    let Some(mut r) = self.take(i) else {
                        continue;
                    };
                    let mut late = Vec::new();
                    while let Ok(delta) = r.deltas.try_recv() {
                        late.push(delta);
                    }
                    if first_token_at.is_none() && (!late.is_empty() || attempt.is_ok()) {
                        // Its first token and its end came in one poll. The
                        // race counts content: reasoning before it is proof
                        // of life, not a win.
                        first_token_at = Some(self.start.elapsed());
                        self.emit(RouteEvent::FirstToken {
                            model: r.model.clone(),
                            ttft: attempt.ttfc.unwrap_or_else(|| r.t0.elapsed()),
                        });
                        self.cancel_all(&r.model);
                    }
                    for delta in late {
                        text.push_str(&delta);
                        self.emit(RouteEvent::Delta {
                            model: r.model.clone(),
                            text: delta,
                        });
                    }
                    let model = if attempt.is_ok() {
                        r.served_name(&self.router.config, attempt.served_model.as_deref())
                    } else {
                        std::mem::take(&mut r.model)
                    };
                    self.health.record(&model, &attempt, Utc::now());
                    if let Some(f) = &attempt.failure {
                        self.emit(RouteEvent::Failed {
                            model: model.clone(),
                            class: f.class,
                            message: f.message.clone(),
                            after_first_token: first_token_at.is_some(),
                        });
                    }
                    self.records.push(AttemptRecord {
                        model: model.clone(),
                        hedged: r.hedged,
                        cancelled: false,
                        attempt: attempt.clone(),
                    });
                    if let Some(ttft) = first_token_at {
                        if !attempt.is_ok() {
                            // A broken answer is reported, never replaced.
                            return None;
                        }
                        let mut attempt = attempt;
                        if attempt.reply.is_empty() {
                            attempt.reply = text;
                        }
                        return Some((model, attempt, ttft));
                    }
                    self.start_next(false);
                    hedge_timer = self.hedge_timer();
                }
            }
        }
        None
    }

    fn take(&mut self, i: usize) -> Option<Running> {
        (i < self.running.len()).then(|| self.running.remove(i))
    }

    /// Starts the next model in the queue, if any and if there is room.
    fn start_next(&mut self, hedged: bool) {
        if self.running.len() >= MAX_IN_FLIGHT {
            return;
        }
        let config = &self.router.config;
        // The plan holds only configured models; anything else is passed over.
        let Some((name, model)) = std::iter::from_fn(|| self.queue.pop_front())
            .find_map(|n| config.model(&n).map(|m| (n, m)))
        else {
            return;
        };
        if let (Some(from), Some(to)) = (self.tier, self.tier_of(&name)) {
            if to > from {
                self.emit(RouteEvent::Escalate { from, to });
                self.tier = Some(to);
            }
        }
        let mut target = self.router.target_for(model);
        let endpoint = config.endpoint_of(model);
        let mut folded = Vec::new();
        if endpoint.native_fallback && endpoint.dialect == Dialect::Openai {
            // The rest of this endpoint's eligible chain, in one request.
            let (same, rest): (VecDeque<String>, VecDeque<String>) =
                self.queue.drain(..).partition(|n| {
                    config
                        .model(n)
                        .is_some_and(|m| m.endpoint == model.endpoint)
                });
            self.queue = rest;
            for n in same {
                if let Some(m) = config.model(&n) {
                    target.fallback_models.push(m.id.clone());
                    folded.push(n);
                }
            }
        }
        self.emit(RouteEvent::Trying {
            model: name.clone(),
            hedge: hedged,
        });
        let (tx, rx) = unbounded_channel();
        let client = self.router.client.clone();
        let chat = self.chat.clone();
        let deadlines = self.router.deadlines();
        let send = Box::pin(async move { client.send(&target, &chat, deadlines, Some(&tx)).await });
        self.running.push(Running {
            model: name,
            folded,
            hedged,
            started_at: Utc::now(),
            t0: Instant::now(),
            deltas: rx,
            send,
        });
    }

    /// The tier a model was planned under (for a tier target).
    fn tier_of(&self, name: &str) -> Option<Tier> {
        self.tiers
            .iter()
            .find(|(_, models)| models.iter().any(|n| n == name))
            .map(|(t, _)| *t)
    }

    /// A timer for hedging the newest attempt, when hedging is on, there is
    /// a model left to start and room to start it.
    fn hedge_timer(&self) -> Option<Pin<Box<Sleep>>> {
        if self.queue.is_empty() || self.running.len() >= MAX_IN_FLIGHT {
            return None;
        }
        let newest = self.running.last()?;
        let delay = self
            .router
            .hedge_delay(self.hedge, self.health, &newest.model, Utc::now())?;
        Some(Box::pin(sleep_until(newest.t0 + delay)))
    }

    /// Closes every attempt still running, recording each as cancelled
    /// (not failed: it lost a race), and drops the models not yet started.
    fn cancel_all(&mut self, winner: &str) {
        self.queue.clear();
        for r in std::mem::take(&mut self.running) {
            self.emit(RouteEvent::Cancelled {
                model: r.model.clone(),
                reason: format!("{winner} answered first"),
            });
            self.records.push(AttemptRecord {
                model: r.model,
                hedged: r.hedged,
                cancelled: true,
                attempt: Attempt::blank(r.started_at, r.t0.elapsed()),
            });
        }
    }
}

/// Waits for the next delta, finished attempt or the hedge timer.
async fn next_happening(
    running: &mut [Running],
    mut hedge: Option<&mut Pin<Box<Sleep>>>,
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
        if let Some(timer) = hedge.as_mut() {
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Happening::Hedge);
            }
        }
        Poll::Pending
    })
    .await
}
