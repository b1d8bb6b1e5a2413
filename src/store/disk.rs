//! The state file on disk: following a symlink to its target, reading only
//! a regular file of sane size and telling ours from anything else, the
//! atomic write, moving a damaged file of ours aside, and the stamp that
//! tells a reader the file changed.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::Utc;

use super::{State, Store, StoreError, STATE_FILE_MAX, STATE_FORMAT, STATE_VERSION};
use crate::files::{read_regular, ReadError};
use crate::text::{sanitize, Shape};

/// What is at the state path.
pub(super) enum Found {
    State(Box<State>),
    Missing,
    /// Ours (it has the marker) but it no longer parses: a save moves it
    /// aside.
    Damaged(String),
}

/// Enough of a file's identity to notice that it was replaced or changed:
/// every save renames a new file into place, so the inode alone changes
/// with each one; size and time cover filesystems without inodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
    device: u64,
}

pub(super) fn stamp(path: &Path) -> Option<Stamp> {
    let meta = fs::metadata(path).ok()?;
    #[cfg(unix)]
    let (inode, device) = {
        use std::os::unix::fs::MetadataExt;
        (meta.ino(), meta.dev())
    };
    #[cfg(not(unix))]
    let (inode, device) = (0, 0);
    Some(Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        inode,
        device,
    })
}

/// The file to read and replace: a symlink's target (so the link stays a
/// link), else the path itself.
pub(super) fn resolve(path: &Path) -> Result<PathBuf, StoreError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            fs::canonicalize(path).map_err(|e| StoreError::Unusable {
                path: path.to_path_buf(),
                why: format!("it is a symlink whose target cannot be reached ({e})"),
            })
        }
        _ => Ok(path.to_path_buf()),
    }
}

/// Reads the store's file, or the legacy file it migrates from while its
/// own does not exist yet. A damaged or foreign legacy file is ignored.
pub(super) fn read(store: &Store) -> Result<Found, StoreError> {
    let target = resolve(&store.path)?;
    match read_one(&target)? {
        Found::Missing => {}
        found => return Ok(found),
    }
    let Some(legacy) = &store.legacy else {
        return Ok(Found::Missing);
    };
    Ok(match resolve(legacy).and_then(|p| read_one(&p)) {
        Ok(Found::State(state)) => Found::State(state),
        _ => Found::Missing,
    })
}

fn read_one(path: &Path) -> Result<Found, StoreError> {
    let unusable = |why: String| StoreError::Unusable {
        path: path.to_path_buf(),
        why,
    };
    let bytes = match read_regular(path, STATE_FILE_MAX, "state file") {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Ok(Found::Missing),
        Err(e @ (ReadError::NotRegular { .. } | ReadError::TooLarge { .. })) => {
            return Err(unusable(e.to_string()))
        }
        Err(ReadError::Io(e)) => return Err(unusable(e.to_string())),
    };
    // Nothing in it to lose (`touch state.json`).
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Found::Missing);
    }
    match serde_json::from_slice::<State>(&bytes) {
        Ok(state) if state.version > STATE_VERSION => Err(StoreError::Newer {
            path: path.to_path_buf(),
            version: state.version,
        }),
        Ok(mut state) => {
            state.ledger.trim();
            Ok(Found::State(Box::new(state)))
        }
        Err(e) if has_marker(&bytes) => Ok(Found::Damaged(format!("not valid state JSON: {e}"))),
        Err(e) => Err(StoreError::Foreign {
            path: path.to_path_buf(),
            why: format!("not valid state JSON: {e}"),
        }),
    }
}

/// Whether the file begins the way chainwatch writes state files: the
/// marker is the first field, so even a file cut short keeps it.
fn has_marker(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(256)];
    let marker = format!("\"{STATE_FORMAT}\"");
    head.windows(marker.len()).any(|w| w == marker.as_bytes())
}

/// Writes the state atomically: readers see the old file or the new one,
/// never half of one, and no temporary file is left behind.
pub(super) fn write(target: &Path, state: &State) -> Result<(), StoreError> {
    let failed = |source: io::Error| StoreError::Write {
        path: target.to_path_buf(),
        source,
    };
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(failed)?;
    let name = target
        .file_name()
        .map_or_else(|| "state.json".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        fastrand::u32(..)
    ));
    let result = (|| {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        // Provider text in it (messages, served names) is escaped so that
        // even `cat state.json` shows it inertly; the JSON means the same.
        let text = serde_json::to_string(state).map_err(io::Error::other)?;
        file.write_all(sanitize(&text, Shape::Json).as_bytes())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, target)?;
        // The rename itself is durable only once the directory is synced;
        // not every platform allows opening a directory, so best effort.
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(failed)
}

/// Moves a damaged state file of ours aside; says where.
pub(super) fn move_aside(target: &Path) -> Result<String, StoreError> {
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    let mut aside = target.as_os_str().to_owned();
    aside.push(format!(".corrupt-{stamp}"));
    let aside = PathBuf::from(aside);
    fs::rename(target, &aside).map_err(|source| StoreError::Write {
        path: target.to_path_buf(),
        source,
    })?;
    Ok(format!("moved it to {}", aside.display()))
}
