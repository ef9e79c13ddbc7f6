//! Emulated Palo Alto PAN-OS: every login is asked `Do you accept [yes/no]?` first (a login
//! banner to accept), then `admin@host> `; `configure` gives `[edit]` / `admin@host# `.
//! `set cli scripting-mode on|off` and `set cli pager on|off` are taken (the pager's own prompt is
//! not documented, so output is never paged). In configuration mode `show mgt-config users`
//! prints the users with their `phash` and role; `set mgt-config users NAME password` asks
//! `Enter password :` and `Confirm password :` without echo; `set mgt-config users NAME phash
//! HASH` takes an MD5-crypt hash back. Changes are a candidate until `commit`, which runs for
//! [`COMMIT_TIME`] (device time, scaled by the lab's time scale) showing its progress, and puts
//! the candidate in force, and in the saved configuration, only when it completes. Login
//! authentication is by password; keyboard-interactive is not emulated.

use std::collections::BTreeMap;
use std::time::Duration;

use super::config::{self, Conf, DeviceState, Scheme, Secret, User};
use super::{words, Ctx, DeviceSpec, Echo, Reply, Shell};

/// How long a commit runs on the emulated device: a small one (real commits take from seconds to
/// minutes); the lab's time scale shortens or lengthens it.
pub const COMMIT_TIME: Duration = Duration::from_secs(5);

pub(crate) fn initial_conf(spec: &DeviceSpec) -> (Conf, bool) {
    let users = spec
        .accounts
        .iter()
        .map(|a| {
            let user = User {
                secret: Secret::Hash(config::hash(Scheme::Md5Crypt, a.password.expose())),
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

fn phash(secret: &Secret) -> String {
    match secret {
        Secret::Hash(h) => h.clone(),
        Secret::Plain(p) => config::hash(Scheme::Md5Crypt, p),
    }
}

fn role(privilege: u8) -> &'static str {
    if privilege >= 15 {
        "superuser yes"
    } else {
        "superreader yes"
    }
}

fn users_tree(conf: &Conf) -> String {
    let mut s = String::from("users {\n");
    for (name, u) in &conf.users {
        s.push_str(&format!(
            "  {name} {{\n    phash {};\n    permissions {{\n      role-based {{\n        {};\n      }}\n    }}\n  }}\n",
            phash(&u.secret),
            role(u.privilege)
        ));
    }
    s.push_str("}\n");
    s
}

#[derive(Debug)]
enum Question {
    Accept,
    Enter { user: String },
    Confirm { user: String, first: String },
}

pub(crate) struct PanosShell {
    user: String,
    question: Option<Question>,
    candidate: Option<Conf>,
    next_job: u32,
}

impl PanosShell {
    pub(crate) fn new(user: &str, _st: &DeviceState) -> Self {
        PanosShell {
            user: user.to_string(),
            question: Some(Question::Accept),
            candidate: None,
            next_job: 17,
        }
    }

    fn commit(&mut self, ctx: &mut Ctx) -> Reply {
        let Some(candidate) = self.candidate.clone() else {
            return Reply::text("Invalid syntax.\n");
        };
        if ctx.state.committing.is_some() {
            return Reply::text("Server error : Commit job in progress. Please try again later.\n");
        }
        if candidate == ctx.state.running {
            return Reply::text("There are no changes to commit.\n");
        }
        let job = self.next_job;
        self.next_job += 1;
        let total = ctx.scaled(COMMIT_TIME);
        ctx.state.committing = Some((ctx.now + total, candidate));
        let part = |f: f64| total.mul_f64(f);
        Reply {
            text: format!("\nCommit job {job} is in progress. Use Ctrl+C to return to command prompt\n"),
            later: vec![
                (part(0.3), "....55%".into()),
                (part(0.3), "....75%".into()),
                (part(0.2), "...98%".into()),
                // Just after the device put it in force.
                (
                    part(0.2) + Duration::from_millis(5),
                    ".....100%\nConfiguration committed successfully\n".into(),
                ),
            ],
            ..Reply::default()
        }
    }

    fn configuration(&mut self, ctx: &mut Ctx, w: &[&str]) -> Reply {
        let Some(candidate) = self.candidate.as_mut() else {
            return Reply::none();
        };
        match w {
            [] => Reply::none(),
            ["show", "mgt-config", "users"] => Reply::text(users_tree(candidate)),
            ["set", "mgt-config", "users", name, "password"] => {
                self.question = Some(Question::Enter { user: name.to_string() });
                Reply::none()
            }
            ["set", "mgt-config", "users", name, "phash", hash] => {
                if !config::is_valid_hash(Scheme::Md5Crypt, hash) {
                    return Reply::text("Invalid syntax.\n");
                }
                let privilege = candidate.users.get(*name).map(|u| u.privilege).unwrap_or(1);
                let user = User {
                    secret: Secret::Hash(hash.to_string()),
                    privilege,
                };
                ctx.fx.set_user(candidate, name, user);
                Reply::none()
            }
            ["commit"] => self.commit(ctx),
            ["revert", "config"] => {
                *candidate = ctx.state.running.clone();
                Reply::none()
            }
            ["exit"] | ["quit"] => {
                self.candidate = None;
                Reply::text("Exiting configuration mode\n")
            }
            _ => Reply::text("Invalid syntax.\n"),
        }
    }
}

impl Shell for PanosShell {
    fn greeting(&mut self, _ctx: &mut Ctx) -> String {
        "Last login: Thu Dec  3 09:14:02 2026 from 127.0.0.1\n\nYou are accessing a system of the ACME company. Unauthorised use is prohibited.\n".into()
    }

    fn prompt(&self, ctx: &Ctx) -> String {
        match &self.question {
            Some(Question::Accept) => return "Do you accept [yes/no]? ".into(),
            Some(Question::Enter { .. }) => return "Enter password   : ".into(),
            Some(Question::Confirm { .. }) => return "Confirm password : ".into(),
            None => {}
        }
        let host = &ctx.state.running.hostname;
        match self.candidate {
            Some(_) => format!("\n[edit]\n{}@{host}# ", self.user),
            None => format!("{}@{host}> ", self.user),
        }
    }

    fn line(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        match self.question.take() {
            Some(Question::Accept) => {
                return if line.trim().eq_ignore_ascii_case("yes") {
                    Reply::text("\n")
                } else {
                    Reply::close("\n")
                };
            }
            Some(Question::Enter { user }) => {
                self.question = Some(Question::Confirm {
                    user,
                    first: line.to_string(),
                });
                return Reply::none();
            }
            Some(Question::Confirm { user, first }) => {
                if first != line {
                    return Reply::text("Passwords do not match\n");
                }
                if let Some(candidate) = self.candidate.as_mut() {
                    let privilege = candidate.users.get(&user).map(|u| u.privilege).unwrap_or(1);
                    let new = User {
                        secret: Secret::Hash(config::hash(Scheme::Md5Crypt, &first)),
                        privilege,
                    };
                    ctx.fx.set_user(candidate, &user, new);
                }
                return Reply::none();
            }
            None => {}
        }
        let owned = words(line);
        let w: Vec<&str> = owned.iter().map(String::as_str).collect();
        if self.candidate.is_some() {
            return self.configuration(ctx, &w);
        }
        match w.as_slice() {
            [] => Reply::none(),
            ["set", "cli", "scripting-mode" | "pager", "on" | "off"] => Reply::none(),
            ["configure"] => {
                self.candidate = Some(ctx.state.running.clone());
                Reply::text("Entering configuration mode\n")
            }
            ["show", "system", "info"] => Reply::text(format!(
                "hostname: {}\nmodel: PA-440\nsw-version: 11.1.4-h7\n",
                ctx.state.running.hostname
            )),
            ["exit"] | ["quit"] => Reply::close("\n"),
            _ => Reply::text("Invalid syntax.\n"),
        }
    }

    fn echo(&self) -> Echo {
        match self.question {
            Some(Question::Enter { .. } | Question::Confirm { .. }) => Echo::Off,
            _ => Echo::On,
        }
    }
}
