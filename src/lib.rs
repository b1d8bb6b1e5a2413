//! chainwatch: a terminal dashboard that keeps LLM models honest.
//!
//! The core (`config`, `alert`, `api`, `health`, `probe`, `engine`, `route`,
//! `pricing`, `store`, `wiring`, and the simulator `sim`) knows nothing of
//! the terminal; `tui` reads its snapshots and sends it commands. Time is always
//! passed in as `now`.
//!
//! `tui`, `sim`, `serve` and `redis` are cargo features, on by default; the
//! binary needs `tui` and `sim`. Without them (`cargo check --lib
//! --no-default-features`) the rest builds with neither the terminal crates
//! nor an HTTP server nor the Redis client.

// The no-panic rule: outside tests nothing unwraps, expects or panics; a
// failure is a handled error. The few deliberate ones carry an
// `#[allow(..., reason = "...")]` that says why. `.ci/run` checks it
// (clippy with `-D warnings`).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

pub mod alert;
pub mod api;
pub mod cli;
pub mod commands;
pub mod compare;
pub mod config;
#[cfg(feature = "sim")]
pub mod costday;
pub mod engine;
pub mod files;
pub mod fmt;
pub mod health;
#[cfg(feature = "serve")]
pub mod metrics;
pub mod pace;
pub mod pricing;
pub mod probe;
#[cfg(test)]
mod props;
pub mod report;
pub mod route;
#[cfg(feature = "serve")]
pub mod serve;
#[cfg(feature = "redis")]
pub mod shared;
#[cfg(feature = "sim")]
pub mod sim;
pub mod store;
#[cfg(test)]
mod testing;
pub mod text;
#[cfg(feature = "tui")]
pub mod tui;
pub mod wiring;
