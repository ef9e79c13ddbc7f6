//! `keyreeve vault`: store, reveal, list, and forget passwords, and change who can open the vault.
//! Secrets come in on a no-echo prompt or stdin and go out only on stdout of `vault get`; every
//! reveal, change and recipient change is in the audit log before it takes effect.

use std::io::{IsTerminal, Read, Write};

use anyhow::{anyhow, bail, Context as _, Result};
use chrono::{DateTime, Utc};
use comfy_table::{presets::UTF8_BORDERS_ONLY, Table};
use serde_json::json;
use zeroize::Zeroizing;

use keyreeve::connector;
use keyreeve::inventory::Inventory;
use keyreeve::keys::{parse_recipient, KeyRing};
use keyreeve::policy::generate::generate;
use keyreeve::policy::Policy;
use keyreeve::secret::Password;
use keyreeve::vault::recipients::{change_recipients, Change};
use keyreeve::vault::{Entry, EntryState, Vault, VaultError, VaultPath};
use keyreeve::workspace::Workspace;

use super::{Global, Outcome};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Store a password: from a no-echo prompt, or from stdin when stdin is not a terminal.
    Set(SetArgs),
    /// Print a password (only it, on stdout) and record the reveal.
    Get(GetArgs),
    /// List paths and metadata, never secrets.
    List(ListArgs),
    /// Show when an entry's earlier passwords were replaced.
    History(HistoryArgs),
    /// Remove an entry (its earlier file stays in state/backups/).
    Rm(RmArgs),
    /// Show or change who can open the vault files.
    #[command(subcommand)]
    Recipients(RecipientsCommand),
    /// A pending guided rotation was made: store its new password as current (audited).
    Confirm(super::vault_guided::Args),
    /// A pending guided rotation was not made: keep the old password as current (audited).
    Reject(super::vault_guided::Args),
}

#[derive(Debug, clap::Args)]
pub struct SetArgs {
    /// CLIENT/TARGET/ACCOUNT
    pub path: String,
    /// Generate a new password, as `apply` would: the policy that applies to this account, cut to
    /// what the target can take (for a target not in keyreeve.toml: the kind-free rules only).
    #[arg(long)]
    pub generate: bool,
    /// The username (default: the existing entry's, else ACCOUNT).
    #[arg(long)]
    pub username: Option<String>,
    /// Free-text notes (not secret: shown by `vault list`).
    #[arg(long)]
    pub notes: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// CLIENT/TARGET/ACCOUNT
    pub path: String,
    /// Reveal the Nth earlier password instead (1 = the one replaced last; see `vault history`).
    #[arg(long, value_name = "N")]
    pub previous: Option<usize>,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only paths starting with this (e.g. `acme` or `acme/core-rtr1`).
    pub prefix: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// CLIENT/TARGET/ACCOUNT
    pub path: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// CLIENT/TARGET/ACCOUNT
    pub path: String,
}

#[derive(Debug, clap::Subcommand)]
pub enum RecipientsCommand {
    /// List the workspace's recipients, or everyone who can open one client's vault.
    List {
        #[arg(long)]
        client: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add a recipient and re-encrypt every vault file concerned.
    Add {
        /// age1..., or an ssh-ed25519 / ssh-rsa public key line (quoted).
        recipient: String,
        #[arg(long)]
        client: Option<String>,
    },
    /// Remove a recipient and re-encrypt every vault file concerned.
    Rm {
        recipient: String,
        #[arg(long)]
        client: Option<String>,
    },
}

/// What every vault command resolves first.
pub(crate) struct VaultContext {
    pub workspace: Workspace,
    pub inventory: Inventory,
    pub keys: KeyRing,
}

impl VaultContext {
    pub(crate) fn resolve(g: &Global) -> Result<VaultContext> {
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        let workspace = Workspace::locate(g.workspace.as_deref(), &cwd)?;
        let inventory = Inventory::load(&workspace.inventory_file())?;
        let keys = KeyRing::locate(g.identity.as_deref());
        Ok(VaultContext {
            workspace,
            inventory,
            keys,
        })
    }

    fn vault(&self) -> Vault<'_> {
        Vault::new(&self.workspace, &self.inventory, &self.keys)
    }

    /// Opens and locks the audit log before a change starts: a log that cannot be written refuses
    /// the change. [`VaultContext::commit`] appends the record as the change's last step.
    pub(crate) fn reserve_audit(&self) -> Result<keyreeve::audit_log::Pending> {
        keyreeve::audit_log::reserve(&self.workspace)
            .map_err(keyreeve::Error::from)
            .context("cannot append to the audit log, so nothing was done")
    }

    /// Appends the record of a change reserved with [`VaultContext::reserve_audit`].
    pub(crate) fn commit(
        &self,
        pending: keyreeve::audit_log::Pending,
        action: &str,
        subject: &str,
        details: serde_json::Value,
    ) -> Result<()> {
        pending
            .commit(self.keys.public_key().as_deref(), action, subject, details)
            .map(|_| ())
            .map_err(keyreeve::Error::from)
            .context("cannot append to the audit log, so nothing was done")
    }

    /// Appends to the audit log; the caller does this before its change takes effect.
    pub(crate) fn audit(&self, action: &str, subject: &str, details: serde_json::Value) -> Result<()> {
        keyreeve::audit_log::record(
            &self.workspace,
            self.keys.public_key().as_deref(),
            action,
            subject,
            details,
        )
        .map_err(keyreeve::Error::from)
        .context("cannot append to the audit log, so nothing was done")
    }
}

pub fn run(g: &Global, command: Command) -> Result<Outcome> {
    let ctx = VaultContext::resolve(g)?;
    match command {
        Command::Set(a) => set(&ctx, a),
        Command::Get(a) => get(&ctx, a),
        Command::List(a) => list(&ctx, a),
        Command::History(a) => history(&ctx, a),
        Command::Rm(a) => rm(&ctx, a),
        Command::Recipients(c) => recipients(&ctx, c),
        Command::Confirm(a) => super::vault_guided::run(g, a, true),
        Command::Reject(a) => super::vault_guided::run(g, a, false),
    }
}

/// The secret to store: a no-echo prompt (asked twice) on a terminal, else all of stdin less one
/// trailing newline.
fn read_secret(path: &VaultPath) -> Result<Password> {
    let stdin = std::io::stdin();
    let secret = if stdin.is_terminal() {
        let first = Zeroizing::new(
            rpassword::prompt_password(format!("Password for {path}: ")).context("cannot read from the terminal")?,
        );
        let again =
            Zeroizing::new(rpassword::prompt_password("Again, to confirm: ").context("cannot read from the terminal")?);
        if *first != *again {
            bail!("the two entries differ; nothing was stored");
        }
        Password::new(first.as_str())
    } else {
        let mut buf = Zeroizing::new(String::new());
        stdin
            .lock()
            .read_to_string(&mut buf)
            .context("cannot read the password from stdin (it must be UTF-8 text)")?;
        let text = buf
            .strip_suffix("\r\n")
            .or_else(|| buf.strip_suffix('\n'))
            .unwrap_or(buf.as_str());
        Password::new(text)
    };
    if secret.is_empty() {
        bail!("the password is empty; nothing was stored");
    }
    Ok(secret)
}

/// A new password made as `apply` would make it: the policy's composition for this account,
/// cut to what the target's dialect or directory can take. A target the inventory does not hold
/// gets the policy's kind-free rules and the safe symbol set alone.
fn generate_for(ctx: &VaultContext, path: &VaultPath) -> Result<Password> {
    let policy = Policy::load_dir(&ctx.workspace.policies_dir())?;
    let (composition, rules) = match ctx.inventory.target(&path.client, &path.target) {
        Ok(target) => {
            let eff = policy.effective_on(target, &path.account);
            let connect = super::context::connect_context(&ctx.workspace, policy.directory.clone(), false);
            let rules = if target.kind.is_manual() {
                // A person types it: the policy (its category's rules) says what the target takes.
                Default::default()
            } else {
                connector::for_target(target, &connect)?.password_rules(&path.account)
            };
            (eff.composition, rules)
        }
        Err(_) => {
            eprintln!(
                "note: {}/{} is not in keyreeve.toml: the password follows the policy's rules that name no \
                 target kind; add the target so that what its CLI cannot take is left out too",
                path.client, path.target
            );
            let eff = policy.effective_kindless(&path.client, &path.target, &path.account);
            (eff.composition, Default::default())
        }
    };
    generate(&composition, &rules).map_err(|e| anyhow!(e).context(format!("cannot generate a password for {path}")))
}

fn set(ctx: &VaultContext, args: SetArgs) -> Result<Outcome> {
    let path = VaultPath::parse(&args.path)?;
    if let Some(username) = &args.username {
        // Shown by list, plan and exports, and a vault document refuses it otherwise.
        keyreeve::validate::single_line("--username", username)?;
    }
    ctx.inventory
        .client(&path.client)
        .map_err(VaultError::from)
        .map_err(keyreeve::Error::from)?;
    let secret = if args.generate {
        generate_for(ctx, &path)?
    } else {
        read_secret(&path)?
    };
    let key = path.key();
    let subject = path.to_string();
    // The record is written once the new vault file is on disk and before it replaces the old
    // one: a change the log cannot hold is refused, and a refused change is not logged.
    let audit = ctx.reserve_audit()?;
    let what = ctx.vault().update_then(
        &path.client,
        |doc| -> Result<&'static str> {
            let now = Utc::now();
            let what = match doc.entries.get_mut(&key) {
                Some(e) => {
                    if e.state == EntryState::Pending {
                        return Err(VaultError::Pending(subject.clone()).into());
                    }
                    if let Some(u) = &args.username {
                        e.username = u.clone();
                    }
                    if let Some(n) = &args.notes {
                        e.notes = n.clone();
                    }
                    if e.password == secret {
                        "unchanged password"
                    } else {
                        e.replace_password(secret, now);
                        "replaced; the previous password is kept in its history"
                    }
                }
                None => {
                    let mut e = Entry::new(args.username.clone().unwrap_or_else(|| path.account.clone()), secret);
                    e.notes = args.notes.clone().unwrap_or_default();
                    doc.entries.insert(key.clone(), e);
                    "new entry"
                }
            };
            Ok(what)
        },
        |what| {
            ctx.commit(
                audit,
                "vault.set",
                &subject,
                json!({ "generated": args.generate, "result": what }),
            )
        },
    )?;
    eprintln!("stored {subject}: {what}");
    Ok(Outcome::Success)
}

fn get(ctx: &VaultContext, args: GetArgs) -> Result<Outcome> {
    let path = VaultPath::parse(&args.path)?;
    let subject = path.to_string();
    let vault = ctx.vault();
    let e = vault
        .get(&path)
        .map_err(keyreeve::Error::from)?
        .ok_or_else(|| keyreeve::Error::from(VaultError::NoEntry(subject.clone())))?;
    let secret = match args.previous {
        None | Some(0) => e.password.clone(),
        Some(n) => {
            let len = e.history.len();
            if n > len {
                bail!("{subject} has {len} earlier password(s); `keyreeve vault history {subject}` lists them");
            }
            e.history[len - n].password.clone()
        }
    };
    let pending = e.state == EntryState::Pending;
    drop(e);
    // Recorded before it is shown: a reveal the log cannot hold does not happen.
    ctx.audit("vault.get", &subject, json!({ "previous": args.previous.unwrap_or(0) }))?;
    vault.record_reveal(&path, Utc::now()).map_err(keyreeve::Error::from)?;
    if pending {
        eprintln!("warning: {subject} has a rotation in flight: the target may already hold a newer password; run `keyreeve recover`");
    }
    let mut out = std::io::stdout().lock();
    out.write_all(secret.expose().as_bytes())?;
    if out.is_terminal() {
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(Outcome::Success)
}

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "-".into())
}

fn entry_json(path: &str, e: &Entry) -> serde_json::Value {
    json!({
        "path": path,
        "username": e.username,
        "state": e.state,
        "created": e.created,
        "rotated_at": e.rotated_at,
        "verified_at": e.verified_at,
        "verify_failed_at": e.verify_failed_at,
        "revealed_at": e.revealed_at,
        "notes": e.notes,
        "history": e.history.len(),
    })
}

fn list(ctx: &VaultContext, args: ListArgs) -> Result<Outcome> {
    let vault = ctx.vault();
    let prefix = args.prefix.unwrap_or_default();
    let wanted_client = |c: &str| match prefix.split_once('/') {
        Some((client, _)) => client == c,
        None => c.starts_with(prefix.as_str()),
    };
    let mut rows: Vec<(String, Entry)> = Vec::new();
    let mut failures: Vec<VaultError> = Vec::new();
    let mut loaded = 0;
    for client in vault.clients()?.into_iter().filter(|c| wanted_client(c)) {
        match vault.load(&client) {
            Ok(doc) => {
                loaded += 1;
                for (k, e) in doc.entries {
                    let p = format!("{client}/{k}");
                    if p.starts_with(prefix.as_str()) {
                        rows.push((p, e));
                    }
                }
            }
            Err(e) => failures.push(e),
        }
    }
    // Nothing could be read: that is the error, not an empty list.
    if loaded == 0 && !failures.is_empty() {
        let last = failures.pop().expect("not empty");
        for e in &failures {
            eprintln!("error: {}", keyreeve::escape::terminal_lines(&e.to_string()));
        }
        return Err(keyreeve::Error::from(last).into());
    }
    let failed = !failures.is_empty();
    for e in &failures {
        eprintln!("error: {}", keyreeve::escape::terminal_lines(&e.to_string()));
        if let Some(h) = keyreeve::Hint::hint(e) {
            eprintln!("hint: {}", keyreeve::escape::terminal_lines(&h));
        }
    }
    if args.json {
        let all: Vec<_> = rows.iter().map(|(p, e)| entry_json(p, e)).collect();
        println!("{}", serde_json::to_string_pretty(&all)?);
    } else if rows.is_empty() && !failed {
        eprintln!(
            "no entries{}",
            if prefix.is_empty() {
                String::new()
            } else {
                format!(" under `{prefix}`")
            }
        );
    } else {
        let mut t = Table::new();
        t.load_preset(UTF8_BORDERS_ONLY).set_header([
            "PATH", "USERNAME", "STATE", "CREATED", "ROTATED", "VERIFIED", "REVEALED", "HISTORY",
        ]);
        for (p, e) in &rows {
            t.add_row([
                p.clone(),
                keyreeve::escape::terminal(&e.username).into_owned(),
                match e.state {
                    EntryState::Current => "current".into(),
                    EntryState::Pending => "PENDING".into(),
                },
                when(Some(e.created)),
                when(e.rotated_at),
                when(e.verified_at),
                when(e.revealed_at),
                e.history.len().to_string(),
            ]);
        }
        println!("{t}");
    }
    Ok(if failed { Outcome::Findings } else { Outcome::Success })
}

fn history(ctx: &VaultContext, args: HistoryArgs) -> Result<Outcome> {
    let path = VaultPath::parse(&args.path)?;
    let doc = ctx.vault().load(&path.client)?;
    let e = doc
        .entries
        .get(&path.key())
        .ok_or_else(|| VaultError::NoEntry(path.to_string()))
        .map_err(keyreeve::Error::from)?;
    let n = e.history.len();
    if args.json {
        let items: Vec<_> = e
            .history
            .iter()
            .enumerate()
            .map(|(i, h)| json!({ "previous": n - i, "replaced_at": h.replaced_at }))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "path": path.to_string(),
                "created": e.created,
                "rotated_at": e.rotated_at,
                "state": e.state,
                "history": items,
            }))?
        );
        return Ok(Outcome::Success);
    }
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY)
        .set_header(["VERSION", "IN USE UNTIL", "REVEAL WITH"]);
    t.add_row(["current".to_string(), "-".into(), format!("keyreeve vault get {path}")]);
    for (i, h) in e.history.iter().enumerate().rev() {
        let back = n - i;
        t.add_row([
            format!("previous {back}"),
            when(Some(h.replaced_at)),
            format!("keyreeve vault get {path} --previous {back}"),
        ]);
    }
    println!("{t}");
    Ok(Outcome::Success)
}

fn rm(ctx: &VaultContext, args: RmArgs) -> Result<Outcome> {
    let path = VaultPath::parse(&args.path)?;
    let key = path.key();
    let subject = path.to_string();
    let audit = ctx.reserve_audit()?;
    ctx.vault().update_then(
        &path.client,
        |doc| -> Result<()> {
            match doc.entries.get(&key) {
                None => return Err(VaultError::NoEntry(subject.clone()).into()),
                Some(e) if e.state == EntryState::Pending => return Err(VaultError::Pending(subject.clone()).into()),
                Some(_) => {}
            }
            doc.entries.remove(&key);
            Ok(())
        },
        |()| ctx.commit(audit, "vault.rm", &subject, json!({})),
    )?;
    eprintln!(
        "removed {subject} (the previous vault file is kept under state/backups/{})",
        path.client
    );
    Ok(Outcome::Success)
}

fn recipients(ctx: &VaultContext, command: RecipientsCommand) -> Result<Outcome> {
    match command {
        RecipientsCommand::List { client, json } => {
            let inv = &ctx.inventory;
            let mut rows: Vec<(String, String, String)> = Vec::new();
            if inv.passphrase {
                rows.push(("passphrase".into(), "scrypt".into(), "workspace".into()));
            }
            for r in &inv.recipients {
                rows.push((r.clone(), kind_of(r), "workspace".into()));
            }
            if let Some(c) = &client {
                let c = inv.client(c).map_err(keyreeve::Error::from)?;
                for r in &c.recipients {
                    rows.push((r.clone(), kind_of(r), format!("client {}", c.name)));
                }
            }
            if json {
                let all: Vec<_> = rows
                    .iter()
                    .map(|(r, k, s)| json!({ "recipient": r, "kind": k, "from": s }))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                let mut t = Table::new();
                t.load_preset(UTF8_BORDERS_ONLY)
                    .set_header(["RECIPIENT", "KIND", "FROM"]);
                for (r, k, s) in rows {
                    t.add_row([r, k, s]);
                }
                println!("{t}");
            }
            Ok(Outcome::Success)
        }
        RecipientsCommand::Add { recipient, client } => change(ctx, &recipient, client.as_deref(), Change::Add),
        RecipientsCommand::Rm { recipient, client } => change(ctx, &recipient, client.as_deref(), Change::Remove),
    }
}

fn kind_of(r: &str) -> String {
    parse_recipient(r)
        .map(|(k, _)| k.as_str().to_string())
        .unwrap_or_else(|_| "INVALID".into())
}

fn change(ctx: &VaultContext, recipient: &str, client: Option<&str>, how: Change) -> Result<Outcome> {
    let recipient = recipient.trim();
    let scope = client
        .map(|c| format!("client {c}"))
        .unwrap_or_else(|| "the workspace".into());
    // Checked writable before anything is re-encrypted; the record follows the change (it names the
    // files re-encrypted), under the same lock.
    let audit = ctx.reserve_audit()?;
    let done = change_recipients(&ctx.workspace, &ctx.keys, client, recipient, how).map_err(keyreeve::Error::from)?;
    if !done.changed {
        eprintln!(
            "{recipient} {} {scope}'s recipients: nothing to do",
            if how == Change::Add {
                "is already among"
            } else {
                "is not among"
            }
        );
        return Ok(Outcome::Success);
    }
    let action = if how == Change::Add {
        "vault.recipients.add"
    } else {
        "vault.recipients.rm"
    };
    let files: Vec<_> = done.reencrypted.iter().map(|(c, _)| c.clone()).collect();
    ctx.commit(
        audit,
        action,
        client.unwrap_or("*"),
        json!({ "recipient": recipient, "reencrypted": files }),
    )
    .context("the recipients were changed, but")?;
    eprintln!(
        "{} {recipient} {} {scope}; re-encrypted {} vault file(s){}",
        if how == Change::Add { "added" } else { "removed" },
        if how == Change::Add { "to" } else { "from" },
        files.len(),
        if files.is_empty() {
            String::new()
        } else {
            format!(": {}", files.join(", "))
        }
    );
    if how == Change::Remove && !done.reencrypted.is_empty() {
        let count: usize = done.reencrypted.iter().map(|(_, p)| p.len()).sum();
        eprintln!(
            "\nThe removed key has seen every password in these files ({count} entries): it can still open their \
             earlier copies (backups, git history). Rotate them:"
        );
        for (c, _) in &done.reencrypted {
            println!("keyreeve plan --all --client {c}");
        }
    }
    Ok(Outcome::Success)
}
