//! Emulated Cisco NX-OS: `switch#` prompts with ANSI in the pager, roles instead of privilege
//! levels, `show user-account`, password strength checking, `username ... password [5] ...`,
//! `copy running-config startup-config`, `checkpoint` and `rollback running-config`.

use std::collections::BTreeMap;

use super::cisco_ios::{apply_filters, no_more, split_pipe, tokens};
use super::config::{self, Conf, DeviceState, Scheme, Secret, User};
use super::{abbrev, Ctx, DeviceSpec, Reply, Shell};

pub(crate) fn initial_conf(spec: &DeviceSpec) -> (Conf, bool) {
    let users = spec
        .accounts
        .iter()
        .map(|a| {
            let user = User {
                secret: Secret::Hash(config::hash(Scheme::Cisco5, a.password.expose())),
                privilege: a.privilege,
            };
            (a.name.clone(), user)
        })
        .collect::<BTreeMap<_, _>>();
    (
        Conf {
            hostname: spec.name.clone(),
            users,
            enable: None,
        },
        false,
    )
}

fn role(privilege: u8) -> &'static str {
    if privilege >= 15 {
        "network-admin"
    } else {
        "network-operator"
    }
}

fn invalid(prompt_len: usize, offset: usize) -> String {
    format!(
        "{}^\n% Invalid command at '^' marker.\n\n",
        " ".repeat(prompt_len + offset)
    )
}

fn hash_of(secret: &Secret) -> String {
    match secret {
        Secret::Hash(h) => h.clone(),
        Secret::Plain(p) => config::hash(Scheme::Cisco5, p),
    }
}

fn running_config(conf: &Conf, title: &str) -> String {
    let mut out = vec![
        String::new(),
        format!("!Command: {title}"),
        "!Running configuration last done at: Thu Nov 26 09:14:02 2026".into(),
        "!Time: Thu Nov 26 09:20:11 2026".into(),
        String::new(),
        "version 10.4(5) Bios:version 07.69".into(),
        format!("hostname {}", conf.hostname),
        "vdc {} id 1".replace("{}", &conf.hostname),
        "  limit-resource vlan minimum 16 maximum 4094".into(),
        "  limit-resource vrf minimum 2 maximum 4096".into(),
        String::new(),
        "feature ssh".into(),
        "feature interface-vlan".into(),
        String::new(),
    ];
    for (name, u) in &conf.users {
        out.push(format!(
            "username {name} password 5 {}  role {}",
            hash_of(&u.secret),
            role(u.privilege)
        ));
    }
    out.push("ip domain-lookup".into());
    out.push(String::new());
    for port in 1..=8 {
        out.push(format!("interface Ethernet1/{port}"));
        out.push("  switchport access vlan 10".into());
        out.push(String::new());
    }
    out.push("interface mgmt0".into());
    out.push("  vrf member management".into());
    out.push("  ip address 192.0.2.30/24".into());
    out.push("line console".into());
    out.push("line vty".into());
    out.join("\n") + "\n\n"
}

/// NX-OS password strength check (on by default). Err: the device's message.
fn check_strength(pw: &str, user: &str) -> Result<(), String> {
    let classes = [
        pw.chars().any(|c| c.is_ascii_lowercase()),
        pw.chars().any(|c| c.is_ascii_uppercase()),
        pw.chars().any(|c| c.is_ascii_digit()),
        pw.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    if pw.chars().count() < 8 {
        return Err("password is weak\nPassword should be minimum 8 characters\n".into());
    }
    if pw.chars().count() > 64 {
        return Err("password is too long: must be at most 64 characters\n".into());
    }
    if classes.iter().filter(|x| **x).count() < 3 {
        return Err("password is weak\nPassword should contain characters from at least three of the classes: lower case letters, upper case letters, digits and special characters.\n".into());
    }
    if pw.to_ascii_lowercase().contains(&user.to_ascii_lowercase()) {
        return Err("password is weak\nit is based on the username\n".into());
    }
    Ok(())
}

/// The password argument: quoted (any printable) or bare (no `$`, no leading quote or `|` `>`).
fn password_arg(rest: &str) -> Result<String, String> {
    let rest = rest.trim_start();
    if let Some(q) = rest.strip_prefix('"') {
        return match q.find('"') {
            Some(end) => Ok(q[..end].to_string()),
            None => Err("% Unmatched quote in argument\n\n".into()),
        };
    }
    let word = rest.split_whitespace().next().unwrap_or("");
    if word.is_empty() {
        return Err("% Incomplete command at '^' marker.\n\n".into());
    }
    if word.contains('$') || word.starts_with(['\'', '|', '>']) {
        return Err("% Invalid password: enclose passwords with special characters in double quotes\n\n".into());
    }
    Ok(word.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Exec,
    Config,
}

pub(crate) struct NxosShell {
    mode: Mode,
    length: Option<usize>,
    dont_ask: bool,
    /// `reload` waiting for its confirmation.
    confirm_reload: bool,
}

impl NxosShell {
    pub(crate) fn new(_user: &str, _st: &DeviceState) -> Self {
        NxosShell {
            mode: Mode::Exec,
            length: None,
            dont_ask: false,
            confirm_reload: false,
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

    fn prompt_len(&self, ctx: &Ctx) -> usize {
        self.prompt(ctx).trim_start_matches('\r').len()
    }

    fn exec_command(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        let (cmd, filters) = split_pipe(line);
        let t = tokens(cmd);
        let pl = self.prompt_len(ctx);
        let Some(&(_, first)) = t.first() else {
            return Reply::none();
        };
        let word = |i: usize| t.get(i).map(|x| x.1).unwrap_or("");
        let privileged = ctx.state.running.users.get(ctx.user).is_some_and(|u| u.privilege >= 15);
        if abbrev(first, "exit", 3) || first == "quit" {
            return Reply::close("");
        }
        if abbrev(first, "terminal", 3) {
            if abbrev(word(1), "length", 3) {
                return match word(2).parse::<usize>() {
                    Ok(n) if n <= 511 => {
                        self.length = Some(n);
                        Reply::none()
                    }
                    _ => Reply::text(invalid(pl, t.get(2).map(|x| x.0).unwrap_or(cmd.len()))),
                };
            }
            if abbrev(word(1), "width", 1) {
                return Reply::none();
            }
            if word(1) == "dont-ask" {
                self.dont_ask = true;
                return Reply::none();
            }
            return Reply::text(invalid(pl, t.get(1).map(|x| x.0).unwrap_or(cmd.len())));
        }
        if abbrev(first, "show", 2) {
            let what = word(1);
            let text = if abbrev(what, "user-account", 6) {
                let mut s = String::new();
                for (name, u) in &ctx.state.running.users {
                    s.push_str(&format!(
                        "user:{name}\n        this user account has no expiry date\n        roles:{} \n\n",
                        role(u.privilege)
                    ));
                }
                s
            } else if abbrev(what, "running-config", 3) {
                running_config(&ctx.state.running, "show running-config")
            } else if abbrev(what, "startup-config", 3) {
                running_config(&ctx.state.saved, "show startup-config")
            } else if abbrev(what, "checkpoint", 5) {
                let mut s = String::new();
                for name in ctx.state.checkpoints.keys() {
                    s.push_str(&format!(
                        "\nUser Checkpoint Summary\n--------------------------------------------------------------------------------\n1) {name}:\nCreated by {}\nCreated at Thu, 09:20:11 26 Nov 2026\nSize is 31,337 bytes\nDescription: None\n",
                        ctx.user
                    ));
                }
                s
            } else if abbrev(what, "version", 3) {
                "Cisco Nexus Operating System (NX-OS) Software\nTAC support: http://www.cisco.com/tac\n\nSoftware\n  NXOS: version 10.4(5)\n\nHardware\n  cisco Nexus9000 C93180YC-FX3 Chassis\n\n".to_string()
            } else if what.is_empty() {
                return Reply::text("% Incomplete command at '^' marker.\n\n");
            } else {
                return Reply::text(invalid(pl, t[1].0));
            };
            return match apply_filters(&text, &filters) {
                Ok(text) => Reply::paged(text, if no_more(&filters) { None } else { self.page(ctx) }),
                Err(e) => Reply::text(e),
            };
        }
        if !privileged {
            return Reply::text("% Permission denied for the role\n\n");
        }
        if abbrev(first, "configure", 4) {
            self.mode = Mode::Config;
            return Reply::text("Enter configuration commands, one per line. End with CNTL/Z.\n");
        }
        if abbrev(first, "copy", 2) {
            if abbrev(word(1), "running-config", 3) && abbrev(word(2), "startup-config", 3) {
                ctx.state.saved = ctx.state.running.clone();
                return Reply::text(
                    "[########################################] 100%\nCopy complete, now saving to disk (please wait)...\nCopy complete.\n",
                );
            }
            return Reply::text(invalid(pl, t.get(1).map(|x| x.0).unwrap_or(cmd.len())));
        }
        if abbrev(first, "checkpoint", 5) {
            let name = if word(1) == "file" { word(2) } else { word(1) };
            let name = name.trim_start_matches("bootflash:");
            if name.is_empty() {
                return Reply::text("% Incomplete command at '^' marker.\n\n");
            }
            let conf = ctx.state.running.clone();
            ctx.state.checkpoints.insert(name.to_string(), conf);
            return Reply::text("Done\n");
        }
        if abbrev(first, "rollback", 4) {
            if !abbrev(word(1), "running-config", 3) || !matches!(word(2), "file" | "checkpoint") || word(3).is_empty()
            {
                return Reply::text("% Incomplete command at '^' marker.\n\n");
            }
            let name = word(3).trim_start_matches("bootflash:");
            return match ctx.state.checkpoints.get(name).cloned() {
                Some(conf) => {
                    ctx.state.running = conf;
                    Reply::text(
                        "Note: Applying config parallelly may fail Rollback verification\nCollecting Running-Config\n#Generating Rollback Patch\nExecuting Rollback Patch\nGenerating Running-config for verification\n#Generating Patch for verification\nVerification is Successful.\n\nRollback completed successfully.\n",
                    )
                }
                None => Reply::text(format!("ERROR: Checkpoint name {name} does not exist\n")),
            };
        }
        if abbrev(first, "reload", 3) {
            if self.dont_ask {
                ctx.reload();
                return Reply::close("");
            }
            self.confirm_reload = true;
            return Reply::text("!!!WARNING! there is unsaved configuration!!!\n");
        }
        Reply::text(invalid(pl, t[0].0))
    }

    fn config_command(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        let t = tokens(line);
        let pl = self.prompt_len(ctx);
        let Some(&(_, first)) = t.first() else {
            return Reply::none();
        };
        let word = |i: usize| t.get(i).map(|x| x.1).unwrap_or("");
        if first == "end" {
            self.mode = Mode::Exec;
            return Reply::none();
        }
        if first == "exit" {
            self.mode = Mode::Exec;
            return Reply::none();
        }
        if abbrev(first, "username", 5) {
            let name = word(1);
            if name.is_empty() {
                return Reply::text("% Incomplete command at '^' marker.\n\n");
            }
            let mut user = ctx.state.running.users.get(name).cloned().unwrap_or(User {
                secret: Secret::Plain(String::new()),
                privilege: 1,
            });
            let mut have_secret = ctx.state.running.users.contains_key(name);
            let name_end = t[1].0 + name.len();
            let mut r = &line[name_end..];
            loop {
                r = r.trim_start();
                if r.is_empty() {
                    break;
                }
                let offset = line.len() - r.len();
                let (w, after) = r.split_once(char::is_whitespace).unwrap_or((r, ""));
                match w {
                    "password" => {
                        let after = after.trim_start();
                        let (hashed, after) = match after.split_once(' ') {
                            Some(("5", v)) => (true, v),
                            Some(("0", v)) => (false, v),
                            _ => (false, after),
                        };
                        let value = match password_arg(after) {
                            Ok(v) => v,
                            Err(e) => return Reply::text(e),
                        };
                        let after = after.trim_start();
                        r = if after.starts_with('"') {
                            &after[value.len() + 2..]
                        } else {
                            &after[value.len()..]
                        };
                        if hashed {
                            if !config::is_valid_hash(Scheme::Cisco5, &value) {
                                return Reply::text("% Invalid encrypted password\n\n");
                            }
                            user.secret = Secret::Hash(value);
                        } else {
                            if let Err(e) = check_strength(&value, name) {
                                return Reply::text(e);
                            }
                            user.secret = Secret::Hash(config::hash(Scheme::Cisco5, &value));
                        }
                        have_secret = true;
                    }
                    "role" => {
                        let (role_name, rest) = after.trim_start().split_once(' ').unwrap_or((after.trim_start(), ""));
                        match role_name {
                            "network-admin" => user.privilege = 15,
                            "network-operator" => user.privilege = 1,
                            "" => return Reply::text("% Incomplete command at '^' marker.\n\n"),
                            other => return Reply::text(format!("% Role {other} does not exist\n\n")),
                        }
                        r = rest;
                    }
                    _ => return Reply::text(invalid(pl, offset)),
                }
            }
            if !have_secret {
                return Reply::text("% Password is required for a new user\n\n");
            }
            ctx.fx.set_user(&mut ctx.state.running, name, user);
            return Reply::none();
        }
        if first == "no" && abbrev(word(1), "username", 5) {
            let name = word(2);
            if ctx.fx.fault != super::Fault::IgnorePasswordChange {
                ctx.state.running.users.remove(name);
            }
            return Reply::none();
        }
        if first == "hostname" || abbrev(first, "feature", 4) || first == "ip" {
            if first == "hostname" && !word(1).is_empty() {
                ctx.state.running.hostname = word(1).to_string();
            }
            return Reply::none();
        }
        Reply::text(invalid(pl, t[0].0))
    }
}

const EXEC_HELP: &[(&str, &str)] = &[
    ("checkpoint", "Create configuration rollback checkpoint"),
    ("configure", "Enter configuration mode"),
    ("copy", "Copy from source to destination"),
    ("exit", "Exit from command interpreter"),
    ("reload", "Reboot the entire box"),
    ("rollback", "Rollback configuration"),
    ("show", "Show running system information"),
    ("terminal", "Set terminal line parameters"),
];

const CONFIG_HELP: &[(&str, &str)] = &[
    ("end", "Go to exec mode"),
    ("exit", "Exit from command interpreter"),
    ("feature", "Command to enable/disable features"),
    ("hostname", "Configure system's host name"),
    ("no", "Negate a command or set its defaults"),
    ("username", "Configure user information."),
];

impl Shell for NxosShell {
    fn greeting(&mut self, _ctx: &mut Ctx) -> String {
        "\nCisco Nexus Operating System (NX-OS) Software\nTAC support: http://www.cisco.com/tac\nCopyright (C) 2002-2024, Cisco and/or its affiliates.\nAll rights reserved.\nThe copyrights to certain works contained in this software are\nowned by other third parties and used and distributed under their own\nlicenses, such as open source.\n".into()
    }

    fn prompt(&self, ctx: &Ctx) -> String {
        if self.confirm_reload {
            return "This command will reboot the system. (y/n)?  [n] ".into();
        }
        let host = &ctx.state.running.hostname;
        match self.mode {
            Mode::Exec => format!("\r{host}# "),
            Mode::Config => format!("\r{host}(config)# "),
        }
    }

    fn line(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        if self.confirm_reload {
            self.confirm_reload = false;
            if line.trim().eq_ignore_ascii_case("y") {
                ctx.reload();
                return Reply::close("");
            }
            return Reply::none();
        }
        match self.mode {
            Mode::Exec => self.exec_command(ctx, line),
            Mode::Config => self.config_command(ctx, line),
        }
    }

    fn help(&mut self, _ctx: &mut Ctx, partial: &str) -> Option<String> {
        let table = match self.mode {
            Mode::Exec => EXEC_HELP,
            Mode::Config => CONFIG_HELP,
        };
        Some(super::cisco_ios::cisco_help(partial, table))
    }

    fn pager_prompt(&self) -> &'static str {
        "\x1b[7m--More--\x1b[m"
    }

    fn control(&mut self, _ctx: &mut Ctx, key: u8) -> Option<Reply> {
        if key == 0x1a {
            self.mode = Mode::Exec;
        }
        Some(Reply::none())
    }
}
