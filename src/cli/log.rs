//! `keyreeve log [--json]` shows the workspace's audit log; `keyreeve log verify` checks its hash
//! chain and exits 1 naming the first bad line.

use anyhow::Result;
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

use keyreeve::audit_log::{self, Event};
use keyreeve::workspace::Workspace;

use super::{Global, Outcome};

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<LogCommand>,
    /// Print the events as JSON lines, exactly as stored.
    #[arg(long)]
    pub json: bool,
    /// Only events whose subject starts with this (a client, or CLIENT/TARGET).
    #[arg(long, value_name = "PREFIX")]
    pub subject: Option<String>,
    /// Only the last N events.
    #[arg(long, value_name = "N")]
    pub last: Option<usize>,
}

#[derive(Debug, clap::Subcommand)]
pub enum LogCommand {
    /// Check the hash chain: exit 1 and name the first bad line if a line was changed, removed or
    /// reordered.
    Verify {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let workspace = super::context::locate_workspace(g)?;
    match args.command {
        Some(LogCommand::Verify { json }) => verify(&workspace, json),
        None => show(&workspace, &args),
    }
}

fn show(workspace: &Workspace, args: &Args) -> Result<Outcome> {
    let path = workspace.audit_log_file();
    let mut events: Vec<Event> = audit_log::read_events(&path)?;
    // A merged log holds each clone's lines in turn: one timeline reads by time.
    events.sort_by_key(|e| e.time);
    if let Some(prefix) = &args.subject {
        events.retain(|e| e.subject.starts_with(prefix.as_str()));
    }
    if let Some(n) = args.last {
        let skip = events.len().saturating_sub(n);
        events.drain(..skip);
    }
    if args.json {
        for e in &events {
            println!("{}", serde_json::to_string(e)?);
        }
        return Ok(Outcome::Success);
    }
    if events.is_empty() {
        println!("The audit log {} holds no events.", path.display());
        return Ok(Outcome::Success);
    }
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(["#", "time (UTC)", "user", "key", "action", "subject", "details"]);
    for e in &events {
        table.add_row([
            e.seq.to_string(),
            e.time.format("%Y-%m-%d %H:%M:%S").to_string(),
            e.user.clone(),
            e.actor_key.as_deref().map(short_key).unwrap_or_else(|| "-".into()),
            e.action.clone(),
            e.subject.clone(),
            details_text(&e.details),
        ]);
    }
    println!("{table}");
    Ok(Outcome::Success)
}

fn verify(workspace: &Workspace, json: bool) -> Result<Outcome> {
    let path = workspace.audit_log_file();
    let v = audit_log::verify(workspace)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        match &v.problem {
            None => println!("{}: {} lines, the chain is intact.", path.display(), v.lines),
            Some(p) => {
                println!("{}: first bad line {}: {p}", path.display(), p.line());
                println!("Restore the log from the workspace's git history and find out who changed it.");
            }
        }
    }
    Ok(if v.is_intact() {
        Outcome::Success
    } else {
        Outcome::Findings
    })
}

/// `age1qyz…7k3p`: enough to tell keys apart in a table.
fn short_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 16 {
        return key.to_string();
    }
    let head: String = chars[..10].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

fn details_text(details: &serde_json::Value) -> String {
    match details {
        serde_json::Value::Null => String::new(),
        serde_json::Value::Object(map) if map.is_empty() => String::new(),
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={}", ellipsize(s)),
                other => format!("{k}={}", ellipsize(&other.to_string())),
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// Long values (key lists, paths) cut for the table; `--json` shows them whole.
fn ellipsize(s: &str) -> String {
    const MAX: usize = 48;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let head: String = s.chars().take(MAX - 1).collect();
        format!("{head}…")
    }
}
