//! Emulated VyOS (and the EdgeOS spellings it shares): `user@h:~$` and `[edit]` / `user@h#`
//! prompts, a candidate configuration, `set system login user X authentication
//! plaintext-password '...'` or `encrypted-password '$6$...'`, `commit` (running) and `save`
//! (config.boot, what survives a reboot), `commit-confirm N` / `confirm`, `compare`, `discard`,
//! `exit discard`, and `show configuration commands | match`. With the `edgeos` device option
//! it is a Ubiquiti EdgeRouter: EdgeOS's banner and `show version`, and paging set with
//! `terminal length N` only (`set terminal length` is VyOS's spelling and is refused).

use std::collections::BTreeMap;
use std::time::Duration;

use super::config::{self, Conf, DeviceState, PendingConfirm, Scheme, Secret, User};
use super::{words, Ctx, DeviceOptions, DeviceSpec, Reply, Shell};

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
        false,
    )
}

fn hash_of(secret: &Secret) -> String {
    match secret {
        Secret::Hash(h) => h.clone(),
        Secret::Plain(p) => config::hash(Scheme::Sha512Crypt, p),
    }
}

fn level(privilege: u8) -> &'static str {
    if privilege >= 15 {
        "admin"
    } else {
        "operator"
    }
}

/// VyOS has no user levels (every login user is an administrator); EdgeOS states one per user.
fn commands(conf: &Conf, edgeos: bool) -> Vec<String> {
    let mut out = vec![
        "set interfaces ethernet eth0 address '192.0.2.70/24'".to_string(),
        "set interfaces ethernet eth0 hw-id '52:54:00:12:34:56'".into(),
        "set interfaces loopback lo".into(),
        "set service ntp server time1.vyos.net".into(),
        "set service ssh port '22'".into(),
        "set system config-management commit-revisions '100'".into(),
        "set system console device ttyS0 speed '115200'".into(),
        format!("set system host-name '{}'", conf.hostname),
    ];
    for (name, u) in &conf.users {
        out.push(format!(
            "set system login user {name} authentication encrypted-password '{}'",
            hash_of(&u.secret)
        ));
        if edgeos {
            out.push(format!("set system login user {name} level '{}'", level(u.privilege)));
        }
    }
    out.push("set system syslog global facility all level 'info'".into());
    out
}

fn tree(conf: &Conf, edgeos: bool) -> String {
    let mut s = String::from(
        " interfaces {\n     ethernet eth0 {\n         address 192.0.2.70/24\n         hw-id 52:54:00:12:34:56\n     }\n     loopback lo {\n     }\n }\n service {\n     ssh {\n         port 22\n     }\n }\n system {\n",
    );
    s.push_str(&format!("     host-name {}\n     login {{\n", conf.hostname));
    for (name, u) in &conf.users {
        let level = if edgeos {
            format!("             level {}\n", level(u.privilege))
        } else {
            String::new()
        };
        s.push_str(&format!(
            "         user {name} {{\n             authentication {{\n                 encrypted-password ****************\n             }}\n{level}         }}\n"
        ));
    }
    s.push_str("     }\n }\n");
    s
}

fn compare(active: &Conf, candidate: &Conf, edgeos: bool) -> String {
    let a = commands(active, edgeos);
    let c = commands(candidate, edgeos);
    let mut out = String::new();
    for l in &a {
        if !c.contains(l) {
            out.push_str(&format!("- {}\n", l.trim_start_matches("set ")));
        }
    }
    for l in &c {
        if !a.contains(l) {
            out.push_str(&format!("+ {}\n", l.trim_start_matches("set ")));
        }
    }
    if out.is_empty() {
        "No changes between working and active configurations.\n".into()
    } else {
        format!("[system login]\n{out}")
    }
}

fn invalid_path(path: &[&str]) -> String {
    format!(
        "\n  Configuration path: [{}] is not valid\n  Set failed\n\n",
        path.join(" ")
    )
}

pub(crate) struct VyosShell {
    user: String,
    candidate: Option<Conf>,
    base: Option<Conf>,
    length: Option<usize>,
    confirm_pending: Option<u64>,
    edgeos: bool,
}

impl VyosShell {
    pub(crate) fn new(user: &str, _st: &DeviceState, options: DeviceOptions) -> Self {
        VyosShell {
            user: user.to_string(),
            candidate: None,
            base: None,
            length: None,
            confirm_pending: None,
            edgeos: options.edgeos,
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

    fn filter(text: String, pipe: Option<&str>) -> Result<String, String> {
        let Some(pipe) = pipe else { return Ok(text) };
        let w = words(pipe);
        match w.as_slice() {
            [cmd, pattern] if cmd == "match" || cmd == "grep" => Ok(text
                .lines()
                .filter(|l| l.contains(pattern.as_str()))
                .map(|l| format!("{l}\n"))
                .collect()),
            [cmd, ..] => Err(format!("\n  Invalid command: [{cmd}]\n\n")),
            [] => Ok(text),
        }
    }

    fn operational(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        let (cmd, pipe) = match line.split_once('|') {
            Some((c, p)) => (c, Some(p.trim())),
            None => (line, None),
        };
        let owned = words(cmd);
        let w: Vec<&str> = owned.iter().map(String::as_str).collect();
        match w.as_slice() {
            [] => Reply::none(),
            ["set", "terminal", ..] if self.edgeos => Reply::text("\n  Invalid command: set [terminal]\n\n"),
            ["set", "terminal", "length", n] | ["terminal", "length", n] => match n.parse::<usize>() {
                Ok(n) => {
                    self.length = Some(n);
                    Reply::none()
                }
                Err(_) => Reply::text(format!("\n  Invalid value: [{n}]\n\n")),
            },
            ["set", "terminal", "width", _] | ["terminal", "width", _] => Reply::none(),
            ["configure"] if ctx.state.running.users.get(ctx.user).is_some_and(|u| u.privilege < 15) => {
                Reply::text("\n  Invalid command: [configure]\n\n")
            }
            ["configure"] => {
                self.candidate = Some(ctx.state.running.clone());
                self.base = Some(ctx.state.running.clone());
                Reply::none()
            }
            ["show", "configuration", "commands"] => match Self::filter(commands(&ctx.state.running, self.edgeos).join("\n") + "\n", pipe) {
                Ok(t) => Reply::paged(t, self.page(ctx)),
                Err(e) => Reply::text(e),
            },
            ["show", "configuration"] => match Self::filter(tree(&ctx.state.running, self.edgeos), pipe) {
                Ok(t) => Reply::paged(t, self.page(ctx)),
                Err(e) => Reply::text(e),
            },
            ["show", "version"] if self.edgeos => Reply::text(
                "Version:      v2.0.9-hotfix.7\nBuild ID:     5611733\nBuild on:     05/26/23 10:41\nCopyright:    2012-2023 Ubiquiti, Inc.\nHW model:     EdgeRouter X 5-Port\nHW S/N:       7483C2A00000\nUptime:       09:14:02 up 12 days,  3:02,  1 user,  load average: 0.08, 0.03, 0.01\n",
            ),
            ["show", "version"] => Reply::text(format!(
                "Version:          VyOS 1.4.3\nRelease train:    sagitta\nBuilt by:         autobuild@vyos.net\nBuilt on:         Fri 02 May 2025 10:15 UTC\nArchitecture:     x86_64\nHostname:         {}\n",
                ctx.state.running.hostname
            )),
            ["exit"] | ["logout"] => Reply::close("logout\n"),
            ["reboot", "now"] | ["reboot"] => {
                ctx.reload();
                Reply::close("\nThe system is going down NOW!\n")
            }
            [first, ..] => Reply::text(format!("\n  Invalid command: [{first}]\n\n")),
        }
    }

    fn configuration(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        let owned = words(line);
        let w: Vec<&str> = owned.iter().map(String::as_str).collect();
        if let Some(minutes) = self.confirm_pending.take() {
            if w.first()
                .is_none_or(|a| a.eq_ignore_ascii_case("y") || a.eq_ignore_ascii_case("yes"))
            {
                return self.commit(ctx, Some(minutes));
            }
            return Reply::text("commit-confirm canceled\n");
        }
        let Some(candidate) = self.candidate.as_mut() else {
            return Reply::none();
        };
        match w.as_slice() {
            [] => Reply::none(),
            ["set", "system", "login", "user", name, rest @ ..] => {
                let name = name.to_string();
                let mut user = candidate.users.get(&name).cloned().unwrap_or(User {
                    secret: Secret::Plain(String::new()),
                    privilege: 15,
                });
                match rest {
                    ["authentication", "plaintext-password", pw] => {
                        if pw.is_empty() {
                            return Reply::text(invalid_path(&w[1..]));
                        }
                        user.secret = Secret::Hash(config::hash(Scheme::Sha512Crypt, pw));
                    }
                    ["authentication", "encrypted-password", hash] => {
                        if !config::is_valid_hash(Scheme::Sha512Crypt, hash) {
                            return Reply::text(format!(
                                "\n  Invalid encrypted password: not a SHA-512 crypt hash\n{}",
                                invalid_path(&w[1..5])
                            ));
                        }
                        user.secret = Secret::Hash(hash.to_string());
                    }
                    ["level", l] if self.edgeos => match *l {
                        "admin" => user.privilege = 15,
                        "operator" => user.privilege = 1,
                        _ => return Reply::text(invalid_path(&w[1..])),
                    },
                    ["full-name", _] => {}
                    _ => return Reply::text(invalid_path(&w[1..])),
                }
                ctx.fx.set_user(candidate, &name, user);
                Reply::none()
            }
            ["delete", "system", "login", "user", name] => {
                if candidate.users.remove(*name).is_none() {
                    return Reply::text(
                        "\n  Nothing to delete (the specified node does not exist)\n  Delete failed\n\n",
                    );
                }
                Reply::none()
            }
            ["set", "system", "host-name", h] => {
                candidate.hostname = h.to_string();
                Reply::none()
            }
            ["set", ..] => Reply::text(invalid_path(&w[1..])),
            ["commit"] => self.commit(ctx, None),
            ["commit-confirm"] | ["commit-confirm", _] => {
                let minutes = match w.get(1).map(|n| n.parse::<u64>()) {
                    None => 10,
                    Some(Ok(n)) if n > 0 => n,
                    Some(_) => return Reply::text("\n  Invalid value for minutes\n\n"),
                };
                self.confirm_pending = Some(minutes);
                Reply::text(format!(
                    "commit confirm will be automatically reboot in {minutes} minutes unless confirmed\n"
                ))
            }
            ["confirm"] => {
                if ctx.state.pending.take().is_some() {
                    Reply::text("Reboot timer stopped\n")
                } else {
                    Reply::text("No confirm pending\n")
                }
            }
            ["compare"] | ["show", "|", "compare"] => {
                Reply::paged(compare(&ctx.state.running, candidate, self.edgeos), self.page(ctx))
            }
            ["show", "system", "login"] | ["show"] => Reply::paged(tree(candidate, self.edgeos), self.page(ctx)),
            ["save"] | ["save", ..] => {
                ctx.state.saved = ctx.state.running.clone();
                Reply::text("Saving configuration to '/config/config.boot'...\nDone\n")
            }
            ["discard"] => {
                *candidate = ctx.state.running.clone();
                self.base = Some(ctx.state.running.clone());
                Reply::text("  Changes have been discarded\n")
            }
            ["exit", "discard"] => {
                self.candidate = None;
                Reply::text("exit\n")
            }
            ["exit"] | ["quit"] | ["end"] => {
                if Some(&*candidate) != self.base.as_ref() {
                    return Reply::text(
                        "Cannot exit: configuration modified.\nUse 'exit discard' to discard the changes and exit.\n",
                    );
                }
                self.candidate = None;
                Reply::text("exit\n")
            }
            ["run", ..] => {
                let rest = line.trim_start().strip_prefix("run").unwrap_or("").trim();
                let cand = self.candidate.take();
                let reply = self.operational(ctx, rest);
                if !reply.close {
                    self.candidate = cand;
                }
                Reply { close: false, ..reply }
            }
            [first, ..] => Reply::text(format!("\n  Invalid command: [{first}]\n\n")),
        }
    }

    fn commit(&mut self, ctx: &mut Ctx, confirm_minutes: Option<u64>) -> Reply {
        let Some(edited) = self.candidate.clone() else {
            return Reply::none();
        };
        // Only this session's own changes go in: others may have committed since `configure`.
        let base = self.base.clone().unwrap_or_else(|| ctx.state.running.clone());
        let candidate = config::rebase(&base, &edited, &ctx.state.running);
        if candidate == ctx.state.running {
            return Reply::text("No configuration changes to commit\n");
        }
        if let Some(minutes) = confirm_minutes {
            let restore = ctx.state.running.clone();
            ctx.state.pending = Some(PendingConfirm {
                deadline: ctx.now + ctx.scaled(Duration::from_secs(60 * minutes)),
                restore,
                session: None,
            });
        }
        ctx.state.history.insert(0, ctx.state.running.clone());
        ctx.state.history.truncate(100);
        ctx.state.running = candidate.clone();
        self.base = Some(candidate.clone());
        self.candidate = Some(candidate);
        Reply::none()
    }
}

impl Shell for VyosShell {
    fn greeting(&mut self, _ctx: &mut Ctx) -> String {
        if self.edgeos {
            return "Welcome to EdgeOS\n\nBy logging in, accessing, or using the Ubiquiti product, you\nacknowledge that you have read and understood the Ubiquiti\nLicense Agreement (available in the Web UI at, by default,\nhttp://192.168.1.1) and agree to be bound by its terms.\n\nLinux ubnt 4.14.54-UBNT #1 SMP Fri May 26 10:41:02 UTC 2023 mips\nLast login: Thu Nov 26 09:14:02 2026 from 127.0.0.1\n".into();
        }
        "Welcome to VyOS!\n\n   \u{250c}\u{2500}\u{2500} \u{2510}\n   . VyOS 1.4.3\n   \u{2514} \u{2500}\u{2500}\u{2518}  sagitta\n\n * Documentation:  https://docs.vyos.io/en/sagitta\n * Project news:   https://blog.vyos.io\n * Bug reports:    https://vyos.dev\n\nYou can change this banner using \"set system login banner post-login\" command.\n\nVyOS is a free software distribution that includes multiple components,\nyou can check individual component licenses under /usr/share/doc/*/copyright\nLast login: Thu Nov 26 09:14:02 2026 from 127.0.0.1\n".into()
    }

    fn prompt(&self, ctx: &Ctx) -> String {
        if self.confirm_pending.is_some() {
            return "Proceed? [confirm]".into();
        }
        let host = &ctx.state.running.hostname;
        match &self.candidate {
            None => format!("{}@{host}:~$ ", self.user),
            Some(_) => format!("[edit]\n{}@{host}# ", self.user),
        }
    }

    fn line(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        if self.candidate.is_some() || self.confirm_pending.is_some() {
            self.configuration(ctx, line)
        } else {
            self.operational(ctx, line)
        }
    }

    fn help(&mut self, _ctx: &mut Ctx, _partial: &str) -> Option<String> {
        Some(if self.candidate.is_some() {
            "Possible completions:\n  commit        Commit the current set of changes\n  compare       Compare configuration revisions\n  confirm       Confirm prior commit-confirm\n  delete        Delete a configuration element\n  discard       Discard uncommitted changes\n  exit          Exit from this configuration level\n  run           Run an operational-mode command\n  save          Save configuration to a file\n  set           Set the value of a parameter or create a new element\n  show          Show the configuration (default values may be suppressed)".into()
        } else {
            "Possible completions:\n  configure     Enter configuration mode\n  reboot        Reboot the system\n  set           Set operational options\n  show          Show system information".into()
        })
    }

    fn pager_prompt(&self) -> &'static str {
        ":"
    }

    fn pager_erase(&self) -> String {
        "\r\x1b[K".into()
    }
}
