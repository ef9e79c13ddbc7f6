//! `keyreeve client add|rm`: a client enters and leaves the inventory without hand-editing
//! keyreeve.toml (comments and layout are kept). Removing a client keeps everything keyreeve held
//! for it, moved under `state/archive/`, and is audited; it waits for the client's unsettled
//! rotations, whose passwords would otherwise have nowhere to go.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use keyreeve::inventory::{edit, Inventory};
use keyreeve::keys::KeyRing;
use keyreeve::rotation::journal::Journal;
use keyreeve::vault::lock::{configured_wait, ClientLock};
use keyreeve::workspace::Workspace;

use super::context::locate_workspace;
use super::{Global, Outcome};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Add a client (an empty `[clients.NAME]`) to keyreeve.toml.
    Add {
        /// The client's name: letters, digits, `-`, `_`, `.`.
        name: String,
    },
    /// Remove a client from keyreeve.toml; its vault file, backups, snapshots and reveal times
    /// move to `state/archive/NAME-TIME/` (nothing is deleted), and the audit log records it.
    Rm { name: String },
}

/// Where removed clients' files go, under the workspace's `state/`.
pub const ARCHIVE_DIR: &str = "archive";

pub fn run(g: &Global, command: Command) -> Result<Outcome> {
    let ws = locate_workspace(g)?;
    match command {
        Command::Add { name } => add(&ws, &name),
        Command::Rm { name } => rm(g, &ws, &name),
    }
}

fn read_inventory_text(ws: &Workspace) -> Result<(PathBuf, String)> {
    let file = ws.inventory_file();
    let text = keyreeve::safe_fs::read_existing_text(&file, keyreeve::safe_fs::Limit::INVENTORY)
        .with_context(|| format!("cannot read {}", file.display()))?;
    // Refuse to edit a file that is already invalid: its error is the one to show first.
    Inventory::parse(&text, &file)?;
    Ok((file, text))
}

fn add(ws: &Workspace, name: &str) -> Result<Outcome> {
    let (file, text) = read_inventory_text(ws)?;
    let new_text = edit::add_client(&text, &file, name)?;
    edit::write(&file, &new_text)?;
    println!("Added client `{name}` to {}.", file.display());
    println!(
        "Next: `keyreeve target add {name} NAME --kind KIND --address HOST` or `keyreeve scan CIDR --add {name}`."
    );
    Ok(Outcome::Success)
}

/// The files keyreeve keeps for `client`, each with its name inside the archive.
fn client_files(ws: &Workspace, client: &str) -> Vec<(PathBuf, String)> {
    vec![
        (ws.vault_file(client), format!("{client}.age")),
        (ws.backups_dir().join(client), "backups".into()),
        (ws.snapshots_dir().join(client), "snapshots".into()),
        (
            ws.state_dir().join("reveals").join(format!("{client}.json")),
            "reveals.json".into(),
        ),
    ]
}

/// Refuses while a rotation of `client` is in the journal: its record holds the only copy of a
/// password that may already be on the device.
fn refuse_unsettled(ws: &Workspace, keys: &KeyRing, client: &str) -> Result<()> {
    let journal = Journal::new(ws);
    let mut unsettled = Vec::new();
    for found in journal.list()? {
        let record = journal.read(keys, &found.file).with_context(|| {
            format!(
                "cannot read the journal record {}, which may belong to `{client}`; nothing was removed",
                found.file.display()
            )
        })?;
        if record.client == client {
            unsettled.push(record.path());
        }
    }
    if !unsettled.is_empty() {
        bail!(
            "client `{client}` has unsettled rotations ({}); run `keyreeve recover` first; nothing was removed",
            unsettled.join(", ")
        );
    }
    Ok(())
}

fn rm(g: &Global, ws: &Workspace, name: &str) -> Result<Outcome> {
    let (file, text) = read_inventory_text(ws)?;
    let new_text = edit::remove_client(&text, &file, name)?;
    let keys = KeyRing::locate(g.identity.as_deref());
    // Holding the client's lock keeps vault writers out while its files move.
    let _lock = ClientLock::acquire(ws.root(), &ws.locks_dir(), name, configured_wait())?;
    refuse_unsettled(ws, &keys, name)?;

    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let archive = ws.state_dir().join(ARCHIVE_DIR).join(format!("{name}-{stamp}"));
    if archive.exists() {
        bail!("{} exists already; try again in a second", archive.display());
    }
    // The archive is written like every workspace file: no link on the way is followed.
    keyreeve::safe_fs::create_dir_all(ws.root(), &archive)
        .with_context(|| format!("cannot create {}", archive.display()))?;
    keyreeve::vault::store::write_atomic(ws.root(), &archive.join("keyreeve.toml"), 0o644, |w| {
        w.write_all(text.as_bytes())
    })
    .with_context(|| format!("cannot write {}", archive.join("keyreeve.toml").display()))?;
    let present: Vec<(PathBuf, String)> = client_files(ws, name)
        .into_iter()
        .filter(|(from, _)| from.symlink_metadata().is_ok())
        .collect();
    let archived: Vec<String> = present.iter().map(|(from, _)| relative(ws, from)).collect();
    keyreeve::audit_log::record(
        ws,
        keys.public_key().as_deref(),
        "client.remove",
        name,
        serde_json::json!({ "archive": relative(ws, &archive), "archived": archived }),
    )
    .map_err(keyreeve::Error::from)
    .context("cannot append to the audit log, so nothing was removed")?;

    let mut moved: Vec<(&Path, PathBuf)> = Vec::new();
    let mut outcome = Ok(());
    for (from, to) in &present {
        let to = archive.join(to);
        if let Err(e) = keyreeve::safe_fs::rename(ws.root(), from, &to) {
            outcome = Err(anyhow::Error::new(e).context(format!("cannot move {} to {}", from.display(), to.display())));
            break;
        }
        moved.push((from, to));
    }
    if outcome.is_ok() {
        outcome = edit::write(&file, &new_text).map(|_| ()).map_err(Into::into);
    }
    if let Err(e) = outcome {
        // Put back what moved, so that the client stays whole.
        for (from, to) in moved.iter().rev() {
            let _ = keyreeve::safe_fs::rename(ws.root(), to, from);
        }
        return Err(e.context(format!("client `{name}` was not removed")));
    }
    let _ = keyreeve::vault::store::sync_dir(&ws.vaults_dir());
    println!("Removed client `{name}` from {}.", file.display());
    println!("Archived under {}: {}", archive.display(), {
        let mut list = archived.clone();
        list.push("keyreeve.toml (as it was)".into());
        list.join(", ")
    });
    Ok(Outcome::Success)
}

fn relative(ws: &Workspace, path: &Path) -> String {
    path.strip_prefix(ws.root()).unwrap_or(path).display().to_string()
}
