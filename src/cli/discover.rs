//! `keyreeve discover`: log in to each target with the vault's credentials (through the connector
//! trait only, so devices, Linux hosts and directories alike), list its accounts, save a snapshot
//! per target, and show which accounts the vault knows and, with `--verify`, whether their stored
//! passwords work. One failed target never stops the others; the exit code says if any failed or
//! if a device has admin accounts the vault does not know.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::Utc;
use comfy_table::{presets::UTF8_BORDERS_ONLY, Table};
use keyreeve::connector::{self, ConnectContext, Credentials, Verification};
use keyreeve::inventory::{LoginMethod, Target};
use keyreeve::review::snapshot::{AccountRecord, InVault, Snapshot, SnapshotStore};
use keyreeve::vault::{Vault, VaultDocument};
use keyreeve::{Hint, Password};
use tokio::sync::Semaphore;

use super::context::Context as Workspace;
use super::inventory::select;
use super::{Global, Outcome};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this client's targets.
    #[arg(long)]
    pub client: Option<String>,
    /// Only this target (`TARGET` or `CLIENT/TARGET`).
    #[arg(long)]
    pub target: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Also log in with each stored password (a fresh login per account) to see if it works.
    #[arg(long)]
    pub verify: bool,
    /// Targets at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Record the host key of a target seen for the first time in the workspace's known_hosts
    /// (a changed key is always refused).
    #[arg(long)]
    pub accept_new_host_keys: bool,
}

/// What the vault gives one target's discovery: credentials, and the stored passwords by account.
struct VaultView {
    /// The login credentials, or what is missing and the hint.
    credentials: Result<Credentials, (String, String)>,
    /// None when the vault could not be read.
    stored: Option<BTreeMap<String, Password>>,
}

fn vault_view(target: &Target, doc: &Result<VaultDocument, String>) -> VaultView {
    let doc = match doc {
        Ok(d) => d,
        Err(e) => {
            return VaultView {
                credentials: Err((
                    format!("{}: cannot read the vault: {e}", target.path()),
                    "check the identity (--identity) can open this client's vault".into(),
                )),
                stored: None,
            }
        }
    };
    let prefix = format!("{}/", target.name);
    let stored: BTreeMap<String, Password> = doc
        .entries
        .iter()
        .filter_map(|(k, e)| k.strip_prefix(&prefix).map(|a| (a.to_string(), e.password.clone())))
        .collect();
    let credentials = match stored.get(&target.login) {
        Some(secret) => Ok(Credentials {
            username: target.login.clone(),
            method: target.login_method,
            secret: secret.clone(),
            enable: target.enable.as_ref().and_then(|e| stored.get(e).cloned()),
        }),
        None => Err((
            format!(
                "{}: the vault has no entry {} for the login account",
                target.path(),
                target.account_path(&target.login)
            ),
            format!(
                "store it with `keyreeve vault set {}`",
                target.account_path(&target.login)
            ),
        )),
    };
    VaultView {
        credentials,
        stored: Some(stored),
    }
}

/// Discovers one target (blocking: runs on tokio's blocking pool).
fn discover_one(target: &Target, ctx: &ConnectContext, view: VaultView, verify: bool) -> Snapshot {
    let mut report = Snapshot {
        target: target.path(),
        kind: target.kind.to_string(),
        taken_at: Utc::now(),
        error: None,
        hint: None,
        accounts: Vec::new(),
        snapshot: None,
    };
    let fail = |mut r: Snapshot, e: keyreeve::connector::ConnectorError| {
        r.error = Some(e.to_string());
        r.hint = e.hint();
        r
    };
    let login = match view.credentials {
        Ok(c) => c,
        Err((error, hint)) => {
            report.error = Some(error);
            report.hint = Some(hint);
            return report;
        }
    };
    let conn = match connector::for_target(target, ctx) {
        Ok(c) => c,
        Err(e) => return fail(report, e),
    };
    let accounts = match conn.list_accounts(&login) {
        Ok(a) => a,
        Err(e) => return fail(report, e),
    };
    let device = !target.kind.is_directory();
    for account in accounts {
        let stored = view.stored.as_ref().map(|s| s.get(&account.name));
        let in_vault = match stored {
            None => InVault::Unknown,
            Some(Some(_)) => InVault::Yes,
            Some(None) => InVault::No,
        };
        // The login's entry holds a private key, not a password: its login already proved it.
        let key_entry = account.name == target.login && target.login_method == LoginMethod::PrivateKey;
        let (verified, verify_hint) = match (verify && !key_entry, stored) {
            (true, Some(Some(pw))) => match conn.verify_login(&login, &account.name, pw) {
                Ok(Verification::Accepted) => (Some("accepted".to_string()), None),
                Ok(Verification::Rejected) => (Some("rejected".to_string()), None),
                Err(e) => (Some(format!("error: {e}")), e.hint()),
            },
            _ => (None, None),
        };
        let flagged = device && in_vault == InVault::No;
        report.accounts.push(AccountRecord {
            account,
            in_vault,
            verified,
            verify_hint,
            flagged,
        });
    }
    report
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let ws = Workspace::load(g)?;
    let targets: Vec<Target> = select(&ws.inventory, args.client.as_deref(), args.target.as_deref())?
        .into_iter()
        .cloned()
        .collect();
    let vault = Vault::new(&ws.workspace, &ws.inventory, &ws.keys);
    let mut docs: BTreeMap<String, Result<VaultDocument, String>> = BTreeMap::new();
    for t in &targets {
        docs.entry(t.client.clone())
            .or_insert_with(|| vault.load(&t.client).map_err(|e| e.to_string()));
    }
    let ctx = Arc::new(ws.connect_context(args.accept_new_host_keys));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let limit = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let verify = args.verify;
    let mut reports: Vec<Snapshot> = rt.block_on(async {
        let mut tasks = Vec::new();
        for t in &targets {
            let view = vault_view(t, &docs[&t.client]);
            let (t, ctx, limit) = (t.clone(), ctx.clone(), limit.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = limit.acquire_owned().await;
                let name = t.path();
                let kind = t.kind.to_string();
                tokio::task::spawn_blocking(move || discover_one(&t, &ctx, view, verify))
                    .await
                    .unwrap_or_else(|e| Snapshot {
                        target: name,
                        kind,
                        taken_at: Utc::now(),
                        error: Some(format!("discovery crashed: {e}")),
                        hint: None,
                        accounts: Vec::new(),
                        snapshot: None,
                    })
            }));
        }
        let mut out = Vec::new();
        for task in tasks {
            if let Ok(r) = task.await {
                out.push(r);
            }
        }
        out
    });
    let store = SnapshotStore::new(ws.workspace.snapshots_dir());
    for (t, r) in targets.iter().zip(reports.iter_mut()) {
        if !r.failed() {
            if let Err(e) = store.save(&t.client, &t.name, r) {
                r.error = Some(format!(
                    "{}: accounts listed but the snapshot was not saved: {e}",
                    r.target
                ));
                r.hint = keyreeve::Hint::hint(&e);
            }
        }
    }

    let failed = reports.iter().filter(|r| r.failed()).count();
    let unknown_admins: usize = reports.iter().map(|r| r.unknown_admins().count()).sum();
    let rejected = reports
        .iter()
        .flat_map(|r| &r.accounts)
        .filter(|a| a.verified.as_deref().is_some_and(|v| v != "accepted"))
        .count();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        print_human(&reports);
        println!(
            "{} targets: {} ok, {failed} failed; {unknown_admins} admin accounts not in the vault{}",
            reports.len(),
            reports.len() - failed,
            if verify {
                format!("; {rejected} stored passwords not accepted")
            } else {
                String::new()
            }
        );
    }
    Ok(if failed > 0 || unknown_admins > 0 || rejected > 0 {
        Outcome::Findings
    } else {
        Outcome::Success
    })
}

fn print_human(reports: &[Snapshot]) {
    for r in reports {
        if let Some(e) = &r.error {
            eprintln!("error: {e}");
            if let Some(h) = &r.hint {
                eprintln!("hint: {h}");
            }
            continue;
        }
        println!("{} ({})", r.target, r.kind);
        let mut table = Table::new();
        let verify = r.accounts.iter().any(|a| a.verified.is_some());
        let mut header = vec!["account", "kind", "privilege", "admin", "enabled", "in vault"];
        if verify {
            header.push("password works");
        }
        header.push("");
        table.load_preset(UTF8_BORDERS_ONLY).set_header(header);
        for a in &r.accounts {
            let kind = serde_json::to_value(a.account.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let mut row = vec![
                a.account.name.clone(),
                kind,
                a.account.privilege.clone(),
                if a.account.admin { "yes" } else { "no" }.to_string(),
                if a.account.enabled { "yes" } else { "no" }.to_string(),
                match a.in_vault {
                    InVault::Yes => "yes",
                    InVault::No => "no",
                    InVault::Unknown => "unknown",
                }
                .to_string(),
            ];
            if verify {
                row.push(a.verified.clone().unwrap_or_else(|| "-".into()));
            }
            row.push(match (a.flagged, a.account.admin) {
                (true, true) => "UNKNOWN ADMIN".into(),
                (true, false) => "not in vault".into(),
                _ => String::new(),
            });
            table.add_row(row);
        }
        println!("{table}");
        for a in &r.accounts {
            if let Some(h) = &a.verify_hint {
                println!("  {}: hint: {h}", a.account.name);
            }
        }
    }
}
