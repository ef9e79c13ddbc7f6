//! Changing who can open the vault: edit the recipients in keyreeve.toml (keeping its comments
//! and layout) and re-encrypt every vault file concerned, all under the clients' locks, so that
//! no file is left encrypted to a key the inventory no longer lists.

use toml_edit::{Array, DocumentMut, Item, Value};

use super::{lock, store, Vault, VaultDocument, VaultError};
use crate::inventory::Inventory;
use crate::keys::{parse_recipient, same_recipient, KeyRing};
use crate::workspace::Workspace;

/// Add or remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Add,
    Remove,
}

/// What a recipient change did.
#[derive(Debug, Clone)]
pub struct Changed {
    /// False when the recipient was already there (add) and nothing was done.
    pub changed: bool,
    /// Clients whose vault files were re-encrypted, with their entry paths.
    pub reencrypted: Vec<(String, Vec<String>)>,
}

/// Edits `text` (keyreeve.toml): adds or removes `recipient` in `[workspace]` or in
/// `[clients.CLIENT]`. Returns None when there is nothing to do.
pub fn edit_inventory_text(
    text: &str,
    client: Option<&str>,
    recipient: &str,
    change: Change,
) -> Result<Option<String>, String> {
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| e.to_string())?;
    let table = match client {
        None => doc
            .entry("workspace")
            .or_insert(toml_edit::table())
            .as_table_like_mut()
            .ok_or("[workspace] is not a table")?,
        Some(c) => doc
            .get_mut("clients")
            .and_then(|t| t.as_table_like_mut())
            .and_then(|t| t.get_mut(c))
            .and_then(|t| t.as_table_like_mut())
            .ok_or_else(|| format!("keyreeve.toml has no [clients.{c}] table"))?,
    };
    if table.get("recipients").is_none() {
        table.insert("recipients", Item::Value(Value::Array(Array::new())));
    }
    let arr = table
        .get_mut("recipients")
        .and_then(|i| i.as_array_mut())
        .ok_or("`recipients` is not an array")?;
    let position = arr
        .iter()
        .position(|v| v.as_str().is_some_and(|s| same_recipient(s, recipient)));
    match (change, position) {
        (Change::Add, Some(_)) | (Change::Remove, None) => return Ok(None),
        (Change::Add, None) => push_keeping_layout(arr, recipient),
        (Change::Remove, Some(i)) => remove_keeping_layout(arr, i),
    }
    Ok(Some(doc.to_string()))
}

fn first_line_split(s: &str) -> Option<(&str, &str)> {
    s.find('\n').map(|i| (&s[..=i], &s[i + 1..]))
}

/// Appends so that a multi-line array stays one value per line, each comment by its value.
fn push_keeping_layout(arr: &mut Array, recipient: &str) {
    let multi_line = arr.iter().last().is_some_and(|v| {
        v.decor()
            .prefix()
            .and_then(|p| p.as_str())
            .is_some_and(|p| p.contains('\n'))
    });
    let mut value = Value::from(recipient);
    if multi_line {
        let last_prefix = arr
            .iter()
            .last()
            .and_then(|v| v.decor().prefix().and_then(|p| p.as_str()).map(str::to_string))
            .unwrap_or_default();
        let indent = last_prefix.rsplit('\n').next().unwrap_or("    ").to_string();
        // The trailing text holds the comment of the line that was last: it stays on that line.
        let trailing = arr.trailing().as_str().unwrap_or("").to_string();
        let head = first_line_split(&trailing)
            .map(|(h, _)| h.to_string())
            .unwrap_or_else(|| "\n".into());
        value.decor_mut().set_prefix(format!("{head}{indent}"));
        arr.push_formatted(value);
        arr.set_trailing("\n");
        arr.set_trailing_comma(true);
    } else {
        arr.push(recipient);
    }
}

/// Removes element `i`; the comment of the line before it, which toml_edit keeps in its prefix,
/// stays with that line.
fn remove_keeping_layout(arr: &mut Array, i: usize) {
    let removed_prefix = arr
        .get(i)
        .and_then(|v| v.decor().prefix().and_then(|p| p.as_str()).map(str::to_string))
        .unwrap_or_default();
    arr.remove(i);
    let Some((head, _)) = first_line_split(&removed_prefix) else {
        return;
    };
    let head = head.to_string();
    if let Some(next) = arr.get_mut(i) {
        let next_prefix = next.decor().prefix().and_then(|p| p.as_str()).unwrap_or("").to_string();
        let rest = first_line_split(&next_prefix).map(|(_, r)| r).unwrap_or(&next_prefix);
        let joined = format!("{head}{rest}");
        next.decor_mut().set_prefix(joined);
    } else {
        let trailing = arr.trailing().as_str().unwrap_or("").to_string();
        let rest = first_line_split(&trailing).map(|(_, r)| r).unwrap_or("");
        arr.set_trailing(format!("{head}{rest}"));
    }
}

/// Adds or removes `recipient` for the workspace (`client` None) or one client, and re-encrypts
/// every vault file concerned. Every file is decrypted before any is written, so a file this
/// identity cannot open stops the change before anything moved. keyreeve.toml is written last.
pub fn change_recipients(
    workspace: &Workspace,
    keys: &KeyRing,
    client: Option<&str>,
    recipient: &str,
    change: Change,
) -> Result<Changed, VaultError> {
    let path = workspace.inventory_file();
    let text = crate::safe_fs::read_existing_text(&path, crate::safe_fs::Limit::INVENTORY).map_err(|source| {
        VaultError::Io {
            what: "cannot read",
            path: path.clone(),
            source,
        }
    })?;
    let old = Inventory::parse(&text, &path)?;
    if let Some(c) = client {
        old.client(c)?;
    }
    if change == Change::Add {
        parse_recipient(recipient)?;
        if old.passphrase {
            return Err(VaultError::Refused(
                "this workspace encrypts its vaults to a passphrase; age cannot add recipients to it".into(),
            ));
        }
    }
    let new_text = match edit_inventory_text(&text, client, recipient, change) {
        Ok(Some(t)) => t,
        Ok(None) => {
            return Ok(Changed {
                changed: false,
                reencrypted: Vec::new(),
            })
        }
        Err(reason) => {
            return Err(VaultError::Refused(format!("cannot edit {}: {reason}", path.display())));
        }
    };
    let new = Inventory::parse(&new_text, &path)?;
    if change == Change::Remove {
        if let Some(mine) = keys.public_key() {
            if same_recipient(&mine, recipient) {
                return Err(VaultError::Refused(
                    "that is the key of the identity in use: removing it would lock you out; \
                     run this with another recipient's identity"
                        .into(),
                ));
            }
        }
    }

    let old_vault = Vault::new(workspace, &old, keys);
    let new_vault = Vault::new(workspace, &new, keys);
    let concerned: Vec<String> = match client {
        Some(c) => {
            if workspace.vault_file(c).exists() {
                vec![c.to_string()]
            } else {
                Vec::new()
            }
        }
        None => old_vault.clients()?,
    };
    for c in &concerned {
        if !new.passphrase && keys.recipients_for_client(&new, c).is_empty() {
            return Err(VaultError::Refused(format!(
                "removing it would leave client `{c}`'s vault with no recipient; add another first"
            )));
        }
    }
    // Sorted order: two commands locking many clients never wait on each other in a cycle.
    let mut locks = Vec::new();
    for c in &concerned {
        locks.push(lock::ClientLock::acquire(
            workspace.root(),
            &workspace.locks_dir(),
            c,
            old_vault.lock_wait,
        )?);
    }
    let mut opened: Vec<(String, Vec<u8>, VaultDocument)> = Vec::new();
    for c in &concerned {
        let file = workspace.vault_file(c);
        if let Some(bytes) = old_vault.read_file(&file)? {
            let doc = old_vault.open_bytes(c, &file, &bytes)?;
            opened.push((c.clone(), bytes, doc));
        }
    }
    let mut reencrypted = Vec::new();
    for (c, bytes, mut doc) in opened {
        new_vault.write_locked(&c, &mut doc, Some(&bytes))?;
        let paths = doc.entries.keys().map(|k| format!("{c}/{k}")).collect();
        reencrypted.push((c, paths));
    }
    store::write_atomic(workspace.root(), &path, 0o644, |w| w.write_all(new_text.as_bytes())).map_err(|source| {
        VaultError::Io {
            what: "cannot write",
            path,
            source,
        }
    })?;
    drop(locks);
    Ok(Changed {
        changed: true,
        reencrypted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = r#"# the workspace
[workspace]
# who opens every vault
recipients = [
    "age1aaa", # alice
    "age1bbb", # bob
]

[clients.acme]
recipients = ["age1ccc"]
"#;

    #[test]
    fn add_keeps_comments_and_one_key_per_line() {
        let out = edit_inventory_text(TOML, None, "age1ddd", Change::Add)
            .unwrap()
            .unwrap();
        assert!(
            out.contains("    \"age1aaa\", # alice\n    \"age1bbb\", # bob\n    \"age1ddd\",\n]"),
            "{out}"
        );
        assert!(
            out.starts_with("# the workspace\n[workspace]\n# who opens every vault\n"),
            "{out}"
        );
        let out = edit_inventory_text(TOML, Some("acme"), "age1eee", Change::Add)
            .unwrap()
            .unwrap();
        assert!(out.contains(r#"recipients = ["age1ccc", "age1eee"]"#), "{out}");
        assert!(edit_inventory_text(TOML, None, "age1aaa", Change::Add)
            .unwrap()
            .is_none());
    }

    #[test]
    fn remove_keeps_the_other_lines_comments() {
        let out = edit_inventory_text(TOML, None, "age1bbb", Change::Remove)
            .unwrap()
            .unwrap();
        assert!(out.contains("recipients = [\n    \"age1aaa\", # alice\n]"), "{out}");
        let out = edit_inventory_text(TOML, None, "age1aaa", Change::Remove)
            .unwrap()
            .unwrap();
        assert!(out.contains("recipients = [\n    \"age1bbb\", # bob\n]"), "{out}");
        assert!(edit_inventory_text(TOML, Some("nobody"), "age1aaa", Change::Remove).is_err());
    }
}
