//! Emulated Synology DSM 7: an administrator logs in to `sh` (`user@host:~$ `), becomes root with
//! `sudo -i` after typing its own password at sudo's question (no echo; three tries, then sudo
//! gives up; users outside `administrators` are refused), and as root runs `synouser --enum
//! local`, `synouser --get NAME`, `synogroup --get administrators` (members as `0:[admin]`
//! after `Group Members:`) and `synouser --setpw NAME PW` (refused above 127 characters, the
//! DSM limit). `synouser` as a non-root user prints `Permission denied`. A change takes effect at
//! once and is kept (no save step is known).
//!
//! Unconfirmed in device-cli.md section 15, so plain here and not relied on by the dialect: the
//! prompts, sudo's question text, the `--enum` and `--get` output formats, messages and exit codes.

use std::collections::BTreeMap;

use super::config::{self, Conf, DeviceState, Scheme, Secret, User};
use super::posix_sh::run_list;
use super::{Ctx, DeviceSpec, Echo, Reply, Shell};

/// DSM's longest password.
const MAX_PASSWORD: usize = 127;

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

pub(crate) struct DsmShell {
    user: String,
    root: bool,
    /// At sudo's password question: tries so far.
    sudo_tries: Option<u32>,
}

impl DsmShell {
    pub(crate) fn new(user: &str, _st: &DeviceState) -> Self {
        DsmShell {
            user: user.to_string(),
            root: false,
            sudo_tries: None,
        }
    }

    fn run(&mut self, ctx: &mut Ctx, w: &[String]) -> (String, u32) {
        let w: Vec<&str> = w.iter().map(String::as_str).collect();
        match w.as_slice() {
            ["unset", ..] | ["export", ..] | ["true"] => (String::new(), 0),
            ["echo", rest @ ..] => (format!("{}\n", rest.join(" ")), 0),
            ["id", "-u"] => (if self.root { "0\n".into() } else { "1026\n".into() }, 0),
            ["grep", "majorversion", "/etc.defaults/VERSION"] => ("majorversion=\"7\"\n".into(), 0),
            ["synouser" | "synogroup", ..] if !self.root => ("Permission denied\n".into(), 1),
            ["synouser", "--enum", "local"] => {
                let users = &ctx.state.running.users;
                let mut out = format!("{} User Listed:\n", users.len());
                for name in users.keys() {
                    out.push_str(&format!("{name}\n"));
                }
                (out, 0)
            }
            ["synouser", "--get", name] => match ctx.state.running.users.get(*name) {
                Some(_) => (
                    format!("User Name   : [{name}]\nUser Type   : [AUTH_LOCAL]\nExpired     : [false]\n"),
                    0,
                ),
                None => (format!("SYNOUserGet failed. User [{name}] does not exist.\n"), 1),
            },
            ["synogroup", "--get", "administrators"] => {
                let mut out = String::from(
                    "Group Name: [administrators]\nGroup Type: [AUTH_LOCAL]\nGroup ID:   [101]\nGroup Members:\n",
                );
                let admins = ctx.state.running.users.iter().filter(|(_, u)| u.privilege >= 15);
                for (i, (name, _)) in admins.enumerate() {
                    out.push_str(&format!("{i}:[{name}]\n"));
                }
                (out, 0)
            }
            ["synouser", "--setpw", name, pw] => {
                let Some(user) = ctx.state.running.users.get(*name).cloned() else {
                    return (
                        format!("SYNOUserSetPassword failed. User [{name}] does not exist.\n"),
                        1,
                    );
                };
                if pw.is_empty() || pw.chars().count() > MAX_PASSWORD {
                    return (
                        "SYNOUserSetPassword failed. The password length must be between 1 and 127 characters.\n"
                            .into(),
                        1,
                    );
                }
                let new = User {
                    secret: Secret::Hash(config::hash(Scheme::Sha512Crypt, pw)),
                    privilege: user.privilege,
                };
                ctx.fx.set_user(&mut ctx.state.running, name, new);
                // No save step: the account database is written at once.
                ctx.state.saved = ctx.state.running.clone();
                (String::new(), 0)
            }
            ["synouser" | "synogroup", ..] => ("Usage: synouser --help\n".into(), 255),
            [first, ..] => (format!("-sh: {first}: command not found\n"), 127),
            [] => (String::new(), 0),
        }
    }

    fn is_admin(&self, ctx: &Ctx) -> bool {
        ctx.state
            .running
            .users
            .get(&self.user)
            .is_some_and(|u| u.privilege >= 15)
    }
}

impl Shell for DsmShell {
    fn greeting(&mut self, _ctx: &mut Ctx) -> String {
        "\nSynology strongly advises you not to run commands as the root user, who has\nthe highest privileges on the system. Doing so may cause major damages\nto the system. Please note that if you choose to proceed, all consequences are\nat your own risk.\n\n".into()
    }

    fn prompt(&self, ctx: &Ctx) -> String {
        if self.sudo_tries.is_some() {
            return "Password: ".into();
        }
        let host = &ctx.state.running.hostname;
        if self.root {
            format!("root@{host}:~# ")
        } else {
            format!("{}@{host}:~$ ", self.user)
        }
    }

    fn echo(&self) -> Echo {
        if self.sudo_tries.is_some() {
            Echo::Off
        } else {
            Echo::On
        }
    }

    fn control(&mut self, _ctx: &mut Ctx, key: u8) -> Option<Reply> {
        if key == 0x03 && self.sudo_tries.take().is_some() {
            return Some(Reply::text("^C\nsudo: 1 incorrect password attempt\n"));
        }
        Some(Reply::text("^C\n"))
    }

    fn line(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        if let Some(tries) = self.sudo_tries {
            if ctx.state.running.password_works(&self.user, line) {
                self.sudo_tries = None;
                self.root = true;
                return Reply::text("\n");
            }
            if tries + 1 >= 3 {
                self.sudo_tries = None;
                return Reply::text("\nsudo: 3 incorrect password attempts\n");
            }
            self.sudo_tries = Some(tries + 1);
            return Reply::text("\nSorry, try again.\n");
        }
        let trimmed = line.trim();
        if trimmed == "sudo -i" || trimmed == "sudo su -" {
            if self.root {
                return Reply::none();
            }
            if !self.is_admin(ctx) {
                return Reply::text(format!(
                    "{} is not in the sudoers file.  This incident will be reported.\n",
                    self.user
                ));
            }
            self.sudo_tries = Some(0);
            return Reply::text("\nWe trust you have received the usual lecture from the local System\nAdministrator. It usually boils down to these three things:\n\n    #1) Respect the privacy of others.\n    #2) Think before you type.\n    #3) With great power comes great responsibility.\n\n");
        }
        if matches!(trimmed, "exit" | "logout") {
            if self.root {
                self.root = false;
                return Reply::text("logout\n");
            }
            return Reply::close("logout\n");
        }
        let (out, _) = run_list(line, |w| self.run(ctx, w));
        Reply::text(out)
    }

    fn exec(&mut self, ctx: &mut Ctx, command: &str) -> (String, u32) {
        run_list(command, |w| self.run(ctx, w))
    }
}
