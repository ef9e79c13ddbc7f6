//! `keyreeve completions SHELL`: shell completions and the man page, generated from the clap
//! definitions so they never drift from the real command line.

use std::io::Write;

use anyhow::{Context, Result};
use clap::CommandFactory;

use super::{Cli, Global, Outcome};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Target {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
    /// The man page (roff), for `man -l -`.
    Man,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to complete for, or `man`.
    pub shell: Target,
}

pub fn run(_g: &Global, args: Args) -> Result<Outcome> {
    let mut cmd = Cli::command();
    let mut out = std::io::stdout().lock();
    let shell = match args.shell {
        Target::Man => {
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .context("writing the man page")?;
            out.flush()?;
            return Ok(Outcome::Success);
        }
        Target::Bash => clap_complete::Shell::Bash,
        Target::Zsh => clap_complete::Shell::Zsh,
        Target::Fish => clap_complete::Shell::Fish,
        Target::Elvish => clap_complete::Shell::Elvish,
        Target::Powershell => clap_complete::Shell::PowerShell,
    };
    // Into memory first: clap_complete panics on a write error, such as a reader that stopped.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "keyreeve", &mut script);
    match out.write_all(&script).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Outcome::Success),
        other => Ok(other.map(|()| Outcome::Success)?),
    }
}
