//! `keyreeve offboard`: prints the plan that closes the provider's access to a client, as the
//! commands the technician runs in order: rotate what the provider's staff saw (or everything),
//! verify, export to the receiver, and only once the receiver confirms, remove the client's
//! entries from this workspace. It changes nothing itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use keyreeve::audit_log;
use keyreeve::export::envelope::Seal;
use keyreeve::export::manifest::revealed_since_rotation;
use keyreeve::export::Format;
use keyreeve::vault::Vault;

use super::context::Context;
use super::export::parse_format;
use super::{Global, Outcome};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The client leaving.
    #[arg(long, short = 'c', value_name = "CLIENT")]
    pub client: String,
    /// Rotate every account of the client, not only those revealed since their last rotation.
    #[arg(long)]
    pub all: bool,
    /// The receiver's public key, written into the export command (repeatable).
    #[arg(long = "recipient", short = 'r', value_name = "R")]
    pub recipients: Vec<String>,
    /// A file of the receiver's public keys, written into the export command.
    #[arg(long = "recipients-file", short = 'R', value_name = "FILE")]
    pub recipients_file: Option<PathBuf>,
    /// The export format the receiver wants.
    #[arg(long, short = 'f', default_value = "keyreeve", value_parser = parse_format)]
    pub format: Format,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct Step {
    title: String,
    why: String,
    commands: Vec<String>,
}

#[derive(Debug, Serialize)]
struct RevealedAccount {
    path: String,
    last_revealed: Option<chrono::DateTime<chrono::Utc>>,
    /// OS users who revealed it, from the audit log.
    revealed_by: BTreeSet<String>,
}

#[derive(Debug, Serialize)]
struct Plan {
    client: String,
    accounts: usize,
    revealed: Vec<RevealedAccount>,
    rotate_all: bool,
    steps: Vec<Step>,
}

/// Quotes an argument for a POSIX shell when it needs it.
fn sh(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '@' | ':' | '=' | '+'))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let ctx = Context::load(g)?;
    let client = ctx.inventory.client(&args.client)?.name.clone();
    if !args.recipients.is_empty() || args.recipients_file.is_some() {
        // A plan whose export step would fail is no plan: check the keys now.
        let files: Vec<PathBuf> = args.recipients_file.iter().cloned().collect();
        Seal::from_recipients(&args.recipients, &files)?;
    }
    let vault = Vault::new(&ctx.workspace, &ctx.inventory, &ctx.keys);
    let doc = vault.load(&client)?;

    // Who revealed what, from the audit log (a damaged log does not stop the plan; it is said).
    let mut revealers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let log_note = match audit_log::read_events(&ctx.workspace.audit_log_file()) {
        Ok(events) => {
            for e in events.iter().filter(|e| e.action == "vault.get") {
                revealers.entry(e.subject.clone()).or_default().insert(e.user.clone());
            }
            None
        }
        Err(e) => Some(format!(
            "the audit log could not be read ({e}); run `keyreeve log verify`"
        )),
    };
    let revealed: Vec<RevealedAccount> = doc
        .entries
        .iter()
        .filter(|(_, e)| revealed_since_rotation(e))
        .map(|(k, e)| {
            let path = format!("{client}/{k}");
            RevealedAccount {
                revealed_by: revealers.get(&path).cloned().unwrap_or_default(),
                last_revealed: e.revealed_at,
                path,
            }
        })
        .collect();

    let c = sh(&client);
    let plan_file = sh(&format!("{client}-offboard-plan.json"));
    let handover = sh(&format!("{client}-handover.age"));
    let mut steps = Vec::new();
    let rotate_all = args.all;
    if rotate_all || !revealed.is_empty() {
        let mode = if rotate_all { "--all" } else { "--revealed" };
        steps.push(Step {
            title: "Rotate".into(),
            why: if rotate_all {
                format!(
                    "every one of the {} accounts gets a password your staff never saw",
                    doc.entries.len()
                )
            } else {
                format!(
                    "{} password{} revealed to your staff since last rotated; new ones are never shown",
                    revealed.len(),
                    if revealed.len() == 1 { " was" } else { "s were" }
                )
            },
            commands: vec![
                format!("keyreeve plan --client {c} {mode} -o {plan_file}"),
                format!("keyreeve apply {plan_file}"),
            ],
        });
    }
    steps.push(Step {
        title: "Verify".into(),
        why: "the receiver must get passwords that work today".into(),
        commands: vec![format!("keyreeve verify --client {c}")],
    });
    let mut export = format!("keyreeve export --client {c} --format {}", args.format);
    if args.recipients.is_empty() && args.recipients_file.is_none() {
        export.push_str(" --recipient RECEIVER_PUBLIC_KEY");
    }
    for r in &args.recipients {
        export.push_str(&format!(" --recipient {}", sh(r)));
    }
    if let Some(f) = &args.recipients_file {
        export.push_str(&format!(" --recipients-file {}", sh(&f.display().to_string())));
    }
    export.push_str(&format!(" -o {handover}"));
    steps.push(Step {
        title: "Export".into(),
        why: "one encrypted file only the receiver can open, with a manifest of what your staff saw".into(),
        commands: vec![export],
    });
    steps.push(Step {
        title: "Receiver confirms".into(),
        why: "do not remove anything before the receiver has opened the file and checked a few logins".into(),
        commands: vec![
            format!("# receiver: age -d -i THEIR_KEY {handover} | head   (or: keyreeve import {handover})"),
            format!("keyreeve log --subject {c}"),
        ],
    });
    let mut removal: Vec<String> = doc
        .entries
        .keys()
        .map(|k| format!("keyreeve vault rm {}", sh(&format!("{client}/{k}"))))
        .collect();
    removal.push(format!(
        "# then delete [clients.{client}] from keyreeve.toml, vaults/{client}.age and state/backups/{client}/"
    ));
    removal.push("keyreeve log verify".into());
    steps.push(Step {
        title: "Remove".into(),
        why: "once confirmed, this workspace stops holding the client's credentials (its git history still \
              holds the encrypted vault, which is why the rotation comes first)"
            .into(),
        commands: removal,
    });

    let plan = Plan {
        client: client.clone(),
        accounts: doc.entries.len(),
        revealed,
        rotate_all,
        steps,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
        return Ok(Outcome::Success);
    }
    println!(
        "Offboarding client `{client}`: {} accounts in the vault.",
        plan.accounts
    );
    if plan.revealed.is_empty() {
        println!("No password was revealed to your staff since its last rotation.");
    } else {
        println!("Revealed to your staff since their last rotation:");
        for r in &plan.revealed {
            let by = if r.revealed_by.is_empty() {
                String::new()
            } else {
                format!(" by {}", r.revealed_by.iter().cloned().collect::<Vec<_>>().join(", "))
            };
            let when = r
                .last_revealed
                .map(|t| format!(" (last {})", t.format("%Y-%m-%d")))
                .unwrap_or_default();
            println!("  {}{when}{by}", r.path);
        }
    }
    if let Some(note) = log_note {
        println!("Note: {note}");
    }
    for (i, step) in plan.steps.iter().enumerate() {
        println!("\n{}. {}: {}", i + 1, step.title, step.why);
        for cmd in &step.commands {
            println!("   {cmd}");
        }
    }
    Ok(Outcome::Success)
}
