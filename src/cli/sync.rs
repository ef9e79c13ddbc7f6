//! `keyreeve sync [--no-push]`: shares this clone's work with the team. It commits what changed
//! (a message naming paths and actions, never a secret), merges the remote's changes with
//! keyreeve's merge driver, pushes (again after a merge when the push is refused because someone
//! pushed meanwhile), and reports what came in: others' rotations and the conflicts to settle.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{bail, Context as _, Result};

use keyreeve::audit_log::Event;
use keyreeve::team::{self, git, git_output};
use keyreeve::workspace::Workspace;

use super::{context, Global, Outcome};

/// How many times a push refused because the remote moved on is merged and tried again.
const PUSH_ATTEMPTS: usize = 5;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Commit and merge the remote's changes, but push nothing: a look at what others did.
    #[arg(long)]
    pub no_push: bool,
    /// The remote to sync with (default: the branch's upstream, else `origin`).
    #[arg(long, value_name = "NAME")]
    pub remote: Option<String>,
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let ws = context::locate_workspace(g)?;
    let root = ws.root().to_path_buf();
    if !team::is_repository_top(&root) {
        bail!(
            "{} is not a git repository: run `keyreeve team setup` first, then add a remote (`git remote add origin URL`)",
            root.display()
        );
    }
    team::require_driver(&ws)?;
    restart_interrupted_merge(&root)?;
    sweep_merge_temporaries(&ws);
    commit_local_changes(&root)?;
    let remote = match pick_remote(&root, args.remote.as_deref())? {
        Some(r) => r,
        None => {
            println!(
                "No remote: the changes are committed in this clone only (add one with `git remote add origin URL`)."
            );
            return Ok(Outcome::Success);
        }
    };
    let branch = git(&root, &["symbolic-ref", "--short", "HEAD"])?.trim().to_string();
    let mut outcome = Outcome::Success;
    for attempt in 1..=PUSH_ATTEMPTS {
        let before = head(&root)?;
        if !merge_remote(&root, &remote, &branch)? {
            return Ok(Outcome::Findings);
        }
        if before != head(&root)? && report_incoming(g, &ws, &before)? {
            outcome = Outcome::Findings;
        }
        if args.no_push {
            println!("Not pushed (--no-push): `keyreeve sync` shares this clone's commits.");
            return Ok(outcome);
        }
        let out = git_output(&root, &["push", "--quiet", "-u", &remote, &format!("HEAD:{branch}")])?;
        if out.status.success() {
            println!("Synced with {remote}/{branch}.");
            return Ok(outcome);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let moved_on = ["rejected", "fetch first", "non-fast-forward"]
            .iter()
            .any(|w| stderr.contains(w));
        if !moved_on {
            bail!("`git push {remote}` failed: {}", stderr.trim());
        }
        eprintln!("the remote moved on while syncing (attempt {attempt}): merging again");
    }
    bail!("the remote kept moving on: {PUSH_ATTEMPTS} pushes were refused; run `keyreeve sync` again")
}

/// A merge that a killed or failed driver left half done: when only keyreeve's files are in
/// conflict it is aborted (back to this clone's own commit) and done again by the merge below.
fn restart_interrupted_merge(root: &Path) -> Result<()> {
    if !git_output(root, &["rev-parse", "-q", "--verify", "MERGE_HEAD"])?
        .status
        .success()
    {
        return Ok(());
    }
    let unmerged = git(root, &["diff", "--name-only", "--diff-filter=U"])?;
    let foreign: Vec<&str> = unmerged.lines().filter(|p| !is_keyreeve_merged(p)).collect();
    if !foreign.is_empty() {
        bail!(
            "a merge is in progress with conflicts keyreeve does not merge ({}): resolve them with git \
             (`git status`), commit, then run `keyreeve sync` again",
            foreign.join(", ")
        );
    }
    git(root, &["merge", "--abort"])?;
    eprintln!("an interrupted merge was found and is done again");
    Ok(())
}

fn is_keyreeve_merged(path: &str) -> bool {
    (path.starts_with("vaults/") && path.ends_with(".age"))
        || path == "state/audit.log"
        || (path.starts_with("state/reveals/") && path.ends_with(".json"))
}

/// A driver killed mid-write leaves its temporary file (`..merge_file_*.tmp`) at the top.
fn sweep_merge_temporaries(ws: &Workspace) {
    let Ok(found) = keyreeve::safe_fs::list_files(ws.root(), ws.root(), |n| {
        n.starts_with("..merge_file_") && n.ends_with(".tmp")
    }) else {
        return;
    };
    for file in found {
        if let Err(e) = keyreeve::safe_fs::remove_file(ws.root(), &file) {
            tracing::warn!("cannot remove {}: {e}", file.display());
        }
    }
}

/// Commits everything changed in the work tree, with a message naming each path and what
/// happened to it.
fn commit_local_changes(root: &Path) -> Result<()> {
    git(root, &["add", "-A"])?;
    let staged = git(root, &["diff", "--cached", "--name-status", "--no-renames"])?;
    if staged.trim().is_empty() {
        return Ok(());
    }
    let message = commit_message(&staged);
    git(root, &["commit", "--quiet", "--no-verify", "-m", &message])
        .context("cannot commit this clone's changes (is user.name / user.email set for git?)")?;
    let count = staged.lines().count();
    println!("Committed {count} changed file(s).");
    Ok(())
}

/// `keyreeve sync: 2 vault(s), audit log` then one line per path: `changed vaults/acme.age`.
fn commit_message(name_status: &str) -> String {
    let mut vaults = BTreeSet::new();
    let mut other = BTreeSet::new();
    let mut body = String::new();
    for line in name_status.lines() {
        let Some((status, path)) = line.split_once('\t') else {
            continue;
        };
        let action = match status.chars().next() {
            Some('A') => "added",
            Some('D') => "removed",
            _ => "changed",
        };
        body.push_str(&format!("{action} {path}\n"));
        match path.strip_prefix("vaults/").and_then(|p| p.strip_suffix(".age")) {
            Some(client) => {
                vaults.insert(format!("{client} {action}"));
            }
            None if path == "state/audit.log" => {
                other.insert("audit log".to_string());
            }
            None if path == "keyreeve.toml" => {
                other.insert("inventory".to_string());
            }
            None => {
                other.insert(path.split('/').take(2).collect::<Vec<_>>().join("/"));
            }
        }
    }
    let mut title: Vec<String> = Vec::new();
    if !vaults.is_empty() {
        title.push(format!("vault {}", vaults.into_iter().collect::<Vec<_>>().join(", ")));
    }
    title.extend(other);
    format!("keyreeve sync: {}\n\n{body}", title.join("; "))
}

fn pick_remote(root: &Path, asked: Option<&str>) -> Result<Option<String>> {
    if let Some(r) = asked {
        return Ok(Some(r.to_string()));
    }
    let remotes = git(root, &["remote"])?;
    let remotes: Vec<&str> = remotes.lines().map(str::trim).filter(|r| !r.is_empty()).collect();
    let upstream = git_output(root, &["rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}"])?;
    if upstream.status.success() {
        let text = String::from_utf8_lossy(&upstream.stdout);
        if let Some(r) = remotes.iter().find(|r| text.trim().starts_with(&format!("{r}/"))) {
            return Ok(Some(r.to_string()));
        }
    }
    Ok(remotes
        .iter()
        .find(|r| **r == "origin")
        .or(remotes.first())
        .map(|r| r.to_string()))
}

fn head(root: &Path) -> Result<String> {
    Ok(git_output(root, &["rev-parse", "-q", "--verify", "HEAD"])
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())?)
}

/// Fetches and merges `remote/branch` (keyreeve's driver merges its files). False when git left
/// conflicts, which are then listed.
fn merge_remote(root: &Path, remote: &str, branch: &str) -> Result<bool> {
    git(root, &["fetch", "--quiet", remote])?;
    let tracking = format!("refs/remotes/{remote}/{branch}");
    if !git_output(root, &["rev-parse", "-q", "--verify", &tracking])?
        .status
        .success()
    {
        return Ok(true); // the remote has no such branch yet: the push creates it
    }
    let out = git_output(root, &["merge", "--no-edit", "--quiet", &tracking])?;
    // The driver's own lines (what it merged, conflicts to settle) reach the technician.
    let driver_says = String::from_utf8_lossy(&out.stderr);
    for line in driver_says
        .lines()
        .filter(|l| l.starts_with("keyreeve") || l.starts_with("error"))
    {
        eprintln!("{line}");
    }
    if out.status.success() {
        return Ok(true);
    }
    let unmerged = git(root, &["diff", "--name-only", "--diff-filter=U"])?;
    if unmerged.trim().is_empty() {
        bail!("`git merge {tracking}` failed: {}", driver_says.trim());
    }
    println!("The merge left conflicts that keyreeve could not settle here:");
    for p in unmerged.lines() {
        println!("  {p}");
    }
    println!(
        "A vault file that could not be decrypted needs a recipient of that client: they run `keyreeve sync`. \
         Until then this clone's commits are not pushed; `git merge --abort` goes back to them."
    );
    Ok(false)
}

/// Reports what the merge brought in: others' audited actions and the entries a merge left with
/// several candidate passwords. True when there is something to settle.
fn report_incoming(g: &Global, ws: &Workspace, before: &str) -> Result<bool> {
    let root = ws.root();
    let changed = git(root, &["diff", "--name-status", "--no-renames", before, "HEAD"])?;
    println!("Came in from the team:");
    for line in changed.lines() {
        println!("  {}", line.replace('\t', " "));
    }
    let old_log = git_output(root, &["show", &format!("{before}:state/audit.log")])?.stdout;
    let old: BTreeSet<&[u8]> = old_log.split(|&b| b == b'\n').collect();
    let now = std::fs::read(ws.audit_log_file()).unwrap_or_default();
    for raw in now.split(|&b| b == b'\n').filter(|l| !l.is_empty() && !old.contains(l)) {
        let Ok(e) = serde_json::from_slice::<Event>(raw) else {
            continue;
        };
        if e.action.starts_with("rotation.") || e.action.starts_with("vault.") || e.action.starts_with("recover") {
            println!(
                "  {} {} {} by {}",
                e.time.format("%Y-%m-%d %H:%M"),
                e.action,
                e.subject,
                e.actor_key.as_deref().unwrap_or(&e.user)
            );
        }
    }
    let clients: Vec<String> = changed
        .lines()
        .filter_map(|l| l.split_once('\t').map(|(_, p)| p))
        .filter_map(|p| p.strip_prefix("vaults/").and_then(|p| p.strip_suffix(".age")))
        .map(str::to_string)
        .collect();
    if clients.is_empty() {
        return Ok(false);
    }
    let Ok(ctx) = context::Context::load(g) else {
        return Ok(false);
    };
    let vault = keyreeve::vault::Vault::new(&ctx.workspace, &ctx.inventory, &ctx.keys);
    let mut to_settle = Vec::new();
    for client in clients {
        if let Ok(doc) = vault.load(&client) {
            // The keyless index the review and `status` read is this clone's own: it follows the
            // merged vault here.
            keyreeve::review::vault_index::record(&ctx.workspace, &doc);
            for (key, entry) in &doc.entries {
                if keyreeve::vault::merge::is_merge_conflict(entry) {
                    to_settle.push((client.clone(), key.clone()));
                }
            }
        }
    }
    for (client, key) in &to_settle {
        println!(
            "  CONFLICT {client}/{key}: both sides changed its password; `keyreeve verify --client {client}` keeps the one in force"
        );
    }
    Ok(!to_settle.is_empty())
}
