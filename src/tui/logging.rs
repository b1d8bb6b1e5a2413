//! The dashboard's log: `tracing` output goes to a file, never to the
//! screen it would scribble over.

use std::io;
use std::path::PathBuf;

/// Where the dashboard writes its log: `$XDG_STATE_HOME/chainwatch/` (else
/// `~/.local/state/chainwatch/`, else a directory of this user's own in the
/// temp directory, `chainwatch-<uid>`).
pub fn log_path() -> PathBuf {
    match crate::store::Store::default_for(None) {
        Some(store) => store.path().with_file_name("chainwatch.log"),
        None => shared_fallback().join("chainwatch.log"),
    }
}

/// The per-user directory in the shared temp directory.
fn shared_fallback() -> PathBuf {
    #[cfg(unix)]
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    #[cfg(not(unix))]
    let me = "user";
    std::env::temp_dir().join(format!("chainwatch-{me}"))
}

/// Sends `tracing` output to [`log_path`] (never to the screen). Level from
/// `CHAINWATCH_LOG` (default `info`). Does nothing when a subscriber is set.
/// The log is opened without following a symlink, and the temp-directory
/// fallback is a private (0700) directory of this user's, or no log.
pub fn init_file_logging() -> io::Result<PathBuf> {
    let path = log_path();
    if let Some(dir) = path.parent() {
        if dir == shared_fallback() {
            crate::files::private_dir(dir)?;
        } else {
            std::fs::create_dir_all(dir)?;
        }
    }
    let file = crate::files::open_log(&path)?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("CHAINWATCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
    Ok(path)
}
