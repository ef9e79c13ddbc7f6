//! Emulated pfSense: `admin`/`root` land in the console menu (`Enter an option: `); `8` opens the
//! tcsh shell (`[2.7.2-RELEASE][admin@host]/root: `), `exit` returns to the menu, and an empty
//! line at the menu logs the session out. `cat /cf/conf/config.xml` shows the `<user>` and
//! `<group>` blocks; `pfSsh.php playback changepassword NAME` asks `New Password:` and
//! `Confirm New Password:` without echo, trims both, refuses a mismatch with `New and Confirm
//! passwords did not match.`, and writes the configuration at once (`write_config()`).
//! Also the XML rendering OPNsense's emulation shares.

use std::collections::BTreeMap;

use super::config::{self, Conf, DeviceState, Scheme, Secret, User};
use super::{words, Ctx, DeviceSpec, Echo, Reply, Shell};

pub(crate) const VERSION: &str = "2.7.2-RELEASE";
const CONFIG: &str = "/cf/conf/config.xml";

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
        // write_config() keeps every change.
        true,
    )
}

pub(crate) fn hash_of(secret: &Secret) -> String {
    match secret {
        Secret::Hash(h) => h.clone(),
        Secret::Plain(p) => config::hash(Scheme::Sha512Crypt, p),
    }
}

/// The `<system>` part of config.xml: the `admins` group (every privilege-15 user by uid, and
/// `page-all`), the `all` group, and each user; `superuser` (uid 0) is in `admins` by
/// `<groupname>`. `hash_tag` is the tag the OS keeps the hash in.
pub(crate) fn config_xml(root: &str, conf: &Conf, superuser: &str, hash_tag: &str) -> String {
    let uid = |i: usize, name: &str| if name == superuser { 0 } else { 2000 + i };
    let mut s = format!(
        "<?xml version=\"1.0\"?>\n<{root}>\n\t<version>23.3</version>\n\t<system>\n\t\t<hostname>{}</hostname>\n\t\t<domain>lab.example</domain>\n",
        conf.hostname
    );
    s.push_str("\t\t<group>\n\t\t\t<name>all</name>\n\t\t\t<description><![CDATA[All Users]]></description>\n\t\t\t<scope>system</scope>\n\t\t\t<gid>1998</gid>\n");
    for (i, name) in conf.users.keys().enumerate() {
        s.push_str(&format!("\t\t\t<member>{}</member>\n", uid(i, name)));
    }
    s.push_str("\t\t</group>\n\t\t<group>\n\t\t\t<name>admins</name>\n\t\t\t<description><![CDATA[System Administrators]]></description>\n\t\t\t<scope>system</scope>\n\t\t\t<gid>1999</gid>\n");
    for (i, (name, u)) in conf.users.iter().enumerate() {
        if u.privilege >= 15 {
            s.push_str(&format!("\t\t\t<member>{}</member>\n", uid(i, name)));
        }
    }
    s.push_str("\t\t\t<priv>page-all</priv>\n\t\t</group>\n");
    for (i, (name, u)) in conf.users.iter().enumerate() {
        s.push_str(&format!(
            "\t\t<user>\n\t\t\t<name>{name}</name>\n\t\t\t<descr><![CDATA[]]></descr>\n\t\t\t<scope>{}</scope>\n",
            if name == superuser { "system" } else { "user" }
        ));
        if name == superuser {
            s.push_str("\t\t\t<groupname>admins</groupname>\n");
        }
        s.push_str(&format!(
            "\t\t\t<uid>{}</uid>\n\t\t\t<{hash_tag}>{}</{hash_tag}>\n\t\t\t<expires></expires>\n\t\t</user>\n",
            uid(i, name),
            hash_of(&u.secret)
        ));
    }
    s.push_str(&format!(
        "\t\t<nextuid>{}</nextuid>\n\t</system>\n</{root}>\n",
        2000 + conf.users.len()
    ));
    s
}

const MENU: &str = " 0) Logout (SSH only)                  9) pfTop\n 1) Assign Interfaces                 10) Filter Logs\n 2) Set interface(s) IP address       11) Restart webConfigurator\n 3) Reset webConfigurator password    12) PHP shell + pfSense tools\n 4) Reset to factory defaults         13) Update from console\n 5) Reboot system                     14) Disable Secure Shell (sshd)\n 6) Halt system                       15) Restore recent configuration\n 7) Ping host                         16) Restart PHP-FPM\n 8) Shell\n";

#[derive(Debug)]
enum Mode {
    Menu,
    Shell,
    NewPassword { user: String },
    ConfirmPassword { user: String, first: String },
}

pub(crate) struct PfSenseShell {
    user: String,
    admin: bool,
    mode: Mode,
}

impl PfSenseShell {
    pub(crate) fn new(user: &str, st: &DeviceState) -> Self {
        let admin = st.running.users.get(user).is_some_and(|u| u.privilege >= 15);
        PfSenseShell {
            user: user.to_string(),
            admin,
            mode: if admin { Mode::Menu } else { Mode::Shell },
        }
    }

    fn menu(&self, ctx: &Ctx) -> String {
        format!(
            "pfSense - Netgate Device ID: 0123456789abcdef0123\n\n*** Welcome to pfSense {VERSION} (amd64) on {} ***\n\n WAN (wan)       -> vtnet0     -> v4/DHCP4: 192.0.2.10/24\n LAN (lan)       -> vtnet1     -> v4: 192.168.1.1/24\n\n{MENU}\n",
            ctx.state.running.hostname
        )
    }

    fn shell_line(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        let w = words(line);
        let w: Vec<&str> = w.iter().map(String::as_str).collect();
        match w.as_slice() {
            [] => Reply::none(),
            ["exit"] | ["logout"] if self.admin => {
                self.mode = Mode::Menu;
                Reply::text(format!("exit\n{}", self.menu(ctx)))
            }
            ["exit"] | ["logout"] => Reply::close("logout\n"),
            ["cat", CONFIG] => Reply::text(config_xml("pfsense", &ctx.state.saved, "admin", "sha512-hash")),
            ["cat", path] => Reply::text(format!("cat: {path}: No such file or directory\n")),
            ["pfSsh.php", "playback", "changepassword", name] => {
                if !self.admin {
                    return Reply::text("pfSsh.php: Permission denied.\n");
                }
                if !ctx.state.running.users.contains_key(*name) {
                    return Reply::text(format!("Could not find user `{name}'.\n"));
                }
                self.mode = Mode::NewPassword { user: name.to_string() };
                Reply::none()
            }
            ["pfSsh.php", ..] => Reply::text("Usage: pfSsh.php playback SCRIPT [ARGS]\n"),
            ["uname", ..] => Reply::text("FreeBSD\n"),
            [cmd, ..] => Reply::text(format!("{cmd}: Command not found.\n")),
        }
    }
}

impl Shell for PfSenseShell {
    fn greeting(&mut self, ctx: &mut Ctx) -> String {
        if self.admin {
            self.menu(ctx)
        } else {
            String::new()
        }
    }

    fn prompt(&self, ctx: &Ctx) -> String {
        match &self.mode {
            Mode::Menu => "Enter an option: ".into(),
            Mode::NewPassword { .. } => "New Password: ".into(),
            Mode::ConfirmPassword { .. } => "Confirm New Password: ".into(),
            Mode::Shell => format!(
                "[{VERSION}][{}@{}.lab.example]/root: ",
                self.user, ctx.state.running.hostname
            ),
        }
    }

    fn line(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        match std::mem::replace(&mut self.mode, Mode::Shell) {
            Mode::Menu => match line.trim() {
                // rc.initial: an empty answer ends the SSH session.
                "" => Reply::close(""),
                "0" => Reply::close("\nGoodbye\n"),
                "8" => Reply::text("\n"),
                _ => {
                    self.mode = Mode::Menu;
                    Reply::text(format!("\n{}", self.menu(ctx)))
                }
            },
            Mode::Shell => self.shell_line(ctx, line),
            Mode::NewPassword { user } => {
                self.mode = Mode::ConfirmPassword {
                    user,
                    first: line.trim().to_string(),
                };
                Reply::none()
            }
            Mode::ConfirmPassword { user, first } => {
                if first != line.trim() || first.is_empty() {
                    return Reply::text("\nNew and Confirm passwords did not match.\n");
                }
                let mut conf = ctx.state.running.clone();
                let privilege = conf.users.get(&user).map(|u| u.privilege).unwrap_or(1);
                let new = User {
                    secret: Secret::Hash(config::hash(Scheme::Sha512Crypt, &first)),
                    privilege,
                };
                if ctx.fx.set_user(&mut conf, &user, new) {
                    ctx.state.history.insert(0, ctx.state.running.clone());
                    ctx.state.running = conf.clone();
                    ctx.state.saved = conf;
                }
                Reply::text("\n")
            }
        }
    }

    fn echo(&self) -> Echo {
        match self.mode {
            Mode::NewPassword { .. } | Mode::ConfirmPassword { .. } => Echo::Off,
            _ => Echo::On,
        }
    }
}
