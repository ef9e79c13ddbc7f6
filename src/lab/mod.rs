//! The device lab: emulated routers, firewalls and switches of every SSH dialect but linux, served
//! on 127.0.0.1 by a pure-Rust SSH server (russh), for the tests, the demo and the benchmarks.
//!
//! Each device keeps its own configuration (see `config`), authenticates logins against what it
//! runs, and speaks its OS's CLI through one file per OS. This file holds the public API (start,
//! inspect, inject faults, stop) and the SSH core that all OSes share: line editing and echo, `?`
//! help, paging, exec channels, and the faults. `DeviceOptions` turn on what only some devices of a
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
mod cisco_asa;
mod cisco_ios;
mod cisco_nxos;
mod config;
mod fortios;
mod host_keys;
mod junos;
mod routeros;
mod vyos;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::Rng;
use russh::keys::{HashAlg, PrivateKey};
use russh::server::{Auth, Msg, Session};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use tokio::sync::watch;

use crate::inventory::TargetKind;
use crate::secret::Password;

use config::{Conf, DeviceState};

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

/// Every kind the lab can emulate.
pub const EMULATED_KINDS: &[TargetKind] = &[
    TargetKind::CiscoIos,
    TargetKind::CiscoNxos,
    TargetKind::CiscoAsa,
    TargetKind::Junos,
    TargetKind::AristaEos,
    TargetKind::Routeros,
    TargetKind::Fortios,
    TargetKind::Vyos,
];

/// A local account of an emulated device.
#[derive(Debug, Clone)]
pub struct LabAccount {
    pub name: String,
    pub password: Password,
    /// Cisco-style 0..=15; 15 is administrative (mapped to super-user, network-admin, full, ...).
    pub privilege: u8,
}

impl LabAccount {
    pub fn new(name: impl Into<String>, password: Password, privilege: u8) -> Self {
        LabAccount {
            name: name.into(),
            password,
            privilege,
        }
    }
}

/// One device to emulate.
#[derive(Debug, Clone)]
pub struct DeviceSpec {
    /// Name of the device; also its hostname in prompts.
    pub name: String,
    pub kind: TargetKind,
    /// Its local accounts; the first one is the login account keyreeve uses.
    pub accounts: Vec<LabAccount>,
    /// Enable secret (IOS, ASA); ignored by the other OSes.
    pub enable_secret: Option<Password>,
    /// 0: the next port after `LabConfig::base_port`, or any free port when that is 0 too.
    pub port: u16,
}

/// What to start.
#[derive(Debug, Clone)]
pub struct LabConfig {
    pub devices: Vec<DeviceSpec>,
    /// How many times faster than real time the devices' timers run: 1.0 is real time; with 600.0
    /// a Junos `commit confirmed 1` rolls back after 0.1 s.
    pub time_scale: f64,
    /// First port when devices are given port 0 (device i gets base_port + i); 0 lets the system pick.
    pub base_port: u16,
    /// How long a refused login takes (real servers: about 1 s).
    pub auth_rejection_time: Duration,
    /// Devices fresh out of the box rather than in service: the first interactive login to a
    /// RouterOS device is asked `Do you want to see the software license? [Y/n]:`.
    pub first_boot: bool,
    /// Optional behaviour of single devices, by device name (devices not named run their kind's
    /// defaults).
    pub options: HashMap<String, DeviceOptions>,
    /// Where the devices' SSH host keys are kept, so that a restarted lab presents the same keys
    /// (keys pinned in an inventory stay valid). Keys of devices the file lacks are made and added
    /// to it; the file is written atomically with mode 0600. None: fresh keys on every start.
    pub host_keys: Option<std::path::PathBuf>,
}

/// Optional behaviour of one emulated device, beyond what its kind always does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceOptions {
    /// FortiOS: VDOMs are on (`Virtual domain configuration: multiple`); system tables such as
    /// `config system admin` exist only inside `config global`.
    pub fortios_vdoms: bool,
    /// FortiOS: `set post-login-banner enable`; after the password the device shows its disclaimer
    /// and `(Press 'a' to accept):`, and gives no prompt until the key `a` is pressed.
    pub fortios_login_banner: bool,
    /// VyOS kind: a Ubiquiti EdgeOS router (EdgeRouter) rather than VyOS: paging off with
    /// `terminal length 0` (VyOS's `set terminal length` is refused), EdgeOS's banner, version
    /// and prompt `user@host:~$`, and `level admin|operator` on every login user.
    pub edgeos: bool,
}

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig {
            devices: Vec::new(),
            time_scale: 1.0,
            base_port: 0,
            auth_rejection_time: Duration::from_millis(200),
            first_boot: false,
            options: HashMap::new(),
            host_keys: None,
        }
    }
}

impl LabConfig {
    /// `n` devices spread round-robin across `kinds` (all emulated kinds if empty), each with an
    /// `admin` login (privilege 15), a second admin `netops` (15), a read-only `monitor` (1), and an
    /// enable secret where the OS has one; every password random and valid for its OS.
    pub fn generated(n: usize, kinds: &[TargetKind]) -> LabConfig {
        let kinds: Vec<TargetKind> = if kinds.is_empty() {
            EMULATED_KINDS.to_vec()
        } else {
            kinds.to_vec()
        };
        let mut counters: HashMap<TargetKind, usize> = HashMap::new();
        let devices = (0..n)
            .map(|i| {
                let kind = kinds[i % kinds.len()];
                let c = counters.entry(kind).or_default();
                *c += 1;
                DeviceSpec {
                    name: format!("{}-{:03}", short_name(kind), c),
                    kind,
                    accounts: vec![
                        LabAccount::new("admin", random_password(), 15),
                        LabAccount::new("netops", random_password(), 15),
                        LabAccount::new("monitor", random_password(), 1),
                    ],
                    enable_secret: has_enable(kind).then(random_password),
                    port: 0,
                }
            })
            .collect();
        LabConfig {
            devices,
            ..LabConfig::default()
        }
    }
}

fn short_name(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::CiscoIos => "ios",
        TargetKind::CiscoNxos => "nxos",
        TargetKind::CiscoAsa => "asa",
        TargetKind::Junos => "junos",
        TargetKind::AristaEos => "eos",
        TargetKind::Routeros => "routeros",
        TargetKind::Fortios => "fortios",
        TargetKind::Vyos => "vyos",
        other => other.as_str(),
    }
}

/// Whether the kind has an enable secret the lab emulates.
pub fn has_enable(kind: TargetKind) -> bool {
    matches!(
        kind,
        TargetKind::CiscoIos | TargetKind::CiscoAsa | TargetKind::AristaEos
    )
}

/// A random password every emulated OS accepts: 16 characters, starting with a letter, with
/// upper, lower, digit and a safe punctuation character.
pub fn random_password() -> Password {
    const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGIT: &[u8] = b"23456789";
    const PUNCT: &[u8] = b"-_.+=@%";
    let mut rng = rand::rng();
    let mut pick = |set: &[u8]| set[rng.random_range(0..set.len())] as char;
    let mut s = String::with_capacity(16);
    s.push(pick(UPPER));
    s.push(pick(LOWER));
    s.push(pick(DIGIT));
    s.push(pick(PUNCT));
    let all: Vec<u8> = [LOWER, UPPER, DIGIT].concat();
    while s.len() < 16 {
        s.push(pick(&all));
    }
    Password::new(s)
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
        if d.has_enable {
            out.push_str(&format!("enable = \"{ENABLE_ACCOUNT}\"\n"));
        }
        out.push_str(&format!("host_key = \"{}\"\n", d.host_key_fingerprint));
        out.push_str("tags = [\"lab\"]\n\n");
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The device and its SSH service

struct Device {
    name: String,
    kind: TargetKind,
    options: DeviceOptions,
    addr: SocketAddr,
    login: String,
    has_enable: bool,
    fingerprint: String,
    time_scale: f64,
    ssh: Arc<russh::server::Config>,
    state: Mutex<DeviceState>,
    fault: watch::Sender<Fault>,
    sessions: Mutex<Vec<OpenSession>>,
    next_session: AtomicU64,
    /// The lab's runtime, to end sessions from outside it (`Lab::reload`).
    runtime: std::sync::OnceLock<tokio::runtime::Handle>,
}

struct OpenSession {
    id: u64,
    user: String,
    handle: russh::server::Handle,
}

impl Device {
    fn new(
        spec: &DeviceSpec,
        options: DeviceOptions,
        key: PrivateKey,
        addr: SocketAddr,
        time_scale: f64,
        auth_rejection_time: Duration,
    ) -> Device {
        let fingerprint = key.public_key().fingerprint(HashAlg::Sha256).to_string();
        let ssh = russh::server::Config {
            server_id: russh::SshId::Standard(ssh_banner(spec.kind).into()),
            methods: MethodSet::from(&[MethodKind::Password][..]),
            auth_rejection_time,
            auth_rejection_time_initial: Some(Duration::ZERO),
            keys: vec![key],
            inactivity_timeout: Some(Duration::from_secs(3600)),
            nodelay: true,
            ..Default::default()
        };
        let (conf, autosave) = initial_conf(spec);
        Device {
            name: spec.name.clone(),
            kind: spec.kind,
            options,
            addr,
            login: spec.accounts.first().map(|a| a.name.clone()).unwrap_or_default(),
            has_enable: has_enable(spec.kind) && spec.enable_secret.is_some(),
            fingerprint,
            time_scale,
            ssh: Arc::new(ssh),
            state: Mutex::new(DeviceState::new(conf, autosave)),
            fault: watch::channel(Fault::None).0,
            sessions: Mutex::new(Vec::new()),
            next_session: AtomicU64::new(1),
            runtime: std::sync::OnceLock::new(),
        }
    }

    fn info(&self) -> LabDeviceInfo {
        LabDeviceInfo {
            name: self.name.clone(),
            kind: self.kind,
            address: self.addr.ip().to_string(),
            port: self.addr.port(),
            host_key_fingerprint: self.fingerprint.clone(),
            login: self.login.clone(),
            has_enable: self.has_enable,
        }
    }

    /// The device's state with its timers brought up to now.
    fn state(&self) -> MutexGuard<'_, DeviceState> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.settle(Instant::now());
        st
    }

    fn fault(&self) -> Fault {
        *self.fault.borrow()
    }

    /// Closes the sessions of `user` (all sessions if None).
    fn drop_sessions(&self, user: Option<&str>) {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        for s in sessions.iter().filter(|s| user.is_none_or(|u| s.user == u)) {
            let handle = s.handle.clone();
            if let Some(rt) = self.runtime.get() {
                rt.spawn(async move {
                    let _ = handle
                        .disconnect(russh::Disconnect::ByApplication, "logged out".into(), String::new())
                        .await;
                });
            }
        }
    }
}

/// The SSH identification string each OS's server sends.
fn ssh_banner(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::CiscoIos | TargetKind::CiscoAsa => "SSH-2.0-Cisco-1.25",
        TargetKind::CiscoNxos => "SSH-2.0-OpenSSH_8.3",
        TargetKind::Junos => "SSH-2.0-OpenSSH_7.5",
        TargetKind::AristaEos => "SSH-2.0-OpenSSH_7.8",
        TargetKind::Routeros => "SSH-2.0-ROSSSH",
        TargetKind::Fortios => "SSH-2.0-FortiSSH_7.4",
        _ => "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
    }
}

fn initial_conf(spec: &DeviceSpec) -> (Conf, bool) {
    match spec.kind {
        TargetKind::CiscoNxos => cisco_nxos::initial_conf(spec),
        TargetKind::CiscoAsa => cisco_asa::initial_conf(spec),
        TargetKind::Junos => junos::initial_conf(spec),
        TargetKind::AristaEos => arista_eos::initial_conf(spec),
        TargetKind::Routeros => routeros::initial_conf(spec),
        TargetKind::Fortios => fortios::initial_conf(spec),
        TargetKind::Vyos => vyos::initial_conf(spec),
        _ => cisco_ios::initial_conf(spec),
    }
}

fn new_shell(kind: TargetKind, options: DeviceOptions, user: &str, st: &DeviceState) -> Box<dyn Shell> {
    match kind {
        TargetKind::CiscoNxos => Box::new(cisco_nxos::NxosShell::new(user, st)),
        TargetKind::CiscoAsa => Box::new(cisco_asa::AsaShell::new(user, st)),
        TargetKind::Junos => Box::new(junos::JunosShell::new(user, st)),
        TargetKind::AristaEos => Box::new(arista_eos::EosShell::new(user, st)),
        TargetKind::Routeros => Box::new(routeros::RouterosShell::new(user, st)),
        TargetKind::Fortios => Box::new(fortios::FortiShell::new(user, st, options)),
        TargetKind::Vyos => Box::new(vyos::VyosShell::new(user, st, options)),
        _ => Box::new(cisco_ios::IosShell::new(user, st)),
    }
}

/// The account name a login asks for (RouterOS takes terminal options after `+`).
fn login_name(kind: TargetKind, raw: &str) -> &str {
    match kind {
        TargetKind::Routeros => raw.split('+').next().unwrap_or(raw),
        _ => raw,
    }
}

async fn serve_device(device: Arc<Device>, listener: std::net::TcpListener, mut stop: watch::Receiver<bool>) {
    let mut fault_rx = device.fault.subscribe();
    let mut listener = tokio::net::TcpListener::from_std(listener).ok();
    loop {
        if *stop.borrow() {
            return;
        }
        let refusing = *fault_rx.borrow_and_update() == Fault::RefuseConnections;
        if refusing {
            listener = None;
        } else if listener.is_none() {
            listener = rebind(device.addr);
            if listener.is_none() {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = fault_rx.changed() => continue,
            accepted = async {
                match &listener {
                    Some(l) => l.accept().await,
                    None => std::future::pending().await,
                }
            } => {
                if let Ok((stream, _)) = accepted {
                    let _ = stream.set_nodelay(true);
                    let device = device.clone();
                    tokio::spawn(async move {
                        let handler = Conn::new(device.clone());
                        if let Ok(running) = russh::server::run_stream(device.ssh.clone(), stream, handler).await {
                            let _ = running.await;
                        }
                    });
                }
            }
        }
    }
}

fn rebind(addr: SocketAddr) -> Option<tokio::net::TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4().ok()?;
    socket.set_reuseaddr(true).ok()?;
    socket.bind(addr).ok()?;
    socket.listen(1024).ok()
}

// ---------------------------------------------------------------------------------------------
// What an OS implements

/// How typed characters are echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Echo {
    On,
    Off,
    /// One `*` per character (ASA's enable password).
    Mask,
}

/// Side effects of a command beyond its output, collected for the core to carry out.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    pub fault: Fault,
    /// Users whose sessions must end (FortiOS logs an admin out when its password changes).
    pub logout_users: Vec<String>,
    /// The device rebooted: every session ends.
    pub reloaded: bool,
}

impl Effects {
    /// Sets `name`'s account in `conf`, unless the device is told to ignore password changes.
    /// Returns whether it changed anything.
    pub(crate) fn set_user(&mut self, conf: &mut Conf, name: &str, user: config::User) -> bool {
        if self.fault == Fault::IgnorePasswordChange {
            return false;
        }
        let changed = conf.users.get(name) != Some(&user);
        conf.users.insert(name.to_string(), user);
        changed
    }

    /// Sets the enable secret, unless told to ignore password changes.
    pub(crate) fn set_enable(&mut self, conf: &mut Conf, secret: config::Secret) {
        if self.fault == Fault::IgnorePasswordChange {
            return;
        }
        conf.enable = Some(secret);
    }
}

/// What a shell gets to work with for one command.
pub(crate) struct Ctx<'a> {
    pub state: &'a mut DeviceState,
    pub fx: Effects,
    /// The logged-in account.
    pub user: &'a str,
    pub now: Instant,
    pub time_scale: f64,
    /// Terminal height from the pty request (0 = no pty).
    pub rows: usize,
}

impl Ctx<'_> {
    /// Reboots the device (unsaved changes are lost; every session ends).
    pub(crate) fn reload(&mut self) {
        self.state.reload();
        self.fx.reloaded = true;
    }

    /// A device duration in real time.
    pub(crate) fn scaled(&self, nominal: Duration) -> Duration {
        nominal.div_f64(self.time_scale)
    }
}

/// A shell's answer to one line.
#[derive(Debug, Default)]
pub(crate) struct Reply {
    /// Output lines separated by `\n` (the core turns them into `\r\n` on a pty).
    pub text: String,
    /// Page the output with this many lines per screen (None: no paging).
    pub page: Option<usize>,
    /// End the session after the output.
    pub close: bool,
}

impl Reply {
    pub(crate) fn text(text: impl Into<String>) -> Reply {
        Reply {
            text: text.into(),
            ..Reply::default()
        }
    }
    pub(crate) fn none() -> Reply {
        Reply::default()
    }
    pub(crate) fn close(text: impl Into<String>) -> Reply {
        Reply {
            text: text.into(),
            close: true,
            ..Reply::default()
        }
    }
    pub(crate) fn paged(text: impl Into<String>, page: Option<usize>) -> Reply {
        Reply {
            text: text.into(),
            page,
            ..Reply::default()
        }
    }
}

/// One CLI session of an emulated OS.
pub(crate) trait Shell: Send {
    /// What the device prints after login, before the first prompt (banner, MOTD, last login).
    fn greeting(&mut self, ctx: &mut Ctx) -> String;
    /// The prompt for the current mode.
    fn prompt(&self, ctx: &Ctx) -> String;
    /// Runs one typed line.
    fn line(&mut self, ctx: &mut Ctx, line: &str) -> Reply;
    /// `?` typed at the end of `partial`: the help to show at once (then the prompt and the
    /// partial line again). None: `?` is an ordinary character on this OS.
    fn help(&mut self, _ctx: &mut Ctx, _partial: &str) -> Option<String> {
        None
    }
    /// Whether `?` is literal when the line so far ends with a backslash (RouterOS `\?`).
    fn backslash_escapes_help(&self) -> bool {
        false
    }
    /// How typed characters are echoed now (off at password prompts).
    fn echo(&self) -> Echo {
        Echo::On
    }
    /// The pager prompt.
    fn pager_prompt(&self) -> &'static str {
        " --More-- "
    }
    /// What erases the pager prompt once a key was pressed (default: backspaces over it, blanks,
    /// and backspaces again, as IOS does).
    fn pager_erase(&self) -> String {
        let n = self.pager_prompt().chars().filter(|c| !c.is_control()).count();
        format!("{}{}{}", "\x08".repeat(n), " ".repeat(n), "\x08".repeat(n))
    }
    /// Ctrl-C (0x03) or Ctrl-Z (0x1a).
    fn control(&mut self, _ctx: &mut Ctx, _key: u8) -> Option<Reply> {
        None
    }
    /// Whether the shell waits for a single key (no line editing, no echo) rather than a line,
    /// as FortiOS does at `(Press 'a' to accept):`.
    fn awaits_key(&self) -> bool {
        false
    }
    /// The key pressed while [`Shell::awaits_key`].
    fn key(&mut self, _ctx: &mut Ctx, _key: u8) -> Reply {
        Reply::none()
    }
    /// A command on an exec channel: output and exit status.
    fn exec(&mut self, ctx: &mut Ctx, command: &str) -> (String, u32) {
        let reply = self.line(ctx, command);
        (reply.text, 0)
    }
}

/// Splits a command line into words, keeping quoted strings (without their quotes) together.
pub(crate) fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) if c == '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                any = true;
            }
            None if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            None => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Whether `word` is an unambiguous abbreviation of `keyword` as Cisco-like CLIs accept (at
/// least `min` characters).
pub(crate) fn abbrev(word: &str, keyword: &str, min: usize) -> bool {
    word.len() >= min.min(keyword.len()) && keyword.starts_with(&word.to_ascii_lowercase())
}

// ---------------------------------------------------------------------------------------------
// One SSH connection

struct Conn {
    device: Arc<Device>,
    id: u64,
    user: Option<String>,
    channels: HashMap<ChannelId, Chan>,
}

struct Chan {
    shell: Option<Box<dyn Shell>>,
    pty_rows: usize,
    has_pty: bool,
    line: Vec<u8>,
    literal_next: bool,
    skip_lf: bool,
    escape: u8,
    pager: Option<Pager>,
    hung: bool,
    closing: bool,
}

struct Pager {
    lines: VecDeque<String>,
    per_page: usize,
    prompt: &'static str,
}

impl Chan {
    fn new() -> Chan {
        Chan {
            shell: None,
            pty_rows: 0,
            has_pty: false,
            line: Vec::new(),
            literal_next: false,
            skip_lf: false,
            escape: 0,
            pager: None,
            hung: false,
            closing: false,
        }
    }
}

impl Conn {
    fn new(device: Arc<Device>) -> Conn {
        let id = device.next_session.fetch_add(1, Ordering::Relaxed);
        Conn {
            device,
            id,
            user: None,
            channels: HashMap::new(),
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let mut sessions = self.device.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.retain(|s| s.id != self.id);
    }
}

/// The longest command line a device takes; further characters are dropped, as a CLI's line
/// buffer does.
const MAX_LINE: usize = 4096;

const NONSENSE: &str = "\n\u{7}*** SYSTEM IN DIAGNOSTIC MODE *** unit 0x7f3e: parity ok/ko ???\nmfg-diag::: ";

fn crlf(text: &str, pty: bool) -> String {
    if pty {
        text.replace("\r\n", "\n").replace('\n', "\r\n")
    } else {
        text.to_string()
    }
}

/// What a device under [`Fault::EchoMangled`] answers to `line`.
fn mangled_echo(line: &str) -> String {
    use base64::Engine;
    let words: Vec<&str> = line.split_whitespace().collect();
    let reversed: Vec<String> = words.iter().map(|w| w.chars().rev().collect()).collect();
    let encoded: Vec<String> = words
        .iter()
        .map(|w| base64::engine::general_purpose::STANDARD.encode(w))
        .collect();
    let mut cut = line.len() / 2;
    while !line.is_char_boundary(cut) {
        cut += 1;
    }
    format!(
        "% Error: rejected \u{202e}{}\n% Error: rejected {}\n% Error: rejected {}\n{}\n",
        reversed.join(" "),
        encoded.join(" "),
        &line[..cut],
        &line[cut..]
    )
}

impl Conn {
    fn ctx_run<T>(&self, rows: usize, f: impl FnOnce(&mut Ctx) -> T) -> (T, Effects) {
        let mut st = self.device.state();
        let user = self.user.clone().unwrap_or_default();
        let mut ctx = Ctx {
            state: &mut st,
            fx: Effects {
                fault: self.device.fault(),
                ..Effects::default()
            },
            user: &user,
            now: Instant::now(),
            time_scale: self.device.time_scale,
            rows,
        };
        let out = f(&mut ctx);
        (out, ctx.fx)
    }

    /// Start of an interactive shell: greeting and first prompt.
    fn start_shell(&mut self, ch: ChannelId, session: &mut Session) {
        let kind = self.device.kind;
        let Some(chan) = self.channels.get_mut(&ch) else { return };
        let rows = if chan.pty_rows == 0 { 24 } else { chan.pty_rows };
        let user = self.user.clone().unwrap_or_default();
        let mut shell = {
            let st = self.device.state();
            new_shell(kind, self.device.options, &user, &st)
        };
        let fault = self.device.fault();
        let (text, _) = self.ctx_run(rows, |ctx| {
            if fault == Fault::Nonsense {
                NONSENSE.to_string()
            } else {
                let mut t = shell.greeting(ctx);
                t.push_str(&shell.prompt(ctx));
                t
            }
        });
        let pty = self.channels.get(&ch).is_some_and(|c| c.has_pty);
        send(session, ch, pty, &text);
        if let Some(chan) = self.channels.get_mut(&ch) {
            chan.shell = Some(shell);
        }
        let handle = session.handle();
        self.device
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(OpenSession {
                id: self.id,
                user,
                handle,
            });
    }

    fn typed(&mut self, ch: ChannelId, data: &[u8], session: &mut Session) {
        for &b in data {
            let Some(chan) = self.channels.get_mut(&ch) else { return };
            if chan.hung || chan.closing {
                continue;
            }
            if chan.pager.is_some() {
                self.pager_key(ch, b, session);
                continue;
            }
            if chan.escape > 0 {
                // Skip the rest of an escape sequence (arrow keys and the like).
                chan.escape = if chan.escape == 1 && b == b'[' { 2 } else { 0 };
                if chan.escape == 2 && b.is_ascii_alphabetic() {
                    chan.escape = 0;
                }
                continue;
            }
            if chan.shell.as_ref().is_some_and(|s| s.awaits_key()) {
                self.key_pressed(ch, b, session);
                continue;
            }
            let echo = chan.shell.as_ref().map(|s| s.echo()).unwrap_or(Echo::On);
            if chan.skip_lf && b == b'\n' {
                chan.skip_lf = false;
                continue;
            }
            chan.skip_lf = false;
            if chan.literal_next {
                chan.literal_next = false;
                chan.line.push(b);
                echo_byte(session, ch, echo, b);
                continue;
            }
            match b {
                b'\r' | b'\n' => {
                    chan.skip_lf = b == b'\r';
                    let line = String::from_utf8_lossy(&std::mem::take(&mut chan.line)).into_owned();
                    let _ = session.data(ch, b"\r\n".to_vec());
                    self.run_line(ch, &line, session);
                }
                0x7f | 0x08 if chan.line.pop().is_some() && echo != Echo::Off => {
                    let _ = session.data(ch, b"\x08 \x08".to_vec());
                }
                0x7f | 0x08 => {}
                0x15 => chan.line.clear(),
                0x16 => chan.literal_next = true,
                0x1b => chan.escape = 1,
                0x03 | 0x1a => {
                    chan.line.clear();
                    self.control(ch, b, session);
                }
                b'?' if echo == Echo::On => {
                    let escaped = chan.line.last() == Some(&b'\\')
                        && chan.shell.as_ref().is_some_and(|s| s.backslash_escapes_help());
                    if escaped {
                        chan.line.push(b);
                        echo_byte(session, ch, echo, b);
                    } else {
                        self.help(ch, session);
                    }
                }
                b'\t' => {}
                _ if b >= 0x20 && chan.line.len() >= MAX_LINE => {}
                _ if b >= 0x20 => {
                    chan.line.push(b);
                    echo_byte(session, ch, echo, b);
                }
                _ => {}
            }
        }
    }

    /// One key for a shell that waits for a key: its answer, then its prompt.
    fn key_pressed(&mut self, ch: ChannelId, key: u8, session: &mut Session) {
        let Some(chan) = self.channels.get_mut(&ch) else { return };
        let rows = chan.pty_rows;
        let pty = chan.has_pty;
        let Some(mut shell) = chan.shell.take() else { return };
        let ((reply, prompt), _) = self.ctx_run(rows, |ctx| {
            let reply = shell.key(ctx, key);
            (reply, shell.prompt(ctx))
        });
        let Some(chan) = self.channels.get_mut(&ch) else { return };
        chan.shell = Some(shell);
        if reply.close {
            chan.closing = true;
            send(session, ch, pty, &reply.text);
            let _ = session.eof(ch);
            let _ = session.close(ch);
            return;
        }
        if !reply.text.is_empty() {
            send(session, ch, pty, &format!("{}{prompt}", reply.text));
        }
    }

    fn help(&mut self, ch: ChannelId, session: &mut Session) {
        let Some(chan) = self.channels.get_mut(&ch) else { return };
        let rows = chan.pty_rows;
        let partial = String::from_utf8_lossy(&chan.line).into_owned();
        let Some(mut shell) = chan.shell.take() else { return };
        let (out, _) = self.ctx_run(rows, |ctx| shell.help(ctx, &partial).map(|h| (h, shell.prompt(ctx))));
        let Some(chan) = self.channels.get_mut(&ch) else { return };
        chan.shell = Some(shell);
        match out {
            Some((help, prompt)) => {
                let mut text = String::from("?\n");
                text.push_str(&help);
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push('\n');
                text.push_str(&prompt);
                text.push_str(&partial);
                let pty = chan.has_pty;
                send(session, ch, pty, &text);
            }
            None => {
                chan.line.push(b'?');
                let _ = session.data(ch, b"?".to_vec());
            }
        }
    }

    fn control(&mut self, ch: ChannelId, key: u8, session: &mut Session) {
        let Some(chan) = self.channels.get_mut(&ch) else { return };
        let rows = chan.pty_rows;
        let Some(mut shell) = chan.shell.take() else { return };
        let (reply, _) = self.ctx_run(rows, |ctx| shell.control(ctx, key).map(|r| (r, shell.prompt(ctx))));
        let Some(chan) = self.channels.get_mut(&ch) else { return };
        chan.shell = Some(shell);
        let pty = chan.has_pty;
        if let Some((reply, prompt)) = reply {
            let text = format!("{}{}", reply.text, prompt);
            send(session, ch, pty, &format!("\n{text}"));
        }
    }

    fn run_line(&mut self, ch: ChannelId, line: &str, session: &mut Session) {
        let fault = self.device.fault();
        let Some(chan) = self.channels.get_mut(&ch) else { return };
        let pty = chan.has_pty;
        match fault {
            Fault::Hang => {
                chan.hung = true;
                return;
            }
            Fault::Nonsense => {
                send(session, ch, pty, NONSENSE);
                return;
            }
            _ => {}
        }
        let rows = chan.pty_rows;
        let Some(mut shell) = chan.shell.take() else { return };
        let ((reply, prompt, changed), fx) = self.ctx_run(rows, |ctx| {
            let before = credentials(&ctx.state.running);
            let kept = (ctx.fx.fault == Fault::EchoMangled).then(|| ctx.state.running.clone());
            let reply = shell.line(ctx, line);
            let changed = credentials(&ctx.state.running) != before;
            if let (true, Some(kept)) = (changed, kept) {
                ctx.state.running = kept;
            }
            let prompt = shell.prompt(ctx);
            (reply, prompt, changed)
        });
        let pager_prompt = shell.pager_prompt();
        let Some(chan) = self.channels.get_mut(&ch) else { return };
        chan.shell = Some(shell);
        let mut reply = reply;
        if changed && fx.fault == Fault::EchoMangled {
            reply.text = mangled_echo(line);
        }

        let drop_now = changed && fx.fault == Fault::DropAfterChange;
        if drop_now {
            chan.closing = true;
            let _ = session.disconnect(russh::Disconnect::ByApplication, "connection lost", "");
            return;
        }
        for u in &fx.logout_users {
            self.device.drop_sessions(Some(u));
        }
        if fx.reloaded {
            self.device.drop_sessions(None);
        }
        let Some(chan) = self.channels.get_mut(&ch) else { return };
        if reply.close {
            chan.closing = true;
            send(session, ch, pty, &reply.text);
            let _ = session.exit_status_request(ch, 0);
            let _ = session.eof(ch);
            let _ = session.close(ch);
            return;
        }
        let text = reply.text;
        match reply.page {
            Some(per_page) if per_page > 1 && text.lines().count() >= per_page => {
                let mut all: VecDeque<String> = text.lines().map(str::to_string).collect();
                let first: Vec<String> = all.drain(..per_page - 1).collect();
                let mut out = first.join("\n");
                out.push('\n');
                out.push_str(pager_prompt);
                send(session, ch, pty, &out);
                chan.pager = Some(Pager {
                    lines: all,
                    per_page,
                    prompt: pager_prompt,
                });
                // The prompt is printed when the pager is done.
                let _ = prompt;
            }
            _ => {
                let mut out = text;
                out.push_str(&prompt);
                send(session, ch, pty, &out);
            }
        }
    }

    fn pager_key(&mut self, ch: ChannelId, key: u8, session: &mut Session) {
        let Some(chan) = self.channels.get_mut(&ch) else { return };
        let Some(mut pager) = chan.pager.take() else { return };
        let pty = chan.has_pty;
        let mut out = chan.shell.as_ref().map(|sh| sh.pager_erase()).unwrap_or_default();
        let take = match key {
            b' ' => pager.per_page - 1,
            b'\r' | b'\n' => 1,
            _ => 0,
        };
        if take == 0 {
            pager.lines.clear();
        }
        for _ in 0..take {
            match pager.lines.pop_front() {
                Some(l) => {
                    out.push_str(&l);
                    out.push('\n');
                }
                None => break,
            }
        }
        if pager.lines.is_empty() {
            let rows = chan.pty_rows;
            let Some(shell) = chan.shell.take() else { return };
            let (prompt, _) = self.ctx_run(rows, |ctx| shell.prompt(ctx));
            if let Some(chan) = self.channels.get_mut(&ch) {
                chan.shell = Some(shell);
                chan.skip_lf = key == b'\r';
            }
            out.push_str(&prompt);
        } else {
            out.push_str(pager.prompt);
            chan.skip_lf = key == b'\r';
            chan.pager = Some(pager);
        }
        send(session, ch, pty, &out);
    }

    fn exec(&mut self, ch: ChannelId, command: &str, session: &mut Session) {
        let kind = self.device.kind;
        let fault = self.device.fault();
        let user = self.user.clone().unwrap_or_default();
        let pty = self.channels.get(&ch).is_some_and(|c| c.has_pty);
        if fault == Fault::Hang {
            return;
        }
        let mut shell = {
            let st = self.device.state();
            new_shell(kind, self.device.options, &user, &st)
        };
        let ((text, status, changed), fx) = self.ctx_run(0, |ctx| {
            if fault == Fault::Nonsense {
                (NONSENSE.to_string(), 0, false)
            } else {
                let before = credentials(&ctx.state.running);
                let (text, status) = shell.exec(ctx, command);
                (text, status, credentials(&ctx.state.running) != before)
            }
        });
        if changed && fx.fault == Fault::DropAfterChange {
            let _ = session.disconnect(russh::Disconnect::ByApplication, "connection lost", "");
            return;
        }
        for u in &fx.logout_users {
            self.device.drop_sessions(Some(u));
        }
        send(session, ch, pty, &text);
        let _ = session.exit_status_request(ch, status);
        let _ = session.eof(ch);
        let _ = session.close(ch);
    }
}

/// What logins depend on in a configuration: the accounts' secrets and the enable secret.
fn credentials(conf: &Conf) -> (Vec<(String, config::Secret)>, Option<config::Secret>) {
    (
        conf.users.iter().map(|(n, u)| (n.clone(), u.secret.clone())).collect(),
        conf.enable.clone(),
    )
}

fn send(session: &mut Session, ch: ChannelId, pty: bool, text: &str) {
    if !text.is_empty() {
        let _ = session.data(ch, crlf(text, pty).into_bytes());
    }
}

fn echo_byte(session: &mut Session, ch: ChannelId, echo: Echo, b: u8) {
    match echo {
        Echo::On => {
            let _ = session.data(ch, vec![b]);
        }
        Echo::Mask => {
            let _ = session.data(ch, b"*".to_vec());
        }
        Echo::Off => {}
    }
}

impl russh::server::Handler for Conn {
    type Error = russh::Error;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        let name = login_name(self.device.kind, user);
        let ok = self.device.state().running.password_works(name, password);
        if ok {
            self.user = Some(name.to_string());
            Ok(Auth::Accept)
        } else {
            Ok(Auth::reject())
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.insert(channel.id(), Chan::new());
        reply.accept().await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(chan) = self.channels.get_mut(&channel) {
            chan.has_pty = true;
            chan.pty_rows = row_height as usize;
        }
        session.channel_success(channel)?;
        Ok(())
    }

    async fn shell_request(&mut self, channel: ChannelId, session: &mut Session) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        self.start_shell(channel, session);
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        let command = String::from_utf8_lossy(data).into_owned();
        self.exec(channel, &command, session);
        Ok(())
    }

    async fn data(&mut self, channel: ChannelId, data: &[u8], session: &mut Session) -> Result<(), Self::Error> {
        self.typed(channel, data, session);
        Ok(())
    }

    async fn channel_close(&mut self, channel: ChannelId, _session: &mut Session) -> Result<(), Self::Error> {
        self.channels.remove(&channel);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
