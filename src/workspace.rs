//! Where a workspace lives on disk and how commands find it: `--workspace`, `KEYREEVE_WORKSPACE`,
//! or the current directory and its parents, as git finds its repository. Every other module asks
//! this one for paths instead of joining strings of its own.

use std::path::{Path, PathBuf};

use crate::hint::Hint;

/// The inventory file at the root of every workspace.
pub const INVENTORY_FILE: &str = "keyreeve.toml";
/// The environment variable naming a workspace directory (a path, never a secret).
pub const WORKSPACE_ENV: &str = "KEYREEVE_WORKSPACE";

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("no keyreeve workspace found in {} or any parent directory", .0.display())]
    NotFound(PathBuf),
    #[error("{} is not a keyreeve workspace (no {INVENTORY_FILE})", .0.display())]
    NotAWorkspace(PathBuf),
    #[error("{} already holds a keyreeve workspace", .0.display())]
    AlreadyExists(PathBuf),
    #[error("cannot use workspace {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Hint for WorkspaceError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            WorkspaceError::NotFound(_) | WorkspaceError::NotAWorkspace(_) => {
                "run `keyreeve init DIR`, or pass --workspace DIR (or set KEYREEVE_WORKSPACE)".into()
            }
            WorkspaceError::AlreadyExists(_) => "choose an empty directory".into(),
            WorkspaceError::Io { source, .. } => {
                crate::safe_fs::hint_of(source).unwrap_or_else(|| "check the directory exists and is writable".into())
            }
        })
    }
}

/// A located workspace: its root and the paths of everything in it.
#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
}

impl Workspace {
    /// A workspace at `root`, which must hold a `keyreeve.toml`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, WorkspaceError> {
        let root = root.into();
        if !root.join(INVENTORY_FILE).is_file() {
            return Err(WorkspaceError::NotAWorkspace(root));
        }
        let root = root.canonicalize().map_err(|source| WorkspaceError::Io {
            path: root.clone(),
            source,
        })?;
        Ok(Workspace { root })
    }

    /// A handle on `root` without checking it holds a workspace (for `init`).
    pub fn at_unchecked(root: impl Into<PathBuf>) -> Self {
        Workspace { root: root.into() }
    }

    /// Finds the workspace: the explicit directory, else `KEYREEVE_WORKSPACE`, else the first of
    /// `start` and its parents that holds a `keyreeve.toml`.
    pub fn locate(explicit: Option<&Path>, start: &Path) -> Result<Self, WorkspaceError> {
        if let Some(dir) = explicit {
            return Workspace::open(dir);
        }
        if let Some(dir) = std::env::var_os(WORKSPACE_ENV).filter(|v| !v.is_empty()) {
            return Workspace::open(PathBuf::from(dir));
        }
        let mut dir = Some(start);
        while let Some(d) = dir {
            if d.join(INVENTORY_FILE).is_file() {
                return Workspace::open(d);
            }
            dir = d.parent();
        }
        Err(WorkspaceError::NotFound(start.to_path_buf()))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn inventory_file(&self) -> PathBuf {
        self.root.join(INVENTORY_FILE)
    }
    pub fn policies_dir(&self) -> PathBuf {
        self.root.join("policies")
    }
    pub fn vaults_dir(&self) -> PathBuf {
        self.root.join("vaults")
    }
    /// `vaults/CLIENT.age`: one age file per client.
    pub fn vault_file(&self, client: &str) -> PathBuf {
        self.vaults_dir().join(format!("{client}.age"))
    }
    /// The state folder: journal, snapshots, backups, audit log, known hosts, locks.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join("state")
    }
    /// Earlier encrypted versions of each vault file.
    pub fn backups_dir(&self) -> PathBuf {
        self.state_dir().join("backups")
    }
    /// The rotation journal: one age-encrypted record per rotation in flight.
    pub fn journal_dir(&self) -> PathBuf {
        self.state_dir().join("journal")
    }
    /// Discovery snapshots, one JSON file per target and run.
    pub fn snapshots_dir(&self) -> PathBuf {
        self.state_dir().join("snapshots")
    }
    /// Lock files (never secrets).
    pub fn locks_dir(&self) -> PathBuf {
        self.state_dir().join("locks")
    }
    /// The hash-chained audit log, one JSON line per event.
    pub fn audit_log_file(&self) -> PathBuf {
        self.state_dir().join("audit.log")
    }
    /// Host keys accepted on first use, OpenSSH known_hosts format.
    pub fn known_hosts_file(&self) -> PathBuf {
        self.state_dir().join("known_hosts")
    }

    /// Adds `name` (a path under state/) to state/.gitignore unless it is there: for files that
    /// belong to one machine, or that are secret without being age-encrypted.
    pub fn keep_out_of_git(&self, name: &str) -> Result<(), WorkspaceError> {
        let path = self.state_dir().join(".gitignore");
        let io = |source| WorkspaceError::Io {
            path: path.clone(),
            source,
        };
        let text = crate::safe_fs::read_text(&path, crate::safe_fs::Limit::SMALL)
            .map_err(io)?
            .unwrap_or_default();
        if text.lines().any(|l| l.trim() == name) {
            return Ok(());
        }
        let sep = if text.is_empty() || text.ends_with('\n') {
            ""
        } else {
            "\n"
        };
        crate::safe_fs::write_atomic(&self.root, &path, 0o644, crate::safe_fs::Durability::Synced, |w| {
            writeln!(w, "{text}{sep}{name}")
        })
        .map_err(io)
    }

    /// Creates every folder of the layout that does not exist yet.
    pub fn create_layout(&self) -> Result<(), WorkspaceError> {
        std::fs::create_dir_all(&self.root).map_err(|source| WorkspaceError::Io {
            path: self.root.clone(),
            source,
        })?;
        for dir in [
            self.policies_dir(),
            self.vaults_dir(),
            self.state_dir(),
            self.backups_dir(),
            self.journal_dir(),
            self.snapshots_dir(),
            self.locks_dir(),
        ] {
            crate::safe_fs::create_dir_all(&self.root, &dir).map_err(|source| WorkspaceError::Io {
                path: dir.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_workspace_in_a_parent_directory() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(INVENTORY_FILE), "").unwrap();
        let deep = tmp.path().join("a/b/c");
        std::fs::create_dir_all(&deep).unwrap();
        let ws = Workspace::locate(None, &deep).unwrap();
        assert_eq!(ws.root(), tmp.path().canonicalize().unwrap());
    }

    #[test]
    fn explicit_directory_without_inventory_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let err = Workspace::locate(Some(tmp.path()), tmp.path()).unwrap_err();
        assert!(matches!(err, WorkspaceError::NotAWorkspace(_)));
    }

    #[test]
    fn a_linked_gitignore_or_state_folder_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let ws = Workspace::at_unchecked(tmp.path());
        ws.create_layout().unwrap();
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::write(&elsewhere, "mine\n").unwrap();
        std::os::unix::fs::symlink(&elsewhere, ws.state_dir().join(".gitignore")).unwrap();
        let err = ws.keep_out_of_git("serve-token").unwrap_err();
        assert!(err.to_string().contains("state/.gitignore"), "{err}");
        assert!(err.hint().unwrap().contains("link"), "{:?}", err.hint());
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "mine\n");

        std::fs::remove_file(ws.state_dir().join(".gitignore")).unwrap();
        ws.keep_out_of_git("serve-token").unwrap();
        ws.keep_out_of_git("serve-token").unwrap();
        assert_eq!(
            std::fs::read_to_string(ws.state_dir().join(".gitignore")).unwrap(),
            "serve-token\n"
        );
    }
}
