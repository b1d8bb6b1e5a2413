//! The race: one prompt's attempts in flight, the hedge timer, the first
//! content token that decides the winner, the losers closed and recorded
//! as cancelled, and what follows a failure: one quick retry of the same
//! model (raced with the next), a short `Retry-After` waited out, a
//! refusal that ends the route, a clean restart when a buffered answer
//! broke off. Driven by [`Router::route`](super::Router::route).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio::time::{sleep_until, Instant, Sleep};

use super::outcome::AttemptRole;
use super::retry::{self, Next};
use super::running::{next_happening, Happening, Running};
use super::{AttemptRecord, HealthView, Plan, RouteEvent, RouteRequest, RouteTarget, Router};
use crate::api::{Attempt, ChatRequest, Dialect};
use crate::config::{Hedge, Tier};
use crate::fmt::class_and_message;

/// Attempts in flight at once: the one being waited on and one hedge (or
/// the trial and the model raced with it, or a retry and the next model).
/// A third would spend on yet another model for little gain.
const MAX_IN_FLIGHT: usize = 2;

/// A model waiting its turn, and why it will be tried.
struct Queued {
    name: String,
    /// `Planned` takes the role it is started with (planned, hedge,
    /// restart); `Retry` and `Trial` keep theirs.
    role: AttemptRole,
}

/// The winner of a race: its name, its attempt, the time from the start
/// of the route to its first content token.
pub(super) type Won = (String, Attempt, Duration);

/// The state of one routed prompt. Dropping it (the caller dropped the
/// `route` future) drops every attempt in flight and says so.
pub(super) struct Race<'a> {
    router: &'a Router,
    health: &'a dyn HealthView,
    events: Option<UnboundedSender<RouteEvent>>,
    chat: Arc<ChatRequest>,
    hedge: Hedge,
    /// Nothing of the answer is shown until it is complete: an answer
    /// that breaks off restarts cleanly on the next model.
    buffered: bool,
    queue: VecDeque<Queued>,
    running: Vec<Running>,
    /// Trials that lost the race: they run on to their end.
    trailing: Vec<Running>,
    /// A retry waiting out a short `Retry-After`: when, and which model.
    waiting: Option<(Instant, String)>,
    /// Models retried in this route already (one retry each).
    retried: Vec<String>,
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
        let queue = plan
            .order
            .iter()
            .map(|name| Queued {
                role: if plan.trial.as_ref() == Some(name) {
                    AttemptRole::Trial
                } else {
                    AttemptRole::Planned
                },
                name: name.clone(),
            })
            .collect();
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
            buffered: request.buffered,
            queue,
            running: Vec::new(),
            trailing: Vec::new(),
            waiting: None,
            retried: Vec::new(),
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

    /// The trials still running, to run on by themselves; each is noted in
    /// the records as running.
    pub(super) fn take_trailing(&mut self) -> Vec<Running> {
        let trailing = std::mem::take(&mut self.trailing);
        for r in &trailing {
            self.records.push(AttemptRecord {
                running: true,
                ..AttemptRecord::new(
                    r.model.clone(),
                    AttemptRole::Trial,
                    Attempt::blank(r.started_at, r.t0.elapsed()),
                )
            });
        }
        trailing
    }

    pub(super) fn emit(&self, event: RouteEvent) {
        if let Some(tx) = &self.events {
            // Nobody listening is fine.
            let _ = tx.send(event);
        }
    }

    /// Runs the race to the end: the winner, or `None` when every attempt
    /// failed, the answer broke off (streamed), or the prompt was refused.
    pub(super) async fn run(&mut self) -> Option<Won> {
        self.start_next(AttemptRole::Planned);
        let mut hedge_timer = self.hedge_timer();
        let mut wait_timer: Option<Pin<Box<Sleep>>> = None;
        // Set once a model has produced a first content token: it has won,
        // and it is the only attempt left in `running`.
        let mut won_at: Option<Duration> = None;
        let mut text = String::new();
        while !self.running.is_empty() || self.waiting.is_some() {
            let happening = next_happening(
                &mut self.running,
                &mut self.trailing,
                hedge_timer.as_mut(),
                wait_timer.as_mut(),
            )
            .await;
            match happening {
                Happening::Hedge => {
                    self.start_next(AttemptRole::Hedge);
                    hedge_timer = self.hedge_timer();
                }
                Happening::Waited => {
                    wait_timer = None;
                    if let Some((_, model)) = self.waiting.take() {
                        self.queue.push_front(Queued {
                            name: model,
                            role: AttemptRole::Retry,
                        });
                        self.start_next(AttemptRole::Planned);
                    }
                    hedge_timer = self.hedge_timer();
                }
                // Deltas are content only (the client keeps reasoning to
                // itself), so a model thinking aloud does not win here.
                Happening::Delta(i, delta) => {
                    if won_at.is_none() {
                        let Some(winner) = self.take(i) else {
                            continue;
                        };
                        won_at = Some(self.start.elapsed());
                        hedge_timer = None;
                        wait_timer = None;
                        self.win(winner);
                    }
                    self.say(&mut text, delta);
                }
                Happening::TrailDone(i, attempt) => {
                    if i < self.trailing.len() {
                        let r = self.trailing.remove(i);
                        self.finish(&r, &r.model, *attempt, false);
                    }
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
                    let content = !late.is_empty() || attempt.ttfc.is_some();
                    if won_at.is_none() && (content || attempt.is_ok()) {
                        // Its first token and its end came in one poll. The
                        // race counts content: reasoning before it is proof
                        // of life, not a win.
                        won_at = Some(self.start.elapsed());
                        self.emit(RouteEvent::FirstToken {
                            model: r.model.clone(),
                            ttft: attempt.ttfc.unwrap_or_else(|| r.t0.elapsed()),
                        });
                        self.settle_losers(&r.model);
                    }
                    for delta in late {
                        self.say(&mut text, delta);
                    }
                    let model = if attempt.is_ok() {
                        r.served_name(&self.router.config, attempt.served_model.as_deref())
                    } else {
                        std::mem::take(&mut r.model)
                    };
                    self.finish(&r, &model, attempt.clone(), won_at.is_some());
                    if let Some(ttft) = won_at {
                        if attempt.is_ok() {
                            let mut attempt = attempt;
                            if attempt.reply.is_empty() {
                                attempt.reply = text;
                            }
                            return Some((model, attempt, ttft));
                        }
                        if !self.restart(&model, &attempt) {
                            // A broken answer is reported, never replaced.
                            return None;
                        }
                        won_at = None;
                        text.clear();
                    } else if !self.next_after_failure(&r, &model, &attempt) {
                        return None;
                    }
                    hedge_timer = self.hedge_timer();
                    wait_timer = self
                        .waiting
                        .as_ref()
                        .map(|(at, _)| Box::pin(sleep_until(*at)));
                }
            }
        }
        None
    }

    /// Records an ended attempt: a health sample, a `Failed` event when it
    /// failed, and its place in the records.
    fn finish(&mut self, r: &Running, model: &str, attempt: Attempt, after_first_token: bool) {
        self.health.record(model, &attempt, Utc::now());
        if let Some(f) = &attempt.failure {
            self.emit(RouteEvent::Failed {
                model: model.to_string(),
                class: f.class,
                message: f.message.clone(),
                after_first_token,
            });
        }
        self.records
            .push(AttemptRecord::new(model, r.role, attempt));
    }

    /// The winner's text: kept, and passed on unless the answer is buffered.
    fn say(&self, text: &mut String, delta: String) {
        if !self.buffered {
            let model = self.running.first().map(|r| r.model.clone());
            self.emit(RouteEvent::Delta {
                model: model.unwrap_or_default(),
                text: delta.clone(),
            });
        }
        text.push_str(&delta);
    }

    /// `winner` produced the first content token.
    fn win(&mut self, winner: Running) {
        self.emit(RouteEvent::FirstToken {
            model: winner.model.clone(),
            ttft: winner.t0.elapsed(),
        });
        self.settle_losers(&winner.model);
        self.running.push(winner);
    }

    /// What follows a failure before the first token: a retry (now, raced
    /// with the next model, or after a short wait), the end of the route
    /// (a refusal), or the next model. `false` when the route is over.
    fn next_after_failure(&mut self, r: &Running, model: &str, attempt: &Attempt) -> bool {
        let Some(failure) = &attempt.failure else {
            return true;
        };
        let route = &self.router.config.route;
        // Another attempt that can answer (the model raced with a retry, a
        // hedge) is still in flight and not yet overdue: it stands for "the
        // next model", and no other is started beside it. A trial does not
        // count (it is the unhealthy model under test), nor does an attempt
        // silent past its hedge delay (the next model replaces the failed
        // hedge at once).
        let covered = self
            .running
            .iter()
            .any(|o| o.role != AttemptRole::Trial && !self.overdue(o));
        // A trial is one attempt by design; a retry is not retried again;
        // and the quick retry is for a quick blip: a failure that came
        // after the model's hedge delay (an upstream that retried before
        // it gave up) would take as long again, so the next model gets
        // the room.
        let may_retry = r.role != AttemptRole::Trial
            && !self.retried.iter().any(|m| m == model)
            && !self.overdue(r);
        match retry::after(
            failure,
            may_retry,
            route.retry_after_max,
            route.reroute_refusals,
        ) {
            Next::Stop => {
                self.cancel_all("the prompt was refused");
                return false;
            }
            Next::RetryNow => {
                self.retried.push(model.to_string());
                self.emit(RouteEvent::Retrying {
                    model: model.to_string(),
                    wait: Duration::ZERO,
                    reason: class_and_message(failure.class, &failure.message),
                });
                self.queue.push_front(Queued {
                    name: model.to_string(),
                    role: AttemptRole::Retry,
                });
                // The retry and the next model, side by side.
                self.start_next(AttemptRole::Planned);
                if !covered {
                    self.start_next(AttemptRole::Planned);
                }
            }
            Next::RetryAfter(wait) => {
                self.retried.push(model.to_string());
                self.emit(RouteEvent::Retrying {
                    model: model.to_string(),
                    wait,
                    reason: class_and_message(failure.class, &failure.message),
                });
                self.waiting = Some((Instant::now() + wait, model.to_string()));
            }
            Next::MoveOn if !covered => {
                self.start_next(AttemptRole::Planned);
            }
            Next::MoveOn => {}
        }
        true
    }

    /// The answer in progress broke off: when nothing of it was shown (a
    /// buffered route) and it was not refused, start again cleanly on the
    /// next model. `false` when the route is over.
    fn restart(&mut self, model: &str, attempt: &Attempt) -> bool {
        let Some(failure) = &attempt.failure else {
            return false;
        };
        let refused = retry::after(
            failure,
            false,
            Duration::ZERO,
            self.router.config.route.reroute_refusals,
        ) == Next::Stop;
        if !self.buffered || refused || self.queue.is_empty() {
            return false;
        }
        self.emit(RouteEvent::Restarting {
            model: model.to_string(),
            reason: class_and_message(failure.class, &failure.message),
        });
        self.start_next(AttemptRole::Restart)
    }

    fn take(&mut self, i: usize) -> Option<Running> {
        (i < self.running.len()).then(|| self.running.remove(i))
    }

    /// Starts the next model in the queue, if any and if there is room; a
    /// trial starts with the model after it beside it. `role` is the role
    /// of a planned model started now (planned, hedge or restart).
    fn start_next(&mut self, role: AttemptRole) -> bool {
        if self.running.len() >= MAX_IN_FLIGHT {
            return false;
        }
        let config = &self.router.config;
        // The plan holds only configured models; anything else is passed over.
        let Some((queued, model)) = std::iter::from_fn(|| self.queue.pop_front())
            .find_map(|q| config.model(&q.name).map(|m| (q, m)))
        else {
            return false;
        };
        let role = match queued.role {
            AttemptRole::Planned => role,
            other => other,
        };
        let name = queued.name;
        if let (Some(from), Some(to)) = (self.tier, self.tier_of(&name)) {
            if to > from {
                self.emit(RouteEvent::Escalate { from, to });
                self.tier = Some(to);
            }
        }
        let mut target = self.router.target_for(model);
        let endpoint = config.endpoint_of(model);
        let mut folded = Vec::new();
        let folds = matches!(
            role,
            AttemptRole::Planned | AttemptRole::Hedge | AttemptRole::Restart
        );
        if folds && endpoint.native_fallback && endpoint.dialect == Dialect::Openai {
            // The rest of this endpoint's eligible chain, in one request.
            let (same, rest): (VecDeque<Queued>, VecDeque<Queued>) =
                self.queue.drain(..).partition(|q| {
                    q.role == AttemptRole::Planned
                        && config
                            .model(&q.name)
                            .is_some_and(|m| m.endpoint == model.endpoint)
                });
            self.queue = rest;
            for q in same {
                if let Some(m) = config.model(&q.name) {
                    target.fallback_models.push(m.id.clone());
                    folded.push(q.name);
                }
            }
        }
        if role == AttemptRole::Trial {
            let since = self
                .health
                .last_attempt(&name)
                .and_then(|at| (Utc::now() - at).to_std().ok())
                .map(|d| format!("last tried {} ago", crate::fmt::fmt_secs(d)))
                .unwrap_or_else(|| "not tried yet".to_string());
            self.emit(RouteEvent::Trial {
                model: name.clone(),
                reason: format!("unhealthy, half-open period passed ({since})"),
            });
        }
        self.emit(RouteEvent::Trying {
            model: name.clone(),
            hedge: role == AttemptRole::Hedge,
        });
        let (tx, rx) = unbounded_channel();
        let client = self.router.client.clone();
        let chat = self.chat.clone();
        let deadlines = self.router.deadlines();
        let send = Box::pin(async move { client.send(&target, &chat, deadlines, Some(&tx)).await });
        self.running.push(Running {
            model: name,
            folded,
            role,
            started_at: Utc::now(),
            t0: Instant::now(),
            deltas: rx,
            send,
        });
        if role == AttemptRole::Trial {
            // The trial is raced with the model after it.
            self.start_next(AttemptRole::Planned);
        }
        true
    }

    /// Silent past its hedge delay (never, with hedging off).
    fn overdue(&self, r: &Running) -> bool {
        self.router
            .hedge_delay(self.hedge, self.health, &r.model, Utc::now())
            .is_some_and(|delay| r.t0.elapsed() >= delay)
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

    /// `winner` produced the first content token: every other attempt is
    /// closed and recorded as cancelled (not failed: it lost a race), except
    /// a trial, which runs on to its end. A streamed answer drops the models
    /// not yet started (it cannot be replaced); a buffered one keeps them
    /// for a clean restart.
    fn settle_losers(&mut self, winner: &str) {
        if !self.buffered {
            self.queue.clear();
        }
        self.waiting = None;
        let mut again = Vec::new();
        for r in std::mem::take(&mut self.running) {
            if r.role == AttemptRole::Trial {
                self.trailing.push(r);
                continue;
            }
            if self.buffered {
                // Beaten, not failed: still the next model for a restart.
                again.extend(std::iter::once(r.model.clone()).chain(r.folded.iter().cloned()));
            }
            self.cancel(r, &format!("{winner} answered first"));
        }
        for name in again.into_iter().rev() {
            self.queue.push_front(Queued {
                name,
                role: AttemptRole::Planned,
            });
        }
    }

    /// Closes every attempt still running and drops the models not yet
    /// started: the route is over.
    fn cancel_all(&mut self, reason: &str) {
        self.queue.clear();
        self.waiting = None;
        for r in std::mem::take(&mut self.running) {
            self.cancel(r, reason);
        }
    }

    fn cancel(&mut self, r: Running, reason: &str) {
        self.emit(RouteEvent::Cancelled {
            model: r.model.clone(),
            reason: reason.to_string(),
        });
        self.records.push(AttemptRecord {
            cancelled: true,
            ..AttemptRecord::new(
                r.model,
                r.role,
                Attempt::blank(r.started_at, r.t0.elapsed()),
            )
        });
    }
}
