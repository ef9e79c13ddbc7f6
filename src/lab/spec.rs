//! What a lab is made of, before it starts: the devices to emulate (`DeviceSpec`, their
//! `LabAccount`s and `DeviceOptions`), the lab-wide settings (`LabConfig`), and the defaults a
//! generated lab takes per kind (login account, enable secret, valid random passwords). Kept apart
//! from `mod.rs`, which runs and inspects a started lab, so that each stays readable.

use std::collections::HashMap;
use std::time::Duration;

use rand::Rng;

use crate::inventory::TargetKind;
use crate::secret::Password;

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
    TargetKind::ArubaAoscx,
    TargetKind::ArubaAoss,
    TargetKind::Esxi,
    TargetKind::SynologyDsm,
    TargetKind::Pfsense,
    TargetKind::Opnsense,
    TargetKind::Panos,
    TargetKind::Sonicos,
    TargetKind::Unifi,
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
                    accounts: [
                        LabAccount::new(default_login(kind), random_password(), 15),
                        LabAccount::new("netops", random_password(), 15),
                        LabAccount::new("monitor", random_password(), 1),
                    ]
                    .into_iter()
                    // AOS-S has one manager and one operator: no second administrator.
                    .filter(|a| kind != TargetKind::ArubaAoss || a.name != "netops")
                    .collect(),
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
        TargetKind::ArubaAoscx => "aoscx",
        TargetKind::ArubaAoss => "aoss",
        TargetKind::SynologyDsm => "dsm",
        other => other.as_str(),
    }
}

/// The login account of a generated device: `admin`, or `root` on OPNsense, where only root
/// reaches the console menu and its password script.
pub fn default_login(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::Opnsense => "root",
        _ => "admin",
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
