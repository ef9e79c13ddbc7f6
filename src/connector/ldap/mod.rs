//! Directories over LDAPS / StartTLS: Active Directory (and Samba AD) and OpenLDAP.
//!
//! - [`tls`]: the only way a connection is opened (verified against the target's CA only), and
//!   the guard that keeps passwords off anything else.
//! - [`ad`]: privileged groups by well-known SID, service and dial-in accounts, `unicodePwd`.
//! - [`openldap`]: configured groups (groupOfNames, groupOfUniqueNames, posixGroup), Password Modify.
//! - [`walk`]: effective membership with paths, loop-safe.
//! - [`laps`]: each computer's LAPS state (legacy and Windows LAPS), its passwords for a handover.
//! - [`errors`]: directory answers (AD's `data 52e/775/773`, OpenLDAP's password policy control)
//!   as [`ConnectorError`]s.
//!
//! [`discover_directory`] returns the full [`DirectoryReport`] (for JSON output);
//! [`Connector::list_accounts`] returns the same accounts as [`AccountInfo`]s, complete on their own.

pub mod ad;
mod ad_account;
pub mod domain;
pub mod errors;
pub mod laps;
pub mod openldap;
pub mod tls;
pub mod walk;

use serde::Serialize;

use self::errors::{BindFailure, Operation};
use self::tls::DirConn;
use super::{
    AccountInfo, AccountKind, ChangeMethod, ChangeSession, ConnectContext, Connector, ConnectorError, ConnectorResult,
    Credentials, PasswordRules, Verification,
};
use crate::inventory::{LoginMethod, Target, TargetKind};
use crate::secret::{Password, REDACTED};

/// What discovery found on one directory target.
#[derive(Debug, Clone, Serialize)]
pub struct DirectoryReport {
    pub target: String,
    pub kind: TargetKind,
    /// The naming context searched (AD: the domain's default naming context).
    pub base_dn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain_sid: Option<String>,
    pub privileged_groups: Vec<PrivilegedGroup>,
    /// Effective members of the privileged groups, service accounts and remote-access accounts.
    pub accounts: Vec<DirectoryAccount>,
    pub warnings: Vec<String>,
    /// AD: the domain's policy, krbtgt, Guest, computers and the review's scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<domain::DomainFacts>,
}

/// A group whose members hold admin rights.
#[derive(Debug, Clone, Serialize)]
pub struct PrivilegedGroup {
    pub name: String,
    pub dn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Why it counts: `well-known RID 512`, `builtin SID S-1-5-32-544`, `extra_groups in keyreeve.toml`.
    pub reason: String,
    /// Groups nested in it, each with its path: `app-admins (member of Domain Admins)`.
    pub nested_groups: Vec<String>,
    /// Accounts (not groups) that are members through any depth of nesting.
    pub effective_members: usize,
}

/// One account of a directory, with everything discovery learned about it.
#[derive(Debug, Clone, Serialize)]
pub struct DirectoryAccount {
    /// sAMAccountName (AD; the SID for a foreign principal), uid or cn (OpenLDAP).
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub well_known_name: Option<String>,
    pub dn: String,
    pub kind: AccountKind,
    pub object_class: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Can log in: neither disabled nor locked.
    pub enabled: bool,
    pub disabled: bool,
    pub locked: bool,
    /// RFC 3339; absent when never set.
    pub pwd_last_set: Option<String>,
    /// pwdLastSet = 0: the password must be changed at next logon.
    pub must_change_password: bool,
    pub last_logon: Option<String>,
    pub user_account_control: Option<u32>,
    /// `password-never-expires`, `password-not-required`, `reversible-encryption`,
    /// `no-kerberos-preauth`, `trusted-for-delegation`, `disabled`, `locked`, ...
    pub flags: Vec<String>,
    pub admin_count: Option<u32>,
    pub protected_user: bool,
    pub service_principal_names: Vec<String>,
    /// msNPAllowDialin: `Some(true)` allowed, `Some(false)` denied, `None` controlled by policy.
    pub dial_in: Option<bool>,
    /// Member of a privileged group, through any depth of nesting.
    pub privileged: bool,
    /// How: `member of Domain Admins`, `via app-admins -> Domain Admins`; one per privileged group.
    pub paths: Vec<String>,
    pub privileged_groups: Vec<String>,
    /// Why it counts as a service account (empty when it does not).
    pub service_reasons: Vec<String>,
    /// Why it may dial in / use the VPN (empty when it may not).
    pub remote_access_reasons: Vec<String>,
    /// Listed as a member but could not be read.
    pub unresolved: bool,
    /// What AD alone tells (delegation, sIDHistory, Kerberos types, how a right is held).
    #[serde(flatten)]
    pub ad: AdDetails,
}

/// An AD account's tier-0 details, kept beside the generic ones in a snapshot's `details`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AdDetails {
    /// How the admin right is held: `direct`, `nested` or `primary group` (the latter wins:
    /// it is the one no `member` list shows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_group_id: Option<u32>,
    /// msDS-AllowedToDelegateTo: the services it may delegate to (constrained delegation).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_to_delegate_to: Vec<String>,
    /// msDS-AllowedToActOnBehalfOfOtherIdentity is set: others may delegate to it (RBCD).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub resource_based_delegation: bool,
    /// How many SIDs its sIDHistory holds.
    #[serde(skip_serializing_if = "is_zero")]
    pub sid_history: usize,
    /// msDS-SupportedEncryptionTypes, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supported_encryption_types: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_host_name: Option<String>,
    /// A domain controller's own account.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub domain_controller: bool,
    /// Why a non-admin account is in the snapshot: `adminCount=1`, `trusted for delegation`, ...
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub review_reasons: Vec<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl DirectoryAccount {
    /// The same account as the generic connector interface shows it.
    pub fn to_account_info(&self) -> AccountInfo {
        let privilege = if self.privileged {
            self.paths.join("; ")
        } else if !self.service_reasons.is_empty() {
            format!("service account ({})", self.service_reasons.join(", "))
        } else if !self.remote_access_reasons.is_empty() {
            format!("remote access ({})", self.remote_access_reasons.join(", "))
        } else {
            format!("not an admin ({})", self.ad.review_reasons.join(", "))
        };
        let mut details = std::collections::BTreeMap::new();
        if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(self) {
            for (k, v) in map {
                if !matches!(k.as_str(), "name" | "kind" | "enabled") {
                    details.insert(k, v);
                }
            }
        }
        AccountInfo {
            name: self.name.clone(),
            kind: self.kind,
            privilege,
            admin: self.privileged,
            enabled: self.enabled,
            details,
        }
    }
}

/// `*` and `?` glob, case-insensitive (account names in AD are). Names come from the directory:
/// the match is iterative (no recursion a long name could overflow) and retries only from the
/// last `*`, so it takes at most pattern x name steps, however many stars the pattern has.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let same = |a: char, b: char| a == b || a.to_lowercase().eq(b.to_lowercase());
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut si) = (0, 0);
    // Where the last `*` was, and the name position it has swallowed up to.
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(&c) if c == '?' || same(c, s[si]) => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The connector for a directory target.
pub fn connector(target: &Target, ctx: &ConnectContext) -> ConnectorResult<Box<dyn Connector>> {
    if !target.kind.is_directory() {
        return Err(ConnectorError::Unsupported {
            target: target.path(),
            kind: target.kind.to_string(),
            operation: "LDAP".into(),
        });
    }
    Ok(Box::new(DirectoryConnector {
        target: target.clone(),
        ctx: ctx.clone(),
    }))
}

/// Full discovery of a directory target, bound as `login`.
pub fn discover_directory(
    target: &Target,
    ctx: &ConnectContext,
    login: &Credentials,
) -> ConnectorResult<DirectoryReport> {
    let dc = DirectoryConnector {
        target: target.clone(),
        ctx: ctx.clone(),
    };
    dc.discover(login)
}

/// The connector of a directory target, for what the [`Connector`] trait does not cover (LAPS).
pub fn directory_connector(target: &Target, ctx: &ConnectContext) -> DirectoryConnector {
    DirectoryConnector {
        target: target.clone(),
        ctx: ctx.clone(),
    }
}

/// Active Directory or OpenLDAP, over verified TLS.
pub struct DirectoryConnector {
    target: Target,
    ctx: ConnectContext,
}

impl DirectoryConnector {
    fn is_ad(&self) -> bool {
        self.target.kind == TargetKind::ActiveDirectory
    }

    fn base(&self) -> String {
        self.target.base_dn.clone().unwrap_or_default()
    }

    fn same_account(&self, a: &str, b: &str) -> bool {
        same_account(self.is_ad(), a, b)
    }

    /// The name the login account binds with: `bind_dn`, else (AD) `login@dns.domain`.
    fn login_bind_name(&self, login: &Credentials) -> ConnectorResult<String> {
        if login.method != LoginMethod::Password {
            return Err(ConnectorError::Unsupported {
                target: self.target.path(),
                kind: self.target.kind.to_string(),
                operation: "a private-key login".into(),
            });
        }
        if login.username.contains('=') {
            return Ok(login.username.clone());
        }
        if let Some(dn) = &self.target.bind_dn {
            if self.same_account(&login.username, &self.target.login) {
                return Ok(dn.clone());
            }
        }
        if self.is_ad() {
            let domain = ad::dns_domain(&self.base());
            if login.username.contains('@') || domain.is_empty() {
                return Ok(login.username.clone());
            }
            return Ok(format!("{}@{}", login.username, domain));
        }
        Err(ConnectorError::Protocol {
            target: self.target.path(),
            detail: format!(
                "cannot tell the DN of `{}`: set bind_dn for this ldap target (e.g. `uid={},ou=people,{}`)",
                login.username,
                login.username,
                self.base()
            ),
        })
    }

    fn connect_bound(&self, login: &Credentials) -> ConnectorResult<DirConn> {
        let name = self.login_bind_name(login)?;
        let mut conn = DirConn::connect(&self.target, &self.ctx)?;
        conn.bind(&name, &login.username, &login.secret)?;
        Ok(conn)
    }

    fn discover(&self, login: &Credentials) -> ConnectorResult<DirectoryReport> {
        Ok(self.discover_with_laps(login)?.0)
    }

    /// The directory report and, for AD, every computer's LAPS state (never a password).
    fn discover_with_laps(&self, login: &Credentials) -> ConnectorResult<(DirectoryReport, Vec<laps::LapsComputer>)> {
        let mut conn = self.connect_bound(login)?;
        let report = if self.is_ad() {
            ad::discover(&mut conn, &self.target, &self.ctx.directory).and_then(|r| {
                let (computers, _) = laps::read(&mut conn, &r.base_dn, false)?;
                Ok((r, computers))
            })
        } else {
            openldap::discover(&mut conn, &self.target, &self.ctx.directory).map(|r| (r, Vec::new()))
        };
        conn.close();
        let (mut report, computers) = report?;
        if let Some(d) = report.domain.as_mut() {
            d.bind_account = Some(self.login_bind_name(login)?);
            if d.domain_controller.is_none() {
                d.domain_controller = self.target.url.clone();
            }
        }
        Ok((report, computers))
    }

    /// The LAPS passwords the login account may read, for a handover.
    pub fn laps_passwords(&self, login: &Credentials) -> ConnectorResult<Vec<laps::LapsSecret>> {
        let mut conn = self.connect_bound(login)?;
        let secrets = laps::read(&mut conn, &self.base(), true).map(|(_, s)| s);
        conn.close();
        secrets
    }

    /// A connection bound as the login account, for `laps expire`.
    pub fn bound(&self, login: &Credentials) -> ConnectorResult<DirConn> {
        self.connect_bound(login)
    }
}

fn find_dn(conn: &mut DirConn, is_ad: bool, base: &str, account: &str) -> ConnectorResult<String> {
    if is_ad {
        ad::find_dn(conn, base, account)
    } else {
        openldap::find_dn(conn, base, account)
    }
}

impl Connector for DirectoryConnector {
    fn name(&self) -> &str {
        &self.target.name
    }

    fn password_rules(&self, _account: &str) -> PasswordRules {
        if self.is_ad() {
            // Default domain policy: 7+ characters from 3 of 4 classes. A double quote is legal but
            // delimits the unicodePwd value; keep it out.
            PasswordRules {
                min_len: 8,
                max_len: 128,
                forbidden: "\"".into(),
                min_classes: 3,
                no_leading_digit: false,
            }
        } else {
            PasswordRules::default()
        }
    }

    fn change_method(&self, login_user: &str, account: &str) -> ChangeMethod {
        if self.same_account(login_user, account) {
            ChangeMethod::SelfChange
        } else {
            ChangeMethod::AdminReset
        }
    }

    fn describe_change(&self, account: &str, method: ChangeMethod) -> Vec<String> {
        let tls = match self.target.url.as_deref() {
            Some(u) if u.starts_with("ldap://") => "StartTLS",
            _ => "LDAPS",
        };
        match (self.is_ad(), method) {
            (true, ChangeMethod::SelfChange) => vec![
                format!("bind as {account} over {tls} (certificate checked against ca_file)"),
                format!(
                    "modify {account}: delete unicodePwd \"{REDACTED}\" (old), add unicodePwd \"{REDACTED}\" (new)"
                ),
            ],
            (true, _) => vec![
                format!(
                    "bind as {} over {tls} (certificate checked against ca_file)",
                    self.target.login
                ),
                format!("modify {account}: replace unicodePwd \"{REDACTED}\""),
            ],
            (false, ChangeMethod::SelfChange) => vec![
                format!("bind as {account} over {tls} (certificate checked against ca_file)"),
                format!("Password Modify (RFC 3062) for {account}: old {REDACTED}, new {REDACTED}"),
            ],
            (false, _) => vec![
                format!(
                    "bind as {} over {tls} (certificate checked against ca_file)",
                    self.target.login
                ),
                format!("Password Modify (RFC 3062) for {account}: new {REDACTED}"),
            ],
        }
    }

    fn list_accounts(&self, login: &Credentials) -> ConnectorResult<Vec<AccountInfo>> {
        Ok(self.survey(login)?.accounts)
    }

    fn survey(&self, login: &Credentials) -> ConnectorResult<super::Survey> {
        let (report, computers) = self.discover_with_laps(login)?;
        let mut accounts: Vec<AccountInfo> = report.accounts.iter().map(DirectoryAccount::to_account_info).collect();
        // A computer already listed (one holding admin rights) carries its LAPS state on its own
        // record: one account, one row.
        for computer in computers.iter().map(laps::LapsComputer::to_account_info) {
            match accounts
                .iter_mut()
                .find(|a| a.name.eq_ignore_ascii_case(&computer.name))
            {
                Some(listed) => listed.details.extend(computer.details),
                None => accounts.push(computer),
            }
        }
        Ok(super::Survey {
            accounts,
            domain: report.domain.map(Box::new),
        })
    }

    fn open(&self, login: &Credentials) -> ConnectorResult<Box<dyn ChangeSession>> {
        let conn = self.connect_bound(login)?;
        let bind_name = self.login_bind_name(login)?;
        Ok(Box::new(DirSession {
            conn,
            // The login account's own DN is known without a search: a session whose password
            // must be changed first (OpenLDAP ppolicy after a reset) may not search.
            own_dn: (bind_name.contains('=')).then(|| (login.username.clone(), bind_name)),
            is_ad: self.is_ad(),
            base: self.base(),
            target: self.target.path(),
            kind: self.target.kind,
            pending: None,
        }))
    }

    fn verify(&self, login: &Credentials, account: &str, password: &Password) -> ConnectorResult<Verification> {
        self.verify_bind(login, account, password, true)
    }

    fn verify_login(&self, login: &Credentials, account: &str, password: &Password) -> ConnectorResult<Verification> {
        self.verify_bind(login, account, password, false)
    }
}

impl DirectoryConnector {
    /// A fresh bind as `account`. `must_change_accepted`: a password that is right but must be
    /// changed (AD 532/773, ppolicy passwordExpired) counts as accepted, else it is an error.
    fn verify_bind(
        &self,
        login: &Credentials,
        account: &str,
        password: &Password,
        must_change_accepted: bool,
    ) -> ConnectorResult<Verification> {
        let dn = if self.same_account(&login.username, account) {
            self.login_bind_name(login)?
        } else {
            let mut conn = self.connect_bound(login)?;
            let dn = find_dn(&mut conn, self.is_ad(), &self.base(), account);
            conn.close();
            dn?
        };
        let mut fresh = DirConn::connect(&self.target, &self.ctx)?;
        let outcome = fresh.try_bind(&dn, password)?;
        fresh.close();
        match outcome {
            // OpenLDAP's ppolicy (pwdMustChange) lets a reset password bind, but for nothing
            // other than changing it.
            Ok(res)
                if !must_change_accepted
                    && errors::ppolicy_error(&res) == Some(errors::PolicyError::ChangeAfterReset) =>
            {
                Err(ConnectorError::PasswordExpired {
                    target: self.target.path(),
                    account: account.to_string(),
                    detail:
                        "the password was reset and must be changed before anything else (ppolicy changeAfterReset)"
                            .into(),
                })
            }
            Ok(_) => Ok(Verification::Accepted),
            Err(res) if res.rc == errors::rc::INVALID_CREDENTIALS => match errors::bind_failure_of(&res) {
                BindFailure::InvalidCredentials => Ok(Verification::Rejected),
                // AD says 532/773 only when the password itself was right.
                BindFailure::MustChange if must_change_accepted => Ok(Verification::Accepted),
                BindFailure::MustChange => {
                    Err(errors::from_result(&self.target.path(), account, Operation::Bind, &res))
                }
                BindFailure::Locked => Err(errors::from_result(&self.target.path(), account, Operation::Bind, &res)),
            },
            Err(res) => Err(errors::from_result(&self.target.path(), account, Operation::Bind, &res)),
        }
    }
}

/// Whether two account names are the same account: AD compares them without case.
fn same_account(is_ad: bool, a: &str, b: &str) -> bool {
    if is_ad {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

/// A change sent (or being sent) in this session, kept to undo it.
struct Pending {
    account: String,
    dn: String,
    method: ChangeMethod,
    new: Password,
}

/// A bind as the login account, held open across change, verify and rollback.
struct DirSession {
    conn: DirConn,
    /// The login account's name and DN, when it binds with a DN.
    own_dn: Option<(String, String)>,
    is_ad: bool,
    base: String,
    target: String,
    kind: TargetKind,
    pending: Option<Pending>,
}

impl DirSession {
    fn reset(&mut self, dn: &str, account: &str, new: &Password) -> ConnectorResult<()> {
        if self.is_ad {
            ad::admin_reset(&mut self.conn, dn, account, new)
        } else {
            openldap::admin_reset(&mut self.conn, dn, account, new)
        }
    }

    fn self_change(&mut self, dn: &str, account: &str, old: &Password, new: &Password) -> ConnectorResult<()> {
        if self.is_ad {
            ad::self_change(&mut self.conn, dn, account, old, new)
        } else {
            openldap::self_change(&mut self.conn, dn, account, old, new)
        }
    }
}

impl ChangeSession for DirSession {
    fn change_password(
        &mut self,
        account: &str,
        method: ChangeMethod,
        old: &Password,
        new: &Password,
    ) -> ConnectorResult<()> {
        if method == ChangeMethod::EnableSecret {
            return Err(ConnectorError::Unsupported {
                target: self.target.clone(),
                kind: self.kind.to_string(),
                operation: "an enable secret".into(),
            });
        }
        let own = self
            .own_dn
            .as_ref()
            .filter(|(name, _)| method == ChangeMethod::SelfChange && same_account(self.is_ad, name, account));
        let dn = match own {
            Some((_, dn)) => dn.clone(),
            None => find_dn(&mut self.conn, self.is_ad, &self.base, account)?,
        };
        // Recorded before sending: if the answer is lost, rollback still knows what to undo.
        self.pending = Some(Pending {
            account: account.to_string(),
            dn: dn.clone(),
            method,
            new: new.clone(),
        });
        match method {
            ChangeMethod::SelfChange => self.self_change(&dn, account, old, new),
            _ => self.reset(&dn, account, new),
        }
    }

    fn save(&mut self) -> ConnectorResult<()> {
        // A directory applies a change at once; nothing to commit.
        self.pending = None;
        Ok(())
    }

    fn rollback(&mut self, account: &str, old: &Password) -> ConnectorResult<()> {
        let pending = match self.pending.take() {
            Some(p) if p.account == account => p,
            other => {
                self.pending = other;
                return Ok(());
            }
        };
        let result = match pending.method {
            ChangeMethod::SelfChange => {
                match self.self_change(&pending.dn, account, &pending.new, old) {
                    // History forbids going back by a self-change; an account allowed to reset
                    // passwords (a domain admin rotating itself) can still set it back.
                    Err(e) if e.is_password_rejected() => self.reset(&pending.dn, account, old).map_err(|_| e),
                    other => other,
                }
            }
            _ => self.reset(&pending.dn, account, old),
        };
        if result.is_err() {
            self.pending = Some(pending);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("svc-*", "SVC-backup"));
        assert!(glob_match("sa-??", "sa-01"));
        assert!(!glob_match("sa-??", "sa-012"));
        assert!(!glob_match("svc-*", "bob"));
    }
}
