//! The dashboard: app state and update, the event loop, one file per panel.
//!
//! `app` holds the state and the only code that changes it; `view` and the
//! panel modules draw it; `keys` is the key table the footer, the help and
//! the key handler share; `run` is the event loop that ties them to the
//! terminal, the engine and the router.

pub mod app;
pub mod dashboard;
pub mod keys;
pub mod panels;
pub mod run;
pub mod theme;
pub mod view;

pub use app::{Action, App, Command, Focus, Sort};
pub use dashboard::{run, DashboardOptions};
