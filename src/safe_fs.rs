//! The few file primitives every workspace writer and reader goes through, so that a symlink
//! committed into a shared workspace (or planted beside it) can never make keyreeve write,
//! append to or delete a file it does not own, and a hostile file can never make it read
//! without end.
//!
//! Writers are anchored at a `root` (the workspace root, or the folder of an output file the
//! user named): every folder between `root` and the file is checked with `symlink_metadata` and
//! must be a real directory, the file itself is opened with `O_NOFOLLOW` (or replaced by rename,
//! which never follows), and a symlink anywhere in that stretch is an error naming it. The checks
//! and the open are separate system calls: they stop what a workspace's files say (a committed
//! or planted link), not a local attacker racing keyreeve in folders they may write to, who
//! could as well edit the files themselves.
//!
//! Readers refuse anything but a regular file (a FIFO, `/dev/zero`, a folder) and anything larger
//! than the [`Limit`] of its kind, naming the file and the limit.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::hint::Hint;

/// What is wrong with a path keyreeve was about to use. Carried inside `std::io::Error` (kind
/// `Other`) by the primitives, so the callers' own error types name the operation too.
#[derive(Debug, thiserror::Error)]
pub enum SafeFsError {
    #[error("{} is a symbolic link where keyreeve keeps its own files; refusing to follow it", .0.display())]
    Symlink(PathBuf),
    #[error("{} is not a folder", .0.display())]
    NotAFolder(PathBuf),
    #[error("{} is not a regular file (it is {found})", path.display())]
    NotRegular { path: PathBuf, found: &'static str },
    #[error("{} is larger than a {kind} may be ({size} bytes; the limit is {limit})", path.display())]
    TooLarge {
        path: PathBuf,
        kind: &'static str,
        size: u64,
        limit: u64,
    },
    #[error("{} is not inside {}", path.display(), root.display())]
    Outside { path: PathBuf, root: PathBuf },
}

impl Hint for SafeFsError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            SafeFsError::Symlink(_) | SafeFsError::NotAFolder(_) => {
                "replace it with a real folder or file (keyreeve never follows links inside its workspace), \
                 and check who committed it"
                    .into()
            }
            SafeFsError::NotRegular { .. } | SafeFsError::TooLarge { .. } => {
                "check the file: it is not one keyreeve wrote; restore it from the workspace's git history or a backup"
                    .into()
            }
            SafeFsError::Outside { .. } => "this is a bug in keyreeve; please report it".into(),
        })
    }
}

impl From<SafeFsError> for std::io::Error {
    fn from(e: SafeFsError) -> Self {
        std::io::Error::other(e)
    }
}

/// The hint of a [`SafeFsError`] inside an `io::Error`, for callers whose own hint is generic.
pub fn hint_of(e: &std::io::Error) -> Option<String> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<SafeFsError>())
        .and_then(Hint::hint)
}

/// How large a file of one kind may be before keyreeve refuses to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub kind: &'static str,
    pub bytes: u64,
}

const MIB: u64 = 1024 * 1024;

impl Limit {
    /// keyreeve.toml: 200k targets of a few lines each fit.
    pub const INVENTORY: Limit = Limit {
        kind: "inventory",
        bytes: 128 * MIB,
    };
    pub const POLICY: Limit = Limit {
        kind: "policy file",
        bytes: 4 * MIB,
    };
    /// One client's encrypted vault, with every entry's history.
    pub const VAULT: Limit = Limit {
        kind: "vault file",
        bytes: 256 * MIB,
    };
    pub const PLAN: Limit = Limit {
        kind: "plan file",
        bytes: 128 * MIB,
    };
    pub const SNAPSHOT: Limit = Limit {
        kind: "snapshot",
        bytes: 128 * MIB,
    };
    /// One account's old and new password, encrypted.
    pub const JOURNAL_RECORD: Limit = Limit {
        kind: "journal record",
        bytes: 4 * MIB,
    };
    pub const IMPORT: Limit = Limit {
        kind: "import file",
        bytes: 256 * MIB,
    };
    /// An identity, recipients or passphrase file.
    pub const KEY_FILE: Limit = Limit {
        kind: "key file",
        bytes: 4 * MIB,
    };
    /// Small bookkeeping files: the audit checkpoint, reveal times, state/.gitignore.
    pub const SMALL: Limit = Limit {
        kind: "bookkeeping file",
        bytes: 16 * MIB,
    };
}

fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a folder"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_fifo() {
        "a named pipe"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

/// Opens `path` for reading (following a link, as reading is harmless) and checks it is a
/// regular file within `limit`. `O_NONBLOCK` so that opening a named pipe does not hang.
/// None if it does not exist.
pub fn open_read(path: &Path, limit: Limit) -> std::io::Result<Option<(File, u64)>> {
    let file = match OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(SafeFsError::NotRegular {
            path: path.into(),
            found: kind_of(&meta),
        }
        .into());
    }
    if meta.len() > limit.bytes {
        return Err(too_large(path, limit, meta.len()).into());
    }
    Ok(Some((file, meta.len())))
}

fn too_large(path: &Path, limit: Limit, size: u64) -> SafeFsError {
    SafeFsError::TooLarge {
        path: path.into(),
        kind: limit.kind,
        size,
        limit: limit.bytes,
    }
}

/// Reads all of `path` (see [`open_read`]); None if it does not exist. A file that grows while
/// it is read is still cut at the limit.
pub fn read_limited(path: &Path, limit: Limit) -> std::io::Result<Option<Vec<u8>>> {
    let Some((file, len)) = open_read(path, limit)? else {
        return Ok(None);
    };
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(limit.bytes.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit.bytes {
        return Err(too_large(path, limit, bytes.len() as u64).into());
    }
    Ok(Some(bytes))
}

/// [`read_limited`] as UTF-8 text.
pub fn read_text(path: &Path, limit: Limit) -> std::io::Result<Option<String>> {
    read_limited(path, limit)?
        .map(|b| String::from_utf8(b).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
        .transpose()
}

/// [`read_limited`] where a missing file is an error (`NotFound`), as `std::fs::read` has it.
pub fn read_existing(path: &Path, limit: Limit) -> std::io::Result<Vec<u8>> {
    read_limited(path, limit)?.ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
}

/// [`read_text`] where a missing file is an error (`NotFound`).
pub fn read_existing_text(path: &Path, limit: Limit) -> std::io::Result<String> {
    read_text(path, limit)?.ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
}

/// The folders from `root` down to `dir`, `dir` last; `root` itself is trusted.
fn folders_below(root: &Path, dir: &Path) -> Result<Vec<PathBuf>, SafeFsError> {
    let rest = dir.strip_prefix(root).map_err(|_| SafeFsError::Outside {
        path: dir.into(),
        root: root.into(),
    })?;
    let mut at = root.to_path_buf();
    let mut out = Vec::new();
    for c in rest.components() {
        match c {
            Component::Normal(name) => {
                at.push(name);
                out.push(at.clone());
            }
            Component::CurDir => {}
            _ => {
                return Err(SafeFsError::Outside {
                    path: dir.into(),
                    root: root.into(),
                })
            }
        }
    }
    Ok(out)
}

/// Creates every missing folder from `root` down to `dir` and checks that each one that exists is
/// a real folder, not a link.
pub fn create_dir_all(root: &Path, dir: &Path) -> std::io::Result<()> {
    for folder in folders_below(root, dir)? {
        match std::fs::symlink_metadata(&folder) {
            Ok(meta) if meta.file_type().is_symlink() => return Err(SafeFsError::Symlink(folder).into()),
            Ok(meta) if !meta.is_dir() => return Err(SafeFsError::NotAFolder(folder).into()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match std::fs::create_dir(&folder) {
                Ok(()) => {}
                // Another process made it meanwhile: check what it made.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let meta = std::fs::symlink_metadata(&folder)?;
                    if !meta.is_dir() {
                        return Err(SafeFsError::Symlink(folder).into());
                    }
                }
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Checks that the folders from `root` down to `dir` that exist are real folders. Returns false
/// if one is missing (so there is nothing under it to read or remove).
pub fn check_dirs(root: &Path, dir: &Path) -> std::io::Result<bool> {
    for folder in folders_below(root, dir)? {
        match std::fs::symlink_metadata(&folder) {
            Ok(meta) if meta.file_type().is_symlink() => return Err(SafeFsError::Symlink(folder).into()),
            Ok(meta) if !meta.is_dir() => return Err(SafeFsError::NotAFolder(folder).into()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Refuses `path` if it exists as anything but a regular file.
fn check_file(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(SafeFsError::Symlink(path.into()).into()),
        Ok(meta) if !meta.is_file() => Err(SafeFsError::NotRegular {
            path: path.into(),
            found: kind_of(&meta),
        }
        .into()),
        // Nothing there, or no way to look (a missing folder): the write itself says what is wrong.
        Ok(_) | Err(_) => Ok(()),
    }
}

/// Opens (creating with `mode`) a file under `root` without following a link, for appending
/// (`append`) or for reading and writing in place (lock files). Refuses anything but a regular
/// file.
pub fn open_writable(root: &Path, path: &Path, mode: u32, append: bool) -> std::io::Result<File> {
    create_dir_all(root, parent_of(path))?;
    let mut options = OpenOptions::new();
    options
        .read(true)
        .create(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    if append {
        options.append(true);
    } else {
        options.write(true).truncate(false);
    }
    let file = options.open(path).map_err(|e| {
        // O_NOFOLLOW on a link fails with ELOOP: say what it is.
        if e.raw_os_error() == Some(libc::ELOOP) {
            SafeFsError::Symlink(path.into()).into()
        } else {
            e
        }
    })?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(SafeFsError::NotRegular {
            path: path.into(),
            found: kind_of(&meta),
        }
        .into());
    }
    Ok(file)
}

/// Creates a new file under `root` (failing if anything, a link included, is at `path`).
pub fn create_new(root: &Path, path: &Path, mode: u32) -> std::io::Result<File> {
    create_dir_all(root, parent_of(path))?;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// How much a write must survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync the file and its folder: the change survives a crash once this returns.
    Synced,
    /// Readers still see the old or the new file, never a mix, but a crash may lose the change.
    /// Only for data also kept elsewhere.
    Unsynced,
}

/// Writes `path` under `root` atomically: a temporary file in the same (checked) folder created
/// with `mode`, filled by `body`, then `before_rename` (the last moment to refuse: the new bytes
/// are on disk, the old file untouched), then renamed over `path`. A rename replaces a link
/// rather than following it; an existing link or non-file at `path` is refused all the same.
/// On any failure the temporary file is removed and `path` is as it was.
pub fn write_atomic_then(
    root: &Path,
    path: &Path,
    mode: u32,
    durability: Durability,
    body: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    before_rename: impl FnOnce() -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = parent_of(path);
    create_dir_all(root, dir)?;
    check_file(path)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder
        .prefix(&prefix)
        .suffix(".tmp")
        .permissions(std::fs::Permissions::from_mode(mode));
    let tmp = builder.tempfile_in(dir)?;
    {
        let mut w = BufWriter::with_capacity(256 * 1024, tmp.as_file());
        body(&mut w)?;
        w.flush()?;
    }
    if durability == Durability::Synced {
        tmp.as_file().sync_all()?;
    }
    before_rename()?;
    tmp.persist(path).map_err(|e| e.error)?;
    if durability == Durability::Synced {
        sync_dir(dir)?;
    }
    Ok(())
}

/// [`write_atomic_then`] with nothing to do before the rename.
pub fn write_atomic(
    root: &Path,
    path: &Path,
    mode: u32,
    durability: Durability,
    body: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    write_atomic_then(root, path, mode, durability, body, || Ok(()))
}

/// Writes a file the user named (`-o FILE`) atomically, creating its folder if missing: the folder
/// is the root, so only the file itself is checked, and a link there is refused, not replaced.
pub fn write_output(
    path: &Path,
    mode: u32,
    body: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = parent_of(path).to_path_buf();
    // The folders on the way are the user's own choice (theirs to link); only the file is checked.
    std::fs::create_dir_all(&dir)?;
    write_atomic(&dir, path, mode, Durability::Synced, body)
}

/// Checks that a file the user named (`-o FILE`) is not a link or anything but a regular file.
pub fn check_output(path: &Path) -> std::io::Result<()> {
    check_file(path)
}

/// Removes the regular file `path` under `root`; a link or folder there is refused, a missing
/// file is fine. Returns whether a file was removed.
pub fn remove_file(root: &Path, path: &Path) -> std::io::Result<bool> {
    if !check_dirs(root, parent_of(path))? {
        return Ok(false);
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => return Err(SafeFsError::Symlink(path.into()).into()),
        Ok(meta) if !meta.is_file() => {
            return Err(SafeFsError::NotRegular {
                path: path.into(),
                found: kind_of(&meta),
            }
            .into())
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Renames `from` to `to`, both under `root` in checked folders; a link at `to` is refused.
pub fn rename(root: &Path, from: &Path, to: &Path) -> std::io::Result<()> {
    create_dir_all(root, parent_of(to))?;
    check_dirs(root, parent_of(from))?;
    check_file(to)?;
    std::fs::rename(from, to)
}

/// The regular files directly in `dir` under `root` whose names `keep` accepts, sorted by name;
/// links and anything else are left out. Empty if `dir` does not exist.
pub fn list_files(root: &Path, dir: &Path, keep: impl Fn(&str) -> bool) -> std::io::Result<Vec<PathBuf>> {
    if !check_dirs(root, dir)? {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if keep(&name) && entry.file_type()?.is_file() {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Makes a rename in `dir` durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn refused_as_symlink(e: &std::io::Error, at: &Path) -> bool {
        matches!(e.get_ref().and_then(|i| i.downcast_ref::<SafeFsError>()),
            Some(SafeFsError::Symlink(p)) if p == at)
    }

    #[test]
    fn a_linked_folder_is_refused_for_writes_and_removals() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("vaults")).unwrap();
        std::fs::write(root.join("vaults/other.age"), b"keep").unwrap();
        std::fs::create_dir_all(root.join("state/backups")).unwrap();
        symlink("../../vaults", root.join("state/backups/acme")).unwrap();
        let linked = root.join("state/backups/acme");

        let e = write_atomic(root, &linked.join("x.age"), 0o600, Durability::Synced, |w| {
            w.write_all(b"x")
        })
        .unwrap_err();
        assert!(refused_as_symlink(&e, &linked), "{e}");
        let e = remove_file(root, &linked.join("other.age")).unwrap_err();
        assert!(refused_as_symlink(&e, &linked), "{e}");
        let e = list_files(root, &linked, |_| true).unwrap_err();
        assert!(refused_as_symlink(&e, &linked), "{e}");
        assert!(e.to_string().contains("state/backups/acme"), "{e}");
        assert_eq!(std::fs::read(root.join("vaults/other.age")).unwrap(), b"keep");
    }

    #[test]
    fn a_linked_file_is_refused_for_appends_and_replacements() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::write(root.join("target"), b"keep").unwrap();
        symlink("target", root.join("audit.log")).unwrap();
        let e = open_writable(root, &root.join("audit.log"), 0o600, true).unwrap_err();
        assert!(refused_as_symlink(&e, &root.join("audit.log")), "{e}");
        let e = write_atomic(root, &root.join("audit.log"), 0o600, Durability::Synced, |w| {
            w.write_all(b"x")
        })
        .unwrap_err();
        assert!(refused_as_symlink(&e, &root.join("audit.log")), "{e}");
        let e = remove_file(root, &root.join("audit.log")).unwrap_err();
        assert!(refused_as_symlink(&e, &root.join("audit.log")), "{e}");
        assert_eq!(std::fs::read(root.join("target")).unwrap(), b"keep");
        let e = write_output(&root.join("audit.log"), 0o600, |w| w.write_all(b"x")).unwrap_err();
        assert!(refused_as_symlink(&e, &root.join("audit.log")), "{e}");
    }

    #[test]
    fn listing_leaves_out_links_and_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::write(root.join("a.age"), b"").unwrap();
        std::fs::create_dir(root.join("b.age")).unwrap();
        symlink("a.age", root.join("c.age")).unwrap();
        let found = list_files(root, root, |n| n.ends_with(".age")).unwrap();
        assert_eq!(found, vec![root.join("a.age")]);
    }

    #[test]
    fn reads_refuse_devices_and_oversized_files_naming_them() {
        let tmp = tempfile::tempdir().unwrap();
        let linked = tmp.path().join("acme.age");
        symlink("/dev/zero", &linked).unwrap();
        let e = read_limited(&linked, Limit::VAULT).unwrap_err();
        assert!(
            e.to_string().contains("acme.age") && e.to_string().contains("character device"),
            "{e}"
        );

        let big = tmp.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; 2048]).unwrap();
        let small = Limit {
            kind: "inventory",
            bytes: 1024,
        };
        let e = read_limited(&big, small).unwrap_err();
        assert!(
            e.to_string().contains("big.toml") && e.to_string().contains("inventory"),
            "{e}"
        );
        assert_eq!(read_limited(&tmp.path().join("missing"), small).unwrap(), None);
        assert_eq!(read_limited(&big, Limit::POLICY).unwrap().unwrap().len(), 2048);
    }

    #[test]
    fn a_named_pipe_is_refused_without_hanging() {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("keyreeve.toml");
        let status = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(status.success());
        let e = read_limited(&fifo, Limit::INVENTORY).unwrap_err();
        assert!(e.to_string().contains("named pipe"), "{e}");
    }

    #[test]
    fn folders_are_created_below_the_root_only() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        create_dir_all(root, &root.join("state/locks")).unwrap();
        assert!(root.join("state/locks").is_dir());
        assert!(create_dir_all(root, &root.join("../elsewhere")).is_err());
        assert!(create_dir_all(&root.join("state"), root).is_err());
    }
}
