//! One module per subcommand; `main.rs` parses the command line and hands over.

pub mod ask;
pub mod chain;
pub mod check;
pub mod completions;
pub mod init;
#[cfg(feature = "serve")]
pub mod serve;
#[cfg(feature = "sim")]
pub mod sim;
pub mod watch;
