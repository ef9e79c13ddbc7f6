//! `keyreeve identity new`: a fresh age X25519 identity, optionally passphrase-protected as
//! `age -p` writes it, so a technician never needs another tool to start.

use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};

use keyreeve::keys::{self, KeyRing};

use super::{Global, Outcome};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a new age X25519 identity and print its public key.
    New(NewArgs),
}

#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// Where to write the identity (default: the one keyreeve reads, under your config directory).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Encrypt the identity file with a passphrase (asked on the terminal, or read from the file
    /// named by KEYREEVE_PASSPHRASE_FILE).
    #[arg(long)]
    pub passphrase: bool,
    /// Print the public key as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(g: &Global, command: Command) -> Result<Outcome> {
    match command {
        Command::New(args) => new(g, args),
    }
}

fn new(_g: &Global, args: NewArgs) -> Result<Outcome> {
    let out = match args.output {
        Some(p) => p,
        None => KeyRing::default_identity_path()
            .ok_or_else(|| anyhow!("no config directory is known on this system; pass -o FILE"))?,
    };
    if out.exists() {
        return Err(anyhow!(
            "{} already exists; keyreeve never overwrites an identity (choose another file with -o)",
            out.display()
        ));
    }
    let passphrase = if args.passphrase {
        let ring = KeyRing::locate(None);
        Some(ring.read_passphrase(&format!("Passphrase for the new identity {}", out.display()), true)?)
    } else {
        None
    };
    let public =
        keys::new_identity_file(&out, passphrase).with_context(|| format!("cannot create {}", out.display()))?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "public_key": public, "identity_file": out, "passphrase": args.passphrase })
        );
    } else {
        eprintln!("wrote {} (mode 0600); its public key:", out.display());
        println!("{public}");
    }
    Ok(Outcome::Success)
}
