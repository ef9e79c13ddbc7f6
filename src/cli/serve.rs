//! `keyreeve serve`: run keyreeve as a service (see the library's `serve` module): discovery,
//! snapshots and the review on a schedule, and a read-only HTTP API. This file turns the command
//! line into the service's configuration and refuses unsafe ones: a token that is short, odd, or
//! in a file others can read. Without --token-file the service makes its own token, in the
//! workspace's state folder (mode 0600, kept out of git): even on loopback, other local users
//! and web pages in a local browser must not read every client's admin list.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use keyreeve::inventory::Inventory;
use keyreeve::keys::KeyRing;
use keyreeve::policy::Policy;
use keyreeve::serve::{self, cycle::parse_every, ServeConfig};
use keyreeve::vault::Vault;
use keyreeve::workspace::Workspace;

use super::context::locate_workspace;
use super::{Global, Outcome};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on. Off loopback, put a TLS proxy in front: the service speaks plain HTTP.
    #[arg(long, default_value = "127.0.0.1:8727")]
    pub listen: SocketAddr,
    /// Pause between runs: 90s, 30m, 6h, 1d.
    #[arg(long, default_value = "6h")]
    pub every: String,
    /// Only this client's targets.
    #[arg(long)]
    pub client: Option<String>,
    /// Discover without logging in with each stored password.
    #[arg(long)]
    pub no_verify: bool,
    /// Count changes (admins added and removed) over this many days, so that a change stays a
    /// finding that long however often the service runs. Default: the policy's `compare_days`.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(keyreeve::policy::MAX_DAYS)))]
    pub compare_days: Option<u32>,
    /// Targets at once (1 to 1024).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,
    /// Seconds a `POST /v1/run` must wait after the last run ended (at most a year).
    #[arg(long, default_value_t = 60, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(0..=MAX_GAP_SECS))]
    pub min_run_gap: u64,
    /// The file holding the bearer token every route but /healthz requires (mode 0600, one line
    /// of at least 16 characters). Default: state/serve-token, made on the first start.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Print a hardened systemd unit for the service (also in docs/keyreeve.service) and exit.
    #[arg(long)]
    pub print_systemd_unit: bool,
}

/// The longest `--min-run-gap`: a year, like the longest `--every`.
const MAX_GAP_SECS: u64 = 366 * 86_400;

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    if args.print_systemd_unit {
        print!("{}", serve::SYSTEMD_UNIT);
        return Ok(Outcome::Success);
    }
    let every = parse_every(&args.every).map_err(|e| anyhow::anyhow!("--every: {e}"))?;
    let workspace = locate_workspace(g)?;
    let token_file = match &args.token_file {
        Some(file) => file.clone(),
        None => own_token(&workspace)?,
    };
    let token_digest = read_token(&token_file)?;
    // Checked now so that a broken inventory or policy fails at start, not at the first run.
    let inventory = Inventory::load(&workspace.inventory_file())?;
    Policy::load_dir(&workspace.policies_dir())?;
    if let Some(c) = &args.client {
        inventory.client(c)?;
    }
    let keys = KeyRing::locate(g.identity.as_deref());
    // Unlock and open each vault now: a passphrase is asked for here, at the terminal, never in
    // the middle of a scheduled run, and a key that cannot open a vault stops the start.
    keys.unlock(&inventory)?;
    let vault = Vault::new(&workspace, &inventory, &keys);
    for client in inventory.clients.keys() {
        if args.client.as_ref().is_none_or(|c| c == client) {
            vault.load(client)?;
        }
    }
    let config = ServeConfig {
        workspace,
        keys,
        client: args.client,
        every,
        verify: !args.no_verify,
        concurrency: usize::from(args.concurrency),
        compare_days: args.compare_days,
        token_digest,
        loopback: args.listen.ip().is_loopback(),
        min_run_gap: std::time::Duration::from_secs(args.min_run_gap),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        eprintln!(
            "keyreeve serve: listening on http://{addr} (runs every {}; GET /healthz /v1/status /v1/review /v1/review.md /metrics, POST /v1/run; bearer token in {})",
            args.every,
            token_file.display()
        );
        serve::serve(config, listener, shutdown_signal()).await?;
        Ok::<(), anyhow::Error>(())
    })?;
    // A run in progress finishes its current logins within their timeouts; wait that long at most.
    rt.shutdown_timeout(std::time::Duration::from_secs(30));
    eprintln!("keyreeve serve: stopped");
    Ok(Outcome::Success)
}

/// The service's own token file, `state/serve-token`: made on the first start (32 random bytes,
/// hex), kept out of git.
fn own_token(workspace: &Workspace) -> Result<PathBuf> {
    let file = workspace.state_dir().join(OWN_TOKEN);
    if !file.exists() {
        let token = zeroize::Zeroizing::new(hex::encode(rand::random::<[u8; 32]>()));
        keyreeve::vault::store::write_atomic(workspace.root(), &file, 0o600, |w| w.write_all(token.as_bytes()))
            .with_context(|| format!("cannot write the token file {}", file.display()))?;
    }
    workspace.keep_out_of_git(OWN_TOKEN)?;
    Ok(file)
}

const OWN_TOKEN: &str = "serve-token";

/// The token from its file: one line of at least 16 printable characters, in a regular file
/// that only its owner may read. Read from the handle whose mode was checked, never by path twice.
fn read_token(file: &Path) -> Result<[u8; 32]> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let cannot = || format!("cannot read the token file {}", file.display());
    let mut handle = std::fs::OpenOptions::new()
        .read(true)
        // A token file that is a symlink is refused, not followed.
        .custom_flags(libc::O_NOFOLLOW)
        .open(file)
        .with_context(cannot)?;
    let meta = handle.metadata().with_context(cannot)?;
    if !meta.is_file() || meta.mode() & 0o077 != 0 {
        bail!(
            "the token file {} is not a regular file that only its owner may read (mode {:o}); `chmod 600` it",
            file.display(),
            meta.mode() & 0o777
        );
    }
    let mut text = zeroize::Zeroizing::new(String::new());
    handle
        .by_ref()
        .take(4096)
        .read_to_string(&mut text)
        .with_context(cannot)?;
    let token = text.trim();
    if token.chars().count() < 16 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        bail!(
            "the token in {} must be one line of at least 16 characters without spaces; e.g. `openssl rand -hex 32`",
            file.display()
        );
    }
    Ok(serve::token_digest(token.as_bytes()))
}

/// Ctrl-C or SIGTERM (what systemd sends) ends the service after the answers in flight.
async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
