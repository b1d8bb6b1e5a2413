//! Taking turns on the state file: within the process a mutex per file
//! (cheap, and fair to the threads of one dashboard), and across processes
//! an advisory `flock` on `<state>.lock`, a file that is never renamed (the
//! state file itself is replaced on every save, so a lock on it would not
//! hold). Both are held for a whole read-merge-write.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};

use super::StoreError;

/// One lock per state file, found by [`lock_key`]. The table holds weak
/// references, so an entry lasts only while some update holds or awaits it.
static TURNS: LazyLock<Mutex<HashMap<PathBuf, Weak<Mutex<()>>>>> = LazyLock::new(Default::default);

/// The lock that updates of the file at `path` take turns on.
pub(super) fn turn_for(path: &Path) -> Arc<Mutex<()>> {
    let key = lock_key(path);
    let mut turns = TURNS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(turn) = turns.get(&key).and_then(Weak::upgrade) {
        return turn;
    }
    turns.retain(|_, turn| turn.strong_count() > 0);
    let turn = Arc::new(Mutex::new(()));
    turns.insert(key, Arc::downgrade(&turn));
    turn
}

/// One name per state file however it is spelt (relative, `./`, `..`, a
/// symlinked directory): the deepest directory that exists, resolved, then
/// the rest as written. Directories that `save` creates later do not change
/// it. The file itself is not resolved: `save` renames onto the name.
pub(super) fn lock_key(path: &Path) -> PathBuf {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return path;
    };
    let mut missing = Vec::new();
    let mut existing = dir;
    let resolved = loop {
        if let Ok(resolved) = existing.canonicalize() {
            break resolved;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(up), Some(last)) => {
                missing.push(last);
                existing = up;
            }
            _ => return path.clone(),
        }
    };
    missing
        .iter()
        .rev()
        .fold(resolved, |dir, part| dir.join(part))
        .join(name)
}

/// The lock file beside the state file `target`, opened (created if need
/// be, private, never through a symlink) and ready to be locked:
/// `open(target)?.write()` blocks until every other process's update of
/// this state is done.
pub(super) fn open(target: &Path) -> Result<fd_lock::RwLock<File>, StoreError> {
    let mut name = target.as_os_str().to_owned();
    name.push(".lock");
    let path = PathBuf::from(name);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Write {
            path: path.clone(),
            source,
        })?;
    }
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let file = options
        .open(&path)
        .map_err(|source| StoreError::Write { path, source })?;
    Ok(fd_lock::RwLock::new(file))
}
