//! `chainwatch ask [--tier T] [--model NAME] [--json] [--buffer | --stream]
//! [--no-hedge] "prompt"`: one prompt through the healthy part of the chain.
//!
//! The answer streams to stdout (or, buffered, is printed once complete);
//! what the router skipped, tried and chose goes to stderr, so
//! `ask … > answer.txt` keeps only the answer. Health comes from the state
//! file (what a running dashboard, `watch`, `serve` or `check` recorded), and this
//! prompt's attempts are saved back to it, after any half-open trial still
//! running has ended.

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use tokio::sync::mpsc::unbounded_channel;

use crate::api::{Attempt, FailureClass, Message};
use crate::config::{Config, Hedge, Tier};
use crate::fmt::{class_and_message, fmt_secs, fmt_usd, served};
use crate::report::text::line;
use crate::report::AskReport;
use crate::route::{
    Chain, RouteAnswer, RouteEvent, RouteFailure, RouteRequest, RouteTarget, Skip,
    DEFAULT_MAX_TOKENS,
};
use crate::store::Store;
use crate::text::{write_json, SafeWriter, Shape};
use crate::wiring::Stack;

/// A prompt larger than this (from stdin) is refused rather than sent.
const PROMPT_MAX_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone, clap::Args)]
pub struct AskArgs {
    /// Route through a cost tier (budget, standard, premium), escalating
    /// upward when the whole tier fails.
    #[arg(long, value_name = "TIER", conflicts_with = "model")]
    pub tier: Option<Tier>,
    /// Send to this one model, whatever its health.
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// Print one JSON object with the answer and every attempt.
    #[arg(long)]
    pub json: bool,
    /// Print the answer only once it is complete: an answer that breaks off
    /// restarts cleanly on the next model (the default when stdout is not a
    /// terminal, and with --json).
    #[arg(long, conflicts_with = "stream")]
    pub buffer: bool,
    /// Stream the answer as it comes even when stdout is not a terminal; an
    /// answer that breaks off is reported, never stitched.
    #[arg(long, conflicts_with = "json")]
    pub stream: bool,
    /// Never start a second model while the first is slow.
    #[arg(long)]
    pub no_hedge: bool,
    /// Most tokens in the answer (1 to 200000).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_TOKENS,
          value_parser = clap::value_parser!(u32).range(1..=200_000))]
    pub max_tokens: u32,
    /// The prompt; `-` reads it from stdin.
    pub prompt: String,
}

pub async fn run(
    args: AskArgs,
    config: &Config,
    store: Option<Store>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let terminal = std::io::stdout().is_terminal();
    run_with_input(
        args,
        config,
        store,
        terminal,
        &mut std::io::stdin().lock(),
        out,
        err,
    )
    .await
}

/// [`run`] with stdin passed in and whether stdout is a terminal (tests).
pub async fn run_with_input(
    args: AskArgs,
    config: &Config,
    store: Option<Store>,
    out_is_terminal: bool,
    input: &mut impl Read,
    out: &mut impl Write,
    err: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    // The answer and every provider message are shown, never obeyed: the
    // answer keeps its lines, the rest is one line each.
    let (mut out, mut err) = (SafeWriter::new(out, Shape::Block), SafeWriter::lines(err));
    let (out, err) = (&mut out, &mut err);
    let prompt = match read_prompt(&args.prompt, input) {
        Ok(p) => p,
        Err(why) => return usage(err, &why),
    };
    let target = match (&args.model, args.tier) {
        (Some(name), _) if config.model(name).is_none() => {
            let known: Vec<&str> = config.models.iter().map(|m| m.name.as_str()).collect();
            return usage(
                err,
                &format!("unknown model {name:?}; known models: {}", known.join(", ")),
            );
        }
        (Some(name), _) => RouteTarget::Model(name.clone()),
        (None, Some(tier)) => {
            if Tier::ALL
                .iter()
                .filter(|t| **t >= tier)
                .all(|t| config.tiers.get(*t).is_empty())
            {
                return usage(
                    err,
                    &format!("no models in the {tier} tier or above; list some under [tiers] in the config"),
                );
            }
            RouteTarget::Tier(tier)
        }
        (None, None) => RouteTarget::Chain,
    };

    let (chain, warning) = Chain::load(config, store.as_ref());
    if let Some(w) = warning {
        line(err, &format!("warning: {w}"))?;
    }
    if target == RouteTarget::Chain && chain.order().is_empty() {
        return usage(
            err,
            "the chain is empty; add a model with `chainwatch chain add NAME`",
        );
    }
    // No probe loop: only the history saved by whoever ran last.
    let Stack { engine, router } = Stack::new(config.clone(), store);
    // Nothing shown before it is complete: JSON, --buffer, or a stdout
    // that is not a terminal (unless --stream).
    let buffered = args.json || args.buffer || (!args.stream && !out_is_terminal);
    let request = RouteRequest {
        messages: vec![Message::user(prompt)],
        target,
        max_tokens: args.max_tokens,
        hedge: args.no_hedge.then_some(Hedge::Off),
        passthrough: None,
        buffered,
    };

    let (tx, mut rx) = unbounded_channel();
    let mut narrator = Narrator {
        json: args.json,
        buffered,
        streamed_text: false,
        ends_with_newline: true,
    };
    let routed = router.route(&engine, chain.order(), request, Some(tx));
    tokio::pin!(routed);
    let result = loop {
        tokio::select! {
            // Events first, so the answer's text is printed before the verdict.
            biased;
            Some(event) = rx.recv() => narrator.event(&event, out, err)?,
            result = &mut routed => break result,
        }
    };
    while let Ok(event) = rx.try_recv() {
        narrator.event(&event, out, err)?;
    }
    // The answer first, then what is left: a half-open trial still running
    // ends (within its deadlines) and is saved with the rest.
    narrator.finish(&result, out, err)?;
    for (model, attempt) in engine.finish_trials().await {
        narrator.trial_ended(&model, &attempt, err)?;
    }
    if let Err(e) = engine.save() {
        line(err, &format!("warning: {e}"))?;
    }
    Ok(match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(1),
    })
}

fn usage(err: &mut impl Write, why: &str) -> anyhow::Result<ExitCode> {
    line(err, &format!("error: {why}"))?;
    Ok(ExitCode::from(2))
}

fn read_prompt(arg: &str, input: &mut impl Read) -> Result<String, String> {
    let prompt = if arg == "-" {
        let mut bytes = Vec::new();
        input
            .take(PROMPT_MAX_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("could not read the prompt from stdin: {e}"))?;
        if bytes.len() as u64 > PROMPT_MAX_BYTES {
            return Err(format!(
                "the prompt on stdin is over {} MiB; send less",
                PROMPT_MAX_BYTES / (1024 * 1024)
            ));
        }
        String::from_utf8(bytes).map_err(|_| "the prompt on stdin is not UTF-8".to_string())?
    } else {
        arg.to_string()
    };
    if prompt.trim().is_empty() {
        return Err("the prompt is empty".to_string());
    }
    Ok(prompt)
}

/// Turns route events into text: the answer to stdout, the rest to stderr
/// (a line each, through the report printer).
struct Narrator {
    json: bool,
    /// The answer is printed once complete (no deltas come).
    buffered: bool,
    streamed_text: bool,
    ends_with_newline: bool,
}

impl Narrator {
    fn event(
        &mut self,
        event: &RouteEvent,
        out: &mut impl Write,
        err: &mut impl Write,
    ) -> std::io::Result<()> {
        if self.json {
            return Ok(());
        }
        match event {
            // Skips are told at the end: only those passed over before the
            // answer were skipped.
            RouteEvent::Plan { last_resort, .. } => {
                if *last_resort {
                    line(
                        err,
                        "nothing is known to be healthy: trying every model anyway (last resort)",
                    )?;
                }
            }
            RouteEvent::Escalate { from, to } => {
                line(
                    err,
                    &format!("no {from} model answered: escalating to {to}"),
                )?;
            }
            RouteEvent::Trying { model, hedge: true } => {
                line(
                    err,
                    &format!("no first token yet: also trying {model} (hedge)"),
                )?;
            }
            RouteEvent::Delta { text, .. } if !text.is_empty() => {
                out.write_all(text.as_bytes())?;
                out.flush()?;
                self.streamed_text = true;
                self.ends_with_newline = text.ends_with('\n');
            }
            RouteEvent::Trying { .. }
            | RouteEvent::FirstToken { .. }
            | RouteEvent::Delta { .. } => {}
            RouteEvent::Failed {
                model,
                class,
                message,
                after_first_token,
            } => {
                self.end_text(out)?;
                let what = class_and_message(*class, message);
                let text = match (*class, *after_first_token) {
                    (FailureClass::Refused, _) => format!("{model} refused the prompt: {what}"),
                    (_, true) => {
                        format!("{model} broke off after it had started answering: {what}")
                    }
                    (_, false) => format!("{model} failed: {what}"),
                };
                line(err, &text)?;
            }
            RouteEvent::Cancelled { model, reason } => {
                line(err, &format!("{model} cancelled: {reason}"))?;
            }
            RouteEvent::Retrying { model, wait, .. } if wait.is_zero() => {
                line(
                    err,
                    &format!("{model}: trying once more, beside the next model"),
                )?;
            }
            RouteEvent::Retrying { model, wait, .. } => {
                line(
                    err,
                    &format!(
                        "{model}: waiting out its Retry-After ({}), then trying it again",
                        fmt_secs(*wait)
                    ),
                )?;
            }
            RouteEvent::Trial { model, reason } => {
                line(
                    err,
                    &format!(
                        "{model} is {reason}: trying it beside the next model (half-open trial)"
                    ),
                )?;
            }
            RouteEvent::Restarting { model, .. } => {
                line(
                    err,
                    &format!("nothing of {model}'s answer was shown: starting again cleanly on the next model"),
                )?;
            }
        }
        Ok(())
    }

    /// A half-open trial that ran on after the answer has ended.
    fn trial_ended(
        &mut self,
        model: &str,
        attempt: &Attempt,
        err: &mut impl Write,
    ) -> std::io::Result<()> {
        if self.json {
            return Ok(());
        }
        let text = match &attempt.failure {
            None => format!(
                "{model}'s half-open trial answered in {}: it counts toward re-admitting it",
                fmt_secs(attempt.latency)
            ),
            Some(f) => format!(
                "{model}'s half-open trial failed: {}",
                class_and_message(f.class, &f.message)
            ),
        };
        line(err, &text)
    }

    fn end_text(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        if self.streamed_text && !self.ends_with_newline {
            writeln!(out)?;
            self.ends_with_newline = true;
        }
        Ok(())
    }

    fn finish(
        &mut self,
        result: &Result<RouteAnswer, RouteFailure>,
        out: &mut impl Write,
        err: &mut impl Write,
    ) -> std::io::Result<()> {
        if self.json {
            write_json(out, &AskReport::new(result))?;
            return out.flush();
        }
        match result {
            Ok(answer) => {
                if !self.streamed_text {
                    // Buffered (or a reply with no deltas): print it whole.
                    out.write_all(answer.text.as_bytes())?;
                    self.streamed_text = true;
                    self.ends_with_newline = answer.text.ends_with('\n');
                }
                self.end_text(out)?;
                for skip in &answer.skipped {
                    line(err, &skip_line(skip))?;
                }
                line(err, &verdict(answer))?;
            }
            Err(failure) => {
                self.end_text(out)?;
                for skip in &failure.skipped {
                    line(err, &skip_line(skip))?;
                }
                line(err, &format!("error: {failure}"))?;
                let broke_off = failure.refusal().is_none()
                    && failure
                        .attempts
                        .iter()
                        .rev()
                        .find(|r| !r.cancelled && !r.running)
                        .is_some_and(|r| r.broke_off());
                if broke_off && !self.buffered {
                    line(
                        err,
                        "the answer above broke off and is incomplete; nothing was stitched onto it. \
                         To retry, ask again with --buffer: an answer that breaks off then restarts \
                         cleanly on the next model before anything is printed",
                    )?;
                }
            }
        }
        out.flush()
    }
}

/// "gpt-4o skipped: unhealthy (2/3 ok; last: 502 …)"
fn skip_line(skip: &Skip) -> String {
    format!("{} skipped: {} ({})", skip.model, skip.status, skip.reason)
}

/// "claude-sonnet answered in 1.3s (first token 0.4s), served
/// anthropic/claude-sonnet-4 via Anthropic · 12+40 tokens · $0.000612"
fn verdict(answer: &RouteAnswer) -> String {
    let mut text = format!("{} answered in {}", answer.model, fmt_secs(answer.total));
    if let Some(ttft) = answer.ttft {
        text.push_str(&format!(" (first token {})", fmt_secs(ttft)));
    }
    match (&answer.served_model, &answer.served_by) {
        (Some(model), by) => text.push_str(&format!(", {}", served(model, by.as_deref()))),
        (None, Some(by)) => text.push_str(&format!(", via {by}")),
        (None, None) => {}
    }
    if let Some(u) = &answer.usage {
        text.push_str(&format!(
            " · {}+{} tokens",
            u.prompt_tokens, u.completion_tokens
        ));
    }
    if let Some(cost) = answer.cost {
        text.push_str(&format!(" · {}", fmt_usd(cost)));
    }
    let failed = answer
        .attempts
        .iter()
        .filter(|a| !a.cancelled && !a.attempt.is_ok())
        .count();
    if failed > 0 {
        text.push_str(&format!(
            " · after {failed} failed attempt{}",
            if failed == 1 { "" } else { "s" }
        ));
    }
    if answer.last_resort {
        text.push_str(" · last resort");
    }
    text
}

// Every test here asks the simulator.
#[cfg(all(test, feature = "sim"))]
#[path = "ask_tests.rs"]
mod tests;
