//! Emulated Cisco IOS / IOS-XE: user, privileged and config modes, `enable` with its secret,
//! `terminal length` paging, `?` help the moment it is typed, `| include/section/begin/exclude`,
//! `username ... secret` (clear or a re-applied type 5/8/9 hash) that is live at once and lost on
//! reload unless `write memory`; `configure terminal revert timer N` / `configure confirm` /
//! `configure revert now` (the archive is configured). Also the Cisco-style helpers NX-OS, ASA and EOS share.

use std::collections::BTreeMap;
use std::time::Duration;

use super::config::{self, Conf, DeviceState, PendingConfirm, Scheme, Secret, User};
use super::{abbrev, Ctx, DeviceSpec, Echo, Reply, Shell};

pub(crate) fn initial_conf(spec: &DeviceSpec) -> (Conf, bool) {
    let users = spec
        .accounts
        .iter()
        .map(|a| {
            let user = User {
                secret: Secret::Hash(config::hash(Scheme::Cisco9, a.password.expose())),
                privilege: a.privilege,
            };
            (a.name.clone(), user)
        })
        .collect::<BTreeMap<_, _>>();
    let enable = spec
        .enable_secret
        .as_ref()
        .map(|p| Secret::Hash(config::hash(Scheme::Cisco9, p.expose())));
    (
        Conf {
            hostname: spec.name.clone(),
            users,
            enable,
        },
        false,
    )
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the Cisco-like shells

/// Words of a line with their byte offsets.
pub(crate) fn tokens(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, &line[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &line[s..]));
    }
    out
}

/// IOS's error for a word it cannot parse, with the caret under it.
pub(crate) fn invalid_at(prompt: &str, offset: usize) -> String {
    format!(
        "{}^\n% Invalid input detected at '^' marker.\n\n",
        " ".repeat(prompt.chars().count() + offset)
    )
}

/// Splits `show ... | filter` into the command and its filters.
pub(crate) fn split_pipe(line: &str) -> (&str, Vec<&str>) {
    let mut parts = line.split('|');
    let cmd = parts.next().unwrap_or("").trim_end();
    (cmd, parts.map(str::trim).collect())
}

/// Applies `include`, `exclude`, `begin`, `section` filters (abbreviations allowed). Err: the
/// filter is not known.
pub(crate) fn apply_filters(text: &str, filters: &[&str]) -> Result<String, String> {
    let mut text = text.to_string();
    for f in filters {
        if *f == "no-more" {
            // NX-OS and EOS: no paging for this command (the caller checks with `no_more`).
            continue;
        }
        let (kw, arg) = f.split_once(' ').map(|(k, a)| (k, a.trim())).unwrap_or((f, ""));
        if arg.is_empty() {
            return Err("% Incomplete command.\n\n".into());
        }
        let re = regex::Regex::new(arg).map_err(|_| format!("% Invalid regular expression: {arg}\n\n"))?;
        let lines: Vec<&str> = text.lines().collect();
        let out: Vec<&str> = if abbrev(kw, "include", 1) {
            lines.into_iter().filter(|l| re.is_match(l)).collect()
        } else if abbrev(kw, "exclude", 1) {
            lines.into_iter().filter(|l| !re.is_match(l)).collect()
        } else if abbrev(kw, "begin", 1) {
            lines.into_iter().skip_while(|l| !re.is_match(l)).collect()
        } else if abbrev(kw, "section", 1) {
            let mut out = Vec::new();
            let mut inside = false;
            for l in lines {
                let top = !l.starts_with(' ');
                if top {
                    inside = re.is_match(l);
                }
                if inside || (!top && re.is_match(l)) {
                    out.push(l);
                }
            }
            out
        } else {
            return Err(format!("% Invalid filter: {kw}\n\n"));
        };
        text = out.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
    }
    Ok(text)
}

/// Whether `| no-more` (NX-OS, EOS) asks for this output unpaged.
pub(crate) fn no_more(filters: &[&str]) -> bool {
    filters.contains(&"no-more")
}

/// Parses a number argument.
fn number(word: Option<&(usize, &str)>) -> Option<usize> {
    word.and_then(|(_, w)| w.parse().ok())
}

/// The secret text after a keyword: IOS drops leading spaces and keeps trailing ones.
fn rest_after(line: &str, offset: usize) -> &str {
    line[offset..].trim_start()
}

/// Splits `[TYPE ] VALUE` where TYPE is one of `types`.
fn typed_secret<'a>(rest: &'a str, types: &[u8]) -> (Option<u8>, &'a str) {
    if let Some((t, v)) = rest.split_once(' ') {
        if let Ok(n) = t.parse::<u8>() {
            if types.contains(&n) || t.len() == 1 {
                return (Some(n), v.trim_start());
            }
        }
    }
    (None, rest)
}

const IOS_MAX_PASSWORD: usize = 25;

/// A user's secret from `secret [0|5|8|9] X`. Err: the error text.
fn ios_secret(kind: u8, value: &str) -> Result<Secret, String> {
    match kind {
        0 => {
            if value.is_empty() || value.chars().count() > IOS_MAX_PASSWORD {
                Err(format!(
                    "% Invalid Password length - must contain 1 to {IOS_MAX_PASSWORD} characters. Password configuration failed\n"
                ))
            } else {
                Ok(Secret::Hash(config::hash(Scheme::Cisco9, value)))
            }
        }
        5 | 8 | 9 => {
            let value = value.trim_end();
            let scheme = if kind == 5 { Scheme::Cisco5 } else { Scheme::Cisco9 };
            let ok = config::is_valid_hash(scheme, value) || (kind == 8 && value.starts_with("$8$"));
            if ok {
                Ok(Secret::Hash(value.to_string()))
            } else {
                Err(format!(
                    "ERROR: The secret you entered is not a valid type {kind} secret.\n\
                     To enter an UNENCRYPTED secret, do not specify type {kind} encryption.\n\
                     When you properly enter an UNENCRYPTED secret, it will be encrypted.\n\n"
                ))
            }
        }
        n => Err(format!("% Invalid encryption type: {n}\n\n")),
    }
}

fn secret_line(secret: &Secret) -> String {
    match secret {
        Secret::Hash(h) if h.starts_with("$5$") => format!("secret 5 {h}"),
        Secret::Hash(h) => format!("secret 9 {h}"),
        Secret::Plain(p) => format!("password 0 {p}"),
    }
}

/// The `username` lines of a configuration, IOS style.
fn username_lines(conf: &Conf) -> Vec<String> {
    conf.users
        .iter()
        .map(|(name, u)| {
            if u.privilege == 1 {
                format!("username {name} {}", secret_line(&u.secret))
            } else {
                format!("username {name} privilege {} {}", u.privilege, secret_line(&u.secret))
            }
        })
        .collect()
}

fn running_config(conf: &Conf, header: &str) -> String {
    let mut body = vec![
        "!".to_string(),
        "! Last configuration change at 09:14:02 UTC Thu Nov 26 2026".into(),
        "!".into(),
        "version 17.9".into(),
        "service timestamps debug datetime msec".into(),
        "service timestamps log datetime msec".into(),
        "no service password-encryption".into(),
        "!".into(),
        format!("hostname {}", conf.hostname),
        "!".into(),
        "boot-start-marker".into(),
        "boot-end-marker".into(),
        "!".into(),
    ];
    if let Some(e) = &conf.enable {
        body.push(format!("enable {}", secret_line(e).replace("password 0", "password")));
        body.push("!".into());
    }
    body.extend(
        [
            "aaa new-model",
            "!",
            "aaa authentication login default local",
            "aaa authorization exec default local",
            "!",
            "ip domain name lab.example",
            "!",
        ]
        .map(String::from),
    );
    body.extend(username_lines(conf));
    body.push("!".into());
    for port in 1..=8 {
        body.push(format!("interface GigabitEthernet1/0/{port}"));
        body.push(" switchport access vlan 10".into());
        body.push(" switchport mode access".into());
        body.push("!".into());
    }
    body.extend(
        [
            "interface Vlan1",
            " ip address 192.0.2.10 255.255.255.0",
            "!",
            "ip ssh version 2",
            "!",
            "line con 0",
            " stopbits 1",
            "line vty 0 4",
            " transport input ssh",
            "line vty 5 15",
            " transport input ssh",
            "!",
            "end",
        ]
        .map(String::from),
    );
    let text = body.join("\n");
    format!("{header}{} bytes\n{text}\n\n", text.len() + 200)
}

/// Up to 16 characters of the hostname, as IOS abbreviates it in prompts.
fn prompt_host(conf: &Conf) -> String {
    conf.hostname.clone()
}

// ---------------------------------------------------------------------------------------------
// The shell

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    User,
    Exec,
    Config,
    ConfigLine,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pending {
    EnablePassword { tries: u8 },
    RemoveUser(String),
    CopyDestination,
    ReloadSave,
    ReloadConfirm,
}

pub(crate) struct IosShell {
    mode: Mode,
    pending: Option<Pending>,
    /// `terminal length`: None until set (then the pty height is used), Some(0) = no paging.
    length: Option<usize>,
}

impl IosShell {
    pub(crate) fn new(user: &str, st: &DeviceState) -> Self {
        let privilege = st.running.users.get(user).map(|u| u.privilege).unwrap_or(1);
        IosShell {
            mode: if privilege >= 15 { Mode::Exec } else { Mode::User },
            pending: None,
            length: None,
        }
    }

    fn page(&self, ctx: &Ctx) -> Option<usize> {
        match self.length {
            Some(0) => None,
            Some(n) => Some(n),
            None if ctx.rows == 0 => None,
            None => Some(ctx.rows),
        }
    }

    fn exec_command(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        let prompt = self.prompt(ctx);
        let (cmd, filters) = split_pipe(line);
        let t = tokens(cmd);
        let Some(&(_, first)) = t.first() else {
            return Reply::none();
        };
        let privileged = self.mode == Mode::Exec;
        let word = |i: usize| t.get(i).map(|x| x.1).unwrap_or("");
        if abbrev(first, "enable", 2) {
            if privileged {
                return Reply::none();
            }
            if ctx.state.running.enable.is_none() {
                return Reply::text("% No password set\n");
            }
            self.pending = Some(Pending::EnablePassword { tries: 0 });
            return Reply::none();
        }
        if abbrev(first, "disable", 4) {
            self.mode = Mode::User;
            return Reply::none();
        }
        if abbrev(first, "exit", 3) || abbrev(first, "logout", 4) || first == "quit" {
            return Reply::close("");
        }
        if abbrev(first, "terminal", 3) {
            if abbrev(word(1), "length", 3) {
                return match number(t.get(2)) {
                    Some(n) if n <= 512 => {
                        self.length = Some(n);
                        Reply::none()
                    }
                    Some(_) => Reply::text(invalid_at(&prompt, t[2].0)),
                    None if t.len() < 3 => Reply::text("% Incomplete command.\n\n"),
                    None => Reply::text(invalid_at(&prompt, t[2].0)),
                };
            }
            if abbrev(word(1), "width", 1) {
                return match number(t.get(2)) {
                    Some(_) => Reply::none(),
                    None if t.len() < 3 => Reply::text("% Incomplete command.\n\n"),
                    None => Reply::text(invalid_at(&prompt, t[2].0)),
                };
            }
            return match t.get(1) {
                Some(&(o, _)) => Reply::text(invalid_at(&prompt, o)),
                None => Reply::text("% Incomplete command.\n\n"),
            };
        }
        if abbrev(first, "show", 2) {
            let what = word(1);
            let text = if abbrev(what, "privilege", 3) {
                let level = if privileged { 15 } else { 1 };
                format!("Current privilege level is {level}\n")
            } else if abbrev(what, "version", 3) {
                format!(
                    "Cisco IOS XE Software, Version 17.09.04a\n\
                     Cisco IOS Software [Cupertino], Catalyst L3 Switch Software (CAT9K_LITE_IOSXE), Version 17.9.4a, RELEASE SOFTWARE (fc3)\n\
                     Technical Support: http://www.cisco.com/techsupport\n\n\
                     {} uptime is 12 weeks, 3 days, 4 hours, 1 minute\n\
                     System image file is \"flash:packages.conf\"\n\n\
                     cisco C9200L-24P-4G (ARM64) processor with 600000K/3071K bytes of memory.\n\
                     Configuration register is 0x102\n\n",
                    ctx.state.running.hostname
                )
            } else if privileged && (abbrev(what, "running-config", 3)) {
                running_config(
                    &ctx.state.running,
                    "Building configuration...\n\nCurrent configuration : ",
                )
            } else if privileged && abbrev(what, "startup-config", 3) {
                running_config(
                    &ctx.state.saved,
                    "Using 4321 out of 262144 bytes\n!\n! Configuration size : ",
                )
            } else if privileged && abbrev(what, "archive", 3) {
                "The maximum archive configurations allowed is 10.\nThe next archive file will be named flash:archive-Nov-26-09-14-02.111-2\n Archive #  Name\n   1        flash:archive-Nov-26-09-14-02.111-1 <- Most Recent\n   2\n   3\n".to_string()
            } else if privileged && abbrev(what, "users", 1) {
                format!(
                    "    Line       User       Host(s)              Idle       Location\n\
                     *866 vty 0     {:<10} idle                 00:00:00 127.0.0.1\n\n  \
                     Interface    User               Mode         Idle     Peer Address\n\n",
                    ctx.user
                )
            } else if what.is_empty() {
                return Reply::text("% Incomplete command.\n\n");
            } else {
                return Reply::text(invalid_at(&prompt, t[1].0));
            };
            if no_more(&filters) {
                return Reply::text("% Invalid filter: no-more\n\n");
            }
            return match apply_filters(&text, &filters) {
                Ok(text) => Reply::paged(text, self.page(ctx)),
                Err(e) => Reply::text(e),
            };
        }
        if !privileged {
            return Reply::text(invalid_at(&prompt, t[0].0));
        }
        if abbrev(first, "configure", 4) {
            if abbrev(word(1), "terminal", 1) && abbrev(word(2), "revert", 3) && abbrev(word(3), "timer", 2) {
                let Some(minutes) = word(4).parse::<u64>().ok().filter(|m| (1..=120).contains(m)) else {
                    return match t.get(4) {
                        Some(&(o, _)) => Reply::text(invalid_at(&prompt, o)),
                        None => Reply::text("% Incomplete command.\n\n"),
                    };
                };
                let restore = match &ctx.state.pending {
                    Some(p) => p.restore.clone(),
                    None => ctx.state.running.clone(),
                };
                ctx.state.pending = Some(PendingConfirm {
                    deadline: ctx.now + ctx.scaled(Duration::from_secs(60 * minutes)),
                    restore,
                    session: None,
                });
                self.mode = Mode::Config;
                return Reply::text("Enter configuration commands, one per line.  End with CNTL/Z.\n");
            }
            if t.len() == 1 || abbrev(word(1), "terminal", 1) {
                self.mode = Mode::Config;
                return Reply::text("Enter configuration commands, one per line.  End with CNTL/Z.\n");
            }
            if abbrev(word(1), "confirm", 4) {
                return match ctx.state.pending.take() {
                    Some(_) => Reply::none(),
                    None => Reply::text("% No Rollback Confirmed Change pending\n"),
                };
            }
            if abbrev(word(1), "revert", 3) && abbrev(word(2), "now", 3) {
                return match ctx.state.pending.take() {
                    Some(p) => {
                        ctx.state.running = p.restore;
                        Reply::text("Rollback Done\n\n")
                    }
                    None => Reply::text("% No Rollback Confirmed Change pending\n"),
                };
            }
            if abbrev(word(1), "memory", 1) {
                ctx.state.running = ctx.state.saved.clone();
                return Reply::text("[OK]\n");
            }
            return Reply::text(invalid_at(&prompt, t[1].0));
        }
        if abbrev(first, "write", 2) {
            if t.len() == 1 || abbrev(word(1), "memory", 1) {
                ctx.state.saved = ctx.state.running.clone();
                return Reply::text("Building configuration...\n[OK]\n");
            }
            if abbrev(word(1), "terminal", 1) {
                let text = running_config(
                    &ctx.state.running,
                    "Building configuration...\n\nCurrent configuration : ",
                );
                return Reply::paged(text, self.page(ctx));
            }
            return Reply::text(invalid_at(&prompt, t[1].0));
        }
        if abbrev(first, "copy", 2) {
            let from = word(1);
            let to = word(2);
            if abbrev(from, "running-config", 3) && abbrev(to, "startup-config", 3) {
                self.pending = Some(Pending::CopyDestination);
                return Reply::none();
            }
            return match t.get(1) {
                None => Reply::text("% Incomplete command.\n\n"),
                Some(_) if t.len() < 3 => Reply::text("% Incomplete command.\n\n"),
                Some(_) => Reply::text(invalid_at(&prompt, t[1].0)),
            };
        }
        if abbrev(first, "reload", 3) {
            self.pending = Some(if ctx.state.running != ctx.state.saved {
                Pending::ReloadSave
            } else {
                Pending::ReloadConfirm
            });
            return Reply::none();
        }
        Reply::text(invalid_at(&prompt, t[0].0))
    }

    fn config_command(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        let prompt = self.prompt(ctx);
        let t = tokens(line);
        let Some(&(_, first)) = t.first() else {
            return Reply::none();
        };
        let word = |i: usize| t.get(i).map(|x| x.1).unwrap_or("");
        if first == "do" {
            let rest = line.trim_start().strip_prefix("do").unwrap_or("").trim_start();
            let mode = self.mode;
            self.mode = Mode::Exec;
            let reply = self.exec_command(ctx, rest);
            if self.mode == Mode::Exec {
                self.mode = mode;
            }
            return reply;
        }
        if abbrev(first, "end", 3) {
            self.mode = Mode::Exec;
            return Reply::none();
        }
        if abbrev(first, "exit", 3) {
            self.mode = if self.mode == Mode::ConfigLine {
                Mode::Config
            } else {
                Mode::Exec
            };
            return Reply::none();
        }
        if self.mode == Mode::ConfigLine {
            // Under `line vty`: accept the usual settings without modelling them.
            return Reply::none();
        }
        if abbrev(first, "line", 2) {
            if t.len() < 2 {
                return Reply::text("% Incomplete command.\n\n");
            }
            self.mode = Mode::ConfigLine;
            return Reply::none();
        }
        if abbrev(first, "hostname", 3) {
            return match t.get(1) {
                Some(&(_, h)) => {
                    ctx.state.running.hostname = h.to_string();
                    Reply::none()
                }
                None => Reply::text("% Incomplete command.\n\n"),
            };
        }
        if abbrev(first, "username", 5) {
            return self.username(ctx, line, &t, &prompt);
        }
        if first == "no" && abbrev(word(1), "username", 5) {
            let Some(&(_, name)) = t.get(2) else {
                return Reply::text("% Incomplete command.\n\n");
            };
            if !ctx.state.running.users.contains_key(name) {
                return Reply::text(format!("% User {name} does not exist\n"));
            }
            self.pending = Some(Pending::RemoveUser(name.to_string()));
            return Reply::none();
        }
        if abbrev(first, "enable", 2) {
            let kw = t.get(1);
            let Some(&(off, kw)) = kw else {
                return Reply::text("% Incomplete command.\n\n");
            };
            let is_secret = abbrev(kw, "secret", 1);
            let is_password = abbrev(kw, "password", 1);
            if !is_secret && !is_password {
                return Reply::text(invalid_at(&prompt, off));
            }
            let rest = rest_after(line, off + kw.len());
            if rest.is_empty() {
                return Reply::text("% Incomplete command.\n\n");
            }
            let (kind, value) = typed_secret(rest, &[0, 5, 8, 9]);
            if kind.is_none() && value.starts_with(|c: char| c.is_ascii_digit()) {
                return Reply::text(
                    "% Invalid input: the enable secret must not start with a digit unless it is an encryption type.\n\n",
                );
            }
            return match ios_secret(kind.unwrap_or(0), value) {
                Ok(secret) => {
                    ctx.fx.set_enable(&mut ctx.state.running, secret);
                    if is_password {
                        Reply::text("% Converting to a secret. Please use \"enable secret\" in the future.\n")
                    } else {
                        Reply::none()
                    }
                }
                Err(e) => Reply::text(e),
            };
        }
        if abbrev(first, "service", 3) || abbrev(first, "ip", 2) || abbrev(first, "aaa", 3) {
            return Reply::none();
        }
        Reply::text(invalid_at(&prompt, t[0].0))
    }

    fn username(&mut self, ctx: &mut Ctx, line: &str, t: &[(usize, &str)], prompt: &str) -> Reply {
        let Some(&(_, name)) = t.get(1) else {
            return Reply::text("% Incomplete command.\n\n");
        };
        let existing = ctx.state.running.users.get(name).cloned();
        let mut privilege = existing.as_ref().map(|u| u.privilege).unwrap_or(1);
        let mut i = 2;
        let mut secret: Option<Secret> = None;
        while i < t.len() {
            let (off, w) = t[i];
            if abbrev(w, "privilege", 3) {
                match t.get(i + 1).and_then(|(_, n)| n.parse::<u8>().ok()) {
                    Some(n) if n <= 15 => privilege = n,
                    Some(_) => return Reply::text(invalid_at(prompt, t[i + 1].0)),
                    None if i + 1 >= t.len() => return Reply::text("% Incomplete command.\n\n"),
                    None => return Reply::text(invalid_at(prompt, t[i + 1].0)),
                }
                i += 2;
            } else if abbrev(w, "secret", 3) || abbrev(w, "password", 3) {
                let is_secret = abbrev(w, "secret", 3);
                if let Some(u) = &existing {
                    let had_plain = matches!(u.secret, Secret::Plain(_));
                    if had_plain == is_secret {
                        return Reply::text(
                            "ERROR: Can not have both a user password and a user secret.\nPlease choose one or the other.\n\n",
                        );
                    }
                }
                let rest = rest_after(line, off + w.len());
                if rest.is_empty() {
                    return Reply::text("% Incomplete command.\n\n");
                }
                let types: &[u8] = if is_secret { &[0, 5, 8, 9] } else { &[0, 7] };
                let (kind, value) = typed_secret(rest, types);
                let result = if is_secret {
                    ios_secret(kind.unwrap_or(0), value)
                } else {
                    match kind.unwrap_or(0) {
                        0 if !value.is_empty() && value.chars().count() <= IOS_MAX_PASSWORD => {
                            Ok(Secret::Plain(value.to_string()))
                        }
                        0 => Err(format!(
                            "% Invalid Password length - must contain 1 to {IOS_MAX_PASSWORD} characters. Password configuration failed\n"
                        )),
                        n => Err(format!("% Invalid encryption type: {n}\n\n")),
                    }
                };
                match result {
                    Ok(s) => secret = Some(s),
                    Err(e) => return Reply::text(e),
                }
                break;
            } else {
                return Reply::text(invalid_at(prompt, off));
            }
        }
        let secret = match (secret, existing) {
            (Some(s), _) => s,
            (None, Some(u)) => u.secret,
            (None, None) => return Reply::text("% Incomplete command.\n\n"),
        };
        ctx.fx
            .set_user(&mut ctx.state.running, name, User { secret, privilege });
        Reply::none()
    }

    fn answer_pending(&mut self, ctx: &mut Ctx, pending: Pending, line: &str) -> Reply {
        match pending {
            Pending::EnablePassword { tries } => {
                let ok = ctx.state.running.enable.as_ref().is_some_and(|s| s.verify(line));
                if ok {
                    self.mode = Mode::Exec;
                    Reply::none()
                } else if tries >= 2 {
                    Reply::text("% Bad secrets\n\n")
                } else {
                    self.pending = Some(Pending::EnablePassword { tries: tries + 1 });
                    Reply::none()
                }
            }
            Pending::RemoveUser(name) => {
                let answer = line.trim();
                let yes = answer.is_empty() || answer.eq_ignore_ascii_case("y") || answer.eq_ignore_ascii_case("yes");
                if yes && ctx.fx.fault != super::Fault::IgnorePasswordChange {
                    ctx.state.running.users.remove(&name);
                }
                Reply::none()
            }
            Pending::CopyDestination => {
                let dest = line.trim();
                if dest.is_empty() || dest == "startup-config" {
                    ctx.state.saved = ctx.state.running.clone();
                    Reply::text("Building configuration...\n[OK]\n")
                } else {
                    Reply::text(format!("%Error opening flash:{dest} (Permission denied)\n"))
                }
            }
            Pending::ReloadSave => {
                let a = line.trim().to_ascii_lowercase();
                if a == "yes" || a == "y" {
                    ctx.state.saved = ctx.state.running.clone();
                    self.pending = Some(Pending::ReloadConfirm);
                    Reply::text("Building configuration...\n[OK]\n")
                } else if a == "no" || a == "n" {
                    self.pending = Some(Pending::ReloadConfirm);
                    Reply::none()
                } else {
                    self.pending = Some(Pending::ReloadSave);
                    Reply::text("% Please answer 'yes' or 'no'.\n")
                }
            }
            Pending::ReloadConfirm => {
                let a = line.trim();
                if a.is_empty() || a.eq_ignore_ascii_case("y") {
                    ctx.reload();
                    Reply::close("\nConnection to host lost.\n")
                } else {
                    Reply::none()
                }
            }
        }
    }
}

const EXEC_HELP: &[(&str, &str)] = &[
    ("configure", "Enter configuration mode"),
    ("copy", "Copy from one file to another"),
    ("disable", "Turn off privileged commands"),
    ("enable", "Turn on privileged commands"),
    ("exit", "Exit from the EXEC"),
    ("logout", "Exit from the EXEC"),
    ("reload", "Halt and perform a cold restart"),
    ("show", "Show running system information"),
    ("terminal", "Set terminal line parameters"),
    ("write", "Write running configuration to memory, network, or terminal"),
];

const CONFIG_HELP: &[(&str, &str)] = &[
    ("aaa", "Authentication, Authorization and Accounting."),
    ("do", "To run exec commands in config mode"),
    ("enable", "Modify enable password parameters"),
    ("end", "Exit from configure mode"),
    ("exit", "Exit from configure mode"),
    ("hostname", "Set system's network name"),
    ("line", "Configure a terminal line"),
    ("no", "Negate a command or set its defaults"),
    ("service", "Modify use of network based services"),
    ("username", "Establish User Name Authentication"),
];

const USERNAME_HELP: &[(&str, &str)] = &[
    ("password", "Specify the password for the user"),
    ("privilege", "Set user privilege level"),
    ("secret", "Specify the secret for the user"),
];

const SHOW_HELP: &[(&str, &str)] = &[
    ("privilege", "Show current privilege level"),
    ("running-config", "Current operating configuration"),
    ("startup-config", "Contents of startup configuration"),
    ("users", "Display information about terminal lines"),
    ("version", "System hardware and software status"),
];

/// IOS-style help: `word?` lists completions, `word ?` lists the next keywords.
pub(crate) fn cisco_help(partial: &str, table: &[(&str, &str)]) -> String {
    if partial.ends_with(' ') || partial.is_empty() {
        table
            .iter()
            .map(|(k, d)| format!("  {k:<16}{d}"))
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        let last = partial.split_whitespace().last().unwrap_or("");
        let hits: Vec<&str> = table
            .iter()
            .filter(|(k, _)| k.starts_with(last))
            .map(|(k, _)| *k)
            .collect();
        if hits.is_empty() {
            "% Unrecognized command".to_string()
        } else {
            hits.join("  ")
        }
    }
}

impl Shell for IosShell {
    fn greeting(&mut self, ctx: &mut Ctx) -> String {
        format!(
            "\n{} - authorized access only. Disconnect IMMEDIATELY if you are not an authorized user!\n\n",
            ctx.state.running.hostname
        )
    }

    fn prompt(&self, ctx: &Ctx) -> String {
        let host = prompt_host(&ctx.state.running);
        match &self.pending {
            Some(Pending::EnablePassword { .. }) => return "Password: ".into(),
            Some(Pending::RemoveUser(_)) => {
                return "This operation will remove all username related configurations with same name.Do you want to continue? [confirm]".into()
            }
            Some(Pending::CopyDestination) => return "Destination filename [startup-config]? ".into(),
            Some(Pending::ReloadSave) => return "System configuration has been modified. Save? [yes/no]: ".into(),
            Some(Pending::ReloadConfirm) => return "Proceed with reload? [confirm]".into(),
            None => {}
        }
        match self.mode {
            Mode::User => format!("{host}>"),
            Mode::Exec => format!("{host}#"),
            Mode::Config => format!("{host}(config)#"),
            Mode::ConfigLine => format!("{host}(config-line)#"),
        }
    }

    fn line(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        if let Some(p) = self.pending.take() {
            return self.answer_pending(ctx, p, line);
        }
        match self.mode {
            Mode::User | Mode::Exec => self.exec_command(ctx, line),
            Mode::Config | Mode::ConfigLine => self.config_command(ctx, line),
        }
    }

    fn help(&mut self, _ctx: &mut Ctx, partial: &str) -> Option<String> {
        if self.pending.is_some() {
            return None;
        }
        let words: Vec<&str> = partial.split_whitespace().collect();
        let after_word = partial.ends_with(' ');
        let table: &[(&str, &str)] = match (self.mode, words.first()) {
            (Mode::Config | Mode::ConfigLine, Some(w))
                if abbrev(w, "username", 5) && (words.len() > 2 || (words.len() == 2 && after_word)) =>
            {
                USERNAME_HELP
            }
            (Mode::Config | Mode::ConfigLine, Some(w)) if abbrev(w, "username", 5) && after_word => {
                return Some("  WORD  User name".into())
            }
            (Mode::Config | Mode::ConfigLine, _) => CONFIG_HELP,
            (_, Some(w)) if abbrev(w, "show", 2) && (words.len() > 1 || after_word) => SHOW_HELP,
            _ => EXEC_HELP,
        };
        Some(cisco_help(partial, table))
    }

    fn echo(&self) -> Echo {
        match self.pending {
            Some(Pending::EnablePassword { .. }) => Echo::Off,
            _ => Echo::On,
        }
    }

    fn control(&mut self, _ctx: &mut Ctx, key: u8) -> Option<Reply> {
        if key == 0x1a && matches!(self.mode, Mode::Config | Mode::ConfigLine) {
            self.mode = Mode::Exec;
        }
        Some(Reply::none())
    }
}
