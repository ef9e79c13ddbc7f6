//! `keyreeve import`: brings a native handover file (`keyreeve export --format keyreeve`) into
//! this workspace: entries, metadata and history, under the client's name or another. Existing
//! entries are never overwritten unless `--replace`, and even then no password is lost: the one
//! replaced goes to the entry's history. The previous provider's lists (`--format csv`,
//! `keepass-xml`, `bitwarden`) are read by `import_list`.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use chrono::Utc;

use keyreeve::audit_log;
use keyreeve::escape::terminal as shown;
use keyreeve::export::envelope;
use keyreeve::export::native::{self, NativeExport};
use keyreeve::export::{ExportError, TargetInfo};
use keyreeve::inventory::is_valid_name;
use keyreeve::vault::{Entry, HistoryItem, Vault, VaultError};

use super::context::Context;
use super::{Global, Outcome};

/// What an import file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportFormat {
    /// A native handover (`keyreeve export --format keyreeve`), always an age file.
    Keyreeve,
    /// A CSV list with a header row (see --map).
    Csv,
    /// KeePass 2 XML (`keepassxc-cli export -f xml`): groups become targets.
    KeepassXml,
    /// Bitwarden's unencrypted JSON export.
    Bitwarden,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file: an age file (decrypted with your identity), or for csv, keepass-xml and
    /// bitwarden also a plaintext file (destroy it afterwards).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// What the file holds.
    #[arg(long, short = 'f', value_enum, default_value = "keyreeve")]
    pub format: ImportFormat,
    /// CSV columns by field when the header does not use the usual names, e.g.
    /// `title=Device,username=Login,password=Kennwort,url=IP,notes=Remarks`.
    #[arg(long, value_name = "FIELD=COLUMN,...")]
    pub map: Option<String>,
    /// Import the good records and leave out the bad ones (each listed), instead of nothing.
    #[arg(long)]
    pub skip_bad: bool,
    /// Add the proposed targets to keyreeve.toml instead of only printing them.
    #[arg(long)]
    pub write_inventory: bool,
    /// Import under this client name instead of the one in the file.
    #[arg(long, short = 'c', value_name = "NAME")]
    pub client: Option<String>,
    /// Overwrite entries that already exist (their current password is kept in the history).
    #[arg(long)]
    pub replace: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Why the import stopped inside the vault update.
#[derive(Debug, thiserror::Error)]
enum ImportError {
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("cannot append to the audit log, so nothing was imported")]
    Audit(#[from] audit_log::AuditLogError),
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    if args.format != ImportFormat::Keyreeve {
        return super::import_list::run(g, args);
    }
    if args.map.is_some() || args.skip_bad || args.write_inventory {
        anyhow::bail!("--map, --skip-bad and --write-inventory are for --format csv, keepass-xml and bitwarden");
    }
    let ctx = Context::load(g)?;
    let bytes = keyreeve::safe_fs::read_existing(&args.file, keyreeve::safe_fs::Limit::IMPORT)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let plain = envelope::open(&ctx.keys, &bytes, &args.file)?;
    let export: NativeExport = native::parse(&plain, &args.file)?;
    drop(plain);

    let client = args.client.clone().unwrap_or_else(|| export.manifest.client.clone());
    if !is_valid_name(&client) {
        return Err(ExportError::BadClientName(shown(&client).into_owned()).into());
    }
    let Some(known) = ctx.inventory.clients.get(&client) else {
        return Err(ExportError::ClientNotInInventory {
            snippet: new_client_snippet(&client, &export.targets),
            client,
            inventory: ctx.workspace.inventory_file(),
        }
        .into());
    };
    let missing_targets: Vec<(&String, &TargetInfo)> = export
        .targets
        .iter()
        .filter(|(name, _)| !known.targets.iter().any(|t| &t.name == *name))
        .collect();

    let vault = Vault::new(&ctx.workspace, &ctx.inventory, &ctx.keys);
    let incoming = export.vault.entries;
    let count = incoming.len();
    let now = Utc::now();
    let m = &export.manifest;
    let file_shown = std::path::absolute(&args.file)
        .unwrap_or(args.file.clone())
        .display()
        .to_string();
    // Checked writable before the vault is touched; the record is written once the new vault file
    // is on disk, before it replaces the old one, so an import the log cannot hold does not happen.
    let audit = audit_log::reserve(&ctx.workspace)
        .map_err(keyreeve::Error::from)
        .context("cannot append to the audit log, so nothing was imported")?;
    let replaced = vault
        .update_then(
            &client,
            |doc| -> Result<Vec<String>, ImportError> {
                let conflicts: Vec<String> = incoming
                    .keys()
                    .filter(|k| doc.entries.contains_key(*k))
                    .map(|k| format!("{client}/{k}"))
                    .collect();
                if !conflicts.is_empty() && !args.replace {
                    return Err(ExportError::Conflict {
                        client: client.clone(),
                        paths: conflicts,
                    }
                    .into());
                }
                for (key, entry) in incoming {
                    let merged = match doc.entries.remove(&key) {
                        Some(existing) => keep_replaced(entry, existing, now),
                        None => entry,
                    };
                    doc.entries.insert(key, merged);
                }
                Ok(conflicts)
            },
            |replaced| {
                audit
                    .commit(
                        ctx.actor().as_deref(),
                        "import",
                        &client,
                        serde_json::json!({
                            "file": file_shown,
                            "from_client": m.client,
                            "exported_at": m.created_at,
                            "exported_by": m.created_by.user,
                            "exported_by_key": m.created_by.key,
                            "entries": count,
                            "replaced": replaced,
                        }),
                    )
                    .map(|_| ())
                    .map_err(ImportError::from)
            },
        )
        .map_err(|e| match e {
            ImportError::Export(e) => anyhow::Error::new(e),
            ImportError::Vault(e) => anyhow::Error::new(e),
            ImportError::Audit(e) => anyhow::Error::new(keyreeve::Error::from(e))
                .context("cannot append to the audit log, so nothing was imported"),
        })?;

    let revealed: Vec<&str> = m
        .entries
        .iter()
        .filter(|e| e.revealed_since_rotation)
        .map(|e| e.path.as_str())
        .collect();
    if args.json {
        let summary = serde_json::json!({
            "client": client,
            "imported": count,
            "replaced": replaced,
            "targets_not_in_inventory": missing_targets.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            "manifest": m,
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(Outcome::Success);
    }
    println!(
        "Imported {count} entr{} into client `{client}`{} (exported {} by {}).",
        if count == 1 { "y" } else { "ies" },
        if replaced.is_empty() {
            String::new()
        } else {
            format!(", {} replaced", replaced.len())
        },
        m.created_at.format("%Y-%m-%d %H:%M UTC"),
        shown(&m.created_by.user)
    );
    if !revealed.is_empty() {
        println!(
            "\nThe previous provider's staff saw {} of these passwords since they were last rotated:",
            revealed.len()
        );
        for p in &revealed {
            println!("  {}", shown(p));
        }
        println!("Rotate them: keyreeve plan --client {client} --revealed");
    }
    for e in m.entries.iter().filter(|e| e.warning.is_some()) {
        println!(
            "Warning: {}: {}",
            shown(&e.path),
            shown(e.warning.as_deref().unwrap_or_default())
        );
    }
    if !missing_targets.is_empty() {
        println!(
            "\n{} target{} of these entries {} not in {}; add {} to rotate and verify them:\n",
            missing_targets.len(),
            if missing_targets.len() == 1 { "" } else { "s" },
            if missing_targets.len() == 1 { "is" } else { "are" },
            ctx.workspace.inventory_file().display(),
            if missing_targets.len() == 1 { "it" } else { "them" },
        );
        print!("{}", inventory_snippet(&client, missing_targets.into_iter()));
    }
    Ok(Outcome::Success)
}

/// The imported entry, with the password it replaces (and that one's history) kept in its
/// history, oldest first, so that `--replace` never loses a password.
pub(super) fn keep_replaced(mut incoming: Entry, existing: Entry, now: chrono::DateTime<Utc>) -> Entry {
    let mut history = existing.history;
    if existing.password != incoming.password {
        history.push(HistoryItem {
            password: existing.password,
            replaced_at: now,
        });
    }
    for h in history {
        if !incoming.history.iter().any(|i| i.password == h.password) {
            incoming.history.push(h);
        }
    }
    incoming.history.sort_by_key(|h| h.replaced_at);
    incoming
}

/// What keyreeve.toml needs for a client it does not list yet: the export's targets, or, when
/// the export names none, the one line that adds the client.
fn new_client_snippet(client: &str, targets: &keyreeve::export::Targets) -> String {
    if targets.is_empty() {
        format!(
            "[clients.{}]\n# the export names no target: add them with `keyreeve target add {client} NAME --kind KIND --address HOST`\n",
            toml_key(client)
        )
    } else {
        inventory_snippet(client, targets.iter())
    }
}

/// A client name as a TOML key: bare when it can be, else quoted.
pub(super) fn toml_key(client: &str) -> String {
    if client
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        client.to_string()
    } else {
        toml::Value::String(client.to_string()).to_string()
    }
}

/// `[[clients.NAME.targets]]` tables for the targets of an export.
fn inventory_snippet<'a>(client: &str, targets: impl Iterator<Item = (&'a String, &'a TargetInfo)>) -> String {
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut out = String::new();
    for (name, t) in targets {
        out.push_str(&format!("[[clients.{}.targets]]\n", toml_key(client)));
        out.push_str(&format!("name = {}\nkind = {}\n", q(name), q(&t.kind)));
        if t.url.is_none() {
            out.push_str(&format!("address = {}\nport = {}\n", q(&t.address), t.port));
        }
        out.push_str(&format!("login = {}\n", q(&t.login)));
        if let Some(url) = &t.url {
            out.push_str(&format!("url = {}\n", q(url)));
        }
        if let Some(dn) = &t.base_dn {
            out.push_str(&format!("base_dn = {}\n", q(dn)));
        }
        if let Some(hk) = &t.host_key {
            out.push_str(&format!("host_key = {}\n", q(hk)));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyreeve::Password;

    /// A client missing from the inventory gets lines that add it, even when the export names no
    /// target (the hint's "ready to paste" block was empty then).
    #[test]
    fn a_new_client_always_gets_the_lines_that_add_it() {
        let none = keyreeve::export::Targets::new();
        let lines = new_client_snippet("initech", &none);
        assert!(lines.starts_with("[clients.initech]\n"), "{lines}");
        assert!(lines.contains("keyreeve target add initech"), "{lines}");
        assert!(new_client_snippet("a.b", &none).starts_with("[clients.\"a.b\"]\n"));
        let inv = format!("{}\n", new_client_snippet("initech", &none));
        let parsed = keyreeve::inventory::Inventory::parse(&inv, std::path::Path::new("keyreeve.toml")).unwrap();
        assert!(parsed.clients.contains_key("initech"));

        let mut targets = keyreeve::export::Targets::new();
        targets.insert(
            "fw1".into(),
            TargetInfo {
                kind: "fortios".into(),
                address: "10.9.9.9".into(),
                port: 22,
                login: "admin".into(),
                url: None,
                base_dn: None,
                host_key: None,
            },
        );
        let lines = new_client_snippet("initech", &targets);
        assert!(
            lines.starts_with("[[clients.initech.targets]]\nname = \"fw1\"\n"),
            "{lines}"
        );
        let parsed = keyreeve::inventory::Inventory::parse(&lines, std::path::Path::new("keyreeve.toml")).unwrap();
        assert_eq!(parsed.target("initech", "fw1").unwrap().address, "10.9.9.9");
    }

    #[test]
    fn replacing_keeps_the_replaced_password_in_history() {
        let t0 = Utc::now();
        let mut existing = Entry::new("admin", Password::new("local-current"));
        existing.history.push(HistoryItem {
            password: Password::new("local-old"),
            replaced_at: t0 - chrono::Duration::days(30),
        });
        let incoming = Entry::new("admin", Password::new("imported"));
        let merged = keep_replaced(incoming, existing, t0);
        assert_eq!(merged.password.expose(), "imported");
        let kept: Vec<&str> = merged.history.iter().map(|h| h.password.expose()).collect();
        assert_eq!(kept, vec!["local-old", "local-current"]);
    }
}
