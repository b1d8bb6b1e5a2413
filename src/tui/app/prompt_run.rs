//! The running prompt's route events folded into the prompt panel's state:
//! one line of steps (skipped, trying, first token, failed, closed, a retry,
//! a half-open trial, a clean restart) that a later event about the same
//! model rewrites, the streamed answer, and the final verdict: answered,
//! refused, broke off, failed. When the answer comes, only the models
//! passed over before it stay "skipped". Events of a cancelled or
//! superseded prompt are dropped.

use crate::api::FailureClass;
use crate::fmt::{class_and_message, fmt_secs, fmt_usd, served};
use crate::route::{RouteAnswer, RouteEvent, RouteFailure, RouteTarget};

use super::{App, EventKind};

/// Characters of a streamed answer kept on screen.
pub const ANSWER_CAP: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub enum PromptState {
    Running,
    Answered,
    /// Every model failed: the message lists them.
    Failed(String),
    /// The provider's content policy refused the prompt: that is the
    /// answer's outcome (the message is the provider's reason).
    Refused(String),
    /// The streamed answer broke off after it had started; what came is
    /// shown, nothing was stitched onto it.
    BrokeOff(String),
    Cancelled,
}

/// One piece of the route line: "gpt-4o skipped: unhealthy".
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The model the step is about, so a later event can replace it.
    pub model: Option<String>,
    pub text: String,
    pub bad: bool,
}

/// The prompt that is running or ran last.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptRun {
    pub id: u64,
    pub text: String,
    pub target: RouteTarget,
    pub steps: Vec<Step>,
    pub answer: String,
    pub answer_model: Option<String>,
    pub state: PromptState,
}

impl App {
    fn current_prompt(&mut self, id: u64) -> Option<&mut PromptRun> {
        self.prompt
            .as_mut()
            .filter(|p| p.id == id && p.state == PromptState::Running)
    }

    pub(super) fn on_route_event(&mut self, id: u64, event: RouteEvent) {
        let Some(p) = self.current_prompt(id) else {
            // A cancelled or superseded prompt: its late events mean nothing.
            return;
        };
        match event {
            RouteEvent::Plan {
                skipped,
                last_resort,
                ..
            } => {
                for s in skipped {
                    p.steps.push(Step {
                        text: format!("{} skipped: {}", s.model, s.status),
                        model: Some(s.model),
                        bad: true,
                    });
                }
                if last_resort {
                    p.steps.push(Step {
                        model: None,
                        text: "nothing healthy: trying every model".to_string(),
                        bad: true,
                    });
                }
            }
            RouteEvent::Escalate { from, to } => p.steps.push(Step {
                model: None,
                text: format!("{from} tier exhausted → {to}"),
                bad: true,
            }),
            RouteEvent::Trying { model, hedge } => {
                // A retry or a trial announced itself just before.
                let marked = p
                    .steps
                    .iter()
                    .rev()
                    .find(|s| s.model.as_deref() == Some(model.as_str()))
                    .and_then(|s| {
                        ["(retry)", "(trial)"]
                            .into_iter()
                            .find(|m| s.text.ends_with(m))
                    });
                let text = match (hedge, marked) {
                    (true, _) => format!("{model} (hedge)…"),
                    (false, Some(mark)) => format!("{model} {mark}…"),
                    (false, None) => format!("{model}…"),
                };
                set_step(p, &model, text, false);
            }
            RouteEvent::Retrying { model, wait, .. } => {
                let text = if wait.is_zero() {
                    format!("{model} (retry)")
                } else {
                    format!("{model}: waits {} (retry)", fmt_secs(wait))
                };
                p.steps.push(Step {
                    model: Some(model),
                    text,
                    bad: false,
                });
            }
            RouteEvent::Trial { model, .. } => p.steps.push(Step {
                text: format!("{model} (trial)"),
                model: Some(model),
                bad: false,
            }),
            RouteEvent::Restarting { .. } => {
                p.answer.clear();
                p.answer_model = None;
                p.steps.push(Step {
                    model: None,
                    text: "nothing shown yet: starting again on the next model".to_string(),
                    bad: true,
                });
            }
            RouteEvent::FirstToken { model, ttft } => {
                let text = format!("{model}: first token {}", fmt_secs(ttft));
                set_step(p, &model, text, false);
            }
            RouteEvent::Delta { model, text } => {
                if p.answer_model.as_deref() != Some(model.as_str()) {
                    p.answer.clear();
                    p.answer_model = Some(model);
                }
                if p.answer.len() + text.len() <= ANSWER_CAP {
                    p.answer.push_str(&text);
                }
            }
            RouteEvent::Failed {
                model,
                class,
                message,
                after_first_token,
            } => {
                let text = if class == FailureClass::Refused {
                    format!("{model}: refused the prompt")
                } else if after_first_token {
                    format!(
                        "{model}: broke off mid-answer, {}",
                        short_failure(class, &message)
                    )
                } else {
                    format!("{model}: {}", short_failure(class, &message))
                };
                set_step(p, &model, text, true);
            }
            RouteEvent::Cancelled { model, reason } => {
                set_step(p, &model, format!("{model}: closed ({reason})"), false);
            }
        }
    }

    pub(super) fn on_route_done(&mut self, id: u64, result: Result<RouteAnswer, RouteFailure>) {
        let now = self.now;
        let Some(p) = self.current_prompt(id) else {
            return;
        };
        let line = match result {
            Ok(answer) => {
                if p.steps.is_empty() {
                    rebuild_steps(p, &answer.skipped, &answer.attempts);
                }
                // Only what was passed over before the answer was skipped.
                p.steps.retain(|s| {
                    !s.text.contains(" skipped: ")
                        || answer
                            .skipped
                            .iter()
                            .any(|k| s.model.as_deref() == Some(k.model.as_str()))
                });
                let about_answerer = p
                    .steps
                    .last()
                    .is_some_and(|s| s.model.as_deref() == Some(answer.model.as_str()));
                let mut text = if about_answerer {
                    format!("answered in {}", fmt_secs(answer.total))
                } else {
                    format!("{} answered in {}", answer.model, fmt_secs(answer.total))
                };
                let model = answer.served_model.as_deref().unwrap_or(&answer.model_id);
                text.push_str(&format!(", {}", served(model, answer.served_by.as_deref())));
                if let Some(cost) = answer.cost {
                    text.push_str(&format!(", {}", fmt_usd(cost)));
                }
                p.steps.push(Step {
                    model: None,
                    text,
                    bad: false,
                });
                p.answer = answer.text.chars().take(ANSWER_CAP).collect();
                p.answer_model = Some(answer.model.clone());
                p.state = PromptState::Answered;
                format!(
                    "prompt answered by {} in {}",
                    answer.model,
                    fmt_secs(answer.total)
                )
            }
            Err(failure) => {
                if p.steps.is_empty() {
                    rebuild_steps(p, &failure.skipped, &failure.attempts);
                }
                p.steps.retain(|s| {
                    !s.text.contains(" skipped: ")
                        || failure
                            .skipped
                            .iter()
                            .any(|k| s.model.as_deref() == Some(k.model.as_str()))
                });
                let message = failure.to_string();
                let broke_off = failure
                    .attempts
                    .iter()
                    .rev()
                    .find(|r| !r.cancelled && !r.running)
                    .is_some_and(|r| r.broke_off());
                p.state = if failure.refusal().is_some() {
                    PromptState::Refused(message.clone())
                } else if broke_off && !p.answer.is_empty() {
                    PromptState::BrokeOff(message.clone())
                } else {
                    PromptState::Failed(message.clone())
                };
                format!("prompt failed: {message}")
            }
        };
        self.push_event(now, EventKind::Info, line);
    }
}

fn set_step(p: &mut PromptRun, model: &str, text: String, bad: bool) {
    // Replace the model's latest step unless it was a skip (a skipped model
    // tried later as a last resort keeps both).
    match p
        .steps
        .iter_mut()
        .rev()
        .find(|s| s.model.as_deref() == Some(model) && !s.text.contains(" skipped: "))
    {
        Some(step) => {
            step.text = text;
            step.bad = bad;
        }
        None => p.steps.push(Step {
            model: Some(model.to_string()),
            text,
            bad,
        }),
    }
}

/// The route line from a finished route's record, when no events came.
fn rebuild_steps(
    p: &mut PromptRun,
    skipped: &[crate::route::Skip],
    attempts: &[crate::route::AttemptRecord],
) {
    for s in skipped {
        p.steps.push(Step {
            model: Some(s.model.clone()),
            text: format!("{} skipped: {}", s.model, s.status),
            bad: true,
        });
    }
    for a in attempts {
        let (text, bad) = match (&a.attempt.failure, a.cancelled) {
            (_, true) => (format!("{}: closed", a.model), false),
            (Some(f), false) => (
                format!("{}: {}", a.model, short_failure(f.class, &f.message)),
                true,
            ),
            (None, false) => match a.attempt.ttft {
                Some(t) => (format!("{}: first token {}", a.model, fmt_secs(t)), false),
                None => (a.model.clone(), false),
            },
        };
        p.steps.push(Step {
            model: Some(a.model.clone()),
            text,
            bad,
        });
    }
}

fn short_failure(class: FailureClass, message: &str) -> String {
    class_and_message(class, &crate::api::short_message(message.trim(), 40))
}
