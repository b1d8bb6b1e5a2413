//! One module per subcommand; `main.rs` parses the command line and hands over.

pub mod ask;
pub mod chain;
pub mod check;
#[cfg(feature = "sim")]
pub mod sim;
pub mod watch;
