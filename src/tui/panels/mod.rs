//! The panels: pure functions of [`App`](super::App) that draw one part of
//! the screen each. [`view::draw`](super::view::draw) places them where
//! [`view::layout`](super::view::layout) says.

pub mod confirm;
pub mod detail;
pub mod events;
pub mod failures;
pub mod frame;
pub mod help;
pub mod models;
pub mod prompt;
pub mod providers;
