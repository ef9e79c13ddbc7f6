//! Putting bytes on disk so that a crash never leaves half a file: write a temporary file in the
//! same folder, fsync it, rename it over the target, fsync the folder. Also the rolling backups
//! of earlier encrypted versions, under `state/backups/CLIENT/`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// How many earlier encrypted versions of a vault file are kept.
pub const BACKUPS_KEPT: usize = 10;

/// Writes `path` atomically with `mode` (new files; 0600 for anything secret). `body` writes the
/// content; if it fails, the temporary file is removed and `path` is untouched.
pub fn write_atomic(
    path: &Path,
    mode: u32,
    body: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    replace(path, mode, true, body)
}

/// Like [`write_atomic`] but without the fsyncs: readers still see the old or the new file,
/// never a mix, but a crash may lose the change. Only for data that is also kept elsewhere
/// (reveal times, which the audit log holds).
pub fn write_atomic_unsynced(
    path: &Path,
    mode: u32,
    body: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    replace(path, mode, false, body)
}

fn replace(
    path: &Path,
    mode: u32,
    durable: bool,
    body: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    let tmp = builder.tempfile_in(dir)?;
    {
        let mut w = BufWriter::with_capacity(256 * 1024, tmp.as_file());
        body(&mut w)?;
        w.flush()?;
    }
    if durable {
        tmp.as_file().sync_all()?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    if durable {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Makes a rename in `dir` durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Keeps `previous` (the encrypted bytes about to be replaced) as the newest backup of `client`
/// and removes the oldest beyond `keep`. Returns the backup's path.
pub fn backup(backups_dir: &Path, client: &str, previous: &[u8], keep: usize) -> std::io::Result<PathBuf> {
    let dir = backups_dir.join(client);
    std::fs::create_dir_all(&dir)?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.9fZ").to_string();
    let mut path = dir.join(format!("{stamp}.age"));
    let mut n = 1;
    while path.exists() {
        path = dir.join(format!("{stamp}-{n}.age"));
        n += 1;
    }
    write_atomic(&path, 0o600, |w| w.write_all(previous))?;
    prune(&dir, keep)?;
    Ok(path)
}

/// The backups of one client, oldest first.
pub fn list_backups(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|x| x == "age")
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| !n.starts_with('.'))
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    // Timestamps sort as text.
    found.sort();
    Ok(found)
}

fn prune(dir: &Path, keep: usize) -> std::io::Result<()> {
    let all = list_backups(dir)?;
    let excess = all.len().saturating_sub(keep);
    for old in &all[..excess] {
        std::fs::remove_file(old)?;
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
        write_atomic(&path, 0o600, |w| w.write_all(b"new")).unwrap();
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
        let err = write_atomic(&path, 0o600, |w| {
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
        write_atomic(&path, 0o600, |w| w.write_all(b"x")).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn backups_are_bounded_and_keep_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..15u8 {
            backup(dir.path(), "acme", &[i], 10).unwrap();
        }
        let kept = list_backups(&dir.path().join("acme")).unwrap();
        assert_eq!(kept.len(), 10);
        assert_eq!(std::fs::read(kept.last().unwrap()).unwrap(), [14]);
        assert_eq!(std::fs::read(&kept[0]).unwrap(), [5]);
    }
}
