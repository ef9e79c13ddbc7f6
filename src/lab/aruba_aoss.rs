//! Emulated HPE Aruba AOS-S (ProCurve): `Press any key to continue` before the first prompt (any
//! key), VT100 cursor codes around the prompts `host> `, `host# ` and `host(config)# `, paging
//! until `no page` (which works only in manager mode), one manager and one operator account
//! (the spec's first administrator; as operator its first account below 15, else its next
//! account; further accounts do not exist on this OS), `show running-config [include-credentials]` (the `password manager|operator
//! user-name NAME sha1 HEX` lines only with `include-credentials`), `configure` and
//! `password manager|operator user-name NAME plaintext PW|sha1 HEX` (ASCII 33-126, at most 64
//! characters), `write memory`, and `Do you want to log out [y/n]?` on `logout`.
//!
//! The pager's text and the error texts are the family's usual ones, unconfirmed.

use std::collections::BTreeMap;

use super::config::{self, Conf, DeviceState, Secret, User};
use super::{Ctx, DeviceSpec, Reply, Shell};

const PAGER: &str = "-- MORE --, next page: Space, next line: Enter, quit: Control-C";
/// What AOS-S prints around its prompts (cursor positioning).
const CURSOR: &str = "\x1b[1;24r\x1b[24;1H";

pub(crate) fn initial_conf(spec: &DeviceSpec) -> (Conf, bool) {
    let manager = spec.accounts.iter().find(|a| a.privilege >= 15);
    let is_manager = |a: &&super::LabAccount| manager.is_some_and(|m| m.name == a.name);
    let operator = spec
        .accounts
        .iter()
        .find(|a| a.privilege < 15)
        .or_else(|| spec.accounts.iter().find(|a| !is_manager(a)));
    let users = manager
        .map(|a| (a, 15))
        .into_iter()
        .chain(operator.map(|a| (a, 1)))
        .map(|(a, privilege)| {
            let user = User {
                secret: Secret::Hash(config::aoss_sha1(a.password.expose())),
                privilege,
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
        "manager"
    } else {
        "operator"
    }
}

fn sha1_hex(secret: &Secret) -> String {
    let stored = match secret {
        Secret::Hash(h) => h.clone(),
        Secret::Plain(p) => config::aoss_sha1(p),
    };
    stored.trim_start_matches("sha1:").to_string()
}

fn running_config(conf: &Conf, credentials: bool) -> String {
    let mut out = vec![
        String::new(),
        "Running configuration:".to_string(),
        String::new(),
        "; J9776A Configuration Editor; Created on release #YA.16.10.0012".into(),
        "; Ver #14:01.4f.f8.1d.9b.3f.bf.bb.ef.7c.59.fc.6b.fb.9f.fc.ff.ff.37.ef:05".into(),
        format!("hostname \"{}\"", conf.hostname),
        "module 1 type j9776a".into(),
        "snmp-server community \"public\" unrestricted".into(),
        "vlan 1".into(),
        "   name \"DEFAULT_VLAN\"".into(),
        "   untagged 1-28".into(),
        "   ip address dhcp-bootp".into(),
        "   exit".into(),
    ];
    if credentials {
        for (name, u) in &conf.users {
            out.push(format!(
                "password {} user-name {name} sha1 {}",
                role(u.privilege),
                sha1_hex(&u.secret)
            ));
        }
    }
    out.join("\n") + "\n"
}

pub(crate) struct AossShell {
    user: String,
    press_any_key: bool,
    config: bool,
    paging: bool,
    confirm_logout: bool,
}

impl AossShell {
    pub(crate) fn new(user: &str, _st: &DeviceState) -> Self {
        AossShell {
            user: user.to_string(),
            press_any_key: true,
            config: false,
            paging: true,
            confirm_logout: false,
        }
    }

    fn manager(&self, ctx: &Ctx) -> bool {
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
            ["show", "version"] => Reply::text("Image stamp:    /ws/swbuildm/rel_york_qaoff/code/build/tam(swbuildm_rel_york_qaoff_rel_york)\n                Apr 12 2022 09:34:27\n                YA.16.10.0012\n"),
            ["show", "running-config", rest @ ..] => {
                let credentials = matches!(rest, ["include-credentials"]);
                if !rest.is_empty() && !credentials {
                    return Reply::text(format!("Invalid input: {}\n", rest[0]));
                }
                Reply::paged(running_config(&ctx.state.running, credentials), self.page(ctx))
            }
            ["logout"] | ["exit"] => {
                self.confirm_logout = true;
                Reply::none()
            }
            _ if !self.manager(ctx) => Reply::text(format!("Invalid input: {}\n", w.first().unwrap_or(&""))),
            ["no", "page"] => {
                self.paging = false;
                Reply::none()
            }
            ["configure"] | ["configure", "terminal"] | ["config"] => {
                self.config = true;
                Reply::none()
            }
            ["write", "memory"] => {
                ctx.state.saved = ctx.state.running.clone();
                Reply::none()
            }
            [first, ..] => Reply::text(format!("Invalid input: {first}\n")),
            [] => Reply::none(),
        }
    }

    fn config_line(&mut self, ctx: &mut Ctx, w: &[&str]) -> Reply {
        match w {
            ["exit"] | ["end"] => {
                self.config = false;
                Reply::none()
            }
            ["password", which @ ("manager" | "operator"), "user-name", name, scheme, value] => {
                let secret = match *scheme {
                    "plaintext" => {
                        if value.len() > 64 || !value.bytes().all(|b| (33..=126).contains(&b)) {
                            return Reply::text("Password must be 1-64 printable ASCII characters (33-126) long.\n");
                        }
                        Secret::Hash(config::aoss_sha1(value))
                    }
                    "sha1" if value.len() == 40 && value.bytes().all(|b| b.is_ascii_hexdigit()) => {
                        Secret::Hash(format!("sha1:{}", value.to_ascii_lowercase()))
                    }
                    _ => return Reply::text(format!("Invalid input: {value}\n")),
                };
                let privilege = if *which == "manager" { 15 } else { 1 };
                // One account of each kind: a new name replaces the old one.
                let old = ctx
                    .state
                    .running
                    .users
                    .iter()
                    .find(|(n, u)| u.privilege == privilege && n.as_str() != *name)
                    .map(|(n, _)| n.clone());
                if let Some(old) = old {
                    if ctx.fx.fault != super::Fault::IgnorePasswordChange {
                        ctx.state.running.users.remove(&old);
                    }
                }
                ctx.fx
                    .set_user(&mut ctx.state.running, name, User { secret, privilege });
                Reply::none()
            }
            ["password", ..] => Reply::text("Incomplete input: password\n"),
            [first, ..] => Reply::text(format!("Invalid input: {first}\n")),
            [] => Reply::none(),
        }
    }
}

impl Shell for AossShell {
    fn greeting(&mut self, _ctx: &mut Ctx) -> String {
        "HP J9776A 2530-24G Switch\nSoftware revision YA.16.10.0012\n\n(C) Copyright 2022 Hewlett Packard Enterprise Development LP\n\nRESTRICTED RIGHTS LEGEND\nConfidential computer software. Valid license from HPE required for possession,\nuse or copying.\n\n".into()
    }

    fn prompt(&self, ctx: &Ctx) -> String {
        if self.press_any_key {
            return "Press any key to continue".into();
        }
        if self.confirm_logout {
            return "Do you want to log out [y/n]? ".into();
        }
        let host = &ctx.state.running.hostname;
        let prompt = match (self.config, self.manager(ctx)) {
            (true, _) => format!("{host}(config)# "),
            (false, true) => format!("{host}# "),
            (false, false) => format!("{host}> "),
        };
        format!("{CURSOR}{prompt}")
    }

    fn awaits_key(&self) -> bool {
        self.press_any_key
    }

    fn key(&mut self, _ctx: &mut Ctx, _key: u8) -> Reply {
        self.press_any_key = false;
        Reply::text("\n")
    }

    fn line(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        if self.confirm_logout {
            self.confirm_logout = false;
            if line.trim().eq_ignore_ascii_case("y") {
                return Reply::close("");
            }
            return Reply::none();
        }
        let w: Vec<&str> = line.split_whitespace().collect();
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
