//! The inventory: `keyreeve.toml`, which lists the workspace's recipients, its clients and their
//! targets. Raw TOML is parsed, then validated into [`Inventory`]; every error names the file and
//! line so a technician can fix it without guessing. Nothing secret lives here: passwords are in
//! the vault, addressed `CLIENT/TARGET/ACCOUNT`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::hint::Hint;

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("cannot read inventory {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("unknown client `{0}` in the inventory")]
    UnknownClient(String),
    #[error("unknown target `{client}/{target}` in the inventory")]
    UnknownTarget { client: String, target: String },
}

impl Hint for InventoryError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            InventoryError::Read { .. } => "run `keyreeve init` to create a workspace".into(),
            InventoryError::Invalid { .. } => {
                "fix the line shown; `keyreeve inventory check` validates the whole file".into()
            }
            InventoryError::UnknownClient(_) | InventoryError::UnknownTarget { .. } => {
                "`keyreeve inventory list` shows the clients and targets".into()
            }
        })
    }
}

/// The kind of a target: the dialect of a device, or the kind of directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    Linux,
    CiscoIos,
    CiscoNxos,
    CiscoAsa,
    Junos,
    AristaEos,
    Routeros,
    Fortios,
    /// VyOS, and Ubiquiti EdgeOS (same CLI; the dialect tells them apart), hence the alias.
    #[serde(alias = "edgeos")]
    Vyos,
    Pfsense,
    Opnsense,
    Panos,
    Sonicos,
    Unifi,
    ActiveDirectory,
    Ldap,
    ArubaAoscx,
    /// HPE Aruba AOS-S, the ProCurve line, hence the alias.
    #[serde(alias = "procurve")]
    ArubaAoss,
    Esxi,
    SynologyDsm,
    /// Changed by a person (a printer's web page, a PBX, a web portal), guided by keyreeve.
    Manual,
    /// Anything else, through a password changer of the workspace's own ([`ScriptTarget`]).
    Script,
}

impl TargetKind {
    pub const ALL: [TargetKind; 22] = [
        TargetKind::Linux,
        TargetKind::CiscoIos,
        TargetKind::CiscoNxos,
        TargetKind::CiscoAsa,
        TargetKind::Junos,
        TargetKind::AristaEos,
        TargetKind::Routeros,
        TargetKind::Fortios,
        TargetKind::Vyos,
        TargetKind::Pfsense,
        TargetKind::Opnsense,
        TargetKind::Panos,
        TargetKind::Sonicos,
        TargetKind::Unifi,
        TargetKind::ActiveDirectory,
        TargetKind::Ldap,
        TargetKind::ArubaAoscx,
        TargetKind::ArubaAoss,
        TargetKind::Esxi,
        TargetKind::SynologyDsm,
        TargetKind::Manual,
        TargetKind::Script,
    ];

    /// The name used in `keyreeve.toml` and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Linux => "linux",
            TargetKind::CiscoIos => "cisco-ios",
            TargetKind::CiscoNxos => "cisco-nxos",
            TargetKind::CiscoAsa => "cisco-asa",
            TargetKind::Junos => "junos",
            TargetKind::AristaEos => "arista-eos",
            TargetKind::Routeros => "routeros",
            TargetKind::Fortios => "fortios",
            TargetKind::Vyos => "vyos",
            TargetKind::Pfsense => "pfsense",
            TargetKind::Opnsense => "opnsense",
            TargetKind::Panos => "panos",
            TargetKind::Sonicos => "sonicos",
            TargetKind::Unifi => "unifi",
            TargetKind::ActiveDirectory => "active-directory",
            TargetKind::Ldap => "ldap",
            TargetKind::ArubaAoscx => "aruba-aoscx",
            TargetKind::ArubaAoss => "aruba-aoss",
            TargetKind::Esxi => "esxi",
            TargetKind::SynologyDsm => "synology-dsm",
            TargetKind::Manual => "manual",
            TargetKind::Script => "script",
        }
    }

    /// A kind by its name, or by the alias `edgeos` (a `vyos` target) or `procurve` (`aruba-aoss`).
    pub fn parse(s: &str) -> Option<Self> {
        if s == "edgeos" {
            return Some(TargetKind::Vyos);
        }
        if s == "procurve" {
            return Some(TargetKind::ArubaAoss);
        }
        TargetKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Directory targets speak LDAP; all others speak SSH.
    pub fn is_directory(self) -> bool {
        matches!(self, TargetKind::ActiveDirectory | TargetKind::Ldap)
    }

    /// Guided targets: keyreeve never connects, a person changes the password.
    pub fn is_manual(self) -> bool {
        self == TargetKind::Manual
    }
}

impl std::fmt::Display for TargetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the login account proves itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoginMethod {
    /// The vault entry of the login account holds its password.
    #[default]
    Password,
    /// The vault entry of the login account holds an OpenSSH private key (PEM text).
    PrivateKey,
}

/// One target: a device, a Linux host or a directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    pub client: String,
    pub name: String,
    pub kind: TargetKind,
    /// Host name or IP address (devices), or the host of `url` (directories).
    pub address: String,
    pub port: u16,
    /// The account keyreeve logs in (or binds) as; its secret is the vault entry
    /// `CLIENT/TARGET/LOGIN`.
    pub login: String,
    pub login_method: LoginMethod,
    /// The vault account name holding the enable / privileged secret, if the device has one.
    pub enable: Option<String>,
    /// Pinned host key fingerprint, `SHA256:<base64>` as OpenSSH prints it.
    pub host_key: Option<String>,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub tags: Vec<String>,
    /// People or systems that use an account's password and must be told when it changes,
    /// by account name.
    pub dependants: BTreeMap<String, Vec<String>>,
    /// Directory targets: `ldaps://host:636` or `ldap://host:389` (StartTLS is then required).
    pub url: Option<String>,
    pub base_dn: Option<String>,
    /// Directory targets: the DN to bind as for `login` (default: AD binds as `login@domain`).
    pub bind_dn: Option<String>,
    /// Directory targets: the CA certificate (PEM) that signed the server's certificate;
    /// relative paths are relative to the workspace.
    pub ca_file: Option<PathBuf>,
    /// Directory targets: groups (DNs) treated as privileged in addition to the well-known ones.
    pub extra_groups: Vec<String>,
    /// Guided targets: the manual part (category, accounts, instructions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guided: Option<Guided>,
    /// Script targets: the changer and the values passed to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<ScriptTarget>,
    /// The line of `keyreeve.toml` where this target starts, for messages.
    pub line: usize,
}

/// What a `kind = "script"` target adds: the program that changes its passwords
/// (docs/changers.md) and free values handed to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScriptTarget {
    /// Relative to the workspace root, never leaving it.
    pub changer: PathBuf,
    /// `[clients.C.targets.params]`, passed through to the changer as JSON.
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
}

impl ScriptTarget {
    /// The changer's full path under `workspace_root`, once proven a regular executable file
    /// that (symbolic links resolved) is still inside the workspace; else why not.
    pub fn resolve(&self, workspace_root: &Path) -> Result<PathBuf, String> {
        use std::os::unix::fs::PermissionsExt;
        let written = self.changer.to_string_lossy();
        let shown = crate::escape::terminal(&written);
        let root = workspace_root
            .canonicalize()
            .map_err(|e| format!("changer `{shown}`: cannot resolve the workspace: {e}"))?;
        let full = root
            .join(&self.changer)
            .canonicalize()
            .map_err(|e| format!("changer `{shown}`: {e}"))?;
        if !full.starts_with(&root) {
            return Err(format!(
                "changer `{shown}` leads outside the workspace (through a symbolic link)"
            ));
        }
        let meta = std::fs::metadata(&full).map_err(|e| format!("changer `{shown}`: {e}"))?;
        if !meta.is_file() {
            return Err(format!("changer `{shown}` is not a regular file"));
        }
        if meta.permissions().mode() & 0o111 == 0 {
            return Err(format!("changer `{shown}` is not executable (chmod +x it)"));
        }
        Ok(full)
    }
}

impl Target {
    /// `CLIENT/TARGET`, the prefix of every vault path of this target.
    pub fn path(&self) -> String {
        format!("{}/{}", self.client, self.name)
    }
    /// `CLIENT/TARGET/ACCOUNT`.
    pub fn account_path(&self, account: &str) -> String {
        format!("{}/{}/{}", self.client, self.name, account)
    }
}

/// What a guided (`kind = "manual"`) target adds: what it is, which accounts keyreeve keeps, and
/// where to click. Its `address` may be empty and its `login` is unused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guided {
    pub category: Category,
    pub accounts: Vec<String>,
    /// Free text, several lines: how a person changes the password.
    pub instructions: String,
}

impl Target {
    /// The category of a guided target.
    pub fn category(&self) -> Option<Category> {
        self.guided.as_ref().map(|g| g.category)
    }

    /// Where a person goes to change it: the URL, else the address.
    pub fn location(&self) -> String {
        match (&self.url, self.address.is_empty()) {
            (Some(url), _) => url.clone(),
            (None, false) if self.port != 0 => format!("{}:{}", self.address, self.port),
            (None, false) => self.address.clone(),
            (None, true) => String::new(),
        }
    }
}

/// One client of the MSP.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Client {
    pub name: String,
    /// Extra recipients of this client's vault file only (e.g. the client's IT lead).
    pub recipients: Vec<String>,
    pub targets: Vec<Target>,
}

/// The validated inventory.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Inventory {
    /// Recipients of every vault file in the workspace (age X25519, ssh-ed25519, ssh-rsa).
    pub recipients: Vec<String>,
    /// Every vault file is encrypted to a passphrase instead of recipients.
    pub passphrase: bool,
    /// Vault files are written ASCII-armored (`-----BEGIN AGE ENCRYPTED FILE-----`) instead of binary.
    #[serde(default)]
    pub armor: bool,
    pub clients: BTreeMap<String, Client>,
}

impl Inventory {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self, InventoryError> {
        let text = crate::safe_fs::read_existing_text(path, crate::safe_fs::Limit::INVENTORY).map_err(|source| {
            InventoryError::Read {
                path: path.to_path_buf(),
                source,
            }
        })?;
        let inventory = Self::parse(&text, path)?;
        let root = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        for target in inventory.targets() {
            if let Some(script) = &target.script {
                script.resolve(root).map_err(|message| InventoryError::Invalid {
                    path: path.to_path_buf(),
                    line: target.line,
                    message,
                })?;
            }
        }
        Ok(inventory)
    }

    /// Validates inventory text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, InventoryError> {
        raw::parse(text, path)
    }

    pub fn client(&self, name: &str) -> Result<&Client, InventoryError> {
        self.clients
            .get(name)
            .ok_or_else(|| InventoryError::UnknownClient(name.to_string()))
    }

    pub fn target(&self, client: &str, target: &str) -> Result<&Target, InventoryError> {
        self.client(client)?
            .targets
            .iter()
            .find(|t| t.name == target)
            .ok_or_else(|| InventoryError::UnknownTarget {
                client: client.into(),
                target: target.into(),
            })
    }

    /// Every target, client by client, in file order.
    pub fn targets(&self) -> impl Iterator<Item = &Target> {
        self.clients.values().flat_map(|c| c.targets.iter())
    }
}

/// A name usable as a path segment: client, target and account names.
pub fn is_valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | '$'))
        && !s.starts_with('.')
}

mod category;
pub mod edit;
mod raw;
pub use category::Category;
pub(crate) use raw::line_of;
