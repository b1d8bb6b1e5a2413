//! Where the configuration comes from: `--config FILE`, the XDG default
//! path, the built-in chain when an OpenRouter key is set, or demo mode.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::{Config, ConfigError, OPENROUTER_KEY_VAR};

/// What `main` should run on.
// Built once at start-up, so the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Resolved {
    Config(Config),
    /// Nothing real to watch: start the simulator and use [`Config::demo`].
    Demo,
}

/// `--config FILE` if given (a missing file is an error); else the default
/// path if it exists; else the built-in chain when `OPENROUTER_API_KEY` is
/// set; else demo mode.
pub fn resolve(explicit: Option<&Path>) -> Result<Resolved, ConfigError> {
    let key_present = std::env::var_os(OPENROUTER_KEY_VAR).is_some_and(|v| !v.is_empty());
    resolve_with(explicit, Config::default_path().as_deref(), key_present)
}

/// [`resolve`] with the environment passed in.
pub fn resolve_with(
    explicit: Option<&Path>,
    default_path: Option<&Path>,
    key_present: bool,
) -> Result<Resolved, ConfigError> {
    if let Some(path) = explicit {
        return Config::load(path).map(Resolved::Config);
    }
    if let Some(path) = default_path {
        // A path we cannot even stat is loaded anyway, so the error says why.
        if !matches!(path.try_exists(), Ok(false)) {
            return Config::load(path).map(Resolved::Config);
        }
    }
    if key_present {
        return Ok(Resolved::Config(Config::builtin()));
    }
    Ok(Resolved::Demo)
}

/// A config file larger than this is refused unread (one is a few KiB;
/// this holds some 20,000 models).
pub const CONFIG_FILE_MAX: u64 = 1024 * 1024;

impl Config {
    /// Read and parse a file; an unreadable file is an error naming the
    /// path. Only a regular file of at most [`CONFIG_FILE_MAX`] bytes is
    /// read: a directory, a FIFO or a device is refused at once.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let error = |message: String| ConfigError {
            path: path.to_path_buf(),
            line: None,
            column: None,
            message,
        };
        let bytes = match crate::files::read_regular(path, CONFIG_FILE_MAX, "config file") {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Err(error(
                "cannot read the config file: it does not exist; check the path given to --config"
                    .to_string(),
            )),
            Err(e) => {
                return Err(error(format!(
                    "cannot read the config file: {e}; check the path given to --config"
                )))
            }
        };
        let text = String::from_utf8(bytes)
            .map_err(|e| error(format!("the config file is not UTF-8 text ({e})")))?;
        Config::parse(&text, path)
    }

    /// `$XDG_CONFIG_HOME/chainwatch/config.toml`, else
    /// `$HOME/.config/chainwatch/config.toml`.
    pub fn default_path() -> Option<PathBuf> {
        default_path_from(
            std::env::var_os("XDG_CONFIG_HOME").as_deref(),
            std::env::var_os("HOME").as_deref(),
        )
    }
}

/// [`Config::default_path`] with the environment passed in. A relative
/// `XDG_CONFIG_HOME` is ignored, as the XDG spec asks.
pub fn default_path_from(xdg_config_home: Option<&OsStr>, home: Option<&OsStr>) -> Option<PathBuf> {
    let base = match xdg_config_home.map(Path::new) {
        Some(x) if x.is_absolute() => x.to_path_buf(),
        _ => {
            let home = home.filter(|h| !h.is_empty())?;
            Path::new(home).join(".config")
        }
    };
    Some(base.join("chainwatch").join("config.toml"))
}
