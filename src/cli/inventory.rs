//! `keyreeve inventory check|list`: validate keyreeve.toml beyond what parsing catches (files it
//! names, vault entries it needs), and show the targets. Also how the target-facing commands
//! choose targets from `--client` and `--target`.

use std::path::Path;

use anyhow::Result;
use comfy_table::{presets::UTF8_BORDERS_ONLY, Table};
use keyreeve::inventory::{Inventory, LoginMethod, Target};
use keyreeve::keys::KeyRing;
use keyreeve::vault::Vault;
use keyreeve::workspace::Workspace;

use super::context::{load_inventory, locate_workspace};
use super::{Global, Outcome};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Validate keyreeve.toml: syntax, kinds, names, then the files and vault entries it refers to.
    Check,
    /// List the targets.
    List {
        /// Only this client's targets.
        #[arg(long)]
        client: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(g: &Global, command: Command) -> Result<Outcome> {
    match command {
        Command::Check => check(g),
        Command::List { client, json } => list(g, client.as_deref(), json),
    }
}

/// The targets chosen by `--client` and `--target` (`TARGET` or `CLIENT/TARGET`); all without.
pub fn select<'a>(inv: &'a Inventory, client: Option<&str>, target: Option<&str>) -> Result<Vec<&'a Target>> {
    if let Some(c) = client {
        inv.client(c)?;
    }
    let (client, target) = match target.and_then(|t| t.split_once('/')) {
        Some((c, t)) => (Some(c), Some(t)),
        None => (client, target),
    };
    let chosen: Vec<&Target> = inv
        .targets()
        .filter(|t| client.is_none_or(|c| t.client == c))
        .filter(|t| target.is_none_or(|n| t.name == n))
        .collect();
    if chosen.is_empty() {
        match (client, target) {
            (Some(c), Some(t)) => {
                return Err(keyreeve::inventory::InventoryError::UnknownTarget {
                    client: c.into(),
                    target: t.into(),
                }
                .into())
            }
            (None, Some(t)) => anyhow::bail!("no target named `{t}` in the inventory (try CLIENT/TARGET)"),
            _ => {}
        }
    }
    Ok(chosen)
}

/// Exactly one target, by `TARGET` or `CLIENT/TARGET`.
pub fn one<'a>(inv: &'a Inventory, name: &str) -> Result<&'a Target> {
    let found = select(inv, None, Some(name))?;
    match found.as_slice() {
        [t] => Ok(t),
        _ => anyhow::bail!(
            "`{name}` names {} targets ({}); use CLIENT/TARGET",
            found.len(),
            found.iter().map(|t| t.path()).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn check(g: &Global) -> Result<Outcome> {
    let ws = locate_workspace(g)?;
    let file = ws.inventory_file();
    let inv = match Inventory::load(&file) {
        Ok(inv) => inv,
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(h) = keyreeve::Hint::hint(&e) {
                eprintln!("hint: {h}");
            }
            return Ok(Outcome::Findings);
        }
    };
    let keys = KeyRing::locate(g.identity.as_deref());
    let vault = Vault::new(&ws, &inv, &keys);
    let findings = extra_checks(&ws, &inv, &vault, &file);
    let mut errors = 0;
    for f in &findings {
        match f {
            Finding::Error(m) => {
                errors += 1;
                println!("error: {m}");
            }
            Finding::Warning(m) => println!("warning: {m}"),
        }
    }
    let targets = inv.targets().count();
    if errors == 0 {
        println!(
            "{}: OK ({} clients, {targets} targets{})",
            file.display(),
            inv.clients.len(),
            if findings.is_empty() {
                String::new()
            } else {
                format!(", {} warnings", findings.len())
            }
        );
        Ok(Outcome::Success)
    } else {
        println!("{}: {errors} errors", file.display());
        Ok(Outcome::Findings)
    }
}

enum Finding {
    Error(String),
    Warning(String),
}

fn extra_checks(ws: &Workspace, inv: &Inventory, vault: &Vault<'_>, file: &Path) -> Vec<Finding> {
    let mut out = Vec::new();
    let at = |t: &Target| format!("{}:{}: {}", file.display(), t.line, t.path());
    for (client, c) in &inv.clients {
        let doc = match vault.load(client) {
            Ok(doc) => Some(doc),
            Err(e) => {
                out.push(Finding::Warning(format!(
                    "client `{client}`: vault not readable, its entries were not checked ({e})"
                )));
                None
            }
        };
        for t in &c.targets {
            if let Some(ca) = &t.ca_file {
                let path = if ca.is_absolute() {
                    ca.clone()
                } else {
                    ws.root().join(ca)
                };
                if !path.is_file() {
                    out.push(Finding::Error(format!(
                        "{}: ca_file {} does not exist",
                        at(t),
                        path.display()
                    )));
                }
            }
            if t.kind.is_directory() {
                if t.login_method == LoginMethod::PrivateKey {
                    out.push(Finding::Error(format!(
                        "{}: login_method = \"private-key\" is for SSH targets only",
                        at(t)
                    )));
                }
                if t.url.as_deref().is_some_and(|u| u.starts_with("ldap://")) {
                    out.push(Finding::Warning(format!(
                        "{}: ldap:// is used only with StartTLS and a verified certificate",
                        at(t)
                    )));
                }
            } else if t.host_key.is_none() && !t.kind.is_manual() {
                let pattern = keyreeve::connector::ssh::hostkeys::host_pattern(&t.address, t.port);
                let known = keyreeve::connector::ssh::hostkeys::read_known_hosts(&ws.known_hosts_file())
                    .map(|k| k.iter().any(|e| e.hosts.split(',').any(|h| h == pattern)))
                    .unwrap_or(false);
                if !known {
                    out.push(Finding::Warning(format!(
                        "{}: no host_key pinned and none known yet (`keyreeve hostkeys accept {}`)",
                        at(t),
                        t.path()
                    )));
                }
            }
            if let Some(doc) = &doc {
                // A guided target is never logged in to: it has no login account to hold.
                let mut needed = if t.kind.is_manual() {
                    Vec::new()
                } else {
                    vec![("login", t.login.as_str())]
                };
                if let Some(e) = &t.enable {
                    needed.push(("enable", e.as_str()));
                }
                for (what, account) in needed {
                    if !doc.entries.contains_key(&format!("{}/{account}", t.name)) {
                        out.push(Finding::Error(format!(
                            "{}: the vault has no entry {} for the {what} account",
                            at(t),
                            t.account_path(account)
                        )));
                    }
                }
            }
        }
    }
    out
}

fn list(g: &Global, client: Option<&str>, json: bool) -> Result<Outcome> {
    let (_ws, inv) = load_inventory(g)?;
    let targets = select(&inv, client, None)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&targets)?);
        return Ok(Outcome::Success);
    }
    let mut table = Table::new();
    table.load_preset(UTF8_BORDERS_ONLY).set_header([
        "client", "target", "kind", "address", "login", "enable", "host key", "tags",
    ]);
    for t in targets {
        let address = match &t.url {
            Some(u) => u.clone(),
            None if t.kind.is_manual() => t.location(),
            None => format!("{}:{}", t.address, t.port),
        };
        let login = match (t.category(), t.login_method) {
            (Some(category), _) => format!("- ({category}, by hand)"),
            (None, LoginMethod::Password) => t.login.clone(),
            (None, LoginMethod::PrivateKey) => format!("{} (key)", t.login),
        };
        table.add_row([
            t.client.clone(),
            t.name.clone(),
            t.kind.to_string(),
            address,
            login,
            t.enable.clone().unwrap_or_default(),
            match (&t.host_key, t.kind.is_directory() || t.kind.is_manual()) {
                (_, true) => "-".into(),
                (Some(_), _) => "pinned".into(),
                (None, _) => "known_hosts".into(),
            },
            t.tags.join(","),
        ]);
    }
    println!("{table}");
    Ok(Outcome::Success)
}
