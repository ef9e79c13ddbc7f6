//! `keyreeve plan`: every account to rotate, why, how, the commands that will be sent (secrets as
//! `********`) and the warnings, printed for review and written to a file for `apply`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use chrono::Utc;

use keyreeve::connector::ConnectContext;
use keyreeve::rotation::plan::{make_plan, Mode, Plan, PlanInputs, Selection};
use keyreeve::vault::{Vault, VaultDocument};

use super::context::{factory, Context};
use super::{Global, Outcome};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this client.
    #[arg(long)]
    pub client: Option<String>,
    /// Only this target (with --client).
    #[arg(long, requires = "client")]
    pub target: Option<String>,
    /// Only these accounts (CLIENT/TARGET/ACCOUNT); repeatable.
    #[arg(long = "account", value_name = "PATH")]
    pub accounts: Vec<String>,
    /// Accounts due by policy: overdue, never rotated, or revealed (the default).
    #[arg(long, group = "mode")]
    pub due: bool,
    /// Every selected account: "rotate everything for this client".
    #[arg(long, group = "mode")]
    pub all: bool,
    /// Only accounts whose password was revealed since its last rotation.
    #[arg(long, group = "mode")]
    pub revealed: bool,
    /// Write the plan here for review and `keyreeve apply`.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let ctx = Context::load(g)?;
    let mode = if args.all {
        Some(Mode::All)
    } else if args.revealed {
        Some(Mode::Revealed)
    } else if args.due {
        Some(Mode::Due)
    } else {
        None
    };
    let selection = Selection {
        client: args.client.clone(),
        target: args.target.clone(),
        accounts: args.accounts.clone(),
        mode,
    };
    let plan = build(&ctx, &selection)?;
    if let Some(out) = &args.output {
        write_plan(&plan, out)?;
    }
    if args.json {
        println!("{}", plan.to_json());
    } else {
        print_plan(&plan);
        match &args.output {
            Some(out) => println!(
                "\nWritten to {}. Review it, then run: keyreeve apply {}",
                out.display(),
                out.display()
            ),
            None if !plan.items.is_empty() => {
                println!("\nWrite it for review with -o plan.json, then run: keyreeve apply plan.json")
            }
            None => {}
        }
    }
    Ok(Outcome::Success)
}

/// Makes the plan for `selection` from the workspace's current vault.
pub fn build(ctx: &Context, selection: &Selection) -> Result<Plan> {
    let vaults = load_vaults(ctx, selection.client.as_deref())?;
    let connect = ctx.connect_context(false);
    let inputs = inputs(ctx, &vaults, &connect);
    let connector_for = factory(&connect);
    let plan = make_plan(&inputs, selection, &connector_for)?;
    Ok(plan)
}

/// The vault of every client (or only `client`), as plans are made from.
pub fn load_vaults(ctx: &Context, client: Option<&str>) -> Result<BTreeMap<String, VaultDocument>> {
    let vault = Vault::new(&ctx.workspace, &ctx.inventory, &ctx.keys);
    let mut vaults = BTreeMap::new();
    for name in ctx.inventory.clients.keys() {
        if client.is_some_and(|c| c != name) {
            continue;
        }
        vaults.insert(
            name.clone(),
            vault
                .load(name)
                .with_context(|| format!("reading the vault of {name}"))?,
        );
    }
    Ok(vaults)
}

/// What a plan is made from, now.
pub fn inputs<'a>(
    ctx: &'a Context,
    vaults: &'a BTreeMap<String, VaultDocument>,
    connect: &'a ConnectContext,
) -> PlanInputs<'a> {
    PlanInputs {
        inventory: &ctx.inventory,
        policy: &ctx.policy,
        vaults,
        connect,
        now: Utc::now(),
        created_by: keyreeve::audit_log::os_user(),
    }
}

/// Writes a plan file (no secret in it) atomically.
pub fn write_plan(plan: &Plan, out: &std::path::Path) -> Result<()> {
    keyreeve::safe_fs::write_output(out, 0o644, |w| w.write_all(plan.to_json().as_bytes()))
        .with_context(|| format!("writing {}", out.display()))
}

/// The plan for people.
pub fn print_plan(plan: &Plan) {
    let mode = plan
        .selection
        .mode
        .map(|m| format!("{m:?}").to_lowercase())
        .unwrap_or_default();
    println!(
        "Rotation plan ({mode}): {} account(s) to rotate, {} skipped",
        plan.items.len(),
        plan.skipped.len()
    );
    for item in &plan.items {
        println!();
        println!("  {}  [{} at {}]", item.path, item.kind, item.address);
        println!("    why: {}", item.why);
        let how = serde_json::to_value(item.method)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let how = if keyreeve::rotation::guided::is_guided(item.kind) {
            "guided: changed by hand, the steps below".into()
        } else {
            how
        };
        println!("    how: {how}");
        // A guided target's steps quote its instructions from keyreeve.toml: shown escaped.
        for c in &item.commands {
            println!("      > {}", keyreeve::escape::terminal(c));
        }
        for w in &item.warnings {
            println!("    ! {w}");
        }
    }
    if !plan.skipped.is_empty() {
        println!("\n  Skipped:");
        for s in &plan.skipped {
            println!("    {}: {}", s.path, s.reason);
        }
    }
}
