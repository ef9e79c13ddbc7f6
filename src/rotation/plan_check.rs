//! A plan file is a selection, not an instruction. Its hash is unkeyed, so whoever can write the
//! file can re-hash it: the address, method and commands in it prove nothing. `apply` therefore
//! makes the plan again from the inventory, the policy and the vault (as of the plan's date, so
//! that "overdue by N days" reads the same), runs and shows only what it made, and refuses a file
//! whose items say anything else, naming the item and the field.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Duration, Utc};

use super::plan::{make_plan, Item, Plan, PlanInputs, Skipped};
use super::{state_fingerprint, ConnectorFactory, RotationError};
use crate::vault::EntryState;

/// A plan whose every item is what keyreeve itself plans now: the only kind `apply` runs.
#[derive(Debug, Clone)]
pub struct CheckedPlan {
    plan: Plan,
    stale: Vec<Skipped>,
}

impl CheckedPlan {
    /// The recomputed plan: the file's items in the file's order, as keyreeve made them again.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Items of the file whose vault entry changed (or went) since the plan was made: not run.
    pub fn stale(&self) -> &[Skipped] {
        &self.stale
    }
}

/// How far a plan's date may lie ahead of this machine's clock (clocks of a team drift).
const CLOCK_SKEW_MINUTES: i64 = 5;

fn mismatch(source: &Path, item: &str, field: &str, detail: impl Into<String>) -> RotationError {
    RotationError::PlanMismatch {
        path: source.to_path_buf(),
        item: item.to_string(),
        field: field.to_string(),
        detail: detail.into(),
    }
}

/// The first field (in the item's own order) in which `file` and `made` differ, ignoring the
/// vault fingerprint (a changed entry is skipped at apply time, not refused here).
fn first_difference(file: &Item, made: &Item) -> Option<String> {
    let as_fields = |item: &Item| match serde_json::to_value(item) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (file, made) = (as_fields(file), as_fields(made));
    if file.is_empty() || made.is_empty() {
        return Some("item".into());
    }
    made.iter()
        .filter(|(name, _)| name.as_str() != "vault_state")
        .find(|(name, value)| file.get(name.as_str()) != Some(value))
        .map(|(name, _)| name.clone())
}

/// Makes `file`'s plan again and checks every item against it. `source` names the file in errors.
pub fn check_plan(
    file: &Plan,
    source: &Path,
    inputs: &PlanInputs<'_>,
    connector_for: &ConnectorFactory<'_>,
) -> Result<CheckedPlan, RotationError> {
    if file.created_at > Utc::now() + Duration::minutes(CLOCK_SKEW_MINUTES) {
        return Err(mismatch(
            source,
            "(the plan)",
            "created_at",
            format!("{} lies in the future", file.created_at.format("%Y-%m-%d %H:%M UTC")),
        ));
    }
    let as_of = PlanInputs {
        now: file.created_at,
        created_by: file.created_by.clone(),
        ..*inputs
    };
    let made = make_plan(&as_of, &file.selection, connector_for)?;
    let made_items: BTreeMap<&str, &Item> = made.items.iter().map(|i| (i.path.as_str(), i)).collect();
    let mut seen = std::collections::BTreeSet::new();
    let mut items = Vec::new();
    let mut stale = Vec::new();
    for item in &file.items {
        if !seen.insert(item.path.as_str()) {
            return Err(mismatch(source, &item.path, "path", "it is listed twice"));
        }
        let entry = item
            .path
            .split_once('/')
            .and_then(|(client, key)| inputs.vaults.get(client)?.entries.get(key));
        match entry {
            None => {
                stale.push(Skipped {
                    // Not a vault key: text from the file only, printed escaped.
                    path: item.path.escape_debug().to_string(),
                    reason: "no longer in the vault".into(),
                });
                continue;
            }
            Some(e) if state_fingerprint(e) != item.vault_state => {
                let reason = if e.state == EntryState::Pending {
                    "a rotation of it was interrupted: run `keyreeve recover`"
                } else {
                    "its vault entry changed since the plan was made"
                };
                stale.push(Skipped {
                    path: item.path.escape_debug().to_string(),
                    reason: reason.into(),
                });
                continue;
            }
            Some(_) => {}
        }
        let Some(made_item) = made_items.get(item.path.as_str()) else {
            let why = made
                .skipped
                .iter()
                .find(|s| s.path == item.path)
                .map(|s| format!("keyreeve would skip it: {}", s.reason))
                .unwrap_or_else(|| "keyreeve would not rotate it for this plan's selection".into());
            return Err(mismatch(source, &item.path, "path", why));
        };
        if let Some(field) = first_difference(item, made_item) {
            return Err(mismatch(
                source,
                &item.path,
                &field,
                "it is not what keyreeve plans from the inventory, policy and vault",
            ));
        }
        items.push(Item {
            vault_state: item.vault_state.clone(),
            ..(*made_item).clone()
        });
    }
    let mut plan = Plan { items, ..made };
    plan.hash = plan.compute_hash();
    Ok(CheckedPlan { plan, stale })
}
