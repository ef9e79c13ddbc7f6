//! The command line: global options, the subcommand table, and the context every subcommand
//! resolves (workspace, inventory, keys). One file per subcommand, each with `Args` and `run`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

pub mod apply;
pub mod client;
pub mod completions;
pub mod context;
pub mod demo;
pub mod demo_ad;
pub mod discover;
pub mod export;
pub mod guide;
pub mod hostkeys;
pub mod identity;
pub mod import;
mod import_list;
pub mod init;
pub mod inventory;
pub mod lab;
pub mod laps;
pub mod log;
pub mod merge_driver;
pub mod offboard;
pub mod plan;
pub mod recover;
pub mod review;
pub mod scan;
mod scan_services;
pub mod serve;
pub mod status;
pub mod sync;
pub mod target;
pub mod team;
pub mod vault;
pub mod vault_guided;
pub mod verify;

/// What a command reports through its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Success,
    /// Exit 1: findings, mismatches, or some targets failed.
    #[allow(dead_code)] // until the first command reports findings
    Findings,
}

#[derive(Debug, Parser)]
#[command(
    name = "keyreeve",
    version,
    about = "Inventory, rotate, store and hand over the admin credentials of an MSP's clients"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// The workspace directory (default: KEYREEVE_WORKSPACE, else the current directory or a parent holding keyreeve.toml).
    #[arg(long, global = true, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// The age identity file (default: KEYREEVE_IDENTITY, else the one under your config directory).
    #[arg(long, global = true, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// More detail on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a workspace: inventory template, policies, vaults and state folders.
    Init(init::Args),
    /// Manage age identities.
    #[command(subcommand)]
    Identity(identity::Command),
    /// Read and change the vault.
    #[command(subcommand)]
    Vault(vault::Command),
    /// Show or verify the audit log.
    Log(log::Args),
    /// Validate or list the inventory.
    #[command(subcommand)]
    Inventory(inventory::Command),
    /// Add or remove a client in keyreeve.toml.
    #[command(subcommand)]
    Client(client::Command),
    /// Add a target to keyreeve.toml, pinning its SSH host key.
    #[command(subcommand)]
    Target(target::Command),
    /// Connect to targets and list their accounts.
    Discover(discover::Args),
    /// Find SSH services in a network range and guess their dialect.
    Scan(scan::Args),
    /// Manage known SSH host keys.
    #[command(subcommand)]
    Hostkeys(hostkeys::Command),
    /// Run the built-in lab of emulated network devices.
    #[command(subcommand)]
    Lab(lab::Command),
    /// Plan a rotation for review.
    Plan(plan::Args),
    /// Apply a reviewed rotation plan.
    Apply(apply::Args),
    /// Settle rotations left by an interrupted apply.
    Recover(recover::Args),
    /// Log in with every stored password and report mismatches.
    Verify(verify::Args),
    /// Review who holds admin rights and remote access: findings, and changes since a baseline.
    Review(review::Args),
    /// Per client: what the vault holds, who changes it, what is due now.
    Status(status::Args),
    /// Run as a service: discovery and review on a schedule, and a read-only HTTP API.
    Serve(serve::Args),
    /// Run the whole job on the built-in lab, with commentary.
    Demo(demo::Args),
    /// Export one client's credentials as an encrypted handover file.
    Export(export::Args),
    /// Import a native handover file into this workspace.
    Import(import::Args),
    /// Print the plan that closes the provider's access to a client.
    Offboard(offboard::Args),
    /// Print shell completions, or the man page (`man`).
    Completions(completions::Args),
    /// Share the workspace with a team over git.
    #[command(subcommand)]
    Team(team::Command),
    /// Commit this clone's changes, merge the team's, and push.
    Sync(sync::Args),
    /// The git merge driver for vault files, the audit log and reveal times (git runs it).
    #[command(hide = true)]
    MergeDriver(merge_driver::Args),
    /// Workstation and server admin passwords kept by LAPS in a client's AD.
    #[command(subcommand)]
    Laps(laps::Command),
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<Outcome> {
    let g = cli.global;
    if writes(&cli.command) {
        if let Ok(ws) = context::locate_workspace(&g) {
            keyreeve::team::require_driver(&ws)?;
        }
    }
    match cli.command {
        Command::Init(a) => init::run(&g, a),
        Command::Identity(c) => identity::run(&g, c),
        Command::Vault(c) => vault::run(&g, c),
        Command::Log(a) => log::run(&g, a),
        Command::Inventory(c) => inventory::run(&g, c),
        Command::Client(c) => client::run(&g, c),
        Command::Target(c) => target::run(&g, c),
        Command::Discover(a) => discover::run(&g, a),
        Command::Scan(a) => scan::run(&g, a),
        Command::Hostkeys(c) => hostkeys::run(&g, c),
        Command::Lab(c) => lab::run(&g, c),
        Command::Plan(a) => plan::run(&g, a),
        Command::Apply(a) => apply::run(&g, a),
        Command::Recover(a) => recover::run(&g, a),
        Command::Verify(a) => verify::run(&g, a),
        Command::Review(a) => review::run(&g, a),
        Command::Status(a) => status::run(&g, a),
        Command::Serve(a) => serve::run(&g, a),
        Command::Demo(a) => demo::run(&g, a),
        Command::Export(a) => export::run(&g, a),
        Command::Import(a) => import::run(&g, a),
        Command::Offboard(a) => offboard::run(&g, a),
        Command::Completions(a) => completions::run(&g, a),
        Command::Team(c) => team::run(&g, c),
        Command::Sync(a) => sync::run(&g, a),
        Command::MergeDriver(a) => merge_driver::run(&g, a),
        Command::Laps(c) => laps::run(&g, c),
    }
}

/// Commands that may change files git shares: in a clone without keyreeve's merge driver, they
/// refuse (the next pull could lose passwords) and name `keyreeve team setup`.
fn writes(command: &Command) -> bool {
    !matches!(
        command,
        Command::Init(_)
            | Command::Identity(_)
            | Command::Log(_)
            | Command::Inventory(_)
            | Command::Scan(_)
            | Command::Lab(_)
            | Command::Plan(_)
            | Command::Serve(_)
            | Command::Demo(_)
            | Command::Offboard(_)
            | Command::Completions(_)
            | Command::Team(_)
            | Command::Sync(_)
            | Command::MergeDriver(_)
    )
}
