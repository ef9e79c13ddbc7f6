//! `keyreeve team setup`: makes a workspace (or a fresh clone of one) ready to be shared over
//! git: a repository if it is not one, `.gitattributes` routing vault files, the audit log and
//! reveal times to keyreeve's merge driver, per-clone files kept out of git, and the driver
//! registered in this clone's git config (which git never copies between clones).

use anyhow::{Context as _, Result};

use super::{context, Global, Outcome};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Make this workspace a git repository shared by a team (run once in every clone).
    Setup,
}

pub fn run(g: &Global, command: Command) -> Result<Outcome> {
    match command {
        Command::Setup => setup(g),
    }
}

fn setup(g: &Global) -> Result<Outcome> {
    let ws = context::locate_workspace(g)?;
    let report = setup_workspace(&ws, g)?;
    if report.initialized {
        eprintln!("made {} a git repository", ws.root().display());
    }
    if report.attributes_added > 0 {
        eprintln!("wrote .gitattributes: vault files, the audit log and reveal times merge with keyreeve");
    }
    for path in &report.untracked {
        eprintln!("{path} belongs to this clone: no longer tracked by git (the files stay)");
    }
    eprintln!("registered the merge driver in this clone: {}", report.driver);
    eprintln!("commit .gitattributes and the .gitignore files, then share with `keyreeve sync`");
    Ok(Outcome::Success)
}

/// [`keyreeve::team::setup`] with this binary as the driver (shared with `init`).
pub fn setup_workspace(ws: &keyreeve::workspace::Workspace, g: &Global) -> Result<keyreeve::team::SetupReport> {
    let exe = std::env::current_exe().context("cannot find the path of the running keyreeve")?;
    let driver = keyreeve::team::driver_command(&exe, g.identity.as_deref());
    Ok(keyreeve::team::setup(ws, &driver)?)
}
