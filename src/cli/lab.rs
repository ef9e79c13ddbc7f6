//! `keyreeve lab up`: runs the built-in device lab (emulated network devices on 127.0.0.1) until
//! Ctrl-C or SIGTERM, for trying keyreeve, the demo and benchmarks. With `--workspace` it adds the
//! devices to that workspace's inventory and their login and enable passwords to its vault;
//! without, it prints the inventory stanzas (passwords are never printed). With a workspace the
//! devices' SSH host keys are kept in `state/lab-host-keys` (mode 0600) and reused, so that the
//! keys pinned in the inventory still match after the lab is restarted.

use anyhow::{bail, Context as _, Result};

use keyreeve::inventory::{Inventory, TargetKind};
use keyreeve::keys::KeyRing;
use keyreeve::lab::{DeviceOptions, Lab, LabConfig, EMULATED_KINDS, ENABLE_ACCOUNT};
use keyreeve::vault::{Entry, Vault};
use keyreeve::workspace::Workspace;

use super::{Global, Outcome};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Start emulated devices on 127.0.0.1 and run until Ctrl-C or SIGTERM.
    Up(UpArgs),
}

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// How many devices to start, spread round-robin across the kinds.
    #[arg(long, default_value_t = 8)]
    pub devices: usize,
    /// Which kinds to emulate (comma-separated; default: all of them). `edgeos` is a Ubiquiti
    /// EdgeRouter, listed as a `vyos` target.
    #[arg(long, value_delimiter = ',', value_name = "KIND,...")]
    pub kinds: Vec<String>,
    /// First port (device i listens on PORT+i); 0 lets the system pick free ports.
    #[arg(long, default_value_t = 0, value_name = "PORT")]
    pub base_port: u16,
    /// How many times faster than real time device timers run (Junos `commit confirmed`, EOS
    /// `commit timer`, VyOS `commit-confirm`).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// The client the devices are listed under in the workspace inventory.
    #[arg(long, default_value = "lab")]
    pub client: String,
}

/// The file under the workspace's `state/` that keeps the lab devices' host keys.
pub(crate) const LAB_HOST_KEYS: &str = "lab-host-keys";

pub fn run(g: &Global, command: Command) -> Result<Outcome> {
    match command {
        Command::Up(args) => up(g, args),
    }
}

/// A kind to emulate; `edgeos` is the EdgeOS flavour of `vyos`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LabKind {
    kind: TargetKind,
    edgeos: bool,
}

fn parse_kinds(names: &[String]) -> Result<Vec<LabKind>> {
    names
        .iter()
        .map(|n| {
            let name = n.trim();
            match TargetKind::parse(name) {
                Some(kind) if EMULATED_KINDS.contains(&kind) => Ok(LabKind {
                    kind,
                    edgeos: name == "edgeos",
                }),
                _ => bail!(
                    "the lab cannot emulate `{n}`; emulated kinds: {}, edgeos",
                    EMULATED_KINDS.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
                ),
            }
        })
        .collect()
}

/// `devices` devices spread round-robin across `kinds` (every emulated kind if empty); EdgeOS
/// devices are named `edgeos-NNN`.
fn lab_config(devices: usize, kinds: &[LabKind]) -> LabConfig {
    let plain: Vec<TargetKind> = kinds.iter().map(|k| k.kind).collect();
    let mut config = LabConfig::generated(devices, &plain);
    if !kinds.iter().any(|k| k.edgeos) {
        return config;
    }
    let (mut vyos, mut edgeos) = (0, 0);
    for (i, spec) in config.devices.iter_mut().enumerate() {
        if spec.kind == TargetKind::Vyos && !kinds[i % kinds.len()].edgeos {
            // Numbered apart from the EdgeOS devices.
            vyos += 1;
            spec.name = format!("vyos-{vyos:03}");
        } else if kinds[i % kinds.len()].edgeos {
            edgeos += 1;
            spec.name = format!("edgeos-{edgeos:03}");
            config.options.insert(
                spec.name.clone(),
                DeviceOptions {
                    edgeos: true,
                    ..DeviceOptions::default()
                },
            );
        }
    }
    config
}

fn up(g: &Global, args: UpArgs) -> Result<Outcome> {
    if args.devices == 0 {
        bail!("--devices must be at least 1");
    }
    if !(args.time_scale.is_finite() && args.time_scale > 0.0) {
        bail!("--time-scale must be a positive number");
    }
    let kinds = parse_kinds(&args.kinds)?;
    let mut config = lab_config(args.devices, &kinds);
    config.base_port = args.base_port;
    config.time_scale = args.time_scale;
    config.auth_rejection_time = std::time::Duration::from_secs(1);
    let specs = config.devices.clone();

    // Check the workspace before starting anything, so that a mistake costs nothing.
    let workspace = match &g.workspace {
        Some(dir) => {
            let ws = Workspace::open(dir)?;
            let inventory = Inventory::load(&ws.inventory_file())?;
            if inventory.clients.contains_key(&args.client) {
                bail!(
                    "client `{}` is already in {}; choose another with --client",
                    args.client,
                    ws.inventory_file().display()
                );
            }
            Some(ws)
        }
        None => None,
    };

    if let Some(ws) = &workspace {
        // The keys are kept in clear (0600): never committed, even in a workspace made before
        // `init` listed them.
        ws.keep_out_of_git(LAB_HOST_KEYS)?;
    }
    config.host_keys = workspace.as_ref().map(|ws| ws.state_dir().join(LAB_HOST_KEYS));
    let lab = Lab::start(config).context("starting the device lab")?;
    println!("Device lab: {} device(s) on 127.0.0.1", lab.devices().len());
    for d in lab.devices() {
        println!(
            "  {:<14} {:<11} 127.0.0.1:{:<5} login {:<7} host key {}",
            d.name,
            d.kind.as_str(),
            d.port,
            d.login,
            d.host_key_fingerprint
        );
    }

    match &workspace {
        Some(ws) => {
            let file = ws.inventory_file();
            let mut toml = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            toml.push_str(&format!(
                "\n# Devices of `keyreeve lab up`.\n[clients.{}]\n\n",
                args.client
            ));
            toml.push_str(&lab.inventory_toml(&args.client));
            let inventory: Inventory = {
                let tmp = tempfile::NamedTempFile::new_in(ws.root()).context("writing the inventory")?;
                std::fs::write(tmp.path(), &toml)?;
                let parsed = Inventory::load(tmp.path())?;
                tmp.persist(&file)
                    .with_context(|| format!("writing {}", file.display()))?;
                parsed
            };
            let keys = KeyRing::locate(g.identity.as_deref());
            Vault::new(ws, &inventory, &keys).update(&args.client, |doc| {
                for spec in &specs {
                    let login = &spec.accounts[0];
                    doc.entries.insert(
                        format!("{}/{}", spec.name, login.name),
                        Entry::new(&login.name, login.password.clone()),
                    );
                    if let (true, Some(secret)) = (keyreeve::lab::has_enable(spec.kind), &spec.enable_secret) {
                        doc.entries.insert(
                            format!("{}/{ENABLE_ACCOUNT}", spec.name),
                            Entry::new(ENABLE_ACCOUNT, secret.clone()),
                        );
                    }
                }
                Ok::<(), keyreeve::vault::VaultError>(())
            })?;
            println!(
                "\nAdded client `{}` to {} and its login and enable passwords to the vault.",
                args.client,
                file.display()
            );
        }
        None => {
            println!("\nInventory stanzas (add --workspace DIR to store them and the passwords in a workspace):\n");
            println!("[clients.{}]\n", args.client);
            print!("{}", lab.inventory_toml(&args.client));
        }
    }
    println!("Running until Ctrl-C or SIGTERM.");

    wait_for_stop()?;
    lab.stop();
    println!("Device lab stopped.");
    Ok(Outcome::Success)
}

/// Blocks until Ctrl-C (SIGINT) or SIGTERM.
fn wait_for_stop() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal handler")?;
    runtime.block_on(async {
        #[cfg(unix)]
        {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .context("listening for SIGTERM")?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r.context("listening for Ctrl-C")?,
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c().await.context("listening for Ctrl-C")?;
        Ok::<(), anyhow::Error>(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edgeos_devices_are_vyos_with_the_edgeos_option() {
        let kinds = parse_kinds(&["vyos".into(), " edgeos".into()]).unwrap();
        let config = lab_config(4, &kinds);
        let names: Vec<&str> = config.devices.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["vyos-001", "edgeos-001", "vyos-002", "edgeos-002"]);
        assert!(config.devices.iter().all(|d| d.kind == TargetKind::Vyos));
        assert!(config.options["edgeos-002"].edgeos);
        assert!(!config.options.contains_key("vyos-001"));
        let e = parse_kinds(&["edgeos2".into()]).unwrap_err().to_string();
        assert!(e.contains("edgeos2") && e.ends_with(", edgeos"), "{e}");
    }
}
