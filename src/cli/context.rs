//! What most subcommands resolve before they start: the workspace, its inventory, policy, keys
//! and the connector context. Parsing stays in each subcommand; resolving against the world
//! happens here, once.

use anyhow::{Context as _, Result};

use keyreeve::connector::{self, ConnectContext, Connector, ConnectorError};
use keyreeve::inventory::{Inventory, Target};
use keyreeve::keys::KeyRing;
use keyreeve::policy::{DirectoryPolicy, Policy};
use keyreeve::workspace::Workspace;

use super::Global;

/// A resolved workspace.
pub struct Context {
    pub workspace: Workspace,
    pub inventory: Inventory,
    pub policy: Policy,
    pub keys: KeyRing,
}

impl Context {
    pub fn load(g: &Global) -> Result<Context> {
        let (workspace, inventory) = load_inventory(g)?;
        let policy = Policy::load_dir(&workspace.policies_dir())?;
        let keys = KeyRing::locate(g.identity.as_deref());
        Ok(Context {
            workspace,
            inventory,
            policy,
            keys,
        })
    }

    /// The connector context: host keys must already be known (pinned, or recorded by
    /// `discover`) unless `trust_on_first_use`.
    pub fn connect_context(&self, trust_on_first_use: bool) -> ConnectContext {
        connect_context(&self.workspace, self.policy.directory.clone(), trust_on_first_use)
    }

    /// The public key of the identity in use, for the audit log.
    pub fn actor(&self) -> Option<String> {
        self.keys.public_key()
    }
}

/// The workspace `g` names (or the one around the current directory).
pub fn locate_workspace(g: &Global) -> Result<Workspace> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    Ok(Workspace::locate(g.workspace.as_deref(), &cwd)?)
}

/// The workspace and its validated inventory, for commands that need no keys or policy.
pub fn load_inventory(g: &Global) -> Result<(Workspace, Inventory)> {
    let workspace = locate_workspace(g)?;
    let inventory = Inventory::load(&workspace.inventory_file())?;
    Ok((workspace, inventory))
}

/// How connectors reach targets from `ws`.
pub fn connect_context(ws: &Workspace, directory: DirectoryPolicy, trust_on_first_use: bool) -> ConnectContext {
    ConnectContext {
        known_hosts: ws.known_hosts_file(),
        workspace_root: ws.root().to_path_buf(),
        trust_on_first_use,
        directory,
    }
}

/// A connector factory over `ctx`.
pub fn factory(ctx: &ConnectContext) -> impl Fn(&Target) -> Result<Box<dyn Connector>, ConnectorError> + Sync + '_ {
    move |t| connector::for_target(t, ctx)
}
