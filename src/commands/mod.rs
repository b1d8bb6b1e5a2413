//! One module per subcommand; `main.rs` parses the command line and hands over.
pub mod watch;
