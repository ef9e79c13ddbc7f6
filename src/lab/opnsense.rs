//! Emulated OPNsense: `root` lands in the `opnsense-shell` menu (`Enter an option: `), `8` opens
//! the shell (`root@host:~ # `); other users get the shell at once. `cat /conf/config.xml` shows
//! the `<user>` blocks; `/usr/local/opnsense/scripts/shell/password.php` (root only) asks
//! `Do you want to proceed? [y/N]:`, `Type a new password:` and `Confirm new password:` without
//! echo, strips trailing blanks and refuses an empty password. The menu's answer to an empty line
//! and the script's exact error wording are not documented: the menu is shown again, and the
//! errors are plain sentences keyreeve never depends on.

use super::config::{Conf, DeviceState, Scheme, Secret, User};
use super::{config, pfsense, words, Ctx, DeviceSpec, Echo, Reply, Shell};

const CONFIG: &str = "/conf/config.xml";
const SCRIPT: &str = "/usr/local/opnsense/scripts/shell/password.php";

pub(crate) fn initial_conf(spec: &DeviceSpec) -> (Conf, bool) {
    pfsense::initial_conf(spec)
}

const MENU: &str = "  0) Logout                              7) Ping host\n  1) Assign interfaces                   8) Shell\n  2) Set interface IP address            9) pfTop\n  3) Reset the root password            10) Firewall log\n  4) Reset to factory defaults          11) Reload all services\n  5) Power off system                   12) Update from console\n  6) Reboot system                      13) Restore a backup\n";

#[derive(Debug)]
enum Mode {
    Menu,
    Shell,
    Proceed,
    NewPassword,
    ConfirmPassword { first: String },
}

pub(crate) struct OpnSenseShell {
    user: String,
    mode: Mode,
}

impl OpnSenseShell {
    pub(crate) fn new(user: &str, _st: &DeviceState) -> Self {
        OpnSenseShell {
            user: user.to_string(),
            mode: if user == "root" { Mode::Menu } else { Mode::Shell },
        }
    }

    fn menu(ctx: &Ctx) -> String {
        format!(
            "----------------------------------------------\n|      Hello, this is OPNsense 24.7          |         @@@@@@@@@@@@@@@\n|                                            |        @@@@         @@@@\n|  Website:      https://opnsense.org/       |         @@@\\\\\\   ///@@@\n----------------------------------------------\n\n*** {}.lab.example: OPNsense 24.7.9 (amd64) ***\n\n LAN (vtnet1)    -> v4: 192.168.1.1/24\n WAN (vtnet0)    -> v4/DHCP4: 192.0.2.11/24\n\n{MENU}\n",
            ctx.state.running.hostname
        )
    }

    fn shell_line(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        let w = words(line);
        let w: Vec<&str> = w.iter().map(String::as_str).collect();
        match w.as_slice() {
            [] => Reply::none(),
            ["exit"] | ["logout"] if self.user == "root" => {
                self.mode = Mode::Menu;
                Reply::text(format!("exit\n{}", Self::menu(ctx)))
            }
            ["exit"] | ["logout"] => Reply::close("logout\n"),
            ["cat", CONFIG] if self.user == "root" => {
                Reply::text(pfsense::config_xml("opnsense", &ctx.state.saved, "root", "password"))
            }
            ["cat", CONFIG] => Reply::text(format!("cat: {CONFIG}: Permission denied\n")),
            ["cat", path] => Reply::text(format!("cat: {path}: No such file or directory\n")),
            [SCRIPT, ..] if self.user != "root" => Reply::text(format!("{SCRIPT}: Permission denied.\n")),
            [SCRIPT] => {
                self.mode = Mode::Proceed;
                Reply::text("The root user login behaviour will be restored to its defaults.\n\n")
            }
            [cmd, ..] => Reply::text(format!("{cmd}: Command not found.\n")),
        }
    }
}

impl Shell for OpnSenseShell {
    fn greeting(&mut self, ctx: &mut Ctx) -> String {
        if self.user == "root" {
            Self::menu(ctx)
        } else {
            String::new()
        }
    }

    fn prompt(&self, ctx: &Ctx) -> String {
        match &self.mode {
            Mode::Menu => "Enter an option: ".into(),
            Mode::Proceed => "Do you want to proceed? [y/N]: ".into(),
            Mode::NewPassword => "Type a new password: ".into(),
            Mode::ConfirmPassword { .. } => "Confirm new password: ".into(),
            Mode::Shell => {
                let sign = if self.user == "root" { '#' } else { '%' };
                format!("{}@{}:~ {sign} ", self.user, ctx.state.running.hostname)
            }
        }
    }

    fn line(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        match std::mem::replace(&mut self.mode, Mode::Shell) {
            Mode::Menu => match line.trim() {
                "0" => Reply::close("\n"),
                "8" => Reply::text("\n"),
                _ => {
                    self.mode = Mode::Menu;
                    Reply::text(format!("\n{}", Self::menu(ctx)))
                }
            },
            Mode::Shell => self.shell_line(ctx, line),
            Mode::Proceed => {
                if line.trim().eq_ignore_ascii_case("y") {
                    self.mode = Mode::NewPassword;
                    Reply::text("\n")
                } else {
                    Reply::none()
                }
            }
            Mode::NewPassword => {
                let first = line.trim_end().to_string();
                if first.is_empty() {
                    return Reply::text("\nEmpty password given.\n");
                }
                self.mode = Mode::ConfirmPassword { first };
                Reply::text("\n")
            }
            Mode::ConfirmPassword { first } => {
                if first != line.trim_end() {
                    return Reply::text("\nThe passwords do not match.\n");
                }
                let mut conf = ctx.state.running.clone();
                let privilege = conf.users.get("root").map(|u| u.privilege).unwrap_or(15);
                let new = User {
                    secret: Secret::Hash(config::hash(Scheme::Sha512Crypt, &first)),
                    privilege,
                };
                if ctx.fx.set_user(&mut conf, "root", new) {
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
            Mode::NewPassword | Mode::ConfirmPassword { .. } => Echo::Off,
            _ => Echo::On,
        }
    }
}
