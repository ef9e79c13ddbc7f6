//! Putting bytes on disk so that a crash never leaves half a file: write a temporary file in the
//! same folder, fsync it, rename it over the target, fsync the folder. Also the rolling backups
//! of earlier encrypted versions, under `state/backups/CLIENT/`.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::safe_fs::{self, Durability};

/// How many earlier encrypted versions of a vault file are kept.
pub const BACKUPS_KEPT: usize = 10;

/// Writes `path` (under `root`, the workspace, with no link on the way) atomically with `mode`
/// (new files; 0600 for anything secret). `body` writes the content; if it fails, the temporary
/// file is removed and `path` is untouched.
pub fn write_atomic(
    root: &Path,
    path: &Path,
    mode: u32,
    body: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    safe_fs::write_atomic(root, path, mode, Durability::Synced, body)
}

/// Like [`write_atomic`] but without the fsyncs: readers still see the old or the new file,
/// never a mix, but a crash may lose the change. Only for data that is also kept elsewhere
/// (reveal times, which the audit log holds).
pub fn write_atomic_unsynced(
    root: &Path,
    path: &Path,
    mode: u32,
    body: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    safe_fs::write_atomic(root, path, mode, Durability::Unsynced, body)
}

/// Makes a rename in `dir` durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    safe_fs::sync_dir(dir)
}

/// Whether `name` is one keyreeve gave a backup: `YYYYMMDDTHHMMSS.NNNNNNNNNZ[-N].age`. Pruning
/// removes only such files, so that nothing else in the folder is ever deleted.
fn is_backup_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".age") else {
        return false;
    };
    let (stamp, counter) = match stem.split_once('-') {
        Some((s, n)) => (s, Some(n)),
        None => (stem, None),
    };
    let b = stamp.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    b.len() == 26
        && digits(0..8)
        && b[8] == b'T'
        && digits(9..15)
        && b[15] == b'.'
        && digits(16..25)
        && b[25] == b'Z'
        && counter.is_none_or(|n| !n.is_empty() && n.bytes().all(|d| d.is_ascii_digit()))
}

/// Keeps `previous` (the encrypted bytes about to be replaced) as the newest backup of `client`
/// under `backups_dir` (inside the workspace `root`) and removes the oldest beyond `keep`.
/// Returns the backup's path.
pub fn backup(root: &Path, backups_dir: &Path, client: &str, previous: &[u8], keep: usize) -> std::io::Result<PathBuf> {
    let dir = backups_dir.join(client);
    safe_fs::create_dir_all(root, &dir)?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.9fZ").to_string();
    let mut path = dir.join(format!("{stamp}.age"));
    let mut n = 1;
    while path.symlink_metadata().is_ok() {
        path = dir.join(format!("{stamp}-{n}.age"));
        n += 1;
    }
    write_atomic(root, &path, 0o600, |w| w.write_all(previous))?;
    prune(root, &dir, keep)?;
    Ok(path)
}

/// The backups of one client (regular files named as keyreeve names them), oldest first.
pub fn list_backups(root: &Path, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    // Timestamps sort as text.
    safe_fs::list_files(root, dir, is_backup_name)
}

fn prune(root: &Path, dir: &Path, keep: usize) -> std::io::Result<()> {
    let all = list_backups(root, dir)?;
    let excess = all.len().saturating_sub(keep);
    for old in &all[..excess] {
        safe_fs::remove_file(root, old)?;
    }
    if excess > 0 {
        sync_dir(dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acme.age");
        std::fs::write(&path, b"old").unwrap();
        write_atomic(dir.path(), &path, 0o600, |w| w.write_all(b"new")).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn a_failing_body_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acme.age");
        std::fs::write(&path, b"old").unwrap();
        let err = write_atomic(dir.path(), &path, 0o600, |w| {
            w.write_all(b"half")?;
            Err(std::io::Error::other("boom"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "boom");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn new_files_get_the_mode_asked() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acme.age");
        write_atomic(dir.path(), &path, 0o600, |w| w.write_all(b"x")).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn backups_are_bounded_and_keep_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..15u8 {
            backup(dir.path(), dir.path(), "acme", &[i], 10).unwrap();
        }
        let kept = list_backups(dir.path(), &dir.path().join("acme")).unwrap();
        assert_eq!(kept.len(), 10);
        assert_eq!(std::fs::read(kept.last().unwrap()).unwrap(), [14]);
        assert_eq!(std::fs::read(&kept[0]).unwrap(), [5]);
    }

    #[test]
    fn pruning_removes_only_backups_keyreeve_named() {
        let dir = tempfile::tempdir().unwrap();
        let client_dir = dir.path().join("acme");
        std::fs::create_dir_all(&client_dir).unwrap();
        std::fs::write(client_dir.join("other.age"), b"not ours").unwrap();
        std::fs::write(client_dir.join("20200101T000000.000000000Z.age.keep"), b"not ours").unwrap();
        for i in 0..3u8 {
            backup(dir.path(), dir.path(), "acme", &[i], 1).unwrap();
        }
        assert_eq!(list_backups(dir.path(), &client_dir).unwrap().len(), 1);
        assert_eq!(std::fs::read(client_dir.join("other.age")).unwrap(), b"not ours");
        assert!(client_dir.join("20200101T000000.000000000Z.age.keep").exists());
        assert!(is_backup_name("20260101T101010.123456789Z-2.age"));
        assert!(!is_backup_name("20260101T101010.123456789Z-.age"));
    }

    #[test]
    fn a_linked_backup_folder_is_refused_and_nothing_is_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("vaults")).unwrap();
        std::fs::write(root.join("vaults/other.age"), b"other client").unwrap();
        std::fs::create_dir_all(root.join("state/backups")).unwrap();
        std::os::unix::fs::symlink("../../vaults", root.join("state/backups/acme")).unwrap();
        let err = backup(root, &root.join("state/backups"), "acme", b"x", 0).unwrap_err();
        assert!(err.to_string().contains("state/backups/acme"), "{err}");
        assert_eq!(std::fs::read(root.join("vaults/other.age")).unwrap(), b"other client");
    }
}
