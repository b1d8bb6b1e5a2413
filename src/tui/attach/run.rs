//! The attached dashboard's entry: the server's first snapshot (an error
//! before the screen is taken when there is no server), the terminal set
//! up and always given back, the follower beside the loop.

use std::sync::Arc;

use chrono::{Local, Utc};
use crossterm::event::EventStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::engine::StopSignals;
use crate::route::Chain;
use crate::tui::app::{Action, App};
use crate::tui::clipboard::ClipboardEnv;
use crate::tui::dashboard::{give_back_terminal, take_terminal};
use crate::tui::event_loop::run_dashboard;
use crate::tui::logging::init_file_logging;
use crate::tui::theme::Theme;

use super::{doc, follow, Attached};

/// The screen an attached dashboard starts on: the server's models, chain
/// and settings, and the badge that names the server.
pub fn app_for(attached: &Attached) -> App {
    let remote = attached.remote();
    let config = doc::config_of(&remote, attached.base());
    let chain = Chain::of(&config, Some(&remote.chain));
    let mut app = App::new(&config, chain, Utc::now());
    app.demo = Some(attached.badge());
    app
}

/// `chainwatch --attach URL` until the user quits.
pub async fn run(url: &str, token: Option<String>) -> anyhow::Result<()> {
    let signals = StopSignals::listen();
    let log = init_file_logging().ok();
    let attached = Arc::new(
        Attached::connect(url, token)
            .await?
            .with_tz(*Local::now().offset()),
    );
    let mut app = app_for(&attached);
    app.theme = Theme::from_env();
    app.tz = *Local::now().offset();
    app.clipboard = ClipboardEnv::from_env();
    if let Some(path) = &log {
        tracing::info!(
            "dashboard attached to {}; logging to {}",
            attached.base(),
            path.display()
        );
    }

    let mut terminal = take_terminal(
        "the dashboard needs a terminal; for scripts use the server's /api/v1/ directly",
    )?;

    let stop = CancellationToken::new();
    let (news_tx, news_rx) = mpsc::unbounded_channel();
    let follower = tokio::spawn(follow(attached.clone(), news_tx, stop.child_token()));
    let signals = tokio::spawn({
        let stop = stop.clone();
        async move {
            signals.recv().await;
            stop.cancel();
        }
    });
    app.update(Action::Badge(Some(attached.badge())));
    let result = run_dashboard(
        &mut terminal,
        &mut app,
        attached,
        EventStream::new(),
        news_rx,
        stop.clone(),
    )
    .await;

    give_back_terminal(&mut terminal);
    stop.cancel();
    signals.abort();
    let _ = follower.await;
    result
}
