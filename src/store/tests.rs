//! The state file: locking, format, files that are not ours, migration.

use super::lock::{lock_key, turn_for};
use super::*;
use crate::health::{HealthBook, HealthPolicy, Observation, Sample};
use chrono::TimeZone;
use std::ffi::OsStr;
use std::fs;
use std::sync::Arc;
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
        Some(PathBuf::from("/etc/cw/config.state.json"))
    );
    assert_eq!(
        p(Some("work.toml"), None, None),
        Some(PathBuf::from("./work.state.json"))
    );
    assert_eq!(
        p(Some("/etc/cw/prod"), None, None),
        Some(PathBuf::from("/etc/cw/prod.state.json"))
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
    store.update(|s| *s = state.clone()).unwrap();

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
        ["state.json", "state.json.lock"],
        "no temp file left"
    );
}

#[test]
fn a_damaged_file_of_ours_is_moved_aside_only_by_a_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let store = Store::at(&path);
    store.update(|s| s.chain = Some(vec!["a".into()])).unwrap();
    let written = fs::read(&path).unwrap();
    assert!(
        written.starts_with(br#"{"format":"chainwatch-state","version":1,"#),
        "{}",
        String::from_utf8_lossy(&written)
    );
    // Cut short, as a full disk or a crash elsewhere might leave it.
    fs::write(&path, &written[..written.len() / 2]).unwrap();

    // Reading says what will happen, and renames nothing.
    let (state, warning) = store.load();
    assert!(state.chain.is_none());
    let warning = warning.expect("a warning");
    assert!(
        warning.contains("damaged") && warning.contains("next save moves it aside"),
        "{warning}"
    );
    assert_eq!(files_in(dir.path()), ["state.json", "state.json.lock"]);

    // A write moves it aside and starts fresh.
    store.update(|s| s.chain = Some(vec!["b".into()])).unwrap();
    let names = files_in(dir.path());
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names[1].starts_with("state.json.corrupt-"), "{names:?}");
    let (state, warning) = store.load();
    assert_eq!((state.chain, warning), (Some(vec!["b".into()]), None));
}

#[test]
fn files_that_are_not_ours_are_never_renamed_or_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    // The config given as --state by mistake.
    let config = dir.path().join("config.toml");
    fs::write(&config, "chain = [\"a\"]\n").unwrap();
    // A newer chainwatch's file.
    let newer = dir.path().join("newer.json");
    fs::write(&newer, br#"{"format":"chainwatch-state","version":99}"#).unwrap();
    // A directory.
    let directory = dir.path().join("dir.json");
    fs::create_dir(&directory).unwrap();
    let cases = [
        (&config, "not a chainwatch state file"),
        (&newer, "newer chainwatch"),
        (&directory, "it is a directory, not a regular file"),
    ];
    for (path, why) in cases {
        let before = fs::read(path).ok();
        let store = Store::at(path);
        let (state, warning) = store.load();
        assert!(state.chain.is_none());
        assert!(
            warning.as_deref().is_some_and(|w| w.contains(why)),
            "{why}: {warning:?}"
        );
        let err = store.update(|s| s.chain = None).unwrap_err().to_string();
        assert!(err.contains(why), "{why}: {err}");
        assert_eq!(fs::read(path).ok(), before, "{why}: untouched");
    }
    let names = files_in(dir.path());
    assert!(!names.iter().any(|n| n.contains("corrupt")), "{names:?}");
    // An empty file holds nothing to lose: it is a fresh start.
    let empty = dir.path().join("empty.json");
    fs::write(&empty, b"").unwrap();
    assert_eq!(Store::at(&empty).load().1, None);
    Store::at(&empty)
        .update(|s| s.chain = Some(vec![]))
        .unwrap();
}

#[cfg(unix)]
#[test]
fn devices_fifos_and_huge_files_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let have_fifo = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    let huge = dir.path().join("huge.json");
    fs::File::create(&huge)
        .unwrap()
        .set_len(STATE_FILE_MAX + 1)
        .unwrap();
    let mut cases = vec![
        (PathBuf::from("/dev/zero"), "character device"),
        (huge.clone(), "over the 64 MiB"),
    ];
    if have_fifo {
        cases.push((fifo.clone(), "FIFO"));
    }
    for (path, why) in cases {
        let (_, warning) = Store::at(&path).load();
        assert!(
            warning.as_deref().is_some_and(|w| w.contains(why)),
            "{why}: {warning:?}"
        );
        let err = Store::at(&path).update(|_| ()).unwrap_err().to_string();
        assert!(err.contains(why), "{err}");
    }
    assert_eq!(fs::metadata(&huge).unwrap().len(), STATE_FILE_MAX + 1);
}

#[cfg(unix)]
#[test]
fn a_symlinked_state_file_is_followed_and_its_target_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.json");
    let link = dir.path().join("link.json");
    Store::at(&real)
        .update(|s| s.chain = Some(vec!["a".into()]))
        .unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    Store::at(&link)
        .update(|s| s.chain = Some(vec!["b".into()]))
        .unwrap();
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "still a link"
    );
    assert_eq!(Store::at(&real).load().0.chain, Some(vec!["b".into()]));
    // A link to nowhere is an error, not a file created somewhere odd.
    let dangling = dir.path().join("dangling.json");
    std::os::unix::fs::symlink(dir.path().join("nowhere/x.json"), &dangling).unwrap();
    let err = Store::at(&dangling).update(|_| ()).unwrap_err().to_string();
    assert!(
        err.contains("symlink whose target cannot be reached"),
        "{err}"
    );
}

#[test]
fn the_old_shared_file_is_migrated_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("work.toml");
    let legacy = dir.path().join(LEGACY_NAME);
    // What an older chainwatch wrote: no marker.
    fs::write(
        &legacy,
        br#"{"version":1,"chain":["b","a"],"acknowledged":[]}"#,
    )
    .unwrap();
    let store = Store::default_for(Some(&config)).unwrap();
    assert_eq!(store.path(), dir.path().join("work.state.json"));
    let (state, warning) = store.load();
    assert_eq!(
        (state.chain.clone(), warning),
        (Some(vec!["b".into(), "a".into()]), None)
    );
    store.update(|s| s.acknowledge("a", "x", t(0))).unwrap();
    let (state, _) = Store::at(dir.path().join("work.state.json")).load();
    assert_eq!(
        state.chain,
        Some(vec!["b".into(), "a".into()]),
        "carried over"
    );
    assert!(
        legacy.exists(),
        "the old file stays for the folder's other configs"
    );
    // From now on the per-config file is the truth.
    store.update(|s| s.chain = None).unwrap();
    assert_eq!(store.load().0.chain, None);
}

#[test]
fn an_update_waits_for_another_holder_of_the_file_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    // Another process, as far as the flock can tell: its own open file.
    let mut other = lock::open(&path).unwrap();
    let held = other.write().unwrap();
    let (done, finished) = std::sync::mpsc::channel();
    let store = Store::at(&path);
    let writer = std::thread::spawn(move || {
        store.update(|s| s.chain = Some(vec!["x".into()])).unwrap();
        let _ = done.send(());
    });
    assert!(
        finished.recv_timeout(Duration::from_millis(300)).is_err(),
        "the update waits for the lock"
    );
    drop(held);
    assert!(finished.recv_timeout(Duration::from_secs(10)).is_ok());
    writer.join().unwrap();
}

#[test]
fn departed_models_are_kept_a_week_at_most_64() {
    let mut state = State::default();
    let h = |id: &str| ModelHealth::new(id);
    // 70 configs in turn, each with one model, a minute apart.
    for i in 0..70 {
        state.put_models([(format!("m{i}"), h("x"))], t(i * 60));
    }
    assert_eq!(state.models.len(), 1 + DEPARTED_MAX);
    let now = t(70 * 60);
    state.put_models([("new".to_string(), h("y"))], now);
    assert_eq!(state.models.len(), 1 + DEPARTED_MAX, "at most 64 departed");
    assert!(state.models.contains_key("new") && state.models.contains_key("m69"));
    assert!(
        !state.models.contains_key("m0"),
        "the longest gone go first"
    );
    // A week later only the current one is left.
    let later = now + TimeDelta::days(DEPARTED_DAYS) + TimeDelta::seconds(1);
    state.put_models([("new".to_string(), h("y"))], later);
    assert_eq!(state.models.keys().collect::<Vec<_>>(), ["new"]);
    assert_eq!(state.seen.len(), 1);
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

#[cfg(unix)]
#[test]
fn save_failure_leaves_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    // The rename's target is a directory (made after the lock was taken
    // would race; a sub-path under a file cannot exist): write into a
    // directory whose entry is a file.
    fs::write(dir.path().join("file"), b"x").unwrap();
    let inside = dir.path().join("file").join("state.json");
    assert!(Store::at(&inside).update(|_| ()).is_err());
    Store::at(&path).update(|_| ()).unwrap();
    assert_eq!(
        files_in(dir.path()),
        ["file", "state.json", "state.json.lock"]
    );
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
