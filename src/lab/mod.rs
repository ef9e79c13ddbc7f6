//! The device lab: emulated routers, firewalls and switches of every SSH dialect but linux, served
//! on 127.0.0.1 by a pure-Rust SSH server (russh), for the tests, the demo and the benchmarks.
//!
//! Each device keeps its own configuration (see `config`), authenticates logins against what it
//! runs, and speaks its OS's CLI through one file per OS. This file holds the public API (start,
//! inspect, inject faults, stop); `spec` what a lab is made of before it starts (`LabConfig`,
//! `DeviceSpec`, generated devices); `device` the device and its server, `session` the SSH core
//! that all OSes share (line editing and echo, `?` help, paging, exec channels, and the faults),
//! and `shell` what each OS implements. `DeviceOptions` turn on what only some devices of a
//! kind do (FortiOS VDOMs and login disclaimer, EdgeOS rather than VyOS); `LabConfig::host_keys`
//! keeps the devices' SSH host keys in a file so that a restarted lab presents the same keys.
//!
//! ```no_run
//! use keyreeve::lab::{Fault, Lab, LabConfig};
//! # fn main() -> Result<(), keyreeve::lab::LabError> {
//! let mut config = LabConfig::generated(8, &[]); // one device of each emulated kind
//! config.time_scale = 600.0; // a Junos `commit confirmed 1` rolls back after 0.1 s
//! let lab = Lab::start(config.clone())?;
//! let first = &lab.devices()[0]; // name, kind, 127.0.0.1, port, host key, login
//! let admin = &config.devices[0].accounts[0];
//! assert!(lab.running_password_works(&first.name, &admin.name, &admin.password));
//! lab.set_fault(&first.name, Fault::DropAfterChange)?;
//! let toml = lab.inventory_toml("acme"); // [[clients.acme.targets]] stanzas, host keys pinned
//! lab.reload(&first.name)?; // a power cycle: unsaved changes are lost
//! lab.stop();
//! # let _ = toml;
//! # Ok(())
//! # }
//! ```

mod arista_eos;
mod aruba_aoscx;
mod aruba_aoss;
mod cisco_asa;
mod cisco_ios;
mod cisco_nxos;
mod config;
mod device;
mod esxi;
mod fortios;
mod host_keys;
mod junos;
mod opnsense;
mod panos;
mod pfsense;
mod posix_sh;
mod routeros;
mod session;
mod shell;
mod sonicos;
mod spec;
mod synology_dsm;
mod unifi;
mod vyos;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use russh::keys::{HashAlg, PrivateKey};
use russh::server::{Auth, Msg, Session};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use tokio::sync::watch;

use crate::inventory::TargetKind;
use crate::secret::Password;

use config::{Conf, DeviceState};
use device::*;
pub use panos::COMMIT_TIME as PANOS_COMMIT_TIME;
use session::*;
pub(crate) use shell::{abbrev, words, Ctx, Echo, Effects, Reply, Shell};
pub use spec::{
    default_login, has_enable, random_password, DeviceOptions, DeviceSpec, LabAccount, LabConfig, EMULATED_KINDS,
};

/// Why the lab could not start or could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("the lab cannot emulate `{0}` devices")]
    UnsupportedKind(TargetKind),
    #[error("lab device `{0}` has no accounts; its first account is the login account")]
    NoAccounts(String),
    #[error("lab device name `{0}` is used twice")]
    DuplicateName(String),
    #[error("no lab device named `{0}`")]
    UnknownDevice(String),
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("the lab runtime failed: {0}")]
    Runtime(String),
    #[error("lab host key file {file}: {detail}")]
    HostKeys { file: std::path::PathBuf, detail: String },
}

impl crate::Hint for LabError {
    fn hint(&self) -> Option<String> {
        match self {
            LabError::UnsupportedKind(_) => Some(format!(
                "emulated kinds: {}",
                EMULATED_KINDS.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
            )),
            LabError::Bind { .. } => Some("choose another --base-port, or 0 to let the system pick".into()),
            LabError::HostKeys { .. } => {
                Some("remove the file to give the lab new host keys (pinned keys must then be accepted again)".into())
            }
            _ => None,
        }
    }
}
/// A fault injected into one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    /// Behave.
    #[default]
    None,
    /// Accept a password change command and change nothing.
    IgnorePasswordChange,
    /// Close the session right after a password change (the change is made).
    DropAfterChange,
    /// Stop answering after the next command (no output, no echo; the connection stays open).
    Hang,
    /// Answer every command (and the login) with garbage and an unexpected prompt.
    Nonsense,
    /// Refuse TCP connections (the port is closed until the fault is cleared).
    RefuseConnections,
    /// Refuse a password change (the configuration stays as it was) with errors that repeat
    /// the command in other forms: each word reversed, each word base64-encoded, and the line
    /// cut in two (as a device that wraps or truncates what it echoes would), so that the
    /// password is in the output but never whole; the reversed words behind a right-to-left
    /// override, which a terminal would obey.
    EchoMangled,
}

/// What the lab tells about a running device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabDeviceInfo {
    pub name: String,
    pub kind: TargetKind,
    pub address: String,
    pub port: u16,
    /// `SHA256:<base64 without padding>`, as OpenSSH prints it.
    pub host_key_fingerprint: String,
    /// The login account (the spec's first account).
    pub login: String,
    /// Whether the device has an enable secret.
    pub has_enable: bool,
}

/// A running lab. Dropping it stops every device.
pub struct Lab {
    devices: Vec<Arc<Device>>,
    stop: Option<watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lab").field("devices", &self.devices.len()).finish()
    }
}

impl Lab {
    /// Starts every device on 127.0.0.1 on a runtime thread of its own and returns once all
    /// listen.
    pub fn start(config: LabConfig) -> Result<Lab, LabError> {
        let time_scale = if config.time_scale.is_finite() && config.time_scale > 0.0 {
            config.time_scale
        } else {
            1.0
        };
        let mut devices = Vec::with_capacity(config.devices.len());
        let mut listeners = Vec::with_capacity(config.devices.len());
        let mut names = std::collections::HashSet::new();
        if let Some(name) = config
            .options
            .keys()
            .find(|n| !config.devices.iter().any(|d| &d.name == *n))
        {
            return Err(LabError::UnknownDevice(name.clone()));
        }
        let mut seeds = match &config.host_keys {
            Some(file) => host_keys::load(file)?,
            None => host_keys::Seeds::new(),
        };
        let known_seeds = seeds.len();
        for spec in &config.devices {
            seeds.entry(spec.name.clone()).or_insert_with(host_keys::fresh_seed);
        }
        if let Some(file) = &config.host_keys {
            if seeds.len() != known_seeds {
                host_keys::store(file, &seeds)?;
            }
        }
        for (i, spec) in config.devices.iter().enumerate() {
            if !EMULATED_KINDS.contains(&spec.kind) {
                return Err(LabError::UnsupportedKind(spec.kind));
            }
            if spec.accounts.is_empty() {
                return Err(LabError::NoAccounts(spec.name.clone()));
            }
            if !names.insert(spec.name.clone()) {
                return Err(LabError::DuplicateName(spec.name.clone()));
            }
            let port = match (spec.port, config.base_port) {
                (0, 0) => 0,
                (0, base) => base.checked_add(i as u16).unwrap_or(0),
                (p, _) => p,
            };
            let listener = std::net::TcpListener::bind(("127.0.0.1", port))
                .and_then(|l| l.set_nonblocking(true).map(|_| l))
                .map_err(|source| LabError::Bind { port, source })?;
            let addr = listener
                .local_addr()
                .map_err(|source| LabError::Bind { port, source })?;
            let key = seeds
                .get(&spec.name)
                .map(|seed| host_keys::key_from_seed(seed))
                .ok_or_else(|| LabError::Runtime(format!("no host key for `{}`", spec.name)))?;
            let options = config.options.get(&spec.name).copied().unwrap_or_default();
            let device = Device::new(spec, options, key, addr, time_scale, config.auth_rejection_time);
            device.state().license_shown = !config.first_boot;
            devices.push(Arc::new(device));
            listeners.push(listener);
        }

        let (stop_tx, stop_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let thread_devices = devices.clone();
        let thread = std::thread::Builder::new()
            .name("keyreeve-lab".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("keyreeve-lab-worker")
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                runtime.block_on(async move {
                    for (device, listener) in thread_devices.into_iter().zip(listeners) {
                        let _ = device.runtime.set(tokio::runtime::Handle::current());
                        tokio::spawn(serve_device(device, listener, stop_rx.clone()));
                    }
                    let _ = ready_tx.send(Ok(()));
                    let mut stop_rx = stop_rx;
                    while !*stop_rx.borrow() {
                        if stop_rx.changed().await.is_err() {
                            break;
                        }
                    }
                });
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(|e| LabError::Runtime(e.to_string()))?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(LabError::Runtime(e)),
            Err(_) => return Err(LabError::Runtime("the lab thread ended before it started".into())),
        }
        Ok(Lab {
            devices,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Every device, in the order of the config.
    pub fn devices(&self) -> Vec<LabDeviceInfo> {
        self.devices.iter().map(|d| d.info()).collect()
    }

    /// One device by name.
    pub fn device(&self, name: &str) -> Result<LabDeviceInfo, LabError> {
        Ok(self.find(name)?.info())
    }

    fn find(&self, name: &str) -> Result<&Arc<Device>, LabError> {
        self.devices
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| LabError::UnknownDevice(name.to_string()))
    }

    /// Whether `password` logs `account` in with what the device runs now.
    pub fn running_password_works(&self, device: &str, account: &str, password: &Password) -> bool {
        self.find(device)
            .map(|d| d.state().running.password_works(account, password.expose()))
            .unwrap_or(false)
    }

    /// Failed logins counted toward `account`'s lockout (ESXi), and whether it is locked now.
    pub fn login_failures(&self, device: &str, account: &str) -> (u32, bool) {
        let Ok(d) = self.find(device) else { return (0, false) };
        let st = d.state();
        match st.login_failures.get(account) {
            Some((n, since)) => (
                *n,
                since.is_some_and(|t| t.elapsed() < esxi::UNLOCK_AFTER.div_f64(d.time_scale)),
            ),
            None => (0, false),
        }
    }

    /// What a UniFi controller does at provisioning: pushes `password` for `account` to `device`,
    /// in what it runs and keeps. The demo plays the controller with it after a guided step.
    pub fn provision_password(&self, device: &str, account: &str, password: &Password) -> Result<(), LabError> {
        let d = self.find(device)?;
        let mut guard = d.state();
        let st = &mut *guard;
        let secret = config::Secret::Hash(config::hash(config::Scheme::Sha512Crypt, password.expose()));
        for conf in [&mut st.running, &mut st.saved] {
            if let Some(user) = conf.users.get_mut(account) {
                user.secret = secret.clone();
            }
        }
        Ok(())
    }

    /// Whether `password` would log `account` in after a reload (saved / startup / confirmed config).
    pub fn saved_password_works(&self, device: &str, account: &str, password: &Password) -> bool {
        self.find(device)
            .map(|d| d.state().saved.password_works(account, password.expose()))
            .unwrap_or(false)
    }

    /// Whether `password` is the enable secret the device runs now (`saved`: after a reload).
    pub fn enable_secret_works(&self, device: &str, password: &Password, saved: bool) -> bool {
        self.find(device)
            .map(|d| {
                let st = d.state();
                let conf = if saved { &st.saved } else { &st.running };
                conf.enable.as_ref().is_some_and(|s| s.verify(password.expose()))
            })
            .unwrap_or(false)
    }

    /// The accounts the device runs now, with their privilege (0..=15).
    pub fn running_accounts(&self, device: &str) -> Result<Vec<(String, u8)>, LabError> {
        let d = self.find(device)?;
        let st = d.state();
        Ok(st.running.users.iter().map(|(n, u)| (n.clone(), u.privilege)).collect())
    }

    /// Power-cycles the device: unsaved changes are lost, pending confirmations roll back, open
    /// sessions are dropped.
    pub fn reload(&self, device: &str) -> Result<(), LabError> {
        let d = self.find(device)?;
        d.state().reload();
        d.drop_sessions(None);
        Ok(())
    }

    /// Injects (or with `Fault::None` clears) a fault.
    pub fn set_fault(&self, device: &str, fault: Fault) -> Result<(), LabError> {
        let d = self.find(device)?;
        let before = d.fault.send_replace(fault);
        // The listener closes or reopens on the lab's own thread: return only once the port does
        // what the fault says, so that a test's next connection sees it.
        let refusing = fault == Fault::RefuseConnections;
        if refusing != (before == Fault::RefuseConnections) {
            let deadline = std::time::Instant::now() + Duration::from_secs(3);
            while std::time::Instant::now() < deadline {
                let open = std::net::TcpStream::connect_timeout(&d.addr, Duration::from_millis(200)).is_ok();
                if open != refusing {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Ok(())
    }

    /// An inventory fragment for `keyreeve.toml`: one `[[clients.CLIENT.targets]]` per device, with
    /// kind, address, port, login, enable (vault account `enable`) and the pinned host key.
    pub fn inventory_toml(&self, client: &str) -> String {
        inventory_toml(client, &self.devices())
    }

    /// Stops every device and waits for the lab thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The command timeout the lab's inventory gives PAN-OS devices (the wait for a commit).
pub const PANOS_COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// Whether keyreeve can rotate every account of an emulated device of `kind` on the device:
/// OPNsense's CLI changes root's password only, and UniFi's accounts belong to its controller.
pub fn rotates_every_account(kind: TargetKind) -> bool {
    !matches!(kind, TargetKind::Opnsense | TargetKind::Unifi)
}

/// The vault account name under which the lab's inventory expects the enable secret.
pub const ENABLE_ACCOUNT: &str = "enable";

/// Inventory stanzas for the given devices (see [`Lab::inventory_toml`]).
pub fn inventory_toml(client: &str, devices: &[LabDeviceInfo]) -> String {
    let mut out = String::new();
    for d in devices {
        out.push_str(&format!("[[clients.{client}.targets]]\n"));
        out.push_str(&format!("name = \"{}\"\n", d.name));
        out.push_str(&format!("kind = \"{}\"\n", d.kind.as_str()));
        out.push_str(&format!("address = \"{}\"\n", d.address));
        out.push_str(&format!("port = {}\n", d.port));
        out.push_str(&format!("login = \"{}\"\n", d.login));
        if d.kind == TargetKind::Panos {
            // A commit runs for a while: the wait for it is bounded by command_timeout.
            out.push_str(&format!("command_timeout = {}\n", PANOS_COMMAND_TIMEOUT.as_secs()));
        }
        if d.has_enable {
            out.push_str(&format!("enable = \"{ENABLE_ACCOUNT}\"\n"));
        }
        out.push_str(&format!("host_key = \"{}\"\n", d.host_key_fingerprint));
        out.push_str("tags = [\"lab\"]\n\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn words_keep_quoted_strings_together() {
        assert_eq!(
            words(r#"/user set [find name="a b"] password="x\"y""#),
            vec!["/user", "set", "[find", "name=a b]", "password=x\"y"]
        );
        assert_eq!(words("set password ''"), vec!["set", "password", ""]);
    }

    /// Random lines made of every OS's keywords, quotes, brackets and odd characters: no shell may
    /// panic on them.
    #[test]
    fn no_shell_panics_on_random_input() {
        const WORDS: &[&str] = &[
            "show",
            "running-config",
            "run",
            "|",
            "include",
            "section",
            "no-more",
            "configure",
            "terminal",
            "session",
            "s1",
            "commit",
            "confirmed",
            "timer",
            "00:00:01",
            "abort",
            "rollback",
            "1",
            "0",
            "99",
            "username",
            "netops",
            "admin",
            "monitor",
            "secret",
            "password",
            "5",
            "8",
            "9",
            "0",
            "privilege",
            "15",
            "role",
            "network-admin",
            "enable",
            "end",
            "exit",
            "quit",
            "do",
            "write",
            "memory",
            "copy",
            "startup-config",
            "checkpoint",
            "file",
            "bootflash:x",
            "set",
            "delete",
            "system",
            "login",
            "user",
            "authentication",
            "plain-text-password",
            "plaintext-password",
            "encrypted-password",
            "class",
            "super-user",
            "/user",
            "[find",
            "name=\"netops\"]",
            "password=\"a\\\"b\"",
            "/password",
            "print",
            "detail",
            "config",
            "admin",
            "edit",
            "\"netops\"",
            "next",
            "ENC",
            "SH2",
            "$6$x$y",
            "$9$",
            "'q'",
            "\"",
            "'",
            "[",
            "]",
            "\\",
            "é",
            "\u{0}",
            "..",
            "/",
            "display",
            "compare",
            "save",
            "discard",
            "commit-confirm",
            "confirm",
            "accprofile",
            "super_admin",
            "revert",
            "now",
            "reload",
            "y",
            "n",
            "yes",
        ];
        let mut rng = rand::rng();
        for (i, kind) in EMULATED_KINDS.iter().enumerate() {
            let spec = DeviceSpec {
                name: format!("fuzz{i}"),
                kind: *kind,
                accounts: vec![
                    LabAccount::new("admin", random_password(), 15),
                    LabAccount::new("netops", random_password(), 15),
                    LabAccount::new("monitor", random_password(), 1),
                ],
                enable_secret: Some(random_password()),
                port: 0,
            };
            let (conf, autosave) = initial_conf(&spec);
            let mut state = DeviceState::new(conf, autosave);
            let mut answered = 0;
            let variants = [
                DeviceOptions::default(),
                DeviceOptions {
                    fortios_vdoms: true,
                    fortios_login_banner: true,
                    edgeos: true,
                },
            ];
            for (user, options) in [("admin", variants[0]), ("monitor", variants[0]), ("admin", variants[1])] {
                let mut shell = new_shell(*kind, options, user, &state);
                for b in [b'x', b'a'] {
                    if shell.awaits_key() {
                        let _ = shell.key(&mut fuzz_ctx(&mut state, user), b);
                    }
                }
                assert!(!shell.awaits_key(), "{kind}: still waiting for a key after `a`");
                for _ in 0..1500 {
                    let n = rng.random_range(0..8);
                    let line: Vec<&str> = (0..n).map(|_| WORDS[rng.random_range(0..WORDS.len())]).collect();
                    let line = line.join(if rng.random_bool(0.1) { "" } else { " " });
                    let mut ctx = fuzz_ctx(&mut state, user);
                    if !shell.line(&mut ctx, &line).text.is_empty() {
                        answered += 1;
                    }
                    let _ = shell.prompt(&ctx);
                    let _ = shell.help(&mut ctx, &line);
                    let _ = shell.exec(&mut ctx, &line);
                    ctx.state.settle(Instant::now());
                }
            }
            assert!(answered > 300, "{kind}: only {answered} lines got an answer");
        }
    }

    /// What one input of the random-input test runs in: `user`'s session, time running fast.
    fn fuzz_ctx<'a>(state: &'a mut DeviceState, user: &'a str) -> Ctx<'a> {
        Ctx {
            state,
            fx: Effects::default(),
            user,
            now: Instant::now(),
            time_scale: 1000.0,
            rows: 24,
        }
    }

    #[test]
    fn generated_passwords_have_every_class() {
        for _ in 0..50 {
            let p = random_password();
            let s = p.expose();
            assert_eq!(s.len(), 16);
            assert!(s.chars().next().is_some_and(|c| c.is_ascii_uppercase()));
            assert!(s.chars().any(|c| c.is_ascii_digit()));
            assert!(s.chars().any(|c| "-_.+=@%".contains(c)));
        }
    }

    #[test]
    fn generated_config_spreads_kinds() {
        let cfg = LabConfig::generated(10, &[TargetKind::CiscoIos, TargetKind::Junos]);
        assert_eq!(cfg.devices.len(), 10);
        assert_eq!(cfg.devices[0].name, "ios-001");
        assert_eq!(cfg.devices[1].name, "junos-001");
        assert_eq!(cfg.devices[2].name, "ios-002");
        assert!(cfg.devices[0].enable_secret.is_some());
        assert!(cfg.devices[1].enable_secret.is_none());
    }
}
