//! Emulated UniFi access point: the device SSH account the controller sets at adoption (in
//! practice one; the emulation lists every account of its spec as `users.N`, none with a
//! privilege level), a BusyBox shell, and `/tmp/system.cfg` with `users.N.name=` and
//! `users.N.password=`, `/etc/board.info` and `/etc/version` as OX reads them. The shell's prompt
//! is not documented; the emulation uses `HOST-BZ.v6.6.55# `. A local password change on the
//! device is not documented either and is not emulated.

use std::collections::BTreeMap;

use super::config::{self, Conf, DeviceState, Scheme, Secret, User};
use super::{words, Ctx, DeviceSpec, Reply, Shell};

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

fn system_cfg(conf: &Conf) -> String {
    let mut s = String::from("aaa.1.status=disabled\nbridge.status=enabled\nmgmt.is_default=false\nmgmt.servers.1.url=http://unifi:8080/inform\nresolv.status=enabled\nsshd.1.status=enabled\nusers.status=enabled\n");
    for (i, (name, u)) in conf.users.iter().enumerate() {
        let hash = match &u.secret {
            Secret::Hash(h) => h.clone(),
            Secret::Plain(p) => config::hash(Scheme::Sha512Crypt, p),
        };
        s.push_str(&format!(
            "users.{n}.name={name}\nusers.{n}.password={hash}\nusers.{n}.status=enabled\n",
            n = i + 1
        ));
    }
    s.push_str("wireless.1.devname=ath0\nwireless.1.status=enabled\n");
    s
}

pub(crate) struct UnifiShell;

impl UnifiShell {
    pub(crate) fn new(_user: &str, _st: &DeviceState) -> Self {
        UnifiShell
    }
}

impl Shell for UnifiShell {
    fn greeting(&mut self, _ctx: &mut Ctx) -> String {
        "\n\nBusyBox v1.25.1 () built-in shell (ash)\n\n\n  ___ ___      .__________.__\n |   |   |____ |__\\_  ____/__|\n |   |   /    \\|  ||  __) |  |   (c) 2010-2024\n |   |  |   |  \\  ||  \\   |  |   Ubiquiti Inc.\n |______|___|  /__||__/   |__|\n            |_/                  https://www.ui.com\n\n      Welcome to UniFi UAP-AC-Lite!\n\n".into()
    }

    fn prompt(&self, ctx: &Ctx) -> String {
        format!("{}-BZ.v6.6.55# ", ctx.state.running.hostname)
    }

    fn line(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        let owned = words(line);
        let w: Vec<&str> = owned.iter().map(String::as_str).collect();
        match w.as_slice() {
            [] => Reply::none(),
            ["cat", "/tmp/system.cfg"] => Reply::text(system_cfg(&ctx.state.running)),
            ["cat", "/etc/board.info"] => {
                Reply::text("board.sysid=0xe517\nboard.name=UAP-AC-Lite\nboard.shortname=U7LT\n")
            }
            ["cat", "/etc/version"] => Reply::text("BZ.qca956x.v6.6.55.15189.240314.1724\n"),
            ["cat", path] => Reply::text(format!("cat: can't open '{path}': No such file or directory\n")),
            ["exit"] | ["logout"] => Reply::close(""),
            [cmd, ..] => Reply::text(format!("-sh: {cmd}: not found\n")),
        }
    }
}
