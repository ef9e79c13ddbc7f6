//! Emulated Arista EOS: `h>`/`h#`/`h(config)#`, `terminal length 0` ("Pagination disabled."),
//! `username NAME [privilege N] [role R] secret [0|sha512] X`, `enable password`, `write memory`,
//! and configuration sessions: `configure session S` (`h(config-s-S)#`), `commit`, `commit timer
//! hh:mm:ss` that rolls back unless `configure session S commit` confirms it, and `abort`.

use std::collections::BTreeMap;
use std::time::Duration;

use super::cisco_ios::{apply_filters, no_more, split_pipe, tokens};
use super::config::{self, Conf, DeviceState, PendingConfirm, Scheme, Secret, User};
use super::{abbrev, Ctx, DeviceSpec, Echo, Reply, Shell};

pub(crate) fn initial_conf(spec: &DeviceSpec) -> (Conf, bool) {
    let users = spec
        .accounts
        .iter()
        .map(|a| {
            let user = User {
                secret: Secret::Hash(config::hash(Scheme::Sha512Crypt, a.password.expose())),
                privilege: a.privilege,
            };
            (a.name.clone(), user)
        })
        .collect::<BTreeMap<_, _>>();
    // Shown as `enable password sha512 HASH` (the reference marks the EOS syntax unconfirmed; this
    // is the form the dialect writes and `has_enable` promises).
    let enable = spec
        .enable_secret
        .as_ref()
        .map(|p| Secret::Hash(config::hash(Scheme::Sha512Crypt, p.expose())));
    (
        Conf {
            hostname: spec.name.clone(),
            users,
            enable,
        },
        false,
    )
}

fn hash_of(secret: &Secret) -> String {
    match secret {
        Secret::Hash(h) => h.clone(),
        Secret::Plain(p) => config::hash(Scheme::Sha512Crypt, p),
    }
}

fn role(privilege: u8) -> &'static str {
    if privilege >= 15 {
        "network-admin"
    } else {
        "network-operator"
    }
}

fn username_lines(conf: &Conf) -> Vec<String> {
    conf.users
        .iter()
        .map(|(name, u)| {
            format!(
                "username {name} privilege {} role {} secret sha512 {}",
                u.privilege,
                role(u.privilege),
                hash_of(&u.secret)
            )
        })
        .collect()
}

fn running_config(conf: &Conf) -> String {
    let mut out = vec![
        "! Command: show running-config".to_string(),
        "! device: ".to_string() + &conf.hostname + " (DCS-7050SX3-48YC8, EOS-4.29.2F)",
        "!".into(),
        "! boot system flash:/EOS-4.29.2F.swi".into(),
        "!".into(),
        "no aaa root".into(),
        "!".into(),
    ];
    out.extend(username_lines(conf));
    out.push("!".into());
    if let Some(e) = &conf.enable {
        out.push(format!("enable password sha512 {}", hash_of(e)));
        out.push("!".into());
    }
    out.push(format!("hostname {}", conf.hostname));
    out.push("!".into());
    out.push("spanning-tree mode mstp".into());
    out.push("!".into());
    for port in 1..=8 {
        out.push(format!("interface Ethernet{port}"));
        out.push("   switchport access vlan 10".into());
        out.push("!".into());
    }
    out.push("interface Management1".into());
    out.push("   ip address 192.0.2.40/24".into());
    out.push("!".into());
    out.push("management api http-commands".into());
    out.push("   no shutdown".into());
    out.push("!".into());
    out.push("end".into());
    out.join("\n") + "\n"
}

fn invalid(token: usize, word: &str) -> String {
    format!("% Invalid input (at token {token}: '{word}')\n")
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    User,
    Exec,
    Config,
    /// Inside `configure session NAME`.
    Session(String),
}

pub(crate) struct EosShell {
    mode: Mode,
    enable_prompt: bool,
    length: Option<usize>,
}

impl EosShell {
    pub(crate) fn new(user: &str, st: &DeviceState) -> Self {
        let privilege = st.running.users.get(user).map(|u| u.privilege).unwrap_or(1);
        EosShell {
            mode: if privilege >= 15 { Mode::Exec } else { Mode::User },
            enable_prompt: false,
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

    /// The configuration the current mode edits.
    fn target<'a>(&self, st: &'a mut DeviceState) -> &'a mut Conf {
        match &self.mode {
            Mode::Session(name) => {
                open_session(st, name);
                st.config_sessions
                    .entry(name.clone())
                    .or_insert_with(|| st.running.clone())
            }
            _ => &mut st.running,
        }
    }

    /// `configure session NAME [commit|abort]`.
    fn configure_session(&mut self, ctx: &mut Ctx, name: &str, action: &str) -> Reply {
        match action {
            "" => {
                open_session(ctx.state, name);
                self.mode = Mode::Session(name.to_string());
                Reply::none()
            }
            "commit" => {
                // Confirms a pending `commit timer`, or commits the session outright.
                if ctx.state.pending.as_ref().and_then(|p| p.session.as_deref()) == Some(name) {
                    ctx.state.pending = None;
                    take_session(ctx.state, name);
                    return Reply::none();
                }
                match take_session(ctx.state, name) {
                    Some(conf) => {
                        ctx.state.running = conf;
                        Reply::none()
                    }
                    None => Reply::text(format!("% Cannot commit session {name}: session does not exist\n")),
                }
            }
            "abort" => {
                if let Some(p) = ctx.state.pending.take_if(|p| p.session.as_deref() == Some(name)) {
                    ctx.state.running = p.restore;
                }
                take_session(ctx.state, name);
                Reply::none()
            }
            other => Reply::text(invalid(3, other)),
        }
    }

    fn command(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        let (cmd, filters) = split_pipe(line);
        let t = tokens(cmd);
        let Some(&(_, first)) = t.first() else {
            return Reply::none();
        };
        let word = |i: usize| t.get(i).map(|x| x.1).unwrap_or("");
        let in_config = matches!(self.mode, Mode::Config | Mode::Session(_));
        let exec = self.mode != Mode::User;

        if abbrev(first, "enable", 2) && !in_config {
            if exec {
                return Reply::none();
            }
            if ctx.state.running.enable.is_none() {
                self.mode = Mode::Exec;
                return Reply::none();
            }
            self.enable_prompt = true;
            return Reply::none();
        }
        if abbrev(first, "terminal", 3) && abbrev(word(1), "length", 3) {
            return match word(2).parse::<usize>() {
                Ok(0) => {
                    self.length = Some(0);
                    Reply::text("Pagination disabled.\n")
                }
                Ok(n) => {
                    self.length = Some(n);
                    Reply::none()
                }
                Err(_) => Reply::text(invalid(2, word(2))),
            };
        }
        if abbrev(first, "terminal", 3) && abbrev(word(1), "width", 1) {
            return Reply::none();
        }
        if abbrev(first, "show", 2) {
            let what = word(1);
            let text = if abbrev(what, "version", 3) {
                "Arista DCS-7050SX3-48YC8\nHardware version: 11.00\nSoftware image version: 4.29.2F\nArchitecture: x86_64\n\n".to_string()
            } else if !exec {
                return Reply::text(invalid(1, what));
            } else if abbrev(what, "running-config", 3) {
                let conf = match &self.mode {
                    Mode::Session(n) => ctx.state.config_sessions.get(n).unwrap_or(&ctx.state.running).clone(),
                    _ => ctx.state.running.clone(),
                };
                if abbrev(word(2), "section", 3) && !word(3).is_empty() {
                    match apply_filters(&running_config(&conf), &[&format!("section {}", word(3))]) {
                        Ok(t) => t,
                        Err(e) => return Reply::text(e),
                    }
                } else {
                    running_config(&conf)
                }
            } else if abbrev(what, "startup-config", 3) {
                running_config(&ctx.state.saved)
            } else if abbrev(what, "configuration", 6) && abbrev(word(2), "sessions", 3) {
                let mut s = "Maximum number of completed sessions: 1\nMaximum number of pending sessions: 5\n\n  Name      State           User    Terminal\n  --------- --------------- ------- --------\n".to_string();
                for name in ctx.state.config_sessions.keys() {
                    let state = if ctx.state.pending.as_ref().and_then(|p| p.session.as_deref()) == Some(name) {
                        "pendingCommitTimer"
                    } else {
                        "pending"
                    };
                    s.push_str(&format!("  {name:<9} {state:<15} {:<7}\n", ctx.user));
                }
                s
            } else if abbrev(what, "privilege", 3) {
                format!("Current privilege level is {}\n", if exec { 15 } else { 1 })
            } else {
                return Reply::text(invalid(1, what));
            };
            return match apply_filters(&text, &filters) {
                Ok(t) => Reply::paged(t, if no_more(&filters) { None } else { self.page(ctx) }),
                Err(e) => Reply::text(e),
            };
        }
        if abbrev(first, "exit", 3) || abbrev(first, "logout", 4) || first == "quit" {
            if in_config {
                self.mode = Mode::Exec;
                return Reply::none();
            }
            return Reply::close("");
        }
        if !exec {
            return Reply::text(invalid(0, first));
        }
        if abbrev(first, "configure", 4) {
            if abbrev(word(1), "session", 4) {
                let name = word(2);
                if name.is_empty() {
                    return Reply::text("% Incomplete command\n");
                }
                return self.configure_session(ctx, name, word(3));
            }
            if word(1).is_empty() || abbrev(word(1), "terminal", 1) {
                self.mode = Mode::Config;
                return Reply::none();
            }
            return Reply::text(invalid(1, word(1)));
        }
        if abbrev(first, "write", 2) || (abbrev(first, "copy", 2) && abbrev(word(1), "running-config", 3)) {
            ctx.state.saved = ctx.state.running.clone();
            return Reply::text("Copy completed successfully.\n");
        }
        if abbrev(first, "disable", 4) && !in_config {
            self.mode = Mode::User;
            return Reply::none();
        }
        if abbrev(first, "reload", 3) && !in_config {
            ctx.reload();
            return Reply::close("");
        }
        if !in_config {
            return Reply::text(invalid(0, first));
        }
        // Configuration commands.
        if first == "end" {
            if let Mode::Session(name) = &self.mode {
                // `end` in a session commits it, as EOS does.
                let name = name.clone();
                if let Some(conf) = take_session(ctx.state, &name) {
                    ctx.state.running = conf;
                }
            }
            self.mode = Mode::Exec;
            return Reply::none();
        }
        if let Mode::Session(name) = self.mode.clone() {
            if first == "commit" {
                if !ctx.state.config_sessions.contains_key(&name) {
                    return Reply::text("% Session does not exist\n");
                }
                if abbrev(word(1), "timer", 3) {
                    let Some(secs) = parse_timer(word(2)) else {
                        return Reply::text(invalid(2, word(2)));
                    };
                    let restore = ctx.state.running.clone();
                    // The session stays (pending its confirmation) but its changes are in force.
                    let Some(edited) = ctx.state.config_sessions.get(&name).cloned() else {
                        return Reply::none();
                    };
                    let base = ctx
                        .state
                        .config_session_bases
                        .get(&name)
                        .cloned()
                        .unwrap_or_else(|| restore.clone());
                    ctx.state.running = config::rebase(&base, &edited, &restore);
                    ctx.state.pending = Some(PendingConfirm {
                        deadline: ctx.now + ctx.scaled(Duration::from_secs(secs)),
                        restore,
                        session: Some(name.clone()),
                    });
                    self.mode = Mode::Exec;
                    return Reply::none();
                }
                if let Some(conf) = take_session(ctx.state, &name) {
                    ctx.state.running = conf;
                }
                self.mode = Mode::Exec;
                return Reply::none();
            }
            if first == "abort" {
                take_session(ctx.state, &name);
                self.mode = Mode::Exec;
                return Reply::none();
            }
        }
        if abbrev(first, "username", 5) {
            return self.username(ctx, &t);
        }
        if first == "no" && abbrev(word(1), "username", 5) {
            let fault = ctx.fx.fault;
            let target = self.target(ctx.state);
            if fault != super::Fault::IgnorePasswordChange {
                target.users.remove(word(2));
            }
            return Reply::none();
        }
        if abbrev(first, "enable", 2) && (abbrev(word(1), "password", 1) || abbrev(word(1), "secret", 1)) {
            let (hashed, value) = match (word(2), word(3)) {
                ("sha512", v) => (true, v),
                ("0", v) => (false, v),
                (v, _) => (false, v),
            };
            if value.is_empty() {
                return Reply::text("% Incomplete command\n");
            }
            let secret = if hashed {
                if !config::is_valid_hash(Scheme::Sha512Crypt, value) {
                    return Reply::text("% Invalid encrypted password\n");
                }
                Secret::Hash(value.to_string())
            } else {
                Secret::Hash(config::hash(Scheme::Sha512Crypt, value))
            };
            let mut fx = std::mem::take(&mut ctx.fx);
            fx.set_enable(self.target(ctx.state), secret);
            ctx.fx = fx;
            return Reply::none();
        }
        if abbrev(first, "hostname", 4) && !word(1).is_empty() {
            self.target(ctx.state).hostname = word(1).to_string();
            return Reply::none();
        }
        Reply::text(invalid(0, first))
    }

    fn username(&mut self, ctx: &mut Ctx, t: &[(usize, &str)]) -> Reply {
        let name = t.get(1).map(|x| x.1).unwrap_or("");
        if name.is_empty() {
            return Reply::text("% Incomplete command\n");
        }
        let target = self.target(ctx.state);
        let mut user = target.users.get(name).cloned().unwrap_or(User {
            secret: Secret::Plain(String::new()),
            privilege: 1,
        });
        let mut have_secret = target.users.contains_key(name);
        let mut i = 2;
        while i < t.len() {
            let w = t[i].1;
            match w {
                "privilege" => match t.get(i + 1).and_then(|x| x.1.parse::<u8>().ok()) {
                    Some(n) if n <= 15 => {
                        user.privilege = n;
                        i += 2;
                    }
                    _ => return Reply::text(invalid(i + 1, t.get(i + 1).map(|x| x.1).unwrap_or(""))),
                },
                "role" => {
                    match t.get(i + 1).map(|x| x.1) {
                        Some("network-admin") => user.privilege = user.privilege.max(15),
                        Some(_) => {}
                        None => return Reply::text("% Incomplete command\n"),
                    }
                    i += 2;
                }
                "secret" => {
                    let (hashed, value) = match (t.get(i + 1).map(|x| x.1), t.get(i + 2).map(|x| x.1)) {
                        (Some("sha512"), Some(v)) => (true, v),
                        (Some("0"), Some(v)) => (false, v),
                        (Some(v), _) => (false, v),
                        (None, _) => return Reply::text("% Incomplete command\n"),
                    };
                    if hashed {
                        if !config::is_valid_hash(Scheme::Sha512Crypt, value) {
                            return Reply::text("% Invalid encrypted password\n");
                        }
                        user.secret = Secret::Hash(value.to_string());
                    } else {
                        user.secret = Secret::Hash(config::hash(Scheme::Sha512Crypt, value));
                    }
                    have_secret = true;
                    break;
                }
                "nopassword" => {
                    user.secret = Secret::Plain(String::new());
                    have_secret = true;
                    i += 1;
                }
                other => return Reply::text(invalid(i, other)),
            }
        }
        if !have_secret {
            return Reply::text("% Incomplete command\n");
        }
        let mut fx = std::mem::take(&mut ctx.fx);
        fx.set_user(self.target(ctx.state), name, user);
        ctx.fx = fx;
        Reply::none()
    }
}

/// Starts the named configuration session from what runs now (if it is not open already).
fn open_session(st: &mut DeviceState, name: &str) {
    if !st.config_sessions.contains_key(name) {
        st.config_sessions.insert(name.to_string(), st.running.clone());
        st.config_session_bases.insert(name.to_string(), st.running.clone());
    }
}

/// Closes the named session and returns what committing it makes of the running configuration:
/// its own changes on top of whatever others committed meanwhile.
fn take_session(st: &mut DeviceState, name: &str) -> Option<Conf> {
    let edited = st.config_sessions.remove(name)?;
    let base = st
        .config_session_bases
        .remove(name)
        .unwrap_or_else(|| st.running.clone());
    Some(config::rebase(&base, &edited, &st.running))
}

fn parse_timer(s: &str) -> Option<u64> {
    let parts: Vec<u64> = s.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    match parts.as_slice() {
        [h, m, sec] if *m < 60 && *sec < 60 => Some(h * 3600 + m * 60 + sec),
        _ => None,
    }
}

const EXEC_HELP: &[(&str, &str)] = &[
    ("configure", "Enter configuration mode"),
    ("copy", "Copy files from source to destination"),
    ("disable", "Turn off privileged commands"),
    ("enable", "Turn on privileged commands"),
    ("exit", "Leave the EXEC"),
    ("reload", "Reset the system"),
    ("show", "Display details of switch operation"),
    ("terminal", "Configure the terminal"),
    ("write", "Write running configuration to startup"),
];

const CONFIG_HELP: &[(&str, &str)] = &[
    ("abort", "Abort the configuration session"),
    ("commit", "Commit the configuration session"),
    ("enable", "Configure enable password"),
    ("end", "Exit configuration mode"),
    ("exit", "Exit configuration mode"),
    ("hostname", "Configure the system hostname"),
    ("no", "Disable the command that follows"),
    ("username", "Add a user or change a user's password"),
];

impl Shell for EosShell {
    fn greeting(&mut self, _ctx: &mut Ctx) -> String {
        "Last login: Thu Nov 26 09:14:02 2026 from 127.0.0.1\n".into()
    }

    fn prompt(&self, ctx: &Ctx) -> String {
        if self.enable_prompt {
            return "Password: ".into();
        }
        let host = &ctx.state.running.hostname;
        match &self.mode {
            Mode::User => format!("{host}>"),
            Mode::Exec => format!("{host}#"),
            Mode::Config => format!("{host}(config)#"),
            Mode::Session(name) => format!("{host}(config-s-{})#", name.chars().take(6).collect::<String>()),
        }
    }

    fn line(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        if self.enable_prompt {
            self.enable_prompt = false;
            if ctx.state.running.enable.as_ref().is_some_and(|e| e.verify(line)) {
                self.mode = Mode::Exec;
                return Reply::none();
            }
            return Reply::text("% Access denied\n");
        }
        self.command(ctx, line)
    }

    fn help(&mut self, _ctx: &mut Ctx, partial: &str) -> Option<String> {
        if self.enable_prompt {
            return None;
        }
        let table = match self.mode {
            Mode::Config | Mode::Session(_) => CONFIG_HELP,
            _ => EXEC_HELP,
        };
        Some(super::cisco_ios::cisco_help(partial, table))
    }

    fn echo(&self) -> Echo {
        if self.enable_prompt {
            Echo::Off
        } else {
            Echo::On
        }
    }

    fn control(&mut self, _ctx: &mut Ctx, key: u8) -> Option<Reply> {
        if key == 0x1a && matches!(self.mode, Mode::Config | Mode::Session(_)) {
            self.mode = Mode::Exec;
        }
        Some(Reply::none())
    }
}
