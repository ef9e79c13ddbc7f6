//! Changing keyreeve.toml from the command line (`client add|rm`, `target add`, `scan --add`) the
//! way a person would: through toml_edit, so that comments, order and layout stay as they were,
//! and every result is validated as a whole before it replaces the file atomically.

use std::path::{Path, PathBuf};

use toml_edit::{ArrayOfTables, DocumentMut, Item, Table};

use super::{is_valid_name, Inventory, InventoryError, TargetKind};
use crate::hint::Hint;

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("{}: {message}", path.display())]
    Unreadable { path: PathBuf, message: String },
    #[error("client `{0}` is already in the inventory")]
    ClientExists(String),
    #[error("`{0}` is not a valid client name: letters, digits, `-`, `_`, `.`, `@`, `$`")]
    BadClientName(String),
    #[error("target `{client}/{target}` is already in the inventory")]
    TargetExists { client: String, target: String },
    #[error("the change would make the inventory invalid: {0}")]
    Invalid(#[source] InventoryError),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Inventory(#[from] InventoryError),
}

impl Hint for EditError {
    fn hint(&self) -> Option<String> {
        match self {
            EditError::Unreadable { .. } | EditError::Invalid(_) => {
                Some("`keyreeve inventory check` shows what is wrong with keyreeve.toml".into())
            }
            EditError::ClientExists(_) | EditError::TargetExists { .. } => {
                Some("`keyreeve inventory list` shows the clients and targets".into())
            }
            EditError::BadClientName(_) => None,
            EditError::Write { .. } => Some("check the workspace folder's permissions and free space".into()),
            EditError::Inventory(e) => e.hint(),
        }
    }
}

/// A target to add, as `target add` and `scan --add` know it.
#[derive(Debug, Clone)]
pub struct NewTarget {
    pub name: String,
    pub kind: TargetKind,
    /// Devices: host name or address. Directories use `url`.
    pub address: Option<String>,
    pub port: Option<u16>,
    pub login: String,
    pub enable: Option<String>,
    pub host_key: Option<String>,
    pub url: Option<String>,
    pub base_dn: Option<String>,
    /// A comment line put above the stanza (without `#`).
    pub comment: Option<String>,
}

fn parse(text: &str, path: &Path) -> Result<DocumentMut, EditError> {
    text.parse().map_err(|e: toml_edit::TomlError| EditError::Unreadable {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn clients_table<'d>(doc: &'d mut DocumentMut, path: &Path) -> Result<&'d mut Table, EditError> {
    let clients = doc.entry("clients").or_insert_with(|| {
        let mut t = Table::new();
        t.set_implicit(true);
        Item::Table(t)
    });
    clients.as_table_mut().ok_or_else(|| EditError::Unreadable {
        path: path.to_path_buf(),
        message: "`clients` is not a table".into(),
    })
}

/// `text` with an empty `[clients.NAME]` added at the end.
pub fn add_client(text: &str, path: &Path, name: &str) -> Result<String, EditError> {
    if !is_valid_name(name) {
        return Err(EditError::BadClientName(name.into()));
    }
    let mut doc = parse(text, path)?;
    let clients = clients_table(&mut doc, path)?;
    if clients.contains_key(name) {
        return Err(EditError::ClientExists(name.into()));
    }
    let mut table = Table::new();
    table.decor_mut().set_prefix("\n");
    clients.insert(name, Item::Table(table));
    Ok(doc.to_string())
}

/// `text` without `[clients.NAME]` and its targets.
pub fn remove_client(text: &str, path: &Path, name: &str) -> Result<String, EditError> {
    let mut doc = parse(text, path)?;
    let clients = clients_table(&mut doc, path)?;
    if clients.remove(name).is_none() {
        return Err(InventoryError::UnknownClient(name.into()).into());
    }
    Ok(doc.to_string())
}

/// `text` with `targets` appended to `client`'s targets (after its last one).
pub fn add_targets(text: &str, path: &Path, client: &str, targets: &[NewTarget]) -> Result<String, EditError> {
    let tables: Vec<(String, Table)> = targets.iter().map(|t| (t.name.clone(), stanza(t))).collect();
    add_tables(text, path, client, tables)
}

/// `text` with ready-made target tables (name, table) appended to `client`'s targets: for
/// callers that propose kinds with fields of their own (`import`'s guided targets). [`write`]
/// validates the result as a whole.
pub fn add_tables(text: &str, path: &Path, client: &str, tables: Vec<(String, Table)>) -> Result<String, EditError> {
    let mut doc = parse(text, path)?;
    let clients = clients_table(&mut doc, path)?;
    let client_table = clients
        .get_mut(client)
        .and_then(Item::as_table_mut)
        .ok_or_else(|| InventoryError::UnknownClient(client.into()))?;
    let list = client_table
        .entry("targets")
        .or_insert_with(|| Item::ArrayOfTables(ArrayOfTables::new()))
        .as_array_of_tables_mut()
        .ok_or_else(|| EditError::Unreadable {
            path: path.to_path_buf(),
            message: format!("`clients.{client}.targets` is not a list of [[clients.{client}.targets]] tables"),
        })?;
    for (name, table) in tables {
        let taken = list
            .iter()
            .any(|existing| existing.get("name").and_then(Item::as_str) == Some(name.as_str()));
        if taken {
            return Err(EditError::TargetExists {
                client: client.into(),
                target: name,
            });
        }
        list.push(table);
    }
    Ok(doc.to_string())
}

fn stanza(t: &NewTarget) -> Table {
    let mut table = Table::new();
    let comment = t
        .comment
        .as_deref()
        .map(|c| format!("# {}\n", c.replace(['\n', '\r'], " ")))
        .unwrap_or_default();
    table.decor_mut().set_prefix(format!("\n{comment}"));
    table.insert("name", toml_edit::value(&t.name));
    table.insert("kind", toml_edit::value(t.kind.as_str()));
    if let Some(url) = &t.url {
        table.insert("url", toml_edit::value(url));
    }
    if let Some(base_dn) = &t.base_dn {
        table.insert("base_dn", toml_edit::value(base_dn));
    }
    if let Some(address) = &t.address {
        table.insert("address", toml_edit::value(address));
    }
    if let Some(port) = t.port {
        table.insert("port", toml_edit::value(i64::from(port)));
    }
    table.insert("login", toml_edit::value(&t.login));
    if let Some(enable) = &t.enable {
        table.insert("enable", toml_edit::value(enable));
    }
    if let Some(host_key) = &t.host_key {
        table.insert("host_key", toml_edit::value(host_key));
    }
    table
}

/// Validates `new_text` as a whole and only then replaces `path` with it atomically (a crash
/// leaves the old file or the new one). Returns the new inventory.
pub fn write(path: &Path, new_text: &str) -> Result<Inventory, EditError> {
    let inventory = Inventory::parse(new_text, path).map_err(EditError::Invalid)?;
    // keyreeve.toml sits at the workspace root, so its own folder is the root to check below.
    let root = path.parent().unwrap_or_else(|| Path::new("."));
    crate::vault::store::write_atomic(root, path, 0o644, |w| w.write_all(new_text.as_bytes())).map_err(|source| {
        EditError::Write {
            path: path.to_path_buf(),
            source,
        }
    })?;
    Ok(inventory)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# The MSP's inventory\n[workspace]\nrecipients = [\"age1xyz\"] # the team\n\n\
        # Acme Corp, since 2024\n[clients.acme]\n\n[[clients.acme.targets]]\n# the core router\n\
        name = \"core-rtr1\"\nkind = \"cisco-ios\"\naddress = \"127.0.0.1\"\nlogin = \"admin\"\n\n\
        # Globex\n[clients.globex]\n\n[[clients.globex.targets]]\nname = \"fw1\"\nkind = \"fortios\"\n\
        address = \"127.0.0.2\"\nlogin = \"admin\"\n";

    fn path() -> &'static Path {
        Path::new("keyreeve.toml")
    }

    fn target(name: &str) -> NewTarget {
        NewTarget {
            name: name.into(),
            kind: TargetKind::Junos,
            address: Some("127.0.0.3".into()),
            port: Some(2222),
            login: "admin".into(),
            enable: None,
            host_key: Some("SHA256:abc".into()),
            url: None,
            base_dn: None,
            comment: Some("added by a test".into()),
        }
    }

    #[test]
    fn adding_a_client_keeps_every_comment() {
        let text = add_client(FILE, path(), "initech").unwrap();
        assert!(text.starts_with(FILE.trim_end()), "{text}");
        assert!(text.trim_end().ends_with("[clients.initech]"), "{text}");
        let inv = Inventory::parse(&text, path()).unwrap();
        assert!(inv.clients["initech"].targets.is_empty());
        assert!(matches!(
            add_client(FILE, path(), "acme"),
            Err(EditError::ClientExists(_))
        ));
        assert!(matches!(
            add_client(FILE, path(), "../x"),
            Err(EditError::BadClientName(_))
        ));
        let empty = add_client("", path(), "first").unwrap();
        assert_eq!(Inventory::parse(&empty, path()).unwrap().clients.len(), 1);
    }

    #[test]
    fn a_target_goes_after_its_clients_last_target() {
        let text = add_targets(FILE, path(), "acme", &[target("edge1")]).unwrap();
        let edge = text.find("name = \"edge1\"").unwrap();
        assert!(
            edge > text.find("core-rtr1").unwrap() && edge < text.find("# Globex").unwrap(),
            "{text}"
        );
        for comment in [
            "# The MSP's inventory",
            "# the team",
            "# Acme Corp",
            "# the core router",
            "# Globex",
        ] {
            assert!(text.contains(comment), "{comment} lost: {text}");
        }
        assert!(text.contains("# added by a test\n[[clients.acme.targets]]"), "{text}");
        let inv = Inventory::parse(&text, path()).unwrap();
        let t = inv.target("acme", "edge1").unwrap();
        assert_eq!(
            (t.kind, t.port, t.host_key.as_deref()),
            (TargetKind::Junos, 2222, Some("SHA256:abc"))
        );
        assert!(matches!(
            add_targets(&text, path(), "acme", &[target("edge1")]),
            Err(EditError::TargetExists { .. })
        ));
        assert!(matches!(
            add_targets(FILE, path(), "nobody", &[target("x")]),
            Err(EditError::Inventory(InventoryError::UnknownClient(_)))
        ));
        // A client with no target yet.
        let text = add_client(FILE, path(), "initech").unwrap();
        let text = add_targets(&text, path(), "initech", &[target("a"), target("b")]).unwrap();
        let inv = Inventory::parse(&text, path()).unwrap();
        assert_eq!(inv.clients["initech"].targets.len(), 2);
    }

    #[test]
    fn removing_a_client_removes_its_targets_only() {
        let text = remove_client(FILE, path(), "acme").unwrap();
        let inv = Inventory::parse(&text, path()).unwrap();
        assert_eq!(inv.clients.keys().collect::<Vec<_>>(), ["globex"]);
        assert!(text.contains("# Globex") && text.contains("# the team"), "{text}");
        assert!(matches!(
            remove_client(FILE, path(), "nobody"),
            Err(EditError::Inventory(InventoryError::UnknownClient(_)))
        ));
    }

    #[test]
    fn an_invalid_result_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keyreeve.toml");
        std::fs::write(&file, FILE).unwrap();
        let mut bad = target("bad name");
        bad.name = "bad name".into();
        let text = add_targets(FILE, &file, "acme", &[bad]).unwrap();
        assert!(matches!(write(&file, &text), Err(EditError::Invalid(_))));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), FILE);
    }
}
