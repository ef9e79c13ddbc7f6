//! `keyreeve recover`: settles the rotations an interrupted apply left in the journal, so that the
//! vault again holds the one password that works for each account; `--list` shows the records and
//! `--abandon` gives one up that can never settle (its passwords stay in the vault entry).

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Result};

use keyreeve::rotation::apply::{Engine, Outcome as Result_};
use keyreeve::rotation::recover::ToAbandon;

use super::context::{factory, Context};
use super::{Global, Outcome};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
    /// Targets settled at once (records of one target always go one at a time).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// List the journal's records (id, account, start) instead of settling them.
    #[arg(long, conflicts_with = "abandon")]
    pub list: bool,
    /// Give up settling this record (its file or id): its passwords are kept in the vault entry's
    /// history, the record is removed, and both are audited.
    #[arg(long, value_name = "FILE_OR_ID")]
    pub abandon: Option<String>,
    /// Where guided rotations may show their passwords to ask which one is in force when no
    /// terminal is attached: a new file (mode 0600) or `-` for stdout; answers from stdin.
    #[arg(long, value_name = "FILE|-")]
    pub show_password_to: Option<std::path::PathBuf>,
    /// Do not ask for confirmation (with --abandon).
    #[arg(long, requires = "abandon")]
    pub yes: bool,
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let ctx = Context::load(g)?;
    let connect = ctx.connect_context(false);
    let engine = Engine {
        workspace: &ctx.workspace,
        inventory: &ctx.inventory,
        keys: &ctx.keys,
        policy: &ctx.policy,
        connect: &connect,
        actor: ctx.actor(),
    };
    if args.list {
        return list(&engine, args.json);
    }
    if let Some(wanted) = &args.abandon {
        return abandon(&engine, wanted, args.yes, args.json);
    }
    // Without a terminal (or --show-password-to), guided rotations stay pending, both passwords kept.
    let guide = super::guide::TerminalGuide::open(args.show_password_to.as_deref());
    let guide = match (guide, &args.show_password_to) {
        (Ok(g), _) => Some(g),
        (Err(e), Some(_)) => return Err(e),
        (Err(_), None) => None,
    };
    let guide_ref = guide.as_ref().map(|g| g as &dyn keyreeve::rotation::guided::Guide);
    let results = engine.recover_guided_too(args.concurrency, &factory(&connect), guide_ref)?;
    let unsettled = results.iter().any(|r| {
        matches!(
            r.outcome,
            Result_::Failed {
                needs_recover: true,
                ..
            }
        )
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else if results.is_empty() {
        println!("Nothing to recover: the journal is empty.");
    } else {
        println!("Settled {} interrupted rotation(s):", results.len());
        for r in &results {
            let what = match &r.outcome {
                Result_::Rotated => "the new password is in force and stored".to_string(),
                Result_::RotatedNeedsAction { warning } => format!("stored, NEEDS ACTION: {warning}"),
                Result_::Failed {
                    cause,
                    needs_recover: false,
                } => cause.clone(),
                Result_::Failed {
                    cause,
                    needs_recover: true,
                } => format!("NOT SETTLED: {cause}"),
                Result_::Skipped { reason } => reason.clone(),
            };
            // Causes quote the target's own words: shown escaped.
            println!("  {}: {}", r.path, keyreeve::escape::terminal_lines(&what));
        }
    }
    let conflicts_left = settle_merge_conflicts(&ctx, &engine, args.concurrency, &connect, args.json)?;
    Ok(if unsettled || conflicts_left {
        Outcome::Findings
    } else {
        Outcome::Success
    })
}

/// Entries a merge of two clones left with several candidate passwords (see `keyreeve sync`)
/// are settled the way `verify` settles them: a fresh login with each candidate. True if some
/// are left.
fn settle_merge_conflicts(
    ctx: &Context,
    engine: &Engine<'_>,
    concurrency: usize,
    connect: &keyreeve::connector::ConnectContext,
    json: bool,
) -> Result<bool> {
    let vault = keyreeve::vault::Vault::new(&ctx.workspace, &ctx.inventory, &ctx.keys);
    let mut left = false;
    for client in vault.clients()? {
        let doc = vault.load(&client)?;
        if !doc.entries.values().any(keyreeve::vault::merge::is_merge_conflict) {
            continue;
        }
        let results = engine.verify_all(Some(&client), concurrency, &factory(connect))?;
        let after = vault.load(&client)?;
        for (key, entry) in &doc.entries {
            if !keyreeve::vault::merge::is_merge_conflict(entry) {
                continue;
            }
            let still = after
                .entries
                .get(key)
                .is_some_and(keyreeve::vault::merge::is_merge_conflict);
            left |= still;
            if !json {
                let path = format!("{client}/{key}");
                let status = results
                    .iter()
                    .find(|r| r.path == path)
                    .map(|r| r.status.audit_category());
                match still {
                    false => println!("  {path}: merge conflict settled: the candidate in force is kept"),
                    true => println!(
                        "  {path}: merge conflict NOT settled ({}): every candidate stays in the vault",
                        status.unwrap_or("not verified")
                    ),
                }
            }
        }
    }
    Ok(left)
}

fn list(engine: &Engine<'_>, json: bool) -> Result<Outcome> {
    let records = engine.list_records()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&records)?);
    } else if records.is_empty() {
        println!("The journal is empty.");
    } else {
        for r in &records {
            let what = match (&r.path, &r.problem) {
                (Some(path), _) => path.clone(),
                (None, Some(problem)) => format!("unreadable: {problem}"),
                (None, None) => "unreadable".into(),
            };
            let when = r
                .started_at
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default();
            let live = if r.live { "  (apply still running)" } else { "" };
            println!("{}  {what}  {when}{live}", r.id);
        }
    }
    Ok(Outcome::Success)
}

fn abandon(engine: &Engine<'_>, wanted: &str, yes: bool, json: bool) -> Result<Outcome> {
    let (file, what) = engine.record_to_abandon(wanted)?;
    if !yes {
        if !std::io::stdin().is_terminal() {
            bail!("abandoning a record needs confirmation: run it on a terminal, or pass --yes");
        }
        match &what {
            ToAbandon::Record(record) => println!(
                "Abandon the rotation of {} started {} ({})?\nIts old and new passwords are kept in the vault entry's history; the record is removed.",
                record.path(),
                record.started_at.format("%Y-%m-%d %H:%M UTC"),
                file.display()
            ),
            ToAbandon::SetAside { detail } => println!(
                "Abandon the record {} ({detail})?\nIt is moved, whole, to state/journal/abandoned/ for decryption by hand.",
                file.display()
            ),
        }
        print!("Type `yes` to go on: ");
        std::io::stdout().flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        if line.trim() != "yes" {
            println!("Nothing changed.");
            return Ok(Outcome::Success);
        }
    }
    drop(what);
    let done = engine.abandon(wanted)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&done)?);
    } else if let Some(kept) = &done.set_aside {
        println!(
            "Abandoned the record {}: moved, whole, to {}.",
            done.path,
            kept.display()
        );
    } else {
        let recreated = if done.entry_recreated {
            " (its vault entry was gone and was made again to hold them)"
        } else {
            ""
        };
        println!(
            "Abandoned {}: {} password(s) kept in the vault entry's history{recreated}; the record is removed.",
            done.path, done.kept_in_history
        );
    }
    Ok(Outcome::Success)
}
