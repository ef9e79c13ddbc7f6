//! `keyreeve lab`. (Skeleton: not built yet.)

use anyhow::{bail, Result};

use super::{Global, Outcome};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Not built yet.
    Todo,
}

pub fn run(_g: &Global, _command: Command) -> Result<Outcome> {
    bail!("`keyreeve lab` is not built yet")
}
