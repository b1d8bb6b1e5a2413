//! The dashboard: app state and update, the event loop, one file per panel.
//!
//! `app` holds the state and the only code that changes it (keys and mouse
//! in `app/input.rs`, the running prompt in `app/prompt_run.rs`); `view`
//! lays the screen out and the `panels` draw it; `keys` is the key table the
//! footer, the help and the key handler share; `event_loop` ties them to a
//! terminal and to its [`Services`](event_loop::Services); `dashboard` is
//! the entry point that puts the engine, the router and the real terminal
//! behind them; `logging` sends the log to a file; `clipboard` is the copy
//! key's OSC 52; `text` makes provider words safe to show and cuts names;
//! `attach` is the same screen as a client of a running `serve`.

pub mod app;
pub mod attach;
pub mod clipboard;
pub mod dashboard;
pub mod event_loop;
pub mod keys;
pub mod logging;
pub mod panels;
pub mod text;
pub mod theme;
pub mod view;

pub use app::{Action, App, Command, Focus, Sort};
pub use dashboard::{run, DashboardOptions};
