//! `keyreeve verify`: the heartbeat. Logs in with every stored password, records when each last
//! worked, and exits 1 on any mismatch.

use anyhow::Result;

use keyreeve::rotation::apply::Engine;
use keyreeve::rotation::verify::Status;

use super::context::{factory, Context};
use super::{Global, Outcome};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this client.
    #[arg(long)]
    pub client: Option<String>,
    /// Targets verified at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let ctx = Context::load(g)?;
    if let Some(c) = &args.client {
        ctx.inventory.client(c)?;
    }
    let connect = ctx.connect_context(false);
    let engine = Engine {
        workspace: &ctx.workspace,
        inventory: &ctx.inventory,
        keys: &ctx.keys,
        policy: &ctx.policy,
        connect: &connect,
        actor: ctx.actor(),
    };
    let results = engine.verify_all(args.client.as_deref(), args.concurrency, &factory(&connect))?;
    // A guided target cannot be logged in to: reported, never counted as a failure.
    let unverifiable = results
        .iter()
        .filter(|r| matches!(r.status, Status::NotVerifiable { .. }))
        .count();
    let bad = results.iter().filter(|r| r.status != Status::Works).count() - unverifiable;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        for r in &results {
            let s = match &r.status {
                Status::Works => "works".to_string(),
                Status::Mismatch => "MISMATCH: the target refused the stored password".to_string(),
                Status::Pending => "PENDING: an interrupted rotation; run `keyreeve recover`".to_string(),
                Status::Error(e) => format!("ERROR: {e}"),
                Status::NotVerifiable { last_rotated, age_days } => match last_rotated {
                    Some(at) => format!(
                        "not verifiable (changed by hand): last rotated {} ({age_days} days ago)",
                        at.format("%Y-%m-%d")
                    ),
                    None => format!("not verifiable (changed by hand): never rotated, stored {age_days} days ago"),
                },
            };
            // Errors quote the target's own words: shown escaped.
            println!("  {}: {}", r.path, keyreeve::escape::terminal_lines(&s));
            if let Some(h) = &r.hint {
                println!("    hint: {}", keyreeve::escape::terminal_lines(h));
            }
        }
        println!(
            "\n{} verified, {} working, {} not, {unverifiable} not verifiable.",
            results.len() - unverifiable,
            results.len() - bad - unverifiable,
            bad
        );
    }
    Ok(if bad > 0 { Outcome::Findings } else { Outcome::Success })
}
