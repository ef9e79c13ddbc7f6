//! Emulated Fortinet FortiOS: `h #` prompts (`h $` for restricted admins), `config system admin` /
//! `edit "X"` / `set password` / `next` / `end` where `end` saves at once, `set password ENC SH2...`
//! to restore a hash, `show system admin`, the `--More--` pager until `config system console` /
//! `set output standard`, FortiOS's `Command fail. Return code` errors, and the logout of an admin
//! whose password was changed. Two options of the device (see `DeviceOptions`): VDOMs, where
//! system tables such as `config system admin` exist only inside `config global` (the top level
//! refuses them with `command parse error`), and the post-login disclaimer, after which the device
//! waits for the key `a` at `(Press 'a' to accept):` before its first prompt.

use std::collections::BTreeMap;

use super::config::{self, Conf, DeviceState, Scheme, Secret, User};
use super::{words, Ctx, DeviceOptions, DeviceSpec, Reply, Shell};

pub(crate) fn initial_conf(spec: &DeviceSpec) -> (Conf, bool) {
    let users = spec
        .accounts
        .iter()
        .map(|a| {
            let user = User {
                secret: Secret::Hash(config::hash(Scheme::FortiSh2, a.password.expose())),
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

fn profile(privilege: u8) -> &'static str {
    match privilege {
        15 => "super_admin",
        5..=14 => "prof_admin",
        _ => "read_only",
    }
}

fn profile_privilege(p: &str) -> Option<u8> {
    match p {
        "super_admin" => Some(15),
        "prof_admin" => Some(5),
        "read_only" => Some(1),
        _ => None,
    }
}

fn hash_of(secret: &Secret) -> String {
    match secret {
        Secret::Hash(h) => h.clone(),
        Secret::Plain(p) => config::hash(Scheme::FortiSh2, p),
    }
}

fn admin_block(conf: &Conf) -> String {
    let mut s = "config system admin\n".to_string();
    for (name, u) in &conf.users {
        s.push_str(&format!(
            "    edit \"{name}\"\n        set accprofile \"{}\"\n        set vdom \"root\"\n        set password ENC {}\n    next\n",
            profile(u.privilege),
            hash_of(&u.secret)
        ));
    }
    s.push_str("end\n");
    s
}

fn fail(code: i32) -> String {
    format!("Command fail. Return code {code}\n")
}

fn parse_error(word: &str) -> String {
    format!("command parse error before '{word}'\n{}", fail(-61))
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Level {
    Top,
    /// `config system admin`.
    Admins,
    /// `edit NAME` under `config system admin`: the entry being edited.
    Admin {
        name: String,
        entry: User,
        password_set: bool,
    },
    /// `config system console`.
    Console,
    /// `config system global` and other tables the lab does not model.
    Other(String),
}

pub(crate) struct FortiShell {
    levels: Vec<Level>,
    /// Console output paging (`set output more|standard`).
    paging: bool,
    /// Admins whose password changed in this `config system admin`, logged out at `end`.
    changed: Vec<String>,
    /// Inside `config global` (VDOMs on).
    global: bool,
    /// VDOMs on: system tables exist only inside `config global`.
    vdoms: bool,
    /// The post-login disclaimer waits for `a`.
    disclaimer_pending: bool,
}

const DISCLAIMER: &str = "WARNING: This system is for the use of authorized administrators only.\nActivity on this system is logged and may be monitored. Disconnect now\nif you are not authorized.\n\n";
const ACCEPT: &str = "(Press 'a' to accept):";

impl FortiShell {
    pub(crate) fn new(_user: &str, _st: &DeviceState, options: DeviceOptions) -> Self {
        FortiShell {
            levels: vec![Level::Top],
            paging: true,
            changed: Vec::new(),
            global: false,
            vdoms: options.fortios_vdoms,
            disclaimer_pending: options.fortios_login_banner,
        }
    }

    /// With VDOMs, system tables exist only inside `config global`.
    fn outside_global(&self) -> bool {
        self.vdoms && !self.global
    }

    fn page(&self, ctx: &Ctx) -> Option<usize> {
        (self.paging && ctx.rows > 0).then_some(ctx.rows)
    }

    /// Stores the admin being edited (at `next` or `end`). Err: the device's message.
    fn commit_entry(&mut self, ctx: &mut Ctx) -> Result<(), String> {
        if let Some(Level::Admin {
            name,
            entry,
            password_set,
        }) = self.levels.last().cloned()
        {
            if entry.privilege == u8::MAX {
                return Err(format!("Attribute 'accprofile' MUST be set.\n{}", fail(-56)));
            }
            let mut fx = std::mem::take(&mut ctx.fx);
            let changed = fx.set_user(&mut ctx.state.running, &name, entry);
            ctx.fx = fx;
            if changed && password_set && !self.changed.contains(&name) {
                self.changed.push(name.clone());
            }
            ctx.state.saved = ctx.state.running.clone();
        }
        Ok(())
    }

    fn super_admin(&self, ctx: &Ctx) -> bool {
        ctx.state.running.users.get(ctx.user).is_some_and(|u| u.privilege >= 15)
    }

    fn top(&mut self, ctx: &mut Ctx, w: &[&str]) -> Reply {
        match w {
            ["config", "global"] if self.vdoms && !self.global => {
                self.global = true;
                Reply::none()
            }
            ["config", "global"] => Reply::text(parse_error("global")),
            ["config", "system", ..] | ["show", "system", ..] | ["show", "full-configuration", "system", ..]
                if self.outside_global() =>
            {
                Reply::text(parse_error("system"))
            }
            ["config", "system", "admin"] if !self.super_admin(ctx) => Reply::text(fail(-37)),
            ["config", "system", "admin"] => {
                self.levels.push(Level::Admins);
                Reply::none()
            }
            ["config", "system", "console"] => {
                self.levels.push(Level::Console);
                Reply::none()
            }
            ["config", "system", other] => {
                self.levels.push(Level::Other(other.to_string()));
                Reply::none()
            }
            ["show", "system", "admin"] | ["show", "full-configuration", "system", "admin"] => {
                Reply::paged(admin_block(&ctx.state.running), self.page(ctx))
            }
            ["show"] | ["show", "full-configuration"] => {
                let mut s = format!(
                    "#config-version=FGT91G-7.4.7-FW-build2731-250120:opmode=0:vdom=0:user={}\n#conf_file_ver=1\n#buildno=2731\n#global_vdom=1\nconfig system global\n    set alias \"FortiGate-91G\"\n    set hostname \"{}\"\n    set timezone \"Europe/Berlin\"\nend\nconfig system accprofile\n    edit \"prof_admin\"\n    next\n    edit \"read_only\"\n    next\nend\n",
                    ctx.user, ctx.state.running.hostname
                );
                s.push_str(&admin_block(&ctx.state.running));
                s.push_str("config system interface\n    edit \"wan1\"\n        set vdom \"root\"\n        set ip 192.0.2.60 255.255.255.0\n        set allowaccess ping https ssh\n    next\nend\n");
                Reply::paged(s, self.page(ctx))
            }
            ["get", "system", "status"] => Reply::paged(
                format!(
                    "Version: FortiGate-91G v7.4.7,build2731,250120 (GA.M)\nSerial-Number: FG91GTK0000000\nHostname: {}\nOperation Mode: NAT\nCurrent virtual domain: root\nMax number of virtual domains: 10\nVirtual domains status: {} in NAT mode, 0 in TP mode\nVirtual domain configuration: {}\nFIPS-CC mode: disable\nCurrent HA mode: standalone\nSystem time: Thu Nov 26 09:20:11 2026\n",
                    ctx.state.running.hostname,
                    if self.vdoms { 3 } else { 1 },
                    if self.vdoms { "multiple" } else { "disable" },
                ),
                self.page(ctx),
            ),
            ["execute", "cfg", "save"] => {
                ctx.state.saved = ctx.state.running.clone();
                Reply::none()
            }
            ["execute", "reboot"] => {
                ctx.reload();
                Reply::close("This operation will reboot the system !\nDo you want to continue? (y/n)y\n\nSystem is rebooting...\n")
            }
            ["exit"] | ["quit"] => Reply::close(""),
            ["end"] if self.global => {
                self.global = false;
                Reply::none()
            }
            [first, ..] if ["config", "show", "get", "execute", "diagnose"].contains(first) => {
                Reply::text(parse_error(w.get(1).copied().unwrap_or("")))
            }
            _ => Reply::text(format!("Unknown action 0\n{}", fail(-1))),
        }
    }

    fn admins(&mut self, ctx: &mut Ctx, w: &[&str]) -> Reply {
        match w {
            ["edit", name] => {
                let (entry, exists) = match ctx.state.running.users.get(*name) {
                    Some(u) => (u.clone(), true),
                    None => (
                        User {
                            secret: Secret::Plain(String::new()),
                            privilege: u8::MAX,
                        },
                        false,
                    ),
                };
                let _ = exists;
                self.levels.push(Level::Admin {
                    name: name.to_string(),
                    entry,
                    password_set: false,
                });
                if ctx.state.running.users.contains_key(*name) {
                    Reply::none()
                } else {
                    Reply::text("new entry '".to_string() + name + "' added\n")
                }
            }
            ["delete", name] => {
                if *name == ctx.user {
                    return Reply::text(format!("Cannot delete the current admin.\n{}", fail(-37)));
                }
                if ctx.state.running.users.remove(*name).is_none() {
                    return Reply::text(format!("entry not found in datasource\n{}", fail(-3)));
                }
                ctx.state.saved = ctx.state.running.clone();
                Reply::none()
            }
            ["show"] | ["show", "full-configuration"] => Reply::paged(admin_block(&ctx.state.running), self.page(ctx)),
            ["end"] => {
                self.levels.pop();
                ctx.state.saved = ctx.state.running.clone();
                ctx.fx.logout_users.append(&mut self.changed);
                Reply::none()
            }
            ["abort"] => {
                self.levels.pop();
                Reply::none()
            }
            [first, ..] if ["edit", "delete", "show", "get"].contains(first) => Reply::text(parse_error(first)),
            _ => Reply::text(format!("Unknown action 0\n{}", fail(-1))),
        }
    }

    fn admin(&mut self, ctx: &mut Ctx, w: &[&str]) -> Reply {
        let is_self = matches!(self.levels.last(), Some(Level::Admin { name, .. }) if name == ctx.user);
        let Some(Level::Admin {
            name,
            entry,
            password_set,
        }) = self.levels.last_mut()
        else {
            return Reply::none();
        };
        match w {
            ["set", "password", "ENC", hash] => {
                if !config::is_valid_hash(Scheme::FortiSh2, hash) {
                    return Reply::text(format!("invalid ENC password\nvalue parse error before '{hash}'\n{}", fail(-651)));
                }
                entry.secret = Secret::Hash(hash.to_string());
                *password_set = true;
                Reply::none()
            }
            ["set", "password", new, rest @ ..] => {
                if new.is_empty() || new.chars().count() > 128 {
                    return Reply::text(format!("The password must be 1 to 128 characters long.\nvalue parse error before '{new}'\n{}", fail(-651)));
                }
                // Own password: the old one may follow the new one; when given it must match.
                match rest {
                    [] => {}
                    [old] if is_self && entry.secret.verify(old) => {}
                    [_] if is_self => return Reply::text(format!("Old password is incorrect.\n{}", fail(-7))),
                    [extra, ..] => return Reply::text(parse_error(extra)),
                }
                entry.secret = Secret::Hash(config::hash(Scheme::FortiSh2, new));
                *password_set = true;
                Reply::none()
            }
            ["set", "accprofile", p] => match profile_privilege(p) {
                Some(n) => {
                    entry.privilege = n;
                    Reply::none()
                }
                None => Reply::text(format!("entry not found in datasource\nvalue parse error before '{p}'\n{}", fail(-3))),
            },
            ["set", "vdom", ..] | ["set", "trusthost1", ..] | ["set", "comments", ..] => Reply::none(),
            ["set", attr, ..] => Reply::text(parse_error(attr)),
            ["show"] | ["get"] => Reply::text(format!(
                "config system admin\n    edit \"{name}\"\n        set accprofile \"{}\"\n        set vdom \"root\"\n        set password ENC {}\n    next\nend\n",
                profile(entry.privilege),
                hash_of(&entry.secret)
            )),
            ["next"] => match self.commit_entry(ctx) {
                Ok(()) => {
                    self.levels.pop();
                    Reply::none()
                }
                Err(e) => Reply::text(e),
            },
            ["end"] => match self.commit_entry(ctx) {
                Ok(()) => {
                    self.levels.pop();
                    self.levels.pop();
                    ctx.state.saved = ctx.state.running.clone();
                    ctx.fx.logout_users.append(&mut self.changed);
                    Reply::none()
                }
                Err(e) => Reply::text(e),
            },
            ["abort"] => {
                self.levels.pop();
                Reply::none()
            }
            _ => Reply::text(format!("Unknown action 0\n{}", fail(-1))),
        }
    }
}

impl Shell for FortiShell {
    fn greeting(&mut self, _ctx: &mut Ctx) -> String {
        if self.disclaimer_pending {
            DISCLAIMER.into()
        } else {
            String::new()
        }
    }

    fn awaits_key(&self) -> bool {
        self.disclaimer_pending
    }

    fn key(&mut self, _ctx: &mut Ctx, key: u8) -> Reply {
        // Only `a` gets past the disclaimer; other keys are ignored.
        if key == b'a' {
            self.disclaimer_pending = false;
            Reply::text("\n")
        } else {
            Reply::none()
        }
    }

    fn prompt(&self, ctx: &Ctx) -> String {
        if self.disclaimer_pending {
            return ACCEPT.into();
        }
        let host = &ctx.state.running.hostname;
        let mark = if ctx.state.running.users.get(ctx.user).is_some_and(|u| u.privilege >= 15) {
            '#'
        } else {
            '$'
        };
        let level = match self.levels.last() {
            Some(Level::Admins) => Some("admin".to_string()),
            Some(Level::Admin { name, .. }) => Some(name.clone()),
            Some(Level::Console) => Some("console".to_string()),
            Some(Level::Other(n)) => Some(n.clone()),
            _ if self.global => Some("global".to_string()),
            _ => None,
        };
        match level {
            Some(l) => format!("{host} ({l}) {mark} "),
            None => format!("{host} {mark} "),
        }
    }

    fn line(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        let owned = words(line);
        let w: Vec<&str> = owned.iter().map(String::as_str).collect();
        if w.is_empty() || self.disclaimer_pending {
            return Reply::none();
        }
        match self.levels.last() {
            Some(Level::Admins) => self.admins(ctx, &w),
            Some(Level::Admin { .. }) => self.admin(ctx, &w),
            Some(Level::Console) => match w.as_slice() {
                ["set", "output", "standard"] => {
                    self.paging = false;
                    Reply::none()
                }
                ["set", "output", "more"] => {
                    self.paging = true;
                    Reply::none()
                }
                ["end"] => {
                    self.levels.pop();
                    Reply::none()
                }
                ["set", attr, ..] if !["baudrate", "login", "output"].contains(attr) => Reply::text(parse_error(attr)),
                _ => Reply::none(),
            },
            Some(Level::Other(_)) => {
                if w == ["end"] {
                    self.levels.pop();
                }
                Reply::none()
            }
            _ => self.top(ctx, &w),
        }
    }

    fn help(&mut self, _ctx: &mut Ctx, _partial: &str) -> Option<String> {
        Some(match self.levels.last() {
            Some(Level::Admin { .. }) => "set       Modify value.\nunset     Set to default value.\nget       Get dynamic and system information.\nshow      Show configuration.\nnext      Configure next table entry.\nabort     End and discard last config.\nend       End and save last config.".into(),
            Some(Level::Admins) => "edit      Add/edit a table value.\ndelete    Delete a table value.\npurge     Clear all table values.\nget       Get dynamic and system information.\nshow      Show configuration.\nabort     End and discard last config.\nend       End and save last config.".into(),
            _ => "config      Configure object.\nget         Get dynamic and system information.\nshow        Show configuration.\ndiagnose    Diagnose facility.\nexecute     Execute static commands.\nalias       Execute alias commands.\nexit        Exit the CLI.".into(),
        })
    }

    fn exec(&mut self, ctx: &mut Ctx, command: &str) -> (String, u32) {
        // An exec channel has no terminal to show the disclaimer on.
        self.disclaimer_pending = false;
        (self.line(ctx, command).text, 0)
    }

    fn pager_prompt(&self) -> &'static str {
        "--More-- "
    }

    fn pager_erase(&self) -> String {
        "\r         \r".into()
    }
}
