//! Provider text made safe before it enters the app's state: every string
//! that came from outside (messages, served model and provider names,
//! replies, reasons that quote them) passes through [`crate::text::sanitize`]
//! here, so no panel can draw an escape sequence or a bidirectional
//! override, whatever it shows. The screen's own text needs none of this.

use crate::api::Attempt;
use crate::health::{HealthEvent, HealthEventKind, ModelSnapshot};
use crate::route::{AttemptRecord, RouteAnswer, RouteEvent, RouteFailure, Skip};
use crate::text::{sanitize, Shape};

use super::Action;

/// Replaces `s` with its safe form when it needs one (no copy otherwise).
fn line(s: &mut String) {
    if let std::borrow::Cow::Owned(clean) = sanitize(s, Shape::Line) {
        *s = clean;
    }
}

fn block(s: &mut String) {
    if let std::borrow::Cow::Owned(clean) = sanitize(s, Shape::Block) {
        *s = clean;
    }
}

fn opt(s: &mut Option<String>) {
    if let Some(s) = s {
        line(s);
    }
}

/// The action with every outside string made safe.
pub(super) fn clean(mut action: Action) -> Action {
    match &mut action {
        Action::Snapshots { models, .. } | Action::Refresh { models, .. } => {
            models.iter_mut().for_each(snapshot)
        }
        Action::Failures(failures) => {
            for (model, failure) in failures.iter_mut() {
                line(model);
                line(&mut failure.message);
            }
        }
        Action::Copied(result) => {
            if let Err(why) = result {
                line(why);
            }
        }
        Action::Health(event) => health(event),
        Action::Budget(text) | Action::Notice(text) | Action::Badge(Some(text)) => line(text),
        Action::Route { event, .. } => route_event(event),
        Action::RouteDone { result, .. } => match result {
            Ok(answer) => route_answer(answer),
            Err(failure) => route_failure(failure),
        },
        Action::Key(_)
        | Action::Paste(_)
        | Action::Mouse(_)
        | Action::Resize(..)
        | Action::Tick(_)
        | Action::Prices(_)
        | Action::Spending(_)
        | Action::Badge(None)
        | Action::ChainOutside { .. } => {}
        Action::ChainSaved { error, .. } => opt(error),
    }
    action
}

fn snapshot(s: &mut ModelSnapshot) {
    line(&mut s.name);
    line(&mut s.id);
    line(&mut s.reason);
    if let Some(f) = &mut s.last_failure {
        line(&mut f.message);
    }
    opt(&mut s.served_model);
    opt(&mut s.served_by);
    for d in s.drift.iter_mut().chain(s.served_history.iter_mut()) {
        line(&mut d.from);
        line(&mut d.to);
    }
    if let Some(reply) = &mut s.last_reply {
        block(reply);
    }
}

fn health(e: &mut HealthEvent) {
    line(&mut e.model);
    match &mut e.kind {
        HealthEventKind::State { reason, .. } => line(reason),
        HealthEventKind::Drift { from, to } => {
            line(from);
            line(to);
        }
    }
}

fn route_event(e: &mut RouteEvent) {
    match e {
        RouteEvent::Plan { skipped, .. } => skipped.iter_mut().for_each(skip),
        RouteEvent::Delta { text, .. } => block(text),
        RouteEvent::Failed { message, .. } => line(message),
        RouteEvent::Cancelled { reason, .. }
        | RouteEvent::Retrying { reason, .. }
        | RouteEvent::Trial { reason, .. }
        | RouteEvent::Restarting { reason, .. } => line(reason),
        RouteEvent::Escalate { .. } | RouteEvent::Trying { .. } | RouteEvent::FirstToken { .. } => {
        }
    }
}

fn skip(s: &mut Skip) {
    line(&mut s.reason);
}

fn attempt(a: &mut Attempt) {
    if let Some(f) = &mut a.failure {
        line(&mut f.message);
    }
    opt(&mut a.served_model);
    opt(&mut a.served_by);
    block(&mut a.reply);
}

fn record(r: &mut AttemptRecord) {
    attempt(&mut r.attempt);
}

fn route_answer(a: &mut RouteAnswer) {
    opt(&mut a.served_model);
    opt(&mut a.served_by);
    block(&mut a.text);
    a.attempts.iter_mut().for_each(record);
    a.skipped.iter_mut().for_each(skip);
}

fn route_failure(f: &mut RouteFailure) {
    f.attempts.iter_mut().for_each(record);
    f.skipped.iter_mut().for_each(skip);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::FailureClass;
    use crate::config::Config;
    use crate::health::{Drift, LastFailure, Status};
    use crate::route::Chain;
    use crate::tui::{App, Focus};
    use chrono::Utc;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    const HOSTILE: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{202e}evil";

    fn hostile_snapshot(name: &str) -> ModelSnapshot {
        ModelSnapshot {
            name: name.to_string(),
            id: format!("x/{name}"),
            status: Status::Unhealthy,
            reason: format!("0/1 ok; last: 401 {HOSTILE}"),
            ratio: Some(0.0),
            ok: 0,
            counted: 1,
            samples: 1,
            lifetime_ratio: Some(0.0),
            lifetime_ok: 0,
            lifetime_counted: 1,
            last_failure: Some(LastFailure {
                at: Utc::now(),
                class: FailureClass::Auth,
                http_status: Some(401),
                message: HOSTILE.to_string(),
            }),
            last_success: None,
            latency: None,
            ttft: None,
            tokens_per_s: None,
            served_model: Some(HOSTILE.to_string()),
            served_by: Some(HOSTILE.to_string()),
            drift: Some(Drift {
                at: Utc::now(),
                from: "a".into(),
                to: HOSTILE.to_string(),
            }),
            served_history: Vec::new(),
            rate_limited_until: None,
            failures_by_class: vec![(FailureClass::Auth, 1)],
            trend: Vec::new(),
            last_reply: Some(format!("line one\n{HOSTILE}")),
            endpoint: "openrouter".into(),
            recovery: None,
            last_timing: None,
        }
    }

    fn screen(app: &App) -> String {
        let mut terminal = Terminal::new(TestBackend::new(160, 48)).expect("terminal");
        terminal
            .draw(|f| crate::tui::view::draw(f, app))
            .expect("draw");
        terminal
            .backend()
            .buffer()
            .content()
            .iter()
            .map(|c| c.symbol())
            .collect()
    }

    #[test]
    fn no_outside_control_reaches_the_screen() {
        let config = Config::builtin();
        let chain = Chain::new(&config.chain, &config.chain, None);
        let mut app = App::new(&config, chain, Utc::now());
        app.update(Action::Resize(160, 48));
        let models = config
            .models
            .iter()
            .map(|m| hostile_snapshot(&m.name))
            .collect();
        app.update(Action::Snapshots {
            models,
            spend_today: 0.0,
            now: Utc::now(),
        });
        app.update(Action::Notice(HOSTILE.to_string()));
        app.update(Action::Health(HealthEvent {
            at: Utc::now(),
            model: "gpt-4o".into(),
            kind: HealthEventKind::State {
                from: Status::Healthy,
                to: Status::Unhealthy,
                reason: HOSTILE.to_string(),
            },
        }));
        let mut shown = screen(&app);
        app.focus = Focus::Detail;
        shown.push_str(&screen(&app));
        let bad = |c: char| {
            c.is_control()
                || ('\u{2066}'..='\u{2069}').contains(&c)
                || ('\u{202a}'..='\u{202e}').contains(&c)
        };
        assert!(!shown.chars().any(bad), "a control character was drawn");
        assert!(shown.contains("␛]0;pwned␇"), "shown as visible text");
        // The state keeps the safe text too (a later panel cannot undo it).
        assert!(app.events.iter().all(|e| !e.text.chars().any(bad)));
    }
}
