//! The dashboard's log: `tracing` output goes to a file, never to the
//! screen it would scribble over.

use std::io;
use std::path::PathBuf;

/// Where the dashboard writes its log: `$XDG_STATE_HOME/chainwatch/` (else
/// `~/.local/state/chainwatch/`, else the temp directory).
pub fn log_path() -> PathBuf {
    crate::store::Store::default_for(None)
        .map(|store| store.path().with_file_name("chainwatch.log"))
        .unwrap_or_else(|| {
            std::env::temp_dir()
                .join("chainwatch")
                .join("chainwatch.log")
        })
}

/// Sends `tracing` output to [`log_path`] (never to the screen). Level from
/// `CHAINWATCH_LOG` (default `info`). Does nothing when a subscriber is set.
pub fn init_file_logging() -> io::Result<PathBuf> {
    let path = log_path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("CHAINWATCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
    Ok(path)
}
