//! `keyreeve vault confirm PATH` / `vault reject PATH`: settle a guided rotation left pending (the
//! technician changed the printer the next day, or never did). Confirm makes the new password
//! current; reject keeps the old one (the new one stays in history). Both are audited.

use anyhow::Result;

use keyreeve::rotation::apply::{Engine, Outcome as Result_};
use keyreeve::vault::VaultPath;

use super::context::Context;
use super::{Global, Outcome};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// CLIENT/TARGET/ACCOUNT of a manual target's account whose guided rotation is pending.
    pub path: String,
}

/// Settles `args.path`: the new password is in force (`changed`) or the old one is.
pub fn run(g: &Global, args: Args, changed: bool) -> Result<Outcome> {
    let ctx = Context::load(g)?;
    let path = VaultPath::parse(&args.path)?;
    let connect = ctx.connect_context(false);
    let engine = Engine {
        workspace: &ctx.workspace,
        inventory: &ctx.inventory,
        keys: &ctx.keys,
        policy: &ctx.policy,
        connect: &connect,
        actor: ctx.actor(),
    };
    let outcome = engine.settle_guided(&path, changed)?;
    match outcome {
        Result_::Rotated => println!("{path}: the new password is in force and stored as current."),
        _ => println!("{path}: the old password is kept as current; the new one stays in its history."),
    }
    Ok(Outcome::Success)
}
