//! Emulated Cisco ASA: login lands at `host>`, `enable` asks `Password:` and echoes `*`, `terminal
//! pager 0`, `<--- More --->`, `username NAME password PW privilege N` shown as `$sha512$... pbkdf2`
//! (and taken back pasted with `pbkdf2` or `encrypted`), the 3-32 character limit, `ERROR: %`
//! messages, `write memory`.

use std::collections::BTreeMap;

use super::cisco_ios::{apply_filters, split_pipe, tokens};
use super::config::{self, Conf, DeviceState, Scheme, Secret, User};
use super::{abbrev, Ctx, DeviceSpec, Echo, Reply, Shell};

pub(crate) fn initial_conf(spec: &DeviceSpec) -> (Conf, bool) {
    let users = spec
        .accounts
        .iter()
        .map(|a| {
            let user = User {
                secret: Secret::Hash(config::hash(Scheme::AsaPbkdf2, a.password.expose())),
                privilege: a.privilege,
            };
            (a.name.clone(), user)
        })
        .collect::<BTreeMap<_, _>>();
    let enable = spec
        .enable_secret
        .as_ref()
        .map(|p| Secret::Hash(config::hash(Scheme::AsaPbkdf2, p.expose())));
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
        Secret::Plain(p) => config::hash(Scheme::AsaPbkdf2, p),
    }
}

fn username_lines(conf: &Conf) -> Vec<String> {
    conf.users
        .iter()
        .map(|(name, u)| {
            let privilege = if u.privilege == 2 {
                String::new()
            } else {
                format!(" privilege {}", u.privilege)
            };
            format!("username {name} password {} pbkdf2{privilege}", hash_of(&u.secret))
        })
        .collect()
}

fn running_config(conf: &Conf) -> String {
    let mut out = vec![
        ": Saved".to_string(),
        ":".into(),
        ": Serial Number: FCH1234A5BC".into(),
        ": Hardware:   ASA5512, 4096 MB RAM, CPU Clarkdale 2800 MHz, 1 CPU (2 cores)".into(),
        ":".into(),
        "ASA Version 9.12(4)67 ".into(),
        "!".into(),
        format!("hostname {}", conf.hostname),
    ];
    if let Some(e) = &conf.enable {
        out.push(format!("enable password {} pbkdf2", hash_of(e)));
    }
    out.push("names".into());
    out.push("no mac-address auto".into());
    out.push("!".into());
    for (i, name) in ["inside", "outside", "dmz"].iter().enumerate() {
        out.push(format!("interface GigabitEthernet0/{i}"));
        out.push(format!(" nameif {name}"));
        out.push(format!(" security-level {}", 100 - 50 * i));
        out.push(format!(" ip address 192.0.{}.1 255.255.255.0 ", i + 2));
        out.push("!".into());
    }
    out.push("ftp mode passive".into());
    out.push("pager lines 24".into());
    out.push("mtu inside 1500".into());
    out.push("mtu outside 1500".into());
    out.push("aaa authentication ssh console LOCAL".into());
    out.push("ssh 127.0.0.0 255.0.0.0 inside".into());
    out.push("ssh version 2".into());
    out.extend(username_lines(conf));
    out.push("!".into());
    out.push("Cryptochecksum:5f1b2a9c0d7e4f36a8b1c2d3e4f50617".into());
    out.push(": end".into());
    out.join("\n") + "\n"
}

fn invalid(prompt_len: usize, offset: usize) -> String {
    format!(
        "{}^\nERROR: % Invalid input detected at '^' marker.\n",
        " ".repeat(prompt_len + offset)
    )
}

const ASA_MIN: usize = 3;
const ASA_MAX: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    User,
    Exec,
    Config,
}

pub(crate) struct AsaShell {
    mode: Mode,
    enable_prompt: bool,
    /// `copy running-config startup-config`: 1 while asking the source, 2 the destination.
    copy_question: u8,
    pager: Option<usize>,
}

impl AsaShell {
    pub(crate) fn new(_user: &str, _st: &DeviceState) -> Self {
        AsaShell {
            mode: Mode::User,
            enable_prompt: false,
            copy_question: 0,
            pager: None,
        }
    }

    fn page(&self, ctx: &Ctx) -> Option<usize> {
        match self.pager {
            Some(0) => None,
            Some(n) => Some(n),
            None if ctx.rows == 0 => None,
            None => Some(24),
        }
    }

    fn command(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        let pl = self.prompt(ctx).trim_start_matches('\r').len();
        let (cmd, filters) = split_pipe(line);
        let t = tokens(cmd);
        let Some(&(_, first)) = t.first() else {
            return Reply::none();
        };
        let word = |i: usize| t.get(i).map(|x| x.1).unwrap_or("");
        let at = |i: usize| t.get(i).map(|x| x.0).unwrap_or(cmd.len());
        let exec = self.mode != Mode::User;
        let config = self.mode == Mode::Config;

        if abbrev(first, "enable", 2) && !config {
            if exec {
                return Reply::none();
            }
            self.enable_prompt = true;
            return Reply::none();
        }
        if config && first == "end" {
            self.mode = Mode::Exec;
            return Reply::none();
        }
        if abbrev(first, "exit", 3) || abbrev(first, "quit", 1) || abbrev(first, "logout", 4) {
            if config {
                self.mode = Mode::Exec;
                return Reply::none();
            }
            return Reply::close("\nLogoff\n\n");
        }
        if abbrev(first, "disable", 4) && !config {
            self.mode = Mode::User;
            return Reply::none();
        }
        if abbrev(first, "terminal", 3) && abbrev(word(1), "pager", 1) {
            let n = if word(2) == "lines" { word(3) } else { word(2) };
            return match n.parse::<usize>() {
                Ok(n) => {
                    self.pager = Some(n);
                    Reply::none()
                }
                Err(_) => Reply::text(invalid(pl, at(2))),
            };
        }
        if abbrev(first, "show", 2) {
            let what = word(1);
            let text = if abbrev(what, "version", 3) {
                format!(
                    "\nCisco Adaptive Security Appliance Software Version 9.12(4)67 \nSSP Operating System Version 2.6(1.272)\n\n{} up 12 days 4 hours\n\nHardware:   ASA5512, 4096 MB RAM, CPU Clarkdale 2800 MHz, 1 CPU (2 cores)\n\n",
                    ctx.state.running.hostname
                )
            } else if !exec {
                return Reply::text(invalid(pl, at(1)));
            } else if abbrev(what, "running-config", 3) {
                match word(2) {
                    "" => running_config(&ctx.state.running),
                    w if abbrev(w, "username", 4) => username_lines(&ctx.state.running).join("\n") + "\n",
                    w if abbrev(w, "enable", 2) => ctx
                        .state
                        .running
                        .enable
                        .as_ref()
                        .map(|e| format!("enable password {} pbkdf2\n", hash_of(e)))
                        .unwrap_or_default(),
                    _ => String::new(),
                }
            } else if abbrev(what, "startup-config", 3) {
                running_config(&ctx.state.saved)
            } else if what == "curpriv" {
                format!(
                    "Username : {}\nCurrent privilege level : {}\nCurrent Mode/s : P_PRIV\n",
                    ctx.user,
                    if exec { 15 } else { 1 }
                )
            } else if what.is_empty() {
                return Reply::text("ERROR: % Incomplete command\n");
            } else {
                return Reply::text(invalid(pl, at(1)));
            };
            return match apply_filters(&text, &filters) {
                Ok(t) => Reply::paged(t, self.page(ctx)),
                Err(e) => Reply::text(format!("ERROR: {e}")),
            };
        }
        if !exec {
            return Reply::text(invalid(pl, at(0)));
        }
        if abbrev(first, "write", 2) && (word(1).is_empty() || abbrev(word(1), "memory", 3)) {
            ctx.state.saved = ctx.state.running.clone();
            return Reply::text(
                "Building configuration...\nCryptochecksum: 5f1b2a9c 0d7e4f36 a8b1c2d3 e4f50617 \n\n6417 bytes copied in 0.230 secs\n[OK]\n",
            );
        }
        if !config
            && abbrev(first, "copy", 2)
            && abbrev(word(1), "running-config", 3)
            && abbrev(word(2), "startup-config", 3)
        {
            self.copy_question = 1;
            return Reply::none();
        }
        if !config && abbrev(first, "configure", 4) && (word(1).is_empty() || abbrev(word(1), "terminal", 1)) {
            self.mode = Mode::Config;
            return Reply::none();
        }
        if !config && abbrev(first, "reload", 3) {
            ctx.reload();
            return Reply::close("Proceed with reload? [confirm] \n\n***\n*** --- START GRACEFUL SHUTDOWN ---\n");
        }
        if !config {
            return Reply::text(invalid(pl, at(0)));
        }
        if abbrev(first, "username", 4) {
            return self.username(ctx, line, &t, pl);
        }
        if first == "no" && abbrev(word(1), "username", 4) {
            if ctx.fx.fault != super::Fault::IgnorePasswordChange {
                ctx.state.running.users.remove(word(2));
            }
            return Reply::none();
        }
        if abbrev(first, "enable", 2) && abbrev(word(1), "password", 1) {
            let value = word(2);
            if value.is_empty() {
                return Reply::text("ERROR: % Incomplete command\n");
            }
            let hashed = matches!(word(3), "pbkdf2" | "encrypted");
            let secret = if hashed {
                if !config::is_valid_hash(Scheme::AsaPbkdf2, value) {
                    return Reply::text("ERROR: Invalid encrypted password\n");
                }
                Secret::Hash(value.to_string())
            } else {
                if let Err(e) = check_length(value) {
                    return Reply::text(e);
                }
                Secret::Hash(config::hash(Scheme::AsaPbkdf2, value))
            };
            ctx.fx.set_enable(&mut ctx.state.running, secret);
            return Reply::none();
        }
        if abbrev(first, "hostname", 3) && !word(1).is_empty() {
            ctx.state.running.hostname = word(1).to_string();
            return Reply::none();
        }
        if abbrev(first, "aaa", 3) || abbrev(first, "ssh", 3) {
            return Reply::none();
        }
        Reply::text(invalid(pl, at(0)))
    }

    fn username(&mut self, ctx: &mut Ctx, _line: &str, t: &[(usize, &str)], pl: usize) -> Reply {
        let name = t.get(1).map(|x| x.1).unwrap_or("");
        if name.is_empty() {
            return Reply::text("ERROR: % Incomplete command\n");
        }
        let mut user = ctx.state.running.users.get(name).cloned().unwrap_or(User {
            secret: Secret::Plain(String::new()),
            privilege: 2,
        });
        let mut have_secret = ctx.state.running.users.contains_key(name);
        let mut i = 2;
        while i < t.len() {
            let (off, w) = t[i];
            match w {
                "password" => {
                    let Some(&(_, value)) = t.get(i + 1) else {
                        return Reply::text("ERROR: % Incomplete command\n");
                    };
                    let hashed = matches!(t.get(i + 2).map(|x| x.1), Some("pbkdf2" | "encrypted"));
                    if hashed {
                        if !config::is_valid_hash(Scheme::AsaPbkdf2, value) {
                            return Reply::text("ERROR: Invalid encrypted password\n");
                        }
                        user.secret = Secret::Hash(value.to_string());
                        i += 3;
                    } else {
                        if let Err(e) = check_length(value) {
                            return Reply::text(e);
                        }
                        user.secret = Secret::Hash(config::hash(Scheme::AsaPbkdf2, value));
                        i += 2;
                    }
                    have_secret = true;
                }
                "privilege" => match t.get(i + 1).and_then(|x| x.1.parse::<u8>().ok()) {
                    Some(n) if n <= 15 => {
                        user.privilege = n;
                        i += 2;
                    }
                    _ => return Reply::text(invalid(pl, t.get(i + 1).map(|x| x.0).unwrap_or(off + w.len()))),
                },
                "nopassword" => {
                    user.secret = Secret::Plain(String::new());
                    have_secret = true;
                    i += 1;
                }
                _ => return Reply::text(invalid(pl, off)),
            }
        }
        if !have_secret {
            return Reply::text("ERROR: % Incomplete command\n");
        }
        ctx.fx.set_user(&mut ctx.state.running, name, user);
        Reply::none()
    }
}

fn check_length(pw: &str) -> Result<(), String> {
    let n = pw.chars().count();
    if !(ASA_MIN..=ASA_MAX).contains(&n) {
        return Err(format!(
            "ERROR: Password length must be between {ASA_MIN} and {ASA_MAX} characters\n"
        ));
    }
    Ok(())
}

const USER_HELP: &[(&str, &str)] = &[
    ("enable", "Turn on privileged commands"),
    ("exit", "Exit from the EXEC"),
    ("help", "Interactive help for commands"),
    ("logout", "Exit from the EXEC"),
    ("quit", "Exit from the EXEC"),
    ("show", "Show running system information"),
];

const EXEC_HELP: &[(&str, &str)] = &[
    ("configure", "Configure from the terminal"),
    ("disable", "Turn off privileged commands"),
    ("exit", "Exit from the EXEC"),
    ("reload", "Halt and reload system"),
    ("show", "Show running system information"),
    ("terminal", "Set terminal line parameters"),
    ("write", "Write running configuration to memory, network, or terminal"),
];

const CONFIG_HELP: &[(&str, &str)] = &[
    (
        "aaa",
        "Enable, disable, or view user authentication, authorization and accounting",
    ),
    ("enable", "Configure password for the enable command"),
    ("exit", "Exit from config mode"),
    ("hostname", "Change host name of the system"),
    ("no", "Negate a command or set its defaults"),
    ("username", "Configure user authentication local database"),
];

impl Shell for AsaShell {
    fn greeting(&mut self, ctx: &mut Ctx) -> String {
        format!(
            "User {} logged in to {}\nLogins over the last 90 days: 7.  Last login: 09:14:02 UTC Nov 26 2026 from 127.0.0.1\nFailed logins since the last login: 0.  \nType help or '?' for a list of available commands.\n",
            ctx.user, ctx.state.running.hostname
        )
    }

    fn prompt(&self, ctx: &Ctx) -> String {
        if self.enable_prompt {
            return "Password: ".into();
        }
        match self.copy_question {
            1 => return "\nSource filename [running-config]? ".into(),
            2 => return "\nDestination filename [startup-config]? ".into(),
            _ => {}
        }
        let host = &ctx.state.running.hostname;
        match self.mode {
            Mode::User => format!("\r{host}> "),
            Mode::Exec => format!("\r{host}# "),
            Mode::Config => format!("\r{host}(config)# "),
        }
    }

    fn line(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        match (self.copy_question, line.trim()) {
            (1, "" | "running-config") => {
                self.copy_question = 2;
                return Reply::none();
            }
            (2, "" | "startup-config") => {
                self.copy_question = 0;
                ctx.state.saved = ctx.state.running.clone();
                return Reply::text(
                    "Cryptochecksum: 5f1b2a9c 0d7e4f36 a8b1c2d3 e4f50617 \n\n6417 bytes copied in 0.230 secs\n",
                );
            }
            (1 | 2, other) => {
                self.copy_question = 0;
                return Reply::text(format!("%Error opening disk0:/{other} (No such file or directory)\n"));
            }
            _ => {}
        }
        if self.enable_prompt {
            self.enable_prompt = false;
            let ok = ctx.state.running.enable.as_ref().is_some_and(|e| e.verify(line));
            if ok {
                self.mode = Mode::Exec;
                return Reply::none();
            }
            return Reply::text("Invalid password\n");
        }
        self.command(ctx, line)
    }

    fn help(&mut self, _ctx: &mut Ctx, partial: &str) -> Option<String> {
        if self.enable_prompt {
            return None;
        }
        let table = match self.mode {
            Mode::User => USER_HELP,
            Mode::Exec => EXEC_HELP,
            Mode::Config => CONFIG_HELP,
        };
        Some(super::cisco_ios::cisco_help(partial, table))
    }

    fn echo(&self) -> Echo {
        if self.enable_prompt {
            Echo::Mask
        } else {
            Echo::On
        }
    }

    fn pager_prompt(&self) -> &'static str {
        "<--- More --->"
    }
}
