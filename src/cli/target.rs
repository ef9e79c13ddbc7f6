//! `keyreeve target add CLIENT NAME`: a target enters keyreeve.toml without hand-editing it. An SSH
//! target is connected to first (no credentials are sent) and its host key is pinned only once a
//! person confirmed the fingerprint, or a script named it (`--accept-host-key`) or waived the
//! check (`--yes`): a key taken unseen would let a man in the middle collect every password.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use keyreeve::connector::ssh::session::{fetch_host_key, Endpoint};
use keyreeve::inventory::edit::{self, NewTarget};
use keyreeve::inventory::{is_valid_name, Inventory, TargetKind};

use super::context::locate_workspace;
use super::{Global, Outcome};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Add a target to a client; SSH targets get their host key pinned.
    Add(AddArgs),
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The client (see `keyreeve client add`).
    pub client: String,
    /// The target's name: letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// linux, cisco-ios, cisco-nxos, cisco-asa, junos, arista-eos, routeros, fortios, vyos
    /// (edgeos), active-directory, ldap,
    /// aruba-aoscx, aruba-aoss (procurve), esxi, synology-dsm.
    #[arg(long)]
    pub kind: String,
    /// Host name or IP address (SSH targets).
    #[arg(long)]
    pub address: Option<String>,
    /// SSH port (default 22).
    #[arg(long)]
    pub port: Option<u16>,
    /// The account keyreeve logs in (or binds) as; its password is the vault entry
    /// CLIENT/NAME/LOGIN.
    #[arg(long, default_value = "admin")]
    pub login: String,
    /// The vault account holding the enable secret (IOS, ASA, EOS), e.g. `enable`.
    #[arg(long)]
    pub enable: Option<String>,
    /// Directory targets: `ldaps://HOST[:PORT]`.
    #[arg(long)]
    pub url: Option<String>,
    /// Directory targets: the base DN, e.g. `DC=corp,DC=example`.
    #[arg(long)]
    pub base_dn: Option<String>,
    /// Pin the host key only if it has this fingerprint (`SHA256:...`, read from the device's
    /// console): for scripts.
    #[arg(long, value_name = "SHA256")]
    pub accept_host_key: Option<String>,
    /// Pin whatever host key the target presents, without asking.
    #[arg(long)]
    pub yes: bool,
    /// Seconds to wait for the connection.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
}

pub fn run(g: &Global, command: Command) -> Result<Outcome> {
    match command {
        Command::Add(args) => add(g, args),
    }
}

/// Asks `question` on the terminal; an error when there is none, naming `instead`, the flag a
/// script passes.
pub(crate) fn confirm(question: &str, instead: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        bail!("not on a terminal, so nobody can confirm: {instead}");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

/// Connects to `address:port` (no credentials) and returns the host key's fingerprint once it
/// is confirmed, by `expected`, `yes`, or a person on the terminal.
pub(crate) fn confirmed_host_key(
    name: &str,
    address: &str,
    port: u16,
    timeout: Duration,
    expected: Option<&str>,
    yes: bool,
) -> Result<String> {
    let endpoint = Endpoint {
        name: name.to_string(),
        address: address.to_string(),
        port,
        connect_timeout: timeout,
        command_timeout: timeout,
        pinned_host_key: None,
        known_hosts: std::path::PathBuf::new(),
        trust_on_first_use: false,
    };
    let key = fetch_host_key(&endpoint).map_err(keyreeve::Error::from)?;
    let got = key.fingerprint();
    println!(
        "{name}: {address}:{port} presents the {} host key {got}",
        key.key_type()
    );
    if let Some(expected) = expected {
        if expected.trim() != got {
            bail!(
                "{name}: the host presents {got}, not {}; nothing was added",
                expected.trim()
            );
        }
        return Ok(got);
    }
    if yes {
        return Ok(got);
    }
    let question = "Compare it with the fingerprint on the device's console. Pin it?";
    if !confirm(
        question,
        &format!("pass --accept-host-key {got} after checking it on the device's console, or --yes"),
    )? {
        bail!("{name}: the host key was not confirmed; nothing was added");
    }
    Ok(got)
}

fn add(g: &Global, args: AddArgs) -> Result<Outcome> {
    let ws = locate_workspace(g)?;
    let file = ws.inventory_file();
    let text = keyreeve::safe_fs::read_existing_text(&file, keyreeve::safe_fs::Limit::INVENTORY)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let inventory = Inventory::parse(&text, &file)?;
    let client = inventory.client(&args.client)?;
    if !is_valid_name(&args.name) {
        bail!(
            "`{}` is not a valid target name: letters, digits, `-`, `_`, `.`",
            args.name.escape_debug()
        );
    }
    if client.targets.iter().any(|t| t.name == args.name) {
        bail!(
            "target `{}/{}` is already in {}",
            args.client,
            args.name,
            file.display()
        );
    }
    let kind = TargetKind::parse(&args.kind).ok_or_else(|| {
        let known: Vec<_> = TargetKind::ALL.iter().map(|k| k.as_str()).collect();
        anyhow::anyhow!(
            "unknown kind `{}`; known kinds: {}",
            args.kind.escape_debug(),
            known.join(", ")
        )
    })?;
    if kind == TargetKind::Script {
        bail!("a script target names its changer and params: write it into keyreeve.toml (docs/changers.md)");
    }
    let path = format!("{}/{}", args.client, args.name);
    let new = if kind.is_directory() {
        if args.url.is_none() || args.base_dn.is_none() {
            bail!("a {kind} target needs --url ldaps://HOST and --base-dn DN");
        }
        NewTarget {
            name: args.name.clone(),
            kind,
            address: None,
            port: None,
            login: args.login.clone(),
            enable: args.enable.clone(),
            host_key: None,
            url: args.url.clone(),
            base_dn: args.base_dn.clone(),
            comment: None,
        }
    } else {
        let Some(address) = args.address.clone() else {
            bail!("a {kind} target needs --address HOST");
        };
        let port = args.port.unwrap_or(22);
        let host_key = confirmed_host_key(
            &path,
            &address,
            port,
            Duration::from_secs(args.timeout.max(1)),
            args.accept_host_key.as_deref(),
            args.yes,
        )?;
        NewTarget {
            name: args.name.clone(),
            kind,
            address: Some(address),
            port: args.port.filter(|p| *p != 22),
            login: args.login.clone(),
            enable: args.enable.clone(),
            host_key: Some(host_key),
            url: None,
            base_dn: None,
            comment: None,
        }
    };
    // Read again: the file may have changed while a person looked at the fingerprint.
    let text = keyreeve::safe_fs::read_existing_text(&file, keyreeve::safe_fs::Limit::INVENTORY)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let new_text = edit::add_targets(&text, &file, &args.client, &[new])?;
    edit::write(&file, &new_text)?;
    println!("Added {path} ({kind}) to {}.", file.display());
    println!(
        "Next: `keyreeve vault set {path}/{}` stores the login password.",
        args.login
    );
    Ok(Outcome::Success)
}
