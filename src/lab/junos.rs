//! Emulated Juniper Junos: operational (`user@h>`) and configuration (`[edit]` / `user@h#`) modes,
//! a candidate configuration, `plain-text-password` asked twice without echo, commit errors,
//! `commit confirmed N` that rolls back by itself unless confirmed by `commit`, `rollback N`,
//! `show | compare`, the hierarchical and `| display set` formats, and exec channels as oxidized
//! uses them. Root logs in to the FreeBSD shell (`root@h:RE:0% `), reaches the CLI with `cli`, and
//! `exit` from the CLI returns to that shell, as on a real box.

use std::collections::BTreeMap;
use std::time::Duration;

use super::config::{self, Conf, DeviceState, PendingConfirm, Scheme, Secret, User};
use super::{Ctx, DeviceSpec, Echo, Reply, Shell};

/// A user whose `class` statement is missing (a commit refuses it).
const NO_CLASS: u8 = u8::MAX;
/// How many committed configurations Junos keeps for `rollback N`.
const MAX_ROLLBACK: usize = 50;

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
    (
        Conf {
            hostname: spec.name.clone(),
            users,
            enable: None,
        },
        true,
    )
}

fn class_name(privilege: u8) -> &'static str {
    match privilege {
        15 => "super-user",
        5..=14 => "operator",
        1..=4 => "read-only",
        _ => "unauthorized",
    }
}

fn class_privilege(class: &str) -> Option<u8> {
    match class {
        "super-user" => Some(15),
        "operator" => Some(5),
        "read-only" => Some(1),
        "unauthorized" => Some(0),
        _ => None,
    }
}

fn hash_of(secret: &Secret) -> String {
    match secret {
        Secret::Hash(h) => h.clone(),
        Secret::Plain(p) if p.is_empty() => String::new(),
        Secret::Plain(p) => config::hash(Scheme::Sha512Crypt, p),
    }
}

/// `system login` in Junos's hierarchical format, indented by `indent` levels.
fn login_tree(conf: &Conf, indent: usize) -> Vec<String> {
    let pad = |n: usize| "    ".repeat(indent + n);
    let mut out = Vec::new();
    for (i, (name, u)) in conf.users.iter().enumerate() {
        if name == "root" {
            continue;
        }
        out.push(format!("{}user {name} {{", pad(0)));
        out.push(format!("{}uid {};", pad(1), 2000 + i));
        if u.privilege != NO_CLASS {
            out.push(format!("{}class {};", pad(1), class_name(u.privilege)));
        }
        let h = hash_of(&u.secret);
        if !h.is_empty() {
            out.push(format!("{}authentication {{", pad(1)));
            out.push(format!("{}encrypted-password \"{h}\"; ## SECRET-DATA", pad(2)));
            out.push(format!("{}}}", pad(1)));
        }
        out.push(format!("{}}}", pad(0)));
    }
    out
}

fn login_set(conf: &Conf) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(root) = conf.users.get("root") {
        out.push(format!(
            "set system root-authentication encrypted-password \"{}\"",
            hash_of(&root.secret)
        ));
    }
    for (i, (name, u)) in conf.users.iter().enumerate() {
        if name == "root" {
            continue;
        }
        out.push(format!("set system login user {name} uid {}", 2000 + i));
        if u.privilege != NO_CLASS {
            out.push(format!(
                "set system login user {name} class {}",
                class_name(u.privilege)
            ));
        }
        let h = hash_of(&u.secret);
        if !h.is_empty() {
            out.push(format!(
                "set system login user {name} authentication encrypted-password \"{h}\""
            ));
        }
    }
    out
}

fn full_tree(conf: &Conf) -> Vec<String> {
    let mut out = vec![
        "## Last commit: 2026-11-26 09:14:02 UTC by admin".to_string(),
        "version 22.4R3-S2.11;".into(),
        "system {".into(),
        format!("    host-name {};", conf.hostname),
    ];
    if let Some(root) = conf.users.get("root") {
        out.push("    root-authentication {".into());
        out.push(format!(
            "        encrypted-password \"{}\"; ## SECRET-DATA",
            hash_of(&root.secret)
        ));
        out.push("    }".into());
    }
    out.push("    login {".into());
    out.extend(login_tree(conf, 2));
    out.push("    }".into());
    out.extend(
        [
            "    services {",
            "        ssh;",
            "        netconf {",
            "            ssh;",
            "        }",
            "    }",
            "    syslog {",
            "        archive size 100k files 3;",
            "        user * {",
            "            any emergency;",
            "        }",
            "    }",
            "}",
            "interfaces {",
            "    ge-0/0/0 {",
            "        unit 0 {",
            "            family inet {",
            "                address 192.0.2.20/24;",
            "            }",
            "        }",
            "    }",
            "}",
        ]
        .map(String::from),
    );
    out
}

fn full_set(conf: &Conf) -> Vec<String> {
    let mut out = vec![
        "set version 22.4R3-S2.11".to_string(),
        format!("set system host-name {}", conf.hostname),
    ];
    out.extend(login_set(conf));
    out.extend(
        [
            "set system services ssh",
            "set system services netconf ssh",
            "set system syslog archive size 100k",
            "set system syslog archive files 3",
            "set system syslog user * any emergency",
            "set interfaces ge-0/0/0 unit 0 family inet address 192.0.2.20/24",
        ]
        .map(String::from),
    );
    out
}

/// `show | compare` between the committed and the candidate configuration.
fn compare(active: &Conf, candidate: &Conf) -> String {
    let mut out = Vec::new();
    let names: std::collections::BTreeSet<&String> = active.users.keys().chain(candidate.users.keys()).collect();
    for name in names {
        match (active.users.get(name), candidate.users.get(name)) {
            (Some(a), Some(c)) if a == c => {}
            (Some(a), Some(c)) => {
                if a.privilege != c.privilege {
                    out.push(format!("[edit system login user {name}]"));
                    out.push(format!("-    class {};", class_name(a.privilege)));
                    out.push(format!("+    class {};", class_name(c.privilege)));
                }
                if a.secret != c.secret {
                    out.push(format!("[edit system login user {name} authentication]"));
                    out.push(format!(
                        "-    encrypted-password \"{}\"; ## SECRET-DATA",
                        hash_of(&a.secret)
                    ));
                    out.push(format!(
                        "+    encrypted-password \"{}\"; ## SECRET-DATA",
                        hash_of(&c.secret)
                    ));
                }
            }
            (Some(_), None) => {
                out.push("[edit system login]".into());
                out.push(format!("-    user {name} {{ ... }}"));
            }
            (None, Some(c)) => {
                out.push("[edit system login]".into());
                let mut single = Conf {
                    hostname: String::new(),
                    users: BTreeMap::new(),
                    enable: None,
                };
                single.users.insert(name.clone(), c.clone());
                for l in login_tree(&single, 1) {
                    out.push(format!("+{}", &l[1..]));
                }
            }
            (None, None) => {}
        }
    }
    if out.is_empty() {
        String::new()
    } else {
        out.join("\n") + "\n"
    }
}

/// Junos's rules for a plain-text password. Err: the error lines.
fn check_password(pw: &str) -> Result<(), String> {
    let n = pw.chars().count();
    if n < 6 {
        return Err("error: minimum password length is 6\n".into());
    }
    if n > 128 {
        return Err("error: maximum password length is 128\n".into());
    }
    let classes = [
        pw.chars().any(|c| c.is_ascii_lowercase()),
        pw.chars().any(|c| c.is_ascii_uppercase()),
        pw.chars().any(|c| c.is_ascii_digit()),
        pw.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    if classes.iter().filter(|x| **x).count() < 2 {
        return Err("error: require change of case, digits or punctuation\n".into());
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pending {
    /// `plain-text-password`: first and then second entry for this user.
    NewPassword {
        user: String,
        first: Option<String>,
    },
    ExitUncommitted,
}

pub(crate) struct JunosShell {
    user: String,
    /// Some: configuration mode with this candidate.
    candidate: Option<Conf>,
    /// What the candidate was copied from (or last committed), to tell this session's own changes.
    base: Option<Conf>,
    pending: Option<Pending>,
    screen_length: Option<usize>,
    /// Printed above the next `[edit]`.
    banner: Option<String>,
    /// At the FreeBSD shell (root's login shell) rather than in the Junos CLI.
    unix_shell: bool,
    /// The CLI was started with `cli` from the shell: leaving it returns there.
    cli_from_shell: bool,
}

impl JunosShell {
    pub(crate) fn new(user: &str, _st: &DeviceState) -> Self {
        JunosShell {
            user: user.to_string(),
            candidate: None,
            base: None,
            pending: None,
            screen_length: None,
            banner: None,
            unix_shell: user == "root",
            cli_from_shell: false,
        }
    }

    fn unix_prompt(&self, ctx: &Ctx) -> String {
        format!("{}@{}:RE:0% ", self.user, ctx.state.running.hostname)
    }

    /// A line typed at the FreeBSD shell (csh): `cli` starts the Junos CLI, `cli -c '...'` runs
    /// one CLI command, `exit` logs out; little else is worth emulating.
    fn unix_line(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        let w = super::words(line);
        let w: Vec<&str> = w.iter().map(String::as_str).collect();
        match w.as_slice() {
            [] => Reply::none(),
            ["cli"] => {
                self.unix_shell = false;
                self.cli_from_shell = true;
                Reply::none()
            }
            ["cli", "-c", command @ ..] if !command.is_empty() => {
                let saved = self.screen_length.replace(0);
                let reply = self.operational(ctx, &command.join(" "));
                self.screen_length = saved;
                // `exit` inside `cli -c` ends that CLI, not the login shell.
                self.unix_shell = true;
                self.cli_from_shell = false;
                Reply {
                    close: reply.close && ctx.fx.reloaded,
                    ..reply
                }
            }
            ["exit"] | ["logout"] => Reply::close(""),
            ["whoami"] => Reply::text(format!("{}\n", self.user)),
            ["hostname"] => Reply::text(format!("{}\n", ctx.state.running.hostname)),
            ["uname"] => Reply::text("JUNOS\n"),
            ["pwd"] => Reply::text(format!("/var/home/{}\n", self.user)),
            ["id"] => {
                Reply::text("uid=0(root) gid=0(wheel) groups=0(wheel),5(operator),10(field),31(guest),73(config)\n")
            }
            [first, ..] => Reply::text(format!("{first}: Command not found.\n")),
        }
    }

    fn page(&self, ctx: &Ctx) -> Option<usize> {
        match self.screen_length {
            Some(0) => None,
            Some(n) => Some(n),
            None if ctx.rows == 0 => None,
            None => Some(ctx.rows),
        }
    }

    fn unknown(offset: usize, prompt_len: usize) -> String {
        format!("{}^\nunknown command.\n", " ".repeat(prompt_len + offset))
    }

    fn operational(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        let (cmd, pipe) = match line.split_once('|') {
            Some((c, p)) => (c.trim(), Some(p.trim())),
            None => (line.trim(), None),
        };
        let w: Vec<&str> = cmd.split_whitespace().collect();
        let prompt_len = self.op_prompt(ctx).len();
        let Some(&first) = w.first() else {
            return Reply::none();
        };
        match (first, w.get(1).copied(), w.get(2).copied()) {
            ("set", Some("cli"), Some("screen-length")) => match w.get(3).and_then(|n| n.parse::<usize>().ok()) {
                Some(n) => {
                    self.screen_length = Some(n);
                    Reply::text(format!("Screen length set to {n}\n\n"))
                }
                None => Reply::text("error: invalid value\n"),
            },
            ("set", Some("cli"), Some("screen-width")) => match w.get(3).and_then(|n| n.parse::<usize>().ok()) {
                Some(n) => Reply::text(format!("Screen width set to {n}\n\n")),
                None => Reply::text("error: invalid value\n"),
            },
            ("set", Some("cli"), Some("complete-on-space")) => Reply::text("Disabling complete-on-space\n\n"),
            ("configure", _, _) if ctx.state.running.users.get(ctx.user).is_some_and(|u| u.privilege < 5) => {
                Reply::text(Self::unknown(0, prompt_len))
            }
            ("configure", _, _) => {
                self.candidate = Some(ctx.state.running.clone());
                self.base = Some(ctx.state.running.clone());
                let mut text = "Entering configuration mode\n".to_string();
                if ctx.state.pending.is_some() {
                    text.push_str("[edit]\n  'commit confirmed' must be confirmed by issuing 'commit' before the rollback\n");
                }
                Reply::text(text)
            }
            ("exit", _, _) | ("quit", _, _) if self.cli_from_shell => {
                self.unix_shell = true;
                self.cli_from_shell = false;
                Reply::none()
            }
            ("exit", _, _) | ("quit", _, _) => Reply::close(""),
            ("show", Some("version"), _) => Reply::text(format!(
                "Hostname: {}\nModel: srx300\nJunos: 22.4R3-S2.11\nJUNOS Software Release [22.4R3-S2.11]\n\n",
                ctx.state.running.hostname
            )),
            ("show", Some("configuration"), section) => {
                let display_set = match pipe {
                    None => false,
                    Some(p) if p.split_whitespace().collect::<Vec<_>>() == ["display", "set"] => true,
                    Some(p) if p.starts_with("display omit") => false,
                    Some(_) => return Reply::text("error: unknown pipe command\n"),
                };
                let conf = &ctx.state.running;
                let lines = match (section, w.get(3).copied()) {
                    (None, _) if display_set => full_set(conf),
                    (None, _) => full_tree(conf),
                    (Some("system"), Some("login")) if display_set => login_set(conf),
                    (Some("system"), Some("login")) => login_tree(conf, 0),
                    (Some("system"), None) if display_set => login_set(conf),
                    (Some(_), _) if display_set => full_set(conf),
                    (Some(_), _) => full_tree(conf),
                };
                let mut text = lines.join("\n");
                text.push_str("\n\n");
                Reply::paged(text, self.page(ctx))
            }
            ("show", Some("system"), Some("commit")) => {
                let mut text = String::new();
                for (i, _) in ctx.state.history.iter().enumerate().take(MAX_ROLLBACK) {
                    let extra = if i == 0 && ctx.state.pending.is_some() {
                        "\n    commit confirmed, rollback in effect"
                    } else {
                        ""
                    };
                    text.push_str(&format!(
                        "{i}   2026-11-26 09:{:02}:00 UTC by {} via cli{extra}\n",
                        59 - i.min(59),
                        self.user
                    ));
                }
                Reply::paged(text + "\n", self.page(ctx))
            }
            ("show", Some("chassis"), Some("hardware")) => Reply::text(
                "Hardware inventory:\nItem             Version  Part number  Serial number     Description\nChassis                                CV0000AF0000      SRX300\nRouting Engine   REV 0x08 650-077890   CV0000AF0000      RE-SRX300\nFPC 0                     BUILTIN      BUILTIN           FPC\n  PIC 0                                                  6xGE,2xGE SFP Base PIC\nPower Supply 0\n\n",
            ),
            ("show", Some("system"), Some("license")) => Reply::text(
                "License usage: none\n\nLicenses installed: none\n\n",
            ),
            ("show", Some("system"), Some("users")) => Reply::text(format!(
                "USER     TTY      FROM                              LOGIN@  IDLE WHAT\n{:<8} pts/0    127.0.0.1                         9:14AM     - -cli (cli)\n\n",
                self.user
            )),
            ("show", None, _) => Reply::text("error: syntax error, expecting <command>\n"),
            ("request", Some("system"), Some("reboot")) => {
                ctx.reload();
                Reply::close("Reboot the system ? [yes,no] (no) yes\n\nShutdown NOW!\n")
            }
            _ => {
                let offset = if first == "show" || first == "set" {
                    cmd.find(w.get(1).copied().unwrap_or("")).unwrap_or(0)
                } else {
                    0
                };
                Reply::text(Self::unknown(offset, prompt_len))
            }
        }
    }

    fn configuration(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        let w: Vec<String> = super::words(line);
        let w: Vec<&str> = w.iter().map(String::as_str).collect();
        let Some(&first) = w.first() else {
            return Reply::none();
        };
        let Some(candidate) = self.candidate.as_mut() else {
            return Reply::none();
        };
        match first {
            "set" | "delete" => {
                let set = first == "set";
                match &w[1..] {
                    ["system", "login", "user", name, rest @ ..] => {
                        let name = name.to_string();
                        if !set {
                            if rest.is_empty() {
                                if candidate.users.remove(&name).is_none() {
                                    return Reply::text("warning: statement not found\n");
                                }
                                return Reply::none();
                            }
                            return Reply::none();
                        }
                        let existed = candidate.users.contains_key(&name);
                        let entry = candidate.users.entry(name.clone()).or_insert(User {
                            secret: Secret::Plain(String::new()),
                            privilege: NO_CLASS,
                        });
                        let reply = match rest {
                            [] => Reply::none(),
                            ["class", class] => match class_privilege(class) {
                                Some(p) => {
                                    entry.privilege = p;
                                    Reply::none()
                                }
                                None => Reply::text(format!("error: class '{class}' is not defined\n")),
                            },
                            ["uid", _] | ["full-name", _] => Reply::none(),
                            ["authentication", "plain-text-password"] => {
                                self.pending = Some(Pending::NewPassword {
                                    user: name.clone(),
                                    first: None,
                                });
                                Reply::none()
                            }
                            ["authentication", "encrypted-password", hash] => {
                                if config::is_valid_hash(Scheme::Sha512Crypt, hash) {
                                    let mut user = entry.clone();
                                    user.secret = Secret::Hash(hash.to_string());
                                    ctx.fx.set_user(candidate, &name, user);
                                    Reply::none()
                                } else {
                                    Reply::text(
                                        "error: invalid crypt format\nerror: encrypted-password: invalid value\n",
                                    )
                                }
                            }
                            ["authentication", "plain-text-password-value", ..] => {
                                Reply::text("error: plain-text-password-value is not allowed from the CLI\n")
                            }
                            _ => Reply::text("syntax error.\n"),
                        };
                        let failed = reply.text.starts_with("error") || reply.text.starts_with("syntax");
                        if failed && !existed {
                            candidate.users.remove(&name);
                        }
                        reply
                    }
                    ["system", "root-authentication", "plain-text-password"] if set => {
                        self.pending = Some(Pending::NewPassword {
                            user: "root".into(),
                            first: None,
                        });
                        Reply::none()
                    }
                    ["system", "root-authentication", "encrypted-password", hash] if set => {
                        if !config::is_valid_hash(Scheme::Sha512Crypt, hash) {
                            return Reply::text("error: invalid crypt format\n");
                        }
                        let user = User {
                            secret: Secret::Hash(hash.to_string()),
                            privilege: 15,
                        };
                        ctx.fx.set_user(candidate, "root", user);
                        Reply::none()
                    }
                    ["system", "host-name", h] if set => {
                        candidate.hostname = h.to_string();
                        Reply::none()
                    }
                    [] => Reply::text("error: syntax error, expecting <statement> or <identifier>.\n"),
                    _ => Reply::text("syntax error.\n"),
                }
            }
            "show" => {
                if line.contains("| compare") || w.get(1) == Some(&"|") {
                    return Reply::paged(compare(&ctx.state.running, candidate), self.page(ctx));
                }
                let lines = if w.get(1) == Some(&"system") && w.get(2) == Some(&"login") {
                    login_tree(candidate, 0)
                } else {
                    full_tree(candidate)
                };
                Reply::paged(lines.join("\n") + "\n", self.page(ctx))
            }
            "commit" => self.commit(ctx, &w),
            "rollback" => {
                let n = match w.get(1) {
                    None => 0,
                    Some(s) => match s.parse::<usize>() {
                        Ok(n) if n < MAX_ROLLBACK => n,
                        _ => return Reply::text("error: invalid rollback index\n"),
                    },
                };
                let source = if n == 0 {
                    Some(ctx.state.running.clone())
                } else {
                    ctx.state.history.get(n).cloned()
                };
                match source {
                    Some(conf) => {
                        *candidate = conf;
                        Reply::text("load complete\n")
                    }
                    None => Reply::text(format!("error: rollback {n} does not exist\n")),
                }
            }
            "run" => {
                let rest = line.trim_start().strip_prefix("run").unwrap_or("").trim();
                let cand = self.candidate.take();
                let (unix_shell, cli_from_shell) = (self.unix_shell, self.cli_from_shell);
                let reply = self.operational(ctx, rest);
                // `run exit` leaves neither configuration mode nor the CLI.
                (self.unix_shell, self.cli_from_shell) = (unix_shell, cli_from_shell);
                if !reply.close {
                    self.candidate = cand;
                }
                Reply { close: false, ..reply }
            }
            "top" | "up" | "edit" => Reply::none(),
            "exit" | "quit" => {
                if w.get(1) == Some(&"configuration-mode") || Some(&*candidate) == self.base.as_ref() {
                    self.candidate = None;
                    return Reply::text("Exiting configuration mode\n\n");
                }
                self.pending = Some(Pending::ExitUncommitted);
                Reply::text("The configuration has been changed but not committed\n")
            }
            _ => {
                let prompt_len = format!("{}@{}# ", self.user, ctx.state.running.hostname).len();
                Reply::text(Self::unknown(0, prompt_len))
            }
        }
    }

    fn commit(&mut self, ctx: &mut Ctx, w: &[&str]) -> Reply {
        let Some(edited) = self.candidate.clone() else {
            return Reply::none();
        };
        // Only this session's own changes go in: others may have committed since `configure`.
        let base = self.base.clone().unwrap_or_else(|| ctx.state.running.clone());
        let candidate = config::rebase(&base, &edited, &ctx.state.running);
        // Validation, as `commit check` does.
        let mut errors = Vec::new();
        for (name, u) in &candidate.users {
            if u.privilege == NO_CLASS && name != "root" {
                errors.push(format!(
                    "[edit system login user {name}]\n  'class'\n    Missing mandatory statement: 'class'"
                ));
            }
        }
        if !errors.is_empty() {
            return Reply::text(format!(
                "{}\nerror: configuration check-out failed: (missing mandatory statements)\n",
                errors.join("\n")
            ));
        }
        match w.get(1).copied() {
            Some("check") => Reply::text("configuration check succeeds\n"),
            Some("confirmed") => {
                let minutes = match w.get(2) {
                    None => 10,
                    Some(s) => match s.parse::<u64>() {
                        Ok(n) if (1..=65535).contains(&n) => n,
                        _ => return Reply::text("error: invalid value for 'confirmed': must be 1..65535 minutes\n"),
                    },
                };
                let restore = match &ctx.state.pending {
                    Some(p) => p.restore.clone(),
                    None => ctx.state.running.clone(),
                };
                ctx.state.running = candidate.clone();
                self.base = Some(candidate.clone());
                self.candidate = Some(candidate.clone());
                ctx.state.history.insert(0, candidate);
                ctx.state.history.truncate(MAX_ROLLBACK);
                ctx.state.pending = Some(PendingConfirm {
                    deadline: ctx.now + ctx.scaled(Duration::from_secs(60 * minutes)),
                    restore,
                    session: None,
                });
                self.banner = Some(format!("# commit confirmed will be rolled back in {minutes} minutes"));
                Reply::text(format!(
                    "commit confirmed will be automatically rolled back in {minutes} minutes unless confirmed\ncommit complete\n"
                ))
            }
            None | Some("and-quit") | Some("comment") => {
                let changed = ctx.state.running != candidate;
                ctx.state.pending = None;
                ctx.state.running = candidate.clone();
                ctx.state.saved = candidate.clone();
                self.base = Some(candidate.clone());
                self.candidate = Some(candidate.clone());
                if changed {
                    ctx.state.history.insert(0, candidate);
                    ctx.state.history.truncate(MAX_ROLLBACK);
                }
                if w.get(1) == Some(&"and-quit") {
                    self.candidate = None;
                    return Reply::text("commit complete\nExiting configuration mode\n\n");
                }
                Reply::text("commit complete\n")
            }
            Some(other) => Reply::text(format!("syntax error, expecting <command>: {other}\n")),
        }
    }

    fn op_prompt(&self, ctx: &Ctx) -> String {
        format!("{}@{}> ", self.user, ctx.state.running.hostname)
    }
}

const OP_HELP: &str = "Possible completions:
  clear                Clear information in the system
  configure            Manipulate software configuration information
  exit                 Exit the management session
  file                 Perform file operations
  help                 Provide help information
  quit                 Exit the management session
  request              Make system-level requests
  set                  Set CLI properties, date/time, craft interface message
  show                 Show system information";

const CONF_HELP: &str = "Possible completions:
  <[Enter]>            Execute this command
  commit               Commit current set of changes
  delete               Delete a data element
  edit                 Edit a sub-element
  exit                 Exit from this level
  rollback             Roll back to previous committed configuration
  run                  Run an operational-mode command
  set                  Set a parameter
  show                 Show a parameter
  top                  Exit to top level of configuration";

const AUTH_HELP: &str = "Possible completions:
  encrypted-password   Encrypted password string
  load-key-file        File (URL) containing one or more ssh keys
  plain-text-password  Prompt for plain text password (autoencrypted)
  ssh-ed25519          Secure shell (ssh) ed25519 public key string";

impl Shell for JunosShell {
    fn greeting(&mut self, _ctx: &mut Ctx) -> String {
        "Last login: Thu Nov 26 09:14:02 2026 from 127.0.0.1\n--- JUNOS 22.4R3-S2.11 built 2024-05-10 20:45:39 UTC\n"
            .into()
    }

    fn prompt(&self, ctx: &Ctx) -> String {
        if self.unix_shell {
            return self.unix_prompt(ctx);
        }
        match &self.pending {
            Some(Pending::NewPassword { first: None, .. }) => return "New password:".into(),
            Some(Pending::NewPassword { first: Some(_), .. }) => return "Retype new password:".into(),
            Some(Pending::ExitUncommitted) => return "Exit with uncommitted changes? [yes,no] (yes) ".into(),
            None => {}
        }
        let notice = if ctx.state.rolled_back_notice {
            "\nBroadcast Message from root@".to_string()
                + &ctx.state.running.hostname
                + "\n        (no tty) at 09:15 UTC...\n\nCommit was not confirmed; automatic rollback complete.\n\n"
        } else {
            String::new()
        };
        match &self.candidate {
            None => format!("{notice}\n{}", self.op_prompt(ctx)),
            Some(_) => {
                let banner = self.banner.as_ref().map(|b| format!("{b}\n")).unwrap_or_default();
                format!(
                    "{notice}\n{banner}[edit]\n{}@{}# ",
                    self.user, ctx.state.running.hostname
                )
            }
        }
    }

    fn line(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        if self.unix_shell {
            return self.unix_line(ctx, line);
        }
        ctx.state.rolled_back_notice = false;
        self.banner = None;
        if let Some(p) = self.pending.take() {
            return match p {
                Pending::NewPassword { user, first: None } => {
                    if let Err(e) = check_password(line) {
                        return Reply::text(e);
                    }
                    self.pending = Some(Pending::NewPassword {
                        user,
                        first: Some(line.to_string()),
                    });
                    Reply::text("")
                }
                Pending::NewPassword {
                    user,
                    first: Some(first),
                } => {
                    if first != line {
                        return Reply::text("error: Passwords do not match\n");
                    }
                    if let Some(candidate) = self.candidate.as_mut() {
                        let mut u = candidate.users.get(&user).cloned().unwrap_or(User {
                            secret: Secret::Plain(String::new()),
                            privilege: if user == "root" { 15 } else { NO_CLASS },
                        });
                        u.secret = Secret::Hash(config::hash(Scheme::Sha512Crypt, line));
                        ctx.fx.set_user(candidate, &user, u);
                    }
                    Reply::none()
                }
                Pending::ExitUncommitted => {
                    let a = line.trim();
                    if a.is_empty() || a == "yes" {
                        self.candidate = None;
                        Reply::text("Exiting configuration mode\n")
                    } else {
                        Reply::none()
                    }
                }
            };
        }
        if self.candidate.is_some() && self.candidate == self.base && self.base.as_ref() != Some(&ctx.state.running) {
            // Nothing of our own in the candidate: follow what the device committed or rolled back.
            self.candidate = Some(ctx.state.running.clone());
            self.base = Some(ctx.state.running.clone());
        }
        if self.candidate.is_some() {
            self.configuration(ctx, line)
        } else {
            self.operational(ctx, line)
        }
    }

    fn help(&mut self, _ctx: &mut Ctx, partial: &str) -> Option<String> {
        // `?` is an ordinary character to csh.
        if self.pending.is_some() || self.unix_shell {
            return None;
        }
        if partial.trim_end().ends_with("authentication") {
            return Some(AUTH_HELP.into());
        }
        Some(if self.candidate.is_some() { CONF_HELP } else { OP_HELP }.into())
    }

    fn echo(&self) -> Echo {
        match self.pending {
            Some(Pending::NewPassword { .. }) => Echo::Off,
            _ => Echo::On,
        }
    }

    fn pager_prompt(&self) -> &'static str {
        "---(more)---"
    }

    fn exec(&mut self, ctx: &mut Ctx, command: &str) -> (String, u32) {
        if self.unix_shell {
            // Root's commands go to its login shell: the CLI only through `cli -c '...'`.
            let reply = self.unix_line(ctx, command);
            let failed = reply.text.contains("error:") || reply.text.ends_with("Command not found.\n");
            return (reply.text, u32::from(failed));
        }
        self.screen_length = Some(0);
        let reply = self.operational(ctx, command);
        let status = if reply.text.contains("error:") { 1 } else { 0 };
        (reply.text, status)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::super::{Effects, LabAccount};
    use super::*;
    use crate::inventory::TargetKind;
    use crate::secret::Password;

    fn state() -> DeviceState {
        let spec = DeviceSpec {
            name: "srx1".into(),
            kind: TargetKind::Junos,
            accounts: vec![
                LabAccount::new("root", Password::new("R00t-Secret.7"), 15),
                LabAccount::new("admin", Password::new("Adm1n-Secret.42"), 15),
            ],
            enable_secret: None,
            port: 0,
        };
        let (conf, autosave) = initial_conf(&spec);
        DeviceState::new(conf, autosave)
    }

    /// Types `line` as `user` and returns the reply and the prompt that follows it.
    fn typed(shell: &mut JunosShell, st: &mut DeviceState, user: &str, line: &str) -> (Reply, String) {
        let mut ctx = Ctx {
            state: st,
            fx: Effects::default(),
            user,
            now: Instant::now(),
            time_scale: 1.0,
            rows: 0,
        };
        let reply = shell.line(&mut ctx, line);
        let prompt = shell.prompt(&ctx);
        (reply, prompt)
    }

    #[test]
    fn root_starts_in_the_shell_cli_enters_the_cli_and_exit_returns_to_the_shell() {
        let mut st = state();
        let mut sh = JunosShell::new("root", &st);
        let (_, prompt) = typed(&mut sh, &mut st, "root", "");
        assert_eq!(prompt, "root@srx1:RE:0% ");
        let (reply, _) = typed(&mut sh, &mut st, "root", "show version");
        assert_eq!(reply.text, "show: Command not found.\n");
        let (reply, prompt) = typed(&mut sh, &mut st, "root", "cli");
        assert!(reply.text.is_empty() && !reply.close);
        assert_eq!(prompt, "\nroot@srx1> ");
        let (reply, _) = typed(&mut sh, &mut st, "root", "show version");
        assert!(reply.text.contains("Junos: 22.4R3-S2.11"), "{}", reply.text);
        let (_, prompt) = typed(&mut sh, &mut st, "root", "configure");
        assert!(prompt.ends_with("[edit]\nroot@srx1# "), "{prompt:?}");
        let (_, prompt) = typed(&mut sh, &mut st, "root", "run exit");
        assert!(prompt.ends_with("root@srx1# "), "`run exit` leaves nothing: {prompt:?}");
        typed(&mut sh, &mut st, "root", "exit configuration-mode");
        let (reply, prompt) = typed(&mut sh, &mut st, "root", "exit");
        assert!(!reply.close, "exit from the CLI returns to the shell");
        assert_eq!(prompt, "root@srx1:RE:0% ");
        let (reply, _) = typed(&mut sh, &mut st, "root", "exit");
        assert!(reply.close, "exit from the shell logs out");
    }

    #[test]
    fn other_users_start_in_the_cli_and_exit_logs_out() {
        let mut st = state();
        let mut sh = JunosShell::new("admin", &st);
        let (reply, prompt) = typed(&mut sh, &mut st, "admin", "");
        assert!(reply.text.is_empty());
        assert_eq!(prompt, "\nadmin@srx1> ");
        let (reply, _) = typed(&mut sh, &mut st, "admin", "exit");
        assert!(reply.close);
    }

    #[test]
    fn root_exec_runs_in_the_shell_and_reaches_the_cli_through_cli_dash_c() {
        let mut st = state();
        let mut sh = JunosShell::new("root", &st);
        let mut ctx = Ctx {
            state: &mut st,
            fx: Effects::default(),
            user: "root",
            now: Instant::now(),
            time_scale: 1.0,
            rows: 24,
        };
        let (out, status) = sh.exec(&mut ctx, "show configuration system login | display set");
        assert_eq!((out.as_str(), status), ("show: Command not found.\n", 1));
        let (out, status) = sh.exec(&mut ctx, "cli -c 'show configuration system login | display set'");
        assert_eq!(status, 0);
        assert!(out.contains("set system login user admin class super-user"), "{out}");
        assert!(sh.unix_shell, "still at the shell after `cli -c`");
    }
}
