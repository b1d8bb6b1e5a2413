//! Files handled as files: what chainwatch reads must be a regular file of
//! a sane size, and what it writes in a shared place must not follow a
//! planted symlink.
//!
//! [`read_regular`] checks the type before opening (a FIFO would block an
//! ordinary open for ever, a device like `/dev/zero` never ends), opens
//! without blocking, checks again on the open file (the name may have been
//! swapped meanwhile), and reads at most the cap. [`open_log`] opens a log
//! for appending without following a symlink, and [`private_dir`] makes the
//! per-user directory the log falls back to under `/tmp`.

use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("it is {kind}, not a regular file")]
    NotRegular { kind: &'static str },
    #[error("it is {size} bytes, over the {cap_mib} MiB a {what} may be")]
    TooLarge {
        size: u64,
        cap_mib: u64,
        what: &'static str,
    },
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// What a file that is not regular is, in words.
pub fn kind_of(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symlink"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

fn check(meta: &Metadata, cap: u64, what: &'static str) -> Result<(), ReadError> {
    if !meta.is_file() {
        return Err(ReadError::NotRegular {
            kind: kind_of(meta),
        });
    }
    if meta.len() > cap {
        return Err(too_large(meta.len(), cap, what));
    }
    Ok(())
}

fn too_large(size: u64, cap: u64, what: &'static str) -> ReadError {
    ReadError::TooLarge {
        size,
        cap_mib: cap / (1024 * 1024),
        what,
    }
}

/// Opens for reading without blocking on a FIFO (a no-op for regular files).
fn open_read(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

/// The whole file, if it is a regular file of at most `cap` bytes
/// (symlinks are followed). `Ok(None)` when there is no such file. `what`
/// names it in the size error ("config file").
pub fn read_regular(
    path: &Path,
    cap: u64,
    what: &'static str,
) -> Result<Option<Vec<u8>>, ReadError> {
    match fs::metadata(path) {
        Ok(meta) => check(&meta, cap, what)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let file = match open_read(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    // The name may have been pointed elsewhere since the first look.
    let meta = file.metadata()?;
    check(&meta, cap, what)?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // A file that grows while being read stops at the cap.
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(too_large(bytes.len() as u64, cap, what));
    }
    Ok(Some(bytes))
}

/// Opens `path` for appending, creating it private (0600), and refusing to
/// follow a symlink at its name: in a shared directory, someone else may
/// have planted one pointing at a file of yours.
pub fn open_log(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other(format!(
            "{} is {}, not a regular file",
            path.display(),
            kind_of(&meta)
        )));
    }
    Ok(file)
}

/// Makes `dir` (mode 0700) or checks that the existing one is a real
/// directory that only this user can use: the per-user place under a shared
/// `/tmp`. Refuses a symlink, another user's directory, or one others can
/// write to.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        match fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let meta = fs::symlink_metadata(dir)?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        let refuse = |why: &str| {
            Err(io::Error::other(format!(
                "{} {why}; refusing to use it",
                dir.display()
            )))
        };
        if !meta.is_dir() {
            return refuse(&format!("is {}, not a directory", kind_of(&meta)));
        }
        if meta.uid() != me {
            return refuse("belongs to another user");
        }
        if meta.permissions().mode() & 0o077 != 0 {
            return refuse("can be used by other users");
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        fs::create_dir_all(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, b"hello").unwrap();
        assert_eq!(read_regular(&file, 10, "test").unwrap().unwrap(), b"hello");
        assert!(read_regular(&dir.path().join("missing"), 10, "test")
            .unwrap()
            .is_none());
        let err = read_regular(dir.path(), 10, "test").unwrap_err();
        assert_eq!(err.to_string(), "it is a directory, not a regular file");
        let err = read_regular(&file, 4, "test file").unwrap_err();
        assert!(err.to_string().contains("5 bytes, over the"), "{err}");
        #[cfg(unix)]
        {
            let err = read_regular(Path::new("/dev/zero"), 1 << 20, "test").unwrap_err();
            assert_eq!(
                err.to_string(),
                "it is a character device, not a regular file"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            return; // no mkfifo here: nothing to test
        }
        let err = read_regular(&fifo, 10, "test").unwrap_err();
        assert_eq!(
            err.to_string(),
            "it is a FIFO (named pipe), not a regular file"
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_log_does_not_follow_a_symlink_and_its_dir_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let log = dir.path().join("chainwatch.log");
        std::os::unix::fs::symlink(&victim, &log).unwrap();
        assert!(open_log(&log).is_err(), "a planted symlink is not followed");
        assert_eq!(fs::read(&victim).unwrap(), b"precious");

        let private = dir.path().join("private");
        private_dir(&private).unwrap();
        let mode = fs::metadata(&private).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        private_dir(&private).unwrap();
        fs::set_permissions(&private, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(private_dir(&private).is_err(), "open to others");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&private, &link).unwrap();
        assert!(private_dir(&link).is_err(), "a symlink is refused");
        let real = open_log(&private.join("x.log")).unwrap();
        assert!(real.metadata().unwrap().is_file());
    }
}
