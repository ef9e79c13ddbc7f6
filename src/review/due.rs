//! Due tracking: every vault entry of a client, whatever changes it (a connector, a person, a
//! script, or nobody), with how it is managed, its category, its policy's max age and whether it
//! is due now. Computed from the vault's keyless index, so the review reads it without keys,
//! and from an opened vault the same way (`status`, `serve`).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::vault_index::{IndexedEntry, VaultIndex};
use crate::inventory::{Category, Inventory};
use crate::policy::{Effective, Policy};

/// Who changes an entry's password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Management {
    /// A connector (SSH, LDAP): `apply` rotates it.
    Automatic,
    /// A person, guided by `apply` (`kind = "manual"`).
    Guided,
    /// A custom changer script (`kind = "script"`).
    Scripted,
    /// Its target is not in the inventory: nobody will ever plan it.
    Untracked,
}

impl Management {
    /// By the target kind's name, so that a kind added later needs no change here.
    pub fn of_kind(kind: &str) -> Management {
        match kind {
            "manual" => Management::Guided,
            "script" => Management::Scripted,
            _ => Management::Automatic,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Management::Automatic => "automatic",
            Management::Guided => "guided",
            Management::Scripted => "scripted",
            Management::Untracked => "untracked",
        }
    }
}

/// One vault entry, assessed.
#[derive(Debug, Clone, Serialize)]
pub struct Assessed {
    /// `CLIENT/TARGET/ACCOUNT`.
    pub path: String,
    pub client: String,
    pub target: String,
    /// The inventory's kind; None when the target is not in the inventory.
    pub kind: Option<String>,
    pub category: Option<Category>,
    pub management: Management,
    pub max_age_days: u32,
    pub created: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub verified_at: Option<DateTime<Utc>>,
    /// Days since the last rotation (since it was stored when never rotated).
    pub age_days: i64,
    /// Why it is due now, as `plan --due` says; None when it is not (or is excluded).
    pub due: Option<String>,
    pub pending: bool,
    pub excluded: bool,
}

impl Assessed {
    /// `printer`, `web-portal`, or the kind for other targets (`cisco-ios`), `untracked`.
    pub fn what(&self) -> String {
        match (&self.category, &self.kind) {
            (Some(c), _) => c.as_str().to_string(),
            (None, Some(k)) => k.clone(),
            (None, None) => "untracked".into(),
        }
    }

    /// Older than its policy's max age (since stored, when never rotated).
    pub fn overdue(&self) -> bool {
        !self.excluded && self.age_days > i64::from(self.max_age_days)
    }
}

/// Why an entry is due now (`plan --due`'s rules), or None.
pub fn why_due(
    created: DateTime<Utc>,
    rotated_at: Option<DateTime<Utc>>,
    revealed_at: Option<DateTime<Utc>>,
    eff: &Effective,
    now: DateTime<Utc>,
) -> Option<String> {
    let since = rotated_at.unwrap_or(created);
    if let Some(revealed) = revealed_at {
        if eff.revealed_is_due && revealed >= since {
            return Some(format!("revealed on {}", revealed.format("%Y-%m-%d %H:%M UTC")));
        }
    }
    if rotated_at.is_none() {
        return Some("never rotated by keyreeve".into());
    }
    let age = (now - since).num_days();
    if age > eff.max_age_days as i64 {
        return Some(format!(
            "overdue by {} days (max age {} days)",
            age - eff.max_age_days as i64,
            eff.max_age_days
        ));
    }
    None
}

/// Every entry of `index`, assessed against the inventory and the policy.
pub fn assess(inventory: &Inventory, policy: &Policy, index: &VaultIndex, now: DateTime<Utc>) -> Vec<Assessed> {
    index
        .entries
        .iter()
        .map(|e| assess_one(inventory, policy, &index.client, e, now))
        .collect()
}

fn assess_one(inventory: &Inventory, policy: &Policy, client: &str, e: &IndexedEntry, now: DateTime<Utc>) -> Assessed {
    let (target_name, account) = e.key.split_once('/').unwrap_or((e.key.as_str(), ""));
    let target = inventory.target(client, target_name).ok();
    let eff = match target {
        Some(t) => policy.effective_on(t, account),
        None => policy.effective_kindless(client, target_name, account),
    };
    let due = (!eff.excluded && !e.pending)
        .then(|| why_due(e.created, e.rotated_at, e.revealed_at, &eff, now))
        .flatten();
    Assessed {
        path: format!("{client}/{}", e.key),
        client: client.to_string(),
        target: target_name.to_string(),
        kind: target.map(|t| t.kind.as_str().to_string()),
        category: target.and_then(|t| t.category()),
        management: target.map_or(Management::Untracked, |t| Management::of_kind(t.kind.as_str())),
        max_age_days: eff.max_age_days,
        created: e.created,
        rotated_at: e.rotated_at,
        verified_at: e.verified_at,
        age_days: (now - e.rotated_at.unwrap_or(e.created)).num_days(),
        due,
        pending: e.pending,
        excluded: eff.excluded,
    }
}

/// "3 printer, 1 web-portal": overdue entries counted by what they are, most first.
pub fn overdue_tally(entries: &[Assessed]) -> String {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for e in entries.iter().filter(|e| e.overdue() && !e.pending) {
        *counts.entry(e.what()).or_default() += 1;
    }
    let mut counts: Vec<(String, usize)> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts
        .iter()
        .map(|(what, n)| format!("{n} {what}"))
        .collect::<Vec<_>>()
        .join(", ")
}
