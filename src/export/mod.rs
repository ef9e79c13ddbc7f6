//! Handover vaults: one client's credentials exported into a standard age file, in formats the
//! receiver can import, and the native format imported by another workspace.
//!
//! Each format is a pure function from an [`ExportInput`] (the client's vault document, what the
//! inventory says about its targets, and the [`Manifest`]) to the plaintext bytes; [`envelope`]
//! encrypts them and writes the file atomically. The plaintext lives only in zeroizing buffers.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::hint::Hint;
use crate::inventory::Target;
use crate::vault::{EntryState, VaultDocument};

pub mod bitwarden;
pub mod csv;
pub mod envelope;
pub mod json;
pub mod keepass_xml;
pub mod manifest;
pub mod native;

pub use manifest::{Manifest, ManifestEntry};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("not a recipient: `{value}` ({reason})")]
    BadRecipient { value: String, reason: String },
    #[error("{}:{line}: not a recipient ({reason})", path.display())]
    BadRecipientLine { path: PathBuf, line: usize, reason: String },
    #[error("{} holds no recipient", .0.display())]
    EmptyRecipientsFile(PathBuf),
    #[error("no recipient given: the export would be readable by no one")]
    NoRecipient,
    #[error("cannot mix recipients and a passphrase in one export")]
    RecipientsAndPassphrase,
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} already exists", .0.display())]
    OutputExists(PathBuf),
    #[error("cannot encrypt the export: {0}")]
    Encrypt(String),
    #[error("cannot decrypt {}: {reason}", path.display())]
    Decrypt { path: PathBuf, reason: String },
    #[error("cannot write the {format} export: {reason}")]
    Render { format: &'static str, reason: String },
    #[error("the {format} format carries current passwords only; --with-history needs another format")]
    NoHistoryInFormat { format: &'static str },
    #[error("a rotation is in flight for {}: its password is not settled", .0.join(", "))]
    PendingRotation(Vec<String>),
    #[error("client `{0}` has no entries to export")]
    NothingToExport(String),
    #[error("{} is not a native keyreeve export: {reason}", path.display())]
    NotNative { path: PathBuf, reason: String },
    #[error("{} is a keyreeve export of version {found}; this build reads up to {supported}", path.display())]
    FutureVersion { path: PathBuf, found: u32, supported: u32 },
    #[error("import would overwrite {} existing entr{} of `{client}`: {}", paths.len(), if paths.len() == 1 { "y" } else { "ies" }, paths.join(", "))]
    Conflict { client: String, paths: Vec<String> },
    #[error("{} holds what keyreeve does not take in: {problem}; nothing was imported", path.display())]
    Unacceptable {
        path: PathBuf,
        problem: crate::validate::Invalid,
    },
    #[error("`{0}` is not a valid client name")]
    BadClientName(String),
    #[error("client `{client}` is not in {}", inventory.display())]
    ClientNotInInventory {
        client: String,
        inventory: PathBuf,
        /// The keyreeve.toml lines that add the client: the export's targets, or `[clients.NAME]`.
        snippet: String,
    },
}

impl Hint for ExportError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            ExportError::BadRecipient { .. } | ExportError::BadRecipientLine { .. } | ExportError::EmptyRecipientsFile(_) => {
                "a recipient is an age X25519 public key (age1...) or an OpenSSH public key line \
                 (ssh-ed25519 ... or ssh-rsa ...)"
                    .into()
            }
            ExportError::NoRecipient => {
                "give the receiver's public key with --recipient R (repeatable) or --recipients-file F, or use --passphrase"
                    .into()
            }
            ExportError::RecipientsAndPassphrase => "use either recipients or --passphrase".into(),
            ExportError::Io { .. } => "check that the folder exists and that you may write to it".into(),
            ExportError::OutputExists(_) => "choose another file name, or pass --force to replace it".into(),
            ExportError::Encrypt(_) => "check the recipients given".into(),
            ExportError::Decrypt { .. } => {
                "the file must be encrypted to your identity (--identity, KEYREEVE_IDENTITY) or to a passphrase you know"
                    .into()
            }
            ExportError::Render { .. } => "this is a bug in keyreeve; please report it".into(),
            ExportError::NoHistoryInFormat { .. } => "use --format keyreeve, json, bitwarden or keepass-xml".into(),
            ExportError::PendingRotation(_) => {
                "run `keyreeve recover` to settle the rotation, then export again".into()
            }
            ExportError::NothingToExport(_) => "`keyreeve vault list CLIENT` shows what the vault holds".into(),
            ExportError::NotNative { .. } => {
                "only `--format keyreeve` exports can be imported; ask the sender for one".into()
            }
            ExportError::FutureVersion { .. } => "upgrade keyreeve to import this file".into(),
            ExportError::Conflict { .. } => {
                "pass --replace to overwrite them, or --client NAME to import under another client".into()
            }
            ExportError::Unacceptable { .. } => format!(
                "every name in an import must be one `keyreeve vault set` takes ({}), and every \
                 username and address one line of visible text; ask the sender to fix it in their vault and export again",
                crate::validate::NAME_RULE
            ),
            ExportError::BadClientName(_) => format!("a client name holds only {}", crate::validate::NAME_RULE),
            ExportError::ClientNotInInventory { client, snippet, .. } => format!(
                "add the client first: run `keyreeve client add {client}`, or paste these lines into \
                 keyreeve.toml (or import under a client you have with --client NAME):\n\n{}",
                snippet.trim_end()
            ),
        })
    }
}

/// The formats an export can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Native: importable by another keyreeve workspace.
    Keyreeve,
    /// The documented JSON schema (docs/export-formats.md).
    Json,
    /// username, password, target, address, notes, then the manifest columns.
    Csv,
    /// Bitwarden's unencrypted JSON import format.
    Bitwarden,
    /// The KeePass 2 XML import format.
    KeepassXml,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Keyreeve,
        Format::Json,
        Format::Csv,
        Format::Bitwarden,
        Format::KeepassXml,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Keyreeve => "keyreeve",
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Bitwarden => "bitwarden",
            Format::KeepassXml => "keepass-xml",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// Whether the format can carry earlier passwords.
    pub fn carries_history(self) -> bool {
        !matches!(self, Format::Csv)
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the inventory says about a target, carried into exports so that the receiver knows where
/// each account lives. Nothing secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetInfo {
    pub kind: String,
    pub address: String,
    pub port: u16,
    /// The account keyreeve logs in as.
    pub login: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_dn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_key: Option<String>,
}

impl TargetInfo {
    pub fn from_target(t: &Target) -> Self {
        TargetInfo {
            kind: t.kind.as_str().to_string(),
            address: t.address.clone(),
            port: t.port,
            login: t.login.clone(),
            url: t.url.clone(),
            base_dn: t.base_dn.clone(),
            host_key: t.host_key.clone(),
        }
    }

    /// Where a person or a password manager would go to use the account: the directory's URL, or
    /// `ssh://address:port`.
    pub fn uri(&self) -> String {
        match &self.url {
            Some(url) => url.clone(),
            None if self.address.contains(':') => format!("ssh://[{}]:{}", self.address, self.port),
            None => format!("ssh://{}:{}", self.address, self.port),
        }
    }
}

/// The targets of one client by name.
pub type Targets = BTreeMap<String, TargetInfo>;

/// Everything a format needs: the data to write, and whether to include earlier passwords.
#[derive(Debug, Clone, Copy)]
pub struct ExportInput<'a> {
    pub document: &'a VaultDocument,
    pub targets: &'a Targets,
    pub manifest: &'a Manifest,
    pub with_history: bool,
}

impl ExportInput<'_> {
    pub fn client(&self) -> &str {
        &self.manifest.client
    }

    /// The target and account names of a `TARGET/ACCOUNT` key.
    pub fn split_key(key: &str) -> (&str, &str) {
        key.split_once('/').unwrap_or((key, ""))
    }

    pub fn target(&self, key: &str) -> Option<&TargetInfo> {
        self.targets.get(Self::split_key(key).0)
    }
}

/// A growing buffer for plaintext that is wiped when dropped, whatever error ends the writing.
#[derive(Default)]
pub(crate) struct SecretBuf(pub(crate) Zeroizing<Vec<u8>>);

impl SecretBuf {
    /// Reserve generously: every reallocation would leave a copy behind in freed memory.
    pub(crate) fn with_capacity(n: usize) -> Self {
        SecretBuf(Zeroizing::new(Vec::with_capacity(n)))
    }
}

impl std::io::Write for SecretBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Serialises `value` as pretty JSON into a wiped buffer.
pub(crate) fn to_json<T: Serialize>(
    value: &T,
    format: &'static str,
    size_hint: usize,
) -> Result<Zeroizing<Vec<u8>>, ExportError> {
    let mut buf = SecretBuf::with_capacity(size_hint);
    serde_json::to_writer_pretty(&mut buf, value).map_err(|e| ExportError::Render {
        format,
        reason: e.to_string(),
    })?;
    Ok(buf.0)
}

/// The plaintext of the export in `format`.
pub fn render(format: Format, input: &ExportInput<'_>) -> Result<Zeroizing<Vec<u8>>, ExportError> {
    if input.with_history && !format.carries_history() {
        return Err(ExportError::NoHistoryInFormat {
            format: format.as_str(),
        });
    }
    match format {
        Format::Keyreeve => native::render(input),
        Format::Json => json::render(input),
        Format::Csv => csv::render(input),
        Format::Bitwarden => bitwarden::render(input),
        Format::KeepassXml => keepass_xml::render(input),
    }
}

/// Refuses a document that cannot be handed over as it is: nothing in it, or a rotation in flight
/// (its stored password may no longer be the one the target holds).
pub fn check_exportable(document: &VaultDocument) -> Result<(), ExportError> {
    if document.entries.is_empty() {
        return Err(ExportError::NothingToExport(document.client.clone()));
    }
    let pending: Vec<String> = document
        .entries
        .iter()
        .filter(|(_, e)| e.state == EntryState::Pending || e.pending.is_some())
        .map(|(k, _)| format!("{}/{k}", document.client))
        .collect();
    if pending.is_empty() {
        Ok(())
    } else {
        Err(ExportError::PendingRotation(pending))
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! A small client vault shared by the format tests.

    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::secret::Password;
    use crate::vault::{Entry, HistoryItem, FORMAT, VERSION};

    pub fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, 10, 0, 0).unwrap()
    }

    pub fn document() -> VaultDocument {
        let mut entries = BTreeMap::new();
        entries.insert(
            "core-rtr1/admin".to_string(),
            Entry {
                username: "admin".into(),
                password: Password::new("Rtr-pa$$,\"quoted\"<&>"),
                state: EntryState::Current,
                pending: None,
                created: at(1),
                rotated_at: Some(at(10)),
                verified_at: Some(at(11)),
                verify_failed_at: None,
                revealed_at: Some(at(12)),
                notes: "core router, line one\nline two".into(),
                history: vec![HistoryItem {
                    password: Password::new("old-rtr-pass"),
                    replaced_at: at(10),
                }],
            },
        );
        entries.insert(
            "dc1/svc-backup".to_string(),
            Entry {
                username: "svc-backup".into(),
                password: Password::new("dc-secret-ünïcode"),
                state: EntryState::Current,
                pending: None,
                created: at(2),
                rotated_at: None,
                verified_at: Some(at(3)),
                verify_failed_at: Some(at(5)),
                revealed_at: None,
                notes: String::new(),
                history: vec![],
            },
        );
        VaultDocument {
            format: FORMAT.into(),
            version: VERSION,
            client: "acme".into(),
            updated_at: at(12),
            entries,
            recipients: Vec::new(),
        }
    }

    pub fn targets() -> Targets {
        let mut t = Targets::new();
        t.insert(
            "core-rtr1".into(),
            TargetInfo {
                kind: "cisco-ios".into(),
                address: "10.0.0.1".into(),
                port: 22,
                login: "admin".into(),
                url: None,
                base_dn: None,
                host_key: Some("SHA256:abc".into()),
            },
        );
        t.insert(
            "dc1".into(),
            TargetInfo {
                kind: "active-directory".into(),
                address: "dc1.acme.example".into(),
                port: 636,
                login: "svc-backup".into(),
                url: Some("ldaps://dc1.acme.example:636".into()),
                base_dn: Some("DC=acme,DC=example".into()),
                host_key: None,
            },
        );
        t
    }

    pub fn manifest(doc: &VaultDocument, format: Format) -> Manifest {
        Manifest::build(
            doc,
            at(20),
            "alice",
            Some("age1alicekey"),
            vec!["age1receiverkey".into()],
            format,
            true,
        )
    }
}
