//! A workspace shared by a team over git: the git plumbing keyreeve needs (through the `git`
//! command, the very one the technician uses), the `.gitattributes` that route vault files, the
//! audit log and reveal times to keyreeve's merge driver, and the per-clone registration of
//! that driver (git keeps it in `.git/config`, which a clone does not copy, so every writing
//! command checks it and names `keyreeve team setup` as the fix).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::hint::Hint;
use crate::workspace::Workspace;

/// The name of the merge driver in `.gitattributes` and git config (`merge.keyreeve.driver`).
pub const DRIVER: &str = "keyreeve";

/// What `.gitattributes` holds for keyreeve: files merged by keyreeve, and known hosts (one key a
/// line) merged by git's union merge.
pub const ATTRIBUTES: &[&str] = &[
    "vaults/*.age merge=keyreeve -diff",
    "state/audit.log merge=keyreeve",
    "state/reveals/*.json merge=keyreeve",
    "state/known_hosts merge=union",
];

/// Under state/, what belongs to one clone and stays out of git: locks and temporaries, the
/// rotation journal (its records are tied to this machine's live runs; the vault's pending
/// entries carry their candidates to the other clones), the rolling backups (git keeps every
/// version), the audit checkpoint (it vouches for this clone's own last append), and the vault's
/// keyless index (derived from the vault: rewritten by every vault write and by `sync`).
pub const PER_CLONE: &[&str] = &["locks/", ".*.tmp", "journal/", "backups/", "audit.head", "vault-index/"];

/// Temporary files a merge driver killed mid-write leaves at the top of the work tree.
pub const ROOT_IGNORES: &[&str] = &["/..merge_file_*.tmp"];

#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    #[error("cannot run git: {0}")]
    NoGit(std::io::Error),
    #[error("`git {command}` failed in {}: {stderr}", dir.display())]
    Git {
        command: String,
        dir: PathBuf,
        stderr: String,
    },
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("this clone of the workspace has no keyreeve merge driver registered: a `git pull` here would merge vault files as text and could lose passwords")]
    DriverMissing,
}

impl Hint for TeamError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            TeamError::NoGit(_) => "install git (a team shares the workspace through git)".into(),
            TeamError::Git { .. } => "see git's message above; `git status` shows the state of the clone".into(),
            TeamError::Io { source, .. } => {
                crate::safe_fs::hint_of(source).unwrap_or_else(|| "check that the workspace is writable".into())
            }
            TeamError::DriverMissing => "run `keyreeve team setup` once in this clone".into(),
        })
    }
}

/// Runs `git ARGS` in `dir`, without a terminal prompt; the output whatever the exit code.
pub fn git_output(dir: &Path, args: &[&str]) -> Result<Output, TeamError> {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(TeamError::NoGit)
}

/// Runs `git ARGS` in `dir` and returns its stdout; a failure carries git's message.
pub fn git(dir: &Path, args: &[&str]) -> Result<String, TeamError> {
    let out = git_output(dir, args)?;
    if !out.status.success() {
        return Err(TeamError::Git {
            command: args.join(" "),
            dir: dir.into(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether `dir` is the top of a git work tree.
pub fn is_repository_top(dir: &Path) -> bool {
    let Ok(top) = git(dir, &["rev-parse", "--show-toplevel"]) else {
        return false;
    };
    let (Ok(a), Ok(b)) = (Path::new(top.trim()).canonicalize(), dir.canonicalize()) else {
        return false;
    };
    a == b
}

/// Whether the workspace routes its files to keyreeve's merge driver (it was set up for a team).
pub fn routes_to_driver(ws: &Workspace) -> bool {
    crate::safe_fs::read_text(&ws.root().join(".gitattributes"), crate::safe_fs::Limit::SMALL)
        .ok()
        .flatten()
        .is_some_and(|t| t.lines().any(|l| l.contains("merge=keyreeve")))
}

/// The driver command registered in this clone, if any.
pub fn registered_driver(root: &Path) -> Option<String> {
    let out = git_output(root, &["config", "--get", &format!("merge.{DRIVER}.driver")]).ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// For every command that writes: a workspace whose `.gitattributes` route files to keyreeve's
/// driver must have it registered in this clone, or the next pull could lose passwords.
pub fn require_driver(ws: &Workspace) -> Result<(), TeamError> {
    if !routes_to_driver(ws) || !ws.root().join(".git").exists() {
        return Ok(());
    }
    match registered_driver(ws.root()) {
        Some(_) => Ok(()),
        None => Err(TeamError::DriverMissing),
    }
}

/// The driver command git runs: this keyreeve binary, and the identity named explicitly (a path,
/// not a secret), so that a merge decrypts with the technician's own key.
pub fn driver_command(exe: &Path, identity: Option<&Path>) -> String {
    let mut cmd = format!("{} merge-driver", shell_quote(&exe.to_string_lossy()));
    if let Some(id) = identity {
        let id = std::path::absolute(id).unwrap_or_else(|_| id.to_path_buf());
        cmd.push_str(&format!(" --identity {}", shell_quote(&id.to_string_lossy())));
    }
    cmd.push_str(" %O %A %B %P");
    cmd
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// What [`setup`] did.
#[derive(Debug, Default)]
pub struct SetupReport {
    pub initialized: bool,
    pub attributes_added: usize,
    pub untracked: Vec<String>,
    pub driver: String,
}

/// Makes the workspace a git repository if it is not one, routes keyreeve's files to its merge
/// driver, keeps per-clone files out of git, and registers `driver` in this clone. Idempotent.
pub fn setup(ws: &Workspace, driver: &str) -> Result<SetupReport, TeamError> {
    let root = ws.root();
    let mut report = SetupReport::default();
    if !is_repository_top(root) {
        git(root, &["init", "--quiet"])?;
        report.initialized = true;
    }
    report.attributes_added = append_missing_lines(ws, &root.join(".gitattributes"), ATTRIBUTES)?;
    append_missing_lines(ws, &root.join(".gitignore"), ROOT_IGNORES)?;
    for name in PER_CLONE {
        ws.keep_out_of_git(name).map_err(|e| TeamError::Io {
            path: ws.state_dir().join(".gitignore"),
            source: std::io::Error::other(e.to_string()),
        })?;
    }
    for path in [
        "state/journal",
        "state/backups",
        "state/audit.head",
        "state/vault-index",
    ] {
        let tracked = git(root, &["ls-files", "--", path])?;
        if !tracked.trim().is_empty() {
            git(root, &["rm", "-r", "--cached", "--quiet", "--", path])?;
            report.untracked.push(path.to_string());
        }
    }
    git(
        root,
        &[
            "config",
            &format!("merge.{DRIVER}.name"),
            "keyreeve: vaults, audit log, reveal times",
        ],
    )?;
    git(root, &["config", &format!("merge.{DRIVER}.driver"), driver])?;
    report.driver = driver.to_string();
    Ok(report)
}

fn append_missing_lines(ws: &Workspace, path: &Path, lines: &[&str]) -> Result<usize, TeamError> {
    let io = |source| TeamError::Io {
        path: path.to_path_buf(),
        source,
    };
    let text = crate::safe_fs::read_text(path, crate::safe_fs::Limit::SMALL)
        .map_err(io)?
        .unwrap_or_default();
    let missing: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !text.lines().any(|t| t.trim() == *l))
        .collect();
    if missing.is_empty() {
        return Ok(0);
    }
    let mut out = text.clone();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for l in &missing {
        out.push_str(l);
        out.push('\n');
    }
    crate::safe_fs::write_atomic(ws.root(), path, 0o644, crate::safe_fs::Durability::Synced, |w| {
        w.write_all(out.as_bytes())
    })
    .map_err(io)?;
    Ok(missing.len())
}

/// The remote-tracking ref this clone shares through (`origin/main`), fetched first; None when the
/// workspace has no remote or the remote has no such branch yet. A failed fetch is a warning:
/// apply must work offline, and the merge driver keeps both sides of whatever happens meanwhile.
pub fn fetched_upstream(root: &Path) -> Option<String> {
    if !is_repository_top(root) {
        return None;
    }
    let upstream = git(root, &["rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}"])
        .ok()
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty());
    let upstream = match upstream {
        Some(u) => u,
        None => {
            let remotes = git(root, &["remote"]).ok()?;
            let remote = remotes
                .lines()
                .find(|r| r.trim() == "origin")
                .or(remotes.lines().next())?;
            let branch = git(root, &["symbolic-ref", "--short", "HEAD"]).ok()?;
            format!("{}/{}", remote.trim(), branch.trim())
        }
    };
    let remote = upstream.split('/').next()?.to_string();
    if let Err(e) = git(root, &["fetch", "--quiet", &remote]) {
        tracing::warn!("cannot fetch from {remote} ({e}); going on with what this clone knows");
    }
    let tracking = format!("refs/remotes/{upstream}");
    git(root, &["rev-parse", "-q", "--verify", &tracking]).ok()?;
    Some(tracking)
}

/// The entries among `paths` (`CLIENT/TARGET/ACCOUNT`) that the remote changed since this clone
/// last merged it: a rotation of them here would race a teammate's. A vault file the key ring
/// cannot open counts as changed whole.
pub fn changed_upstream(root: &Path, keys: &crate::keys::KeyRing, tracking: &str, paths: &[String]) -> Vec<String> {
    let Ok(base) = git(root, &["merge-base", "HEAD", tracking]) else {
        return Vec::new();
    };
    let base = base.trim().to_string();
    let show = |rev: &str, file: &str| -> Option<Vec<u8>> {
        let out = git_output(root, &["show", &format!("{rev}:{file}")]).ok()?;
        out.status.success().then_some(out.stdout)
    };
    let mut changed = Vec::new();
    let mut by_client: std::collections::BTreeMap<&str, Vec<&String>> = Default::default();
    for p in paths {
        if let Some((client, _)) = p.split_once('/') {
            by_client.entry(client).or_default().push(p);
        }
    }
    for (client, wanted) in by_client {
        let file = format!("vaults/{client}.age");
        let (before, after) = (show(&base, &file), show(tracking, &file));
        if before == after {
            continue;
        }
        let open = |bytes: Option<Vec<u8>>| -> Option<crate::vault::VaultDocument> {
            let Some(bytes) = bytes else {
                return Some(crate::vault::VaultDocument::empty(client));
            };
            let plain = keys.decrypt(&bytes, Path::new(&file)).ok()?;
            crate::vault::parse_document(&plain, client, Path::new(&file)).ok()
        };
        match (open(before), open(after)) {
            (Some(b), Some(a)) => {
                for p in wanted {
                    let key = &p[client.len() + 1..];
                    if b.entries.get(key) != a.entries.get(key) {
                        changed.push(p.clone());
                    }
                }
            }
            _ => changed.extend(wanted.into_iter().cloned()),
        }
    }
    changed
}
