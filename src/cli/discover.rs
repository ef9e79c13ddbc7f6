//! `keyreeve discover`: log in to each target with the vault's credentials (through the connector
//! trait only, so devices, Linux hosts and directories alike), list its accounts, save a snapshot
//! per target, and show which accounts the vault knows and, with `--verify`, whether their stored
//! passwords work. One failed target never stops the others; the exit code says if any failed or
//! if a device has admin accounts the vault does not know.

use std::sync::Arc;

use anyhow::{Context, Result};
use comfy_table::{presets::UTF8_BORDERS_ONLY, Table};
use keyreeve::discovery;
use keyreeve::inventory::Target;
use keyreeve::review::snapshot::{Snapshot, SnapshotStore};
use keyreeve::vault::Vault;

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

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let ws = Workspace::load(g)?;
    let targets: Vec<Target> = select(&ws.inventory, args.client.as_deref(), args.target.as_deref())?
        .into_iter()
        .cloned()
        .collect();
    let docs = discovery::load_vaults(&Vault::new(&ws.workspace, &ws.inventory, &ws.keys), &targets);
    let ctx = Arc::new(ws.connect_context(args.accept_new_host_keys));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let options = discovery::Options {
        verify: args.verify,
        concurrency: args.concurrency,
        not_again: Default::default(),
    };
    let mut reports = rt.block_on(discovery::discover(&targets, &docs, ctx, Arc::new(options)));
    discovery::save(
        &SnapshotStore::new(ws.workspace.snapshots_dir()),
        &targets,
        &mut reports,
    );
    let verify = args.verify;

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

/// Account names, privileges and errors are the targets' own text: shown escaped.
fn print_human(reports: &[Snapshot]) {
    use keyreeve::escape::{terminal as shown, terminal_lines as shown_lines};
    for r in reports {
        if let Some(e) = &r.error {
            eprintln!("error: {}", shown_lines(e));
            if let Some(h) = &r.hint {
                eprintln!("hint: {}", shown_lines(h));
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
                shown(&a.account.name).into_owned(),
                kind,
                shown(&a.account.privilege).into_owned(),
                if a.account.admin { "yes" } else { "no" }.to_string(),
                if a.account.enabled { "yes" } else { "no" }.to_string(),
                a.in_vault.as_str().to_string(),
            ];
            if verify {
                row.push(a.verified.as_deref().map_or("-".into(), |v| shown(v).into_owned()));
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
                println!("  {}: hint: {}", shown(&a.account.name), shown_lines(h));
            }
        }
    }
}
