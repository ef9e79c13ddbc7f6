//! `keyreeve init [DIR]`: a new workspace — keyreeve.toml as a commented template with the
//! recipients filled in, the shipped policies, and the vaults/ and state/ folders — ready to be
//! kept in git, since nothing in it is secret and unencrypted.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};

use keyreeve::inventory::Inventory;
use keyreeve::keys::{parse_recipient, same_recipient, KeyRing};
use keyreeve::workspace::{Workspace, INVENTORY_FILE};

use super::{Global, Outcome};

/// The policies shipped with keyreeve, written into every new workspace.
const SHIPPED_POLICIES: &[(&str, &str)] = &[("default.toml", include_str!("../../policies/default.toml"))];

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The directory to create the workspace in (default: the current directory).
    pub dir: Option<PathBuf>,
    /// A recipient of every vault file: an age X25519 key (age1...), or an ssh-ed25519 / ssh-rsa
    /// public key line. Repeat for more.
    #[arg(long = "recipient", short = 'r', value_name = "RECIPIENT")]
    pub recipients: Vec<String>,
    /// A file of recipients, one a line (`#` comments), as `age -R` reads.
    #[arg(long = "recipients-file", short = 'R', value_name = "FILE")]
    pub recipients_file: Vec<PathBuf>,
    /// Encrypt every vault file to a passphrase (scrypt) instead of recipients.
    #[arg(long, conflicts_with_all = ["recipients", "recipients_file"])]
    pub passphrase: bool,
    /// Write vault files ASCII-armored instead of binary age.
    #[arg(long)]
    pub armor: bool,
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let ws = Workspace::at_unchecked(&dir);
    if ws.inventory_file().exists() {
        return Err(keyreeve::workspace::WorkspaceError::AlreadyExists(dir).into());
    }

    let mut recipients: Vec<String> = Vec::new();
    for r in &args.recipients {
        push_recipient(&mut recipients, r)?;
    }
    for f in &args.recipients_file {
        let file = std::fs::File::open(f).with_context(|| format!("cannot read recipients file {}", f.display()))?;
        for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.with_context(|| format!("cannot read recipients file {}", f.display()))?;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            push_recipient(&mut recipients, line).with_context(|| format!("{}:{}", f.display(), n + 1))?;
        }
    }
    if recipients.is_empty() && !args.passphrase {
        // The technician's own key, if they already have one.
        match KeyRing::locate(g.identity.as_deref()).public_key() {
            Some(own) => {
                eprintln!("no recipient given: using your identity's public key {own}");
                recipients.push(own);
            }
            None => bail!(
                "give the vault's recipients with --recipient KEY or --recipients-file FILE, or use --passphrase \
                 (create your own key first with `keyreeve identity new`)"
            ),
        }
    }

    let text = template(&recipients, args.passphrase, args.armor);
    // The template must be a valid inventory: checked before anything is written.
    Inventory::parse(&text, &ws.inventory_file()).map_err(|e| anyhow!("internal: the inventory template: {e}"))?;
    ws.create_layout()?;
    for (name, body) in SHIPPED_POLICIES {
        let path = ws.policies_dir().join(name);
        if path.symlink_metadata().is_err() {
            keyreeve::vault::store::write_atomic(ws.root(), &path, 0o644, |w| w.write_all(body.as_bytes()))
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    // Locks and temporaries are per machine, the device lab's host keys are not encrypted;
    // everything else in state/ is encrypted or public.
    for name in ["locks/", ".*.tmp", super::lab::LAB_HOST_KEYS] {
        ws.keep_out_of_git(name)?;
    }
    keyreeve::vault::store::write_atomic(ws.root(), &ws.inventory_file(), 0o644, |w| w.write_all(text.as_bytes()))
        .with_context(|| format!("cannot write {}", ws.inventory_file().display()))?;

    eprintln!("created a keyreeve workspace in {}", dir.display());
    // A team shares it over git: a repository with keyreeve's merge driver from the start.
    match super::team::setup_workspace(&ws, g) {
        Ok(_) => eprintln!("it is a git repository with keyreeve's merge driver; `keyreeve sync` shares it"),
        Err(e) => eprintln!("warning: not set up for git ({e:#}); run `keyreeve team setup` later"),
    }
    if args.passphrase {
        eprintln!("vault files will be encrypted to a passphrase, asked when a vault is first written");
    } else {
        eprintln!("vault files will be encrypted to {} recipient(s)", recipients.len());
    }
    eprintln!("next: add your clients to {INVENTORY_FILE}, then `keyreeve vault set CLIENT/TARGET/ACCOUNT`");
    Ok(Outcome::Success)
}

fn push_recipient(all: &mut Vec<String>, r: &str) -> Result<()> {
    let r = r.trim();
    parse_recipient(r)?;
    if r.contains(['"', '\\', '\n']) {
        bail!("recipient `{r}` holds a quote, backslash or newline");
    }
    if !all.iter().any(|a| same_recipient(a, r)) {
        all.push(r.to_string());
    }
    Ok(())
}

fn template(recipients: &[String], passphrase: bool, armor: bool) -> String {
    let list = if recipients.is_empty() {
        "recipients = []\n".to_string()
    } else {
        let mut s = "recipients = [\n".to_string();
        for r in recipients {
            s.push_str(&format!("    \"{r}\",\n"));
        }
        s.push_str("]\n");
        s
    };
    format!(
        r#"# keyreeve workspace: the inventory of clients, their targets and who can open their vaults.
#
# Nothing secret lives in this file: passwords are in vaults/CLIENT.age (age-encrypted, one file per
# client), addressed CLIENT/TARGET/ACCOUNT. Errors name this file and the line. Keep the whole
# workspace in git; state/locks/ is ignored.

[workspace]
# Recipients of every client's vault file: age X25519 keys (age1...) or ssh-ed25519 / ssh-rsa public
# keys. Change them with `keyreeve vault recipients add|rm`, which re-encrypts every vault file.
{list}# Encrypt every vault file to a passphrase (scrypt) instead of recipients. keyreeve asks for it on
# the terminal, or reads it from the file named by KEYREEVE_PASSPHRASE_FILE.
passphrase = {passphrase}
# Write vault files ASCII-armored (-----BEGIN AGE ENCRYPTED FILE-----) instead of binary.
armor = {armor}

# One [clients.NAME] table per client; NAME is the first part of every vault path.
#
# [clients.acme]
# # Extra recipients of this client's vault file only, e.g. the client's IT lead, so the client can
# # always open its own vault and no other.
# recipients = ["age1..."]
#
# # One [[clients.NAME.targets]] entry per device, host or directory.
# [[clients.acme.targets]]
# name = "core-rtr1"                 # the second part of the vault path
# kind = "cisco-ios"                 # linux, cisco-ios, cisco-nxos, cisco-asa, junos, arista-eos,
#                                    # routeros, fortios, vyos, active-directory, ldap
#                                    # (Ubiquiti EdgeOS: vyos, or its alias edgeos)
#                                    # aruba-aoscx, aruba-aoss (alias procurve), esxi, synology-dsm
# address = "192.0.2.1"
# port = 22
# login = "admin"                    # the account keyreeve logs in as: vault entry acme/core-rtr1/admin
# enable = "enable"                  # vault account holding the enable secret, if the device has one
# host_key = "SHA256:..."            # pinned SSH host key fingerprint (or accept it with `keyreeve hostkeys`)
# tags = ["core"]
#
# [[clients.acme.targets]]
# name = "dc1"
# kind = "active-directory"
# url = "ldaps://dc1.acme.example:636"
# base_dn = "DC=acme,DC=example"
# login = "svc-keyreeve"
# ca_file = "certs/acme-ca.pem"      # relative to the workspace
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_a_valid_inventory_with_the_recipients() {
        let r = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p".to_string();
        let text = template(std::slice::from_ref(&r), false, true);
        let inv = Inventory::parse(&text, std::path::Path::new("keyreeve.toml")).unwrap();
        assert_eq!(inv.recipients, vec![r]);
        assert!(inv.armor && !inv.passphrase && inv.clients.is_empty());
        let inv = Inventory::parse(&template(&[], true, false), std::path::Path::new("k")).unwrap();
        assert!(inv.passphrase && inv.recipients.is_empty());
    }

    #[test]
    fn the_commented_example_client_is_valid_once_uncommented() {
        let text = template(&[], true, false);
        let start = text.find("# [clients.acme]").unwrap();
        let uncommented: String = text[start..]
            .lines()
            .map(|l| l.strip_prefix("# ").or(l.strip_prefix('#')).unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        let inv = Inventory::parse(&uncommented, std::path::Path::new("k")).unwrap();
        assert_eq!(inv.client("acme").unwrap().targets.len(), 2);
    }
}
