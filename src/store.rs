//! What survives a restart: chain order, acknowledged drifts, probe spend and
//! recent history.
//!
//! One JSON file, `$XDG_STATE_HOME/chainwatch/state.json` (else
//! `~/.local/state/chainwatch/state.json`), or `chainwatch-state.json` beside
//! the config file when one is used. Writes are atomic: a temporary file in
//! the same directory, fsync, rename. A file that cannot be read or parsed is
//! moved aside (`state.json.corrupt-<timestamp>`) with a warning, and
//! chainwatch starts fresh: the state is a convenience, never a reason to
//! refuse to start. Keys are never part of it.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::health::ModelHealth;
use crate::pricing::Ledger;

/// The file format's version; a file from a newer chainwatch is moved aside
/// rather than misread.
pub const STATE_VERSION: u32 = 1;
/// Acknowledgements remembered (the newest win).
pub const ACKS_MAX: usize = 64;
/// A state file larger than this is not read (it would not be ours).
const STATE_FILE_MAX: u64 = 256 * 1024 * 1024;

/// A drift the user has seen: "model X now serves Y, and that is fine".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AckedDrift {
    pub model: String,
    /// The served model (or fingerprint) acknowledged.
    pub served: String,
    pub at: DateTime<Utc>,
}

/// Everything kept across restarts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// The chain as the user ordered it; `None` follows the config's order.
    #[serde(default)]
    pub chain: Option<Vec<String>>,
    #[serde(default)]
    pub acknowledged: Vec<AckedDrift>,
    /// Per-model health history, by model name.
    #[serde(default)]
    pub models: BTreeMap<String, ModelHealth>,
    /// What probes spent, per model per day.
    #[serde(default)]
    pub ledger: Ledger,
    #[serde(default)]
    pub saved_at: Option<DateTime<Utc>>,
}

impl Default for State {
    fn default() -> Self {
        State {
            version: STATE_VERSION,
            chain: None,
            acknowledged: Vec::new(),
            models: BTreeMap::new(),
            ledger: Ledger::default(),
            saved_at: None,
        }
    }
}

impl State {
    /// Remembers an acknowledgement (replacing the model's previous one).
    pub fn acknowledge(&mut self, model: &str, served: &str, at: DateTime<Utc>) {
        self.acknowledged.retain(|a| a.model != model);
        self.acknowledged.push(AckedDrift {
            model: model.to_string(),
            served: served.to_string(),
            at,
        });
        let excess = self.acknowledged.len().saturating_sub(ACKS_MAX);
        self.acknowledged.drain(..excess);
    }

    /// The served model acknowledged for `model`, if any.
    pub fn acknowledged_for(&self, model: &str) -> Option<&AckedDrift> {
        self.acknowledged.iter().rev().find(|a| a.model == model)
    }
}

/// Where the state lives, and how it is read and written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    path: PathBuf,
}

impl Store {
    /// A store at an explicit path (tests, `--state`).
    pub fn at(path: impl Into<PathBuf>) -> Store {
        Store { path: path.into() }
    }

    /// The default location: beside the config file when one is used, else
    /// under `$XDG_STATE_HOME` or `~/.local/state`. `None` when there is no
    /// home to put it in.
    pub fn default_for(config_path: Option<&Path>) -> Option<Store> {
        default_path_from(
            config_path,
            std::env::var_os("XDG_STATE_HOME").as_deref(),
            std::env::var_os("HOME").as_deref(),
        )
        .map(Store::at)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the state. A missing file is a fresh start; an unreadable or
    /// corrupt one is moved aside and the warning says where.
    pub fn load(&self) -> (State, Option<String>) {
        let text = match read_capped(&self.path) {
            Ok(Some(text)) => text,
            Ok(None) => return (State::default(), None),
            Err(e) => return (State::default(), Some(self.move_aside(&e.to_string()))),
        };
        let why = match serde_json::from_slice::<State>(&text) {
            Ok(state) if state.version <= STATE_VERSION => {
                let mut state = state;
                state.version = STATE_VERSION;
                state.ledger.trim();
                return (state, None);
            }
            Ok(state) => format!(
                "it was written by a newer chainwatch (format {}, this one reads up to {STATE_VERSION})",
                state.version
            ),
            Err(e) => format!("it is not valid state JSON ({e})"),
        };
        (State::default(), Some(self.move_aside(&why)))
    }

    /// Writes the state atomically: readers see the old file or the new one,
    /// never half of one, and no temporary file is left behind.
    pub fn save(&self, state: &State) -> io::Result<()> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&dir)?;
        let name = self
            .path
            .file_name()
            .map_or_else(|| "state.json".into(), |n| n.to_string_lossy().into_owned());
        let tmp = dir.join(format!(
            ".{name}.tmp-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        let result = (|| {
            let mut file = fs::File::create(&tmp)?;
            serde_json::to_writer(&mut io::BufWriter::new(&mut file), state)
                .map_err(io::Error::other)?;
            file.flush()?;
            file.sync_all()?;
            drop(file);
            fs::rename(&tmp, &self.path)?;
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
        result
    }

    /// Load, change, save: so that two writers (`ask` reordering the chain,
    /// the dashboard saving history) do not clobber each other's fields.
    /// A corrupt file is moved aside as in [`Store::load`].
    pub fn update(&self, change: impl FnOnce(&mut State)) -> io::Result<()> {
        // Within one process, updates of one file take turns: a chain edit
        // racing the autosave would otherwise be undone by whichever read
        // first. Updates of other files do not wait.
        let turn = turn_for(&self.path);
        let _turn = turn.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut state, _warning) = self.load();
        change(&mut state);
        self.save(&state)
    }

    /// Moves the unreadable file aside; returns the warning to show.
    fn move_aside(&self, why: &str) -> String {
        let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
        let mut aside = self.path.as_os_str().to_owned();
        aside.push(format!(".corrupt-{stamp}"));
        let aside = PathBuf::from(aside);
        match fs::rename(&self.path, &aside) {
            Ok(()) => format!(
                "state file {} could not be used: {why}; moved it to {} and started fresh",
                self.path.display(),
                aside.display()
            ),
            Err(e) => format!(
                "state file {} could not be used: {why}; could not move it aside either ({e}); started fresh",
                self.path.display()
            ),
        }
    }
}

/// One lock per state file, found by [`lock_key`]. The table holds weak
/// references, so an entry lasts only while some update holds or awaits it.
static TURNS: LazyLock<Mutex<HashMap<PathBuf, Weak<Mutex<()>>>>> = LazyLock::new(Default::default);

/// The lock that updates of the file at `path` take turns on.
fn turn_for(path: &Path) -> Arc<Mutex<()>> {
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
fn lock_key(path: &Path) -> PathBuf {
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

/// Reads the file; `Ok(None)` when it does not exist.
fn read_capped(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if meta.len() > STATE_FILE_MAX {
        return Err(io::Error::other(format!(
            "it is {} bytes, more than a state file ever holds",
            meta.len()
        )));
    }
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The default state path, from the environment's values (pure, for tests).
pub fn default_path_from(
    config_path: Option<&Path>,
    xdg_state_home: Option<&std::ffi::OsStr>,
    home: Option<&std::ffi::OsStr>,
) -> Option<PathBuf> {
    if let Some(config) = config_path {
        let dir = config
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        return Some(dir.join("chainwatch-state.json"));
    }
    // The XDG spec says a relative value is invalid and must be ignored.
    let base = xdg_state_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            home.filter(|h| !h.is_empty())
                .map(|h| Path::new(h).join(".local/state"))
        })?;
    Some(base.join("chainwatch").join("state.json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{HealthBook, HealthPolicy, Observation, Sample};
    use chrono::TimeZone;
    use std::ffi::OsStr;
    use std::time::Duration;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).single().unwrap()
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn updates_from_two_threads_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let start = std::sync::Arc::new(std::sync::Barrier::new(2));
        let writers: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|tag| {
                let store = Store::at(&path);
                let start = start.clone();
                std::thread::spawn(move || {
                    start.wait();
                    for i in 0..100 {
                        let entry = format!("{tag}{i}");
                        store
                            .update(|s| s.chain.get_or_insert_with(Vec::new).push(entry))
                            .unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let (state, warning) = Store::at(&path).load();
        assert!(warning.is_none(), "{warning:?}");
        assert_eq!(state.chain.map_or(0, |c| c.len()), 200);
    }

    #[test]
    fn two_state_files_do_not_wait_on_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
        let held = turn_for(&a);
        let guard = held.lock().unwrap();
        let update = |path: &Path| {
            let (done, finished) = std::sync::mpsc::channel();
            let store = Store::at(path);
            std::thread::spawn(move || {
                store.update(|s| s.chain = Some(Vec::new())).unwrap();
                let _ = done.send(());
            });
            finished
        };
        let other = update(&b);
        assert!(
            other.recv_timeout(Duration::from_secs(10)).is_ok(),
            "another file's update went ahead"
        );
        let same = update(&a);
        assert!(
            same.recv_timeout(Duration::from_millis(200)).is_err(),
            "the same file's update waits its turn"
        );
        drop(guard);
        assert!(same.recv_timeout(Duration::from_secs(10)).is_ok());
    }

    #[test]
    fn one_file_spelt_many_ways_has_one_lock() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("sub")).unwrap();
        let plain = root.join("state.json");
        let mut spellings = vec![
            root.join(".").join("state.json"),
            root.join("sub").join("..").join("state.json"),
        ];
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(root, root.join("link")).unwrap();
            spellings.push(root.join("link").join("state.json"));
        }
        let held = turn_for(&plain);
        for other in &spellings {
            assert_eq!(lock_key(other), lock_key(&plain), "{}", other.display());
            assert!(Arc::ptr_eq(&turn_for(other), &held), "{}", other.display());
        }
        // Directories created by the first save do not change the name.
        let deep = root.join("new").join("deeper").join("state.json");
        let before = lock_key(&deep);
        fs::create_dir_all(root.join("new").join("deeper")).unwrap();
        assert_eq!(lock_key(&deep), before);
        assert_ne!(lock_key(&deep), lock_key(&plain));
    }

    #[test]
    fn default_paths() {
        let p = |c: Option<&str>, x: Option<&str>, h: Option<&str>| {
            default_path_from(c.map(Path::new), x.map(OsStr::new), h.map(OsStr::new))
        };
        assert_eq!(
            p(Some("/etc/cw/config.toml"), Some("/x"), Some("/home/u")),
            Some(PathBuf::from("/etc/cw/chainwatch-state.json"))
        );
        assert_eq!(
            p(Some("config.toml"), None, None),
            Some(PathBuf::from("./chainwatch-state.json"))
        );
        assert_eq!(
            p(None, Some("/xdg/state"), Some("/home/u")),
            Some(PathBuf::from("/xdg/state/chainwatch/state.json"))
        );
        assert_eq!(
            p(None, Some("relative"), Some("/home/u")),
            Some(PathBuf::from("/home/u/.local/state/chainwatch/state.json"))
        );
        assert_eq!(p(None, None, None), None);
    }

    #[test]
    fn round_trip_keeps_history_chain_and_acks() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("sub/state.json"));
        let (fresh, warning) = store.load();
        assert!(warning.is_none());
        assert!(fresh.models.is_empty() && fresh.chain.is_none());

        let mut book = HealthBook::new(HealthPolicy::default());
        book.add_model("m", "x/m");
        for i in 0..5 {
            book.record(
                "m",
                Sample::ok(t(i * 10), Duration::from_millis(300)),
                Observation::default(),
                t(i * 10),
            );
        }
        let mut state = State {
            chain: Some(vec!["b".into(), "m".into()]),
            ..State::default()
        };
        state.models = book.models().map(|(n, h)| (n.clone(), h.clone())).collect();
        state.acknowledge("m", "x/m-2", t(60));
        state
            .ledger
            .add("m", crate::health::SampleKind::Probe, 0.25, t(0));
        store.save(&state).unwrap();

        let (back, warning) = store.load();
        assert!(warning.is_none());
        assert_eq!(back.chain, state.chain);
        assert_eq!(back.acknowledged, state.acknowledged);
        assert_eq!(back.ledger, state.ledger);
        let mut restored = HealthBook::new(HealthPolicy::default());
        restored.restore("m", "x/m", back.models["m"].clone());
        let snap = restored.snapshot("m", t(40)).unwrap();
        assert_eq!((snap.ok, snap.counted), (5, 5));
        assert_eq!(snap.trend.len(), 5);
        assert_eq!(
            files_in(&dir.path().join("sub")),
            ["state.json"],
            "no temp file left"
        );
    }

    #[test]
    fn corrupt_file_is_moved_aside_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        fs::write(&path, b"{\"version\": 1, \"models\": [oops").unwrap();
        let store = Store::at(&path);
        let (state, warning) = store.load();
        let warning = warning.expect("a warning");
        assert!(warning.contains("moved it to"), "{warning}");
        assert!(state.models.is_empty());
        let names = files_in(dir.path());
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(names[0].starts_with("state.json.corrupt-"), "{names:?}");
        // The next start is clean.
        assert_eq!(store.load().1, None);
        // A newer format is moved aside too, not misread.
        fs::write(&path, br#"{"version": 99}"#).unwrap();
        let (_, warning) = store.load();
        assert!(warning.unwrap().contains("newer chainwatch"));
    }

    #[test]
    fn unreadable_path_warns_and_starts_fresh() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: read fails, rename moves it.
        let path = dir.path().join("state.json");
        fs::create_dir(&path).unwrap();
        let (state, warning) = Store::at(&path).load();
        assert!(state.models.is_empty());
        assert!(warning.is_some());
    }

    #[test]
    fn update_keeps_other_fields() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("state.json"));
        store.update(|s| s.chain = Some(vec!["a".into()])).unwrap();
        store.update(|s| s.acknowledge("a", "x", t(0))).unwrap();
        let (state, _) = store.load();
        assert_eq!(state.chain, Some(vec!["a".into()]));
        assert_eq!(state.acknowledged_for("a").unwrap().served, "x");
    }

    #[test]
    fn save_failure_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        // The target is a non-empty directory: rename fails.
        let path = dir.path().join("state.json");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("keep"), b"x").unwrap();
        assert!(Store::at(&path).save(&State::default()).is_err());
        assert_eq!(files_in(dir.path()), ["state.json"]);
    }

    #[test]
    fn acks_are_bounded() {
        let mut s = State::default();
        for i in 0..(ACKS_MAX + 10) {
            s.acknowledge(&format!("m{i}"), "x", t(0));
        }
        s.acknowledge("m70", "y", t(1));
        assert_eq!(s.acknowledged.len(), ACKS_MAX);
        assert_eq!(s.acknowledged_for("m70").unwrap().served, "y");
    }
}
