//! `keyreeve review`: the security reviewer's command. Reads the discovery snapshots (no keys, no
//! network), runs the audit rules, compares with an earlier snapshot for what changed, and prints
//! findings and who holds admin rights or remote access, as a table, JSON or a Markdown report.
//! Exits 1 when a finding at or above `--fail-on` is open.

use anyhow::{Context as _, Result};
use chrono::{DateTime, NaiveDate, Utc};
use keyreeve::policy::Policy;
use keyreeve::review::snapshot::SnapshotStore;
use keyreeve::review::{self, report, rules, Review, ReviewContext, Severity};

use super::context::load_inventory;
use super::inventory::select;
use super::{Global, Outcome};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Markdown,
    /// One self-contained HTML page (no script, nothing loaded) for the client.
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    Low,
    Medium,
    High,
    Never,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this client's targets.
    #[arg(long)]
    pub client: Option<String>,
    /// Only this target (`TARGET` or `CLIENT/TARGET`).
    #[arg(long)]
    pub target: Option<String>,
    /// Count changes since this day (YYYY-MM-DD, end of day UTC) or time (RFC 3339), e.g. the
    /// last review's; default: `compare_days` of the policy's [review] (30) ago.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// How to print the review.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Same as `--format json`.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Write the review to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// Exit 1 when an open (not accepted) finding is at least this severe.
    #[arg(long, value_enum, default_value_t = FailOn::Low)]
    pub fail_on: FailOn,
    /// List the rules and exit.
    #[arg(long)]
    pub rules: bool,
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    if args.rules {
        for r in rules::ALL {
            println!("{:<30} {:<7} {}", r.id(), r.severity().as_str(), r.summary());
        }
        return Ok(Outcome::Success);
    }
    let (workspace, inventory) = load_inventory(g)?;
    let policy = Policy::load_dir(&workspace.policies_dir())?;
    let now = Utc::now();
    let since = match args.since.as_deref() {
        Some(text) => parse_when(text)?,
        None => keyreeve::policy::days_before(now, policy.review.compare_days).with_context(|| {
            format!(
                "compare_days = {} reaches back before any date",
                policy.review.compare_days
            )
        })?,
    };
    let selected = select(&inventory, args.client.as_deref(), args.target.as_deref())?;
    let targets = review::gather(&SnapshotStore::of_workspace(&workspace), selected, since, now)?;
    let ctx = ReviewContext {
        now,
        policy: &policy.review,
    };
    let vault = vault_entries(
        &workspace,
        &inventory,
        &policy,
        &selected_clients(&inventory, &args),
        now,
    );
    let mut result = review::review_with_vault(&targets, &vault, &ctx);
    result.since = Some(since);
    let scope = match (&args.target, &args.client) {
        (Some(t), _) => format!("target {t}"),
        (None, Some(c)) => format!("client {c}"),
        (None, None) => "every client".to_string(),
    };
    let format = if args.json { Format::Json } else { args.format };
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&result)? + "\n",
        Format::Markdown => report::markdown(&result, &scope),
        Format::Html => review::html::render(&result, &scope),
        Format::Table => {
            let overdue = keyreeve::review::due::overdue_tally(&vault);
            let overdue = if overdue.is_empty() {
                String::new()
            } else {
                format!("Overdue: {overdue}.\n")
            };
            human(&result, &scope) + &overdue
        }
    };
    match &args.output {
        Some(path) => {
            // It names every admin account: private, like the snapshots it comes from.
            keyreeve::safe_fs::write_output(path, 0o600, |w| w.write_all(text.as_bytes()))
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("review written to {}", path.display());
        }
        None => print!("{text}"),
    }
    let fail_at = match args.fail_on {
        FailOn::Low => Some(Severity::Low),
        FailOn::Medium => Some(Severity::Medium),
        FailOn::High => Some(Severity::High),
        FailOn::Never => None,
    };
    Ok(match fail_at {
        Some(s) if result.open_findings(s).next().is_some() => Outcome::Findings,
        _ => Outcome::Success,
    })
}

/// The clients a review covers (a target's client when one target is asked for).
fn selected_clients(inventory: &keyreeve::inventory::Inventory, args: &Args) -> Vec<String> {
    match (args.target.as_deref().and_then(|t| t.split_once('/')), &args.client) {
        (Some((c, _)), _) => vec![c.to_string()],
        (None, Some(c)) => vec![c.clone()],
        (None, None) => inventory.clients.keys().cloned().collect(),
    }
}

/// Every vault entry of `clients`, from the vaults' keyless indexes (a client whose vault was
/// never written has none; an unreadable index is noted on stderr and left out).
fn vault_entries(
    workspace: &keyreeve::workspace::Workspace,
    inventory: &keyreeve::inventory::Inventory,
    policy: &Policy,
    clients: &[String],
    now: DateTime<Utc>,
) -> Vec<keyreeve::review::due::Assessed> {
    let mut out = Vec::new();
    for client in clients {
        match keyreeve::review::vault_index::load(workspace, client) {
            Ok(Some(index)) => out.extend(keyreeve::review::due::assess(inventory, policy, &index, now)),
            Ok(None) => {}
            Err(e) => eprintln!("note: the vault index is unreadable, its entries are not reviewed: {e}"),
        }
    }
    out
}

/// `2026-10-01` (the end of that day, UTC) or an RFC 3339 time.
fn parse_when(text: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        anyhow::anyhow!(
            "--since `{text}` is neither a day (YYYY-MM-DD) nor a time (RFC 3339, e.g. 2026-10-01T09:00:00Z)"
        )
    })?;
    Ok(day
        .and_hms_nano_opt(23, 59, 59, 999_999_999)
        .expect("a valid time of day")
        .and_utc())
}

/// The review for people: findings with what to do, then the roster, then the counts. Names,
/// privileges and messages come from devices and directories: shown escaped.
fn human(r: &Review, scope: &str) -> String {
    use keyreeve::escape::{terminal as shown, terminal_lines as shown_lines};
    use std::fmt::Write;
    let mut out = String::new();
    let compared = r.targets.iter().filter(|t| t.baseline_taken_at.is_some()).count();
    let _ = writeln!(
        out,
        "Review of {}: {} targets, {} with a snapshot, {compared} compared with an earlier one.\n",
        shown(scope),
        r.targets.len(),
        r.targets.iter().filter(|t| t.taken_at.is_some()).count()
    );
    for t in &r.targets {
        if let Some(s) = &t.scope {
            let _ = writeln!(out, "Scope of {}: {}", shown(&t.target), shown(&s.statement()));
            for w in &s.warnings {
                let _ = writeln!(out, "  not read: {}", shown(w));
            }
            out.push('\n');
        }
    }
    for f in &r.findings {
        let label = match &f.accepted {
            Some(_) => "accepted".to_string(),
            None => f.severity.as_str().to_uppercase(),
        };
        let _ = writeln!(out, "{label:<8} {:<28} {}", f.rule, shown(&f.subject));
        let _ = writeln!(out, "         {}", shown_lines(&f.message));
        match &f.accepted {
            Some(a) => {
                let until = a.until.map(|u| format!(" until {u}")).unwrap_or_default();
                let _ = writeln!(out, "         accepted{until}: {} ({})", shown(&a.reason), shown(&a.by));
            }
            None => {
                let _ = writeln!(out, "         hint: {}", shown_lines(&f.hint));
            }
        }
    }
    if !r.findings.is_empty() {
        out.push('\n');
    }
    for a in &r.unused_acceptances {
        let _ = writeln!(out, "note: policy acceptance {}: tidy it", shown(a));
    }
    let _ = writeln!(out, "Admin rights and remote access:");
    for t in &r.targets {
        let _ = writeln!(out, "  {}: {}", shown(&t.target), report::compared(t, r.since));
        for e in &t.roster {
            let mut notes = Vec::new();
            if e.dial_in {
                notes.push("remote access");
            }
            if !e.enabled {
                notes.push("cannot log in now");
            }
            let notes = if notes.is_empty() {
                String::new()
            } else {
                format!(" [{}]", notes.join(", "))
            };
            let how = if e.admin {
                shown(&report::how(e)).to_string()
            } else {
                "not an admin".to_string()
            };
            let facts = match &e.directory {
                Some(d) => {
                    let day = |v: &Option<String>| {
                        v.as_deref()
                            .map(|s| s.get(..10).unwrap_or(s))
                            .unwrap_or("never")
                            .to_string()
                    };
                    format!(
                        " ({}; password set {}; last logon {}; {}; {})",
                        d.account_type,
                        day(&d.pwd_last_set),
                        day(&d.last_logon),
                        if d.protected_user {
                            "Protected Users"
                        } else {
                            "not in Protected Users"
                        },
                        shown(&d.delegation)
                    )
                }
                None => String::new(),
            };
            let _ = writeln!(out, "    {}: {how}{notes}{facts}", shown(&e.account));
        }
        if !t.groups.is_empty() {
            let _ = writeln!(out, "  by privileged group:");
            for g in &t.groups {
                let members: Vec<String> = g
                    .members
                    .iter()
                    .map(|m| format!("{} ({})", shown(&m.account), shown(&m.through)))
                    .collect();
                let _ = writeln!(out, "    {}: {}", shown(&g.group), members.join(", "));
                if !g.nested_groups.is_empty() {
                    let _ = writeln!(out, "      nested: {}", shown(&g.nested_groups.join("; ")));
                }
            }
        }
        if !t.remote_access.is_empty() {
            let _ = writeln!(out, "  who can reach the network from outside:");
            for a in &t.remote_access {
                let admin = if a.admin { ", admin" } else { "" };
                let off = if a.enabled { "" } else { ", disabled" };
                let _ = writeln!(
                    out,
                    "    {}: {} [{}{admin}{off}]",
                    shown(&a.account),
                    shown(&a.state),
                    shown(&a.reasons.join(", "))
                );
            }
        }
    }
    let counts: Vec<String> = r.counts().iter().map(|(s, n)| format!("{n} {}", s.as_str())).collect();
    let accepted = r.findings.iter().filter(|f| f.accepted.is_some()).count();
    let _ = writeln!(out, "\nOpen findings: {}; {accepted} accepted.", counts.join(", "));
    out
}
