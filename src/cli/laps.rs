//! `keyreeve laps expire`: sets the LAPS expiration time of computers in a client's AD to now, so
//! that each machine rotates its own local admin password at its next policy cycle (after a
//! technician used it, or when a handover ends). And the part of `export --with-laps` that reads
//! the LAPS passwords the AD login account may read, live, into the handover only.
//!
//! Like a rotation, it can be planned for review (`laps expire -o FILE`, a hashed plan) and
//! applied later (`laps apply FILE`), which checks the plan against the directory first.
//! Each change goes over verified TLS only (the directory connector's guard), and is recorded in
//! the audit log before it is sent (a change the log cannot record is refused) and after.

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use keyreeve::audit_log;
use keyreeve::connector::ldap::tls::DirConn;
use keyreeve::connector::ldap::{self, laps};
use keyreeve::escape::terminal as shown;
use keyreeve::export::{TargetInfo, Targets};
use keyreeve::inventory::{Client, Target, TargetKind};
use keyreeve::rotation::login_credentials;
use keyreeve::vault::{Entry, Vault, VaultDocument};

use super::context::Context;
use super::{Global, Outcome};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Set the LAPS password expiration of computers to now: each rotates at its next policy cycle.
    Expire(ExpireArgs),
    /// Apply a LAPS plan written by `laps expire -o FILE`, after checking it against the directory.
    Apply(ApplyArgs),
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["computer", "ou"])))]
pub struct ExpireArgs {
    /// The client whose Active Directory holds the computers.
    #[arg(long, short = 'c', value_name = "CLIENT")]
    pub client: String,
    /// One computer, by name (`WS01` or `WS01$`).
    #[arg(long, value_name = "NAME")]
    pub computer: Option<String>,
    /// Every computer under this OU (a DN).
    #[arg(long, value_name = "DN")]
    pub ou: Option<String>,
    /// The AD target to use, when the client has several.
    #[arg(long, value_name = "TARGET")]
    pub target: Option<String>,
    /// Write the plan to this file for review (`keyreeve laps apply FILE` applies it) instead of
    /// applying it now.
    #[arg(short, long, value_name = "FILE", conflicts_with = "dry_run")]
    pub output: Option<PathBuf>,
    /// Show what would change, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// The plan file.
    pub plan: PathBuf,
}

/// The `format` of a LAPS plan.
const PLAN_FORMAT: &str = "keyreeve-laps-plan/1";

/// A reviewed list of LAPS expirations to set, like a rotation plan: hashed, and checked against
/// the directory again before anything is sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LapsPlan {
    format: String,
    created_at: DateTime<Utc>,
    client: String,
    target: String,
    items: Vec<LapsItem>,
    skipped: Vec<String>,
    #[serde(default)]
    hash: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LapsItem {
    computer: String,
    dn: String,
    /// The expiration attributes to set to the time of applying.
    attributes: Vec<String>,
}

impl LapsPlan {
    fn compute_hash(&self) -> String {
        let mut copy = self.clone();
        copy.hash = String::new();
        hex::encode(Sha256::digest(serde_json::to_vec(&copy).unwrap_or_default()))
    }
}

pub fn run(g: &Global, command: Command) -> Result<Outcome> {
    match command {
        Command::Expire(args) => expire(g, args),
        Command::Apply(args) => apply(g, args),
    }
}

/// The client's one active-directory target (or the one named).
fn directory_target<'a>(client: &'a Client, name: Option<&str>) -> Result<&'a Target> {
    let directories: Vec<_> = client
        .targets
        .iter()
        .filter(|t| t.kind == TargetKind::ActiveDirectory)
        .filter(|t| name.is_none_or(|n| n == t.name))
        .collect();
    match directories.as_slice() {
        [one] => Ok(*one),
        [] => bail!(
            "client `{}` has no active-directory target{}",
            client.name,
            name.map(|t| format!(" named `{}`", shown(t))).unwrap_or_default()
        ),
        _ => bail!(
            "client `{}` has several active-directory targets: name one with --target",
            client.name
        ),
    }
}

fn bind(ctx: &Context, client: &Client, target: &Target) -> Result<DirConn> {
    let document = Vault::new(&ctx.workspace, &ctx.inventory, &ctx.keys).load(&client.name)?;
    let login = login_credentials(target, &document)?;
    Ok(ldap::directory_connector(target, &ctx.connect_context(false)).bound(&login)?)
}

fn expire(g: &Global, args: ExpireArgs) -> Result<Outcome> {
    let ctx = Context::load(g)?;
    let client = ctx.inventory.client(&args.client)?;
    let target = directory_target(client, args.target.as_deref())?;
    let mut conn = bind(&ctx, client, target)?;
    let nc = target.base_dn.clone().unwrap_or_default();
    let computers = laps::computers_matching(&mut conn, &nc, args.computer.as_deref(), args.ou.as_deref())?;
    if computers.is_empty() {
        conn.close();
        bail!(
            "no computer matches {} in {}",
            args.computer
                .as_deref()
                .map(|c| format!("--computer {}", shown(c)))
                .unwrap_or_else(|| format!("--ou {}", shown(args.ou.as_deref().unwrap_or_default()))),
            target.path()
        );
    }
    let (with_laps, without): (Vec<_>, Vec<_>) = computers.into_iter().partition(|c| c.has_laps());
    let mut plan = LapsPlan {
        format: PLAN_FORMAT.into(),
        created_at: Utc::now(),
        client: client.name.clone(),
        target: target.name.clone(),
        items: with_laps
            .iter()
            .map(|c| LapsItem {
                computer: c.computer.clone(),
                dn: c.dn.clone(),
                attributes: laps::expiration_attributes(c).iter().map(|a| a.to_string()).collect(),
            })
            .collect(),
        skipped: without.iter().map(|c| c.dn.clone()).collect(),
        hash: String::new(),
    };
    plan.hash = plan.compute_hash();
    println!(
        "Plan: set the LAPS expiration of {} computer(s) in {} to the time of applying",
        with_laps.len(),
        target.path()
    );
    for c in &with_laps {
        println!("  {} ({}): {}", shown(&c.computer), shown(&c.dn), shown(&c.describe()));
    }
    for c in &without {
        println!(
            "  skipped {} ({}): LAPS is not in force on it",
            shown(&c.computer),
            shown(&c.dn)
        );
    }
    if let Some(path) = &args.output {
        conn.close();
        let text = serde_json::to_string_pretty(&plan)? + "\n";
        keyreeve::safe_fs::write_output(path, 0o600, |w| w.write_all(text.as_bytes()))
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!(
            "Written to {}; review it, then: keyreeve laps apply {}",
            path.display(),
            path.display()
        );
        return Ok(Outcome::Success);
    }
    if args.dry_run || with_laps.is_empty() {
        conn.close();
        return Ok(if with_laps.is_empty() {
            Outcome::Findings
        } else {
            Outcome::Success
        });
    }
    let outcome = apply_items(&ctx, target, &mut conn, &plan, &with_laps);
    conn.close();
    outcome
}

fn apply(g: &Global, args: ApplyArgs) -> Result<Outcome> {
    let text = keyreeve::safe_fs::read_existing_text(&args.plan, keyreeve::safe_fs::Limit::PLAN)
        .with_context(|| format!("cannot read {}", args.plan.display()))?;
    let plan: LapsPlan = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a LAPS plan of keyreeve", args.plan.display()))?;
    if plan.format != PLAN_FORMAT {
        bail!(
            "{}: unknown format `{}`; this keyreeve reads {PLAN_FORMAT}",
            args.plan.display(),
            shown(&plan.format)
        );
    }
    if plan.hash != plan.compute_hash() {
        bail!(
            "{} was changed after it was written (its hash does not match): make the plan again",
            args.plan.display()
        );
    }
    let ctx = Context::load(g)?;
    let client = ctx.inventory.client(&plan.client)?;
    let target = directory_target(client, Some(&plan.target))?;
    let mut conn = bind(&ctx, client, target)?;
    // Checked against the directory before any change: the plan says what the reviewer saw.
    let mut computers = Vec::new();
    for item in &plan.items {
        let now = laps::computer_at(&mut conn, &item.dn)?;
        let same = now.as_ref().is_some_and(|c| {
            laps::expiration_attributes(c)
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                == item.attributes
        });
        match now {
            Some(c) if same => computers.push(c),
            _ => {
                conn.close();
                bail!(
                    "{} changed since the plan was made ({} is gone or its LAPS changed); nothing was changed: make the plan again",
                    target.path(),
                    shown(&item.dn)
                );
            }
        }
    }
    let outcome = apply_items(&ctx, target, &mut conn, &plan, &computers);
    conn.close();
    outcome
}

/// Sets each computer's expiration to now: the intent recorded in the audit log before anything
/// is sent (a change the log cannot record is refused), each outcome after.
fn apply_items(
    ctx: &Context,
    target: &Target,
    conn: &mut DirConn,
    plan: &LapsPlan,
    computers: &[laps::LapsComputer],
) -> Result<Outcome> {
    let now = Utc::now();
    let actor = ctx.actor();
    let dns: Vec<&str> = computers.iter().map(|c| c.dn.as_str()).collect();
    audit_log::record(
        &ctx.workspace,
        actor.as_deref(),
        "laps-expire-start",
        &target.path(),
        serde_json::json!({"computers": dns, "expires": now.to_rfc3339(), "plan": plan.hash}),
    )?;
    let mut failed = 0;
    for c in computers {
        let result = laps::expire(conn, c, now);
        let (status, detail) = match &result {
            Ok(attrs) => ("expired", attrs.join(", ")),
            Err(e) => {
                failed += 1;
                ("failed", e.to_string())
            }
        };
        audit_log::record(
            &ctx.workspace,
            actor.as_deref(),
            "laps-expire",
            &format!("{}/{}", target.path(), c.computer),
            serde_json::json!({"dn": c.dn, "status": status, "detail": detail, "expires": now.to_rfc3339(), "plan": plan.hash}),
        )?;
        match result {
            Ok(_) => println!("  {}: expired ({detail})", shown(&c.computer)),
            Err(_) => eprintln!("  {}: failed: {}", shown(&c.computer), shown(&detail)),
        }
    }
    Ok(if failed == 0 {
        Outcome::Success
    } else {
        Outcome::Findings
    })
}

/// Adds the LAPS passwords that the login account of each of `client`'s AD targets may read to
/// `document` (the handover's copy of the vault, never saved) and their computers to `targets`:
/// target = the computer's name, account = the managed local admin. Read live: snapshots never
/// hold them. Returns how many were added.
pub fn add_to_handover(
    ctx: &Context,
    client: &Client,
    document: &mut VaultDocument,
    targets: &mut Targets,
) -> Result<usize> {
    let mut added = 0;
    let connect = ctx.connect_context(false);
    for target in client.targets.iter().filter(|t| t.kind == TargetKind::ActiveDirectory) {
        let login = login_credentials(target, document)?;
        let secrets = ldap::directory_connector(target, &connect).laps_passwords(&login)?;
        for s in secrets {
            let key = format!("{}/{}", s.computer, s.account);
            let path = format!("{}/{key}", client.name);
            if let Err(e) = keyreeve::validate::vault_path(&path) {
                eprintln!("warning: LAPS password of `{}` left out: {e}", shown(&s.computer));
                continue;
            }
            if document.entries.contains_key(&key) || targets.contains_key(&s.computer) {
                eprintln!(
                    "warning: LAPS password of `{}` left out: the vault already has a target of that name",
                    shown(&s.computer)
                );
                continue;
            }
            let mut entry = Entry::new(s.account.clone(), s.password);
            entry.notes = format!(
                "LAPS password read from {} at export{}",
                target.path(),
                s.expires.map(|e| format!("; it expires {e}")).unwrap_or_default()
            );
            document.entries.insert(key, entry);
            targets.insert(
                s.computer.clone(),
                TargetInfo {
                    kind: "manual".into(),
                    address: s.computer.clone(),
                    port: 0,
                    login: s.account,
                    url: None,
                    base_dn: None,
                    host_key: None,
                },
            );
            added += 1;
        }
    }
    Ok(added)
}

/// One line for `discover`'s table in place of the computer records that carry a LAPS state:
/// a domain of thousands of desktops would otherwise bury its admins.
pub fn discover_summary(accounts: &[keyreeve::review::snapshot::AccountRecord]) -> Option<String> {
    let computers: Vec<laps::LapsComputer> = accounts
        .iter()
        .filter_map(|a| a.account.details.get("laps"))
        .filter_map(|v| serde_json::from_value(v.clone()).ok())
        .collect();
    if computers.is_empty() {
        return None;
    }
    let counted: Vec<_> = computers
        .iter()
        .filter(|c| c.enabled && c.is_windows() && !c.domain_controller)
        .collect();
    let without = counted.iter().filter(|c| !c.has_laps()).count();
    let now = Utc::now();
    let expired = counted.iter().filter(|c| c.expires().is_some_and(|e| e < now)).count();
    Some(format!(
        "LAPS: {} computers read, {} enabled Windows: {without} without LAPS, {expired} expired (`keyreeve review` lists them per OU)",
        computers.len(),
        counted.len()
    ))
}
