//! `keyreeve scan`. (Skeleton: not built yet.)

use anyhow::{bail, Result};

use super::{Global, Outcome};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_g: &Global, _args: Args) -> Result<Outcome> {
    bail!("`keyreeve scan` is not built yet")
}
