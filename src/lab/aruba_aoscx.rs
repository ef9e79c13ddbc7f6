//! Emulated HPE Aruba AOS-CX: the login banner (`Last login: ...`, `User "NAME" has logged in N
//! times in the past 30 days`) and `host# ` prompt of the recorded sessions (operators get
//! `host> `), paging until `no page`, `show user-list`, `show running-config` with
//! `user NAME group G password ciphertext B64` lines, `configure terminal` and
//! `user NAME [group G] password plaintext|ciphertext ...`, `write memory` (`Success`), and the
//! timed `checkpoint auto N` that restores the previous running configuration unless
//! `checkpoint auto confirm` comes first (scaled by the lab's time scale).
//!
//! Password limits are unconfirmed for AOS-CX, so none is enforced beyond a non-empty single
//! word; the pager's text and the error texts are the family's usual ones, unconfirmed.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;

use super::config::{self, Conf, DeviceState, PendingConfirm, Scheme, Secret, User};
use super::{Ctx, DeviceSpec, Reply, Shell};

pub(crate) const PAGER: &str = "-- MORE --, next page: Space, next line: Enter, quit: Control-C";

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

fn group(privilege: u8) -> &'static str {
    if privilege >= 15 {
        "administrators"
    } else {
        "operators"
    }
}

fn ciphertext(secret: &Secret) -> String {
    let hash = match secret {
        Secret::Hash(h) => h.clone(),
        Secret::Plain(p) => config::hash(Scheme::Sha512Crypt, p),
    };
    base64::engine::general_purpose::STANDARD.encode(hash)
}

fn from_ciphertext(text: &str) -> Option<Secret> {
    let raw = base64::engine::general_purpose::STANDARD.decode(text).ok()?;
    let hash = String::from_utf8(raw).ok()?;
    config::is_valid_hash(Scheme::Sha512Crypt, &hash).then_some(Secret::Hash(hash))
}

fn running_config(conf: &Conf) -> String {
    let mut out = vec![
        "Current configuration:".to_string(),
        "!".into(),
        "!Version AOS-CX PL.10.16.1010".into(),
        "!export-password: default".into(),
        format!("hostname {}", conf.hostname),
    ];
    for (name, u) in &conf.users {
        out.push(format!(
            "user {name} group {} password ciphertext {}",
            group(u.privilege),
            ciphertext(&u.secret)
        ));
    }
    out.extend(
        [
            "ntp server pool.ntp.org iburst",
            "ssh server vrf mgmt",
            "vlan 1",
            "interface mgmt",
            "    no shutdown",
            "    ip dhcp",
            "interface 1/1/1",
            "    no shutdown",
            "https-server vrf mgmt",
        ]
        .map(String::from),
    );
    out.join("\n") + "\n"
}

pub(crate) struct AoscxShell {
    user: String,
    config: bool,
    paging: bool,
}

impl AoscxShell {
    pub(crate) fn new(user: &str, _st: &DeviceState) -> Self {
        AoscxShell {
            user: user.to_string(),
            config: false,
            paging: true,
        }
    }

    fn admin(&self, ctx: &Ctx) -> bool {
        ctx.state
            .running
            .users
            .get(&self.user)
            .is_some_and(|u| u.privilege >= 15)
    }

    fn page(&self, ctx: &Ctx) -> Option<usize> {
        (self.paging && ctx.rows > 0).then_some(ctx.rows)
    }

    fn exec_line(&mut self, ctx: &mut Ctx, w: &[&str]) -> Reply {
        match w {
            ["no", "page"] => {
                self.paging = false;
                Reply::none()
            }
            ["page"] => {
                self.paging = true;
                Reply::none()
            }
            ["terminal", "width", _] => Reply::none(),
            ["show", "version"] => Reply::text("-----------------------------------------------------------------------------\nAOS-CX\n(c) Copyright 2017-2025 Hewlett Packard Enterprise Development LP\n-----------------------------------------------------------------------------\nVersion      : PL.10.16.1010\nActive Image : primary\n"),
            ["show", "user-list"] => {
                let mut out = String::from("USER                             GROUP\n-------------------------------------------------\n");
                for (name, u) in &ctx.state.running.users {
                    out.push_str(&format!("{name:<32} {}\n", group(u.privilege)));
                }
                Reply::paged(out, self.page(ctx))
            }
            ["show", "running-config"] if self.admin(ctx) => {
                Reply::paged(running_config(&ctx.state.running), self.page(ctx))
            }
            _ if !self.admin(ctx) => Reply::text("% Insufficient privileges to execute this command.\n"),
            ["configure"] | ["configure", "terminal"] | ["conf", "t"] | ["config"] => {
                self.config = true;
                Reply::none()
            }
            ["checkpoint", "auto", "confirm"] => match ctx.state.pending.take() {
                Some(_) => Reply::text("checkpoint AUTO20261203120000 created\n"),
                None => Reply::text("% Auto checkpoint mode is not active.\n"),
            },
            ["checkpoint", "auto", minutes] => match minutes.parse::<u64>() {
                Ok(m @ 1..=60) => {
                    let deadline = ctx.now + ctx.scaled(Duration::from_secs(m * 60));
                    ctx.state.pending = Some(PendingConfirm {
                        deadline,
                        restore: ctx.state.running.clone(),
                        session: None,
                    });
                    Reply::text(format!("Auto checkpoint mode expires in {m} minute(s)\n"))
                }
                _ => Reply::text(format!("Invalid input: {minutes}\n")),
            },
            ["write", "memory"] | ["copy", "running-config", "startup-config"] => {
                ctx.state.saved = ctx.state.running.clone();
                Reply::text("Copying configuration: [Success]\n")
            }
            [first, ..] => Reply::text(format!("Invalid input: {first}\n")),
            [] => Reply::none(),
        }
    }

    fn config_line(&mut self, ctx: &mut Ctx, w: &[&str]) -> Reply {
        match w {
            ["end"] | ["exit"] => {
                self.config = false;
                Reply::none()
            }
            ["user", name, rest @ ..] => self.user_line(ctx, name, rest),
            [first, ..] => Reply::text(format!("Invalid input: {first}\n")),
            [] => Reply::none(),
        }
    }

    fn user_line(&mut self, ctx: &mut Ctx, name: &str, rest: &[&str]) -> Reply {
        let (group_name, rest) = match rest {
            ["group", g, rest @ ..] => (Some(*g), rest),
            _ => (None, rest),
        };
        let secret = match rest {
            ["password", "plaintext", pw] => Secret::Hash(config::hash(Scheme::Sha512Crypt, pw)),
            ["password", "ciphertext", text] => match from_ciphertext(text) {
                Some(s) => s,
                None => return Reply::text("% Invalid ciphertext.\n"),
            },
            ["password", "plaintext" | "ciphertext", _, extra, ..] => {
                return Reply::text(format!("Invalid input: {extra}\n"))
            }
            ["password", "plaintext" | "ciphertext"] | ["password"] => return Reply::text("% Command incomplete.\n"),
            _ => return Reply::text("% Command incomplete.\n"),
        };
        let privilege = match (group_name, ctx.state.running.users.get(name)) {
            (Some("administrators"), _) => 15,
            (Some("operators"), _) => 1,
            (Some(other), _) => return Reply::text(format!("Group {other} doesn't exist.\n")),
            (None, Some(u)) => u.privilege,
            (None, None) => return Reply::text(format!("User {name} doesn't exist.\n")),
        };
        ctx.fx
            .set_user(&mut ctx.state.running, name, User { secret, privilege });
        Reply::none()
    }
}

impl Shell for AoscxShell {
    fn greeting(&mut self, _ctx: &mut Ctx) -> String {
        format!(
            "Last login: 2026-12-03 09:14:02 from 127.0.0.1\nUser \"{}\" has logged in 3 times in the past 30 days\n",
            self.user
        )
    }

    fn prompt(&self, ctx: &Ctx) -> String {
        let host = &ctx.state.running.hostname;
        match (self.config, self.admin(ctx)) {
            (true, _) => format!("{host}(config)# "),
            (false, true) => format!("{host}# "),
            (false, false) => format!("{host}> "),
        }
    }

    fn line(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        let w: Vec<&str> = line.split_whitespace().collect();
        if !self.config && matches!(w.as_slice(), ["exit"] | ["logout"]) {
            return Reply::close("");
        }
        if self.config {
            self.config_line(ctx, &w)
        } else {
            self.exec_line(ctx, &w)
        }
    }

    fn pager_prompt(&self) -> &'static str {
        PAGER
    }

    fn control(&mut self, _ctx: &mut Ctx, key: u8) -> Option<Reply> {
        if key == 0x1a {
            self.config = false;
        }
        Some(Reply::none())
    }
}
