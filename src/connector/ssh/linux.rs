//! Linux hosts over exec channels (no shell parsing): accounts from `getent`, password changes by
//! `chpasswd` as root or through `sudo -S`, or `passwd` for the login account itself. Secrets
//! only ever travel on stdin, never in a command line. Before an admin reset the account's shadow
//! hash is saved so that a rollback restores it exactly (`chpasswd -e`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use zeroize::Zeroizing;

use super::session::{Auth, Endpoint, ExecOutput, SshSession};
use crate::connector::{
    AccountInfo, AccountKind, ChangeMethod, ChangeSession, ConnectContext, Connector, ConnectorError, ConnectorResult,
    Credentials, PasswordRules, Verification,
};
use crate::inventory::{LoginMethod, Target};
use crate::secret::Password;

/// Groups whose members are administrators.
const ADMIN_GROUPS: [&str; 2] = ["sudo", "wheel"];
/// Groups worth showing next to an account.
const NOTABLE_GROUPS: [&str; 4] = ["sudo", "wheel", "adm", "root"];

/// A Linux host reached over SSH.
pub struct LinuxConnector {
    endpoint: Endpoint,
}

impl LinuxConnector {
    pub fn new(target: &Target, ctx: &ConnectContext) -> Self {
        LinuxConnector {
            endpoint: Endpoint::new(target, ctx),
        }
    }

    fn login(&self, login: &Credentials) -> ConnectorResult<Host> {
        let session = SshSession::login(&self.endpoint, &login.username, Auth::new(login.method, &login.secret))?;
        let mut host = Host {
            session,
            login_user: login.username.clone(),
            sudo_password: match login.method {
                LoginMethod::Password => Some(login.secret.clone()),
                LoginMethod::PrivateKey => None,
            },
            is_root: false,
            sudo: None,
        };
        let id = host.session.exec("id -u", b"")?;
        host.is_root = id.status == 0 && id.stdout.trim() == "0";
        Ok(host)
    }
}

/// How the login account gets root rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sudo {
    /// `sudo` without a password (NOPASSWD).
    NoPassword,
    /// `sudo -S` with the login password on stdin.
    WithPassword,
    /// No sudo rights we can use.
    Unavailable,
}

/// A logged-in host.
struct Host {
    session: SshSession,
    login_user: String,
    sudo_password: Option<Password>,
    is_root: bool,
    sudo: Option<Sudo>,
}

impl Host {
    fn target(&self) -> String {
        self.session.endpoint().name.clone()
    }

    fn sudo_mode(&mut self) -> ConnectorResult<Sudo> {
        if let Some(s) = self.sudo {
            return Ok(s);
        }
        // `-k` ignores cached credentials, so sudo either needs no password at all (NOPASSWD)
        // or asks for it on every call: the password line on stdin is never passed on.
        let probe = self.session.exec("sudo -k -n true", b"")?;
        // Trying the password is only worth it for members of an admin group: for anyone else
        // sudo would log (and mail) a failed attempt on every discovery.
        let groups = self.session.exec("id -Gn", b"")?;
        let in_admin_group = groups
            .stdout
            .split_whitespace()
            .any(|g| ADMIN_GROUPS.contains(&g) || g == "admin");
        let mode = if probe.status == 0 {
            Sudo::NoPassword
        } else if let (true, Some(pw)) = (in_admin_group, self.sudo_password.clone()) {
            let mut input = Zeroizing::new(pw.expose().as_bytes().to_vec());
            input.push(b'\n');
            let check = self.session.exec("sudo -k -S -p '' true", &input)?;
            if check.status == 0 {
                Sudo::WithPassword
            } else {
                Sudo::Unavailable
            }
        } else {
            Sudo::Unavailable
        };
        self.sudo = Some(mode);
        Ok(mode)
    }

    /// Whether `privileged` can run anything.
    fn can_be_root(&mut self) -> ConnectorResult<bool> {
        Ok(self.is_root || self.sudo_mode()? != Sudo::Unavailable)
    }

    /// Runs `command` as root (directly, or through sudo); `input` goes to its stdin.
    fn privileged(&mut self, command: &str, input: &[u8]) -> ConnectorResult<ExecOutput> {
        if self.is_root {
            return self.session.exec(command, input);
        }
        match self.sudo_mode()? {
            Sudo::NoPassword => self.session.exec(&format!("sudo -n {command}"), input),
            Sudo::WithPassword => {
                let pw = self.sudo_password.clone().unwrap_or_else(|| Password::new(""));
                let mut stdin = Zeroizing::new(pw.expose().as_bytes().to_vec());
                stdin.push(b'\n');
                stdin.extend_from_slice(input);
                self.session.exec(&format!("sudo -k -S -p '' {command}"), &stdin)
            }
            Sudo::Unavailable => Err(ConnectorError::InsufficientAccess {
                target: self.target(),
                detail: format!("`{}` is neither root nor allowed to use sudo", self.login_user),
            }),
        }
    }

    fn list_accounts(&mut self) -> ConnectorResult<Vec<AccountInfo>> {
        let passwd = self.session.exec("getent passwd", b"")?;
        if passwd.status != 0 {
            return Err(ConnectorError::UnexpectedOutput {
                target: self.target(),
                during: format!("listing accounts (`getent passwd` exited {})", passwd.status),
                last_lines: super::session::last_lines(&passwd.stderr, 6),
            });
        }
        // getent exits 2 when some of the groups do not exist; the others are still printed.
        let groups = self
            .session
            .exec(&format!("getent group {}", NOTABLE_GROUPS.join(" ")), b"")?;
        let shadow = if self.can_be_root()? {
            let out = self.privileged("getent shadow", b"")?;
            (out.status == 0).then(|| Zeroizing::new(out.stdout))
        } else {
            None
        };
        Ok(parse_accounts(
            &passwd.stdout,
            &groups.stdout,
            shadow.as_deref().map(String::as_str),
        ))
    }

    /// The account's shadow hash, to restore it on rollback.
    /// Reads the current hash (for rollback) and sets the new password in one exec channel: each
    /// channel costs sshd a fork and a shell. `chpasswd` runs only if the hash was read.
    fn shadow_hash_then_chpasswd(&mut self, account: &str, new: &Password) -> ConnectorResult<Zeroizing<String>> {
        let mut input = Zeroizing::new(format!("{account}:{}\n", new.expose()).into_bytes());
        let command = format!("sh -c 'getent shadow {account} && exec chpasswd'");
        let out = self.privileged(&command, &input)?;
        input.iter_mut().for_each(|b| *b = 0);
        let line = Zeroizing::new(out.stdout.clone());
        let hash = line
            .lines()
            .find(|l| l.starts_with(&format!("{account}:")))
            .and_then(|l| l.split(':').nth(1))
            .map(|h| Zeroizing::new(h.to_string()));
        let Some(hash) = hash else {
            // getent found nothing (or could not run): chpasswd did not run either.
            return Err(ConnectorError::UnexpectedOutput {
                target: self.target(),
                during: format!("reading the current password hash of `{account}`"),
                last_lines: format!("exit {}: {}", out.status, super::session::last_lines(&out.stderr, 3)),
            });
        };
        check_change(&self.target(), account, "chpasswd", &out)?;
        Ok(hash)
    }

    fn chpasswd(&mut self, account: &str, value: &str, encrypted: bool) -> ConnectorResult<()> {
        let mut input = Zeroizing::new(format!("{account}:{value}\n").into_bytes());
        let command = if encrypted { "chpasswd -e" } else { "chpasswd" };
        let out = self.privileged(command, &input)?;
        input.iter_mut().for_each(|b| *b = 0);
        check_change(&self.target(), account, command, &out)
    }

    fn passwd_self(&mut self, account: &str, current: &Password, new: &Password) -> ConnectorResult<()> {
        let input = Zeroizing::new(format!("{}\n{}\n{}\n", current.expose(), new.expose(), new.expose()));
        let out = self.session.exec("passwd", input.as_bytes())?;
        check_change(&self.target(), account, "passwd", &out)
    }
}

/// Turns a failed `chpasswd` or `passwd` into the right error.
fn check_change(target: &str, account: &str, command: &str, out: &ExecOutput) -> ConnectorResult<()> {
    if out.status == 0 {
        return Ok(());
    }
    let said = format!("{}\n{}", out.stdout, out.stderr);
    let lower = said.to_lowercase();
    let said = super::session::last_lines(&said, 4);
    if command == "passwd"
        && (lower.contains("authentication token manipulation") || lower.contains("authentication failure"))
    {
        return Err(ConnectorError::AuthFailed {
            target: target.to_string(),
            user: account.to_string(),
        });
    }
    if lower.contains("sudo") && (lower.contains("incorrect password") || lower.contains("not in the sudoers")) {
        return Err(ConnectorError::InsufficientAccess {
            target: target.to_string(),
            detail: said,
        });
    }
    if [
        "bad password",
        "unchanged",
        "too similar",
        "too short",
        "too simple",
        "dictionary",
        "palindrome",
    ]
    .iter()
    .any(|w| lower.contains(w))
    {
        return Err(ConnectorError::PasswordRejected {
            target: target.to_string(),
            reason: said,
        });
    }
    Err(ConnectorError::UnexpectedOutput {
        target: target.to_string(),
        during: format!(
            "changing the password of `{account}` (`{command}` exited {})",
            out.status
        ),
        last_lines: said,
    })
}

/// Builds the account list from `getent passwd`, `getent group` and, when readable, `getent shadow`.
/// Listed: root-equivalent accounts, regular users (uid >= 1000) and every admin-group member.
pub fn parse_accounts(passwd: &str, groups: &str, shadow: Option<&str>) -> Vec<AccountInfo> {
    struct Group {
        gid: String,
        members: BTreeSet<String>,
    }
    let groups: BTreeMap<String, Group> = groups
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.trim().split(':').collect();
            (f.len() >= 4).then(|| {
                (
                    f[0].to_string(),
                    Group {
                        gid: f[2].to_string(),
                        members: f[3].split(',').filter(|m| !m.is_empty()).map(str::to_string).collect(),
                    },
                )
            })
        })
        .collect();
    let shadow: HashMap<&str, &str> = shadow
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            Some((f.next()?, f.next()?))
        })
        .collect();
    let shadow_known = !shadow.is_empty();

    let mut out = Vec::new();
    for line in passwd.lines() {
        let f: Vec<&str> = line.trim().split(':').collect();
        if f.len() < 7 {
            continue;
        }
        let (name, uid, gid, gecos, home, shell) = (f[0], f[2], f[3], f[4], f[5], f[6]);
        let Ok(uid_n) = uid.parse::<u64>() else { continue };
        let member_of: Vec<&str> = NOTABLE_GROUPS
            .iter()
            .copied()
            .filter(|g| {
                groups
                    .get(*g)
                    .is_some_and(|grp| grp.members.contains(name) || grp.gid == gid)
            })
            .collect();
        let admin_group = member_of.iter().find(|g| ADMIN_GROUPS.contains(g));
        let admin = uid_n == 0 || admin_group.is_some();
        let regular = uid_n >= 1000 && uid_n != 65534;
        if !(admin || regular) {
            continue;
        }
        let privilege = if uid_n == 0 {
            "uid 0".to_string()
        } else if let Some(g) = admin_group {
            format!("group {g}")
        } else {
            "user".to_string()
        };
        let no_shell = shell.ends_with("/nologin") || shell.ends_with("/false");
        let password_state = shadow.get(name).map(|h| {
            if h.starts_with('!') {
                "locked"
            } else if h.is_empty() || *h == "*" {
                "none"
            } else {
                "set"
            }
        });
        let enabled = !no_shell && password_state != Some("locked");
        let mut details = BTreeMap::new();
        details.insert("uid".into(), serde_json::json!(uid_n));
        details.insert("shell".into(), serde_json::json!(shell));
        details.insert("home".into(), serde_json::json!(home));
        if !gecos.is_empty() {
            details.insert("gecos".into(), serde_json::json!(gecos));
        }
        if !member_of.is_empty() {
            details.insert("groups".into(), serde_json::json!(member_of));
        }
        details.insert(
            "password".into(),
            serde_json::json!(match (password_state, shadow_known) {
                (Some(s), _) => s,
                (None, true) => "no shadow entry",
                (None, false) => "unknown (shadow not readable)",
            }),
        );
        out.push(AccountInfo {
            name: name.to_string(),
            kind: AccountKind::User,
            privilege,
            admin,
            enabled,
            details,
        });
    }
    out
}

/// Account names go into command lines: only plain names are accepted.
fn check_account_name(target: &str, account: &str) -> ConnectorResult<()> {
    let ok = !account.is_empty()
        && !account.starts_with('-')
        && account
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ConnectorError::Unsafe {
            target: target.to_string(),
            reason: format!("`{account}` is not a plain Linux account name"),
        })
    }
}

fn check_password_text(target: &str, password: &Password) -> ConnectorResult<()> {
    if password.expose().contains(['\n', '\r', '\0']) {
        return Err(ConnectorError::PasswordRejected {
            target: target.to_string(),
            reason: "a password with a line break cannot be passed on stdin".into(),
        });
    }
    Ok(())
}

impl Connector for LinuxConnector {
    fn name(&self) -> &str {
        &self.endpoint.name
    }

    fn password_rules(&self, _account: &str) -> PasswordRules {
        PasswordRules::default()
    }

    fn change_method(&self, login_user: &str, account: &str) -> ChangeMethod {
        if login_user == account && login_user != "root" {
            ChangeMethod::SelfChange
        } else {
            ChangeMethod::AdminReset
        }
    }

    fn describe_change(&self, account: &str, method: ChangeMethod) -> Vec<String> {
        match method {
            ChangeMethod::SelfChange => vec![format!(
                "passwd   # as {account}; stdin: ******** / ******** / ********"
            )],
            _ => vec![format!(
                "sh -c 'getent shadow {account} && exec chpasswd'   # as root or through sudo -S; \
                 the hash is saved for rollback; stdin: {account}:********"
            )],
        }
    }

    fn list_accounts(&self, login: &Credentials) -> ConnectorResult<Vec<AccountInfo>> {
        let mut host = self.login(login)?;
        let accounts = host.list_accounts();
        host.session.close();
        accounts
    }

    fn open(&self, login: &Credentials) -> ConnectorResult<Box<dyn ChangeSession>> {
        let host = self.login(login)?;
        Ok(Box::new(LinuxChangeSession {
            host,
            undo: HashMap::new(),
        }))
    }

    fn verify(&self, _login: &Credentials, account: &str, password: &Password) -> ConnectorResult<Verification> {
        SshSession::try_password(&self.endpoint, account, password)
    }
}

/// How to undo one unsaved change.
enum Undo {
    /// The shadow hash read before the change (restored with `chpasswd -e`).
    Hash(Zeroizing<String>),
    /// The account changed its own password to this one; `passwd` sets the old one back.
    SelfChanged(Password),
}

/// A logged-in host held open across change, verify and save or rollback.
struct LinuxChangeSession {
    host: Host,
    undo: HashMap<String, Undo>,
}

impl ChangeSession for LinuxChangeSession {
    fn change_password(
        &mut self,
        account: &str,
        method: ChangeMethod,
        old: &Password,
        new: &Password,
    ) -> ConnectorResult<()> {
        let target = self.host.target();
        check_account_name(&target, account)?;
        check_password_text(&target, new)?;
        self.host.session.add_secret(old);
        self.host.session.add_secret(new);
        let as_root = self.host.is_root || (account != self.host.login_user && self.host.can_be_root()?);
        if as_root {
            let hash = self.host.shadow_hash_then_chpasswd(account, new)?;
            self.undo.insert(account.to_string(), Undo::Hash(hash));
            return Ok(());
        }
        if account == self.host.login_user || method == ChangeMethod::SelfChange {
            if account != self.host.login_user {
                return Err(ConnectorError::InsufficientAccess {
                    target,
                    detail: format!("only `{}` itself can be changed without root", self.host.login_user),
                });
            }
            self.host.passwd_self(account, old, new)?;
            self.undo.insert(account.to_string(), Undo::SelfChanged(new.clone()));
            return Ok(());
        }
        Err(ConnectorError::InsufficientAccess {
            target,
            detail: format!(
                "`{}` is neither root nor allowed to use sudo, so it cannot change `{account}`",
                self.host.login_user
            ),
        })
    }

    fn save(&mut self) -> ConnectorResult<()> {
        // chpasswd and passwd write /etc/shadow at once: nothing to commit.
        self.undo.clear();
        Ok(())
    }

    fn rollback(&mut self, account: &str, old: &Password) -> ConnectorResult<()> {
        self.host.session.add_secret(old);
        match self.undo.remove(account) {
            Some(Undo::Hash(hash)) => self.host.chpasswd(account, &hash, true),
            Some(Undo::SelfChanged(current)) => self.host.passwd_self(account, &current, old),
            None => Err(ConnectorError::Protocol {
                target: self.host.target(),
                detail: format!("no unsaved change of `{account}` to roll back in this session"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
sshd:x:100:65534::/run/sshd:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash
bob:x:1001:1001::/home/bob:/bin/sh
svc:x:998:998::/srv:/usr/sbin/nologin
carol:x:1002:10::/home/carol:/bin/bash
broken line
";
    const GROUP: &str = "sudo:x:27:alice
wheel:x:10:
adm:x:4:syslog,bob
root:x:0:
";

    #[test]
    fn admin_is_uid_0_or_sudo_or_wheel_member() {
        let accounts = parse_accounts(
            PASSWD,
            GROUP,
            Some("root:*:19000::::::\nalice:$y$j9T$abc:19000::::::\nbob:!$y$j9T$x:1::::::\n"),
        );
        let names: Vec<_> = accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["root", "alice", "bob", "carol"]);
        let by = |n: &str| accounts.iter().find(|a| a.name == n).unwrap();
        assert!(by("root").admin);
        assert_eq!(by("root").privilege, "uid 0");
        assert!(by("alice").admin);
        assert_eq!(by("alice").privilege, "group sudo");
        assert!(!by("bob").admin, "adm is not an admin group");
        assert!(!by("bob").enabled, "bob's password is locked");
        assert_eq!(by("bob").details["groups"], serde_json::json!(["adm"]));
        assert!(by("carol").admin, "primary group wheel");
        assert_eq!(by("alice").details["password"], "set");
        assert_eq!(by("carol").details["password"], "no shadow entry");
    }

    #[test]
    fn without_shadow_the_password_state_is_unknown() {
        let accounts = parse_accounts(PASSWD, GROUP, None);
        assert!(accounts
            .iter()
            .all(|a| a.details["password"] == "unknown (shadow not readable)"));
        assert!(accounts.iter().find(|a| a.name == "bob").unwrap().enabled);
    }

    #[test]
    fn refuses_account_names_that_could_reach_the_shell() {
        assert!(check_account_name("t", "alice").is_ok());
        for bad in ["-e", "a b", "a;rm", "$(x)", ""] {
            assert!(check_account_name("t", bad).is_err(), "{bad}");
        }
    }
}
