//! Workstation and server admin passwords kept by LAPS on the computer objects of an AD domain:
//! where LAPS is in force, whether each machine still rotates, and (for the handover only) the
//! passwords the bind account may read.
//!
//! Legacy Microsoft LAPS keeps `ms-Mcs-AdmPwd` (confidential: readable only with the right) and
//! `ms-Mcs-AdmPwdExpirationTime`; Windows LAPS keeps `msLAPS-PasswordExpirationTime` and either
//! `msLAPS-Password` (JSON `{"n":account,"t":time,"p":password}`) or `msLAPS-EncryptedPassword`
//! (encrypted to a group on the DC: present, but never readable here).
//!
//! [`LapsComputer`] is what discovery keeps: states and times, never a password. The passwords
//! come out only as [`LapsSecret`]s, from [`read`] with `with_passwords`, for `export --with-laps`.

use chrono::{DateTime, Utc};
use ldap3::{Mod, Scope};
use serde::{Deserialize, Serialize};

use super::errors::Operation;
use super::tls::{DirConn, Entry, SecretValue};
use crate::connector::{AccountInfo, AccountKind, ConnectorError, ConnectorResult};
use crate::secret::Password;

pub const LEGACY_PASSWORD: &str = "ms-Mcs-AdmPwd";
pub const LEGACY_EXPIRATION: &str = "ms-Mcs-AdmPwdExpirationTime";
pub const WINDOWS_PASSWORD: &str = "msLAPS-Password";
pub const WINDOWS_ENCRYPTED: &str = "msLAPS-EncryptedPassword";
pub const WINDOWS_EXPIRATION: &str = "msLAPS-PasswordExpirationTime";

/// The local account legacy LAPS manages unless its policy names another (the directory does not
/// say which).
pub const LEGACY_DEFAULT_ACCOUNT: &str = "Administrator";

const UF_ACCOUNTDISABLE: u32 = 0x2;
/// A writable or read-only domain controller's computer account.
const UF_SERVER_TRUST_ACCOUNT: u32 = 0x2000;
const UF_PARTIAL_SECRETS_ACCOUNT: u32 = 0x0400_0000;

const ATTRS: &[&str] = &[
    "objectClass",
    "sAMAccountName",
    "cn",
    "operatingSystem",
    "userAccountControl",
    LEGACY_PASSWORD,
    LEGACY_EXPIRATION,
    WINDOWS_PASSWORD,
    WINDOWS_ENCRYPTED,
    WINDOWS_EXPIRATION,
];

/// What the bind account can see of a LAPS password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PasswordState {
    /// No password attribute is visible and no expiration is set: this scheme is not in use.
    Absent,
    /// The bind account may read it.
    Readable,
    /// An expiration is set but the password is not visible: the bind account lacks the right.
    Unreadable,
    /// Windows LAPS stored it encrypted (`msLAPS-EncryptedPassword`): present, never readable here.
    Encrypted,
    /// Present but not the JSON Windows LAPS writes.
    Malformed,
}

/// One LAPS scheme's state on a computer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LapsScheme {
    /// RFC 3339; `None` when no expiration is set.
    pub expires: Option<String>,
    pub password: PasswordState,
}

impl LapsScheme {
    fn in_use(&self) -> bool {
        self.expires.is_some() || self.password != PasswordState::Absent
    }
}

/// One computer's LAPS state, as discovery keeps it (no password).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LapsComputer {
    /// The computer's name (`cn`), as people know it.
    pub computer: String,
    pub dn: String,
    /// The OU (or container) that holds it: the parent DN.
    pub ou: String,
    pub operating_system: Option<String>,
    pub enabled: bool,
    /// A domain controller has no local accounts for LAPS to manage (Windows LAPS keeps only
    /// its DSRM password): never counted as missing LAPS.
    #[serde(default)]
    pub domain_controller: bool,
    pub legacy: LapsScheme,
    pub windows: LapsScheme,
}

impl LapsComputer {
    /// Whether any LAPS attribute is present.
    pub fn has_laps(&self) -> bool {
        self.legacy.in_use() || self.windows.in_use()
    }

    /// Windows, or not saying (a pre-staged object has no `operatingSystem` yet).
    pub fn is_windows(&self) -> bool {
        self.operating_system
            .as_deref()
            .is_none_or(|os| os.trim().is_empty() || os.to_ascii_lowercase().contains("windows"))
    }

    /// The latest expiration of any scheme: a machine moved from legacy to Windows LAPS renews
    /// only the newer one.
    pub fn expires(&self) -> Option<DateTime<Utc>> {
        [&self.legacy.expires, &self.windows.expires]
            .into_iter()
            .flatten()
            .filter_map(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .max()
    }

    /// `legacy LAPS, expires 2026-01-01T00:00:00+00:00, password readable`, for people.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (label, s) in [("legacy LAPS", &self.legacy), ("Windows LAPS", &self.windows)] {
            if s.in_use() {
                let password = match s.password {
                    PasswordState::Absent => "no password stored",
                    PasswordState::Readable => "password readable",
                    PasswordState::Unreadable => "password not readable by the bind account",
                    PasswordState::Encrypted => "password encrypted",
                    PasswordState::Malformed => "password attribute malformed",
                };
                let expires = s.expires.as_deref().unwrap_or("no expiration set");
                parts.push(format!("{label}, expires {expires}, {password}"));
            }
        }
        if parts.is_empty() {
            "no LAPS".into()
        } else {
            parts.join("; ")
        }
    }

    /// The computer as a snapshot record: a non-admin computer account whose `laps` detail the
    /// LAPS rules read.
    pub fn to_account_info(&self) -> AccountInfo {
        let mut details = std::collections::BTreeMap::new();
        if let Ok(v) = serde_json::to_value(self) {
            details.insert("laps".to_string(), v);
        }
        AccountInfo {
            name: format!("{}$", self.computer),
            kind: AccountKind::Computer,
            privilege: self.describe(),
            admin: false,
            enabled: self.enabled,
            details,
        }
    }
}

/// A readable LAPS password, for the handover only.
#[derive(Debug, Clone)]
pub struct LapsSecret {
    pub computer: String,
    /// The managed local admin account.
    pub account: String,
    pub password: Password,
    /// RFC 3339, when known.
    pub expires: Option<String>,
}

/// The JSON Windows LAPS writes to `msLAPS-Password`.
#[derive(Deserialize)]
struct WindowsLapsValue {
    n: String,
    p: Password,
}

/// A LAPS expiration (a Windows FILETIME, as a decimal string) as RFC 3339.
fn expiration(e: &Entry, attr: &str) -> Option<String> {
    e.str(attr).as_deref().and_then(super::ad::filetime)
}

/// One computer entry as state and, when `with_passwords`, its readable passwords.
fn computer_from(e: &Entry, with_passwords: bool, secrets: &mut Vec<LapsSecret>) -> LapsComputer {
    let computer = e
        .str("cn")
        .or_else(|| e.str("sAMAccountName").map(|s| s.trim_end_matches('$').to_string()))
        .unwrap_or_else(|| e.dn.clone());
    let uac = e
        .str("userAccountControl")
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0) as u32;
    let ou =
        e.dn.split_once(',')
            .map(|(_, parent)| parent.to_string())
            .unwrap_or_default();

    let legacy_expires = expiration(e, LEGACY_EXPIRATION);
    let legacy_password = match e.bytes(LEGACY_PASSWORD) {
        Some(value) => {
            if with_passwords {
                secrets.push(LapsSecret {
                    computer: computer.clone(),
                    account: LEGACY_DEFAULT_ACCOUNT.into(),
                    password: Password::new(String::from_utf8_lossy(value).into_owned()),
                    expires: legacy_expires.clone(),
                });
            }
            PasswordState::Readable
        }
        None if e.has(LEGACY_EXPIRATION) => PasswordState::Unreadable,
        None => PasswordState::Absent,
    };

    let windows_expires = expiration(e, WINDOWS_EXPIRATION);
    let windows_password = if let Some(value) = e.bytes(WINDOWS_PASSWORD) {
        match serde_json::from_slice::<WindowsLapsValue>(value) {
            Ok(v) => {
                if with_passwords {
                    secrets.push(LapsSecret {
                        computer: computer.clone(),
                        account: v.n,
                        password: v.p,
                        expires: windows_expires.clone(),
                    });
                }
                PasswordState::Readable
            }
            Err(_) => PasswordState::Malformed,
        }
    } else if e.has(WINDOWS_ENCRYPTED) {
        PasswordState::Encrypted
    } else if e.has(WINDOWS_EXPIRATION) {
        PasswordState::Unreadable
    } else {
        PasswordState::Absent
    };

    LapsComputer {
        computer,
        dn: e.dn.clone(),
        ou,
        operating_system: e.str("operatingSystem"),
        enabled: uac & UF_ACCOUNTDISABLE == 0,
        domain_controller: uac & (UF_SERVER_TRUST_ACCOUNT | UF_PARTIAL_SECRETS_ACCOUNT) != 0,
        legacy: LapsScheme {
            expires: legacy_expires,
            password: legacy_password,
        },
        windows: LapsScheme {
            expires: windows_expires,
            password: windows_password,
        },
    }
}

/// Every computer under `base` with its LAPS state (disabled ones too, marked, so that a review
/// can say why they are not counted) and, when `with_passwords`, the passwords the bind account
/// may read. A password value is turned into its state (or a [`LapsSecret`]) as soon as it
/// arrives; nothing else keeps it.
pub fn read(
    conn: &mut DirConn,
    base: &str,
    with_passwords: bool,
) -> ConnectorResult<(Vec<LapsComputer>, Vec<LapsSecret>)> {
    let entries = conn.search(base, Scope::Subtree, "(objectClass=computer)", ATTRS)?;
    let mut secrets = Vec::new();
    let mut computers: Vec<LapsComputer> = entries
        .iter()
        .map(|e| computer_from(e, with_passwords, &mut secrets))
        .collect();
    computers.sort_by(|a, b| a.ou.cmp(&b.ou).then_with(|| a.computer.cmp(&b.computer)));
    Ok((computers, secrets))
}

/// The computers `laps expire` acts on: one by name (sAMAccountName with or without `$`, or cn),
/// or every computer under an OU.
pub fn computers_matching(
    conn: &mut DirConn,
    nc: &str,
    computer: Option<&str>,
    ou: Option<&str>,
) -> ConnectorResult<Vec<LapsComputer>> {
    let (base, filter) = match (computer, ou) {
        (Some(name), _) => {
            let bare = name.trim_end_matches('$');
            let sam = ldap3::ldap_escape(format!("{bare}$")).into_owned();
            let cn = ldap3::ldap_escape(bare).into_owned();
            (
                nc.to_string(),
                format!("(&(objectClass=computer)(|(sAMAccountName={sam})(cn={cn})))"),
            )
        }
        (None, Some(ou)) => (ou.to_string(), "(objectClass=computer)".to_string()),
        (None, None) => return Ok(Vec::new()),
    };
    let entries = conn.search(&base, Scope::Subtree, &filter, ATTRS)?;
    let mut ignored = Vec::new();
    Ok(entries.iter().map(|e| computer_from(e, false, &mut ignored)).collect())
}

/// The computer at `dn` with its LAPS state, or `None` when it is gone (to check a plan against
/// the directory before applying it).
pub fn computer_at(conn: &mut DirConn, dn: &str) -> ConnectorResult<Option<LapsComputer>> {
    let mut ignored = Vec::new();
    Ok(conn
        .read(dn, ATTRS)?
        .filter(|e| e.is_a("computer"))
        .map(|e| computer_from(&e, false, &mut ignored)))
}

/// The LAPS expiration attributes [`expire`] sets on `computer`.
pub fn expiration_attributes(computer: &LapsComputer) -> Vec<&'static str> {
    let mut attrs = Vec::new();
    if computer.windows.in_use() {
        attrs.push(WINDOWS_EXPIRATION);
    }
    if computer.legacy.in_use() {
        attrs.push(LEGACY_EXPIRATION);
    }
    attrs
}

/// A time as the Windows FILETIME LAPS stores (100 ns since 1601).
pub fn to_filetime(t: DateTime<Utc>) -> i64 {
    (t.timestamp() + 11_644_473_600) * 10_000_000 + i64::from(t.timestamp_subsec_nanos() / 100)
}

/// Sets the expiration of every LAPS scheme in use on `computer` to `at`, so that the machine
/// rotates its password at its next policy cycle. Over verified TLS only (the same guard as a
/// password change: the DC's answer decides what a machine's admin password becomes).
pub fn expire(conn: &mut DirConn, computer: &LapsComputer, at: DateTime<Utc>) -> ConnectorResult<Vec<&'static str>> {
    let attrs = expiration_attributes(computer);
    if attrs.is_empty() {
        return Err(ConnectorError::Protocol {
            target: conn.target().to_string(),
            detail: format!(
                "{} has no LAPS expiration to set (LAPS is not in force on it)",
                computer.dn
            ),
        });
    }
    let value = to_filetime(at).to_string();
    let mods = attrs
        .iter()
        .map(|a| {
            Mod::Replace(
                SecretValue::from(*a),
                [SecretValue::from(value.as_str())].into_iter().collect(),
            )
        })
        .collect();
    conn.modify_password(&computer.dn, &computer.computer, Operation::Modify, mods)?;
    Ok(attrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(attrs: &[(&str, &[u8])]) -> Entry {
        let mut se = ldap3::SearchEntry {
            dn: "CN=WS1,OU=Desks,DC=lab,DC=test".into(),
            attrs: Default::default(),
            bin_attrs: Default::default(),
        };
        for (k, v) in attrs {
            se.bin_attrs.insert(k.to_string(), vec![v.to_vec()]);
        }
        Entry::from_search(se)
    }

    #[test]
    fn states_of_each_scheme_and_passwords_only_when_asked() {
        let win = br#"{"n":"LocalAdm","t":"1d8161b41c41cde","p":"S3cret-win"}"#;
        let e = entry(&[
            ("cn", b"WS1"),
            ("userAccountControl", b"4096"),
            (WINDOWS_PASSWORD, win),
            (WINDOWS_EXPIRATION, b"133000000000000000"),
            (LEGACY_EXPIRATION, b"133000000000000000"),
        ]);
        let mut secrets = Vec::new();
        let c = computer_from(&e, false, &mut secrets);
        assert!(secrets.is_empty());
        assert_eq!(c.windows.password, PasswordState::Readable);
        assert_eq!(c.legacy.password, PasswordState::Unreadable);
        assert_eq!(c.ou, "OU=Desks,DC=lab,DC=test");
        assert!(c.enabled && c.is_windows() && c.has_laps());
        let json = serde_json::to_string(&c.to_account_info()).unwrap();
        assert!(!json.contains("S3cret"), "{json}");

        computer_from(&e, true, &mut secrets);
        assert_eq!(secrets.len(), 1);
        assert_eq!(secrets[0].account, "LocalAdm");
        assert_eq!(secrets[0].password.expose(), "S3cret-win");

        let enc = computer_from(&entry(&[(WINDOWS_ENCRYPTED, b"\x00\x01")]), true, &mut Vec::new());
        assert_eq!(enc.windows.password, PasswordState::Encrypted);
        let none = computer_from(&entry(&[("cn", b"X")]), true, &mut Vec::new());
        assert!(!none.has_laps() && !none.domain_controller);
        let dc = computer_from(&entry(&[("userAccountControl", b"532480")]), true, &mut Vec::new());
        assert!(dc.domain_controller && dc.enabled);
        let bad = computer_from(&entry(&[(WINDOWS_PASSWORD, b"not json")]), true, &mut Vec::new());
        assert_eq!(bad.windows.password, PasswordState::Malformed);
    }

    #[test]
    fn filetime_round_trips() {
        let t = DateTime::parse_from_rfc3339("2025-06-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let back = super::super::ad::filetime(&to_filetime(t).to_string()).unwrap();
        assert_eq!(DateTime::parse_from_rfc3339(&back).unwrap(), t);
    }
}
