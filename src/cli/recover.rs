//! `keyreeve recover`: settles the rotations an interrupted apply left in the journal, so that the
//! vault again holds the one password that works for each account.

use anyhow::Result;

use keyreeve::rotation::apply::{Engine, Outcome as Result_};

use super::context::{factory, Context};
use super::{Global, Outcome};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
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
    let results = engine.recover(&factory(&connect))?;
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
    Ok(if unsettled { Outcome::Findings } else { Outcome::Success })
}
