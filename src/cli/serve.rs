//! `keyreeve serve`: run keyreeve as a service (see the library's `serve` module): discovery,
//! snapshots and the review on a schedule, and a read-only HTTP API. This file turns the command
//! line into the service's configuration and refuses unsafe ones: an address off this machine
//! without a token, a token that is short or in a file others can read.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use keyreeve::inventory::Inventory;
use keyreeve::keys::KeyRing;
use keyreeve::serve::{self, cycle::parse_every, ServeConfig};
use keyreeve::vault::Vault;

use super::context::locate_workspace;
use super::{Global, Outcome};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on. Off loopback it needs --token-file (and a TLS proxy in front: the
    /// service speaks plain HTTP).
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
    /// Targets at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// A file holding the bearer token every route but /healthz then requires (mode 0600).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let every = parse_every(&args.every).map_err(|e| anyhow::anyhow!("--every: {e}"))?;
    let token_digest = match &args.token_file {
        Some(file) => Some(read_token(file)?),
        None if !args.listen.ip().is_loopback() => bail!(
            "refusing to listen on {} without a token: anyone who can reach it would read every client's admin accounts \
             (hint: --token-file FILE, and a TLS reverse proxy in front)",
            args.listen
        ),
        None => None,
    };
    let workspace = locate_workspace(g)?;
    // Checked now so that a broken inventory fails at start, not at the first run.
    let inventory = Inventory::load(&workspace.inventory_file())?;
    if let Some(c) = &args.client {
        inventory.client(c)?;
    }
    let keys = KeyRing::locate(g.identity.as_deref());
    // Open each vault once now: a passphrase is asked for here, at the terminal, not in the
    // middle of a scheduled run, and a key that cannot open a vault stops the start.
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
        concurrency: args.concurrency.max(1),
        token_digest,
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
            "keyreeve serve: listening on http://{addr} (runs every {}; GET /healthz /v1/status /v1/review /v1/review.md /metrics, POST /v1/run)",
            args.every
        );
        serve::serve(config, listener, shutdown_signal()).await?;
        eprintln!("keyreeve serve: stopped");
        Ok::<(), anyhow::Error>(())
    })?;
    Ok(Outcome::Success)
}

/// The token from its file: one line, at least 16 characters, readable by its owner only.
fn read_token(file: &std::path::Path) -> Result<[u8; 32]> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(file).with_context(|| format!("cannot read the token file {}", file.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "the token file {} may be read by others (mode {:o}); `chmod 600` it",
            file.display(),
            meta.permissions().mode() & 0o777
        );
    }
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(file).with_context(|| format!("cannot read the token file {}", file.display()))?,
    );
    let token = text.trim();
    if token.chars().count() < 16 {
        bail!(
            "the token in {} is shorter than 16 characters; make a long random one, e.g. `openssl rand -hex 32`",
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
