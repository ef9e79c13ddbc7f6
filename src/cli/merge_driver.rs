//! `keyreeve merge-driver BASE OURS THEIRS PATH`: what git runs (as `merge.keyreeve.driver`)
//! when both sides changed a vault file, the audit log or a reveal-times file. It merges in
//! memory and replaces OURS atomically (a temporary file in the same folder, renamed), so a
//! killed driver leaves git's own copy whole; any failure exits non-zero, which leaves the file
//! in git's conflict state for someone who can merge it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use chrono::{DateTime, Utc};

use keyreeve::inventory::Inventory;
use keyreeve::keys::KeyRing;
use keyreeve::safe_fs::{self, Durability};

use super::{Global, Outcome};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The common ancestor's version (%O; empty when both sides added the file).
    pub base: PathBuf,
    /// Our version (%A): replaced by the merge.
    pub ours: PathBuf,
    /// Their version (%B).
    pub theirs: PathBuf,
    /// The file's path in the repository (%P).
    pub path: String,
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let top = std::env::current_dir().context("cannot read the current directory")?;
    let read = |p: &Path| std::fs::read(top.join(p)).with_context(|| format!("cannot read {}", p.display()));
    let (base, ours, theirs) = (read(&args.base)?, read(&args.ours)?, read(&args.theirs)?);
    let shown = keyreeve::escape::terminal(&args.path).into_owned();
    let merged = merge(g, &top, &args.path, &base, &ours, &theirs)
        .with_context(|| format!("keyreeve cannot merge {shown}; git leaves it in conflict"))?;
    write_ours(&top, &top.join(&args.ours), &merged).with_context(|| format!("cannot write the merge of {shown}"))?;
    Ok(Outcome::Success)
}

fn merge(g: &Global, top: &Path, path: &str, base: &[u8], ours: &[u8], theirs: &[u8]) -> Result<Vec<u8>> {
    if let Some(client) = path.strip_prefix("vaults/").and_then(|n| n.strip_suffix(".age")) {
        return merge_vault(g, top, path, client, base, ours, theirs);
    }
    if path == "state/audit.log" {
        let actor = KeyRing::locate(g.identity.as_deref()).public_key();
        return Ok(keyreeve::audit_log::merge_logs(base, ours, theirs, actor.as_deref())?);
    }
    if path.starts_with("state/reveals/") && path.ends_with(".json") {
        let parse = |b: &[u8]| -> BTreeMap<String, DateTime<Utc>> { serde_json::from_slice(b).unwrap_or_default() };
        let merged = keyreeve::vault::merge::merge_reveals(&parse(ours), &parse(theirs));
        return Ok(serde_json::to_vec(&merged)?);
    }
    bail!("keyreeve has no merge for this path")
}

fn merge_vault(
    g: &Global,
    top: &Path,
    path: &str,
    client: &str,
    base: &[u8],
    ours: &[u8],
    theirs: &[u8],
) -> Result<Vec<u8>> {
    // Our keyreeve.toml gives the armor and, for vault files older than the recipient list kept
    // in the document, the recipients.
    let inventory = Inventory::load(&top.join(keyreeve::workspace::INVENTORY_FILE))
        .map_err(|e| anyhow!("cannot read keyreeve.toml: {e}"))?;
    let keys = KeyRing::locate(g.identity.as_deref());
    let (sealed, report) =
        keyreeve::vault::merge::merge_sealed(&keys, &inventory, client, Path::new(path), base, ours, theirs)?;
    let named = |keys: &[String]| {
        keys.iter()
            .map(|k| format!("{client}/{k}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !report.from_theirs.is_empty() {
        eprintln!(
            "keyreeve: {path}: took {} entr(y/ies) from the other side",
            report.from_theirs.len()
        );
    }
    if !report.conflicts.is_empty() {
        eprintln!(
            "keyreeve: {path}: both sides changed the password of {}: every candidate is kept; \
             `keyreeve verify --client {client}` logs in with each and keeps the one in force",
            named(&report.conflicts)
        );
    }
    if !report.kept.is_empty() {
        eprintln!(
            "keyreeve: {path}: kept {} (removed on one side, changed on the other); remove it again if meant",
            named(&report.kept)
        );
    }
    for r in &report.recipients_removed {
        eprintln!("keyreeve: {path}: recipient {r} was removed on one side: the merged file is not encrypted to it");
    }
    Ok(sealed)
}

/// Replaces git's OURS file: the merge goes to a temporary file in the same folder, synced, then
/// renamed over it, so git reads the old content or the whole new one, never a part.
fn write_ours(top: &Path, ours: &Path, merged: &[u8]) -> Result<()> {
    safe_fs::write_atomic(top, ours, 0o600, Durability::Synced, |w| {
        let half = merged.len() / 2;
        w.write_all(&merged[..half])?;
        failpoint_half_written(w)?;
        w.write_all(&merged[half..])
    })?;
    Ok(())
}

/// For the crash test: with `KEYREEVE_FAILPOINT=merge-half-written` (debug builds only) the
/// driver flushes half the merge to its temporary file, writes its process id to the file named
/// by `KEYREEVE_FAILPOINT_FILE` and waits to be killed.
fn failpoint_half_written(w: &mut dyn Write) -> std::io::Result<()> {
    if !cfg!(debug_assertions) || std::env::var("KEYREEVE_FAILPOINT").as_deref() != Ok("merge-half-written") {
        return Ok(());
    }
    w.flush()?;
    if let Some(file) = std::env::var_os("KEYREEVE_FAILPOINT_FILE") {
        std::fs::write(file, std::process::id().to_string())?;
    }
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
