//! Emulated VMware ESXi: logins by keyboard-interactive only (the SSH layer asks `Password: `),
//! a lockout after `LOCKOUT_FAILURES` failed logins for `UNLOCK_AFTER` (scaled by the lab's time
//! scale; a correct password is refused while locked, a good login resets the count), the
//! `[user@host:~] ` prompt of `sh`, and the `esxcli` commands keyreeve uses:
//! `system account list|set`, `system permission list`, with the default password-quality policy
//! (`min=disabled,disabled,disabled,7,7`: 7 characters and 3 classes, a leading capital and a
//! trailing digit not counted; fewer than 40 characters). `/sbin/auto-backup.sh` makes the
//! running accounts the saved ones (what survives `Lab::reload`).
//!
//! Facts (device-cli.md section 17) drive what is refused and when; the exact texts of the
//! banner, the table headers and the error messages are unconfirmed, so they are plain and the
//! dialect does not depend on them (it reads exit statuses).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::config::{self, Conf, DeviceState, Scheme, Secret, User};
use super::posix_sh::run_list;
use super::{Ctx, DeviceSpec, Reply, Shell};

/// `Security.AccountLockFailures` default.
pub(crate) const LOCKOUT_FAILURES: u32 = 5;
/// `Security.AccountUnlockTime` default.
pub(crate) const UNLOCK_AFTER: Duration = Duration::from_secs(15 * 60);

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

/// A keyboard-interactive login attempt, counted toward the lockout.
pub(crate) fn login(st: &mut DeviceState, user: &str, password: &str, now: Instant, time_scale: f64) -> bool {
    let unlock_after = UNLOCK_AFTER.div_f64(time_scale);
    let entry = st.login_failures.entry(user.to_string()).or_insert((0, None));
    if let Some(since) = entry.1 {
        if now.duration_since(since) >= unlock_after {
            *entry = (0, None);
        }
    }
    if entry.1.is_some() {
        return false;
    }
    if st.running.password_works(user, password) {
        *entry = (0, None);
        return true;
    }
    entry.0 += 1;
    if entry.0 >= LOCKOUT_FAILURES {
        entry.1 = Some(now);
    }
    false
}

fn role(privilege: u8) -> &'static str {
    match privilege {
        15.. => "Admin",
        1..=14 => "ReadOnly",
        0 => "NoAccess",
    }
}

/// The quality policy's verdict on `pw`. Err: the message.
fn quality(pw: &str) -> Result<(), String> {
    let chars: Vec<char> = pw.chars().collect();
    if chars.len() < 7 {
        return Err("Password must be at least 7 characters long.".into());
    }
    if chars.len() >= 40 {
        return Err("Password must be fewer than 40 characters long.".into());
    }
    // A leading capital and a trailing digit do not count toward the classes.
    let counted = |i: usize, c: char| {
        let leading_capital = i == 0 && c.is_ascii_uppercase();
        let trailing_digit = i == chars.len() - 1 && c.is_ascii_digit();
        !(leading_capital || trailing_digit)
    };
    let has = |f: fn(&char) -> bool| chars.iter().enumerate().any(|(i, c)| counted(i, *c) && f(c));
    let classes = [
        has(|c| c.is_ascii_lowercase()),
        has(|c| c.is_ascii_uppercase()),
        has(|c| c.is_ascii_digit()),
        has(|c| !c.is_ascii_alphanumeric()),
    ];
    if classes.iter().filter(|x| **x).count() < 3 {
        return Err("Password must contain characters from at least 3 character classes (a leading capital letter and a trailing digit do not count).".into());
    }
    Ok(())
}

pub(crate) struct EsxiShell {
    user: String,
}

impl EsxiShell {
    pub(crate) fn new(user: &str, _st: &DeviceState) -> Self {
        EsxiShell { user: user.to_string() }
    }

    fn is_admin(&self, ctx: &Ctx) -> bool {
        ctx.state
            .running
            .users
            .get(&self.user)
            .is_some_and(|u| u.privilege >= 15)
    }

    fn run(&mut self, ctx: &mut Ctx, w: &[String]) -> (String, u32) {
        let w: Vec<&str> = w.iter().map(String::as_str).collect();
        match w.as_slice() {
            ["unset", ..] | ["export", ..] | ["true"] => (String::new(), 0),
            ["echo", rest @ ..] => (format!("{}\n", rest.join(" ")), 0),
            ["hostname"] => (format!("{}\n", ctx.state.running.hostname), 0),
            ["vmware", "-v"] => ("VMware ESXi 8.0.2 build-22380479\n".into(), 0),
            ["/sbin/auto-backup.sh"] if self.is_admin(ctx) => {
                ctx.state.saved = ctx.state.running.clone();
                ("Saving current state in /bootbank\nClock updated.\n".into(), 0)
            }
            ["esxcli", "system", "account", "list"] => {
                let mut out = String::from("User ID   Description\n--------  -----------\n");
                for name in ctx.state.running.users.keys() {
                    out.push_str(&format!("{name:<8}  {name}\n"));
                }
                (out, 0)
            }
            ["esxcli", "system", "permission", "list"] => {
                let mut out = String::from("Principal  Is Group  Role      Role Description\n---------  --------  --------  ----------------\n");
                for (name, u) in &ctx.state.running.users {
                    out.push_str(&format!(
                        "{name:<9}  false     {:<8}  {}\n",
                        role(u.privilege),
                        role(u.privilege)
                    ));
                }
                (out, 0)
            }
            ["esxcli", "system", "account", "set", args @ ..] => self.account_set(ctx, args),
            ["esxcli", ..] => ("Error: Unknown command or namespace\n".into(), 1),
            ["exit"] | ["logout"] => (String::new(), 0),
            [first, ..] => (format!("-sh: {first}: not found\n"), 127),
            [] => (String::new(), 0),
        }
    }

    fn account_set(&mut self, ctx: &mut Ctx, args: &[&str]) -> (String, u32) {
        let mut id = None;
        let mut pw = None;
        let mut confirm = None;
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let slot = match *flag {
                "-i" | "--id" => &mut id,
                "-p" | "--password" => &mut pw,
                "-c" | "--password-confirmation" => &mut confirm,
                other => return (format!("Error: Invalid option {other}\n"), 1),
            };
            *slot = it.next().copied();
        }
        let Some(id) = id else {
            return ("Error: Missing required parameter -i|--id\n".into(), 1);
        };
        if !self.is_admin(ctx) && id != self.user {
            return ("Error: Permission denied\n".into(), 1);
        }
        let Some(user) = ctx.state.running.users.get(id).cloned() else {
            return (format!("Error: The user or group named '{id}' does not exist.\n"), 1);
        };
        let (Some(pw), Some(confirm)) = (pw, confirm) else {
            return (
                "Error: Missing required parameter -p|--password or -c|--password-confirmation\n".into(),
                1,
            );
        };
        if pw != confirm {
            return ("Error: Password and confirmation do not match.\n".into(), 1);
        }
        if let Err(why) = quality(pw) {
            return (format!("Error: Unable to set password: {why}\n"), 1);
        }
        let new = User {
            secret: Secret::Hash(config::hash(Scheme::Sha512Crypt, pw)),
            privilege: user.privilege,
        };
        ctx.fx.set_user(&mut ctx.state.running, id, new);
        (String::new(), 0)
    }
}

impl Shell for EsxiShell {
    fn greeting(&mut self, _ctx: &mut Ctx) -> String {
        "The time and date of this login have been sent to the system logs.\n\nWARNING:\n   All commands run on the ESXi shell are logged and may be included in\n   support bundles. Do not provide passwords directly on the command line.\n\n".into()
    }

    fn prompt(&self, ctx: &Ctx) -> String {
        format!("[{}@{}:~] ", self.user, ctx.state.running.hostname)
    }

    fn line(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        let mut close = false;
        let (out, _) = run_list(line, |w| {
            if matches!(w[0].as_str(), "exit" | "logout") {
                close = true;
            }
            self.run(ctx, w)
        });
        if close {
            return Reply::close(out);
        }
        Reply::text(out)
    }

    fn exec(&mut self, ctx: &mut Ctx, command: &str) -> (String, u32) {
        run_list(command, |w| self.run(ctx, w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_quality_policy() {
        assert!(quality("abc-DEF-12").is_ok());
        assert!(
            quality("Abc-def").is_err(),
            "leading capital does not count: lower + symbol only"
        );
        assert!(quality("abcdef-1").is_err(), "trailing digit does not count");
        assert!(quality("aB-1").is_err());
        assert!(quality(&"aB-1".repeat(10)).is_err());
    }
}
