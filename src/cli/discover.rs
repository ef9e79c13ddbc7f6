//! `keyreeve discover`: log in to each target with the vault's credentials (through the connector
//! trait only, so devices, Linux hosts and directories alike), list its accounts, save a snapshot
//! per target, and show which accounts the vault knows and, with `--verify`, whether their stored
//! passwords work. One failed target never stops the others; the exit code says if any failed or
//! if a device has admin accounts the vault does not know. On a terminal a progress bar counts
//! the targets done (hundreds of them take a while); in a pipe or a log, nothing is drawn.

use std::io::IsTerminal;
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
    /// Targets at once (1 to 1024).
    #[arg(long, default_value_t = 16, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
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
        // Guided targets have nothing to log in to: `keyreeve status` tracks them.
        .filter(|t| !t.kind.is_manual())
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
    let bar = progress_bar(targets.len());
    let progress: discovery::Progress = {
        let bar = bar.clone();
        Arc::new(move |snapshot: &Snapshot| {
            if let Some(bar) = &bar {
                bar.set_message(snapshot.target.clone());
                bar.inc(1);
            }
        })
    };
    let mut reports = rt.block_on(discovery::discover_with_progress(
        &targets,
        &docs,
        ctx,
        Arc::new(options),
        progress,
    ));
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    discovery::save(&SnapshotStore::of_workspace(&ws.workspace), &targets, &mut reports);
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
        // Device admins missing from the vault are flagged (and set the exit code); a directory's
        // admins are the client's people, most with no vault entry by design: counted apart, so
        // that "0 not in the vault" is never said while directory admins are not in it.
        let directory_admins: Vec<_> = reports
            .iter()
            .filter(|r| r.domain.is_some() || r.kind == "ldap" || r.kind == "active-directory")
            .flat_map(|r| &r.accounts)
            .filter(|a| a.account.admin)
            .collect();
        let directory = if directory_admins.is_empty() {
            String::new()
        } else {
            format!(
                "; {} directory admin accounts, {} of them not in the vault (see `keyreeve review`)",
                directory_admins.len(),
                directory_admins
                    .iter()
                    .filter(|a| a.in_vault != keyreeve::review::snapshot::InVault::Yes)
                    .count()
            )
        };
        println!(
            "{} targets: {} ok, {failed} failed; {unknown_admins} device admin accounts not in the vault{directory}{}",
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

/// A bar over `targets` on stderr when it is a terminal; none otherwise, so that logs and pipes
/// get no control codes.
fn progress_bar(targets: usize) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(targets as u64);
    let style = indicatif::ProgressStyle::with_template("discover {bar:30} {pos}/{len} targets  {elapsed}  {wide_msg}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.tick();
    Some(bar)
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
        for a in r.accounts.iter().filter(|a| !a.account.details.contains_key("laps")) {
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
        if let Some(line) = super::laps::discover_summary(&r.accounts) {
            println!("{line}");
        }
        for a in &r.accounts {
            if let Some(h) = &a.verify_hint {
                println!("  {}: hint: {}", shown(&a.account.name), shown_lines(h));
            }
        }
    }
}
