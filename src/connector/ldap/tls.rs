//! The only way keyreeve opens a directory connection: TLS verified against the target's own CA
//! file and nothing else (no built-in or system roots), `ldaps://` directly or StartTLS for
//! `ldap://`. [`DirConn`] refuses every operation that carries a password (binds included) unless
//! the connection it holds finished a verified TLS handshake, whatever the configuration says.
//!
//! It also wraps the few LDAP operations the connector needs (paged search tolerating referrals,
//! modify, Password Modify) so that every one carries the target's timeout and maps its errors.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ldap3::adapters::PagedResults;
use ldap3::exop::PasswordModify;
use ldap3::{LdapConn, LdapConnSettings, Mod, Scope, SearchEntry};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use zeroize::Zeroizing;

use super::errors::{self, rc, Operation};
use crate::connector::{ConnectContext, ConnectorError, ConnectorResult};
use crate::inventory::Target;
use crate::secret::Password;

/// Entries per page of a paged search (Samba and AD cap pages at 1000).
const PAGE_SIZE: i32 = 500;

/// The CA file of `target`, resolved against the workspace.
pub fn ca_path(target: &Target, ctx: &ConnectContext) -> ConnectorResult<PathBuf> {
    let file = target.ca_file.as_ref().ok_or_else(|| ConnectorError::Tls {
        target: target.path(),
        detail: "no ca_file is configured; keyreeve trusts only the CA named in keyreeve.toml".into(),
    })?;
    Ok(if file.is_absolute() {
        file.clone()
    } else {
        ctx.workspace_root.join(file)
    })
}

/// A rustls configuration trusting only the certificates in the target's `ca_file`.
pub fn client_config(target: &Target, ctx: &ConnectContext) -> ConnectorResult<Arc<ClientConfig>> {
    let path = ca_path(target, ctx)?;
    let tls_err = |detail: String| ConnectorError::Tls {
        target: target.path(),
        detail,
    };
    let pem = std::fs::read(&path).map_err(|e| tls_err(format!("cannot read ca_file {}: {e}", path.display())))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| tls_err(format!("ca_file {} is not PEM certificates: {e}", path.display())))?;
        roots
            .add(cert)
            .map_err(|e| tls_err(format!("ca_file {}: unusable certificate: {e}", path.display())))?;
    }
    if roots.is_empty() {
        return Err(tls_err(format!("ca_file {} holds no certificate", path.display())));
    }
    let config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A password as the bytes of an LDAP value (unicodePwd), wiped on drop. ldap3 wants values it
/// can hash.
#[derive(Clone)]
pub struct SecretValue(pub Zeroizing<Vec<u8>>);

impl PartialEq for SecretValue {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_slice() == other.0.as_slice()
    }
}
impl Eq for SecretValue {}
impl Hash for SecretValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.as_slice().hash(state)
    }
}
/// ldap3 types attribute names like values: `Mod::Replace("unicodePwd".into(), ...)`.
impl From<&str> for SecretValue {
    fn from(s: &str) -> Self {
        SecretValue(Zeroizing::new(s.as_bytes().to_vec()))
    }
}
impl AsRef<[u8]> for SecretValue {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// One directory entry, attribute names lower-cased, values as bytes (objectSid is binary).
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub dn: String,
    attrs: HashMap<String, Vec<Vec<u8>>>,
}

impl Entry {
    /// An entry from a search result, attribute names lowercased (public so that tests can build
    /// entries as a directory would send them).
    pub fn from_search(se: SearchEntry) -> Entry {
        let mut attrs: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
        for (k, vs) in se.attrs {
            attrs
                .entry(k.to_ascii_lowercase())
                .or_default()
                .extend(vs.into_iter().map(String::into_bytes));
        }
        for (k, vs) in se.bin_attrs {
            attrs.entry(k.to_ascii_lowercase()).or_default().extend(vs);
        }
        Entry { dn: se.dn, attrs }
    }

    /// All values of `name`, as text.
    pub fn strs(&self, name: &str) -> Vec<String> {
        self.attrs
            .get(&name.to_ascii_lowercase())
            .map(|vs| vs.iter().map(|v| String::from_utf8_lossy(v).into_owned()).collect())
            .unwrap_or_default()
    }

    /// The first value of `name`, as text.
    pub fn str(&self, name: &str) -> Option<String> {
        self.strs(name).into_iter().next()
    }

    /// The first value of `name`, as bytes.
    pub fn bytes(&self, name: &str) -> Option<&[u8]> {
        self.attrs
            .get(&name.to_ascii_lowercase())
            .and_then(|vs| vs.first())
            .map(|v| v.as_slice())
    }

    pub fn has(&self, name: &str) -> bool {
        self.attrs.contains_key(&name.to_ascii_lowercase())
    }

    /// Whether `objectClass` holds `class` (case-insensitively).
    pub fn is_a(&self, class: &str) -> bool {
        self.strs("objectClass").iter().any(|c| c.eq_ignore_ascii_case(class))
    }

    /// A ranged attribute AD returns instead of a large multi-valued one (`member;range=0-1499`):
    /// its values and the range's end (`None` for `*`, the last chunk).
    pub fn ranged(&self, name: &str) -> Option<(Vec<String>, Option<u64>)> {
        let prefix = format!("{};range=", name.to_ascii_lowercase());
        let (key, vs) = self.attrs.iter().find(|(k, _)| k.starts_with(&prefix))?;
        let end = key[prefix.len()..]
            .split('-')
            .nth(1)
            .and_then(|e| e.parse::<u64>().ok());
        Some((
            vs.iter().map(|v| String::from_utf8_lossy(v).into_owned()).collect(),
            end,
        ))
    }

    /// The entry with `name`'s values replaced (to merge ranged chunks).
    pub fn set(&mut self, name: &str, values: Vec<String>) {
        let lower = name.to_ascii_lowercase();
        self.attrs.retain(|k, _| !k.starts_with(&format!("{lower};range=")));
        self.attrs
            .insert(lower, values.into_iter().map(String::into_bytes).collect());
    }
}

/// An LDAP connection whose TLS was verified against the target's CA.
pub struct DirConn {
    conn: LdapConn,
    target: String,
    timeout: Duration,
    tls_verified: bool,
    /// Ask for the password policy control on binds and Password Modify (`ldap` targets).
    ppolicy: bool,
}

impl DirConn {
    /// Connects to the target's URL: `ldaps://` as is, `ldap://` always with StartTLS. Fails if
    /// TLS cannot be established and verified.
    pub fn connect(target: &Target, ctx: &ConnectContext) -> ConnectorResult<DirConn> {
        let name = target.path();
        let url = target.url.as_deref().ok_or_else(|| ConnectorError::Protocol {
            target: name.clone(),
            detail: "a directory target needs `url`".into(),
        })?;
        let starttls = if url.starts_with("ldaps://") {
            false
        } else if url.starts_with("ldap://") {
            true
        } else {
            return Err(ConnectorError::Unsafe {
                target: name,
                reason: format!("`{url}` is neither ldaps:// nor ldap:// (with StartTLS)"),
            });
        };
        let config = client_config(target, ctx)?;
        let settings = LdapConnSettings::new()
            .set_config(config)
            .set_starttls(starttls)
            .set_conn_timeout(target.connect_timeout);
        let secs = target.connect_timeout.as_secs();
        let mut conn = LdapConn::with_settings(settings, url).map_err(|e| match e {
            // StartTLS itself was refused: the server offers no TLS on this port.
            ldap3::LdapError::LdapResult { result } => ConnectorError::Unsafe {
                target: name.clone(),
                reason: format!(
                    "StartTLS was refused (result {}: {}); no password is sent without verified TLS",
                    result.rc,
                    errors::short_text(&result.text)
                ),
            },
            other => errors::from_ldap(&name, "", Operation::Connect, secs, other),
        })?;
        // Belt and braces: ldap3 only hands back a connection after a verified handshake with
        // our configuration, but a password goes nowhere unless a peer certificate is there.
        let tls_verified = matches!(conn.get_peer_certificate(), Ok(Some(_)));
        if !tls_verified {
            return Err(ConnectorError::Unsafe {
                target: name,
                reason: "the connection is not protected by verified TLS; no password is sent".into(),
            });
        }
        Ok(DirConn {
            conn,
            target: name,
            timeout: target.command_timeout,
            tls_verified,
            ppolicy: target.kind == crate::inventory::TargetKind::Ldap,
        })
    }

    pub fn target(&self) -> &str {
        &self.target
    }

    fn require_tls(&self) -> ConnectorResult<()> {
        if self.tls_verified {
            Ok(())
        } else {
            Err(ConnectorError::Unsafe {
                target: self.target.clone(),
                reason: "the connection is not protected by verified TLS; no password is sent".into(),
            })
        }
    }

    fn map(&self, account: &str, op: Operation, e: ldap3::LdapError) -> ConnectorError {
        errors::from_ldap(&self.target, account, op, self.timeout.as_secs(), e)
    }

    /// Attaches the password policy request control to the next operation (OpenLDAP tells why
    /// a bind or a new password was refused only in the response control).
    fn ask_password_policy(&mut self) {
        if self.ppolicy {
            self.conn.with_controls(vec![errors::ppolicy_request()]);
        }
    }

    /// A simple bind; `Ok(Err(result))` when the directory answered with a failure, so that
    /// verification can tell a rejected password from a broken connection. A success carries its
    /// result too: its password policy control may say the password must be changed first.
    pub fn try_bind(
        &mut self,
        dn: &str,
        password: &Password,
    ) -> ConnectorResult<Result<ldap3::LdapResult, ldap3::LdapResult>> {
        self.require_tls()?;
        if password.is_empty() || dn.is_empty() {
            // An empty password makes a simple bind anonymous, and "succeed": never a proof.
            return Err(ConnectorError::Unsafe {
                target: self.target.clone(),
                reason: "refusing a bind with an empty name or password (it would be anonymous)".into(),
            });
        }
        let timeout = self.timeout;
        self.ask_password_policy();
        let res = self
            .conn
            .with_timeout(timeout)
            .simple_bind(dn, password.expose())
            .map_err(|e| self.map(dn, Operation::Bind, e))?;
        Ok(if res.rc == rc::SUCCESS { Ok(res) } else { Err(res) })
    }

    /// A simple bind that must succeed.
    pub fn bind(&mut self, dn: &str, account: &str, password: &Password) -> ConnectorResult<()> {
        match self.try_bind(dn, password)? {
            Ok(_) => Ok(()),
            Err(res) => Err(errors::from_result(&self.target, account, Operation::Bind, &res)),
        }
    }

    /// A paged subtree or one-level search; referral entries are skipped.
    /// The DN of the one entry under `base` whose `attr` is `account` (or `account` itself when
    /// it is already a DN).
    pub fn find_dn(&mut self, base: &str, attr: &str, account: &str) -> ConnectorResult<String> {
        if account.contains('=') {
            return Ok(account.to_string());
        }
        let filter = format!("({attr}={})", ldap3::ldap_escape(account));
        let found = self.search(base, Scope::Subtree, &filter, &[attr])?;
        match found.as_slice() {
            [one] => Ok(one.dn.clone()),
            [] => Err(ConnectorError::Protocol {
                target: self.target().to_string(),
                detail: format!("no account with {attr} `{account}` under {base}"),
            }),
            _ => Err(ConnectorError::Protocol {
                target: self.target().to_string(),
                detail: format!("{attr} `{account}` names several entries under {base}"),
            }),
        }
    }

    pub fn search(&mut self, base: &str, scope: Scope, filter: &str, attrs: &[&str]) -> ConnectorResult<Vec<Entry>> {
        let attrs: Vec<String> = attrs.iter().map(|a| a.to_string()).collect();
        let timeout = self.timeout;
        let target = self.target.clone();
        let map = |e| errors::from_ldap(&target, base, Operation::Search, timeout.as_secs(), e);
        let mut out = Vec::new();
        let mut stream = self
            .conn
            .with_timeout(timeout)
            .streaming_search_with(
                PagedResults::<String, Vec<String>>::new(PAGE_SIZE),
                base,
                scope,
                filter,
                attrs,
            )
            .map_err(map)?;
        loop {
            match stream.next() {
                Ok(Some(re)) => {
                    if re.is_ref() || re.is_intermediate() {
                        continue;
                    }
                    out.push(Entry::from_search(SearchEntry::construct(re)));
                }
                Ok(None) => break,
                Err(e) => return Err(map(e)),
            }
        }
        let res = stream.result();
        match res.rc {
            rc::SUCCESS | rc::REFERRAL => Ok(out),
            rc::NO_SUCH_OBJECT if scope == Scope::Base => Ok(out),
            _ => Err(errors::from_result(&self.target, base, Operation::Search, &res)),
        }
    }

    /// One entry by DN, or `None` if it does not exist.
    pub fn read(&mut self, dn: &str, attrs: &[&str]) -> ConnectorResult<Option<Entry>> {
        let timeout = self.timeout;
        let res = self
            .conn
            .with_timeout(timeout)
            .search(dn, Scope::Base, "(objectClass=*)", attrs.to_vec());
        match res {
            Ok(sr) => {
                let result = &sr.1;
                if result.rc == rc::NO_SUCH_OBJECT || result.rc == rc::REFERRAL {
                    return Ok(None);
                }
                if result.rc != rc::SUCCESS {
                    return Err(errors::from_result(&self.target, dn, Operation::Search, result));
                }
                Ok(sr
                    .0
                    .into_iter()
                    .find(|re| !re.is_ref() && !re.is_intermediate())
                    .map(|re| Entry::from_search(SearchEntry::construct(re))))
            }
            Err(e) => Err(self.map(dn, Operation::Search, e)),
        }
    }

    /// A modify carrying password values (unicodePwd).
    pub fn modify_password(
        &mut self,
        dn: &str,
        account: &str,
        op: Operation,
        mods: Vec<Mod<SecretValue>>,
    ) -> ConnectorResult<()> {
        self.require_tls()?;
        let timeout = self.timeout;
        let res = self
            .conn
            .with_timeout(timeout)
            .modify(dn, mods)
            .map_err(|e| self.map(account, op, e))?;
        if res.rc == rc::SUCCESS {
            Ok(())
        } else {
            Err(errors::from_result(&self.target, account, op, &res))
        }
    }

    /// The RFC 3062 Password Modify extended operation.
    pub fn password_modify(
        &mut self,
        user_dn: &str,
        account: &str,
        op: Operation,
        old: Option<&Password>,
        new: &Password,
    ) -> ConnectorResult<()> {
        self.require_tls()?;
        let timeout = self.timeout;
        let exop = PasswordModify {
            user_id: Some(user_dn),
            old_pass: old.map(|p| p.expose()),
            new_pass: Some(new.expose()),
        };
        self.ask_password_policy();
        let res = self
            .conn
            .with_timeout(timeout)
            .extended(exop)
            .map_err(|e| self.map(account, op, e))?;
        if res.1.rc == rc::SUCCESS {
            Ok(())
        } else {
            Err(errors::from_result(&self.target, account, op, &res.1))
        }
    }

    /// Closes the connection politely (errors ignored: it is going away anyway).
    pub fn close(mut self) {
        let _ = self.conn.unbind();
    }
}
