//! `keyreeve export`: one client's credentials, in a format the receiver can import, inside a
//! standard age file for the receiver's keys or a passphrase. Recorded in the audit log with the
//! recipients' public keys. Nothing is left on disk if anything fails.

use std::path::PathBuf;

use anyhow::Result;
use chrono::Utc;

use keyreeve::audit_log;
use keyreeve::export::envelope::{OutputFile, Seal};
use keyreeve::export::{self, ExportError, ExportInput, Format, Manifest, TargetInfo, Targets};
use keyreeve::vault::Vault;

use super::context::Context;
use super::{Global, Outcome};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The client whose credentials to export.
    #[arg(long, short = 'c', value_name = "CLIENT")]
    pub client: String,
    /// A receiver's public key: age X25519 (age1...), ssh-ed25519 or ssh-rsa (repeatable).
    #[arg(long = "recipient", short = 'r', value_name = "R")]
    pub recipients: Vec<String>,
    /// A file of receivers' public keys, one per line, `#` comments (repeatable).
    #[arg(long = "recipients-file", short = 'R', value_name = "FILE")]
    pub recipients_files: Vec<PathBuf>,
    /// Encrypt to a passphrase instead (asked twice on the terminal, or read from the file named
    /// by KEYREEVE_PASSPHRASE_FILE).
    #[arg(long, conflicts_with_all = ["recipients", "recipients_files"])]
    pub passphrase: bool,
    /// What the age file holds: keyreeve (importable by keyreeve), json, csv, bitwarden, keepass-xml.
    #[arg(long, short = 'f', default_value = "keyreeve", value_parser = parse_format)]
    pub format: Format,
    /// The file to write.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: PathBuf,
    /// Write an ASCII-armored age file (PEM-like text) instead of binary.
    #[arg(long, short = 'a')]
    pub armor: bool,
    /// Include earlier passwords (not available in csv).
    #[arg(long)]
    pub with_history: bool,
    /// Also hand over the LAPS passwords the AD login account may read (read live from each
    /// active-directory target: target = the computer, account = its managed local admin).
    #[arg(long)]
    pub with_laps: bool,
    /// Replace the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn parse_format(s: &str) -> Result<Format, String> {
    Format::parse(s).ok_or_else(|| {
        let known: Vec<_> = Format::ALL.iter().map(|f| f.as_str()).collect();
        format!("unknown format `{s}`; known: {}", known.join(", "))
    })
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let ctx = Context::load(g)?;
    let client = ctx.inventory.client(&args.client)?;
    if args.with_history && !args.format.carries_history() {
        return Err(ExportError::NoHistoryInFormat {
            format: args.format.as_str(),
        }
        .into());
    }
    // Everything that can be refused is refused before the vault is opened or a passphrase asked.
    let seal = if args.passphrase {
        None
    } else {
        Some(Seal::from_recipients(&args.recipients, &args.recipients_files)?)
    };
    let mut out = OutputFile::create(&args.output, args.force)?;

    let vault = Vault::new(&ctx.workspace, &ctx.inventory, &ctx.keys);
    let mut document = vault.load(&client.name)?;
    export::check_exportable(&document)?;
    let seal = match seal {
        Some(s) => s,
        None => Seal::Passphrase(ctx.keys.read_passphrase("Passphrase for the export", true)?),
    };

    let mut targets: Targets = client
        .targets
        .iter()
        .map(|t| (t.name.clone(), TargetInfo::from_target(t)))
        .collect();
    let laps_entries = if args.with_laps {
        super::laps::add_to_handover(&ctx, client, &mut document, &mut targets)?
    } else {
        0
    };
    let actor = ctx.actor();
    let user = audit_log::os_user();
    let manifest = Manifest::build(
        &document,
        Utc::now(),
        &user,
        actor.as_deref(),
        seal.labels(),
        args.format,
        args.with_history,
    );
    let input = ExportInput {
        document: &document,
        targets: &targets,
        manifest: &manifest,
        with_history: args.with_history,
    };
    let plaintext = export::render(args.format, &input)?;
    let sealed = seal.seal(&plaintext, args.armor)?;
    drop(plaintext);
    out.write(&sealed)?;

    // Recorded before the file appears: an export the log does not know of never exists.
    let revealed: Vec<&str> = manifest
        .entries
        .iter()
        .filter(|e| e.revealed_since_rotation)
        .map(|e| e.path.as_str())
        .collect();
    let warned: Vec<&str> = manifest
        .entries
        .iter()
        .filter(|e| e.warning.is_some())
        .map(|e| e.path.as_str())
        .collect();
    audit_log::record(
        &ctx.workspace,
        actor.as_deref(),
        "export",
        &client.name,
        serde_json::json!({
            "format": args.format.as_str(),
            "recipients": seal.labels(),
            "entries": manifest.entries.len(),
            "with_history": args.with_history,
            "laps_entries": laps_entries,
            "armor": args.armor,
            "file": absolute(&args.output).display().to_string(),
            "revealed_since_rotation": revealed,
        }),
    )?;
    let path = out.commit()?;

    if args.json {
        let summary = serde_json::json!({
            "file": path.display().to_string(),
            "client": client.name,
            "format": args.format.as_str(),
            "armor": args.armor,
            "recipients": seal.labels(),
            "manifest": manifest,
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(Outcome::Success);
    }
    println!(
        "Exported {} entr{} of client `{}` ({} format{}) to {}",
        manifest.entries.len(),
        if manifest.entries.len() == 1 { "y" } else { "ies" },
        client.name,
        args.format,
        if args.with_history { ", with history" } else { "" },
        path.display()
    );
    println!("Encrypted to: {}", seal.labels().join(", "));
    println!(
        "Open it with: age -d{} -o FILE {}",
        if args.passphrase { "" } else { " -i KEY" },
        path.display()
    );
    if !revealed.is_empty() {
        println!(
            "\n{} password{} revealed to your staff since last rotated (see the manifest):",
            revealed.len(),
            if revealed.len() == 1 { " was" } else { "s were" }
        );
        for p in &revealed {
            println!("  {p}");
        }
        println!(
            "Rotate them before handing over: keyreeve plan --client {} --revealed",
            client.name
        );
    }
    if !warned.is_empty() {
        println!("\nWarning: the stored password failed its last verification for:");
        for p in &warned {
            println!("  {p}");
        }
        println!("Check them with: keyreeve verify --client {}", client.name);
    }
    Ok(Outcome::Success)
}

fn absolute(p: &std::path::Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}
