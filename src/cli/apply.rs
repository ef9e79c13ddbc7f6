//! `keyreeve apply PLAN`: confirms, then rotates every account of a reviewed plan through the
//! journalled engine, with a progress bar per target and a summary of rotated, failed and
//! skipped accounts. Exit 1 if any account failed. The plan file is only a selection: every item
//! is made again from the inventory, policy and vault, and a file that differs is refused.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{bail, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use keyreeve::rotation::apply::{AccountResult, Engine, Observer, Outcome as Result_};
use keyreeve::rotation::guided::Guide;
use keyreeve::rotation::plan::Plan;
use keyreeve::rotation::plan_check::check_plan;

use super::context::{factory, Context};
use super::plan::{inputs, load_vaults, print_plan};
use super::{Global, Outcome};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The plan file written by `keyreeve plan -o`.
    pub plan: PathBuf,
    /// Targets rotated at once (accounts of one target always go one at a time).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
    /// Leave the guided steps (manual targets) for a later apply.
    #[arg(long)]
    pub skip_manual: bool,
    /// Where guided steps may show new passwords when no terminal is attached: a new file (mode
    /// 0600) or `-` for stdout; answers are then read from stdin. Default: the terminal only.
    #[arg(long, value_name = "FILE|-")]
    pub show_password_to: Option<PathBuf>,
}

/// A progress bar per target on a terminal; one line per account otherwise.
pub struct Progress {
    multi: Option<MultiProgress>,
    bars: Mutex<std::collections::HashMap<String, ProgressBar>>,
}

impl Progress {
    pub fn new() -> Progress {
        let multi = std::io::stderr().is_terminal().then(MultiProgress::new);
        Progress {
            multi,
            bars: Mutex::new(Default::default()),
        }
    }
}

impl Observer for Progress {
    fn target_started(&self, target: &str, accounts: usize) {
        if let Some(m) = &self.multi {
            let bar = m.add(ProgressBar::new(accounts as u64));
            bar.set_style(
                ProgressStyle::with_template("{prefix:30} [{bar:20}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_prefix(target.to_string());
            if let Ok(mut b) = self.bars.lock() {
                b.insert(target.to_string(), bar);
            }
        }
    }
    fn step(&self, target: &str, account: &str, step: &str) {
        if let Some(bar) = self.bars.lock().ok().and_then(|b| b.get(target).cloned()) {
            bar.set_message(format!("{account}: {step}"));
        }
    }
    fn account_done(&self, target: &str, result: &AccountResult) {
        match self.bars.lock().ok().and_then(|b| b.get(target).cloned()) {
            Some(bar) => bar.inc(1),
            None => eprintln!("  {}: {}", result.path, describe(&result.outcome)),
        }
    }
    fn target_done(&self, target: &str) {
        if let Some(bar) = self.bars.lock().ok().and_then(|b| b.get(target).cloned()) {
            bar.finish_with_message("done");
        }
    }
}

/// An outcome for the terminal: causes quote the target's own words, shown escaped.
fn describe(o: &Result_) -> String {
    let text = match o {
        Result_::Rotated => "rotated".into(),
        Result_::RotatedNeedsAction { warning } => format!("rotated, NEEDS ACTION: {warning}"),
        Result_::Failed {
            cause,
            needs_recover: true,
        } => format!("FAILED (run `keyreeve recover`): {cause}"),
        Result_::Failed { cause, .. } => format!("FAILED: {cause}"),
        Result_::Skipped { reason } => format!("skipped: {reason}"),
    };
    keyreeve::escape::terminal_lines(&text).into_owned()
}

/// Prints the summary; true if anything failed.
pub fn print_summary(results: &[AccountResult]) -> bool {
    let count = |f: fn(&Result_) -> bool| results.iter().filter(|r| f(&r.outcome)).count();
    let rotated = count(|o| matches!(o, Result_::Rotated | Result_::RotatedNeedsAction { .. }));
    let needs_action = count(|o| matches!(o, Result_::RotatedNeedsAction { .. }));
    let failed = count(|o| matches!(o, Result_::Failed { .. }));
    let skipped = count(|o| matches!(o, Result_::Skipped { .. }));
    let of_which = if needs_action > 0 {
        format!(" ({needs_action} of them need action)")
    } else {
        String::new()
    };
    println!("\nRotated {rotated}{of_which}, failed {failed}, skipped {skipped}.");
    for r in results {
        if !matches!(r.outcome, Result_::Rotated) {
            println!("  {}: {}", r.path, describe(&r.outcome));
        }
    }
    failed > 0 || needs_action > 0
}

fn confirm(plan: &Plan) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("apply needs confirmation: run it on a terminal, or pass --yes after reviewing the plan");
    }
    print!("Rotate {} account(s)? Type `yes` to go on: ", plan.items.len());
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    run_guided_by(g, args, None)
}

/// `apply`, with guided steps shown by `guide` instead of the terminal (the demo answers its own).
pub fn run_guided_by(g: &Global, args: Args, guide: Option<&dyn Guide>) -> Result<Outcome> {
    let ctx = Context::load(g)?;
    let file = Plan::read(&args.plan)?;
    if file.items.is_empty() {
        println!("The plan rotates nothing.");
        return Ok(Outcome::Success);
    }
    // A teammate may have rotated the same accounts: their change comes in before any of ours.
    let tracking = keyreeve::team::fetched_upstream(ctx.workspace.root());
    if let Some(tracking) = &tracking {
        let paths: Vec<String> = file.items.iter().map(|i| i.path.clone()).collect();
        let newer = keyreeve::team::changed_upstream(ctx.workspace.root(), &ctx.keys, tracking, &paths);
        if !newer.is_empty() {
            bail!(
                "the remote holds newer changes to {} (from a teammate): nothing was rotated; run `keyreeve sync`, \
                 then make the plan again",
                newer.join(", ")
            );
        }
    }
    // The file only selects: what runs, and what is shown for confirmation, is made again here.
    let vaults = load_vaults(&ctx, file.selection.client.as_deref())?;
    let connect = ctx.connect_context(false);
    let checked = check_plan(&file, &args.plan, &inputs(&ctx, &vaults, &connect), &factory(&connect))?;
    let plan = checked.plan();
    if !args.json {
        print_plan(plan);
        for stale in checked.stale() {
            println!("    {}: not rotated: {}", stale.path, stale.reason);
        }
        println!();
    }
    let has_guided = plan.items.iter().any(|i| keyreeve::rotation::guided::is_guided(i.kind));
    // Opened before anything changes: a step that could not be shown is refused up front.
    let terminal_guide = match (
        has_guided && !args.skip_manual && guide.is_none(),
        &args.show_password_to,
    ) {
        (true, show_to) => Some(super::guide::TerminalGuide::open(show_to.as_deref())?),
        (false, _) => None,
    };
    let guide: Option<&dyn Guide> = match (&terminal_guide, args.skip_manual) {
        (_, true) => None,
        (Some(t), false) => Some(t),
        (None, false) => guide,
    };
    if !args.yes && !confirm(plan)? {
        println!("Nothing changed.");
        return Ok(Outcome::Success);
    }
    let engine = Engine {
        workspace: &ctx.workspace,
        inventory: &ctx.inventory,
        keys: &ctx.keys,
        policy: &ctx.policy,
        connect: &connect,
        actor: ctx.actor(),
    };
    let progress = Progress::new();
    let results = engine.apply_guided(&checked, args.concurrency, &factory(&connect), &progress, guide)?;
    let any_failed = results
        .iter()
        .any(|r| matches!(r.outcome, Result_::Failed { .. } | Result_::RotatedNeedsAction { .. }));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        print_summary(&results);
        if tracking.is_some() {
            println!("Share the result with the team: `keyreeve sync`.");
        }
    }
    Ok(if any_failed {
        Outcome::Findings
    } else {
        Outcome::Success
    })
}
