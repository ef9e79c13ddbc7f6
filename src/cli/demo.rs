//! `keyreeve demo`: the whole main job on an embedded default, with commentary. It starts the
//! built-in device lab (one emulated device of every network dialect), makes a throw-away
//! workspace and identity, stores the devices' current passwords, then discovers, plans,
//! applies, verifies, and ends with a short review. Nothing leaves 127.0.0.1.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use chrono::{Duration, Utc};

use keyreeve::inventory::Inventory;
use keyreeve::keys::{new_identity_file, KeyRing};
use keyreeve::lab::{Lab, LabConfig, ENABLE_ACCOUNT};
use keyreeve::rotation::guided::{Answer, Guide, GuidedStep, InForce};
use keyreeve::vault::{Entry, Vault};
use keyreeve::workspace::Workspace;

use super::{Global, Outcome};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Emulated devices to start, spread across every dialect (default: one of each).
    #[arg(long)]
    pub devices: Option<usize>,
    /// Keep the demo workspace in this directory (default: a temporary one, removed at the end).
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
}

/// The client the demo's devices belong to.
const CLIENT: &str = "demo";

/// The demo's guided target: a printer changed by hand on its web page.
const GUIDED_PRINTER: &str = "\n# Changed by hand: apply guides the technician.\n[[clients.demo.targets]]\nname = \"office-printer\"\n\
kind = \"manual\"\ncategory = \"printer\"\nurl = \"https://office-printer.demo.example/\"\naccounts = [\"admin\"]\n\
instructions = \"\"\"\nLog in as admin, open Settings > Security > Administrator password,\ntype the new password twice and press Apply.\n\"\"\"\n";

/// Shows the guided step as a technician sees it and answers for them; for a UniFi device it also
/// plays the controller, which pushes the new password to the device.
struct DemoGuide<'l> {
    lab: &'l Lab,
}

impl Guide for DemoGuide<'_> {
    fn change(&self, step: &GuidedStep<'_>) -> Answer {
        print!("{}", super::guide::render(step, step.new_password.expose()));
        if keyreeve::rotation::controller_managed::changed_elsewhere(step.target.kind).is_some() {
            println!("(the demo plays the UniFi controller: it pushes the new password to the device)");
            if self
                .lab
                .provision_password(&step.target.name, step.account, step.new_password)
                .is_err()
            {
                return Answer::Failed("the demo's controller could not reach the device".into());
            }
        }
        println!("Did the target take the new password? [yes/no/failed]: yes   (answered by the demo)");
        Answer::Changed
    }
    fn which_in_force(&self, _: &GuidedStep<'_>, _: &keyreeve::secret::Password) -> InForce {
        InForce::Unknown
    }
}

fn say(title: &str, text: &str) {
    println!("\n== {title}\n{text}\n");
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let tmp = tempfile::tempdir().context("creating a temporary directory")?;
    let base = match &args.keep {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.clone()
        }
        None => tmp.path().to_path_buf(),
    };
    let ws_dir = base.join("workspace");
    let identity = base.join("identity.txt");

    say(
        "1. The lab",
        "Starting emulated network devices on 127.0.0.1, one of each dialect: Cisco IOS, NX-OS, ASA,\n\
         Junos, Arista EOS, RouterOS, FortiOS, VyOS, and more (see below). Each has an `admin` login, a second admin\n\
         `netops`, a read-only `monitor`, and an enable secret where the OS has one.",
    );
    let config = LabConfig::generated(args.devices.unwrap_or(keyreeve::lab::EMULATED_KINDS.len()).max(1), &[]);
    let specs = config.devices.clone();
    let lab = Lab::start(config).context("starting the device lab")?;
    for d in lab.devices() {
        println!(
            "  {:<14} {:<11} 127.0.0.1:{:<5} host key {}",
            d.name,
            d.kind.as_str(),
            d.port,
            d.host_key_fingerprint
        );
    }

    say(
        "2. A workspace",
        "A new age identity and a workspace encrypted to it (`keyreeve identity new`, `keyreeve init`).\n\
         The lab's devices go into keyreeve.toml with their host keys pinned; the passwords the\n\
         technician was handed go into the age-encrypted vault: the login accounts and enable secrets.",
    );
    let public = new_identity_file(&identity, None)?;
    let demo_g = Global {
        workspace: Some(ws_dir.clone()),
        identity: Some(identity.clone()),
        verbose: g.verbose,
    };
    super::init::run(
        &demo_g,
        super::init::Args {
            dir: Some(ws_dir.clone()),
            recipients: vec![public],
            recipients_file: Vec::new(),
            passphrase: false,
            armor: false,
        },
    )?;
    let ws = Workspace::open(&ws_dir)?;
    let mut toml = std::fs::read_to_string(ws.inventory_file())?;
    toml.push_str(&format!("\n# The demo lab's devices.\n[clients.{CLIENT}]\n\n"));
    toml.push_str(&lab.inventory_toml(CLIENT));
    toml.push_str(GUIDED_PRINTER);
    std::fs::write(ws.inventory_file(), toml)?;
    let inventory = Inventory::load(&ws.inventory_file())?;
    let keys = KeyRing::locate(Some(&identity));
    let handed_over = Utc::now() - Duration::days(400);
    Vault::new(&ws, &inventory, &keys).update(CLIENT, |doc| {
        for spec in &specs {
            let login = &spec.accounts[0];
            let mut entry = Entry::new(&login.name, login.password.clone());
            entry.created = handed_over;
            doc.entries.insert(format!("{}/{}", spec.name, login.name), entry);
            let mut printer = Entry::new("admin", keyreeve::lab::random_password());
            printer.created = handed_over;
            doc.entries.insert("office-printer/admin".into(), printer);
            if let Some(secret) = &spec.enable_secret {
                let mut entry = Entry::new(ENABLE_ACCOUNT, secret.clone());
                entry.created = handed_over;
                doc.entries.insert(format!("{}/{ENABLE_ACCOUNT}", spec.name), entry);
            }
        }
        Ok::<(), keyreeve::vault::VaultError>(())
    })?;
    println!("  workspace {}", ws_dir.display());

    say(
        "3. Discover",
        "`keyreeve discover --verify`: log in to every device, list its local accounts with their\n\
         privilege, and check each stored password with a fresh login. Admin accounts the vault\n\
         does not know are flagged: here, `netops` on every device (AOS-S has no room for it: one\n\
         manager, one operator), and on VyOS, where every login user is an administrator, `monitor` too.",
    );
    let discovered = super::discover::run(
        &demo_g,
        super::discover::Args {
            client: Some(CLIENT.into()),
            target: None,
            json: false,
            verify: true,
            concurrency: 8,
            accept_new_host_keys: false,
        },
    )?;

    say(
        "4. Plan",
        "`keyreeve plan --all --client demo -o plan.json`: the passwords were handed over 400 days\n\
         ago and never rotated. The plan says why and how for each account, shows the commands that\n\
         will be sent with secrets as ********, and warns where it matters. It holds no secret.",
    );
    let plan_file = base.join("plan.json");
    super::plan::run(
        &demo_g,
        super::plan::Args {
            client: Some(CLIENT.into()),
            target: None,
            accounts: Vec::new(),
            due: false,
            all: true,
            revealed: false,
            output: Some(plan_file.clone()),
            json: false,
        },
    )?;

    say(
        "5. Apply",
        "`keyreeve apply plan.json --yes`: for each account, the new password is journalled\n\
         (age-encrypted, fsynced) before the device is touched, changed in a session opened with the\n\
         current password, verified by a fresh login while that session stays open, and only then\n\
         saved and stored. Devices run concurrently; accounts of one device one at a time, login last.\n\
         Then the guided step: `office-printer` is changed by hand on its web page (kind = \"manual\").\n\
         Its new password is journalled and the entry pending before it is shown; the technician\n\
         answers whether the change was made (here the demo answers `yes` itself). A UniFi device's\n\
         account is a guided step too, made in its UniFi controller (here the demo plays the controller).",
    );
    let applied = super::apply::run_guided_by(
        &demo_g,
        super::apply::Args {
            plan: plan_file,
            concurrency: 8,
            yes: true,
            json: false,
            skip_manual: false,
            show_password_to: None,
        },
        Some(&DemoGuide { lab: &lab }),
    )?;

    say(
        "6. Verify",
        "`keyreeve verify`: the heartbeat, a fresh login with every stored password.",
    );
    let verified = super::verify::run(
        &demo_g,
        super::verify::Args {
            client: Some(CLIENT.into()),
            concurrency: 8,
            json: false,
        },
    )?;

    say(
        "7. Review",
        "`keyreeve review`: what a security reviewer takes away, from the discovery snapshots alone\n\
         (no keys, no network): findings with what to do, and who holds admin rights on each device.\n\
         The demo has no domain controller: its Active Directory part (target `example-dc`) is an\n\
         EXAMPLE snapshot embedded in keyreeve, not a discovery, to show the domain rules and views.\n\
         Then the vault's metadata (never a secret), and the audit log, whose hash chain\n\
         `keyreeve log verify` checks.",
    );
    let mut toml = std::fs::read_to_string(ws.inventory_file())?;
    toml.push_str(&super::demo_ad::inventory_toml(CLIENT));
    std::fs::write(ws.inventory_file(), toml)?;
    super::demo_ad::save(&ws, CLIENT)?;
    super::review::run(
        &demo_g,
        super::review::Args {
            client: Some(CLIENT.into()),
            target: None,
            since: None,
            format: super::review::Format::Table,
            json: false,
            output: None,
            fail_on: super::review::FailOn::Never,
            rules: false,
        },
    )?;
    super::vault::run(
        &demo_g,
        super::vault::Command::List(super::vault::ListArgs {
            prefix: Some(CLIENT.into()),
            json: false,
        }),
    )?;
    say(
        "8. Status",
        "`keyreeve status`: the morning screen. Every vault entry by what it is and who changes it,\n\
         what is due now, never rotated, and when it was last verified.",
    );
    super::status::run(
        &demo_g,
        super::status::Args {
            client: Some(CLIENT.into()),
            json: false,
        },
    )?;
    let log_ok = super::log::run(
        &demo_g,
        super::log::Args {
            command: Some(super::log::LogCommand::Verify { json: false }),
            json: false,
            subject: None,
            last: None,
        },
    )?;
    println!(
        "\nFindings: discovery {}; rotation {}; verification {}; audit log {}.",
        if discovered == Outcome::Success {
            "found nothing unexpected"
        } else {
            "flagged accounts the vault does not manage (above)"
        },
        if applied == Outcome::Success {
            "rotated every planned account"
        } else {
            "had failures (above)"
        },
        if verified == Outcome::Success {
            "proved every stored password"
        } else {
            "found mismatches (above)"
        },
        if log_ok == Outcome::Success { "intact" } else { "BROKEN" },
    );
    lab.stop();
    if args.keep.is_none() {
        println!("The demo workspace and lab are gone; run with --keep DIR to look around afterwards.");
    }
    // The demo's own job succeeded if every planned account rotated and verifies.
    Ok(
        if applied == Outcome::Success && verified == Outcome::Success && log_ok == Outcome::Success {
            Outcome::Success
        } else {
            Outcome::Findings
        },
    )
}
