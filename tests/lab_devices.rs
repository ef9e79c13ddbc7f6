//! The device lab driven the way keyreeve drives real devices: an `ssh2` client logging in with a
//! password, a pty shell read until a prompt, exec channels. Each test starts its own small lab.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::Engine;
use keyreeve::inventory::TargetKind;
use keyreeve::lab::{DeviceOptions, DeviceSpec, Fault, Lab, LabAccount, LabConfig, LabDeviceInfo};
use keyreeve::Password;
use regex::Regex;

const ADMIN_PW: &str = "Adm1n-Secret.42";
const OPS_PW: &str = "Net0ps+Secret";
const MON_PW: &str = "M0nitor_only";
const ENABLE_PW: &str = "En4ble%Secret";

fn pw(s: &str) -> Password {
    Password::new(s)
}

fn spec(name: &str, kind: TargetKind) -> DeviceSpec {
    DeviceSpec {
        name: name.to_string(),
        kind,
        accounts: vec![
            LabAccount::new("admin", pw(ADMIN_PW), 15),
            LabAccount::new("netops", pw(OPS_PW), 15),
            LabAccount::new("monitor", pw(MON_PW), 1),
        ],
        enable_secret: Some(pw(ENABLE_PW)),
        port: 0,
    }
}

fn lab_of(kind: TargetKind) -> (Lab, LabDeviceInfo) {
    lab_scaled(kind, 1.0)
}

fn lab_scaled(kind: TargetKind, time_scale: f64) -> (Lab, LabDeviceInfo) {
    let lab = Lab::start(LabConfig {
        devices: vec![spec("r1", kind)],
        time_scale,
        auth_rejection_time: Duration::from_millis(50),
        ..LabConfig::default()
    })
    .expect("lab starts");
    let info = lab.devices().remove(0);
    (lab, info)
}

fn lab_with(kind: TargetKind, options: DeviceOptions) -> (Lab, LabDeviceInfo) {
    let lab = Lab::start(LabConfig {
        devices: vec![spec("r1", kind)],
        options: [("r1".to_string(), options)].into(),
        auth_rejection_time: Duration::from_millis(50),
        ..LabConfig::default()
    })
    .expect("lab starts");
    let info = lab.devices().remove(0);
    (lab, info)
}

fn connect(info: &LabDeviceInfo, user: &str, password: &str) -> Result<ssh2::Session, String> {
    let tcp = TcpStream::connect((info.address.as_str(), info.port)).map_err(|e| format!("connect: {e}"))?;
    let mut sess = ssh2::Session::new().map_err(|e| e.to_string())?;
    sess.set_tcp_stream(tcp);
    sess.set_timeout(10_000);
    sess.handshake().map_err(|e| format!("handshake: {e}"))?;
    let hash = sess.host_key_hash(ssh2::HashType::Sha256).ok_or("no host key hash")?;
    let fp = format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(hash)
    );
    assert_eq!(
        fp, info.host_key_fingerprint,
        "host key fingerprint as reported by the lab"
    );
    // ESXi offers keyboard-interactive only: its one `Password: ` question takes the password.
    let methods = sess.auth_methods(user).unwrap_or_default().to_string();
    if !methods.split(',').any(|m| m == "password") && methods.contains("keyboard-interactive") {
        struct Answer<'a>(&'a str);
        impl ssh2::KeyboardInteractivePrompt for Answer<'_> {
            fn prompt<'b>(&mut self, _: &str, _: &str, prompts: &[ssh2::Prompt<'b>]) -> Vec<String> {
                prompts.iter().map(|_| self.0.to_string()).collect()
            }
        }
        sess.userauth_keyboard_interactive(user, &mut Answer(password))
            .map_err(|e| format!("auth: {e}"))?;
        return Ok(sess);
    }
    sess.userauth_password(user, password)
        .map_err(|e| format!("auth: {e}"))?;
    Ok(sess)
}

/// An interactive pty shell.
struct Term {
    _sess: ssh2::Session,
    ch: ssh2::Channel,
    buf: String,
}

impl Term {
    fn open(info: &LabDeviceInfo, user: &str, password: &str, prompt: &str) -> Term {
        Term::open_with_greeting(info, user, password, prompt).0
    }

    /// A shell and what the device printed up to its first prompt.
    fn open_with_greeting(info: &LabDeviceInfo, user: &str, password: &str, prompt: &str) -> (Term, String) {
        let sess = connect(info, user, password).expect("login");
        let mut ch = sess.channel_session().expect("channel");
        ch.request_pty("vt100", None, Some((80, 24, 0, 0))).expect("pty");
        ch.shell().expect("shell");
        sess.set_blocking(false);
        let mut t = Term {
            _sess: sess,
            ch,
            buf: String::new(),
        };
        let greeting = t.expect(prompt);
        (t, greeting)
    }

    fn write(&mut self, s: &str) {
        let mut data = s.as_bytes();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !data.is_empty() {
            match self.ch.write(data) {
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                Err(e) => panic!("write: {e}"),
            }
        }
    }

    /// Reads until `pattern` matches the end of what arrived; returns everything up to the match end.
    fn try_expect(&mut self, pattern: &str, timeout: Duration) -> Result<String, String> {
        let re = Regex::new(pattern).expect("regex");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = re.find(&self.buf) {
                let out = self.buf[..m.end()].to_string();
                self.buf = self.buf[m.end()..].to_string();
                return Ok(out);
            }
            let mut chunk = [0u8; 4096];
            match self.ch.read(&mut chunk) {
                Ok(0) if self.ch.eof() => return Err(format!("closed; seen: {:?}", self.buf)),
                Ok(n) => self.buf.push_str(&String::from_utf8_lossy(&chunk[..n])),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(format!("read: {e}; seen: {:?}", self.buf)),
            }
            if Instant::now() > deadline {
                return Err(format!("timeout waiting for {pattern:?}; seen: {:?}", self.buf));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn expect(&mut self, pattern: &str) -> String {
        self.try_expect(pattern, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Sends a line and reads until `pattern`.
    fn cmd(&mut self, line: &str, pattern: &str) -> String {
        self.write(&format!("{line}\r"));
        self.expect(pattern)
    }

    fn closed(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let mut chunk = [0u8; 1024];
            match self.ch.read(&mut chunk) {
                Ok(0) => return true,
                Ok(n) => self.buf.push_str(&String::from_utf8_lossy(&chunk[..n])),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return true,
            }
            if self.ch.eof() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }
}

fn exec(info: &LabDeviceInfo, user: &str, password: &str, command: &str) -> String {
    let sess = connect(info, user, password).expect("login");
    let mut ch = sess.channel_session().expect("channel");
    ch.exec(command).expect("exec");
    let mut out = String::new();
    ch.read_to_string(&mut out).expect("read exec output");
    ch.wait_close().expect("close");
    out
}

fn login_works(info: &LabDeviceInfo, user: &str, password: &str) -> bool {
    connect(info, user, password).is_ok()
}

// ---------------------------------------------------------------------------------------------
// Cisco IOS

const IOS_EXEC: &str = r"r1#$";
const IOS_CONF: &str = r"r1\(config\)#$";

#[test]
fn ios_login_prompts_and_wrong_password() {
    let (lab, r1) = lab_of(TargetKind::CiscoIos);
    assert!(!login_works(&r1, "admin", "wrong-password"));
    assert!(!login_works(&r1, "nobody", ADMIN_PW));
    let mut t = Term::open(&r1, "admin", ADMIN_PW, IOS_EXEC);
    let out = t.cmd("show privilege", IOS_EXEC);
    assert!(out.contains("Current privilege level is 15"), "{out}");
    t.cmd("configure terminal", IOS_CONF);
    t.cmd("end", IOS_EXEC);
    let out = t.cmd("shw run", IOS_EXEC);
    assert!(out.contains("% Invalid input detected at '^' marker."), "{out}");
    // The caret sits under the bad word: prompt "r1#" is 3 characters.
    assert!(out.contains("\r\n   ^\r\n"), "{out:?}");

    let out = exec(&r1, "admin", ADMIN_PW, "show privilege");
    assert_eq!(out, "Current privilege level is 15\n");

    // A privilege-1 user lands in user EXEC and needs the enable secret.
    let mut m = Term::open(&r1, "monitor", MON_PW, r"r1>$");
    m.cmd("enable", r"Password: $");
    m.cmd("not-the-secret", r"Password: $");
    m.cmd(ENABLE_PW, IOS_EXEC);
    drop(lab);
}

#[test]
fn ios_paging_until_terminal_length_0() {
    let (_lab, r1) = lab_of(TargetKind::CiscoIos);
    let mut t = Term::open(&r1, "admin", ADMIN_PW, IOS_EXEC);
    let first = t.cmd("show running-config", r" --More-- $");
    assert!(first.contains("Building configuration..."), "{first}");
    assert_eq!(first.matches("\r\n").count(), 24, "one screen of 23 lines: {first}");
    t.write(" ");
    let mut rest = String::new();
    loop {
        let chunk = t.expect(r"( --More-- |r1#)$");
        rest.push_str(&chunk);
        if chunk.ends_with("r1#") {
            break;
        }
        t.write(" ");
    }
    assert!(rest.contains("\nend\r\n"), "{rest}");
    t.cmd("terminal length 0", IOS_EXEC);
    let all = t.cmd("show running-config", IOS_EXEC);
    assert!(
        !all.contains("--More--") && all.contains("username admin privilege 15 secret 9 $9$"),
        "{all}"
    );
    let users = t.cmd("show running-config | section username", IOS_EXEC);
    assert_eq!(users.matches("username ").count(), 3, "{users}");
    assert!(users.contains("username monitor secret 9 $9$"), "{users}");
}

#[test]
fn ios_question_mark_shows_help_at_once() {
    let (_lab, r1) = lab_of(TargetKind::CiscoIos);
    let mut t = Term::open(&r1, "admin", ADMIN_PW, IOS_EXEC);
    t.write("show ?");
    let help = t.expect(r"r1#show $");
    assert!(
        help.contains("running-config") && help.contains("Current operating configuration"),
        "{help}"
    );
    t.write("\x15\r");
    t.expect(IOS_EXEC);
    // Ctrl-V makes `?` literal: the password below contains one.
    t.cmd("configure terminal", IOS_CONF);
    t.write("username netops secret Q\x16?mark-9\r");
    t.expect(IOS_CONF);
    t.cmd("end", IOS_EXEC);
    assert!(login_works(&r1, "netops", "Q?mark-9"));
}

#[test]
fn ios_password_change_is_live_and_lost_on_reload_unless_saved() {
    let (lab, r1) = lab_of(TargetKind::CiscoIos);
    let mut t = Term::open(&r1, "admin", ADMIN_PW, IOS_EXEC);
    t.cmd("terminal length 0", IOS_EXEC);
    let before = t.cmd("show running-config | include username netops", IOS_EXEC);
    let old_hash = Regex::new(r"secret 9 (\S+)").unwrap().captures(&before).unwrap()[1].to_string();
    t.cmd("configure terminal", IOS_CONF);
    let long = t.cmd(
        "username netops privilege 15 secret 12345678901234567890123456",
        IOS_CONF,
    );
    assert!(long.contains("Invalid Password length"), "{long}");
    t.cmd("username netops privilege 15 secret N3w-Pass.word", IOS_CONF);
    t.cmd("end", IOS_EXEC);
    assert!(login_works(&r1, "netops", "N3w-Pass.word"));
    assert!(!login_works(&r1, "netops", OPS_PW));
    assert!(lab.running_password_works("r1", "netops", &pw("N3w-Pass.word")));
    assert!(lab.saved_password_works("r1", "netops", &pw(OPS_PW)));

    // Re-applying the old hash restores the old password.
    t.cmd("configure terminal", IOS_CONF);
    t.cmd(&format!("username netops privilege 15 secret 9 {old_hash}"), IOS_CONF);
    let bad = t.cmd("username netops secret 9 $9$broken", IOS_CONF);
    assert!(bad.contains("not a valid type 9 secret"), "{bad}");
    t.cmd("end", IOS_EXEC);
    assert!(login_works(&r1, "netops", OPS_PW));

    // Unsaved: lost on reload.
    t.cmd("configure terminal", IOS_CONF);
    t.cmd("username netops secret Unsaved-1", IOS_CONF);
    t.cmd("end", IOS_EXEC);
    lab.reload("r1").unwrap();
    assert!(t.closed(Duration::from_secs(3)), "a reload ends the open sessions");
    assert!(login_works(&r1, "netops", OPS_PW));
    assert!(!login_works(&r1, "netops", "Unsaved-1"));

    // Saved: kept.
    let mut t = Term::open(&r1, "admin", ADMIN_PW, IOS_EXEC);
    t.cmd("configure terminal", IOS_CONF);
    t.cmd("username netops secret Saved-Pass-2", IOS_CONF);
    t.cmd("end", IOS_EXEC);
    let out = t.cmd("write memory", IOS_EXEC);
    assert!(out.contains("[OK]"), "{out}");
    lab.reload("r1").unwrap();
    assert!(login_works(&r1, "netops", "Saved-Pass-2"));
    assert!(lab.saved_password_works("r1", "netops", &pw("Saved-Pass-2")));

    // The enable secret, and copy run start with its question.
    let mut t = Term::open(&r1, "admin", ADMIN_PW, IOS_EXEC);
    t.cmd("configure terminal", IOS_CONF);
    t.cmd("enable secret Fresh-Enable7", IOS_CONF);
    t.cmd("end", IOS_EXEC);
    assert!(lab.enable_secret_works("r1", &pw("Fresh-Enable7"), false));
    assert!(!lab.enable_secret_works("r1", &pw("Fresh-Enable7"), true));
    t.cmd(
        "copy running-config startup-config",
        r"Destination filename \[startup-config\]\? $",
    );
    let out = t.cmd("", IOS_EXEC);
    assert!(out.contains("[OK]"), "{out}");
    assert!(lab.enable_secret_works("r1", &pw("Fresh-Enable7"), true));
}

// ---------------------------------------------------------------------------------------------
// Faults (on IOS; the core handles them the same way for every OS)

#[test]
fn fault_ignore_password_change() {
    let (lab, r1) = lab_of(TargetKind::CiscoIos);
    lab.set_fault("r1", Fault::IgnorePasswordChange).unwrap();
    let mut t = Term::open(&r1, "admin", ADMIN_PW, IOS_EXEC);
    t.cmd("configure terminal", IOS_CONF);
    t.cmd("username netops secret Ignored-Pw1", IOS_CONF);
    t.cmd("end", IOS_EXEC);
    assert!(!login_works(&r1, "netops", "Ignored-Pw1"));
    assert!(login_works(&r1, "netops", OPS_PW));
}

#[test]
fn fault_drop_after_change() {
    let (lab, r1) = lab_of(TargetKind::CiscoIos);
    lab.set_fault("r1", Fault::DropAfterChange).unwrap();
    let mut t = Term::open(&r1, "admin", ADMIN_PW, IOS_EXEC);
    t.cmd("configure terminal", IOS_CONF);
    t.write("username netops secret Dropped-Pw1\r");
    assert!(t.closed(Duration::from_secs(3)), "session closed after the change");
    assert!(login_works(&r1, "netops", "Dropped-Pw1"), "the change was made");
}

#[test]
fn fault_hang_nonsense_refuse() {
    let (lab, r1) = lab_of(TargetKind::CiscoIos);
    let mut t = Term::open(&r1, "admin", ADMIN_PW, IOS_EXEC);
    lab.set_fault("r1", Fault::Hang).unwrap();
    t.write("show privilege\r");
    assert!(t.try_expect(IOS_EXEC, Duration::from_millis(500)).is_err());

    lab.set_fault("r1", Fault::Nonsense).unwrap();
    let sess = connect(&r1, "admin", ADMIN_PW).expect("login still works");
    drop(sess);
    let ch_sess = connect(&r1, "admin", ADMIN_PW).unwrap();
    ch_sess.set_blocking(true);
    let mut ch = ch_sess.channel_session().unwrap();
    ch.request_pty("vt100", None, None).unwrap();
    ch.shell().unwrap();
    ch_sess.set_blocking(false);
    let mut t2 = Term {
        _sess: ch_sess,
        ch,
        buf: String::new(),
    };
    let greeting = t2.expect(r"mfg-diag::: $");
    assert!(!greeting.contains("r1#"), "{greeting}");

    lab.set_fault("r1", Fault::RefuseConnections).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let err = TcpStream::connect((r1.address.as_str(), r1.port)).expect_err("refused");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    lab.set_fault("r1", Fault::None).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(login_works(&r1, "admin", ADMIN_PW));
}

#[test]
fn generated_lab_and_inventory() {
    let mut cfg = LabConfig::generated(16, &[]);
    cfg.auth_rejection_time = Duration::from_millis(10);
    let lab = Lab::start(cfg.clone()).unwrap();
    let devices = lab.devices();
    assert_eq!(devices.len(), 16);
    let toml = lab.inventory_toml("acme");
    assert_eq!(toml.matches("[[clients.acme.targets]]").count(), 16);
    for (d, spec) in devices.iter().zip(&cfg.devices) {
        assert!(toml.contains(&format!("port = {}\n", d.port)));
        assert!(d.host_key_fingerprint.starts_with("SHA256:") && !d.host_key_fingerprint.ends_with('='));
        let admin = &spec.accounts[0];
        assert!(login_works(d, &admin.name, admin.password.expose()), "{} login", d.name);
    }
    lab.stop();
}

// ---------------------------------------------------------------------------------------------
// Juniper Junos

const JUNOS_OP: &str = r"admin@r1> $";
const JUNOS_CONF: &str = r"\[edit\]\r\nadmin@r1# $";

fn junos_set_password(t: &mut Term, user: &str, new: &str) {
    t.cmd(
        &format!("set system login user {user} authentication plain-text-password"),
        r"New password:$",
    );
    t.cmd(new, r"Retype new password:$");
    let out = t.cmd(new, JUNOS_CONF);
    assert!(!out.contains(new), "a no-echo prompt never shows the password: {out:?}");
}

#[test]
fn junos_modes_paging_help_and_exec() {
    let (_lab, r1) = lab_of(TargetKind::Junos);
    assert!(!login_works(&r1, "admin", "wrong-password"));
    let mut t = Term::open(&r1, "admin", ADMIN_PW, JUNOS_OP);
    let first = t.cmd("show configuration", r"---\(more\)---$");
    assert!(first.contains("version 22.4R3-S2.11;"), "{first}");
    t.write("q");
    t.expect(JUNOS_OP);
    let out = t.cmd("set cli screen-length 0", JUNOS_OP);
    assert!(out.contains("Screen length set to 0"), "{out}");
    let all = t.cmd("show configuration", JUNOS_OP);
    assert!(
        !all.contains("---(more)---") && all.contains("class super-user;"),
        "{all}"
    );
    t.write("show ?");
    let help = t.expect(r"admin@r1> show $");
    assert!(help.contains("Possible completions:"), "{help}");
    t.write("\x15\r");
    t.expect(JUNOS_OP);
    let out = t.cmd("shw", JUNOS_OP);
    assert!(out.contains("unknown command."), "{out}");

    let hw = exec(&r1, "admin", ADMIN_PW, "show chassis hardware");
    assert!(hw.starts_with("Hardware inventory:"), "{hw}");
    let set = exec(&r1, "admin", ADMIN_PW, "show configuration system login | display set");
    assert!(
        set.contains("set system login user netops class super-user\n")
            && set.contains("set system login user netops authentication encrypted-password \"$6$")
            && set.contains("set system login user monitor class read-only\n"),
        "{set}"
    );
}

#[test]
fn junos_commit_confirmed_rolls_back_unless_confirmed() {
    let (lab, r1) = lab_scaled(TargetKind::Junos, 600.0);
    let mut t = Term::open(&r1, "admin", ADMIN_PW, JUNOS_OP);
    let out = t.cmd("configure", JUNOS_CONF);
    assert!(out.contains("Entering configuration mode"), "{out}");

    // Vendor limits and commit checks.
    t.cmd(
        "set system login user netops authentication plain-text-password",
        r"New password:$",
    );
    let short = t.cmd("abc", JUNOS_CONF);
    assert!(short.contains("minimum password length is 6"), "{short}");
    t.cmd(
        "set system login user ghost authentication encrypted-password \"$6$bad\"",
        JUNOS_CONF,
    );
    let hash = exec(&r1, "admin", ADMIN_PW, "show configuration system login | display set");
    let hash = Regex::new(r#"user monitor authentication encrypted-password "([^"]+)""#)
        .unwrap()
        .captures(&hash)
        .unwrap()[1]
        .to_string();
    t.cmd(
        &format!("set system login user newbie authentication encrypted-password \"{hash}\""),
        JUNOS_CONF,
    );
    let err = t.cmd("commit", JUNOS_CONF);
    assert!(
        err.contains("Missing mandatory statement: 'class'") && err.contains("error: configuration check-out failed"),
        "{err}"
    );
    t.cmd("delete system login user newbie", JUNOS_CONF);

    // Not confirmed: rolled back by itself (1 minute at 600x = 0.1 s).
    junos_set_password(&mut t, "netops", "Conf1rmed-not");
    let diff = t.cmd("show | compare", JUNOS_CONF);
    assert!(
        diff.contains("[edit system login user netops authentication]"),
        "{diff}"
    );
    assert!(!login_works(&r1, "netops", "Conf1rmed-not"), "candidate is not live");
    let out = t.cmd("commit confirmed 1", JUNOS_CONF);
    assert!(
        out.contains("commit confirmed will be automatically rolled back in 1 minutes unless confirmed"),
        "{out}"
    );
    assert!(out.contains("commit complete"), "{out}");
    assert!(login_works(&r1, "netops", "Conf1rmed-not"));
    assert!(!lab.saved_password_works("r1", "netops", &pw("Conf1rmed-not")));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!login_works(&r1, "netops", "Conf1rmed-not"), "rolled back");
    assert!(login_works(&r1, "netops", OPS_PW));
    t.cmd("exit", JUNOS_OP);

    // Confirmed by `commit`: kept.
    t.cmd("configure", JUNOS_CONF);
    junos_set_password(&mut t, "netops", "Conf1rmed-yes");
    t.cmd("commit confirmed 1", JUNOS_CONF);
    let out = t.cmd("commit", JUNOS_CONF);
    assert!(out.contains("commit complete"), "{out}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(login_works(&r1, "netops", "Conf1rmed-yes"));
    assert!(lab.saved_password_works("r1", "netops", &pw("Conf1rmed-yes")));

    // rollback 1 + commit brings the previous password back.
    let out = t.cmd("rollback 1", JUNOS_CONF);
    assert!(out.contains("load complete"), "{out}");
    t.cmd("commit", JUNOS_CONF);
    assert!(login_works(&r1, "netops", OPS_PW));
    assert!(!login_works(&r1, "netops", "Conf1rmed-yes"));

    // Leaving with uncommitted changes asks first.
    junos_set_password(&mut t, "netops", "Never-c0mmitted");
    t.cmd("exit", r"Exit with uncommitted changes\? \[yes,no\] \(yes\) $");
    t.cmd("yes", JUNOS_OP);
    assert!(!login_works(&r1, "netops", "Never-c0mmitted"));
}

// ---------------------------------------------------------------------------------------------
// Cisco NX-OS

const NXOS_EXEC: &str = r"r1# $";
const NXOS_CONF: &str = r"r1\(config\)# $";

#[test]
fn nxos_roles_strength_checkpoint_and_rollback() {
    let (lab, r1) = lab_of(TargetKind::CiscoNxos);
    assert!(!login_works(&r1, "admin", "wrong-password"));
    let mut t = Term::open(&r1, "admin", ADMIN_PW, NXOS_EXEC);
    let page = t.cmd("show running-config", r"--More--\x1b\[m$");
    assert!(page.contains("hostname r1"), "{page}");
    t.write("q");
    t.expect(NXOS_EXEC);
    t.cmd("terminal length 0", NXOS_EXEC);
    let accounts = t.cmd("show user-account", NXOS_EXEC);
    assert!(
        accounts.contains("user:netops") && accounts.contains("roles:network-admin"),
        "{accounts}"
    );
    assert!(
        accounts.contains("user:monitor") && accounts.contains("roles:network-operator"),
        "{accounts}"
    );
    let bad = t.cmd("shw users", NXOS_EXEC);
    assert!(bad.contains("% Invalid command at '^' marker."), "{bad}");
    t.cmd("terminal dont-ask", NXOS_EXEC);
    assert!(t
        .cmd("checkpoint file bootflash:before-rotation", NXOS_EXEC)
        .contains("Done"));

    t.cmd("configure terminal", NXOS_CONF);
    let weak = t.cmd("username netops password short", NXOS_CONF);
    assert!(weak.contains("password is weak"), "{weak}");
    let dollar = t.cmd("username netops password N3w$Strong-pw", NXOS_CONF);
    assert!(dollar.contains("double quotes"), "{dollar}");
    t.cmd(
        "username netops password \"N3w$Strong-pw\" role network-admin",
        NXOS_CONF,
    );
    t.cmd("end", NXOS_EXEC);
    assert!(login_works(&r1, "netops", "N3w$Strong-pw"));
    assert!(!login_works(&r1, "netops", OPS_PW));

    let out = t.cmd("rollback running-config file bootflash:before-rotation", NXOS_EXEC);
    assert!(out.contains("Rollback completed successfully."), "{out}");
    assert!(login_works(&r1, "netops", OPS_PW));
    assert!(!login_works(&r1, "netops", "N3w$Strong-pw"));

    t.cmd("configure terminal", NXOS_CONF);
    t.cmd("username netops password Sav3d-Strong.pw", NXOS_CONF);
    t.cmd("end", NXOS_EXEC);
    assert!(!lab.saved_password_works("r1", "netops", &pw("Sav3d-Strong.pw")));
    let out = t.cmd("copy running-config startup-config", NXOS_EXEC);
    assert!(out.contains("Copy complete."), "{out}");
    lab.reload("r1").unwrap();
    assert!(login_works(&r1, "netops", "Sav3d-Strong.pw"));
}

// ---------------------------------------------------------------------------------------------
// Cisco ASA

const ASA_USER: &str = r"r1> $";
const ASA_EXEC: &str = r"r1# $";
const ASA_CONF: &str = r"r1\(config\)# $";

#[test]
fn asa_enable_pager_pbkdf2_and_write_memory() {
    let (lab, r1) = lab_of(TargetKind::CiscoAsa);
    assert!(!login_works(&r1, "admin", "wrong-password"));
    let mut t = Term::open(&r1, "admin", ADMIN_PW, ASA_USER);
    t.cmd("enable", r"Password: $");
    let out = t.cmd("not-the-enable", ASA_USER);
    assert!(
        out.contains("Invalid password") && out.contains("**************"),
        "{out}"
    );
    t.cmd("enable", r"Password: $");
    let out = t.cmd(ENABLE_PW, ASA_EXEC);
    assert!(
        out.contains(&"*".repeat(ENABLE_PW.len())) && !out.contains(ENABLE_PW),
        "{out}"
    );
    let page = t.cmd("show running-config", r"<--- More --->$");
    assert!(page.contains("ASA Version"), "{page}");
    t.write("q");
    t.expect(ASA_EXEC);
    t.cmd("terminal pager 0", ASA_EXEC);
    let users = t.cmd("show running-config username", ASA_EXEC);
    let old_hash = Regex::new(r"username netops password (\S+) pbkdf2 privilege 15")
        .unwrap()
        .captures(&users)
        .unwrap_or_else(|| panic!("{users}"))[1]
        .to_string();
    assert!(old_hash.starts_with("$sha512$5000$"), "{old_hash}");
    let bad = t.cmd("shw run", ASA_EXEC);
    assert!(bad.contains("ERROR: % Invalid input detected at '^' marker."), "{bad}");

    t.cmd("configure terminal", ASA_CONF);
    let short = t.cmd("username netops password ab privilege 15", ASA_CONF);
    assert!(short.contains("between 3 and 32"), "{short}");
    t.cmd("username netops password N3w-Asa-pass privilege 15", ASA_CONF);
    t.cmd("exit", ASA_EXEC);
    assert!(login_works(&r1, "netops", "N3w-Asa-pass"));
    assert!(!login_works(&r1, "netops", OPS_PW));
    t.cmd("configure terminal", ASA_CONF);
    t.cmd(
        &format!("username netops password {old_hash} pbkdf2 privilege 15"),
        ASA_CONF,
    );
    t.cmd("exit", ASA_EXEC);
    assert!(login_works(&r1, "netops", OPS_PW));

    t.cmd("configure terminal", ASA_CONF);
    t.cmd("username netops password Kept-Asa-pass privilege 15", ASA_CONF);
    t.cmd("exit", ASA_EXEC);
    let out = t.cmd("write memory", ASA_EXEC);
    assert!(out.contains("[OK]"), "{out}");
    lab.reload("r1").unwrap();
    assert!(login_works(&r1, "netops", "Kept-Asa-pass"));

    let mut t = Term::open(&r1, "admin", ADMIN_PW, ASA_USER);
    t.cmd("enable", r"Password: $");
    t.cmd(ENABLE_PW, ASA_EXEC);
    t.cmd("configure terminal", ASA_CONF);
    t.cmd("username netops password Copied-Asa-pass privilege 15", ASA_CONF);
    t.cmd("end", ASA_EXEC);
    t.cmd(
        "copy running-config startup-config",
        r"Source filename \[running-config\]\? $",
    );
    t.cmd("", r"Destination filename \[startup-config\]\? $");
    let out = t.cmd("", ASA_EXEC);
    assert!(out.contains("bytes copied"), "{out}");
    assert!(lab.saved_password_works("r1", "netops", &pw("Copied-Asa-pass")));
}

// ---------------------------------------------------------------------------------------------
// Arista EOS

const EOS_EXEC: &str = r"r1#$";

#[test]
fn eos_sessions_commit_timer_and_abort() {
    let (lab, r1) = lab_scaled(TargetKind::AristaEos, 600.0);
    assert!(!login_works(&r1, "admin", "wrong-password"));
    let mut t = Term::open(&r1, "admin", ADMIN_PW, EOS_EXEC);
    t.cmd("show running-config", r" --More-- $");
    t.write("q");
    t.expect(EOS_EXEC);
    let all = t.cmd("show running-config | no-more", EOS_EXEC);
    assert!(!all.contains("--More--") && all.contains("\nend\r\n"), "{all}");
    assert!(t.cmd("terminal length 0", EOS_EXEC).contains("Pagination disabled."));
    let users = t.cmd("show running-config section username", EOS_EXEC);
    assert!(
        users.contains("username netops privilege 15 role network-admin secret sha512 $6$"),
        "{users}"
    );
    let bad = t.cmd("shw version", EOS_EXEC);
    assert!(bad.contains("% Invalid input (at token 0: 'shw')"), "{bad}");

    // Not confirmed: rolled back after the timer (1 minute at 600x).
    t.cmd("configure session rot1", r"r1\(config-s-rot1\)#$");
    t.cmd("username netops secret N3w-Eos-pass", r"r1\(config-s-rot1\)#$");
    assert!(
        !login_works(&r1, "netops", "N3w-Eos-pass"),
        "session changes are not live"
    );
    t.cmd("commit timer 00:01:00", EOS_EXEC);
    assert!(login_works(&r1, "netops", "N3w-Eos-pass"));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!login_works(&r1, "netops", "N3w-Eos-pass"));
    assert!(login_works(&r1, "netops", OPS_PW));

    // Confirmed.
    t.cmd("configure session rot2", r"r1\(config-s-rot2\)#$");
    t.cmd("username netops secret Conf-Eos-pass", r"r1\(config-s-rot2\)#$");
    t.cmd("commit timer 00:05:00", EOS_EXEC);
    t.cmd("configure session rot2 commit", EOS_EXEC);
    std::thread::sleep(Duration::from_millis(600));
    assert!(login_works(&r1, "netops", "Conf-Eos-pass"));

    // Aborted.
    t.cmd("configure session rot3", r"r1\(config-s-rot3\)#$");
    t.cmd("username netops secret Abort-Eos-pass", r"r1\(config-s-rot3\)#$");
    t.cmd("abort", EOS_EXEC);
    assert!(!login_works(&r1, "netops", "Abort-Eos-pass"));

    assert!(!lab.saved_password_works("r1", "netops", &pw("Conf-Eos-pass")));
    assert!(t.cmd("write memory", EOS_EXEC).contains("Copy completed successfully."));
    lab.reload("r1").unwrap();
    assert!(login_works(&r1, "netops", "Conf-Eos-pass"));
}

// ---------------------------------------------------------------------------------------------
// MikroTik RouterOS

const ROS: &str = r"\[admin@r1\] > $";

#[test]
fn routeros_license_help_escapes_and_persistent_set() {
    let lab = Lab::start(LabConfig {
        devices: vec![spec("r1", TargetKind::Routeros)],
        auth_rejection_time: Duration::from_millis(50),
        first_boot: true,
        ..LabConfig::default()
    })
    .unwrap();
    let r1 = lab.devices().remove(0);
    assert!(!login_works(&r1, "admin+ct511w4098h", "wrong-password"));
    let mut t = Term::open(
        &r1,
        "admin+ct511w4098h",
        ADMIN_PW,
        r"Do you want to see the software license\? \[Y/n\]: $",
    );
    t.cmd("n", ROS);
    let users = t.cmd("/user print detail without-paging", ROS);
    assert!(
        users.contains("name=\"netops\" group=full") && users.contains("name=\"monitor\" group=read"),
        "{users}"
    );
    t.write("?");
    let help = t.expect(ROS);
    assert!(help.contains("user") && help.contains("User management"), "{help}");
    let bad = t.cmd("/foo", ROS);
    assert!(bad.contains("bad command name foo (line 1 column 2)"), "{bad}");

    // `\?` and `\"` inside quotes are literal characters of the password.
    t.cmd(r#"/user set [find name="netops"] password="N3w\?pw\"q""#, ROS);
    assert!(login_works(&r1, "netops", "N3w?pw\"q"));
    assert!(!login_works(&r1, "netops", OPS_PW));
    assert!(
        lab.saved_password_works("r1", "netops", &pw("N3w?pw\"q")),
        "RouterOS changes persist at once"
    );

    // Menus.
    t.cmd("/user", r"\[admin@r1\] /user> $");
    let out = t.cmd("print", r"\[admin@r1\] /user> $");
    assert!(out.contains("Columns: NAME, GROUP"), "{out}");
    t.cmd("/", ROS);

    // No license question on the next login; exec works as oxidized uses it.
    let mut t2 = Term::open(&r1, "admin", ADMIN_PW, ROS);
    t2.cmd("quit", r"interrupted\r\n$");
    let out = exec(&r1, "admin+ct", ADMIN_PW, "/system resource print");
    assert!(out.contains("version: 7.16"), "{out}");
    let out = exec(&r1, "admin+ct", ADMIN_PW, "/system history print without-paging");
    assert!(out.contains("Columns: ACTION, BY, POLICY, TIME"), "{out}");
    let out = exec(&r1, "admin+ct", ADMIN_PW, "/user print detail without-paging");
    assert!(
        out.contains("name=\"admin\" group=full") && !out.contains("[admin@"),
        "{out}"
    );
}

// ---------------------------------------------------------------------------------------------
// Fortinet FortiOS

const FGT: &str = r"r1 # $";

#[test]
fn fortios_admin_edit_end_saves_and_logs_the_admin_out() {
    let (lab, r1) = lab_of(TargetKind::Fortios);
    assert!(!login_works(&r1, "admin", "wrong-password"));
    let mut t = Term::open(&r1, "admin", ADMIN_PW, FGT);
    t.cmd("show", r"--More-- $");
    t.write("q");
    t.expect(FGT);
    t.cmd("config system console", r"r1 \(console\) # $");
    t.cmd("set output standard", r"r1 \(console\) # $");
    t.cmd("end", FGT);
    let admins = t.cmd("show system admin", FGT);
    let old_hash = Regex::new(
        r#"edit "netops"\r\n\s+set accprofile "super_admin"\r\n\s+set vdom "root"\r\n\s+set password ENC (\S+)"#,
    )
    .unwrap()
    .captures(&admins)
    .unwrap_or_else(|| panic!("{admins}"))[1]
        .to_string();
    let bad = t.cmd("foo", FGT);
    assert!(
        bad.contains("Unknown action 0") && bad.contains("Command fail. Return code -1"),
        "{bad}"
    );

    // netops is logged in; changing its password logs it out.
    let mut netops = Term::open(&r1, "netops", OPS_PW, FGT);
    t.cmd("config system admin", r"r1 \(admin\) # $");
    t.cmd("edit \"netops\"", r"r1 \(netops\) # $");
    t.cmd("set password N3w-Forti-pw", r"r1 \(netops\) # $");
    t.cmd("next", r"r1 \(admin\) # $");
    let out = t.cmd("edit \"ghost\"", r"r1 \(ghost\) # $");
    assert!(out.contains("new entry 'ghost' added"), "{out}");
    t.cmd("set password Ghost-pw-12", r"r1 \(ghost\) # $");
    let err = t.cmd("next", r"r1 \(ghost\) # $");
    assert!(err.contains("Attribute 'accprofile' MUST be set."), "{err}");
    t.cmd("abort", r"r1 \(admin\) # $");
    t.cmd("end", FGT);
    assert!(netops.closed(Duration::from_secs(3)), "netops was logged out");
    assert!(login_works(&r1, "netops", "N3w-Forti-pw"));
    assert!(!login_works(&r1, "netops", OPS_PW));
    assert!(
        lab.saved_password_works("r1", "netops", &pw("N3w-Forti-pw")),
        "`end` saves"
    );

    // Restore the old hash.
    t.cmd("config system admin", r"r1 \(admin\) # $");
    t.cmd("edit netops", r"r1 \(netops\) # $");
    t.cmd(&format!("set password ENC {old_hash}"), r"r1 \(netops\) # $");
    t.cmd("end", FGT);
    assert!(login_works(&r1, "netops", OPS_PW));

    // Changing one's own password ends one's own session.
    t.cmd("config system admin", r"r1 \(admin\) # $");
    t.cmd("edit admin", r"r1 \(admin\) # $");
    let wrong_old = t.cmd("set password N3w-Adm1n-pw not-the-old", r"r1 \(admin\) # $");
    assert!(wrong_old.contains("Old password is incorrect."), "{wrong_old}");
    t.cmd(&format!("set password N3w-Adm1n-pw {ADMIN_PW}"), r"r1 \(admin\) # $");
    t.write("end\r");
    assert!(t.closed(Duration::from_secs(3)));
    assert!(login_works(&r1, "admin", "N3w-Adm1n-pw"));

    let _restricted = Term::open(&r1, "monitor", MON_PW, r"r1 \$ $");
}

/// `set post-login-banner enable`: the disclaimer and `(Press 'a' to accept):`, no prompt and no
/// command until the key `a` (no RETURN needed), then the CLI; asked again at every login.
#[test]
fn fortios_disclaimer_waits_for_the_key_a() {
    let (_lab, r1) = lab_with(
        TargetKind::Fortios,
        DeviceOptions {
            fortios_login_banner: true,
            ..DeviceOptions::default()
        },
    );
    for _ in 0..2 {
        let mut t = Term::open(&r1, "admin", ADMIN_PW, r"\(Press 'a' to accept\):$");
        // Keys other than `a` (this line has none) are ignored.
        t.write("show\r");
        assert!(
            t.try_expect(FGT, Duration::from_millis(500)).is_err(),
            "a prompt before the disclaimer was accepted"
        );
        t.write("a");
        t.expect(&format!(r"\A\r\n{FGT}"));
        let status = t.cmd("get system status", FGT);
        assert!(status.contains("Virtual domain configuration: disable"), "{status}");
        // Without VDOMs there is no global context.
        let global = t.cmd("config global", FGT);
        assert!(
            global.contains("command parse error before 'global'") && global.contains("Return code -61"),
            "{global}"
        );
    }
}

/// With VDOMs the top level refuses system tables the way FortiOS does, and `config global`
/// holds them: `(global)` prompt, `config system admin` inside it, `end` back out level by level.
#[test]
fn fortios_vdoms_keep_system_tables_in_config_global() {
    let (lab, r1) = lab_with(
        TargetKind::Fortios,
        DeviceOptions {
            fortios_vdoms: true,
            ..DeviceOptions::default()
        },
    );
    let mut t = Term::open(&r1, "admin", ADMIN_PW, FGT);
    let status = t.cmd("get system status", FGT);
    assert!(status.contains("Virtual domain configuration: multiple"), "{status}");
    for refused in ["config system admin", "config system console", "show system admin"] {
        let out = t.cmd(refused, FGT);
        assert!(
            out.contains("command parse error before 'system'") && out.contains("Command fail. Return code -61"),
            "{refused}: {out}"
        );
    }
    t.cmd("config global", r"r1 \(global\) # $");
    let admins = t.cmd("show system admin", r"r1 \(global\) # $");
    assert!(admins.contains("edit \"netops\""), "{admins}");
    t.cmd("config system admin", r"r1 \(admin\) # $");
    t.cmd("edit netops", r"r1 \(netops\) # $");
    t.cmd("set password N3w-Vdom-pw", r"r1 \(netops\) # $");
    t.cmd("end", r"r1 \(global\) # $");
    assert!(login_works(&r1, "netops", "N3w-Vdom-pw"));
    assert!(lab.saved_password_works("r1", "netops", &pw("N3w-Vdom-pw")));
    t.cmd("end", FGT);
    assert!(t.cmd("config system admin", FGT).contains("command parse error"));
}

// ---------------------------------------------------------------------------------------------
// VyOS

const VYOS_OP: &str = r"admin@r1:~\$ $";
const VYOS_CONF: &str = r"\[edit\]\r\nadmin@r1# $";

#[test]
fn vyos_commit_save_discard_and_commit_confirm() {
    let (lab, r1) = lab_scaled(TargetKind::Vyos, 600.0);
    assert!(!login_works(&r1, "admin", "wrong-password"));
    let mut t = Term::open(&r1, "admin", ADMIN_PW, VYOS_OP);
    t.cmd("show configuration", r":$");
    t.write("q");
    t.expect(VYOS_OP);
    t.cmd("set terminal length 0", VYOS_OP);
    let login = t.cmd("show configuration commands | match \"system login\"", VYOS_OP);
    assert!(
        login.contains("set system login user netops authentication encrypted-password '$6$"),
        "{login}"
    );
    assert!(!login.contains("set service ssh"), "{login}");
    assert!(t.cmd("foo", VYOS_OP).contains("Invalid command: [foo]"));

    t.cmd("configure", VYOS_CONF);
    let bad = t.cmd("set system login user netops bogus", VYOS_CONF);
    assert!(bad.contains("Set failed"), "{bad}");
    t.cmd(
        "set system login user netops authentication plaintext-password 'N3w-Vyos-pw'",
        VYOS_CONF,
    );
    assert!(t
        .cmd("exit", VYOS_CONF)
        .contains("Cannot exit: configuration modified."));
    assert!(!login_works(&r1, "netops", "N3w-Vyos-pw"));
    t.cmd("commit", VYOS_CONF);
    assert!(login_works(&r1, "netops", "N3w-Vyos-pw"));
    assert!(!lab.saved_password_works("r1", "netops", &pw("N3w-Vyos-pw")));
    t.cmd("exit", VYOS_OP);
    lab.reload("r1").unwrap();
    assert!(
        login_works(&r1, "netops", OPS_PW),
        "commit without save is lost on reboot"
    );

    let mut t = Term::open(&r1, "admin", ADMIN_PW, VYOS_OP);
    t.cmd("configure", VYOS_CONF);
    t.cmd(
        "set system login user netops authentication plaintext-password 'N3w-Vyos-pw'",
        VYOS_CONF,
    );
    t.cmd("commit", VYOS_CONF);
    assert!(t.cmd("save", VYOS_CONF).contains("Done"));
    lab.reload("r1").unwrap();
    assert!(login_works(&r1, "netops", "N3w-Vyos-pw"));

    let mut t = Term::open(&r1, "admin", ADMIN_PW, VYOS_OP);
    t.cmd("configure", VYOS_CONF);
    t.cmd(
        "set system login user netops authentication plaintext-password 'Discard-me-1'",
        VYOS_CONF,
    );
    t.cmd("exit discard", VYOS_OP);
    assert!(!login_works(&r1, "netops", "Discard-me-1"));

    t.cmd("configure", VYOS_CONF);
    t.cmd(
        "set system login user netops authentication plaintext-password 'Unconf1rmed'",
        VYOS_CONF,
    );
    t.cmd("commit-confirm 1", r"Proceed\? \[confirm\]$");
    t.cmd("y", VYOS_CONF);
    assert!(login_works(&r1, "netops", "Unconf1rmed"));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!login_works(&r1, "netops", "Unconf1rmed"));
    assert!(login_works(&r1, "netops", "N3w-Vyos-pw"));
}

/// The EdgeOS variant: its banner and version, paging with `terminal length` only, a level on
/// every login user, operators kept out of `configure`, and the same commit/save as VyOS.
#[test]
fn edgeos_terminal_length_levels_commit_and_save() {
    let (lab, r1) = lab_with(
        TargetKind::Vyos,
        DeviceOptions {
            edgeos: true,
            ..DeviceOptions::default()
        },
    );
    let (mut t, greeting) = Term::open_with_greeting(&r1, "admin", ADMIN_PW, VYOS_OP);
    assert!(greeting.starts_with("Welcome to EdgeOS"), "{greeting}");
    let refused = t.cmd("set terminal length 0", VYOS_OP);
    assert!(refused.contains("Invalid command: set [terminal]"), "{refused}");
    let ok = t.cmd("terminal length 0", VYOS_OP);
    assert!(!ok.contains("Invalid"), "{ok}");
    assert!(t.cmd("show version", VYOS_OP).contains("EdgeRouter"));
    let login = t.cmd("show configuration commands | match \"system login\"", VYOS_OP);
    assert!(login.contains("set system login user admin level 'admin'"), "{login}");
    assert!(
        login.contains("set system login user monitor level 'operator'"),
        "{login}"
    );
    t.cmd("configure", VYOS_CONF);
    t.cmd(
        "set system login user netops authentication plaintext-password 'N3w-Edge-pw'",
        VYOS_CONF,
    );
    t.cmd("commit", VYOS_CONF);
    assert!(login_works(&r1, "netops", "N3w-Edge-pw"));
    assert!(!lab.saved_password_works("r1", "netops", &pw("N3w-Edge-pw")));
    assert!(t.cmd("save", VYOS_CONF).contains("Done"));
    assert!(lab.saved_password_works("r1", "netops", &pw("N3w-Edge-pw")));
    t.cmd("exit", VYOS_OP);

    let mut op = Term::open(&r1, "monitor", MON_PW, r"monitor@r1:~\$ $");
    assert!(op
        .cmd("configure", r"monitor@r1:~\$ $")
        .contains("Invalid command: [configure]"));
}

// ---------------------------------------------------------------------------------------------
// `keyreeve lab up`

/// A lab given a host key file presents the same keys after a restart (what an inventory pinned
/// stays valid), adds keys for new devices, keeps the file private, and refuses a broken file.
#[test]
fn a_restarted_lab_presents_the_host_keys_it_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("state").join("lab-host-keys");
    let start = |names: &[&str], host_keys: Option<&std::path::Path>| {
        Lab::start(LabConfig {
            devices: names.iter().map(|n| spec(n, TargetKind::Fortios)).collect(),
            host_keys: host_keys.map(|p| p.to_path_buf()),
            ..LabConfig::default()
        })
    };
    let fingerprints =
        |lab: &Lab| -> Vec<String> { lab.devices().into_iter().map(|d| d.host_key_fingerprint).collect() };

    let first = start(&["r1", "r2"], Some(&file)).unwrap();
    let before = fingerprints(&first);
    assert_ne!(before[0], before[1]);
    // The keys served are the ones reported (checked by `connect`).
    assert!(login_works(&first.devices()[0], "admin", ADMIN_PW));
    first.stop();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "host key file mode {mode:o}");
    }

    let again = start(&["r2", "r1", "r3"], Some(&file)).unwrap();
    let after = fingerprints(&again);
    assert_eq!(
        (after[0].as_str(), after[1].as_str()),
        (before[1].as_str(), before[0].as_str())
    );
    assert!(!before.contains(&after[2]), "r3 got a key of its own");
    assert!(login_works(&again.devices()[1], "admin", ADMIN_PW));
    again.stop();
    let kept = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        kept.lines().filter(|l| !l.starts_with('#')).count(),
        3,
        "{}",
        kept.len()
    );

    // Without a file every start makes new keys.
    let unkept = start(&["r1"], None).unwrap();
    assert_ne!(fingerprints(&unkept)[0], before[0]);
    unkept.stop();

    std::fs::write(&file, "r1 not-base64!\n").unwrap();
    let e = start(&["r1"], Some(&file)).unwrap_err().to_string();
    assert!(e.contains("lab-host-keys") && e.contains("line 1"), "{e}");
}

/// A new workspace (`keyreeve init`) encrypted to a new identity, in a temporary folder:
/// the folder (kept alive by the caller), the workspace and the identity file.
fn new_workspace() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let identity = tmp.path().join("identity.txt");
    let public = keyreeve::keys::new_identity_file(&identity, None).unwrap();
    let ws = tmp.path().join("ws");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyreeve"))
        .args(["init", ws.to_str().unwrap(), "--recipient", &public])
        .output()
        .unwrap();
    assert!(out.status.success(), "init: {}", String::from_utf8_lossy(&out.stderr));
    (tmp, ws, identity)
}

/// Starts `keyreeve lab up` (three devices: IOS, Junos, RouterOS) for `client` in the
/// workspace `ws`, and reads its output until the lab runs; returns it and what it printed.
fn lab_up_until_running(
    ws: &std::path::Path,
    identity: &std::path::Path,
    client: &str,
) -> (std::process::Child, String) {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyreeve"))
        .args([
            "--workspace",
            ws.to_str().unwrap(),
            "--identity",
            identity.to_str().unwrap(),
        ])
        .args([
            "lab",
            "up",
            "--devices",
            "3",
            "--kinds",
            "cisco-ios,junos,routeros",
            "--client",
            client,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            let _ = child.kill();
            panic!("lab up ended early: {seen}");
        }
        seen.push_str(&line);
        if line.starts_with("Running until") {
            break;
        }
    }
    // Keep reading: what it prints when it stops must not meet a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    (child, seen)
}

#[test]
fn lab_up_fills_a_workspace_and_stops_on_sigterm() {
    use std::process::Command;

    let (_tmp, ws, identity) = new_workspace();

    let (mut child, seen) = lab_up_until_running(&ws, &identity, "lab1");
    assert!(seen.contains("Added client `lab1`"), "{seen}");

    let workspace = keyreeve::workspace::Workspace::open(&ws).unwrap();
    let inventory = keyreeve::inventory::Inventory::load(&workspace.inventory_file()).unwrap();
    let keys = keyreeve::keys::KeyRing::locate(Some(&identity));
    let doc = keyreeve::vault::Vault::new(&workspace, &inventory, &keys)
        .load("lab1")
        .unwrap();
    let targets = &inventory.clients["lab1"].targets;
    assert_eq!(targets.len(), 3);
    for t in targets {
        let entry = &doc.entries[&format!("{}/{}", t.name, t.login)];
        let info = LabDeviceInfo {
            name: t.name.clone(),
            kind: t.kind,
            address: t.address.clone(),
            port: t.port,
            host_key_fingerprint: t.host_key.clone().unwrap(),
            login: t.login.clone(),
            has_enable: t.enable.is_some(),
        };
        assert!(
            login_works(&info, &t.login, entry.password.expose()),
            "{} login",
            t.name
        );
        assert!(!seen.contains(entry.password.expose()), "a password was printed");
        if t.kind == TargetKind::CiscoIos {
            assert!(doc.entries.contains_key(&format!("{}/enable", t.name)));
        }
    }

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");

    // The host keys stay in the workspace: a restarted lab presents the keys pinned before.
    let kept = workspace.state_dir().join("lab-host-keys");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} mode {mode:o}", kept.display());
    }
    // Kept in clear, so never committed: git itself says the file is ignored.
    let git = |args: &[&str]| {
        Command::new("git")
            .current_dir(&ws)
            .args(args)
            .status()
            .expect("git is missing")
    };
    assert!(git(&["init", "-q"]).success());
    assert!(
        git(&["check-ignore", "-q", "state/lab-host-keys"]).success(),
        "state/lab-host-keys is not ignored by git"
    );
    let (mut child, _) = lab_up_until_running(&ws, &identity, "lab2");
    let inventory = keyreeve::inventory::Inventory::load(&workspace.inventory_file()).unwrap();
    let key_of = |client: &str, name: &str| {
        inventory.clients[client]
            .targets
            .iter()
            .find(|t| t.name == name)
            .and_then(|t| t.host_key.clone())
            .unwrap_or_else(|| panic!("{client}/{name} missing"))
    };
    for t in targets {
        assert_eq!(
            key_of("lab2", &t.name),
            key_of("lab1", &t.name),
            "{} after a restart",
            t.name
        );
        let restarted = inventory.clients["lab2"]
            .targets
            .iter()
            .find(|x| x.name == t.name)
            .unwrap();
        let info = LabDeviceInfo {
            name: t.name.clone(),
            kind: t.kind,
            address: restarted.address.clone(),
            port: restarted.port,
            host_key_fingerprint: t.host_key.clone().unwrap(),
            login: t.login.clone(),
            has_enable: false,
        };
        // `connect` checks the served key against the one pinned by the first run.
        assert!(connect(&info, &t.login, "not-the-password").is_err_and(|e| e.starts_with("auth")));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
}

#[test]
fn ios_revert_timer_rolls_back_unless_confirmed() {
    let (_lab, r1) = lab_scaled(TargetKind::CiscoIos, 600.0);
    let mut t = Term::open(&r1, "admin", ADMIN_PW, IOS_EXEC);
    t.cmd("configure terminal revert timer 1", IOS_CONF);
    t.cmd("username netops secret Revert-me-1", IOS_CONF);
    t.cmd("end", IOS_EXEC);
    assert!(login_works(&r1, "netops", "Revert-me-1"));
    std::thread::sleep(Duration::from_millis(300));
    assert!(login_works(&r1, "netops", OPS_PW), "reverted after the timer");

    t.cmd("configure terminal revert timer 1", IOS_CONF);
    t.cmd("username netops secret Keep-me-1", IOS_CONF);
    t.cmd("end", IOS_EXEC);
    t.cmd("configure confirm", IOS_EXEC);
    std::thread::sleep(Duration::from_millis(300));
    assert!(login_works(&r1, "netops", "Keep-me-1"));
}

#[test]
fn fault_drop_after_change_waits_for_the_junos_commit() {
    let (lab, r1) = lab_of(TargetKind::Junos);
    lab.set_fault("r1", Fault::DropAfterChange).unwrap();
    let mut t = Term::open(&r1, "admin", ADMIN_PW, JUNOS_OP);
    t.cmd("configure", JUNOS_CONF);
    junos_set_password(&mut t, "netops", "Dr0pped-at-commit");
    t.write("commit\r");
    assert!(t.closed(Duration::from_secs(3)), "dropped right after the commit");
    assert!(login_works(&r1, "netops", "Dr0pped-at-commit"));
}

#[test]
fn read_only_accounts_cannot_change_passwords() {
    // (kind, login prompt, command, what the device answers)
    let cases: &[(TargetKind, &str, &str, &str)] = &[
        (
            TargetKind::CiscoIos,
            r"r1>$",
            "configure terminal",
            "% Invalid input detected at '^' marker.",
        ),
        (
            TargetKind::CiscoNxos,
            r"r1# $",
            "configure terminal",
            "% Permission denied for the role",
        ),
        (TargetKind::Junos, r"monitor@r1> $", "configure", "unknown command."),
        (
            TargetKind::Routeros,
            r"\] > $",
            "/user set [find name=\"netops\"] password=\"x1-Y2-z3\"",
            "not enough permissions",
        ),
        (
            TargetKind::Fortios,
            r"r1 \$ $",
            "config system admin",
            "Command fail. Return code -37",
        ),
        (
            TargetKind::Vyos,
            r"monitor@r1:~\$ $",
            "configure",
            "Invalid command: [configure]",
        ),
    ];
    for (kind, prompt, command, answer) in cases {
        let (lab, r1) = lab_of(*kind);
        let mut t = Term::open(&r1, "monitor", MON_PW, prompt);
        let out = t.cmd(command, prompt);
        assert!(out.contains(answer), "{kind}: {out}");
        assert!(lab.running_password_works("r1", "netops", &pw(OPS_PW)), "{kind}");
    }
}

#[test]
fn two_hundred_devices_in_one_lab_all_answer() {
    let mut cfg = LabConfig::generated(200, &[]);
    cfg.auth_rejection_time = Duration::from_millis(10);
    let lab = Lab::start(cfg.clone()).unwrap();
    let devices = lab.devices();
    let ports: std::collections::HashSet<u16> = devices.iter().map(|d| d.port).collect();
    assert_eq!(ports.len(), 200, "one listener per device");
    let work: Vec<(LabDeviceInfo, String)> = devices
        .into_iter()
        .zip(&cfg.devices)
        .map(|(d, spec)| (d, spec.accounts[0].password.expose().to_string()))
        .collect();
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = work
            .chunks(50)
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .filter(|(d, password)| !login_works(d, &d.login, password))
                        .map(|(d, _)| d.name.clone())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn junos_two_sessions_commit_only_their_own_changes() {
    let (_lab, r1) = lab_of(TargetKind::Junos);
    let mut a = Term::open(&r1, "admin", ADMIN_PW, JUNOS_OP);
    let mut b = Term::open(&r1, "admin", ADMIN_PW, JUNOS_OP);
    a.cmd("configure", JUNOS_CONF);
    b.cmd("configure", JUNOS_CONF);
    junos_set_password(&mut a, "netops", "Fr0m-session-A");
    junos_set_password(&mut b, "monitor", "Fr0m-session-B");
    a.cmd("commit", JUNOS_CONF);
    b.cmd("commit", JUNOS_CONF);
    assert!(
        login_works(&r1, "netops", "Fr0m-session-A"),
        "B's commit kept A's change"
    );
    assert!(login_works(&r1, "monitor", "Fr0m-session-B"));
    a.cmd("exit", JUNOS_OP);
}

/// The README's first command: `keyreeve demo` runs the whole job on the built-in lab and exits 0,
/// every planned account rotated and verified, and ends with the review of what it found.
#[test]
fn the_demo_runs_the_whole_job_and_reviews_it() {
    let keep = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyreeve"))
        .arg("demo")
        .arg("--keep")
        .arg(keep.path().join("demo"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in ["1. ", "3. Discover", "4. Plan", "5. Apply", "6. Verify", "7. Review"] {
        assert!(stdout.contains(&format!("== {step}")), "no step {step}: {stdout}");
    }
    assert!(
        stdout.contains(
            "rotation rotated every planned account; verification proved every stored password; audit log intact"
        ),
        "{stdout}"
    );
    // The review names the admin the vault does not manage on every device.
    let review = &stdout[stdout.find("== 7. Review").unwrap()..];
    // `netops` on every device but AOS-S (one manager, one operator), and the `monitor` of VyOS
    // and of UniFi (no privilege levels: every device account is all-powerful).
    let kinds = keyreeve::lab::EMULATED_KINDS;
    let with_netops = kinds.iter().filter(|k| **k != TargetKind::ArubaAoss).count();
    assert_eq!(review.matches("unmanaged-admin").count(), with_netops + 2, "{review}");
    assert!(review.contains("demo/vyos-001/monitor"), "{review}");
    assert!(review.contains("demo/unifi-001/monitor"), "{review}");
    // The kept workspace holds snapshots a reviewer can review again, without the lab.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_keyreeve"))
        .args(["review", "--json", "--workspace"])
        .arg(keep.path().join("demo/workspace"))
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    // Every emulated device and the embedded example domain (`example-dc`).
    assert_eq!(json["targets"].as_array().unwrap().len(), kinds.len() + 1);
}

/// One HTTP/1.1 request to the service on loopback: the status code and the body.
fn http(addr: &str, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// `keyreeve serve` on a workspace of lab devices: it discovers and reviews at once, answers
/// health, status, review and metrics with its token only and to loopback host names only, runs
/// again on request (not too soon), never tries a refused password twice, never shows a secret
/// or its token, and stops on SIGTERM; it refuses a token file others may read, a symlink, or a
/// token with spaces.
#[test]
fn serve_discovers_reviews_and_answers_with_the_token_only() {
    use std::io::BufRead;
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Command, Stdio};

    let (tmp, ws, identity) = new_workspace();
    let (mut lab, _) = lab_up_until_running(&ws, &identity, "lab1");
    let serve = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_keyreeve"));
        c.arg("--workspace")
            .arg(&ws)
            .arg("--identity")
            .arg(&identity)
            .arg("serve")
            .args(args);
        c.stdin(Stdio::null());
        c
    };

    // Unsafe token files are refused before anything listens.
    let token_file = tmp.path().join("token");
    std::fs::write(&token_file, "0123456789abcdef0123456789abcdef\n").unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let refused = |file: &std::path::Path, says: &str| {
        let out = serve(&["--listen", "127.0.0.1:0", "--token-file", file.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(says), "{out:?}");
    };
    refused(&token_file, "chmod 600");
    let link = tmp.path().join("token-link");
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink(&token_file, &link).unwrap();
    refused(&link, "cannot read the token file");
    std::fs::write(&token_file, "0123456789 abcdef0123456789abcdef\n").unwrap();
    refused(&token_file, "without spaces");

    // One account's stored password is wrong: refused once, then left alone.
    let workspace = keyreeve::workspace::Workspace::open(&ws).unwrap();
    let inventory = keyreeve::inventory::Inventory::load(&workspace.inventory_file()).unwrap();
    let keys = keyreeve::keys::KeyRing::locate(Some(&identity));
    let vault = keyreeve::vault::Vault::new(&workspace, &inventory, &keys);
    let first = inventory.clients["lab1"].targets[0].name.clone();
    let wrong = format!("{first}/netops");
    vault
        .update("lab1", |doc| {
            doc.entries.insert(
                wrong.clone(),
                keyreeve::vault::Entry::new("netops", pw("Wr0ng-but-stored")),
            );
            Ok::<(), keyreeve::vault::VaultError>(())
        })
        .unwrap();

    // Without --token-file the service makes its own, private and out of git.
    let mut child = serve(&["--listen", "127.0.0.1:0", "--every", "1h", "--min-run-gap", "0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first_line = String::new();
    stderr.read_line(&mut first_line).unwrap();
    let addr = Regex::new(r"listening on http://(127\.0\.0\.1:\d+)")
        .unwrap()
        .captures(&first_line)
        .unwrap_or_else(|| panic!("{first_line}"))[1]
        .to_string();
    let log = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        rest
    });
    let own = ws.join("state/serve-token");
    assert_eq!(std::fs::metadata(&own).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(ws.join("state/.gitignore"))
        .unwrap()
        .lines()
        .any(|l| l == "serve-token"));
    let token = std::fs::read_to_string(&own).unwrap().trim().to_string();
    let token = token.as_str();

    assert_eq!(http(&addr, "GET", "/healthz", None), (200, "ok\n".into()));
    for (method, path) in [
        ("GET", "/v1/status"),
        ("GET", "/v1/review"),
        ("GET", "/v1/review.md"),
        ("GET", "/metrics"),
        ("POST", "/v1/run"),
    ] {
        assert_eq!(http(&addr, method, path, None).0, 401, "{path} without the token");
        assert_eq!(
            http(&addr, method, path, Some("wrong-token-wrong-token")).0,
            401,
            "{path}, wrong token"
        );
    }
    // A page whose own name resolves to 127.0.0.1 (DNS rebinding) sends that name as Host.
    let mut s = TcpStream::connect(&addr).unwrap();
    write!(s, "GET /v1/review HTTP/1.1\r\nHost: attacker.example:80\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 421"), "{raw}");

    let wait_for_runs = |n: u64| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (code, body) = http(&addr, "GET", "/v1/status", Some(token));
            assert_eq!(code, 200, "{body}");
            let status: serde_json::Value = serde_json::from_str(&body).unwrap();
            if status["runs"] == n && status["running"] == false {
                return status;
            }
            assert!(Instant::now() < deadline, "no run {n} within 60 s: {status}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let status = wait_for_runs(1);
    assert_eq!(status["last_run"]["targets"], 3);
    assert_eq!(status["last_run"]["failed"], serde_json::json!([]));
    assert_eq!(
        status["last_run"]["rejected"],
        serde_json::json!([format!("lab1/{wrong}")])
    );
    let (code, review) = http(&addr, "GET", "/v1/review", Some(token));
    assert_eq!(code, 200);
    let review: serde_json::Value = serde_json::from_str(&review).unwrap();
    let found = |rule: &str| -> Vec<String> {
        review["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == rule)
            .map(|f| f["subject"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(found("unmanaged-admin").len(), 2, "{review}");
    assert_eq!(found("stored-password-rejected"), [format!("lab1/{wrong}")]);
    let (code, metrics) = http(&addr, "GET", "/metrics", Some(token));
    assert_eq!(code, 200);
    for line in [
        "keyreeve_runs_total 1",
        "keyreeve_run_failures_total 0",
        "keyreeve_targets{state=\"ok\"} 3",
        "keyreeve_targets{state=\"failed\"} 0",
        "keyreeve_stored_passwords{check=\"rejected\"} 1",
        "keyreeve_findings_open{severity=\"high\"} 3",
    ] {
        assert!(metrics.lines().any(|l| l == line), "no `{line}` in\n{metrics}");
    }
    // Every sample line is `name{labels} number`, under its HELP and TYPE.
    let sample =
        Regex::new(r#"^keyreeve_[a-z_]+(\{[a-z_]+="[a-z0-9._-]+"(,[a-z_]+="[a-z0-9._-]+")*\})? -?[0-9.e+]+$"#).unwrap();
    for l in metrics.lines().filter(|l| !l.starts_with('#')) {
        assert!(sample.is_match(l), "not a Prometheus sample: {l}");
    }
    let (code, md) = http(&addr, "GET", "/v1/review.md", Some(token));
    assert_eq!(code, 200);
    assert!(md.starts_with("# Admin access review"), "{md}");

    // A run on request: the refused password is not tried again, and is still a finding.
    assert_eq!(http(&addr, "POST", "/v1/run", Some(token)).0, 202);
    let status = wait_for_runs(2);
    assert_eq!(status["last_run"]["rejected"], serde_json::json!([]));
    assert_eq!(
        status["last_run"]["not_checked"],
        serde_json::json!([format!("lab1/{wrong}")])
    );
    let review: serde_json::Value = serde_json::from_str(&http(&addr, "GET", "/v1/review", Some(token)).1).unwrap();
    assert!(review["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["rule"] == "stored-password-rejected" && f["subject"] == format!("lab1/{wrong}").as_str()));
    for t in std::fs::read_dir(ws.join("state/snapshots/lab1")).unwrap() {
        assert_eq!(std::fs::read_dir(t.unwrap().path()).unwrap().count(), 2);
    }

    // No answer and no log line holds a password the vault keeps, or the token.
    let doc = vault.load("lab1").unwrap();
    let answers: String = ["/v1/status", "/v1/review", "/v1/review.md", "/metrics"]
        .iter()
        .map(|p| http(&addr, "GET", p, Some(token)).1)
        .collect();
    assert!(doc.entries.len() > 3);
    for entry in doc.entries.values() {
        assert!(
            !answers.contains(entry.password.expose()),
            "a stored password in an answer"
        );
    }
    assert!(!answers.contains(token), "the token in an answer");

    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let log = log.join().unwrap();
    assert!(
        log.contains("run finished: 3 targets, 0 failed, 1 stored passwords refused"),
        "{log}"
    );
    assert!(log.contains("1 not checked"), "{log}");
    assert!(log.contains("keyreeve serve: stopped"), "{log}");
    assert!(!log.contains(token), "the token in the log");
    for entry in doc.entries.values() {
        assert!(!log.contains(entry.password.expose()), "a stored password in the log");
    }
    let _ = Command::new("kill").args(["-TERM", &lab.id().to_string()]).status();
    let _ = lab.wait();
}
