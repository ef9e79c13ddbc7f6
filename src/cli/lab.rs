//! `keyreeve lab up`: runs the built-in device lab (emulated network devices on 127.0.0.1) until
//! Ctrl-C or SIGTERM, for trying keyreeve, the demo and benchmarks. With a workspace (`--workspace`
//! or `KEYREEVE_WORKSPACE`) it adds the devices to that workspace's inventory and their login and
//! enable passwords to its vault; without, it prints the inventory stanzas (passwords are never
//! printed). With a workspace the devices' SSH host keys are kept in `state/lab-host-keys` (mode
//! 0600) and reused, so that the keys pinned in the inventory still match after the lab is
//! restarted; and a client already in the inventory is restarted as it was left: its devices on
//! their ports, with the passwords the vault holds (rotated ones included).

use anyhow::{bail, Context as _, Result};

use keyreeve::inventory::{Client, Inventory, TargetKind};
use keyreeve::keys::KeyRing;
use keyreeve::lab::{
    random_password, DeviceOptions, DeviceSpec, Lab, LabAccount, LabConfig, EMULATED_KINDS, ENABLE_ACCOUNT,
};
use keyreeve::vault::{Entry, Vault, VaultDocument};
use keyreeve::workspace::{Workspace, WORKSPACE_ENV};

use super::{Global, Outcome};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Start emulated devices on 127.0.0.1 and run until Ctrl-C or SIGTERM.
    Up(UpArgs),
}

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// How many devices to start, spread round-robin across the kinds (default: one of each).
    #[arg(long)]
    pub devices: Option<usize>,
    /// Which kinds to emulate (comma-separated; default: all of them). `edgeos` is a Ubiquiti
    /// EdgeRouter, listed as a `vyos` target.
    #[arg(long, value_delimiter = ',', value_name = "KIND,...")]
    pub kinds: Vec<String>,
    /// First port (device i listens on PORT+i); 0 (the default) lets the system pick free ports.
    #[arg(long, value_name = "PORT")]
    pub base_port: Option<u16>,
    /// How many times faster than real time device timers run (Junos `commit confirmed`, EOS
    /// `commit timer`, VyOS `commit-confirm`).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// The client the devices are listed under in the workspace inventory. If it is there
    /// already, its devices are started again as the inventory and the vault describe them.
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

/// The workspace `lab up` fills: `--workspace`, else `KEYREEVE_WORKSPACE`, as every command
/// finds it; never the current directory, since without one the lab only prints its stanzas.
fn chosen_workspace(g: &Global) -> Result<Option<Workspace>> {
    let dir = g.workspace.clone().or_else(|| {
        std::env::var_os(WORKSPACE_ENV)
            .filter(|v| !v.is_empty())
            .map(Into::into)
    });
    Ok(match dir {
        Some(dir) => Some(Workspace::open(dir)?),
        None => None,
    })
}

/// Refuses a client whose targets `lab up` did not make: restarting it would serve devices
/// under a real client's name.
fn only_lab_devices(client: &Client) -> Result<()> {
    for t in &client.targets {
        if !EMULATED_KINDS.contains(&t.kind) || t.address != "127.0.0.1" || t.port == 0 {
            bail!(
                "{}: `{}` is not a device of `keyreeve lab up` ({} at {}:{}); choose another --client",
                t.path(),
                t.name,
                t.kind,
                t.address,
                t.port
            );
        }
    }
    if client.targets.is_empty() {
        bail!(
            "client `{}` has no devices to restart; choose another --client",
            client.name
        );
    }
    Ok(())
}

/// The devices of a lab client already in the inventory, with the passwords its vault holds for
/// them (accounts the vault lacks get random passwords, as a new lab's do).
fn restarted_devices(client: &Client, doc: &VaultDocument) -> Result<(Vec<DeviceSpec>, Vec<String>)> {
    let mut devices = Vec::new();
    let mut edgeos = Vec::new();
    for t in &client.targets {
        let stored = |account: &str| {
            doc.entries
                .get(&format!("{}/{account}", t.name))
                .map(|e| e.password.clone())
        };
        let Some(login_password) = stored(&t.login) else {
            bail!(
                "the vault has no entry {} for the login of a lab device; cannot restart `{}`",
                t.account_path(&t.login),
                client.name
            );
        };
        let mut accounts = vec![LabAccount::new(t.login.clone(), login_password, 15)];
        for default in ["admin", "netops", "monitor"] {
            if default != t.login {
                let privilege = if default == "monitor" { 1 } else { 15 };
                accounts.push(LabAccount::new(
                    default,
                    stored(default).unwrap_or_else(random_password),
                    privilege,
                ));
            }
        }
        let prefix = format!("{}/", t.name);
        for (key, entry) in doc.entries.range(prefix.clone()..) {
            let Some(account) = key.strip_prefix(&prefix) else {
                break;
            };
            if account != ENABLE_ACCOUNT && !accounts.iter().any(|a| a.name == account) {
                accounts.push(LabAccount::new(account, entry.password.clone(), 15));
            }
        }
        let enable_secret = keyreeve::lab::has_enable(t.kind)
            .then(|| stored(t.enable.as_deref().unwrap_or(ENABLE_ACCOUNT)).unwrap_or_else(random_password));
        if t.name.starts_with("edgeos-") {
            edgeos.push(t.name.clone());
        }
        devices.push(DeviceSpec {
            name: t.name.clone(),
            kind: t.kind,
            accounts,
            enable_secret,
            port: t.port,
        });
    }
    Ok((devices, edgeos))
}

fn up(g: &Global, args: UpArgs) -> Result<Outcome> {
    if args.devices == Some(0) {
        bail!("--devices must be at least 1");
    }
    if !(args.time_scale.is_finite() && args.time_scale > 0.0) {
        bail!("--time-scale must be a positive number");
    }
    let kinds = parse_kinds(&args.kinds)?;

    // Check the workspace before starting anything, so that a mistake costs nothing.
    let workspace = chosen_workspace(g)?;
    let mut restart = None;
    if let Some(ws) = &workspace {
        let inventory = Inventory::load(&ws.inventory_file())?;
        if let Some(client) = inventory.clients.get(&args.client) {
            if args.devices.is_some() || !args.kinds.is_empty() || args.base_port.is_some() {
                bail!(
                    "client `{}` is already in {}: its devices are restarted as listed there, so \
                     --devices, --kinds and --base-port do not apply; drop them, or choose another --client",
                    args.client,
                    ws.inventory_file().display()
                );
            }
            only_lab_devices(client)?;
            let keys = KeyRing::locate(g.identity.as_deref());
            let doc = Vault::new(ws, &inventory, &keys).load(&args.client)?;
            restart = Some((restarted_devices(client, &doc)?, client.targets.clone()));
        }
    }
    let mut config = match &restart {
        Some(((devices, edgeos), _)) => LabConfig {
            devices: devices.clone(),
            options: edgeos
                .iter()
                .map(|name| {
                    let options = DeviceOptions {
                        edgeos: true,
                        ..DeviceOptions::default()
                    };
                    (name.clone(), options)
                })
                .collect(),
            ..LabConfig::default()
        },
        None => lab_config(
            args.devices.unwrap_or(if kinds.is_empty() {
                EMULATED_KINDS.len()
            } else {
                kinds.len()
            }),
            &kinds,
        ),
    };
    config.base_port = args.base_port.unwrap_or(0);
    config.time_scale = args.time_scale;
    config.auth_rejection_time = std::time::Duration::from_secs(1);
    let specs = config.devices.clone();

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

    match (&workspace, &restart) {
        (Some(ws), Some((_, targets))) => {
            for t in targets {
                let served = lab.device(&t.name)?.host_key_fingerprint;
                if t.host_key.as_ref().is_some_and(|pinned| *pinned != served) {
                    eprintln!(
                        "warning: {} now presents {served}, not the key pinned in {}; state/{LAB_HOST_KEYS} lost it",
                        t.path(),
                        ws.inventory_file().display()
                    );
                }
            }
            println!(
                "\nRestarted client `{}` as {} and its vault describe it.",
                args.client,
                ws.inventory_file().display()
            );
        }
        (Some(ws), None) => {
            let file = ws.inventory_file();
            let mut toml = keyreeve::safe_fs::read_existing_text(&file, keyreeve::safe_fs::Limit::INVENTORY)
                .with_context(|| format!("reading {}", file.display()))?;
            toml.push_str(&format!(
                "\n# Devices of `keyreeve lab up`.\n[clients.{}]\n\n",
                args.client
            ));
            toml.push_str(&lab.inventory_toml(&args.client));
            // Checked whole before it replaces the file, and written without following a link.
            let inventory: Inventory = keyreeve::inventory::edit::write(&file, &toml)?;
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
        (None, _) => {
            println!("\nInventory stanzas (add --workspace DIR to store them and the passwords in a workspace):\n");
            println!("[clients.{}]\n", args.client);
            print!("{}", lab.inventory_toml(&args.client));
        }
    }
    let stop = StopSignals::listen()?;
    println!("Running until Ctrl-C or SIGTERM.");

    stop.wait()?;
    lab.stop();
    println!("Device lab stopped.");
    Ok(Outcome::Success)
}

/// Ctrl-C (SIGINT) and SIGTERM, listened for from creation on: a signal sent as soon as
/// "Running until" is printed must stop the lab cleanly, not kill it.
struct StopSignals {
    runtime: tokio::runtime::Runtime,
    #[cfg(unix)]
    signals: (tokio::signal::unix::Signal, tokio::signal::unix::Signal),
}

impl StopSignals {
    fn listen() -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the signal handler")?;
        #[cfg(unix)]
        let signals = {
            use tokio::signal::unix::{signal, SignalKind};
            let _inside = runtime.enter();
            (
                signal(SignalKind::interrupt()).context("listening for Ctrl-C")?,
                signal(SignalKind::terminate()).context("listening for SIGTERM")?,
            )
        };
        Ok(StopSignals {
            runtime,
            #[cfg(unix)]
            signals,
        })
    }

    /// Blocks until one of the signals arrives.
    fn wait(self) -> Result<()> {
        #[cfg(unix)]
        {
            let (mut int, mut term) = self.signals;
            self.runtime.block_on(async {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            });
        }
        #[cfg(not(unix))]
        self.runtime
            .block_on(tokio::signal::ctrl_c())
            .context("listening for Ctrl-C")?;
        Ok(())
    }
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
