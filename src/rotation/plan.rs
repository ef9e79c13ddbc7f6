//! Rotation plans: which accounts to rotate, why, how, the commands that will be sent (secrets as
//! `********`) and the risks, written to a file for review. A plan holds no secret. Its hash covers
//! everything in it (against accidents only: anyone can recompute it), and each item carries the
//! fingerprint of its vault entry. `apply` trusts none of it: [`super::plan_check`] makes the
//! plan again and refuses a file that says anything else.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{state_fingerprint, RotationError};
use crate::connector::{ChangeMethod, ConnectContext};
use crate::inventory::{Inventory, Target, TargetKind};
use crate::policy::Policy;
use crate::vault::{EntryState, VaultDocument};

/// The `format` field of every plan.
pub const PLAN_FORMAT: &str = "keyreeve-plan/1";

/// Which accounts a plan takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Overdue, never rotated, or revealed where the policy makes that due.
    Due,
    /// Everything selected ("rotate everything for this client").
    All,
    /// Only passwords revealed since their last rotation.
    Revealed,
}

/// What the plan was asked for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    pub client: Option<String>,
    pub target: Option<String>,
    /// Explicit `CLIENT/TARGET/ACCOUNT` paths.
    pub accounts: Vec<String>,
    pub mode: Option<Mode>,
}

/// One account to rotate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub path: String,
    pub client: String,
    pub target: String,
    pub account: String,
    pub kind: TargetKind,
    pub address: String,
    pub why: String,
    pub method: ChangeMethod,
    pub commands: Vec<String>,
    pub warnings: Vec<String>,
    pub is_login: bool,
    pub priority: i32,
    /// Fingerprint of the vault entry's rotation state when the plan was made.
    pub vault_state: String,
    /// The policy rules that decided this account (`file:line`).
    pub decided_by: Vec<String>,
}

/// An account the plan leaves out, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// A reviewed rotation plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub format: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub selection: Selection,
    /// In the order they will run: by priority, target, the login account last within a target.
    pub items: Vec<Item>,
    pub skipped: Vec<Skipped>,
    /// sha256 of the plan without this field.
    #[serde(default)]
    pub hash: String,
}

impl Plan {
    /// The hash of everything but `hash`.
    pub fn compute_hash(&self) -> String {
        let mut copy = self.clone();
        copy.hash = String::new();
        let bytes = serde_json::to_vec(&copy).unwrap_or_default();
        hex::encode(Sha256::digest(&bytes))
    }

    /// Writes the plan as pretty JSON (it holds no secret).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Reads a plan and checks its hash.
    pub fn read(path: &Path) -> Result<Plan, RotationError> {
        let bad = |detail: String| RotationError::BadPlan {
            path: path.to_path_buf(),
            detail,
        };
        let text =
            crate::safe_fs::read_existing_text(path, crate::safe_fs::Limit::PLAN).map_err(|e| bad(e.to_string()))?;
        let plan: Plan = serde_json::from_str(&text).map_err(|e| bad(format!("line {}: {e}", e.line())))?;
        if plan.format != PLAN_FORMAT {
            return Err(bad(format!(
                "unknown format `{}`; this keyreeve reads {PLAN_FORMAT}",
                plan.format
            )));
        }
        if plan.hash != plan.compute_hash() {
            return Err(RotationError::PlanTampered {
                path: path.to_path_buf(),
            });
        }
        plan.check_paths().map_err(bad)?;
        Ok(plan)
    }

    /// Every path a plan names is a vault path `vault set` would take, and each item's path is
    /// its own client, target and account: a plan can come from someone else (a shared
    /// workspace), and its paths are shown, journalled and audited.
    fn check_paths(&self) -> Result<(), String> {
        for (n, item) in self.items.iter().enumerate() {
            let at = |e: crate::validate::Invalid| format!("item {}: {e}", n + 1);
            let parts = crate::validate::vault_path(&item.path).map_err(at)?;
            if parts != (item.client.as_str(), item.target.as_str(), item.account.as_str()) {
                return Err(format!(
                    "item {}: path `{}` is not its client, target and account",
                    n + 1,
                    crate::escape::terminal(&item.path)
                ));
            }
        }
        for path in self
            .selection
            .accounts
            .iter()
            .chain(self.skipped.iter().map(|s| &s.path))
        {
            crate::validate::vault_path(path).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Items grouped by target (`CLIENT/TARGET`), each group in run order.
    pub fn by_target(&self) -> BTreeMap<String, Vec<&Item>> {
        let mut out: BTreeMap<String, Vec<&Item>> = BTreeMap::new();
        for item in &self.items {
            out.entry(format!("{}/{}", item.client, item.target))
                .or_default()
                .push(item);
        }
        out
    }
}

/// Everything a plan is made from.
pub struct PlanInputs<'a> {
    pub inventory: &'a Inventory,
    pub policy: &'a Policy,
    /// Each selected client's vault document.
    pub vaults: &'a BTreeMap<String, VaultDocument>,
    pub connect: &'a ConnectContext,
    pub now: DateTime<Utc>,
    pub created_by: String,
}

fn why_due(entry: &crate::vault::Entry, eff: &crate::policy::Effective, now: DateTime<Utc>) -> Option<String> {
    crate::review::due::why_due(entry.created, entry.rotated_at, entry.revealed_at, eff, now)
}

fn revealed_since_rotation(entry: &crate::vault::Entry) -> Option<DateTime<Utc>> {
    let since = entry.rotated_at.unwrap_or(entry.created);
    entry.revealed_at.filter(|r| *r >= since)
}

fn warnings_for(target: &Target, account: &str, method: ChangeMethod, is_login: bool) -> Vec<String> {
    let mut w = Vec::new();
    if is_login {
        w.push(format!(
            "`{account}` is the account keyreeve logs in with: it is rotated last on {} and every later login uses the new password",
            target.name
        ));
    }
    if method == ChangeMethod::EnableSecret {
        w.push("this is the enable secret: a wrong one locks everyone out of privileged mode; it is verified by a fresh login and `enable` before saving".into());
    }
    if target.kind.is_directory() {
        w.push("the directory's password policy (length, complexity, history, minimum age) may refuse the new password; a refused password is never retried as is".into());
    }
    if target.kind == TargetKind::Fortios && is_login {
        w.push("FortiOS logs out a session whose admin changes its own password".into());
    }
    if target.kind == TargetKind::Panos {
        w.push(format!(
            "PAN-OS commits the change before it is verified, and a commit can take minutes: the wait is bounded by command_timeout ({} s)",
            target.command_timeout.as_secs()
        ));
    }
    if let Some(deps) = target.dependants.get(account) {
        if !deps.is_empty() {
            w.push(format!("used by {}: update them after the rotation", deps.join(", ")));
        }
    }
    w
}

/// Accounts of selected guided targets with no vault entry: nothing to rotate from until their
/// current password is stored.
fn guided_not_in_vault(inputs: &PlanInputs<'_>, selection: &Selection) -> Vec<Skipped> {
    let mut out = Vec::new();
    for (client, doc) in inputs.vaults {
        let Ok(c) = inputs.inventory.client(client) else {
            continue;
        };
        if selection.client.as_ref().is_some_and(|w| w != client) {
            continue;
        }
        for t in c.targets.iter().filter(|t| t.kind.is_manual()) {
            if selection.target.as_ref().is_some_and(|w| w != &t.name) {
                continue;
            }
            for account in t.guided.iter().flat_map(|g| &g.accounts) {
                let path = t.account_path(account);
                let wanted = selection.accounts.is_empty() || selection.accounts.contains(&path);
                if wanted && !doc.entries.contains_key(&format!("{}/{account}", t.name)) {
                    out.push(Skipped {
                        reason: format!(
                            "not in the vault: store its current password with `keyreeve vault set {path}`"
                        ),
                        path,
                    });
                }
            }
        }
    }
    out
}

/// Builds the plan for `selection`.
pub fn make_plan(
    inputs: &PlanInputs<'_>,
    selection: &Selection,
    connector_for: &super::ConnectorFactory<'_>,
) -> Result<Plan, RotationError> {
    let mode = selection.mode.unwrap_or(if selection.accounts.is_empty() {
        Mode::Due
    } else {
        Mode::All
    });
    let mut items = Vec::new();
    let mut skipped = Vec::new();
    if let Some(c) = &selection.client {
        inputs.inventory.client(c)?;
    }
    if let (Some(c), Some(t)) = (&selection.client, &selection.target) {
        inputs.inventory.target(c, t)?;
    }
    for (client, doc) in inputs.vaults {
        if selection.client.as_ref().is_some_and(|c| c != client) {
            continue;
        }
        for (key, entry) in &doc.entries {
            let path = format!("{client}/{key}");
            let Some((target_name, account)) = key.split_once('/') else {
                skipped.push(Skipped {
                    path,
                    reason: "not a TARGET/ACCOUNT entry".into(),
                });
                continue;
            };
            if selection.target.as_ref().is_some_and(|t| t != target_name) {
                continue;
            }
            if !selection.accounts.is_empty() && !selection.accounts.contains(&path) {
                continue;
            }
            let Ok(target) = inputs.inventory.target(client, target_name) else {
                skipped.push(Skipped {
                    path,
                    reason: format!("no target `{target_name}` in keyreeve.toml"),
                });
                continue;
            };
            if entry.state == EntryState::Pending {
                skipped.push(Skipped {
                    path,
                    reason: "a rotation of it was interrupted: run `keyreeve recover`".into(),
                });
                continue;
            }
            if account == target.login && target.login_method == crate::inventory::LoginMethod::PrivateKey {
                skipped.push(Skipped {
                    path,
                    reason: "a private key, not a password: rotate keys by hand".into(),
                });
                continue;
            }
            if let Some(reason) = super::controller_managed::no_cli_for(target.kind, account) {
                skipped.push(Skipped { path, reason });
                continue;
            }
            let eff = inputs.policy.effective_on(target, account);
            if eff.excluded {
                skipped.push(Skipped {
                    path,
                    reason: format!("excluded by policy ({})", eff.decided_by.join(", ")),
                });
                continue;
            }
            let why = match mode {
                Mode::All => Some(if selection.accounts.is_empty() {
                    "asked: rotate all".to_string()
                } else {
                    "asked".to_string()
                }),
                Mode::Revealed => {
                    revealed_since_rotation(entry).map(|r| format!("revealed on {}", r.format("%Y-%m-%d %H:%M UTC")))
                }
                Mode::Due => why_due(entry, &eff, inputs.now),
            };
            let Some(why) = why else { continue };
            if super::guided::is_guided(target.kind) {
                items.push(super::guided::plan_item(
                    target,
                    account,
                    why,
                    &eff,
                    state_fingerprint(entry),
                ));
                continue;
            }
            let connector = match connector_for(target) {
                Ok(c) => c,
                Err(e) => {
                    skipped.push(Skipped {
                        path,
                        reason: format!("no connector: {e}"),
                    });
                    continue;
                }
            };
            let is_login = account == target.login;
            let method = connector.change_method(&target.login, account);
            let method = if target.enable.as_deref() == Some(account) {
                ChangeMethod::EnableSecret
            } else {
                method
            };
            items.push(Item {
                path,
                client: client.clone(),
                target: target_name.to_string(),
                account: account.to_string(),
                kind: target.kind,
                address: format!("{}:{}", target.address, target.port),
                why,
                method,
                commands: connector.describe_change(account, method),
                warnings: warnings_for(target, account, method, is_login),
                is_login,
                priority: eff.priority,
                vault_state: state_fingerprint(entry),
                decided_by: eff.decided_by,
            });
        }
    }
    skipped.extend(guided_not_in_vault(inputs, selection));
    for wanted in &selection.accounts {
        if !items.iter().any(|i| &i.path == wanted) && !skipped.iter().any(|s| &s.path == wanted) {
            skipped.push(Skipped {
                path: wanted.clone(),
                reason: "no such vault entry".into(),
            });
        }
    }
    // Run order: priority, then target; within a target the login account last, the enable
    // secret just before it (it is verified through the login account).
    items.sort_by(|a, b| {
        (
            a.priority,
            &a.client,
            &a.target,
            a.is_login,
            a.method == ChangeMethod::EnableSecret,
            &a.account,
        )
            .cmp(&(
                b.priority,
                &b.client,
                &b.target,
                b.is_login,
                b.method == ChangeMethod::EnableSecret,
                &b.account,
            ))
    });
    let mut plan = Plan {
        format: PLAN_FORMAT.into(),
        created_at: inputs.now,
        created_by: inputs.created_by.clone(),
        selection: Selection {
            mode: Some(mode),
            ..selection.clone()
        },
        items,
        skipped,
        hash: String::new(),
    };
    plan.hash = plan.compute_hash();
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_with(path: &str, account: &str) -> Plan {
        let mut plan = Plan {
            format: PLAN_FORMAT.into(),
            created_at: Utc::now(),
            created_by: "alice".into(),
            selection: Selection::default(),
            items: vec![Item {
                path: path.into(),
                client: "acme".into(),
                target: "rtr1".into(),
                account: account.into(),
                kind: TargetKind::CiscoIos,
                address: "127.0.0.1".into(),
                why: "asked".into(),
                method: ChangeMethod::AdminReset,
                commands: vec![],
                warnings: vec![],
                is_login: false,
                priority: 0,
                vault_state: String::new(),
                decided_by: vec![],
            }],
            skipped: vec![],
            hash: String::new(),
        };
        plan.hash = plan.compute_hash();
        plan
    }

    /// A re-hashed plan whose paths `vault set` would refuse (a line break forging a command
    /// line, a path that is not its item's) is refused, naming the item, escaped.
    #[test]
    fn a_plan_naming_paths_vault_set_would_refuse_is_bad() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plan.json");
        let read = |plan: &Plan| {
            std::fs::write(&file, plan.to_json()).unwrap();
            Plan::read(&file)
        };
        assert!(read(&plan_with("acme/rtr1/admin", "admin")).is_ok());
        for (path, account, named) in [
            (
                "acme/rtr1/admin\nusername pwned",
                "admin\nusername pwned",
                "item 1: vault path `acme/rtr1/admin\\nusername pwned`",
            ),
            ("acme/rtr1/../../x", "../../x", "item 1: vault path `acme/rtr1/../../x`"),
            ("acme/rtr1/other", "admin", "item 1: path `acme/rtr1/other` is not its"),
        ] {
            let err = read(&plan_with(path, account)).unwrap_err();
            let shown = err.to_string();
            assert!(matches!(err, RotationError::BadPlan { .. }), "{shown}");
            assert!(shown.contains(named), "{shown}");
            assert!(!shown.contains('\n'), "{shown:?}");
        }
    }
}
