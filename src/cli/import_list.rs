//! `keyreeve import --format csv|keepass-xml|bitwarden`: the previous provider's password list on
//! a client's first day. Every record becomes a vault entry (checked as `vault set` checks), all
//! or nothing unless `--skip-bad`; the summary lists every entry with what was guessed about it,
//! and the proposed targets are printed (or added with `--write-inventory`). The import is
//! audited; a plaintext file is flagged for destruction.

use anyhow::{bail, Context as _, Result};
use chrono::Utc;
use zeroize::Zeroizing;

use keyreeve::audit_log;
use keyreeve::escape::terminal as shown;
use keyreeve::export::{envelope, ExportError};
use keyreeve::import::{self, csv::ColumnMap, guess, ImportError, SourceFormat};
use keyreeve::inventory::edit;
use keyreeve::vault::{Vault, VaultError};

use super::context::Context;
use super::import::{keep_replaced, toml_key, Args, ImportFormat};
use super::{Global, Outcome};

/// How an age file starts, binary or armored.
const AGE_MAGIC: [&[u8]; 2] = [b"age-encryption.org/", b"-----BEGIN AGE ENCRYPTED FILE-----"];

#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("cannot append to the audit log, so nothing was imported")]
    Audit(#[from] audit_log::AuditLogError),
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let format = match args.format {
        ImportFormat::Csv => SourceFormat::Csv,
        ImportFormat::KeepassXml => SourceFormat::KeepassXml,
        ImportFormat::Bitwarden => SourceFormat::Bitwarden,
        ImportFormat::Keyreeve => unreachable!("native imports are read by import::run"),
    };
    let Some(client) = args.client.clone() else {
        bail!(
            "--client names the client to import into (a {} list names none)",
            format.as_str()
        );
    };
    if args.map.is_some() && format != SourceFormat::Csv {
        bail!("--map is for --format csv");
    }
    let map = ColumnMap::parse(args.map.as_deref().unwrap_or(""))?;
    let ctx = Context::load(g)?;
    if !keyreeve::inventory::is_valid_name(&client) {
        return Err(ExportError::BadClientName(shown(&client).into_owned()).into());
    }
    let Some(known) = ctx.inventory.clients.get(&client) else {
        return Err(ExportError::ClientNotInInventory {
            snippet: format!("[clients.{}]\n", toml_key(&client)),
            client,
            inventory: ctx.workspace.inventory_file(),
        }
        .into());
    };

    let raw = Zeroizing::new(
        keyreeve::safe_fs::read_existing(&args.file, keyreeve::safe_fs::Limit::IMPORT)
            .with_context(|| format!("cannot read {}", args.file.display()))?,
    );
    let encrypted = AGE_MAGIC.iter().any(|m| raw.starts_with(m));
    let plain = if encrypted {
        envelope::open(&ctx.keys, &raw, &args.file)?
    } else {
        raw
    };
    let parsed = match format {
        SourceFormat::Csv => import::csv::parse(&plain, &map, &args.file)?,
        SourceFormat::KeepassXml => import::keepass_xml::parse(&plain, &args.file)?,
        SourceFormat::Bitwarden => import::bitwarden::parse(&plain, &args.file)?,
        SourceFormat::Keyreeve => unreachable!(),
    };
    drop(plain);
    let now = Utc::now();
    let mut plan = import::prepare(parsed, now);
    if plan.entries.is_empty() && plan.bad.is_empty() {
        return Err(ImportError::Empty(args.file.clone()).into());
    }
    if !plan.bad.is_empty() && (!args.skip_bad || plan.entries.is_empty()) {
        return Err(ImportError::Rejected {
            path: args.file.clone(),
            bad: std::mem::take(&mut plan.bad),
        }
        .into());
    }

    // Targets the inventory lists already are not proposed again.
    let (listed, proposed): (Vec<_>, Vec<_>) = std::mem::take(&mut plan.targets)
        .into_iter()
        .partition(|p| known.targets.iter().any(|t| t.name == p.target));
    let inventory_file = ctx.workspace.inventory_file();
    // With --write-inventory the new keyreeve.toml is made and validated before the vault is
    // touched, so that a proposal the inventory refuses costs nothing.
    let new_inventory = if args.write_inventory && !proposed.is_empty() {
        let text = keyreeve::safe_fs::read_existing_text(&inventory_file, keyreeve::safe_fs::Limit::INVENTORY)
            .with_context(|| format!("cannot read {}", inventory_file.display()))?;
        let tables = proposed.iter().map(|p| (p.target.clone(), p.to_table())).collect();
        let new_text = edit::add_tables(&text, &inventory_file, &client, tables)?;
        keyreeve::inventory::Inventory::parse(&new_text, &inventory_file)
            .map_err(edit::EditError::Invalid)
            .context("the proposed targets do not fit keyreeve.toml, so nothing was imported; import without --write-inventory and add them by hand")?;
        Some(new_text)
    } else {
        None
    };

    let vault = Vault::new(&ctx.workspace, &ctx.inventory, &ctx.keys);
    let file_shown = std::path::absolute(&args.file)
        .unwrap_or(args.file.clone())
        .display()
        .to_string();
    let audit = audit_log::reserve(&ctx.workspace)
        .map_err(keyreeve::Error::from)
        .context("cannot append to the audit log, so nothing was imported")?;
    let count = plan.entries.len();
    let left_out = plan.bad.len();
    let summary: Vec<(String, String, Vec<String>)> = plan
        .entries
        .iter()
        .map(|p| (p.at.to_string(), p.key.clone(), p.guesses.clone()))
        .collect();
    let incoming: Vec<(String, keyreeve::vault::Entry)> = std::mem::take(&mut plan.entries)
        .into_iter()
        .map(|p| (p.key, p.entry))
        .collect();
    let replaced = vault
        .update_then(
            &client,
            |doc| -> Result<Vec<String>, WriteError> {
                let conflicts: Vec<String> = incoming
                    .iter()
                    .filter(|(k, _)| doc.entries.contains_key(k))
                    .map(|(k, _)| format!("{client}/{k}"))
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
                            "format": format.as_str(),
                            "encrypted": encrypted,
                            "entries": count,
                            "left_out": left_out,
                            "replaced": replaced,
                            "targets_proposed": proposed.len(),
                        }),
                    )
                    .map(|_| ())
                    .map_err(WriteError::from)
            },
        )
        .map_err(|e| match e {
            WriteError::Export(e) => anyhow::Error::new(e),
            WriteError::Vault(e) => anyhow::Error::new(e),
            WriteError::Audit(e) => anyhow::Error::new(keyreeve::Error::from(e))
                .context("cannot append to the audit log, so nothing was imported"),
        })?;
    if let Some(text) = &new_inventory {
        edit::write(&inventory_file, text).with_context(|| {
            format!(
                "the {count} entries are in the vault, but {} was not changed",
                inventory_file.display()
            )
        })?;
    }

    if args.json {
        let json = serde_json::json!({
            "client": client,
            "format": format.as_str(),
            "imported": summary.iter().map(|(at, key, guesses)| serde_json::json!({
                "from": at, "path": format!("{client}/{key}"), "guessed": guesses,
            })).collect::<Vec<_>>(),
            "left_out": plan.bad.iter().map(|b| b.to_string()).collect::<Vec<_>>(),
            "skipped": plan.skipped.iter().map(|b| b.to_string()).collect::<Vec<_>>(),
            "replaced": replaced,
            "targets": proposed.iter().map(|p| serde_json::json!({
                "name": p.target, "kind": p.kind, "category": p.category, "url": p.url,
                "address": p.address, "port": p.port, "why": p.why,
            })).collect::<Vec<_>>(),
            "inventory_written": new_inventory.is_some(),
            "plaintext_file": !encrypted,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        print_summary(&client, &summary, &plan, &replaced, &listed, &proposed);
        if new_inventory.is_some() {
            println!(
                "\nAdded {} target{} to {}: check each kind and category.",
                proposed.len(),
                if proposed.len() == 1 { "" } else { "s" },
                inventory_file.display()
            );
        } else if !proposed.is_empty() {
            println!(
                "\nProposed targets (add them with --write-inventory, or paste into {}):\n",
                inventory_file.display()
            );
            print!("{}", guess::fragment(&client, &proposed));
        }
    }
    if !encrypted {
        eprintln!(
            "warning: {} is a plaintext file holding {count} password{}: destroy it now (e.g. `shred -u {}`) and any copy of it",
            args.file.display(),
            if count == 1 { "" } else { "s" },
            args.file.display()
        );
    }
    Ok(Outcome::Success)
}

fn print_summary(
    client: &str,
    summary: &[(String, String, Vec<String>)],
    plan: &import::Plan,
    replaced: &[String],
    listed: &[guess::Proposal],
    proposed: &[guess::Proposal],
) {
    println!(
        "Imported {} entr{} into client `{client}`{}:",
        summary.len(),
        if summary.len() == 1 { "y" } else { "ies" },
        if replaced.is_empty() {
            String::new()
        } else {
            format!(" ({} replaced, their passwords kept in history)", replaced.len())
        }
    );
    for (at, key, guesses) in summary {
        let target = key.split_once('/').map(|(t, _)| t).unwrap_or(key);
        let kind = proposed
            .iter()
            .find(|p| p.target == target)
            .map(|p| {
                let what = match p.category {
                    Some(c) => format!("{} {c}", p.kind),
                    None => p.kind.clone(),
                };
                format!("{what}: {}", p.why)
            })
            .or_else(|| {
                listed
                    .iter()
                    .any(|p| p.target == target)
                    .then(|| "target already in the inventory".to_string())
            })
            .unwrap_or_default();
        let mut notes = guesses.clone();
        notes.push(kind);
        println!(
            "  {at:<9} {}/{}  ({})",
            shown(client),
            shown(key),
            shown(&notes.join("; "))
        );
    }
    if !plan.bad.is_empty() {
        println!("\nLeft out (--skip-bad):");
        for b in &plan.bad {
            println!("  {}", shown(&b.to_string()));
        }
    }
    if !plan.skipped.is_empty() {
        println!("\nNot credentials, not imported:");
        for b in &plan.skipped {
            println!("  {}", shown(&b.to_string()));
        }
    }
}
