//! `keyreeve status [--client C]`: the screen a technician opens in the morning. Per client, every
//! vault entry counted by what it is (a device kind, or a guided target's category) and by who
//! changes it (automatically, guided, scripted, or nobody: untracked), with how many are due now
//! and never rotated and when one was last verified; then the accounts due now and why. Reads
//! the vaults (with keys), never a secret shown.

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

use keyreeve::escape::terminal as shown;
use keyreeve::review::due::{assess, Assessed, Management};
use keyreeve::review::vault_index::VaultIndex;
use keyreeve::vault::Vault;

use super::context::Context;
use super::{Global, Outcome};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this client.
    #[arg(long)]
    pub client: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// One line of a client's table: the entries of one kind or category.
#[derive(Debug, Default, Serialize)]
pub struct Row {
    /// A guided target's category (`printer`), else the target kind (`cisco-ios`), or `untracked`.
    pub what: String,
    pub automatic: usize,
    pub guided: usize,
    pub scripted: usize,
    pub untracked: usize,
    pub due_now: usize,
    pub never_rotated: usize,
    pub last_verified: Option<DateTime<Utc>>,
}

impl Row {
    fn add(&mut self, e: &Assessed) {
        match e.management {
            Management::Automatic => self.automatic += 1,
            Management::Guided => self.guided += 1,
            Management::Scripted => self.scripted += 1,
            Management::Untracked => self.untracked += 1,
        }
        self.due_now += usize::from(e.due.is_some());
        self.never_rotated += usize::from(e.rotated_at.is_none());
        self.last_verified = self.last_verified.max(e.verified_at);
    }
}

/// One client's status.
#[derive(Debug, Serialize)]
pub struct ClientStatus {
    pub client: String,
    pub rows: Vec<Row>,
    pub total: Row,
    /// Accounts of guided targets listed in the inventory with no vault entry yet.
    pub not_in_vault: Vec<String>,
    /// The entries due now, most overdue first.
    pub due: Vec<Due>,
}

#[derive(Debug, Serialize)]
pub struct Due {
    pub path: String,
    pub what: String,
    pub management: Management,
    pub why: String,
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let ctx = Context::load(g)?;
    if let Some(c) = &args.client {
        ctx.inventory.client(c)?;
    }
    let vault = Vault::new(&ctx.workspace, &ctx.inventory, &ctx.keys);
    let now = Utc::now();
    let mut clients = Vec::new();
    for (name, client) in &ctx.inventory.clients {
        if args.client.as_ref().is_some_and(|c| c != name) {
            continue;
        }
        let doc = vault.load(name)?;
        let entries = assess(&ctx.inventory, &ctx.policy, &VaultIndex::of(&doc), now);
        let mut rows: BTreeMap<String, Row> = BTreeMap::new();
        let mut total = Row {
            what: "total".into(),
            ..Row::default()
        };
        for e in &entries {
            let what = e.what();
            rows.entry(what.clone())
                .or_insert_with(|| Row { what, ..Row::default() })
                .add(e);
            total.add(e);
        }
        let not_in_vault = client
            .targets
            .iter()
            .flat_map(|t| {
                t.guided
                    .iter()
                    .flat_map(move |g| g.accounts.iter().map(move |a| (t, a)))
            })
            .filter(|(t, a)| !doc.entries.contains_key(&format!("{}/{a}", t.name)))
            .map(|(t, a)| t.account_path(a))
            .collect();
        let mut due: Vec<&Assessed> = entries.iter().filter(|e| e.due.is_some()).collect();
        due.sort_by_key(|e| std::cmp::Reverse(e.age_days - i64::from(e.max_age_days)));
        clients.push(ClientStatus {
            client: name.clone(),
            rows: rows.into_values().collect(),
            total,
            not_in_vault,
            due: due
                .into_iter()
                .map(|e| Due {
                    path: e.path.clone(),
                    what: e.what(),
                    management: e.management,
                    why: e.due.clone().unwrap_or_default(),
                })
                .collect(),
        });
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&clients)?);
    } else {
        print!("{}", human(&clients));
    }
    Ok(Outcome::Success)
}

fn human(clients: &[ClientStatus]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let day = |t: Option<DateTime<Utc>>| t.map_or("never".to_string(), |t| t.format("%Y-%m-%d").to_string());
    for c in clients {
        let _ = writeln!(out, "{}", shown(&c.client));
        let _ = writeln!(
            out,
            "  {:<18} {:>9} {:>6} {:>8} {:>9} {:>7} {:>13}  last verified",
            "", "automatic", "guided", "scripted", "untracked", "due now", "never rotated"
        );
        for r in c.rows.iter().chain(std::iter::once(&c.total)) {
            let _ = writeln!(
                out,
                "  {:<18} {:>9} {:>6} {:>8} {:>9} {:>7} {:>13}  {}",
                shown(&r.what),
                r.automatic,
                r.guided,
                r.scripted,
                r.untracked,
                r.due_now,
                r.never_rotated,
                day(r.last_verified)
            );
        }
        for d in &c.due {
            let _ = writeln!(
                out,
                "  due: {} ({}, {}): {}",
                shown(&d.path),
                shown(&d.what),
                d.management.as_str(),
                shown(&d.why)
            );
        }
        for path in &c.not_in_vault {
            let _ = writeln!(
                out,
                "  not in the vault: {}: store it with `keyreeve vault set {}`",
                shown(path),
                shown(path)
            );
        }
        out.push('\n');
    }
    if clients.iter().any(|c| c.total.due_now > 0) {
        let _ = writeln!(
            out,
            "Rotate what is due: `keyreeve plan --client CLIENT -o plan.json`, then `keyreeve apply plan.json`."
        );
    }
    out
}
