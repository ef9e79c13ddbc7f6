//! The one trait every target speaks. The rotation engine and discovery use only this: list
//! accounts, open a session with the current credentials, change a password in it, verify a
//! password with a fresh login, save, roll back. A connector is handed credentials; it knows
//! nothing of the vault.
//!
//! Every method is blocking (ssh2 and ldap3's sync API are); callers run them on tokio's blocking
//! pool. Every error names the target.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::hint::Hint;
use crate::inventory::{LoginMethod, Target};
use crate::secret::Password;

pub mod ldap;
pub mod script;
pub mod ssh;

/// How the connector logs in: the login account and its secret, plus the enable secret where the
/// device has one. Built by the caller from the vault.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub method: LoginMethod,
    /// The password, or the private key text when `method` is `PrivateKey`.
    pub secret: Password,
    pub enable: Option<Password>,
}

/// What kind of account a device or directory reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccountKind {
    User,
    /// A device's enable / privileged-mode secret (not a login).
    EnableSecret,
    Service,
    Computer,
    ManagedServiceAccount,
    ForeignPrincipal,
    Group,
}

/// One account as the target reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountInfo {
    pub name: String,
    pub kind: AccountKind,
    /// The target's own words: `privilege 15`, `role network-admin`, `class super-user`,
    /// `group=full`, `via app-admins -> Domain Admins`.
    pub privilege: String,
    /// Whether keyreeve counts this account as administrative.
    pub admin: bool,
    /// Whether the account can log in at all (not disabled or locked).
    pub enabled: bool,
    /// Anything else worth showing (directory attributes, membership paths, shell, uid).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, serde_json::Value>,
}

/// One discovery's answer: the accounts, and a domain's own facts (policy, computers, scope).
#[derive(Debug, Clone)]
pub struct Survey {
    pub accounts: Vec<AccountInfo>,
    pub domain: Option<Box<ldap::domain::DomainFacts>>,
}

/// How a password is changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeMethod {
    /// The login account sets another account's password.
    AdminReset,
    /// The account changes its own password (it is the login account).
    SelfChange,
    /// The device's enable / privileged secret.
    EnableSecret,
}

/// What a fresh login with a candidate password showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verification {
    /// The target accepted the password.
    Accepted,
    /// The target answered and rejected it.
    Rejected,
}

/// What the password generator must respect on this target: lengths and characters its CLI or
/// protocol cannot take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordRules {
    pub min_len: usize,
    pub max_len: usize,
    /// Characters never to generate.
    pub forbidden: String,
    /// Character classes (lower, upper, digit, symbol) that must each appear at least once.
    pub min_classes: u8,
    /// The first character must not be a digit (IOS enable secret).
    pub no_leading_digit: bool,
}

impl Default for PasswordRules {
    fn default() -> Self {
        PasswordRules {
            min_len: 8,
            max_len: 128,
            forbidden: String::new(),
            min_classes: 0,
            no_leading_digit: false,
        }
    }
}

/// Paths a connector may use in the workspace; it gets nothing else of it.
#[derive(Debug, Clone)]
pub struct ConnectContext {
    /// Host keys accepted on first use (OpenSSH known_hosts format).
    pub known_hosts: PathBuf,
    /// The workspace root, for relative `ca_file` paths.
    pub workspace_root: PathBuf,
    /// Accept an unknown host key on first use and record it; a changed key is always refused.
    pub trust_on_first_use: bool,
    /// Directory targets: which accounts count as service accounts, which groups grant remote access.
    pub directory: crate::policy::DirectoryPolicy,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("{target}: connection refused or unreachable ({detail})")]
    Unreachable { target: String, detail: String },
    #[error("{target}: timed out after {seconds}s while {during}")]
    Timeout {
        target: String,
        seconds: u64,
        during: String,
    },
    #[error("{target}: authentication failed for `{user}`")]
    AuthFailed { target: String, user: String },
    #[error("{target}: host key {got} does not match the pinned or known key {expected}")]
    HostKeyMismatch {
        target: String,
        expected: String,
        got: String,
    },
    #[error("{target}: host key {got} is not known")]
    HostKeyUnknown { target: String, got: String },
    #[error("{target}: unexpected answer while {during}; last lines seen:\n{last_lines}")]
    UnexpectedOutput {
        target: String,
        during: String,
        last_lines: String,
    },
    #[error("{target}: the target refused the new password: {reason}")]
    PasswordRejected { target: String, reason: String },
    #[error("{target}: account `{account}` is locked or disabled ({detail})")]
    AccountLocked {
        target: String,
        account: String,
        detail: String,
    },
    #[error("{target}: account `{account}` must change its password before it can log in ({detail})")]
    PasswordExpired {
        target: String,
        account: String,
        detail: String,
    },
    #[error("{target}: insufficient access: {detail}")]
    InsufficientAccess { target: String, detail: String },
    #[error("{target}: TLS: {detail}")]
    Tls { target: String, detail: String },
    #[error("{target}: refused by keyreeve: {reason}")]
    Unsafe { target: String, reason: String },
    #[error("{target}: {operation} is not supported by {kind}")]
    Unsupported {
        target: String,
        kind: String,
        operation: String,
    },
    #[error("{target}: {detail}")]
    Protocol { target: String, detail: String },
    /// The device accepted the change but had not finished applying it when keyreeve stopped
    /// waiting (a PAN-OS commit): which password will be in force is not known yet.
    #[error("{target}: {detail}; the change may still take effect")]
    StillInProgress { target: String, detail: String },
}

impl ConnectorError {
    /// Whether the device may still put the change in force after this error (see
    /// [`ConnectorError::StillInProgress`]): a fresh login now proves nothing lasting.
    pub fn may_still_take_effect(&self) -> bool {
        matches!(self, ConnectorError::StillInProgress { .. })
    }

    /// Whether retrying the same password can never succeed (the target judged it).
    pub fn is_password_rejected(&self) -> bool {
        matches!(self, ConnectorError::PasswordRejected { .. })
    }

    /// The error with every run of four or more characters of `secrets` (as they are,
    /// reversed, or base64) hidden in the text the target sent: applied where an error leaves a
    /// connector that knew those secrets, since errors reach the terminal, snapshots, the
    /// service's API and logs.
    pub fn mask_fragments(mut self, secrets: &[&Password]) -> Self {
        use ConnectorError as E;
        let said = match &mut self {
            E::UnexpectedOutput { last_lines: said, .. }
            | E::PasswordRejected { reason: said, .. }
            | E::Unsafe { reason: said, .. }
            | E::Unreachable { detail: said, .. }
            | E::AccountLocked { detail: said, .. }
            | E::PasswordExpired { detail: said, .. }
            | E::InsufficientAccess { detail: said, .. }
            | E::Tls { detail: said, .. }
            | E::Protocol { detail: said, .. } => said,
            // keyreeve's own words and names.
            E::Timeout { .. }
            | E::AuthFailed { .. }
            | E::HostKeyMismatch { .. }
            | E::HostKeyUnknown { .. }
            | E::StillInProgress { .. }
            | E::Unsupported { .. } => return self,
        };
        *said = crate::secret::mask_fragments(said, secrets);
        self
    }
}

impl Hint for ConnectorError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            ConnectorError::Unreachable { .. } => {
                "check the address and port in keyreeve.toml and that the target is up".into()
            }
            ConnectorError::Timeout { .. } => {
                "raise connect_timeout / command_timeout for this target, or check the network".into()
            }
            ConnectorError::AuthFailed { .. } => {
                "check the stored password (`keyreeve verify`); after an interrupted rotation run `keyreeve recover`"
                    .into()
            }
            ConnectorError::HostKeyMismatch { target, .. } => {
                format!("if the device's key changed on purpose, run `keyreeve hostkeys accept {target}`")
            }
            ConnectorError::HostKeyUnknown { target, .. } => {
                format!("pin host_key in keyreeve.toml, or run `keyreeve hostkeys accept {target}`")
            }
            ConnectorError::UnexpectedOutput { .. } => {
                "check the target's kind in keyreeve.toml; the device may need a manual look".into()
            }
            ConnectorError::PasswordRejected { .. } => {
                "the target's password policy refused it; adjust the rotation policy (length, classes)".into()
            }
            ConnectorError::AccountLocked { .. } => "unlock the account on the target, then try again".into(),
            ConnectorError::PasswordExpired { .. } => {
                "reset its password as an administrator, or clear `must change password at next logon`".into()
            }
            ConnectorError::InsufficientAccess { .. } => {
                "the login account needs the right to change this password".into()
            }
            ConnectorError::Tls { .. } => "set ca_file to the CA that signed the server's certificate".into(),
            ConnectorError::Unsafe { .. } => {
                "use ldaps:// or StartTLS with a verified certificate, and a verified host key".into()
            }
            ConnectorError::StillInProgress { .. } => {
                "let the device finish, then run `keyreeve recover`; raise command_timeout for this target".into()
            }
            ConnectorError::Unsupported { .. } | ConnectorError::Protocol { .. } => return None,
        })
    }
}

pub type ConnectorResult<T> = Result<T, ConnectorError>;

/// A target keyreeve can inventory and rotate.
pub trait Connector: Send + Sync {
    /// The target's `CLIENT/TARGET` name, for messages.
    fn name(&self) -> &str;

    /// What the generator must respect for `account` on this target.
    fn password_rules(&self, account: &str) -> PasswordRules;

    /// How `account`'s password would be changed when logged in as `login_user`.
    fn change_method(&self, login_user: &str, account: &str) -> ChangeMethod;

    /// The commands or operations a change will send, secrets shown as `********` (for plans).
    fn describe_change(&self, account: &str, method: ChangeMethod) -> Vec<String>;

    /// Logs in and lists the accounts with their privilege.
    fn list_accounts(&self, login: &Credentials) -> ConnectorResult<Vec<AccountInfo>>;

    /// What discovery records: the accounts and, for a domain, what it says about itself.
    fn survey(&self, login: &Credentials) -> ConnectorResult<Survey> {
        Ok(Survey {
            accounts: self.list_accounts(login)?,
            domain: None,
        })
    }

    /// Logs in with the current credentials and keeps the session open for a change.
    fn open(&self, login: &Credentials) -> ConnectorResult<Box<dyn ChangeSession>>;

    /// A fresh login (or bind) proving whether `password` is `account`'s password now. For an
    /// enable secret, logs in with `login` and tries `enable` with `password`.
    fn verify(&self, login: &Credentials, account: &str, password: &Password) -> ConnectorResult<Verification>;

    /// Like [`Connector::verify`], for the heartbeat and `discover --verify`: whether `account`
    /// can log in with `password` now. A right password that cannot log in yet (it must be
    /// changed at next logon, or has expired) is an error saying so here, where `verify` (which
    /// decides which password is in force during a rotation) counts it as accepted.
    fn verify_login(&self, login: &Credentials, account: &str, password: &Password) -> ConnectorResult<Verification> {
        self.verify(login, account, password)
    }
}

/// A session logged in with the current credentials, held open across change, verify and save,
/// so that a failed verification can be rolled back from it.
pub trait ChangeSession: Send {
    /// Sets `account`'s password to `new`. `old` is its current password (needed for self-changes
    /// and for rolling back where the old hash cannot be re-applied).
    fn change_password(
        &mut self,
        account: &str,
        method: ChangeMethod,
        old: &Password,
        new: &Password,
    ) -> ConnectorResult<()>;

    /// Makes the verified change permanent (write memory, commit, confirm).
    fn save(&mut self) -> ConnectorResult<()>;

    /// Undoes the unsaved change to `account`, restoring `old`.
    fn rollback(&mut self, account: &str, old: &Password) -> ConnectorResult<()>;
}

/// The connector for `target`.
pub fn for_target(target: &Target, ctx: &ConnectContext) -> ConnectorResult<Box<dyn Connector>> {
    if target.kind.is_manual() {
        return Err(ConnectorError::Unsupported {
            target: target.path(),
            kind: target.kind.to_string(),
            operation: "logging in (a person changes it, guided by `keyreeve apply`)".into(),
        });
    }
    if target.kind == crate::inventory::TargetKind::Script {
        script::connector(target, ctx)
    } else if target.kind.is_directory() {
        ldap::connector(target, ctx)
    } else {
        ssh::connector(target, ctx)
    }
}
