//! `keyreeve hostkeys accept|list`: the deliberate way to take a target's new SSH host key into
//! the workspace's known_hosts file (a changed key is otherwise always refused), and a view of
//! which key each SSH target is held to.

use anyhow::{bail, Result};
use comfy_table::{presets::UTF8_BORDERS_ONLY, Table};
use keyreeve::connector::ssh::hostkeys::{self, host_pattern};
use keyreeve::connector::ssh::session::{fetch_host_key, Endpoint};

use super::context::{connect_context, load_inventory};
use super::inventory::{one, select};
use super::{Global, Outcome};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Connect to TARGET, read its host key and record it in the workspace's known_hosts,
    /// replacing any key recorded before. Nothing is authenticated.
    Accept {
        /// `TARGET` or `CLIENT/TARGET`.
        target: String,
        /// Accept only this fingerprint (`SHA256:...`, as read from the device's console).
        #[arg(long, value_name = "SHA256")]
        fingerprint: Option<String>,
    },
    /// Show the host key each SSH target is held to: pinned in keyreeve.toml or recorded.
    List {
        #[arg(long)]
        client: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(g: &Global, command: Command) -> Result<Outcome> {
    match command {
        Command::Accept { target, fingerprint } => accept(g, &target, fingerprint.as_deref()),
        Command::List { client, json } => list(g, client.as_deref(), json),
    }
}

fn accept(g: &Global, name: &str, expected: Option<&str>) -> Result<Outcome> {
    let (ws, inv) = load_inventory(g)?;
    let target = one(&inv, name)?;
    if target.kind.is_directory() {
        bail!(
            "{} is a directory target: it is reached over TLS, not SSH",
            target.path()
        );
    }
    if target.kind.is_manual() {
        bail!("{} is a manual target: keyreeve never connects to it", target.path());
    }
    if let Some(pin) = &target.host_key {
        bail!(
            "{} has host_key = \"{pin}\" pinned in keyreeve.toml (line {}); change the pin there instead",
            target.path(),
            target.line
        );
    }
    let ctx = connect_context(&ws, Default::default(), false);
    let endpoint = Endpoint::new(target, &ctx);
    let key = fetch_host_key(&endpoint)?;
    let got = key.fingerprint();
    if let Some(expected) = expected {
        if expected.trim() != got {
            bail!(
                "{}: the host presents {got}, not {}; nothing was recorded",
                target.path(),
                expected.trim()
            );
        }
    }
    let pattern = host_pattern(&target.address, target.port);
    let replaced = hostkeys::record(&ctx.known_hosts, &pattern, &key)?;
    let replaced: Vec<String> = replaced.into_iter().filter(|f| *f != got).collect();
    if replaced.is_empty() {
        println!("{}: recorded {} {got} for {pattern}", target.path(), key.key_type());
    } else {
        println!(
            "{}: recorded {} {got} for {pattern}, replacing {}",
            target.path(),
            key.key_type(),
            replaced.join(", ")
        );
    }
    Ok(Outcome::Success)
}

#[derive(serde::Serialize)]
struct Row {
    target: String,
    host: String,
    pinned: Option<String>,
    known: Vec<String>,
    status: &'static str,
}

fn list(g: &Global, client: Option<&str>, json: bool) -> Result<Outcome> {
    let (ws, inv) = load_inventory(g)?;
    let known = hostkeys::read_known_hosts(&ws.known_hosts_file())?;
    let mut rows = Vec::new();
    for t in select(&inv, client, None)?
        .into_iter()
        .filter(|t| !t.kind.is_directory() && !t.kind.is_manual())
    {
        let pattern = host_pattern(&t.address, t.port);
        let recorded: Vec<String> = known
            .iter()
            .filter(|k| k.hosts.split(',').any(|h| h == pattern))
            .map(|k| k.fingerprint())
            .collect();
        let status = match (&t.host_key, recorded.is_empty()) {
            (Some(_), _) => "pinned",
            (None, false) => "recorded",
            (None, true) => "unknown",
        };
        rows.push(Row {
            target: t.path(),
            host: pattern,
            pinned: t.host_key.clone(),
            known: recorded,
            status,
        });
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(Outcome::Success);
    }
    let mut table = Table::new();
    table
        .load_preset(UTF8_BORDERS_ONLY)
        .set_header(["target", "host", "status", "fingerprint"]);
    for r in &rows {
        let fp = match (&r.pinned, r.known.as_slice()) {
            (Some(p), _) => p.clone(),
            (None, []) => "-".into(),
            (None, k) => k.join("\n"),
        };
        table.add_row([r.target.clone(), r.host.clone(), r.status.to_string(), fp]);
    }
    println!("{table}");
    // Keys recorded for hosts that no target uses any more.
    let patterns: Vec<String> = inv
        .targets()
        .filter(|t| !t.kind.is_directory() && !t.kind.is_manual())
        .map(|t| host_pattern(&t.address, t.port))
        .collect();
    for k in &known {
        if !k.hosts.split(',').any(|h| patterns.iter().any(|p| p == h)) {
            println!(
                "note: {} line {}: {} {} is recorded for no target",
                ws.known_hosts_file().display(),
                k.line,
                k.hosts,
                k.fingerprint()
            );
        }
    }
    Ok(Outcome::Success)
}
