//! Linux hosts over exec channels (no shell parsing): accounts from `getent`, administrators from
//! uid 0, the admin groups and what sudoers itself grants (`sudo -ll -U USER` as root, so per-user
//! and custom-group rules count), password changes by `chpasswd` as root or through `sudo`, or
//! `passwd` for the login account itself. Secrets only ever travel on stdin, never in a command
//! line. Before an admin reset the account's shadow hash is saved so that a rollback restores it
//! exactly (`chpasswd -e`), unless the login's sudo rules forbid `chpasswd -e`: then the rollback
//! sets the old password again.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use zeroize::Zeroizing;

use super::session::{Auth, Endpoint, ExecOutput, SshSession};
use crate::connector::{
    AccountInfo, AccountKind, ChangeMethod, ChangeSession, ConnectContext, Connector, ConnectorError, ConnectorResult,
    Credentials, PasswordRules, Verification,
};
use crate::inventory::{LoginMethod, Target};
use crate::secret::Password;

/// Groups whose members are administrators (the distributions' stock sudoers rules; `wheel` is
/// also pam_wheel's `su` group).
const ADMIN_GROUPS: [&str; 3] = ["sudo", "wheel", "admin"];
/// Groups worth showing next to an account.
const NOTABLE_GROUPS: [&str; 5] = ["sudo", "wheel", "admin", "adm", "root"];

/// Lists every account named on stdin (one a line) with `sudo -ll -U`, as root: sudo evaluates
/// sudoers itself (includes, aliases, groups, LDAP), so no rule is missed by a parser of ours.
/// Its stdin is [`sudo_list_all_input`]: under `sudo -S` the sudo password line comes first, and
/// should sudo leave it unread, everything up to [`NAMES_START`] is skipped, so the password can
/// never be taken for an account name and reach `sudo -U`'s command line. Only plain account names
/// are listed (never the marker itself).
const SUDO_LIST_ALL: &str = "sh -c 'while IFS= read -r u; do case \"$u\" in ==keyreeve-names==) break;; esac; done; \
     while IFS= read -r u; do case \"$u\" in \"\"|-*|*[!A-Za-z0-9._-]*) continue;; esac; \
     printf \"\\n%s %s\\n\" \"==keyreeve-sudo\" \"$u\"; LC_ALL=C sudo -n -ll -U \"$u\" 2>&1; done; true'";
/// The line that starts the account names on [`SUDO_LIST_ALL`]'s stdin (not a plain account name).
const NAMES_START: &str = "==keyreeve-names==";
/// Marks the start of one account's listing in [`SUDO_LIST_ALL`]'s output.
const SUDO_MARK: &str = "==keyreeve-sudo ";
/// What the login account may do, as far as it can tell without a password.
const SUDO_LIST_SELF: &str = "LC_ALL=C sudo -n -ll";

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
            sudo_commands: Vec::new(),
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
    /// NOPASSWD rules for some commands only (e.g. `/usr/sbin/chpasswd`), as `sudo -n -ll` lists
    /// them: each is run on its own, by the path its rule names.
    Limited,
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
    /// The commands a [`Sudo::Limited`] login may run as root.
    sudo_commands: Vec<String>,
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
        let in_admin_group = groups.stdout.split_whitespace().any(|g| ADMIN_GROUPS.contains(&g));
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
        let mode = if mode == Sudo::Unavailable {
            // NOPASSWD rules for some commands: sudo lists them without a password (when any rule
            // is NOPASSWD), and only those can run through `sudo -n`.
            let own = self.session.exec(SUDO_LIST_SELF, b"")?;
            let commands = nopasswd_root_commands(&own.stdout);
            if commands.is_empty() {
                Sudo::Unavailable
            } else {
                self.sudo_commands = commands;
                Sudo::Limited
            }
        } else {
            mode
        };
        self.sudo = Some(mode);
        Ok(mode)
    }

    /// Whether `privileged` can run anything.
    fn can_be_root(&mut self) -> ConnectorResult<bool> {
        Ok(self.is_root || matches!(self.sudo_mode()?, Sudo::NoPassword | Sudo::WithPassword))
    }

    /// For a [`Sudo::Limited`] login: the path of a command named `program` that its rules let it
    /// run as root with exactly `args`.
    fn limited_path(&mut self, program: &str, args: &str) -> ConnectorResult<Option<String>> {
        if self.is_root || self.sudo_mode()? != Sudo::Limited {
            return Ok(None);
        }
        Ok(self
            .sudo_commands
            .iter()
            .find_map(|rule| sudo_rule_allows(rule, program, args)))
    }

    /// Runs `program args` as root through a [`Sudo::Limited`] rule, if one allows it.
    fn limited(&mut self, program: &str, args: &str, input: &[u8]) -> ConnectorResult<Option<ExecOutput>> {
        let Some(path) = self.limited_path(program, args)? else {
            return Ok(None);
        };
        // The path came from the device: it reaches the command line only if plainly a path.
        if path != program && !is_plain_command_path(&path) {
            return Ok(None);
        }
        let command = format!("sudo -n {path} {args}");
        self.session.exec(command.trim_end(), input).map(Some)
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
            Sudo::Limited | Sudo::Unavailable => Err(ConnectorError::InsufficientAccess {
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
            self.limited_shadow(&passwd.stdout)?
        };
        let sudo = self.sudo_rights(&passwd.stdout)?;
        Ok(parse_accounts(
            &passwd.stdout,
            &groups.stdout,
            shadow.as_deref().map(String::as_str),
            &sudo,
        ))
    }

    /// `getent shadow` through a [`Sudo::Limited`] rule: whole, or (`getent shadow *` rules) by
    /// naming every account, which getent takes as several keys in one run.
    fn limited_shadow(&mut self, passwd: &str) -> ConnectorResult<Option<Zeroizing<String>>> {
        let names: Vec<&str> = passwd
            .lines()
            .filter_map(|l| l.split(':').next())
            .filter(|n| check_account_name("", n).is_ok())
            .collect();
        let named = format!("shadow {}", names.join(" "));
        for args in ["shadow", named.as_str()] {
            if let Some(out) = self.limited("getent", args, b"")? {
                // Exit 2: some account has no shadow entry; the others are still printed.
                if out.status == 0 || (out.status == 2 && !out.stdout.is_empty()) {
                    return Ok(Some(Zeroizing::new(out.stdout)));
                }
            }
        }
        Ok(None)
    }

    /// What sudoers grants each account in `passwd`: all of them when the login can be root;
    /// otherwise only the login's own rights, if sudo shows them without a password.
    fn sudo_rights(&mut self, passwd: &str) -> ConnectorResult<HashMap<String, SudoAccess>> {
        if self.can_be_root()? {
            let out = self.privileged(SUDO_LIST_ALL, sudo_list_all_input(passwd).as_bytes())?;
            if out.status == 0 {
                return Ok(parse_sudo_list_all(&out.stdout));
            }
        }
        let mut known = HashMap::new();
        let own = self.session.exec(SUDO_LIST_SELF, b"")?;
        // Without a password sudo lists only when none of the rules needs one; else: unknown.
        let own = parse_sudo_listing(&format!("{}\n{}", own.stdout, own.stderr));
        known.insert(self.login_user.clone(), own);
        Ok(known)
    }

    /// The account's shadow hash, to restore it on rollback.
    /// Reads the current hash (for rollback) and sets the new password in one exec channel: each
    /// channel costs sshd a fork and a shell. `chpasswd` runs only if the hash was read.
    fn shadow_hash_then_chpasswd(&mut self, account: &str, new: &Password) -> ConnectorResult<Zeroizing<String>> {
        let mut input = Zeroizing::new(format!("{account}:{}\n", new.expose()).into_bytes());
        let command = format!("sh -c 'getent shadow {account} && exec chpasswd'");
        let out = self.privileged(&command, &input)?;
        input.iter_mut().for_each(|b| *b = 0);
        let Some(hash) = shadow_hash(&out.stdout, account) else {
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
        let args = if encrypted { "-e" } else { "" };
        let command = format!("chpasswd {args}");
        let command = command.trim_end();
        let out = match self.limited("chpasswd", args, &input)? {
            Some(out) => out,
            None => self.privileged(command, &input)?,
        };
        input.iter_mut().for_each(|b| *b = 0);
        check_change(&self.target(), account, command, &out)
    }

    /// A [`Sudo::Limited`] login's reset: the current hash is read first when rules allow both
    /// `getent shadow ACCOUNT` and `chpasswd -e` (which restores it); otherwise the rollback sets
    /// the old password again.
    fn limited_reset(&mut self, account: &str, new: &Password) -> ConnectorResult<Undo> {
        let getent = format!("shadow {account}");
        let can_restore_hash = self.limited_path("chpasswd", "-e")?.is_some();
        let read = if can_restore_hash {
            self.limited("getent", &getent, b"")?
        } else {
            None
        };
        let hash = read.and_then(|out| shadow_hash(&out.stdout, account));
        self.chpasswd(account, new.expose(), false)?;
        Ok(match hash {
            Some(h) => Undo::Hash(h),
            None => Undo::OldPassword,
        })
    }

    fn passwd_self(&mut self, account: &str, current: &Password, new: &Password) -> ConnectorResult<()> {
        let input = Zeroizing::new(format!("{}\n{}\n{}\n", current.expose(), new.expose(), new.expose()));
        let out = self.session.exec("passwd", input.as_bytes())?;
        check_change(&self.target(), account, "passwd", &out)
    }
}

/// What sudoers lets one account do, as `sudo -ll` tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SudoAccess {
    /// No sudoers entry for the account.
    None,
    /// Commands it may run as root (`ALL` for everything); `nopasswd` when some need no password.
    AsRoot { commands: Vec<String>, nopasswd: bool },
    /// Entries, but none that runs as root (e.g. `(nobody) ALL`).
    OtherUsers,
    /// Not known: the login account can read neither sudoers nor another account's rights.
    Unknown,
}

impl SudoAccess {
    fn is_root(&self) -> bool {
        matches!(self, SudoAccess::AsRoot { .. })
    }
}

/// One entry of a `sudo -ll` listing (`Sudoers entry:` or `LDAP Role:`): sudo starts a new one
/// whenever the run-as users or the tags (NOPASSWD among them) change.
#[derive(Debug, Default)]
struct SudoEntry {
    users: Option<Vec<String>>,
    groups: bool,
    commands: Vec<String>,
    nopasswd: bool,
}

impl SudoEntry {
    fn runs_as_root(&self) -> bool {
        match &self.users {
            // No runas user: root, unless only a group is given (then the user's own uid).
            None => !self.groups,
            Some(users) => {
                let excluded = users.iter().any(|u| u == "!root" || u == "!#0");
                !excluded && users.iter().any(|u| u == "ALL" || u == "root" || u == "#0")
            }
        }
    }
}

/// The entries of a `LC_ALL=C sudo -ll [-U USER]` listing; None when `text` is no listing.
fn sudo_listing_entries(text: &str) -> Option<Vec<SudoEntry>> {
    let (_, entries) = text.split_once("may run the following commands")?;
    let mut all: Vec<SudoEntry> = Vec::new();
    let mut in_commands = false;
    for line in entries.lines().skip(1) {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        // `Sudoers entry:` (or `Sudoers entry: FILE`, `LDAP Role: NAME`) starts an entry.
        if !line.starts_with([' ', '\t']) {
            all.push(SudoEntry::default());
            in_commands = false;
            continue;
        }
        let Some(entry) = all.last_mut() else { continue };
        let list = |v: &str| -> Vec<String> { v.split(',').map(|x| x.trim().to_string()).collect() };
        if let Some(v) = trimmed.strip_prefix("RunAsUsers:") {
            entry.users = Some(list(v));
        } else if trimmed.starts_with("RunAsGroups:") {
            entry.groups = true;
        } else if let Some(v) = trimmed.strip_prefix("Options:") {
            entry.nopasswd |= list(v).iter().any(|o| o == "!authenticate");
        } else if trimmed == "Commands:" {
            in_commands = true;
        } else if in_commands {
            entry.commands.push(trimmed.to_string());
        }
    }
    Some(all)
}

/// Reads one account's `LC_ALL=C sudo -ll [-U USER]` output.
pub fn parse_sudo_listing(text: &str) -> SudoAccess {
    let no_sudo_installed = text.contains("sudo: not found") || text.contains("sudo: command not found");
    if no_sudo_installed || text.contains("is not allowed to run sudo") || text.contains("may not run sudo") {
        return SudoAccess::None;
    }
    let Some(all) = sudo_listing_entries(text) else {
        return SudoAccess::Unknown;
    };
    let mut commands = Vec::new();
    let mut nopasswd = false;
    for e in all.iter().filter(|e| !e.commands.is_empty() && e.runs_as_root()) {
        nopasswd |= e.nopasswd;
        for c in &e.commands {
            if !commands.contains(c) {
                commands.push(c.clone());
            }
        }
    }
    if !commands.is_empty() {
        SudoAccess::AsRoot { commands, nopasswd }
    } else if all.is_empty() {
        SudoAccess::Unknown
    } else {
        SudoAccess::OtherUsers
    }
}

/// The commands a login may run as root without a password (`sudo -n`), from its own `sudo -ll`
/// listing: commands of entries that need a password are of no use to `sudo -n`.
fn nopasswd_root_commands(text: &str) -> Vec<String> {
    let mut commands: Vec<String> = Vec::new();
    for e in sudo_listing_entries(text).unwrap_or_default() {
        if e.nopasswd && e.runs_as_root() {
            for c in e.commands {
                if !commands.contains(&c) {
                    commands.push(c);
                }
            }
        }
    }
    commands
}

/// Whether the sudoers command `rule` (as `sudo -ll` prints it: `ALL`, `/usr/sbin/chpasswd`,
/// `/usr/bin/getent shadow *`, `/usr/sbin/chpasswd ""`) lets `program` run with exactly `args`;
/// the path to run it by if so. Arguments match as sudoers does: none given allows any, `""`
/// allows none, `*` and `?` are wildcards.
pub fn sudo_rule_allows(rule: &str, program: &str, args: &str) -> Option<String> {
    let rule = rule.trim();
    if rule == "ALL" {
        return Some(program.to_string());
    }
    if rule.starts_with('!') {
        return None;
    }
    let (path, rule_args) = match rule.split_once(char::is_whitespace) {
        Some((p, a)) => (p, Some(a.trim())),
        None => (rule, None),
    };
    // The path is the device's word and goes into a command line: nothing a shell could expand.
    if !is_plain_command_path(path) || path.rsplit('/').next() != Some(program) {
        return None;
    }
    let allowed = match rule_args {
        None => true,
        Some("\"\"") => args.is_empty(),
        Some(pattern) => crate::policy::glob_match(pattern, args),
    };
    allowed.then(|| path.to_string())
}

/// Whether `path` is an absolute path of letters, digits and `._+/-` only (`^/[A-Za-z0-9._+/-]+$`).
fn is_plain_command_path(path: &str) -> bool {
    path.len() > 1
        && path.starts_with('/')
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'/' | b'-'))
}

/// `account`'s password hash in `getent shadow` output (field 2 of its line).
fn shadow_hash(getent_out: &str, account: &str) -> Option<Zeroizing<String>> {
    getent_out
        .lines()
        .find(|l| l.strip_prefix(account).is_some_and(|rest| rest.starts_with(':')))
        .and_then(|l| l.split(':').nth(1))
        .map(|h| Zeroizing::new(h.to_string()))
}

/// [`SUDO_LIST_ALL`]'s stdin (after the sudo password line, if any): the marker, then every plain
/// account name in `passwd`, one a line.
fn sudo_list_all_input(passwd: &str) -> String {
    let mut input = format!("{NAMES_START}\n");
    for name in passwd
        .lines()
        .filter_map(|l| l.split(':').next())
        .filter(|n| check_account_name("", n).is_ok())
    {
        input.push_str(name);
        input.push('\n');
    }
    input
}

/// Splits [`SUDO_LIST_ALL`]'s output into each account's rights (public for the property tests
/// of what hosts send back).
pub fn parse_sudo_list_all(text: &str) -> HashMap<String, SudoAccess> {
    let mut out = HashMap::new();
    let mark = format!("\n{SUDO_MARK}");
    let mut parts = text.split(&mark);
    // Whatever comes before the first mark is not an account's listing.
    parts.next();
    for part in parts {
        let (name, body) = part.split_once('\n').unwrap_or((part, ""));
        out.insert(name.trim().to_string(), parse_sudo_listing(body));
    }
    out
}

/// Turns a failed `chpasswd` or `passwd` into the right error, naming `target` (public for the
/// property tests of what hosts send back).
pub fn check_change(target: &str, account: &str, command: &str, out: &ExecOutput) -> ConnectorResult<()> {
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

/// Builds the account list from `getent passwd`, `getent group`, when readable `getent shadow`,
/// and what sudoers grants each account (an account missing from `sudo` has unknown rights).
/// Listed: root-equivalent accounts, regular users (uid >= 1000), every admin-group member and
/// every account sudoers lets run commands as root.
pub fn parse_accounts(
    passwd: &str,
    groups: &str,
    shadow: Option<&str>,
    sudo: &HashMap<String, SudoAccess>,
) -> Vec<AccountInfo> {
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
        let rights = sudo.get(name).unwrap_or(&SudoAccess::Unknown);
        let admin = uid_n == 0 || admin_group.is_some() || rights.is_root();
        let regular = uid_n >= 1000 && uid_n != 65534;
        if !(admin || regular) {
            continue;
        }
        let privilege = if uid_n == 0 {
            "uid 0".to_string()
        } else if let Some(g) = admin_group {
            format!("group {g}")
        } else {
            match rights {
                SudoAccess::AsRoot { commands, .. } if commands.iter().any(|c| c == "ALL") => {
                    "sudoers: ALL as root".to_string()
                }
                SudoAccess::AsRoot { commands, .. } => format!("sudoers: {} as root", commands.join(", ")),
                SudoAccess::Unknown => "user (sudo rights unknown)".to_string(),
                SudoAccess::None | SudoAccess::OtherUsers => "user".to_string(),
            }
        };
        let no_shell = shell.ends_with("/nologin") || shell.ends_with("/false");
        let password_state = shadow.get(name).map(|h| {
            if h.starts_with('!') {
                "locked"
            } else if h.is_empty() {
                // No password at all: where PAM allows `nullok`, anyone logs in with none.
                "empty"
            } else if *h == "*" {
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
            "sudo".into(),
            match rights {
                SudoAccess::AsRoot { commands, nopasswd } => {
                    serde_json::json!({ "as_root": commands, "nopasswd": nopasswd })
                }
                SudoAccess::None => serde_json::json!("none"),
                SudoAccess::OtherUsers => serde_json::json!("not as root"),
                SudoAccess::Unknown => serde_json::json!("unknown (sudoers is readable only as root)"),
            },
        );
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
                "sh -c 'getent shadow {account} && exec chpasswd'   # as root or through sudo -S \
                 (a login whose sudo rules allow only chpasswd and getent runs each alone); \
                 the hash is saved for rollback; stdin: {account}:********"
            )],
        }
    }

    fn list_accounts(&self, login: &Credentials) -> ConnectorResult<Vec<AccountInfo>> {
        let mut host = self.login(login)?;
        let accounts = host.list_accounts().map_err(|e| host.session.mask(e));
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
    /// The hash could not be read or could not be restored (a login whose sudo rules allow
    /// `chpasswd` but not `getent shadow`, or not `chpasswd -e`): `chpasswd` sets the old password
    /// (given to the rollback) again.
    OldPassword,
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
        self.host.session.add_secret(old);
        self.host.session.add_secret(new);
        let changed = self.change_unmasked(account, method, old, new);
        changed.map_err(|e| self.host.session.mask(e))
    }

    fn save(&mut self) -> ConnectorResult<()> {
        // chpasswd and passwd write /etc/shadow at once: nothing to commit.
        self.undo.clear();
        Ok(())
    }

    fn rollback(&mut self, account: &str, old: &Password) -> ConnectorResult<()> {
        self.host.session.add_secret(old);
        let rolled_back = match self.undo.remove(account) {
            Some(Undo::Hash(hash)) => self.host.chpasswd(account, &hash, true),
            Some(Undo::SelfChanged(current)) => self.host.passwd_self(account, &current, old),
            Some(Undo::OldPassword) => self.host.chpasswd(account, old.expose(), false),
            None => Err(ConnectorError::Protocol {
                target: self.host.target(),
                detail: format!("no unsaved change of `{account}` to roll back in this session"),
            }),
        };
        rolled_back.map_err(|e| self.host.session.mask(e))
    }
}

impl LinuxChangeSession {
    /// The change itself; its errors leave through [`SshSession::mask`].
    fn change_unmasked(
        &mut self,
        account: &str,
        method: ChangeMethod,
        old: &Password,
        new: &Password,
    ) -> ConnectorResult<()> {
        let target = self.host.target();
        check_account_name(&target, account)?;
        check_password_text(&target, new)?;
        let as_root = self.host.is_root || (account != self.host.login_user && self.host.can_be_root()?);
        if as_root {
            let hash = self.host.shadow_hash_then_chpasswd(account, new)?;
            self.undo.insert(account.to_string(), Undo::Hash(hash));
            return Ok(());
        }
        if account != self.host.login_user && self.host.limited_path("chpasswd", "")?.is_some() {
            let undo = self.host.limited_reset(account, new)?;
            self.undo.insert(account.to_string(), undo);
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
            &HashMap::new(),
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
        let accounts = parse_accounts(PASSWD, GROUP, None, &HashMap::new());
        assert!(accounts
            .iter()
            .all(|a| a.details["password"] == "unknown (shadow not readable)"));
        assert!(accounts.iter().find(|a| a.name == "bob").unwrap().enabled);
    }

    const DEFAULTS: &str = "Matching Defaults entries for u on vm:\n    env_reset, mail_badpass,\n    use_pty\n\n";

    fn listing(user: &str, entries: &str) -> String {
        format!("{DEFAULTS}User {user} may run the following commands on vm:\n\n{entries}")
    }

    #[test]
    fn sudo_listings_tell_who_runs_commands_as_root() {
        let all = listing(
            "u",
            "Sudoers entry: /etc/sudoers.d/x\n    RunAsUsers: ALL\n    Options: !authenticate\n    Commands:\n\tALL\n",
        );
        assert_eq!(
            parse_sudo_listing(&all),
            SudoAccess::AsRoot {
                commands: vec!["ALL".into()],
                nopasswd: true
            }
        );
        let limited = listing(
            "u",
            "Sudoers entry:\n    RunAsUsers: root\n    Commands:\n\t/usr/bin/systemctl\n\t/usr/sbin/reboot\n\n\
             Sudoers entry:\n    RunAsUsers: nobody\n    Commands:\n\tALL\n",
        );
        assert_eq!(
            parse_sudo_listing(&limited),
            SudoAccess::AsRoot {
                commands: vec!["/usr/bin/systemctl".into(), "/usr/sbin/reboot".into()],
                nopasswd: false
            }
        );
        // No runas list at all means root; a group alone means the user's own uid.
        let default_runas = listing("u", "Sudoers entry:\n    Commands:\n\t/usr/bin/id\n");
        assert!(parse_sudo_listing(&default_runas).is_root());
        let group_only = listing("u", "Sudoers entry:\n    RunAsGroups: adm\n    Commands:\n\tALL\n");
        assert_eq!(parse_sudo_listing(&group_only), SudoAccess::OtherUsers);
        let not_root = listing(
            "u",
            "Sudoers entry:\n    RunAsUsers: ALL, !root\n    Commands:\n\tALL\n",
        );
        assert_eq!(parse_sudo_listing(&not_root), SudoAccess::OtherUsers);
        let ldap = listing("u", "LDAP Role: ops\n    RunAsUsers: root\n    Commands:\n\tALL\n");
        assert!(parse_sudo_listing(&ldap).is_root());
        assert_eq!(
            parse_sudo_listing("User kr_list is not allowed to run sudo on vm.\n"),
            SudoAccess::None
        );
        assert_eq!(parse_sudo_listing("sh: 1: sudo: not found\n"), SudoAccess::None);
        assert_eq!(
            parse_sudo_listing("sudo: a password is required\n"),
            SudoAccess::Unknown
        );
    }

    #[test]
    fn per_user_and_custom_group_sudoers_rules_make_admins() {
        let out = format!(
            "\n{SUDO_MARK}bob\n{}\n{SUDO_MARK}carol\nUser carol is not allowed to run sudo on vm.\n\n{SUDO_MARK}svc\n{}",
            listing("bob", "Sudoers entry:\n    RunAsUsers: root\n    Commands:\n\t/usr/bin/systemctl\n"),
            listing("svc", "Sudoers entry:\n    RunAsUsers: ALL\n    Commands:\n\tALL\n"),
        );
        let sudo = parse_sudo_list_all(&out);
        assert_eq!(sudo.len(), 3, "{sudo:?}");
        let accounts = parse_accounts(PASSWD, GROUP, None, &sudo);
        let by = |n: &str| accounts.iter().find(|a| a.name == n).unwrap();
        assert!(by("bob").admin);
        assert_eq!(by("bob").privilege, "sudoers: /usr/bin/systemctl as root");
        // A system account with root rights is listed although its uid is below 1000.
        assert!(by("svc").admin);
        assert_eq!(by("svc").privilege, "sudoers: ALL as root");
        assert_eq!(by("svc").details["sudo"]["as_root"], serde_json::json!(["ALL"]));
        assert!(by("carol").admin, "primary group wheel still counts");
        assert_eq!(by("alice").privilege, "group sudo");
        // alice's rights were not listed: unknown, never "none".
        assert_eq!(
            by("alice").details["sudo"],
            "unknown (sudoers is readable only as root)"
        );
        let plain = parse_accounts(
            "dave:x:1003:1003::/home/dave:/bin/bash\n",
            GROUP,
            None,
            &HashMap::from([("dave".to_string(), SudoAccess::None)]),
        );
        assert!(!plain[0].admin);
        assert_eq!(plain[0].privilege, "user");
        let unknown = parse_accounts("dave:x:1003:1003::/home/dave:/bin/bash\n", GROUP, None, &HashMap::new());
        assert_eq!(unknown[0].privilege, "user (sudo rights unknown)");
    }

    #[test]
    fn sudo_rules_allow_commands_as_sudoers_matches_them() {
        let chpasswd = "/usr/sbin/chpasswd";
        assert_eq!(sudo_rule_allows(chpasswd, "chpasswd", "").as_deref(), Some(chpasswd));
        assert_eq!(sudo_rule_allows(chpasswd, "chpasswd", "-e").as_deref(), Some(chpasswd));
        assert_eq!(sudo_rule_allows("ALL", "chpasswd", "-e").as_deref(), Some("chpasswd"));
        assert!(sudo_rule_allows("/usr/sbin/chpasswd \"\"", "chpasswd", "-e").is_none());
        assert!(sudo_rule_allows("/usr/sbin/chpasswd \"\"", "chpasswd", "").is_some());
        assert!(sudo_rule_allows("/usr/sbin/chpasswd -e", "chpasswd", "").is_none());
        assert!(sudo_rule_allows("/usr/bin/passwd", "chpasswd", "").is_none());
        assert!(sudo_rule_allows("/opt/x/notchpasswd", "chpasswd", "").is_none());
        assert!(sudo_rule_allows("!/usr/sbin/chpasswd", "chpasswd", "").is_none());
        let getent = "/usr/bin/getent shadow *";
        assert_eq!(
            sudo_rule_allows(getent, "getent", "shadow alice").as_deref(),
            Some("/usr/bin/getent")
        );
        assert!(sudo_rule_allows(getent, "getent", "shadow").is_none());
        assert!(sudo_rule_allows(getent, "getent", "passwd alice").is_none());
        assert!(sudo_rule_allows("/usr/bin/getent shadow", "getent", "shadow").is_some());
        assert!(sudo_rule_allows("/usr/bin/getent shadow a?ice", "getent", "shadow alice").is_some());
        assert!(
            crate::policy::glob_match("*", "")
                && crate::policy::glob_match("a*b*c", "a b x c")
                && !crate::policy::glob_match("a*b", "a c")
        );
    }

    #[test]
    fn sudo_rules_whose_path_a_shell_could_expand_are_unusable() {
        for bad in [
            "/opt/a;reboot;/chpasswd",
            "/opt/$(id)/chpasswd",
            "/opt/`id`/chpasswd",
            "/opt/a|b/chpasswd",
            "/opt/*/chpasswd",
            "/opt/a'b/chpasswd",
            "/opt/a\\b/chpasswd",
            "/opt/\u{e9}/chpasswd",
        ] {
            assert!(!is_plain_command_path(bad), "{bad}");
            assert!(sudo_rule_allows(bad, "chpasswd", "").is_none(), "{bad}");
            assert!(
                sudo_rule_allows(&format!("{bad} -e"), "chpasswd", "-e").is_none(),
                "{bad}"
            );
        }
        assert!(!is_plain_command_path("/") && !is_plain_command_path("chpasswd"));
        for good in [
            "/usr/sbin/chpasswd",
            "/opt/tools-1.2+x/bin/chpasswd",
            "/usr/local/s_bin/chpasswd",
        ] {
            assert_eq!(sudo_rule_allows(good, "chpasswd", "").as_deref(), Some(good));
        }
    }

    #[test]
    fn limited_sudo_keeps_only_the_commands_that_need_no_password() {
        let mixed = listing(
            "u",
            "Sudoers entry:\n    RunAsUsers: ALL\n    Commands:\n\tALL\n\n\
             Sudoers entry:\n    RunAsUsers: root\n    Options: !authenticate\n    Commands:\n\
             \t/usr/sbin/chpasswd\n\t/usr/bin/getent shadow *\n\n\
             Sudoers entry:\n    RunAsUsers: nobody\n    Options: !authenticate\n    Commands:\n\t/usr/bin/id\n",
        );
        let commands = nopasswd_root_commands(&mixed);
        assert_eq!(commands, ["/usr/sbin/chpasswd", "/usr/bin/getent shadow *"]);
        // `ALL` needs the password: it must not let `chpasswd -e` through `sudo -n`.
        assert!(commands
            .iter()
            .all(|c| sudo_rule_allows(c, "chpasswd", "-e").as_deref() != Some("chpasswd")));
        // Discovery still reports every root right of the account.
        assert_eq!(
            parse_sudo_listing(&mixed),
            SudoAccess::AsRoot {
                commands: vec![
                    "ALL".into(),
                    "/usr/sbin/chpasswd".into(),
                    "/usr/bin/getent shadow *".into()
                ],
                nopasswd: true
            }
        );
        let password_only = listing(
            "u",
            "Sudoers entry:\n    RunAsUsers: root\n    Commands:\n\t/usr/sbin/chpasswd\n",
        );
        assert!(nopasswd_root_commands(&password_only).is_empty());
        assert!(nopasswd_root_commands("sudo: a password is required\n").is_empty());
    }

    /// Runs [`SUDO_LIST_ALL`] locally with a stand-in `sudo` that records its arguments, as a
    /// remote shell would run it, on `stdin`; returns the output and the recorded command lines.
    fn run_sudo_list_all(stdin: &[u8]) -> (String, Vec<String>) {
        use std::io::Write;
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("argv");
        let fake = dir.path().join("sudo");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$*\" >>'{}'\necho \"User $4 is not allowed to run sudo on vm.\"\n",
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(SUDO_LIST_ALL)
            .env("PATH", format!("{}:/usr/bin:/bin", dir.path().display()))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let argv = std::fs::read_to_string(&log).unwrap_or_default();
        (
            String::from_utf8(out.stdout).unwrap(),
            argv.lines().map(str::to_string).collect(),
        )
    }

    #[test]
    fn a_sudo_password_that_sudo_leaves_unread_never_becomes_an_account_name() {
        let input = sudo_list_all_input(PASSWD);
        assert!(input.starts_with(&format!("{NAMES_START}\n")), "{input}");
        assert!(check_account_name("", NAMES_START).is_err());
        let expected: Vec<String> = ["root", "daemon", "sshd", "nobody", "alice", "bob", "svc", "carol"]
            .iter()
            .map(|n| format!("-n -ll -U {n}"))
            .collect();
        // Read by sudo (as it should be), left unread, or a password that looks like an account
        // name or like the marker itself: only the passwd names are ever listed.
        for password_line in ["", "Secret pw\n", "alice2\n", "-e\n", &format!("{NAMES_START}\n")] {
            let stdin = format!("{password_line}{input}");
            let (out, argv) = run_sudo_list_all(stdin.as_bytes());
            assert_eq!(argv, expected, "password line {password_line:?}");
            let rights = parse_sudo_list_all(&out);
            assert_eq!(rights.len(), expected.len(), "{out}");
            assert_eq!(rights.get("alice"), Some(&SudoAccess::None));
            assert!(!rights.contains_key("alice2") && !rights.contains_key(NAMES_START));
        }
    }

    #[test]
    fn refuses_account_names_that_could_reach_the_shell() {
        assert!(check_account_name("t", "alice").is_ok());
        for bad in ["-e", "a b", "a;rm", "$(x)", ""] {
            assert!(check_account_name("t", bad).is_err(), "{bad}");
        }
    }
}
