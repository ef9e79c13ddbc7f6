//! Emulated SonicWall SonicOS: the SSH layer takes any password; the OS then prints `Using
//! username 'NAME'.` and asks `Password:` itself (no echo), answering a wrong one with `Access
//! denied` and the question again, and ending the session after three. Then `admin@HOST> `;
//! `no cli pager session` turns paging (`--MORE--`) off; `show current-config` shows the
//! `administration` block (`admin name`) and `user local` with each user's `member-of` group;
//! `configure` gives `config(HOST)# `, `administration` `(config-administration)# ` where `admin
//! password old-password OLD new-password NEW confirm-password NEW` changes the built-in
//! administrator's password, and `user local` / `user NAME` / `password PW` a local user's.
//! `commit` puts the changes in force (`% Changes made.`); leaving configuration mode drops what
//! was not committed. Passwords longer than 32 characters are refused, and so are a few known
//! compromised ones, with SonicOS 7's words. The wording of other errors is not documented.

use std::collections::BTreeMap;

use super::config::{self, Conf, DeviceState, Scheme, Secret, User};
use super::{words, Ctx, DeviceSpec, Echo, Reply, Shell};

/// Passwords the emulated credential auditor knows as compromised.
pub(crate) const COMPROMISED: &[&str] = &["Password123", "P@ssw0rd123", "Welcome2024!"];

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
    let conf = Conf {
        hostname: spec.name.clone(),
        users,
        enable: None,
    };
    (conf, true)
}

/// The built-in administrator: `admin` if the device has it, else the first account.
fn builtin(conf: &Conf) -> String {
    if conf.users.contains_key("admin") {
        "admin".into()
    } else {
        conf.users.keys().next().cloned().unwrap_or_default()
    }
}

fn group(privilege: u8) -> &'static str {
    if privilege >= 15 {
        "Administrators"
    } else {
        "SonicWALL Read-Only Admins"
    }
}

fn current_config(conf: &Conf) -> String {
    let admin = builtin(conf);
    let mut s = format!(
        "administration\n    firewall-name {}\n    admin name {admin}\n    idle-logout-time 5\n    exit\n",
        conf.hostname
    );
    s.push_str("user local\n");
    for (name, u) in conf.users.iter().filter(|(n, _)| **n != admin) {
        s.push_str(&format!(
            "    user {name}\n        password 1,AAAAAAAAAABBBBBBBBBBCCCCCCCCCC\n        member-of \"{}\"\n        exit\n",
            group(u.privilege)
        ));
    }
    s.push_str("    exit\nzone LAN\n    interface-trust\n    exit\nzone WAN\n    exit\n");
    s
}

#[derive(Debug, Clone, PartialEq)]
enum Mode {
    Password { tries: u8 },
    Operational,
    Config,
    Administration,
    UserLocal,
    LocalUser(String),
}

pub(crate) struct SonicShell {
    user: String,
    mode: Mode,
    pager: bool,
    candidate: Option<Conf>,
}

fn too_long_or_compromised(pw: &str) -> Option<Reply> {
    if pw.chars().count() > 32 {
        return Some(Reply::text("% Error: password must be at most 32 characters.\n"));
    }
    COMPROMISED.contains(&pw).then(|| {
        Reply::text("% The password is one that is known to have possibly been compromised, please choose another\n")
    })
}

impl SonicShell {
    pub(crate) fn new(user: &str, _st: &DeviceState) -> Self {
        SonicShell {
            user: user.to_string(),
            mode: Mode::Password { tries: 0 },
            pager: true,
            candidate: None,
        }
    }

    fn set(&mut self, ctx: &mut Ctx, name: &str, pw: &str) {
        if let Some(candidate) = self.candidate.as_mut() {
            let privilege = candidate.users.get(name).map(|u| u.privilege).unwrap_or(1);
            let user = User {
                secret: Secret::Hash(config::hash(Scheme::Sha512Crypt, pw)),
                privilege,
            };
            ctx.fx.set_user(candidate, name, user);
        }
    }

    fn config_line(&mut self, ctx: &mut Ctx, w: &[&str]) -> Reply {
        let mode = self.mode.clone();
        match (mode, w) {
            (_, []) => Reply::none(),
            (_, ["commit"]) => {
                if let Some(candidate) = &self.candidate {
                    if *candidate != ctx.state.running {
                        ctx.state.history.insert(0, ctx.state.running.clone());
                        ctx.state.running = candidate.clone();
                        ctx.state.saved = candidate.clone();
                    }
                }
                Reply::text("% Applying changes...\n% Changes made.\n")
            }
            (Mode::Config, ["exit"] | ["end"]) => {
                self.candidate = None;
                self.mode = Mode::Operational;
                Reply::none()
            }
            (Mode::Config, ["administration"]) => {
                self.mode = Mode::Administration;
                Reply::none()
            }
            (Mode::Config, ["user", "local"]) => {
                self.mode = Mode::UserLocal;
                Reply::none()
            }
            (
                Mode::Administration,
                ["admin", "password", "old-password", old, "new-password", new, "confirm-password", confirm],
            ) => {
                let admin = builtin(&ctx.state.running);
                let current = self.candidate.as_ref().and_then(|c| c.users.get(&admin).cloned());
                if !current.is_some_and(|u| u.secret.verify(old)) {
                    return Reply::text("% Error: old password is incorrect.\n");
                }
                if new != confirm {
                    return Reply::text("% Error: new password and confirm password do not match.\n");
                }
                if let Some(refused) = too_long_or_compromised(new) {
                    return refused;
                }
                self.set(ctx, &admin, new);
                Reply::none()
            }
            (Mode::UserLocal, ["user", name]) => {
                self.mode = Mode::LocalUser(name.to_string());
                Reply::none()
            }
            (Mode::LocalUser(name), ["password", pw]) => {
                if let Some(refused) = too_long_or_compromised(pw) {
                    return refused;
                }
                self.set(ctx, &name, pw);
                Reply::none()
            }
            (Mode::LocalUser(_), ["exit"]) => {
                self.mode = Mode::UserLocal;
                Reply::none()
            }
            (Mode::UserLocal | Mode::Administration, ["exit"]) => {
                self.mode = Mode::Config;
                Reply::none()
            }
            _ => Reply::text("% Invalid command.\n"),
        }
    }
}

impl Shell for SonicShell {
    fn greeting(&mut self, _ctx: &mut Ctx) -> String {
        format!("Using username '{}'.\n", self.user)
    }

    fn prompt(&self, ctx: &Ctx) -> String {
        let host = &ctx.state.running.hostname;
        match &self.mode {
            Mode::Password { .. } => "Password:".into(),
            Mode::Operational => format!("{}@{host}> ", self.user),
            Mode::Config => format!("config({host})# "),
            Mode::Administration => "(config-administration)# ".into(),
            Mode::UserLocal => "(config-user-local)# ".into(),
            Mode::LocalUser(name) => format!("(config-local-user[{name}])# "),
        }
    }

    fn line(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        if let Mode::Password { tries } = self.mode {
            if ctx.state.running.password_works(ctx.user, line) {
                self.mode = Mode::Operational;
                return Reply::text("\n");
            }
            if tries >= 2 {
                return Reply::close("\nAccess denied\n");
            }
            self.mode = Mode::Password { tries: tries + 1 };
            return Reply::text("\nAccess denied\n");
        }
        let owned = words(line);
        let w: Vec<&str> = owned.iter().map(String::as_str).collect();
        if self.mode != Mode::Operational {
            return self.config_line(ctx, &w);
        }
        match w.as_slice() {
            [] => Reply::none(),
            ["no", "cli", "pager", "session"] => {
                self.pager = false;
                Reply::none()
            }
            ["show", "current-config"] => {
                let page = (self.pager && ctx.rows > 0).then_some(ctx.rows);
                Reply::paged(current_config(&ctx.state.running), page)
            }
            ["configure"] | ["configure", "terminal"] => {
                if ctx.state.running.users.get(ctx.user).is_some_and(|u| u.privilege < 15) {
                    return Reply::text("% Error: insufficient privileges.\n");
                }
                self.candidate = Some(ctx.state.running.clone());
                self.mode = Mode::Config;
                Reply::none()
            }
            ["exit"] | ["logout"] => Reply::close("\n"),
            _ => Reply::text("% Invalid command.\n"),
        }
    }

    fn echo(&self) -> Echo {
        match self.mode {
            Mode::Password { .. } => Echo::Off,
            _ => Echo::On,
        }
    }

    fn pager_prompt(&self) -> &'static str {
        "--MORE--"
    }
}
