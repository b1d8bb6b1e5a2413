//! chainwatch: a terminal dashboard that keeps LLM models honest.
//!
//! The core (`config`, `api`, `health`, `probe`, `engine`, `route`,
//! `pricing`, `store`, `wiring`, and the simulator `sim`) knows nothing of
//! the terminal; `tui` reads its snapshots and sends it commands. Time is always
//! passed in as `now`.

pub mod api;
pub mod cli;
pub mod commands;
pub mod config;
pub mod engine;
pub mod fmt;
pub mod health;
pub mod pace;
pub mod pricing;
pub mod probe;
pub mod route;
pub mod sim;
pub mod store;
pub mod tui;
pub mod wiring;
